//! Upstream modes (trust over the Unix socket, per-role password file, SCRAM
//! and md5 pass-through over TCP, TLS verify-full to the upstream) and upstream
//! failures (down, silent, refusing) as the client sees them.

use std::time::{Duration, Instant};

use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::config::{UpstreamAddr, UpstreamAuth, UpstreamTls};
use gatehouse_proxy::tls::{upstream_client_config, UpstreamTlsMode};
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

use crate::auth_methods::engine;
use crate::harness::*;

/// The upstream requires passwords over TCP; the Unix socket stays trusted for
/// the kit's admin session and the catalog login.
const UPSTREAM_HBA: &str = "\
local all all trust
host all bob 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
";

const GATEWAY_HBA: &str = "\
host all alice,bob 127.0.0.0/8 scram-sha-256
host all nopass 127.0.0.0/8 trust
";

fn cluster(v: PgVersion, ssl: bool) -> Cluster {
    let c =
        Cluster::start_with(ClusterOptions::new(v).hba(UPSTREAM_HBA).ssl(ssl)).expect("cluster");
    c.execute(SETUP_SQL).expect("setup");
    c.execute(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
         CREATE ROLE nopass LOGIN;
         SET password_encryption = 'md5';
         CREATE ROLE bob LOGIN PASSWORD 'bob-pw';",
    )
    .expect("roles");
    c
}

fn tcp(c: &Cluster) -> UpstreamAddr {
    UpstreamAddr::Tcp {
        host: "127.0.0.1".into(),
        port: c.port(),
        tls: None,
    }
}

fn conninfo(gw: &Gw, user: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable",
        gw.port()
    )
}

#[test]
fn scram_and_md5_passthrough_over_tcp() {
    for v in [PgVersion::V15, PgVersion::V18] {
        let c = cluster(v, false);
        let dir = scratch();
        let gw = start(config(
            rules(dir.path(), GATEWAY_HBA, None, engine(v)),
            tcp(&c),
            UpstreamAuth::ScramPassthrough,
            auth_query(&c, Duration::from_secs(30)),
        ));
        // SCRAM: the ClientKey recovered from alice's proof logs in upstream.
        let out = psql(
            &c,
            &conninfo(&gw, "alice"),
            Some("alice-pw"),
            "SELECT current_user",
        );
        assert_eq!(ok(&out), "alice", "{v:?}");
        // md5 secret on a scram line fails like PostgreSQL; over md5 it is reused.
        // (bob's gateway line is scram-sha-256 with an md5 secret: refused.)
        let err = failed(&psql(&c, &conninfo(&gw, "bob"), Some("bob-pw"), "SELECT 1"));
        assert!(
            err.contains("password authentication failed for user \"bob\""),
            "{err}"
        );
        // trust at the gateway leaves nothing to pass through: the upstream asks for a
        // password and the client gets 08006 with a clear message.
        let err = failed(&psql(&c, &conninfo(&gw, "nopass"), None, "SELECT 1"));
        assert!(
            err.contains("could not connect to the database server through gatehouse"),
            "{err}"
        );
    }
}

#[test]
fn md5_passthrough_and_password_file() {
    let v = PgVersion::V18;
    let c = cluster(v, false);
    let dir = scratch();
    let hba = "host all bob 127.0.0.0/8 md5\nhost all alice,nopass 127.0.0.0/8 trust\n";
    let gw = start(config(
        rules(dir.path(), hba, None, engine(v)),
        tcp(&c),
        UpstreamAuth::ScramPassthrough,
        auth_query(&c, Duration::from_secs(30)),
    ));
    let out = psql(
        &c,
        &conninfo(&gw, "bob"),
        Some("bob-pw"),
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "bob");
    drop(gw);

    // Per-role secret file: gatehouse logs in with the file's password whatever the
    // client proved (here: trust at the gateway).
    let secrets = userlist(dir.path(), &[("alice", "alice-pw")]);
    let gw = start(config(
        rules(dir.path(), hba, None, engine(v)),
        tcp(&c),
        UpstreamAuth::Password(secrets),
        SecretSource::None,
    ));
    let out = psql(&c, &conninfo(&gw, "alice"), None, "SELECT current_user");
    assert_eq!(ok(&out), "alice");
    let err = failed(&psql(&c, &conninfo(&gw, "nopass"), None, "SELECT 1"));
    assert!(err.contains("through gatehouse"), "{err}");
}

#[test]
fn upstream_tls_verify_full() {
    let v = PgVersion::V18;
    let c = cluster(v, true);
    let dir = scratch();
    let root = c.cert_path().expect("cluster cert").to_path_buf();
    let mk = |name: &str| UpstreamAddr::Tcp {
        host: "127.0.0.1".into(),
        port: c.port(),
        tls: Some(UpstreamTls {
            config: upstream_client_config(UpstreamTlsMode::VerifyFull, Some(&root))
                .expect("client config"),
            server_name: rustls::pki_types::ServerName::try_from(name.to_string()).expect("name"),
        }),
    };
    let gw = start(config(
        rules(dir.path(), GATEWAY_HBA, None, engine(v)),
        mk("localhost"),
        UpstreamAuth::ScramPassthrough,
        auth_query(&c, Duration::from_secs(30)),
    ));
    let out = psql(
        &c,
        &conninfo(&gw, "alice"),
        Some("alice-pw"),
        "SELECT current_user",
    );
    assert_eq!(ok(&out), "alice");
    drop(gw);
    // The certificate is not valid for this name: refused before any secret is sent.
    let gw = start(config(
        rules(dir.path(), GATEWAY_HBA, None, engine(v)),
        mk("db.example.com"),
        UpstreamAuth::ScramPassthrough,
        auth_query(&c, Duration::from_secs(30)),
    ));
    let err = failed(&psql(
        &c,
        &conninfo(&gw, "alice"),
        Some("alice-pw"),
        "SELECT 1",
    ));
    assert!(err.contains("through gatehouse"), "{err}");
}

#[test]
fn upstream_down_silent_or_refusing() {
    let v = PgVersion::V18;
    let c = cluster(v, false);
    let dir = scratch();
    let list = userlist(dir.path(), &[("alice", "alice-pw")]);
    let hba = "host all all 127.0.0.0/8 scram-sha-256\n";

    // Down: nothing listens on the socket.
    let gone = UpstreamAddr::Unix {
        dir: dir.path().to_path_buf(),
        port: 1,
    };
    let gw = start(config(
        rules(dir.path(), hba, None, engine(v)),
        gone,
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list: list.clone(),
            catalog: None,
        },
    ));
    let t = Instant::now();
    let out = psql(&c, &conninfo(&gw, "alice"), Some("alice-pw"), "SELECT 1");
    let err = failed(&out);
    assert!(
        err.contains("could not connect to the database server through gatehouse"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(gw);

    // Silent: accepts TCP, never answers. The connect timeout bounds the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mut cfg = config(
        rules(dir.path(), hba, None, engine(v)),
        UpstreamAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
            tls: None,
        },
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list: list.clone(),
            catalog: None,
        },
    );
    cfg.limits.connect_timeout = Duration::from_secs(1);
    let gw = start(cfg);
    let t = Instant::now();
    let err = failed(&psql(
        &c,
        &conninfo(&gw, "alice"),
        Some("alice-pw"),
        "SELECT 1",
    ));
    assert!(err.contains("through gatehouse"), "{err}");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    drop(gw);
    drop(silent);

    // Refusing: the upstream's own error reaches the client as is (3D000).
    let gw = start(config(
        rules(dir.path(), hba, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list,
            catalog: None,
        },
    ));
    let info = format!(
        "host=127.0.0.1 port={} user=alice dbname=nosuchdb sslmode=disable",
        gw.port()
    );
    let err = failed(&psql(&c, &info, Some("alice-pw"), "SELECT 1"));
    assert!(
        err.contains("database \"nosuchdb\" does not exist"),
        "{err}"
    );
}

#[test]
fn reuse_after_discard_all_same_role_only() {
    use gatehouse_proxy::pool::ReuseSettings;
    let v = PgVersion::V18;
    let c = cluster(v, false);
    let dir = scratch();
    let hba = "host all alice,nopass 127.0.0.0/8 trust\n";
    let mut cfg = config(
        rules(dir.path(), hba, None, engine(v)),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::None,
    );
    let mut up = (*cfg.upstream).clone();
    up.reuse = Some(ReuseSettings {
        idle_timeout: Duration::from_secs(30),
        max_idle_per_key: 4,
    });
    cfg.upstream = std::sync::Arc::new(up);
    let gw = start(cfg);
    let q = |user: &str, sql: &str| ok(&psql(&c, &conninfo(&gw, user), None, sql));

    let out = q(
        "alice",
        "SET work_mem = '1MB'; CREATE TEMP TABLE t (x int); SELECT pg_backend_pid()",
    );
    let pid1 = out.lines().last().expect("pid").to_string();
    // Same role and parameters: the same backend, reset by DISCARD ALL.
    let out = q(
        "alice",
        "SELECT pg_backend_pid(), current_setting('work_mem'), to_regclass('pg_temp.t') IS NULL",
    );
    assert_eq!(out, format!("{pid1}|4MB|t"));
    // Another role never gets it.
    let other = q("nopass", "SELECT pg_backend_pid(), current_user");
    assert!(!other.starts_with(&format!("{pid1}|")), "{other} vs {pid1}");
    // A session that ends inside a transaction is not reused.
    let pid2 = q("alice", "SELECT pg_backend_pid()");
    assert_eq!(pid2, pid1);
    let _ = psql(&c, &conninfo(&gw, "alice"), None, "BEGIN; SELECT 1");
    let pid3 = q("alice", "SELECT pg_backend_pid()");
    assert_ne!(pid3, pid1);
    // Different startup parameters (application_name) mean another identity.
    let info = format!("{} application_name=other", conninfo(&gw, "alice"));
    let pid4 = ok(&psql(&c, &info, None, "SELECT pg_backend_pid()"));
    assert_ne!(pid4, pid3);
}
