//! Every condition operator against IAM's documented semantics: one row per case, each
//! a one-statement Allow policy whose only condition is the row's, evaluated with the
//! row's request value(s) for the key.
#![allow(clippy::unwrap_used)]

use gatehouse_iam::policy::*;

/// `(operator, key, policy values as JSON, request values (None = key absent), holds)`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static [&'static str]>,
    bool,
);

fn holds(operator: &str, key: &str, values: &str, request: Option<&[&str]>) -> bool {
    let json = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{{"{operator}":{{"{key}":{values}}}}}}}}}"#
    );
    let doc =
        PolicyDocument::parse(&json).unwrap_or_else(|e| panic!("{operator} {key} {values}: {e}"));
    let mut ctx = RequestContext::new("rds-db:connect", "arn:aws:rds-db:us-east-1:1:dbuser:db-A/u");
    ctx.set("aws:username", vec!["alice".into()]);
    if let Some(request) = request {
        ctx.set(key, request.iter().map(|s| s.to_string()).collect());
    }
    let policies = [AttachedPolicy {
        name: "p",
        document: &doc,
    }];
    let result = evaluate(&policies, &ctx);
    assert_eq!(
        result.deciding.is_some(),
        result.decision == Decision::Allow
    );
    result.decision == Decision::Allow
}

fn run(rows: &[Row]) {
    let mut failures = Vec::new();
    for &(operator, key, values, request, want) in rows {
        let got = holds(operator, key, values, request);
        if got != want {
            failures.push(format!(
                "{operator} {{{key}: {values}}} with {request:?}: expected {want}, got {got}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const ABSENT: Option<&[&str]> = None;

#[test]
fn string_operators() {
    run(&[
        ("StringEquals", "k", r#""abc""#, Some(&["abc"]), true),
        ("StringEquals", "k", r#""abc""#, Some(&["ABC"]), false),
        ("StringEquals", "k", r#""abc""#, Some(&["abcd"]), false),
        ("StringEquals", "k", r#""abc""#, ABSENT, false),
        ("StringEquals", "k", r#""abc""#, Some(&[]), false),
        ("StringEquals", "k", r#"["x","abc"]"#, Some(&["abc"]), true),
        ("StringEquals", "k", r#"["x","y"]"#, Some(&["abc"]), false),
        // No wildcards in StringEquals: `*` is a character.
        ("StringEquals", "k", r#""a*""#, Some(&["abc"]), false),
        ("StringEquals", "k", r#""a*""#, Some(&["a*"]), true),
        // Numbers and booleans as policy values compare as their text.
        ("StringEquals", "k", "42", Some(&["42"]), true),
        ("StringEquals", "k", "true", Some(&["true"]), true),
        // A multi-valued request key without a set operator: any value.
        ("StringEquals", "k", r#""abc""#, Some(&["x", "abc"]), true),
        // Keys are case-insensitive.
        ("StringEquals", "My:Key", r#""v""#, Some(&["v"]), true),
        ("StringNotEquals", "k", r#"["a","b"]"#, Some(&["c"]), true),
        ("StringNotEquals", "k", r#"["a","b"]"#, Some(&["a"]), false),
        ("StringNotEquals", "k", r#"["a","b"]"#, Some(&["b"]), false),
        ("StringNotEquals", "k", r#"["a","b"]"#, Some(&["A"]), true),
        // A negated operator holds when the key is absent (IAM's documented rule).
        ("StringNotEquals", "k", r#"["a","b"]"#, ABSENT, true),
        (
            "StringNotEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["c", "a"]),
            false,
        ),
        (
            "StringEqualsIgnoreCase",
            "k",
            r#""ABC""#,
            Some(&["abc"]),
            true,
        ),
        (
            "StringEqualsIgnoreCase",
            "k",
            r#""Été""#,
            Some(&["éTÉ"]),
            true,
        ),
        (
            "StringEqualsIgnoreCase",
            "k",
            r#""ABC""#,
            Some(&["abd"]),
            false,
        ),
        (
            "StringEqualsIgnoreCase",
            "k",
            r#""A*""#,
            Some(&["abc"]),
            false,
        ),
        ("StringEqualsIgnoreCase", "k", r#""ABC""#, ABSENT, false),
        (
            "StringNotEqualsIgnoreCase",
            "k",
            r#"["ABC","x"]"#,
            Some(&["abc"]),
            false,
        ),
        (
            "StringNotEqualsIgnoreCase",
            "k",
            r#"["ABC","x"]"#,
            Some(&["X"]),
            false,
        ),
        (
            "StringNotEqualsIgnoreCase",
            "k",
            r#"["ABC","x"]"#,
            Some(&["y"]),
            true,
        ),
        ("StringNotEqualsIgnoreCase", "k", r#""ABC""#, ABSENT, true),
        ("StringLike", "k", r#""db-*""#, Some(&["db-1"]), true),
        ("StringLike", "k", r#""db-*""#, Some(&["db-"]), true),
        ("StringLike", "k", r#""db-*""#, Some(&["DB-1"]), false),
        ("StringLike", "k", r#""d?-1""#, Some(&["db-1"]), true),
        ("StringLike", "k", r#""d?-1""#, Some(&["dbb-1"]), false),
        ("StringLike", "k", r#"["x*","*y"]"#, Some(&["ay"]), true),
        ("StringLike", "k", r#""db-*""#, ABSENT, false),
        ("StringNotLike", "k", r#"["a*","b*"]"#, Some(&["c1"]), true),
        ("StringNotLike", "k", r#"["a*","b*"]"#, Some(&["b1"]), false),
        ("StringNotLike", "k", r#"["a*","b*"]"#, ABSENT, true),
    ]);
}

#[test]
fn if_exists() {
    run(&[
        ("StringEqualsIfExists", "k", r#""x""#, ABSENT, true),
        ("StringEqualsIfExists", "k", r#""x""#, Some(&["x"]), true),
        ("StringEqualsIfExists", "k", r#""x""#, Some(&["y"]), false),
        ("StringNotEqualsIfExists", "k", r#""x""#, ABSENT, true),
        (
            "StringNotEqualsIfExists",
            "k",
            r#""x""#,
            Some(&["x"]),
            false,
        ),
        ("StringLikeIfExists", "k", r#""x*""#, Some(&["y"]), false),
        (
            "ArnLikeIfExists",
            "k",
            r#""arn:aws:iam::*:user/*""#,
            ABSENT,
            true,
        ),
        (
            "IpAddressIfExists",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            ABSENT,
            true,
        ),
        (
            "IpAddressIfExists",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            Some(&["11.0.0.1"]),
            false,
        ),
        (
            "IpAddressIfExists",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            Some(&["bad"]),
            false,
        ),
        ("NumericLessThanIfExists", "k", "5", ABSENT, true),
        ("NumericLessThanIfExists", "k", "5", Some(&["6"]), false),
        (
            "DateGreaterThanIfExists",
            "k",
            r#""2020-01-01""#,
            ABSENT,
            true,
        ),
        (
            "BoolIfExists",
            "aws:SecureTransport",
            r#""true""#,
            ABSENT,
            true,
        ),
        (
            "BoolIfExists",
            "aws:SecureTransport",
            r#""true""#,
            Some(&["false"]),
            false,
        ),
        ("BinaryEqualsIfExists", "k", r#""QmluYXJ5""#, ABSENT, true),
        (
            "ForAnyValue:StringEqualsIfExists",
            "k",
            r#""x""#,
            ABSENT,
            true,
        ),
        (
            "ForAnyValue:StringEqualsIfExists",
            "k",
            r#""x""#,
            Some(&["y"]),
            false,
        ),
    ]);
}

#[test]
fn arn_operators() {
    const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
    run(&[
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::123456789012:user/alice""#,
            Some(&[ALICE]),
            true,
        ),
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::123456789012:user/alice""#,
            Some(&["arn:aws:iam::123456789012:user/bob"]),
            false,
        ),
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::*:user/*""#,
            Some(&[ALICE]),
            true,
        ),
        (
            "ArnLike",
            "k",
            r#""arn:aws:iam::*:user/*""#,
            Some(&[ALICE]),
            true,
        ),
        (
            "ArnLike",
            "k",
            r#""arn:aws:iam::*:user/*""#,
            Some(&["arn:aws:sts::1:user/a"]),
            false,
        ),
        (
            "ArnLike",
            "k",
            r#""arn:aws:iam::*:user/al?ce""#,
            Some(&[ALICE]),
            true,
        ),
        (
            "ArnLike",
            "k",
            r#""arn:aws:iam::*:user/*""#,
            Some(&["not-an-arn"]),
            false,
        ),
        ("ArnLike", "k", r#""arn:aws:iam::*:user/*""#, ABSENT, false),
        // Each of the six components is matched on its own: a `*` in the partition
        // cannot swallow the service component.
        (
            "ArnLike",
            "k",
            r#""arn:*:s3:::b""#,
            Some(&["arn:aws:x:s3:::b"]),
            false,
        ),
        (
            "ArnLike",
            "k",
            r#""arn:*:s3:::b""#,
            Some(&["arn:aws-cn:s3:::b"]),
            true,
        ),
        // The resource component keeps its colons.
        (
            "ArnLike",
            "k",
            r#""arn:aws:logs:*:*:log-group:*""#,
            Some(&["arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"]),
            true,
        ),
        // Case-sensitive.
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::123456789012:user/Alice""#,
            Some(&[ALICE]),
            false,
        ),
        (
            "ArnNotEquals",
            "k",
            r#""arn:aws:iam::123456789012:user/alice""#,
            Some(&[ALICE]),
            false,
        ),
        (
            "ArnNotEquals",
            "k",
            r#""arn:aws:iam::123456789012:user/alice""#,
            Some(&["arn:aws:iam::123456789012:user/bob"]),
            true,
        ),
        (
            "ArnNotLike",
            "k",
            r#"["arn:aws:iam::*:user/admin*","arn:aws:iam::*:role/*"]"#,
            Some(&["arn:aws:iam::1:user/admin1"]),
            false,
        ),
        (
            "ArnNotLike",
            "k",
            r#"["arn:aws:iam::*:user/admin*","arn:aws:iam::*:role/*"]"#,
            Some(&["arn:aws:iam::1:role/r"]),
            false,
        ),
        (
            "ArnNotLike",
            "k",
            r#"["arn:aws:iam::*:user/admin*","arn:aws:iam::*:role/*"]"#,
            Some(&["arn:aws:iam::1:user/bob"]),
            true,
        ),
        (
            "ArnNotLike",
            "k",
            r#""arn:aws:iam::*:user/admin*""#,
            ABSENT,
            true,
        ),
        // A request value that is not an ARN makes even a negated operator false.
        (
            "ArnNotLike",
            "k",
            r#""arn:aws:iam::*:user/admin*""#,
            Some(&["x"]),
            false,
        ),
    ]);
}

#[test]
fn ip_operators() {
    let ip = "aws:SourceIp";
    let nets = r#"["10.0.0.0/8","192.168.1.1","2001:db8::/32"]"#;
    run(&[
        ("IpAddress", ip, nets, Some(&["10.1.2.3"]), true),
        ("IpAddress", ip, nets, Some(&["192.168.1.1"]), true),
        ("IpAddress", ip, nets, Some(&["192.168.1.2"]), false),
        ("IpAddress", ip, nets, Some(&["11.0.0.1"]), false),
        ("IpAddress", ip, nets, Some(&["::ffff:10.0.0.1"]), true),
        ("IpAddress", ip, nets, Some(&["2001:db8:5::1"]), true),
        ("IpAddress", ip, nets, Some(&["2001:db9::1"]), false),
        ("IpAddress", ip, nets, Some(&["garbage"]), false),
        ("IpAddress", ip, nets, Some(&["10.0.0.0/8"]), false),
        ("IpAddress", ip, nets, ABSENT, false),
        (
            "IpAddress",
            ip,
            r#""0.0.0.0/0""#,
            Some(&["203.0.113.5"]),
            true,
        ),
        ("IpAddress", ip, r#""0.0.0.0/0""#, Some(&["::1"]), false),
        // Host bits below the prefix are ignored.
        (
            "IpAddress",
            ip,
            r#""10.9.9.9/8""#,
            Some(&["10.0.0.1"]),
            true,
        ),
        (
            "NotIpAddress",
            ip,
            r#"["10.0.0.0/8","172.16.0.0/12"]"#,
            Some(&["11.0.0.1"]),
            true,
        ),
        (
            "NotIpAddress",
            ip,
            r#"["10.0.0.0/8","172.16.0.0/12"]"#,
            Some(&["10.0.0.1"]),
            false,
        ),
        (
            "NotIpAddress",
            ip,
            r#"["10.0.0.0/8","172.16.0.0/12"]"#,
            Some(&["172.20.0.1"]),
            false,
        ),
        ("NotIpAddress", ip, r#""10.0.0.0/8""#, ABSENT, true),
        (
            "NotIpAddress",
            ip,
            r#""10.0.0.0/8""#,
            Some(&["garbage"]),
            false,
        ),
    ]);
}

#[test]
fn numeric_operators() {
    run(&[
        ("NumericEquals", "k", r#""10""#, Some(&["10"]), true),
        ("NumericEquals", "k", "10", Some(&["10.0"]), true),
        ("NumericEquals", "k", "10", Some(&["11"]), false),
        ("NumericEquals", "k", "10", Some(&["ten"]), false),
        ("NumericEquals", "k", "10", ABSENT, false),
        ("NumericEquals", "k", "[1,2,3]", Some(&["2"]), true),
        (
            "NumericNotEquals",
            "k",
            r#"["10","20"]"#,
            Some(&["15"]),
            true,
        ),
        (
            "NumericNotEquals",
            "k",
            r#"["10","20"]"#,
            Some(&["20"]),
            false,
        ),
        ("NumericNotEquals", "k", r#"["10","20"]"#, ABSENT, true),
        (
            "NumericNotEquals",
            "k",
            r#"["10","20"]"#,
            Some(&["x"]),
            false,
        ),
        ("NumericLessThan", "k", "10", Some(&["9.5"]), true),
        ("NumericLessThan", "k", "10", Some(&["10"]), false),
        ("NumericLessThan", "k", "10", Some(&["-11"]), true),
        ("NumericLessThan", "k", "10", ABSENT, false),
        ("NumericLessThanEquals", "k", "10", Some(&["10"]), true),
        ("NumericLessThanEquals", "k", "10", Some(&["11"]), false),
        ("NumericGreaterThan", "k", "10", Some(&["11"]), true),
        ("NumericGreaterThan", "k", "10", Some(&["10"]), false),
        ("NumericGreaterThanEquals", "k", "10", Some(&["10"]), true),
        ("NumericGreaterThanEquals", "k", "10", Some(&["9"]), false),
        (
            "NumericGreaterThanEquals",
            "k",
            "-1.5",
            Some(&["-1.25"]),
            true,
        ),
    ]);
}

#[test]
fn date_operators() {
    let t = "aws:CurrentTime";
    let new_year = r#""2026-01-01T00:00:00Z""#;
    run(&[
        (
            "DateEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            true,
        ),
        ("DateEquals", t, new_year, Some(&["1767225600"]), true),
        (
            "DateEquals",
            t,
            new_year,
            Some(&["2026-01-01T01:00:00+01:00"]),
            true,
        ),
        ("DateEquals", t, new_year, Some(&["2026-01-01"]), true),
        (
            "DateEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:01Z"]),
            false,
        ),
        (
            "DateEquals",
            t,
            "1767225600",
            Some(&["2026-01-01T00:00:00Z"]),
            true,
        ),
        (
            "DateNotEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            false,
        ),
        (
            "DateNotEquals",
            t,
            new_year,
            Some(&["2025-01-01T00:00:00Z"]),
            true,
        ),
        ("DateNotEquals", t, new_year, ABSENT, true),
        (
            "DateLessThan",
            t,
            new_year,
            Some(&["2025-12-31T23:59:59Z"]),
            true,
        ),
        (
            "DateLessThan",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            false,
        ),
        (
            "DateLessThan",
            t,
            new_year,
            Some(&["2025-12-31T23:59:59.999Z"]),
            true,
        ),
        ("DateLessThan", t, new_year, Some(&["yesterday"]), false),
        ("DateLessThan", t, new_year, ABSENT, false),
        (
            "DateLessThanEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            true,
        ),
        (
            "DateLessThanEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:01Z"]),
            false,
        ),
        (
            "DateGreaterThan",
            t,
            new_year,
            Some(&["2026-01-01T00:00:01Z"]),
            true,
        ),
        (
            "DateGreaterThan",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            false,
        ),
        (
            "DateGreaterThanEquals",
            t,
            new_year,
            Some(&["2026-01-01T00:00:00Z"]),
            true,
        ),
        (
            "DateGreaterThanEquals",
            t,
            new_year,
            Some(&["2025-06-01T00:00:00Z"]),
            false,
        ),
    ]);
}

#[test]
fn bool_binary_null() {
    let tls = "aws:SecureTransport";
    run(&[
        ("Bool", tls, r#""true""#, Some(&["true"]), true),
        ("Bool", tls, r#""true""#, Some(&["TRUE"]), true),
        ("Bool", tls, r#""true""#, Some(&["false"]), false),
        ("Bool", tls, r#""true""#, Some(&["yes"]), false),
        ("Bool", tls, r#""true""#, ABSENT, false),
        ("Bool", tls, "true", Some(&["true"]), true),
        ("Bool", tls, "false", Some(&["false"]), true),
        (
            "BinaryEquals",
            "k",
            r#""QmluYXJ5""#,
            Some(&["QmluYXJ5"]),
            true,
        ),
        (
            "BinaryEquals",
            "k",
            r#""QmluYXJ5""#,
            Some(&["QmluYXJ6"]),
            false,
        ),
        (
            "BinaryEquals",
            "k",
            r#""QmluYXJ5""#,
            Some(&["Binary"]),
            false,
        ),
        (
            "BinaryEquals",
            "k",
            r#""QmluYXJ5""#,
            Some(&["not base64!"]),
            false,
        ),
        ("BinaryEquals", "k", r#""QmluYXJ5""#, ABSENT, false),
        ("Null", "k", r#""true""#, ABSENT, true),
        ("Null", "k", r#""true""#, Some(&[]), true),
        ("Null", "k", r#""true""#, Some(&["x"]), false),
        ("Null", "k", r#""false""#, ABSENT, false),
        ("Null", "k", "false", Some(&["x"]), true),
    ]);
}

#[test]
fn set_operators() {
    run(&[
        (
            "ForAnyValue:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["x", "b"]),
            true,
        ),
        (
            "ForAnyValue:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["x", "y"]),
            false,
        ),
        (
            "ForAnyValue:StringEquals",
            "k",
            r#"["a","b"]"#,
            ABSENT,
            false,
        ),
        (
            "ForAnyValue:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&[]),
            false,
        ),
        (
            "ForAllValues:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["a", "b"]),
            true,
        ),
        (
            "ForAllValues:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["b"]),
            true,
        ),
        (
            "ForAllValues:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["a", "c"]),
            false,
        ),
        (
            "ForAllValues:StringEquals",
            "k",
            r#"["a","b"]"#,
            ABSENT,
            true,
        ),
        (
            "ForAllValues:StringEquals",
            "k",
            r#"["a","b"]"#,
            Some(&[]),
            true,
        ),
        (
            "ForAllValues:StringLike",
            "k",
            r#""tag-*""#,
            Some(&["tag-1", "tag-2"]),
            true,
        ),
        (
            "ForAllValues:StringLike",
            "k",
            r#""tag-*""#,
            Some(&["tag-1", "x"]),
            false,
        ),
        (
            "ForAnyValue:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["a", "c"]),
            true,
        ),
        (
            "ForAnyValue:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["a", "b"]),
            false,
        ),
        (
            "ForAnyValue:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            ABSENT,
            false,
        ),
        (
            "ForAllValues:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["c", "d"]),
            true,
        ),
        (
            "ForAllValues:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            Some(&["c", "a"]),
            false,
        ),
        (
            "ForAllValues:StringNotEquals",
            "k",
            r#"["a","b"]"#,
            ABSENT,
            true,
        ),
        (
            "ForAllValues:IpAddress",
            "k",
            r#""10.0.0.0/8""#,
            Some(&["10.0.0.1", "10.0.0.2"]),
            true,
        ),
        (
            "ForAllValues:IpAddress",
            "k",
            r#""10.0.0.0/8""#,
            Some(&["10.0.0.1", "11.0.0.1"]),
            false,
        ),
        (
            "ForAllValues:IpAddress",
            "k",
            r#""10.0.0.0/8""#,
            Some(&["10.0.0.1", "bad"]),
            false,
        ),
        (
            "ForAnyValue:IpAddress",
            "k",
            r#""10.0.0.0/8""#,
            Some(&["11.0.0.1", "10.0.0.2"]),
            true,
        ),
        (
            "ForAnyValue:IpAddress",
            "k",
            r#""10.0.0.0/8""#,
            Some(&["bad", "10.0.0.2"]),
            false,
        ),
        (
            "ForAnyValue:NumericGreaterThan",
            "k",
            "5",
            Some(&["1", "7"]),
            true,
        ),
        (
            "ForAllValues:NumericGreaterThan",
            "k",
            "5",
            Some(&["1", "7"]),
            false,
        ),
        (
            "ForAnyValue:ArnLike",
            "k",
            r#""arn:aws:iam::*:role/*""#,
            Some(&["arn:aws:iam::1:user/u", "arn:aws:iam::1:role/r"]),
            true,
        ),
        (
            "ForAllValues:StringEqualsIgnoreCase",
            "k",
            r#"["A","B"]"#,
            Some(&["a", "b"]),
            true,
        ),
        // Without a set operator a negated operator needs every request value to miss.
        ("StringNotEquals", "k", r#""a""#, Some(&["b", "a"]), false),
        ("StringNotEquals", "k", r#""a""#, Some(&["b", "c"]), true),
    ]);
}

#[test]
fn policy_variables_in_condition_values() {
    // The helper sets aws:username = alice.
    run(&[
        (
            "StringEquals",
            "k",
            r#""${aws:username}""#,
            Some(&["alice"]),
            true,
        ),
        (
            "StringEquals",
            "k",
            r#""${aws:UserName}""#,
            Some(&["alice"]),
            true,
        ),
        (
            "StringEquals",
            "k",
            r#""${aws:username}""#,
            Some(&["bob"]),
            false,
        ),
        (
            "StringLike",
            "k",
            r#""home/${aws:username}/*""#,
            Some(&["home/alice/x"]),
            true,
        ),
        (
            "StringLike",
            "k",
            r#""home/${aws:username}/*""#,
            Some(&["home/bob/x"]),
            false,
        ),
        // An unresolved variable matches nothing, and never makes a negated operator hold.
        (
            "StringEquals",
            "k",
            r#""${aws:userid}""#,
            Some(&["x"]),
            false,
        ),
        (
            "StringEquals",
            "k",
            r#"["${aws:userid}","x"]"#,
            Some(&["x"]),
            true,
        ),
        (
            "StringNotEquals",
            "k",
            r#""${aws:userid}""#,
            Some(&["x"]),
            false,
        ),
        (
            "ForAnyValue:StringNotEquals",
            "k",
            r#""${aws:userid}""#,
            Some(&["x"]),
            false,
        ),
        (
            "ForAllValues:StringNotLike",
            "k",
            r#""${aws:userid}*""#,
            Some(&["x"]),
            false,
        ),
        (
            "ForAllValues:StringNotLike",
            "k",
            r#""${aws:userid}*""#,
            ABSENT,
            true,
        ),
        (
            "ForAnyValue:StringEquals",
            "k",
            r#"["${aws:userid}","x"]"#,
            Some(&["x"]),
            true,
        ),
        (
            "StringEquals",
            "k",
            r#""${aws:userid, 'nobody'}""#,
            Some(&["nobody"]),
            true,
        ),
        (
            "StringEquals",
            "k",
            r#""${aws:username, 'nobody'}""#,
            Some(&["alice"]),
            true,
        ),
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::1:user/${aws:username}""#,
            Some(&["arn:aws:iam::1:user/alice"]),
            true,
        ),
        (
            "ArnEquals",
            "k",
            r#""arn:aws:iam::1:user/${aws:username}""#,
            Some(&["arn:aws:iam::1:user/bob"]),
            false,
        ),
        (
            "ArnNotEquals",
            "k",
            r#""arn:aws:iam::1:user/${aws:userid}""#,
            Some(&["arn:aws:iam::1:user/bob"]),
            false,
        ),
        // Escapes: `${*}` is a literal star, not a wildcard.
        ("StringLike", "k", r#""a${*}""#, Some(&["a*"]), true),
        ("StringLike", "k", r#""a${*}""#, Some(&["ab"]), false),
        ("StringLike", "k", r#""a${?}""#, Some(&["ab"]), false),
        ("StringEquals", "k", r#""${$}{x}""#, Some(&["${x}"]), true),
        // The context key a variable names is any key of the request.
        ("StringEquals", "k", r#""${k}""#, Some(&["same"]), true),
    ]);
}

#[test]
fn several_keys_and_operators_are_anded() {
    let doc = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{
              "StringEquals":{"a":"1","b":"2"},
              "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
    )
    .unwrap();
    let policies = [AttachedPolicy {
        name: "p",
        document: &doc,
    }];
    let decide = |a: &str, b: &str, ip: &str| {
        let mut ctx = RequestContext::new("x:y", "arn:aws:s3:::b");
        ctx.set("a", vec![a.into()]);
        ctx.set("b", vec![b.into()]);
        ctx.set("aws:sourceip", vec![ip.into()]);
        evaluate(&policies, &ctx).decision
    };
    assert_eq!(decide("1", "2", "10.0.0.1"), Decision::Allow);
    assert_eq!(decide("1", "3", "10.0.0.1"), Decision::ImplicitDeny);
    assert_eq!(decide("0", "2", "10.0.0.1"), Decision::ImplicitDeny);
    assert_eq!(decide("1", "2", "11.0.0.1"), Decision::ImplicitDeny);
}

#[test]
fn version_2008_does_not_substitute() {
    for (version, want) in [
        (r#""Version":"2008-10-17","#, true),
        ("", true),
        (r#""Version":"2012-10-17","#, false),
    ] {
        let doc = PolicyDocument::parse(&format!(
            r#"{{{version}"Statement":{{"Effect":"Allow","Action":"*","Resource":"*",
                "Condition":{{"StringEquals":{{"k":"${{aws:username}}"}}}}}}}}"#
        ))
        .unwrap();
        let mut ctx = RequestContext::new("x:y", "arn:aws:s3:::b");
        ctx.set("aws:username", vec!["alice".into()]);
        ctx.set("k", vec!["${aws:username}".into()]);
        let policies = [AttachedPolicy {
            name: "p",
            document: &doc,
        }];
        assert_eq!(
            evaluate(&policies, &ctx).decision == Decision::Allow,
            want,
            "{version}"
        );
    }
}
