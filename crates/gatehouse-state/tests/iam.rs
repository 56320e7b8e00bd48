//! The IAM identity store: users, groups, roles and access keys, with AWS's limits and
//! conflicts.

mod iam_common;

use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse_iam::directory::{KeyStatus, MasterKey, PrincipalKind};
use iam_common::*;

#[test]
fn account_ids_are_checked() {
    let s = store();
    for bad in ["", "12345678901", "12345678901x", "1234567890123"] {
        let err = s.iam(bad).expect_err(bad);
        assert_eq!(code(&err), "ValidationError");
        assert!(err.to_string().contains("account_id"), "{err}");
        let err = s.iam_directory(bad, &MasterKey::generate()).expect_err(bad);
        assert_eq!(code(&err), "ValidationError");
    }
}

#[test]
fn users() {
    let s = store();
    let i = iam(&s);
    let alice = i.create_user("alice", Some("/eng/db/")).expect("create");
    assert_eq!(alice.arn, "arn:aws:iam::123456789012:user/eng/db/alice");
    assert_eq!(alice.path, "/eng/db/");
    assert!(alice.user_id.starts_with("AIDA") && alice.user_id.len() == 21);
    let created = alice
        .created
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    assert!(now.as_secs() - created.as_secs() < 5);

    let bob = i.create_user("bob", None).expect("create");
    assert_eq!(bob.arn, "arn:aws:iam::123456789012:user/bob");
    assert_ne!(alice.user_id, bob.user_id);

    let err = i
        .create_user("ALICE", None)
        .expect_err("same name, other case");
    assert_eq!(code(&err), "EntityAlreadyExists");
    assert_eq!(
        err.to_string(),
        "EntityAlreadyExists: user alice already exists"
    );

    assert_eq!(i.get_user("Alice").expect("any case"), alice);
    let err = i.get_user("carol").expect_err("missing");
    assert_eq!(code(&err), "NoSuchEntity");
    assert_eq!(err.to_string(), "NoSuchEntity: user carol cannot be found");

    assert_eq!(i.list_users(None).expect("list"), vec![alice.clone(), bob]);
    assert_eq!(i.list_users(Some("/eng/")).expect("list"), vec![alice]);
    assert!(i.list_users(Some("/ops/")).expect("list").is_empty());

    let err = i.create_user("al ice", None).expect_err("space");
    assert_eq!(code(&err), "ValidationError");
    assert!(err.to_string().contains("UserName \"al ice\""), "{err}");
    let err = i.create_user(&"x".repeat(65), None).expect_err("65");
    assert!(err.to_string().contains("1 to 64"), "{err}");
    let err = i.create_user("carol", Some("eng/")).expect_err("path");
    assert!(err.to_string().contains("Path \"eng/\""), "{err}");

    let deleted = i.delete_user("BOB").expect("delete");
    assert_eq!(deleted.name, "bob");
    assert_eq!(
        code(&i.delete_user("bob").expect_err("gone")),
        "NoSuchEntity"
    );
    i.create_user("bob", None).expect("the name is free again");
}

#[test]
fn delete_user_conflicts_until_everything_is_gone() {
    let s = store();
    let i = iam(&s);
    let key = MasterKey::generate();
    i.create_user("alice", None).expect("user");
    i.create_group("dev", None).expect("group");
    let k = i.create_access_key("alice", &key).expect("key");
    i.put_inline_policy(PrincipalKind::User, "alice", "connect", ALLOW)
        .expect("inline");
    let p = i.create_policy("shared", None, ALLOW).expect("managed");
    i.attach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect("attach");
    i.add_user_to_group("dev", "alice").expect("member");

    let err = i.delete_user("alice").expect_err("conflict");
    assert_eq!(code(&err), "DeleteConflict");
    let text = err.to_string();
    for part in [
        "user alice",
        k.access_key_id.as_str(),
        "connect",
        p.arn.as_str(),
        "dev",
    ] {
        assert!(text.contains(part), "{part} missing in {text}");
    }

    i.delete_access_key(&k.access_key_id, None).expect("key");
    i.delete_inline_policy(PrincipalKind::User, "alice", "connect")
        .expect("inline");
    i.detach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect("detach");
    let err = i.delete_user("alice").expect_err("still in a group");
    assert!(
        err.to_string().contains("remove it from its groups (dev)"),
        "{err}"
    );
    i.remove_user_from_group("dev", "alice").expect("remove");
    i.delete_user("alice").expect("now it goes");
}

#[test]
fn access_keys() {
    let s = store();
    let i = iam(&s);
    let key = MasterKey::generate();
    i.create_user("alice", None).expect("user");
    i.create_user("bob", None).expect("user");
    let err = i
        .create_access_key("carol", &key)
        .expect_err("no such user");
    assert_eq!(code(&err), "NoSuchEntity");

    let k1 = i.create_access_key("alice", &key).expect("first");
    assert!(k1.access_key_id.starts_with("AKIA") && k1.access_key_id.len() == 20);
    assert_eq!(k1.secret().len(), 40);
    assert_eq!(k1.status, KeyStatus::Active);
    assert_eq!(k1.user_name, "alice");
    let k2 = i.create_access_key("ALICE", &key).expect("second");
    assert_eq!(k2.user_name, "alice", "stored under the user's own name");
    assert_ne!(k1.access_key_id, k2.access_key_id);
    assert_ne!(k1.secret(), k2.secret());

    // The quota counts inactive keys too.
    i.update_access_key(&k2.access_key_id, KeyStatus::Inactive, None)
        .expect("deactivate");
    let err = i.create_access_key("alice", &key).expect_err("third");
    assert_eq!(code(&err), "LimitExceeded");
    assert!(
        err.to_string()
            .contains("user alice: cannot exceed quota for AccessKeysPerUser: 2"),
        "{err}"
    );

    let listed = i.list_access_keys(Some("alice")).expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed
            .iter()
            .find(|k| k.access_key_id == k2.access_key_id)
            .map(|k| k.status),
        Some(KeyStatus::Inactive)
    );
    assert!(i.list_access_keys(Some("bob")).expect("none").is_empty());
    assert_eq!(i.list_access_keys(None).expect("all").len(), 2);
    assert_eq!(
        code(&i.list_access_keys(Some("carol")).expect_err("no user")),
        "NoSuchEntity"
    );

    // UserName, when given, must own the key.
    let err = i
        .update_access_key(&k1.access_key_id, KeyStatus::Inactive, Some("bob"))
        .expect_err("not bob's");
    assert_eq!(code(&err), "NoSuchEntity");
    let err = i
        .delete_access_key(&k1.access_key_id, Some("bob"))
        .expect_err("not bob's");
    assert_eq!(code(&err), "NoSuchEntity");
    let err = i
        .update_access_key("AKIAXXXXXXXXXXXXXXXX", KeyStatus::Active, None)
        .expect_err("no key");
    assert_eq!(
        err.to_string(),
        "NoSuchEntity: access key AKIAXXXXXXXXXXXXXXXX cannot be found"
    );

    let before = s.last_change_id().expect("id");
    let same = i
        .update_access_key(&k1.access_key_id, KeyStatus::Active, Some("alice"))
        .expect("same status");
    assert_eq!(same.status, KeyStatus::Active);
    assert!(actions(&s, before).is_empty(), "no change, no log");

    i.delete_access_key(&k1.access_key_id, Some("alice"))
        .expect("delete");
    i.create_access_key("alice", &key).expect("room again");

    // No change log entry holds a secret.
    for c in s.changes_since(0).expect("changes") {
        let text = c.detail.to_string();
        for secret in [k1.secret(), k2.secret()] {
            let secret = std::str::from_utf8(secret).expect("ascii");
            assert!(!text.contains(secret), "{c:?}");
        }
    }
}

#[test]
fn groups_and_membership() {
    let s = store();
    let i = iam(&s);
    i.create_user("alice", None).expect("user");
    let g = i.create_group("dev", Some("/teams/")).expect("group");
    assert_eq!(g.arn, "arn:aws:iam::123456789012:group/teams/dev");
    assert!(g.group_id.starts_with("AGPA"));
    assert_eq!(
        code(&i.create_group("DEV", None).expect_err("dup")),
        "EntityAlreadyExists"
    );
    i.create_group(&"g".repeat(128), None)
        .expect("group names go to 128");

    assert_eq!(
        code(&i.add_user_to_group("nope", "alice").expect_err("group")),
        "NoSuchEntity"
    );
    assert_eq!(
        code(&i.add_user_to_group("dev", "nope").expect_err("user")),
        "NoSuchEntity"
    );
    i.add_user_to_group("dev", "alice").expect("add");
    let before = s.last_change_id().expect("id");
    i.add_user_to_group("Dev", "Alice").expect("again: no-op");
    assert!(actions(&s, before).is_empty());

    let (group, users) = i.get_group("dev").expect("get");
    assert_eq!(group, g);
    assert_eq!(
        users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        vec!["alice"]
    );
    assert_eq!(
        i.list_groups_for_user("alice").expect("groups"),
        vec![g.clone()]
    );
    assert_eq!(
        i.list_groups(Some("/teams/")).expect("list"),
        vec![g.clone()]
    );
    assert_eq!(i.list_groups(None).expect("list").len(), 2);

    let err = i.delete_group("dev").expect_err("has a member");
    assert_eq!(code(&err), "DeleteConflict");
    assert!(
        err.to_string().contains("remove its users (alice)"),
        "{err}"
    );

    i.remove_user_from_group("dev", "alice").expect("remove");
    let err = i
        .remove_user_from_group("dev", "alice")
        .expect_err("not a member");
    assert_eq!(code(&err), "NoSuchEntity");
    i.put_inline_policy(PrincipalKind::Group, "dev", "p", ALLOW)
        .expect("policy");
    assert_eq!(
        code(&i.delete_group("dev").expect_err("has a policy")),
        "DeleteConflict"
    );
    i.delete_inline_policy(PrincipalKind::Group, "dev", "p")
        .expect("delete policy");
    i.delete_group("dev").expect("delete");
}

#[test]
fn groups_per_user_quota() {
    let s = store();
    let i = iam(&s);
    i.create_user("alice", None).expect("user");
    for n in 0..=gatehouse_state::MAX_GROUPS_PER_USER {
        i.create_group(&format!("g{n}"), None).expect("group");
    }
    for n in 0..gatehouse_state::MAX_GROUPS_PER_USER {
        i.add_user_to_group(&format!("g{n}"), "alice")
            .expect("member");
    }
    let err = i.add_user_to_group("g10", "alice").expect_err("11th");
    assert_eq!(code(&err), "LimitExceeded");
    assert!(err.to_string().contains("GroupsPerUser: 10"), "{err}");
}

#[test]
fn roles() {
    let s = store();
    let i = iam(&s);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let r = i
        .create_role("app", Some("/service/"), Some(trust))
        .expect("role");
    assert_eq!(r.arn, "arn:aws:iam::123456789012:role/service/app");
    assert!(r.role_id.starts_with("AROA"));
    assert_eq!(
        r.assume_role_policy.as_ref().map(|d| d.source()),
        Some(trust)
    );
    let plain = i.create_role("batch", None, None).expect("no trust policy");
    assert_eq!(plain.assume_role_policy, None);
    assert_eq!(i.get_role("APP").expect("get"), r);
    assert_eq!(i.list_roles(None).expect("list").len(), 2);
    assert_eq!(
        i.list_roles(Some("/service/")).expect("list"),
        vec![r.clone()]
    );
    assert_eq!(
        code(&i.create_role("App", None, None).expect_err("dup")),
        "EntityAlreadyExists"
    );
    let err = i
        .create_role("broken", None, Some("{\"Version\":"))
        .expect_err("bad trust policy");
    assert_eq!(code(&err), "MalformedPolicyDocument");
    assert!(
        err.to_string().contains("trust policy of role broken"),
        "{err}"
    );
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Principal":{{"Service":"ec2.amazonaws.com"}},"Action":"sts:AssumeRole"}}]}}"#,
        "s".repeat(2048)
    );
    assert_eq!(
        code(&i.create_role("big", None, Some(&big)).expect_err("too big")),
        "LimitExceeded"
    );
    assert_eq!(
        code(&i.get_role("big").expect_err("not created")),
        "NoSuchEntity"
    );

    let p = i.create_policy("shared", None, ALLOW).expect("policy");
    i.attach_policy(PrincipalKind::Role, "app", &p.arn)
        .expect("attach");
    let err = i.delete_role("app").expect_err("attached");
    assert_eq!(code(&err), "DeleteConflict");
    i.detach_policy(PrincipalKind::Role, "app", &p.arn)
        .expect("detach");
    assert_eq!(i.delete_role("app").expect("delete").name, "app");
}
