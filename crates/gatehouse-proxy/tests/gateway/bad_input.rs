//! The bad input battery: broken, hostile or silent clients at the front door.
//!
//! Every case checks what bytes come back, that the connection is closed (or
//! not), and that the gateway still serves a normal client afterwards. Where it
//! is cheap, the same bytes go to the cluster's own TCP port too and the
//! gateway's answer must carry PostgreSQL's SQLSTATE and message (an oracle).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gatehouse_proxy::auth::{ClientChannelBinding, ScramClient, ScramCredentials, ScramNonce};
use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::config::UpstreamAuth;
use gatehouse_proxy::protocol::{
    encode_cancel_request, encode_gssenc_request, encode_sasl_initial_response,
    encode_sasl_response, encode_ssl_request, encode_startup, encode_terminate, ProtocolVersion,
};
use gatehouse_testkit::{Cluster, ClusterOptions, PgVersion};
use rand::RngCore;

use crate::harness::*;

/// Every blocking read or write of these tests gives up after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

const TRUST_HBA: &str = "host all all 127.0.0.1/32 trust\n";

// ---------------------------------------------------------------- set-up

fn cluster(options: ClusterOptions) -> Cluster {
    Cluster::start_with(options).expect("start cluster")
}

/// A gateway trusting everyone from 127.0.0.1, in front of `c` (secrets: an
/// empty userlist, never read on trust lines).
fn trust_gateway(
    c: &Cluster,
    tweak: impl FnOnce(&mut gatehouse_proxy::config::GatewayConfig),
) -> Gw {
    let dir = scratch();
    let mut cfg = config(
        rules(dir.path(), TRUST_HBA, None, gatehouse_hba::PgVersion::V18),
        unix_addr(c),
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list: userlist(dir.path(), &[]),
            catalog: None,
        },
    );
    tweak(&mut cfg);
    start(cfg)
}

// ---------------------------------------------------------------- raw I/O

fn connect(port: u16) -> TcpStream {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT))
        .expect("write timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until the peer closes (EOF or reset) and returns what came; panics if
/// the connection is still open after `within`.
fn read_to_close(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "connection still open after {within:?}; received {out:?}"
        );
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Connects, writes each chunk (separately), optionally half-closes, and
/// returns everything received until the server closed.
fn exchange(port: u16, writes: &[&[u8]], half_close: bool) -> Vec<u8> {
    let mut s = connect(port);
    for w in writes {
        s.write_all(w).expect("write");
    }
    if half_close {
        s.shutdown(Shutdown::Write).expect("shutdown write");
    }
    read_to_close(&mut s, IO_TIMEOUT)
}

/// Reads one typed message.
fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).expect("message header");
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    let len = usize::try_from(len).expect("non-negative length");
    assert!((4..1 << 20).contains(&len), "message length {len}");
    let mut body = vec![0u8; len - 4];
    s.read_exact(&mut body).expect("message body");
    (head[0], body)
}

/// Splits received bytes into typed messages; panics on a partial one.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 5, "partial message {bytes:?}");
        let len = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let len = usize::try_from(len).expect("non-negative length");
        assert!(len >= 4 && bytes.len() > len, "partial message {bytes:?}");
        out.push((bytes[0], bytes[5..1 + len].to_vec()));
        bytes = &bytes[1 + len..];
    }
    out
}

/// An ErrorResponse body as `field code → value`.
fn fields(body: &[u8]) -> BTreeMap<char, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while let Some((&code, after)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let nul = after.iter().position(|&b| b == 0).expect("field NUL");
        out.insert(
            char::from(code),
            String::from_utf8_lossy(&after[..nul]).into_owned(),
        );
        rest = &after[nul + 1..];
    }
    out
}

/// The fields of the one FATAL ErrorResponse that `bytes` must be.
fn fatal(bytes: &[u8]) -> BTreeMap<char, String> {
    let msgs = frames(bytes);
    assert_eq!(msgs.len(), 1, "expected one ErrorResponse, got {bytes:?}");
    assert_eq!(msgs[0].0, b'E', "expected an ErrorResponse, got {bytes:?}");
    let f = fields(&msgs[0].1);
    assert_eq!(f.get(&'S').map(String::as_str), Some("FATAL"), "{f:?}");
    assert_eq!(f.get(&'V').map(String::as_str), Some("FATAL"), "{f:?}");
    f
}

/// The gateway's FATAL must carry PostgreSQL's SQLSTATE, message and (when
/// PostgreSQL sends one) detail; returns the gateway's fields.
fn same_fatal(gw: &[u8], pg: &[u8]) -> BTreeMap<char, String> {
    let g = fatal(gw);
    let p = fatal(pg);
    assert_eq!(
        g.get(&'C'),
        p.get(&'C'),
        "SQLSTATE: gateway {g:?}, PostgreSQL {p:?}"
    );
    assert_eq!(
        g.get(&'M'),
        p.get(&'M'),
        "message: gateway {g:?}, PostgreSQL {p:?}"
    );
    if p.contains_key(&'D') {
        assert_eq!(
            g.get(&'D'),
            p.get(&'D'),
            "detail: gateway {g:?}, PostgreSQL {p:?}"
        );
    }
    g
}

fn startup(major: u16, minor: u16, params: &[(&str, &str)]) -> Vec<u8> {
    let params: Vec<(&[u8], &[u8])> = params
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let mut buf = BytesMut::new();
    encode_startup(ProtocolVersion { major, minor }, &params, &mut buf).expect("startup");
    buf.to_vec()
}

fn startup_v3(user: &str) -> Vec<u8> {
    startup(3, 0, &[("user", user), ("database", "postgres")])
}

fn ssl_request() -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_ssl_request(&mut buf);
    buf.to_vec()
}

fn gssenc_request() -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_gssenc_request(&mut buf);
    buf.to_vec()
}

fn cancel_request(process_id: i32, key: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_cancel_request(process_id, key, &mut buf).expect("cancel request");
    buf.to_vec()
}

fn terminate(s: &mut TcpStream) {
    let mut buf = BytesMut::new();
    encode_terminate(&mut buf);
    let _ = s.write_all(&buf);
}

// ---------------------------------------------------------------- sessions

/// A logged-in raw session.
struct Session {
    s: TcpStream,
    /// Messages before ReadyForQuery, in order (tag, body).
    seen: Vec<(u8, Vec<u8>)>,
}

impl Session {
    /// The BackendKeyData: (process id, secret key).
    fn key(&self) -> (i32, Vec<u8>) {
        let body = &self
            .seen
            .iter()
            .find(|(t, _)| *t == b'K')
            .expect("BackendKeyData")
            .1;
        (
            i32::from_be_bytes([body[0], body[1], body[2], body[3]]),
            body[4..].to_vec(),
        )
    }

    /// Sends a simple Query.
    fn send_query(&mut self, sql: &str) {
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&(4 + sql.len() as i32 + 1).to_be_bytes());
        msg.extend_from_slice(sql.as_bytes());
        msg.push(0);
        self.s.write_all(&msg).expect("send query");
    }

    /// Reads a simple query's result up to ReadyForQuery: the first column of
    /// each row, or the error's fields.
    fn result(&mut self) -> Result<Vec<String>, BTreeMap<char, String>> {
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, body) = read_msg(&mut self.s);
            match tag {
                b'D' => {
                    let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                    let len = usize::try_from(len).expect("non-null value");
                    rows.push(String::from_utf8_lossy(&body[6..6 + len]).into_owned());
                }
                b'E' => error = Some(fields(&body)),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn query(&mut self, sql: &str) -> Result<Vec<String>, BTreeMap<char, String>> {
        self.send_query(sql);
        self.result()
    }

    fn close(mut self) {
        terminate(&mut self.s);
    }
}

/// Sends `startup_bytes` and reads up to ReadyForQuery (trust), panicking on
/// an ErrorResponse.
fn login_with(port: u16, startup_bytes: &[u8]) -> Session {
    let mut s = connect(port);
    s.write_all(startup_bytes).expect("send startup");
    let mut seen = Vec::new();
    loop {
        let (tag, body) = read_msg(&mut s);
        assert_ne!(tag, b'E', "login refused: {:?}", fields(&body));
        seen.push((tag, body));
        if tag == b'Z' {
            return Session { s, seen };
        }
    }
}

fn login(port: u16) -> Session {
    login_with(port, &startup_v3("postgres"))
}

/// A normal trust login and query still work.
fn assert_serves(gw: &Gw) {
    let mut s = login(gw.port());
    assert_eq!(s.query("SELECT 41 + 1").expect("query"), ["42"]);
    s.close();
}

// ---------------------------------------------------------------- 1, 2: lengths

/// Length words PostgreSQL refuses: negative, above 10,004, below 8. Neither
/// PostgreSQL nor the gateway says anything (COMMERROR): the connection just
/// closes.
#[test]
fn startup_length_out_of_range_closes_silently() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut neg = (-8i32).to_be_bytes().to_vec();
    neg.extend_from_slice(&196_608u32.to_be_bytes());
    cases.push(("negative", neg));
    let mut huge = 10_005i32.to_be_bytes().to_vec();
    huge.extend_from_slice(&196_608u32.to_be_bytes());
    huge.extend_from_slice(&[b'x'; 64]);
    cases.push(("10,005", huge));
    let mut huger = 0x0010_0000i32.to_be_bytes().to_vec();
    huger.extend_from_slice(&196_608u32.to_be_bytes());
    cases.push(("1 MiB", huger));
    cases.push(("7", vec![0, 0, 0, 7, 0, 3, 0, 0]));
    cases.push(("0", vec![0, 0, 0, 0]));
    for (what, bytes) in &cases {
        let pg = exchange(c.port(), &[bytes], false);
        let ours = exchange(gw.port(), &[bytes], false);
        assert_eq!(pg, b"", "PostgreSQL, length {what}");
        assert_eq!(ours, pg, "gateway, length {what}");
    }
    assert_serves(&gw);
}

/// Length 100, 20 bytes, then the client half-closes: closed without a word.
#[test]
fn truncated_startup_then_half_close() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let mut bytes = 100i32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&196_608u32.to_be_bytes());
    bytes.extend_from_slice(b"user\0postgres\0da");
    assert_eq!(bytes.len(), 24);
    let bytes = &bytes[..20];
    let pg = exchange(c.port(), &[bytes], true);
    let ours = exchange(gw.port(), &[bytes], true);
    assert_eq!(pg, b"");
    assert_eq!(ours, b"");
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 3, 4: SSLRequest

/// Sends `request`, expects 'N', sends it again and returns what follows
/// until the close. (Sent together, the second would be "unencrypted data
/// after" the first: see `data_after_ssl_request_without_tls`.)
fn twice(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(request).expect("first request");
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"N");
    s.write_all(request).expect("second request");
    read_to_close(&mut s, IO_TIMEOUT)
}

/// No TLS: the first SSLRequest gets 'N', the second PostgreSQL's FATAL 0A000
/// "unsupported frontend protocol 1234.5679…".
#[test]
fn second_ssl_request_without_tls() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(false));
    let gw = trust_gateway(&c, |_| {});
    let ssl = ssl_request();
    let pg = twice(c.port(), &ssl);
    let ours = twice(gw.port(), &ssl);
    let f = same_fatal(&ours, &pg);
    assert_eq!(f[&'C'], "0A000");
    assert!(
        f[&'M'].starts_with("unsupported frontend protocol 1234.5679"),
        "{f:?}"
    );
    assert_serves(&gw);
}

/// TLS configured: 'S', then another SSLRequest in plaintext instead of a
/// ClientHello: the handshake fails and the connection closes, without any
/// PostgreSQL message (at most a TLS alert), as PostgreSQL (ssl=on) does.
#[test]
fn ssl_request_then_plaintext_instead_of_handshake() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(true));
    let dir = scratch();
    let pki = pki(dir.path(), "client");
    let gw = trust_gateway(&c, |cfg| cfg.tls = Some(pki.server.clone()));
    let ssl = ssl_request();
    for (who, port) in [("PostgreSQL", c.port()), ("gateway", gw.port())] {
        let mut s = connect(port);
        s.write_all(&ssl).expect("SSLRequest");
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"S", "{who}");
        s.write_all(&ssl).expect("second SSLRequest");
        let rest = read_to_close(&mut s, IO_TIMEOUT);
        // Nothing, or a TLS alert record (content type 21).
        assert!(rest.is_empty() || rest[0] == 0x15, "{who}: {rest:?}");
    }
    assert_serves(&gw);
}

/// SSLRequest and a StartupMessage in one write (CVE-2021-23214 class). With
/// TLS configured the gateway answers FATAL 08P01 "received unencrypted data
/// after SSL request" and never says 'S'. PostgreSQL 17+ says 'S' and feeds the
/// bytes to the TLS handshake (built for direct TLS), which fails: closed.
#[test]
fn data_after_ssl_request_with_tls() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(true));
    let dir = scratch();
    let pki = pki(dir.path(), "client");
    let gw = trust_gateway(&c, |cfg| cfg.tls = Some(pki.server.clone()));
    let mut both = ssl_request();
    both.extend_from_slice(&startup_v3("postgres"));

    let ours = exchange(gw.port(), &[&both], false);
    let f = fatal(&ours);
    assert_eq!(f[&'C'], "08P01", "{f:?}");
    assert_eq!(f[&'M'], "received unencrypted data after SSL request");

    let pg = exchange(c.port(), &[&both], false);
    assert_eq!(pg.first(), Some(&b'S'), "{pg:?}");
    assert!(pg.len() == 1 || pg[1] == 0x15, "PostgreSQL: {pg:?}");
    assert_serves(&gw);
}

/// The same without TLS: PostgreSQL answers 'N', then the same FATAL; the
/// gateway sends the FATAL without the 'N'.
#[test]
fn data_after_ssl_request_without_tls() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(false));
    let gw = trust_gateway(&c, |_| {});
    let mut both = ssl_request();
    both.extend_from_slice(&startup_v3("postgres"));
    let pg = exchange(c.port(), &[&both], false);
    let ours = exchange(gw.port(), &[&both], false);
    assert_eq!(pg.first(), Some(&b'N'), "{pg:?}");
    assert_eq!(ours.first(), Some(&b'N'), "{ours:?}");
    let f = same_fatal(&ours[1..], &pg[1..]);
    assert_eq!(f[&'C'], "08P01");
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 5: GSSENCRequest

/// libpq's gssencmode=prefer: GSSENCRequest ('N'), then SSLRequest on the same
/// connection ('S' with TLS configured), as PostgreSQL allows.
#[test]
fn gssenc_then_ssl_request() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(true));
    let dir = scratch();
    let pki = pki(dir.path(), "client");
    let gw = trust_gateway(&c, |cfg| cfg.tls = Some(pki.server.clone()));
    for (who, port) in [("PostgreSQL", c.port()), ("gateway", gw.port())] {
        let mut s = connect(port);
        s.write_all(&gssenc_request()).expect("GSSENCRequest");
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).expect("answer");
        if who == "gateway" {
            assert_eq!(&answer, b"N", "{who}");
        }
        if &answer == b"N" {
            s.write_all(&ssl_request()).expect("SSLRequest");
            s.read_exact(&mut answer).expect("answer");
            assert_eq!(&answer, b"S", "{who}");
        }
    }
    assert_serves(&gw);
}

/// GSSENCRequest and a StartupMessage in one write: 'N', then FATAL 08P01, as
/// PostgreSQL's ProcessStartupPacket() orders them. (Not compared with the
/// server: the PyPI build has GSSAPI and answers 'G'.)
#[test]
fn data_after_gssenc_request() {
    let c = cluster(ClusterOptions::new(PgVersion::V18).ssl(false));
    let gw = trust_gateway(&c, |_| {});
    let mut both = gssenc_request();
    both.extend_from_slice(&startup_v3("postgres"));
    let ours = exchange(gw.port(), &[&both], false);
    assert_eq!(ours.first(), Some(&b'N'), "{ours:?}");
    let f = fatal(&ours[1..]);
    assert_eq!(f[&'C'], "08P01");
    assert_eq!(
        f[&'M'],
        "received unencrypted data after GSSAPI encryption request"
    );
    assert_serves(&gw);
}

/// GSSENCRequest → 'N', then a normal startup on the same connection logs in.
#[test]
fn gssenc_request_then_startup() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let mut s = connect(gw.port());
    s.write_all(&gssenc_request()).expect("GSSENCRequest");
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"N");
    s.write_all(&startup_v3("postgres")).expect("startup");
    let mut seen = Vec::new();
    loop {
        let (tag, body) = read_msg(&mut s);
        assert_ne!(tag, b'E', "{:?}", fields(&body));
        seen.push(tag);
        if tag == b'Z' {
            break;
        }
    }
    assert_eq!(seen.first(), Some(&b'R'));
    assert!(seen.contains(&b'K'), "{seen:?}");
    let mut session = Session { s, seen: vec![] };
    assert_eq!(session.query("SELECT 'ok'").expect("query"), ["ok"]);
    session.close();
    // A second GSSENCRequest after the 'N' is refused like PostgreSQL does.
    let f = fatal(&twice(gw.port(), &gssenc_request()));
    assert_eq!(f[&'C'], "0A000");
    assert!(
        f[&'M'].starts_with("unsupported frontend protocol 1234.5680"),
        "{f:?}"
    );
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 6: SCRAM

const SCRAM_HBA: &str = "\
host all alice 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
";

/// A cluster with alice (SCRAM password `pw`) whose own TCP port asks alice for
/// SCRAM, and a gateway with the same rule reading secrets with auth_query.
fn scram_setup() -> (Cluster, Gw) {
    let c = cluster(
        ClusterOptions::new(PgVersion::V18).hba(format!("local all all trust\n{SCRAM_HBA}")),
    );
    c.execute(SETUP_SQL).expect("setup sql");
    c.execute(
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE alice LOGIN PASSWORD 'pw';",
    )
    .expect("role alice");
    let dir = scratch();
    let cfg = config(
        rules(dir.path(), SCRAM_HBA, None, gatehouse_hba::PgVersion::V18),
        unix_addr(&c),
        UpstreamAuth::Trust,
        auth_query(&c, Duration::from_secs(30)),
    );
    (c, start(cfg))
}

/// Connects as alice and reads AuthenticationSASL (offering SCRAM-SHA-256).
fn sasl_start(port: u16) -> TcpStream {
    let mut s = connect(port);
    s.write_all(&startup_v3("alice")).expect("startup");
    let (tag, body) = read_msg(&mut s);
    assert_eq!(tag, b'R', "{:?}", fields(&body));
    assert_eq!(&body[..4], &10i32.to_be_bytes(), "AuthenticationSASL");
    assert!(
        body.windows(14).any(|w| w == b"SCRAM-SHA-256\0"),
        "{body:?}"
    );
    s
}

fn send_initial(s: &mut TcpStream, mechanism: &str, data: &[u8]) {
    let mut buf = BytesMut::new();
    encode_sasl_initial_response(mechanism.as_bytes(), Some(data), &mut buf).expect("encode");
    s.write_all(&buf).expect("SASLInitialResponse");
}

fn send_response(s: &mut TcpStream, data: &[u8]) {
    let mut buf = BytesMut::new();
    encode_sasl_response(data, &mut buf).expect("encode");
    s.write_all(&buf).expect("SASLResponse");
}

/// Reads AuthenticationSASLContinue: server-first-message.
fn read_server_first(s: &mut TcpStream) -> Vec<u8> {
    let (tag, body) = read_msg(s);
    assert_eq!(tag, b'R', "{:?}", fields(&body));
    assert_eq!(
        &body[..4],
        &11i32.to_be_bytes(),
        "AuthenticationSASLContinue"
    );
    body[4..].to_vec()
}

/// What a client sees after its last SASL message: everything until close.
fn outcome(mut s: TcpStream) -> Vec<u8> {
    read_to_close(&mut s, IO_TIMEOUT)
}

/// One SCRAM exchange with `password` and a fixed client nonce: the
/// client-first and client-final it sent, and what came back after the final.
struct Exchange {
    first: String,
    fin: String,
    answer: Vec<u8>,
}

fn scram_exchange(port: u16, password: &str, nonce: &str) -> Exchange {
    let mut s = sasl_start(port);
    let client = ScramClient::new(
        ScramCredentials::Password(password.into()),
        ClientChannelBinding::Unsupported,
        ScramNonce::new(nonce).expect("nonce"),
    );
    let (state, first) = client.client_first();
    send_initial(&mut s, "SCRAM-SHA-256", first.as_bytes());
    let server_first = read_server_first(&mut s);
    let (_, fin) = state.server_first(&server_first).expect("server-first");
    send_response(&mut s, fin.as_bytes());
    // On success the session is live: ask to end it so the read sees a close.
    let mut answer = Vec::new();
    loop {
        let (tag, body) = read_msg(&mut s);
        let mut raw = vec![tag];
        raw.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        raw.extend_from_slice(&body);
        answer.extend_from_slice(&raw);
        if tag == b'E' {
            answer.extend_from_slice(&outcome(s));
            break;
        }
        if tag == b'Z' {
            terminate(&mut s);
            break;
        }
    }
    Exchange { first, fin, answer }
}

/// (a) an unknown mechanism → 08P01, as PostgreSQL.
#[test]
fn scram_unknown_mechanism() {
    let (c, gw) = scram_setup();
    let run = |port| {
        let mut s = sasl_start(port);
        send_initial(&mut s, "SCRAM-SHA-1", b"n,,n=,r=abcdef");
        outcome(s)
    };
    let f = same_fatal(&run(gw.port()), &run(c.port()));
    assert_eq!(f[&'C'], "08P01");
    assert!(
        f[&'M'].contains("invalid SASL authentication mechanism"),
        "{f:?}"
    );
    assert_serves(&gw);
}

/// (b) a client-first-message that is garbage → 08P01 "malformed SCRAM
/// message", with PostgreSQL's detail.
#[test]
fn scram_garbage_client_first() {
    let (c, gw) = scram_setup();
    // (An empty client nonce, `n,,n=,r=`, is accepted by PostgreSQL too.)
    let cases: [&[u8]; 7] = [
        b"hello",
        b"x,,n=,r=abc",
        b"n,,r=abc",
        b"n,,n=,r=ab\x01c",
        b"p=tls-server-end-point,,n=,r=abc",
        b"n,a=bob,n=,r=abc",
        b"n,,m=ext,n=,r=abc",
    ];
    for garbage in cases {
        let run = |port| {
            let mut s = sasl_start(port);
            send_initial(&mut s, "SCRAM-SHA-256", garbage);
            outcome(s)
        };
        let f = same_fatal(&run(gw.port()), &run(c.port()));
        assert!(
            ["08P01", "0A000"].contains(&f[&'C'].as_str()),
            "{garbage:?}: {f:?}"
        );
        if garbage == b"hello" {
            assert_eq!(f[&'M'], "malformed SCRAM message");
        }
    }
    assert_serves(&gw);
}

/// (c) a correct client-first, then a client-final whose nonce is not the
/// server's → 08P01 "invalid SCRAM response", detail "Nonce does not match.".
#[test]
fn scram_final_with_wrong_nonce() {
    let (c, gw) = scram_setup();
    let run = |port| {
        let mut s = sasl_start(port);
        send_initial(&mut s, "SCRAM-SHA-256", b"n,,n=,r=clientnonce0123456789");
        let server_first = read_server_first(&mut s);
        assert!(server_first.starts_with(b"r=clientnonce0123456789"));
        let proof = base64_32();
        let fin = format!("c=biws,r=clientnonce0123456789WRONG,p={proof}");
        send_response(&mut s, fin.as_bytes());
        outcome(s)
    };
    let f = same_fatal(&run(gw.port()), &run(c.port()));
    assert_eq!(f[&'C'], "08P01");
    assert_eq!(f[&'M'], "invalid SCRAM response");
    assert_serves(&gw);
}

/// 32 zero bytes in base64 (a well-formed but wrong proof).
fn base64_32() -> String {
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()
}

/// (d) a recorded, successful client-final replayed on a new connection (same
/// client-first): the server nonce differs, so it is refused as PostgreSQL
/// refuses it.
#[test]
fn scram_replayed_client_final() {
    let (c, gw) = scram_setup();
    let nonce = "replaynonce0123456789abcdef";
    let mut answers = Vec::new();
    for port in [gw.port(), c.port()] {
        let good = scram_exchange(port, "pw", nonce);
        let msgs = frames(&good.answer);
        assert!(
            msgs.iter()
                .any(|(t, b)| *t == b'R' && b[..4] == 12i32.to_be_bytes()),
            "first exchange must succeed: {msgs:?}"
        );
        assert_eq!(msgs.last().map(|m| m.0), Some(b'Z'));

        let mut s = sasl_start(port);
        send_initial(&mut s, "SCRAM-SHA-256", good.first.as_bytes());
        let server_first = read_server_first(&mut s);
        let recorded_nonce = good
            .fin
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .expect("r= in client-final");
        assert!(
            !server_first.starts_with(format!("r={recorded_nonce},").as_bytes()),
            "the server nonce must differ per connection"
        );
        send_response(&mut s, good.fin.as_bytes());
        answers.push(outcome(s));
    }
    let f = same_fatal(&answers[0], &answers[1]);
    assert!(["08P01", "28P01"].contains(&f[&'C'].as_str()), "{f:?}");
    assert_serves(&gw);
}

/// (e) a wrong password → 28P01 `password authentication failed for user "alice"`.
#[test]
fn scram_wrong_password() {
    let (c, gw) = scram_setup();
    let ours = scram_exchange(gw.port(), "not-pw", "wrongpwnonce0123456789");
    let pg = scram_exchange(c.port(), "not-pw", "wrongpwnonce0123456789");
    let f = same_fatal(&ours.answer, &pg.answer);
    assert_eq!(f[&'C'], "28P01");
    assert_eq!(f[&'M'], "password authentication failed for user \"alice\"");
    // And the right one still works through the gateway.
    let ok = scram_exchange(gw.port(), "pw", "rightpwnonce0123456789");
    assert_eq!(frames(&ok.answer).last().map(|m| m.0), Some(b'Z'));
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 7: cancel flood

/// 1,000 CancelRequests with wrong keys (random ones, and the right process id
/// with a wrong secret) are each closed without a byte and cancel nothing; the
/// right key then cancels the query (57014). The client's process id is the
/// gateway's, not the upstream backend's.
#[test]
fn cancel_flood_with_wrong_keys() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let mut session = login(gw.port());
    let (pid, key) = session.key();
    assert_eq!(key.len(), 4, "protocol 3.0: a 4-byte key");
    let backend: i32 = session.query("SELECT pg_backend_pid()").expect("pid")[0]
        .parse()
        .expect("pid number");
    assert_ne!(pid, backend, "the client must not see the upstream pid");

    session.send_query("SELECT pg_sleep(5)");
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(200));

    let port = gw.port();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = rand::thread_rng();
                for i in 0..125 {
                    let mut wrong = [0u8; 4];
                    rng.fill_bytes(&mut wrong);
                    let target = match (t + i) % 3 {
                        0 => pid, // right process id, wrong secret
                        1 => backend,
                        _ => (rng.next_u32() & 0x7fff_ffff) as i32,
                    };
                    let got = exchange(port, &[&cancel_request(target, &wrong)], false);
                    assert_eq!(got, b"", "a CancelRequest gets no answer");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("flood thread");
    }
    let flood = started.elapsed();
    assert!(flood < Duration::from_secs(4), "flood took {flood:?}");

    // Nothing came back on the session: the query is still sleeping.
    session
        .s
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut one = [0u8; 1];
    match session.s.read(&mut one) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the query was disturbed by the flood: {other:?}"),
    }
    session
        .s
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("timeout");

    // The right key cancels it.
    let got = exchange(port, &[&cancel_request(pid, &key)], false);
    assert_eq!(got, b"");
    let err = session.result().expect_err("cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it ran to the end"
    );
    assert_eq!(err[&'C'], "57014", "{err:?}");
    assert_eq!(err[&'M'], "canceling statement due to user request");
    // The session goes on.
    assert_eq!(session.query("SELECT 1").expect("after cancel"), ["1"]);
    session.close();
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 8: silence

/// auth_timeout 1 s: a client that sends nothing is dropped after ~1 s, without
/// a word.
#[test]
fn silent_client_hits_auth_timeout() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |cfg| cfg.limits.auth_timeout = Duration::from_secs(1));
    let mut s = connect(gw.port());
    let t0 = Instant::now();
    let got = read_to_close(&mut s, Duration::from_secs(3));
    let took = t0.elapsed();
    assert_eq!(got, b"");
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(2500),
        "closed too late: {took:?}"
    );
    assert_serves(&gw);
}

/// auth_timeout 1 s: a client that never answers the password request is
/// dropped after ~1 s (nothing after the request; PostgreSQL too only logs
/// "canceling authentication due to timeout").
#[test]
fn client_silent_at_password_request_hits_auth_timeout() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let dir = scratch();
    let mut cfg = config(
        rules(
            dir.path(),
            &format!("host all alice 127.0.0.1/32 password\n{TRUST_HBA}"),
            None,
            gatehouse_hba::PgVersion::V18,
        ),
        unix_addr(&c),
        UpstreamAuth::Trust,
        SecretSource::Userlist {
            list: userlist(dir.path(), &[("alice", "pw")]),
            catalog: None,
        },
    );
    cfg.limits.auth_timeout = Duration::from_secs(1);
    let gw = start(cfg);
    let t0 = Instant::now();
    let mut s = connect(gw.port());
    s.write_all(&startup_v3("alice")).expect("startup");
    let (tag, body) = read_msg(&mut s);
    assert_eq!((tag, body.as_slice()), (b'R', &3i32.to_be_bytes()[..]));
    let rest = read_to_close(&mut s, Duration::from_secs(3));
    let took = t0.elapsed();
    assert_eq!(rest, b"");
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(2500),
        "closed too late: {took:?}"
    );
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 9: half-open

/// The soft RLIMIT_NOFILE of this process (from /proc; `None` elsewhere).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// 1,000 connections that sent three bytes of a startup packet and went
/// silent do not keep a normal client from logging in within a second.
#[test]
fn half_open_connections_do_not_block_logins() {
    const N: usize = 1000;
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= 2 * N as u64 + 500,
            "this test needs {} open files (client and gateway ends in one process); \
             RLIMIT_NOFILE is {limit}: raise it (ulimit -n)",
            2 * N + 500
        );
    }
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let mut idle = Vec::with_capacity(N);
    for _ in 0..N {
        let mut s = connect(gw.port());
        s.write_all(&[0, 0, 0]).expect("partial length word");
        idle.push(s);
    }
    let t0 = Instant::now();
    let mut s = login(gw.port());
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(1), "login took {took:?}");
    assert_eq!(
        s.query("SELECT 'still here'").expect("query"),
        ["still here"]
    );
    s.close();
    // The silent ones are still open (no timeout yet) and get nothing.
    for s in idle.iter_mut().step_by(97) {
        s.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let mut one = [0u8; 1];
        match s.read(&mut one) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("a half-open connection changed: {other:?}"),
        }
    }
    drop(idle);
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 10: versions

/// 3.5 with `_pq_.foo`: NegotiateProtocolVersion (3.2, ["_pq_.foo"]) exactly as
/// PostgreSQL 18 sends it, then the login goes on.
#[test]
fn newer_minor_version_is_negotiated() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    for extra in [&[("_pq_.foo", "bar")][..], &[]] {
        let mut params = vec![("user", "postgres"), ("database", "postgres")];
        params.extend_from_slice(extra);
        let bytes = startup(3, 5, &params);
        let ours = login_with(gw.port(), &bytes);
        let pg = login_with(c.port(), &bytes);
        let v_ours = ours
            .seen
            .iter()
            .find(|(t, _)| *t == b'v')
            .expect("'v' from gateway");
        let v_pg = pg
            .seen
            .iter()
            .find(|(t, _)| *t == b'v')
            .expect("'v' from PostgreSQL");
        assert_eq!(v_ours, v_pg, "NegotiateProtocolVersion");
        assert_eq!(ours.seen[0].0, b'v', "first message");
        let mut expect = 0x0003_0002u32.to_be_bytes().to_vec();
        expect.extend_from_slice(&(extra.len() as i32).to_be_bytes());
        if !extra.is_empty() {
            expect.extend_from_slice(b"_pq_.foo\0");
        }
        assert_eq!(v_ours.1, expect);
        // 3.5 is served as 3.2: a 32-byte key.
        assert_eq!(ours.key().1.len(), 32);
        let mut ours = ours;
        assert_eq!(ours.query("SELECT 1").expect("query"), ["1"]);
        ours.close();
        pg.close();
    }
    assert_serves(&gw);
}

/// 3.2 → a 32-byte cancel key, 3.0 → 4 bytes, as PostgreSQL 18; and the 3.2
/// key cancels.
#[test]
fn cancel_key_length_follows_protocol_version() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    for (minor, len) in [(2u16, 32usize), (0, 4)] {
        let bytes = startup(3, minor, &[("user", "postgres")]);
        let ours = login_with(gw.port(), &bytes);
        let pg = login_with(c.port(), &bytes);
        assert_eq!(pg.key().1.len(), len, "PostgreSQL, 3.{minor}");
        assert_eq!(ours.key().1.len(), len, "gateway, 3.{minor}");
        assert!(
            !ours.seen.iter().any(|(t, _)| *t == b'v'),
            "no negotiation for 3.{minor}"
        );
        pg.close();
        let mut ours = ours;
        if minor == 2 {
            let (pid, key) = ours.key();
            ours.send_query("SELECT pg_sleep(5)");
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(
                exchange(gw.port(), &[&cancel_request(pid, &key)], false),
                b""
            );
            let err = ours.result().expect_err("cancelled");
            assert_eq!(err[&'C'], "57014");
        }
        ours.close();
    }
    assert_serves(&gw);
}

/// Major 2 (and 4): refused like PostgreSQL, in the same format (protocol 2's
/// bare `E` + text for a major below 3).
#[test]
fn unsupported_major_version() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    let v2 = startup(2, 0, &[("user", "postgres")]);
    let pg = exchange(c.port(), &[&v2], false);
    let ours = exchange(gw.port(), &[&v2], false);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&pg),
        "protocol 2.0"
    );
    assert!(
        pg.starts_with(b"EFATAL:  unsupported frontend protocol 2.0"),
        "{:?}",
        String::from_utf8_lossy(&pg)
    );
    let v4 = startup(4, 0, &[("user", "postgres")]);
    let pg = exchange(c.port(), &[&v4], false);
    let ours = exchange(gw.port(), &[&v4], false);
    let f = same_fatal(&ours, &pg);
    assert_eq!(f[&'C'], "0A000");
    assert_eq!(
        f[&'M'],
        "unsupported frontend protocol 4.0: server supports 3.0 to 3.2"
    );
    assert_serves(&gw);
}

// ---------------------------------------------------------------- 11: no user

/// A StartupMessage without `user` (or with an empty one) → 28000.
#[test]
fn startup_without_user() {
    let c = cluster(ClusterOptions::new(PgVersion::V18));
    let gw = trust_gateway(&c, |_| {});
    for params in [&[("database", "postgres")][..], &[("user", "")]] {
        let bytes = startup(3, 0, params);
        let pg = exchange(c.port(), &[&bytes], false);
        let ours = exchange(gw.port(), &[&bytes], false);
        let f = same_fatal(&ours, &pg);
        assert_eq!(f[&'C'], "28000");
        assert_eq!(
            f[&'M'],
            "no PostgreSQL user name specified in startup packet"
        );
    }
    assert_serves(&gw);
}
