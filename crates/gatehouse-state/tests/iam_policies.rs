//! The IAM identity store: inline and managed policies, attachments, the change log, and
//! the directory the gateway reads.

mod iam_common;

use std::time::{Duration, UNIX_EPOCH};

use gatehouse_iam::directory::{KeyStatus, MasterKey, PrincipalKind};
use gatehouse_state::ChangeAction;
use iam_common::*;

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
