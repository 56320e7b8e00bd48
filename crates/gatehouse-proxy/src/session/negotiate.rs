//! Layer 2: from the first byte to the StartupMessage — SSLRequest, direct TLS
//! (PostgreSQL 17 `sslnegotiation=direct`, ALPN `postgresql`), GSSENCRequest
//! (answered 'N'), CancelRequest, and the protocol version.
//!
//! Mirrors PostgreSQL 18 `backend_startup.c` `ProcessSSLStartup()` and
//! `ProcessStartupPacket()`: one SSLRequest and one GSSENCRequest at most, no
//! plaintext bytes may follow an SSLRequest before the handshake
//! (CVE-2021-23214), and direct TLS requires the ALPN protocol `postgresql`.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::protocol::{
    encode_gssenc_response, encode_ssl_response, parse_startup, CancelRequest, ProtocolError,
    StartupMessage, StartupPacket, TLS_HANDSHAKE_BYTE,
};
use crate::refusal::{protocol_violation, Refusal};
use crate::stream::{MessageStream, ReadError};
use crate::tls::{ClientIdentity, ServerTls};

/// PostgreSQL's errdetail for plaintext bytes after an encryption request.
const MITM_DETAIL: &str = "This could be either a client-software bug or evidence of an attempted man-in-the-middle attack.";

/// What TLS gave the session.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// tls-server-end-point channel-binding data (hash of our certificate).
    pub end_point: Option<Vec<u8>>,
    /// The verified client certificate's identity, if the client sent one.
    pub client: Option<ClientIdentity>,
}

/// The result of negotiation.
pub enum Negotiated {
    /// A StartupMessage, over `stream`; `tls` when encrypted.
    Startup {
        /// The client stream (TLS when negotiated).
        stream: MessageStream,
        /// The message.
        message: Box<StartupMessage>,
        /// TLS facts, when TLS is in use.
        tls: Option<TlsInfo>,
    },
    /// A CancelRequest (the connection is then closed without a reply).
    Cancel(CancelRequest),
}

/// Why negotiation ended without a StartupMessage.
pub enum NegotiationError {
    /// Tell the client this (FATAL), then close.
    Refuse(MessageStream, Refusal),
    /// The same, in protocol 2's format (`E` and a line of text), as PostgreSQL
    /// answers a StartupMessage whose major version is below 3.
    RefuseV2(MessageStream, Refusal),
    /// Close without a word (EOF, broken TLS, read errors).
    Drop(String),
    /// The peer closed before sending a byte (a port probe or health check).
    Closed,
}

/// Runs negotiation on a fresh TCP connection.
pub async fn negotiate(
    tcp: TcpStream,
    tls: Option<&Arc<ServerTls>>,
) -> Result<Negotiated, NegotiationError> {
    let mut first = [0u8; 1];
    let n = tcp
        .peek(&mut first)
        .await
        .map_err(|e| NegotiationError::Drop(format!("read failed: {e}")))?;
    if n == 0 {
        return Err(NegotiationError::Closed);
    }
    if first[0] == TLS_HANDSHAKE_BYTE {
        return match tls {
            Some(t) => direct_tls(tcp, t).await,
            None => Err(NegotiationError::Drop(
                "direct TLS handshake, but TLS is not configured".into(),
            )),
        };
    }
    let mut stream = MessageStream::new(Box::new(tcp));
    let mut info: Option<TlsInfo> = None;
    let mut ssl_done = false;
    let mut gss_done = false;
    loop {
        let packet = match stream.read_with(parse_startup).await {
            Ok(p) => p,
            Err(e) => return Err(read_failure(stream, e)),
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest
                if (ssl_done && matches!(packet, StartupPacket::SslRequest))
                    || (gss_done && matches!(packet, StartupPacket::GssEncRequest)) =>
            {
                // PostgreSQL reads a second request of the same kind (or a GSSENCRequest
                // inside TLS) as protocol 1234.5679/80. GSSENCRequest answered 'N' then
                // SSLRequest is what libpq's gssencmode=prefer does, and is allowed.
                let code = if matches!(packet, StartupPacket::SslRequest) {
                    5679
                } else {
                    5680
                };
                let err = ProtocolError::UnsupportedProtocol {
                    major: 1234,
                    minor: code,
                };
                let refusal = Refusal::new(
                    err.sqlstate(),
                    err.client_message(),
                    format!("second encryption request: {err}"),
                );
                return Err(NegotiationError::Refuse(stream, refusal));
            }
            StartupPacket::SslRequest => {
                ssl_done = true;
                // As PostgreSQL: the answer goes out first, then bytes that came with
                // the request are refused. With TLS on, gatehouse refuses before
                // sending 'S' (PostgreSQL 17+ feeds them to the handshake, which fails).
                if tls.is_none() {
                    encode_ssl_response(false, stream.out());
                }
                if !stream.buffered().is_empty() {
                    return Err(NegotiationError::Refuse(
                        stream,
                        protocol_violation(
                            "received unencrypted data after SSL request",
                            "plaintext bytes arrived with the SSLRequest (CVE-2021-23214 class); closed",
                        )
                        .with_detail(MITM_DETAIL),
                    ));
                }
                let Some(t) = tls else {
                    flush(&mut stream).await?;
                    continue;
                };
                encode_ssl_response(true, stream.out());
                flush(&mut stream).await?;
                let (io, _) = stream.into_parts();
                let accepted = TlsAcceptor::from(t.config.clone())
                    .accept(io)
                    .await
                    .map_err(|e| NegotiationError::Drop(format!("TLS handshake failed: {e}")))?;
                info = Some(tls_info(t, accepted.get_ref().1));
                // No GSSAPI encryption inside TLS (PostgreSQL: gss_done once SSL is on).
                gss_done = true;
                stream = MessageStream::new(Box::new(accepted));
            }
            StartupPacket::GssEncRequest => {
                gss_done = true;
                encode_gssenc_response(false, stream.out());
                if !stream.buffered().is_empty() {
                    return Err(NegotiationError::Refuse(
                        stream,
                        protocol_violation(
                            "received unencrypted data after GSSAPI encryption request",
                            "plaintext bytes arrived with the GSSENCRequest; closed",
                        )
                        .with_detail(MITM_DETAIL),
                    ));
                }
                flush(&mut stream).await?;
            }
            StartupPacket::CancelRequest(c) => return Ok(Negotiated::Cancel(c)),
            StartupPacket::Startup(message) => {
                return Ok(Negotiated::Startup {
                    stream,
                    message: Box::new(message),
                    tls: info,
                })
            }
        }
    }
}

async fn flush(stream: &mut MessageStream) -> Result<(), NegotiationError> {
    stream
        .flush()
        .await
        .map_err(|e| NegotiationError::Drop(format!("write failed: {e}")))
}

fn tls_info(t: &ServerTls, conn: &rustls::ServerConnection) -> TlsInfo {
    // A certificate that passed verification but whose names PostgreSQL would not
    // accept (a NUL in the CN) counts as no certificate: cert lines then refuse.
    let client = ClientIdentity::from_connection(conn).ok().flatten();
    TlsInfo {
        end_point: t.channel_binding().map(<[u8]>::to_vec),
        client,
    }
}

async fn direct_tls(tcp: TcpStream, t: &Arc<ServerTls>) -> Result<Negotiated, NegotiationError> {
    let accepted = TlsAcceptor::from(t.config.clone())
        .accept(tcp)
        .await
        .map_err(|e| NegotiationError::Drop(format!("direct TLS handshake failed: {e}")))?;
    let alpn_ok = accepted.get_ref().1.alpn_protocol() == Some(b"postgresql");
    let info = tls_info(t, accepted.get_ref().1);
    let mut stream = MessageStream::new(Box::new(accepted));
    if !alpn_ok {
        return Err(NegotiationError::Refuse(
            stream,
            protocol_violation(
                "received direct SSL connection request without ALPN protocol negotiation extension",
                "direct TLS without ALPN postgresql",
            ),
        ));
    }
    let packet = match stream.read_with(parse_startup).await {
        Ok(p) => p,
        Err(e) => return Err(read_failure(stream, e)),
    };
    match packet {
        StartupPacket::Startup(message) => Ok(Negotiated::Startup {
            stream,
            message: Box::new(message),
            tls: Some(info),
        }),
        StartupPacket::CancelRequest(c) => Ok(Negotiated::Cancel(c)),
        StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
            let err = ProtocolError::UnsupportedProtocol {
                major: 1234,
                minor: 5679,
            };
            let refusal = Refusal::new(
                err.sqlstate(),
                err.client_message(),
                "encryption request inside direct TLS",
            );
            Err(NegotiationError::Refuse(stream, refusal))
        }
    }
}

fn read_failure(stream: MessageStream, e: ReadError) -> NegotiationError {
    match e {
        // PostgreSQL only logs these (COMMERROR) and closes without a word.
        ReadError::Protocol(p) if !p.sent_to_client() => {
            NegotiationError::Drop(format!("bad startup packet: {p}"))
        }
        ReadError::Protocol(p) => {
            let reason = format!("bad startup packet: {p}");
            let refusal = Refusal::new(p.sqlstate(), p.client_message(), reason);
            match p {
                ProtocolError::UnsupportedProtocol { major, .. } if major < 3 => {
                    NegotiationError::RefuseV2(stream, refusal)
                }
                _ => NegotiationError::Refuse(stream, refusal),
            }
        }
        other => NegotiationError::Drop(other.to_string()),
    }
}
