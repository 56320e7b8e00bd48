//! Errors of the TLS layer: each names the file and what was wrong with it.

use std::fmt;
use std::path::PathBuf;

/// Which configured file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// The server certificate chain (`cert_file`).
    Certificate,
    /// The server private key (`key_file`).
    PrivateKey,
    /// The CAs client certificates are verified against (`client_ca_file`).
    ClientCa,
    /// The CAs the upstream server's certificate is verified against.
    RootCa,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::Certificate => "certificate file",
            TlsFile::PrivateKey => "private key file",
            TlsFile::ClientCa => "client CA file",
            TlsFile::RootCa => "root CA file",
        })
    }
}

/// Everything that can go wrong while loading TLS material or reading a peer certificate.
///
/// Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, unreadable).
    #[error("cannot read {what} \"{}\": {error}", path.display())]
    Read {
        /// Which file.
        what: TlsFile,
        /// Its path.
        path: PathBuf,
        /// The underlying error (in the message; not chained again as a source,
        /// so error reports do not print it twice).
        error: std::io::Error,
    },

    /// A file is not well-formed PEM.
    #[error("{what} \"{}\": malformed PEM: {detail}", path.display())]
    Pem {
        /// Which file.
        what: TlsFile,
        /// Its path.
        path: PathBuf,
        /// What the PEM reader reported (never the key's contents).
        detail: String,
    },

    /// A certificate or CA file holds no `-----BEGIN CERTIFICATE-----` section.
    #[error("{what} \"{}\": no certificate (-----BEGIN CERTIFICATE-----) found", path.display())]
    NoCertificate {
        /// Which file.
        what: TlsFile,
        /// Its path.
        path: PathBuf,
    },

    /// A certificate in a file cannot be parsed as X.509.
    #[error("{what} \"{}\": certificate #{index} is not a valid X.509 certificate: {detail}", path.display())]
    BadCertificate {
        /// Which file.
        what: TlsFile,
        /// Its path.
        path: PathBuf,
        /// Position of the certificate in the file, from 1.
        index: usize,
        /// What the parser reported.
        detail: String,
    },

    /// The key file holds no unencrypted private key.
    #[error(
        "private key file \"{}\": no private key found (expected an unencrypted PKCS#8, \
         PKCS#1 RSA or SEC1 EC key in PEM)",
        path.display()
    )]
    NoKey {
        /// The key file.
        path: PathBuf,
    },

    /// The key file holds an encrypted key (passphrases are not supported).
    #[error(
        "private key file \"{}\": the key is encrypted; passphrase-protected keys are not \
         supported (decrypt it, e.g. `openssl pkey -in KEY -out KEY.plain`)",
        path.display()
    )]
    EncryptedKey {
        /// The key file.
        path: PathBuf,
    },

    /// The key is of a kind the crypto provider cannot use.
    #[error("private key file \"{}\": unsupported private key: {detail}", path.display())]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// What the provider reported.
        detail: String,
    },

    /// The private key does not belong to the first certificate of the chain.
    #[error(
        "private key file \"{}\" does not match the certificate in \"{}\"",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },

    /// A CA file cannot serve as a set of trust anchors.
    #[error("{what} \"{}\": {detail}", path.display())]
    BadCa {
        /// Which file.
        what: TlsFile,
        /// Its path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },

    /// An upstream mode that verifies the server was given no root CA file.
    #[error("upstream TLS mode {mode} needs a root CA file to verify the server certificate")]
    RootCaRequired {
        /// The mode (`verify-ca`, `verify-full`).
        mode: &'static str,
    },

    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),

    /// A client certificate whose names PostgreSQL would refuse (the connection must end).
    #[error("client certificate: {0}")]
    PeerCertificate(String),
}
