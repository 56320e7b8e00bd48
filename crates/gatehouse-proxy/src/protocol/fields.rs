//! The fields of ErrorResponse ('E') and NoticeResponse ('N'): a list of
//! `(Byte1 code, String value)` pairs ended by a zero byte. Codes used here:
//! `S` localized severity, `V` non-localized severity, `C` SQLSTATE, `M` primary
//! message, `D` detail, `H` hint (PostgreSQL also sends `P`, `F`, `L`, `R` and
//! others; the decoder keeps whatever arrives, in order).

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::error::{EncodeError, ProtocolError};
use super::wire::{put_cstr, split_cstr};

/// Message severities PostgreSQL sends in `S` and `V`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `ERROR` (ErrorResponse).
    Error,
    /// `FATAL` (ErrorResponse; the connection ends).
    Fatal,
    /// `PANIC` (ErrorResponse).
    Panic,
    /// `WARNING` (NoticeResponse).
    Warning,
    /// `NOTICE` (NoticeResponse).
    Notice,
    /// `DEBUG` (NoticeResponse).
    Debug,
    /// `INFO` (NoticeResponse).
    Info,
    /// `LOG` (NoticeResponse).
    Log,
}

impl Severity {
    /// The English, non-localized spelling (`"FATAL"`, …) as in the `V` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
            Self::Panic => "PANIC",
            Self::Warning => "WARNING",
            Self::Notice => "NOTICE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Log => "LOG",
        }
    }
}

/// One field: its code byte (never 0) and its value (never containing NUL when
/// it came from the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorField {
    /// The field type byte, e.g. `b'M'`.
    pub code: u8,
    /// The value bytes, without the terminating NUL.
    pub value: Vec<u8>,
}

/// The fields of one ErrorResponse or NoticeResponse, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFields {
    /// The fields as sent or received, in order.
    pub fields: Vec<ErrorField>,
}

impl ErrorFields {
    /// `S` and `V` (both the English severity, as gatehouse does not localize),
    /// `C` and `M`, in PostgreSQL's order. `sqlstate` is the five-character code.
    pub fn new(severity: Severity, sqlstate: &str, message: impl Into<Cow<'static, str>>) -> Self {
        let s = severity.as_str().as_bytes();
        let message: Cow<'static, str> = message.into();
        Self {
            fields: vec![
                ErrorField {
                    code: b'S',
                    value: s.to_vec(),
                },
                ErrorField {
                    code: b'V',
                    value: s.to_vec(),
                },
                ErrorField {
                    code: b'C',
                    value: sqlstate.as_bytes().to_vec(),
                },
                ErrorField {
                    code: b'M',
                    value: message.as_bytes().to_vec(),
                },
            ],
        }
    }

    /// Adds a `D` (detail) field.
    pub fn with_detail(mut self, detail: impl AsRef<[u8]>) -> Self {
        self.push(b'D', detail);
        self
    }

    /// Adds an `H` (hint) field.
    pub fn with_hint(mut self, hint: impl AsRef<[u8]>) -> Self {
        self.push(b'H', hint);
        self
    }

    /// Appends any field.
    pub fn push(&mut self, code: u8, value: impl AsRef<[u8]>) {
        self.fields.push(ErrorField {
            code,
            value: value.as_ref().to_vec(),
        });
    }

    /// The value of the last field with this code.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.fields
            .iter()
            .rev()
            .find(|f| f.code == code)
            .map(|f| f.value.as_slice())
    }

    /// `get(code)` as text, invalid UTF-8 replaced by U+FFFD.
    pub fn get_lossy(&self, code: u8) -> Option<Cow<'_, str>> {
        self.get(code).map(String::from_utf8_lossy)
    }

    /// The SQLSTATE (`C`), lossy.
    pub fn sqlstate(&self) -> Option<Cow<'_, str>> {
        self.get_lossy(b'C')
    }

    /// The primary message (`M`), lossy.
    pub fn message(&self) -> Option<Cow<'_, str>> {
        self.get_lossy(b'M')
    }

    /// Writes the field list and its terminating zero byte (the body of 'E'/'N').
    pub(crate) fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        for f in &self.fields {
            if f.code == 0 {
                return Err(EncodeError::Invalid {
                    what: "error field code 0",
                });
            }
            buf.put_u8(f.code);
            put_cstr(buf, &f.value, "error field value")?;
        }
        buf.put_u8(0);
        Ok(())
    }

    /// Reads a field list that must end with its zero byte at the body's end.
    pub(crate) fn decode_body(mut body: &[u8]) -> Result<Self, ProtocolError> {
        let mut fields = Vec::new();
        loop {
            match body.split_first() {
                None => return Err(ProtocolError::InsufficientData),
                Some((0, [])) => return Ok(Self { fields }),
                Some((0, _)) => {
                    return Err(ProtocolError::InvalidMessageFormat {
                        reason: "bytes after the field list's terminator",
                    })
                }
                Some((&code, rest)) => {
                    let (value, rest) = split_cstr(rest).ok_or(ProtocolError::InvalidString)?;
                    fields.push(ErrorField {
                        code,
                        value: value.to_vec(),
                    });
                    body = rest;
                }
            }
        }
    }
}
