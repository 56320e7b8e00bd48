//! Reading PEM certificate, key and CA files, with errors that name the file.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use super::{provider, TlsError, TlsFile};

/// Reads a file whole.
fn read(what: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_path_buf(),
        error,
    })
}

/// A description of a PEM syntax error that quotes nothing from the file (it may be a key).
fn pem_error(what: TlsFile, path: &Path, error: &pem::Error) -> TlsError {
    let detail = match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no -----END line",
        pem::Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        pem::Error::NoItemsFound => "no section found",
        pem::Error::Io(_) => "read error",
        _ => "unreadable",
    };
    TlsError::Pem {
        what,
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// All certificates of a PEM file, in file order; checks each parses as X.509.
pub(super) fn load_certs(
    what: TlsFile,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let cert = item.map_err(|e| pem_error(what, path, &e))?;
        if let Err(e) = x509_parser::parse_x509_certificate(&cert) {
            return Err(TlsError::BadCertificate {
                what,
                path: path.to_path_buf(),
                index: certs.len() + 1,
                detail: e.to_string(),
            });
        }
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub(super) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    warn_if_key_readable_by_others(path);
    let bytes = read(TlsFile::PrivateKey, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if is_encrypted_key(&bytes) => Err(TlsError::EncryptedKey {
            path: path.to_path_buf(),
        }),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoKey {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(pem_error(TlsFile::PrivateKey, path, &e)),
    }
}

/// Whether a PEM file holds an encrypted key: PKCS#8 `ENCRYPTED PRIVATE KEY`, or a
/// traditional OpenSSL key with a `Proc-Type: 4,ENCRYPTED` header.
fn is_encrypted_key(bytes: &[u8]) -> bool {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED")
}

/// PostgreSQL refuses to start with a key file that others can read; we warn.
fn warn_if_key_readable_by_others(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.mode() & 0o777;
        // PostgreSQL: at most 0600, or 0640 when owned by root.
        let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
        if mode & !allowed != 0 {
            tracing::warn!(
                key_file = %path.display(),
                mode = format_args!("{mode:04o}"),
                "private key file has group or world access; it should be u=rw (0600) or \
                 less, or u=rw,g=r (0640) or less when owned by root"
            );
        }
    }
}

/// Pairs the chain with its key, checking that the key belongs to the first certificate.
pub(super) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let signing_key =
        provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::UnsupportedKey {
                path: key_path.to_path_buf(),
                detail: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            })
        }
        Err(e) => Err(TlsError::BadCertificate {
            what: TlsFile::Certificate,
            path: cert_path.to_path_buf(),
            index: 1,
            detail: e.to_string(),
        }),
    }
}

/// The certificates of a CA file as trust anchors; every certificate must be usable.
pub(super) fn load_roots(what: TlsFile, path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = load_certs(what, path)?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| TlsError::BadCa {
            what,
            path: PathBuf::from(path),
            detail: format!("certificate #{} cannot be a trust anchor: {e}", i + 1),
        })?;
    }
    Ok(roots)
}
