//! The CLI contract of DESIGN.md, exercised on the real binary: output shapes, exit
//! codes (0 ok, 1 negative answer, 2 bad usage or input) and error locations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const HBA: &str = "\
local   all          postgres                    peer
host    all          +admins   10.20.0.0/16      scram-sha-256
hostssl replication  repl      10.40.0.0/24      scram-sha-256
host    @dbs.txt     reporting 10.30.0.0/24      md5
host    all          all       0.0.0.0/0         reject
";

#[test]
fn lint_json_has_the_pg_hba_file_rules_shape() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "dbs.txt", "orders analytics\n");
    let hba = write(dir.path(), "pg_hba.conf", HBA);
    let o = gatehouse(&["hba", "lint", s(&hba), "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let rules = v["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 5);
    let r = &rules[3];
    let keys: Vec<&str> = r
        .as_object()
        .expect("row")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "rule_number",
            "file_name",
            "line_number",
            "type",
            "database",
            "user_name",
            "address",
            "netmask",
            "auth_method",
            "options",
            "error"
        ]
    );
    assert_eq!(r["rule_number"], 4);
    assert_eq!(r["line_number"], 4);
    assert_eq!(r["database"], serde_json::json!(["orders", "analytics"]));
    assert_eq!(r["address"], "10.30.0.0");
    assert_eq!(r["netmask"], "255.255.255.0");
    assert_eq!(r["auth_method"], "md5");
    assert!(r["options"].is_null());
    assert!(r["error"].is_null());
}

#[test]
fn lint_reports_errors_with_file_line_column_and_exits_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        "local all all trust\nhost all all 10.0.0.0/33 md5\nlocal all all ::1/128 md5\n",
    );
    let o = gatehouse(&["hba", "lint", s(&hba)]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{}:2:14: invalid CIDR mask in address \"10.0.0.0/33\"",
            s(&hba)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}:3:15: invalid authentication method \"::1/128\"",
            s(&hba)
        )),
        "{out}"
    );
    assert!(
        out.contains("expected"),
        "a hint of what was expected: {out}"
    );
    let j = json(&gatehouse(&["hba", "lint", s(&hba), "--format", "json"]));
    assert_eq!(
        j["rules"][1]["error"],
        "invalid CIDR mask in address \"10.0.0.0/33\""
    );
    assert!(j["rules"][1]["rule_number"].is_null());
}

#[test]
fn lint_strict_flags_the_iam_extension() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        "hostssl all app 10.0.0.0/8 iam\n",
    );
    assert_eq!(code(&gatehouse(&["hba", "lint", s(&hba)])), 0);
    let o = gatehouse(&["hba", "lint", s(&hba), "--strict"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("gatehouse extension"), "{}", stdout(&o));
}

#[test]
fn lint_follows_pg_version_and_build_features() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        "host all all 10.0.0.0/8 ldap ldapserver=ldap.example.net ldapbasedn=\"dc=example,dc=net\"\n",
    );
    assert_eq!(code(&gatehouse(&["hba", "lint", s(&hba)])), 0);
    let o = gatehouse(&["hba", "lint", s(&hba), "--without", "ldap"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("not supported by this build"));
    let inc = write(dir.path(), "inc.conf", "include other.conf\n");
    write(dir.path(), "other.conf", "local all all trust\n");
    assert_eq!(code(&gatehouse(&["hba", "lint", s(&inc)])), 0);
    let o = gatehouse(&["hba", "lint", s(&inc), "--pg-version", "15"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("invalid connection type \"include\""));
}

#[test]
fn match_prints_the_first_matching_line() {
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "dbs.txt", "orders analytics\n");
    let hba = write(dir.path(), "pg_hba.conf", HBA);
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--address",
        "10.20.3.4",
        "--user",
        "alice",
        "--database",
        "orders",
        "--member-of",
        "admins",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["matched"], true);
    assert_eq!(v["file"], s(&hba));
    assert_eq!(v["line"], 2);
    assert_eq!(v["type"], "host");
    assert_eq!(v["method"], "scram-sha-256");
    // Without the membership the same user falls through to the reject line: exit 1.
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--address",
        "10.20.3.4",
        "--user",
        "alice",
        "--database",
        "orders",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["line"], 5);
    // Text output names the line and shows it.
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--address",
        "10.30.0.9",
        "--user",
        "reporting",
        "--database",
        "analytics",
    ]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains(&format!("{}:4:", s(&hba))),
        "{}",
        stdout(&o)
    );
}

#[test]
fn match_replication_and_v6_and_no_entry() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        "host all all 127.0.0.1/32 md5\nhostssl replication repl 10.40.0.0/24 scram-sha-256\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["hba", "match", "--hba", s(&hba), "--format", "json"];
        args.extend_from_slice(extra);
        gatehouse(&args)
    };
    let o = run(&["--address", "::1", "--user", "a", "--database", "d"]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o), serde_json::json!({"matched": false}));
    let o = run(&[
        "--address",
        "127.0.0.1",
        "--user",
        "a",
        "--database",
        "d",
        "--replication",
        "true",
    ]);
    assert_eq!(code(&o), 1, "physical replication is not covered by `all`");
    let o = run(&[
        "--address",
        "10.40.0.9",
        "--ssl",
        "--user",
        "repl",
        "--database",
        "x",
        "--replication",
        "true",
    ]);
    assert_eq!(json(&o)["line"], 2);
    let o = run(&[
        "--address",
        "10.40.0.9",
        "--user",
        "repl",
        "--database",
        "x",
        "--replication",
        "true",
    ]);
    assert_eq!(code(&o), 1, "hostssl needs --ssl");
}

#[test]
fn match_refuses_a_file_postgres_would_not_load() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(dir.path(), "pg_hba.conf", "host all all 127.0.0.1 md5\n");
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--address",
        "127.0.0.1",
        "--user",
        "a",
        "--database",
        "d",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(&format!(
            "{}:1:24: invalid IP mask \"md5\": Name or service not known",
            s(&hba)
        )),
        "{}",
        stderr(&o)
    );
    let empty = write(dir.path(), "empty.conf", "# nothing\n");
    let o = gatehouse(&["hba", "lint", s(&empty)]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("contains no entries"));
}

#[test]
fn bad_usage_and_unreadable_input_exit_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("nope.conf");
    let o = gatehouse(&["hba", "lint", s(&missing)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("could not open file")
            && stderr(&o).contains("No such file or directory")
    );
    assert_eq!(
        code(&gatehouse(&["hba", "lint", s(dir.path())])),
        2,
        "a directory is not a file"
    );
    assert_eq!(
        code(&gatehouse(&[
            "hba",
            "match",
            "--hba",
            "x",
            "--user",
            "u",
            "--database",
            "d"
        ])),
        2
    );
    assert_eq!(
        code(&gatehouse(&["hba", "lint", "x", "--pg-version", "14"])),
        2
    );
    assert_eq!(
        code(&gatehouse(&["hba", "lint", "x", "--without", "kerberos"])),
        2
    );
    assert_eq!(code(&gatehouse(&["nonsense"])), 2);
    assert_eq!(code(&gatehouse(&["--help"])), 0);
}

#[test]
fn ident_lint_and_match() {
    let dir = tempfile::tempdir().expect("tmp");
    let ident = write(
        dir.path(),
        "pg_ident.conf",
        "certs  /^(.*)@example\\.com$  \\1\nops    root               +admins\nops    bad\n",
    );
    let o = gatehouse(&["ident", "lint", s(&ident), "--format", "json"]);
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(v["mappings"][2]["error"], "missing entry at end of line");
    let good = write(
        dir.path(),
        "good.conf",
        "certs  /^(.*)@example\\.com$  \\1\nops root +admins\n",
    );
    let m = |args: &[&str]| {
        let mut a = vec!["ident", "match", "--ident", s(&good), "--format", "json"];
        a.extend_from_slice(args);
        gatehouse(&a)
    };
    let o = m(&[
        "--map",
        "certs",
        "--system-user",
        "alice@example.com",
        "--user",
        "alice",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["line"], 1);
    assert_eq!(
        code(&m(&[
            "--map",
            "certs",
            "--system-user",
            "alice@example.com",
            "--user",
            "bob"
        ])),
        1
    );
    assert_eq!(
        code(&m(&[
            "--map",
            "ops",
            "--system-user",
            "root",
            "--user",
            "dave",
            "--member-of",
            "admins"
        ])),
        0
    );
    assert_eq!(
        code(&m(&[
            "--map",
            "ops",
            "--system-user",
            "root",
            "--user",
            "dave"
        ])),
        1
    );
    let o = m(&[
        "--map",
        "ops",
        "--system-user",
        "root",
        "--user",
        "dave",
        "--member-of",
        "admins",
        "--pg-version",
        "15",
    ]);
    assert_eq!(code(&o), 1, "15 compares +admins literally");
}

#[test]
fn secrets_are_redacted_in_match_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        "host all all 10.0.0.0/8 ldap ldapserver=ldap.example.net ldapbasedn=\"dc=x\" ldapbinddn=\"cn=r\" ldapbindpasswd=s3cret\n",
    );
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--address",
        "10.1.1.1",
        "--user",
        "u",
        "--database",
        "d",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0);
    assert!(!stdout(&o).contains("s3cret"), "{}", stdout(&o));
    assert_eq!(json(&o)["options"]["ldapbindpasswd"], "********");
    assert_eq!(json(&o)["options"]["ldapserver"], "ldap.example.net");
}

/// Inputs a new-user review used to break the CLI, each with the answer it must give.
#[test]
fn hostile_input_is_answered_not_crashed() {
    let dir = tempfile::tempdir().expect("tmp");
    // A 70,000-character cell in the text table.
    let huge = write(
        dir.path(),
        "huge.conf",
        &format!("host all {} 127.0.0.1/32 trust\n", "u".repeat(70_000)),
    );
    let o = gatehouse(&["hba", "lint", s(&huge)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains('…'));
    // Control characters from the file never reach the terminal raw.
    let esc = write(
        dir.path(),
        "esc.conf",
        "host all all 127.0.0.1/32 \u{1b}[31mred\n",
    );
    let o = gatehouse(&["hba", "lint", s(&esc)]);
    assert_eq!(code(&o), 1);
    assert!(!stdout(&o).contains('\u{1b}'), "{}", stdout(&o));
    // Devices and FIFOs are refused instead of read forever.
    let o = gatehouse(&["hba", "lint", "/dev/zero"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not a regular file"));
    // Impossible connection facts are usage errors.
    let hba = write(dir.path(), "pg_hba.conf", "local all all trust\n");
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--local",
        "--ssl",
        "--user",
        "a",
        "--database",
        "d",
    ]);
    assert_eq!(code(&o), 2);
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--local",
        "--user",
        "",
        "--database",
        "d",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no PostgreSQL user name"));
}

#[test]
fn startup_names_follow_postgres() {
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "pg_hba.conf",
        &format!(
            "local all {} trust\nlocal alice all reject\nlocal all all trust\n",
            "a".repeat(63)
        ),
    );
    let long = "a".repeat(70);
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--local",
        "--user",
        &long,
        "--database",
        "d",
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["line"], 1, "names are cut to 63 bytes");
    let o = gatehouse(&[
        "hba",
        "match",
        "--hba",
        s(&hba),
        "--local",
        "--user",
        "alice",
        "--database",
        "",
        "--format",
        "json",
    ]);
    assert_eq!(json(&o)["line"], 2, "an empty database is the user's name");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read as _;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tmp");
    let hba = write(
        dir.path(),
        "big.conf",
        &"host all all 127.0.0.1/32 trust\n".repeat(50_000),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["hba", "lint", s(&hba)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("read");
    // stdout is now closed.
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0));
}
