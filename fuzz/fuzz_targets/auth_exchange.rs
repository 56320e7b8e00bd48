//! Arbitrary bytes as the messages of the authentication exchanges gatehouse
//! parses: SCRAM client-first and client-final on the server side (with and
//! without channel binding, known and unknown roles), SCRAM server-first and
//! server-final on the upstream client side, stored secrets (`rolpassword`
//! text) and PgBouncer userlist files.
//!
//! Besides "never panics": a server exchange never succeeds on fuzzed
//! client-final bytes (the proof would have to be forged), and a stored secret
//! that parses as SCRAM re-renders to a canonical text that parses back the same.
#![no_main]

use gatehouse_proxy::auth::*;
use libfuzzer_sys::fuzz_target;

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let at = usize::from(u16::from_be_bytes([data[0], data[1]])) % (data.len() - 1);
    data[2..].split_at(at.min(data.len() - 2))
}

/// Whether every `i=` in `msg` is followed by at most 3 digits (signs, blanks).
fn small_iterations(msg: &[u8]) -> bool {
    msg.windows(2).enumerate().all(|(at, w)| {
        w != b"i="
            || msg[at + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'+' || **b == b'-' || **b == b' ')
                .count()
                <= 3
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (first, last) = split(rest);
    static SECRET: std::sync::OnceLock<ScramSecret> = std::sync::OnceLock::new();
    let secret =
        SECRET.get_or_init(|| ScramSecret::from_password("pencil", b"fixed-salt-16byt", 4096));
    let key = MockAuthKey::from_bytes([7; 32]);
    let cb = (mode & 1 == 1).then(|| vec![0xAB; 32]);
    let known = mode & 2 == 2;
    let server = ScramServer::new(
        "user",
        known.then_some(secret),
        &key,
        cb,
        ScramNonce::new("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").expect("nonce"),
    );
    let mechanism = if mode & 4 == 4 {
        SCRAM_SHA_256_PLUS
    } else {
        SCRAM_SHA_256
    };
    if let Ok((challenged, _server_first)) = server.client_first(mechanism, first) {
        assert!(
            challenged.client_final(last).is_err(),
            "a fuzzed client-final was accepted"
        );
    }

    let client = ScramClient::new(
        ScramCredentials::Password("pencil".into()),
        ClientChannelBinding::Unsupported,
        ScramNonce::new("rOprNGfwEbeRWgbNEkqO").expect("nonce"),
    );
    let (sent, _) = client.client_first();
    // The client derives keys with the server's iteration count (capped at 10M):
    // keep fuzzed counts small so each input stays fast.
    if small_iterations(first) {
        if let Ok((final_sent, _)) = sent.server_first(first) {
            let _ = final_sent.server_final(last);
        }
    }

    if let Ok(text) = std::str::from_utf8(rest) {
        if let StoredSecret::Scram(s) = StoredSecret::parse(text) {
            // PostgreSQL accepts non-canonical spellings (`+4096`, padding bits);
            // the canonical text must parse back to the same secret.
            let canonical = s.to_text();
            match StoredSecret::parse(&canonical) {
                StoredSecret::Scram(again) => assert_eq!(again.to_text(), canonical),
                _ => panic!("canonical SCRAM text does not parse back"),
            }
        }
        let _ = Userlist::parse("fuzz", text);
    }
});
