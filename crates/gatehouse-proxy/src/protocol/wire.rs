//! Framing helpers shared by the frontend and backend codecs: typed-message
//! frames (`Byte1 tag, Int32 length including itself, body`), length fill-in for
//! encoders, and C strings.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, ProtocolError};

/// The default limit on a typed message's length word (the Int32, which counts
/// itself but not the tag byte): 1 MiB. Far above anything the auth phase needs;
/// pass [`PG_MAX_AUTH_TOKEN_LENGTH`] to the `_limited` parsers for PostgreSQL's
/// own limit.
pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 1 << 20;

/// PostgreSQL's limit on a PasswordMessage / SASL response length word during
/// authentication (`PG_MAX_AUTH_TOKEN_LENGTH` in `auth.c`): 65,535 bytes.
pub const PG_MAX_AUTH_TOKEN_LENGTH: usize = 65_535;

/// The total length (type byte included) of the complete typed message at the
/// front of `buf`, or `None` when it is incomplete.
///
/// Checks, in this order and as soon as the bytes are there: the tag (`known`),
/// then the length word (at least 4, at most `max_len`).
pub(crate) fn frame_len(
    buf: &[u8],
    max_len: usize,
    known: impl Fn(u8) -> bool,
    unknown: impl Fn(u8) -> ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if !known(tag) {
        return Err(unknown(tag));
    }
    let Some(len) = read_i32(buf, 1) else {
        return Ok(None);
    };
    let ulen = usize::try_from(len).unwrap_or(0);
    if ulen < 4 || ulen > max_len {
        return Err(ProtocolError::InvalidMessageLength { len, max: max_len });
    }
    Ok((buf.len() > ulen).then_some(1 + ulen))
}

/// Splits one complete typed message off the front of `buf` (see
/// [`frame_len`]): its tag and body (without tag and length word); `None` when
/// incomplete, nothing consumed.
pub(crate) fn split_frame(
    buf: &mut BytesMut,
    max_len: usize,
    known: impl Fn(u8) -> bool,
    unknown: impl Fn(u8) -> ProtocolError,
) -> Result<Option<(u8, Bytes)>, ProtocolError> {
    let Some(total) = frame_len(buf, max_len, known, unknown)? else {
        return Ok(None);
    };
    let frame = buf.split_to(total).freeze();
    Ok(Some((frame[0], frame.slice(5..))))
}

/// The big-endian Int32 at `at`, if those four bytes are there.
pub(crate) fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_be_bytes(word))
}

/// Splits a NUL-terminated string off the front of `bytes`: `(string, rest after
/// the NUL)`, or `None` when there is no NUL.
pub(crate) fn split_cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = bytes.iter().position(|&b| b == 0)?;
    Some((&bytes[..nul], &bytes[nul + 1..]))
}

/// Appends `s` and a NUL; refuses a string with an embedded NUL (it would end the
/// string early and desynchronise the reader). `what` names the field in the error.
pub(crate) fn put_cstr(
    buf: &mut BytesMut,
    s: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    if s.contains(&0) {
        return Err(EncodeError::EmbeddedNul { what });
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// Appends one typed message: the tag, a length word filled in after `body` ran,
/// then the body. If `body` fails, or the message would exceed `i32::MAX`
/// bytes, `buf` is truncated back to where it was.
pub(crate) fn put_message(
    buf: &mut BytesMut,
    tag: u8,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_u8(tag);
    put_length_prefixed(buf, start, body)
}

/// Appends a length word filled in after `body` ran (the untyped startup
/// packets); truncates back to `start` on failure.
pub(crate) fn put_length_prefixed(
    buf: &mut BytesMut,
    start: usize,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let at = buf.len();
    buf.put_i32(0);
    if let Err(e) = body(buf) {
        buf.truncate(start);
        return Err(e);
    }
    match i32::try_from(buf.len() - at) {
        Ok(len) => {
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        Err(_) => {
            buf.truncate(start);
            Err(EncodeError::TooLong {
                max: i32::MAX as usize,
            })
        }
    }
}
