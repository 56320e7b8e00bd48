//! Unit tests of the TLS layer: loading errors, end-point hashes, CN/DN extraction.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls_fixtures")
        .join(name)
}

fn fixture_der(name: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(fixture(name))
        .expect("fixture certificate")
        .to_vec()
}

/// A self-signed certificate with subject `dn` (entries in DER order) and a key of `alg`.
fn cert_with(dn: Vec<(DnType, DnValue)>, alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
    let key = KeyPair::generate_for(alg).expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let mut name = DistinguishedName::new();
    for (ty, value) in dn {
        name.push(ty, value);
    }
    params.distinguished_name = name;
    params.self_signed(&key).expect("sign").der().to_vec()
}

fn p256_cert(dn: Vec<(DnType, DnValue)>) -> Vec<u8> {
    cert_with(dn, &rcgen::PKCS_ECDSA_P256_SHA256)
}

fn utf8(s: &str) -> DnValue {
    DnValue::Utf8String(s.to_string())
}

fn custom(oid: &[u64]) -> DnType {
    DnType::CustomDnType(oid.to_vec())
}

// --- tls-server-end-point ---

#[test]
fn end_point_of_ecdsa_p256_sha256_is_sha256_of_the_der() {
    let der = p256_cert(vec![(DnType::CommonName, utf8("x"))]);
    assert_eq!(
        tls_server_end_point(&der),
        Some(Sha256::digest(&der).to_vec())
    );
}

#[test]
fn end_point_of_ecdsa_p384_sha384_is_sha384() {
    let der = cert_with(
        vec![(DnType::CommonName, utf8("x"))],
        &rcgen::PKCS_ECDSA_P384_SHA384,
    );
    assert_eq!(
        tls_server_end_point(&der),
        Some(Sha384::digest(&der).to_vec())
    );
}

#[test]
fn end_point_of_rsa_sha384_fixture_is_sha384() {
    let der = fixture_der("rsa_sha384.crt");
    let hash = tls_server_end_point(&der).expect("defined");
    assert_eq!(hash.len(), 48);
    assert_eq!(hash, Sha384::digest(&der).to_vec());
}

#[test]
fn end_point_of_rsa_pss_uses_the_hash_in_its_parameters() {
    let der = fixture_der("rsa_pss_sha512.crt");
    assert_eq!(
        tls_server_end_point(&der),
        Some(Sha512::digest(&der).to_vec())
    );
}

#[test]
fn end_point_of_sha1_signature_is_sha256_per_rfc_5929() {
    let der = fixture_der("rsa_sha1.crt");
    assert_eq!(
        tls_server_end_point(&der),
        Some(Sha256::digest(&der).to_vec())
    );
}

#[test]
fn end_point_of_ed25519_is_undefined() {
    let der = cert_with(vec![(DnType::CommonName, utf8("x"))], &rcgen::PKCS_ED25519);
    assert_eq!(tls_server_end_point(&der), None);
}

#[test]
fn end_point_of_garbage_is_none() {
    assert_eq!(tls_server_end_point(&[]), None);
    assert_eq!(tls_server_end_point(&[0x30, 0x03, 0x02, 0x01]), None);
}

// --- CN and DN ---

fn identity(dn: Vec<(DnType, DnValue)>) -> ClientIdentity {
    ClientIdentity::from_der(&p256_cert(dn)).expect("identity")
}

#[test]
fn dn_is_reversed_and_comma_separated() {
    let id = identity(vec![
        (DnType::OrganizationName, utf8("Example")),
        (DnType::OrganizationalUnitName, utf8("dev")),
        (DnType::CommonName, utf8("alice")),
    ]);
    assert_eq!(id.cn.as_deref(), Some("alice"));
    assert_eq!(id.dn, "CN=alice,OU=dev,O=Example");
}

#[test]
fn no_cn_gives_none_and_empty_subject_gives_empty_dn() {
    let id = identity(vec![(DnType::OrganizationName, utf8("Example"))]);
    assert_eq!(id.cn, None);
    assert_eq!(id.dn, "O=Example");
    let id = identity(vec![]);
    assert_eq!((id.cn, id.dn.as_str()), (None, ""));
}

#[test]
fn rfc2253_specials_are_escaped() {
    let id = identity(vec![
        (DnType::OrganizationName, utf8(",+\"\\<>;=")),
        (DnType::OrganizationalUnitName, utf8("#lead and trail ")),
        (DnType::LocalityName, utf8(" a#b ")),
        (DnType::CommonName, utf8("tab\there\u{7f}\u{1}")),
    ]);
    assert_eq!(
        id.dn,
        "CN=tab\\09here\\7F\\01,L=\\ a#b\\ ,OU=\\#lead and trail\\ ,O=\\,\\+\\\"\\\\\\<\\>\\;="
    );
    // The CN is the raw value, not escaped.
    assert_eq!(id.cn.as_deref(), Some("tab\there\u{7f}\u{1}"));
}

#[test]
fn a_single_character_value_is_escaped_as_last_only() {
    // OpenSSL's do_buf(): "#" alone is not escaped (only a first '#' is), " " alone is.
    assert_eq!(identity(vec![(DnType::CommonName, utf8("#"))]).dn, "CN=#");
    assert_eq!(identity(vec![(DnType::CommonName, utf8(" "))]).dn, "CN=\\ ");
}

#[test]
fn non_ascii_is_escaped_byte_by_byte_in_utf8() {
    let id = identity(vec![
        (DnType::OrganizationName, utf8("Zürich")),
        (
            DnType::OrganizationalUnitName,
            DnValue::BmpString("Ωmega".try_into().expect("bmp")),
        ),
        (
            DnType::LocalityName,
            DnValue::UniversalString("𝄞 clef".try_into().expect("universal")),
        ),
        (DnType::CommonName, utf8("é")),
    ]);
    assert_eq!(
        id.dn,
        r"CN=\C3\A9,L=\F0\9D\84\9E clef,OU=\CE\A9mega,O=Z\C3\BCrich"
    );
    // The CN is the raw UTF8String.
    assert_eq!(id.cn.as_deref(), Some("é"));
}

#[test]
fn string_types_printable_ia5_teletex() {
    let id = identity(vec![
        (
            DnType::CountryName,
            DnValue::PrintableString("DE".try_into().expect("printable")),
        ),
        (
            custom(&[1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("a@b.example".try_into().expect("ia5")),
        ),
        (
            DnType::OrganizationName,
            DnValue::TeletexString("T61".try_into().expect("t61")),
        ),
    ]);
    assert_eq!(id.dn, "O=T61,emailAddress=a@b.example,C=DE");
}

#[test]
fn known_short_names_and_unknown_oids() {
    let id = identity(vec![
        (custom(&[0, 9, 2342, 19200300, 100, 1, 25]), utf8("org")),
        (custom(&[0, 9, 2342, 19200300, 100, 1, 1]), utf8("u1")),
        (custom(&[2, 5, 4, 42]), utf8("Al")),
        (custom(&[1, 2, 3, 4]), utf8("zz")),
    ]);
    // An OID OpenSSL does not know: dotted, and the value dumped as '#' + DER hex.
    assert_eq!(id.dn, "1.2.3.4=#0C027A7A,GN=Al,UID=u1,DC=org");
}

#[test]
fn bmp_string_cn_has_embedded_nul_and_is_refused() {
    let der = p256_cert(vec![(
        DnType::CommonName,
        DnValue::BmpString("alice".try_into().expect("bmp")),
    )]);
    let err = ClientIdentity::from_der(&der).expect_err("refused");
    assert!(err.to_string().contains("embedded null"), "{err}");
}

#[test]
fn cn_is_the_first_in_der_order() {
    let id = ClientIdentity::from_der(&fixture_der("mv_client.crt")).expect("identity");
    assert_eq!(id.cn.as_deref(), Some("#x y "));
}

#[test]
fn multi_valued_rdn_fixture_matches_openssl() {
    // The expected string is `openssl x509 -noout -subject -nameopt RFC2253`.
    let id = ClientIdentity::from_der(&fixture_der("mv_client.crt")).expect("identity");
    assert_eq!(
        id.dn,
        r#"CN=\C3\A9,UID=u\;\<\>\"\\\\=,emailAddress=a@b.example,CN=\#x y\ ,UID=z+OU=b+OU=a,O=Ex\, Inc.,DC=example,DC=org"#
    );
}

// --- loading ---

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// A P-256 server certificate and key (PKCS#8).
    fn server(&self, prefix: &str) -> (PathBuf, PathBuf) {
        let cert = gatehouse_testkit::tls::self_signed(&["localhost"]).expect("cert");
        gatehouse_testkit::tls::write_pem_files(self.dir.path(), prefix, &cert).expect("write")
    }
}

#[test]
fn loads_pkcs8_pkcs1_and_sec1_keys() {
    let files = Files::new();
    let (cert, key) = files.server("p8");
    let tls = ServerTls::load(&TlsSettings::new(&cert, &key)).expect("pkcs8");
    assert_eq!(tls.config.alpn_protocols, vec![b"postgresql".to_vec()]);
    assert_eq!(tls.end_point.len(), 32);
    assert_eq!(tls.channel_binding(), Some(tls.end_point.as_slice()));

    let tls = ServerTls::load(&TlsSettings::new(
        fixture("rsa_sha384.crt"),
        fixture("rsa_pkcs1.key"),
    ))
    .expect("pkcs1");
    assert_eq!(tls.end_point.len(), 48);

    ServerTls::load(&TlsSettings::new(
        fixture("ec_sec1.crt"),
        fixture("ec_sec1.key"),
    ))
    .expect("sec1");
}

#[test]
fn ed25519_certificate_loads_without_channel_binding() {
    let files = Files::new();
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let cert_path = files.write("ed.crt", cert.pem().as_bytes());
    let key_path = files.write("ed.key", key.serialize_pem().as_bytes());
    let tls = ServerTls::load(&TlsSettings::new(cert_path, key_path)).expect("load");
    assert!(tls.end_point.is_empty());
    assert_eq!(tls.channel_binding(), None);
}

fn load_err(settings: &TlsSettings) -> (TlsError, String) {
    let err = ServerTls::load(settings).expect_err("must fail");
    let text = err.to_string();
    (err, text)
}

#[test]
fn missing_files_are_named() {
    let files = Files::new();
    let (cert, key) = files.server("s");
    let missing = files.dir.path().join("nope.crt");
    let (err, text) = load_err(&TlsSettings::new(&missing, &key));
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: TlsFile::Certificate,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("nope.crt") && text.contains("certificate file"),
        "{text}"
    );

    let (err, text) = load_err(&TlsSettings::new(&cert, files.dir.path().join("nope.key")));
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: TlsFile::PrivateKey,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("nope.key"), "{text}");

    let mut settings = TlsSettings::new(&cert, &key);
    settings.client_ca_file = Some(files.dir.path().join("nope-ca.crt"));
    let (err, text) = load_err(&settings);
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: TlsFile::ClientCa,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.contains("client CA file") && text.contains("nope-ca.crt"),
        "{text}"
    );
}

#[test]
fn no_certificate_and_no_key() {
    let files = Files::new();
    let (cert, key) = files.server("s");
    // The key file given as certificate: no CERTIFICATE section.
    let (err, text) = load_err(&TlsSettings::new(&key, &key));
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    assert!(text.contains("no certificate"), "{text}");
    // The certificate given as key: no key section; the message shows no PEM contents.
    let (err, text) = load_err(&TlsSettings::new(&cert, &cert));
    assert!(matches!(err, TlsError::NoKey { .. }), "{err:?}");
    assert!(!text.contains("MII"), "{text}");
    let empty = files.write("empty.key", b"");
    assert!(matches!(
        load_err(&TlsSettings::new(&cert, &empty)).0,
        TlsError::NoKey { .. }
    ));
}

#[test]
fn encrypted_key_is_reported_as_such() {
    let (err, text) = load_err(&TlsSettings::new(
        fixture("ec_sec1.crt"),
        fixture("encrypted.key"),
    ));
    assert!(matches!(err, TlsError::EncryptedKey { .. }), "{err:?}");
    assert!(text.contains("encrypted"), "{text}");
}

#[test]
fn malformed_pem_does_not_echo_the_file() {
    let files = Files::new();
    let (cert, _) = files.server("s");
    let key = files.write(
        "broken.key",
        b"-----BEGIN PRIVATE KEY-----\nSECRETSECRET!!!\n-----END PRIVATE KEY-----\n",
    );
    let (err, text) = load_err(&TlsSettings::new(&cert, &key));
    assert!(
        matches!(
            err,
            TlsError::Pem {
                what: TlsFile::PrivateKey,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!text.contains("SECRET"), "{text}");
    let key = files.write("cut.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n");
    assert!(matches!(
        load_err(&TlsSettings::new(&cert, &key)).0,
        TlsError::Pem { .. }
    ));
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let files = Files::new();
    let (cert, _) = files.server("a");
    let (_, other_key) = files.server("b");
    let (err, text) = load_err(&TlsSettings::new(&cert, &other_key));
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert!(text.contains("a.crt") && text.contains("b.key"), "{text}");
    // An RSA key for an EC certificate: also a mismatch, not a crash.
    let (err, _) = load_err(&TlsSettings::new(&cert, fixture("rsa_pkcs1.key")));
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
}

#[test]
fn garbage_certificate_is_named() {
    let files = Files::new();
    let (_, key) = files.server("s");
    let bad = files.write(
        "bad.crt",
        b"-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
    );
    let (err, text) = load_err(&TlsSettings::new(&bad, &key));
    assert!(
        matches!(err, TlsError::BadCertificate { index: 1, .. }),
        "{err:?}"
    );
    assert!(text.contains("bad.crt"), "{text}");
}

#[test]
fn bad_ca_files() {
    let files = Files::new();
    let (cert, key) = files.server("s");
    let mut settings = TlsSettings::new(&cert, &key);
    settings.client_ca_file = Some(key.clone());
    let (err, _) = load_err(&settings);
    assert!(
        matches!(
            err,
            TlsError::NoCertificate {
                what: TlsFile::ClientCa,
                ..
            }
        ),
        "{err:?}"
    );

    let bad = files.write(
        "ca.crt",
        b"-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n",
    );
    settings.client_ca_file = Some(bad);
    let (err, text) = load_err(&settings);
    assert!(
        matches!(
            err,
            TlsError::BadCertificate {
                what: TlsFile::ClientCa,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("client CA file"), "{text}");
}

#[test]
fn debug_output_has_no_key() {
    let files = Files::new();
    let (cert, key) = files.server("s");
    let tls = ServerTls::load(&TlsSettings::new(&cert, &key)).expect("load");
    let key_pem = std::fs::read_to_string(&key).expect("key");
    let body: String = key_pem.lines().nth(1).unwrap_or_default().to_string();
    let debug = format!("{tls:?}");
    assert!(!debug.contains(&body[..20]), "{debug}");
}

#[test]
fn upstream_modes_that_verify_need_a_root_file() {
    for mode in [UpstreamTlsMode::VerifyCa, UpstreamTlsMode::VerifyFull] {
        let err = upstream_client_config(mode, None).expect_err("needs root");
        assert!(matches!(err, TlsError::RootCaRequired { .. }), "{err:?}");
        assert!(err.to_string().contains(mode.as_str()));
    }
    let config = upstream_client_config(UpstreamTlsMode::Require, None).expect("require");
    assert_eq!(config.alpn_protocols, vec![b"postgresql".to_vec()]);
    let err = upstream_client_config(
        UpstreamTlsMode::VerifyFull,
        Some(Path::new("/nonexistent/root.crt")),
    )
    .expect_err("missing");
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: TlsFile::RootCa,
                ..
            }
        ),
        "{err:?}"
    );
}
