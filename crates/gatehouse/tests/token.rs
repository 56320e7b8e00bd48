//! `gatehouse token generate` on the real binary: where it finds credentials and
//! the region (as the AWS CLI does), that its token verifies, and that botocore,
//! given the same inputs at the token's own time, makes the very same bytes.
#![allow(clippy::unwrap_used)]

mod support;
use support::python;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use gatehouse_iam::token::{parse, verify, Expectations, SigningKeyCache, StaticKeys};

const ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Runs `gatehouse token generate ARGS` with only `env` set (and HOME in `home`).
fn run(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.env_clear()
        .env("HOME", home)
        .args(["token", "generate"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The token printed (exactly one line), after checking exit 0.
fn token(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    let out = stdout(o);
    let line = out.strip_suffix('\n').expect("ends with a newline");
    assert!(!line.contains('\n'), "{out}");
    line.to_owned()
}

fn assert_verifies(token: &str, endpoint: &str, user: &str, region: &str, id: &str, secret: &str) {
    let endpoints = vec![endpoint.to_owned()];
    let expect = Expectations {
        region,
        endpoints: &endpoints,
        db_user: user,
        max_skew: Duration::from_secs(5),
        now: SystemTime::now(),
    };
    let keys = StaticKeys::new().active(id, secret);
    let v = verify(token, &expect, &keys, &SigningKeyCache::default())
        .unwrap_or_else(|e| panic!("{e}: {token}"));
    assert_eq!(v.access_key_id, id);
}

const ARGS: [&str; 6] = [
    "--hostname",
    "gateway.example.com",
    "--port",
    "5432",
    "--username",
    "app user+1@x/é",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    ARGS.iter().chain(extra).copied().collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// botocore's token for the same inputs at `epoch` (its clock frozen there).
fn botocore(
    epoch: u64,
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    session: Option<&str>,
) -> String {
    let script = r#"
import datetime, json, sys
from unittest import mock
import botocore.auth, botocore.session
c = json.load(sys.stdin)
t = datetime.datetime.fromtimestamp(c["at"], datetime.timezone.utc).replace(tzinfo=None)
if hasattr(botocore.auth, "get_current_datetime"):
    frozen = mock.patch("botocore.auth.get_current_datetime", return_value=t)
else:  # botocore before 1.33 reads datetime.datetime.utcnow()
    fake = mock.Mock(wraps=datetime.datetime)
    fake.utcnow.return_value = t
    frozen = mock.patch("botocore.auth.datetime.datetime", fake)
client = botocore.session.get_session().create_client(
    "rds", region_name=c["region"], aws_access_key_id=c["id"],
    aws_secret_access_key=c["secret"], aws_session_token=c["session"])
with frozen:
    sys.stdout.write(client.generate_db_auth_token(c["host"], c["port"], c["user"]))
"#;
    let input = serde_json::json!({
        "at": epoch, "host": host, "port": port, "user": user, "region": region,
        "id": ID, "secret": SECRET, "session": session,
    });
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn epoch_of(token: &str) -> u64 {
    parse(token)
        .unwrap()
        .issued_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn environment_credentials_give_botocores_token() {
    let home = tempfile::tempdir().unwrap();
    for session in [None, Some("FwoGZXIvYXdzEJr//////////wEaDO+tok=")] {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "eu-west-3"),
        ];
        if let Some(s) = session {
            env.push(("AWS_SESSION_TOKEN", s));
        }
        let t = token(&run(home.path(), &env, &ARGS));
        assert!(t.starts_with("gateway.example.com:5432/?Action=connect&DBUser=app%20user%2B1%40x%2F%C3%A9&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F"), "{t}");
        assert_eq!(
            t.contains("&X-Amz-Security-Token="),
            session.is_some(),
            "{t}"
        );
        assert_verifies(
            &t,
            "gateway.example.com:5432",
            "app user+1@x/é",
            "eu-west-3",
            ID,
            SECRET,
        );
        let theirs = botocore(
            epoch_of(&t),
            "gateway.example.com",
            5432,
            "app user+1@x/é",
            "eu-west-3",
            session,
        );
        assert_eq!(t, theirs);
    }
}

#[test]
fn region_flag_and_default_region() {
    let home = tempfile::tempdir().unwrap();
    let creds = [("AWS_ACCESS_KEY_ID", ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];
    let t = token(&run(
        home.path(),
        &[creds[0], creds[1], ("AWS_REGION", "eu-west-3")],
        &with(&["--region", "ap-south-1"]),
    ));
    assert!(t.contains("%2Fap-south-1%2Frds-db%2F"), "{t}");
    let t = token(&run(
        home.path(),
        &[creds[0], creds[1], ("AWS_DEFAULT_REGION", "sa-east-1")],
        &ARGS,
    ));
    assert!(t.contains("%2Fsa-east-1%2Frds-db%2F"), "{t}");
}

#[test]
fn profiles_from_the_shared_files() {
    let home = tempfile::tempdir().unwrap();
    write(
        home.path(),
        ".aws/credentials",
        "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\
         [dev]\naws_access_key_id=DEVKEY\naws_secret_access_key=devsecret\naws_session_token=devtoken\n",
    );
    write(
        home.path(),
        ".aws/config",
        "[default]\nregion = us-west-2\n[profile dev]\nregion = eu-central-1\n\
         [profile cfgonly]\naws_access_key_id = CFGKEY\naws_secret_access_key = cfgsecret\nregion = ca-central-1\n",
    );
    // default profile, region from the config file
    let t = token(&run(home.path(), &[], &ARGS));
    assert!(
        t.contains("DEFAULTKEY%2F") && t.contains("%2Fus-west-2%2F"),
        "{t}"
    );
    assert_verifies(
        &t,
        "gateway.example.com:5432",
        "app user+1@x/é",
        "us-west-2",
        "DEFAULTKEY",
        "defaultsecret",
    );
    // --profile (and it wins over the environment's keys)
    let t = token(&run(
        home.path(),
        &[("AWS_ACCESS_KEY_ID", ID), ("AWS_SECRET_ACCESS_KEY", SECRET)],
        &with(&["--profile", "dev"]),
    ));
    assert!(
        t.contains("DEVKEY%2F")
            && t.contains("%2Feu-central-1%2F")
            && t.contains("X-Amz-Security-Token=devtoken"),
        "{t}"
    );
    // AWS_PROFILE
    let t = token(&run(home.path(), &[("AWS_PROFILE", "dev")], &ARGS));
    assert!(t.contains("DEVKEY%2F"), "{t}");
    // keys in the config file's [profile NAME]
    let t = token(&run(home.path(), &[], &with(&["--profile", "cfgonly"])));
    assert!(
        t.contains("CFGKEY%2F") && t.contains("%2Fca-central-1%2F"),
        "{t}"
    );
    // AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE elsewhere
    let other = tempfile::tempdir().unwrap();
    let c = write(
        other.path(),
        "creds",
        "[default]\naws_access_key_id=ELSEWHERE\naws_secret_access_key=x\n",
    );
    let g = write(other.path(), "conf", "[default]\nregion=af-south-1\n");
    let t = token(&run(
        home.path(),
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", c.to_str().unwrap()),
            ("AWS_CONFIG_FILE", g.to_str().unwrap()),
        ],
        &ARGS,
    ));
    assert!(
        t.contains("ELSEWHERE%2F") && t.contains("%2Faf-south-1%2F"),
        "{t}"
    );
}

fn fails_naming(o: &Output, words: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stdout(o));
    assert!(o.stdout.is_empty());
    let e = stderr(o);
    for w in words {
        assert!(e.contains(w), "{w:?} not in: {e}");
    }
}

#[test]
fn missing_pieces_exit_2_naming_them() {
    let home = tempfile::tempdir().unwrap();
    fails_naming(
        &run(home.path(), &[("AWS_REGION", "us-east-1")], &ARGS),
        &[
            "no AWS credentials",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "\"default\"",
        ],
    );
    fails_naming(
        &run(
            home.path(),
            &[("AWS_ACCESS_KEY_ID", ID), ("AWS_REGION", "us-east-1")],
            &ARGS,
        ),
        &["AWS_SECRET_ACCESS_KEY is not"],
    );
    fails_naming(
        &run(
            home.path(),
            &[("AWS_ACCESS_KEY_ID", ID), ("AWS_SECRET_ACCESS_KEY", SECRET)],
            &ARGS,
        ),
        &["no region", "--region", "AWS_REGION"],
    );
    fails_naming(
        &run(
            home.path(),
            &[("AWS_REGION", "us-east-1")],
            &with(&["--profile", "nope"]),
        ),
        &["profile \"nope\" is not in", ".aws/credentials"],
    );
    write(
        home.path(),
        ".aws/credentials",
        "[half]\naws_access_key_id = X\n",
    );
    fails_naming(
        &run(
            home.path(),
            &[("AWS_REGION", "us-east-1")],
            &with(&["--profile", "half"]),
        ),
        &["\"half\"", "no aws_secret_access_key"],
    );
    // clap: a missing flag, a port out of range
    fails_naming(
        &run(home.path(), &[], &["--hostname", "h", "--port", "5432"]),
        &["--username"],
    );
    fails_naming(
        &run(
            home.path(),
            &[],
            &["--hostname", "h", "--port", "70000", "--username", "u"],
        ),
        &["--port"],
    );
}
