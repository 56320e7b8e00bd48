//! Property test: `Acl::check` and `Acl::next_expiry` against a brute-force reference that
//! walks every rule and tests containment directly, over random rule sets (mixed IPv4 and
//! IPv6, nested and repeated prefixes, port ranges, protocol -1, expiry around `now`, prefix
//! lists, group references with members) and random addresses, many of them inside the
//! generated prefixes so both verdicts are exercised.
#![allow(clippy::unwrap_used)]

mod common;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use gatehouse_netacl::*;
use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;

const GROUPS: [&str; 3] = ["sg-a", "sg-b", "sg-c"];
const LISTS: [&str; 2] = ["pl-one", "pl-two"];

#[derive(Debug, Clone)]
enum GenSource {
    Pool(usize),
    List(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
struct GenRule {
    group: usize,
    all: bool,
    from: u16,
    span: u16,
    source: GenSource,
    expiry: Option<i64>,
}

#[derive(Debug, Clone)]
enum GenAddr {
    InPool(usize, u128),
    Mapped(usize, u128),
    Random(bool, u128),
}

#[derive(Debug, Clone)]
struct Case {
    pool: Vec<IpNet>,
    rules: Vec<GenRule>,
    lists: Vec<Vec<usize>>,
    members: Vec<(usize, GenAddr, Option<i64>)>,
    attached: Vec<usize>,
    port: u16,
    addrs: Vec<GenAddr>,
}

/// A prefix of the given family with `len` bits of `bits` (host bits cleared).
fn prefix(v4: bool, bits: u128, len: u8) -> IpNet {
    if v4 {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(bits as u32), len % 33)
                .unwrap()
                .trunc(),
        )
    } else {
        IpNet::V6(
            Ipv6Net::new(Ipv6Addr::from(bits), len % 129)
                .unwrap()
                .trunc(),
        )
    }
}

/// An address inside `net` with host bits from `noise`.
fn inside(net: IpNet, noise: u128) -> IpAddr {
    match net {
        IpNet::V4(n) => {
            let host = !u32::from(n.netmask()) & noise as u32;
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
        }
        IpNet::V6(n) => {
            let host = !u128::from(n.netmask()) & noise;
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
        }
    }
}

fn address(pool: &[IpNet], a: &GenAddr) -> IpAddr {
    match *a {
        GenAddr::InPool(i, noise) => inside(pool[i % pool.len()], noise),
        GenAddr::Mapped(i, noise) => match inside(pool[i % pool.len()], noise) {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        },
        GenAddr::Random(true, bits) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        GenAddr::Random(false, bits) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

fn gen_addr() -> impl Strategy<Value = GenAddr> {
    prop_oneof![
        5 => (any::<usize>(), any::<u128>()).prop_map(|(i, n)| GenAddr::InPool(i, n)),
        1 => (any::<usize>(), any::<u128>()).prop_map(|(i, n)| GenAddr::Mapped(i, n)),
        2 => (any::<bool>(), any::<u128>()).prop_map(|(v4, b)| GenAddr::Random(v4, b)),
    ]
}

fn gen_expiry() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![2 => Just(None), 1 => (-3i64..=3).prop_map(Some)]
}

fn gen_case() -> impl Strategy<Value = Case> {
    // A few base addresses, each cut at several lengths: nested and repeated prefixes.
    let bases = prop::collection::vec((prop::bool::weighted(0.6), any::<u128>()), 1..4);
    let cuts = prop::collection::vec((any::<usize>(), any::<u8>()), 1..16);
    let pool = (bases, cuts).prop_map(|(bases, cuts)| {
        cuts.iter()
            .map(|&(b, len)| {
                let (v4, bits) = bases[b % bases.len()];
                // Keep clear of the IPv4-mapped block, which validation rejects.
                let bits = if v4 { bits } else { bits | (1 << 127) };
                prefix(v4, bits, len)
            })
            .collect::<Vec<_>>()
    });
    let source = prop_oneof![
        6 => any::<usize>().prop_map(GenSource::Pool),
        1 => (0..LISTS.len()).prop_map(GenSource::List),
        2 => (0..GROUPS.len()).prop_map(GenSource::Group),
    ];
    let rule = (
        0..GROUPS.len(),
        prop::bool::weighted(0.15),
        6428u16..6436,
        0u16..4,
        source,
        gen_expiry(),
    )
        .prop_map(|(group, all, from, span, source, expiry)| GenRule {
            group,
            all,
            from,
            span,
            source,
            expiry,
        });
    (
        pool,
        prop::collection::vec(rule, 0..24),
        prop::collection::vec(prop::collection::vec(any::<usize>(), 0..5), LISTS.len()),
        prop::collection::vec((0..GROUPS.len(), gen_addr(), gen_expiry()), 0..8),
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        6428u16..6438,
        prop::collection::vec(gen_addr(), 1..24),
    )
        .prop_map(
            |(pool, rules, lists, members, attached, port, addrs)| Case {
                pool,
                rules,
                lists,
                members,
                attached,
                port,
                addrs,
            },
        )
}

fn at(delta: i64) -> Timestamp {
    Timestamp(NOW.0.wrapping_add_signed(delta))
}

fn build(case: &Case) -> Snapshot {
    let pool = &case.pool;
    let mut s = Snapshot {
        groups: GROUPS.iter().map(|g| group(g)).collect(),
        ..Snapshot::default()
    };
    for (i, entries) in case.lists.iter().enumerate() {
        let mut cidrs: Vec<IpNet> = entries.iter().map(|&e| pool[e % pool.len()]).collect();
        cidrs.sort();
        cidrs.dedup();
        let mut pl = prefix_list(LISTS[i], cidrs.len().max(1) as u32, &[]);
        pl.entries = cidrs
            .into_iter()
            .map(|cidr| PrefixListEntry {
                cidr,
                description: None,
            })
            .collect();
        s.prefix_lists.push(pl);
    }
    for (i, r) in case.rules.iter().enumerate() {
        let source = match r.source {
            GenSource::Pool(p) => Source::Cidr(pool[p % pool.len()]),
            GenSource::List(l) => Source::PrefixList(plid(LISTS[l])),
            GenSource::Group(g) => Source::Group(gid(GROUPS[g])),
        };
        // Ids whose text order differs from their position, so ties are really decided.
        let id = format!("sgr-{:x}", (i * 7919) % 10007);
        let mut rule = tcp(
            &id,
            GROUPS[r.group],
            i32::from(r.from),
            i32::from(r.from + r.span),
            source,
        );
        if r.all {
            rule.protocol = Protocol::All;
            rule.from_port = -1;
            rule.to_port = -1;
        }
        rule.expires_at = r.expiry.map(at);
        s.rules.push(rule);
    }
    for (g, a, e) in &case.members {
        s.members.push(Member {
            group_id: gid(GROUPS[*g]),
            address: address(pool, a),
            expires_at: e.map(at),
        });
    }
    s
}

/// Brute force: every applicable rule's prefixes, longest containing prefix wins, then
/// the lowest rule id.
fn reference(
    s: &Snapshot,
    port: u16,
    attached: &[GroupId],
    addr: IpAddr,
) -> (Verdict, Option<Timestamp>) {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let live = |e: Option<Timestamp>| e.is_none_or(|t| t > NOW);
    let mut best: Option<(u8, RuleId, GroupId, IpNet, SourceKind)> = None;
    let mut expiry: Option<Timestamp> = None;
    for r in &s.rules {
        let ports_ok =
            r.protocol == Protocol::All || (r.from_port..=r.to_port).contains(&i32::from(port));
        if !attached.contains(&r.group_id) || !ports_ok || !live(r.expires_at) {
            continue;
        }
        expiry = [expiry, r.expires_at].into_iter().flatten().min();
        let (prefixes, via): (Vec<IpNet>, SourceKind) = match &r.source {
            Source::Cidr(n) => (vec![*n], SourceKind::Cidr),
            Source::PrefixList(id) => (
                s.prefix_lists
                    .iter()
                    .filter(|p| &p.id == id)
                    .flat_map(|p| p.entries.iter().map(|e| e.cidr))
                    .collect(),
                SourceKind::PrefixList(id.clone()),
            ),
            Source::Group(g) => {
                let mut nets = Vec::new();
                for m in s
                    .members
                    .iter()
                    .filter(|m| &m.group_id == g && live(m.expires_at))
                {
                    expiry = [expiry, m.expires_at].into_iter().flatten().min();
                    let a = match m.address {
                        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                        v4 => v4,
                    };
                    nets.push(IpNet::from(a));
                }
                (nets, SourceKind::Group(g.clone()))
            }
        };
        for p in prefixes {
            if !p.contains(&addr) {
                continue;
            }
            let better = match &best {
                None => true,
                Some((len, id, ..)) => {
                    p.prefix_len() > *len || (p.prefix_len() == *len && r.id < *id)
                }
            };
            if better {
                best = Some((
                    p.prefix_len(),
                    r.id.clone(),
                    r.group_id.clone(),
                    p,
                    via.clone(),
                ));
            }
        }
    }
    let verdict = match best {
        Some((_, rule, group, matched, via)) => Verdict::Allowed {
            rule,
            group,
            matched,
            via,
        },
        None => Verdict::Denied,
    };
    (verdict, expiry)
}

proptest! {
    // 1000 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
    ))]

    #[test]
    fn check_matches_brute_force(case in gen_case()) {
        let s = build(&case);
        prop_assert!(s.validate().is_ok(), "{:?}", s.validate());
        let attached: Vec<GroupId> = case.attached.iter().map(|&g| gid(GROUPS[g])).collect();
        let acl = Acl::compile(&s, case.port, &attached, NOW).unwrap();
        let mut addrs: Vec<IpAddr> = case.addrs.iter().map(|a| address(&case.pool, a)).collect();
        addrs.extend(s.members.iter().map(|m| m.address));
        let mut expected_expiry = None;
        for a in addrs {
            let (want, expiry) = reference(&s, case.port, &attached, a);
            expected_expiry = expiry;
            prop_assert_eq!(acl.check(a), want, "address {}", a);
        }
        prop_assert_eq!(acl.next_expiry(), expected_expiry);
    }
}

/// The generator really produces both outcomes (guards against a vacuous property).
#[test]
fn generator_exercises_allow_and_deny() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut allowed, mut denied, mut v6_allowed) = (0, 0, 0);
    for _ in 0..300 {
        let case = gen_case().new_tree(&mut runner).unwrap().current();
        let s = build(&case);
        let attached: Vec<GroupId> = case.attached.iter().map(|&g| gid(GROUPS[g])).collect();
        let acl = Acl::compile(&s, case.port, &attached, NOW).unwrap();
        for a in &case.addrs {
            let a = address(&case.pool, a);
            match acl.check(a) {
                Verdict::Allowed { .. } if a.is_ipv6() => v6_allowed += 1,
                Verdict::Allowed { .. } => allowed += 1,
                _ => denied += 1,
            }
        }
    }
    assert!(
        allowed > 200 && denied > 200 && v6_allowed > 50,
        "{allowed} {denied} {v6_allowed}"
    );
}
