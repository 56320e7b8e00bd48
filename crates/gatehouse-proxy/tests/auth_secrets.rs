//! Stored secrets against a real PostgreSQL: the SCRAM and MD5 secrets the server
//! writes to `pg_authid` parse, verify the right password and refuse a wrong one,
//! and derive byte for byte the same (SASLprep included); and the server classifies
//! secret-looking texts (`get_password_type`) as `StoredSecret::parse` does.
#![allow(clippy::unwrap_used)]

use gatehouse_proxy::auth::*;
use gatehouse_testkit::{available, Cluster, PgVersion};

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn rolpassword(cluster: &Cluster, role: &str) -> String {
    cluster
        .query_value(&format!(
            "SELECT rolpassword FROM pg_authid WHERE rolname = {}",
            quote(role)
        ))
        .unwrap()
        .unwrap_or_else(|| panic!("no password for {role}"))
}

/// Passwords that exercise SASLprep: ASCII, mapped-to-nothing (soft hyphen),
/// non-ASCII space, NFKC (roman numeral nine), and ones PostgreSQL leaves raw
/// (U+0341 prohibited before normalization, bidi mix, private use).
const PASSWORDS: &[&str] = &[
    "p",
    "correct horse battery staple",
    "it's \"quoted\"",
    "pa\u{AD}ss",
    "a\u{A0}b",
    "\u{2168}",
    "a\u{341}b",
    "\u{5D0}a",
    "\u{E000}x",
    "pässwörd",
];

fn cross_check(version: PgVersion) {
    assert!(
        available(version),
        "PostgreSQL {version} binaries not found: run scripts/install-deps"
    );
    let cluster = Cluster::start(version).expect("start cluster");

    cluster
        .execute("SET password_encryption = 'scram-sha-256'")
        .unwrap();
    for (i, password) in PASSWORDS.iter().enumerate() {
        let role = format!("scram_{i}");
        cluster
            .execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD {}",
                quote(password)
            ))
            .unwrap();
        let text = rolpassword(&cluster, &role);
        let StoredSecret::Scram(secret) = StoredSecret::parse(&text) else {
            panic!("{version} {role}: not SCRAM: {text}");
        };
        assert_eq!(secret.to_text(), text, "{version} {role}: text form");
        assert_eq!(secret.iterations, SCRAM_DEFAULT_ITERATIONS);
        assert_eq!(secret.salt.len(), SCRAM_DEFAULT_SALT_LEN);
        let derived = ScramSecret::from_password(password, &secret.salt, secret.iterations);
        assert_eq!(
            derived, secret,
            "{version} {role}: derivation of {password:?}"
        );
        let stored = StoredSecret::Scram(secret.clone());
        assert!(
            verify_cleartext(&stored, &role, password.as_bytes()),
            "{version} {role}"
        );
        assert!(
            !verify_cleartext(&stored, &role, b"wrong"),
            "{version} {role}"
        );
        assert_eq!(
            verify_md5_response(&stored, &role, [1, 2, 3, 4], b"md5whatever"),
            Md5Verdict::Incompatible
        );
        assert_eq!(stored.md5_line_exchange(), Md5LineExchange::Scram);

        // A SCRAM exchange against PostgreSQL's own secret, both sides in memory.
        let server = ScramServer::new(
            &role,
            Some(&secret),
            &MockAuthKey::random(),
            None,
            ScramNonce::random(),
        );
        let client = ScramClient::new(
            ScramCredentials::Password(password.to_string()),
            ClientChannelBinding::Unsupported,
            ScramNonce::random(),
        );
        let (client, first) = client.client_first();
        let (server, server_first) = server
            .client_first(SCRAM_SHA_256, first.as_bytes())
            .unwrap();
        let (client, fin) = client.server_first(server_first.as_bytes()).unwrap();
        let success = server.client_final(fin.as_bytes()).unwrap();
        client
            .server_final(success.server_final().as_bytes())
            .unwrap();
    }
    // SASLprep: the soft hyphen maps to nothing, so "pass" is the same password.
    let soft_hyphen = StoredSecret::parse(&rolpassword(&cluster, "scram_3"));
    assert!(verify_cleartext(&soft_hyphen, "scram_3", b"pass"));
    // U+2168 becomes "IX".
    let nine = StoredSecret::parse(&rolpassword(&cluster, "scram_5"));
    assert!(verify_cleartext(&nine, "scram_5", b"IX"));

    // MD5 (deprecated in 18, still written).
    cluster.execute("SET password_encryption = 'md5'").unwrap();
    for (i, password) in PASSWORDS.iter().enumerate() {
        let role = format!("md5_{i}");
        cluster
            .execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD {}",
                quote(password)
            ))
            .unwrap();
        let text = rolpassword(&cluster, &role);
        let stored = StoredSecret::parse(&text);
        assert!(
            matches!(stored, StoredSecret::Md5(_)),
            "{version} {role}: {text}"
        );
        assert_eq!(md5_secret_text(&role, password), text);
        assert!(verify_cleartext(&stored, &role, password.as_bytes()));
        assert!(!verify_cleartext(&stored, &role, b"wrong"));
        assert!(!verify_cleartext(
            &stored,
            "other_role",
            password.as_bytes()
        ));
        let salt = [0x9f, 0x00, 0x41, 0xff];
        for answer in [
            md5_client_response(&role, password, salt),
            md5_client_response(&role, &text, salt),
        ] {
            assert_eq!(
                verify_md5_response(&stored, &role, salt, &answer),
                Md5Verdict::Match
            );
            assert_eq!(
                verify_md5_response(&stored, &role, [0; 4], &answer),
                Md5Verdict::Mismatch
            );
        }
        assert_eq!(stored.md5_line_exchange(), Md5LineExchange::Md5);
    }
    cluster.execute("RESET password_encryption").unwrap();

    // Classification: PostgreSQL stores a text it recognises as a secret unchanged
    // and hashes anything else, so "stored unchanged" is its get_password_type.
    // (No huge iteration counts here: CREATE ROLE checks the new secret against the
    // empty password, running every PBKDF2 round.)
    let ours = ScramSecret::from_password("x", b"0123456789abcdef", 4096).to_text();
    let md5 = md5_secret_text("someone", "x");
    let agreed = [
        ours.clone(),
        ours.replacen("$4096:", "$+4096:", 1),
        ours.replacen("$4096:", "$ 4096:", 1),
        ours.replacen("$4096:", "$4096x:", 1),
        ours.replacen("$4096:", "$0:", 1),
        ours.replacen("$4096:", "$-5:", 1),
        ours.replacen("SCRAM-SHA-256", "scram-sha-256", 1),
        format!("{ours}="),
        format!("{ours}$"),
        format!("{ours}:x"),
        ours.replacen("$4096:MDEy", "$4096:MD y", 1),
        md5.clone(),
        md5.to_uppercase(),
        format!("{md5}0"),
        "md5".to_string(),
        "plain password".to_string(),
    ];
    // PostgreSQL 15 splits with strtok (runs of delimiters skipped, no empty field);
    // 18 and gatehouse with strsep.
    let strtok_only = [
        format!("$${ours}"),
        format!("${ours}"),
        ours.replacen("$4096:", "$:4096:", 1),
        ours.replacen("$4096:MDEy", "$4096:$MDEy", 1),
    ];
    let strsep_only = [
        ours.replacen("$4096:", "$:", 1),
        ours.replacen("$4096:MDEyMzQ1Njc4OWFiY2RlZg==$", "$4096:$", 1),
    ];
    let strsep = version.major() >= 18;
    let cases = agreed
        .iter()
        .map(|t| (t, None))
        .chain(strtok_only.iter().map(|t| (t, Some((!strsep, false)))))
        .chain(strsep_only.iter().map(|t| (t, Some((strsep, true)))));
    for (i, (text, divergent)) in cases.enumerate() {
        let role = format!("classify_{i}");
        cluster
            .execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD {}",
                quote(text)
            ))
            .unwrap();
        let kept = rolpassword(&cluster, &role) == *text;
        let parsed = StoredSecret::parse(text);
        let ours_secret = !matches!(parsed, StoredSecret::Plain(_));
        if let Some((_, ours_expected)) = divergent {
            assert_eq!(ours_secret, ours_expected, "{text:?}");
        }
        assert_eq!(
            kept,
            divergent.map_or(ours_secret, |(pg_keeps, _)| pg_keeps),
            "{version}: {text:?} kept by PostgreSQL: {kept}, ours: {}",
            parsed.kind()
        );
    }
}

#[test]
fn secrets_match_postgres_15() {
    cross_check(PgVersion::V15);
}

#[test]
fn secrets_match_postgres_18() {
    cross_check(PgVersion::V18);
}
