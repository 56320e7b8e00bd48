//! Properties of policy evaluation:
//! - an explicit Deny that matches the request is never overridden, whatever Allows
//!   surround it, in whichever policy and position it sits;
//! - on any document that parses, `evaluate` does not panic and its answer agrees with
//!   `Statement::applies_to` (first Deny, else first Allow, else implicit deny);
//! - `parse` never panics, on arbitrary text or on arbitrary JSON shaped like a policy.
#![allow(clippy::unwrap_used)]

use gatehouse_iam::policy::*;
use proptest::prelude::*;
use proptest::sample::{select, Index};

const DB: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL";

fn request() -> RequestContext {
    let mut ctx = RequestContext::new("rds-db:connect", format!("{DB}/app_user"));
    ctx.set("aws:username", vec!["app_user".into()]);
    ctx.set("aws:SourceIp", vec!["10.1.2.3".into()]);
    ctx.set("aws:SecureTransport", vec!["true".into()]);
    ctx.set("aws:CurrentTime", vec!["2026-11-29T18:00:00Z".into()]);
    ctx.set("aws:TagKeys", vec!["team".into(), "env".into()]);
    ctx
}

fn action_element(not: bool, action: &str) -> String {
    let key = if not { "NotAction" } else { "Action" };
    format!(r#""{key}":"{action}""#)
}

/// Allow statements of every kind: matching or not, with or without conditions.
fn allow_statement() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        select(vec![
            "rds-db:connect",
            "rds-db:*",
            "*",
            "RDS-DB:CONNECT",
            "rds-db:conn?ct",
            "s3:GetObject",
            "rds:*"
        ])
        .prop_map(|a| action_element(false, a)),
        select(vec!["s3:*", "rds-db:*"]).prop_map(|a| action_element(true, a)),
    ];
    let resource = select(vec![
        r#""Resource":"*""#.to_owned(),
        format!(r#""Resource":"{DB}/app_user""#),
        format!(r#""Resource":["{DB}/other","{DB}/app_*"]"#),
        r#""Resource":"arn:aws:rds-db:*:*:dbuser:*/${aws:username}""#.to_owned(),
        r#""Resource":"arn:aws:s3:::bucket/*""#.to_owned(),
        format!(r#""NotResource":"{DB}/admin""#),
    ]);
    let condition = select(vec![
        "",
        r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        r#","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}"#,
        r#","Condition":{"Bool":{"aws:SecureTransport":"false"}}"#,
        r#","Condition":{"StringEquals":{"aws:username":"${aws:username}"}}"#,
        r#","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
        r#","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#,
    ]);
    (action, resource, condition)
        .prop_map(|(a, r, c)| format!(r#"{{"Effect":"Allow",{a},{r}{c}}}"#))
}

/// Deny statements that all match [`request`], by many different routes.
fn matching_deny() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        select(vec![
            "rds-db:connect",
            "rds-db:*",
            "*",
            "RDS-DB:Connect",
            "rds-db:c*t",
            "*:connect",
            "rds-db:?onnect"
        ])
        .prop_map(|a| action_element(false, a)),
        select(vec!["s3:*", "iam:*"]).prop_map(|a| action_element(true, a)),
    ];
    let resource = select(vec![
        r#""Resource":"*""#.to_owned(),
        format!(r#""Resource":"{DB}/app_user""#),
        format!(r#""Resource":["arn:aws:s3:::b","{DB}/app_user"]"#),
        r#""Resource":"arn:aws:rds-db:*:*:dbuser:*/${aws:username}""#.to_owned(),
        r#""Resource":"arn:aws:rds-db:us-east-1:*""#.to_owned(),
        r#""Resource":"arn:aws:rds-db:us-east-?:123456789012:dbuser:db-*/app_use?""#.to_owned(),
        r#""NotResource":"arn:aws:s3:::*""#.to_owned(),
    ]);
    let condition = select(vec![
        "",
        r#","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/8"]}}"#,
        r#","Condition":{"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}}"#,
        r#","Condition":{"Bool":{"aws:SecureTransport":true}}"#,
        r#","Condition":{"StringLike":{"aws:username":"app_*"}}"#,
        r#","Condition":{"StringNotEquals":{"aws:username":["admin","root"]}}"#,
        r#","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}"#,
        r#","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}}"#,
        r#","Condition":{"ForAllValues:StringEquals":{"aws:absent":"x"}}"#,
        r#","Condition":{"Null":{"aws:absent":"true"},"StringEqualsIfExists":{"aws:other":"x"}}"#,
        r#","Condition":{"StringEquals":{"aws:username":"${aws:username}"},"NumericLessThanIfExists":{"n":1}}"#,
    ]);
    (action, resource, condition).prop_map(|(a, r, c)| format!(r#"{{"Effect":"Deny",{a},{r}{c}}}"#))
}

fn document(statements: &[String]) -> PolicyDocument {
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    PolicyDocument::parse(&json).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

const NAMES: [&str; 4] = ["p0", "p1", "p2", "p3"];

proptest! {
    #[test]
    fn a_matching_deny_is_never_overridden(
        mut policies in prop::collection::vec(prop::collection::vec(allow_statement(), 0..6), 1..=4),
        deny in matching_deny(),
        which in any::<Index>(),
        position in any::<Index>(),
    ) {
        let p = which.index(policies.len());
        let s = position.index(policies[p].len() + 1);
        policies[p].insert(s, deny);
        for (i, statements) in policies.iter_mut().enumerate() {
            if statements.is_empty() && i != p {
                statements.push(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#.to_owned());
            }
        }
        let docs: Vec<PolicyDocument> = policies.iter().map(|s| document(s)).collect();
        let attached: Vec<AttachedPolicy<'_>> = docs
            .iter()
            .zip(NAMES)
            .map(|(document, name)| AttachedPolicy { name, document })
            .collect();
        let e = evaluate(&attached, &request());
        prop_assert_eq!(e.decision, Decision::ExplicitDeny);
        let deciding = e.deciding.unwrap();
        prop_assert_eq!(deciding.policy.as_str(), NAMES[p]);
        prop_assert_eq!(deciding.index, s);
        prop_assert_eq!(deciding.sid, None);
    }
}

/// Operator names, valid and not.
fn operator() -> impl Strategy<Value = String> {
    let base = select(vec![
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "IpAddress",
        "NotIpAddress",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "Null",
        "Nope",
    ]);
    (
        select(vec!["", "", "ForAnyValue:", "ForAllValues:"]),
        base,
        any::<bool>(),
    )
        .prop_map(|(set, base, if_exists)| {
            format!("{set}{base}{}", if if_exists { "IfExists" } else { "" })
        })
}

const KEYS: &[&str] = &[
    "k",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:username",
    "AWS:UserName",
    "n",
];

/// Values that parse for some operators and not others.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "10.1.2.3",
            "2026-01-01",
            "2026-11-29T18:00:00Z",
            "1767225600",
            "5",
            "-1.5",
            "true",
            "false",
            "QmluYXJ5",
            "arn:aws:iam::1:user/*",
            "arn:aws:rds-db:*:*:dbuser:*/${aws:username}",
            "a*",
            "?",
            "${aws:username}",
            "${k, 'd'}",
            "${*}${?}${$}",
            "",
            "ü*ß",
            "app_user",
            "${aws:username",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,12}",
    ]
}

fn values_json() -> impl Strategy<Value = String> {
    prop_oneof![
        value().prop_map(|v| serde_json::to_string(&v).unwrap()),
        prop::collection::vec(value(), 1..4).prop_map(|v| serde_json::to_string(&v).unwrap()),
        select(vec!["1", "true", "[]", "null", "2.5"]).prop_map(str::to_owned),
    ]
}

fn random_statement() -> impl Strategy<Value = String> {
    let condition = prop::collection::vec(
        (
            operator(),
            prop::collection::vec((select(KEYS.to_vec()), values_json()), 1..3),
        ),
        0..2,
    )
    .prop_map(|ops| {
        let ops: Vec<String> = ops
            .into_iter()
            .map(|(op, keys)| {
                let keys: Vec<String> = keys
                    .into_iter()
                    .map(|(k, v)| format!(r#""{k}":{v}"#))
                    .collect();
                format!(r#""{op}":{{{}}}"#, keys.join(","))
            })
            .collect();
        if ops.is_empty() {
            String::new()
        } else {
            format!(r#","Condition":{{{}}}"#, ops.join(","))
        }
    });
    (
        select(vec!["Allow", "Deny"]),
        select(vec!["Action", "NotAction"]),
        select(vec![
            "rds-db:connect",
            "rds-db:*",
            "*",
            "s3:*",
            "RDS-DB:c?nnect",
        ]),
        select(vec!["Resource", "NotResource"]),
        value(),
        condition,
    )
        .prop_map(|(effect, ak, action, rk, resource, condition)| {
            let resource = if resource.starts_with("arn:") || resource == "*" {
                resource
            } else {
                format!("{DB}/{resource}")
            };
            format!(
                r#"{{"Effect":"{effect}","{ak}":"{action}","{rk}":{}{condition}}}"#,
                serde_json::to_string(&resource).unwrap()
            )
        })
}

fn random_context() -> impl Strategy<Value = RequestContext> {
    (
        select(vec!["rds-db:connect", "s3:GetObject", "RDS-DB:CONNECT"]),
        value(),
        prop::collection::vec(
            (select(KEYS.to_vec()), prop::collection::vec(value(), 0..3)),
            0..6,
        ),
    )
        .prop_map(|(action, user, keys)| {
            let mut ctx = RequestContext::new(action, format!("{DB}/{user}"));
            for (k, v) in keys {
                ctx.set(k, v);
            }
            ctx
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_agrees_with_applies_to(
        docs in prop::collection::vec(
            (select(vec!["2012-10-17", "2008-10-17"]), prop::collection::vec(random_statement(), 1..4)),
            1..4,
        ),
        ctx in random_context(),
    ) {
        let parsed: Vec<PolicyDocument> = docs
            .iter()
            .filter_map(|(version, statements)| {
                let json = format!(r#"{{"Version":"{version}","Statement":[{}]}}"#, statements.join(","));
                PolicyDocument::parse(&json).ok()
            })
            .collect();
        let attached: Vec<AttachedPolicy<'_>> = parsed
            .iter()
            .zip(NAMES)
            .map(|(document, name)| AttachedPolicy { name, document })
            .collect();
        let e = evaluate(&attached, &ctx);
        let applying: Vec<(usize, usize, Effect)> = parsed
            .iter()
            .enumerate()
            .flat_map(|(p, d)| {
                d.statements()
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.applies_to(&ctx))
                    .map(move |(i, s)| (p, i, s.effect()))
            })
            .collect();
        let first = |effect| applying.iter().find(|(_, _, e)| *e == effect);
        let expected = match (first(Effect::Deny), first(Effect::Allow)) {
            (Some(&(p, i, _)), _) => (Decision::ExplicitDeny, Some((NAMES[p], i))),
            (None, Some(&(p, i, _))) => (Decision::Allow, Some((NAMES[p], i))),
            (None, None) => (Decision::ImplicitDeny, None),
        };
        let got = (e.decision, e.deciding.as_ref().map(|s| (s.policy.as_str(), s.index)));
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn parse_never_panics_on_text(text in "\\PC{0,200}") {
        let _ = PolicyDocument::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_policy_shaped_json(json in policy_shaped_json()) {
        let text = json.to_string();
        if let Ok(doc) = PolicyDocument::parse(&text) {
            let policies = [AttachedPolicy { name: "p", document: &doc }];
            let _ = evaluate(&policies, &request());
        }
    }
}

/// Arbitrary JSON whose object keys are mostly policy words, so the walker gets deep.
fn policy_shaped_json() -> impl Strategy<Value = serde_json::Value> {
    let words = select(vec![
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
        "StringLike",
        "IpAddress",
        "ForAllValues:Null",
        "aws:SourceIp",
        "DateLessThanIfExists",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        value().prop_map(serde_json::Value::String),
        select(vec!["2012-10-17", "Allow", "Deny", "*", "rds-db:connect"])
            .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((words.clone(), inner), 0..5).prop_map(|members| {
                serde_json::Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}
