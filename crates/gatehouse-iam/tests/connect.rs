//! `authorize_connect`: real tokens (made by `token::generate`, which the botocore
//! tests prove byte-identical to the AWS SDK's) against a directory with policies.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_iam::connect::{authorize_connect, ConnectRequest, ConnectSettings};
use gatehouse_iam::directory::{AccessKeyMetadata, InlinePolicy, PrincipalKind};
use gatehouse_iam::policy::PolicyDocument;
use gatehouse_iam::token::{generate, Credentials, SigningKeyCache};
use gatehouse_iam::{AccessKey, Directory, KeyStatus, User};

const ACCOUNT: &str = "123456789012";
const AKID: &str = "AKIAGATEHOUSETEST001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

fn settings() -> ConnectSettings {
    ConnectSettings {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        resource_id: "db-ABCDEFGHIJKL".into(),
        endpoints: vec!["db.internal:5432".into()],
        max_skew: Duration::from_secs(300),
    }
}

fn directory(policy: &str, status: KeyStatus) -> Directory {
    let mut d = Directory::new(ACCOUNT);
    d.add_user(User {
        name: "app".into(),
        user_id: "AIDAGATEHOUSE0000001".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/app"),
        path: "/".into(),
        created: now(),
    })
    .unwrap();
    d.add_access_key(AccessKey::new(
        AccessKeyMetadata {
            access_key_id: AKID.into(),
            user_name: "app".into(),
            status,
            created: now(),
            last_used: None,
        },
        SECRET.as_bytes().to_vec(),
    ))
    .unwrap();
    d.add_inline_policy(
        PrincipalKind::User,
        "app",
        InlinePolicy {
            name: "connect".into(),
            document: PolicyDocument::parse(policy).unwrap(),
        },
    )
    .unwrap();
    d
}

fn token(user: &str) -> String {
    let creds = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    generate(&creds, "db.internal", 5432, "eu-west-1", user, now())
}

fn check(d: &Directory, token: &str, user: &str, ip: &str, tls: bool) -> Result<String, String> {
    let req = ConnectRequest {
        token,
        db_user: user,
        source_ip: ip.parse::<IpAddr>().unwrap(),
        secure_transport: tls,
        now: now() + Duration::from_secs(10),
    };
    authorize_connect(d, &settings(), &SigningKeyCache::default(), &req)
        .map(|g| {
            format!(
                "{} {}",
                g.user_arn,
                g.statement.map(|s| s.to_string()).unwrap_or_default()
            )
        })
        .map_err(|r| r.to_string())
}

const BASE: &str = "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKL";

#[test]
fn allow_names_the_principal_and_statement() {
    let p = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AppConnect","Effect":"Allow","Action":"rds-db:connect","Resource":"{BASE}/app_user"}}]}}"#
    );
    let d = directory(&p, KeyStatus::Active);
    let ok = check(&d, &token("app_user"), "app_user", "10.0.0.5", true).unwrap();
    assert!(ok.contains("arn:aws:iam::123456789012:user/app"), "{ok}");
    assert!(ok.contains("Sid AppConnect"), "{ok}");
    // Another database user: implicit deny, with the ARN that was asked for.
    let err = check(&d, &token("postgres"), "postgres", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("policy_no_allow"), "{err}");
    assert!(err.contains(&format!("{BASE}/postgres")), "{err}");
}

#[test]
fn explicit_deny_names_its_sid() {
    let p = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"All","Effect":"Allow","Action":"rds-db:*","Resource":"{BASE}/*"}},
            {{"Sid":"NotFromOutside","Effect":"Deny","Action":"rds-db:connect","Resource":"*",
              "Condition":{{"NotIpAddress":{{"aws:SourceIp":["10.0.0.0/8"]}}}}}}]}}"#
    );
    let d = directory(&p, KeyStatus::Active);
    assert!(check(&d, &token("x"), "x", "10.1.2.3", true).is_ok());
    let err = check(&d, &token("x"), "x", "192.0.2.1", true).unwrap_err();
    assert!(err.starts_with("policy_explicit_deny"), "{err}");
    assert!(err.contains("Sid NotFromOutside"), "{err}");
    // IPv4-mapped IPv6 is the IPv4 client.
    assert!(check(&d, &token("x"), "x", "::ffff:10.1.2.3", true).is_ok());
}

#[test]
fn context_keys_reach_conditions() {
    let p = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds-db:connect",
            "Resource":"{BASE}/${{aws:username}}",
            "Condition":{{"Bool":{{"aws:SecureTransport":"true"}},
                          "DateLessThan":{{"aws:CurrentTime":"2027-01-01T00:00:00Z"}},
                          "StringEquals":{{"aws:PrincipalType":"User","rds-db:DbUser":"app"}}}}}}]}}"#
    );
    let d = directory(&p, KeyStatus::Active);
    assert!(check(&d, &token("app"), "app", "10.0.0.5", true).is_ok());
    let err = check(&d, &token("app"), "app", "10.0.0.5", false).unwrap_err();
    assert!(err.starts_with("policy_no_allow"), "{err}");
    // ${aws:username} is the IAM user (app), not any database user.
    let err = check(&d, &token("other"), "other", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("policy_no_allow"), "{err}");
}

#[test]
fn token_checks_come_first() {
    let p = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{BASE}/*"}}]}}"#
    );
    let d = directory(&p, KeyStatus::Active);
    let err = check(&d, &token("a"), "b", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("wrong_user"), "{err}");
    let err = check(&d, "not a token", "a", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("malformed"), "{err}");
    let inactive = directory(&p, KeyStatus::Inactive);
    let err = check(&inactive, &token("a"), "a", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("inactive_key"), "{err}");
    let empty = Directory::new(ACCOUNT);
    let err = check(&empty, &token("a"), "a", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("unknown_key"), "{err}");
    // A session token is signature-checked but refused: no STS issues them yet.
    let creds = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: Some("FQoGZXIvYXdzEXAMPLESESSION".into()),
    };
    let with_session = generate(&creds, "db.internal", 5432, "eu-west-1", "a", now());
    let err = check(&d, &with_session, "a", "10.0.0.5", true).unwrap_err();
    assert!(err.starts_with("session_token"), "{err}");
    // The refusal text never carries the secret or the signature.
    let t = token("a");
    let sig = t.rsplit('=').next().unwrap();
    let err = check(&d, &t, "b", "10.0.0.5", true).unwrap_err();
    assert!(!err.contains(SECRET) && !err.contains(sig), "{err}");
}
