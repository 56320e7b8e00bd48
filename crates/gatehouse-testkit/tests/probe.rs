//! What the real server answers to startups from chosen sources.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use gatehouse_testkit::{auth_code, Cluster, PgVersion, Probe, ProbeOutcome};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cluster_with(v: PgVersion, hba: &str) -> Cluster {
    let c = Cluster::start(v).unwrap();
    c.write_hba(hba).unwrap();
    let r = c.reload().unwrap();
    assert!(r.hba_reloaded, "{v}: {:?}", r.log);
    c
}

#[test]
fn md5_line_asks_for_md5_from_another_loopback_address() {
    for v in PgVersion::ALL {
        let c = cluster_with(v, "local all all trust\nhost all all 127.0.0.0/8 md5\n");
        let out = c
            .probe(&Probe::tcp(ip("127.0.0.5"), "alice", "postgres"))
            .unwrap();
        assert_eq!(
            out,
            ProbeOutcome::Auth {
                code: auth_code::MD5,
                sasl_mechanisms: vec![]
            },
            "{v}"
        );
    }
}

#[test]
fn scram_line_offers_scram_sha_256() {
    for v in PgVersion::ALL {
        let c = cluster_with(
            v,
            "local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n",
        );
        let out = c
            .probe(&Probe::tcp(ip("127.0.0.5"), "alice", "postgres"))
            .unwrap();
        let ProbeOutcome::Auth {
            code,
            sasl_mechanisms,
        } = out
        else {
            panic!("{v}: {out:?}")
        };
        assert_eq!(code, auth_code::SASL);
        assert!(
            sasl_mechanisms.contains(&"SCRAM-SHA-256".to_string()),
            "{v}: {sasl_mechanisms:?}"
        );
    }
}

#[test]
fn no_entry_and_reject_are_told_apart() {
    for v in PgVersion::ALL {
        let c = cluster_with(
            v,
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all bob 127.0.0.0/8 reject\n",
        );
        let out = c
            .probe(&Probe::tcp(ip("127.0.0.7"), "alice", "db1"))
            .unwrap();
        let ProbeOutcome::NoEntry { message } = &out else {
            panic!("{v}: {out:?}")
        };
        assert!(
            message.contains("\"127.0.0.7\"")
                && message.contains("alice")
                && message.contains("db1"),
            "{message}"
        );
        let out = c.probe(&Probe::tcp(ip("127.0.0.7"), "bob", "db1")).unwrap();
        assert!(matches!(out, ProbeOutcome::Rejects { .. }), "{v}: {out:?}");
        // 127.0.0.1 still matches the trust line.
        let out = c
            .probe(&Probe::tcp(ip("127.0.0.1"), "bob", "postgres"))
            .unwrap();
        assert_eq!(out.auth_code(), Some(auth_code::OK), "{v}");
    }
}

#[test]
fn unix_socket_probes_use_local_lines() {
    for v in PgVersion::ALL {
        let c = cluster_with(v, "local all postgres trust\nlocal all all md5\n");
        let out = c.probe(&Probe::unix("alice", "postgres")).unwrap();
        assert_eq!(out.auth_code(), Some(auth_code::MD5), "{v}");
        let out = c.probe(&Probe::unix("postgres", "postgres")).unwrap();
        assert_eq!(out.auth_code(), Some(auth_code::OK), "{v}");
        // PostgreSQL never does TLS on a Unix socket.
        let out = c
            .probe(&Probe::unix("postgres", "postgres").with_ssl(true))
            .unwrap();
        assert_eq!(out, ProbeOutcome::SslRefused, "{v}");
    }
}

#[test]
fn ssl_probes_match_hostssl_lines() {
    for v in PgVersion::ALL {
        let c = cluster_with(
            v,
            "local all all trust\nhostssl all all 127.0.0.0/8 scram-sha-256\nhostnossl all all 127.0.0.0/8 reject\n",
        );
        let tls = c
            .probe(&Probe::tcp(ip("127.0.0.9"), "alice", "postgres").with_ssl(true))
            .unwrap();
        let ProbeOutcome::Auth {
            code,
            sasl_mechanisms,
        } = &tls
        else {
            panic!("{v}: {tls:?}")
        };
        assert_eq!(*code, auth_code::SASL);
        println!("{v} over TLS offers {sasl_mechanisms:?}");
        assert!(sasl_mechanisms.contains(&"SCRAM-SHA-256".to_string()));
        let plain = c
            .probe(&Probe::tcp(ip("127.0.0.9"), "alice", "postgres"))
            .unwrap();
        assert!(
            matches!(plain, ProbeOutcome::Rejects { .. }),
            "{v}: {plain:?}"
        );
    }
}

#[test]
fn ssl_off_server_answers_n() {
    let c = Cluster::start_with(gatehouse_testkit::ClusterOptions::new(PgVersion::V18).ssl(false))
        .unwrap();
    let out = c
        .probe(&Probe::tcp(ip("127.0.0.1"), "postgres", "postgres").with_ssl(true))
        .unwrap();
    assert_eq!(out, ProbeOutcome::SslRefused);
}

#[test]
fn replication_probes_match_replication_lines() {
    for v in PgVersion::ALL {
        let c = cluster_with(
            v,
            "local all all trust\nhost replication all 127.0.0.0/8 scram-sha-256\nhost all all 127.0.0.0/8 md5\n",
        );
        let p = Probe::tcp(ip("127.0.0.3"), "alice", "postgres");
        assert_eq!(c.probe(&p).unwrap().auth_code(), Some(auth_code::MD5));
        let physical = p.clone().with_replication("true");
        assert_eq!(
            c.probe(&physical).unwrap().auth_code(),
            Some(auth_code::SASL),
            "{v}"
        );
        // Logical replication connections ("database") match ordinary database lines.
        let logical = p.with_replication("database");
        assert_eq!(
            c.probe(&logical).unwrap().auth_code(),
            Some(auth_code::MD5),
            "{v}"
        );
    }
}

#[test]
fn ipv6_source_when_available() {
    for v in PgVersion::ALL {
        let c = cluster_with(
            v,
            "local all all trust\nhost all all ::1/128 md5\nhost all all 127.0.0.0/8 reject\n",
        );
        if !c.ipv6() {
            println!("::1 not available here; skipping the IPv6 probe");
            return;
        }
        let out = c
            .probe(&Probe::tcp(ip("::1"), "alice", "postgres"))
            .unwrap();
        assert_eq!(out.auth_code(), Some(auth_code::MD5), "{v}");
    }
}

#[test]
fn missing_database_is_reported_after_trust() {
    // Authentication happens before the database is looked up: trust then 3D000.
    let c = cluster_with(
        PgVersion::V15,
        "local all all trust\nhost all all 127.0.0.0/8 trust\n",
    );
    let out = c
        .probe(&Probe::tcp(ip("127.0.0.2"), "postgres", "nope"))
        .unwrap();
    assert_eq!(out.auth_code(), Some(auth_code::OK));
}

#[test]
fn probing_a_closed_port_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = std::time::Instant::now();
    let r = gatehouse_testkit::probe(
        &gatehouse_testkit::ProbeTarget::loopback(port),
        &Probe::tcp(ip("127.0.0.1"), "a", "b"),
    );
    assert!(r.is_err());
    assert!(t.elapsed() < std::time::Duration::from_secs(6));
}
