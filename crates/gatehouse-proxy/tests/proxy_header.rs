//! PROXY protocol headers read off real sockets: a client on 127.0.0.1 writes
//! raw bytes (in one write or several, with pauses), the accept side calls
//! `read_proxy_header`, then reads what is left in the socket to check that not
//! one byte past the header was consumed.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatehouse_proxy::proxy_header::{read_proxy_header, Proxied, ProxyHeaderError, ProxySettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// A StartupMessage 3.0 for user "alice".
const STARTUP: &[u8] = b"\0\0\0\x13\0\x03\0\0user\0alice\0\0";
const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const BUDGET: Duration = Duration::from_secs(5);

fn settings(trusted: bool, required: bool) -> ProxySettings {
    ProxySettings {
        trusted: if trusted {
            vec!["127.0.0.0/8".parse().unwrap()]
        } else {
            vec![]
        },
        required,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn header(source: &str, destination: &str) -> Proxied {
    Proxied::Header {
        source: addr(source),
        destination: Some(addr(destination)),
    }
}

fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.push(command);
    h.push(family);
    h.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// 192.0.2.1:40000 → 198.51.100.2:5432.
const INET: [u8; 12] = [192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x15, 0x38];

/// 2001:db8::1:40000 → 2001:db8::2:5432.
fn inet6() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p.extend_from_slice(&[0x9c, 0x40, 0x15, 0x38]);
    p
}

/// Two TLVs: ALPN "pg" and a NOOP of 3 bytes.
const TLVS: &[u8] = &[0x01, 0, 2, b'p', b'g', 0x04, 0, 3, 0, 0, 0];

struct Outcome {
    result: Result<Proxied, ProxyHeaderError>,
    /// Everything left in the socket after `read_proxy_header` returned.
    rest: Vec<u8>,
    elapsed: Duration,
}

/// A client writes `chunks` (each after its pause), then waits until the
/// accept side has called `read_proxy_header` and closes.
async fn exchange(
    settings: ProxySettings,
    budget: Duration,
    chunks: Vec<(Duration, Vec<u8>)>,
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let client = tokio::spawn(async move {
        let mut tcp = TcpStream::connect(target).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        for (pause, bytes) in chunks {
            tokio::time::sleep(pause).await;
            tcp.write_all(&bytes).await.unwrap();
        }
        let _ = done_rx.await;
        tcp.shutdown().await.unwrap();
    });
    let (mut tcp, peer) = listener.accept().await.unwrap();
    assert_eq!(peer.ip(), addr("127.0.0.1:0").ip());
    let start = Instant::now();
    let result = read_proxy_header(&mut tcp, peer, &settings, budget).await;
    let elapsed = start.elapsed();
    done_tx.send(()).unwrap();
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).await.unwrap();
    client.await.unwrap();
    Outcome {
        result,
        rest,
        elapsed,
    }
}

/// All bytes in one write.
async fn one_write(trusted: bool, required: bool, bytes: &[u8]) -> Outcome {
    exchange(
        settings(trusted, required),
        BUDGET,
        vec![(Duration::ZERO, bytes.to_vec())],
    )
    .await
}

/// `header_bytes` then an SSLRequest, in one write; the SSLRequest must remain.
async fn accepted(header_bytes: &[u8]) -> Proxied {
    let out = one_write(true, true, &[header_bytes, &SSL_REQUEST].concat()).await;
    assert_eq!(
        out.rest, SSL_REQUEST,
        "bytes after the header must stay unread"
    );
    out.result.unwrap()
}

#[tokio::test]
async fn v1_tcp4() {
    let got = accepted(b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n").await;
    assert_eq!(got, header("192.0.2.1:40000", "198.51.100.2:5432"));
    assert_eq!(got.client(addr("127.0.0.1:1")), addr("192.0.2.1:40000"));
}

#[tokio::test]
async fn v1_tcp6() {
    let got = accepted(b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 5432\r\n").await;
    assert_eq!(got, header("[2001:db8::1]:40000", "[2001:db8::2]:5432"));
}

#[tokio::test]
async fn v1_unknown_keeps_the_peer() {
    assert_eq!(accepted(b"PROXY UNKNOWN\r\n").await, Proxied::Local);
    let got = accepted(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").await;
    assert_eq!(got, Proxied::Local);
    assert_eq!(got.client(addr("127.0.0.1:7")), addr("127.0.0.1:7"));
}

#[tokio::test]
async fn v2_proxy_tcp4() {
    let got = accepted(&v2(0x21, 0x11, &INET)).await;
    assert_eq!(got, header("192.0.2.1:40000", "198.51.100.2:5432"));
}

#[tokio::test]
async fn v2_proxy_tcp4_with_tlvs() {
    let got = accepted(&v2(0x21, 0x11, &[&INET[..], TLVS].concat())).await;
    assert_eq!(got, header("192.0.2.1:40000", "198.51.100.2:5432"));
}

#[tokio::test]
async fn v2_proxy_tcp6() {
    let got = accepted(&v2(0x21, 0x21, &inet6())).await;
    assert_eq!(got, header("[2001:db8::1]:40000", "[2001:db8::2]:5432"));
}

#[tokio::test]
async fn v2_proxy_tcp6_with_tlvs() {
    let got = accepted(&v2(0x21, 0x21, &[inet6().as_slice(), TLVS].concat())).await;
    assert_eq!(got, header("[2001:db8::1]:40000", "[2001:db8::2]:5432"));
}

#[tokio::test]
async fn v2_local_and_other_families_keep_the_peer() {
    assert_eq!(accepted(&v2(0x20, 0x00, &[])).await, Proxied::Local);
    // LOCAL with addresses anyway: ignored.
    assert_eq!(accepted(&v2(0x20, 0x11, &INET)).await, Proxied::Local);
    // PROXY over AF_UNIX and AF_UNSPEC.
    assert_eq!(
        accepted(&v2(0x21, 0x31, &[b'/'; 216])).await,
        Proxied::Local
    );
    assert_eq!(accepted(&v2(0x21, 0x00, TLVS)).await, Proxied::Local);
}

#[tokio::test]
async fn header_split_across_writes_with_pauses() {
    let v1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n".to_vec();
    let v2 = v2(0x21, 0x11, &[&INET[..], TLVS].concat());
    for bytes in [v1, v2] {
        let whole = [bytes.as_slice(), &SSL_REQUEST].concat();
        // Cuts inside the signature, inside the fields, between CR and LF (v1) or
        // in the length field (v2), and right before the SSLRequest.
        let cuts = [0, 3, 9, 15, 22, bytes.len() - 1, bytes.len(), whole.len()];
        let chunks = cuts
            .windows(2)
            .map(|w| (Duration::from_millis(30), whole[w[0]..w[1]].to_vec()))
            .collect();
        let out = exchange(settings(true, true), BUDGET, chunks).await;
        assert_eq!(
            out.result.unwrap(),
            header("192.0.2.1:40000", "198.51.100.2:5432")
        );
        assert_eq!(out.rest, SSL_REQUEST);
    }
}

#[tokio::test]
async fn untrusted_peer_sending_a_header_is_refused() {
    for bytes in [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n".to_vec(),
        v2(0x21, 0x11, &INET),
        b"PROXY ".to_vec(),
    ] {
        let out = one_write(false, false, &bytes).await;
        assert!(
            matches!(out.result, Err(ProxyHeaderError::UntrustedHeader)),
            "{:?}",
            out.result
        );
        assert_eq!(out.rest, bytes, "an untrusted peer's bytes are only peeked");
    }
    // A signature that arrives a few bytes at a time is still recognised.
    let chunks = vec![
        (Duration::ZERO, b"\r\n\r".to_vec()),
        (Duration::from_millis(40), b"\n\0\r\nQU".to_vec()),
        (Duration::from_millis(40), b"IT\n!".to_vec()),
    ];
    let out = exchange(settings(false, false), BUDGET, chunks).await;
    assert!(matches!(out.result, Err(ProxyHeaderError::UntrustedHeader)));
}

#[tokio::test]
async fn untrusted_peer_sending_a_startup_packet_passes_untouched() {
    for bytes in [STARTUP, &SSL_REQUEST[..]] {
        let out = one_write(false, true, bytes).await;
        assert_eq!(out.result.unwrap(), Proxied::None);
        assert_eq!(out.rest, bytes);
    }
}

#[tokio::test]
async fn trusted_peer_without_a_header() {
    let out = one_write(true, true, STARTUP).await;
    assert!(
        matches!(out.result, Err(ProxyHeaderError::MissingHeader)),
        "{:?}",
        out.result
    );
    assert_eq!(out.rest, STARTUP);
    let out = one_write(true, false, STARTUP).await;
    assert_eq!(out.result.unwrap(), Proxied::None);
    assert_eq!(out.rest, STARTUP);
}

#[tokio::test]
async fn garbage_after_the_signature_is_malformed() {
    for bytes in [
        b"PROXY garbage\r\n".to_vec(),
        b"PROXY TCP4 192.0.2.1 198.51.100.2 40000\r\n".to_vec(),
        b"PROXY TCP4 192.0.2.999 198.51.100.2 40000 5432\r\n".to_vec(),
        b"PROXY TCP4 2001:db8::1 198.51.100.2 40000 5432\r\n".to_vec(),
        b"PROXY \x00\x00\x00\x08".to_vec(),
        [b"PROXY ".as_slice(), &[b'x'; 150]].concat(),
        v2(0x22, 0x11, &INET),      // command 2
        v2(0x11, 0x11, &INET),      // version 1
        v2(0x21, 0x11, &INET[..6]), // too short for INET
        v2(0x21, 0x41, &INET),      // family 4
        v2(0x21, 0x11, &[0; 5000]), // over the cap
    ] {
        let out = one_write(true, false, &bytes).await;
        match out.result {
            Err(ProxyHeaderError::Malformed(reason)) => assert!(!reason.is_empty()),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&bytes)),
        }
    }
}

#[tokio::test]
async fn slow_header_times_out_within_the_budget() {
    let budget = Duration::from_millis(300);
    for first in [b"PROXY TCP4 192.0.2.1 ".to_vec(), b"\r\n\r\n".to_vec()] {
        let out = exchange(
            settings(true, true),
            budget,
            vec![(Duration::ZERO, first.clone())],
        )
        .await;
        match out.result {
            Err(ProxyHeaderError::Timeout {
                budget: b,
                received,
            }) => {
                assert_eq!(b, budget);
                assert_eq!(received, first.len());
            }
            other => panic!("{other:?}"),
        }
        assert!(out.elapsed >= budget, "{:?}", out.elapsed);
        assert!(
            out.elapsed < budget + Duration::from_secs(1),
            "{:?}",
            out.elapsed
        );
    }
    // Silence times out too.
    let out = exchange(settings(true, true), budget, vec![]).await;
    assert!(matches!(
        out.result,
        Err(ProxyHeaderError::Timeout { received: 0, .. })
    ));
}

#[tokio::test]
async fn closed_before_the_header_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    for (bytes, required) in [
        (b"PROXY TCP4 192.0.2.1".to_vec(), false),
        (b"PRO".to_vec(), false),
        (V2_SIG[..5].to_vec(), false),
        (Vec::new(), true),
    ] {
        let sent = bytes.clone();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(target).await.unwrap();
            tcp.write_all(&sent).await.unwrap();
            tcp.shutdown().await.unwrap();
        });
        let (mut tcp, peer) = listener.accept().await.unwrap();
        client.await.unwrap();
        let got = read_proxy_header(&mut tcp, peer, &settings(true, required), BUDGET).await;
        assert!(
            matches!(got, Err(ProxyHeaderError::Closed { .. })),
            "{bytes:?}: {got:?}"
        );
    }
    // A connection closed before its first byte, no header required: the next
    // reader sees the end of stream itself.
    let client = tokio::spawn(async move { drop(TcpStream::connect(target).await.unwrap()) });
    let (mut tcp, peer) = listener.accept().await.unwrap();
    client.await.unwrap();
    let got = read_proxy_header(&mut tcp, peer, &settings(true, false), BUDGET).await;
    assert_eq!(got.unwrap(), Proxied::None);
}

#[tokio::test]
async fn errors_name_what_was_wrong() {
    let out = one_write(true, false, b"PROXY TCP4 192.0.2.999 198.51.100.2 1 2\r\n").await;
    let text = out.result.unwrap_err().to_string();
    assert!(text.contains("malformed PROXY protocol header"), "{text}");
    assert!(text.contains("source"), "{text}");
    let out = one_write(true, false, &v2(0x21, 0x11, &[0; 5000])).await;
    let text = out.result.unwrap_err().to_string();
    assert!(text.contains("5000"), "{text}");
}
