//! Evaluation semantics: ports, protocol -1, expiry, sources, IPv4-mapped addresses, ties.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use gatehouse_netacl::*;

fn allowed_rule(acl: &Acl, addr: &str) -> Option<String> {
    match acl.check(ip(addr)) {
        Verdict::Allowed { rule, .. } => Some(rule.to_string()),
        Verdict::Open => Some("open".to_owned()),
        Verdict::Denied => None,
    }
}

#[test]
fn port_range_is_inclusive_at_both_ends() {
    let s = db_with(vec![tcp("sgr-1", "sg-db", 6000, 6999, cidr("10.0.0.0/8"))]);
    for (port, ok) in [
        (5999, false),
        (6000, true),
        (6432, true),
        (6999, true),
        (7000, false),
    ] {
        let acl = compile(&s, port, &["sg-db"]);
        assert_eq!(acl.check(ip("10.1.2.3")).is_allowed(), ok, "port {port}");
    }
    let s = db_with(vec![tcp("sgr-1", "sg-db", 0, 0, cidr("10.0.0.0/8"))]);
    assert!(compile(&s, 0, &["sg-db"])
        .check(ip("10.0.0.1"))
        .is_allowed());
    let s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        65535,
        65535,
        cidr("10.0.0.0/8"),
    )]);
    assert!(compile(&s, 65535, &["sg-db"])
        .check(ip("10.0.0.1"))
        .is_allowed());
    assert!(!compile(&s, 65534, &["sg-db"])
        .check(ip("10.0.0.1"))
        .is_allowed());
}

#[test]
fn protocol_all_covers_every_port() {
    let mut r = tcp("sgr-1", "sg-db", -1, -1, cidr("10.0.0.0/8"));
    r.protocol = Protocol::All;
    let s = db_with(vec![r]);
    for port in [0, 1, 5432, 6432, 65535] {
        assert_eq!(
            allowed_rule(&compile(&s, port, &["sg-db"]), "10.9.9.9").as_deref(),
            Some("sgr-1")
        );
    }
}

#[test]
fn groups_without_applicable_rules_deny_everything() {
    let s = db_with(vec![tcp("sgr-1", "sg-db", 5432, 5432, cidr("0.0.0.0/0"))]);
    let acl = compile(&s, 6432, &["sg-db"]);
    assert_eq!(acl.check(ip("10.0.0.1")), Verdict::Denied);
    assert_eq!(acl.rule_count(), 0);
    let empty = db_with(vec![]);
    let acl = compile(&empty, 6432, &["sg-db"]);
    assert_eq!(acl.check(ip("::1")), Verdict::Denied);
    assert_eq!(acl.next_expiry(), None);
}

#[test]
fn zero_prefixes_allow_their_family_only() {
    let s = db_with(vec![tcp("sgr-4", "sg-db", 1, 65535, cidr("0.0.0.0/0"))]);
    let acl = compile(&s, 6432, &["sg-db"]);
    for a in ["0.0.0.0", "10.1.2.3", "255.255.255.255", "::ffff:192.0.2.1"] {
        assert_eq!(allowed_rule(&acl, a).as_deref(), Some("sgr-4"), "{a}");
    }
    assert_eq!(allowed_rule(&acl, "2001:db8::1"), None);
    assert_eq!(allowed_rule(&acl, "::1"), None);
    let s = db_with(vec![tcp("sgr-6", "sg-db", 1, 65535, cidr("::/0"))]);
    let acl = compile(&s, 6432, &["sg-db"]);
    assert_eq!(allowed_rule(&acl, "2001:db8::1").as_deref(), Some("sgr-6"));
    assert_eq!(allowed_rule(&acl, "::1").as_deref(), Some("sgr-6"));
    // ::/0 does not let IPv4 clients in, not even when the kernel reports them mapped.
    assert_eq!(allowed_rule(&acl, "10.0.0.1"), None);
    assert_eq!(allowed_rule(&acl, "::ffff:10.0.0.1"), None);
}

#[test]
fn ipv4_mapped_addresses_are_checked_as_ipv4() {
    let s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        6432,
        6432,
        cidr("198.51.100.0/24"),
    )]);
    let acl = compile(&s, 6432, &["sg-db"]);
    match acl.check(ip("::ffff:198.51.100.10")) {
        Verdict::Allowed {
            matched,
            via,
            group,
            ..
        } => {
            assert_eq!(matched, net("198.51.100.0/24"));
            assert_eq!(via, SourceKind::Cidr);
            assert_eq!(group, gid("sg-db"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(acl.check(ip("::ffff:198.51.101.10")), Verdict::Denied);
    // IPv4-compatible (deprecated ::a.b.c.d) is not mapped: stays IPv6.
    assert_eq!(acl.check(ip("::198.51.100.10")), Verdict::Denied);
}

#[test]
fn expiry_boundary_is_exclusive_at_now() {
    let mut at_now = tcp("sgr-1", "sg-db", 6432, 6432, cidr("10.0.0.0/8"));
    at_now.expires_at = Some(NOW);
    let mut later = tcp("sgr-2", "sg-db", 6432, 6432, cidr("192.168.0.0/16"));
    later.expires_at = Some(NOW.plus_secs(1));
    let s = db_with(vec![at_now, later]);
    let acl = compile(&s, 6432, &["sg-db"]);
    assert_eq!(
        acl.check(ip("10.0.0.1")),
        Verdict::Denied,
        "expires_at == now is expired"
    );
    assert_eq!(allowed_rule(&acl, "192.168.1.1").as_deref(), Some("sgr-2"));
    assert_eq!(acl.next_expiry(), Some(NOW.plus_secs(1)));
    // Recompiled at the next expiry, the second rule is gone too.
    let groups = [gid("sg-db")];
    let acl = Acl::compile(&s, 6432, &groups, NOW.plus_secs(1)).unwrap();
    assert_eq!(acl.check(ip("192.168.1.1")), Verdict::Denied);
    assert_eq!(acl.next_expiry(), None);
    // One second earlier, the first rule still matches.
    let acl = Acl::compile(&s, 6432, &groups, Timestamp(NOW.0 - 1)).unwrap();
    assert_eq!(allowed_rule(&acl, "10.0.0.1").as_deref(), Some("sgr-1"));
    assert_eq!(acl.next_expiry(), Some(NOW));
}

#[test]
fn next_expiry_counts_only_applicable_rules_and_used_members() {
    let mut other_port = tcp("sgr-1", "sg-db", 5432, 5432, cidr("10.0.0.0/8"));
    other_port.expires_at = Some(NOW.plus_secs(5));
    let mut by_group = tcp("sgr-2", "sg-db", 6432, 6432, Source::Group(gid("sg-app")));
    by_group.expires_at = Some(NOW.plus_secs(100));
    let mut s = db_with(vec![other_port, by_group]);
    s.groups.push(group("sg-app"));
    s.groups.push(group("sg-other"));
    s.rules.push({
        let mut r = tcp("sgr-3", "sg-other", 6432, 6432, cidr("10.0.0.0/8"));
        r.expires_at = Some(NOW.plus_secs(7));
        r
    });
    s.members
        .push(member("sg-app", "10.0.3.7", Some(NOW.0 + 50)));
    s.members.push(member("sg-app", "10.0.3.8", Some(NOW.0)));
    s.members
        .push(member("sg-other", "10.0.3.9", Some(NOW.0 + 3)));
    let acl = compile(&s, 6432, &["sg-db"]);
    assert_eq!(acl.next_expiry(), Some(NOW.plus_secs(50)));
    match acl.check(ip("10.0.3.7")) {
        Verdict::Allowed {
            rule, matched, via, ..
        } => {
            assert_eq!(rule, rid("sgr-2"));
            assert_eq!(matched, net("10.0.3.7/32"));
            assert_eq!(via, SourceKind::Group(gid("sg-app")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        acl.check(ip("10.0.3.8")),
        Verdict::Denied,
        "member expired at now"
    );
    assert_eq!(
        acl.check(ip("10.0.3.9")),
        Verdict::Denied,
        "member of an unreferenced group"
    );
    assert!(Acl::open().next_expiry().is_none());
}

#[test]
fn group_reference_without_members_matches_nothing() {
    let mut s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        6432,
        6432,
        Source::Group(gid("sg-app")),
    )]);
    s.groups.push(group("sg-app"));
    let acl = compile(&s, 6432, &["sg-db"]);
    assert_eq!(acl.prefix_count(), 0);
    assert_eq!(acl.rule_count(), 1);
    assert_eq!(acl.check(ip("10.0.0.1")), Verdict::Denied);
    assert_eq!(acl.check(ip("::1")), Verdict::Denied);
}

#[test]
fn group_members_match_as_host_routes_including_ipv6_and_mapped() {
    let mut s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        6432,
        6432,
        Source::Group(gid("sg-db")),
    )]);
    s.members.push(member("sg-db", "2001:db8::7", None));
    s.members.push(member("sg-db", "::ffff:10.0.0.5", None));
    let acl = compile(&s, 6432, &["sg-db"]);
    match acl.check(ip("2001:db8::7")) {
        Verdict::Allowed { matched, .. } => assert_eq!(matched, net("2001:db8::7/128")),
        other => panic!("{other:?}"),
    }
    assert_eq!(acl.check(ip("2001:db8::8")), Verdict::Denied);
    match acl.check(ip("10.0.0.5")) {
        Verdict::Allowed { matched, .. } => assert_eq!(matched, net("10.0.0.5/32")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn prefix_list_entries_all_match() {
    let mut s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        6432,
        6432,
        Source::PrefixList(plid("pl-office")),
    )]);
    s.prefix_lists.push(prefix_list(
        "pl-office",
        3,
        &["198.51.100.0/24", "2001:db8:1::/48"],
    ));
    let acl = compile(&s, 6432, &["sg-db"]);
    for (a, m) in [
        ("198.51.100.77", "198.51.100.0/24"),
        ("2001:db8:1:2::3", "2001:db8:1::/48"),
    ] {
        assert_eq!(
            acl.check(ip(a)),
            Verdict::Allowed {
                rule: rid("sgr-1"),
                group: gid("sg-db"),
                matched: net(m),
                via: SourceKind::PrefixList(plid("pl-office")),
            }
        );
    }
    assert_eq!(acl.check(ip("198.51.101.1")), Verdict::Denied);
}

#[test]
fn union_of_attached_groups_only() {
    let mut s = db_with(vec![tcp("sgr-1", "sg-db", 6432, 6432, cidr("10.0.0.0/8"))]);
    s.groups.push(group("sg-extra"));
    s.groups.push(group("sg-unattached"));
    s.rules
        .push(tcp("sgr-2", "sg-extra", 6432, 6432, cidr("172.16.0.0/12")));
    s.rules.push(tcp(
        "sgr-3",
        "sg-unattached",
        6432,
        6432,
        cidr("192.168.0.0/16"),
    ));
    let acl = compile(&s, 6432, &["sg-db", "sg-extra", "sg-db"]);
    assert_eq!(allowed_rule(&acl, "10.1.1.1").as_deref(), Some("sgr-1"));
    assert_eq!(allowed_rule(&acl, "172.20.0.1").as_deref(), Some("sgr-2"));
    assert_eq!(allowed_rule(&acl, "192.168.1.1"), None);
    let acl = compile(&s, 6432, &["sg-extra"]);
    assert_eq!(allowed_rule(&acl, "10.1.1.1"), None);
}

#[test]
fn longest_prefix_names_the_rule_and_ties_go_to_the_lowest_id() {
    let rules = vec![
        tcp("sgr-c", "sg-db", 6432, 6432, cidr("10.0.0.0/8")),
        tcp("sgr-b", "sg-db", 6432, 6432, cidr("10.1.0.0/16")),
        tcp("sgr-z", "sg-db", 6432, 6432, cidr("10.1.0.0/16")),
        tcp("sgr-a", "sg-db", 6000, 7000, cidr("10.0.0.0/8")),
    ];
    for order in [rules.clone(), rules.iter().rev().cloned().collect()] {
        let acl = compile(&db_with(order), 6432, &["sg-db"]);
        assert_eq!(allowed_rule(&acl, "10.1.2.3").as_deref(), Some("sgr-b"));
        assert_eq!(allowed_rule(&acl, "10.2.2.3").as_deref(), Some("sgr-a"));
        assert_eq!(acl.prefix_count(), 2);
    }
}

#[test]
fn open_acl_allows_everything_and_says_so() {
    let acl = Acl::open();
    assert!(acl.is_open());
    assert_eq!(acl.check(ip("203.0.113.9")), Verdict::Open);
    assert!(acl.check(ip("::1")).is_allowed());
    assert_eq!(acl.prefix_count(), 0);
    assert!(!compile(&db_with(vec![]), 1, &["sg-db"]).is_open());
}

#[test]
fn verdict_serializes_for_audit() {
    let s = db_with(vec![tcp("sgr-1", "sg-db", 6432, 6432, cidr("10.0.0.0/8"))]);
    let v = compile(&s, 6432, &["sg-db"]).check(ip("10.0.0.1"));
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"verdict":"allowed","rule":"sgr-1","group":"sg-db","matched":"10.0.0.0/8","via":"cidr"}"#
    );
    assert_eq!(
        serde_json::to_string(&Verdict::Denied).unwrap(),
        r#"{"verdict":"denied"}"#
    );
}
