//! RDS IAM tokens: public vectors, one refusal test per check (each with a token
//! that is correctly signed, so only the check under test can refuse it), and
//! every single-byte change of a valid token.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime};

use gatehouse_iam::token::{
    generate, verify, verify_bytes, Expectations, SigningKeyCache, StaticKeys, TokenRefusal,
};
use support::*;

const RUST_USER: &str = "peccy";

fn refused(r: Result<gatehouse_iam::token::VerifiedToken, TokenRefusal>) -> TokenRefusal {
    match r {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(e) => e,
    }
}

/// A standard token (akid/skid, gateway.internal:5432, 2024-08-26T22:00:00Z)
/// with some parameters changed, verified as `user` at 22:01.
fn verify_altered(
    user: &str,
    change: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> Result<gatehouse_iam::token::VerifiedToken, TokenRefusal> {
    let mut params = standard_params("app");
    change(&mut params);
    let token = sign_params(&params, "skid");
    check(&token, user, at(RUST_SDK_AT + 60))
}

fn set(params: &mut [(&'static str, String)], name: &str, value: &str) {
    params.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.into();
}

// ---- public vectors ----

#[test]
fn botocore_vector_byte_for_byte() {
    let token = generate(
        &creds("akid", "skid", None),
        HOST,
        3306,
        "us-east-1",
        "someusername",
        at(BOTOCORE_AT),
    );
    assert_eq!(token, BOTOCORE_VECTOR);
}

#[test]
fn rust_sdk_vector_byte_for_byte() {
    let token = generate(
        &creds("akid", "secret", None),
        HOST,
        3306,
        "us-east-1",
        RUST_USER,
        at(RUST_SDK_AT),
    );
    assert_eq!(token, RUST_SDK_VECTOR);
}

#[test]
fn both_vectors_verify_inside_their_window() {
    let v = check(BOTOCORE_VECTOR, "someusername", at(BOTOCORE_AT + 899)).unwrap();
    assert_eq!(v.access_key_id, "akid");
    assert_eq!(v.db_user, "someusername");
    assert_eq!(v.endpoint, format!("{HOST}:3306"));
    assert_eq!(v.region, "us-east-1");
    assert_eq!(v.issued_at, at(BOTOCORE_AT));
    assert_eq!(v.expires_at, at(BOTOCORE_AT + 900));
    assert!(!v.has_session_token);

    let eps = endpoints();
    let keys = StaticKeys::new().active("akid", "secret");
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &eps,
        db_user: RUST_USER,
        max_skew: Duration::from_secs(300),
        now: at(RUST_SDK_AT + 1),
    };
    let v = verify(RUST_SDK_VECTOR, &expect, &keys, &SigningKeyCache::default()).unwrap();
    assert_eq!(v.db_user, RUST_USER);
}

#[test]
fn botocore_test_file_order_verifies() {
    // The same token in the order botocore's own unit test writes it.
    let other_order = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Date=20161107T173933Z&X-Amz-SignedHeaders=host\
&X-Amz-Expires=900&X-Amz-Credential=akid%2F20161107%2F\
us-east-1%2Frds-db%2Faws4_request&X-Amz-Signature\
=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61";
    check(other_order, "someusername", at(BOTOCORE_AT)).unwrap();
}

#[test]
fn independent_signer_agrees_with_generate() {
    // The test suite's own SigV4 signer gives the same bytes, also with a
    // session token and special characters.
    let user = "app user+1@x/é";
    let session = "FwoGZXIvYXdzE+/=abc";
    let mut params: Vec<(&str, String)> = standard_params(user);
    params.push(("X-Amz-Security-Token", session.into()));
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ours = generate(
        &creds("akid", "skid", Some(session)),
        "gateway.internal",
        5432,
        "us-east-1",
        user,
        at(RUST_SDK_AT),
    );
    let theirs = sign_custom(
        "gateway.internal:5432",
        "gateway.internal:5432",
        &borrowed,
        "skid",
        "20240826T220000Z",
        "20240826/us-east-1/rds-db/aws4_request",
    );
    assert_eq!(ours, theirs);
    let v = check(&ours, user, at(RUST_SDK_AT)).unwrap();
    assert!(v.has_session_token);
}

#[test]
fn any_parameter_order_is_accepted() {
    let mut params = standard_params("app");
    params.reverse();
    let token = sign_params(&params, "skid");
    assert!(token.contains("/?X-Amz-SignedHeaders=host&"));
    check(&token, "app", at(RUST_SDK_AT)).unwrap();
}

#[test]
fn host_case_and_default_port_spellings_verify() {
    let c = creds("akid", "skid", None);
    // botocore signs the host lower-cased and without :443.
    let upper = generate(
        &c,
        "Gateway.INTERNAL",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    assert!(upper.starts_with("Gateway.INTERNAL:5432/?"));
    let v = check(&upper, "app", at(RUST_SDK_AT)).unwrap();
    assert_eq!(v.endpoint, "gateway.internal:5432");
    let p443 = generate(
        &c,
        "db.example.com",
        443,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    check(&p443, "app", at(RUST_SDK_AT)).unwrap();
    // The JavaScript SDK signs `host:443`; the Go SDK keeps the host's case.
    let params = standard_params("app");
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let scope = "20240826/us-east-1/rds-db/aws4_request";
    let js = sign_custom(
        "db.example.com:443",
        "db.example.com:443",
        &borrowed,
        "skid",
        "20240826T220000Z",
        scope,
    );
    check(&js, "app", at(RUST_SDK_AT)).unwrap();
    let go = sign_custom(
        "Gateway.Internal:5432",
        "Gateway.Internal:5432",
        &borrowed,
        "skid",
        "20240826T220000Z",
        scope,
    );
    check(&go, "app", at(RUST_SDK_AT)).unwrap();
    // But a host header naming another endpoint does not.
    let other = sign_custom(
        "gateway.internal:5432",
        "gateway.internal:5433",
        &borrowed,
        "skid",
        "20240826T220000Z",
        scope,
    );
    assert_eq!(
        refused(check(&other, "app", at(RUST_SDK_AT))).check(),
        "signature"
    );
}

// ---- one refusal per check ----

#[test]
fn refuses_malformed() {
    for (token, needle) in [
        ("", "/?"),
        ("gateway.internal:5432", "/?"),
        ("gateway.internal:5432/?Action=connect", "missing"),
        (
            &*sign_params(&standard_params("app"), "skid")
                .replace("Action=", "Action=connect&Action="),
            "twice",
        ),
        (
            &*format!("{}&Extra=1", sign_params(&standard_params("app"), "skid")),
            "unexpected parameter",
        ),
    ] {
        match refused(check(token, "app", at(RUST_SDK_AT))) {
            TokenRefusal::Malformed { detail } => assert!(detail.contains(needle), "{detail}"),
            other => panic!("{token}: {other:?}"),
        }
    }
    let eps = endpoints();
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &eps,
        db_user: "app",
        max_skew: Duration::from_secs(300),
        now: at(RUST_SDK_AT),
    };
    let r = verify_bytes(
        b"gateway.internal:5432/?\xff",
        &expect,
        &keys(),
        &SigningKeyCache::default(),
    );
    assert_eq!(refused(r).check(), "malformed");
}

#[test]
fn refuses_oversized() {
    let mut params = standard_params("app");
    params.push(("X-Amz-Security-Token", "A".repeat(9000)));
    let token = sign_params(&params, "skid");
    let r = refused(check(&token, "app", at(RUST_SDK_AT)));
    assert!(r.to_string().contains("8192"), "{r}");
}

#[test]
fn refuses_wrong_host() {
    let token = generate(
        &creds("akid", "skid", None),
        "evil.example",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    let r = refused(check(&token, "app", at(RUST_SDK_AT)));
    assert_eq!(
        r,
        TokenRefusal::WrongHost {
            found: "evil.example:5432".into()
        }
    );
    assert_eq!(r.check(), "wrong_host");
    // Same host, other port.
    let token = generate(
        &creds("akid", "skid", None),
        "gateway.internal",
        5433,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    assert_eq!(
        refused(check(&token, "app", at(RUST_SDK_AT))).check(),
        "wrong_host"
    );
}

#[test]
fn refuses_wrong_action() {
    let r = refused(verify_altered("app", |p| {
        set(p, "Action", "DbConnectAdmin")
    }));
    assert_eq!(
        r,
        TokenRefusal::WrongAction {
            found: "DbConnectAdmin".into()
        }
    );
    assert_eq!(r.check(), "wrong_action");
}

#[test]
fn refuses_wrong_user_case_sensitively() {
    let r = refused(verify_altered("App", |_| {}));
    assert_eq!(
        r,
        TokenRefusal::WrongUser {
            found: "app".into()
        }
    );
    assert_eq!(r.check(), "wrong_user");
}

#[test]
fn refuses_another_algorithm() {
    let r = refused(verify_altered("app", |p| {
        set(p, "X-Amz-Algorithm", "AWS4-HMAC-SHA512")
    }));
    assert_eq!(r.check(), "algorithm");
}

#[test]
fn refuses_a_bad_scope() {
    for credential in [
        "akid/20240826/us-east-1/rds/aws4_request",
        "akid/20240826/us-east-1/rds-db/aws5_request",
        "akid/20240826/us-east-1/rds-db",
        "akid/20240826/us-east-1/rds-db/aws4_request/x",
        "/20240826/us-east-1/rds-db/aws4_request",
        "akid/2024082/us-east-1/rds-db/aws4_request",
        // A day that is not X-Amz-Date's.
        "akid/20240825/us-east-1/rds-db/aws4_request",
    ] {
        let r = refused(verify_altered("app", |p| {
            set(p, "X-Amz-Credential", credential)
        }));
        assert_eq!(r.check(), "scope", "{credential}: {r}");
    }
}

#[test]
fn refuses_another_region() {
    let r = refused(verify_altered("app", |p| {
        set(
            p,
            "X-Amz-Credential",
            "akid/20240826/eu-west-1/rds-db/aws4_request",
        )
    }));
    assert_eq!(
        r,
        TokenRefusal::WrongRegion {
            found: "eu-west-1".into()
        }
    );
}

#[test]
fn refuses_expires_over_900() {
    let r = refused(verify_altered("app", |p| set(p, "X-Amz-Expires", "901")));
    assert_eq!(r, TokenRefusal::ExpiresTooLong { seconds: 901 });
    verify_altered("app", |p| set(p, "X-Amz-Expires", "1")).unwrap_err();
    // 1 second is valid in itself: verified at its own second.
    let mut params = standard_params("app");
    set(&mut params, "X-Amz-Expires", "1");
    check(&sign_params(&params, "skid"), "app", at(RUST_SDK_AT + 1)).unwrap();
}

#[test]
fn refuses_a_date_beyond_the_skew() {
    let token = sign_params(&standard_params("app"), "skid");
    check(&token, "app", at(RUST_SDK_AT - 300)).unwrap();
    let r = refused(check(&token, "app", at(RUST_SDK_AT - 301)));
    assert_eq!(r, TokenRefusal::Skew { ahead: 301 });
    assert_eq!(r.check(), "skew");
}

#[test]
fn refuses_expired() {
    let token = sign_params(&standard_params("app"), "skid");
    check(&token, "app", at(RUST_SDK_AT + 900)).unwrap();
    let r = refused(check(&token, "app", at(RUST_SDK_AT + 901)));
    assert_eq!(r, TokenRefusal::Expired { ago: 1 });
    let r = refused(check(
        &token,
        "app",
        at(RUST_SDK_AT + 900) + Duration::from_millis(1),
    ));
    assert_eq!(r, TokenRefusal::Expired { ago: 1 });
}

#[test]
fn refuses_other_signed_headers() {
    let r = refused(verify_altered("app", |p| {
        set(p, "X-Amz-SignedHeaders", "host;x-amz-date")
    }));
    assert_eq!(
        r,
        TokenRefusal::SignedHeaders {
            found: "host;x-amz-date".into()
        }
    );
}

#[test]
fn refuses_an_unknown_key() {
    let token = generate(
        &creds("AKIDNOBODY", "x", None),
        "gateway.internal",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    let r = refused(check(&token, "app", at(RUST_SDK_AT)));
    assert_eq!(
        r,
        TokenRefusal::UnknownKey {
            access_key_id: "AKIDNOBODY".into()
        }
    );
}

#[test]
fn refuses_an_inactive_key() {
    let token = generate(
        &creds("AKIDINACTIVE", "inactive-secret", None),
        "gateway.internal",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    let r = refused(check(&token, "app", at(RUST_SDK_AT)));
    assert_eq!(
        r,
        TokenRefusal::InactiveKey {
            access_key_id: "AKIDINACTIVE".into()
        }
    );
}

#[test]
fn refuses_a_wrong_signature() {
    let token = generate(
        &creds("akid", "not-skid", None),
        "gateway.internal",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    let r = refused(check(&token, "app", at(RUST_SDK_AT)));
    assert_eq!(r, TokenRefusal::Signature);
    // A session token is signed: dropping or changing it breaks the signature.
    let with = generate(
        &creds("akid", "skid", Some("tok")),
        "gateway.internal",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    check(&with, "app", at(RUST_SDK_AT)).unwrap();
    let dropped = with.replace("&X-Amz-Security-Token=tok", "");
    assert_eq!(
        refused(check(&dropped, "app", at(RUST_SDK_AT))),
        TokenRefusal::Signature
    );
    let changed = with.replace("Token=tok", "Token=tol");
    assert_eq!(
        refused(check(&changed, "app", at(RUST_SDK_AT))),
        TokenRefusal::Signature
    );
}

#[test]
fn refusals_never_echo_secrets() {
    let session = "SESSIONTOKENVALUE";
    let token = generate(
        &creds("akid", "not-skid", Some(session)),
        "gateway.internal",
        5432,
        "us-east-1",
        "app",
        at(RUST_SDK_AT),
    );
    let sig = token.rsplit_once('=').unwrap().1.to_owned();
    let mut texts = vec![];
    for bad in [
        token.clone(),
        token.replace("Signature=", "Signature=x"),
        token.replace("Token=SESSION", "Token=%zzSESSION"),
        format!("{token}&X-Amz-Security-Token={session}"),
    ] {
        let r = refused(check(&bad, "app", at(RUST_SDK_AT)));
        texts.push(format!("{r} {r:?}"));
    }
    for t in texts {
        assert!(
            !t.contains(&sig[..16]) && !t.contains("SESSIONTOKEN") && !t.contains("not-skid"),
            "{t}"
        );
    }
}

#[test]
fn every_check_has_its_own_code() {
    let codes = [
        TokenRefusal::Malformed {
            detail: String::new(),
        },
        TokenRefusal::WrongHost {
            found: String::new(),
        },
        TokenRefusal::WrongAction {
            found: String::new(),
        },
        TokenRefusal::WrongUser {
            found: String::new(),
        },
        TokenRefusal::Algorithm {
            found: String::new(),
        },
        TokenRefusal::Scope {
            detail: String::new(),
        },
        TokenRefusal::WrongRegion {
            found: String::new(),
        },
        TokenRefusal::ExpiresTooLong { seconds: 0 },
        TokenRefusal::Skew { ahead: 0 },
        TokenRefusal::Expired { ago: 0 },
        TokenRefusal::SignedHeaders {
            found: String::new(),
        },
        TokenRefusal::UnknownKey {
            access_key_id: String::new(),
        },
        TokenRefusal::InactiveKey {
            access_key_id: String::new(),
        },
        TokenRefusal::Signature,
    ]
    .map(|r| r.check());
    let mut unique = codes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
}

// ---- every single-byte change ----

/// Whether changing byte `at` from `old` to `new` only changes the ASCII case of
/// a letter in the host name: botocore signs the host lower-cased, so such a
/// token is exactly what botocore makes for that spelling of the same name, and
/// it must (and does) still verify. Every other change must be refused.
fn host_case_only(token: &[u8], at: usize, old: u8, new: u8) -> bool {
    let host_len = token.iter().position(|&b| b == b':').unwrap_or(0);
    at < host_len && old.is_ascii_alphabetic() && old.eq_ignore_ascii_case(&new)
}

fn every_single_byte_change(token: &str, user: &str, now: SystemTime) -> usize {
    let eps = endpoints();
    let keys = keys();
    let cache = SigningKeyCache::default();
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &eps,
        db_user: user,
        max_skew: Duration::from_secs(300),
        now,
    };
    let original = verify(token, &expect, &keys, &cache).unwrap();
    let mut bytes = token.as_bytes().to_vec();
    let mut tried = 0;
    for at in 0..bytes.len() {
        let old = bytes[at];
        for new in 0..=255u8 {
            if new == old {
                continue;
            }
            bytes[at] = new;
            let result = verify_bytes(&bytes, &expect, &keys, &cache);
            if host_case_only(token.as_bytes(), at, old, new) {
                assert_eq!(
                    result.as_ref().ok(),
                    Some(&original),
                    "host case change at {at}"
                );
            } else if let Ok(v) = result {
                panic!(
                    "byte {at} changed from {:?} to {:?} and still accepted: {v:?}",
                    old as char, new as char
                );
            }
            tried += 1;
        }
        bytes[at] = old;
    }
    tried
}

#[test]
fn every_single_byte_change_of_the_botocore_vector_is_refused() {
    let n = every_single_byte_change(BOTOCORE_VECTOR, "someusername", at(BOTOCORE_AT + 10));
    assert_eq!(n, BOTOCORE_VECTOR.len() * 255);
}

#[test]
fn every_single_byte_change_of_a_session_token_is_refused() {
    let token = generate(
        &creds("akid", "skid", Some("IQoJb3JpZ2luX2VjE/+=")),
        "gateway.internal",
        5432,
        "us-east-1",
        "app user+1@x/é",
        at(RUST_SDK_AT),
    );
    every_single_byte_change(&token, "app user+1@x/é", at(RUST_SDK_AT + 10));
}

// ---- the fuzz seeds stay what they claim to be ----

/// fuzz/seeds/token_parse holds botocore's tokens for the fuzz target's fixed keys,
/// endpoints and clock: the valid ones must keep verifying (or the fuzzer would
/// stop reaching the signature check), the others must keep their refusal.
#[test]
fn fuzz_seeds_are_what_their_names_say() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/token_parse");
    let endpoints = vec![
        "gateway.internal:5432".to_owned(),
        "db.example.com:443".to_owned(),
    ];
    let cache = SigningKeyCache::default();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let bytes = std::fs::read(&path).unwrap();
        let user = gatehouse_iam::token::parse(std::str::from_utf8(&bytes).unwrap_or(""))
            .map(|p| p.db_user)
            .unwrap_or_default();
        let expect = Expectations {
            region: "us-east-1",
            endpoints: &endpoints,
            db_user: &user,
            max_skew: Duration::from_secs(300),
            now: at(RUST_SDK_AT + 60),
        };
        let got = verify_bytes(&bytes, &expect, &keys(), &cache).map_err(|e| e.check());
        let want = match &name[..2] {
            "05" => Err("inactive_key"),
            "06" => Err("signature"),
            "08" => Err("expires_too_long"),
            "09" | "10" => Err("malformed"),
            _ => Ok(()),
        };
        assert_eq!(got.map(|_| ()), want, "{name}");
        seen += 1;
    }
    assert!(seen >= 10, "{seen} seeds in {}", dir.display());
}
