//! `gatehouse iam …`: the real binary against a temporary gatehouse.toml and state file.
//! Users, access keys (the secret shown once, never listed), inline and managed policies,
//! simulation with AWS's decision words, and the exit codes (0 ok, 1 denied, 2 refused).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ACCOUNT: &str = "123456789012";

/// A configuration directory: gatehouse.toml with `[iam]`, paths relative to it.
struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env::with("[admin]\nstate_file = \"var/state.sqlite\"\n\n[iam]\naccount_id = \"123456789012\"\nkey_file = \"iam.key\"\n")
    }

    fn with(toml: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("var")).expect("var");
        let cfg = dir.path().join("gatehouse.toml");
        std::fs::write(&cfg, toml).expect("config");
        Env { dir, cfg }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `gatehouse iam --config CFG ARGS…` from another directory (so relative paths
    /// must be resolved against the configuration file's).
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .current_dir(std::env::temp_dir())
            .arg("iam")
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .output()
            .expect("run gatehouse")
    }

    /// Runs and expects exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "gatehouse iam {args:?}\nstdout: {}\nstderr: {}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// Runs with `--format json` and expects exit 0.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        format!("file://{}", p.display())
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 and the `gatehouse iam: CODE:` line on stderr.
fn refused(o: &Output, code: &str) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stdout: {}\nstderr: {err}",
        stdout(o)
    );
    assert!(
        err.starts_with(&format!("gatehouse iam: {code}: ")),
        "expected {code}: {err}"
    );
    err
}

const CONNECT: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ConnectAsApp",
      "Effect": "Allow",
      "Action": "rds-db:connect",
      "Resource": "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/app_user"
    }
  ]
}"#;

const DENY_FROM_OUTSIDE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "NotFromOutside",
      "Effect": "Deny",
      "Action": "rds-db:connect",
      "Resource": "*",
      "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    }
  ]
}"#;

const APP_USER: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/app_user";
const ADMIN: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/admin";

#[test]
fn users_keys_and_the_secret_shown_once() {
    let env = Env::new();
    let created = env.json(&["create-user", "--user-name", "alice", "--path", "/eng/"]);
    let user = &created["User"];
    assert_eq!(user["UserName"], "alice");
    assert_eq!(user["Path"], "/eng/");
    assert_eq!(
        user["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/eng/alice")
    );
    let id = user["UserId"].as_str().expect("id");
    assert!(id.starts_with("AIDA") && id.len() == 21, "{id}");
    assert!(user["CreateDate"]
        .as_str()
        .expect("date")
        .ends_with("+00:00"));
    assert_eq!(env.json(&["get-user", "--user-name", "ALICE"]), created);

    // Relative paths are the configuration file's, not the working directory's.
    assert!(env.path("var/state.sqlite").exists());

    let key = env.json(&["create-access-key", "--user-name", "alice"]);
    let k = &key["AccessKey"];
    let key_id = k["AccessKeyId"].as_str().expect("id").to_owned();
    let secret = k["SecretAccessKey"].as_str().expect("secret").to_owned();
    assert_eq!(k["UserName"], "alice");
    assert_eq!(k["Status"], "Active");
    assert!(key_id.starts_with("AKIA") && key_id.len() == 20, "{key_id}");
    assert_eq!(secret.len(), 40);

    // The key file was made, private.
    let key_file = env.path("iam.key");
    assert_eq!(std::fs::read(&key_file).expect("key file").len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A second key in text form shows its secret too (and says it is shown once).
    let text = env.ok(&["create-access-key", "--user-name", "alice"]);
    assert!(text.contains("SecretAccessKey"), "{text}");
    assert!(text.contains("shown only now"), "{text}");
    let second_secret = text
        .lines()
        .find_map(|l| l.strip_prefix("SecretAccessKey"))
        .map(str::trim)
        .expect("secret line")
        .to_owned();
    assert_eq!(second_secret.len(), 40);

    let third = env.run(&["create-access-key", "--user-name", "alice"]);
    let err = refused(&third, "LimitExceeded");
    assert!(err.contains("AccessKeysPerUser: 2"), "{err}");

    // Nothing else ever shows a secret.
    let mut shown = String::new();
    for args in [
        vec!["list-access-keys"],
        vec!["list-access-keys", "--user-name", "alice"],
        vec!["list-users"],
        vec!["get-user", "--user-name", "alice"],
        vec!["get-access-key-last-used", "--access-key-id", &key_id],
        vec![
            "update-access-key",
            "--access-key-id",
            &key_id,
            "--status",
            "Inactive",
        ],
    ] {
        shown.push_str(&env.ok(&args));
        let mut json = args.clone();
        json.extend(["--format", "json"]);
        shown.push_str(&env.ok(&json));
    }
    assert!(shown.contains(&key_id), "{shown}");
    assert!(!shown.contains(&secret), "a secret was shown: {shown}");
    assert!(
        !shown.contains(&second_secret),
        "a secret was shown: {shown}"
    );
    // Nor the state file.
    let db = std::fs::read(env.path("var/state.sqlite")).expect("db");
    assert!(!db.windows(40).any(|w| w == secret.as_bytes()));

    let listed = env.json(&["list-access-keys", "--user-name", "alice"]);
    let keys = listed["AccessKeyMetadata"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    let first = keys
        .iter()
        .find(|k| k["AccessKeyId"] == key_id.as_str())
        .expect("listed");
    assert_eq!(first["Status"], "Inactive");
    assert!(first.get("SecretAccessKey").is_none());

    let dup = env.run(&["create-user", "--user-name", "Alice"]);
    refused(&dup, "EntityAlreadyExists");
    let busy = env.run(&["delete-user", "--user-name", "alice"]);
    let err = refused(&busy, "DeleteConflict");
    assert!(err.contains(&key_id), "{err}");
    let missing = env.run(&["get-user", "--user-name", "bob"]);
    refused(&missing, "NoSuchEntity");
    let bad = env.run(&["create-user", "--user-name", "not valid"]);
    let err = refused(&bad, "ValidationError");
    assert!(err.contains("UserName"), "{err}");
}

#[test]
fn policies_and_simulation() {
    let env = Env::new();
    env.ok(&["create-user", "--user-name", "app"]);
    let connect = env.write("connect.json", CONNECT);
    env.ok(&[
        "put-user-policy",
        "--user-name",
        "app",
        "--policy-name",
        "connect",
        "--policy-document",
        &connect,
    ]);
    let got = env.json(&[
        "get-user-policy",
        "--user-name",
        "app",
        "--policy-name",
        "connect",
    ]);
    assert_eq!(got["UserName"], "app");
    assert_eq!(got["PolicyName"], "connect");
    assert_eq!(got["PolicyDocument"]["Statement"][0]["Sid"], "ConnectAsApp");
    assert_eq!(
        env.json(&["list-user-policies", "--user-name", "app"])["PolicyNames"],
        serde_json::json!(["connect"])
    );

    let arn = format!("arn:aws:iam::{ACCOUNT}:user/app");
    let simulate = |resource: &str, ip: &str| -> (Option<i32>, Value) {
        let o = env.run(&[
            "simulate-principal-policy",
            "--policy-source-arn",
            &arn,
            "--action-names",
            "rds-db:connect",
            "--resource-arns",
            resource,
            "--context",
            &format!("aws:SourceIp={ip}"),
            "--format",
            "json",
        ]);
        let v = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&o), stderr(&o)));
        (o.status.code(), v)
    };

    // Allowed, by the inline policy's statement.
    let (code, v) = simulate(APP_USER, "10.0.0.5");
    assert_eq!(code, Some(0), "{v}");
    let r = &v["EvaluationResults"][0];
    assert_eq!(r["EvalActionName"], "rds-db:connect");
    assert_eq!(r["EvalResourceName"], APP_USER);
    assert_eq!(r["EvalDecision"], "allowed");
    assert_eq!(r["MatchedStatements"][0]["SourcePolicyId"], "connect");
    assert_eq!(r["MatchedStatements"][0]["Sid"], "ConnectAsApp");
    assert_eq!(r["MatchedStatements"][0]["StatementIndex"], 0);

    // Another database user: nothing allows it.
    let (code, v) = simulate(ADMIN, "10.0.0.5");
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["EvaluationResults"][0]["EvalDecision"], "implicitDeny");
    assert_eq!(
        v["EvaluationResults"][0]["MatchedStatements"],
        serde_json::json!([])
    );

    // A managed Deny attached through a group beats the Allow, and says which statement.
    env.ok(&["create-group", "--group-name", "apps"]);
    env.ok(&[
        "add-user-to-group",
        "--group-name",
        "apps",
        "--user-name",
        "app",
    ]);
    let deny = env.write("deny.json", DENY_FROM_OUTSIDE);
    let policy = env.json(&[
        "create-policy",
        "--policy-name",
        "inside-only",
        "--policy-document",
        &deny,
    ]);
    let policy_arn = policy["Policy"]["Arn"].as_str().expect("arn").to_owned();
    assert_eq!(
        policy_arn,
        format!("arn:aws:iam::{ACCOUNT}:policy/inside-only")
    );
    env.ok(&[
        "attach-group-policy",
        "--group-name",
        "apps",
        "--policy-arn",
        &policy_arn,
    ]);
    let attached = env.json(&["list-attached-group-policies", "--group-name", "apps"]);
    assert_eq!(
        attached["AttachedPolicies"][0]["PolicyArn"],
        policy_arn.as_str()
    );

    let (code, v) = simulate(APP_USER, "192.0.2.1");
    assert_eq!(code, Some(1), "{v}");
    let r = &v["EvaluationResults"][0];
    assert_eq!(r["EvalDecision"], "explicitDeny");
    assert_eq!(
        r["MatchedStatements"][0]["SourcePolicyId"],
        policy_arn.as_str()
    );
    assert_eq!(r["MatchedStatements"][0]["Sid"], "NotFromOutside");
    assert_eq!(
        r["MatchedStatements"][0]["SourcePolicyType"],
        "user-managed"
    );
    // From inside the range the Deny does not apply.
    assert_eq!(
        simulate(APP_USER, "10.1.2.3").1["EvaluationResults"][0]["EvalDecision"],
        "allowed"
    );

    // Text output: the decision word and the deciding statement.
    let o = env.run(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        &arn,
        "--action-names",
        "rds-db:connect",
        "--resource-arns",
        APP_USER,
        ADMIN,
        "--context-entries",
        "ContextKeyName=aws:SourceIp,ContextKeyValues=192.0.2.1,ContextKeyType=ip",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("explicitDeny"), "{text}");
    assert!(text.contains("Sid NotFromOutside"), "{text}");
    assert_eq!(
        text.lines().count(),
        3,
        "a header and one row per resource: {text}"
    );

    // The policy cannot go while attached; detached, it can.
    let busy = env.run(&["delete-policy", "--policy-arn", &policy_arn]);
    refused(&busy, "DeleteConflict");
    env.ok(&[
        "detach-group-policy",
        "--group-name",
        "apps",
        "--policy-arn",
        &policy_arn,
    ]);
    env.ok(&["delete-policy", "--policy-arn", &policy_arn]);

    let unknown = env.run(&[
        "simulate-principal-policy",
        "--policy-source-arn",
        "arn:aws:iam::123456789012:user/nobody",
        "--action-names",
        "rds-db:connect",
    ]);
    refused(&unknown, "NoSuchEntity");
}

#[test]
fn a_broken_policy_document_is_refused_with_exit_2() {
    let env = Env::new();
    env.ok(&["create-user", "--user-name", "app"]);
    let broken = env.write(
        "broken.json",
        "{\"Version\": \"2012-10-17\", \"Statement\": [",
    );
    let o = env.run(&[
        "put-user-policy",
        "--user-name",
        "app",
        "--policy-name",
        "p",
        "--policy-document",
        &broken,
    ]);
    let err = refused(&o, "MalformedPolicyDocument");
    assert!(err.contains("inline policy p of user app: $"), "{err}");
    let o = env.run(&[
        "create-policy",
        "--policy-name",
        "p",
        "--policy-document",
        "nope",
    ]);
    refused(&o, "MalformedPolicyDocument");
    let o = env.run(&[
        "create-role",
        "--role-name",
        "r",
        "--assume-role-policy-document",
        "{",
    ]);
    refused(&o, "MalformedPolicyDocument");
    assert!(
        env.json(&["list-user-policies", "--user-name", "app"])["PolicyNames"]
            .as_array()
            .expect("names")
            .is_empty(),
        "nothing stored"
    );
    let o = env.run(&[
        "put-user-policy",
        "--user-name",
        "app",
        "--policy-name",
        "p",
        "--policy-document",
        "file:///nonexistent/policy.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

#[test]
fn roles_groups_and_listings() {
    let env = Env::new();
    let trust = env.write(
        "trust.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
    );
    let role = env.json(&[
        "create-role",
        "--role-name",
        "batch",
        "--path",
        "/jobs/",
        "--assume-role-policy-document",
        &trust,
    ]);
    assert_eq!(
        role["Role"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/jobs/batch")
    );
    assert!(role["Role"]["RoleId"]
        .as_str()
        .expect("id")
        .starts_with("AROA"));
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"],
        "sts:AssumeRole"
    );
    env.ok(&[
        "put-role-policy",
        "--role-name",
        "batch",
        "--policy-name",
        "connect",
        "--policy-document",
        CONNECT,
    ]);
    let roles = env.json(&["list-roles"]);
    assert_eq!(roles["Roles"].as_array().map(Vec::len), Some(1));
    let o = env.run(&["delete-role", "--role-name", "batch"]);
    refused(&o, "DeleteConflict");
    env.ok(&[
        "delete-role-policy",
        "--role-name",
        "batch",
        "--policy-name",
        "connect",
    ]);
    env.ok(&["delete-role", "--role-name", "batch"]);

    env.ok(&["create-user", "--user-name", "u1"]);
    env.ok(&["create-group", "--group-name", "g1", "--path", "/teams/"]);
    env.ok(&[
        "add-user-to-group",
        "--group-name",
        "g1",
        "--user-name",
        "u1",
    ]);
    let group = env.json(&["get-group", "--group-name", "g1"]);
    assert_eq!(
        group["Group"]["Arn"],
        format!("arn:aws:iam::{ACCOUNT}:group/teams/g1")
    );
    assert_eq!(group["Users"][0]["UserName"], "u1");
    let for_user = env.json(&["list-groups-for-user", "--user-name", "u1"]);
    assert_eq!(for_user["Groups"][0]["GroupName"], "g1");
    let text = env.ok(&["list-groups"]);
    assert!(text.starts_with("GroupName"), "{text}");
    assert!(text.contains("g1"), "{text}");
    env.ok(&[
        "remove-user-from-group",
        "--group-name",
        "g1",
        "--user-name",
        "u1",
    ]);
    let o = env.run(&[
        "remove-user-from-group",
        "--group-name",
        "g1",
        "--user-name",
        "u1",
    ]);
    refused(&o, "NoSuchEntity");
    env.ok(&["delete-group", "--group-name", "g1"]);

    // Commands that AWS answers with nothing print nothing in JSON.
    let quiet = env.ok(&["delete-user", "--user-name", "u1", "--format", "json"]);
    assert_eq!(quiet, "");
}

#[test]
fn configuration_problems_exit_2() {
    let env = Env::with("[admin]\nstate_file = \"s.sqlite\"\n");
    let o = env.run(&["list-users"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("[iam] account_id"), "{}", stderr(&o));

    let env = Env::with("[iam]\naccount_id = \"12345\"\n");
    let o = env.run(&["list-users"]);
    let err = refused(&o, "ValidationError");
    assert!(err.contains("account_id"), "{err}");

    // Defaults: gatehouse-state.sqlite and gatehouse-iam.key beside the file.
    let env = Env::with("[iam]\naccount_id = \"123456789012\"\n");
    env.ok(&["create-user", "--user-name", "a"]);
    env.ok(&["create-access-key", "--user-name", "a"]);
    assert!(env.path("gatehouse-state.sqlite").exists());
    assert!(env.path("gatehouse-iam.key").exists());

    // A key file others can read is refused, and nothing is created.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            env.path("gatehouse-iam.key"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let o = env.run(&["create-access-key", "--user-name", "a"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
        assert_eq!(
            env.json(&["list-access-keys"])["AccessKeyMetadata"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["iam", "list-users"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["iam", "--config", "x.toml", "no-such-command"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let missing = Path::new("/nonexistent/gatehouse.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["iam", "list-users", "--config"])
        .arg(missing)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

#[test]
fn a_missing_key_file_is_never_replaced_while_secrets_are_sealed_with_it() {
    let env = Env::new();
    env.ok(&["create-user", "--user-name", "app"]);
    env.ok(&["create-access-key", "--user-name", "app"]);
    let key = env.path("iam.key");
    let saved = std::fs::read(&key).expect("key file");
    std::fs::remove_file(&key).expect("remove");
    // A new key file would make the stored secret unreadable: refused, nothing written.
    let o = env.run(&["create-access-key", "--user-name", "app"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("holds 1 access key"), "{}", stderr(&o));
    assert!(!key.exists(), "a new key file was created");
    std::fs::write(&key, saved).expect("restore");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("mode");
    env.ok(&["create-access-key", "--user-name", "app"]);
}
