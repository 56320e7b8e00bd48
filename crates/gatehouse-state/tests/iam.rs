//! The IAM identity store: every operation, AWS's limits and conflicts, the change log,
//! and the directory the gateway reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_iam::directory::{KeyStatus, MasterKey, PrincipalKind};
use gatehouse_state::{ChangeAction, IamStore, StateError, StateStore};

const ACCOUNT: &str = "123456789012";
const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Connect","Effect":"Allow","Action":"rds-db:connect","Resource":"*"}]}"#;

fn store() -> StateStore {
    StateStore::open_in_memory().expect("in-memory store")
}

fn iam(s: &StateStore) -> IamStore<'_> {
    s.iam(ACCOUNT).expect("account")
}

fn code(e: &StateError) -> &'static str {
    e.code().unwrap_or("none")
}

fn actions(s: &StateStore, since: i64) -> Vec<ChangeAction> {
    s.changes_since(since)
        .expect("changes")
        .into_iter()
        .map(|c| c.action)
        .collect()
}

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

#[test]
fn inline_policies() {
    let s = store();
    let i = iam(&s);
    i.create_user("alice", None).expect("user");
    i.create_role("app", None, None).expect("role");

    let p = i
        .put_inline_policy(PrincipalKind::User, "alice", "connect", ALLOW)
        .expect("put");
    assert_eq!(p.document.source(), ALLOW);
    let replacement = ALLOW.replace("Connect", "Replaced");
    i.put_inline_policy(PrincipalKind::User, "Alice", "CONNECT", &replacement)
        .expect("replace, any case");
    let listed = i
        .list_inline_policies(PrincipalKind::User, "alice")
        .expect("list");
    assert_eq!(listed.len(), 1, "replaced, not added");
    assert_eq!(listed[0].name, "connect", "the first name stays");
    assert_eq!(listed[0].document.source(), replacement);
    assert_eq!(
        i.get_inline_policy(PrincipalKind::User, "alice", "connect")
            .expect("get")
            .document
            .source(),
        replacement
    );
    i.put_inline_policy(PrincipalKind::Role, "app", "connect", ALLOW)
        .expect("the same name on a role");
    assert_eq!(
        i.list_inline_policies(PrincipalKind::Role, "app")
            .expect("list")
            .len(),
        1
    );

    let err = i
        .put_inline_policy(PrincipalKind::User, "carol", "p", ALLOW)
        .expect_err("no user");
    assert_eq!(code(&err), "NoSuchEntity");
    let err = i
        .put_inline_policy(PrincipalKind::Group, "alice", "p", ALLOW)
        .expect_err("alice is not a group");
    assert_eq!(err.to_string(), "NoSuchEntity: group alice cannot be found");
    let err = i
        .put_inline_policy(PrincipalKind::User, "alice", "bad name", ALLOW)
        .expect_err("name");
    assert!(err.to_string().contains("PolicyName \"bad name\""), "{err}");
    let err = i
        .put_inline_policy(
            PrincipalKind::User,
            "alice",
            "p",
            "{\"Version\": \"2012-10-17\",",
        )
        .expect_err("broken JSON");
    assert_eq!(code(&err), "MalformedPolicyDocument");
    assert!(
        err.to_string()
            .starts_with("MalformedPolicyDocument: inline policy p of user alice: $"),
        "{err}"
    );

    // The user's inline policies together stay under 2,048 characters (white space not
    // counted).
    let padded = |n: usize| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"rds-db:connect","Resource":"*"}}]}}"#,
            "s".repeat(n)
        )
    };
    let base = padded(0).len();
    i.put_inline_policy(PrincipalKind::User, "alice", "big", &padded(1000))
        .expect("fits");
    let room = 2048 - replacement.len() - (base + 1000);
    let spaced = padded(room - base).replace(',', " ,\n  ");
    i.put_inline_policy(PrincipalKind::User, "alice", "fill", &spaced)
        .expect("exactly at the quota, white space free");
    let err = i
        .put_inline_policy(PrincipalKind::User, "alice", "more", &padded(0))
        .expect_err("over");
    assert_eq!(code(&err), "LimitExceeded");
    assert!(err.to_string().contains("UserPolicySize: 2048"), "{err}");
    // Replacing counts the new document instead of the old one.
    i.put_inline_policy(PrincipalKind::User, "alice", "big", &padded(900))
        .expect("smaller replacement");
    // A role has 10,240.
    i.put_inline_policy(PrincipalKind::Role, "app", "big", &padded(5000))
        .expect("roles have more room");

    let err = i
        .get_inline_policy(PrincipalKind::User, "alice", "nope")
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "NoSuchEntity: user policy nope of user alice cannot be found"
    );
    let deleted = i
        .delete_inline_policy(PrincipalKind::User, "alice", "Connect")
        .expect("delete, any case");
    assert_eq!(deleted.name, "connect");
    assert_eq!(
        code(
            &i.delete_inline_policy(PrincipalKind::User, "alice", "connect")
                .expect_err("gone")
        ),
        "NoSuchEntity"
    );
}

#[test]
fn managed_policies_and_attachments() {
    let s = store();
    let i = iam(&s);
    i.create_user("alice", None).expect("user");
    i.create_group("dev", None).expect("group");
    let p = i
        .create_policy("db-connect", Some("/rds/"), ALLOW)
        .expect("create");
    assert_eq!(p.arn, "arn:aws:iam::123456789012:policy/rds/db-connect");
    assert!(p.policy_id.starts_with("ANPA"));
    let err = i
        .create_policy("DB-CONNECT", None, ALLOW)
        .expect_err("names are unique, any path");
    assert_eq!(code(&err), "EntityAlreadyExists");
    assert!(err.to_string().contains(&p.arn), "{err}");
    assert_eq!(
        code(&i.create_policy("bad", None, "not json").expect_err("json")),
        "MalformedPolicyDocument"
    );
    let huge = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"rds-db:connect","Resource":"*"}}]}}"#,
        "s".repeat(6144)
    );
    assert_eq!(
        code(&i.create_policy("huge", None, &huge).expect_err("size")),
        "LimitExceeded"
    );

    let err = i
        .attach_policy(
            PrincipalKind::User,
            "alice",
            "arn:aws:iam::123456789012:policy/nope",
        )
        .expect_err("no policy");
    assert_eq!(code(&err), "NoSuchEntity");
    let err = i
        .attach_policy(PrincipalKind::User, "carol", &p.arn)
        .expect_err("no user");
    assert_eq!(code(&err), "NoSuchEntity");
    i.attach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect("attach");
    let before = s.last_change_id().expect("id");
    i.attach_policy(PrincipalKind::User, "ALICE", &p.arn)
        .expect("again: no-op");
    assert!(actions(&s, before).is_empty());
    i.attach_policy(PrincipalKind::Group, "dev", &p.arn)
        .expect("attach to a group");
    assert_eq!(
        i.list_attached_policies(PrincipalKind::User, "alice")
            .expect("attached"),
        vec![p.clone()]
    );
    assert_eq!(i.get_policy(&p.arn).expect("get"), (p.clone(), 2));
    assert_eq!(i.list_policies(None).expect("list"), vec![(p.clone(), 2)]);
    assert!(i.list_policies(Some("/other/")).expect("list").is_empty());

    let err = i.delete_policy(&p.arn).expect_err("attached");
    assert_eq!(code(&err), "DeleteConflict");
    assert!(err.to_string().contains("group dev, user alice"), "{err}");

    let err = i
        .detach_policy(PrincipalKind::Role, "alice", &p.arn)
        .expect_err("alice is no role");
    assert_eq!(code(&err), "NoSuchEntity");
    i.detach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect("detach");
    let err = i
        .detach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect_err("not attached");
    assert_eq!(code(&err), "NoSuchEntity");
    i.detach_policy(PrincipalKind::Group, "dev", &p.arn)
        .expect("detach");
    assert_eq!(i.delete_policy(&p.arn).expect("delete"), p);
    assert_eq!(
        code(&i.get_policy(&p.arn).expect_err("gone")),
        "NoSuchEntity"
    );
}

#[test]
fn attached_policies_quota() {
    let s = store();
    let i = iam(&s);
    i.create_role("app", None, None).expect("role");
    for n in 0..=gatehouse_state::MAX_ATTACHED_POLICIES {
        let p = i
            .create_policy(&format!("p{n}"), None, ALLOW)
            .expect("policy");
        let result = i.attach_policy(PrincipalKind::Role, "app", &p.arn);
        if n < gatehouse_state::MAX_ATTACHED_POLICIES {
            result.expect("attach");
        } else {
            let err = result.expect_err("11th");
            assert_eq!(code(&err), "LimitExceeded");
            assert!(err.to_string().contains("PoliciesPerRole: 10"), "{err}");
        }
    }
}

#[test]
fn the_directory_the_gateway_reads() {
    let s = store();
    let i = iam(&s);
    let key = MasterKey::generate();
    i.create_user("alice", Some("/eng/")).expect("user");
    i.create_group("dev", None).expect("group");
    i.create_role("app", None, None).expect("role");
    i.add_user_to_group("dev", "alice").expect("member");
    i.put_inline_policy(PrincipalKind::User, "alice", "own", ALLOW)
        .expect("own");
    i.put_inline_policy(PrincipalKind::Group, "dev", "team", ALLOW)
        .expect("team");
    let p = i.create_policy("shared", None, ALLOW).expect("managed");
    i.attach_policy(PrincipalKind::Group, "dev", &p.arn)
        .expect("attach");
    i.put_inline_policy(PrincipalKind::Role, "app", "role-own", ALLOW)
        .expect("role");
    let k = i.create_access_key("alice", &key).expect("key");
    let k2 = i.create_access_key("alice", &key).expect("key");
    i.update_access_key(&k2.access_key_id, KeyStatus::Inactive, None)
        .expect("inactive");

    let d = s.iam_directory(ACCOUNT, &key).expect("directory");
    assert_eq!(d.account_id(), ACCOUNT);
    let stored = d.access_key(&k.access_key_id).expect("key");
    assert_eq!(stored.secret(), k.secret(), "decrypted secret");
    assert_eq!(stored.user_name, "alice");
    assert!(stored.is_active());
    assert!(!d.access_key(&k2.access_key_id).expect("key").is_active());
    assert_eq!(
        d.user("alice").map(|u| u.arn.as_str()),
        Some("arn:aws:iam::123456789012:user/eng/alice")
    );
    let names: Vec<&str> = d
        .policies_for_user("alice")
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["own", "team", p.arn.as_str()]);
    let names: Vec<&str> = d.policies_for_role("app").iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["role-own"]);
    assert!(d.role("app").is_some());

    // Without the key file: the same principals and policies, no keys.
    let policies_only = i.policy_directory().expect("policy directory");
    assert!(policies_only.access_key(&k.access_key_id).is_none());
    assert_eq!(policies_only.policies_for_user("alice").len(), 3);

    // Last use only moves forward, and an unknown key is ignored.
    let t1 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let t0 = t1 - Duration::from_secs(60);
    let before = s.last_change_id().expect("id");
    s.touch_access_key(&k.access_key_id, t1).expect("touch");
    s.touch_access_key(&k.access_key_id, t0).expect("older");
    s.touch_access_key("AKIAUNKNOWNUNKNOWN22", t1)
        .expect("unknown key is ignored");
    assert!(actions(&s, before).is_empty(), "touching is not logged");
    let listed = i.list_access_keys(Some("alice")).expect("list");
    let used = listed
        .iter()
        .find(|m| m.access_key_id == k.access_key_id)
        .expect("listed");
    assert_eq!(used.last_used, Some(t1));
    let d = s.iam_directory(ACCOUNT, &key).expect("directory");
    assert_eq!(
        d.access_key(&k.access_key_id).and_then(|k| k.last_used),
        Some(t1)
    );
}

#[test]
fn every_mutation_is_logged_once_and_refusals_not_at_all() {
    let s = store();
    let i = iam(&s);
    let key = MasterKey::generate();
    i.create_user("alice", None).expect("user");
    i.create_group("dev", None).expect("group");
    i.add_user_to_group("dev", "alice").expect("member");
    i.create_role("app", None, None).expect("role");
    let k = i.create_access_key("alice", &key).expect("key");
    i.update_access_key(&k.access_key_id, KeyStatus::Inactive, None)
        .expect("update");
    i.put_inline_policy(PrincipalKind::User, "alice", "p", ALLOW)
        .expect("put");
    let p = i.create_policy("m", None, ALLOW).expect("create policy");
    i.attach_policy(PrincipalKind::Role, "app", &p.arn)
        .expect("attach");

    let last = s.last_change_id().expect("id");
    i.create_user("alice", None).expect_err("dup");
    i.create_access_key("nobody", &key).expect_err("no user");
    i.delete_user("alice").expect_err("conflict");
    i.put_inline_policy(PrincipalKind::User, "alice", "p", "nope")
        .expect_err("malformed");
    assert_eq!(
        s.last_change_id().expect("id"),
        last,
        "refusals log nothing"
    );

    i.detach_policy(PrincipalKind::Role, "app", &p.arn)
        .expect("detach");
    i.delete_policy(&p.arn).expect("delete policy");
    i.delete_inline_policy(PrincipalKind::User, "alice", "p")
        .expect("delete inline");
    i.delete_access_key(&k.access_key_id, None)
        .expect("delete key");
    i.remove_user_from_group("dev", "alice").expect("remove");
    i.delete_group("dev").expect("delete group");
    i.delete_role("app").expect("delete role");
    i.delete_user("alice").expect("delete user");

    use ChangeAction::*;
    assert_eq!(
        actions(&s, 0),
        vec![
            IamCreateUser,
            IamCreateGroup,
            IamAddUserToGroup,
            IamCreateRole,
            IamCreateAccessKey,
            IamUpdateAccessKey,
            IamPutInlinePolicy,
            IamCreatePolicy,
            IamAttachPolicy,
            IamDetachPolicy,
            IamDeletePolicy,
            IamDeleteInlinePolicy,
            IamDeleteAccessKey,
            IamRemoveUserFromGroup,
            IamDeleteGroup,
            IamDeleteRole,
            IamDeleteUser,
        ]
    );
    let changes = s.changes_since(0).expect("changes");
    assert!(changes.iter().all(|c| c.action.is_iam()));
    assert_eq!(changes[0].object_id, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(changes[0].detail["UserName"], "alice");
    assert_eq!(changes[4].object_id, k.access_key_id);
    assert_eq!(changes[4].detail["Status"], "Active");
    assert_eq!(changes[5].detail["Status"], "Inactive");
    assert_eq!(changes[6].detail["PolicyDocument"], ALLOW);
    let secret = std::str::from_utf8(k.secret()).expect("ascii");
    for c in &changes {
        assert!(!c.detail.to_string().contains(secret), "{c:?}");
        // Every action reads back through its name.
        assert_eq!(c.action.as_str().parse::<ChangeAction>(), Ok(c.action));
    }
    assert!(!ChangeAction::AuthorizeIngress.is_iam());
}
