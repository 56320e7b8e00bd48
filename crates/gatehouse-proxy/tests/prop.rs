//! Property tests: StartupMessage parameters and ErrorResponse fields survive
//! encode → parse; every prefix of a valid packet is incomplete; arbitrary
//! bytes never panic, and a parser either consumes exactly one message or
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use gatehouse_proxy::protocol::*;
use proptest::prelude::*;

/// A non-empty string of non-NUL bytes.
fn cstr(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 1..=max)
}

/// A GUC parameter name: not one of the names the parser takes apart.
fn guc_name() -> impl Strategy<Value = Vec<u8>> {
    cstr(24).prop_filter("special name", |n| {
        !matches!(&n[..], b"user" | b"database" | b"options" | b"replication")
            && !n.starts_with(b"_pq_.")
    })
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..=40)
}

fn fields() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec((1u8..=255, value()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn startup_parameters_round_trip(
        minor in 0u16..=5,
        user in cstr(100),
        database in value(),
        params in prop::collection::vec((guc_name(), value()), 0..8),
        pq in prop::collection::vec((cstr(12), value()), 0..3),
    ) {
        let pq: Vec<(Vec<u8>, Vec<u8>)> =
            pq.into_iter().map(|(n, v)| ([b"_pq_.".as_slice(), &n].concat(), v)).collect();
        let mut list: Vec<(&[u8], &[u8])> = vec![(b"user", &user), (b"database", &database)];
        list.extend(params.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        list.extend(pq.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let version = ProtocolVersion { major: 3, minor };
        let mut b = BytesMut::new();
        encode_startup(version, &list, &mut b).unwrap();
        let packet = b.to_vec();
        let Some(StartupPacket::Startup(m)) = parse_startup(&mut b).unwrap() else {
            panic!("not a startup message");
        };
        prop_assert!(b.is_empty());
        prop_assert_eq!(m.version, version);
        prop_assert_eq!(&m.user[..], &user[..user.len().min(63)]);
        let db = if database.is_empty() { &user } else { &database };
        prop_assert_eq!(&m.database[..], &db[..db.len().min(63)]);
        let got: Vec<_> = m.params.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
        prop_assert_eq!(got, params);
        let got: Vec<_> = m.protocol_options.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
        prop_assert_eq!(&got, &pq);
        prop_assert_eq!(m.needs_negotiation(), minor > 2 || !pq.is_empty());
        common::assert_prefixes_incomplete(&packet, parse_startup);
    }

    #[test]
    fn error_fields_round_trip(fields in fields(), notice in any::<bool>()) {
        let mut f = ErrorFields::default();
        for (code, value) in &fields {
            f.push(*code, value);
        }
        let mut b = BytesMut::new();
        if notice {
            encode_notice_response(&f, &mut b).unwrap();
        } else {
            encode_error_response(&f, &mut b).unwrap();
        }
        let packet = b.to_vec();
        let got = parse_backend(&mut b).unwrap();
        prop_assert!(b.is_empty());
        let expected = if notice {
            BackendMessage::NoticeResponse(f)
        } else {
            BackendMessage::ErrorResponse(f)
        };
        prop_assert_eq!(got, Some(expected));
        common::assert_prefixes_incomplete(&packet, parse_backend);
    }

    #[test]
    fn sasl_initial_response_round_trips(mech in cstr(30), data in prop::option::of(prop::collection::vec(any::<u8>(), 0..64))) {
        let mut b = BytesMut::new();
        encode_sasl_initial_response(&mech, data.as_deref(), &mut b).unwrap();
        let packet = b.to_vec();
        let Some(FrontendMessage::AuthResponse(body)) = parse_message(&mut b).unwrap() else {
            panic!("expected 'p'");
        };
        let r = sasl_initial_response(&body).unwrap();
        prop_assert_eq!(r.mechanism, &mech[..]);
        prop_assert_eq!(r.data, data.as_deref());
        common::assert_prefixes_incomplete(&packet, parse_message);
    }

    #[test]
    fn cancel_requests_round_trip(pid in any::<i32>(), key in prop::collection::vec(any::<u8>(), 1..=256)) {
        let mut b = BytesMut::new();
        encode_cancel_request(pid, &key, &mut b).unwrap();
        let got = parse_startup(&mut b).unwrap();
        prop_assert_eq!(got, Some(StartupPacket::CancelRequest(CancelRequest { process_id: pid, secret_key: key })));
    }

    #[test]
    fn arbitrary_bytes_consume_one_message_or_nothing(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_consumption(&bytes, parse_startup);
        check_consumption(&bytes, parse_message);
        check_consumption(&bytes, parse_backend);
    }

    #[test]
    fn arbitrary_startup_bodies_never_panic(
        minor in 0u16..=3,
        body in prop::collection::vec(prop_oneof![Just(0u8), Just(b'u'), any::<u8>()], 0..64),
    ) {
        let mut packet = ((8 + body.len()) as i32).to_be_bytes().to_vec();
        packet.extend_from_slice(&ProtocolVersion { major: 3, minor }.code().to_be_bytes());
        packet.extend_from_slice(&body);
        check_consumption(&packet, parse_startup);
    }
}

/// On `Ok(Some)` the parser removed a prefix of the input; on `Ok(None)` or
/// `Err` it removed nothing.
fn check_consumption<T, E>(bytes: &[u8], parse: impl Fn(&mut BytesMut) -> Result<Option<T>, E>) {
    let mut b = BytesMut::from(bytes);
    match parse(&mut b) {
        Ok(Some(_)) => {
            assert!(b.len() < bytes.len());
            assert_eq!(&b[..], &bytes[bytes.len() - b.len()..]);
        }
        Ok(None) | Err(_) => assert_eq!(&b[..], bytes),
    }
}
