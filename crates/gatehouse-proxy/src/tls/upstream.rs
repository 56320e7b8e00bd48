//! The client side: TLS to the real PostgreSQL server, as libpq's `sslmode`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::{pem, provider, TlsError, TlsFile, ALPN_POSTGRESQL};

/// How the upstream server's certificate is checked (libpq `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamTlsMode {
    /// Encrypt; do not verify the certificate (libpq `require`). When a root CA file is
    /// given anyway, the chain is verified as with [`UpstreamTlsMode::VerifyCa`], as libpq
    /// does when a root certificate file exists.
    Require,
    /// Verify that the certificate chains to the root CA file, not which name it is for
    /// (libpq `verify-ca`).
    VerifyCa,
    /// Verify the chain and that the certificate is for the name connected to (libpq
    /// `verify-full`; the name is the [`ServerName`] given to the connector). Only the
    /// subjectAltName is checked: unlike libpq, a certificate with no DNS subjectAltName
    /// is not matched against its CN.
    VerifyFull,
}

impl UpstreamTlsMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamTlsMode::Require => "require",
            UpstreamTlsMode::VerifyCa => "verify-ca",
            UpstreamTlsMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for UpstreamTlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client configuration for connecting to the upstream PostgreSQL: TLS 1.2+, ALPN
/// `postgresql` (as libpq 17+; servers before 17 ignore it), the ring provider, no client
/// certificate.
///
/// `VerifyCa` and `VerifyFull` need `root_ca_file` ([`TlsError::RootCaRequired`]
/// otherwise; there is no system store, like libpq without `sslrootcert=system`).
pub fn upstream_client_config(
    mode: UpstreamTlsMode,
    root_ca_file: Option<&Path>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, root_ca_file) {
        (UpstreamTlsMode::Require, None) => Arc::new(NoVerification(provider)),
        (UpstreamTlsMode::VerifyCa | UpstreamTlsMode::VerifyFull, None) => {
            return Err(TlsError::RootCaRequired {
                mode: mode.as_str(),
            })
        }
        (_, Some(path)) => {
            let roots = pem::load_roots(TlsFile::RootCa, path)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::BadCa {
                    what: TlsFile::RootCa,
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                })?;
            match mode {
                UpstreamTlsMode::VerifyFull => webpki,
                UpstreamTlsMode::Require | UpstreamTlsMode::VerifyCa => Arc::new(ChainOnly(webpki)),
            }
        }
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Arc::new(config))
}

/// `verify-ca`: the WebPKI verifier with the name check's verdict ignored. webpki checks
/// the name last, after the chain, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require`: any certificate; the handshake signatures are still checked (they prove the
/// server holds the key of the certificate it sent, which channel binding relies on).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
