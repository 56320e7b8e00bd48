//! Memory of a compiled ACL with 1,000,000 CIDR rules (goal < 200 MB): resident set size
//! from /proc/self/status before and after `Acl::compile`, and the peak during it.
//! Run with `cargo run --release -p gatehouse-netacl --example netacl_memory [N]`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use gatehouse_netacl::*;

#[path = "../benches/support/mod.rs"]
mod support;

/// `VmRSS` and `VmHWM` in KiB (0 where /proc is not available).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let (start, _) = rss_kib();
    let snapshot = support::snapshot(n, 42);
    let (with_snapshot, _) = rss_kib();
    let groups = [support::group_id()];
    let t = Instant::now();
    let acl = Acl::compile(&snapshot, support::PORT, &groups, Timestamp(1_700_000_000)).unwrap();
    let took = t.elapsed();
    let (after, peak) = rss_kib();
    println!("rules: {n}, prefixes in trie: {}", acl.prefix_count());
    println!(
        "snapshot (input) RSS: {:.1} MiB",
        mib(with_snapshot - start)
    );
    println!("compile: {:.3} s", took.as_secs_f64());
    println!(
        "compiled ACL RSS: {:.1} MiB",
        mib(after.saturating_sub(with_snapshot))
    );
    println!(
        "peak RSS during compile above the snapshot: {:.1} MiB",
        mib(peak.saturating_sub(with_snapshot))
    );
    drop(snapshot);
    std::hint::black_box(acl.check("10.0.0.1".parse().unwrap()));
}
