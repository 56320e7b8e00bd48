//! Percent-encoding as SigV4 wants it, and the strict decoding the verifier uses.
//!
//! Encoding (AWS "UriEncode", Python's `quote(s, safe='-_.~')`): every byte except
//! the unreserved `A-Z a-z 0-9 - _ . ~` becomes `%XX` with upper-case hex.
//!
//! Decoding is plain percent-decoding (`+` stays `+`; it is not a space), and it is
//! strict so that no two spellings of a token mean the same thing: an escape must be
//! `%` and two *upper-case* hex digits (every AWS SDK writes `%2F`, never `%2f`),
//! and raw spaces and control characters are refused. The decoded bytes must be
//! UTF-8.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether SigV4 keeps `b` as it is.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `s` URI-encoded to `out`.
pub(crate) fn uri_encode_into(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

/// `s` URI-encoded.
pub(crate) fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    uri_encode_into(s, &mut out);
    out
}

/// Why a parameter's text does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%` followed by lower-case hex digits.
    LowerHex,
    /// A raw space, control character or DEL.
    RawControl,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl DecodeError {
    /// What went wrong, for a `Malformed` detail.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            DecodeError::BadEscape => "a '%' not followed by two hex digits",
            DecodeError::LowerHex => {
                "a percent-escape with lower-case hex digits (SDKs write %2F, not %2f)"
            }
            DecodeError::RawControl => "a raw space or control character",
            DecodeError::NotUtf8 => "percent-escapes that do not decode to UTF-8",
        }
    }
}

fn upper_hex_value(b: u8) -> Result<u8, DecodeError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        b'a'..=b'f' => Err(DecodeError::LowerHex),
        _ => Err(DecodeError::BadEscape),
    }
}

/// Percent-decodes `s` strictly (see the module documentation).
pub(crate) fn percent_decode(s: &str) -> Result<String, DecodeError> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        if b.iter().any(|&c| c <= b' ' || c == 0x7F) {
            return Err(DecodeError::RawControl);
        }
        return Ok(s.to_owned());
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
                return Err(DecodeError::BadEscape);
            };
            // A bad character anywhere in the escape is "bad escape", even if the
            // other digit is lower-case hex.
            let (hi, lo) = (upper_hex_value(h), upper_hex_value(l));
            if hi == Err(DecodeError::BadEscape) || lo == Err(DecodeError::BadEscape) {
                return Err(DecodeError::BadEscape);
            }
            out.push((hi? << 4) | lo?);
            i += 3;
        } else if c <= b' ' || c == 0x7F {
            return Err(DecodeError::RawControl);
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_botocore() {
        // botocore: percent_encode('app user+1@x/é') (checked with botocore 1.44).
        assert_eq!(uri_encode("app user+1@x/é"), "app%20user%2B1%40x%2F%C3%A9");
        assert_eq!(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(uri_encode("a=b&c%"), "a%3Db%26c%25");
    }

    #[test]
    fn decodes_strictly() {
        assert_eq!(
            percent_decode("app%20user%2B1%40x%2F%C3%A9").as_deref(),
            Ok("app user+1@x/é")
        );
        assert_eq!(percent_decode("a+b").as_deref(), Ok("a+b"));
        assert_eq!(percent_decode("a@b/c").as_deref(), Ok("a@b/c"));
        assert_eq!(percent_decode("%2f"), Err(DecodeError::LowerHex));
        assert_eq!(percent_decode("%2"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%G0"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%aZ"), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("a b"), Err(DecodeError::RawControl));
        assert_eq!(percent_decode("a\tb%20"), Err(DecodeError::RawControl));
        assert_eq!(percent_decode("%C3"), Err(DecodeError::NotUtf8));
        assert_eq!(percent_decode("%FF%FE"), Err(DecodeError::NotUtf8));
    }
}
