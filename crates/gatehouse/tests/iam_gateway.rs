//! The `iam` method end to end, as an operator and an application use it:
//! `gatehouse iam` creates a user, an access key and a policy in the state store;
//! `gatehouse serve` runs in front of a real PostgreSQL 18; botocore (the AWS SDK,
//! from PyPI) makes the tokens; psql and psycopg connect with them over TLS.
//! Every refusal is RDS's `PAM authentication failed`, and the JSON decision log
//! names the check or the policy statement that decided.
#![allow(clippy::unwrap_used)]

mod support;
use support::{free_port, python};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const RESOURCE: &str = "db-GATEHOUSETEST0000000000001";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn iam(cfg: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("iam")
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gatehouse iam {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (AccessKeyId, SecretAccessKey) of a new key for `user`.
fn new_key(cfg: &Path, user: &str) -> (String, String) {
    let out = iam(
        cfg,
        &["create-access-key", "--user-name", user, "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        v["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned(),
        v["AccessKey"]["SecretAccessKey"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// A token from botocore's `generate_db_auth_token`, exactly as applications make them.
fn botocore_token(
    key: &(String, String),
    host: &str,
    port: u16,
    user: &str,
    region: &str,
) -> String {
    let script = "import sys, botocore.session\n\
                  akid, secret, host, port, user, region = sys.argv[1:7]\n\
                  s = botocore.session.get_session()\n\
                  s.set_credentials(akid, secret)\n\
                  c = s.create_client('rds', region_name=region)\n\
                  print(c.generate_db_auth_token(DBHostname=host, Port=int(port), DBUsername=user, Region=region))\n";
    let o = Command::new(python())
        .args([
            "-c",
            script,
            &key.0,
            &key.1,
            host,
            &port.to_string(),
            user,
            region,
        ])
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serve {
    fn stop(mut self) -> String {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let _ = self.0.wait();
        let mut log = String::new();
        self.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        log
    }
}

fn serve(cfg: &Path, port: u16) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = Serve(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gatehouse did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn psql(c: &Cluster, port: u16, user: &str, password: &str, sslmode: &str) -> Output {
    Command::new(c.bin_dir().join("psql"))
        .args([
            "-X",
            "-A",
            "-t",
            "-d",
            &format!("host=localhost port={port} user={user} dbname=postgres sslmode={sslmode}"),
            "-c",
            "SELECT current_user",
        ])
        .env("PGPASSWORD", password)
        .output()
        .unwrap()
}

fn assert_in(o: &Output, user: &str) {
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        user,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn assert_pam_refused(o: &Output, user: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("PAM authentication failed for user \"{user}\"")),
        "{err}"
    );
}

fn setup(dir: &Path, c: &Cluster, port: u16) -> PathBuf {
    let cert = gatehouse_testkit::tls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    gatehouse_testkit::tls::write_pem_files(dir, "server", &cert).unwrap();
    write(
        dir,
        "pg_hba.conf",
        "# people with passwords, applications with tokens\n\
         hostssl all alice,svc 127.0.0.1/32 scram-sha-256\n\
         host    all app_user,admin,other 127.0.0.1/32 iam\n\
         host    all plain_app 127.0.0.1/32 iam iam_allow_plaintext=1\n\
         host    all all 0.0.0.0/0 reject\n",
    );
    write(
        dir,
        "userlist.txt",
        "\"alice\" \"alice-pw\"\n\"svc\" \"svc-pw\"\n",
    );
    write(
        dir,
        "gatehouse.toml",
        &format!(
            "[listen]\naddresses = [\"127.0.0.1:{port}\"]\n\n\
             [tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\n\n\
             [hba]\nfile = \"pg_hba.conf\"\npg_version = 18\n\n\
             [upstream]\nsocket_dir = \"{}\"\nport = {}\nauth = \"trust\"\n\n\
             [auth]\nsource = \"userlist\"\nuserlist_file = \"userlist.txt\"\nmemberships_from_catalog = true\ncache_ttl = 0.1\n\n\
             [log]\nformat = \"json\"\nlevel = \"gatehouse=info\"\n\n\
             [network]\nmode = \"open\"\n\n\
             [iam]\naccount_id = \"{ACCOUNT}\"\nregion = \"{REGION}\"\nresource_id = \"{RESOURCE}\"\n\
             endpoints = [\"localhost:{port}\"]\n",
            c.socket_dir().display(),
            c.port()
        ),
    )
}

fn connect_policy(user_glob: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Connect","Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{RESOURCE}/{user_glob}"}},{{"Sid":"NoAdmin","Effect":"Deny","Action":"rds-db:*","Resource":"arn:aws:rds-db:*:*:dbuser:*/admin"}}]}}"#
    )
}

#[test]
fn tokens_from_botocore_log_in_and_every_refusal_names_its_check() {
    let c = Cluster::start_with(ClusterOptions::new(PgVersion::V18)).unwrap();
    for sql in [
        "CREATE ROLE gatehouse_auth LOGIN",
        "CREATE ROLE rds_iam NOLOGIN",
        "CREATE ROLE app_user LOGIN",
        "CREATE ROLE admin LOGIN",
        "CREATE ROLE other LOGIN",
        "CREATE ROLE plain_app LOGIN",
        "CREATE ROLE alice LOGIN",
        "CREATE ROLE svc LOGIN IN ROLE rds_iam",
    ] {
        c.execute(sql).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = setup(dir.path(), &c, port);

    iam(&cfg, &["create-user", "--user-name", "app"]);
    let key = new_key(&cfg, "app");
    write(dir.path(), "policy.json", &connect_policy("*"));
    iam(
        &cfg,
        &[
            "put-user-policy",
            "--user-name",
            "app",
            "--policy-name",
            "connect",
            "--policy-document",
            &format!("file://{}", dir.path().join("policy.json").display()),
        ],
    );
    // A second user whose policy allows only `other`.
    iam(&cfg, &["create-user", "--user-name", "narrow"]);
    let narrow = new_key(&cfg, "narrow");
    iam(
        &cfg,
        &[
            "put-user-policy",
            "--user-name",
            "narrow",
            "--policy-name",
            "connect-other",
            "--policy-document",
            &connect_policy("other"),
        ],
    );

    let token =
        |k: &(String, String), user: &str| botocore_token(k, "localhost", port, user, REGION);

    // `gatehouse token verify`: the same decision offline, with the deciding statement.
    let verify = |t: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["token", "verify", t, "--config", cfg.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = verify(&token(&key, "app_user"), &[]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("allowed: arn:aws:iam::123456789012:user/app")
            && text.contains("Sid Connect"),
        "{text}"
    );
    let denied = verify(&token(&key, "admin"), &["--format", "json"]);
    assert_eq!(denied.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(v["check"], "policy_explicit_deny");
    assert_eq!(v["statement"]["sid"], "NoAdmin");
    let wrong_user = verify(&token(&key, "app_user"), &["--user", "other"]);
    assert_eq!(wrong_user.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_user.stdout).contains("refused (wrong_user)"));

    let gw = serve(&cfg, port);

    // psql with a botocore token over TLS.
    assert_in(
        &psql(&c, port, "app_user", &token(&key, "app_user"), "require"),
        "app_user",
    );
    // psycopg, libpq underneath, with another fresh token.
    let py = Command::new(python())
        .args([
            "-c",
            "import sys, psycopg\n\
             with psycopg.connect(host='localhost', port=int(sys.argv[1]), user='app_user', dbname='postgres', password=sys.argv[2], sslmode='require') as conn:\n\
             \x20   print(conn.execute('select current_user').fetchone()[0])\n",
            &port.to_string(),
            &token(&key, "app_user"),
        ])
        .output()
        .unwrap();
    assert_in(&py, "app_user");
    // A token without TLS: the token is never asked for.
    assert_pam_refused(
        &psql(&c, port, "app_user", &token(&key, "app_user"), "disable"),
        "app_user",
    );
    // ... unless the line says iam_allow_plaintext=1.
    assert_in(
        &psql(&c, port, "plain_app", &token(&key, "plain_app"), "disable"),
        "plain_app",
    );
    // A token made for another database user.
    assert_pam_refused(
        &psql(&c, port, "app_user", &token(&key, "other"), "require"),
        "app_user",
    );
    // Signed for another region.
    let west = botocore_token(&key, "localhost", port, "app_user", "us-west-2");
    assert_pam_refused(&psql(&c, port, "app_user", &west, "require"), "app_user");
    // Another endpoint name.
    let elsewhere = botocore_token(&key, "db.example.com", port, "app_user", REGION);
    assert_pam_refused(
        &psql(&c, port, "app_user", &elsewhere, "require"),
        "app_user",
    );
    // A password instead of a token.
    assert_pam_refused(
        &psql(&c, port, "app_user", "hunter2-not-a-token", "require"),
        "app_user",
    );
    // An unknown access key.
    let stranger = (
        "AKIAIOSFODNN7EXAMPLE".to_owned(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    );
    assert_pam_refused(
        &psql(
            &c,
            port,
            "app_user",
            &token(&stranger, "app_user"),
            "require",
        ),
        "app_user",
    );
    // The policy's explicit Deny beats its Allow *.
    assert_pam_refused(
        &psql(&c, port, "admin", &token(&key, "admin"), "require"),
        "admin",
    );
    // narrow may be `other` but not app_user (implicit deny).
    assert_in(
        &psql(&c, port, "other", &token(&narrow, "other"), "require"),
        "other",
    );
    assert_pam_refused(
        &psql(&c, port, "app_user", &token(&narrow, "app_user"), "require"),
        "app_user",
    );

    // rds_iam members: the right password on a scram line is not enough; a token is.
    assert_in(&psql(&c, port, "alice", "alice-pw", "require"), "alice");
    assert_pam_refused(&psql(&c, port, "svc", "svc-pw", "require"), "svc");
    assert_in(
        &psql(&c, port, "svc", &token(&key, "svc"), "require"),
        "svc",
    );

    // An access key made Inactive stops working once the gateway sees the store change.
    let fresh = token(&key, "app_user");
    iam(
        &cfg,
        &[
            "update-access-key",
            "--access-key-id",
            &key.0,
            "--status",
            "Inactive",
        ],
    );
    let start = Instant::now();
    let mut after = psql(&c, port, "app_user", &fresh, "require");
    while after.status.success() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
        after = psql(&c, port, "app_user", &fresh, "require");
    }
    assert_pam_refused(&after, "app_user");

    let log = gw.stop();
    let decisions: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "gatehouse::decision")
        .collect();
    let reasons: Vec<String> = decisions
        .iter()
        .filter(|d| d["outcome"] == "refused")
        .map(|d| format!("{} {} {}", d["user"], d["sqlstate"], d["reason"]))
        .collect();
    let has = |user: &str, needle: &str| {
        assert!(
            decisions
                .iter()
                .any(|d| d["user"] == user && d["reason"].as_str().unwrap_or("").contains(needle)),
            "no decision for {user} containing {needle:?}:\n{}",
            reasons.join("\n")
        );
    };
    has("app_user", "not TLS");
    has("app_user", "wrong_user");
    has("app_user", "wrong_region");
    has("app_user", "wrong_host");
    has("app_user", "malformed");
    has("app_user", "unknown_key");
    has("admin", "policy_explicit_deny");
    has("admin", "NoAdmin");
    has("app_user", "policy_no_allow");
    has("svc", "rds_iam");
    has("app_user", "inactive_key");
    for r in decisions.iter().filter(|d| d["outcome"] == "refused") {
        assert_eq!(r["sqlstate"], "28P01", "{r}");
        assert_eq!(r["method"], "iam", "{r}");
    }
    let allowed = decisions
        .iter()
        .find(|d| d["outcome"] == "allowed" && d["user"] == "other")
        .unwrap();
    let how = allowed["iam"].as_str().unwrap();
    assert!(
        how.contains(&format!("arn:aws:iam::{ACCOUNT}:user/narrow"))
            && how.contains(&narrow.0)
            && how.contains("Sid Connect"),
        "{allowed}"
    );
    // No secret and no token reached the log.
    assert!(
        !log.contains(&key.1) && !log.contains(&narrow.1),
        "a secret key reached the log"
    );
    assert!(!log.contains("X-Amz-Signature"), "a token reached the log");
}
