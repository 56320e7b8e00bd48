//! Typed client messages of the authentication phase (after the StartupMessage):
//! 'p' (PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse — one
//! type byte whose body only the authentication state can interpret) and 'X'
//! Terminate; and the client-side encoders for them.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, ProtocolError};
use super::wire::{
    put_cstr, put_message, read_i32, split_cstr, split_frame, DEFAULT_MAX_MESSAGE_LENGTH,
};

/// A typed client message of the authentication phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontendMessage {
    /// 'p': the body as received (without type and length). Read it with
    /// [`password_from`] (password and md5 methods), [`sasl_initial_response`]
    /// (first SASL message) or as-is (later SASL messages).
    AuthResponse(Bytes),
    /// 'X': the client is leaving.
    Terminate,
}

/// [`parse_message_limited`] with [`DEFAULT_MAX_MESSAGE_LENGTH`] (1 MiB).
///
/// # Errors
/// As [`parse_message_limited`].
pub fn parse_message(buf: &mut BytesMut) -> Result<Option<FrontendMessage>, ProtocolError> {
    parse_message_limited(buf, DEFAULT_MAX_MESSAGE_LENGTH)
}

/// Parses one typed client message off the front of `buf`: `Ok(None)` while
/// incomplete (nothing consumed). `max_len` bounds the length word (which counts
/// itself, not the type byte), as PostgreSQL's `pq_getmessage(buf, maxlen)`.
///
/// # Errors
/// [`ProtocolError::UnexpectedFrontendMessage`] for any type byte but 'p' and
/// 'X' (checked on the first byte); [`ProtocolError::InvalidMessageLength`] for a
/// length word under 4 or over `max_len`; [`ProtocolError::InvalidMessageFormat`]
/// for a Terminate with a body.
pub fn parse_message_limited(
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Option<FrontendMessage>, ProtocolError> {
    // A Terminate is exactly its header; one with a body is refused as soon as
    // its length word is in, before anything is consumed.
    if buf.first() == Some(&b'X') && read_i32(buf, 1).is_some_and(|len| len > 4) {
        return Err(ProtocolError::InvalidMessageFormat {
            reason: "Terminate with a body",
        });
    }
    let frame = split_frame(
        buf,
        max_len,
        |tag| matches!(tag, b'p' | b'X'),
        |tag| ProtocolError::UnexpectedFrontendMessage { tag },
    );
    Ok(frame?.map(|(tag, body)| match tag {
        b'X' => FrontendMessage::Terminate,
        _ => FrontendMessage::AuthResponse(body),
    }))
}

/// The password of a PasswordMessage body (password and md5 methods): one
/// NUL-terminated string filling the body exactly, as PostgreSQL's
/// `recv_password_packet()`. For md5 it is `"md5"` + 32 hex digits.
///
/// # Errors
/// [`ProtocolError::InvalidPasswordPacketSize`] when the body is not exactly one
/// string and its NUL; [`ProtocolError::EmptyPassword`] for the empty string.
pub fn password_from(body: &[u8]) -> Result<&[u8], ProtocolError> {
    match split_cstr(body) {
        Some((b"", [])) => Err(ProtocolError::EmptyPassword),
        Some((password, [])) => Ok(password),
        _ => Err(ProtocolError::InvalidPasswordPacketSize),
    }
}

/// A SASLInitialResponse body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslInitialResponse<'a> {
    /// The mechanism the client chose (e.g. `SCRAM-SHA-256`).
    pub mechanism: &'a [u8],
    /// The initial client response; `None` when the client sent length -1.
    pub data: Option<&'a [u8]>,
}

/// Reads a SASLInitialResponse body: mechanism (NUL-terminated), Int32 length of
/// the data or -1 for none, the data, nothing after — with the errors of
/// PostgreSQL's `pq_getmsgrawstring`, `pq_getmsgint`, `pq_getmsgbytes` and
/// `pq_getmsgend` in `CheckSASLAuth()`.
///
/// # Errors
/// [`ProtocolError::InvalidString`] (no NUL after the mechanism),
/// [`ProtocolError::InsufficientData`] (no length word, a length below -1 or past
/// the end), [`ProtocolError::InvalidMessageFormat`] (bytes after the data).
pub fn sasl_initial_response(body: &[u8]) -> Result<SaslInitialResponse<'_>, ProtocolError> {
    let (mechanism, rest) = split_cstr(body).ok_or(ProtocolError::InvalidString)?;
    let len = read_i32(rest, 0).ok_or(ProtocolError::InsufficientData)?;
    let rest = &rest[4..];
    let data = if len == -1 {
        None
    } else {
        let n = usize::try_from(len).map_err(|_| ProtocolError::InsufficientData)?;
        Some(rest.get(..n).ok_or(ProtocolError::InsufficientData)?)
    };
    if rest.len() != data.map_or(0, <[u8]>::len) {
        return Err(ProtocolError::InvalidMessageFormat {
            reason: "bytes after the SASL initial response",
        });
    }
    Ok(SaslInitialResponse { mechanism, data })
}

/// Appends a PasswordMessage ('p', the password and its NUL).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`].
pub fn encode_password(password: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'p', |buf| put_cstr(buf, password, "password"))
}

/// Appends a SASLInitialResponse ('p': mechanism, Int32 length or -1, data).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`] in the mechanism; [`EncodeError::TooLong`].
pub fn encode_sasl_initial_response(
    mechanism: &[u8],
    data: Option<&[u8]>,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    put_message(buf, b'p', |buf| {
        put_cstr(buf, mechanism, "SASL mechanism")?;
        match data {
            None => buf.put_i32(-1),
            Some(d) => {
                let len = i32::try_from(d.len()).map_err(|_| EncodeError::TooLong {
                    max: i32::MAX as usize,
                })?;
                buf.put_i32(len);
                buf.put_slice(d);
            }
        }
        Ok(())
    })
}

/// Appends a SASLResponse ('p', the data as-is).
///
/// # Errors
/// [`EncodeError::TooLong`] past `i32::MAX`.
pub fn encode_sasl_response(data: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'p', |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// Appends a simple Query ('Q', the SQL text and its NUL).
///
/// # Errors
/// [`EncodeError::EmbeddedNul`]; [`EncodeError::TooLong`].
pub fn encode_query(sql: &[u8], buf: &mut BytesMut) -> Result<(), EncodeError> {
    put_message(buf, b'Q', |buf| put_cstr(buf, sql, "query"))
}

/// Appends a Terminate: `58 00 00 00 04`.
pub fn encode_terminate(buf: &mut BytesMut) {
    buf.put_u8(b'X');
    buf.put_i32(4);
}
