//! Property tests: CIDR matching against `ipnet`, parsing never panics, and the
//! rule index picks the same record as a plain scan.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gatehouse_hba::*;
use proptest::prelude::*;

const VERSIONS: [PgVersion; 4] = [
    PgVersion::V15,
    PgVersion::V16,
    PgVersion::V17,
    PgVersion::V18,
];

fn opts(version: PgVersion) -> ParseOptions {
    ParseOptions {
        version,
        ..ParseOptions::default()
    }
}

fn no_env() -> MatchEnv<'static> {
    MatchEnv {
        interfaces: &[],
        resolver: &NoResolver,
    }
}

fn tcp(addr: IpAddr) -> Transport {
    Transport::Tcp {
        addr,
        ssl: false,
        gssenc: false,
    }
}

// ---------------------------------------------------------------------------
// (a) CIDR matching agrees with ipnet
// ---------------------------------------------------------------------------

/// A network address and prefix length of one family.
fn network() -> impl Strategy<Value = (IpAddr, u8)> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, l)| (IpAddr::V4(Ipv4Addr::from(a)), l)),
        (any::<u128>(), 0u8..=128).prop_map(|(a, l)| (IpAddr::V6(Ipv6Addr::from(a)), l)),
    ]
}

/// A client address: unrelated (either family), or the network address with some
/// low bits flipped (so that both hits and near misses are common).
fn client_for(net: IpAddr) -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        (any::<u128>(), 0u32..=128).prop_map(move |(r, shift)| match net {
            IpAddr::V4(n) => {
                let flip = (r as u32).checked_shr(shift.min(32)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(n) ^ flip))
            }
            IpAddr::V6(n) => {
                let flip = r.checked_shr(shift).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(n) ^ flip))
            }
        }),
    ]
}

fn net_and_client() -> impl Strategy<Value = (IpAddr, u8, IpAddr)> {
    network().prop_flat_map(|(net, len)| (Just(net), Just(len), client_for(net)))
}

fn prefix_mask(net: IpAddr, len: u8) -> IpAddr {
    match net {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(
            u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
        )),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(
            u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0),
        )),
    }
}

fn first_match(text: &str, client: IpAddr) -> Option<u32> {
    let files = MemFiles::new();
    let hba = HbaFile::parse_bytes(
        "/etc/pg_hba.conf",
        text.as_bytes(),
        &files,
        &ParseOptions::default(),
        &NoResolver,
    );
    assert!(hba.is_loadable(), "{text}: {:?}", hba.errors);
    let member = Membership::of(Vec::<String>::new());
    let conn = Connection {
        transport: tcp(client),
        user: "u",
        database: "d",
        replication: Replication::None,
        membership: &member,
    };
    let env = no_env();
    let found = hba.find(&conn, &env).map(|l| l.line);
    assert_eq!(found, hba.find_linear(&conn, &env).map(|l| l.line));
    found
}

proptest! {
    #[test]
    fn cidr_matches_like_ipnet((net, len, client) in net_and_client()) {
        let expected = ipnet::IpNet::new(net, len).expect("valid prefix").contains(&client);
        let text = format!("host all all {net}/{len} trust\n");
        prop_assert_eq!(first_match(&text, client).is_some(), expected, "{} vs {}", text, client);
    }

    #[test]
    fn netmask_column_matches_like_ipnet((net, len, client) in net_and_client()) {
        let expected = ipnet::IpNet::new(net, len).expect("valid prefix").contains(&client);
        let mask = prefix_mask(net, len);
        let text = format!("host all all {net} {mask} trust\n");
        prop_assert_eq!(first_match(&text, client).is_some(), expected, "{} vs {}", text, client);
    }
}

// ---------------------------------------------------------------------------
// (b) parsing never panics
// ---------------------------------------------------------------------------

/// Files the parser can reach through `include`, `include_dir` and `@file`; one
/// includes itself and one `@file` names itself, so the depth limit is reached.
fn reachable_files() -> MemFiles {
    let mut f = MemFiles::new();
    f.insert(
        "/etc/pg/self.conf",
        "include self.conf\nlocal all all trust\n",
    );
    f.insert("/etc/pg/x", "host all all 10.0.0.0/8 md5\n");
    f.insert("/etc/pg/f", "alice, \"bob\" +g /^svc\n@f\n");
    f.insert("/etc/pg/g", "app\n# c\n\"all\",db2\n");
    f.insert("/etc/pg/conf.d/a.conf", "include_if_exists ../self.conf\n");
    f.insert("/etc/pg/conf.d/b.conf", "hostssl @g @f ::1/128 cert\n");
    f
}

const ALPHABET: &[&str] = &[
    "host",
    "hostssl",
    "local",
    "all",
    "+g",
    "\"x\"",
    "\"",
    ",",
    " ",
    "  ",
    "\t",
    "#",
    "\\",
    "\n",
    "/",
    "/^a",
    "@f",
    "@g",
    "@missing",
    "10.0.0.0/8",
    "::1",
    "255.0.0.0",
    "md5",
    "trust",
    "ldap",
    "ldapserver=x",
    "ldapprefix=p",
    "ldapbasedn=b",
    "map=m",
    "clientcert=verify-full",
    "include",
    "include_dir",
    "include_if_exists",
    "self.conf",
    "conf.d",
    "x",
    "é",
    "\u{0}",
];

fn alphabet_text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..60)
        .prop_map(|parts| parts.concat().into_bytes())
}

fn parse_everything(data: &[u8], files: &MemFiles) {
    let member = Membership::of(["g"]);
    let env = no_env();
    for version in VERSIONS {
        let o = opts(version);
        let hba = HbaFile::parse_bytes("/etc/pg/pg_hba.conf", data, files, &o, &NoResolver);
        for d in hba.errors.iter().chain(&hba.warnings) {
            let _ = d.to_string();
        }
        let conn = Connection {
            transport: tcp(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))),
            user: "alice",
            database: "app",
            replication: Replication::None,
            membership: &member,
        };
        let _ = hba.find(&conn, &env);
        let ident = IdentFile::parse_bytes("/etc/pg/pg_ident.conf", data, files, &o);
        let _ = ident.check("m", "alice", "alice", false, &|_| false);
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
        parse_everything(&data, &reachable_files());
    }

    #[test]
    fn parse_never_panics_on_token_soup(data in alphabet_text()) {
        parse_everything(&data, &reachable_files());
    }
}

// ---------------------------------------------------------------------------
// (c) the index agrees with a linear scan
// ---------------------------------------------------------------------------

const USER_TOKENS: &[&str] = &[
    "all",
    "\"all\"",
    "+g1",
    "+g2",
    "\"+g1\"",
    "/^u[0-2]$",
    "/u",
    "\"/^u1\"",
    "u0",
    "u1",
    "u2",
    "\"u1\"",
    "\"U1\"",
    "\"u 3\"",
];
const DB_TOKENS: &[&str] = &[
    "all",
    "\"all\"",
    "sameuser",
    "samerole",
    "samegroup",
    "replication",
    "\"replication\"",
    "d0",
    "d1",
    "u1",
    "/^d",
    "\"d1\"",
];
const ADDRESSES: &[&str] = &[
    "all",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.3/32",
    "192.168.0.0 255.255.0.0",
    "::/0",
    "2001:db8::/32",
    "::1/128",
    "samehost",
    "samenet",
    ".example.com",
];
const CONN_TYPES: &[&str] = &[
    "local",
    "host",
    "hostssl",
    "hostnossl",
    "hostgssenc",
    "hostnogssenc",
];
const METHODS: &[&str] = &["trust", "md5", "reject", "scram-sha-256", "password"];

fn list(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 1..=3).prop_map(|v| v.join(","))
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(CONN_TYPES),
        list(DB_TOKENS),
        list(USER_TOKENS),
        prop::sample::select(ADDRESSES),
        prop::sample::select(METHODS),
    )
        .prop_map(|(ct, db, user, addr, method)| {
            if ct == "local" {
                format!("{ct} {db} {user} {method}")
            } else {
                format!("{ct} {db} {user} {addr} {method}")
            }
        })
}

const CONN_USERS: &[&str] = &[
    "u0", "u1", "u2", "U1", "u 3", "all", "+g1", "/u", "/^u1", "g1",
];
const CONN_DBS: &[&str] = &["d0", "d1", "u1", "all", "replication", "g1", "/^d"];
const CONN_ADDRS: &[&str] = &[
    "10.1.2.3",
    "10.9.9.9",
    "192.168.4.5",
    "172.16.0.1",
    "::1",
    "2001:db8::7",
    "fe80::1",
];

#[derive(Clone, Debug)]
struct Conn {
    transport: Transport,
    user: &'static str,
    database: &'static str,
    replication: Replication,
    membership: Membership,
}

fn conn() -> impl Strategy<Value = Conn> {
    let transport = prop_oneof![
        Just(Transport::Local),
        (
            prop::sample::select(CONN_ADDRS),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(a, ssl, gssenc)| Transport::Tcp {
                addr: a.parse().expect("fixed address"),
                ssl,
                gssenc,
            }),
    ];
    let replication = prop::sample::select(vec![
        Replication::None,
        Replication::Physical,
        Replication::Logical,
    ]);
    let membership = (
        any::<bool>(),
        prop::sample::subsequence(vec!["g1", "g2", "u1", "d1"], 0..=4),
    )
        .prop_map(|(exists, roles)| Membership {
            exists,
            member_of: roles.into_iter().map(str::to_owned).collect(),
        });
    (
        transport,
        prop::sample::select(CONN_USERS),
        prop::sample::select(CONN_DBS),
        replication,
        membership,
    )
        .prop_map(
            |(transport, user, database, replication, membership)| Conn {
                transport,
                user,
                database,
                replication,
                membership,
            },
        )
}

/// The server's interfaces, so `samehost` and `samenet` can match.
fn interfaces() -> Vec<InterfaceAddr> {
    vec![
        InterfaceAddr {
            addr: "10.1.2.3".parse().expect("fixed address"),
            netmask: "255.255.0.0".parse().expect("fixed mask"),
        },
        InterfaceAddr {
            addr: "::1".parse().expect("fixed address"),
            netmask: "ffff:ffff:ffff:ffff::".parse().expect("fixed mask"),
        },
    ]
}

proptest! {
    #[test]
    fn index_agrees_with_linear_scan(
        rules in prop::collection::vec(rule(), 1..40),
        conns in prop::collection::vec(conn(), 1..16),
        version in prop::sample::select(VERSIONS.to_vec()),
    ) {
        let text = rules.join("\n") + "\n";
        let files = MemFiles::new();
        let hba = HbaFile::parse_bytes("/etc/pg_hba.conf", text.as_bytes(), &files, &opts(version), &NoResolver);
        prop_assert!(hba.is_loadable(), "{:?}", hba.errors);
        prop_assert_eq!(hba.lines.len(), rules.len());
        let ifs = interfaces();
        let env = MatchEnv { interfaces: &ifs, resolver: &NoResolver };
        for c in &conns {
            let conn = Connection {
                transport: c.transport,
                user: c.user,
                database: c.database,
                replication: c.replication,
                membership: &c.membership,
            };
            let indexed = hba.find(&conn, &env).map(|l| l.line);
            let linear = hba.find_linear(&conn, &env).map(|l| l.line);
            prop_assert_eq!(indexed, linear, "{:?}\n{}", c, text);
            // find_all: every matching record in order, the first being find's.
            let all: Vec<u32> = hba.find_all(&conn, &env).iter().map(|l| l.line).collect();
            prop_assert_eq!(all.first().copied(), indexed);
            prop_assert!(all.windows(2).all(|w| w[0] < w[1]), "{:?}", all);
        }
    }
}

// ---------------------------------------------------------------------------
// The generators are not vacuous
// ---------------------------------------------------------------------------

/// Both outcomes of (a) are common, and (c) finds matches as well as misses.
#[test]
fn generators_produce_hits_and_misses() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut hits, mut same_family_misses) = (0, 0);
    for _ in 0..400 {
        let (net, len, client) = net_and_client()
            .new_tree(&mut runner)
            .expect("value")
            .current();
        let inside = ipnet::IpNet::new(net, len)
            .expect("valid prefix")
            .contains(&client);
        hits += usize::from(inside);
        same_family_misses += usize::from(!inside && net.is_ipv4() == client.is_ipv4());
    }
    eprintln!("cidr: {hits} hits, {same_family_misses} same-family misses of 400");
    assert!(hits > 40, "cidr hits: {hits}");
    assert!(same_family_misses > 40, "cidr misses: {same_family_misses}");

    let (mut matched, mut unmatched) = (0, 0);
    let ifs = interfaces();
    let env = MatchEnv {
        interfaces: &ifs,
        resolver: &NoResolver,
    };
    for _ in 0..100 {
        let rules = prop::collection::vec(rule(), 1..40)
            .new_tree(&mut runner)
            .expect("value")
            .current();
        let text = rules.join("\n") + "\n";
        let hba = HbaFile::parse_bytes(
            "/etc/pg_hba.conf",
            text.as_bytes(),
            &MemFiles::new(),
            &ParseOptions::default(),
            &NoResolver,
        );
        for _ in 0..10 {
            let c = conn().new_tree(&mut runner).expect("value").current();
            let conn = Connection {
                transport: c.transport,
                user: c.user,
                database: c.database,
                replication: c.replication,
                membership: &c.membership,
            };
            match hba.find(&conn, &env) {
                Some(_) => matched += 1,
                None => unmatched += 1,
            }
        }
    }
    eprintln!("index: {matched} matched, {unmatched} unmatched of 1000");
    assert!(matched > 100, "index test matches: {matched}");
    assert!(unmatched > 100, "index test misses: {unmatched}");
}
