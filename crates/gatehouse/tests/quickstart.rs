//! `gatehouse quickstart` end to end, as a newcomer uses it: the real binary starts a
//! throwaway PostgreSQL and the gateway in a temporary folder; the commands it prints
//! are run as printed (psql with a password, `gatehouse token generate` + psql), an
//! application logs in with psycopg and a botocore token, and the refusals (wrong
//! password, a token for another user, a source outside the security group) happen
//! and are in the JSON decision log with the rule that decided. SIGINT stops
//! everything; a second run reuses the folder.
#![allow(clippy::unwrap_used)]

mod support;
use support::{free_port_v4_v6, python};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const READY: &str = "gatehouse quickstart is ready";
/// The first run: initdb, seed, IAM user; a debug build on a loaded 2-core machine.
const FIRST_RUN_LIMIT: Duration = Duration::from_secs(60);

/// A running `gatehouse quickstart`: SIGINT then SIGKILL on drop, and the postmaster
/// of DIR stopped if it outlived it (a failed test leaves nothing running).
struct Quickstart {
    child: Child,
    dir: PathBuf,
    lines: mpsc::Receiver<String>,
    banner: String,
    startup: Duration,
}

fn postmaster_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("data/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Quickstart {
    fn start(dir: &Path, port: u16, stderr: &Path) -> Quickstart {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["quickstart", "--dir", dir.to_str().unwrap()])
            .args(["--port", &port.to_string()])
            .env_remove("GATEHOUSE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut q = Quickstart {
            child,
            dir: dir.to_path_buf(),
            lines,
            banner: String::new(),
            startup: Duration::ZERO,
        };
        loop {
            let left = FIRST_RUN_LIMIT.saturating_sub(started.elapsed());
            match q.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line == READY;
                    q.banner.push_str(&line);
                    q.banner.push('\n');
                    if done {
                        break;
                    }
                }
                Err(_) => panic!(
                    "no `{READY}` line within {FIRST_RUN_LIMIT:?}; stdout:\n{}\nstderr:\n{}",
                    q.banner,
                    std::fs::read_to_string(stderr).unwrap_or_default()
                ),
            }
        }
        q.startup = started.elapsed();
        q
    }

    /// SIGINT; returns the exit code, the time it took, and the lines printed meanwhile.
    fn interrupt(&mut self) -> (Option<i32>, Duration, String) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let at = Instant::now();
        kill(pid, Signal::SIGINT).unwrap();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                at.elapsed() < Duration::from_secs(20),
                "quickstart did not stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = at.elapsed();
        let mut rest = String::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            rest.push_str(&l);
            rest.push('\n');
        }
        (status.code(), took, rest)
    }

    /// The banner line that starts with `prefix` (after indentation) and holds `needle`.
    fn line(&self, prefix: &str, needle: &str) -> String {
        self.banner
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix) && l.contains(needle))
            .unwrap_or_else(|| panic!("no line `{prefix}…{needle}…` in:\n{}", self.banner))
            .to_string()
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
            let _ = kill(pid, Signal::SIGINT);
            let at = Instant::now();
            while self.child.try_wait().ok().flatten().is_none()
                && at.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(pid) = postmaster_pid(&self.dir) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
        }
    }
}

/// Whether process `pid` has ended (a zombie waiting for its reaper counts as ended).
fn gone(pid: i32) -> bool {
    let at = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        if kill(Pid::from_raw(pid), None).is_err() || zombie {
            return true;
        }
        if at.elapsed() > Duration::from_secs(5) {
            eprintln!("/proc/{pid}/status:\n{status}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a printed command line with `sh`, with psql options appended.
fn sh(line: &str, psql_args: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("{line} {psql_args}"))
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap()
}

fn query(line: &str, sql: &str) -> Output {
    sh(
        line,
        &format!("-X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c \"{sql}\""),
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: &Output, want: &str) {
    assert_eq!(stdout(o), want, "stderr: {}", stderr(o));
}

/// The line number of the first pg_hba.conf line holding `needle`.
fn hba_line(dir: &Path, needle: &str) -> String {
    let text = std::fs::read_to_string(dir.join("pg_hba.conf")).unwrap();
    let n = text
        .lines()
        .position(|l| !l.starts_with('#') && l.contains(needle))
        .unwrap();
    format!("{}:{}", dir.join("pg_hba.conf").display(), n + 1)
}

/// The application's side with psycopg and botocore: a token for `app_user` logs in;
/// one made for alice but used as app_user, and app's token for bob used as bob,
/// do not. Prints one JSON object.
const APP_SCRIPT: &str = r#"
import json, sys, botocore.session, psycopg
port, akid, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = botocore.session.get_session()
s.set_credentials(akid, secret)
rds = s.create_client("rds", region_name="us-east-1")
def token(user):
    return rds.generate_db_auth_token(DBHostname="localhost", Port=port, DBUsername=user, Region="us-east-1")
def connect(user, password):
    return psycopg.connect(host="localhost", hostaddr="127.0.0.1", port=port, dbname="shop",
                           user=user, password=password, sslmode="require", connect_timeout=10)
out = {}
with connect("app_user", token("app_user")) as conn:
    out["app_user"] = conn.execute("SELECT current_user").fetchone()[0]
    out["orders"] = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.execute("INSERT INTO customers (name, email) VALUES ('App', 'app@example.com')")
for key, user, tok in [("alice_token_as_app_user", "app_user", token("alice")),
                       ("app_token_as_bob", "bob", token("bob"))]:
    try:
        connect(user, tok).close()
        out[key] = "connected"
    except psycopg.OperationalError as e:
        out[key] = str(e)
print(json.dumps(out))
"#;

#[test]
fn quickstart_sets_up_everything_and_every_layer_decides_as_printed() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    // The database runs as the postgres OS user when the test runs as root: it must be
    // able to reach DIR's subfolders.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let dir = tmp.path().join("qs");
    let port = free_port_v4_v6();
    let err_log = tmp.path().join("stderr-1.log");
    let mut qs = Quickstart::start(&dir, port, &err_log);
    let first = qs.startup;
    eprintln!("first run ready after {first:?}");
    for step in [
        "initialising PostgreSQL",
        "creating database shop",
        "created IAM user app",
    ] {
        assert!(
            qs.banner.contains(step),
            "no progress line {step:?}:\n{}",
            qs.banner
        );
    }
    for secret in [
        "passwords.txt",
        "aws-credentials",
        "gatehouse-iam.key",
        "server.key",
    ] {
        let mode = std::fs::metadata(dir.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{secret} is readable by others");
    }
    let ipv6 = qs.banner.contains(&format!("[::1]:{port}"));

    // People, with the printed lines: alice (admin) reads the shop over TLS with
    // channel binding.
    let alice = qs.line("PGPASSWORD=", "user=alice");
    assert!(alice.contains("channel_binding=require"), "{alice}");
    assert_ok(&query(&alice, "SELECT current_user"), "alice");
    assert_ok(&query(&alice, "SELECT count(*) FROM products"), "4");
    // bob (developers) writes.
    let bob = qs.line("PGPASSWORD=", "user=bob");
    assert_ok(
        &query(
            &bob,
            "INSERT INTO orders (customer_id) VALUES (1) RETURNING status",
        ),
        "new",
    );
    // carol (support) reads orders, and nothing else.
    let carol = qs.line("PGPASSWORD=", "user=carol");
    assert_ok(&query(&carol, "SELECT count(*) FROM order_items"), "5");
    let denied = query(&carol, "SELECT * FROM customers");
    assert!(
        !denied.status.success()
            && stderr(&denied).contains("42501")
            && stderr(&denied).contains("permission denied for table customers"),
        "{}",
        stderr(&denied)
    );

    // The application, with the printed export + token lines.
    let export = qs.line("export AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=");
    let token_line = qs.line("PGPASSWORD=\"$(", "--username app_user");
    assert_ok(
        &query(&format!("{export}; {token_line}"), "SELECT current_user"),
        "app_user",
    );
    let mut words = export.trim_start_matches("export ").split_whitespace();
    let akid = words
        .next()
        .unwrap()
        .trim_start_matches("AWS_ACCESS_KEY_ID=");
    let secret = words
        .next()
        .unwrap()
        .trim_start_matches("AWS_SECRET_ACCESS_KEY=");
    // psycopg with botocore's tokens.
    let app = Command::new(&python)
        .args(["-c", APP_SCRIPT, &port.to_string(), akid, secret])
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(app.status.success(), "{}", stderr(&app));
    let app: serde_json::Value = serde_json::from_slice(&app.stdout).unwrap();
    assert_eq!(app["app_user"], "app_user", "{app}");
    assert_eq!(app["orders"], 4, "{app}");
    let refused = |key: &str, text: &str| {
        let got = app[key].as_str().unwrap();
        assert!(got.contains(text), "{key}: {got}");
    };
    refused(
        "alice_token_as_app_user",
        "PAM authentication failed for user \"app_user\"",
    );
    refused(
        "app_token_as_bob",
        "password authentication failed for user \"bob\"",
    );

    // A wrong password.
    let wrong = alice.replacen("PGPASSWORD=", "PGPASSWORD=wrong-", 1);
    let o = query(&wrong, "SELECT 1");
    assert!(
        stderr(&o).contains("password authentication failed for user \"alice\""),
        "{}",
        stderr(&o)
    );

    // A source outside the security group: [::1] is closed before a byte is answered.
    if ipv6 {
        let mut s = TcpStream::connect((Ipv6Addr::LOCALHOST, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]); // SSLRequest
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("[::1] got an answer: {other:?} {buf:?}"),
        }
        let explain = qs.line("", " explain --config ");
        let o = sh(&explain, "");
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains("denied") && text.contains("sgr-loopback-v4"),
            "{text}"
        );
    } else {
        eprintln!("no IPv6 loopback on this machine: the [::1] refusal is not tested");
    }

    // A second quickstart on the same DIR (even with --reset) is refused while this one
    // runs, before it touches anything; so is port 0.
    for extra in [&[][..], &["--reset"][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args([
                "quickstart",
                "--dir",
                dir.to_str().unwrap(),
                "--port",
                &port.to_string(),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stderr(&o).contains("another gatehouse quickstart is running"),
            "{}",
            stderr(&o)
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["quickstart", "--dir", "/nonexistent/never", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("invalid value '0' for '--port"),
        "{}",
        stderr(&o)
    );

    // SIGINT: the gateway and the database stop, exit 0, DIR kept.
    let postmaster = postmaster_pid(&dir).expect("postmaster.pid");
    let (code, took, rest) = qs.interrupt();
    assert_eq!(code, Some(0), "{rest}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    assert!(rest.contains("stopped."), "{rest}");
    assert!(gone(postmaster), "PostgreSQL (pid {postmaster}) still runs");
    assert!(!dir.join("data/postmaster.pid").exists());

    // The decision log: one event per decision, each naming what decided.
    let log = std::fs::read_to_string(dir.join("decisions.log")).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let iam_line = hba_line(&dir, " iam");
    let scram_line = hba_line(&dir, "scram-sha-256");
    let find = |what: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
        events
            .iter()
            .find(|e| f(e))
            .unwrap_or_else(|| panic!("no decision for {what} in:\n{log}"))
            .clone()
    };
    let ok = find("alice", &|e| {
        e["user"] == "alice" && e["outcome"] == "allowed"
    });
    assert_eq!(ok["hba_line"], scram_line.as_str());
    assert_eq!(ok["method"], "scram-sha-256");
    assert_eq!(ok["tls"], true);
    assert!(ok["network"].as_str().unwrap().contains("sgr-loopback-v4"));
    find("carol", &|e| {
        e["user"] == "carol" && e["outcome"] == "allowed"
    });
    let app_ok = find("app_user", &|e| {
        e["user"] == "app_user" && e["outcome"] == "allowed"
    });
    assert_eq!(app_ok["hba_line"], iam_line.as_str());
    assert_eq!(app_ok["method"], "iam");
    let how = app_ok["iam"].as_str().unwrap();
    assert!(
        how.contains("user/app") && how.contains(akid) && how.contains("Sid AppConnectsAsAppUser"),
        "{how}"
    );
    let wrong_pw = find("alice's wrong password", &|e| {
        e["user"] == "alice" && e["outcome"] == "refused"
    });
    assert_eq!(wrong_pw["sqlstate"], "28P01");
    assert_eq!(wrong_pw["hba_line"], scram_line.as_str());
    assert_eq!(wrong_pw["method"], "scram-sha-256");
    let other_token = find("alice's token used as app_user", &|e| {
        e["user"] == "app_user" && e["outcome"] == "refused"
    });
    assert_eq!(other_token["sqlstate"], "28P01");
    assert_eq!(other_token["method"], "iam");
    assert_eq!(other_token["hba_line"], iam_line.as_str());
    assert!(
        other_token["reason"]
            .as_str()
            .unwrap()
            .contains("wrong_user"),
        "{other_token}"
    );
    let bob_token = find("app's token used as bob", &|e| {
        e["user"] == "bob" && e["outcome"] == "refused"
    });
    assert_eq!(bob_token["sqlstate"], "28P01");
    assert_eq!(bob_token["method"], "scram-sha-256");
    if ipv6 {
        let net = find("[::1]", &|e| e["outcome"] == "network_denied");
        assert!(
            net["source"].as_str().unwrap().starts_with("[::1]:"),
            "{net}"
        );
    }
    assert!(!log.contains(secret), "a secret access key reached the log");
    assert!(!log.contains("X-Amz-Signature"), "a token reached the log");

    // Another port for the same folder is refused (before anything starts).
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["quickstart", "--dir", dir.to_str().unwrap(), "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("was made for port {port}")),
        "{}",
        stderr(&o)
    );

    // A second run reuses DIR: no initdb, no seed, the same passwords and key.
    let mut again = Quickstart::start(&dir, port, &tmp.path().join("stderr-2.log"));
    eprintln!("second run ready after {:?}", again.startup);
    assert!(again.banner.contains("reusing"), "{}", again.banner);
    assert!(!again.banner.contains("initialising"), "{}", again.banner);
    assert!(
        !again.banner.contains("creating database"),
        "{}",
        again.banner
    );
    assert!(again.startup < first, "{:?} vs {first:?}", again.startup);
    assert_eq!(again.line("PGPASSWORD=", "user=alice"), alice);
    assert_eq!(
        again.line("export AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="),
        export
    );
    assert_ok(&query(&alice, "SELECT count(*) FROM customers"), "4");
    let (code, _, _) = again.interrupt();
    assert_eq!(code, Some(0));
}
