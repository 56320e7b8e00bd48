use std::time::SystemTime;

use super::*;
use crate::policy::PolicyDocument;

const ACCOUNT: &str = "123456789012";

fn doc(tag: &str) -> PolicyDocument {
    PolicyDocument::parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/{tag}"}}]}}"#
    ))
    .expect("document")
}

fn user(name: &str, path: &str) -> User {
    User {
        name: name.into(),
        user_id: names::generate_unique_id(names::IdPrefix::User),
        arn: names::arn(ACCOUNT, "user", path, name),
        path: path.into(),
        created: SystemTime::UNIX_EPOCH,
    }
}

fn group(name: &str) -> Group {
    Group {
        name: name.into(),
        group_id: names::generate_unique_id(names::IdPrefix::Group),
        arn: names::arn(ACCOUNT, "group", "/", name),
        path: "/".into(),
        created: SystemTime::UNIX_EPOCH,
    }
}

fn role(name: &str) -> Role {
    Role {
        name: name.into(),
        role_id: names::generate_unique_id(names::IdPrefix::Role),
        arn: names::arn(ACCOUNT, "role", "/", name),
        path: "/".into(),
        created: SystemTime::UNIX_EPOCH,
        assume_role_policy: None,
    }
}

fn managed(name: &str) -> ManagedPolicy {
    ManagedPolicy {
        name: name.into(),
        policy_id: names::generate_unique_id(names::IdPrefix::Policy),
        arn: names::arn(ACCOUNT, "policy", "/", name),
        path: "/".into(),
        document: doc(name),
        created: SystemTime::UNIX_EPOCH,
    }
}

fn inline(name: &str) -> InlinePolicy {
    InlinePolicy {
        name: name.into(),
        document: doc(name),
    }
}

fn key(id: &str, user: &str) -> AccessKey {
    AccessKey::new(
        AccessKeyMetadata {
            access_key_id: id.into(),
            user_name: user.into(),
            status: KeyStatus::Active,
            created: SystemTime::UNIX_EPOCH,
            last_used: None,
        },
        names::generate_secret(),
    )
}

/// alice (in groups dev and ops, which is added first), bob (no group), role app.
fn sample() -> Directory {
    let mut d = Directory::new(ACCOUNT);
    d.add_user(user("alice", "/eng/")).expect("alice");
    d.add_user(user("bob", "/")).expect("bob");
    d.add_group(group("ops")).expect("ops");
    d.add_group(group("dev")).expect("dev");
    d.add_role(role("app")).expect("app");
    for p in ["shared", "ops-managed", "role-managed"] {
        d.add_managed_policy(managed(p)).expect(p);
    }
    d.add_user_to_group("alice", "ops").expect("member");
    d.add_user_to_group("Alice", "DEV")
        .expect("member, any case");
    d.add_user_to_group("alice", "dev")
        .expect("twice is a no-op");
    d.add_inline_policy(PrincipalKind::User, "alice", inline("z-own"))
        .expect("inline");
    d.add_inline_policy(PrincipalKind::User, "alice", inline("a-own"))
        .expect("inline");
    d.attach_policy(
        PrincipalKind::User,
        "alice",
        &names::arn(ACCOUNT, "policy", "/", "shared"),
    )
    .expect("attach");
    d.add_inline_policy(PrincipalKind::Group, "ops", inline("ops-inline"))
        .expect("group inline");
    d.attach_policy(
        PrincipalKind::Group,
        "ops",
        &names::arn(ACCOUNT, "policy", "/", "ops-managed"),
    )
    .expect("group attach");
    d.add_inline_policy(PrincipalKind::Group, "dev", inline("dev-inline"))
        .expect("group inline");
    d.add_inline_policy(PrincipalKind::Role, "app", inline("role-inline"))
        .expect("role inline");
    d.attach_policy(
        PrincipalKind::Role,
        "app",
        &names::arn(ACCOUNT, "policy", "/", "role-managed"),
    )
    .expect("role attach");
    d.add_access_key(key("AKIAAAAAAAAAAAAAAAAA", "alice"))
        .expect("key");
    d
}

fn names_of(policies: &[AttachedPolicy<'_>]) -> Vec<String> {
    policies.iter().map(|p| p.name.to_owned()).collect()
}

#[test]
fn policies_for_user_in_order() {
    let d = sample();
    assert_eq!(
        names_of(&d.policies_for_user("alice")),
        vec![
            "a-own".to_owned(),
            "z-own".to_owned(),
            "arn:aws:iam::123456789012:policy/shared".to_owned(),
            "dev-inline".to_owned(),
            "ops-inline".to_owned(),
            "arn:aws:iam::123456789012:policy/ops-managed".to_owned(),
        ]
    );
    // The documents are the ones stored under those names.
    for p in d.policies_for_user("alice") {
        let tag = p.name.rsplit('/').next().expect("name");
        assert!(p.document.source().contains(tag), "{}", p.name);
    }
    assert_eq!(d.policies_for_user("ALICE").len(), 6, "names ignore case");
    assert!(d.policies_for_user("bob").is_empty());
    assert!(d.policies_for_user("nobody").is_empty());
    assert_eq!(
        names_of(&d.policies_for_role("app")),
        vec![
            "role-inline".to_owned(),
            "arn:aws:iam::123456789012:policy/role-managed".to_owned()
        ]
    );
    assert!(
        d.policies_for_role("alice").is_empty(),
        "a user is not a role"
    );
    assert_eq!(names_of(&d.policies_for_group("dev")), vec!["dev-inline"]);
}

#[test]
fn lookups() {
    let d = sample();
    assert_eq!(d.account_id(), ACCOUNT);
    assert_eq!(d.user("ALICE").map(|u| u.name.as_str()), Some("alice"));
    assert_eq!(
        d.user("alice").map(|u| u.arn.as_str()),
        Some("arn:aws:iam::123456789012:user/eng/alice")
    );
    assert!(d.user("app").is_none());
    assert!(d.role("app").is_some());
    let k = d.access_key("AKIAAAAAAAAAAAAAAAAA").expect("key");
    assert_eq!(k.user_name, "alice");
    assert!(
        d.access_key("akiaaaaaaaaaaaaaaaaa").is_none(),
        "key ids are exact"
    );
    assert_eq!(
        d.groups_for_user("alice")
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        vec!["dev", "ops"]
    );
    assert_eq!(d.users().count(), 2);
    assert_eq!(d.access_keys().count(), 1);
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::123456789012:user/eng/alice"),
        Some((PrincipalKind::User, "alice"))
    );
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::123456789012:user/alice"),
        None,
        "wrong path"
    );
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::123456789012:role/app"),
        Some((PrincipalKind::Role, "app"))
    );
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::123456789012:group/ops"),
        Some((PrincipalKind::Group, "ops"))
    );
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::999999999999:role/app"),
        None
    );
    assert_eq!(
        d.principal_by_arn("arn:aws:iam::123456789012:policy/shared"),
        None
    );
}

#[test]
fn dangling_references_are_refused() {
    let mut d = sample();
    let err = d
        .add_access_key(key("AKIABBBBBBBBBBBBBBBB", "carol"))
        .expect_err("no such user");
    assert_eq!(
        err.to_string(),
        "access key AKIABBBBBBBBBBBBBBBB: user carol is not in the directory"
    );
    d.attach_policy(
        PrincipalKind::User,
        "bob",
        "arn:aws:iam::123456789012:policy/nope",
    )
    .expect_err("no such policy");
    d.attach_policy(
        PrincipalKind::Role,
        "bob",
        "arn:aws:iam::123456789012:policy/shared",
    )
    .expect_err("bob is not a role");
    d.add_user_to_group("bob", "nope")
        .expect_err("no such group");
    d.add_inline_policy(PrincipalKind::Group, "nope", inline("x"))
        .expect_err("no such group");
    assert!(d.policies_for_user("bob").is_empty(), "nothing half-added");
}

#[test]
fn duplicates_are_refused() {
    let mut d = sample();
    let err = d.add_user(user("ALICE", "/")).expect_err("same name");
    assert_eq!(err.to_string(), "user ALICE is already in the directory");
    d.add_group(group("Ops")).expect_err("same group");
    d.add_role(role("APP")).expect_err("same role");
    d.add_managed_policy(managed("shared"))
        .expect_err("same arn");
    d.add_access_key(key("AKIAAAAAAAAAAAAAAAAA", "bob"))
        .expect_err("same key id");
    d.add_inline_policy(PrincipalKind::User, "alice", inline("A-OWN"))
        .expect_err("same inline name");
    // Another principal may use the same inline name.
    d.add_inline_policy(PrincipalKind::User, "bob", inline("a-own"))
        .expect("bob's own");
}

#[test]
fn shareable_and_quiet() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Directory>();
    let d = sample();
    let secret = String::from_utf8(
        d.access_key("AKIAAAAAAAAAAAAAAAAA")
            .expect("key")
            .secret()
            .to_vec(),
    )
    .expect("ascii");
    let shown = format!("{d:?}");
    assert!(
        !shown.contains(&secret),
        "Debug of the directory shows a secret"
    );
    assert!(shown.contains("AKIAAAAAAAAAAAAAAAAA"));
    let empty = Directory::new(ACCOUNT);
    assert!(empty.user("alice").is_none());
    assert!(empty.access_key("AKIAAAAAAAAAAAAAAAAA").is_none());
}
