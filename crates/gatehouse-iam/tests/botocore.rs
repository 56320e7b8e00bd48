//! Interoperability with botocore, the AWS SDK behind `aws rds
//! generate-db-auth-token`: tokens it makes (time frozen) for random users,
//! hosts, ports, regions and credentials — special characters, session tokens,
//! upper-case hosts, port 443, IPv6 literals — must verify here, and our
//! `generate` must give the very same bytes.
//!
//! Needs the repository's venv (`./scripts/install-deps` makes it); without it
//! the test fails rather than pass silently.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use gatehouse_iam::token::{generate, verify, Expectations, SigningKeyCache, StaticKeys};
use serde_json::{json, Value};
use support::*;

fn python() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = repo.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run ./scripts/install-deps (it installs botocore in the repository's venv)",
        py.display()
    );
    py
}

/// Reads a JSON list of cases on stdin, prints the list of tokens botocore makes.
/// botocore 1.3x+ reads the clock through `botocore.auth.get_current_datetime`;
/// older versions through `botocore.auth.datetime` — patch whichever exists.
const SCRIPT: &str = r#"
import datetime, json, sys
from unittest import mock
import botocore, botocore.auth, botocore.session

def frozen(epoch):
    t = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)
    if hasattr(botocore.auth, "get_current_datetime"):
        return mock.patch("botocore.auth.get_current_datetime", return_value=t)
    fake = mock.Mock(wraps=datetime.datetime)
    fake.utcnow.return_value = t
    fake.now.return_value = t
    return mock.patch("botocore.auth.datetime.datetime", fake)

out = []
session = botocore.session.get_session()
for c in json.load(sys.stdin):
    client = session.create_client(
        "rds",
        region_name=c["client_region"],
        aws_access_key_id=c["akid"],
        aws_secret_access_key=c["secret"],
        aws_session_token=c.get("session"),
    )
    with frozen(c["at"]):
        out.append(client.generate_db_auth_token(c["host"], c["port"], c["user"], Region=c["region"]))
print(json.dumps({"version": botocore.__version__, "tokens": out}))
"#;

/// A small deterministic generator (SplitMix64), so a failure replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
    /// 1 to `max` characters from `alphabet`.
    fn text(&mut self, alphabet: &str, max: u64) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let len = 1 + self.below(max);
        (0..len)
            .map(|_| chars[self.below(chars.len() as u64) as usize])
            .collect()
    }
}

const USERS: &[&str] = &[
    "app user+1@x/é",
    "someusername",
    "O'Brien",
    "ütf8-ユーザー",
    "emoji🦀",
    "100%&=?#",
    "a+b c",
    "~._-",
    "quote\"back\\slash",
    "tab\there",
];

const HOSTS: &[&str] = &[
    "prod-instance.us-east-1.rds.amazonaws.com",
    "Gateway.Example.COM",
    "db.internal",
    "10.0.0.7",
    "[fd00::17]",
    "localhost",
];

fn cases(rng: &mut Rng, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let user = if i < USERS.len() {
                USERS[i].to_owned()
            } else {
                rng.text("abcXYZ019 +@/é.-_~%&=?ü", 30)
            };
            let host = if rng.below(3) == 0 {
                format!("{}.{}", rng.text("abcdefghijklmnopqrstuvwxyz0123456789", 12), rng.pick(&["com", "net", "internal"]))
            } else {
                rng.pick(HOSTS).to_owned()
            };
            let port = match rng.below(4) {
                0 => 443,
                1 => 5432,
                _ => 1 + rng.below(65535),
            };
            let session = (rng.below(2) == 0).then(|| {
                rng.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", 1200)
            });
            json!({
                "akid": format!("ASIA{}", rng.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
                "secret": rng.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40),
                "session": session,
                "host": host,
                "port": port,
                "user": user,
                "region": rng.pick(&["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"]),
                "client_region": "us-west-2",
                // 2000-01-01 .. 2100-01-01
                "at": 946_684_800 + rng.below(3_155_760_000),
            })
        })
        .collect()
}

fn botocore_tokens(cases: &[Value]) -> (String, Vec<String>) {
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the venv's python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore failed (run ./scripts/install-deps?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tokens = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    (v["version"].as_str().unwrap_or("?").to_owned(), tokens)
}

#[test]
fn botocore_tokens_verify_and_generate_gives_the_same_bytes() {
    let mut rng = Rng(0x5EED_7E57);
    let cases = cases(&mut rng, 200);
    let (version, tokens) = botocore_tokens(&cases);
    assert_eq!(tokens.len(), cases.len());
    let cache = SigningKeyCache::default();
    let mut with_session = 0;
    for (c, token) in cases.iter().zip(&tokens) {
        let s = |k: &str| c[k].as_str().unwrap().to_owned();
        let port = u16::try_from(c["port"].as_u64().unwrap()).unwrap();
        let secs = c["at"].as_u64().unwrap();
        let session = c["session"].as_str().map(str::to_owned);
        let creds = creds(&s("akid"), &s("secret"), session.as_deref());
        let ours = generate(&creds, &s("host"), port, &s("region"), &s("user"), at(secs));
        assert_eq!(&ours, token, "botocore {version}, case {c}");

        let endpoints = vec![format!("{}:{port}", s("host").to_lowercase())];
        let keys = StaticKeys::new().active(&s("akid"), &s("secret"));
        let user = s("user");
        let region = s("region");
        let expect = Expectations {
            region: &region,
            endpoints: &endpoints,
            db_user: &user,
            max_skew: Duration::from_secs(300),
            now: at(secs + rng.below(901)),
        };
        let v = verify(token, &expect, &keys, &cache)
            .unwrap_or_else(|e| panic!("botocore {version} token refused ({e}): {token}"));
        assert_eq!(v.db_user, user);
        assert_eq!(v.has_session_token, session.is_some());
        with_session += usize::from(session.is_some());
    }
    assert!(with_session > 50 && with_session < 150, "{with_session}");
}

#[test]
fn botocore_vector_from_botocore_itself() {
    let case = json!({
        "akid": "akid", "secret": "skid", "session": null,
        "host": HOST, "port": 3306, "user": "someusername",
        "region": "us-east-1", "client_region": "us-east-1", "at": BOTOCORE_AT,
    });
    let (_, tokens) = botocore_tokens(&[case]);
    assert_eq!(tokens, [BOTOCORE_VECTOR]);
}

/// The Python snippet of docs/iam-tokens.md, run as written with test
/// credentials in the environment: what it prints verifies.
#[test]
fn the_documented_python_snippet_makes_a_token_that_verifies() {
    let doc_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/iam-tokens.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let after = doc
        .split_once("<!-- ci: python token snippet -->\n```python\n")
        .expect("the marked python block in docs/iam-tokens.md")
        .1;
    let snippet = after.split_once("\n```").unwrap().0;
    let home = std::env::temp_dir().join(format!("gatehouse-doc-snippet-{}", std::process::id()));
    let out = Command::new(python())
        .args(["-c", snippet])
        .env_clear()
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim_end();
    let endpoints = vec!["gateway.example.com:5432".to_owned()];
    let keys = StaticKeys::new().active(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &endpoints,
        db_user: "app_user",
        max_skew: Duration::from_secs(5),
        now: std::time::SystemTime::now(),
    };
    verify(token, &expect, &keys, &SigningKeyCache::default())
        .unwrap_or_else(|e| panic!("{e}: {token}"));
}
