//! `explain`: the allowing rule, or per group why nothing applies.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use gatehouse_netacl::*;

fn snapshot() -> Snapshot {
    let mut office = tcp(
        "sgr-office",
        "sg-db",
        6432,
        6432,
        Source::PrefixList(plid("pl-office")),
    );
    office.description = Some("office".to_owned());
    let mut old = tcp("sgr-old", "sg-db", 6432, 6432, cidr("10.0.0.0/8"));
    old.expires_at = Some(Timestamp(NOW.0 - 60));
    let mut s = db_with(vec![
        tcp("sgr-admin", "sg-db", 5432, 5432, cidr("10.0.0.0/8")),
        old,
        office,
        tcp("sgr-app", "sg-db", 6432, 6432, Source::Group(gid("sg-app"))),
        tcp(
            "sgr-batch",
            "sg-db",
            6432,
            6432,
            Source::Group(gid("sg-batch")),
        ),
    ]);
    s.groups.push(group("sg-app"));
    s.groups.push(group("sg-batch"));
    s.groups.push(group("sg-empty"));
    s.prefix_lists
        .push(prefix_list("pl-office", 4, &["198.51.100.0/24"]));
    s.members.push(member("sg-app", "10.0.3.7", None));
    s.members
        .push(member("sg-app", "10.9.9.9", Some(NOW.0 - 1)));
    s
}

#[test]
fn allowed_names_the_rule_its_source_and_description() {
    let s = snapshot();
    let e = explain(&s, 6432, &[gid("sg-db")], ip("::ffff:198.51.100.4"), NOW);
    assert_eq!(e.address, ip("198.51.100.4"));
    let Outcome::Allowed(a) = &e.outcome else {
        panic!("{e:?}")
    };
    assert_eq!(a.rule, rid("sgr-office"));
    assert_eq!(a.source, Source::PrefixList(plid("pl-office")));
    assert_eq!(a.matched, net("198.51.100.0/24"));
    assert_eq!(a.description.as_deref(), Some("office"));
    assert_eq!(
        e.to_string(),
        "198.51.100.4 on port 6432: allowed by sgr-office in sg-db (source prefix list pl-office, \
         matched 198.51.100.0/24) \"office\"\n"
    );
}

#[test]
fn denied_gives_a_reason_per_rule_and_group() {
    let s = snapshot();
    let e = explain(
        &s,
        6432,
        &[gid("sg-db"), gid("sg-empty")],
        ip("10.9.9.9"),
        NOW,
    );
    let Outcome::Denied { groups } = &e.outcome else {
        panic!("{e:?}")
    };
    let reasons: Vec<_> = groups[0].rules.iter().map(|r| r.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            NotApplied::PortNotCovered {
                ports: "5432".to_owned()
            },
            NotApplied::Expired {
                at: Timestamp(NOW.0 - 60)
            },
            NotApplied::SourceDoesNotContain,
            NotApplied::MemberExpired {
                at: Timestamp(NOW.0 - 1)
            },
            NotApplied::NoMembers,
        ]
    );
    assert!(groups[1].rules.is_empty());
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "10.9.9.9 on port 6432: denied: no rule allows this source on this port"
    );
    assert_eq!(lines[1], "  sg-db (name of sg-db):");
    assert_eq!(
        lines[2],
        "    sgr-admin from 10.0.0.0/8: port not covered (rule: 5432)"
    );
    assert_eq!(
        lines[3],
        "    sgr-old from 10.0.0.0/8: expired at 2023-11-14T22:12:20Z"
    );
    assert_eq!(
        lines[4],
        "    sgr-office from prefix list pl-office: source does not contain the address"
    );
    assert_eq!(
        lines[5],
        "    sgr-app from members of sg-app: the address's membership expired at 2023-11-14T22:13:19Z"
    );
    assert_eq!(
        lines[6],
        "    sgr-batch from members of sg-batch: the referenced group has no members"
    );
    assert_eq!(lines[7], "  sg-empty (name of sg-empty): no ingress rules");
    assert_eq!(lines.len(), 8);

    let e = explain(&s, 6432, &[gid("sg-db")], ip("10.0.3.8"), NOW);
    let Outcome::Denied { groups } = &e.outcome else {
        panic!("{e:?}")
    };
    assert_eq!(groups[0].rules[3].reason, NotApplied::NotAMember);
}

#[test]
fn explain_agrees_with_check() {
    let s = snapshot();
    let groups = [gid("sg-db")];
    let acl = Acl::compile(&s, 6432, &groups, NOW).unwrap();
    for a in [
        "10.0.3.7",
        "10.9.9.9",
        "198.51.100.1",
        "2001:db8::1",
        "::ffff:10.0.3.7",
    ] {
        let e = explain(&s, 6432, &groups, ip(a), NOW);
        match (acl.check(ip(a)), &e.outcome) {
            (Verdict::Allowed { rule, .. }, Outcome::Allowed(by)) => assert_eq!(rule, by.rule),
            (Verdict::Denied, Outcome::Denied { .. }) => {}
            (v, o) => panic!("{a}: {v:?} vs {o:?}"),
        }
    }
}

#[test]
fn long_groups_are_summarized_in_display_only() {
    let rules = (0..25)
        .map(|i| {
            tcp(
                &format!("sgr-{i:02}"),
                "sg-db",
                6432,
                6432,
                cidr(&format!("10.{i}.0.0/16")),
            )
        })
        .collect();
    let e = explain(&db_with(rules), 6432, &[gid("sg-db")], ip("192.0.2.1"), NOW);
    let Outcome::Denied { groups } = &e.outcome else {
        panic!()
    };
    assert_eq!(groups[0].rules.len(), 25);
    let text = e.to_string();
    assert_eq!(text.lines().count(), 2 + MAX_LISTED_RULES + 1);
    assert!(text.ends_with("    … and 5 more rules\n"), "{text}");
}

#[test]
fn no_groups_and_invalid_snapshots() {
    let s = snapshot();
    let e = explain(&s, 6432, &[], ip("10.0.0.1"), NOW);
    assert_eq!(e.outcome, Outcome::NoGroupsAttached);
    assert_eq!(
        e.to_string(),
        "10.0.0.1 on port 6432: no security group is attached\n"
    );
    let e = explain(&s, 6432, &[gid("sg-nope")], ip("10.0.0.1"), NOW);
    assert_eq!(
        e.to_string(),
        "10.0.0.1 on port 6432: not evaluated, the rules are invalid:\n  \
         listener port 6432: attached security group sg-nope does not exist\n"
    );
}

#[test]
fn explanation_serializes() {
    let s = snapshot();
    let e = explain(&s, 6432, &[gid("sg-db")], ip("10.0.3.7"), NOW);
    let v: serde_json::Value = serde_json::to_value(&e).unwrap();
    assert_eq!(v["outcome"]["result"], "allowed");
    assert_eq!(v["outcome"]["rule"], "sgr-app");
    assert_eq!(v["outcome"]["matched"], "10.0.3.7/32");
}
