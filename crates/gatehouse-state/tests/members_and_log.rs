//! Group members, expiry removal at the boundary, and the change log.

mod common;

use common::*;
use gatehouse_netacl::Timestamp;
use gatehouse_state::{ChangeAction, StateError, StateStore};

fn store() -> StateStore {
    StateStore::open_in_memory().expect("in-memory store")
}

#[test]
fn registering_again_updates_the_expiry() {
    let s = store();
    let first = in_secs(600);
    let later = in_secs(7200);
    s.register_member(member("sg-app", "10.0.3.7", Some(first)), &config())
        .expect("register");
    s.register_member(member("sg-app", "10.0.3.8", None), &config())
        .expect("register");
    let stored = s
        .register_member(member("sg-app", "10.0.3.7", Some(later)), &config())
        .expect("register again");
    assert_eq!(stored, member("sg-app", "10.0.3.7", Some(later)));
    assert_eq!(
        s.snapshot_part().expect("snapshot").1,
        vec![
            member("sg-app", "10.0.3.7", Some(later)),
            member("sg-app", "10.0.3.8", None)
        ]
    );
    // Back to "no expiry".
    s.register_member(member("sg-app", "10.0.3.7", None), &config())
        .expect("register without expiry");
    assert_eq!(
        s.snapshot_part().expect("snapshot").1[0],
        member("sg-app", "10.0.3.7", None)
    );
    // The same address in another group is another member.
    s.register_member(member("sg-db", "10.0.3.7", None), &config())
        .expect("other group");
    assert_eq!(s.snapshot_part().expect("snapshot").1.len(), 3);
}

#[test]
fn mapped_addresses_are_stored_as_ipv4() {
    let s = store();
    let stored = s
        .register_member(member("sg-app", "::ffff:10.0.3.7", None), &config())
        .expect("register");
    assert_eq!(stored, member("sg-app", "10.0.3.7", None));
    s.register_member(member("sg-app", "10.0.3.7", Some(in_secs(60))), &config())
        .expect("same member");
    assert_eq!(s.snapshot_part().expect("snapshot").1.len(), 1);
    s.deregister_member(&gid("sg-app"), "::ffff:10.0.3.7".parse().expect("addr"))
        .expect("deregister by mapped address");
    assert!(s.snapshot_part().expect("snapshot").1.is_empty());
}

#[test]
fn member_errors() {
    let s = store();
    let err = s
        .register_member(member("sg-nope", "10.0.3.7", None), &config())
        .expect_err("unknown group");
    assert_eq!(err.code(), Some("InvalidGroup.NotFound"));
    assert_eq!(
        err.to_string(),
        "member 10.0.3.7 of sg-nope: group_id refers to unknown security group sg-nope"
    );
    let err = s
        .register_member(
            member("sg-app", "2001:db8::7", Some(Timestamp(5))),
            &config(),
        )
        .expect_err("expired");
    assert!(
        err.to_string().starts_with(
            "member 2001:db8::7 of sg-app: expires_at 5 (1970-01-01T00:00:05Z) is not after now"
        ),
        "{err}"
    );
    let err = s
        .deregister_member(&gid("sg-app"), "10.0.3.7".parse().expect("addr"))
        .expect_err("not registered");
    assert!(matches!(err, StateError::MemberNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "InvalidMember.NotFound: 10.0.3.7 is not a registered member of sg-app"
    );
    assert!(s.changes_since(0).expect("changes").is_empty());
}

#[test]
fn deregister_returns_the_member() {
    let s = store();
    let m = member("sg-app", "2001:db8::7", Some(in_secs(60)));
    s.register_member(m.clone(), &config()).expect("register");
    let removed = s
        .deregister_member(&gid("sg-app"), m.address)
        .expect("deregister");
    assert_eq!(removed, m);
    assert!(s.snapshot_part().expect("snapshot").1.is_empty());
}

#[test]
fn remove_expired_at_the_boundary() {
    let s = store();
    let t = in_secs(1000);
    let mut at_t = spec("10.0.0.0/8", 6432);
    at_t.id = Some(rid("sgr-at-t"));
    at_t.expires_at = Some(t);
    let mut after_t = spec("10.1.0.0/16", 6432);
    after_t.id = Some(rid("sgr-after-t"));
    after_t.expires_at = Some(t.plus_secs(1));
    let mut forever = spec("10.2.0.0/16", 6432);
    forever.id = Some(rid("sgr-forever"));
    for r in [at_t, after_t, forever] {
        s.authorize_ingress(r, &config()).expect("authorize");
    }
    s.register_member(member("sg-app", "10.0.3.7", Some(t)), &config())
        .expect("register");
    s.register_member(
        member("sg-app", "10.0.3.8", Some(t.plus_secs(1))),
        &config(),
    )
    .expect("register");
    s.register_member(member("sg-app", "10.0.3.9", None), &config())
        .expect("register");

    // One second before: nothing is expired; expired-but-not-removed rows are still
    // returned by snapshot_part in any case.
    assert!(s
        .remove_expired(Timestamp(t.as_secs() - 1))
        .expect("remove")
        .is_empty());
    assert_eq!(s.snapshot_part().expect("snapshot").0.len(), 3);

    // At t: expires_at <= now is expired, as netacl's is_expired_at says.
    let (rules, members) = s.snapshot_part().expect("snapshot");
    assert!(rules[0].is_expired_at(t) && !rules[1].is_expired_at(t));
    assert!(members[0].is_expired_at(t) && !members[1].is_expired_at(t));
    let removed = s.remove_expired(t).expect("remove");
    let summary: Vec<_> = removed
        .iter()
        .map(|c| (c.action, c.object_id.as_str(), c.at))
        .collect();
    assert_eq!(
        summary,
        [
            (ChangeAction::ExpireRule, "sgr-at-t", t),
            (ChangeAction::ExpireMember, "member 10.0.3.7 of sg-app", t),
        ]
    );
    let (rules, members) = s.snapshot_part().expect("snapshot");
    let ids: Vec<_> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["sgr-after-t", "sgr-forever"]);
    assert_eq!(members.len(), 2);
    assert!(s.remove_expired(t).expect("again").is_empty());

    let removed = s.remove_expired(Timestamp(u64::MAX)).expect("far future");
    assert_eq!(removed.len(), 2);
    let (rules, members) = s.snapshot_part().expect("snapshot");
    assert_eq!((rules.len(), members.len()), (1, 1));
}

#[test]
fn the_change_log_records_every_mutation_in_order() {
    let s = store();
    let cfg = config();
    let before = Timestamp::now();
    let mut a = spec("10.0.0.0/8", 6432);
    a.id = Some(rid("sgr-a"));
    a.expires_at = Some(in_secs(100));
    let rule_a = s.authorize_ingress(a, &cfg).expect("a");
    let mut b = spec("10.1.0.0/16", 6432);
    b.id = Some(rid("sgr-b"));
    s.authorize_ingress(b, &cfg).expect("b");
    s.register_member(member("sg-app", "10.0.3.7", Some(in_secs(100))), &cfg)
        .expect("m1");
    s.register_member(member("sg-app", "10.0.3.8", None), &cfg)
        .expect("m2");
    s.revoke_ingress(&rid("sgr-b")).expect("revoke b");
    s.deregister_member(&gid("sg-app"), "10.0.3.8".parse().expect("addr"))
        .expect("deregister");
    // Refused operations log nothing.
    assert!(s.revoke_ingress(&rid("sgr-b")).is_err());
    s.remove_expired(in_secs(200)).expect("expire");

    let log = s.changes_since(0).expect("changes");
    let summary: Vec<_> = log
        .iter()
        .map(|c| (c.action.as_str(), c.object_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("authorize_ingress", "sgr-a"),
            ("authorize_ingress", "sgr-b"),
            ("register_member", "member 10.0.3.7 of sg-app"),
            ("register_member", "member 10.0.3.8 of sg-app"),
            ("revoke_ingress", "sgr-b"),
            ("deregister_member", "member 10.0.3.8 of sg-app"),
            ("expire_rule", "sgr-a"),
            ("expire_member", "member 10.0.3.7 of sg-app"),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));
    assert!(log[..6]
        .iter()
        .all(|c| c.at >= before && c.at <= Timestamp::now()));
    assert_eq!(s.last_change_id().expect("last"), log[7].id);

    // The detail is the object in netacl's serde form.
    assert_eq!(
        log[0].detail,
        serde_json::to_value(&rule_a).expect("rule json")
    );
    assert_eq!(log[3].detail["address"], "10.0.3.8");

    // changes_since gives the tail.
    let tail = s.changes_since(log[5].id).expect("tail");
    assert_eq!(tail, log[6..].to_vec());
    assert!(s.changes_since(log[7].id).expect("none").is_empty());

    // A Change serializes with the action as its name.
    let json = serde_json::to_value(&log[4]).expect("json");
    assert_eq!(json["action"], "revoke_ingress");
    assert_eq!(json["object_id"], "sgr-b");
    assert_eq!(json["detail"]["source"]["cidr"], "10.1.0.0/16");
    assert!(json["at"].is_u64() && json["id"].is_i64());
}
