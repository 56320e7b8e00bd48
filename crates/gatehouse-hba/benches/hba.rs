//! Load and match benchmarks.
//!
//! Goals (from the issue): loading a 100,000-line pg_hba.conf (tokenize, parse,
//! index) under 300 ms; a match against 10,000 rules under 2 µs median.
//!
//! `cargo bench -p gatehouse-hba --bench hba -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gatehouse_hba::*;

/// splitmix64: a deterministic generator, so every run benches the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A role column; with `literal`, only literal names (what per-user provisioning
/// tools write), so the index can skip every record of other users.
fn gen_user(r: &mut Rng, literal: bool) -> String {
    let kind = r.below(100);
    if literal && (80..=95).contains(&kind) {
        return format!("user{}", r.below(20_000));
    }
    match kind {
        0..=71 => format!("user{}", r.below(20_000)),
        72..=79 => format!("user{},user{}", r.below(20_000), r.below(20_000)),
        80..=87 => format!("+group{}", r.below(200)),
        88..=94 => "all".to_owned(),
        95 => "/^svc_[0-9]+$".to_owned(),
        _ => format!("\"user{}\"", r.below(20_000)),
    }
}

fn gen_db(r: &mut Rng) -> String {
    match r.below(100) {
        0..=59 => format!("db{}", r.below(5_000)),
        60..=84 => "all".to_owned(),
        85..=89 => "sameuser".to_owned(),
        90..=94 => "replication".to_owned(),
        _ => format!("\"db{}\",db{}", r.below(5_000), r.below(5_000)),
    }
}

/// Never `all` and never 203.0.113.0/24 or 2001:db8:ffff::/48, which the
/// benchmark connections come from.
fn gen_addr(r: &mut Rng) -> String {
    match r.below(100) {
        0..=59 => format!("10.{}.{}.0/24", r.below(256), r.below(256)),
        60..=79 => format!("2001:db8:{:x}::/48", r.below(0xffff)),
        80..=89 => format!("192.168.{}.0 255.255.255.0", r.below(256)),
        90..=94 => format!(
            "172.{}.{}.{}/32",
            16 + r.below(16),
            r.below(256),
            r.below(256)
        ),
        95..=97 => "samenet".to_owned(),
        _ => format!("host{}.example.com", r.below(1000)),
    }
}

/// How generated files look.
#[derive(Clone, Copy)]
struct Mix {
    /// No comments or blank lines.
    rules_only: bool,
    /// Only literal role names.
    literal_users: bool,
}

/// One generated line (a rule, a comment or a blank line).
fn gen_line(r: &mut Rng, i: usize, mix: Mix) -> String {
    let rules_only = mix.rules_only;
    let kind = if rules_only {
        4 + r.below(96)
    } else {
        r.below(100)
    };
    match kind {
        0..=2 => format!("# rule block {i}: managed by provisioning"),
        3 => String::new(),
        4..=17 => {
            let method = ["peer", "trust", "scram-sha-256", "md5"][r.below(4) as usize];
            format!(
                "local   {}  {}  {method}",
                gen_db(r),
                gen_user(r, mix.literal_users)
            )
        }
        18..=67 => {
            let method =
                ["scram-sha-256", "md5", "reject", "trust", "password"][r.below(5) as usize];
            format!(
                "host    {}  {}  {}  {method}",
                gen_db(r),
                gen_user(r, mix.literal_users),
                gen_addr(r)
            )
        }
        68..=92 => {
            let method = match r.below(4) {
                0 => "cert map=certmap",
                1 => "scram-sha-256 clientcert=verify-full",
                2 => "ldap ldapserver=ldap.example.net ldapbasedn=\"dc=example, dc=net\" ldapsearchattribute=uid",
                _ => "scram-sha-256",
            };
            format!(
                "hostssl {}  {}  {}  {method}",
                gen_db(r),
                gen_user(r, mix.literal_users),
                gen_addr(r)
            )
        }
        _ => format!(
            "hostnossl {}  {}  {}  reject",
            gen_db(r),
            gen_user(r, mix.literal_users),
            gen_addr(r)
        ),
    }
}

fn generate(lines: usize, seed: u64, mix: Mix) -> String {
    let mut r = Rng(seed);
    let mut out = String::with_capacity(lines * 64);
    for i in 0..lines {
        out.push_str(&gen_line(&mut r, i, mix));
        out.push('\n');
    }
    out
}

fn parse(text: &str) -> HbaFile {
    let hba = HbaFile::parse_bytes(
        "/etc/postgresql/pg_hba.conf",
        text.as_bytes(),
        &MemFiles::new(),
        &ParseOptions::default(),
        &NoResolver,
    );
    assert!(hba.is_loadable(), "{:?}", hba.errors.first());
    hba
}

fn bench_load(c: &mut Criterion) {
    let mix = Mix {
        rules_only: false,
        literal_users: false,
    };
    let text = generate(100_000, 1, mix);
    let rules = parse(&text).lines.len();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    // What the goal measures: tokenize, parse and index (freeing the result is
    // left out of the timing)...
    g.bench_function(format!("100k_lines_{rules}_rules"), |b| {
        b.iter_with_large_drop(|| parse(black_box(&text)))
    });
    // ...and what a reload costs in all, freeing the parsed file included.
    g.bench_function(format!("100k_lines_{rules}_rules_incl_drop"), |b| {
        b.iter(|| parse(black_box(&text)))
    });
    g.finish();
}

const SMALL: &str = "\
local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
hostssl app             +app_users      10.0.0.0/8              scram-sha-256
hostssl all             alice           10.0.0.0/8              cert
host    sameuser        all             192.168.0.0/16          md5
host    all             all             0.0.0.0/0               reject
";

/// 10,000 generated rules with two planted ones: `alice` (a typical hit in the
/// middle), `bob` (a hit near the end) — nobody else matches connections from
/// 203.0.113.0/24, so `mallory` falls through every rule.
fn large_rules(literal_users: bool) -> String {
    let mut r = Rng(7);
    let mix = Mix {
        rules_only: true,
        literal_users,
    };
    let mut lines: Vec<String> = (0..10_000).map(|i| gen_line(&mut r, i, mix)).collect();
    lines[5_000] = "host appdb alice 203.0.113.0/24 scram-sha-256".to_owned();
    lines[9_990] = "hostssl all bob 203.0.113.0/24 scram-sha-256".to_owned();
    lines.join("\n") + "\n"
}

fn bench_match(c: &mut Criterion) {
    let member = Membership::of(["group7", "app_users"]);
    let env = MatchEnv {
        interfaces: &[],
        resolver: &NoResolver,
    };
    let tcp = |a: &str, ssl: bool| Transport::Tcp {
        addr: a.parse::<IpAddr>().expect("fixed address"),
        ssl,
        gssenc: false,
    };
    let conn = |transport, user, database| Connection {
        transport,
        user,
        database,
        replication: Replication::None,
        membership: &member,
    };

    let small = parse(SMALL);
    let large = parse(&large_rules(false));
    let literal = parse(&large_rules(true));
    assert_eq!(large.lines.len(), 10_000);
    // Records the index can never skip: a role column that is not all literal names.
    let always_checked = large
        .lines
        .iter()
        .filter(|l| {
            l.roles
                .iter()
                .any(|t| t.is_member_check() || t.is_keyword("all") || t.regex.is_some())
        })
        .count();
    eprintln!(
        "10,000 rules: {always_checked} have a non-literal role column (checked for every \
         connection); size_of::<HbaLine>() = {} bytes",
        std::mem::size_of::<HbaLine>()
    );
    let cases: [(&str, &HbaFile, Connection<'_>, Option<u32>); 9] = [
        (
            "10_rules/typical",
            &small,
            conn(tcp("10.1.2.3", true), "alice", "shop"),
            Some(8),
        ),
        (
            "10_rules/last_rule",
            &small,
            conn(tcp("203.0.113.9", false), "mallory", "app"),
            Some(10),
        ),
        (
            "10_rules/no_match",
            &small,
            conn(tcp("2001:db8:ffff::9", false), "mallory", "app"),
            None,
        ),
        (
            "10000_rules/typical_mid",
            &large,
            conn(tcp("203.0.113.9", false), "alice", "appdb"),
            Some(5_001),
        ),
        (
            "10000_rules/near_end",
            &large,
            conn(tcp("203.0.113.9", true), "bob", "bobdb"),
            Some(9_991),
        ),
        (
            "10000_rules/no_match",
            &large,
            conn(tcp("203.0.113.9", true), "mallory", "db1"),
            None,
        ),
        (
            "10000_literal_roles/typical_mid",
            &literal,
            conn(tcp("203.0.113.9", false), "alice", "appdb"),
            Some(5_001),
        ),
        (
            "10000_literal_roles/near_end",
            &literal,
            conn(tcp("203.0.113.9", true), "bob", "bobdb"),
            Some(9_991),
        ),
        (
            "10000_literal_roles/no_match",
            &literal,
            conn(tcp("203.0.113.9", true), "mallory", "db1"),
            None,
        ),
    ];
    let mut g = c.benchmark_group("match");
    for (name, hba, conn, expect) in &cases {
        assert_eq!(hba.find(conn, &env).map(|l| l.line), *expect, "{name}");
        assert_eq!(
            hba.find_linear(conn, &env).map(|l| l.line),
            *expect,
            "{name}"
        );
        g.bench_function(*name, |b| {
            b.iter(|| hba.find(black_box(conn), &env).map(|l| l.line))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = bench_load, bench_match
}
criterion_main!(benches);
