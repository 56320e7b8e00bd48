//! Criterion: one `iam` login's CPU work — token verification (warm signing-key
//! cache) plus policy evaluation with 100 statements attached (99 that do not match,
//! each with conditions, and the matching one last). Issue 6's goal: under 20 µs.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_iam::connect::{authorize_connect, ConnectRequest, ConnectSettings};
use gatehouse_iam::directory::{AccessKeyMetadata, InlinePolicy, PrincipalKind};
use gatehouse_iam::policy::PolicyDocument;
use gatehouse_iam::token::{generate, Credentials, SigningKeyCache};
use gatehouse_iam::{AccessKey, Directory, KeyStatus, User};

const ACCOUNT: &str = "123456789012";
const AKID: &str = "AKIAGATEHOUSEBENCH01";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const BASE: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-BENCH";

fn statements(n: usize) -> String {
    let mut s = Vec::new();
    for i in 0..n - 1 {
        s.push(format!(
            r#"{{"Sid":"S{i}","Effect":"Allow","Action":"rds-db:connect","Resource":"{BASE}/team{i}_*",
               "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.168.{i}.0/24"]}},
                             "StringLike":{{"aws:username":"svc-{i}-*"}}}}}}"#
        ));
    }
    s.push(format!(
        r#"{{"Sid":"Match","Effect":"Allow","Action":"rds-db:connect","Resource":"{BASE}/app_user",
           "Condition":{{"Bool":{{"aws:SecureTransport":"true"}}}}}}"#
    ));
    s.join(",")
}

fn directory(now: SystemTime) -> Directory {
    let mut d = Directory::new(ACCOUNT);
    d.add_user(User {
        name: "app".into(),
        user_id: "AIDAGATEHOUSE0000001".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/app"),
        path: "/".into(),
        created: now,
    })
    .unwrap();
    d.add_access_key(AccessKey::new(
        AccessKeyMetadata {
            access_key_id: AKID.into(),
            user_name: "app".into(),
            status: KeyStatus::Active,
            created: now,
            last_used: None,
        },
        SECRET.as_bytes().to_vec(),
    ))
    .unwrap();
    // AWS caps one document at 6,144 characters: spread 100 statements over policies.
    let all = statements(100);
    let parts: Vec<&str> = all.split("},{\"Sid\"").collect();
    let mut chunk = Vec::new();
    let mut n = 0;
    let flush = |chunk: &mut Vec<String>, d: &mut Directory, n: &mut usize| {
        if chunk.is_empty() {
            return;
        }
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            chunk.join(",")
        );
        d.add_inline_policy(
            PrincipalKind::User,
            "app",
            InlinePolicy {
                name: format!("p{n}"),
                document: PolicyDocument::parse(&doc).unwrap(),
            },
        )
        .unwrap();
        *n += 1;
        chunk.clear();
    };
    for (i, p) in parts.iter().enumerate() {
        let mut s = p.to_string();
        if i > 0 {
            s.insert_str(0, "{\"Sid\"");
        }
        if i + 1 < parts.len() {
            s.push('}');
        }
        chunk.push(s);
        if chunk.len() == 20 {
            flush(&mut chunk, &mut d, &mut n);
        }
    }
    flush(&mut chunk, &mut d, &mut n);
    let attached = d.policies_for_user("app");
    let count: usize = attached.iter().map(|p| p.document.statements().len()).sum();
    assert_eq!(count, 100);
    d
}

fn bench(c: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let d = directory(now);
    let settings = ConnectSettings {
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
        resource_id: "db-BENCH".into(),
        endpoints: vec!["db.internal:5432".into()],
        max_skew: Duration::from_secs(300),
    };
    let creds = Credentials {
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
    };
    let token = generate(&creds, "db.internal", 5432, "us-east-1", "app_user", now);
    let cache = SigningKeyCache::default();
    let req = ConnectRequest {
        token: &token,
        db_user: "app_user",
        source_ip: "10.200.0.1".parse().unwrap(),
        secure_transport: true,
        now: now + Duration::from_secs(5),
    };
    let grant = authorize_connect(&d, &settings, &cache, &req).unwrap();
    assert_eq!(grant.statement.unwrap().sid.as_deref(), Some("Match"));
    c.bench_function("connect/verify+evaluate 100 statements (warm cache)", |b| {
        b.iter(|| authorize_connect(black_box(&d), &settings, &cache, black_box(&req)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
