//! Replays the `policy_parse` fuzz seeds (`fuzz/seeds/policy_parse/`) and the inputs
//! under `tests/regressions/policy/` with the fuzz target's checks: no panic, and for a
//! document that parses, `evaluate` agrees with `Statement::applies_to`. Seeds named
//! `*errors*` must be refused, the others accepted.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use gatehouse_iam::policy::*;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    files.sort();
    files
}

fn contexts() -> Vec<RequestContext> {
    let db = "arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL";
    let mut login = RequestContext::new("rds-db:connect", format!("{db}/app_user"));
    login.set("aws:username", vec!["app_user".into()]);
    login.set("aws:SourceIp", vec!["10.1.2.3".into()]);
    login.set("aws:SecureTransport", vec!["true".into()]);
    login.set("aws:CurrentTime", vec!["2026-11-29T18:00:00Z".into()]);
    let mut odd = RequestContext::new("RDS-DB:Connect", format!("{db}/ünï*cödé?"));
    odd.set("aws:TagKeys", vec!["team".into(), "env".into()]);
    odd.set("aws:SourceIp", vec!["not an ip".into()]);
    odd.set("aws:username", vec!["a".into(), "b".into()]);
    vec![
        login,
        odd,
        RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k"),
    ]
}

fn check(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return false;
    };
    let Ok(doc) = PolicyDocument::parse(text) else {
        return false;
    };
    let policies = [AttachedPolicy {
        name: "p",
        document: &doc,
    }];
    for ctx in contexts() {
        let e = evaluate(&policies, &ctx);
        let first = |effect| {
            doc.statements()
                .iter()
                .position(|s| s.effect() == effect && s.applies_to(&ctx))
        };
        let expected = match (first(Effect::Deny), first(Effect::Allow)) {
            (Some(i), _) => (Decision::ExplicitDeny, Some(i)),
            (None, Some(i)) => (Decision::Allow, Some(i)),
            (None, None) => (Decision::ImplicitDeny, None),
        };
        let got = (e.decision, e.deciding.map(|s| s.index));
        assert_eq!(got, expected, "{}", path.display());
    }
    true
}

#[test]
fn fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/policy_parse");
    let seeds = files(&dir);
    assert!(seeds.len() >= 10, "{}", dir.display());
    for seed in seeds {
        let name = seed.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(check(&seed), !name.contains("errors"), "{name}");
    }
}

#[test]
fn regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/policy");
    for input in files(&dir) {
        check(&input);
    }
}
