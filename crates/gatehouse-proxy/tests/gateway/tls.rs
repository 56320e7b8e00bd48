//! TLS through the gateway with real psql: sslmode=require / verify-full,
//! channel_binding=require (SCRAM-SHA-256-PLUS), PostgreSQL 17+ direct TLS
//! (psql 18, sslnegotiation=direct), and the cert method with CN, map= and
//! clientcert=verify-full.

use std::time::Duration;

use gatehouse_proxy::config::UpstreamAuth;
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

use crate::auth_methods::engine;
use crate::harness::*;

const HBA: &str = "\
hostnossl all all 127.0.0.0/8 reject
hostssl all alice 127.0.0.0/8 scram-sha-256
hostssl all carol 127.0.0.0/8 cert
hostssl all dave 127.0.0.0/8 cert map=emails
hostssl all erin 127.0.0.0/8 scram-sha-256 clientcert=verify-full
";

const IDENT: &str = "emails /^(.*)@example\\.com$ \\1\n";

fn cluster(v: PgVersion) -> Cluster {
    let c = Cluster::start_with(ClusterOptions::new(v)).expect("cluster");
    c.execute(SETUP_SQL).expect("setup");
    c.execute(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
         CREATE ROLE carol LOGIN; CREATE ROLE dave LOGIN;
         CREATE ROLE erin LOGIN PASSWORD 'erin-pw';",
    )
    .expect("roles");
    c
}

struct Setup {
    c: Cluster,
    gw: Gw,
    pki: Pki,
    _dir: tempfile::TempDir,
}

fn setup(v: PgVersion, client_cn: &str) -> Setup {
    let c = cluster(v);
    let dir = scratch();
    let pki = pki(dir.path(), client_cn);
    let mut cfg = config(
        rules(dir.path(), HBA, Some(IDENT), engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        auth_query(&c, Duration::from_secs(30)),
    );
    cfg.tls = Some(pki.server.clone());
    let gw = start(cfg);
    Setup {
        c,
        gw,
        pki,
        _dir: dir,
    }
}

fn conn(s: &Setup, user: &str, extra: &str) -> String {
    format!(
        "host=localhost hostaddr=127.0.0.1 port={} user={user} dbname=postgres {extra}",
        s.gw.port()
    )
}

#[test]
fn psql_sslmodes_and_channel_binding() {
    for v in [PgVersion::V15, PgVersion::V18] {
        let s = setup(v, "nobody");
        let ca = s.pki.ca.display().to_string();
        // Without TLS the hostnossl reject line decides.
        let err = failed(&psql(
            &s.c,
            &conn(&s, "alice", "sslmode=disable"),
            Some("alice-pw"),
            "SELECT 1",
        ));
        assert!(err.contains("pg_hba.conf rejects connection"), "{err}");
        for extra in [
            "sslmode=require".to_string(),
            format!("sslmode=verify-full sslrootcert={ca}"),
            format!("sslmode=verify-full sslrootcert={ca} channel_binding=require"),
        ] {
            let out = psql(
                &s.c,
                &conn(&s, "alice", &extra),
                Some("alice-pw"),
                "SELECT current_user",
            );
            assert_eq!(ok(&out), "alice", "{v:?} {extra}");
        }
        // verify-full against the wrong name fails in the client.
        let bad = format!(
            "host=127.0.0.2 port={} user=alice dbname=postgres sslmode=verify-full sslrootcert={ca} hostaddr=127.0.0.1",
            s.gw.port()
        );
        let err = failed(&psql(&s.c, &bad, Some("alice-pw"), "SELECT 1"));
        assert!(
            err.contains("does not match") || err.contains("certificate"),
            "{err}"
        );
    }
}

#[test]
fn direct_tls_with_psql_18() {
    let s = setup(PgVersion::V18, "nobody");
    let ca = s.pki.ca.display().to_string();
    let extra = format!(
        "sslmode=verify-full sslrootcert={ca} sslnegotiation=direct channel_binding=require"
    );
    let out = psql(
        &s.c,
        &conn(&s, "alice", &extra),
        Some("alice-pw"),
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "alice");
}

#[test]
fn cert_method_cn_map_and_verify_full() {
    let v = PgVersion::V18;
    for (cn, user, expect_ok) in [
        ("carol", "carol", true),
        ("carol", "dave", false),
        ("dave@example.com", "dave", true),
        ("dave@example.org", "dave", false),
        ("erin", "erin", true),
        ("carol", "erin", false),
    ] {
        let s = setup(v, cn);
        let (cert, key) = (&s.pki.client.0, &s.pki.client.1);
        let ca = s.pki.ca.display().to_string();
        let extra = format!(
            "sslmode=verify-full sslrootcert={ca} sslcert={} sslkey={}",
            cert.display(),
            key.display()
        );
        let out = psql(
            &s.c,
            &conn(&s, user, &extra),
            Some("erin-pw"),
            "SELECT current_user",
        );
        if expect_ok {
            assert_eq!(ok(&out), user, "CN {cn} as {user}");
        } else {
            let err = failed(&out);
            let want = if user == "erin" {
                "password authentication failed for user \"erin\""
            } else {
                "certificate authentication failed for user"
            };
            assert!(err.contains(want), "CN {cn} as {user}: {err}");
        }
    }
    // No client certificate at all on a cert line / a clientcert line.
    let s = setup(v, "carol");
    let ca = s.pki.ca.display().to_string();
    let err = failed(&psql(
        &s.c,
        &conn(
            &s,
            "carol",
            &format!("sslmode=verify-full sslrootcert={ca}"),
        ),
        None,
        "SELECT 1",
    ));
    assert!(
        err.contains("certificate authentication failed for user \"carol\""),
        "{err}"
    );
    let err = failed(&psql(
        &s.c,
        &conn(&s, "erin", &format!("sslmode=verify-full sslrootcert={ca}")),
        Some("erin-pw"),
        "SELECT 1",
    ));
    assert!(
        err.contains("connection requires a valid client certificate"),
        "{err}"
    );
}
