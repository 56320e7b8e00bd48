//! SCRAM-SHA-256 server and client: RFC 7677's exchange byte for byte, every
//! PostgreSQL error path of the server, and the client's checks of the upstream.
//! Property tests are in `auth_scram_props.rs`.
#![allow(clippy::unwrap_used)]

mod auth_support;

use auth_support::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_proxy::auth::*;

/// A server after a valid RFC client-first, for client-final tests.
fn challenged(cb: Option<Vec<u8>>, mechanism: &str, first: &str) -> ScramServerChallenged {
    server(&rfc_secret(), cb)
        .client_first(mechanism, first.as_bytes())
        .unwrap()
        .0
}

fn first_err(cb: Option<Vec<u8>>, mechanism: &str, first: &[u8]) -> ScramError {
    server(&rfc_secret(), cb)
        .client_first(mechanism, first)
        .unwrap_err()
}

fn malformed(e: ScramError) -> MalformedScram {
    match e {
        ScramError::Malformed(m) => m,
        other => panic!("not malformed: {other:?}"),
    }
}

#[test]
fn rfc7677_server_side_is_byte_exact() {
    let (state, server_first) = server(&rfc_secret(), None)
        .client_first(SCRAM_SHA_256, RFC_CLIENT_FIRST.as_bytes())
        .unwrap();
    assert_eq!(server_first, RFC_SERVER_FIRST);
    assert_eq!(state.server_first_message(), RFC_SERVER_FIRST);
    let success = state.client_final(RFC_CLIENT_FINAL.as_bytes()).unwrap();
    assert_eq!(success.server_final(), RFC_SERVER_FINAL);
    assert!(!success.channel_bound());
    // The recovered ClientKey is the password's: H(ClientKey) = StoredKey.
    let recovered = success.client_key();
    let stored: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(recovered).into()
    };
    assert_eq!(stored, rfc_secret().stored_key);
}

#[test]
fn rfc7677_client_side_is_byte_exact() {
    let (state, first) = client("pencil", ClientChannelBinding::Unsupported)
        .with_username("user")
        .client_first();
    assert_eq!(first, RFC_CLIENT_FIRST);
    let (state, fin) = state.server_first(RFC_SERVER_FIRST.as_bytes()).unwrap();
    assert_eq!(fin, RFC_CLIENT_FINAL);
    state.server_final(RFC_SERVER_FINAL.as_bytes()).unwrap();
}

#[test]
fn mechanisms_in_postgres_order() {
    let secret = rfc_secret();
    assert_eq!(server(&secret, None).mechanisms(), ["SCRAM-SHA-256"]);
    assert_eq!(
        server(&secret, Some(vec![9; 32])).mechanisms(),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    );
    // An empty hash is no channel binding.
    assert_eq!(
        server(&secret, Some(vec![])).mechanisms(),
        ["SCRAM-SHA-256"]
    );
}

#[test]
fn channel_binding_exchanges() {
    let secret = rfc_secret();
    let hash = vec![0x5a; 32];
    // PLUS with the right hash.
    let ok = exchange(
        server(&secret, Some(hash.clone())),
        client(
            "pencil",
            ClientChannelBinding::TlsServerEndPoint(hash.clone()),
        ),
    )
    .unwrap();
    assert!(ok.channel_bound());
    // SCRAM-SHA-256 with 'n' while PLUS is offered: allowed (libpq channel_binding=disable).
    let ok = exchange(
        server(&secret, Some(hash.clone())),
        client("pencil", ClientChannelBinding::Unsupported),
    )
    .unwrap();
    assert!(!ok.channel_bound());
    // 'y' towards a server without channel binding: allowed, c=eSws.
    exchange(
        server(&secret, None),
        client("pencil", ClientChannelBinding::NotOffered),
    )
    .unwrap();
}

#[test]
fn channel_binding_mismatch_fails() {
    let err = exchange(
        server(&rfc_secret(), Some(vec![1; 32])),
        client(
            "pencil",
            ClientChannelBinding::TlsServerEndPoint(vec![2; 32]),
        ),
    )
    .unwrap_err();
    assert_eq!(err, "server: ChannelBindingMismatch");
    let e = ScramError::ChannelBindingMismatch;
    assert_eq!(
        (e.sqlstate(), e.message("u").as_str()),
        ("28000", "SCRAM channel binding check failed")
    );
}

#[test]
fn y_flag_while_server_supports_plus_is_a_downgrade() {
    let e = first_err(Some(vec![1; 32]), SCRAM_SHA_256, b"y,,n=,r=abc");
    assert_eq!(e, ScramError::ChannelBindingNegotiation);
    assert_eq!(e.sqlstate(), "28000");
    assert_eq!(e.message("u"), "SCRAM channel binding negotiation error");
    assert_eq!(
        e.detail().as_deref(),
        Some(
            "The client supports SCRAM channel binding but thinks the server does not.  \
             However, this server does support channel binding."
        )
    );
    assert_eq!(e.reason(), "scram_channel_binding_downgrade");
}

#[test]
fn mechanism_and_gs2_header_errors() {
    let cb = || Some(vec![1u8; 32]);
    let e = server(&rfc_secret(), None)
        .select_mechanism(SCRAM_SHA_256_PLUS)
        .unwrap_err();
    assert_eq!(e, ScramError::InvalidMechanism);
    assert_eq!(
        e.message("u"),
        "client selected an invalid SASL authentication mechanism"
    );
    assert_eq!(e.sqlstate(), "08P01");
    let e = server(&rfc_secret(), None)
        .select_mechanism("SCRAM-SHA-1")
        .unwrap_err();
    assert_eq!(e, ScramError::InvalidMechanism);

    assert_eq!(
        malformed(first_err(cb(), SCRAM_SHA_256_PLUS, b"n,,n=,r=a")),
        MalformedScram::PlusWithoutBinding
    );
    assert_eq!(
        malformed(first_err(cb(), SCRAM_SHA_256_PLUS, b"y,,n=,r=a")),
        MalformedScram::PlusWithoutBinding
    );
    let e = first_err(None, SCRAM_SHA_256, b"p=tls-server-end-point,,n=,r=a");
    assert_eq!(
        e.detail().as_deref(),
        Some("The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.")
    );
    assert_eq!(
        first_err(cb(), SCRAM_SHA_256_PLUS, b"p=tls-unique,,n=,r=a"),
        ScramError::UnsupportedChannelBindingType("tls-unique".into())
    );
    assert_eq!(
        first_err(cb(), SCRAM_SHA_256_PLUS, b"p=t\xffls unique,,n=,r=a"),
        ScramError::UnsupportedChannelBindingType("t?ls?unique".into())
    );
    let e = first_err(None, SCRAM_SHA_256, b"n,a=admin,n=,r=a");
    assert_eq!(e, ScramError::AuthzidUnsupported);
    assert_eq!(e.sqlstate(), "0A000");
    let e = first_err(None, SCRAM_SHA_256, b"n,,m=ext,n=,r=a");
    assert_eq!(e, ScramError::UnsupportedExtension);
    assert_eq!(
        e.message("u"),
        "client requires an unsupported SCRAM extension"
    );
    assert_eq!(
        first_err(None, SCRAM_SHA_256, b"n,,n=,r=a\x7fb"),
        ScramError::NonPrintableNonce
    );
    assert_eq!(
        first_err(None, SCRAM_SHA_256, b"n,,n=,r=a b"),
        ScramError::NonPrintableNonce
    );
}

#[test]
fn malformed_client_first_details() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "The message is empty."),
        (
            b"n,,n=,r=a\0b",
            "Message length does not match input length.",
        ),
        (b"x,,n=,r=a", "Unexpected channel-binding flag \"'x'\"."),
        (b"\xc3,,n=,r=a", "Unexpected channel-binding flag \"0xc3\"."),
        (b"n", "Comma expected, but found character \"0x00\"."),
        (b"n;,n=,r=a", "Comma expected, but found character \"';'\"."),
        (
            b"n,x,n=,r=a",
            "Unexpected attribute \"'x'\" in client-first-message.",
        ),
        (b"n,,", "Expected attribute \"n\" but found \"0x00\"."),
        (b"n,,r=abc", "Expected attribute \"n\" but found \"'r'\"."),
        (b"n,,n", "Expected character \"=\" for attribute \"n\"."),
        (b"n,,n=user", "Expected attribute \"r\" but found \"0x00\"."),
        (b"n,,n=,r", "Expected character \"=\" for attribute \"r\"."),
        (
            b"n,,n=,r=abc,1=x",
            "Attribute expected, but found invalid character \"'1'\".",
        ),
        (
            b"n,,n=,r=abc,x",
            "Expected character \"=\" for attribute \"x\".",
        ),
        (
            b"n,,n=,r=abc,,",
            "Attribute expected, but found invalid character \"','\".",
        ),
    ];
    for (input, detail) in cases {
        let e = first_err(None, SCRAM_SHA_256, input);
        assert_eq!(e.sqlstate(), "08P01", "{input:?}");
        assert_eq!(e.message("u"), "malformed SCRAM message", "{input:?}");
        assert_eq!(e.detail().as_deref(), Some(*detail), "{input:?}");
    }
    let long = [b"n,,n=,r=".as_slice(), &[b'a'; MAX_SCRAM_MESSAGE_LEN]].concat();
    assert_eq!(
        malformed(first_err(None, SCRAM_SHA_256, &long)),
        MalformedScram::TooLong {
            len: MAX_SCRAM_MESSAGE_LEN + 8
        }
    );
    // Accepted as PostgreSQL accepts them: extensions after the nonce, a trailing
    // comma, an empty client nonce, any user name.
    for ok in [
        &b"n,,n=,r=abc,x=1,y=2"[..],
        b"n,,n=,r=abc,",
        b"n,,n=,r=",
        b"n,,n=\xff\xfe,r=a",
    ] {
        server(&rfc_secret(), None)
            .client_first(SCRAM_SHA_256, ok)
            .unwrap();
    }
}

#[test]
fn malformed_client_final_details() {
    let combined = format!("{RFC_CLIENT_NONCE}{RFC_SERVER_NONCE}");
    let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let cases: Vec<(String, ScramError)> = vec![
        (
            "c=biws".into(),
            MalformedScram::ExpectedAttribute {
                expected: b'r',
                found: 0,
            }
            .into(),
        ),
        (
            format!("r={combined}"),
            MalformedScram::ExpectedAttribute {
                expected: b'c',
                found: b'r',
            }
            .into(),
        ),
        (
            format!("c=biws,r={combined}"),
            MalformedScram::AttributeExpectedEnd.into(),
        ),
        (
            format!("c=biws,r={combined},p=c2hvcnQ="),
            MalformedScram::MalformedProof.into(),
        ),
        (
            format!("c=biws,r={combined},p=!!!!"),
            MalformedScram::MalformedProof.into(),
        ),
        (
            format!("c=biws,r={combined},p={proof},x=1"),
            MalformedScram::Garbage.into(),
        ),
        (
            format!("c=eSws,r={combined},p={proof}"),
            ScramError::UnexpectedChannelBinding,
        ),
        (
            format!("c=,r={combined},p={proof}"),
            ScramError::UnexpectedChannelBinding,
        ),
        (
            format!("c=biws,r={RFC_CLIENT_NONCE},p={proof}"),
            ScramError::NonceMismatch,
        ),
        (
            format!("c=biws,r={combined}x,p={proof}"),
            ScramError::NonceMismatch,
        ),
    ];
    for (input, expected) in cases {
        let state = challenged(None, SCRAM_SHA_256, RFC_CLIENT_FIRST);
        assert_eq!(
            state.client_final(input.as_bytes()).unwrap_err(),
            expected,
            "{input}"
        );
    }
    let e = ScramError::NonceMismatch;
    assert_eq!(e.message("u"), "invalid SCRAM response");
    assert_eq!(e.detail().as_deref(), Some("Nonce does not match."));
    assert_eq!(
        ScramError::UnexpectedChannelBinding.message("u"),
        "unexpected SCRAM channel-binding attribute in client-final-message"
    );
    // The flag must match the first message: 'y' first, then c=biws.
    let state = challenged(None, SCRAM_SHA_256, "y,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let e = state.client_final(RFC_CLIENT_FINAL.as_bytes()).unwrap_err();
    assert_eq!(e, ScramError::UnexpectedChannelBinding);
    // A trailing comma after the proof is accepted, as PostgreSQL does.
    let state = challenged(None, SCRAM_SHA_256, RFC_CLIENT_FIRST);
    let success = state
        .client_final(format!("{RFC_CLIENT_FINAL},").as_bytes())
        .unwrap();
    assert_eq!(success.server_final(), RFC_SERVER_FINAL);
    // An extension before the proof parses; the proof then covers it, so the RFC
    // proof no longer matches.
    let state = challenged(None, SCRAM_SHA_256, RFC_CLIENT_FIRST);
    let input = format!("c=biws,r={combined},x=ext,p={proof}");
    assert_eq!(
        state.client_final(input.as_bytes()).unwrap_err(),
        ScramError::InvalidProof(ProofFailure::WrongProof)
    );
}

#[test]
fn wrong_password_is_28p01_for_the_caller() {
    let err = exchange(
        server(&rfc_secret(), None),
        client("pencil2", ClientChannelBinding::Unsupported),
    )
    .unwrap_err();
    assert_eq!(err, "server: InvalidProof(WrongProof)");
    let e = ScramError::InvalidProof(ProofFailure::WrongProof);
    assert_eq!(e.sqlstate(), "28P01");
    assert_eq!(
        e.message("alice"),
        "password authentication failed for user \"alice\""
    );
    assert_eq!(e.reason(), "scram_invalid_proof");
}

#[test]
fn replaying_a_final_message_into_a_new_exchange_fails() {
    // Replays within one exchange do not compile (see the auth module docs); a new
    // exchange has a new server nonce.
    let fresh = ScramServer::new(
        "user",
        Some(&rfc_secret()),
        &mock_key(),
        None,
        nonce("other-nonce"),
    );
    let (state, _) = fresh
        .client_first(SCRAM_SHA_256, RFC_CLIENT_FIRST.as_bytes())
        .unwrap();
    assert_eq!(
        state.client_final(RFC_CLIENT_FINAL.as_bytes()).unwrap_err(),
        ScramError::NonceMismatch
    );
}

#[test]
fn mock_exchange_looks_real_and_fails_at_the_proof() {
    let key = mock_key();
    let first_of = |role: &str, key: &MockAuthKey| {
        let s = ScramServer::new(role, None, key, None, nonce(RFC_SERVER_NONCE));
        s.client_first(SCRAM_SHA_256, RFC_CLIENT_FIRST.as_bytes())
            .unwrap()
            .1
    };
    let ghost = first_of("ghost", &key);
    assert_eq!(
        ghost,
        first_of("ghost", &key),
        "deterministic per role and key"
    );
    assert_ne!(ghost, first_of("phantom", &key));
    assert_ne!(ghost, first_of("ghost", &MockAuthKey::from_bytes([8; 32])));
    assert!(ghost.ends_with(",i=4096"), "{ghost}");
    let salt = ghost
        .split(",s=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);

    let unknown = ScramServer::new("ghost", None, &key, None, ScramNonce::random());
    let err = exchange(unknown, client("pencil", ClientChannelBinding::Unsupported)).unwrap_err();
    assert_eq!(err, "server: InvalidProof(NoSecret)");
    assert_eq!(
        ScramError::InvalidProof(ProofFailure::NoSecret).sqlstate(),
        "28P01"
    );

    // An MD5 secret cannot do SCRAM; an empty clear-text password is no password.
    let md5 = StoredSecret::parse(&md5_secret_text("user", "pencil"));
    let s = ScramServer::for_stored_secret("user", Some(&md5), &key, None, ScramNonce::random());
    let err = exchange(s, client("pencil", ClientChannelBinding::Unsupported)).unwrap_err();
    assert_eq!(err, "server: InvalidProof(NotScramSecret)");
    assert_eq!(
        ScramError::InvalidProof(ProofFailure::NotScramSecret).reason(),
        "scram_secret_not_scram"
    );
    let empty = StoredSecret::Plain(String::new());
    let s = ScramServer::for_stored_secret("user", Some(&empty), &key, None, ScramNonce::random());
    let err = exchange(s, client("", ClientChannelBinding::Unsupported)).unwrap_err();
    assert_eq!(err, "server: InvalidProof(NoSecret)");
}

#[test]
fn stored_secret_kinds() {
    let key = mock_key();
    let scram = StoredSecret::Scram(rfc_secret());
    let s = ScramServer::for_stored_secret("user", Some(&scram), &key, None, ScramNonce::random());
    let ok = exchange(s, client("pencil", ClientChannelBinding::Unsupported)).unwrap();
    assert!(ok.pass_through_credentials().is_some());
    // Clear text: a secret derived with a random salt, 4096 iterations.
    let plain = StoredSecret::Plain("pencil".into());
    let s = ScramServer::for_stored_secret("user", Some(&plain), &key, None, nonce("n"));
    let (s, first) = s.client_first(SCRAM_SHA_256, b"n,,n=,r=c").unwrap();
    assert!(
        first.starts_with("r=cn,s=") && first.ends_with(",i=4096"),
        "{first}"
    );
    drop(s);
    let s = ScramServer::for_stored_secret("user", Some(&plain), &key, None, ScramNonce::random());
    let ok = exchange(s, client("pencil", ClientChannelBinding::Unsupported)).unwrap();
    assert_eq!(ok.pass_through_credentials(), None);
}

#[test]
fn pass_through_client_key_logs_in_upstream() {
    let secret = rfc_secret();
    let front = exchange(
        server(&secret, None),
        client("pencil", ClientChannelBinding::Unsupported),
    )
    .unwrap();
    let creds = front.pass_through_credentials().unwrap();
    let upstream = ScramServer::new(
        "user",
        Some(&secret),
        &mock_key(),
        None,
        ScramNonce::random(),
    );
    let via_key = ScramClient::new(
        creds.clone(),
        ClientChannelBinding::Unsupported,
        ScramNonce::random(),
    );
    exchange(upstream, via_key).unwrap();

    // Another secret for the same password (other salt): the upstream refuses.
    let other = ScramSecret::from_password("pencil", b"another salt", 4096);
    let upstream = ScramServer::new(
        "user",
        Some(&other),
        &mock_key(),
        None,
        ScramNonce::random(),
    );
    let via_key = ScramClient::new(
        creds,
        ClientChannelBinding::Unsupported,
        ScramNonce::random(),
    );
    assert_eq!(
        exchange(upstream, via_key).unwrap_err(),
        "server: InvalidProof(WrongProof)"
    );
}

#[test]
fn client_rejects_bad_server_messages() {
    let first_sent = || {
        client("pencil", ClientChannelBinding::Unsupported)
            .client_first()
            .0
    };
    let n = RFC_CLIENT_NONCE;
    let cases: Vec<(String, ScramClientError)> = vec![
        (String::new(), ScramClientError::Empty),
        (format!("r={n}x,s=\0,i=1"), ScramClientError::LengthMismatch),
        (
            format!("s={RFC_SALT},r={n}x,i=1"),
            ScramClientError::ExpectedAttribute(b'r'),
        ),
        (
            format!("r{n}x,s={RFC_SALT},i=1"),
            ScramClientError::ExpectedEquals(b'r'),
        ),
        (
            format!("r={n},s={RFC_SALT},i=4096"),
            ScramClientError::NonceMismatch,
        ),
        (
            format!("r=X{n}x,s={RFC_SALT},i=4096"),
            ScramClientError::NonceMismatch,
        ),
        (
            format!("r={n}x y,s={RFC_SALT},i=4096"),
            ScramClientError::NonceMismatch,
        ),
        (format!("r={n}x,s=!!,i=4096"), ScramClientError::InvalidSalt),
        (
            format!("r={n}x,s={RFC_SALT},i=0"),
            ScramClientError::InvalidIterations,
        ),
        (
            format!("r={n}x,s={RFC_SALT},i=-5"),
            ScramClientError::InvalidIterations,
        ),
        (
            format!("r={n}x,s={RFC_SALT},i=4096x"),
            ScramClientError::InvalidIterations,
        ),
        (
            format!("r={n}x,s={RFC_SALT}"),
            ScramClientError::ExpectedAttribute(b'i'),
        ),
        (
            format!("r={n}x,s={RFC_SALT},i=20000000"),
            ScramClientError::TooManyIterations(20_000_000),
        ),
        (
            format!("r={n}x,s={RFC_SALT},i=4096,x=y"),
            ScramClientError::GarbageServerFirst,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            first_sent().server_first(input.as_bytes()).unwrap_err(),
            expected,
            "{input}"
        );
    }
    let long = vec![b'r'; MAX_SERVER_MESSAGE_LEN + 1];
    assert_eq!(
        first_sent().server_first(&long).unwrap_err(),
        ScramClientError::TooLong(long.len())
    );

    let final_sent = || {
        first_sent()
            .server_first(RFC_SERVER_FIRST.as_bytes())
            .unwrap()
            .0
    };
    let cases: Vec<(&str, ScramClientError)> = vec![
        (
            "e=invalid-proof",
            ScramClientError::ServerError("invalid-proof".into()),
        ),
        (
            "e=bad\u{1}thing",
            ScramClientError::ServerError("bad?thing".into()),
        ),
        ("x=1", ScramClientError::ExpectedAttribute(b'v')),
        ("v=AAAA", ScramClientError::MalformedServerSignature),
        (
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1",
            ScramClientError::GarbageServerFinal,
        ),
        (
            "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            ScramClientError::IncorrectServerSignature,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            final_sent().server_final(input.as_bytes()).unwrap_err(),
            expected,
            "{input}"
        );
    }
    assert_eq!(
        ScramClientError::ServerError("invalid-proof".into()).to_string(),
        "error received from server in SCRAM exchange: invalid-proof"
    );
}

#[test]
fn pass_through_with_wrong_server_key_is_detected() {
    let secret = rfc_secret();
    let front = exchange(
        server(&secret, None),
        client("pencil", ClientChannelBinding::Unsupported),
    )
    .unwrap();
    let creds = ScramCredentials::ClientKey {
        client_key: front.client_key(),
        server_key: [0; 32],
    };
    let upstream = ScramServer::new(
        "user",
        Some(&secret),
        &mock_key(),
        None,
        ScramNonce::random(),
    );
    let via_key = ScramClient::new(
        creds,
        ClientChannelBinding::Unsupported,
        ScramNonce::random(),
    );
    assert_eq!(
        exchange(upstream, via_key).unwrap_err(),
        "client: IncorrectServerSignature"
    );
}
