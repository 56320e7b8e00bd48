//! Certificates and TLS client configuration for tests.
//!
//! [`self_signed`] makes a lone server certificate; [`CertAuthority`] is a throwaway CA that
//! issues server and client certificates, for tests of certificate verification and of
//! client-certificate identities (CN, DN). [`write_pem_files`] puts a certificate and its key
//! where a server (or libpq) can read them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use rustls::pki_types::pem::PemObject;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::{Result, TestkitError};

/// A certificate with its private key, both PEM.
#[derive(Clone)]
pub struct SelfSigned {
    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// The private key, PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`); ECDSA P-256 unless made
    /// with [`CertAuthority::sign_with_algorithm`].
    pub key_pem: String,
}

impl SelfSigned {
    /// The certificate, DER.
    pub fn cert_der(&self) -> Result<Vec<u8>> {
        rustls::pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map(|c| c.to_vec())
            .map_err(|e| TestkitError::InvalidArgument(format!("certificate PEM: {e}")))
    }
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A fresh self-signed certificate for `names` (DNS names or IP addresses, as strings).
pub fn self_signed(names: &[&str]) -> Result<SelfSigned> {
    let names: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names)?;
    Ok(SelfSigned {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
    })
}

/// A throwaway certificate authority (ECDSA P-256, self-signed) that issues server and
/// client certificates.
///
/// ```
/// use gatehouse_testkit::tls::CertAuthority;
/// use rcgen::DnType;
///
/// let ca = CertAuthority::new("Test CA")?;
/// let server = ca.server_cert(&["localhost", "127.0.0.1"])?;
/// // Subject O=Example, OU=dev, CN=alice (RFC 2253: "CN=alice,OU=dev,O=Example").
/// let alice = ca.client_cert(
///     "alice",
///     &[(DnType::OrganizationName, "Example"), (DnType::OrganizationalUnitName, "dev")],
/// )?;
/// assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # let _ = (server, alice);
/// # Ok::<(), gatehouse_testkit::TestkitError>(())
/// ```
pub struct CertAuthority {
    name: String,
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CertAuthority {
    /// A fresh CA whose subject is `CN=<name>`.
    pub fn new(name: &str) -> Result<CertAuthority> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(CertAuthority {
            name: name.to_string(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's name (its subject CN).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, PEM (for `ssl_ca_file`, `sslrootcert`, a root store).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A server certificate for `names` (DNS names or IP addresses, as strings; the first is
    /// also the subject CN), extended key usage serverAuth, signed by this CA.
    pub fn server_cert(&self, names: &[&str]) -> Result<SelfSigned> {
        let sans: Vec<String> = names.iter().map(|s| (*s).to_string()).collect();
        let mut params = CertificateParams::new(sans)?;
        let mut dn = DistinguishedName::new();
        if let Some(first) = names.first() {
            dn.push(DnType::CommonName, *first);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// A client certificate (extended key usage clientAuth) signed by this CA, whose subject
    /// is `extra_dn` in the order given (most significant first, as encoded) followed by
    /// `CN=<cn>`: `client_cert("alice", &[(O, "Example"), (OU, "dev")])` has the RFC 2253
    /// name `CN=alice,OU=dev,O=Example`. Values are UTF8String; each type at most once (for
    /// other encodings or layouts build the parameters and call [`CertAuthority::sign`]).
    pub fn client_cert(&self, cn: &str, extra_dn: &[(DnType, &str)]) -> Result<SelfSigned> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        for (ty, value) in extra_dn {
            if *ty == DnType::CommonName {
                return Err(TestkitError::InvalidArgument(
                    "client_cert: pass the CN as `cn`, not in extra_dn".to_string(),
                ));
            }
            dn.push(ty.clone(), *value);
        }
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// Signs a certificate made from `params` for a fresh ECDSA P-256 key.
    pub fn sign(&self, params: CertificateParams) -> Result<SelfSigned> {
        self.sign_with_algorithm(params, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// Signs a certificate made from `params` for a fresh key of `algorithm` (the algorithm
    /// of the certificate's own key; the CA signs with ECDSA P-256 SHA-256 either way).
    pub fn sign_with_algorithm(
        &self,
        params: CertificateParams,
        algorithm: &'static SignatureAlgorithm,
    ) -> Result<SelfSigned> {
        let key = KeyPair::generate_for(algorithm)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(SelfSigned {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Writes `cert` to `<dir>/<prefix>.crt` (mode 0644) and its key to `<dir>/<prefix>.key`
/// (mode 0600, as libpq and PostgreSQL require for key files). Returns (cert path, key path).
pub fn write_pem_files(dir: &Path, prefix: &str, cert: &SelfSigned) -> Result<(PathBuf, PathBuf)> {
    let cert_path = dir.join(format!("{prefix}.crt"));
    let key_path = dir.join(format!("{prefix}.key"));
    write_with_mode(&cert_path, cert.cert_pem.as_bytes(), 0o644)?;
    write_with_mode(&key_path, cert.key_pem.as_bytes(), 0o600)?;
    Ok((cert_path, key_path))
}

/// Writes `bytes` to `path` and sets its mode (set before the contents go in, so a key is
/// never readable by others, not even briefly).
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| TestkitError::io("create", path, e))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| TestkitError::io("chmod", path, e))?;
    file.write_all(bytes)
        .map_err(|e| TestkitError::io("write", path, e))
}

/// The crypto provider the kit uses (ring), named explicitly so that other crates enabling
/// another provider in the same build do not make the process-wide default ambiguous.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client configuration that accepts **any** server certificate (test use only: it
/// still checks the handshake signatures, but not who signed the certificate or for which
/// name). Offers ALPN `postgresql`, as libpq 17+ does.
pub fn insecure_client_config() -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts every certificate; verifies handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
