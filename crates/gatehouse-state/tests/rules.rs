//! Dynamic ingress rules: authorize (ids, duplicates, validation) and revoke.

mod common;

use common::*;
use gatehouse_netacl::{Protocol, RuleId, Source, Timestamp, GENERATED_HEX_DIGITS};
use gatehouse_state::{ChangeAction, IngressRuleSpec, StateError, StateStore};

fn store() -> StateStore {
    StateStore::open_in_memory().expect("in-memory store")
}

#[test]
fn authorize_generates_an_aws_like_id_and_stores_every_field() {
    let s = store();
    let mut want = spec("10.0.0.0/8", 6432);
    want.description = Some("batch job (temporary)".to_owned());
    want.expires_at = Some(in_secs(3600));
    let rule = s
        .authorize_ingress(want.clone(), &config())
        .expect("authorize");
    let suffix = rule
        .id
        .as_str()
        .strip_prefix(RuleId::PREFIX)
        .expect("sgr- prefix");
    assert_eq!(suffix.len(), GENERATED_HEX_DIGITS);
    assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        IngressRuleSpec {
            id: None,
            ..rule.clone().into()
        },
        want
    );
    let (rules, members) = s.snapshot_part().expect("snapshot");
    assert_eq!(rules, vec![rule]);
    assert!(members.is_empty());
}

#[test]
fn operator_chosen_ids_are_kept_and_must_be_unique() {
    let s = store();
    let mut a = spec("10.0.0.0/8", 6432);
    a.id = Some(rid("sgr-batch"));
    assert_eq!(
        s.authorize_ingress(a, &config()).expect("authorize").id,
        rid("sgr-batch")
    );

    let mut again = spec("10.1.0.0/16", 6432);
    again.id = Some(rid("sgr-batch"));
    let err = s.authorize_ingress(again, &config()).expect_err("taken");
    assert!(
        matches!(
            err,
            StateError::DuplicateRuleId {
                in_config: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("sgr-batch"), "{err}");

    let mut clash = spec("10.2.0.0/16", 6432);
    clash.id = Some(rid("sgr-static"));
    let err = s
        .authorize_ingress(clash, &config())
        .expect_err("config id");
    assert!(err.to_string().contains("configuration file"), "{err}");
    assert_eq!(s.snapshot_part().expect("snapshot").0.len(), 1);
}

#[test]
fn duplicate_permissions_are_refused_like_aws() {
    let s = store();
    let first = s
        .authorize_ingress(spec("10.0.0.0/8", 6432), &config())
        .expect("first");
    let mut dup = spec("10.0.0.0/8", 6432);
    dup.description = Some("other words".to_owned());
    dup.expires_at = Some(in_secs(60));
    let err = s.authorize_ingress(dup, &config()).expect_err("duplicate");
    assert_eq!(err.code(), Some("InvalidPermission.Duplicate"));
    let text = err.to_string();
    assert!(text.starts_with("InvalidPermission.Duplicate"), "{text}");
    assert!(text.contains(first.id.as_str()), "{text}");
    assert!(
        text.contains("sg-db") && text.contains("10.0.0.0/8"),
        "{text}"
    );

    // Any other port range, source, group or protocol is a different permission.
    s.authorize_ingress(spec("10.0.0.0/8", 6433), &config())
        .expect("other port");
    let mut range = spec("10.0.0.0/8", 6432);
    range.to_port = 6440;
    s.authorize_ingress(range, &config()).expect("range");
    s.authorize_ingress(spec("10.0.0.0/9", 6432), &config())
        .expect("other cidr");
    let mut other_group = spec("10.0.0.0/8", 6432);
    other_group.group_id = gid("sg-app");
    s.authorize_ingress(other_group, &config())
        .expect("other group");
    let mut all = spec("10.0.0.0/8", 1);
    all.protocol = Protocol::All;
    s.authorize_ingress(all, &config()).expect("protocol -1");

    // For protocol -1 the ports do not matter.
    let mut all_again = spec("10.0.0.0/8", 5432);
    all_again.protocol = Protocol::All;
    let err = s
        .authorize_ingress(all_again, &config())
        .expect_err("-1 duplicate");
    assert_eq!(err.code(), Some("InvalidPermission.Duplicate"));

    let mut by_group = spec("10.0.0.0/8", 6432);
    by_group.source = Source::Group(gid("sg-app"));
    s.authorize_ingress(by_group.clone(), &config())
        .expect("group source");
    assert!(s.authorize_ingress(by_group, &config()).is_err());

    assert_eq!(s.snapshot_part().expect("snapshot").0.len(), 7);
}

#[test]
fn duplicates_of_static_config_rules_are_refused() {
    let s = store();
    let err = s
        .authorize_ingress(spec("198.51.100.0/24", 6432), &config())
        .expect_err("duplicate of sgr-static");
    assert!(
        matches!(&err, StateError::DuplicatePermission { existing, in_config: true, .. }
            if existing.as_str() == "sgr-static"),
        "{err:?}"
    );
    assert!(err.to_string().contains("configuration file"), "{err}");

    // An expired static rule allows nothing, so it is no duplicate.
    let mut cfg = config();
    cfg.rules[0].expires_at = Some(Timestamp(1));
    s.authorize_ingress(spec("198.51.100.0/24", 6432), &cfg)
        .expect("static rule expired");
}

#[test]
fn validation_errors_name_the_rule_and_field_and_store_nothing() {
    let s = store();
    let mut bad_port = spec("10.0.0.0/8", 6432);
    bad_port.id = Some(rid("sgr-bad"));
    bad_port.to_port = 70000;
    let err = s.authorize_ingress(bad_port, &config()).expect_err("port");
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(
        err.to_string(),
        "sgr-bad: to_port 70000 is out of range 0-65535"
    );

    let mut host_bits = spec("10.0.0.1/8", 6432);
    host_bits.id = Some(rid("sgr-bad"));
    let err = s.authorize_ingress(host_bits, &config()).expect_err("cidr");
    assert!(
        err.to_string()
            .contains("sgr-bad: source 10.0.0.1/8 is not a network address"),
        "{err}"
    );

    let mut unknown_group = spec("10.0.0.0/8", 6432);
    unknown_group.id = Some(rid("sgr-bad"));
    unknown_group.group_id = gid("sg-nope");
    let err = s
        .authorize_ingress(unknown_group, &config())
        .expect_err("group");
    assert_eq!(err.code(), Some("InvalidGroup.NotFound"));
    assert!(
        err.to_string()
            .contains("sgr-bad: group_id refers to unknown security group sg-nope"),
        "{err}"
    );

    let mut unknown_source = spec("10.0.0.0/8", 6432);
    unknown_source.source = Source::Group(gid("sg-nope"));
    let err = s
        .authorize_ingress(unknown_source, &config())
        .expect_err("source group");
    assert!(err
        .to_string()
        .contains("source refers to unknown security group sg-nope"));

    let mut unknown_list = spec("10.0.0.0/8", 6432);
    unknown_list.source = Source::PrefixList("pl-nope".parse().expect("pl id"));
    let err = s
        .authorize_ingress(unknown_list, &config())
        .expect_err("prefix list");
    assert_eq!(err.code(), Some("InvalidPrefixListID.NotFound"));

    let mut list = spec("10.0.0.0/8", 6432);
    list.source = Source::PrefixList("pl-office".parse().expect("pl id"));
    s.authorize_ingress(list, &config())
        .expect("known prefix list");

    let mut bad_text = spec("10.0.0.0/8", 6432);
    bad_text.description = Some("tab\there".to_owned());
    let err = s.authorize_ingress(bad_text, &config()).expect_err("text");
    assert!(
        err.to_string().contains("description contains '\\t'"),
        "{err}"
    );

    let mut past = spec("10.0.0.0/8", 6432);
    past.id = Some(rid("sgr-late"));
    past.expires_at = Some(Timestamp::now());
    let err = s.authorize_ingress(past, &config()).expect_err("past");
    assert!(
        matches!(&err, StateError::InvalidExpiry { object, .. } if object == "sgr-late"),
        "{err:?}"
    );
    assert!(err.to_string().contains("expires_at"), "{err}");

    let mut huge = spec("10.0.0.0/8", 6432);
    huge.expires_at = Some(Timestamp(u64::MAX));
    let err = s.authorize_ingress(huge, &config()).expect_err("huge");
    assert!(err.to_string().contains("too large"), "{err}");

    assert_eq!(s.snapshot_part().expect("snapshot").0.len(), 1);
    assert_eq!(s.changes_since(0).expect("changes").len(), 1);
}

#[test]
fn revoke_by_id() {
    let s = store();
    let rule = s
        .authorize_ingress(spec("10.0.0.0/8", 6432), &config())
        .expect("authorize");
    let keep = s
        .authorize_ingress(spec("10.9.0.0/16", 6432), &config())
        .expect("authorize");
    assert_eq!(s.revoke_ingress(&rule.id).expect("revoke"), rule);
    assert_eq!(s.snapshot_part().expect("snapshot").0, vec![keep]);

    let err = s.revoke_ingress(&rule.id).expect_err("gone");
    assert_eq!(err.code(), Some("InvalidPermission.NotFound"));
    assert!(
        matches!(&err, StateError::RuleNotFound { id } if *id == rule.id),
        "{err:?}"
    );
    // Static rules are not in the store, and the error says why.
    let err = s.revoke_ingress(&rid("sgr-static")).expect_err("static");
    let text = err.to_string();
    assert!(
        text.starts_with("InvalidPermission.NotFound: sgr-static"),
        "{text}"
    );
    assert!(
        text.contains("configuration file cannot be revoked here"),
        "{text}"
    );

    let actions: Vec<_> = s
        .changes_since(0)
        .expect("changes")
        .into_iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(
        actions,
        [
            ChangeAction::AuthorizeIngress,
            ChangeAction::AuthorizeIngress,
            ChangeAction::RevokeIngress
        ]
    );
}

#[test]
fn revoke_by_fields() {
    let s = store();
    let mut range = spec("2001:db8::/32", 6000);
    range.to_port = 6999;
    let rule = s.authorize_ingress(range, &config()).expect("authorize");
    let mut all = spec("10.0.0.0/8", 0);
    all.protocol = Protocol::All;
    let all = s.authorize_ingress(all, &config()).expect("authorize");

    // Not the same range: not found, and nothing removed.
    let err = s
        .revoke_ingress_matching(
            &gid("sg-db"),
            Protocol::Tcp,
            6000,
            6998,
            &cidr("2001:db8::/32"),
        )
        .expect_err("other range");
    assert_eq!(err.code(), Some("InvalidPermission.NotFound"));
    assert!(
        err.to_string().contains(
            "sg-db has no rule in the state store allowing tcp 6000-6998 from 2001:db8::/32"
        ),
        "{err}"
    );
    let revoked = s
        .revoke_ingress_matching(
            &gid("sg-db"),
            Protocol::Tcp,
            6000,
            6999,
            &cidr("2001:db8::/32"),
        )
        .expect("revoke");
    assert_eq!(revoked, rule);

    // Protocol -1 ignores the ports given.
    let revoked = s
        .revoke_ingress_matching(&gid("sg-db"), Protocol::All, -1, -1, &cidr("10.0.0.0/8"))
        .expect("revoke -1");
    assert_eq!(revoked, all);

    // A static rule cannot be revoked through the store.
    let err = s
        .revoke_ingress_matching(
            &gid("sg-db"),
            Protocol::Tcp,
            6432,
            6432,
            &cidr("198.51.100.0/24"),
        )
        .expect_err("static");
    assert!(
        matches!(err, StateError::PermissionNotFound { .. }),
        "{err:?}"
    );
    assert!(s.snapshot_part().expect("snapshot").0.is_empty());
}

#[test]
fn an_expired_stored_duplicate_is_replaced() {
    let s = store();
    let mut short = spec("10.0.0.0/8", 6432);
    short.id = Some(rid("sgr-short"));
    short.expires_at = Some(in_secs(1));
    s.authorize_ingress(short, &config()).expect("authorize");
    std::thread::sleep(std::time::Duration::from_millis(2100));

    let fresh = s
        .authorize_ingress(spec("10.0.0.0/8", 6432), &config())
        .expect("replaces the expired rule");
    assert_eq!(s.snapshot_part().expect("snapshot").0, vec![fresh.clone()]);
    let log: Vec<_> = s
        .changes_since(1)
        .expect("changes")
        .into_iter()
        .map(|c| (c.action, c.object_id))
        .collect();
    assert_eq!(
        log,
        [
            (ChangeAction::ExpireRule, "sgr-short".to_owned()),
            (ChangeAction::AuthorizeIngress, fresh.id.to_string()),
        ]
    );
}
