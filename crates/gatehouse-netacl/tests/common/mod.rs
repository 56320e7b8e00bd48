//! Builders shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use gatehouse_netacl::*;

pub fn gid(s: &str) -> GroupId {
    GroupId::new(s).unwrap()
}

pub fn rid(s: &str) -> RuleId {
    RuleId::new(s).unwrap()
}

pub fn plid(s: &str) -> PrefixListId {
    PrefixListId::new(s).unwrap()
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

pub fn group(id: &str) -> SecurityGroup {
    SecurityGroup {
        id: gid(id),
        name: format!("name of {id}"),
        description: String::new(),
        enforce_on_existing: false,
    }
}

pub fn tcp(id: &str, group: &str, from: i32, to: i32, source: Source) -> IngressRule {
    IngressRule {
        id: rid(id),
        group_id: gid(group),
        protocol: Protocol::Tcp,
        from_port: from,
        to_port: to,
        source,
        description: None,
        expires_at: None,
    }
}

pub fn cidr(s: &str) -> Source {
    Source::Cidr(net(s))
}

pub fn member(group: &str, addr: &str, expires_at: Option<u64>) -> Member {
    Member {
        group_id: gid(group),
        address: ip(addr),
        expires_at: expires_at.map(Timestamp),
    }
}

pub fn prefix_list(id: &str, max: u32, entries: &[&str]) -> PrefixList {
    PrefixList {
        id: plid(id),
        name: format!("list {id}"),
        max_entries: max,
        entries: entries
            .iter()
            .map(|e| PrefixListEntry {
                cidr: net(e),
                description: None,
            })
            .collect(),
    }
}

/// One group `sg-db` with the given rules.
pub fn db_with(rules: Vec<IngressRule>) -> Snapshot {
    Snapshot {
        groups: vec![group("sg-db")],
        rules,
        ..Snapshot::default()
    }
}

pub const NOW: Timestamp = Timestamp(1_700_000_000);

pub fn compile(s: &Snapshot, port: u16, groups: &[&str]) -> Acl {
    let groups: Vec<GroupId> = groups.iter().map(|g| gid(g)).collect();
    Acl::compile(s, port, &groups, NOW).unwrap()
}

pub fn errors(s: &Snapshot) -> Vec<String> {
    s.validate()
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect()
}
