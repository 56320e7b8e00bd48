//! 1,000,000 CIDR rules in one group (70 % IPv4 /8-/32, 30 % IPv6 /32-/128): compile time
//! (goal < 2 s) and lookup time for hits and misses (goal < 200 ns median). Memory is
//! measured by `examples/netacl_memory.rs`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gatehouse_netacl::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[path = "support/mod.rs"]
mod support;

const N: usize = 1_000_000;

fn bench(c: &mut Criterion) {
    let snapshot = support::snapshot(N, 42);
    let groups = [support::group_id()];
    let now = Timestamp(1_700_000_000);

    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("1M_cidr_rules", |b| {
        b.iter(|| Acl::compile(black_box(&snapshot), support::PORT, &groups, now).unwrap())
    });
    g.finish();

    let acl = Acl::compile(&snapshot, support::PORT, &groups, now).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut lookups = c.benchmark_group("check_1M");
    for (name, v4, hit) in [
        ("hit_v4", true, true),
        ("hit_v6", false, true),
        ("miss_v4", true, false),
        ("miss_v6", false, false),
    ] {
        let addrs: Vec<_> = (0..4096)
            .map(|_| {
                if hit {
                    support::hit(&mut rng, &snapshot, v4)
                } else {
                    support::miss(&mut rng, &acl, v4)
                }
            })
            .collect();
        assert!(addrs.iter().all(|a| acl.check(*a).is_allowed() == hit));
        let mut i = 0usize;
        lookups.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(acl.check(black_box(addrs[i])))
            })
        });
    }
    lookups.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
