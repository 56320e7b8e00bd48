//! `gatehouse explain` on the real binary, against configurations written to a
//! temporary directory: each layer's verdict and deciding rule, the message the
//! client would get, and the proposed fixes — which are then applied (the
//! command run, the pg_hba.conf line inserted) to check that they do let the
//! connection in. No PostgreSQL is needed.

mod support;
use support::free_port;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use gatehouse_iam::token::{generate, Credentials};
use gatehouse_proxy::auth::ScramSecret;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A configuration directory with gatehouse.toml and the files it names.
struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    /// gatehouse.toml = `toml`, pg_hba.conf = `hba`.
    fn new(toml: &str, hba: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("gatehouse.toml");
        std::fs::write(&cfg, toml).expect("config");
        std::fs::write(dir.path().join("pg_hba.conf"), hba).expect("hba");
        Env { dir, cfg }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    }

    fn cfg(&self) -> &str {
        self.cfg.to_str().expect("utf-8")
    }

    /// `gatehouse explain --config CFG ARGS…`, stdout not a terminal.
    fn explain(&self, args: &[&str]) -> Output {
        self.explain_stdin(args, "")
    }

    fn explain_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .arg("explain")
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gatehouse");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// `explain … --format json`, with the exit code.
    fn json(&self, args: &[&str]) -> (Value, Option<i32>) {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let o = self.explain(&all);
        let v = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
        (v, o.status.code())
    }

    /// `gatehouse iam --config CFG ARGS…`, exit 0 expected; stdout.
    fn iam(&self, args: &[&str]) -> String {
        let o = Command::new(BIN)
            .arg("iam")
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .output()
            .expect("run gatehouse iam");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command `explain` proposed (it starts with `gatehouse `) through a real
/// shell, with the binary under test.
fn run_proposed(command: &str) -> Output {
    let rest = command
        .strip_prefix("gatehouse ")
        .unwrap_or_else(|| panic!("not a gatehouse command: {command}"));
    Command::new("sh")
        .arg("-c")
        .arg(format!("\"$GATEHOUSE\" {rest}"))
        .env("GATEHOUSE", BIN)
        .output()
        .expect("sh")
}

fn layer<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["layer"] == name)
        .unwrap_or_else(|| panic!("no layer {name}: {v}"))
}

/// gatehouse.toml: one listener on `port`, sg-db allowing 127.0.0.1 only, a
/// userlist, and `extra` appended.
fn toml(port: u16, extra: &str) -> String {
    format!(
        "[listen]\naddresses = [\"127.0.0.1:{port}\"]\n\
         [hba]\nfile = \"pg_hba.conf\"\n\
         [upstream]\nsocket_dir = \"/nonexistent\"\n\
         [auth]\nsource = \"userlist\"\nuserlist_file = \"userlist.txt\"\n\
         [network]\nattach = [\"sg-db\"]\n\
         [[network.groups]]\nid = \"sg-db\"\nname = \"database\"\n\
         [[network.rules]]\nid = \"sgr-local\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = {port}\nto_port = {port}\nsource = {{ cidr = \"127.0.0.1/32\" }}\n\
         [[network.rules]]\nid = \"sgr-office\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = {port}\nto_port = {port}\nsource = {{ cidr = \"10.0.0.0/8\" }}\n\
         {extra}"
    )
}

fn env_with(port: u16, extra: &str, hba: &str) -> Env {
    let env = Env::new(&toml(port, extra), hba);
    env.write("userlist.txt", "\"alice\" \"alice-plain-pw\"\n");
    env
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gatehouse serve` (no upstream needed for layer 1), up when its admin socket is.
fn serve(env: &Env, port: u16) -> Serve {
    let child = Command::new(BIN)
        .args(["serve", "--config", env.cfg()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let s = Serve(child);
    let start = Instant::now();
    let sock = env.path("gatehouse-admin.sock");
    while TcpStream::connect(("127.0.0.1", port)).is_err() || !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gatehouse did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// Whether the gateway answers a connection from `source` (layer 1 admits it)
/// rather than closing it without a byte.
fn answered_from(source: &str, port: u16) -> bool {
    let source: IpAddr = source.parse().expect("ip");
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(source, 0).into()).expect("bind");
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // An SSLRequest: answered 'N' by a gateway without [tls].
    let _ = s.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]);
    let mut first = [0u8; 1];
    matches!(s.read(&mut first), Ok(1))
}

#[test]
fn a_source_outside_the_group_gets_the_ingress_rule_that_lets_it_in() {
    let port = free_port();
    let env = env_with(port, "", "host all all 127.0.0.0/8 trust\n");
    let o = env.explain(&["--address", "127.0.0.7", "--user", "alice"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", text(&o.stderr));
    assert!(out.contains("1 network  refused"), "{out}");
    assert!(out.contains("sgr-office from 10.0.0.0/8: source does not contain the address"));
    assert!(
        out.contains("server closed the connection unexpectedly"),
        "{out}"
    );
    assert!(out.contains("decision: refused (layer 1 network)"), "{out}");

    let (v, code) = env.json(&["--address", "127.0.0.7", "--user", "alice"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["decided_by"], "network");
    let net = layer(&v, "network");
    assert_eq!(net["verdict"], "refused");
    assert_eq!(net["client_sees"]["sqlstate"], Value::Null);
    let command = net["fix"]["commands"][0]
        .as_str()
        .expect("command")
        .to_owned();
    for part in [
        "gatehouse sg authorize-ingress",
        "--group-id sg-db",
        "--cidr 127.0.0.7/32",
        &format!("--port {port}"),
    ] {
        assert!(command.contains(part), "{part}: {command}");
    }
    // The later layers are still explained: pg_hba.conf would admit it.
    assert_eq!(layer(&v, "hba")["verdict"], "allowed");

    // The proposed command, run as is against the running gateway, lets the
    // source in: the gateway answers it, and explain names the new rule.
    let _gw = serve(&env, port);
    assert!(!answered_from("127.0.0.7", port));
    let o = run_proposed(&command);
    assert_eq!(o.status.code(), Some(0), "{command}: {}", text(&o.stderr));
    assert!(answered_from("127.0.0.7", port));
    let (v, code) = env.json(&["--address", "127.0.0.7", "--user", "alice"]);
    assert_eq!(code, Some(0), "{v}");
    let net = layer(&v, "network");
    assert_eq!(net["verdict"], "allowed");
    assert_eq!(net["rule"]["origin"], "state store", "{net}");
    assert!(
        net["rule"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sgr-")),
        "{net}"
    );
    assert_eq!(v["decision"], "allowed");
}

/// Inserts `line` before line `before` (1-based), or appends it.
fn insert_line(path: &Path, before: Option<u64>, line: &str) {
    let old = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<&str> = old.lines().collect();
    match before {
        Some(n) => lines.insert(usize::try_from(n - 1).expect("small"), line),
        None => lines.push(line),
    }
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

#[test]
fn a_reject_line_is_shown_with_its_text_and_what_must_come_before_it() {
    let port = free_port();
    let hba = "# rules\nhost all mallory 0.0.0.0/0 reject\nhost all all 10.0.0.0/8 scram-sha-256\n";
    let env = env_with(port, "", hba);
    let args = [
        "--address",
        "10.1.2.3",
        "--user",
        "mallory",
        "--database",
        "shop",
    ];
    let o = env.explain(&args);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("1 network  allowed"), "{out}");
    assert!(
        out.contains("pg_hba.conf:2: host all mallory 0.0.0.0/0 reject"),
        "{out}"
    );
    assert!(out.contains("method reject"), "{out}");
    assert!(
        out.contains(
            "FATAL 28000 pg_hba.conf rejects connection for host \"10.1.2.3\", user \"mallory\", database \"shop\", no encryption"
        ),
        "{out}"
    );
    assert!(
        out.contains("line 2 rejects this connection: a line that admits it must come before it"),
        "{out}"
    );
    // The shadowed line that would admit it is named.
    assert!(
        out.contains("pg_hba.conf:3: host all all 10.0.0.0/8 scram-sha-256 would admit it"),
        "{out}"
    );
    assert!(
        out.contains("host shop mallory 10.1.2.3/32 scram-sha-256"),
        "{out}"
    );

    let (v, _) = env.json(&args);
    let hba = layer(&v, "hba");
    assert_eq!(hba["verdict"], "refused");
    assert_eq!(hba["rule"]["line"], 2);
    assert_eq!(hba["rule"]["text"], "host all mallory 0.0.0.0/0 reject");
    assert_eq!(hba["client_sees"]["sqlstate"], "28000");
    let edit = &hba["fix"]["hba_line"];
    assert_eq!(edit["before_line"], 2, "{hba}");
    assert_eq!(layer(&v, "auth")["verdict"], "skipped");

    // Applied, the proposal is the line that decides.
    insert_line(
        &env.path("pg_hba.conf"),
        edit["before_line"].as_u64(),
        edit["text"].as_str().expect("text"),
    );
    let (v, _) = env.json(&args);
    let hba = layer(&v, "hba");
    assert_eq!(hba["verdict"], "allowed", "{hba}");
    assert_eq!(
        hba["rule"]["text"],
        "host shop mallory 10.1.2.3/32 scram-sha-256"
    );
}

#[test]
fn no_matching_line_gets_a_proposed_line_and_groups_come_from_member_of() {
    let port = free_port();
    let hba = "hostssl all all 10.0.0.0/8 scram-sha-256\nhost all +admins 10.0.0.0/8 md5\n";
    let env = env_with(port, "", hba);
    let args = [
        "--address",
        "10.1.2.3",
        "--user",
        "bob",
        "--database",
        "shop",
    ];
    let o = env.explain(&args);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("no pg_hba.conf line matches this connection"),
        "{out}"
    );
    assert!(
        out.contains(
            "FATAL 28000 no pg_hba.conf entry for host \"10.1.2.3\", user \"bob\", database \"shop\", no encryption"
        ),
        "{out}"
    );
    assert!(
        out.contains("host shop bob 10.1.2.3/32 scram-sha-256"),
        "{out}"
    );
    // The hostssl line would match with TLS (which this gateway does not offer).
    assert!(
        out.contains("with TLS (which needs [tls] in gatehouse.toml)"),
        "{out}"
    );
    assert!(out.contains("give --member-of ROLE"), "{out}");

    // A member of admins matches line 2.
    let mut member = args.to_vec();
    member.extend(["--member-of", "admins"]);
    let (v, _) = env.json(&member);
    assert_eq!(layer(&v, "hba")["rule"]["line"], 2, "{v}");

    let (v, _) = env.json(&args);
    let edit = layer(&v, "hba")["fix"]["hba_line"].clone();
    assert_eq!(
        edit["before_line"],
        Value::Null,
        "no reject line: at the end"
    );
    insert_line(
        &env.path("pg_hba.conf"),
        None,
        edit["text"].as_str().expect("text"),
    );
    let (v, _) = env.json(&args);
    assert_eq!(layer(&v, "hba")["rule"]["line"], 3, "{v}");
}

#[test]
fn a_password_file_is_checked_against_the_userlist_secret_and_never_printed() {
    let port = free_port();
    let password = "Tr0ub4dor-&-3-horse";
    let secret = ScramSecret::generate(password, 4096).to_text();
    let hba = "host all all 127.0.0.0/8 scram-sha-256\n";
    let env = env_with(port, "", hba);
    env.write(
        "userlist.txt",
        &format!("\"alice\" \"{secret}\"\n\"carol\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n"),
    );
    let right = env.write("right.pw", &format!("{password}\n"));
    let wrong = env.write("wrong.pw", "Tr0ub4dor-&-4-horse\n");
    let base = [
        "--address",
        "127.0.0.1",
        "--user",
        "alice",
        "--database",
        "shop",
    ];
    let with = |file: &str| {
        let mut a = base.to_vec();
        a.extend(["--password-file", file]);
        env.explain(&a.iter().map(|s| &**s).collect::<Vec<_>>())
    };

    let o = with(&right);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(
        out.contains(
            "scram-sha-256: the password matches the userlist's scram-sha-256 secret for \"alice\""
        ),
        "{out}"
    );
    assert!(out.contains("decision: allowed"), "{out}");

    let o = with(&wrong);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("the password does not match"), "{out}");
    assert!(
        out.contains("FATAL 28P01 password authentication failed for user \"alice\""),
        "{out}"
    );

    // Never printed, in text or JSON, right or wrong.
    for file in [&right, &wrong] {
        for fmt in ["text", "json"] {
            let mut a = base.to_vec();
            a.extend(["--password-file", file, "--format", fmt]);
            let o = env.explain(&a);
            let all = text(&o.stdout) + &text(&o.stderr);
            assert!(!all.contains("Tr0ub4dor"), "{all}");
            assert!(!all.contains(&secret), "{all}");
        }
    }

    // Without a password: the secret's kind, and what to give.
    let o = env.explain(&base);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("4 auth     skipped"), "{out}");
    assert!(out.contains("give --password-file FILE"), "{out}");

    // An md5 secret cannot serve a SCRAM line, whatever the password.
    let o = env.explain(&["--address", "127.0.0.1", "--user", "carol"]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("holds an md5 secret"), "{out}");

    // A role not in the userlist fails like a wrong password.
    let (v, code) = env.json(&["--address", "127.0.0.1", "--user", "dave"]);
    assert_eq!(code, Some(1));
    assert_eq!(v["decided_by"], "auth");
    let auth = layer(&v, "auth");
    assert!(
        auth["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not in the userlist")),
        "{auth}"
    );
    assert_eq!(
        auth["client_sees"]["message"],
        "password authentication failed for user \"dave\""
    );
}

const ACCOUNT: &str = "123456789012";

fn iam_env(port: u16, hba: &str) -> Env {
    env_with(
        port,
        "[admin]\nstate_file = \"state.sqlite\"\n\
         [iam]\naccount_id = \"123456789012\"\nregion = \"us-east-1\"\nresource_id = \"db-ABC\"\n\
         endpoints = [\"db.example.com:6432\"]\nkey_file = \"iam.key\"\n",
        hba,
    )
}

/// An IAM user with an access key made by `gatehouse iam`; its credentials.
fn iam_user(env: &Env, name: &str) -> Credentials {
    env.iam(&["create-user", "--user-name", name]);
    let out = env.iam(&["create-access-key", "--user-name", name, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    Credentials {
        access_key_id: v["AccessKey"]["AccessKeyId"].as_str().expect("id").into(),
        secret_access_key: v["AccessKey"]["SecretAccessKey"]
            .as_str()
            .expect("secret")
            .into(),
        session_token: None,
    }
}

fn token(creds: &Credentials, db_user: &str) -> String {
    generate(
        creds,
        "db.example.com",
        6432,
        "us-east-1",
        db_user,
        SystemTime::now(),
    )
}

#[test]
fn an_iam_token_is_allowed_by_a_sid_denied_by_a_sid_or_needs_a_statement() {
    let port = free_port();
    let hba = "host all app 0.0.0.0/0 iam iam_allow_plaintext=1\n";
    let env = iam_env(port, hba);
    let creds = iam_user(&env, "svc");
    let t = token(&creds, "app");
    let args = ["--address", "127.0.0.1", "--user", "app", "--token", &t];

    // No policy: refused, with the statement to add and the command that adds it.
    let (v, code) = env.json(&args);
    assert_eq!(code, Some(1), "{v}");
    let auth = layer(&v, "auth");
    assert_eq!(auth["verdict"], "refused");
    assert_eq!(auth["rule"]["check"], "policy_no_allow");
    assert_eq!(auth["client_sees"]["sqlstate"], "28P01");
    assert_eq!(
        auth["client_sees"]["message"],
        "PAM authentication failed for user \"app\""
    );
    let resource = format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:db-ABC/app");
    let stmt = &auth["fix"]["policy"]["Statement"][0];
    assert_eq!(stmt["Effect"], "Allow");
    assert_eq!(stmt["Action"], "rds-db:connect");
    assert_eq!(stmt["Resource"], resource.as_str());
    let command = auth["fix"]["commands"][0]
        .as_str()
        .expect("command")
        .to_owned();
    assert!(
        command.contains("put-user-policy --user-name svc"),
        "{command}"
    );
    // Run as proposed, it lets the token in, and the Sid decides.
    let o = run_proposed(&command);
    assert_eq!(o.status.code(), Some(0), "{command}: {}", text(&o.stderr));
    let (v, code) = env.json(&args);
    assert_eq!(code, Some(0), "{v}");
    let auth = layer(&v, "auth");
    assert_eq!(auth["verdict"], "allowed");
    assert_eq!(auth["rule"]["statement"]["sid"], "ConnectAsApp", "{auth}");
    assert_eq!(
        auth["rule"]["principal"],
        format!("arn:aws:iam::{ACCOUNT}:user/svc").as_str()
    );
    let o = env.explain(&args);
    assert!(
        text(&o.stdout).contains("(Sid ConnectAsApp)"),
        "{}",
        text(&o.stdout)
    );

    // The token from standard input gives the same answer.
    let o = env.explain_stdin(
        &["--address", "127.0.0.1", "--user", "app", "--token", "-"],
        &format!("{t}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));

    // An explicit Deny (named by its Sid) beats the Allow.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"NoAppFromLoopback","Effect":"Deny","Action":"rds-db:connect","Resource":"{resource}","Condition":{{"IpAddress":{{"aws:SourceIp":"127.0.0.0/8"}}}}}}]}}"#
    );
    env.iam(&[
        "put-user-policy",
        "--user-name",
        "svc",
        "--policy-name",
        "deny-loopback",
        "--policy-document",
        &deny,
    ]);
    let (v, code) = env.json(&args);
    assert_eq!(code, Some(1));
    let auth = layer(&v, "auth");
    assert_eq!(auth["rule"]["check"], "policy_explicit_deny");
    assert_eq!(auth["rule"]["statement"]["sid"], "NoAppFromLoopback");
    assert_eq!(auth["rule"]["statement"]["policy"], "deny-loopback");
    let fix = auth["fix"]["commands"][0].as_str().expect("command");
    assert!(
        fix.contains("get-user-policy --user-name svc --policy-name deny-loopback"),
        "{fix}"
    );
    // From another address the Deny does not apply (aws:SourceIp is the address).
    let (v, code) = env.json(&["--address", "10.1.2.3", "--user", "app", "--token", &t]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        layer(&v, "auth")["rule"]["statement"]["sid"],
        "ConnectAsApp"
    );

    // The token is never printed, whatever the outcome.
    for fmt in ["text", "json"] {
        let mut a = args.to_vec();
        a.extend(["--format", fmt]);
        let o = env.explain(&a);
        let all = text(&o.stdout) + &text(&o.stderr);
        assert!(!all.contains(&t), "{all}");
        let signature = t.rsplit_once("X-Amz-Signature=").expect("signature").1;
        assert!(!all.contains(signature), "{all}");
        assert!(!all.contains(&creds.secret_access_key), "{all}");
    }

    // A token for another database user is refused by its check.
    let other = token(&creds, "admin");
    let (v, _) = env.json(&["--address", "127.0.0.1", "--user", "app", "--token", &other]);
    assert_eq!(layer(&v, "auth")["rule"]["check"], "wrong_user");

    // Temporary credentials (a session token) are refused by their own check.
    let temporary = Credentials {
        session_token: Some("FwoGZXIvYXdzEXAMPLE".into()),
        ..creds.clone()
    };
    let st = token(&temporary, "app");
    let (v, code) = env.json(&["--address", "127.0.0.1", "--user", "app", "--token", &st]);
    assert_eq!(code, Some(1));
    assert_eq!(layer(&v, "auth")["rule"]["check"], "session_token", "{v}");
    assert!(!v.to_string().contains("FwoGZXIvYXdzEXAMPLE"), "{v}");
}

#[test]
fn without_a_token_explain_says_who_could_connect() {
    let port = free_port();
    let hba =
        "host all app 127.0.0.0/8 iam iam_allow_plaintext=1\nhost all bob 127.0.0.0/8 trust\n";
    let env = iam_env(port, hba);
    iam_user(&env, "svc");
    iam_user(&env, "other");
    let resource = format!("arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:db-ABC/app");
    env.iam(&[
        "put-user-policy",
        "--user-name",
        "svc",
        "--policy-name",
        "connect",
        "--policy-document",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AppOnly","Effect":"Allow","Action":"rds-db:connect","Resource":"{resource}"}}]}}"#
        ),
    ]);
    let (v, code) = env.json(&["--address", "127.0.0.1", "--user", "app"]);
    assert_eq!(code, Some(0), "nothing refuses: {v}");
    let auth = layer(&v, "auth");
    assert_eq!(auth["verdict"], "skipped");
    assert_eq!(auth["who_could"]["evaluated"], 2);
    assert_eq!(auth["who_could"]["allowed"], 1);
    assert_eq!(auth["who_could"]["users"][0]["user_name"], "svc");
    assert_eq!(auth["who_could"]["users"][0]["statement"]["sid"], "AppOnly");
    assert_eq!(auth["who_could"]["users"][0]["active_keys"], 1);
    let o = env.explain(&["--address", "127.0.0.1", "--user", "app"]);
    let out = text(&o.stdout);
    assert!(out.contains("give --token TOKEN"), "{out}");
    assert!(
        out.contains(&format!(
            "arn:aws:iam::{ACCOUNT}:user/svc by connect statement 0 (Sid AppOnly)"
        )),
        "{out}"
    );
    assert!(out.contains("not decided offline: auth"), "{out}");
    assert_eq!(auth["who_could"]["denied"], 0);

    // A user a Deny statement refuses is listed as such.
    env.iam(&[
        "put-user-policy",
        "--user-name",
        "other",
        "--policy-name",
        "never",
        "--policy-document",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"NeverApp","Effect":"Deny","Action":"rds-db:connect","Resource":"*"}]}"#,
    ]);
    let (v, _) = env.json(&["--address", "127.0.0.1", "--user", "app"]);
    let auth = layer(&v, "auth");
    assert_eq!(auth["who_could"]["allowed"], 1);
    assert_eq!(auth["who_could"]["denied"], 1);
    assert_eq!(auth["who_could"]["denied_users"][0]["user_name"], "other");
    assert_eq!(
        auth["who_could"]["denied_users"][0]["statement"]["sid"],
        "NeverApp"
    );

    // A member of the token-only role needs a token (and TLS) even on a trust line.
    let o = env.explain(&[
        "--address",
        "127.0.0.1",
        "--user",
        "bob",
        "--member-of",
        "rds_iam",
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is a member of rds_iam ([iam] token_only_role)"),
        "{out}"
    );
    assert!(
        out.contains("FATAL 28P01 PAM authentication failed for user \"bob\""),
        "{out}"
    );
    // Not a member: trust.
    let (v, code) = env.json(&["--address", "127.0.0.1", "--user", "bob"]);
    assert_eq!(code, Some(0));
    assert_eq!(layer(&v, "auth")["rule"]["method"], "trust");
}

#[test]
fn json_shape_exit_codes_and_colour() {
    let port = free_port();
    let env = env_with(
        port,
        "",
        "host all all 127.0.0.0/8 trust\nlocal all all peer\n",
    );
    let (v, code) = env.json(&[
        "--address",
        "127.0.0.1",
        "--user",
        "alice",
        "--database",
        "shop",
    ]);
    assert_eq!(code, Some(0));
    let names: Vec<&str> = v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["layer"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["network", "tls", "hba", "auth"]);
    for l in v["layers"].as_array().expect("layers") {
        for key in ["verdict", "rule", "detail", "notes", "client_sees", "fix"] {
            assert!(l.get(key).is_some(), "{key} missing: {l}");
        }
        assert!(["allowed", "refused", "skipped"].contains(&l["verdict"].as_str().expect("v")));
    }
    assert_eq!(v["decision"], "allowed");
    assert_eq!(v["decided_by"], Value::Null);
    assert_eq!(v["connection"]["user"], "alice");
    assert_eq!(v["connection"]["database"], "shop");
    assert_eq!(layer(&v, "network")["rule"]["id"], "sgr-local");
    assert_eq!(
        layer(&v, "hba")["rule"]["file"]
            .as_str()
            .map(|f| f.ends_with("pg_hba.conf")),
        Some(true)
    );

    // Without --user only the network is decided (as explain always did).
    let (v, code) = env.json(&["--address", "127.0.0.1"]);
    assert_eq!(code, Some(0));
    assert_eq!(layer(&v, "hba")["verdict"], "skipped");

    // --local: no security groups, no TLS; peer is not served by gatehouse.
    let (v, code) = env.json(&["--local", "--user", "alice"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(layer(&v, "network")["verdict"], "skipped");
    assert_eq!(layer(&v, "hba")["rule"]["line"], 2);
    assert_eq!(
        layer(&v, "auth")["client_sees"]["message"],
        "Peer authentication failed for user \"alice\""
    );

    // Bad input: exit 2.
    for bad in [
        vec!["--user", "alice"],
        vec!["--address", "127.0.0.1", "--local"],
        vec!["--address", "not-an-ip"],
        vec!["--address", "127.0.0.1", "--port", "1"],
        vec![
            "--address",
            "127.0.0.1",
            "--user",
            "alice",
            "--password-file",
            "/nonexistent/pw",
        ],
        vec!["--address", "127.0.0.1", "--user", "alice", "--token", ""],
        vec![
            "--address",
            "127.0.0.1",
            "--user",
            "a",
            "--token",
            "t",
            "--password-file",
            "f",
        ],
        vec!["--address", "127.0.0.1", "--color", "sometimes"],
    ] {
        let o = env.explain(&bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o.stdout));
    }

    // Colour: none when stdout is not a terminal (auto) or with never; ANSI with always.
    let args = ["--address", "203.0.113.9", "--user", "alice"];
    for extra in [&[][..], &["--color", "never"][..], &["--color", "auto"][..]] {
        let mut a = args.to_vec();
        a.extend(extra);
        let o = env.explain(&a);
        assert_eq!(o.status.code(), Some(1));
        assert!(!o.stdout.contains(&0x1b), "{extra:?}: {}", text(&o.stdout));
    }
    let mut a = args.to_vec();
    a.extend(["--color", "always"]);
    let out = text(&env.explain(&a).stdout);
    assert!(out.contains("\u{1b}[1;31mrefused\u{1b}[0m"), "{out}");
    // A control character in a name is shown escaped, never sent to the terminal.
    let o = env.explain(&[
        "--address",
        "127.0.0.1",
        "--user",
        "a\u{1b}[2Jb",
        "--color",
        "never",
    ]);
    assert!(!o.stdout.contains(&0x1b), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("a\\u{1b}[2Jb"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn the_tls_layer_reports_client_certificate_requirements() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let server = gatehouse_testkit::tls::self_signed(&["localhost"]).expect("cert");
    let (cert, key) =
        gatehouse_testkit::tls::write_pem_files(dir.path(), "server", &server).expect("pem");
    let ca = gatehouse_testkit::tls::CertAuthority::new("clients").expect("ca");
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).expect("ca");
    let hba = "hostssl all alice 127.0.0.0/8 scram-sha-256 clientcert=verify-full\n";
    let tls = |client_ca: bool| {
        let mut t = format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        );
        if client_ca {
            t.push_str(&format!("client_ca_file = \"{}\"\n", ca_file.display()));
        }
        t
    };
    let env = env_with(port, &tls(true), hba);
    let base = ["--address", "127.0.0.1", "--user", "alice"];

    // Without TLS the hostssl line does not match; explain says TLS would.
    let o = env.explain(&base);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("with TLS (--ssl; sslmode=require) the connection would match"),
        "{out}"
    );
    // ... and the fix is TLS, not a plaintext line that would undo the hostssl rule.
    assert!(
        out.contains("fix: connect with TLS (sslmode=require)"),
        "{out}"
    );
    let (v, _) = env.json(&base);
    assert!(
        v["layers"][2]["fix"]["hba_line"].is_null(),
        "a pg_hba line was proposed: {v}"
    );

    let mut ssl = base.to_vec();
    ssl.push("--ssl");
    let (v, code) = env.json(&ssl);
    assert_eq!(code, Some(0), "{v}");
    let t = layer(&v, "tls");
    assert_eq!(t["verdict"], "allowed");
    assert_eq!(t["rule"]["offered"], true);
    assert_eq!(t["rule"]["client_certificates_requested"], true);
    assert!(t["rule"]["client_certificate_required_by"]
        .as_str()
        .is_some_and(|s| s.ends_with("pg_hba.conf:1")));
    assert!(
        t["notes"].to_string().contains("clientcert=verify-full"),
        "{t}"
    );

    // No client CA: no certificate can ever be verified.
    std::fs::write(&env.cfg, toml(port, &tls(false))).expect("config");
    let (v, code) = env.json(&ssl);
    assert_eq!(code, Some(1));
    let t = layer(&v, "tls");
    assert_eq!(t["verdict"], "refused");
    assert_eq!(
        t["client_sees"]["message"],
        "connection requires a valid client certificate"
    );
}
