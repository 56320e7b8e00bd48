//! Each client auth method and each refusal, with psql, on PostgreSQL 15 and 18.

use std::time::Duration;

use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::config::UpstreamAuth;
use gatehouse_testkit::PgVersion;
use gatehouse_testkit::{Cluster, ClusterOptions};

use crate::harness::*;

pub fn engine(v: PgVersion) -> gatehouse_hba::PgVersion {
    match v {
        PgVersion::V15 => gatehouse_hba::PgVersion::V15,
        PgVersion::V18 => gatehouse_hba::PgVersion::V18,
    }
}

fn cluster(version: PgVersion) -> Cluster {
    let c = Cluster::start_with(ClusterOptions::new(version)).expect("cluster");
    c.execute(SETUP_SQL).expect("setup sql");
    c.execute(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
         SET password_encryption = 'md5';
         CREATE ROLE bob LOGIN PASSWORD 'bob-pw';
         SET password_encryption = 'scram-sha-256';
         CREATE ROLE nologin NOLOGIN PASSWORD 'x';
         CREATE ROLE expired LOGIN PASSWORD 'old-pw' VALID UNTIL '2001-01-01';
         CREATE ROLE nopass LOGIN;
         CREATE ROLE staff NOLOGIN;
         GRANT staff TO bob;",
    )
    .expect("roles");
    c
}

const HBA: &str = "\
host all nopass 127.0.0.0/8 trust
host all +staff 127.0.0.0/8 md5
host all alice 127.0.0.0/8 scram-sha-256
host all expired,nologin 127.0.0.0/8 scram-sha-256
host all cleartext 127.0.0.0/8 password
host all all 127.0.0.2/32 reject
";

fn conninfo(gw: &Gw, user: &str, extra: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable {extra}",
        gw.port()
    )
}

fn each_version(f: impl Fn(PgVersion)) {
    for v in [PgVersion::V15, PgVersion::V18] {
        f(v);
    }
}

#[test]
fn scram_md5_trust_and_refusals_through_auth_query() {
    each_version(|v| {
        let c = cluster(v);
        let dir = scratch();
        let cfg = config(
            rules(dir.path(), HBA, None, engine(v)),
            unix_addr(&c),
            UpstreamAuth::Trust,
            auth_query(&c, Duration::from_secs(30)),
        );
        let gw = start(cfg);

        // scram-sha-256 with the role's SCRAM secret.
        let out = psql(
            &c,
            &conninfo(&gw, "alice", ""),
            Some("alice-pw"),
            "SELECT current_user",
        );
        assert_eq!(ok(&out), "alice", "{v:?}");
        // +staff → md5 with an md5 secret; bob is a member of staff in the catalogs.
        let out = psql(
            &c,
            &conninfo(&gw, "bob", ""),
            Some("bob-pw"),
            "SELECT current_user",
        );
        assert_eq!(ok(&out), "bob");
        // trust.
        let out = psql(
            &c,
            &conninfo(&gw, "nopass", ""),
            None,
            "SELECT current_user",
        );
        assert_eq!(ok(&out), "nopass");

        // Wrong password: PostgreSQL's 28P01 text.
        let err = failed(&psql(
            &c,
            &conninfo(&gw, "alice", ""),
            Some("nope"),
            "SELECT 1",
        ));
        assert!(
            err.contains("password authentication failed for user \"alice\""),
            "{err}"
        );
        let err = failed(&psql(
            &c,
            &conninfo(&gw, "bob", ""),
            Some("nope"),
            "SELECT 1",
        ));
        assert!(
            err.contains("password authentication failed for user \"bob\""),
            "{err}"
        );
        // Past VALID UNTIL: refused even with the right password (PgBouncer's pitfall).
        let err = failed(&psql(
            &c,
            &conninfo(&gw, "expired", ""),
            Some("old-pw"),
            "SELECT 1",
        ));
        assert!(
            err.contains("password authentication failed for user \"expired\""),
            "{err}"
        );
        // NOLOGIN: refused with the backend's words.
        let err = failed(&psql(
            &c,
            &conninfo(&gw, "nologin", ""),
            Some("x"),
            "SELECT 1",
        ));
        assert!(
            err.contains("role \"nologin\" is not permitted to log in"),
            "{err}"
        );
        // No line: the exact PostgreSQL message for the version.
        let err = failed(&psql(&c, &conninfo(&gw, "mallory", ""), None, "SELECT 1"));
        let enc = if v == PgVersion::V15 {
            "SSL off"
        } else {
            "no encryption"
        };
        assert!(
            err.contains(&format!(
                "no pg_hba.conf entry for host \"127.0.0.1\", user \"mallory\", database \"postgres\", {enc}"
            )),
            "{err}"
        );
        // reject line from 127.0.0.2.
        let err = failed(&psql(
            &c,
            &format!("hostaddr=127.0.0.1 host=127.0.0.1 port={} user=mallory dbname=postgres sslmode=disable", gw.port()),
            None,
            "SELECT 1",
        ));
        assert!(err.contains("no pg_hba.conf entry"), "{err}");
    });
}

#[test]
fn userlist_secrets_and_password_method() {
    let v = PgVersion::V18;
    let c = cluster(v);
    c.execute("CREATE ROLE cleartext LOGIN").expect("role");
    let dir = scratch();
    let list = userlist(
        dir.path(),
        &[("cleartext", "plain-pw"), ("alice", "alice-pw")],
    );
    let cfg = config(
        rules(dir.path(), HBA, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list,
            catalog: None,
        },
    );
    let gw = start(cfg);
    let out = psql(
        &c,
        &conninfo(&gw, "cleartext", ""),
        Some("plain-pw"),
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "cleartext");
    let out = psql(
        &c,
        &conninfo(&gw, "alice", ""),
        Some("alice-pw"),
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "alice");
    let err = failed(&psql(
        &c,
        &conninfo(&gw, "cleartext", ""),
        Some("wrong"),
        "SELECT 1",
    ));
    assert!(
        err.contains("password authentication failed for user \"cleartext\""),
        "{err}"
    );
}

#[test]
fn secret_lookup_failure_is_an_outage_not_a_wrong_password() {
    let v = PgVersion::V18;
    let c = cluster(v);
    let dir = scratch();
    // The catalog login points at a socket directory where nothing listens.
    let broken = SecretSource::AuthQuery {
        catalog: gatehouse_proxy::catalog::Catalog::new(
            gatehouse_proxy::catalog::CatalogLogin {
                host: dir.path().to_string_lossy().into_owned(),
                port: 1,
                database: "postgres".into(),
                user: "gatehouse_auth".into(),
                password: None,
                connect_timeout: Duration::from_secs(2),
            },
            Duration::from_secs(30),
        ),
        query: gatehouse_proxy::catalog::DEFAULT_AUTH_QUERY.into(),
    };
    let gw = start(config(
        rules(dir.path(), HBA, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        broken,
    ));
    let err = failed(&psql(
        &c,
        &conninfo(&gw, "alice", ""),
        Some("alice-pw"),
        "SELECT 1",
    ));
    assert!(
        err.contains("could not connect to the database server through gatehouse"),
        "{err}"
    );
    assert!(!err.contains("password authentication failed"), "{err}");
}

#[test]
fn max_connections_answers_53300() {
    let v = PgVersion::V18;
    let c = cluster(v);
    let dir = scratch();
    let mut cfg = config(
        rules(dir.path(), HBA, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::None,
    );
    cfg.limits.max_connections = 1;
    let gw = start(cfg);
    // One client holds the only slot (connected, silent).
    let _holder = std::net::TcpStream::connect(gw.addr).expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let err = failed(&psql(&c, &conninfo(&gw, "nopass", ""), None, "SELECT 1"));
    assert!(err.contains("sorry, too many clients already"), "{err}");
    drop(_holder);
    std::thread::sleep(Duration::from_millis(200));
    let out = psql(
        &c,
        &conninfo(&gw, "nopass", ""),
        None,
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "nopass");
}
