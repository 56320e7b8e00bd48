//! Helpers shared by the protocol tests.
#![allow(dead_code)]

use bytes::BytesMut;

/// Bytes from hex digits, spaces ignored: `hex("00 00 00 08")`.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// A buffer holding `bytes`.
pub fn buf(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}

/// A StartupMessage packet built by hand: length, version code, the raw body.
pub fn startup_raw(code: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((8 + body.len()) as i32).to_be_bytes());
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Asserts that every proper prefix of `packet` parses as incomplete and leaves
/// the buffer as it was.
pub fn assert_prefixes_incomplete<T: std::fmt::Debug, E: std::fmt::Debug>(
    packet: &[u8],
    parse: impl Fn(&mut BytesMut) -> Result<Option<T>, E>,
) {
    for n in 0..packet.len() {
        let mut b = buf(&packet[..n]);
        let r = parse(&mut b);
        assert!(
            matches!(r, Ok(None)),
            "prefix of {n} bytes: {r:?} (packet {packet:02x?})"
        );
        assert_eq!(&b[..], &packet[..n], "prefix of {n} bytes was consumed");
    }
}
