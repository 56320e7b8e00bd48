//! The first packet of a connection, which has no type byte: `Int32 length
//! (including itself), Int32 code, body`. The code is a protocol version
//! (`major << 16 | minor`) for a StartupMessage, or one of the request codes for
//! SSLRequest, GSSENCRequest and CancelRequest.
//!
//! Follows PostgreSQL 18's `ProcessStartupPacket()` (`backend_startup.c`),
//! including the order in which it reports errors; the few places where
//! gatehouse is stricter are documented on [`parse_startup`].

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::error::{EncodeError, ProtocolError};
use super::wire::{put_cstr, put_length_prefixed, read_i32};

/// The largest startup packet body PostgreSQL reads, in bytes, not counting the
/// 4-byte length word (`MAX_STARTUP_PACKET_LENGTH`): the length word may be at
/// most 10,004.
pub const MAX_STARTUP_PACKET_LENGTH: usize = 10_000;
/// The smallest startup packet length word: itself plus the 4-byte code.
pub const MIN_STARTUP_PACKET_LENGTH: usize = 8;
/// CancelRequest code (1234 << 16 | 5678).
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// SSLRequest code (1234 << 16 | 5679).
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// GSSENCRequest code (1234 << 16 | 5680).
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// The longest cancel key protocol 3.2 allows, in bytes (PostgreSQL 18 accepts
/// 1..=256 bytes in a CancelRequest whatever the protocol version).
pub const MAX_CANCEL_KEY_LENGTH: usize = 256;
/// PostgreSQL's `NAMEDATALEN - 1`: user and database names are cut to this many
/// bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;
/// The first byte of a TLS handshake record: a connection that starts with it is
/// PostgreSQL 17's direct TLS (`sslnegotiation=direct`), not a startup packet
/// (as a length word it would mean hundreds of megabytes).
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// A protocol version as carried in a StartupMessage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Major version (high 16 bits).
    pub major: u16,
    /// Minor version (low 16 bits).
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0 (every PostgreSQL since 7.4; 4-byte cancel keys).
    pub const V3_0: Self = Self { major: 3, minor: 0 };
    /// Protocol 3.2 (PostgreSQL 18; cancel keys up to 256 bytes). There is no 3.1.
    pub const V3_2: Self = Self { major: 3, minor: 2 };
    /// The newest version served: 3.2.
    pub const LATEST: Self = Self::V3_2;

    /// The Int32 wire code, `major << 16 | minor`.
    pub fn code(self) -> u32 {
        (u32::from(self.major) << 16) | u32::from(self.minor)
    }

    /// Splits a wire code into major and minor.
    pub fn from_code(code: u32) -> Self {
        Self {
            major: (code >> 16) as u16,
            minor: (code & 0xffff) as u16,
        }
    }
}

/// What `replication` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Replication {
    /// Absent, or a false boolean: a normal backend.
    #[default]
    None,
    /// A true boolean: a physical-replication walsender (PostgreSQL then ignores
    /// the database name; pg_hba matches it with the `replication` keyword).
    Physical,
    /// `database`: a logical-replication walsender connected to a database.
    Logical,
}

/// One `name=value` pair of a StartupMessage, as bytes (no encoding is implied
/// before `client_encoding` is applied, and non-UTF-8 must survive relaying).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StartupParam {
    /// The name, without its NUL; never empty.
    pub name: Vec<u8>,
    /// The value, without its NUL; may be empty.
    pub value: Vec<u8>,
}

impl StartupParam {
    /// The name as text, invalid UTF-8 replaced by U+FFFD.
    pub fn name_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
    /// The value as text, invalid UTF-8 replaced by U+FFFD.
    pub fn value_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// A StartupMessage after PostgreSQL's processing of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupMessage {
    /// The version the client asked for (major is always 3; minor may be above
    /// 2, see [`StartupMessage::needs_negotiation`]).
    pub version: ProtocolVersion,
    /// `user`, cut to 63 bytes (the last one sent wins); never empty.
    pub user: Vec<u8>,
    /// `database`, or the user when absent or empty, cut to 63 bytes. PostgreSQL
    /// cuts at byte 63 (`name[NAMEDATALEN - 1] = '\0'`) without regard to
    /// multibyte characters, and so does this. For [`Replication::Physical`]
    /// PostgreSQL then clears it; it is kept here so the caller can still show it.
    pub database: Vec<u8>,
    /// `options` (command-line style switches), if sent.
    pub options: Option<Vec<u8>>,
    /// `replication`.
    pub replication: Replication,
    /// Every other parameter, in order, duplicates kept: PostgreSQL applies them
    /// as GUC settings (the last of duplicates wins).
    pub params: Vec<StartupParam>,
    /// Parameters whose name starts with `_pq_.` (protocol options), in order.
    /// PostgreSQL 18 knows none and lists their names in NegotiateProtocolVersion.
    pub protocol_options: Vec<StartupParam>,
}

impl StartupMessage {
    /// `user` as text, invalid UTF-8 replaced by U+FFFD.
    pub fn user_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.user)
    }
    /// `database` as text, invalid UTF-8 replaced by U+FFFD.
    pub fn database_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.database)
    }
    /// The last GUC parameter with this name (not `user`, `database`, `options`,
    /// `replication` or `_pq_.*`, which have their own fields).
    pub fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| p.value.as_slice())
    }
    /// Whether PostgreSQL would answer with NegotiateProtocolVersion: the client
    /// asked for a minor version above 3.2, or sent `_pq_.` options.
    pub fn needs_negotiation(&self) -> bool {
        self.version.minor > ProtocolVersion::LATEST.minor || !self.protocol_options.is_empty()
    }
    /// The version the session will speak: the requested one, capped at 3.2
    /// (PostgreSQL's `FrontendProtocol = Min(proto, PG_PROTOCOL_LATEST)`).
    pub fn negotiated_version(&self) -> ProtocolVersion {
        self.version.min(ProtocolVersion::LATEST)
    }
}

/// A CancelRequest: which backend, and the key that proves the right to cancel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CancelRequest {
    /// The target's process id (as announced in BackendKeyData).
    pub process_id: i32,
    /// The secret key: 4 bytes in protocol 3.0, 1..=256 bytes accepted.
    pub secret_key: Vec<u8>,
}

/// The first packet of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    /// SSLRequest: answer with [`super::encode_ssl_response`], then (on 'S') TLS.
    /// The caller must refuse a second one on the same connection (PostgreSQL
    /// then treats the code as protocol 1234.5679 and fails with
    /// [`ProtocolError::UnsupportedProtocol`]), and must check that no bytes
    /// arrived after it before the TLS handshake (CVE-2021-23214).
    SslRequest,
    /// GSSENCRequest: gatehouse answers 'N'. The same caller duties as SSLRequest.
    GssEncRequest,
    /// CancelRequest: nothing is ever sent back.
    CancelRequest(CancelRequest),
    /// StartupMessage.
    Startup(StartupMessage),
}

/// Parses the first packet of a connection (or the one after an SSLRequest or
/// GSSENCRequest was answered).
///
/// `Ok(None)`: incomplete, nothing consumed. Errors are reported as soon as the
/// bytes that decide them are in: the length word's range after 4 bytes; the
/// request code's length rule and an unsupported major version after 8; the
/// body's content once complete.
///
/// Stricter than PostgreSQL 18, on purpose: an SSLRequest/GSSENCRequest must be
/// exactly 8 bytes (PostgreSQL reads and ignores extra bytes); the last byte of
/// a StartupMessage must be the NUL terminator (PostgreSQL's check accepts any
/// single byte there, despite its message). Both leniencies were confirmed on a
/// PostgreSQL 15 server, whose code here is the same as 18's.
///
/// # Errors
/// [`ProtocolError::InvalidStartupPacketLength`],
/// [`ProtocolError::InvalidEncryptionRequestLength`],
/// [`ProtocolError::InvalidCancelRequestLength`],
/// [`ProtocolError::InvalidCancelKeyLength`],
/// [`ProtocolError::UnsupportedProtocol`], then for a StartupMessage in
/// PostgreSQL's order: [`ProtocolError::InvalidReplication`] (as met while
/// scanning), [`ProtocolError::InvalidStartupLayout`],
/// [`ProtocolError::MissingUser`].
pub fn parse_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtocolError> {
    let Some(len) = read_i32(buf, 0) else {
        return Ok(None);
    };
    let total = usize::try_from(len).unwrap_or(0);
    if !(MIN_STARTUP_PACKET_LENGTH..=MAX_STARTUP_PACKET_LENGTH + 4).contains(&total) {
        return Err(ProtocolError::InvalidStartupPacketLength { len });
    }
    let Some(code) = read_i32(buf, 4) else {
        return Ok(None);
    };
    let code = code as u32;
    match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE if total != 8 => {
            return Err(ProtocolError::InvalidEncryptionRequestLength { code, len });
        }
        CANCEL_REQUEST_CODE if total < 12 => {
            return Err(ProtocolError::InvalidCancelRequestLength { len });
        }
        CANCEL_REQUEST_CODE if total == 12 || total - 12 > MAX_CANCEL_KEY_LENGTH => {
            return Err(ProtocolError::InvalidCancelKeyLength {
                key_len: total - 12,
            });
        }
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE | CANCEL_REQUEST_CODE => {}
        _ => {
            let version = ProtocolVersion::from_code(code);
            if version.major != 3 {
                return Err(ProtocolError::UnsupportedProtocol {
                    major: version.major,
                    minor: version.minor,
                });
            }
        }
    }
    if buf.len() < total {
        return Ok(None);
    }
    let packet = match code {
        SSL_REQUEST_CODE => StartupPacket::SslRequest,
        GSSENC_REQUEST_CODE => StartupPacket::GssEncRequest,
        CANCEL_REQUEST_CODE => StartupPacket::CancelRequest(CancelRequest {
            process_id: read_i32(buf, 8).unwrap_or_default(),
            secret_key: buf[12..total].to_vec(),
        }),
        _ => StartupPacket::Startup(parse_startup_body(
            ProtocolVersion::from_code(code),
            &buf[8..total],
        )?),
    };
    let _ = buf.split_to(total);
    Ok(Some(packet))
}

/// The error to report when the connection ended with `buf` holding an
/// unfinished startup packet: none for an empty buffer (PostgreSQL does not log
/// connections that send nothing), [`ProtocolError::IncompleteStartupPacket`]
/// otherwise.
pub fn startup_eof(buf: &[u8]) -> Option<ProtocolError> {
    (!buf.is_empty()).then_some(ProtocolError::IncompleteStartupPacket {
        received: buf.len(),
    })
}

/// Scans the name/value pairs after the version, as `ProcessStartupPacket()`.
fn parse_startup_body(
    version: ProtocolVersion,
    body: &[u8],
) -> Result<StartupMessage, ProtocolError> {
    let mut user: Option<&[u8]> = None;
    let mut database: Option<&[u8]> = None;
    let mut msg = StartupMessage {
        version,
        user: Vec::new(),
        database: Vec::new(),
        options: None,
        replication: Replication::None,
        params: Vec::new(),
        protocol_options: Vec::new(),
    };
    let mut rest = body;
    loop {
        match rest {
            [0] => break,
            [] | [0, ..] => return Err(ProtocolError::InvalidStartupLayout),
            _ => {}
        }
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(ProtocolError::InvalidStartupLayout); // a name running off the end
        };
        let (name, after) = (&rest[..nul], &rest[nul + 1..]);
        if after.is_empty() {
            return Err(ProtocolError::InvalidStartupLayout); // a name without a value
        }
        // PostgreSQL NUL-terminates the buffer one past the end, so an
        // unterminated last value is still read (and `replication` checked)
        // before the layout error.
        let (value, next, terminated) = match after.iter().position(|&b| b == 0) {
            Some(n) => (&after[..n], &after[n + 1..], true),
            None => (after, &after[after.len()..], false),
        };
        match name {
            b"database" => database = Some(value),
            b"user" => user = Some(value),
            b"options" => msg.options = Some(value.to_vec()),
            b"replication" => msg.replication = parse_replication(value)?,
            _ => {
                let param = StartupParam {
                    name: name.to_vec(),
                    value: value.to_vec(),
                };
                if name.starts_with(b"_pq_.") {
                    msg.protocol_options.push(param);
                } else {
                    msg.params.push(param);
                }
            }
        }
        if !terminated {
            return Err(ProtocolError::InvalidStartupLayout);
        }
        rest = next;
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or(ProtocolError::MissingUser)?;
    let database = database.filter(|d| !d.is_empty()).unwrap_or(user);
    msg.user = user[..user.len().min(MAX_IDENTIFIER_BYTES)].to_vec();
    msg.database = database[..database.len().min(MAX_IDENTIFIER_BYTES)].to_vec();
    Ok(msg)
}

/// `replication`: exactly `database`, or what PostgreSQL's `parse_bool()`
/// accepts: case-insensitive prefixes of `true`/`false`/`yes`/`no`, `on`/`off`
/// with at least two letters (`of` counts), and `1`/`0`.
fn parse_replication(value: &[u8]) -> Result<Replication, ProtocolError> {
    if value == b"database" {
        return Ok(Replication::Logical);
    }
    match parse_bool(value) {
        Some(true) => Ok(Replication::Physical),
        Some(false) => Ok(Replication::None),
        None => Err(ProtocolError::InvalidReplication {
            value: value.to_vec(),
        }),
    }
}

/// PostgreSQL's `parse_bool_with_len()`.
fn parse_bool(value: &[u8]) -> Option<bool> {
    let is_prefix = |word: &[u8], min: usize| {
        value.len() >= min
            && value.len() <= word.len()
            && word[..value.len()].eq_ignore_ascii_case(value)
    };
    match value.first()?.to_ascii_lowercase() {
        b't' if is_prefix(b"true", 1) => Some(true),
        b'f' if is_prefix(b"false", 1) => Some(false),
        b'y' if is_prefix(b"yes", 1) => Some(true),
        b'n' if is_prefix(b"no", 1) => Some(false),
        b'o' if is_prefix(b"on", 2) => Some(true),
        b'o' if is_prefix(b"off", 2) => Some(false),
        b'1' if value.len() == 1 => Some(true),
        b'0' if value.len() == 1 => Some(false),
        _ => None,
    }
}

/// Appends a StartupMessage: `version`, then `params` exactly as given (in order,
/// `user` among them), then the terminator. For the upstream side and tests.
///
/// # Errors
/// [`EncodeError::Invalid`] for an empty name (it would read as the
/// terminator), [`EncodeError::EmbeddedNul`], [`EncodeError::TooLong`] beyond
/// PostgreSQL's 10,000-byte body.
pub fn encode_startup(
    version: ProtocolVersion,
    params: &[(&[u8], &[u8])],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let start = buf.len();
    put_length_prefixed(buf, start, |buf| {
        buf.put_u32(version.code());
        for (name, value) in params {
            if name.is_empty() {
                return Err(EncodeError::Invalid {
                    what: "empty startup parameter name",
                });
            }
            put_cstr(buf, name, "startup parameter name")?;
            put_cstr(buf, value, "startup parameter value")?;
        }
        buf.put_u8(0);
        if buf.len() - start > MAX_STARTUP_PACKET_LENGTH + 4 {
            return Err(EncodeError::TooLong {
                max: MAX_STARTUP_PACKET_LENGTH + 4,
            });
        }
        Ok(())
    })
}

/// Appends an SSLRequest: `00 00 00 08 04 d2 16 2f`.
pub fn encode_ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_u32(SSL_REQUEST_CODE);
}

/// Appends a GSSENCRequest: `00 00 00 08 04 d2 16 30`.
pub fn encode_gssenc_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_u32(GSSENC_REQUEST_CODE);
}

/// Appends a CancelRequest (length 12 + key length).
///
/// # Errors
/// [`EncodeError::Invalid`] unless the key is 1..=256 bytes (exactly 4 for a
/// protocol 3.0 server).
pub fn encode_cancel_request(
    process_id: i32,
    secret_key: &[u8],
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if secret_key.is_empty() || secret_key.len() > MAX_CANCEL_KEY_LENGTH {
        return Err(EncodeError::Invalid {
            what: "cancel key length",
        });
    }
    let start = buf.len();
    put_length_prefixed(buf, start, |buf| {
        buf.put_u32(CANCEL_REQUEST_CODE);
        buf.put_i32(process_id);
        buf.put_slice(secret_key);
        Ok(())
    })
}
