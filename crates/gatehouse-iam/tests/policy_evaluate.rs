//! Evaluation: Deny beats Allow, which statement decides, Action/Resource wildcards,
//! NotAction/NotResource, policy variables in resources, and the RDS policies the
//! gateway meets in practice.
#![allow(clippy::unwrap_used)]

use gatehouse_iam::policy::*;

const DB: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL";

fn parse(json: &str) -> PolicyDocument {
    PolicyDocument::parse(json).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

fn statements(items: &str) -> PolicyDocument {
    parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{items}]}}"#
    ))
}

fn connect(user: &str) -> RequestContext {
    RequestContext::new("rds-db:connect", format!("{DB}/{user}"))
}

fn decide(docs: &[&PolicyDocument], ctx: &RequestContext) -> Evaluation {
    let names = ["first", "second", "third", "fourth"];
    let policies: Vec<AttachedPolicy<'_>> = docs
        .iter()
        .zip(names)
        .map(|(document, name)| AttachedPolicy { name, document })
        .collect();
    evaluate(&policies, ctx)
}

fn deciding(e: &Evaluation) -> Option<(String, usize, Option<String>)> {
    e.deciding
        .as_ref()
        .map(|s| (s.policy.clone(), s.index, s.sid.clone()))
}

#[test]
fn deny_beats_allow_and_the_first_of_each_decides() {
    let allow_all = statements(
        r#"{"Sid":"Nothing","Effect":"Allow","Action":"s3:*","Resource":"*"},
           {"Sid":"All","Effect":"Allow","Action":"rds-db:*","Resource":"*"},
           {"Sid":"Again","Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    let deny = statements(
        r#"{"Sid":"OtherUser","Effect":"Deny","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*/other"},
           {"Sid":"NoAdmin","Effect":"Deny","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*/admin"},
           {"Effect":"Deny","Action":"*","Resource":"arn:aws:rds-db:*/admin"}"#,
    );
    let ctx = connect("app_user");
    let e = decide(&[&allow_all, &deny], &ctx);
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(deciding(&e), Some(("first".into(), 1, Some("All".into()))));

    // The Deny wins whatever the order of the policies.
    let admin = connect("admin");
    for docs in [[&allow_all, &deny], [&deny, &allow_all]] {
        let e = decide(&docs, &admin);
        assert_eq!(e.decision, Decision::ExplicitDeny);
        let policy = if std::ptr::eq(docs[0], &deny) {
            "first"
        } else {
            "second"
        };
        assert_eq!(
            deciding(&e),
            Some((policy.into(), 1, Some("NoAdmin".into())))
        );
        assert_eq!(
            e.deciding.unwrap().to_string(),
            format!("{policy} statement 1 (Sid NoAdmin)")
        );
    }

    // Nothing matches: implicit deny, no statement.
    let e = decide(&[&deny], &ctx);
    assert_eq!(
        e,
        Evaluation {
            decision: Decision::ImplicitDeny,
            deciding: None
        }
    );
    let e = decide(&[], &ctx);
    assert_eq!(e.decision, Decision::ImplicitDeny);

    // A statement without Sid is named by its index only.
    let e = decide(
        &[&statements(
            r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
        )],
        &ctx,
    );
    assert_eq!(e.deciding.unwrap().to_string(), "first statement 0");
}

#[test]
fn a_deny_whose_condition_fails_does_not_apply() {
    let doc = statements(
        r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"},
           {"Effect":"Deny","Action":"rds-db:connect","Resource":"*",
            "Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
    );
    let mut ctx = connect("u");
    ctx.set("aws:SourceIp", vec!["10.1.1.1".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
    ctx.set("aws:SourceIp", vec!["192.0.2.1".into()]);
    let e = decide(&[&doc], &ctx);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(deciding(&e), Some(("first".into(), 1, None)));
}

#[test]
fn action_matching_is_case_insensitive_with_wildcards() {
    let cases = [
        ("rds-db:connect", true),
        ("RDS-DB:Connect", true),
        ("rds-db:*", true),
        ("rds-db:conn?ct", true),
        ("rds-db:c*t", true),
        ("*", true),
        ("*:connect", true),
        ("rds-db:disconnect", false),
        ("rds-db:connect?", false),
        ("rds:connect", false),
        ("rds-db:conn", false),
    ];
    for (action, want) in cases {
        let doc = statements(&format!(
            r#"{{"Effect":"Allow","Action":"{action}","Resource":"*"}}"#
        ));
        let got = decide(&[&doc], &connect("u")).decision == Decision::Allow;
        assert_eq!(got, want, "{action}");
    }
}

#[test]
fn resource_matching_is_case_sensitive_with_wildcards() {
    let cases = [
        (
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/app_user",
            true,
        ),
        (
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/App_User",
            false,
        ),
        (
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-abcdefghijkl/app_user",
            false,
        ),
        (
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/*",
            true,
        ),
        ("arn:aws:rds-db:*:123456789012:dbuser:*/app_user", true),
        (
            "arn:aws:rds-db:us-east-?:123456789012:dbuser:*/app_use?",
            true,
        ),
        (
            "arn:aws:rds-db:us-west-2:123456789012:dbuser:*/app_user",
            false,
        ),
        ("arn:aws:rds-db:us-east-1:123456789012:dbuser:*/app", false),
        ("arn:aws:rds-db:us-east-1:210987654321:dbuser:*", false),
        // A `*` spans colons: the whole ARN is one glob.
        ("arn:aws:rds-db:us-east-1:*", true),
        ("arn:aws:rds-db:*/app_user", true),
        ("*", true),
    ];
    for (resource, want) in cases {
        let doc = statements(&format!(
            r#"{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{resource}"}}"#
        ));
        let got = decide(&[&doc], &connect("app_user")).decision == Decision::Allow;
        assert_eq!(got, want, "{resource}");
    }
}

#[test]
fn not_action_and_not_resource() {
    let doc = statements(r#"{"Effect":"Allow","NotAction":["s3:*","iam:*"],"Resource":"*"}"#);
    assert_eq!(decide(&[&doc], &connect("u")).decision, Decision::Allow);
    let mut s3 = connect("u");
    s3.action = "S3:GetObject".into();
    assert_eq!(decide(&[&doc], &s3).decision, Decision::ImplicitDeny);

    // Deny everything except one user's resource.
    let doc = statements(&format!(
        r#"{{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}},
           {{"Effect":"Deny","Action":"rds-db:connect","NotResource":["{DB}/app_user","{DB}/ro_*"]}}"#
    ));
    assert_eq!(
        decide(&[&doc], &connect("app_user")).decision,
        Decision::Allow
    );
    assert_eq!(decide(&[&doc], &connect("ro_1")).decision, Decision::Allow);
    assert_eq!(
        decide(&[&doc], &connect("admin")).decision,
        Decision::ExplicitDeny
    );

    // NotAction in a Deny: deny everything but connecting.
    let doc = statements(
        r#"{"Effect":"Allow","Action":"*","Resource":"*"},
           {"Effect":"Deny","NotAction":"rds-db:connect","Resource":"*"}"#,
    );
    assert_eq!(decide(&[&doc], &connect("u")).decision, Decision::Allow);
    assert_eq!(decide(&[&doc], &s3).decision, Decision::ExplicitDeny);
}

#[test]
fn variables_in_resources() {
    let doc = statements(
        r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:*/${aws:username}"}"#,
    );
    let mut ctx = connect("alice");
    assert_eq!(
        decide(&[&doc], &ctx).decision,
        Decision::ImplicitDeny,
        "no aws:username"
    );
    ctx.set("aws:username", vec!["alice".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
    ctx.set("AWS:UserName", vec!["bob".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);
    // A variable with several values does not resolve.
    ctx.set("aws:username", vec!["alice".into(), "bob".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);

    // Defaults, and other context keys.
    let doc = statements(&format!(
        r#"{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{DB}/${{aws:PrincipalTag/dbuser, 'readonly'}}"}},
           {{"Effect":"Allow","Action":"rds-db:connect","Resource":"{DB}/${{aws:userid}}_${{aws:PrincipalType}}"}}"#
    ));
    assert_eq!(
        decide(&[&doc], &connect("readonly")).decision,
        Decision::Allow
    );
    let mut ctx = connect("writer");
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);
    ctx.set("aws:PrincipalTag/dbuser", vec!["writer".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
    let mut ctx = connect("AIDAEXAMPLE_User");
    ctx.set("aws:userid", vec!["AIDAEXAMPLE".into()]);
    ctx.set("aws:PrincipalType", vec!["User".into()]);
    let e = decide(&[&doc], &ctx);
    assert_eq!(deciding(&e), Some(("first".into(), 1, None)));

    // Escapes in a resource: `${*}` is a literal star.
    let doc = statements(&format!(
        r#"{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{DB}/star${{*}}"}}"#
    ));
    assert_eq!(decide(&[&doc], &connect("star*")).decision, Decision::Allow);
    assert_eq!(
        decide(&[&doc], &connect("starry")).decision,
        Decision::ImplicitDeny
    );

    // In a 2008-10-17 document the text is literal.
    let doc = parse(&format!(
        r#"{{"Version":"2008-10-17","Statement":{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{DB}/${{aws:username}}"}}}}"#
    ));
    let mut ctx = connect("alice");
    ctx.set("aws:username", vec!["alice".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);
    let ctx = connect("${aws:username}");
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
}

#[test]
fn an_unresolved_variable_never_widens_a_statement() {
    // NotResource with an unresolved variable: the Deny does not apply either way, and
    // an Allow with it does not apply.
    let doc = statements(&format!(
        r#"{{"Effect":"Allow","Action":"rds-db:connect","NotResource":"{DB}/${{aws:username}}"}}"#
    ));
    assert_eq!(
        decide(&[&doc], &connect("anyone")).decision,
        Decision::ImplicitDeny
    );
    let mut ctx = connect("anyone");
    ctx.set("aws:username", vec!["alice".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
    assert_eq!(
        decide(&[&doc], &connect("alice")).decision,
        Decision::ImplicitDeny
    );
}

#[test]
fn rds_exact_resource() {
    let doc = parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{DB}/app_user"}}]}}"#
    ));
    assert_eq!(
        decide(&[&doc], &connect("app_user")).decision,
        Decision::Allow
    );
    assert_eq!(
        decide(&[&doc], &connect("app_user2")).decision,
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&[&doc], &connect("admin")).decision,
        Decision::ImplicitDeny
    );
    let mut other_action = connect("app_user");
    other_action.action = "rds:DescribeDBInstances".into();
    assert_eq!(
        decide(&[&doc], &other_action).decision,
        Decision::ImplicitDeny
    );
}

#[test]
fn rds_own_user_only_from_the_office_over_tls_until_a_date() {
    let doc = parse(
        r#"{
          "Version": "2012-10-17",
          "Statement": [
            {
              "Sid": "ConnectAsSelf",
              "Effect": "Allow",
              "Action": "rds-db:connect",
              "Resource": "arn:aws:rds-db:us-east-1:123456789012:dbuser:*/${aws:username}",
              "Condition": {
                "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
                "DateLessThan": {"aws:CurrentTime": "2026-12-31T23:59:59Z"}
              }
            },
            {
              "Sid": "TlsOnly",
              "Effect": "Deny",
              "Action": "rds-db:connect",
              "Resource": "*",
              "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}
            }
          ]
        }"#,
    );
    let login = |ip: &str, tls: Option<&str>, now: &str| {
        let mut ctx = connect("alice");
        ctx.set("aws:username", vec!["alice".into()]);
        ctx.set("aws:SourceIp", vec![ip.into()]);
        ctx.set("aws:CurrentTime", vec![now.into()]);
        if let Some(tls) = tls {
            ctx.set("aws:SecureTransport", vec![tls.into()]);
        }
        let e = decide(&[&doc], &ctx);
        (e.decision, e.deciding.and_then(|s| s.sid))
    };
    let now = "2026-11-29T18:00:00Z";
    assert_eq!(
        login("10.2.3.4", Some("true"), now),
        (Decision::Allow, Some("ConnectAsSelf".into()))
    );
    assert_eq!(login("2001:db8::7", Some("true"), now).0, Decision::Allow);
    assert_eq!(
        login("192.0.2.10", Some("true"), now),
        (Decision::ImplicitDeny, None)
    );
    assert_eq!(
        login("10.2.3.4", Some("false"), now),
        (Decision::ExplicitDeny, Some("TlsOnly".into()))
    );
    // BoolIfExists: a request without the key is treated as matching, so it is denied.
    assert_eq!(login("10.2.3.4", None, now).0, Decision::ExplicitDeny);
    assert_eq!(
        login("10.2.3.4", Some("true"), "2027-01-01T00:00:00Z").0,
        Decision::ImplicitDeny
    );
    assert_eq!(
        login("10.2.3.4", Some("true"), "not a time").0,
        Decision::ImplicitDeny
    );
}

#[test]
fn rds_secure_transport_with_plain_bool() {
    // With plain Bool (no IfExists) a missing aws:SecureTransport does not trigger the
    // Deny — why AWS's examples use BoolIfExists or an Allow with Bool "true".
    let doc = statements(
        r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}"#,
    );
    let mut ctx = connect("u");
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);
    ctx.set("aws:SecureTransport", vec!["true".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::Allow);
    ctx.set("aws:SecureTransport", vec!["false".into()]);
    assert_eq!(decide(&[&doc], &ctx).decision, Decision::ImplicitDeny);
}

#[test]
fn statement_applies_to_is_public() {
    let doc = statements(
        r#"{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"},
           {"Effect":"Deny","Action":"s3:*","Resource":"*"}"#,
    );
    let ctx = connect("u");
    let applies: Vec<bool> = doc
        .statements()
        .iter()
        .map(|s| s.applies_to(&ctx))
        .collect();
    assert_eq!(applies, [true, false]);
}
