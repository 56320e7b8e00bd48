//! Reload synchronisation, pg_hba_file_rules and pg_ident_file_mappings.
#![allow(clippy::unwrap_used)]

use gatehouse_testkit::{auth_code, Cluster, PgVersion, Probe};

#[test]
fn broken_hba_reload_keeps_the_old_rules() {
    for v in PgVersion::ALL {
        let c = Cluster::start(v).unwrap();
        let from = Probe::tcp("127.0.0.5".parse().unwrap(), "alice", "postgres");
        c.write_hba("local all all trust\nhost all all 127.0.0.0/8 md5\n")
            .unwrap();
        let ok = c.reload().unwrap();
        assert!(ok.hba_reloaded && ok.ident_reloaded, "{v}: {ok:?}");
        assert_eq!(c.probe(&from).unwrap().auth_code(), Some(auth_code::MD5));

        c.write_hba("local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\nhost all all 127.0.0.0/8 foo\n")
            .unwrap();
        let broken = c.reload().unwrap();
        assert!(!broken.hba_reloaded, "{v}: {broken:?}");
        assert!(broken.ident_reloaded, "{v}: {broken:?}");
        assert!(
            broken
                .log
                .iter()
                .any(|l| l.contains("invalid authentication method \"foo\"")),
            "{v}: {:?}",
            broken.log
        );
        // The old md5 rules are still in force.
        assert_eq!(c.probe(&from).unwrap().auth_code(), Some(auth_code::MD5));

        // Fixing the file takes effect at once after reload() returns.
        c.write_hba("local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n")
            .unwrap();
        assert!(c.reload().unwrap().hba_reloaded);
        assert_eq!(c.probe(&from).unwrap().auth_code(), Some(auth_code::SASL));
    }
}

#[test]
fn reload_is_synchronous_many_times_in_a_row() {
    // Alternate two methods; every probe right after reload() must see the new file.
    let c = Cluster::start(PgVersion::V18).unwrap();
    let from = Probe::tcp("127.0.0.8".parse().unwrap(), "u", "d");
    for i in 0..20 {
        let (method, code) = if i % 2 == 0 {
            ("md5", auth_code::MD5)
        } else {
            ("password", auth_code::CLEARTEXT)
        };
        c.write_hba(&format!(
            "local all all trust\nhost all all 127.0.0.0/8 {method}\n"
        ))
        .unwrap();
        assert!(c.reload().unwrap().hba_reloaded);
        assert_eq!(c.probe(&from).unwrap().auth_code(), Some(code), "round {i}");
    }
}

#[test]
fn broken_ident_is_reported() {
    for v in PgVersion::ALL {
        let c = Cluster::start(v).unwrap();
        c.write_ident("map1 alice\n").unwrap();
        let r = c.reload().unwrap();
        assert!(r.hba_reloaded && !r.ident_reloaded, "{v}: {r:?}");
    }
}

#[test]
fn hba_file_rules_show_valid_and_error_rows() {
    for v in PgVersion::ALL {
        let c = Cluster::start(v).unwrap();
        c.write_hba(
            "# comment\n\
             local all postgres trust\n\
             host sameuser,db2 +staff,bob 10.0.0.0/8 scram-sha-256\n\
             hostssl all all 192.168.1.0 255.255.255.0 cert clientcert=verify-full\n\
             host all all 127.0.0.1/32 foo\n\
             host all\n",
        )
        .unwrap();
        let rules = c.hba_file_rules().unwrap();
        assert_eq!(rules.len(), 5, "{v}: {rules:#?}");
        let lines: Vec<_> = rules.iter().map(|r| r.line_number).collect();
        assert_eq!(lines, [Some(2), Some(3), Some(4), Some(5), Some(6)]);

        let r = &rules[1];
        assert_eq!(r.rule_type.as_deref(), Some("host"));
        assert_eq!(
            r.database,
            Some(vec!["sameuser".to_string(), "db2".to_string()])
        );
        assert_eq!(
            r.user_name,
            Some(vec!["+staff".to_string(), "bob".to_string()])
        );
        assert_eq!(r.address.as_deref(), Some("10.0.0.0"));
        assert_eq!(r.netmask.as_deref(), Some("255.0.0.0"));
        assert_eq!(r.auth_method.as_deref(), Some("scram-sha-256"));
        assert_eq!(r.error, None);

        let cert = &rules[2];
        assert_eq!(cert.netmask.as_deref(), Some("255.255.255.0"));
        assert_eq!(
            cert.options,
            Some(vec!["clientcert=verify-full".to_string()])
        );

        assert!(rules[3]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("invalid authentication method \"foo\"")));
        assert!(rules[4].error.is_some(), "{v}: {:?}", rules[4]);
        assert_eq!(rules[3].rule_type, None);

        if c.server_major() >= 16 {
            let hba = c.hba_path().to_string_lossy().into_owned();
            assert_eq!(rules[0].rule_number, Some(1));
            assert_eq!(rules[2].rule_number, Some(3));
            assert_eq!(rules[3].rule_number, None);
            assert!(rules.iter().all(|r| r.file_name.as_deref() == Some(&hba)));
        } else {
            assert!(rules
                .iter()
                .all(|r| r.rule_number.is_none() && r.file_name.is_none()));
        }
    }
}

#[test]
fn included_files_show_their_own_name_on_18() {
    let c = Cluster::start(PgVersion::V18).unwrap();
    let extra = c
        .write_conf_file("hba.d/extra.conf", b"host all all 127.0.0.0/8 md5\n")
        .unwrap();
    c.write_conf_file("users.list", b"alice\nbob\n").unwrap();
    c.write_hba(
        "local all all trust\ninclude hba.d/extra.conf\nhost all @users.list 10.0.0.0/8 md5\n",
    )
    .unwrap();
    let rules = c.hba_file_rules().unwrap();
    assert_eq!(rules.len(), 3, "{rules:#?}");
    assert_eq!(rules[1].file_name.as_deref(), extra.to_str());
    assert_eq!(rules[1].line_number, Some(1));
    assert_eq!(
        rules[2].user_name,
        Some(vec!["alice".to_string(), "bob".to_string()])
    );
    assert!(c.reload().unwrap().hba_reloaded);
}

#[test]
fn ident_file_mappings_are_read() {
    for v in PgVersion::ALL {
        let c = Cluster::start(v).unwrap();
        c.write_ident("# maps\nmap1 alice bob\nmap1 /^(.*)@example$ \\1\nbroken\n")
            .unwrap();
        let maps = c.ident_file_mappings().unwrap();
        assert_eq!(maps.len(), 3, "{v}: {maps:#?}");
        assert_eq!(maps[0].map_name.as_deref(), Some("map1"));
        assert_eq!(maps[0].sys_name.as_deref(), Some("alice"));
        assert_eq!(maps[0].pg_username.as_deref(), Some("bob"));
        assert_eq!(maps[1].sys_name.as_deref(), Some("/^(.*)@example$"));
        assert_eq!(maps[2].line_number, Some(4));
        assert!(maps[2].error.is_some());
        if c.server_major() >= 16 {
            assert_eq!(maps[1].map_number, Some(2));
        }
    }
}
