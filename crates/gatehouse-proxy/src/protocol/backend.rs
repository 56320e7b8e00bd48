//! Server messages of the startup and authentication phase: encoders (what the
//! gateway sends its clients) and [`parse_backend`] (what an upstream server
//! sends the gateway; also the tests' reader).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, ProtocolError};
use super::fields::{ErrorFields, Severity};
use super::startup::{ProtocolVersion, MAX_CANCEL_KEY_LENGTH};
use super::wire::{
    frame_len, put_cstr, put_message, read_i32, split_cstr, DEFAULT_MAX_MESSAGE_LENGTH,
};

/// Authentication request codes ('R' messages' first Int32).
mod code {
    pub const OK: i32 = 0;
    pub const KERBEROS_V5: i32 = 2;
    pub const CLEARTEXT_PASSWORD: i32 = 3;
    pub const MD5_PASSWORD: i32 = 5;
    pub const GSS: i32 = 7;
    pub const GSS_CONTINUE: i32 = 8;
    pub const SSPI: i32 = 9;
    pub const SASL: i32 = 10;
    pub const SASL_CONTINUE: i32 = 11;
    pub const SASL_FINAL: i32 = 12;
}

/// An 'R' message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// AuthenticationOk (0).
    Ok,
    /// AuthenticationCleartextPassword (3).
    CleartextPassword,
    /// AuthenticationMD5Password (5) with its 4-byte salt.
    Md5Password {
        /// The salt.
        salt: [u8; 4],
    },
    /// AuthenticationSASL (10): the mechanisms the server offers, in its order.
    Sasl {
        /// Mechanism names, e.g. `SCRAM-SHA-256-PLUS`, `SCRAM-SHA-256`.
        mechanisms: Vec<Vec<u8>>,
    },
    /// AuthenticationSASLContinue (11): server-first-message.
    SaslContinue(Bytes),
    /// AuthenticationSASLFinal (12): server-final-message.
    SaslFinal(Bytes),
    /// KerberosV5 (2), GSS (7), GSSContinue (8), SSPI (9): recognised, not
    /// served; the data after the code as-is.
    Other {
        /// The request code.
        code: i32,
        /// The rest of the body.
        data: Bytes,
    },
}

/// ReadyForQuery's transaction status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// 'I': not in a transaction block.
    Idle,
    /// 'T': in a transaction block.
    InTransaction,
    /// 'E': in a failed transaction block.
    Failed,
}

impl TransactionStatus {
    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Idle => b'I',
            Self::InTransaction => b'T',
            Self::Failed => b'E',
        }
    }
}

/// A server message of the startup and authentication phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendMessage {
    /// 'R'.
    Authentication(Authentication),
    /// 'S': a run-time parameter's current value.
    ParameterStatus {
        /// Parameter name.
        name: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// 'K': what a CancelRequest must quote.
    BackendKeyData {
        /// The backend's process id.
        process_id: i32,
        /// The secret key: 4 bytes in protocol 3.0, up to 256 in 3.2.
        secret_key: Vec<u8>,
    },
    /// 'Z'.
    ReadyForQuery(TransactionStatus),
    /// 'E'.
    ErrorResponse(ErrorFields),
    /// 'N'.
    NoticeResponse(ErrorFields),
    /// 'C': the command tag of a completed statement (e.g. `DISCARD ALL`), as
    /// after a session reset.
    CommandComplete(Vec<u8>),
    /// 'v'.
    NegotiateProtocolVersion {
        /// The version the server will speak (the full `major << 16 | minor`
        /// code, as PostgreSQL sends it).
        version: ProtocolVersion,
        /// The `_pq_.` options it did not recognise.
        unrecognized: Vec<Vec<u8>>,
    },
}

fn put_auth(buf: &mut BytesMut, code: i32, rest: &[u8]) {
    // Cannot fail: the bodies are bounded by `put_message`'s own length check.
    let _ = put_message(buf, b'R', |buf| {
        buf.put_i32(code);
        buf.put_slice(rest);
        Ok(())
    });
}

/// Appends AuthenticationOk: `52 00 00 00 08 00 00 00 00`.
pub fn encode_auth_ok(buf: &mut BytesMut) {
    put_auth(buf, code::OK, &[]);
}

/// Appends AuthenticationCleartextPassword (code 3).
pub fn encode_auth_cleartext_password(buf: &mut BytesMut) {
    put_auth(buf, code::CLEARTEXT_PASSWORD, &[]);
}

/// Appends AuthenticationMD5Password (code 5, then the 4-byte salt).
pub fn encode_auth_md5_password(salt: [u8; 4], buf: &mut BytesMut) {
    put_auth(buf, code::MD5_PASSWORD, &salt);
}

/// Appends AuthenticationSASL (code 10, each mechanism NUL-terminated, then an
/// empty string).
///
/// # Errors
/// [`EncodeError::Invalid`] for an empty mechanism (it would end the list),
/// [`EncodeError::EmbeddedNul`].
pub fn encode_auth_sasl(mechanisms: &[&[u8]], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'R', |buf| {
        buf.put_i32(code::SASL);
        for m in mechanisms {
            if m.is_empty() {
                return Err(EncodeError::Invalid {
                    what: "empty SASL mechanism name",
                });
            }
            put_cstr(buf, m, "SASL mechanism")?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// Appends AuthenticationSASLContinue (code 11, then the data as-is).
///
/// # Errors
/// [`EncodeError::TooLong`] past `i32::MAX`.
pub fn encode_auth_sasl_continue(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'R', |buf| {
        buf.put_i32(code::SASL_CONTINUE);
        buf.put_slice(data);
        Ok(())
    })
}

/// Appends AuthenticationSASLFinal (code 12, then the data as-is).
///
/// # Errors
/// [`EncodeError::TooLong`] past `i32::MAX`.
pub fn encode_auth_sasl_final(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'R', |buf| {
        buf.put_i32(code::SASL_FINAL);
        buf.put_slice(data);
        Ok(())
    })
}

/// Appends ParameterStatus ('S', name and value NUL-terminated).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`].
pub fn encode_parameter_status(
    name: &[u8],
    value: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    put_message(buf, b'S', |buf| {
        put_cstr(buf, name, "parameter name")?;
        put_cstr(buf, value, "parameter value")
    })
}

/// Appends BackendKeyData ('K', process id, key bytes).
///
/// # Errors
/// [`EncodeError::Invalid`] unless the key is 4..=256 bytes. A protocol 3.0
/// client reads exactly 4; PostgreSQL 18 sends 32 to a 3.2 client.
pub fn encode_backend_key_data(
    process_id: i32,
    secret_key: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !(4..=MAX_CANCEL_KEY_LENGTH).contains(&secret_key.len()) {
        return Err(EncodeError::Invalid {
            what: "cancel key length",
        });
    }
    put_message(buf, b'K', |buf| {
        buf.put_i32(process_id);
        buf.put_slice(secret_key);
        Ok(())
    })
}

/// Appends ReadyForQuery: `5a 00 00 00 05` and the status byte.
pub fn encode_ready_for_query(status: TransactionStatus, buf: &mut BytesMut) {
    buf.put_u8(b'Z');
    buf.put_i32(5);
    buf.put_u8(status.byte());
}

/// Appends NegotiateProtocolVersion ('v': Int32 version, Int32 count, names).
///
/// `version` is written as the full code `major << 16 | minor` (3.2 →
/// `00 03 00 02`), which is what PostgreSQL 18's `SendNegotiateProtocolVersion()`
/// sends (`FrontendProtocol`) and what libpq 18 compares against, although the
/// documentation calls the field the "newest minor protocol version".
///
/// # Errors
/// [`EncodeError::EmbeddedNul`] in an option name.
pub fn encode_negotiate_protocol_version(
    version: ProtocolVersion,
    unrecognized: &[&[u8]],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let count = i32::try_from(unrecognized.len()).map_err(|_| EncodeError::TooLong {
        max: i32::MAX as usize,
    })?;
    put_message(buf, b'v', |buf| {
        buf.put_u32(version.code());
        buf.put_i32(count);
        for name in unrecognized {
            put_cstr(buf, name, "protocol option name")?;
        }
        Ok(())
    })
}

/// Appends ErrorResponse ('E', the fields, a zero byte).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`] in a value, [`EncodeError::Invalid`] for a
/// field code 0.
pub fn encode_error_response(fields: &ErrorFields, buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'E', |buf| fields.encode_body(buf))
}

/// Appends NoticeResponse ('N', the fields, a zero byte).
///
/// # Errors
/// As [`encode_error_response`].
pub fn encode_notice_response(fields: &ErrorFields, buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'N', |buf| fields.encode_body(buf))
}

/// Appends an error in protocol 2's format: 'E', then `"{SEVERITY}:  {message}\n"`
/// NUL-terminated, no length word. PostgreSQL answers a StartupMessage asking
/// for a major version below 3 this way (its `FrontendProtocol` is then that
/// version; seen from PostgreSQL 15:
/// `E FATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n \0`).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`] in the message.
pub fn encode_error_response_v2(
    severity: Severity,
    message: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if message.contains(&0) {
        return Err(EncodeError::EmbeddedNul {
            what: "error message",
        });
    }
    buf.put_u8(b'E');
    buf.put_slice(severity.as_str().as_bytes());
    buf.put_slice(b":  ");
    buf.put_slice(message);
    buf.put_slice(b"\n\0");
    Ok(())
}

/// Appends the one-byte answer to an SSLRequest: 'S' (TLS follows) or 'N'.
pub fn encode_ssl_response(accept: bool, buf: &mut BytesMut) {
    buf.put_u8(if accept { b'S' } else { b'N' });
}

/// Appends the one-byte answer to a GSSENCRequest: 'G' (GSSAPI encryption
/// follows) or 'N'. gatehouse always answers 'N'.
pub fn encode_gssenc_response(accept: bool, buf: &mut BytesMut) {
    buf.put_u8(if accept { b'G' } else { b'N' });
}

/// Reads a server's one-byte answer to an SSLRequest (`expect` = b'S') or
/// GSSENCRequest (`expect` = b'G'): `Some(true)` accepted, `Some(false)` 'N',
/// `None` when nothing has arrived. The byte is consumed.
///
/// # Errors
/// [`ProtocolError::UnexpectedBackendMessage`] for any other byte (an 'E' here
/// arrives unencrypted and must not be trusted or shown; cf. CVE-2024-10977).
pub fn parse_encryption_response(
    buf: &mut BytesMut,
    expect: u8,
) -> Result<Option<bool>, ProtocolError> {
    let Some(&b) = buf.first() else {
        return Ok(None);
    };
    let accepted = match b {
        b'N' => false,
        b if b == expect => true,
        tag => return Err(ProtocolError::UnexpectedBackendMessage { tag }),
    };
    let _ = buf.split_to(1);
    Ok(Some(accepted))
}

/// [`parse_backend_limited`] with [`DEFAULT_MAX_MESSAGE_LENGTH`] (1 MiB).
///
/// # Errors
/// As [`parse_backend_limited`].
pub fn parse_backend(buf: &mut BytesMut) -> Result<Option<BackendMessage>, ProtocolError> {
    parse_backend_limited(buf, DEFAULT_MAX_MESSAGE_LENGTH)
}

/// Parses one server message of the startup phase ('R', 'S', 'K', 'Z', 'E', 'N',
/// 'v', and 'C' for a reset's CommandComplete) off the front of `buf`: `Ok(None)` while incomplete, nothing consumed.
///
/// # Errors
/// [`ProtocolError::UnexpectedBackendMessage`] for other type bytes,
/// [`ProtocolError::InvalidMessageLength`], and for a body that does not match
/// its type: [`ProtocolError::InsufficientData`], [`ProtocolError::InvalidString`],
/// [`ProtocolError::InvalidMessageFormat`] (trailing bytes, an unknown
/// authentication code or status byte, a bad key length).
pub fn parse_backend_limited(
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Option<BackendMessage>, ProtocolError> {
    let known = |t| matches!(t, b'R' | b'S' | b'K' | b'Z' | b'E' | b'N' | b'v' | b'C');
    let unknown = |tag| ProtocolError::UnexpectedBackendMessage { tag };
    let Some(total) = frame_len(buf, max_len, known, unknown)? else {
        return Ok(None);
    };
    // Decoded before it is split off, so a malformed body leaves `buf` untouched.
    let msg = decode_backend(buf[0], &buf[5..total])?;
    let _ = buf.split_to(total);
    Ok(Some(msg))
}

fn trailing(reason: &'static str) -> ProtocolError {
    ProtocolError::InvalidMessageFormat { reason }
}

fn decode_backend(tag: u8, body: &[u8]) -> Result<BackendMessage, ProtocolError> {
    let int_at = |at| read_i32(body, at).ok_or(ProtocolError::InsufficientData);
    Ok(match tag {
        b'R' => BackendMessage::Authentication(decode_auth(int_at(0)?, &body[4..])?),
        b'S' => {
            let (name, rest) = split_cstr(body).ok_or(ProtocolError::InvalidString)?;
            let (value, rest) = split_cstr(rest).ok_or(ProtocolError::InvalidString)?;
            if !rest.is_empty() {
                return Err(trailing("bytes after ParameterStatus"));
            }
            BackendMessage::ParameterStatus {
                name: name.to_vec(),
                value: value.to_vec(),
            }
        }
        b'K' => {
            let process_id = int_at(0)?;
            let key = &body[4..];
            if key.is_empty() || key.len() > MAX_CANCEL_KEY_LENGTH {
                return Err(trailing("BackendKeyData key length"));
            }
            BackendMessage::BackendKeyData {
                process_id,
                secret_key: key.to_vec(),
            }
        }
        b'Z' => BackendMessage::ReadyForQuery(match body {
            [b'I'] => TransactionStatus::Idle,
            [b'T'] => TransactionStatus::InTransaction,
            [b'E'] => TransactionStatus::Failed,
            [] => return Err(ProtocolError::InsufficientData),
            _ => return Err(trailing("ReadyForQuery status")),
        }),
        b'E' => BackendMessage::ErrorResponse(ErrorFields::decode_body(body)?),
        b'N' => BackendMessage::NoticeResponse(ErrorFields::decode_body(body)?),
        b'C' => {
            let (tag, rest) = split_cstr(body).ok_or(ProtocolError::InvalidString)?;
            if !rest.is_empty() {
                return Err(trailing("bytes after CommandComplete"));
            }
            BackendMessage::CommandComplete(tag.to_vec())
        }
        _ => {
            // 'v', the only other tag `split_frame` lets through.
            let version = ProtocolVersion::from_code(int_at(0)? as u32);
            let count = usize::try_from(int_at(4)?).map_err(|_| ProtocolError::InsufficientData)?;
            let mut rest = &body[8..];
            let mut unrecognized = Vec::new();
            for _ in 0..count {
                let (name, r) = split_cstr(rest).ok_or(ProtocolError::InvalidString)?;
                unrecognized.push(name.to_vec());
                rest = r;
            }
            if !rest.is_empty() {
                return Err(trailing("bytes after NegotiateProtocolVersion"));
            }
            BackendMessage::NegotiateProtocolVersion {
                version,
                unrecognized,
            }
        }
    })
}

fn decode_auth(code: i32, data: &[u8]) -> Result<Authentication, ProtocolError> {
    let empty = |a: Authentication| {
        if data.is_empty() {
            Ok(a)
        } else {
            Err(trailing("bytes after the authentication code"))
        }
    };
    match code {
        code::OK => empty(Authentication::Ok),
        code::CLEARTEXT_PASSWORD => empty(Authentication::CleartextPassword),
        code::MD5_PASSWORD => match <[u8; 4]>::try_from(data) {
            Ok(salt) => Ok(Authentication::Md5Password { salt }),
            Err(_) if data.len() < 4 => Err(ProtocolError::InsufficientData),
            Err(_) => Err(trailing("bytes after the MD5 salt")),
        },
        code::SASL => {
            let mut rest = data;
            let mut mechanisms = Vec::new();
            loop {
                let (m, r) = split_cstr(rest).ok_or(ProtocolError::InvalidString)?;
                rest = r;
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m.to_vec());
            }
            if !rest.is_empty() {
                return Err(trailing("bytes after the SASL mechanism list"));
            }
            Ok(Authentication::Sasl { mechanisms })
        }
        code::SASL_CONTINUE => Ok(Authentication::SaslContinue(Bytes::copy_from_slice(data))),
        code::SASL_FINAL => Ok(Authentication::SaslFinal(Bytes::copy_from_slice(data))),
        code::KERBEROS_V5 | code::GSS | code::GSS_CONTINUE | code::SSPI => {
            Ok(Authentication::Other {
                code,
                data: Bytes::copy_from_slice(data),
            })
        }
        _ => Err(trailing("unknown authentication request code")),
    }
}
