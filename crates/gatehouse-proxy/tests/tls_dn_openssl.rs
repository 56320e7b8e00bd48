//! The RFC 2253 DN of [`ClientIdentity`] against OpenSSL's own printer: `openssl x509
//! -nameopt RFC2253` calls `X509_NAME_print_ex(XN_FLAG_RFC2253)`, the call PostgreSQL
//! makes for `clientname=DN` (tls_pg_dn.rs checks against PostgreSQL itself).
//!
//! Subjects are generated from a fixed seed: attribute types (OpenSSL short names and
//! unknown OIDs), string types (UTF8String, BMPString, UniversalString, PrintableString,
//! IA5String) and values full of RFC 2253 specials, spaces, '#', control and non-ASCII
//! characters. Skips (with a note) when no `openssl` program is on PATH.

use std::process::Command;

use gatehouse_proxy::tls::ClientIdentity;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `openssl x509 -noout -subject -nameopt RFC2253`, without the `subject=`.
fn openssl_dn(dir: &std::path::Path, pem: &str) -> Vec<u8> {
    let path = dir.join("c.pem");
    std::fs::write(&path, pem).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(&path)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut line = out.stdout;
    while line.last() == Some(&b'\n') {
        line.pop();
    }
    line.strip_prefix(b"subject=")
        .expect("subject= prefix")
        .to_vec()
}

/// Attribute types: OpenSSL's short names the gateway knows, and OIDs OpenSSL does not.
const TYPES: &[&[u64]] = &[
    &[2, 5, 4, 3],
    &[2, 5, 4, 4],
    &[2, 5, 4, 5],
    &[2, 5, 4, 6],
    &[2, 5, 4, 7],
    &[2, 5, 4, 8],
    &[2, 5, 4, 9],
    &[2, 5, 4, 10],
    &[2, 5, 4, 11],
    &[2, 5, 4, 12],
    &[2, 5, 4, 13],
    &[2, 5, 4, 15],
    &[2, 5, 4, 17],
    &[2, 5, 4, 18],
    &[2, 5, 4, 41],
    &[2, 5, 4, 42],
    &[2, 5, 4, 43],
    &[2, 5, 4, 44],
    &[2, 5, 4, 46],
    &[2, 5, 4, 65],
    &[2, 5, 4, 72],
    &[2, 5, 4, 97],
    &[1, 2, 840, 113549, 1, 9, 1],
    &[1, 2, 840, 113549, 1, 9, 2],
    &[0, 9, 2342, 19200300, 100, 1, 1],
    &[0, 9, 2342, 19200300, 100, 1, 25],
    &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3],
    &[1, 2, 3, 4],
    &[1, 3, 6, 1, 4, 1, 99999, 7, 200],
];

const SPECIALS: &[char] = &[
    ',', '+', '"', '\\', '<', '>', ';', '=', '#', ' ', '\t', '\n', '\u{1}', '\u{7f}', 'é', 'ß',
    'Ω', '€', '𝄞', 'a', 'Z', '0', '-', '.', '/', '\'', '(', ')', ':', '?',
];

fn random_value(rng: &mut StdRng) -> DnValue {
    let len = rng.gen_range(1..6);
    let text: String = (0..len)
        .map(|_| SPECIALS[rng.gen_range(0..SPECIALS.len())])
        .collect();
    let printable: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " '()+,-./:=".contains(*c))
        .collect();
    let ascii: String = text.chars().filter(char::is_ascii).collect();
    match rng.gen_range(0..5) {
        1 if !printable.is_empty() => {
            DnValue::PrintableString(printable.as_str().try_into().expect("printable"))
        }
        2 if !ascii.is_empty() => DnValue::Ia5String(ascii.as_str().try_into().expect("ia5")),
        3 if !text.contains('𝄞') => DnValue::BmpString(text.as_str().try_into().expect("bmp")),
        4 => DnValue::UniversalString(text.as_str().try_into().expect("universal")),
        _ => DnValue::Utf8String(text),
    }
}

fn cert(dn: DistinguishedName, key: &KeyPair) -> (String, Vec<u8>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = dn;
    let cert = params.self_signed(key).expect("sign");
    (cert.pem(), cert.der().to_vec())
}

#[test]
fn dn_matches_openssl_on_generated_subjects() {
    if !openssl_available() {
        eprintln!("SKIPPED: no `openssl` on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeyPair::generate().expect("key");
    let mut rng = StdRng::seed_from_u64(0x5eed_2253);
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for _ in 0..150 {
        let mut dn = DistinguishedName::new();
        for _ in 0..rng.gen_range(1..5) {
            let oid = TYPES[rng.gen_range(0..TYPES.len())];
            dn.push(DnType::CustomDnType(oid.to_vec()), random_value(&mut rng));
        }
        let (pem, der) = cert(dn, &key);
        let expected = openssl_dn(dir.path(), &pem);
        match ClientIdentity::from_der(&der) {
            Ok(id) if id.dn.as_bytes() == expected.as_slice() => {}
            Ok(id) => mismatches.push(format!(
                "ours    {:?}\nopenssl {:?}",
                id.dn,
                String::from_utf8_lossy(&expected)
            )),
            // We refuse only a CN with a NUL (BMP/Universal CNs): PostgreSQL refuses those too.
            Err(e) => assert!(e.to_string().contains("embedded null"), "{e}"),
        }
        compared += 1;
    }
    assert!(compared == 150);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

/// Every OID of the ranges OpenSSL names subject attributes in, known or not: the short
/// name (or dotted OID with a DER dump) must be OpenSSL's.
#[test]
fn attribute_type_names_match_openssl() {
    if !openssl_available() {
        eprintln!("SKIPPED: no `openssl` on PATH");
        return;
    }
    let mut oids: Vec<Vec<u64>> = Vec::new();
    oids.extend((0..=101).map(|i| vec![2, 5, 4, i]));
    oids.extend((1..=25).map(|i| vec![1, 2, 840, 113549, 1, 9, i]));
    oids.extend((1..=61).map(|i| vec![0, 9, 2342, 19200300, 100, 1, i]));
    oids.extend((1..=4).map(|i| vec![1, 3, 6, 1, 4, 1, 311, 60, 2, 1, i]));
    oids.extend((1..=6).map(|i| vec![1, 3, 6, 1, 5, 5, 7, 9, i]));
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeyPair::generate().expect("key");
    let mut mismatches = Vec::new();
    for chunk in oids.chunks(16) {
        let mut dn = DistinguishedName::new();
        for oid in chunk {
            dn.push(
                DnType::CustomDnType(oid.clone()),
                DnValue::Utf8String("v".to_string()),
            );
        }
        let (pem, der) = cert(dn, &key);
        let expected = openssl_dn(dir.path(), &pem);
        let ours = ClientIdentity::from_der(&der).expect("identity").dn;
        if ours.as_bytes() != expected.as_slice() {
            mismatches.push(format!(
                "ours    {ours}\nopenssl {}",
                String::from_utf8_lossy(&expected)
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn fixture_with_multi_valued_rdn_matches_openssl() {
    if !openssl_available() {
        eprintln!("SKIPPED: no `openssl` on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_fixtures/mv_client.crt");
    let pem = std::fs::read_to_string(path).expect("fixture");
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer<'_>| c.to_vec())
        .expect("der");
    let id = ClientIdentity::from_der(&der).expect("identity");
    assert_eq!(id.dn.as_bytes(), openssl_dn(dir.path(), &pem).as_slice());
}
