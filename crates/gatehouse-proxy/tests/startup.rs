//! The untyped first packet: byte-exact encodings, PostgreSQL 18's rules for
//! StartupMessage parameters, and every error path of `parse_startup`.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::*;
use gatehouse_proxy::protocol::*;

fn startup(bytes: &[u8]) -> Result<StartupMessage, ProtocolError> {
    let mut b = buf(bytes);
    match parse_startup(&mut b)? {
        Some(StartupPacket::Startup(m)) => {
            assert!(b.is_empty(), "startup packet not fully consumed");
            Ok(m)
        }
        other => panic!("not a StartupMessage: {other:?}"),
    }
}

fn startup_err(bytes: &[u8]) -> ProtocolError {
    let mut b = buf(bytes);
    let err = parse_startup(&mut b).unwrap_err();
    assert_eq!(&b[..], bytes, "an error must leave the buffer untouched");
    err
}

fn encoded(version: ProtocolVersion, params: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_startup(version, params, &mut b).unwrap();
    b.to_vec()
}

const V3_0: u32 = 0x0003_0000;

#[test]
fn ssl_request_is_byte_exact() {
    let bytes = hex("00 00 00 08 04 d2 16 2f");
    let mut out = BytesMut::new();
    encode_ssl_request(&mut out);
    assert_eq!(&out[..], &bytes[..]);
    let mut b = buf(&bytes);
    assert_eq!(
        parse_startup(&mut b).unwrap(),
        Some(StartupPacket::SslRequest)
    );
    assert!(b.is_empty());
    assert_prefixes_incomplete(&bytes, parse_startup);
}

#[test]
fn gssenc_request_is_byte_exact() {
    let bytes = hex("00 00 00 08 04 d2 16 30");
    let mut out = BytesMut::new();
    encode_gssenc_request(&mut out);
    assert_eq!(&out[..], &bytes[..]);
    assert_eq!(
        parse_startup(&mut buf(&bytes)).unwrap(),
        Some(StartupPacket::GssEncRequest)
    );
}

#[test]
fn bytes_after_ssl_request_stay_in_the_buffer_for_the_caller() {
    // CVE-2021-23214: the caller must see that plaintext followed the request.
    let mut b = buf(&hex("00 00 00 08 04 d2 16 2f 00 00 00 09"));
    assert_eq!(
        parse_startup(&mut b).unwrap(),
        Some(StartupPacket::SslRequest)
    );
    assert_eq!(&b[..], &hex("00 00 00 09")[..]);
}

#[test]
fn encryption_requests_must_be_exactly_eight_bytes() {
    for code in ["04 d2 16 2f", "04 d2 16 30"] {
        let err = startup_err(&hex(&format!("00 00 00 0c {code} 00 00 00 00")));
        assert!(matches!(
            err,
            ProtocolError::InvalidEncryptionRequestLength { len: 12, .. }
        ));
        assert_eq!(err.client_message(), "invalid length of startup packet");
        assert!(!err.sent_to_client());
        // Decided from the header alone, without waiting for the body.
        let err = startup_err(&hex(&format!("00 00 00 0c {code}")));
        assert!(matches!(
            err,
            ProtocolError::InvalidEncryptionRequestLength { .. }
        ));
    }
}

#[test]
fn cancel_request_protocol_3_0_is_byte_exact() {
    let bytes = hex("00 00 00 10 04 d2 16 2e 00 00 30 39 de ad be ef");
    let mut out = BytesMut::new();
    encode_cancel_request(12345, &hex("de ad be ef"), &mut out).unwrap();
    assert_eq!(&out[..], &bytes[..]);
    assert_eq!(
        parse_startup(&mut buf(&bytes)).unwrap(),
        Some(StartupPacket::CancelRequest(CancelRequest {
            process_id: 12345,
            secret_key: hex("de ad be ef"),
        }))
    );
    assert_prefixes_incomplete(&bytes, parse_startup);
}

#[test]
fn cancel_request_protocol_3_2_takes_keys_up_to_256_bytes() {
    for key_len in [1usize, 4, 32, 255, 256] {
        let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        encode_cancel_request(-7, &key, &mut out).unwrap();
        assert_eq!(out.len(), 12 + key_len);
        assert_eq!(&out[..4], &((12 + key_len) as i32).to_be_bytes());
        let bytes = out.to_vec();
        assert_eq!(
            parse_startup(&mut out).unwrap(),
            Some(StartupPacket::CancelRequest(CancelRequest {
                process_id: -7,
                secret_key: key
            }))
        );
        assert_prefixes_incomplete(&bytes, parse_startup);
    }
}

#[test]
fn cancel_request_length_errors_are_postgresql_18s() {
    // Body (after the length word) shorter than code + pid.
    for len in [8u8, 9, 10, 11] {
        let err = startup_err(&hex(&format!("00 00 00 {len:02x} 04 d2 16 2e")));
        assert_eq!(
            err,
            ProtocolError::InvalidCancelRequestLength { len: len.into() }
        );
        assert_eq!(
            err.client_message(),
            "invalid length of cancel request packet"
        );
        assert_eq!(err.sqlstate(), "08P01");
    }
    // No key at all, and one byte over 256.
    let err = startup_err(&hex("00 00 00 0c 04 d2 16 2e 00 00 00 01"));
    assert_eq!(err, ProtocolError::InvalidCancelKeyLength { key_len: 0 });
    assert_eq!(
        err.client_message(),
        "invalid length of cancel key in cancel request packet"
    );
    let err = startup_err(&hex("00 00 01 0d 04 d2 16 2e"));
    assert_eq!(err, ProtocolError::InvalidCancelKeyLength { key_len: 257 });
    assert!(!err.sent_to_client());
    let mut out = BytesMut::new();
    assert!(encode_cancel_request(1, &[], &mut out).is_err());
    assert!(encode_cancel_request(1, &[0; 257], &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn startup_message_is_byte_exact() {
    // user\0alice\0 (11) + database\0shop\0 (14) + terminator: 8 + 26 = 0x22.
    let bytes = hex("00 00 00 22 00 03 00 00 \
         75 73 65 72 00 61 6c 69 63 65 00 \
         64 61 74 61 62 61 73 65 00 73 68 6f 70 00 \
         00");
    assert_eq!(
        encoded(
            ProtocolVersion::V3_0,
            &[(b"user", b"alice"), (b"database", b"shop")]
        ),
        bytes
    );
    let m = startup(&bytes).unwrap();
    assert_eq!(m.version, ProtocolVersion::V3_0);
    assert_eq!(m.user, b"alice");
    assert_eq!(m.database, b"shop");
    assert_eq!(m.replication, Replication::None);
    assert_eq!(m.options, None);
    assert!(m.params.is_empty() && m.protocol_options.is_empty());
    assert!(!m.needs_negotiation());
    assert_prefixes_incomplete(&bytes, parse_startup);
}

#[test]
fn database_defaults_to_the_user() {
    let m = startup(&startup_raw(V3_0, b"user\0bob\0\0")).unwrap();
    assert_eq!(m.database, b"bob");
    // An empty database is the same as none.
    let m = startup(&startup_raw(V3_0, b"database\0\0user\0bob\0\0")).unwrap();
    assert_eq!(m.database, b"bob");
}

#[test]
fn user_and_database_are_cut_at_byte_63_like_postgresql() {
    let long = vec![b'u'; 100];
    let m = startup(&encoded(ProtocolVersion::V3_0, &[(b"user", &long)])).unwrap();
    assert_eq!(m.user, vec![b'u'; 63]);
    assert_eq!(
        m.database,
        vec![b'u'; 63],
        "defaulted from the full name, then cut"
    );
    // Multibyte: PostgreSQL cuts inside a character (byte 63 of 2-byte "é"s).
    let e = "é".repeat(40);
    let m = startup(&encoded(
        ProtocolVersion::V3_0,
        &[(b"user", b"x"), (b"database", e.as_bytes())],
    ))
    .unwrap();
    assert_eq!(m.database, &e.as_bytes()[..63]);
    assert!(m.database_lossy().ends_with('\u{FFFD}'));
    let exact = vec![b'd'; 63];
    let m = startup(&encoded(ProtocolVersion::V3_0, &[(b"user", &exact)])).unwrap();
    assert_eq!(m.user, exact);
}

#[test]
fn last_user_and_database_win() {
    let m = startup(&startup_raw(
        V3_0,
        b"user\0a\0database\0d1\0user\0b\0database\0d2\0\0",
    ))
    .unwrap();
    assert_eq!(
        (m.user.as_slice(), m.database.as_slice()),
        (&b"b"[..], &b"d2"[..])
    );
}

#[test]
fn replication_values_follow_parse_bool() {
    let physical = ["true", "TRUE", "t", "tr", "on", "On", "yes", "y", "1"];
    let none = ["false", "f", "FALSE", "off", "of", "no", "n", "0"];
    let bad = [
        "",
        "o",
        "2",
        "truex",
        "10",
        "Database",
        "DATABASE",
        " true",
        "onn",
        "databasex",
    ];
    let check = |value: &str| {
        startup(&encoded(
            ProtocolVersion::V3_0,
            &[(b"user", b"r"), (b"replication", value.as_bytes())],
        ))
    };
    for v in physical {
        assert_eq!(check(v).unwrap().replication, Replication::Physical, "{v}");
    }
    for v in none {
        assert_eq!(check(v).unwrap().replication, Replication::None, "{v}");
    }
    assert_eq!(check("database").unwrap().replication, Replication::Logical);
    for v in bad {
        let err = check(v).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::InvalidReplication {
                value: v.as_bytes().to_vec()
            }
        );
        assert_eq!(err.sqlstate(), "22023");
        assert_eq!(
            err.client_message(),
            format!("invalid value for parameter \"replication\": \"{v}\"")
        );
        assert_eq!(
            err.hint(),
            Some("Valid values are: \"false\", 0, \"true\", 1, \"database\".")
        );
        assert!(err.sent_to_client());
    }
}

#[test]
fn options_guc_parameters_and_protocol_options_are_kept_apart() {
    let m = startup(&encoded(
        ProtocolVersion { major: 3, minor: 7 },
        &[
            (b"application_name", b"psql"),
            (b"user", b"u"),
            (b"_pq_.compression", b"on"),
            (b"options", b"-c search_path=x"),
            (b"client_encoding", b"UTF8"),
            (b"application_name", b"second"),
            (b"_pq_.other", b""),
        ],
    ))
    .unwrap();
    assert_eq!(m.options.as_deref(), Some(&b"-c search_path=x"[..]));
    let names: Vec<_> = m
        .params
        .iter()
        .map(|p| p.name_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["application_name", "client_encoding", "application_name"]
    );
    assert_eq!(m.param(b"application_name"), Some(&b"second"[..]));
    assert_eq!(m.param(b"user"), None);
    let pq: Vec<_> = m.protocol_options.iter().map(|p| p.name.clone()).collect();
    assert_eq!(pq, [b"_pq_.compression".to_vec(), b"_pq_.other".to_vec()]);
    assert!(m.needs_negotiation());
    assert_eq!(m.version, ProtocolVersion { major: 3, minor: 7 });
    assert_eq!(m.negotiated_version(), ProtocolVersion::V3_2);
}

#[test]
fn minor_versions_up_to_3_2_need_no_negotiation() {
    for minor in [0u16, 1, 2] {
        let m = startup(&encoded(
            ProtocolVersion { major: 3, minor },
            &[(b"user", b"u")],
        ))
        .unwrap();
        assert!(!m.needs_negotiation());
        assert_eq!(m.negotiated_version().minor, minor);
    }
    let m = startup(&encoded(
        ProtocolVersion { major: 3, minor: 3 },
        &[(b"user", b"u")],
    ))
    .unwrap();
    assert!(m.needs_negotiation());
}

#[test]
fn non_utf8_names_and_values_round_trip() {
    let m = startup(&encoded(
        ProtocolVersion::V3_0,
        &[(b"user", b"\xff\xfe"), (b"x\x80", b"\xc3\x28")],
    ))
    .unwrap();
    assert_eq!(m.user, b"\xff\xfe");
    assert_eq!(m.user_lossy(), "\u{FFFD}\u{FFFD}");
    assert_eq!(m.params[0].name, b"x\x80");
    assert_eq!(m.params[0].value, b"\xc3\x28");
    assert_eq!(m.params[0].value_lossy(), "\u{FFFD}(");
}

#[test]
fn unsupported_protocol_versions_use_postgresqls_text() {
    for (code, text) in [
        (
            0x0002_0000u32,
            "unsupported frontend protocol 2.0: server supports 3.0 to 3.2",
        ),
        (
            0x0004_0001,
            "unsupported frontend protocol 4.1: server supports 3.0 to 3.2",
        ),
        (
            0x0000_0000,
            "unsupported frontend protocol 0.0: server supports 3.0 to 3.2",
        ),
        (
            80_877_105,
            "unsupported frontend protocol 1234.5681: server supports 3.0 to 3.2",
        ),
    ] {
        let err = startup_err(&startup_raw(code, b"user\0u\0\0"));
        assert_eq!(err.client_message(), text);
        assert_eq!(err.sqlstate(), "0A000");
        assert!(err.sent_to_client());
        // Decided from the header alone.
        let mut header = startup_raw(code, b"user\0u\0\0");
        header.truncate(8);
        assert!(matches!(
            startup_err(&header),
            ProtocolError::UnsupportedProtocol { .. }
        ));
    }
}

#[test]
fn missing_or_empty_user_is_28000() {
    for body in [&b"\0"[..], b"database\0d\0\0", b"user\0\0\0"] {
        let err = startup(&startup_raw(V3_0, body)).unwrap_err();
        assert_eq!(err, ProtocolError::MissingUser);
        assert_eq!(err.sqlstate(), "28000");
        assert_eq!(
            err.client_message(),
            "no PostgreSQL user name specified in startup packet"
        );
    }
}

#[test]
fn layout_errors() {
    let cases: [&[u8]; 8] = [
        b"",                   // no terminator at all
        b"user\0u\0",          // missing final terminator
        b"user\0u",            // unterminated value
        b"user",               // unterminated name
        b"user\0",             // a name without a value
        b"user\0u\0options\0", // a name without a value, later
        b"user\0u\0\0\0",      // a byte after the terminator
        b"user\0u\0\0extra",   // trailing bytes
    ];
    for body in cases {
        let err = startup(&startup_raw(V3_0, body)).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidStartupLayout, "{body:?}");
        assert_eq!(
            err.client_message(),
            "invalid startup packet layout: expected terminator as last byte"
        );
        assert_eq!(err.sqlstate(), "08P01");
    }
    // An early terminator hides what follows: trailing bytes, not a user.
    let err = startup(&startup_raw(V3_0, b"\0user\0u\0\0")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
    // PostgreSQL accepts any single byte in place of the terminator; gatehouse does not.
    let err = startup(&startup_raw(V3_0, b"user\0u\0X")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
}

#[test]
fn errors_come_in_postgresqls_order() {
    // replication is checked while scanning, before the layout check...
    let err = startup(&startup_raw(V3_0, b"replication\0bogus\0user\0u\0")).unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidReplication { .. }));
    // ...even for an unterminated last value (PostgreSQL's extra NUL reads it).
    let err = startup(&startup_raw(V3_0, b"replication\0bogus")).unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidReplication { .. }));
    // but not after an early terminator, which ends the scan.
    let err = startup(&startup_raw(V3_0, b"\0replication\0bogus\0\0")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
    // Layout before a missing user.
    let err = startup(&startup_raw(V3_0, b"database\0d\0")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
}

#[test]
fn embedded_nuls_cannot_be_encoded_and_split_names_on_the_wire() {
    let mut out = BytesMut::new();
    let err = encode_startup(ProtocolVersion::V3_0, &[(b"user", b"a\0b")], &mut out).unwrap_err();
    assert_eq!(
        err,
        EncodeError::EmbeddedNul {
            what: "startup parameter value"
        }
    );
    assert!(encode_startup(ProtocolVersion::V3_0, &[(b"us\0er", b"a")], &mut out).is_err());
    assert!(encode_startup(ProtocolVersion::V3_0, &[(b"", b"a")], &mut out).is_err());
    assert!(out.is_empty(), "a failed encode writes nothing");
    // "user\0a\0b\0" + terminator: the NUL inside the value makes "b" a name without value.
    let err = startup(&startup_raw(V3_0, b"user\0a\0b\0\0")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
}

#[test]
fn length_word_limits() {
    for len in [
        "ff ff ff ff",
        "80 00 00 00",
        "00 00 00 00",
        "00 00 00 04",
        "00 00 00 07",
        "00 00 27 15",
        "7f ff ff ff",
    ] {
        let err = startup_err(&hex(len));
        assert!(
            matches!(err, ProtocolError::InvalidStartupPacketLength { .. }),
            "{len}"
        );
        assert_eq!(err.client_message(), "invalid length of startup packet");
        assert_eq!(err.sqlstate(), "08P01");
        assert!(!err.sent_to_client());
    }
    // Direct TLS (0x16 first) reads as a huge length.
    let err = startup_err(&[TLS_HANDSHAKE_BYTE, 3, 1, 0]);
    assert!(matches!(
        err,
        ProtocolError::InvalidStartupPacketLength { .. }
    ));
    // The body may be 10,000 bytes: a length word of 10,004.
    // version (4) + "user\0u\0x\0" (9) + filler + "\0\0" (2) = 10,000.
    let filler = vec![b'v'; 10_000 - 4 - 9 - 2];
    let mut body = b"user\0u\0x\0".to_vec();
    body.extend_from_slice(&filler);
    body.extend_from_slice(b"\0\0");
    let packet = startup_raw(V3_0, &body);
    assert_eq!(packet.len(), 10_004);
    let m = startup(&packet).unwrap();
    assert_eq!(m.params[0].value.len(), filler.len());
    let mut too_long = packet.clone();
    too_long[3] += 1;
    assert!(matches!(
        startup_err(&too_long[..4]),
        ProtocolError::InvalidStartupPacketLength { len: 10_005 }
    ));
    let mut out = BytesMut::new();
    let big = vec![b'v'; 10_000];
    assert!(encode_startup(ProtocolVersion::V3_0, &[(b"user", &big)], &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn a_minimal_startup_body_without_parameters_is_a_layout_error() {
    // Length 8 with a version: no terminator.
    let err = startup(&hex("00 00 00 08 00 03 00 00")).unwrap_err();
    assert_eq!(err, ProtocolError::InvalidStartupLayout);
}

#[test]
fn only_the_first_packet_is_consumed() {
    let mut bytes = encoded(ProtocolVersion::V3_0, &[(b"user", b"u")]);
    let first = bytes.len();
    bytes.extend_from_slice(b"p\0\0\0\x05");
    let mut b = buf(&bytes);
    assert!(matches!(
        parse_startup(&mut b).unwrap(),
        Some(StartupPacket::Startup(_))
    ));
    assert_eq!(&b[..], &bytes[first..]);
}

#[test]
fn eof_inside_a_startup_packet() {
    assert_eq!(startup_eof(&[]), None);
    let err = startup_eof(&[0, 0]).unwrap();
    assert_eq!(err, ProtocolError::IncompleteStartupPacket { received: 2 });
    assert_eq!(err.client_message(), "incomplete startup packet");
    assert!(!err.sent_to_client());
}

#[test]
fn protocol_version_codes() {
    assert_eq!(ProtocolVersion::V3_0.code(), 196_608);
    assert_eq!(ProtocolVersion::V3_2.code(), 196_610);
    assert_eq!(
        ProtocolVersion::from_code(80_877_103),
        ProtocolVersion {
            major: 1234,
            minor: 5679
        }
    );
    assert_eq!(ProtocolVersion::LATEST, ProtocolVersion::V3_2);
}

#[test]
fn errors_as_error_responses() {
    let fields = ProtocolError::MissingUser.to_error_fields();
    assert_eq!(fields.get(b'S'), Some(&b"FATAL"[..]));
    assert_eq!(fields.get(b'V'), Some(&b"FATAL"[..]));
    assert_eq!(fields.sqlstate().as_deref(), Some("28000"));
    assert_eq!(
        fields.message().as_deref(),
        Some("no PostgreSQL user name specified in startup packet")
    );
    assert_eq!(fields.get(b'H'), None);
    let fields = ProtocolError::InvalidReplication {
        value: b"x".to_vec(),
    }
    .to_error_fields();
    assert!(fields.get(b'H').is_some());
}
