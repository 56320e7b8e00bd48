//! Stored password secrets (`pg_authid.rolpassword`, or the second field of a
//! userlist line) and the checks PostgreSQL's `src/backend/libpq/crypt.c` makes
//! with them: the `password` method ([`verify_cleartext`]) and the `md5` method
//! ([`verify_md5_response`]), plus the client side of `md5` for the upstream
//! ([`md5_client_response`]).
//!
//! Every comparison with a secret is constant-time, and no `Debug` output here
//! shows a key, digest or password.

use std::fmt;

use super::crypto::{self, Key};

/// PostgreSQL's default SCRAM iteration count (`scram_iterations`, 4096).
pub const SCRAM_DEFAULT_ITERATIONS: u32 = 4096;

/// Salt length of the secrets PostgreSQL generates (`SCRAM_DEFAULT_SALT_LEN`).
pub const SCRAM_DEFAULT_SALT_LEN: usize = 16;

/// A stored password secret, classified as PostgreSQL's `get_password_type` does.
///
/// `PartialEq` is for tests and configuration diffs; it is not constant-time, so
/// never use it to check a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSecret {
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    Scram(ScramSecret),
    /// `md5` followed by 32 lowercase hex digits: the digest `md5(password || role)`.
    Md5([u8; 16]),
    /// Anything else: a password in clear text (PgBouncer's userlist allows it;
    /// PostgreSQL no longer stores such secrets).
    Plain(String),
}

impl StoredSecret {
    /// Classifies `text` as PostgreSQL's `get_password_type` does: `md5` plus exactly
    /// 32 characters of `0-9a-f` is MD5; text that [`ScramSecret::parse`] accepts is
    /// SCRAM; everything else is a clear-text password.
    pub fn parse(text: &str) -> StoredSecret {
        if let Some(digest) = text
            .strip_prefix("md5")
            .and_then(|hex| crypto::md5_hex_decode(hex.as_bytes()))
        {
            return StoredSecret::Md5(digest);
        }
        match ScramSecret::parse(text) {
            Some(secret) => StoredSecret::Scram(secret),
            None => StoredSecret::Plain(text.to_string()),
        }
    }

    /// Which exchange PostgreSQL runs for a role with this secret on an `md5`
    /// pg_hba.conf line (`CheckPWChallengeAuth`): MD5 only when the secret is an MD5
    /// hash, SCRAM otherwise. A clear-text secret (userlist) can serve MD5, as
    /// PgBouncer does. For a role without any secret PostgreSQL follows
    /// `password_encryption`, which is the caller's setting to apply.
    pub fn md5_line_exchange(&self) -> Md5LineExchange {
        match self {
            StoredSecret::Scram(_) => Md5LineExchange::Scram,
            StoredSecret::Md5(_) | StoredSecret::Plain(_) => Md5LineExchange::Md5,
        }
    }

    /// A short name of the kind, for logs: `"scram-sha-256"`, `"md5"` or `"plain"`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoredSecret::Scram(_) => "scram-sha-256",
            StoredSecret::Md5(_) => "md5",
            StoredSecret::Plain(_) => "plain",
        }
    }
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredSecret::Scram(s) => f.debug_tuple("Scram").field(s).finish(),
            StoredSecret::Md5(_) => f.write_str("Md5(<redacted>)"),
            StoredSecret::Plain(_) => f.write_str("Plain(<redacted>)"),
        }
    }
}

/// What an `md5` pg_hba.conf line becomes for a given secret
/// ([`StoredSecret::md5_line_exchange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Md5LineExchange {
    /// AuthenticationMD5Password, checked with [`verify_md5_response`].
    Md5,
    /// SASL SCRAM-SHA-256 instead (the secret cannot answer an MD5 challenge).
    Scram,
}

/// A parsed SCRAM-SHA-256 secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    /// Iteration count of PBKDF2 (`i=`); 0 stands for PostgreSQL's "zero or below",
    /// run as one round.
    pub iterations: u32,
    /// The salt, decoded.
    pub salt: Vec<u8>,
    /// `H(ClientKey)`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl ScramSecret {
    /// Derives the secret of `password`, SASLprep'ed as `pg_saslprep` does (raw
    /// bytes when that fails), as PostgreSQL's `scram_build_secret`.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> ScramSecret {
        ScramSecret::from_password_bytes(password.as_bytes(), salt, iterations)
    }

    /// [`ScramSecret::from_password`] for a password that need not be UTF-8 (a
    /// client's PasswordMessage).
    pub fn from_password_bytes(password: &[u8], salt: &[u8], iterations: u32) -> ScramSecret {
        let salted = crypto::salted_password(&crypto::pg_saslprep(password), salt, iterations);
        ScramSecret {
            iterations,
            salt: salt.to_vec(),
            stored_key: crypto::sha256(&crypto::client_key(&salted)),
            server_key: crypto::server_key(&salted),
        }
    }

    /// A secret for `password` with a fresh random 16-byte salt.
    pub fn generate(password: &str, iterations: u32) -> ScramSecret {
        let salt: [u8; SCRAM_DEFAULT_SALT_LEN] = crypto::random_bytes();
        ScramSecret::from_password(password, &salt, iterations)
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` as
    /// PostgreSQL 18's `parse_scram_secret`: fields split with `strsep` (each
    /// delimiter must be there; empty fields are fields), the iteration count read as
    /// `strtol` reads it into a C `int` (leading whitespace and a sign allowed; an
    /// empty field reads as 0), the salt any valid base64 (empty included), both keys
    /// base64 of exactly 32 bytes.
    ///
    /// PostgreSQL accepts an iteration count of zero or below (it never writes one;
    /// PBKDF2 then runs a single round, and libpq refuses such a SCRAM exchange); it
    /// is kept here as 0, which [`ScramSecret::from_password`] also runs as one round.
    /// Older releases (PostgreSQL 15 checked) split with `strtok`, which skipped runs
    /// of delimiters (`$$SCRAM-SHA-256$…`) and refused empty fields; here, as in 18,
    /// the former are clear text and the latter parse.
    pub fn parse(text: &str) -> Option<ScramSecret> {
        let (scheme, rest) = text.split_once('$')?;
        let (iterations, rest) = rest.split_once(':')?;
        let (salt, rest) = rest.split_once('$')?;
        let (stored_key, server_key) = rest.split_once(':')?;
        if scheme != "SCRAM-SHA-256" {
            return None;
        }
        // `*iterations = strtol(...)`: a long stored into an int.
        let iterations = strtol(iterations)? as i32;
        let iterations = u32::try_from(iterations).unwrap_or(0);
        let salt = crypto::pg_b64_decode(salt.as_bytes())?;
        let key =
            |text: &str| -> Option<Key> { crypto::pg_b64_decode(text.as_bytes())?.try_into().ok() };
        Some(ScramSecret {
            iterations,
            salt,
            stored_key: key(stored_key)?,
            server_key: key(server_key)?,
        })
    }

    /// PostgreSQL's text form, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
    /// each binary field in padded standard base64.
    pub fn to_text(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            crypto::b64_encode(&self.salt),
            crypto::b64_encode(&self.stored_key),
            crypto::b64_encode(&self.server_key)
        )
    }

    /// Whether `password` derives this secret. Like `scram_verify_plain_password`
    /// compares ServerKey; StoredKey is compared too. Both constant-time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let salted =
            crypto::salted_password(&crypto::pg_saslprep(password), &self.salt, self.iterations);
        let server_ok = crypto::ct_eq(&crypto::server_key(&salted), &self.server_key);
        let stored_ok = crypto::ct_eq(
            &crypto::sha256(&crypto::client_key(&salted)),
            &self.stored_key,
        );
        server_ok & stored_ok
    }
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .finish_non_exhaustive()
    }
}

/// C `strtol(s, &end, 10)` followed by PostgreSQL's `*end == '\0' && errno == 0`
/// check: optional leading whitespace, an optional sign, digits, nothing after, the
/// value within `long` (64 bits here). An empty string reads as 0 (no digits, but
/// `end` is at the terminator).
fn strtol(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// The `password` method's check (PostgreSQL's `plain_crypt_verify`): is the
/// clear-text `password` the client sent the one behind `secret`?
///
/// - SCRAM: derive from `password` (SASLprep'ed) with the secret's salt and
///   iteration count, compare ServerKey and StoredKey.
/// - MD5: compare `md5(password || role)` with the stored digest.
/// - Plain: compare the bytes. An empty stored password matches nothing.
///
/// Comparisons are constant-time.
pub fn verify_cleartext(secret: &StoredSecret, role: &str, password: &[u8]) -> bool {
    match secret {
        StoredSecret::Scram(s) => s.verify_password(password),
        StoredSecret::Md5(digest) => {
            crypto::ct_eq(&crypto::md5(&[password, role.as_bytes()]), digest)
        }
        StoredSecret::Plain(plain) => !plain.is_empty() & crypto::ct_eq(plain.as_bytes(), password),
    }
}

/// The outcome of [`verify_md5_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Md5Verdict {
    /// The response is right.
    Match,
    /// The response is wrong (PostgreSQL's log detail: `Password does not match for
    /// user "…".`).
    Mismatch,
    /// The secret cannot answer an MD5 challenge (a SCRAM secret). PostgreSQL never
    /// gets here: for such a role an `md5` line runs SCRAM instead
    /// ([`StoredSecret::md5_line_exchange`]). Its log detail for this case: `User "…"
    /// has a password that cannot be used with MD5 authentication.`
    Incompatible,
}

/// The `md5` method's check (PostgreSQL's `md5_crypt_verify`): `response` is what
/// the client sent in its PasswordMessage (without the trailing NUL), expected to be
/// `"md5" + hex(md5(hex(md5(password || role)) || salt))`.
///
/// Works with an MD5 secret, and with a clear-text one as PgBouncer does (an empty
/// stored password matches nothing). Constant-time.
pub fn verify_md5_response(
    secret: &StoredSecret,
    role: &str,
    salt: [u8; 4],
    response: &[u8],
) -> Md5Verdict {
    let (inner, usable) = match secret {
        StoredSecret::Scram(_) => return Md5Verdict::Incompatible,
        StoredSecret::Md5(digest) => (*digest, true),
        StoredSecret::Plain(plain) => (
            crypto::md5(&[plain.as_bytes(), role.as_bytes()]),
            !plain.is_empty(),
        ),
    };
    let expected = md5_outer(&inner, salt);
    if usable & crypto::ct_eq(&expected, response) {
        Md5Verdict::Match
    } else {
        Md5Verdict::Mismatch
    }
}

/// The answer to an MD5 challenge, for logging in upstream:
/// `"md5" + hex(md5(hex(inner) || salt))` where `inner` is `md5(password || role)`,
/// or, when `password_or_md5_secret` already is an MD5 secret (`md5` + 32 lowercase
/// hex digits), that digest — as PgBouncer does with hashed userlist entries.
pub fn md5_client_response(role: &str, password_or_md5_secret: &str, salt: [u8; 4]) -> [u8; 35] {
    let inner = match StoredSecret::parse(password_or_md5_secret) {
        StoredSecret::Md5(digest) => digest,
        _ => crypto::md5(&[password_or_md5_secret.as_bytes(), role.as_bytes()]),
    };
    md5_outer(&inner, salt)
}

fn md5_outer(inner: &[u8; 16], salt: [u8; 4]) -> [u8; 35] {
    let outer = crypto::md5(&[crypto::hex(inner).as_bytes(), &salt]);
    let mut out = [0u8; 35];
    out[..3].copy_from_slice(b"md5");
    out[3..].copy_from_slice(crypto::hex(&outer).as_bytes());
    out
}

/// The MD5 secret PostgreSQL stores for `password` and `role`:
/// `"md5" + hex(md5(password || role))`.
pub fn md5_secret_text(role: &str, password: &str) -> String {
    format!(
        "md5{}",
        crypto::hex(&crypto::md5(&[password.as_bytes(), role.as_bytes()]))
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
    const RFC_SALT: &[u8] = &[
        0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa,
        0x81,
    ];

    #[test]
    fn rfc7677_secret_round_trips() {
        let s = ScramSecret::from_password("pencil", RFC_SALT, 4096);
        let text = s.to_text();
        assert!(
            text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"),
            "{text}"
        );
        assert_eq!(ScramSecret::parse(&text), Some(s.clone()));
        assert_eq!(StoredSecret::parse(&text), StoredSecret::Scram(s.clone()));
        assert!(s.verify_password(b"pencil"));
        assert!(!s.verify_password(b"pencil "));
        assert!(verify_cleartext(&StoredSecret::Scram(s), "user", b"pencil"));
    }

    #[test]
    fn classification_follows_get_password_type() {
        let md5 = md5_secret_text("alice", "secret");
        assert!(matches!(StoredSecret::parse(&md5), StoredSecret::Md5(_)));
        // Uppercase hex, wrong length: clear text.
        for plain in [
            md5.to_uppercase(),
            format!("{md5}0"),
            md5[..34].to_string(),
            "md5".into(),
            "".into(),
        ] {
            assert_eq!(
                StoredSecret::parse(&plain),
                StoredSecret::Plain(plain.clone())
            );
        }
        let good = ScramSecret::from_password("x", b"salt", 10).to_text();
        let bad = [
            good.replacen("SCRAM-SHA-256", "SCRAM-SHA-1", 1),
            good.replacen("$10:", "$10x:", 1),
            good.replacen("$10:", "$ :", 1),
            good.replacen("$10:", "$+:", 1),
            good.replacen("$10:", "$99999999999999999999:", 1),
            format!("{good}="),
            format!("{good}$x"),
            format!("$${good}"),
            format!("${good}"),
            good.replacen("$10:", "$:10:", 1),
            good.rsplit_once(':').map(|(a, _)| a.to_string()).unwrap(),
        ];
        for text in bad {
            assert!(
                matches!(StoredSecret::parse(&text), StoredSecret::Plain(_)),
                "{text}"
            );
        }
        // strtol leniency and int conversion, as in PostgreSQL.
        let iterations = |text: String| match StoredSecret::parse(&text) {
            StoredSecret::Scram(s) => s.iterations,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(iterations(good.replacen("$10:", "$+10:", 1)), 10);
        assert_eq!(iterations(good.replacen("$10:", "$ \t10:", 1)), 10);
        assert_eq!(iterations(good.replacen("$10:", "$0:", 1)), 0);
        assert_eq!(iterations(good.replacen("$10:", "$-5:", 1)), 0);
        assert_eq!(iterations(good.replacen("$10:", "$:", 1)), 0);
        assert_eq!(iterations(good.replacen("$10:", "$4294967306:", 1)), 10);
        // An empty salt is valid base64.
        let empty_salt = good.replacen("$10:c2FsdA==$", "$10:$", 1);
        assert!(
            matches!(StoredSecret::parse(&empty_salt), StoredSecret::Scram(s) if s.salt.is_empty())
        );
    }

    #[test]
    fn cleartext_checks() {
        let md5 = StoredSecret::parse(&md5_secret_text("bob", "hunter2"));
        assert!(verify_cleartext(&md5, "bob", b"hunter2"));
        assert!(!verify_cleartext(&md5, "bobby", b"hunter2"));
        assert!(!verify_cleartext(&md5, "bob", b"hunter3"));
        let plain = StoredSecret::Plain("hunter2".into());
        assert!(verify_cleartext(&plain, "bob", b"hunter2"));
        assert!(!verify_cleartext(&plain, "bob", b"hunter"));
        assert!(!verify_cleartext(
            &StoredSecret::Plain(String::new()),
            "bob",
            b""
        ));
    }

    #[test]
    fn md5_exchange_both_sides() {
        let salt = [1, 2, 3, 4];
        let secret_text = md5_secret_text("bob", "hunter2");
        let from_password = md5_client_response("bob", "hunter2", salt);
        let from_secret = md5_client_response("bob", &secret_text, salt);
        assert_eq!(from_password, from_secret);
        assert!(from_password.starts_with(b"md5"));
        for secret in [
            StoredSecret::parse(&secret_text),
            StoredSecret::Plain("hunter2".into()),
        ] {
            assert_eq!(secret.md5_line_exchange(), Md5LineExchange::Md5);
            assert_eq!(
                verify_md5_response(&secret, "bob", salt, &from_password),
                Md5Verdict::Match
            );
            assert_eq!(
                verify_md5_response(&secret, "bob", [4, 3, 2, 1], &from_password),
                Md5Verdict::Mismatch
            );
            assert_eq!(
                verify_md5_response(&secret, "bob", salt, &from_password[..34]),
                Md5Verdict::Mismatch
            );
        }
        let scram = StoredSecret::Scram(ScramSecret::from_password("hunter2", b"s", 1));
        assert_eq!(scram.md5_line_exchange(), Md5LineExchange::Scram);
        assert_eq!(
            verify_md5_response(&scram, "bob", salt, &from_password),
            Md5Verdict::Incompatible
        );
        let empty = StoredSecret::Plain(String::new());
        let answer = md5_client_response("bob", "", salt);
        assert_eq!(
            verify_md5_response(&empty, "bob", salt, &answer),
            Md5Verdict::Mismatch
        );
    }

    #[test]
    fn md5_known_answer() {
        // md5("postgres" || "postgres") as PostgreSQL stores it.
        assert_eq!(
            md5_secret_text("postgres", "postgres"),
            "md53175bce1d3201d16594cebf9d7eb3f9d"
        );
    }

    #[test]
    fn debug_redacts() {
        let s = ScramSecret::from_password("pencil", RFC_SALT, 4096);
        let stored = [
            StoredSecret::Scram(s.clone()),
            StoredSecret::parse(&md5_secret_text("u", "pencil")),
            StoredSecret::Plain("pencil".into()),
        ];
        for secret in &stored {
            let debug = format!("{secret:?}");
            assert!(!debug.contains("pencil"), "{debug}");
            assert!(
                !debug.contains(&crypto::b64_encode(&s.stored_key)),
                "{debug}"
            );
            assert!(
                !debug.contains(&crypto::b64_encode(&s.server_key)),
                "{debug}"
            );
            assert!(!debug.contains(&crypto::hex(&s.server_key[..4])), "{debug}");
        }
        let md5_debug = format!("{:?}", stored[1]);
        assert!(
            !md5_debug.contains(&md5_secret_text("u", "pencil")[3..]),
            "{md5_debug}"
        );
    }
}
