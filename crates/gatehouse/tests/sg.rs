//! `gatehouse sg …` against a running `gatehouse serve`: rules added and revoked
//! through the admin API take effect at once for connections from real source
//! addresses (127.x.y.z), are refused when duplicated, expire on time, and
//! survive a restart (state store).

mod support;
use support::free_port;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gatehouse_proxy::protocol::{encode_startup, ProtocolVersion};
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse")
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(cfg: &Path, port: u16) -> Serve {
    let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config", cfg.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let s = Serve(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gatehouse did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The admin socket comes up right after the listener.
    let sock = cfg.parent().expect("dir").join("gatehouse-admin.sock");
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "admin socket did not appear"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// Connects from `source` and sends a StartupMessage: true when the gateway
/// answers (admitted by layer 1), false when it closes without a byte.
fn admitted_from(source: &str, port: u16) -> bool {
    session_from(source, port).is_some()
}

/// [`admitted_from`], keeping the admitted connection open.
fn session_from(source: &str, port: u16) -> Option<TcpStream> {
    let source: IpAddr = source.parse().expect("ip");
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::new(source, 0).into()).expect("bind");
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = BytesMut::new();
    encode_startup(
        ProtocolVersion::V3_0,
        &[(b"user", b"app"), (b"database", b"postgres")],
        &mut buf,
    )
    .expect("startup");
    let _ = s.write_all(&buf);
    let mut first = [0u8; 1];
    matches!(s.read(&mut first), Ok(1)).then_some(s)
}

fn config(dir: &Path, port: u16, c: &Cluster) -> PathBuf {
    std::fs::write(dir.join("pg_hba.conf"), "host all all 0.0.0.0/0 trust\n").expect("hba");
    let text = format!(
        "[listen]\naddresses = [\"127.0.0.1:{port}\"]\n[hba]\nfile = \"pg_hba.conf\"\n\
         [upstream]\nsocket_dir = \"{}\"\nport = {}\n\
         [network]\nattach = [\"sg-db\"]\n\
         [[network.groups]]\nid = \"sg-db\"\nname = \"database\"\nenforce_on_existing = true\n\
         [[network.groups]]\nid = \"sg-app\"\nname = \"applications\"\n\
         [[network.rules]]\nid = \"sgr-static\"\ngroup_id = \"sg-db\"\nprotocol = \"tcp\"\n\
         from_port = {port}\nto_port = {port}\nsource = {{ cidr = \"127.0.0.1/32\" }}\n\
         [[network.rules]]\nid = \"sgr-apps\"\ngroup_id = \"sg-db\"\nprotocol = \"-1\"\n\
         source = {{ group = \"sg-app\" }}\n",
        c.socket_dir().display(),
        c.port()
    );
    let p = dir.join("gatehouse.toml");
    std::fs::write(&p, text).expect("config");
    p
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn authorize_revoke_expire_members_and_persistence() {
    let c = Cluster::start_with(ClusterOptions::new(PgVersion::V18)).expect("cluster");
    c.execute("CREATE ROLE app LOGIN").expect("role");
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let cfg = config(dir.path(), port, &c);
    let cf = cfg.to_str().expect("utf-8");
    let p = port.to_string();
    let g = serve(&cfg, port);

    assert!(admitted_from("127.0.0.1", port));
    assert!(!admitted_from("127.0.0.20", port));

    // Authorize a CIDR: admitted at once.
    let out = ok(&gatehouse(&[
        "sg",
        "authorize-ingress",
        "--config",
        cf,
        "--group-id",
        "sg-db",
        "--protocol",
        "tcp",
        "--port",
        &p,
        "--cidr",
        "127.0.0.20/32",
        "--description",
        "on-call laptop",
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rule_id = v["security_group_rule"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(rule_id.starts_with("sgr-"), "{v}");
    assert!(admitted_from("127.0.0.20", port));
    // explain sees the stored rule too.
    let out = ok(&gatehouse(&[
        "explain",
        "--config",
        cf,
        "--address",
        "127.0.0.20",
    ]));
    assert!(out.contains(&rule_id), "{out}");

    // A second gateway with the same state store and admin socket refuses to start
    // instead of taking the socket over.
    let other_port = free_port();
    let other = dir.path().join("other.toml");
    let text = std::fs::read_to_string(&cfg).expect("read").replace(
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{other_port}"),
    );
    std::fs::write(&other, text).expect("write");
    let second = gatehouse(&["serve", "--config", other.to_str().expect("utf-8")]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another gatehouse is serving it"),
        "{second:?}"
    );

    // Protocol -1 (all ports) parses as the AWS CLI writes it.
    ok(&gatehouse(&[
        "sg",
        "authorize-ingress",
        "--config",
        cf,
        "--group-id",
        "sg-db",
        "--protocol",
        "-1",
        "--cidr",
        "127.0.0.50/32",
    ]));
    assert!(admitted_from("127.0.0.50", port));
    let zero = gatehouse(&[
        "sg",
        "authorize-ingress",
        "--config",
        cf,
        "--group-id",
        "sg-db",
        "--port",
        &p,
        "--cidr",
        "127.0.0.51/32",
        "--expires-in",
        "0s",
    ]);
    assert_eq!(zero.status.code(), Some(2));

    // The same rule again: AWS's duplicate error, exit 2.
    let dup = gatehouse(&[
        "sg",
        "authorize-ingress",
        "--config",
        cf,
        "--group-id",
        "sg-db",
        "--port",
        &p,
        "--cidr",
        "127.0.0.20/32",
    ]);
    assert_eq!(dup.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("InvalidPermission.Duplicate"),
        "{dup:?}"
    );

    // Listed with its origin; the static rule cannot be revoked through the API.
    let out = ok(&gatehouse(&[
        "sg",
        "describe-security-group-rules",
        "--config",
        cf,
        "--group-id",
        "sg-db",
    ]));
    assert!(
        out.contains(&rule_id) && out.contains("on-call laptop") && out.contains("sgr-static"),
        "{out}"
    );
    let st = gatehouse(&[
        "sg",
        "revoke-ingress",
        "--config",
        cf,
        "--rule-id",
        "sgr-static",
    ]);
    assert_eq!(st.status.code(), Some(2));

    // An open session from .20, then revoke: new connections refused, and the live
    // session ends (sg-db enforces on existing connections).
    let mut live = session_from("127.0.0.20", port).expect("admitted");
    ok(&gatehouse(&[
        "sg",
        "revoke-ingress",
        "--config",
        cf,
        "--rule-id",
        &rule_id,
    ]));
    assert!(!admitted_from("127.0.0.20", port));
    live.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let t = Instant::now();
    let mut sink = Vec::new();
    assert!(
        live.read_to_end(&mut sink).is_ok(),
        "the revoked session was not closed within 1.5 s"
    );
    assert!(t.elapsed() < Duration::from_millis(1500));

    // Group membership: sgr-apps admits members of sg-app on every port.
    assert!(!admitted_from("127.0.0.30", port));
    ok(&gatehouse(&[
        "sg",
        "register-member",
        "--config",
        cf,
        "--group-id",
        "sg-app",
        "--address",
        "127.0.0.30",
    ]));
    assert!(admitted_from("127.0.0.30", port));

    // A temporary rule expires on time, without a restart.
    ok(&gatehouse(&[
        "sg",
        "authorize-ingress",
        "--config",
        cf,
        "--group-id",
        "sg-db",
        "--port",
        &p,
        "--cidr",
        "127.0.0.40/32",
        "--expires-in",
        "2s",
    ]));
    assert!(admitted_from("127.0.0.40", port));
    std::thread::sleep(Duration::from_millis(3200));
    assert!(!admitted_from("127.0.0.40", port));

    // Restart: the member is still there (state store).
    drop(g);
    let _g = serve(&cfg, port);
    assert!(admitted_from("127.0.0.30", port));
    let out = ok(&gatehouse(&[
        "sg",
        "describe-security-groups",
        "--config",
        cf,
    ]));
    assert!(out.contains("sg-db") && out.contains("sg-app"), "{out}");
}
