//! The large rule set shared by the criterion bench and the memory example: one group with
//! N CIDR rules, 70 % IPv4 (prefix lengths 8-32, first octet 1-223 except 127) and 30 % IPv6
//! (lengths 32-128 inside 2000::/3), ids like AWS's, from a fixed seed.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gatehouse_netacl::*;
use ipnet::{Ipv4Net, Ipv6Net};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const PORT: u16 = 6432;

pub fn group_id() -> GroupId {
    GroupId::new("sg-bench").unwrap()
}

pub fn random_v4(rng: &mut StdRng) -> Ipv4Addr {
    loop {
        let a: u32 = rng.gen();
        let first = a >> 24;
        if (1..=223).contains(&first) && first != 127 {
            return Ipv4Addr::from(a);
        }
    }
}

pub fn random_v6(rng: &mut StdRng) -> Ipv6Addr {
    let bits: u128 = rng.gen();
    Ipv6Addr::from((bits >> 3) | (1u128 << 125)) // 2000::/3
}

pub fn random_net(rng: &mut StdRng) -> IpNet {
    if rng.gen_bool(0.7) {
        let len = rng.gen_range(8..=32);
        IpNet::V4(Ipv4Net::new(random_v4(rng), len).unwrap().trunc())
    } else {
        let len = rng.gen_range(32..=128);
        IpNet::V6(Ipv6Net::new(random_v6(rng), len).unwrap().trunc())
    }
}

pub fn snapshot(n: usize, seed: u64) -> Snapshot {
    let mut rng = StdRng::seed_from_u64(seed);
    let group = group_id();
    let mut rules = Vec::with_capacity(n);
    for _ in 0..n {
        let id = RuleId::new(&format!("sgr-{:017x}", rng.gen::<u128>() & ((1 << 68) - 1))).unwrap();
        rules.push(IngressRule {
            id,
            group_id: group.clone(),
            protocol: Protocol::Tcp,
            from_port: i32::from(PORT),
            to_port: i32::from(PORT),
            source: Source::Cidr(random_net(&mut rng)),
            description: None,
            expires_at: None,
        });
    }
    Snapshot {
        groups: vec![SecurityGroup {
            id: group,
            name: "bench".to_owned(),
            description: String::new(),
            enforce_on_existing: false,
        }],
        rules,
        ..Snapshot::default()
    }
}

/// An address inside a random rule's prefix of the wanted family.
pub fn hit(rng: &mut StdRng, s: &Snapshot, v4: bool) -> IpAddr {
    loop {
        let r = &s.rules[rng.gen_range(0..s.rules.len())];
        let Source::Cidr(net) = r.source else {
            continue;
        };
        let noise: u128 = rng.gen();
        match net {
            IpNet::V4(n) if v4 => {
                let host = !u32::from(n.netmask()) & noise as u32;
                return IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host));
            }
            IpNet::V6(n) if !v4 => {
                let host = !u128::from(n.netmask()) & noise;
                return IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host));
            }
            _ => {}
        }
    }
}

/// An address no rule allows: IPv4 from 127/8 and 224/3 (never generated), IPv6 random
/// addresses in 2000::/3 that the ACL denies.
pub fn miss(rng: &mut StdRng, acl: &Acl, v4: bool) -> IpAddr {
    loop {
        let a = if v4 {
            let first = if rng.gen_bool(0.5) {
                127
            } else {
                rng.gen_range(224..=255)
            };
            IpAddr::V4(Ipv4Addr::from(
                (first << 24) | (rng.gen::<u32>() & 0x00ff_ffff),
            ))
        } else {
            IpAddr::V6(random_v6(rng))
        };
        if !acl.check(a).is_allowed() {
            return a;
        }
    }
}
