//! PROXY protocol (HAProxy's spec, v1 text and v2 binary) on the accept path.
//!
//! A load balancer in front of the gateway (HAProxy, AWS NLB, …) can prepend
//! one header to each TCP connection naming the real client. This module reads
//! that header, and only that header: the PostgreSQL startup packet that follows
//! stays in the socket, byte for byte, for the code that reads it next.
//!
//! The header bytes themselves are parsed by the [`ppp`] crate; this module adds
//! the socket I/O (peek to size the header, then read exactly that many bytes),
//! the time budget, and the policy: who may send a header ([`ProxySettings::trusted`])
//! and whether one must come ([`ProxySettings::required`]).
//!
//! Why a header can be told from PostgreSQL traffic by its first bytes: every
//! message a PostgreSQL client opens a connection with (StartupMessage,
//! SSLRequest, GSSENCRequest, CancelRequest) begins with its length as a
//! big-endian Int32, and PostgreSQL caps that length at 10 000 bytes, so the
//! first byte is always `0x00`. A v1 header begins with `P` (`PROXY `) and a v2
//! header with `\r` (its 12-byte signature), so the first byte alone decides for
//! any real client. A direct-TLS client (PostgreSQL 17 `sslnegotiation=direct`)
//! begins with a TLS record, `0x16`: no clash either.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The first bytes of every v1 (text) header.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The 12-byte signature every v2 (binary) header begins with.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header the spec allows, CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// The fixed part of a v2 header: signature, version/command, family/protocol, length.
const V2_FIXED_LEN: usize = 16;
/// The most address and TLV bytes accepted after a v2 header's fixed part
/// (the format allows 65 535; no proxy sends that much for a TCP connection).
pub const V2_MAX_PAYLOAD: usize = 4096;
/// The longest v2 header accepted.
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + V2_MAX_PAYLOAD;
/// Enough bytes to tell either signature from anything else.
const SIGNATURE_PEEK: usize = V2_SIGNATURE.len();

/// Who may send a PROXY header, and whether one must come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Peers (the TCP source address of the connection) allowed to send a
    /// header. A header from any other peer is refused: believing it would let
    /// any client claim any address.
    pub trusted: Vec<IpNet>,
    /// Whether a trusted peer must send a header. When false, a trusted peer may
    /// also connect directly (health checks, local admin).
    pub required: bool,
}

impl ProxySettings {
    /// Whether `peer` may send a PROXY header.
    pub fn trusts(&self, peer: SocketAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
        let (ip, canonical) = (peer.ip(), peer.ip().to_canonical());
        self.trusted
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }
}

/// What a connection's PROXY header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxied {
    /// The proxy relayed a TCP connection from `source` (the real client) to
    /// `destination` (the address the client connected to, at the proxy).
    Header {
        /// The real client.
        source: SocketAddr,
        /// The address the client connected to, when the header names one.
        destination: Option<SocketAddr>,
    },
    /// A header was sent but names no client: v2 `LOCAL` (the proxy's own
    /// health check), v1 `UNKNOWN`, or a v2 address family other than
    /// INET/INET6 (UNIX, UNSPEC) or protocol UNSPEC. As the spec says, the
    /// connection's own peer address stands.
    Local,
    /// No header (allowed only when not [`ProxySettings::required`], or from an
    /// untrusted peer). Nothing was consumed from the socket.
    None,
}

impl Proxied {
    /// The client address to use from now on: the header's source, or `peer`.
    pub fn client(&self, peer: SocketAddr) -> SocketAddr {
        match self {
            Proxied::Header { source, .. } => *source,
            Proxied::Local | Proxied::None => peer,
        }
    }
}

/// Why no PROXY header could be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// A peer outside [`ProxySettings::trusted`] sent a PROXY header.
    #[error("PROXY protocol header from a peer that is not a trusted proxy")]
    UntrustedHeader,
    /// A trusted peer sent no header, and [`ProxySettings::required`] is set.
    #[error("no PROXY protocol header from a trusted proxy, and one is required")]
    MissingHeader,
    /// The bytes begin like a PROXY header but are not a valid one.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// The peer closed the connection before the header was complete.
    #[error(
        "connection closed after {received} bytes, before the PROXY protocol header was complete"
    )]
    Closed {
        /// Header bytes received before the end of stream.
        received: usize,
    },
    /// The budget ran out before a complete header (or enough bytes to tell
    /// whether one comes) arrived.
    #[error("no complete PROXY protocol header within {budget:?} ({received} bytes received)")]
    Timeout {
        /// The budget that ran out.
        budget: Duration,
        /// Bytes received by then.
        received: usize,
    },
    /// The socket failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// How the first bytes of a connection relate to a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// These bytes cannot begin a PROXY header.
    NotProxy,
    /// A prefix of a PROXY header (an empty one too): more bytes are needed to
    /// decide or to complete it. Every byte seen so far belongs to the header.
    Incomplete,
    /// A complete, valid header occupying the first `len` bytes.
    Complete {
        /// The header's length in bytes; what follows is not part of it.
        len: usize,
        /// What it says (never [`Proxied::None`]).
        proxied: Proxied,
    },
    /// Begins like a PROXY header, but no valid header begins with these bytes.
    Malformed(String),
}

/// Which header the first bytes begin, as far as they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signature {
    /// Neither.
    None,
    /// A strict prefix of a signature (the empty one too): undecided.
    Partial,
    /// `PROXY `.
    V1,
    /// The v2 signature.
    V2,
}

fn signature(bytes: &[u8]) -> Signature {
    for (sig, version) in [(V1_PREFIX, Signature::V1), (V2_SIGNATURE, Signature::V2)] {
        if bytes.starts_with(sig) {
            return version;
        }
        if sig.starts_with(bytes) {
            return Signature::Partial;
        }
    }
    Signature::None
}

/// Classifies the first bytes of a connection, and parses the header when it is
/// complete. Pure and total: any bytes give an answer, never a panic.
pub fn scan(bytes: &[u8]) -> Scan {
    match signature(bytes) {
        Signature::None => Scan::NotProxy,
        Signature::Partial => Scan::Incomplete,
        Signature::V1 => scan_v1(bytes),
        Signature::V2 => scan_v2(bytes),
    }
}

/// A v1 header is ASCII text up to the first CRLF, at most [`V1_MAX_LEN`] bytes.
///
/// Completeness is decided here, by the CRLF, rather than by `ppp`'s partial
/// signal: on a prefix ending just after a space ("… 5432 ") `ppp` reports an
/// empty port as invalid, which would reject a header split at that point.
fn scan_v1(bytes: &[u8]) -> Scan {
    let window = &bytes[..bytes.len().min(V1_MAX_LEN)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if let Some(b) = window.iter().find(|b| !(b' '..=b'~').contains(*b)) {
            return Scan::Malformed(format!("v1: byte 0x{b:02x} before the CRLF"));
        }
        if bytes.len() >= V1_MAX_LEN {
            return Scan::Malformed(format!("v1: no CRLF within {V1_MAX_LEN} bytes"));
        }
        return Scan::Incomplete;
    };
    if let Some(b) = window[..cr].iter().find(|b| !(b' '..=b'~').contains(*b)) {
        return Scan::Malformed(format!("v1: byte 0x{b:02x} before the CRLF"));
    }
    let Some(&after) = bytes.get(cr + 1) else {
        return if cr + 1 >= V1_MAX_LEN {
            Scan::Malformed(format!("v1: no CRLF within {V1_MAX_LEN} bytes"))
        } else {
            Scan::Incomplete
        };
    };
    if after != b'\n' {
        return Scan::Malformed("v1: CR not followed by LF".into());
    }
    let len = cr + 2;
    if len > V1_MAX_LEN {
        return Scan::Malformed(format!("v1: no CRLF within {V1_MAX_LEN} bytes"));
    }
    match ppp::v1::Header::try_from(&bytes[..len]) {
        Ok(header) => {
            let proxied = match header.addresses {
                ppp::v1::Addresses::Unknown => Proxied::Local,
                ppp::v1::Addresses::Tcp4(a) => Proxied::Header {
                    source: SocketAddr::from((a.source_address, a.source_port)),
                    destination: Some(SocketAddr::from((
                        a.destination_address,
                        a.destination_port,
                    ))),
                },
                ppp::v1::Addresses::Tcp6(a) => Proxied::Header {
                    source: SocketAddr::from((a.source_address, a.source_port)),
                    destination: Some(SocketAddr::from((
                        a.destination_address,
                        a.destination_port,
                    ))),
                },
            };
            Scan::Complete { len, proxied }
        }
        Err(e) => Scan::Malformed(format!("v1: {}", describe(&e))),
    }
}

/// A v2 header is the 16-byte fixed part, then as many bytes as its length field
/// says (addresses, then TLVs, which are ignored).
fn scan_v2(bytes: &[u8]) -> Scan {
    if let Some(field) = bytes.get(V2_FIXED_LEN - 2..V2_FIXED_LEN) {
        let payload = usize::from(u16::from_be_bytes([field[0], field[1]]));
        if payload > V2_MAX_PAYLOAD {
            return Scan::Malformed(format!(
                "v2: {payload} bytes of addresses and TLVs announced, at most {V2_MAX_PAYLOAD} accepted"
            ));
        }
    }
    use ppp::PartialResult;
    let parsed = ppp::v2::Header::try_from(bytes);
    if parsed.is_incomplete() {
        return Scan::Incomplete;
    }
    let header = match parsed {
        Ok(header) => header,
        Err(e) => return Scan::Malformed(format!("v2: {}", describe(&e))),
    };
    let len = header.len();
    if header.command == ppp::v2::Command::Local {
        return Scan::Complete {
            len,
            proxied: Proxied::Local,
        };
    }
    let (source, destination) = match header.addresses {
        ppp::v2::Addresses::IPv4(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        ppp::v2::Addresses::IPv6(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        ppp::v2::Addresses::Unix(_) | ppp::v2::Addresses::Unspecified => {
            return Scan::Complete {
                len,
                proxied: Proxied::Local,
            }
        }
    };
    match header.protocol {
        ppp::v2::Protocol::Stream => Scan::Complete {
            len,
            proxied: Proxied::Header {
                source,
                destination: Some(destination),
            },
        },
        // "Unsupported or unknown protocol": the spec lets the receiver keep the
        // real endpoints.
        ppp::v2::Protocol::Unspecified => Scan::Complete {
            len,
            proxied: Proxied::Local,
        },
        ppp::v2::Protocol::Datagram => {
            Scan::Malformed("v2: a UDP (DGRAM) connection announced on a TCP stream".into())
        }
    }
}

/// An error's message with its sources (`ppp` keeps the detail, such as the
/// address parse error, in the source).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads the PROXY header a connection begins with, as `settings` allow.
///
/// - From a peer outside [`ProxySettings::trusted`]: peeks only. If the first
///   bytes begin a PROXY header (or a prefix of one, then it waits for enough
///   bytes to decide) → [`ProxyHeaderError::UntrustedHeader`]; else
///   [`Proxied::None`], nothing consumed.
/// - From a trusted peer: consumes exactly the header's bytes, not one byte
///   past them. No header → [`Proxied::None`] (nothing consumed), or
///   [`ProxyHeaderError::MissingHeader`] when [`ProxySettings::required`].
///
/// All of it within `budget` ([`ProxyHeaderError::Timeout`]). A connection
/// closed before sending a byte gives [`Proxied::None`] unless a header is
/// required, so the next reader sees the end of stream as usual.
pub async fn read_proxy_header(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    settings: &ProxySettings,
    budget: Duration,
) -> Result<Proxied, ProxyHeaderError> {
    let trusted = settings.trusts(peer);
    let mut received = 0usize;
    let read = read_within(tcp, trusted, settings.required, &mut received);
    match tokio::time::timeout(budget, read).await {
        Ok(result) => result,
        Err(_) => Err(ProxyHeaderError::Timeout { budget, received }),
    }
}

async fn read_within(
    tcp: &mut TcpStream,
    trusted: bool,
    required: bool,
    received: &mut usize,
) -> Result<Proxied, ProxyHeaderError> {
    let version = match detect(tcp, received).await? {
        Detected::Eof if trusted && required => {
            return Err(ProxyHeaderError::Closed { received: 0 })
        }
        Detected::Eof => return Ok(Proxied::None),
        Detected::NotProxy if trusted && required => return Err(ProxyHeaderError::MissingHeader),
        Detected::NotProxy => return Ok(Proxied::None),
        Detected::Header(_) if !trusted => return Err(ProxyHeaderError::UntrustedHeader),
        Detected::Header(version) => version,
    };
    let max = match version {
        Signature::V2 => V2_MAX_LEN,
        _ => V1_MAX_LEN,
    };
    // `buf[..consumed]` has been read from the socket; each round peeks what
    // follows into `buf[consumed..]`. Bytes are consumed only when `scan` says
    // they all belong to the header.
    let mut buf = vec![0u8; max];
    let mut consumed = 0usize;
    loop {
        let n = tcp.peek(&mut buf[consumed..]).await?;
        if n == 0 {
            return Err(ProxyHeaderError::Closed { received: consumed });
        }
        *received = consumed + n;
        match scan(&buf[..consumed + n]) {
            Scan::Complete { len, proxied } => {
                tcp.read_exact(&mut buf[consumed..len]).await?;
                return Ok(proxied);
            }
            Scan::Malformed(reason) => return Err(ProxyHeaderError::Malformed(reason)),
            Scan::Incomplete => {
                // All of it is header: take it, so the next peek waits for new bytes.
                tcp.read_exact(&mut buf[consumed..consumed + n]).await?;
                consumed += n;
                if consumed >= max {
                    // `scan` reports over-long headers; this only bounds the loop.
                    return Err(ProxyHeaderError::Malformed(format!(
                        "header longer than {max} bytes"
                    )));
                }
            }
            Scan::NotProxy => {
                return Err(ProxyHeaderError::Malformed(
                    "lost the header signature".into(),
                ))
            }
        }
    }
}

/// What the first bytes of a connection turned out to be.
enum Detected {
    /// End of stream before any byte.
    Eof,
    /// Not a PROXY header.
    NotProxy,
    /// The signature of this version.
    Header(Signature),
}

/// Peeks until the first bytes decide whether a header comes. Consumes nothing.
///
/// Peeking again at unchanged bytes returns at once, so while only part of a
/// signature has arrived (rare: the decision needs at most 12 bytes, and
/// PostgreSQL's first byte decides) this polls with a short, growing sleep.
async fn detect(tcp: &mut TcpStream, received: &mut usize) -> Result<Detected, ProxyHeaderError> {
    let mut first = [0u8; SIGNATURE_PEEK];
    let mut pause = Duration::from_millis(1);
    loop {
        let n = tcp.peek(&mut first).await?;
        *received = n;
        let seen = &first[..n];
        match signature(seen) {
            Signature::None => return Ok(Detected::NotProxy),
            Signature::V1 => return Ok(Detected::Header(Signature::V1)),
            Signature::V2 => return Ok(Detected::Header(Signature::V2)),
            Signature::Partial if n == 0 => return Ok(Detected::Eof),
            Signature::Partial => {
                if at_eof(tcp).await? {
                    // Bytes sent just before the FIN may have arrived since.
                    if tcp.peek(&mut first).await? <= n {
                        return Err(ProxyHeaderError::Closed { received: n });
                    }
                    continue;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(25));
            }
        }
    }
}

/// Whether the peer has closed its side (after the bytes still pending).
///
/// `peek` reports the end of stream only once no byte is pending, and these
/// bytes must stay pending; the socket's read-closed readiness (the peer's FIN)
/// tells instead.
async fn at_eof(tcp: &TcpStream) -> Result<bool, ProxyHeaderError> {
    let ready = tcp.ready(tokio::io::Interest::READABLE).await?;
    Ok(ready.is_read_closed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(command);
        h.push(family);
        h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn trust_by_peer_address() {
        let settings = ProxySettings {
            trusted: vec![
                "10.0.0.0/8".parse().expect("net"),
                "2001:db8::/32".parse().expect("net"),
            ],
            required: false,
        };
        assert!(settings.trusts("10.1.2.3:5000".parse().expect("addr")));
        assert!(settings.trusts("[::ffff:10.1.2.3]:5000".parse().expect("addr")));
        assert!(settings.trusts("[2001:db8::7]:5000".parse().expect("addr")));
        assert!(!settings.trusts("11.1.2.3:5000".parse().expect("addr")));
        assert!(!ProxySettings::default().trusts("10.1.2.3:5000".parse().expect("addr")));
    }

    #[test]
    fn signatures_decide_on_the_first_byte_for_postgres() {
        // SSLRequest, StartupMessage 3.0, direct TLS ClientHello.
        assert_eq!(signature(&[0, 0, 0, 8, 4, 210, 22, 47]), Signature::None);
        assert_eq!(signature(&[0]), Signature::None);
        assert_eq!(signature(&[0x16, 3, 1]), Signature::None);
        assert_eq!(signature(b""), Signature::Partial);
        assert_eq!(signature(b"PROX"), Signature::Partial);
        assert_eq!(signature(b"\r\n\r\n\0"), Signature::Partial);
        assert_eq!(signature(b"PROXY "), Signature::V1);
        assert_eq!(signature(V2_SIGNATURE), Signature::V2);
        assert_eq!(signature(b"PROXYZ"), Signature::None);
    }

    #[test]
    fn v1_tcp4_and_what_follows() {
        let bytes = b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n\0\0\0\x08";
        assert_eq!(
            scan(bytes),
            Scan::Complete {
                len: bytes.len() - 4,
                proxied: Proxied::Header {
                    source: "192.0.2.1:40000".parse().expect("addr"),
                    destination: Some("198.51.100.2:5432".parse().expect("addr")),
                },
            }
        );
    }

    #[test]
    fn v1_split_after_a_space_is_incomplete() {
        let full = b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n";
        for cut in 0..full.len() {
            assert_eq!(scan(&full[..cut]), Scan::Incomplete, "cut at {cut}");
        }
    }

    #[test]
    fn v1_malformed() {
        assert!(matches!(
            scan(b"PROXY TCP4 1.2.3.4\r\n"),
            Scan::Malformed(_)
        ));
        assert!(matches!(
            scan(b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n"),
            Scan::Malformed(_)
        ));
        assert!(matches!(scan(b"PROXY \x00\x01"), Scan::Malformed(_)));
        assert!(matches!(scan(b"PROXY UNKNOWN\rX"), Scan::Malformed(_)));
        let long = [b"PROXY ".as_slice(), &[b'A'; 200]].concat();
        assert!(matches!(scan(&long), Scan::Malformed(_)));
        let mut exact = [b"PROXY UNKNOWN ".as_slice(), &[b'A'; 91]].concat();
        assert_eq!(exact.len(), 105);
        exact.extend_from_slice(b"\r\n");
        assert_eq!(
            scan(&exact),
            Scan::Complete {
                len: 107,
                proxied: Proxied::Local
            }
        );
        exact.insert(10, b'A');
        assert!(matches!(scan(&exact), Scan::Malformed(_)));
    }

    #[test]
    fn v2_families_and_caps() {
        let mut inet = vec![192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x15, 0x38];
        assert_eq!(
            scan(&v2(0x21, 0x11, &inet)),
            Scan::Complete {
                len: 28,
                proxied: Proxied::Header {
                    source: "192.0.2.1:40000".parse().expect("addr"),
                    destination: Some("198.51.100.2:5432".parse().expect("addr")),
                },
            }
        );
        inet.extend_from_slice(&[0x04, 0, 1, 42]); // a NOOP TLV
        assert!(matches!(
            scan(&v2(0x21, 0x11, &inet)),
            Scan::Complete { len: 32, .. }
        ));
        assert_eq!(
            scan(&v2(0x20, 0x00, &[])),
            Scan::Complete {
                len: 16,
                proxied: Proxied::Local
            }
        );
        assert!(matches!(
            scan(&v2(0x21, 0x31, &[0; 216])),
            Scan::Complete {
                proxied: Proxied::Local,
                ..
            }
        ));
        assert!(matches!(scan(&v2(0x21, 0x12, &inet)), Scan::Malformed(_)));
        assert!(matches!(scan(&v2(0x31, 0x11, &inet)), Scan::Malformed(_)));
        assert!(matches!(
            scan(&v2(0x21, 0x11, &[1, 2, 3])),
            Scan::Malformed(_)
        ));
        let mut big = v2(0x21, 0x11, &[]);
        big[14..16].copy_from_slice(&5000u16.to_be_bytes());
        assert!(matches!(scan(&big), Scan::Malformed(_)));
    }

    fn valid_headers() -> Vec<Vec<u8>> {
        vec![
            b"PROXY TCP4 192.0.2.1 198.51.100.2 40000 5432\r\n".to_vec(),
            b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 5432\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            v2(
                0x21,
                0x11,
                &[192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x15, 0x38],
            ),
            v2(0x21, 0x21, &[1; 36]),
            v2(0x20, 0x00, &[]),
        ]
    }

    fn starts() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            Just(V1_PREFIX.to_vec()),
            Just(b"PROXY TCP4 ".to_vec()),
            Just(b"PROXY TCP6 ".to_vec()),
            Just(V2_SIGNATURE.to_vec()),
            Just([V2_SIGNATURE, &[0x21, 0x11]].concat()),
            Just([V2_SIGNATURE, &[0x21, 0x21]].concat()),
            Just([V2_SIGNATURE, &[0x21, 0x31]].concat()),
        ]
    }

    proptest! {
        #[test]
        fn scan_never_panics(start in starts(), tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let bytes = [start, tail].concat();
            for cut in 0..=bytes.len() {
                match scan(&bytes[..cut]) {
                    Scan::Complete { len, proxied } => {
                        prop_assert!(len <= cut);
                        prop_assert!(len <= V2_MAX_LEN);
                        prop_assert_ne!(proxied, Proxied::None);
                        // The header's own bytes give the same answer.
                        prop_assert_eq!(scan(&bytes[..len]), Scan::Complete { len, proxied });
                    }
                    Scan::NotProxy | Scan::Incomplete | Scan::Malformed(_) => {}
                }
            }
        }

        #[test]
        fn printable_text_never_panics(text in "PROXY [ -~]{0,120}(\r\n)?") {
            let _ = scan(text.as_bytes());
        }

        #[test]
        fn header_prefixes_are_incomplete_and_followers_ignored(
            which in 0usize..6,
            follow in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let header = &valid_headers()[which];
            for cut in 0..header.len() {
                prop_assert_eq!(scan(&header[..cut]), Scan::Incomplete);
            }
            let whole = scan(header);
            let whole_len = match &whole {
                Scan::Complete { len, .. } => Some(*len),
                _ => None,
            };
            prop_assert_eq!(whole_len, Some(header.len()));
            prop_assert_eq!(scan(&[header.as_slice(), &follow].concat()), whole);
        }
    }
}
