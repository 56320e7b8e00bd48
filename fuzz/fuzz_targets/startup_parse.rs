//! Arbitrary bytes as a client's (and a server's) byte stream in the startup and
//! authentication phase: `parse_startup` until it stops (SSLRequest and
//! GSSENCRequest are followed by another startup packet), then `parse_message`
//! in a loop, each 'p' body also read as a password and as a
//! SASLInitialResponse; the same bytes go through `parse_backend`.
//!
//! Besides "never panics", checks the buffer contract on every call: `Ok(None)`
//! and `Err` consume nothing, `Ok(Some)` consumes a non-empty prefix; and that a
//! parsed StartupMessage re-encodes to a packet that parses the same.
#![no_main]

use bytes::BytesMut;
use gatehouse_proxy::protocol::*;
use libfuzzer_sys::fuzz_target;

/// Runs one parse and checks what it did to the buffer.
fn step<T, E>(
    buf: &mut BytesMut,
    parse: impl Fn(&mut BytesMut) -> Result<Option<T>, E>,
) -> Option<T> {
    let before = buf.clone();
    match parse(buf) {
        Ok(Some(m)) => {
            assert!(buf.len() < before.len(), "Ok(Some) consumed nothing");
            assert_eq!(&buf[..], &before[before.len() - buf.len()..]);
            Some(m)
        }
        Ok(None) | Err(_) => {
            assert_eq!(&buf[..], &before[..], "None/Err consumed bytes");
            None
        }
    }
}

fn reencode(m: &StartupMessage) {
    let mut list: Vec<(&[u8], &[u8])> = vec![(b"user", &m.user), (b"database", &m.database)];
    list.extend(
        m.params
            .iter()
            .map(|p| (p.name.as_slice(), p.value.as_slice())),
    );
    list.extend(
        m.protocol_options
            .iter()
            .map(|p| (p.name.as_slice(), p.value.as_slice())),
    );
    let mut out = BytesMut::new();
    // May exceed the size limit (user/database were cut, not grown, so rarely).
    if encode_startup(m.version, &list, &mut out).is_err() {
        return;
    }
    match parse_startup(&mut out) {
        Ok(Some(StartupPacket::Startup(again))) => {
            assert_eq!(again.user, m.user);
            assert_eq!(again.database, m.database);
            assert_eq!(again.params, m.params);
            assert_eq!(again.protocol_options, m.protocol_options);
        }
        other => panic!("re-encoded startup message parsed as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut startup_done = false;
    for _ in 0..4 {
        match step(&mut buf, parse_startup) {
            Some(StartupPacket::SslRequest | StartupPacket::GssEncRequest) => continue,
            Some(StartupPacket::Startup(m)) => {
                let _ = (m.user_lossy(), m.database_lossy(), m.needs_negotiation());
                reencode(&m);
                startup_done = true;
                break;
            }
            Some(StartupPacket::CancelRequest(_)) | None => break,
        }
    }
    if !startup_done {
        let _ = startup_eof(&buf);
    }
    while let Some(msg) = step(&mut buf, |b| {
        parse_message_limited(b, PG_MAX_AUTH_TOKEN_LENGTH)
    }) {
        if let FrontendMessage::AuthResponse(body) = msg {
            let _ = password_from(&body);
            let _ = sasl_initial_response(&body);
        }
    }
    if let Err(e) = parse_message(&mut buf) {
        let _ = (e.sqlstate(), e.client_message(), e.to_error_fields());
    }

    let mut buf = BytesMut::from(data);
    while step(&mut buf, parse_backend).is_some() {}
    let _ = parse_encryption_response(&mut BytesMut::from(data), b'S');
});
