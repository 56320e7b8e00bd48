//! Layer 5, first half: connect to the upstream PostgreSQL and log in as the
//! client's role, up to its first ReadyForQuery.
//!
//! The upstream's ParameterStatus and NoticeResponse messages are kept for the
//! client; its BackendKeyData is kept for cancel routing (the client gets
//! gatehouse's own key); an ErrorResponse is handed back whole so the client
//! sees exactly what PostgreSQL said (for example 3D000 `database "x" does not
//! exist`, or 57P03 `the database system is starting up`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::auth::{
    md5_client_response, ClientChannelBinding, ScramClient, ScramClientFinalSent,
    ScramClientFirstSent, ScramCredentials, ScramNonce, StoredSecret,
};
use crate::cancel::CancelTarget;
use crate::config::{Upstream, UpstreamAddr, UpstreamAuth, UpstreamTls};
use crate::protocol::{
    encode_notice_response, encode_parameter_status, encode_password, encode_sasl_initial_response,
    encode_sasl_response, encode_ssl_request, encode_startup, parse_backend, Authentication,
    BackendMessage, ErrorFields, ProtocolVersion, TransactionStatus,
};
use crate::stream::{BoxedIo, MessageStream, ReadError};

/// What the client proved, reusable to log in upstream.
pub enum ClientProof {
    /// Nothing reusable (trust, cert).
    None,
    /// A cleartext password (`password` lines, or a plaintext stored secret).
    Cleartext(String),
    /// The stored md5 secret (`md5` + 32 hex): answers an md5 challenge.
    Md5Secret(String),
    /// SCRAM pass-through keys: ClientKey recovered from the client's proof,
    /// ServerKey from the secret.
    Scram(ScramCredentials),
}

impl ClientProof {
    /// The reusable form of a stored secret (for userlist entries).
    pub fn from_stored(secret: &StoredSecret) -> ClientProof {
        match secret {
            StoredSecret::Plain(p) => ClientProof::Cleartext(p.clone()),
            StoredSecret::Md5(digest) => {
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                ClientProof::Md5Secret(format!("md5{hex}"))
            }
            StoredSecret::Scram(_) => ClientProof::None,
        }
    }
}

/// Why the upstream login failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect.
    #[error("could not connect to upstream {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// Connecting or logging in took longer than the connect timeout.
    #[error("upstream did not finish login within {0:?}")]
    Timeout(Duration),
    /// The upstream refused TLS or the handshake failed.
    #[error("upstream TLS: {0}")]
    Tls(String),
    /// The upstream answered with an ErrorResponse (relayed to the client as is).
    #[error("upstream refused: {}", .0.get(b'M').map(String::from_utf8_lossy).unwrap_or_default())]
    Server(ErrorFields),
    /// The upstream asked for a way of logging in that gatehouse cannot satisfy.
    #[error("upstream authentication: {0}")]
    Auth(String),
    /// The upstream broke the protocol or closed the connection.
    #[error("upstream protocol: {0}")]
    Read(#[from] ReadError),
}

/// A logged-in upstream connection.
pub struct UpstreamSession {
    /// The stream, positioned after the first ReadyForQuery.
    pub stream: MessageStream,
    /// ParameterStatus and NoticeResponse messages to pass to the client, encoded.
    pub to_client: BytesMut,
    /// The ParameterStatus values, in the order received.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    /// The backend's key, for cancel routing.
    pub key: CancelTarget,
    /// Transaction status of its first ReadyForQuery.
    pub status: TransactionStatus,
}

impl UpstreamAddr {
    /// `host:port`, or the Unix socket path, for messages.
    pub fn describe(&self) -> String {
        match self {
            UpstreamAddr::Unix { dir, port } => socket_path(dir, *port).display().to_string(),
            UpstreamAddr::Tcp { host, port, .. } => format!("{host}:{port}"),
        }
    }
}

fn socket_path(dir: &std::path::Path, port: u16) -> PathBuf {
    dir.join(format!(".s.PGSQL.{port}"))
}

/// Opens a plain byte stream to the upstream (TLS negotiated when configured).
pub async fn open(addr: &UpstreamAddr) -> Result<BoxedIo, UpstreamError> {
    let err = |source| UpstreamError::Connect {
        addr: addr.describe(),
        source,
    };
    match addr {
        UpstreamAddr::Unix { dir, port } => {
            let s = UnixStream::connect(socket_path(dir, *port))
                .await
                .map_err(err)?;
            Ok(Box::new(s))
        }
        UpstreamAddr::Tcp { host, port, tls } => {
            let s = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(err)?;
            let _ = s.set_nodelay(true);
            match tls {
                None => Ok(Box::new(s)),
                Some(t) => negotiate_tls(s, t).await,
            }
        }
    }
}

async fn negotiate_tls(mut s: TcpStream, tls: &UpstreamTls) -> Result<BoxedIo, UpstreamError> {
    let mut req = BytesMut::new();
    encode_ssl_request(&mut req);
    let io_err = |e: io::Error| UpstreamError::Tls(e.to_string());
    s.write_all(&req).await.map_err(io_err)?;
    let answer = s.read_u8().await.map_err(io_err)?;
    if answer != b'S' {
        return Err(UpstreamError::Tls("the server does not support TLS".into()));
    }
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = connector
        .connect(tls.server_name.clone(), s)
        .await
        .map_err(io_err)?;
    Ok(Box::new(stream))
}

/// Connects and logs in as the StartupMessage `params` say (user, database and
/// the rest, forwarded as the client sent them), within `budget`.
pub async fn login(
    upstream: &Upstream,
    params: &[(&[u8], &[u8])],
    proof: &ClientProof,
    user: &str,
    budget: Duration,
) -> Result<UpstreamSession, UpstreamError> {
    match tokio::time::timeout(budget, login_inner(upstream, params, proof, user)).await {
        Ok(r) => r,
        Err(_) => Err(UpstreamError::Timeout(budget)),
    }
}

async fn login_inner(
    upstream: &Upstream,
    params: &[(&[u8], &[u8])],
    proof: &ClientProof,
    user: &str,
) -> Result<UpstreamSession, UpstreamError> {
    let io = open(&upstream.addr).await?;
    let mut s = MessageStream::new(io);
    encode_startup(ProtocolVersion::V3_0, params, s.out())
        .map_err(|e| UpstreamError::Auth(format!("startup message: {e}")))?;
    s.flush().await.map_err(ReadError::Io)?;

    let secret_proof;
    let proof = match (&upstream.auth, proof) {
        (UpstreamAuth::Password(list), _) => {
            secret_proof = list
                .get(user)
                .map(ClientProof::from_stored)
                .unwrap_or(ClientProof::None);
            &secret_proof
        }
        (UpstreamAuth::Trust, _) => &ClientProof::None,
        (UpstreamAuth::ScramPassthrough, p) => p,
    };

    let mut to_client = BytesMut::new();
    let mut status_params = Vec::new();
    let mut key = None;
    let mut scram = ScramUp::Idle;
    loop {
        let msg = s.read_with(parse_backend).await?;
        match msg {
            BackendMessage::Authentication(a) => {
                answer_auth(&mut s, a, proof, user, &mut scram).await?;
            }
            BackendMessage::ParameterStatus { name, value } => {
                let _ = encode_parameter_status(&name, &value, &mut to_client);
                status_params.push((name, value));
            }
            BackendMessage::NoticeResponse(f) => {
                let _ = encode_notice_response(&f, &mut to_client);
            }
            BackendMessage::BackendKeyData {
                process_id,
                secret_key,
            } => {
                key = Some(CancelTarget {
                    process_id,
                    secret_key,
                });
            }
            BackendMessage::ReadyForQuery(status) => {
                let key = key.unwrap_or(CancelTarget {
                    process_id: 0,
                    secret_key: Vec::new(),
                });
                return Ok(UpstreamSession {
                    stream: s,
                    to_client,
                    params: status_params,
                    key,
                    status,
                });
            }
            BackendMessage::ErrorResponse(f) => return Err(UpstreamError::Server(f)),
            BackendMessage::NegotiateProtocolVersion { .. }
            | BackendMessage::CommandComplete(_) => {}
        }
    }
}

/// Where the upstream SCRAM exchange stands.
enum ScramUp {
    Idle,
    FirstSent(ScramClientFirstSent),
    FinalSent(ScramClientFinalSent),
}

async fn answer_auth(
    s: &mut MessageStream,
    request: Authentication,
    proof: &ClientProof,
    user: &str,
    scram: &mut ScramUp,
) -> Result<(), UpstreamError> {
    let need = |what: &str| {
        UpstreamError::Auth(format!(
            "the upstream asks for {what}, and gatehouse has no reusable secret for role \"{user}\" \
             (set [upstream] auth = \"trust\" or \"password\" with a secret file)"
        ))
    };
    match request {
        Authentication::Ok => return Ok(()),
        Authentication::CleartextPassword => match proof {
            ClientProof::Cleartext(p) => encode_password(p.as_bytes(), s.out())
                .map_err(|e| UpstreamError::Auth(e.to_string()))?,
            _ => return Err(need("a cleartext password")),
        },
        Authentication::Md5Password { salt } => {
            let answer = match proof {
                ClientProof::Cleartext(p) => md5_client_response(user, p, salt),
                ClientProof::Md5Secret(m) => md5_client_response(user, m, salt),
                _ => return Err(need("an md5 password")),
            };
            encode_password(&answer, s.out()).map_err(|e| UpstreamError::Auth(e.to_string()))?;
        }
        Authentication::Sasl { mechanisms } => {
            if !mechanisms.iter().any(|m| m == b"SCRAM-SHA-256") {
                return Err(UpstreamError::Auth("no SASL mechanism in common".into()));
            }
            let creds = match proof {
                ClientProof::Cleartext(p) => ScramCredentials::Password(p.clone()),
                ClientProof::Scram(c) => c.clone(),
                _ => return Err(need("SCRAM-SHA-256")),
            };
            let client = ScramClient::new(
                creds,
                ClientChannelBinding::Unsupported,
                ScramNonce::random(),
            );
            let (state, first) = client.client_first();
            encode_sasl_initial_response(b"SCRAM-SHA-256", Some(first.as_bytes()), s.out())
                .map_err(|e| UpstreamError::Auth(e.to_string()))?;
            *scram = ScramUp::FirstSent(state);
        }
        Authentication::SaslContinue(data) => {
            let ScramUp::FirstSent(state) = std::mem::replace(scram, ScramUp::Idle) else {
                return Err(UpstreamError::Auth("SASLContinue out of order".into()));
            };
            let (state, answer) = state
                .server_first(&data)
                .map_err(|e| UpstreamError::Auth(format!("SCRAM: {e}")))?;
            encode_sasl_response(answer.as_bytes(), s.out())
                .map_err(|e| UpstreamError::Auth(e.to_string()))?;
            *scram = ScramUp::FinalSent(state);
        }
        Authentication::SaslFinal(data) => {
            let ScramUp::FinalSent(state) = std::mem::replace(scram, ScramUp::Idle) else {
                return Err(UpstreamError::Auth("SASLFinal out of order".into()));
            };
            state
                .server_final(&data)
                .map_err(|e| UpstreamError::Auth(format!("SCRAM: {e}")))?;
            return Ok(());
        }
        Authentication::Other { code, .. } => {
            return Err(UpstreamError::Auth(format!(
            "the upstream asks for authentication request {code}, which gatehouse does not speak"
        )))
        }
    }
    s.flush().await.map_err(ReadError::Io)?;
    Ok(())
}
