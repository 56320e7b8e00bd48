//! The TLS layer of the gateway (rustls with the ring provider; no OpenSSL).
//!
//! - [`ServerTls::load`] builds the configuration clients handshake against, from PEM files
//!   the way PostgreSQL's `ssl_cert_file` / `ssl_key_file` / `ssl_ca_file` are used, and
//!   computes the `tls-server-end-point` channel binding of our certificate
//!   ([`tls_server_end_point`]) for SCRAM-SHA-256-PLUS.
//! - [`ClientIdentity`] is what pg_hba `cert` / `clientcert=` rules look at: the CN and the
//!   RFC 2253 DN of a verified client certificate, formatted byte for byte as PostgreSQL
//!   (OpenSSL) formats them.
//! - [`upstream_client_config`] is the client side, for the connection to the real server
//!   (libpq's `sslmode=require | verify-ca | verify-full`).
//!
//! Every configuration names the ring provider explicitly ([`provider`]); nothing depends on
//! a process-wide default provider.
//!
//! ```no_run
//! use gatehouse_proxy::tls::{ServerTls, TlsSettings};
//!
//! let tls = ServerTls::load(&TlsSettings::new("server.crt", "server.key"))?;
//! let acceptor = tls.acceptor(); // tokio_rustls::TlsAcceptor
//! assert!(tls.channel_binding().is_some()); // for an ECDSA or RSA certificate
//! # let _ = acceptor;
//! # Ok::<(), gatehouse_proxy::tls::TlsError>(())
//! ```

mod end_point;
mod error;
mod identity;
mod pem;
mod short_names;
mod upstream;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::ServerConfig;

pub use end_point::tls_server_end_point;
pub use error::{TlsError, TlsFile};
pub use identity::ClientIdentity;
pub use upstream::{upstream_client_config, UpstreamTlsMode};

/// The ALPN protocol name of PostgreSQL (required by PostgreSQL 17+ direct SSL, offered by
/// libpq 17+ on every TLS connection).
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// The lowest TLS version the gateway accepts (PostgreSQL's `ssl_min_protocol_version`,
/// limited to the versions rustls implements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default, as PostgreSQL's default `TLSv1.2`).
    #[default]
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

impl TlsVersion {
    /// The rustls protocol versions this minimum allows.
    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static BOTH: [&rustls::SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static ONLY_13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            TlsVersion::V1_2 => &BOTH,
            TlsVersion::V1_3 => &ONLY_13,
        }
    }
}

/// Where the server side's certificate, key and client CAs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, our certificate first (`ssl_cert_file`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted (`ssl_key_file`).
    pub key_file: PathBuf,
    /// PEM CA certificates that client certificates are verified against (`ssl_ca_file`).
    /// When set, clients are asked for a certificate, but may go without one: pg_hba rules
    /// (`cert`, `clientcert=verify-ca|verify-full`) decide whether one is required.
    pub client_ca_file: Option<PathBuf>,
    /// The lowest TLS version accepted.
    pub min_version: TlsVersion,
}

impl TlsSettings {
    /// Settings with a certificate and key, no client CA, TLS 1.2+.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            min_version: TlsVersion::V1_2,
        }
    }
}

/// The server side's TLS configuration, ready for handshakes.
#[derive(Clone)]
pub struct ServerTls {
    /// The rustls configuration (ALPN `postgresql`, client certificates optional-but-verified
    /// when a client CA file is set, no session resumption).
    pub config: Arc<ServerConfig>,
    /// The `tls-server-end-point` channel binding data (RFC 5929) of our certificate, for
    /// SCRAM-SHA-256-PLUS; empty when our certificate's signature algorithm has no defined
    /// hash (Ed25519, Ed448, ...), in which case PostgreSQL also cannot offer `-PLUS`.
    pub end_point: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed; the rustls config is summarised.
        f.debug_struct("ServerTls")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .field("end_point_len", &self.end_point.len())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads the certificate chain, key and (optional) client CAs named in `settings`.
    ///
    /// Fails, naming the file, when a file cannot be read, holds no certificate or no key,
    /// when the key does not belong to the first certificate, or when the CA file holds no
    /// usable CA certificate.
    pub fn load(settings: &TlsSettings) -> Result<ServerTls, TlsError> {
        let provider = provider();
        let chain = pem::load_certs(TlsFile::Certificate, &settings.cert_file)?;
        let key = pem::load_key(&settings.key_file)?;
        let certified = pem::certified_key(chain, key, &settings.cert_file, &settings.key_file)?;
        let end_point = match certified.cert.first() {
            Some(leaf) => tls_server_end_point(leaf).unwrap_or_default(),
            None => Vec::new(),
        };
        if end_point.is_empty() {
            tracing::warn!(
                cert_file = %settings.cert_file.display(),
                "no tls-server-end-point hash for this certificate's signature algorithm: \
                 SCRAM-SHA-256-PLUS (channel binding) will not be offered"
            );
        }

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(settings.min_version.versions())
            .map_err(TlsError::Config)?;
        let builder = match &settings.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let roots = pem::load_roots(TlsFile::ClientCa, ca_file)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| TlsError::BadCa {
                            what: TlsFile::ClientCa,
                            path: ca_file.clone(),
                            detail: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config =
            builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
        // No session resumption, as PostgreSQL (SSL_SESS_CACHE_OFF, SSL_OP_NO_TICKET): every
        // connection verifies the client certificate afresh, also after a CA reload.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(ServerTls {
            config: Arc::new(config),
            end_point,
        })
    }

    /// The channel binding data for `tls-server-end-point`, `None` when unavailable.
    pub fn channel_binding(&self) -> Option<&[u8]> {
        (!self.end_point.is_empty()).then_some(self.end_point.as_slice())
    }

    /// A tokio acceptor over [`ServerTls::config`].
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// The crypto provider of every configuration made here (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests;
