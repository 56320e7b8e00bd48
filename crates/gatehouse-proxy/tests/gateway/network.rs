//! Layer 1 through the gateway, from real sockets with many source addresses
//! (any 127.x.y.z on Linux loopback): CIDR, prefix-list and group-member
//! sources, port ranges, expiry without a restart, enforce_on_existing, and the
//! PROXY protocol from a trusted balancer.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gatehouse_netacl::{
    GroupId, IngressRule, Member, PrefixList, PrefixListEntry, Protocol, RuleId, SecurityGroup,
    Snapshot, Source, Timestamp,
};
use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::config::UpstreamAuth;
use gatehouse_proxy::network::{ListenerNetwork, NetworkPolicy};
use gatehouse_proxy::protocol::{encode_startup, ProtocolVersion};
use gatehouse_proxy::proxy_header::ProxySettings;
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

use crate::auth_methods::engine;
use crate::harness::*;

const HBA: &str = "host all all 0.0.0.0/0 trust\n";

fn gid(s: &str) -> GroupId {
    s.parse().expect("group id")
}

fn rule(
    id: &str,
    group: &str,
    ports: (i32, i32),
    source: Source,
    expires_at: Option<Timestamp>,
) -> IngressRule {
    IngressRule {
        id: id.parse::<RuleId>().expect("rule id"),
        group_id: gid(group),
        protocol: Protocol::Tcp,
        from_port: ports.0,
        to_port: ports.1,
        source,
        description: None,
        expires_at,
    }
}

fn group(id: &str, enforce: bool) -> SecurityGroup {
    SecurityGroup {
        id: gid(id),
        name: id.trim_start_matches("sg-").to_string(),
        description: String::new(),
        enforce_on_existing: enforce,
    }
}

/// A gateway whose single listener has `sg-db` attached; the policy is built once
/// the port is known (`make(port)`).
fn gateway(
    c: &Cluster,
    dir: &std::path::Path,
    proxy: Option<ProxySettings>,
    make: impl Fn(u16) -> Snapshot,
) -> Gw {
    // Start open to learn the port, then load the real policy (what SIGHUP does).
    let mut cfg = config(
        rules(dir, HBA, None, engine(PgVersion::V18)),
        unix_addr(c),
        UpstreamAuth::Trust,
        SecretSource::None,
    );
    cfg.proxy = proxy;
    let gw = start(cfg);
    load(&gw, make(gw.port()));
    gw
}

fn load(gw: &Gw, snapshot: Snapshot) {
    let policy = NetworkPolicy {
        snapshot,
        listeners: vec![ListenerNetwork {
            port: gw.port(),
            groups: vec![gid("sg-db")],
            open: false,
        }],
    };
    gw.shared.reload_network(policy).expect("policy compiles");
}

/// Connects from `source`, sends a StartupMessage (after `prefix`), and returns
/// the first byte of the answer: `Some(b'R')` (authentication, i.e. admitted),
/// `None` when the gateway closed without a byte.
fn login_from(source: IpAddr, gw: &Gw, prefix: &[u8]) -> (Option<u8>, Option<TcpStream>) {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(source, 0).into())
        .expect("bind source");
    sock.connect(&gw.addr.into()).expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = BytesMut::from(prefix);
    encode_startup(
        ProtocolVersion::V3_0,
        &[(b"user", b"nopass"), (b"database", b"postgres")],
        &mut buf,
    )
    .expect("startup");
    let _ = s.write_all(&buf);
    let mut first = [0u8; 1];
    match s.read(&mut first) {
        Ok(1) => (Some(first[0]), Some(s)),
        _ => (None, None),
    }
}

fn cluster() -> Cluster {
    let c = Cluster::start_with(ClusterOptions::new(PgVersion::V18)).expect("cluster");
    c.execute("CREATE ROLE nopass LOGIN").expect("role");
    c
}

#[test]
fn cidr_prefix_list_member_and_port_sources() {
    let c = cluster();
    let dir = scratch();
    let gw = gateway(&c, dir.path(), None, |port| Snapshot {
        groups: vec![group("sg-db", false), group("sg-app", false)],
        rules: vec![
            rule(
                "sgr-one",
                "sg-db",
                (port as i32, port as i32),
                Source::Cidr("127.0.0.2/32".parse().expect("net")),
                None,
            ),
            rule(
                "sgr-office",
                "sg-db",
                (port as i32, port as i32),
                Source::PrefixList("pl-office".parse().expect("pl")),
                None,
            ),
            rule(
                "sgr-app",
                "sg-db",
                (1, 65535),
                Source::Group(gid("sg-app")),
                None,
            ),
            // Another port: never applies to this listener.
            rule(
                "sgr-other",
                "sg-db",
                (1, 1),
                Source::Cidr("127.0.4.0/24".parse().expect("net")),
                None,
            ),
        ],
        prefix_lists: vec![PrefixList {
            id: "pl-office".parse().expect("pl"),
            name: "office".into(),
            max_entries: 4,
            entries: vec![PrefixListEntry {
                cidr: "127.0.1.0/24".parse().expect("net"),
                description: None,
            }],
        }],
        members: vec![Member {
            group_id: gid("sg-app"),
            address: "127.0.2.7".parse().expect("ip"),
            expires_at: None,
        }],
    });
    for (src, admitted) in [
        ("127.0.0.2", true),
        ("127.0.1.9", true),
        ("127.0.2.7", true),
        ("127.0.2.8", false),
        ("127.0.0.3", false),
        ("127.0.4.4", false),
    ] {
        let (first, _) = login_from(src.parse().expect("ip"), &gw, b"");
        assert_eq!(first == Some(b'R'), admitted, "{src}: {first:?}");
        if !admitted {
            assert_eq!(first, None, "{src}: denied sources get no byte");
        }
    }
}

#[test]
fn expiry_stops_matching_without_a_restart_and_enforce_on_existing() {
    let c = cluster();
    let dir = scratch();
    let soon = Timestamp::now().plus_secs(2);
    let gw = gateway(&c, dir.path(), None, |port| Snapshot {
        groups: vec![group("sg-db", true)],
        rules: vec![
            rule(
                "sgr-temp",
                "sg-db",
                (port as i32, port as i32),
                Source::Cidr("127.0.0.5/32".parse().expect("net")),
                Some(soon),
            ),
            rule(
                "sgr-keep",
                "sg-db",
                (port as i32, port as i32),
                Source::Cidr("127.0.0.6/32".parse().expect("net")),
                None,
            ),
        ],
        ..Snapshot::default()
    });
    let (first, temp_session) = login_from("127.0.0.5".parse().expect("ip"), &gw, b"");
    assert_eq!(first, Some(b'R'));
    let (first, keep_session) = login_from("127.0.0.6".parse().expect("ip"), &gw, b"");
    assert_eq!(first, Some(b'R'));
    // After the expiry: new connections from .5 are refused, and the live session
    // from .5 is closed within a second (the group enforces on existing sessions).
    let mut temp_session = temp_session.expect("session");
    temp_session
        .set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let mut sink = Vec::new();
    let t = Instant::now();
    let _ = temp_session.read_to_end(&mut sink);
    let closed_after = t.elapsed();
    assert!(
        Timestamp::now().as_secs() >= soon.as_secs(),
        "closed before the expiry"
    );
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
    let (first, _) = login_from("127.0.0.5".parse().expect("ip"), &gw, b"");
    assert_eq!(first, None);
    // The other session is untouched.
    let mut keep = keep_session.expect("session");
    keep.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut one = [0u8; 1];
    let still_open = !matches!(keep.read(&mut one), Ok(0));
    assert!(still_open, "the allowed session was closed");
}

#[test]
fn revoked_rule_keeps_tracked_sessions_unless_enforced() {
    let c = cluster();
    let dir = scratch();
    for enforce in [false, true] {
        let mk = |port: u16, with_rule: bool| Snapshot {
            groups: vec![group("sg-db", enforce)],
            rules: if with_rule {
                vec![rule(
                    "sgr-a",
                    "sg-db",
                    (port as i32, port as i32),
                    Source::Cidr("127.0.0.7/32".parse().expect("net")),
                    None,
                )]
            } else {
                vec![]
            },
            ..Snapshot::default()
        };
        let gw = gateway(&c, dir.path(), None, |port| mk(port, true));
        let (first, session) = login_from("127.0.0.7".parse().expect("ip"), &gw, b"");
        assert_eq!(first, Some(b'R'));
        let mut session = session.expect("session");
        load(&gw, mk(gw.port(), false));
        session
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .expect("timeout");
        let mut sink = Vec::new();
        let closed = session.read_to_end(&mut sink).is_ok();
        assert_eq!(closed, enforce, "enforce_on_existing = {enforce}");
        let (first, _) = login_from("127.0.0.7".parse().expect("ip"), &gw, b"");
        assert_eq!(first, None, "new connections follow the revoked rule");
    }
}

#[test]
fn proxy_protocol_source_is_the_one_checked() {
    let c = cluster();
    let dir = scratch();
    let settings = ProxySettings {
        trusted: vec!["127.0.0.1/32".parse().expect("net")],
        required: true,
    };
    let gw = gateway(&c, dir.path(), Some(settings), |port| Snapshot {
        groups: vec![group("sg-db", false)],
        rules: vec![rule(
            "sgr-clients",
            "sg-db",
            (port as i32, port as i32),
            Source::Cidr("198.51.100.0/24".parse().expect("net")),
            None,
        )],
        ..Snapshot::default()
    });
    let header =
        |src: &str| format!("PROXY TCP4 {src} 127.0.0.1 40000 {}\r\n", gw.port()).into_bytes();
    let trusted: IpAddr = "127.0.0.1".parse().expect("ip");
    // The header's source is allowed: admitted, though 127.0.0.1 itself has no rule.
    assert_eq!(
        login_from(trusted, &gw, &header("198.51.100.7")).0,
        Some(b'R')
    );
    // The header's source is not allowed.
    assert_eq!(login_from(trusted, &gw, &header("203.0.113.9")).0, None);
    // Trusted peer without the required header.
    assert_eq!(login_from(trusted, &gw, b"").0, None);
    // A header from an untrusted peer.
    assert_eq!(
        login_from(
            "127.0.0.9".parse().expect("ip"),
            &gw,
            &header("198.51.100.7")
        )
        .0,
        None
    );
}

#[test]
fn ipv6_sources_on_a_v6_listener() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let c = cluster();
    let dir = scratch();
    let cfg = config(
        rules(
            dir.path(),
            "host all all ::1/128 trust\n",
            None,
            engine(PgVersion::V18),
        ),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::None,
    );
    let gw = start_on(cfg, "[::1]:0".parse().expect("addr"));
    let mk = |cidr: &str| Snapshot {
        groups: vec![group("sg-db", false)],
        rules: vec![rule(
            "sgr-v6",
            "sg-db",
            (i32::from(gw.port()), i32::from(gw.port())),
            Source::Cidr(cidr.parse().expect("net")),
            None,
        )],
        ..Snapshot::default()
    };
    let try_login = || {
        let mut s = TcpStream::connect(gw.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = BytesMut::new();
        encode_startup(
            ProtocolVersion::V3_0,
            &[(b"user", b"nopass"), (b"database", b"postgres")],
            &mut buf,
        )
        .expect("startup");
        let _ = s.write_all(&buf);
        let mut first = [0u8; 1];
        matches!(s.read(&mut first), Ok(1)).then_some(first[0])
    };
    load(&gw, mk("::1/128"));
    assert_eq!(try_login(), Some(b'R'));
    load(&gw, mk("2001:db8::/32"));
    assert_eq!(try_login(), None);
}

/// A network namespace joined to this one by a veth pair (IPv6 only), removed on drop.
struct Netns {
    name: String,
    host_if: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `fd00:<tag>::1` on this side, `::2` and `::3` inside the namespace.
fn netns(tag: u16) -> Option<Netns> {
    let n = std::process::id() % 100_000;
    let ns = Netns {
        name: format!("gh-{n}"),
        host_if: format!("gh{n}a"),
    };
    let peer = format!("gh{n}b");
    let net = |host: u8| format!("fd00:{tag:x}::{host}/64");
    let ok = ip(&["netns", "add", &ns.name])
        && ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ])
        && ip(&["link", "set", &peer, "netns", &ns.name])
        && ip(&["addr", "add", &net(1), "dev", &ns.host_if, "nodad"])
        && ip(&["link", "set", &ns.host_if, "up"])
        && ip(&[
            "netns",
            "exec",
            &ns.name,
            "ip",
            "addr",
            "add",
            &net(2),
            "dev",
            &peer,
            "nodad",
        ])
        && ip(&[
            "netns",
            "exec",
            &ns.name,
            "ip",
            "addr",
            "add",
            &net(3),
            "dev",
            &peer,
            "nodad",
        ])
        && ip(&["netns", "exec", &ns.name, "ip", "link", "set", &peer, "up"])
        && ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
    ok.then_some(ns)
}

#[test]
fn ipv6_sources_from_a_network_namespace() {
    let tag = 0x6a7e;
    let Some(ns) = netns(tag) else {
        eprintln!("skipped: cannot create a network namespace with a veth pair here (needs root and iproute2)");
        return;
    };
    let c = cluster();
    let dir = scratch();
    let cfg = config(
        rules(
            dir.path(),
            "host all all fd00::/16 trust\n",
            None,
            engine(PgVersion::V18),
        ),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::None,
    );
    let gw = start_on(cfg, format!("[fd00:{tag:x}::1]:0").parse().expect("addr"));
    load(
        &gw,
        Snapshot {
            groups: vec![group("sg-db", false)],
            rules: vec![rule(
                "sgr-v6-host",
                "sg-db",
                (i32::from(gw.port()), i32::from(gw.port())),
                Source::Cidr(format!("fd00:{tag:x}::2/128").parse().expect("net")),
                None,
            )],
            ..Snapshot::default()
        },
    );
    let mut startup = BytesMut::new();
    encode_startup(
        ProtocolVersion::V3_0,
        &[(b"user", b"nopass"), (b"database", b"postgres")],
        &mut startup,
    )
    .expect("startup");
    let hex: String = startup.iter().map(|b| format!("{b:02x}")).collect();
    let from = |src: &str| -> String {
        let code = format!(
            "import socket\ns=socket.socket(socket.AF_INET6)\ns.settimeout(5)\ns.bind(('{src}',0))\n\
             s.connect(('fd00:{tag:x}::1',{port}))\ns.sendall(bytes.fromhex('{hex}'))\n\
             try:\n  print(s.recv(1).hex() or 'closed')\nexcept ConnectionResetError:\n  print('closed')\n\
             except Exception as e:\n  print('error', e)\n",
            port = gw.port()
        );
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3", "-c", &code])
            .output()
            .expect("run python in the namespace");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        from(&format!("fd00:{tag:x}::2")),
        "52",
        "the allowed source gets AuthenticationOk ('R')"
    );
    assert_eq!(
        from(&format!("fd00:{tag:x}::3")),
        "closed",
        "another source is closed without a byte"
    );
}
