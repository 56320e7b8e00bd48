//! Checking a token: every rule of docs/iam-tokens.md, in a fixed order, each
//! refusal naming the check that failed.
//!
//! 1. structure (`parse`: size, `host:port/?`, each parameter once, strict
//!    percent-encoding, a calendar `X-Amz-Date`, an integer `X-Amz-Expires`,
//!    64 hex digits of signature) — `malformed`
//! 2. `host:port` is one of the gateway's endpoint names — `wrong_host`
//! 3. `Action=connect` — `wrong_action`
//! 4. `DBUser` is the startup message's user — `wrong_user`
//! 5. `X-Amz-Algorithm=AWS4-HMAC-SHA256` — `algorithm`
//! 6. `X-Amz-Credential` is `AKID/yyyymmdd/region/rds-db/aws4_request` — `scope`
//! 7. … for the gateway's region — `wrong_region`
//! 8. … and its date is `X-Amz-Date`'s — `scope`
//! 9. `X-Amz-Expires` ≤ 900 — `expires_too_long`
//! 10. `X-Amz-Date` ≤ now + max skew — `skew`
//! 11. now ≤ `X-Amz-Date` + `X-Amz-Expires` — `expired`
//! 12. `X-Amz-SignedHeaders=host` — `signed_headers`
//! 13. the access key exists — `unknown_key` — and is active — `inactive_key`
//! 14. the signature, recomputed, is equal (constant time) — `signature`

use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use super::keys::{KeyLookup, SecretKeys};
use super::parse::{parse, ParsedToken};
use super::refusal::{echo, TokenRefusal};
use super::sign::{
    canonical_request, signature, string_to_sign, SignedParams, ACTION, ALGORITHM, MAX_EXPIRES,
    SERVICE, SIGNED_HEADERS, TERMINATOR,
};
use super::SigningKeyCache;

/// The clock skew AWS allows SigV4 requests: five minutes.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// What a token must say to be accepted here.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// The gateway's region (the credential scope must name it).
    pub region: &'a str,
    /// Accepted `host:port` names (the host compared ASCII case-insensitively).
    pub endpoints: &'a [String],
    /// The user of the startup message; `DBUser` must equal it exactly.
    pub db_user: &'a str,
    /// How far in the future `X-Amz-Date` may be (clients' clocks run fast).
    pub max_skew: Duration,
    /// The current time.
    pub now: SystemTime,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The access key that signed it.
    pub access_key_id: String,
    /// `DBUser` (the database user it authenticates).
    pub db_user: String,
    /// The endpoint name it matched, as configured.
    pub endpoint: String,
    /// The region of its credential scope.
    pub region: String,
    /// `X-Amz-Date`.
    pub issued_at: SystemTime,
    /// `X-Amz-Date + X-Amz-Expires`.
    pub expires_at: SystemTime,
    /// Whether it carried a session token (temporary credentials).
    pub has_session_token: bool,
}

/// The credential scope, split.
struct Scope<'a> {
    access_key_id: &'a str,
    day: &'a str,
    region: &'a str,
}

fn scope(credential: &str) -> Result<Scope<'_>, TokenRefusal> {
    let bad = |detail: String| TokenRefusal::Scope { detail };
    let parts: Vec<&str> = credential.splitn(6, '/').collect();
    let [access_key_id, day, region, service, terminator] = parts[..] else {
        return Err(bad(format!(
            "expected AKID/yyyymmdd/region/{SERVICE}/{TERMINATOR}, found {} parts separated by '/'",
            parts.len()
        )));
    };
    if access_key_id.is_empty() {
        return Err(bad("the access key id is empty".into()));
    }
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("the date {:?} is not yyyymmdd", echo(day))));
    }
    if service != SERVICE {
        return Err(bad(format!(
            "the service is {:?}, expected {SERVICE:?}",
            echo(service)
        )));
    }
    if terminator != TERMINATOR {
        return Err(bad(format!(
            "the scope ends with {:?}, expected {TERMINATOR:?}",
            echo(terminator)
        )));
    }
    Ok(Scope {
        access_key_id,
        day,
        region,
    })
}

/// Whole seconds in `d`, rounded up (a refusal never says "0 seconds").
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The `host` header values the signature may have been made over. botocore and
/// every client built on a WHATWG or `url`-crate URL sign the host lower-cased;
/// the Go and JavaScript SDKs sign it as written. At 443 botocore and Go leave
/// the port out, JavaScript keeps it. All name the same endpoint.
fn host_headers(host: &str, port: u16) -> Vec<String> {
    let lower = host.to_lowercase();
    let mut hosts = vec![lower.as_str()];
    if lower != host {
        hosts.push(host);
    }
    let mut out: Vec<String> = Vec::with_capacity(4);
    for h in &hosts {
        if port == 443 {
            out.push((*h).to_owned());
        }
        out.push(format!("{h}:{port}"));
    }
    out
}

/// Verifies `token` (an RDS IAM auth token, the password of a login) against
/// what this gateway expects, with `keys` for the secret and `cache` for the
/// derived signing key. Never panics.
///
/// # Errors
/// The first check that fails, as a [`TokenRefusal`] (see the module docs for
/// the order).
pub fn verify(
    token: &str,
    expect: &Expectations<'_>,
    keys: &dyn SecretKeys,
    cache: &SigningKeyCache,
) -> Result<VerifiedToken, TokenRefusal> {
    let t = parse(token)?;
    let endpoint = expect
        .endpoints
        .iter()
        .find(|e| e.eq_ignore_ascii_case(&t.endpoint))
        .ok_or_else(|| TokenRefusal::WrongHost {
            found: echo(&t.endpoint),
        })?;
    if t.action != ACTION {
        return Err(TokenRefusal::WrongAction {
            found: echo(&t.action),
        });
    }
    if t.db_user != expect.db_user {
        return Err(TokenRefusal::WrongUser {
            found: echo(&t.db_user),
        });
    }
    if t.algorithm != ALGORITHM {
        return Err(TokenRefusal::Algorithm {
            found: echo(&t.algorithm),
        });
    }
    let scope = scope(&t.credential)?;
    if scope.region != expect.region {
        return Err(TokenRefusal::WrongRegion {
            found: echo(scope.region),
        });
    }
    if !t.date.starts_with(scope.day) {
        return Err(TokenRefusal::Scope {
            detail: format!(
                "the scope's date {} is not the date of X-Amz-Date {}",
                scope.day, t.date
            ),
        });
    }
    if t.expires_in > MAX_EXPIRES {
        return Err(TokenRefusal::ExpiresTooLong {
            seconds: t.expires_in,
        });
    }
    let expires_at = t.issued_at + Duration::from_secs(t.expires_in);
    if let Ok(ahead) = t.issued_at.duration_since(expect.now) {
        if ahead > expect.max_skew {
            return Err(TokenRefusal::Skew {
                ahead: ceil_secs(ahead),
            });
        }
    }
    if let Ok(ago) = expect.now.duration_since(expires_at) {
        if !ago.is_zero() {
            return Err(TokenRefusal::Expired {
                ago: ceil_secs(ago),
            });
        }
    }
    if t.signed_headers != SIGNED_HEADERS {
        return Err(TokenRefusal::SignedHeaders {
            found: echo(&t.signed_headers),
        });
    }
    let secret = match keys.find(scope.access_key_id) {
        KeyLookup::Unknown => {
            return Err(TokenRefusal::UnknownKey {
                access_key_id: echo(scope.access_key_id),
            })
        }
        KeyLookup::Inactive => {
            return Err(TokenRefusal::InactiveKey {
                access_key_id: echo(scope.access_key_id),
            })
        }
        KeyLookup::Active(secret) => secret,
    };
    let key = cache.signing_key(scope.access_key_id, secret, scope.day, scope.region);
    let query = signed_params(&t).canonical_query();
    let mut matched = subtle::Choice::from(0);
    for host in host_headers(&t.host, t.port) {
        let creq = canonical_request(&query, &host);
        let sts = string_to_sign(&t.date, scope.day, scope.region, &creq);
        matched |= signature(&key, &sts).ct_eq(&t.signature);
    }
    if !bool::from(matched) {
        return Err(TokenRefusal::Signature);
    }
    Ok(VerifiedToken {
        access_key_id: scope.access_key_id.to_owned(),
        db_user: t.db_user.clone(),
        endpoint: endpoint.clone(),
        region: scope.region.to_owned(),
        issued_at: t.issued_at,
        expires_at,
        has_session_token: t.security_token.is_some(),
    })
}

fn signed_params(t: &ParsedToken) -> SignedParams<'_> {
    SignedParams {
        action: &t.action,
        db_user: &t.db_user,
        algorithm: &t.algorithm,
        credential: &t.credential,
        date: &t.date,
        expires: &t.expires,
        security_token: t.security_token.as_deref(),
        signed_headers: &t.signed_headers,
    }
}

/// [`verify`] for a token as bytes (a PostgreSQL password message carries bytes):
/// bytes that are not UTF-8 are [`TokenRefusal::Malformed`].
///
/// # Errors
/// As [`verify`].
pub fn verify_bytes(
    token: &[u8],
    expect: &Expectations<'_>,
    keys: &dyn SecretKeys,
    cache: &SigningKeyCache,
) -> Result<VerifiedToken, TokenRefusal> {
    match std::str::from_utf8(token) {
        Ok(text) => verify(text, expect, keys, cache),
        Err(e) => Err(TokenRefusal::malformed(format!(
            "the token is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_candidates() {
        assert_eq!(host_headers("db.example", 5432), ["db.example:5432"]);
        assert_eq!(
            host_headers("DB.example", 5432),
            ["db.example:5432", "DB.example:5432"]
        );
        assert_eq!(host_headers("db", 443), ["db", "db:443"]);
        assert_eq!(host_headers("Db", 443).len(), 4);
    }

    #[test]
    fn ceil_rounds_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(3)), 3);
    }
}
