//! `gatehouse check` and `gatehouse serve` as a user runs them: a config file
//! naming its pg_hba.conf and secrets, a real PostgreSQL behind, psql in front,
//! the JSON decision log on stderr, SIGTERM to stop.

mod support;
use support::free_port;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse")
}

fn toml(port: u16, c: &Cluster) -> String {
    format!(
        "[listen]\naddresses = [\"127.0.0.1:{port}\"]\n\n\
         [hba]\nfile = \"pg_hba.conf\"\npg_version = 18\n\n\
         [upstream]\nsocket_dir = \"{}\"\nport = {}\nauth = \"trust\"\n\n\
         [auth]\nsource = \"userlist\"\nuserlist_file = \"userlist.txt\"\n\n\
         [log]\nformat = \"json\"\nlevel = \"gatehouse=info\"\n\n\
         [network]\nattach = [\"sg-db\"]\n\
         [[network.groups]]\nid = \"sg-db\"\nname = \"database\"\n\
         [[network.rules]]\nid = \"sgr-local\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = {port}\nto_port = {port}\nsource = {{ cidr = \"127.0.0.1/32\" }}\n",
        c.socket_dir().display(),
        c.port()
    )
}

#[test]
fn check_reports_errors_with_locations() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 scram-sha-256\n",
    );
    write(dir.path(), "userlist.txt", "\"app\" \"pw\"\n");
    let cfg = write(
        dir.path(),
        "gatehouse.toml",
        "[listen]\naddresses = [\"127.0.0.1:6432\"]\n[hba]\nfile = \"pg_hba.conf\"\n\
         [upstream]\nsocket_dir = \"/tmp\"\n[auth]\nsource = \"userlist\"\nuserlist_file = \"userlist.txt\"\n\
         [network]\nmode = \"open\"\n",
    );
    let o = gatehouse(&["check", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("warning: [tls] is not set"), "{out}");
    assert!(out.contains("warning: [network] mode = \"open\""), "{out}");

    // A typo in a key: toml's own location.
    write(
        dir.path(),
        "bad.toml",
        "[listen]\naddresses = [\"127.0.0.1:6432\"]\nadresses = 1\n",
    );
    let o = gatehouse(&[
        "check",
        "--config",
        dir.path().join("bad.toml").to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3") && err.contains("adresses"), "{err}");

    // A pg_hba.conf PostgreSQL would refuse: file:line of the bad line.
    write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 scram-sha-256\nhost all all nonsense/99 md5\n",
    );
    let o = gatehouse(&["check", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_hba.conf:2"), "{err}");
}

#[test]
fn serve_admits_refuses_and_logs_each_decision() {
    let c = Cluster::start_with(ClusterOptions::new(PgVersion::V18)).expect("cluster");
    c.execute("CREATE ROLE app LOGIN").expect("role");
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "pg_hba.conf",
        "# people and apps\nhost all app 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 reject\n",
    );
    write(dir.path(), "userlist.txt", "\"app\" \"s3cret-pw\"\n");
    let port = free_port();
    let cfg = write(dir.path(), "gatehouse.toml", &toml(port, &c));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config", cfg.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");

    let psql = c.bin_dir().join("psql");
    let run = |user: &str, pw: &str| {
        Command::new(&psql)
            .args([
                "-X",
                "-A",
                "-t",
                "-d",
                &format!("host=127.0.0.1 port={port} user={user} dbname=postgres sslmode=disable"),
                "-c",
                "SELECT current_user",
            ])
            .env("PGPASSWORD", pw)
            .output()
            .expect("psql")
    };
    let start = Instant::now();
    let mut first = run("app", "s3cret-pw");
    while !first.status.success() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        first = run("app", "s3cret-pw");
    }
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "app",
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let wrong = run("app", "wrong-pw");
    assert!(String::from_utf8_lossy(&wrong.stderr)
        .contains("password authentication failed for user \"app\""));
    let rejected = run("mallory", "x");
    assert!(String::from_utf8_lossy(&rejected.stderr)
        .contains("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"mallory\""));

    // SIGHUP with a pg_hba.conf that rejects app: new connections follow it.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let hba_path = dir.path().join("pg_hba.conf");
    write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 reject\n",
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    let start = Instant::now();
    let mut after = run("app", "s3cret-pw");
    while after.status.success() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        after = run("app", "s3cret-pw");
    }
    assert!(String::from_utf8_lossy(&after.stderr).contains("pg_hba.conf rejects connection"));
    // A broken file on reload: logged, and the running rules stay.
    write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 nosuchmethod\n",
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    std::thread::sleep(Duration::from_millis(300));
    let still = run("app", "s3cret-pw");
    assert!(String::from_utf8_lossy(&still.stderr).contains("pg_hba.conf rejects connection"));
    std::fs::write(&hba_path, "host all app 127.0.0.1/32 scram-sha-256\n").expect("restore");

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read log");

    let decisions: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "gatehouse::decision")
        .collect();
    let find = |outcome: &str, user: &str| {
        decisions
            .iter()
            .find(|d| d["outcome"] == outcome && d["user"] == user)
            .unwrap_or_else(|| panic!("no {outcome} decision for {user} in:\n{log}"))
    };
    let hba = dir.path().join("pg_hba.conf");
    let allowed = find("allowed", "app");
    assert_eq!(allowed["hba_line"], format!("{}:2", hba.display()));
    assert_eq!(allowed["method"], "scram-sha-256");
    let refused = decisions
        .iter()
        .find(|d| d["outcome"] == "refused" && d["user"] == "app")
        .expect("refused app");
    assert_eq!(refused["sqlstate"], "28P01");
    assert!(
        refused["reason"].as_str().unwrap_or("").contains("SCRAM"),
        "{refused}"
    );
    let rejected = find("refused", "mallory");
    assert_eq!(rejected["hba_line"], format!("{}:3", hba.display()));
    assert_eq!(rejected["method"], "reject");
    assert!(
        !log.contains("s3cret-pw") && !log.contains("wrong-pw"),
        "a password reached the log:\n{log}"
    );
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(
        log.contains("reload failed; keeping the running configuration"),
        "{log}"
    );
}

#[test]
fn explain_names_the_rule_and_the_line() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "pg_hba.conf",
        "host all app 127.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 reject\n",
    );
    // app has a secret (layer 4 then waits for a password rather than refusing).
    write(dir.path(), "userlist.txt", "\"app\" \"pw\"\n");
    let cfg = write(
        dir.path(),
        "gatehouse.toml",
        "[listen]\naddresses = [\"127.0.0.1:6432\"]\n[hba]\nfile = \"pg_hba.conf\"\n\
         [upstream]\nsocket_dir = \"/tmp\"\n\
         [auth]\nsource = \"userlist\"\nuserlist_file = \"userlist.txt\"\n\
         [network]\nattach = [\"sg-db\"]\n\
         [[network.groups]]\nid = \"sg-db\"\nname = \"database\"\n\
         [[network.rules]]\nid = \"sgr-loopback\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = 6432\nto_port = 6432\nsource = { cidr = \"127.0.0.0/8\" }\ndescription = \"local\"\n\
         [[network.rules]]\nid = \"sgr-admin\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = 22\nto_port = 22\nsource = { cidr = \"10.0.0.0/8\" }\n",
    );
    let c = cfg.to_str().expect("utf-8");
    let o = gatehouse(&[
        "explain",
        "--config",
        c,
        "--address",
        "127.0.0.9",
        "--user",
        "app",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("sgr-loopback") && out.contains("pg_hba.conf:1"),
        "{out}"
    );
    assert!(out.contains("method scram-sha-256"), "{out}");

    // A source no rule allows on this port (sgr-admin is for port 22).
    let o = gatehouse(&[
        "explain",
        "--config",
        c,
        "--address",
        "10.1.2.3",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["decision"], "refused");
    assert_eq!(
        v["layers"][0]["explanation"]["outcome"]["result"], "denied",
        "{v}"
    );
    let text = v.to_string();
    assert!(
        text.contains("sgr-admin") && text.contains("port_not_covered"),
        "{v}"
    );

    // Allowed by the network, refused by pg_hba.conf's reject line.
    let o = gatehouse(&[
        "explain",
        "--config",
        c,
        "--address",
        "127.0.0.9",
        "--user",
        "mallory",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("method reject"));
}

#[test]
fn egress_rules_are_checked_against_the_upstream_at_load() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 trust\n",
    );
    let text = |egress: &str| {
        format!(
            "[listen]\naddresses = [\"127.0.0.1:6432\"]\n[hba]\nfile = \"pg_hba.conf\"\n\
             [upstream]\nhost = \"127.0.0.1\"\nport = 5432\n\
             [network]\nattach = [\"sg-gw\"]\n\
             [[network.groups]]\nid = \"sg-gw\"\nname = \"gateway\"\n\
             [[network.rules]]\nid = \"sgr-in\"\ngroup_id = \"sg-gw\"\nprotocol = \"tcp\"\n\
             from_port = 6432\nto_port = 6432\nsource = {{ cidr = \"127.0.0.0/8\" }}\n\
             [[network.egress]]\nid = \"sgr-out\"\ngroup_id = \"sg-gw\"\nprotocol = \"tcp\"\n\
             from_port = 5432\nto_port = 5432\ncidr = \"{egress}\"\n"
        )
    };
    let cfg = write(dir.path(), "gatehouse.toml", &text("10.0.0.0/8"));
    let o = gatehouse(&["check", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("127.0.0.1:5432") && err.contains("egress"),
        "{err}"
    );
    let cfg = write(dir.path(), "gatehouse.toml", &text("127.0.0.0/8"));
    let o = gatehouse(&["check", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
