//! Why a client's SCRAM exchange failed ([`ScramError`]): per failure PostgreSQL's
//! SQLSTATE, client message and detail (from `auth-scram.c`), and a short machine
//! reason for the audit log. `Display` is the log text; none of them contains a
//! secret, and bytes from the client appear only sanitized as PostgreSQL does.

use std::fmt;

use thiserror::Error;

/// A failed server-side SCRAM step. Map it to the wire with
/// [`ScramError::sqlstate`], [`ScramError::message`] and [`ScramError::detail`]
/// (PostgreSQL sends all of these as FATAL).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScramError {
    /// The SASLInitialResponse names a mechanism we did not offer (also
    /// `SCRAM-SHA-256-PLUS` without TLS channel binding data). 08P01.
    #[error("client selected an invalid SASL authentication mechanism")]
    InvalidMechanism,
    /// A message that does not parse. 08P01 "malformed SCRAM message" with the
    /// variant's detail.
    #[error("malformed SCRAM message: {0}")]
    Malformed(MalformedScram),
    /// gs2 flag `y` (the client supports channel binding but thinks the server does
    /// not) while this server offered `SCRAM-SHA-256-PLUS`: a possible downgrade.
    /// 28000.
    #[error("SCRAM channel binding negotiation error: client sent flag 'y' but this server supports channel binding")]
    ChannelBindingNegotiation,
    /// `p=<type>` with a type other than `tls-server-end-point`. 08P01. Holds the
    /// type sanitized (printable ASCII, others as `?`, at most 30 characters).
    #[error("unsupported SCRAM channel-binding type \"{0}\"")]
    UnsupportedChannelBindingType(String),
    /// The gs2 header carries an authorization identity (`a=`). 0A000.
    #[error("client uses authorization identity, but it is not supported")]
    AuthzidUnsupported,
    /// client-first-message-bare starts with a mandatory extension (`m=`). 0A000.
    #[error("client requires an unsupported SCRAM extension")]
    UnsupportedExtension,
    /// The client nonce has a character outside `%x21-2B / %x2D-7E`. 08P01.
    #[error("non-printable characters in SCRAM nonce")]
    NonPrintableNonce,
    /// Without channel binding, `c=` is neither `biws` (`n,,`) nor `eSws` (`y,,`)
    /// matching the first message's flag. 08P01.
    #[error("unexpected SCRAM channel-binding attribute in client-final-message")]
    UnexpectedChannelBinding,
    /// With channel binding, `c=` is not base64 of `p=tls-server-end-point,,` and
    /// this connection's certificate hash. 28000.
    #[error("SCRAM channel binding check failed")]
    ChannelBindingMismatch,
    /// The final nonce is not the client nonce followed by ours. 08P01 "invalid
    /// SCRAM response", detail "Nonce does not match.".
    #[error("invalid SCRAM response: nonce does not match")]
    NonceMismatch,
    /// The proof does not verify, or the exchange was a mock one. The caller reports
    /// 28P01 `password authentication failed for user "…"` ([`ScramError::message`]),
    /// the same text for every cause so that unknown roles stay hidden.
    #[error("SCRAM authentication failed: {0}")]
    InvalidProof(ProofFailure),
}

/// Why [`ScramError::InvalidProof`]: only for the server log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofFailure {
    /// The client's proof does not match the stored secret.
    WrongProof,
    /// The role has no password (or does not exist): a mock exchange.
    NoSecret,
    /// The role's secret cannot do SCRAM (an MD5 hash): a mock exchange.
    /// PostgreSQL's detail: `User "…" does not have a valid SCRAM secret.`
    NotScramSecret,
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofFailure::WrongProof => "proof does not match the stored secret",
            ProofFailure::NoSecret => "role does not exist or has no password (mock exchange)",
            ProofFailure::NotScramSecret => {
                "role does not have a valid SCRAM secret (mock exchange)"
            }
        })
    }
}

/// The detail of [`ScramError::Malformed`]; `Display` is PostgreSQL's errdetail.
/// Found characters are shown as PostgreSQL's `sanitize_char` shows them: `'x'` for
/// printable ASCII, `0x..` otherwise (`0x00` for the end of the message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedScram {
    /// An empty message.
    Empty,
    /// A NUL byte inside the message.
    LengthMismatch,
    /// Longer than [`super::scram::MAX_SCRAM_MESSAGE_LEN`] (gatehouse's budget; PostgreSQL
    /// takes up to 65535 bytes).
    TooLong {
        /// The message length.
        len: usize,
    },
    /// Another attribute than the expected one.
    ExpectedAttribute {
        /// The attribute expected.
        expected: u8,
        /// The byte found.
        found: u8,
    },
    /// An attribute letter not followed by `=`.
    ExpectedEquals {
        /// The attribute letter.
        attr: u8,
    },
    /// The message ends where an attribute should follow.
    AttributeExpectedEnd,
    /// An attribute name that is not an ASCII letter.
    AttributeInvalidChar {
        /// The byte found.
        found: u8,
    },
    /// The gs2 flag `n` or `y` is not followed by a comma.
    CommaExpected {
        /// The byte found.
        found: u8,
    },
    /// `SCRAM-SHA-256-PLUS` was selected but the gs2 flag is `n` or `y`.
    PlusWithoutBinding,
    /// `SCRAM-SHA-256` was selected but the gs2 flag is `p`.
    BindingWithoutPlus,
    /// The gs2 flag is none of `n`, `y`, `p`.
    UnexpectedChannelBindingFlag {
        /// The byte found.
        found: u8,
    },
    /// The gs2 header does not end with a comma after the (absent) authzid.
    UnexpectedAttribute {
        /// The byte found.
        found: u8,
    },
    /// The proof is not base64 of 32 bytes.
    MalformedProof,
    /// Something after the proof.
    Garbage,
}

/// PostgreSQL's `sanitize_char`.
pub(crate) fn sanitize_char(c: u8) -> String {
    if (0x21..=0x7e).contains(&c) {
        format!("'{}'", char::from(c))
    } else {
        format!("0x{c:02x}")
    }
}

/// PostgreSQL's `sanitize_str`: printable ASCII kept, anything else `?`, at most 30.
pub(crate) fn sanitize_str(s: &[u8]) -> String {
    s.iter()
        .take(30)
        .map(|&c| {
            if (0x21..=0x7e).contains(&c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

impl fmt::Display for MalformedScram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MalformedScram as M;
        match self {
            M::Empty => write!(f, "The message is empty."),
            M::LengthMismatch => write!(f, "Message length does not match input length."),
            M::TooLong { len } => write!(
                f,
                "The message is {len} bytes long, more than the {} allowed.",
                super::scram::MAX_SCRAM_MESSAGE_LEN
            ),
            M::ExpectedAttribute { expected, found } => write!(
                f,
                "Expected attribute \"{}\" but found \"{}\".",
                char::from(*expected),
                sanitize_char(*found)
            ),
            M::ExpectedEquals { attr } => write!(
                f,
                "Expected character \"=\" for attribute \"{}\".",
                char::from(*attr)
            ),
            M::AttributeExpectedEnd => write!(f, "Attribute expected, but found end of string."),
            M::AttributeInvalidChar { found } => write!(
                f,
                "Attribute expected, but found invalid character \"{}\".",
                sanitize_char(*found)
            ),
            M::CommaExpected { found } => write!(
                f,
                "Comma expected, but found character \"{}\".",
                sanitize_char(*found)
            ),
            M::PlusWithoutBinding => write!(
                f,
                "The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data."
            ),
            M::BindingWithoutPlus => write!(
                f,
                "The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data."
            ),
            M::UnexpectedChannelBindingFlag { found } => write!(
                f,
                "Unexpected channel-binding flag \"{}\".",
                sanitize_char(*found)
            ),
            M::UnexpectedAttribute { found } => write!(
                f,
                "Unexpected attribute \"{}\" in client-first-message.",
                sanitize_char(*found)
            ),
            M::MalformedProof => write!(f, "Malformed proof in client-final-message."),
            M::Garbage => write!(f, "Garbage found at the end of client-final-message."),
        }
    }
}

impl MalformedScram {
    fn reason(&self) -> &'static str {
        use MalformedScram as M;
        match self {
            M::Empty => "scram_empty_message",
            M::LengthMismatch => "scram_nul_in_message",
            M::TooLong { .. } => "scram_message_too_long",
            M::ExpectedAttribute { .. } => "scram_unexpected_attribute",
            M::ExpectedEquals { .. } => "scram_missing_equals",
            M::AttributeExpectedEnd => "scram_truncated_message",
            M::AttributeInvalidChar { .. } => "scram_invalid_attribute_name",
            M::CommaExpected { .. } => "scram_malformed_gs2_header",
            M::PlusWithoutBinding => "scram_plus_without_channel_binding",
            M::BindingWithoutPlus => "scram_channel_binding_without_plus",
            M::UnexpectedChannelBindingFlag { .. } => "scram_invalid_gs2_flag",
            M::UnexpectedAttribute { .. } => "scram_malformed_gs2_header",
            M::MalformedProof => "scram_malformed_proof",
            M::Garbage => "scram_trailing_garbage",
        }
    }
}

impl ScramError {
    /// The SQLSTATE PostgreSQL sends for this failure.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ScramError::ChannelBindingNegotiation | ScramError::ChannelBindingMismatch => "28000",
            ScramError::AuthzidUnsupported | ScramError::UnsupportedExtension => "0A000",
            ScramError::InvalidProof(_) => "28P01",
            _ => "08P01",
        }
    }

    /// The client-visible primary message, as PostgreSQL words it. `user` is the
    /// startup packet's user name, used only by [`ScramError::InvalidProof`].
    pub fn message(&self, user: &str) -> String {
        match self {
            ScramError::Malformed(_) => "malformed SCRAM message".to_string(),
            ScramError::ChannelBindingNegotiation => {
                "SCRAM channel binding negotiation error".to_string()
            }
            ScramError::NonceMismatch => "invalid SCRAM response".to_string(),
            ScramError::InvalidProof(_) => {
                format!("password authentication failed for user \"{user}\"")
            }
            other => other.to_string(),
        }
    }

    /// The client-visible errdetail PostgreSQL adds, if any.
    pub fn detail(&self) -> Option<String> {
        match self {
            ScramError::Malformed(m) => Some(m.to_string()),
            ScramError::ChannelBindingNegotiation => Some(
                "The client supports SCRAM channel binding but thinks the server does not.  \
                 However, this server does support channel binding."
                    .to_string(),
            ),
            ScramError::NonceMismatch => Some("Nonce does not match.".to_string()),
            _ => None,
        }
    }

    /// A short, stable reason for the audit log (never a secret or client bytes).
    pub fn reason(&self) -> &'static str {
        match self {
            ScramError::InvalidMechanism => "scram_invalid_mechanism",
            ScramError::Malformed(m) => m.reason(),
            ScramError::ChannelBindingNegotiation => "scram_channel_binding_downgrade",
            ScramError::UnsupportedChannelBindingType(_) => {
                "scram_unsupported_channel_binding_type"
            }
            ScramError::AuthzidUnsupported => "scram_authzid_unsupported",
            ScramError::UnsupportedExtension => "scram_extension_unsupported",
            ScramError::NonPrintableNonce => "scram_nonce_not_printable",
            ScramError::UnexpectedChannelBinding => "scram_unexpected_channel_binding",
            ScramError::ChannelBindingMismatch => "scram_channel_binding_mismatch",
            ScramError::NonceMismatch => "scram_nonce_mismatch",
            ScramError::InvalidProof(ProofFailure::WrongProof) => "scram_invalid_proof",
            ScramError::InvalidProof(ProofFailure::NoSecret) => "scram_no_secret",
            ScramError::InvalidProof(ProofFailure::NotScramSecret) => "scram_secret_not_scram",
        }
    }
}

impl From<MalformedScram> for ScramError {
    fn from(m: MalformedScram) -> Self {
        ScramError::Malformed(m)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn texts_as_postgres() {
        let e = ScramError::Malformed(MalformedScram::ExpectedAttribute {
            expected: b'r',
            found: b'x',
        });
        assert_eq!(e.sqlstate(), "08P01");
        assert_eq!(e.message("u"), "malformed SCRAM message");
        assert_eq!(
            e.detail().as_deref(),
            Some("Expected attribute \"r\" but found \"'x'\".")
        );
        let e = ScramError::Malformed(MalformedScram::CommaExpected { found: 0 });
        assert_eq!(
            e.detail().as_deref(),
            Some("Comma expected, but found character \"0x00\".")
        );
        let e = ScramError::InvalidProof(ProofFailure::NoSecret);
        assert_eq!(e.sqlstate(), "28P01");
        assert_eq!(
            e.message("bob"),
            "password authentication failed for user \"bob\""
        );
        assert_eq!(e.detail(), None);
        assert_eq!(ScramError::ChannelBindingNegotiation.sqlstate(), "28000");
        assert_eq!(
            ScramError::UnsupportedChannelBindingType("tls-unique".into()).message("u"),
            "unsupported SCRAM channel-binding type \"tls-unique\""
        );
        assert_eq!(sanitize_char(0xc3), "0xc3");
        assert_eq!(sanitize_str(b"a b\xffc"), "a?b?c");
        assert_eq!(sanitize_str(&[b'x'; 40]).len(), 30);
    }
}
