//! What `PolicyDocument::parse` refuses, with the exact path and message of each error,
//! and what it accepts.
#![allow(clippy::unwrap_used)]

use gatehouse_iam::policy::*;

fn error(json: &str) -> String {
    match PolicyDocument::parse(json) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

/// A 2012-10-17 document with the given statements (JSON text of the array's items).
fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

const OK: &str = r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}"#;

fn with_condition(condition: &str) -> String {
    doc(&format!(
        r#"{OK},{OK},{{"Effect":"Allow","Action":"rds-db:connect","Resource":"*","Condition":{condition}}}"#
    ))
}

#[test]
fn errors_name_the_path_and_the_problem() {
    let cases: Vec<(String, &str)> = vec![
        (
            with_condition(r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","10.0.0.0/33"]}}"#),
            r#"$.Statement[2].Condition.IpAddress.aws:SourceIp[1]: "10.0.0.0/33" is not a CIDR"#,
        ),
        (
            with_condition(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.256"}}"#),
            r#"$.Statement[2].Condition.IpAddress.aws:SourceIp: "10.0.0.256" is not a CIDR"#,
        ),
        (
            "[]".into(),
            "$: expected an object, found an array",
        ),
        (
            r#"{"Version":"2012-10-17"}"#.into(),
            r#"$: missing "Statement""#,
        ),
        (
            r#"{"Version":"2012-10-18","Statement":[]}"#.into(),
            r#"$.Version: expected "2012-10-17" or "2008-10-17", found "2012-10-18""#,
        ),
        (
            r#"{"Version":2012,"Statement":[]}"#.into(),
            "$.Version: expected a string, found a number",
        ),
        (
            r#"{"Id":["x"],"Statement":[]}"#.into(),
            "$.Id: expected a string, found an array",
        ),
        (
            r#"{"Statement":[],"version":"2012-10-17"}"#.into(),
            "$.Statement: expected at least one statement",
        ),
        (
            format!(r#"{{"Statement":{OK},"Foo":1}}"#),
            r#"$.Foo: unknown element "Foo" (a policy has Version, Id and Statement)"#,
        ),
        (
            format!(r#"{{"Statement":{OK},"a.b":1}}"#),
            r#"$["a.b"]: unknown element "a.b" (a policy has Version, Id and Statement)"#,
        ),
        (
            r#"{"Statement":"Allow"}"#.into(),
            "$.Statement: expected a statement object or an array of them, found a string",
        ),
        (
            r#"{"Statement":[1]}"#.into(),
            "$.Statement[0]: expected an object, found a number",
        ),
        (
            doc(r#"{"Effect":"Allow","Acton":"rds-db:connect","Resource":"*"}"#),
            r#"$.Statement[0].Acton: unknown element "Acton" (a statement has Sid, Effect, Action, NotAction, Resource, NotResource, Condition)"#,
        ),
        (
            r#"{"Statement":{"Effect":"allow","Action":"rds-db:connect","Resource":"*"}}"#.into(),
            r#"$.Statement.Effect: expected "Allow" or "Deny", found "allow""#,
        ),
        (
            doc(&format!(r#"{OK},{{"Action":"rds-db:connect","Resource":"*"}}"#)),
            r#"$.Statement[1]: missing "Effect""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Resource":"*"}"#),
            r#"$.Statement[0]: missing "Action" or "NotAction""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"rds-db:connect"}"#),
            r#"$.Statement[0]: missing "Resource" or "NotResource""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"rds-db:connect","NotAction":"s3:*","Resource":"*"}"#),
            "$.Statement[0].NotAction: a statement has Action or NotAction, not both",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"a:b","NotResource":"*","Resource":"*"}"#),
            "$.Statement[0].Resource: a statement has Resource or NotResource, not both",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
            "$.Statement[0].Action: expected at least one value",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"a:b","Resource":[]}"#),
            "$.Statement[0].Resource: expected at least one value",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":["a:b",7],"Resource":"*"}"#),
            "$.Statement[0].Action[1]: expected a string, found a number",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":{"a":"b"},"Resource":"*"}"#),
            "$.Statement[0].Action: expected a string or an array of strings, found an object",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":["rds-db:connect","rds-db"],"Resource":"*"}"#),
            r#"$.Statement[0].Action[1]: expected "*" or "service:action", found "rds-db""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"rds-db:connect:x","Resource":"*"}"#),
            r#"$.Statement[0].Action: expected "*" or "service:action", found "rds-db:connect:x""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"a:b","Resource":["*","db-ABC"]}"#),
            r#"$.Statement[0].Resource[1]: expected "*" or an ARN (arn:partition:service:…), found "db-ABC""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"arn:aws:*"}"#),
            r#"$.Statement[0].Resource: expected "*" or an ARN (arn:partition:service:…), found "arn:aws:*""#,
        ),
        (
            doc(r#"{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"a:b","Resource":"*"}"#),
            "$.Statement[0].Principal: Principal is not allowed in an identity-based policy",
        ),
        (
            doc(r#"{"Effect":"Allow","NotPrincipal":"*","Action":"a:b","Resource":"*"}"#),
            "$.Statement[0].NotPrincipal: NotPrincipal is not allowed in an identity-based policy",
        ),
        (
            doc(&format!(
                r#"{{"Sid":"A","Effect":"Allow","Action":"a:b","Resource":"*"}},{OK},{{"Sid":"A","Effect":"Deny","Action":"a:b","Resource":"*"}}"#
            )),
            r#"$.Statement[2].Sid: duplicate Sid "A" (statement 0 has it too; statement 2 repeats it)"#,
        ),
        (
            doc(r#"{"Sid":"no spaces","Effect":"Allow","Action":"a:b","Resource":"*"}"#),
            r#"$.Statement[0].Sid: "no spaces" is not a valid Sid (ASCII letters and digits only)"#,
        ),
        (
            doc(r#"{"Effect":"Allow","Effect":"Deny","Action":"a:b","Resource":"*"}"#),
            r#"$.Statement[0].Effect: duplicate key "Effect""#,
        ),
        (
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":[]}"#.into(),
            r#"$.Version: duplicate key "Version""#,
        ),
        (
            with_condition(r#"{"StringEquals":{"a":"1"},"StringEquals":{"b":"2"}}"#),
            r#"$.Statement[2].Condition.StringEquals: duplicate key "StringEquals""#,
        ),
        (
            with_condition(r#"{"StringEquals":{"a":"1","a":"2"}}"#),
            r#"$.Statement[2].Condition.StringEquals.a: duplicate key "a""#,
        ),
        (
            with_condition(r#"{"StringEqual":{"a":"1"}}"#),
            r#"$.Statement[2].Condition.StringEqual: unknown condition operator "StringEqual""#,
        ),
        (
            with_condition(r#"{"NullIfExists":{"a":"true"}}"#),
            r#"$.Statement[2].Condition.NullIfExists: condition operator "NullIfExists": Null takes neither IfExists nor ForAnyValue:/ForAllValues:"#,
        ),
        (
            with_condition(r#"{"DateLessThan":{"aws:CurrentTime":"2026-13-01T00:00:00Z"}}"#),
            r#"$.Statement[2].Condition.DateLessThan.aws:CurrentTime: "2026-13-01T00:00:00Z" is not a date (ISO 8601 or epoch seconds)"#,
        ),
        (
            with_condition(r#"{"NumericLessThan":{"k":["1","1e3"]}}"#),
            r#"$.Statement[2].Condition.NumericLessThan.k[1]: "1e3" is not a number"#,
        ),
        (
            with_condition(r#"{"NumericEquals":{"k":"${aws:username}"}}"#),
            r#"$.Statement[2].Condition.NumericEquals.k: "${aws:username}" is not a number"#,
        ),
        (
            with_condition(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#),
            r#"$.Statement[2].Condition.Bool.aws:SecureTransport: "yes" is not a boolean ("true" or "false")"#,
        ),
        (
            with_condition(r#"{"Null":{"k":1}}"#),
            r#"$.Statement[2].Condition.Null.k: "1" is not a boolean ("true" or "false")"#,
        ),
        (
            with_condition(r#"{"BinaryEquals":{"k":"not base64"}}"#),
            r#"$.Statement[2].Condition.BinaryEquals.k: "not base64" is not base64"#,
        ),
        (
            with_condition(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}"#),
            r#"$.Statement[2].Condition.ArnLike.aws:PrincipalArn: "arn:aws:iam::*" is not an ARN (arn:partition:service:region:account:resource)"#,
        ),
        (
            with_condition(r#"{"StringEquals":{"k":null}}"#),
            "$.Statement[2].Condition.StringEquals.k: expected a string, number or boolean, found null",
        ),
        (
            with_condition(r#"{"StringEquals":{"k":["a",{"b":1}]}}"#),
            "$.Statement[2].Condition.StringEquals.k[1]: expected a string, number or boolean, found an object",
        ),
        (
            with_condition(r#"{"StringEquals":{"k":[]}}"#),
            "$.Statement[2].Condition.StringEquals.k: expected at least one value",
        ),
        (
            with_condition(r#"{"StringEquals":{}}"#),
            "$.Statement[2].Condition.StringEquals: expected at least one condition key",
        ),
        (
            with_condition(r#"{"StringEquals":"k"}"#),
            "$.Statement[2].Condition.StringEquals: expected an object, found a string",
        ),
        (
            with_condition(r#"{"StringEquals":{"":"k"}}"#),
            r#"$.Statement[2].Condition.StringEquals[""]: a condition key cannot be empty"#,
        ),
        (
            with_condition(r#"["StringEquals"]"#),
            "$.Statement[2].Condition: expected an object, found an array",
        ),
        (
            doc(r#"{"Effect":"Allow","Action":"a:b","Resource":"arn:aws:rds-db:us-east-1:1:dbuser:*/${aws:username"}"#),
            r#"$.Statement[0].Resource: "arn:aws:rds-db:us-east-1:1:dbuser:*/${aws:username" has an unterminated policy variable "${aws:username""#,
        ),
        (
            with_condition(r#"{"StringLike":{"k":"${aws:username, nobody}"}}"#),
            r#"$.Statement[2].Condition.StringLike.k: "${aws:username, nobody}" has a malformed default in policy variable "${aws:username, nobody}" (expected ${key, 'default'})"#,
        ),
    ];
    let mut failures = Vec::new();
    for (json, want) in &cases {
        let got = error(json);
        if got != *want {
            failures.push(format!("{json}\n  expected: {want}\n  got:      {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn error_fields() {
    let e = PolicyDocument::parse(&doc(r#"{"Effect":"Maybe","Action":"a:b","Resource":"*"}"#))
        .unwrap_err();
    assert_eq!(e.path, "$.Statement[0].Effect");
    assert_eq!(e.message, r#"expected "Allow" or "Deny", found "Maybe""#);
}

#[test]
fn invalid_json_is_refused_at_the_root() {
    for bad in ["", "{", r#"{"Statement":[}"#, "{} x", "nul", "\u{feff}{}"] {
        let e = PolicyDocument::parse(bad).unwrap_err();
        assert_eq!(e.path, "$", "{bad:?}");
        assert!(e.message.starts_with("not valid JSON: "), "{bad:?}: {e}");
    }
}

#[test]
fn size_limit_counts_characters_without_whitespace() {
    let statement = r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}"#;
    let many = |n: usize| doc(&vec![statement; n].join(","));
    // Just under the limit, with plenty of whitespace that does not count.
    let n = (MAX_DOCUMENT_CHARS - 40) / (statement.len() + 1);
    let spaced = many(n).replace(',', " ,\n    ");
    assert!(spaced.len() > MAX_DOCUMENT_CHARS);
    PolicyDocument::parse(&spaced).unwrap();
    let big = many(n + 1);
    let count = big.len();
    assert!(count > MAX_DOCUMENT_CHARS);
    assert_eq!(
        error(&big),
        format!(
            "$: the document has {count} characters not counting whitespace; the limit is 6144"
        )
    );
}

#[test]
fn accepted_shapes() {
    // A lone statement object, no Version (2008-10-17), an Id, Sids, NotAction and
    // NotResource, numbers and booleans as condition values, every operator family.
    let d = PolicyDocument::parse(
        r#"{"Id":"p1","Statement":{"Sid":"S1","Effect":"Deny","NotAction":"s3:*",
            "NotResource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
            "Condition":{"NumericLessThan":{"k":5},"Bool":{"aws:SecureTransport":false},
              "ForAllValues:StringLikeIfExists":{"t":["a*","b?"]},
              "DateGreaterThan":{"aws:CurrentTime":1767225600},
              "ArnNotLikeIfExists":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},
              "Null":{"x":true},"BinaryEquals":{"b":"QmluYXJ5"},
              "NotIpAddress":{"aws:SourceIp":["::1","fd00::/8"]}}}}"#,
    )
    .unwrap();
    assert_eq!(d.version(), PolicyVersion::V2008_10_17);
    assert_eq!(d.id(), Some("p1"));
    assert_eq!(d.statements().len(), 1);
    assert_eq!(d.statements()[0].sid(), Some("S1"));
    assert_eq!(d.statements()[0].effect(), Effect::Deny);
    assert!(d.source().starts_with(r#"{"Id":"p1""#));

    // `${` that is malformed is plain text in a 2008-10-17 document.
    let d = PolicyDocument::parse(
        r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"a:b",
            "Resource":"arn:aws:s3:::b/${aws:username"}]}"#,
    )
    .unwrap();
    assert_eq!(d.version(), PolicyVersion::V2008_10_17);
    assert_eq!(d.version().to_string(), "2008-10-17");

    // Resource forms IAM accepts.
    for resource in [
        "*",
        "arn:aws:rds-db:us-east-1:*",
        "arn:aws:s3:::*",
        "arn:aws-cn:rds-db:*:*:dbuser:*/*",
        "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/${aws:username}",
    ] {
        let json = doc(&format!(
            r#"{{"Effect":"Allow","Action":"rds-db:*","Resource":"{resource}"}}"#
        ));
        PolicyDocument::parse(&json).unwrap_or_else(|e| panic!("{resource}: {e}"));
    }
}

#[test]
fn whitespace_cannot_make_a_document_huge() {
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}}]{}}}"#,
        " ".repeat(gatehouse_iam::policy::MAX_DOCUMENT_BYTES)
    );
    let e = gatehouse_iam::policy::PolicyDocument::parse(&doc).unwrap_err();
    assert_eq!(e.path, "$");
    assert!(e.message.contains("131072"), "{e}");
}
