//! Why a token was refused: one variant per check, each with a short audit code.
//!
//! Values echoed from the token are cut to [`ECHO_MAX`] characters when the
//! refusal is made, and quoted with control characters escaped when displayed, so
//! an audit line stays one bounded line whatever the client sent. The signature,
//! the security token and any secret are never echoed.

/// Longest value (in characters) a refusal echoes from the token.
pub const ECHO_MAX: usize = 64;

/// `s` cut to [`ECHO_MAX`] characters (with `…` when cut).
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// Why [`verify`](super::verify) refused a token. The client is told only that
/// authentication failed; this is for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Not a well-formed token: size, UTF-8, structure, encoding, a missing,
    /// duplicated or unexpected parameter, a bad date or signature spelling.
    #[error("malformed token: {detail}")]
    Malformed {
        /// What is wrong (names the parameter; never quotes the signature or the
        /// security token).
        detail: String,
    },
    /// The `host:port` before `/?` is not one of the gateway's endpoint names.
    #[error("the token is for endpoint {found:?}, which is not an endpoint name of this gateway")]
    WrongHost {
        /// The token's `host:port` (cut).
        found: String,
    },
    /// `Action` is not `connect`.
    #[error("Action is {found:?}, expected \"connect\"")]
    WrongAction {
        /// The token's `Action` (cut).
        found: String,
    },
    /// `DBUser` is not the user of the startup message (compared exactly).
    #[error("the token is for database user {found:?}, not the user of the startup message")]
    WrongUser {
        /// The token's `DBUser`, percent-decoded (cut).
        found: String,
    },
    /// `X-Amz-Algorithm` is not `AWS4-HMAC-SHA256`.
    #[error("X-Amz-Algorithm is {found:?}, expected \"AWS4-HMAC-SHA256\"")]
    Algorithm {
        /// The token's algorithm (cut).
        found: String,
    },
    /// `X-Amz-Credential` is not `AKID/yyyymmdd/region/rds-db/aws4_request`, or its
    /// date is not the date of `X-Amz-Date`.
    #[error("X-Amz-Credential: {detail}")]
    Scope {
        /// What is wrong with the credential scope.
        detail: String,
    },
    /// The credential scope names another region than the gateway's.
    #[error("the token is signed for region {found:?}, not this gateway's region")]
    WrongRegion {
        /// The scope's region (cut).
        found: String,
    },
    /// `X-Amz-Expires` is more than 900 seconds.
    #[error("X-Amz-Expires is {seconds} seconds; at most 900 is accepted")]
    ExpiresTooLong {
        /// The token's `X-Amz-Expires` (saturated at `u64::MAX`).
        seconds: u64,
    },
    /// `X-Amz-Date` is further in the future than the allowed clock skew.
    #[error("the token is dated {ahead} seconds in the future, more than the allowed clock skew")]
    Skew {
        /// Seconds from now to `X-Amz-Date`, rounded up.
        ahead: u64,
    },
    /// `X-Amz-Date + X-Amz-Expires` has passed.
    #[error("the token expired {ago} seconds ago")]
    Expired {
        /// Seconds since the token expired, rounded up.
        ago: u64,
    },
    /// `X-Amz-SignedHeaders` is not exactly `host`.
    #[error("X-Amz-SignedHeaders is {found:?}, expected \"host\"")]
    SignedHeaders {
        /// The token's signed headers (cut).
        found: String,
    },
    /// No access key with this id.
    #[error("access key {access_key_id:?} is not known")]
    UnknownKey {
        /// The access key id from the credential scope (cut).
        access_key_id: String,
    },
    /// The access key exists but is inactive.
    #[error("access key {access_key_id:?} is inactive")]
    InactiveKey {
        /// The access key id.
        access_key_id: String,
    },
    /// The signature is not the one the access key's secret gives for this token.
    #[error("the signature does not match (another secret key, or the token was altered)")]
    Signature,
}

impl TokenRefusal {
    /// The short audit code of the check that failed.
    pub fn check(&self) -> &'static str {
        match self {
            TokenRefusal::Malformed { .. } => "malformed",
            TokenRefusal::WrongHost { .. } => "wrong_host",
            TokenRefusal::WrongAction { .. } => "wrong_action",
            TokenRefusal::WrongUser { .. } => "wrong_user",
            TokenRefusal::Algorithm { .. } => "algorithm",
            TokenRefusal::Scope { .. } => "scope",
            TokenRefusal::WrongRegion { .. } => "wrong_region",
            TokenRefusal::ExpiresTooLong { .. } => "expires_too_long",
            TokenRefusal::Skew { .. } => "skew",
            TokenRefusal::Expired { .. } => "expired",
            TokenRefusal::SignedHeaders { .. } => "signed_headers",
            TokenRefusal::UnknownKey { .. } => "unknown_key",
            TokenRefusal::InactiveKey { .. } => "inactive_key",
            TokenRefusal::Signature => "signature",
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> TokenRefusal {
        TokenRefusal::Malformed {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_cuts_on_characters() {
        assert_eq!(echo("abc"), "abc");
        let long = "é".repeat(100);
        let cut = echo(&long);
        assert_eq!(cut.chars().count(), ECHO_MAX + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(echo(&"x".repeat(ECHO_MAX)), "x".repeat(ECHO_MAX));
    }

    #[test]
    fn display_is_one_line() {
        let r = TokenRefusal::WrongUser {
            found: echo("bob\nINFO fake audit line\r"),
        };
        let text = r.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert_eq!(r.check(), "wrong_user");
    }
}
