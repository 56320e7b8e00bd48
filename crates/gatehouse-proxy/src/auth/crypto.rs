//! The primitives shared by the secret formats and both SCRAM sides: PostgreSQL's
//! base64 decoder, SASLprep as `pg_saslprep` applies it, the SCRAM key schedule
//! (RFC 5802 section 3), MD5 password hashing, and constant-time comparison.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Length of SHA-256 output, and so of every SCRAM-SHA-256 key, proof and signature.
pub(crate) const KEY_LEN: usize = 32;

/// A SCRAM-SHA-256 key (ClientKey, StoredKey, ServerKey, proofs and signatures).
pub(crate) type Key = [u8; KEY_LEN];

/// Raw bytes behind a generated nonce (PostgreSQL's `SCRAM_RAW_NONCE_LEN`), 24
/// characters once base64-encoded.
pub(crate) const RAW_NONCE_LEN: usize = 18;

/// Standard base64 with padding, as `pg_b64_encode` writes it.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64 with the rules of PostgreSQL's `pg_b64_decode`: the standard
/// alphabet, no whitespace, the length a multiple of four, `=` allowed only as the
/// third or fourth character of a group. Like PostgreSQL it tolerates non-zero
/// trailing bits and characters after the first padding group (each later group
/// then contributes as many bytes as the first padded one). `None` when
/// PostgreSQL returns -1.
pub(crate) fn pg_b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut pos = 0u8;
    // 0: no padding seen; 1: "==" group (one byte); 2: "=" group (two bytes).
    let mut end = 0u8;
    for &c in text {
        let sextet = match c {
            b'=' => {
                if end == 0 {
                    end = match pos {
                        2 => 1,
                        3 => 2,
                        _ => return None,
                    };
                }
                0
            }
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        pos += 1;
        if pos == 4 {
            let [_, b0, b1, b2] = acc.to_be_bytes();
            out.push(b0);
            if end != 1 {
                out.push(b1);
            }
            if end == 0 {
                out.push(b2);
            }
            acc = 0;
            pos = 0;
        }
    }
    (pos == 0).then_some(out)
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes exactly 32 lowercase hex digits (PostgreSQL's `MD5_PASSWD_CHARSET`).
pub(crate) fn md5_hex_decode(text: &[u8]) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// MD5 of the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 (SCRAM's `H`).
pub(crate) fn sha256(data: &[u8]) -> Key {
    Sha256::digest(data).into()
}

/// HMAC-SHA-256 of the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> Key {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `SaltedPassword := Hi(Normalize(password), salt, i)`; `password` must already be
/// SASLprep'ed ([`pg_saslprep`]). An iteration count of 0 counts as 1, as in
/// PostgreSQL's `scram_SaltedPassword`, whose loop then runs no extra round.
pub(crate) fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    let mut out = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations.max(1), &mut out);
    out
}

/// `ClientKey := HMAC(SaltedPassword, "Client Key")`.
pub(crate) fn client_key(salted: &Key) -> Key {
    hmac(salted, &[b"Client Key"])
}

/// `ServerKey := HMAC(SaltedPassword, "Server Key")`.
pub(crate) fn server_key(salted: &Key) -> Key {
    hmac(salted, &[b"Server Key"])
}

/// Byte-wise XOR of two keys (proof from key and signature, or back).
pub(crate) fn xor(a: &Key, b: &Key) -> Key {
    let mut out = [0u8; KEY_LEN];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// Constant-time equality; slices of different lengths are unequal (their lengths
/// are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// `n` bytes from the operating system's generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut out);
    out
}

/// SASLprep (RFC 4013) the way PostgreSQL's `pg_saslprep` applies it, with its
/// fallback: when the password is not valid UTF-8, maps to nothing, or contains a
/// prohibited or unassigned code point or bad bidirectional text, the raw bytes are
/// used unchanged.
///
/// Steps as in `src/common/saslprep.c`: pure ASCII is returned as is (control
/// characters included); otherwise non-ASCII spaces map to U+0020 and the
/// "commonly mapped to nothing" characters are dropped; an empty result fails; the
/// prohibited/unassigned and bidi checks look at the *mapped* characters (before
/// normalization, as PostgreSQL does — this differs from RFC 4013 for U+0340 and
/// U+0341, which NFKC would turn into allowed characters); the result is the NFKC
/// form. The NFKC step is the `stringprep` crate's, which checks its output once
/// more; if that second check fails (no known case) the raw bytes are used.
pub(crate) fn pg_saslprep(password: &[u8]) -> Cow<'_, [u8]> {
    use stringprep::tables as t;

    if password.is_ascii() {
        return Cow::Borrowed(password);
    }
    let Ok(text) = std::str::from_utf8(password) else {
        return Cow::Borrowed(password);
    };
    let mapped: Vec<char> = text
        .chars()
        .filter(|&c| !t::commonly_mapped_to_nothing(c))
        .map(|c| {
            if t::non_ascii_space_character(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let (Some(&first), Some(&last)) = (mapped.first(), mapped.last()) else {
        return Cow::Borrowed(password);
    };
    let prohibited = |c: char| {
        t::non_ascii_space_character(c)
            || t::ascii_control_character(c)
            || t::non_ascii_control_character(c)
            || t::private_use(c)
            || t::non_character_code_point(c)
            || t::surrogate_code(c)
            || t::inappropriate_for_plain_text(c)
            || t::inappropriate_for_canonical_representation(c)
            || t::change_display_properties_or_deprecated(c)
            || t::tagging_character(c)
            || t::unassigned_code_point(c)
    };
    if mapped.iter().any(|&c| prohibited(c)) {
        return Cow::Borrowed(password);
    }
    if mapped.iter().any(|&c| t::bidi_r_or_al(c))
        && (mapped.iter().any(|&c| t::bidi_l(c))
            || !t::bidi_r_or_al(first)
            || !t::bidi_r_or_al(last))
    {
        return Cow::Borrowed(password);
    }
    let mapped: String = mapped.into_iter().collect();
    match stringprep::saslprep(&mapped) {
        Ok(normalized) => Cow::Owned(normalized.into_owned().into_bytes()),
        Err(_) => Cow::Borrowed(password),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pg_b64_decode_follows_postgres() {
        assert_eq!(pg_b64_decode(b"").unwrap(), b"");
        assert_eq!(pg_b64_decode(b"biws").unwrap(), b"n,,");
        assert_eq!(pg_b64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(pg_b64_decode(b"YWI=").unwrap(), b"ab");
        // Non-zero trailing bits are tolerated.
        assert_eq!(pg_b64_decode(b"YR==").unwrap(), b"a");
        // After "==" every later group yields one byte, as in pg_b64_decode.
        assert_eq!(pg_b64_decode(b"YQ==YWJj").unwrap(), b"aa");
        for bad in [
            &b"YQ"[..],
            b"Y===",
            b"====",
            b"YW J",
            b"YWJ\n",
            b"YW-_",
            b"\xffxyz",
        ] {
            assert_eq!(pg_b64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_round_trip() {
        let d = md5(&[b"abc"]);
        assert_eq!(hex(&d), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_hex_decode(hex(&d).as_bytes()), Some(d));
        assert_eq!(md5_hex_decode(b"900150983CD24FB0D6963F7D28E17F72"), None);
    }

    #[test]
    fn saslprep_as_postgres() {
        // ASCII, control characters included, is left alone.
        assert_eq!(&*pg_saslprep(b"pencil"), b"pencil");
        assert_eq!(&*pg_saslprep(b"a\x01b"), b"a\x01b");
        // Invalid UTF-8: raw bytes.
        assert_eq!(&*pg_saslprep(b"\xff\xfe"), b"\xff\xfe");
        // Non-ASCII space maps to space; soft hyphen maps to nothing; NFKC.
        assert_eq!(&*pg_saslprep("a\u{00A0}b".as_bytes()), b"a b");
        assert_eq!(&*pg_saslprep("pa\u{00AD}ss".as_bytes()), b"pass");
        assert_eq!(&*pg_saslprep("\u{2168}".as_bytes()), b"IX");
        // Maps to nothing at all: raw bytes (PostgreSQL refuses empty passwords).
        assert_eq!(&*pg_saslprep("\u{00AD}".as_bytes()), "\u{00AD}".as_bytes());
        // Prohibited before normalization (U+0341 is C.8): raw bytes, although
        // NFKC would make it U+0301.
        assert_eq!(
            &*pg_saslprep("a\u{0341}".as_bytes()),
            "a\u{0341}".as_bytes()
        );
        // Private use: raw.
        assert_eq!(
            &*pg_saslprep("\u{E000}x".as_bytes()),
            "\u{E000}x".as_bytes()
        );
        // Bidi: RandALCat must not be mixed with LCat.
        assert_eq!(
            &*pg_saslprep("\u{05D0}a".as_bytes()),
            "\u{05D0}a".as_bytes()
        );
        assert_eq!(
            &*pg_saslprep("\u{05D0}\u{05D1}".as_bytes()),
            "\u{05D0}\u{05D1}".as_bytes()
        );
    }
}
