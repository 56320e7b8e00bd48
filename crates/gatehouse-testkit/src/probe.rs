//! What a server (PostgreSQL or gatehouse) answers to a StartupMessage.
//!
//! A probe connects from a chosen source, optionally negotiates TLS, sends a protocol-3.0
//! StartupMessage and reads the first reply: an authentication request or an error. It never
//! answers the request; it closes the connection. Every step has a [`PROBE_TIMEOUT`].

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{Result, TestkitError};

/// The time limit of every connect, read and write of a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest server message a probe accepts.
const MAX_MESSAGE: usize = 1 << 20;

/// Authentication request codes (the `int32` after an `R` message's length).
pub mod auth_code {
    /// AuthenticationOk (trust).
    pub const OK: u32 = 0;
    /// AuthenticationCleartextPassword (`password`, `ldap`, `pam`, ...).
    pub const CLEARTEXT: u32 = 3;
    /// AuthenticationMD5Password.
    pub const MD5: u32 = 5;
    /// AuthenticationGSS.
    pub const GSS: u32 = 7;
    /// AuthenticationSASL (`scram-sha-256`).
    pub const SASL: u32 = 10;
}

/// Where a probe connects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The server's Unix socket (`local` lines).
    Unix,
    /// TCP from this source address (any 127.x.y.z works on Linux loopback; `::1` for IPv6)
    /// to the loopback address of the same family.
    Tcp(IpAddr),
}

/// One startup attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Where to connect from.
    pub source: Source,
    /// Send SSLRequest first and run the startup inside TLS.
    pub ssl: bool,
    /// The `user` startup parameter.
    pub user: String,
    /// The `database` startup parameter.
    pub database: String,
    /// The `replication` startup parameter (`"true"` or `"database"`), if any.
    pub replication: Option<String>,
}

impl Probe {
    /// A probe over the Unix socket.
    pub fn unix(user: impl Into<String>, database: impl Into<String>) -> Probe {
        Probe {
            source: Source::Unix,
            ssl: false,
            user: user.into(),
            database: database.into(),
            replication: None,
        }
    }

    /// A probe over TCP from `source`, without TLS.
    pub fn tcp(source: IpAddr, user: impl Into<String>, database: impl Into<String>) -> Probe {
        Probe {
            source: Source::Tcp(source),
            ..Probe::unix(user, database)
        }
    }

    /// The same probe with TLS on or off.
    pub fn with_ssl(mut self, ssl: bool) -> Probe {
        self.ssl = ssl;
        self
    }

    /// The same probe with a `replication` parameter (`"true"` or `"database"`).
    pub fn with_replication(mut self, mode: impl Into<String>) -> Probe {
        self.replication = Some(mode.into());
        self
    }
}

/// The server's first answer to a startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// An authentication request (`R`); see [`auth_code`].
    Auth {
        /// The request code (0 ok, 3 cleartext, 5 md5, 7 gss, 10 sasl).
        code: u32,
        /// For code 10, the offered SASL mechanisms in order; empty otherwise.
        sasl_mechanisms: Vec<String>,
    },
    /// An error starting with `no pg_hba.conf entry`.
    NoEntry {
        /// The error message.
        message: String,
    },
    /// An error containing `pg_hba.conf rejects connection`.
    Rejects {
        /// The error message.
        message: String,
    },
    /// Any other error.
    Error {
        /// The SQLSTATE (field `C`).
        sqlstate: String,
        /// The message (field `M`).
        message: String,
    },
    /// The server answered `N` to the SSLRequest (no TLS here).
    SslRefused,
}

impl ProbeOutcome {
    /// The authentication request code, when the outcome is [`ProbeOutcome::Auth`].
    pub fn auth_code(&self) -> Option<u32> {
        match self {
            ProbeOutcome::Auth { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where a probe goes: a port on loopback, and the folder of the Unix socket (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The TCP port (also names the Unix socket file `.s.PGSQL.<port>`).
    pub port: u16,
    /// The folder holding the Unix socket, for [`Source::Unix`].
    pub socket_dir: Option<PathBuf>,
    /// The IPv4 address to connect to (default 127.0.0.1).
    pub host_v4: Ipv4Addr,
    /// The IPv6 address to connect to (default ::1).
    pub host_v6: Ipv6Addr,
}

impl ProbeTarget {
    /// A target on loopback at `port`, without a Unix socket.
    pub fn loopback(port: u16) -> ProbeTarget {
        ProbeTarget {
            port,
            socket_dir: None,
            host_v4: Ipv4Addr::LOCALHOST,
            host_v6: Ipv6Addr::LOCALHOST,
        }
    }
}

fn probe_io(what: &'static str) -> impl FnOnce(std::io::Error) -> TestkitError {
    move |source| TestkitError::ProbeIo { what, source }
}

/// Runs `probe` against `target` and returns the server's first answer.
pub fn probe(target: &ProbeTarget, probe: &Probe) -> Result<ProbeOutcome> {
    match probe.source {
        Source::Unix => {
            let dir = target.socket_dir.as_ref().ok_or_else(|| {
                TestkitError::InvalidArgument("Unix probe without a socket_dir".to_string())
            })?;
            let path = dir.join(format!(".s.PGSQL.{}", target.port));
            let stream = UnixStream::connect(&path).map_err(probe_io("connect (Unix)"))?;
            stream
                .set_read_timeout(Some(PROBE_TIMEOUT))
                .map_err(probe_io("set timeout"))?;
            stream
                .set_write_timeout(Some(PROBE_TIMEOUT))
                .map_err(probe_io("set timeout"))?;
            // TLS over a Unix socket: PostgreSQL answers 'N'; report that.
            run(stream, probe, IpAddr::V4(Ipv4Addr::LOCALHOST))
        }
        Source::Tcp(source) => {
            let server = match source {
                IpAddr::V4(_) => IpAddr::V4(target.host_v4),
                IpAddr::V6(_) => IpAddr::V6(target.host_v6),
            };
            let stream = connect_from(source, SocketAddr::new(server, target.port))?;
            run(stream, probe, server)
        }
    }
}

/// A TCP connection bound to `source` (port chosen by the kernel).
fn connect_from(source: IpAddr, server: SocketAddr) -> Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(probe_io("socket"))?;
    socket
        .bind(&SockAddr::from(SocketAddr::new(source, 0)))
        .map_err(probe_io("bind source address"))?;
    socket
        .connect_timeout(&SockAddr::from(server), PROBE_TIMEOUT)
        .map_err(probe_io("connect (TCP)"))?;
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(PROBE_TIMEOUT))
        .map_err(probe_io("set timeout"))?;
    stream
        .set_write_timeout(Some(PROBE_TIMEOUT))
        .map_err(probe_io("set timeout"))?;
    stream.set_nodelay(true).map_err(probe_io("set nodelay"))?;
    Ok(stream)
}

fn run<S: Read + Write>(mut stream: S, probe: &Probe, server: IpAddr) -> Result<ProbeOutcome> {
    if !probe.ssl {
        return exchange(&mut stream, probe);
    }
    stream
        .write_all(&ssl_request())
        .map_err(probe_io("write SSLRequest"))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .map_err(probe_io("read SSLRequest answer"))?;
    match answer[0] {
        b'S' => {}
        b'N' => return Ok(ProbeOutcome::SslRefused),
        b'E' => {
            // A server too old for SSLRequest sends an error message; read its remainder.
            let (_, body) = read_body_after_tag(&mut stream, b'E')?;
            return Ok(classify_error(&body));
        }
        other => {
            return Err(TestkitError::Protocol(format!(
                "unexpected answer {other:#04x} to SSLRequest"
            )))
        }
    }
    let config = crate::tls::insecure_client_config()?;
    let conn = ClientConnection::new(config, ServerName::IpAddress(server.into()))?;
    let mut tls = StreamOwned::new(conn, stream);
    exchange(&mut tls, probe)
}

fn exchange<S: Read + Write>(stream: &mut S, probe: &Probe) -> Result<ProbeOutcome> {
    stream
        .write_all(&startup_message(probe))
        .map_err(probe_io("write StartupMessage"))?;
    stream.flush().map_err(probe_io("flush"))?;
    let (tag, body) = read_message(stream)?;
    match tag {
        b'R' => parse_auth(&body),
        b'E' => Ok(classify_error(&body)),
        other => Err(TestkitError::Protocol(format!(
            "unexpected first message {:?} after StartupMessage",
            char::from(other)
        ))),
    }
}

/// SSLRequest: length 8, code 80877103.
pub(crate) fn ssl_request() -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&8u32.to_be_bytes());
    m[4..].copy_from_slice(&80_877_103u32.to_be_bytes());
    m
}

/// StartupMessage, protocol 3.0.
pub(crate) fn startup_message(probe: &Probe) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    let mut param = |k: &str, v: &str| {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    };
    param("user", &probe.user);
    param("database", &probe.database);
    if let Some(r) = &probe.replication {
        param("replication", r);
    }
    body.push(0);
    let mut msg = Vec::with_capacity(body.len() + 4);
    // Startup messages are small; a length over u32 cannot happen for sane inputs.
    msg.extend_from_slice(
        &u32::try_from(body.len() + 4)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    msg.extend_from_slice(&body);
    msg
}

fn read_message<S: Read>(stream: &mut S) -> Result<(u8, Vec<u8>)> {
    let mut tag = [0u8; 1];
    stream
        .read_exact(&mut tag)
        .map_err(probe_io("read message tag"))?;
    read_body_after_tag(stream, tag[0])
}

fn read_body_after_tag<S: Read>(stream: &mut S, tag: u8) -> Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(probe_io("read message length"))?;
    let len = u32::from_be_bytes(len) as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(TestkitError::Protocol(format!(
            "message {:?} with bad length {len}",
            char::from(tag)
        )));
    }
    let mut body = vec![0u8; len - 4];
    stream
        .read_exact(&mut body)
        .map_err(probe_io("read message body"))?;
    Ok((tag, body))
}

fn parse_auth(body: &[u8]) -> Result<ProbeOutcome> {
    let code: [u8; 4] = body
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| TestkitError::Protocol("short authentication request".to_string()))?;
    let code = u32::from_be_bytes(code);
    let mut sasl_mechanisms = Vec::new();
    if code == auth_code::SASL {
        for name in body[4..].split(|b| *b == 0) {
            if name.is_empty() {
                break;
            }
            sasl_mechanisms.push(String::from_utf8_lossy(name).into_owned());
        }
    }
    Ok(ProbeOutcome::Auth {
        code,
        sasl_mechanisms,
    })
}

/// Classifies an ErrorResponse body (fields `S`, `C`, `M`, ...).
pub(crate) fn classify_error(body: &[u8]) -> ProbeOutcome {
    let mut sqlstate = String::new();
    let mut message = String::new();
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        match field {
            b'C' => sqlstate = value,
            b'M' => message = value,
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    if message.starts_with("no pg_hba.conf entry") {
        ProbeOutcome::NoEntry { message }
    } else if message.contains("pg_hba.conf rejects connection") {
        ProbeOutcome::Rejects { message }
    } else {
        ProbeOutcome::Error { sqlstate, message }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn startup_message_layout() {
        let p = Probe::unix("u", "d").with_replication("true");
        let m = startup_message(&p);
        assert_eq!(&m[..4], &(m.len() as u32).to_be_bytes());
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        assert_eq!(&m[8..], b"user\0u\0database\0d\0replication\0true\0\0");
    }

    #[test]
    fn error_fields_are_classified() {
        let body = b"SFATAL\0C28000\0Mno pg_hba.conf entry for host \"127.0.0.5\"\0\0";
        assert!(matches!(classify_error(body), ProbeOutcome::NoEntry { .. }));
        let body = b"C28000\0Mpg_hba.conf rejects connection for host\0\0";
        assert!(matches!(classify_error(body), ProbeOutcome::Rejects { .. }));
        let body = b"C3D000\0Mdatabase \"x\" does not exist\0\0";
        assert_eq!(
            classify_error(body),
            ProbeOutcome::Error {
                sqlstate: "3D000".into(),
                message: "database \"x\" does not exist".into()
            }
        );
        // Truncated field without its terminator still parses.
        assert!(matches!(classify_error(b"C28"), ProbeOutcome::Error { .. }));
    }

    #[test]
    fn sasl_mechanisms_are_listed() {
        let mut body = 10u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        assert_eq!(
            parse_auth(&body).ok(),
            Some(ProbeOutcome::Auth {
                code: 10,
                sasl_mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]
            })
        );
        assert!(parse_auth(&[0, 0]).is_err());
    }
}
