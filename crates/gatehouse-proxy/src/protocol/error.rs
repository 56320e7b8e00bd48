//! Errors of the codec. [`ProtocolError`] is what a peer's bytes can cause; each
//! variant maps to PostgreSQL's SQLSTATE and client-visible text
//! ([`ProtocolError::sqlstate`], [`ProtocolError::client_message`]), while its
//! `Display` is the detailed reason for the log. [`EncodeError`] is what our own
//! arguments can cause when encoding (a bug on our side, never the peer's).

use std::borrow::Cow;

use thiserror::Error;

use super::fields::{ErrorFields, Severity};

/// Why bytes from a client (or an upstream server) are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The startup packet's length word is below 8 or its body (after the length
    /// word) is above 10,000 bytes. PostgreSQL: COMMERROR "invalid length of
    /// startup packet" (logged, nothing sent to the client).
    #[error("invalid length of startup packet: length word {len}")]
    InvalidStartupPacketLength {
        /// The length word as received (big-endian Int32, may be negative).
        len: i32,
    },
    /// The connection ended part-way through a startup packet (see
    /// [`super::startup_eof`]). PostgreSQL: COMMERROR "incomplete startup packet".
    #[error("incomplete startup packet: connection closed after {received} bytes")]
    IncompleteStartupPacket {
        /// Bytes received before the end of the stream.
        received: usize,
    },
    /// An SSLRequest or GSSENCRequest whose length word is not 8. PostgreSQL
    /// ignores the extra bytes; gatehouse refuses them, with the text of
    /// `InvalidStartupPacketLength`.
    #[error("encryption request (code {code}) with length word {len}, expected 8")]
    InvalidEncryptionRequestLength {
        /// The request code (80877103 or 80877104).
        code: u32,
        /// The length word as received.
        len: i32,
    },
    /// A CancelRequest shorter than code + process id. PostgreSQL 18: COMMERROR
    /// "invalid length of cancel request packet".
    #[error("invalid length of cancel request packet: length word {len}")]
    InvalidCancelRequestLength {
        /// The length word as received.
        len: i32,
    },
    /// A CancelRequest whose key is empty or longer than 256 bytes. PostgreSQL 18:
    /// COMMERROR "invalid length of cancel key in cancel request packet".
    #[error("invalid length of cancel key in cancel request packet: {key_len} bytes")]
    InvalidCancelKeyLength {
        /// The key length the packet implies.
        key_len: usize,
    },
    /// A protocol version whose major number is not 3. PostgreSQL: FATAL 0A000,
    /// sent in protocol 2's format when the major is below 3
    /// ([`super::encode_error_response_v2`]).
    #[error("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.2")]
    UnsupportedProtocol {
        /// Major version (high 16 bits of the code).
        major: u16,
        /// Minor version (low 16 bits).
        minor: u16,
    },
    /// The StartupMessage's name/value list does not end with exactly one
    /// terminating NUL at the last byte (missing terminator, a name without a
    /// value, bytes after the terminator). PostgreSQL: FATAL 08P01.
    #[error("invalid startup packet layout: expected terminator as last byte")]
    InvalidStartupLayout,
    /// `replication` is neither a boolean PostgreSQL's `parse_bool` accepts nor
    /// `database`. PostgreSQL: FATAL 22023.
    #[error("invalid value for parameter \"replication\": \"{}\"", String::from_utf8_lossy(.value))]
    InvalidReplication {
        /// The value as sent.
        value: Vec<u8>,
    },
    /// No `user`, or an empty one. PostgreSQL: FATAL 28000.
    #[error("no PostgreSQL user name specified in startup packet")]
    MissingUser,
    /// A typed message whose length word is below 4 or above the limit.
    /// PostgreSQL: COMMERROR "invalid message length".
    #[error("invalid message length {len} (limit {max})")]
    InvalidMessageLength {
        /// The length word as received.
        len: i32,
        /// The limit in force.
        max: usize,
    },
    /// A client message type this phase does not accept. PostgreSQL: FATAL 08P01
    /// "invalid frontend message type %d".
    #[error("invalid frontend message type {tag} ({:?})", char::from(*.tag))]
    UnexpectedFrontendMessage {
        /// The type byte.
        tag: u8,
    },
    /// A server message type the codec does not read, or an unexpected answer to
    /// an encryption request.
    #[error("unexpected backend message type {tag} ({:?})", char::from(*.tag))]
    UnexpectedBackendMessage {
        /// The type byte.
        tag: u8,
    },
    /// A password message whose body is not exactly one NUL-terminated string.
    /// PostgreSQL: 08P01 "invalid password packet size".
    #[error("invalid password packet size")]
    InvalidPasswordPacketSize,
    /// A password message holding the empty string. PostgreSQL: 28P01.
    #[error("empty password returned by client")]
    EmptyPassword,
    /// A string field without its NUL (`pq_getmsgrawstring`). PostgreSQL: 08P01.
    #[error("invalid string in message")]
    InvalidString,
    /// A fixed-size field or counted byte string runs past the end of the body
    /// (`pq_copymsgbytes`), or a count is negative. PostgreSQL: 08P01.
    #[error("insufficient data left in message")]
    InsufficientData,
    /// Bytes left over after the last field, or a value out of its domain
    /// (`pq_getmsgend`). PostgreSQL: 08P01 "invalid message format".
    #[error("invalid message format: {reason}")]
    InvalidMessageFormat {
        /// What was wrong, for the log.
        reason: &'static str,
    },
}

impl ProtocolError {
    /// The SQLSTATE PostgreSQL reports for this error (five characters):
    /// `08P01` protocol_violation for layout and framing errors, `0A000`
    /// feature_not_supported for an unsupported protocol, `28000`
    /// invalid_authorization_specification for a missing user, `22023`
    /// invalid_parameter_value for a bad `replication`, `28P01` invalid_password
    /// for an empty password.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Self::UnsupportedProtocol { .. } => "0A000",
            Self::MissingUser => "28000",
            Self::InvalidReplication { .. } => "22023",
            Self::EmptyPassword => "28P01",
            _ => "08P01",
        }
    }

    /// The primary message PostgreSQL would use, word for word (no detail beyond
    /// what PostgreSQL itself shows, so it is safe to send to the client).
    pub fn client_message(&self) -> Cow<'static, str> {
        match self {
            Self::InvalidStartupPacketLength { .. }
            | Self::InvalidEncryptionRequestLength { .. } => {
                "invalid length of startup packet".into()
            }
            Self::IncompleteStartupPacket { .. } => "incomplete startup packet".into(),
            Self::InvalidCancelRequestLength { .. } => {
                "invalid length of cancel request packet".into()
            }
            Self::InvalidCancelKeyLength { .. } => {
                "invalid length of cancel key in cancel request packet".into()
            }
            Self::InvalidMessageLength { .. } => "invalid message length".into(),
            Self::UnexpectedBackendMessage { tag } => {
                format!("unexpected message type {tag}").into()
            }
            Self::InvalidMessageFormat { .. } => "invalid message format".into(),
            Self::UnexpectedFrontendMessage { tag } => {
                format!("invalid frontend message type {tag}").into()
            }
            // These `Display`s are PostgreSQL's text already.
            Self::UnsupportedProtocol { .. } | Self::InvalidReplication { .. } => {
                self.to_string().into()
            }
            Self::InvalidStartupLayout
            | Self::MissingUser
            | Self::InvalidPasswordPacketSize
            | Self::EmptyPassword
            | Self::InvalidString
            | Self::InsufficientData => self.to_string().into(),
        }
    }

    /// PostgreSQL's hint, where it gives one (only for `replication`).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::InvalidReplication { .. } => {
                Some("Valid values are: \"false\", 0, \"true\", 1, \"database\".")
            }
            _ => None,
        }
    }

    /// Whether PostgreSQL sends this error to the client (`FATAL`/`ERROR`) rather
    /// than only logging it (`COMMERROR`, then closing the connection silently):
    /// false for bad startup/cancel lengths, an incomplete startup packet and bad
    /// message lengths.
    pub fn sent_to_client(&self) -> bool {
        !matches!(
            self,
            Self::InvalidStartupPacketLength { .. }
                | Self::InvalidEncryptionRequestLength { .. }
                | Self::IncompleteStartupPacket { .. }
                | Self::InvalidCancelRequestLength { .. }
                | Self::InvalidCancelKeyLength { .. }
                | Self::InvalidMessageLength { .. }
        )
    }

    /// The ErrorResponse PostgreSQL would send: severity FATAL (errors during
    /// startup and authentication end the connection), SQLSTATE, message, hint.
    pub fn to_error_fields(&self) -> ErrorFields {
        let fields = ErrorFields::new(Severity::Fatal, self.sqlstate(), self.client_message());
        match self.hint() {
            Some(h) => fields.with_hint(h),
            None => fields,
        }
    }
}

/// Why an encoder refused its arguments (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string that the protocol NUL-terminates contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    EmbeddedNul {
        /// Which field.
        what: &'static str,
    },
    /// The message would be longer than the protocol or the receiver allows.
    #[error("message too long (limit {max} bytes)")]
    TooLong {
        /// The limit, in bytes, of whatever was too long.
        max: usize,
    },
    /// A value outside its domain (an empty parameter name, a cancel key of the
    /// wrong length, a field code of 0).
    #[error("invalid {what}")]
    Invalid {
        /// Which argument.
        what: &'static str,
    },
}
