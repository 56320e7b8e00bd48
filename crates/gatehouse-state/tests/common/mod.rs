//! Shared fixtures: a configuration snapshot and rule builders.
#![allow(dead_code)]

use gatehouse_netacl::{
    GroupId, IngressRule, Member, PrefixList, PrefixListEntry, PrefixListId, Protocol, RuleId,
    SecurityGroup, Snapshot, Source, Timestamp,
};
use gatehouse_state::IngressRuleSpec;

pub fn gid(s: &str) -> GroupId {
    GroupId::new(s).expect("group id")
}

pub fn rid(s: &str) -> RuleId {
    RuleId::new(s).expect("rule id")
}

pub fn cidr(s: &str) -> Source {
    Source::Cidr(s.parse().expect("cidr"))
}

fn group(id: &str, name: &str) -> SecurityGroup {
    SecurityGroup {
        id: gid(id),
        name: name.to_owned(),
        description: String::new(),
        enforce_on_existing: false,
    }
}

/// Groups sg-db and sg-app, prefix list pl-office, and one static rule `sgr-static`:
/// sg-db tcp 6432 from 198.51.100.0/24.
pub fn config() -> Snapshot {
    Snapshot {
        groups: vec![group("sg-db", "db"), group("sg-app", "app")],
        rules: vec![IngressRule {
            id: rid("sgr-static"),
            group_id: gid("sg-db"),
            protocol: Protocol::Tcp,
            from_port: 6432,
            to_port: 6432,
            source: cidr("198.51.100.0/24"),
            description: Some("office".to_owned()),
            expires_at: None,
        }],
        prefix_lists: vec![PrefixList {
            id: PrefixListId::new("pl-office").expect("pl id"),
            name: "office".to_owned(),
            max_entries: 4,
            entries: vec![PrefixListEntry {
                cidr: "203.0.113.0/24".parse().expect("cidr"),
                description: None,
            }],
        }],
        members: vec![],
    }
}

/// sg-db tcp `port` from `source`, no id, no expiry.
pub fn spec(source: &str, port: i32) -> IngressRuleSpec {
    IngressRuleSpec {
        id: None,
        group_id: gid("sg-db"),
        protocol: Protocol::Tcp,
        from_port: port,
        to_port: port,
        source: cidr(source),
        description: None,
        expires_at: None,
    }
}

pub fn member(group: &str, addr: &str, expires_at: Option<Timestamp>) -> Member {
    Member {
        group_id: gid(group),
        address: addr.parse().expect("address"),
        expires_at,
    }
}

/// `secs` seconds from now.
pub fn in_secs(secs: u64) -> Timestamp {
    Timestamp::now().plus_secs(secs)
}
