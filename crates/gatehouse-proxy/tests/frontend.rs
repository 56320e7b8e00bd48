//! Typed client messages of the auth phase: framing, limits, and the body
//! helpers with PostgreSQL's errors.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::*;
use gatehouse_proxy::protocol::*;

fn parse_err(bytes: &[u8]) -> ProtocolError {
    let mut b = buf(bytes);
    let err = parse_message(&mut b).unwrap_err();
    assert_eq!(&b[..], bytes, "an error must leave the buffer untouched");
    err
}

#[test]
fn password_message_is_byte_exact() {
    let bytes = hex("70 00 00 00 0b 73 65 63 72 65 74 00");
    let mut out = BytesMut::new();
    encode_password(b"secret", &mut out).unwrap();
    assert_eq!(&out[..], &bytes[..]);
    let mut b = buf(&bytes);
    let Some(FrontendMessage::AuthResponse(body)) = parse_message(&mut b).unwrap() else {
        panic!("not an auth response");
    };
    assert!(b.is_empty());
    assert_eq!(&body[..], b"secret\0");
    assert_eq!(password_from(&body).unwrap(), b"secret");
    assert_prefixes_incomplete(&bytes, parse_message);
}

#[test]
fn terminate_is_byte_exact() {
    let bytes = hex("58 00 00 00 04");
    let mut out = BytesMut::new();
    encode_terminate(&mut out);
    assert_eq!(&out[..], &bytes[..]);
    assert_eq!(
        parse_message(&mut buf(&bytes)).unwrap(),
        Some(FrontendMessage::Terminate)
    );
    assert_prefixes_incomplete(&bytes, parse_message);
}

#[test]
fn terminate_with_a_body_is_refused() {
    let err = parse_err(&hex("58 00 00 00 05 00"));
    assert!(matches!(err, ProtocolError::InvalidMessageFormat { .. }));
    assert_eq!(err.client_message(), "invalid message format");
    // As soon as the length word is in.
    assert!(matches!(
        parse_err(&hex("58 00 00 00 05")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
}

#[test]
fn unknown_types_are_refused_on_the_first_byte() {
    for tag in [b'Q', b'E', 0u8, 0xff, b'x', b'P'] {
        let err = parse_err(&[tag]);
        assert_eq!(err, ProtocolError::UnexpectedFrontendMessage { tag });
        assert_eq!(
            err.client_message(),
            format!("invalid frontend message type {tag}")
        );
        assert_eq!(err.sqlstate(), "08P01");
        assert!(err.sent_to_client());
    }
}

#[test]
fn length_words_below_4_or_above_the_limit() {
    for len in [
        "00 00 00 00",
        "00 00 00 03",
        "ff ff ff ff",
        "80 00 00 00",
        "7f ff ff ff",
        "00 10 00 01",
    ] {
        let err = parse_err(&hex(&format!("70 {len}")));
        assert!(
            matches!(err, ProtocolError::InvalidMessageLength { .. }),
            "{len}"
        );
        assert_eq!(err.client_message(), "invalid message length");
        assert!(!err.sent_to_client());
    }
    // The default limit is 1 MiB (length word 1,048,576 is fine, incomplete).
    assert_eq!(
        parse_message(&mut buf(&hex("70 00 10 00 00"))).unwrap(),
        None
    );
    // PostgreSQL's own limit for auth tokens.
    let mut b = buf(&hex("70 00 01 00 00"));
    assert!(matches!(
        parse_message_limited(&mut b, PG_MAX_AUTH_TOKEN_LENGTH),
        Err(ProtocolError::InvalidMessageLength {
            len: 65_536,
            max: 65_535
        })
    ));
    let mut b = buf(&hex("70 00 00 ff ff"));
    assert_eq!(
        parse_message_limited(&mut b, PG_MAX_AUTH_TOKEN_LENGTH).unwrap(),
        None
    );
}

#[test]
fn an_empty_body_and_consecutive_messages() {
    let mut bytes = hex("70 00 00 00 04");
    bytes.extend_from_slice(&hex("58 00 00 00 04 70"));
    let mut b = buf(&bytes);
    let Some(FrontendMessage::AuthResponse(body)) = parse_message(&mut b).unwrap() else {
        panic!("expected 'p'");
    };
    assert!(body.is_empty());
    assert_eq!(
        parse_message(&mut b).unwrap(),
        Some(FrontendMessage::Terminate)
    );
    assert_eq!(parse_message(&mut b).unwrap(), None);
    assert_eq!(&b[..], b"p");
}

#[test]
fn password_body_errors_are_postgresqls() {
    for body in [&b""[..], b"secret", b"a\0b", b"a\0\0", b"\0\0"] {
        let err = password_from(body).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidPasswordPacketSize, "{body:?}");
        assert_eq!(err.client_message(), "invalid password packet size");
        assert_eq!(err.sqlstate(), "08P01");
    }
    let err = password_from(b"\0").unwrap_err();
    assert_eq!(err, ProtocolError::EmptyPassword);
    assert_eq!(err.client_message(), "empty password returned by client");
    assert_eq!(err.sqlstate(), "28P01");
    assert_eq!(password_from(b"md5abc\0").unwrap(), b"md5abc");
    assert_eq!(password_from(b"\xff\0").unwrap(), b"\xff");
}

#[test]
fn sasl_initial_response_is_byte_exact() {
    let data = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO";
    let mut expected = vec![b'p'];
    expected.extend_from_slice(&((4 + 14 + 4 + data.len()) as i32).to_be_bytes());
    expected.extend_from_slice(b"SCRAM-SHA-256\0");
    expected.extend_from_slice(&(data.len() as i32).to_be_bytes());
    expected.extend_from_slice(data);
    let mut out = BytesMut::new();
    encode_sasl_initial_response(b"SCRAM-SHA-256", Some(data), &mut out).unwrap();
    assert_eq!(&out[..], &expected[..]);
    let Some(FrontendMessage::AuthResponse(body)) = parse_message(&mut out).unwrap() else {
        panic!("expected 'p'");
    };
    let r = sasl_initial_response(&body).unwrap();
    assert_eq!(r.mechanism, b"SCRAM-SHA-256");
    assert_eq!(r.data, Some(&data[..]));
}

#[test]
fn sasl_initial_response_without_data() {
    let mut out = BytesMut::new();
    encode_sasl_initial_response(b"SCRAM-SHA-256-PLUS", None, &mut out).unwrap();
    assert_eq!(&out[out.len() - 4..], &hex("ff ff ff ff")[..]);
    let r = sasl_initial_response(&out[5..]).unwrap();
    assert_eq!((r.mechanism, r.data), (&b"SCRAM-SHA-256-PLUS"[..], None));
    // Length 0 is empty data, not none.
    let r = sasl_initial_response(b"M\0\0\0\0\0").unwrap();
    assert_eq!(r.data, Some(&b""[..]));
}

#[test]
fn sasl_initial_response_errors_are_postgresqls() {
    let cases: [(&[u8], ProtocolError, &str); 7] = [
        (
            b"SCRAM-SHA-256",
            ProtocolError::InvalidString,
            "invalid string in message",
        ),
        (
            b"",
            ProtocolError::InvalidString,
            "invalid string in message",
        ),
        (
            b"M\0\0\0",
            ProtocolError::InsufficientData,
            "insufficient data left in message",
        ),
        (
            b"M\0\0\0\0\x05abcd",
            ProtocolError::InsufficientData,
            "insufficient data left in message",
        ),
        (
            b"M\0\xff\xff\xff\xfe",
            ProtocolError::InsufficientData,
            "insufficient data left in message",
        ),
        (
            b"M\0\x80\0\0\0abc",
            ProtocolError::InsufficientData,
            "insufficient data left in message",
        ),
        (
            b"M\0\0\0\0\x01ab",
            ProtocolError::InvalidMessageFormat {
                reason: "bytes after the SASL initial response",
            },
            "invalid message format",
        ),
    ];
    for (body, err, text) in cases {
        let got = sasl_initial_response(body).unwrap_err();
        assert_eq!(got, err, "{body:?}");
        assert_eq!(got.client_message(), text);
        assert_eq!(got.sqlstate(), "08P01");
    }
    // -1 followed by bytes.
    assert!(matches!(
        sasl_initial_response(b"M\0\xff\xff\xff\xffx"),
        Err(ProtocolError::InvalidMessageFormat { .. })
    ));
}

#[test]
fn sasl_response_is_the_raw_body() {
    let mut out = BytesMut::new();
    encode_sasl_response(b"c=biws,r=abc,p=xyz", &mut out).unwrap();
    assert_eq!(&out[..5], &hex("70 00 00 00 16")[..]);
    let Some(FrontendMessage::AuthResponse(body)) = parse_message(&mut out).unwrap() else {
        panic!("expected 'p'");
    };
    assert_eq!(&body[..], b"c=biws,r=abc,p=xyz");
}

#[test]
fn encoders_refuse_embedded_nuls_and_write_nothing() {
    let mut out = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encode_password(b"se\0cret", &mut out).unwrap_err(),
        EncodeError::EmbeddedNul { what: "password" }
    );
    assert!(encode_sasl_initial_response(b"SC\0RAM", None, &mut out).is_err());
    assert_eq!(&out[..], b"keep");
}

#[test]
fn query_encoding() {
    let mut buf = BytesMut::new();
    encode_query(b"DISCARD ALL", &mut buf).expect("encode");
    assert_eq!(&buf[..], b"Q\0\0\0\x10DISCARD ALL\0");
    assert!(encode_query(b"a\0b", &mut buf).is_err());
    assert_eq!(buf.len(), 17, "a refused encoding writes nothing");
}
