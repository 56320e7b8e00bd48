//! Arbitrary bytes as an IAM policy document. Text that parses is evaluated against a
//! few fixed requests (an RDS login with the usual context keys, one with multi-valued
//! and odd keys, one with no keys at all).
//!
//! Besides "never panics", checks on every document that parses: it keeps its source,
//! has at least one statement, parses again to the same document, and `evaluate`
//! agrees with `Statement::applies_to` — the first applying Deny decides, else the
//! first applying Allow, else an implicit deny.
#![no_main]

use gatehouse_iam::policy::*;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const DB: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL";

fn contexts() -> &'static [RequestContext] {
    static CONTEXTS: OnceLock<Vec<RequestContext>> = OnceLock::new();
    CONTEXTS.get_or_init(|| {
        let mut login = RequestContext::new("rds-db:connect", format!("{DB}/app_user"));
        for (key, value) in [
            ("aws:username", "app_user"),
            ("aws:userid", "AIDAEXAMPLE"),
            ("aws:PrincipalType", "User"),
            ("aws:SourceIp", "10.1.2.3"),
            ("aws:SecureTransport", "true"),
            ("aws:CurrentTime", "2026-11-29T18:00:00Z"),
            (
                "aws:PrincipalArn",
                "arn:aws:iam::123456789012:user/app_user",
            ),
        ] {
            login.set(key, vec![value.to_owned()]);
        }
        let mut odd = RequestContext::new("RDS-DB:Connect", format!("{DB}/ünï*cödé?"));
        odd.set("aws:TagKeys", vec!["team".into(), "env".into(), "".into()]);
        odd.set(
            "aws:SourceIp",
            vec!["::ffff:10.0.0.1".into(), "not an ip".into()],
        );
        odd.set("aws:username", vec!["a".into(), "b".into()]);
        odd.set("aws:CurrentTime", vec!["1795975200".into()]);
        odd.set("k", vec![]);
        let bare = RequestContext::new("s3:GetObject", "arn:aws:s3:::bucket/key");
        vec![login, odd, bare]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = PolicyDocument::parse(text) else {
        return;
    };
    assert_eq!(doc.source(), text);
    assert!(!doc.statements().is_empty());
    assert_eq!(PolicyDocument::parse(text).as_ref(), Ok(&doc));
    let policies = [
        AttachedPolicy {
            name: "a",
            document: &doc,
        },
        AttachedPolicy {
            name: "b",
            document: &doc,
        },
    ];
    for ctx in contexts() {
        let e = evaluate(&policies, ctx);
        let first = |effect| {
            doc.statements()
                .iter()
                .position(|s| s.effect() == effect && s.applies_to(ctx))
        };
        let expected = match (first(Effect::Deny), first(Effect::Allow)) {
            (Some(i), _) => (Decision::ExplicitDeny, Some(i)),
            (None, Some(i)) => (Decision::Allow, Some(i)),
            (None, None) => (Decision::ImplicitDeny, None),
        };
        assert_eq!((e.decision, e.deciding.as_ref().map(|s| s.index)), expected);
        if let Some(s) = &e.deciding {
            // The same document attached twice: the first copy always decides.
            assert_eq!(s.policy, "a");
            assert_eq!(s.sid.as_deref(), doc.statements()[s.index].sid());
        }
    }
});
