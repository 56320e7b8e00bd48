//! `tls-server-end-point` channel binding data (RFC 5929 section 4.1), as PostgreSQL
//! computes it (`be_tls_get_certificate_hash()` in be-secure-openssl.c, and libpq's
//! `pgtls_get_peer_certificate_hash()` on the client side).

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512, Sha512_224, Sha512_256};
use x509_parser::prelude::FromDer;
use x509_parser::signature_algorithm::RsaSsaPssParams;

/// The hash functions the binding can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha224 => Sha224::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
            Hash::Sha512_224 => Sha512_224::digest(data).to_vec(),
            Hash::Sha512_256 => Sha512_256::digest(data).to_vec(),
        }
    }
}

/// The `tls-server-end-point` binding of a DER certificate: the certificate hashed with the
/// hash of its signature algorithm, SHA-256 when that is MD5 or SHA-1 (RSASSA-PSS: the hash
/// named in its parameters).
///
/// `None` when the binding is undefined: a signature algorithm without a separate hash
/// (Ed25519, Ed448), one whose hash we do not implement (SHA-3, MD2, MD4), or a certificate
/// that cannot be parsed. PostgreSQL fails the SCRAM exchange for such a certificate
/// ("could not find digest for NID ..."), so the server side must not offer
/// SCRAM-SHA-256-PLUS and the client side must not choose it.
///
/// ```
/// # use gatehouse_proxy::tls::tls_server_end_point;
/// assert_eq!(tls_server_end_point(b"not a certificate"), None);
/// ```
pub fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der).ok()?;
    let algorithm = &cert.signature_algorithm;
    let hash = match algorithm.algorithm.to_id_string().as_str() {
        // RSASSA-PSS: the hash is a parameter (absent = SHA-1).
        "1.2.840.113549.1.1.10" => {
            let params = algorithm.parameters.as_ref()?;
            let pss = RsaSsaPssParams::try_from(params).ok()?;
            digest_hash(&pss.hash_algorithm_oid().to_id_string())?
        }
        oid => signature_hash(oid)?,
    };
    Some(hash.digest(cert_der))
}

/// The hash of a signature algorithm OID (RSA PKCS#1 v1.5, ECDSA, DSA), MD5 and SHA-1
/// mapped to SHA-256.
fn signature_hash(oid: &str) -> Option<Hash> {
    Some(match oid {
        // md5WithRSAEncryption, sha1WithRSAEncryption, sha1WithRSA (OIW),
        // ecdsa-with-SHA1, dsa-with-sha1: RFC 5929 says SHA-256.
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.3.14.3.2.29"
        | "1.2.840.10045.4.1"
        | "1.2.840.10040.4.3" => Hash::Sha256,
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" | "2.16.840.1.101.3.4.3.1" => Hash::Sha224,
        "1.2.840.113549.1.1.11" | "1.2.840.10045.4.3.2" | "2.16.840.1.101.3.4.3.2" => Hash::Sha256,
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" | "2.16.840.1.101.3.4.3.3" => Hash::Sha384,
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" | "2.16.840.1.101.3.4.3.4" => Hash::Sha512,
        "1.2.840.113549.1.1.15" => Hash::Sha512_224,
        "1.2.840.113549.1.1.16" => Hash::Sha512_256,
        _ => return None,
    })
}

/// The hash of a digest algorithm OID (RSASSA-PSS parameters), MD5 and SHA-1 mapped to
/// SHA-256.
fn digest_hash(oid: &str) -> Option<Hash> {
    Some(match oid {
        "1.2.840.113549.2.5" | "1.3.14.3.2.26" => Hash::Sha256,
        "2.16.840.1.101.3.4.2.4" => Hash::Sha224,
        "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
        "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
        "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
        "2.16.840.1.101.3.4.2.5" => Hash::Sha512_224,
        "2.16.840.1.101.3.4.2.6" => Hash::Sha512_256,
        _ => return None,
    })
}
