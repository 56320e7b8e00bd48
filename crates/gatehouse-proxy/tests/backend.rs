//! Server messages: byte-exact encodings, decoding them back, and the decoder's
//! error paths.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use gatehouse_proxy::protocol::*;

/// Encodes with `f`, checks the bytes, decodes them back to `msg`, and checks
/// every prefix is incomplete.
fn exact(f: impl FnOnce(&mut BytesMut), bytes: &str, msg: BackendMessage) {
    let mut out = BytesMut::new();
    f(&mut out);
    assert_eq!(&out[..], &hex(bytes)[..], "{msg:?}");
    let all = out.to_vec();
    assert_eq!(parse_backend(&mut out).unwrap(), Some(msg));
    assert!(out.is_empty());
    assert_prefixes_incomplete(&all, parse_backend);
}

fn backend_err(bytes: &[u8]) -> ProtocolError {
    let mut b = buf(bytes);
    let err = parse_backend(&mut b).unwrap_err();
    assert_eq!(&b[..], bytes, "an error must leave the buffer untouched");
    err
}

#[test]
fn authentication_requests() {
    use Authentication as A;
    exact(
        encode_auth_ok,
        "52 00 00 00 08 00 00 00 00",
        BackendMessage::Authentication(A::Ok),
    );
    exact(
        encode_auth_cleartext_password,
        "52 00 00 00 08 00 00 00 03",
        BackendMessage::Authentication(A::CleartextPassword),
    );
    exact(
        |b| encode_auth_md5_password([1, 2, 3, 4], b),
        "52 00 00 00 0c 00 00 00 05 01 02 03 04",
        BackendMessage::Authentication(A::Md5Password { salt: [1, 2, 3, 4] }),
    );
    exact(
        |b| encode_auth_sasl(&[b"SCRAM-SHA-256-PLUS", b"SCRAM-SHA-256"], b).unwrap(),
        "52 00 00 00 2a 00 00 00 0a \
         53 43 52 41 4d 2d 53 48 41 2d 32 35 36 2d 50 4c 55 53 00 \
         53 43 52 41 4d 2d 53 48 41 2d 32 35 36 00 00",
        BackendMessage::Authentication(A::Sasl {
            mechanisms: vec![b"SCRAM-SHA-256-PLUS".to_vec(), b"SCRAM-SHA-256".to_vec()],
        }),
    );
    exact(
        |b| encode_auth_sasl_continue(b"r=ab,s=cd,i=4096", b).unwrap(),
        "52 00 00 00 18 00 00 00 0b 72 3d 61 62 2c 73 3d 63 64 2c 69 3d 34 30 39 36",
        BackendMessage::Authentication(A::SaslContinue(Bytes::from_static(b"r=ab,s=cd,i=4096"))),
    );
    exact(
        |b| encode_auth_sasl_final(b"v=xyz", b).unwrap(),
        "52 00 00 00 0d 00 00 00 0c 76 3d 78 79 7a",
        BackendMessage::Authentication(A::SaslFinal(Bytes::from_static(b"v=xyz"))),
    );
}

#[test]
fn other_authentication_codes_are_recognised_but_unknown_ones_refused() {
    let mut b = buf(&hex("52 00 00 00 08 00 00 00 07"));
    assert_eq!(
        parse_backend(&mut b).unwrap(),
        Some(BackendMessage::Authentication(Authentication::Other {
            code: 7,
            data: Bytes::new()
        }))
    );
    for bytes in [
        "52 00 00 00 08 00 00 00 63",                // code 99
        "52 00 00 00 09 00 00 00 00 00",             // Ok with a body
        "52 00 00 00 0d 00 00 00 05 01 02 03 04 05", // salt too long
    ] {
        assert!(
            matches!(
                backend_err(&hex(bytes)),
                ProtocolError::InvalidMessageFormat { .. }
            ),
            "{bytes}"
        );
    }
    assert_eq!(
        backend_err(&hex("52 00 00 00 0b 00 00 00 05 01 02 03")),
        ProtocolError::InsufficientData
    );
    assert_eq!(
        backend_err(&hex("52 00 00 00 06 00 00")),
        ProtocolError::InsufficientData
    );
    // SASL list without its final empty string.
    assert_eq!(
        backend_err(&hex("52 00 00 00 0a 00 00 00 0a 41 00")),
        ProtocolError::InvalidString
    );
}

#[test]
fn parameter_status_key_data_ready_for_query() {
    exact(
        |b| encode_parameter_status(b"server_version", b"18.0", b).unwrap(),
        "53 00 00 00 18 73 65 72 76 65 72 5f 76 65 72 73 69 6f 6e 00 31 38 2e 30 00",
        BackendMessage::ParameterStatus {
            name: b"server_version".to_vec(),
            value: b"18.0".to_vec(),
        },
    );
    exact(
        |b| encode_backend_key_data(4242, &hex("01 02 03 04"), b).unwrap(),
        "4b 00 00 00 0c 00 00 10 92 01 02 03 04",
        BackendMessage::BackendKeyData {
            process_id: 4242,
            secret_key: hex("01 02 03 04"),
        },
    );
    let key: Vec<u8> = (0..32).collect();
    let mut out = BytesMut::new();
    encode_backend_key_data(1, &key, &mut out).unwrap();
    assert_eq!(&out[..5], &hex("4b 00 00 00 28")[..]);
    assert_eq!(
        parse_backend(&mut out).unwrap(),
        Some(BackendMessage::BackendKeyData {
            process_id: 1,
            secret_key: key
        })
    );
    for bad in [&[0u8; 3][..], &[0; 257], &[]] {
        assert!(encode_backend_key_data(1, bad, &mut out).is_err());
    }
    assert!(out.is_empty());
    for (status, byte) in [
        (TransactionStatus::Idle, "49"),
        (TransactionStatus::InTransaction, "54"),
        (TransactionStatus::Failed, "45"),
    ] {
        exact(
            |b| encode_ready_for_query(status, b),
            &format!("5a 00 00 00 05 {byte}"),
            BackendMessage::ReadyForQuery(status),
        );
    }
    assert!(matches!(
        backend_err(&hex("5a 00 00 00 05 58")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
    assert_eq!(
        backend_err(&hex("5a 00 00 00 04")),
        ProtocolError::InsufficientData
    );
    assert!(matches!(
        backend_err(&hex("4b 00 00 00 08 00 00 00 01")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
    assert!(matches!(
        backend_err(&hex("53 00 00 00 09 61 00 62 00 63")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
    assert_eq!(
        backend_err(&hex("53 00 00 00 07 61 00 62")),
        ProtocolError::InvalidString
    );
}

#[test]
fn negotiate_protocol_version_sends_the_full_version_code() {
    exact(
        |b| encode_negotiate_protocol_version(ProtocolVersion::V3_2, &[b"_pq_.foo"], b).unwrap(),
        "76 00 00 00 15 00 03 00 02 00 00 00 01 5f 70 71 5f 2e 66 6f 6f 00",
        BackendMessage::NegotiateProtocolVersion {
            version: ProtocolVersion::V3_2,
            unrecognized: vec![b"_pq_.foo".to_vec()],
        },
    );
    exact(
        |b| encode_negotiate_protocol_version(ProtocolVersion::V3_0, &[], b).unwrap(),
        "76 00 00 00 0c 00 03 00 00 00 00 00 00",
        BackendMessage::NegotiateProtocolVersion {
            version: ProtocolVersion::V3_0,
            unrecognized: vec![],
        },
    );
    // Count larger than the names present, negative, or names left over.
    assert_eq!(
        backend_err(&hex("76 00 00 00 0c 00 03 00 00 00 00 00 01")),
        ProtocolError::InvalidString
    );
    assert_eq!(
        backend_err(&hex("76 00 00 00 0c 00 03 00 00 ff ff ff ff")),
        ProtocolError::InsufficientData
    );
    assert!(matches!(
        backend_err(&hex("76 00 00 00 0e 00 03 00 00 00 00 00 00 61 00")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
}

#[test]
fn error_response_with_only_the_present_fields() {
    let fields = ErrorFields::new(
        Severity::Fatal,
        "28P01",
        "password authentication failed for user \"bob\"",
    );
    let mut expected = vec![b'E', 0, 0, 0, 0];
    for (code, value) in [
        (b'S', &b"FATAL"[..]),
        (b'V', b"FATAL"),
        (b'C', b"28P01"),
        (b'M', b"password authentication failed for user \"bob\""),
    ] {
        expected.push(code);
        expected.extend_from_slice(value);
        expected.push(0);
    }
    expected.push(0);
    let len = (expected.len() - 1) as i32;
    expected[1..5].copy_from_slice(&len.to_be_bytes());
    let mut out = BytesMut::new();
    encode_error_response(&fields, &mut out).unwrap();
    assert_eq!(&out[..], &expected[..]);
    assert_prefixes_incomplete(&expected, parse_backend);
    assert_eq!(
        parse_backend(&mut out).unwrap(),
        Some(BackendMessage::ErrorResponse(fields))
    );
}

#[test]
fn detail_and_hint_in_postgresqls_order_and_notice_response() {
    let fields = ErrorFields::new(Severity::Warning, "01000", "m")
        .with_detail("d")
        .with_hint("h");
    let mut out = BytesMut::new();
    encode_notice_response(&fields, &mut out).unwrap();
    assert_eq!(
        &out[..],
        &hex("4e 00 00 00 27 53 57 41 52 4e 49 4e 47 00 56 57 41 52 4e 49 4e 47 00 43 30 31 30 30 30 00 4d 6d 00 44 64 00 48 68 00 00")[..]
    );
    let Some(BackendMessage::NoticeResponse(back)) = parse_backend(&mut out).unwrap() else {
        panic!("expected a notice");
    };
    assert_eq!(back.get(b'D'), Some(&b"d"[..]));
    assert_eq!(back.get_lossy(b'H').as_deref(), Some("h"));
    assert_eq!(back.message().as_deref(), Some("m"));
    assert_eq!(back, fields);
}

#[test]
fn error_response_decoding_errors_and_unknown_fields() {
    // Fields PostgreSQL adds (P, F, L, R) are kept in order.
    let mut b = buf(&hex("45 00 00 00 0d 53 45 00 46 61 2e 63 00 00"));
    let Some(BackendMessage::ErrorResponse(f)) = parse_backend(&mut b).unwrap() else {
        panic!("expected an error");
    };
    assert_eq!(f.fields.len(), 2);
    assert_eq!(f.get(b'F'), Some(&b"a.c"[..]));
    assert_eq!(
        backend_err(&hex("45 00 00 00 04")),
        ProtocolError::InsufficientData
    );
    assert_eq!(
        backend_err(&hex("45 00 00 00 07 53 45 00")),
        ProtocolError::InsufficientData
    );
    assert_eq!(
        backend_err(&hex("45 00 00 00 06 53 45")),
        ProtocolError::InvalidString
    );
    assert!(matches!(
        backend_err(&hex("45 00 00 00 06 00 53")),
        ProtocolError::InvalidMessageFormat { .. }
    ));
    let mut bad = ErrorFields::new(Severity::Error, "XX000", "m");
    bad.push(b'D', "a\0b");
    let mut out = BytesMut::from(&b"keep"[..]);
    assert!(encode_error_response(&bad, &mut out).is_err());
    let mut zero = ErrorFields::default();
    zero.push(0, "x");
    assert!(encode_error_response(&zero, &mut out).is_err());
    assert_eq!(&out[..], b"keep");
}

#[test]
fn unknown_types_and_bad_lengths() {
    for tag in [b'Q', b'D', b'T', 0, b's'] {
        let err = backend_err(&[tag]);
        assert_eq!(err, ProtocolError::UnexpectedBackendMessage { tag });
    }
    for len in ["00 00 00 03", "ff ff ff ff", "00 10 00 01"] {
        assert!(matches!(
            backend_err(&hex(&format!("52 {len}"))),
            ProtocolError::InvalidMessageLength { .. }
        ));
    }
    let mut b = buf(&hex("52 00 00 00 09"));
    assert!(parse_backend_limited(&mut b, 8).is_err());
}

#[test]
fn encryption_answers() {
    for (accept, s, g) in [(true, b'S', b'G'), (false, b'N', b'N')] {
        let mut out = BytesMut::new();
        encode_ssl_response(accept, &mut out);
        encode_gssenc_response(accept, &mut out);
        assert_eq!(&out[..], &[s, g]);
        assert_eq!(
            parse_encryption_response(&mut out, b'S').unwrap(),
            Some(accept)
        );
        assert_eq!(
            parse_encryption_response(&mut out, b'G').unwrap(),
            Some(accept)
        );
        assert_eq!(parse_encryption_response(&mut out, b'G').unwrap(), None);
    }
    let mut b = buf(b"E");
    assert_eq!(
        parse_encryption_response(&mut b, b'S').unwrap_err(),
        ProtocolError::UnexpectedBackendMessage { tag: b'E' }
    );
    assert_eq!(&b[..], b"E");
    let mut b = buf(b"G");
    assert!(parse_encryption_response(&mut b, b'S').is_err());
}

#[test]
fn a_startup_reply_sequence_decodes_in_order() {
    let mut out = BytesMut::new();
    encode_auth_ok(&mut out);
    encode_parameter_status(b"client_encoding", b"UTF8", &mut out).unwrap();
    encode_backend_key_data(7, &[9; 4], &mut out).unwrap();
    encode_ready_for_query(TransactionStatus::Idle, &mut out);
    let mut kinds = Vec::new();
    while let Some(m) = parse_backend(&mut out).unwrap() {
        kinds.push(std::mem::discriminant(&m));
    }
    assert_eq!(kinds.len(), 4);
    assert!(out.is_empty());
}

#[test]
fn protocol_2_error_format_matches_postgresql_15s_bytes() {
    let err = ProtocolError::UnsupportedProtocol { major: 2, minor: 0 };
    let mut out = BytesMut::new();
    encode_error_response_v2(Severity::Fatal, err.client_message().as_bytes(), &mut out).unwrap();
    // PostgreSQL 15 (whose newest is 3.0) sent b"EFATAL:  unsupported frontend protocol 2.0:
    // server supports 3.0 to 3.0\n\0"; ours names 3.2 as PostgreSQL 18 does.
    assert_eq!(
        &out[..],
        &b"EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.2\n\0"[..]
    );
    assert!(encode_error_response_v2(Severity::Fatal, b"a\0b", &mut out).is_err());
}

#[test]
fn command_complete_after_a_reset() {
    let mut buf = BytesMut::from(&b"C\0\0\0\x10DISCARD ALL\0Z\0\0\0\x05I"[..]);
    assert_eq!(
        parse_backend(&mut buf).expect("parse"),
        Some(BackendMessage::CommandComplete(b"DISCARD ALL".to_vec()))
    );
    assert_eq!(
        parse_backend(&mut buf).expect("parse"),
        Some(BackendMessage::ReadyForQuery(TransactionStatus::Idle))
    );
    let mut trailing = BytesMut::from(&b"C\0\0\0\x08OK\0x"[..]);
    assert!(parse_backend(&mut trailing).is_err());
    assert_eq!(trailing.len(), 9, "an error consumes nothing");
}
