//! Property tests of the SCRAM server and client: no panic on any input (random
//! bytes, and strings built from SCRAM's own pieces), every error maps to the wire;
//! client and server agree for any password, salt, iteration count and channel
//! binding; a wrong password fails at the proof; the recovered ClientKey logs in to
//! a second server with the same secret (pass-through).
#![allow(clippy::unwrap_used)]

mod auth_support;

use auth_support::*;
use gatehouse_proxy::auth::*;
use proptest::prelude::*;

fn cb_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 32..=64).prop_map(Some)
    ]
}

/// Strings built from SCRAM's own punctuation and attribute letters, to get past
/// the first checks more often than random bytes do.
fn scramish() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"n".to_vec()),
        Just(b"y".to_vec()),
        Just(b"p".to_vec()),
        Just(b"c".to_vec()),
        Just(b"r".to_vec()),
        Just(b"m".to_vec()),
        Just(b"a".to_vec()),
        Just(b"=".to_vec()),
        Just(b",".to_vec()),
        Just(b"biws".to_vec()),
        Just(b"eSws".to_vec()),
        Just(b"tls-server-end-point".to_vec()),
        Just(RFC_CLIENT_NONCE.as_bytes().to_vec()),
        Just(RFC_SERVER_NONCE.as_bytes().to_vec()),
        Just(b"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(pieces, 0..16).prop_map(|v| v.concat())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..300), scramish()]
}

proptest! {
    #[test]
    fn server_never_panics(
        cb in cb_strategy(),
        plus in any::<bool>(),
        first in any_input(),
        fin in any_input(),
    ) {
        let mechanism = if plus { SCRAM_SHA_256_PLUS } else { SCRAM_SHA_256 };
        let s = server(&rfc_secret(), cb.clone());
        if let Ok((state, _)) = s.client_first(mechanism, &first) {
            let _ = state.client_final(&fin);
        }
        // And a final message after a valid first one.
        let valid_first: &[u8] = if plus && cb.is_some() {
            b"p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO"
        } else {
            RFC_CLIENT_FIRST.as_bytes()
        };
        if let Ok((state, _)) = server(&rfc_secret(), cb).client_first(mechanism, valid_first) {
            if let Err(e) = state.client_final(&fin) {
                // Every error maps to the wire without panicking either.
                let _ = (e.sqlstate(), e.message("u"), e.detail(), e.reason(), e.to_string());
            }
        }
    }

    #[test]
    fn client_never_panics(first in any_input(), fin in any_input()) {
        let (state, _) = client("pencil", ClientChannelBinding::Unsupported).client_first();
        if let Ok((state, _)) = state.server_first(&first) {
            let _ = state.server_final(&fin);
        }
        let (state, _) = client("pencil", ClientChannelBinding::Unsupported).client_first();
        if let Ok((state, _)) = state.server_first(RFC_SERVER_FIRST.as_bytes()) {
            let _ = state.server_final(&fin);
        }
    }

    #[test]
    fn client_and_server_agree(
        password in any::<String>(),
        wrong in any::<String>(),
        salt in prop::collection::vec(any::<u8>(), 1..24),
        iterations in 1u32..8,
        cb in cb_strategy(),
        flag_y in any::<bool>(),
    ) {
        let secret = ScramSecret::from_password(&password, &salt, iterations);
        let client_cb = |cb: &Option<Vec<u8>>| match cb {
            Some(hash) => ClientChannelBinding::TlsServerEndPoint(hash.clone()),
            None if flag_y => ClientChannelBinding::NotOffered,
            None => ClientChannelBinding::Unsupported,
        };
        let new_server = |secret: &ScramSecret| {
            ScramServer::new("r", Some(secret), &mock_key(), cb.clone(), ScramNonce::random())
        };
        let new_client = |creds: ScramCredentials| {
            ScramClient::new(creds, client_cb(&cb), ScramNonce::random())
        };

        let success = exchange(new_server(&secret), new_client(ScramCredentials::Password(password.clone())))
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(success.channel_bound(), cb.is_some());

        // Pass-through: the recovered key logs in to a second server with the secret.
        let creds = success.pass_through_credentials().ok_or_else(|| TestCaseError::fail("no creds"))?;
        exchange(new_server(&secret), new_client(creds)).map_err(TestCaseError::fail)?;

        // A password with another secret fails at the proof.
        if ScramSecret::from_password(&wrong, &salt, iterations) != secret {
            let err = exchange(new_server(&secret), new_client(ScramCredentials::Password(wrong)))
                .unwrap_err();
            prop_assert_eq!(err, "server: InvalidProof(WrongProof)");
        }
        // The password check of the `password` method agrees.
        prop_assert!(verify_cleartext(&StoredSecret::Scram(secret.clone()), "r", password.as_bytes()));
        // And the text form round-trips.
        prop_assert_eq!(StoredSecret::parse(&secret.to_text()), StoredSecret::Scram(secret));
    }
}
