//! Shared by the token tests: the public vectors, a fixed key set, and an
//! independent SigV4 query signer (written from the SigV4 specification, not
//! with the crate's code) for tokens with chosen — also wrong — parameters.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_iam::token::{
    Credentials, Expectations, SigningKeyCache, StaticKeys, TokenRefusal, VerifiedToken,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const HOST: &str = "prod-instance.us-east-1.rds.amazonaws.com";

/// botocore's tests/unit/test_signers.py `TestGenerateDBAuthToken`, in the
/// parameter order botocore 1.44 writes (its test compares order-insensitively).
pub const BOTOCORE_VECTOR: &str = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request\
&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61";
/// 2016-11-07T17:39:33Z.
pub const BOTOCORE_AT: u64 = 1_478_540_373;

/// aws-sdk-rust (smithy-rs `aws-inlineable/src/rds_auth_token.rs`, test
/// `signing_works`): akid/secret, us-east-1, port 3306, user peccy, time
/// 1724709600 (2024-08-26T22:00:00Z).
pub const RUST_SDK_VECTOR: &str = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
&DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
&X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
&X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89";
pub const RUST_SDK_AT: u64 = 1_724_709_600;

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn creds(akid: &str, secret: &str, session: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: session.map(Into::into),
    }
}

/// The key set the tests verify against.
pub fn keys() -> StaticKeys {
    StaticKeys::new()
        .active("akid", "skid")
        .active("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .inactive("AKIDINACTIVE", "inactive-secret")
}

pub fn endpoints() -> Vec<String> {
    vec![
        "gateway.internal:5432".into(),
        format!("{HOST}:3306"),
        "db.example.com:443".into(),
    ]
}

/// Verifies `token` as user `user` at `now` (region us-east-1, skew 300 s).
pub fn check(token: &str, user: &str, now: SystemTime) -> Result<VerifiedToken, TokenRefusal> {
    let eps = endpoints();
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &eps,
        db_user: user,
        max_skew: Duration::from_secs(300),
        now,
    };
    gatehouse_iam::token::verify(token, &expect, &keys(), &SigningKeyCache::default())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// RFC 3986 unreserved kept, everything else `%XX`.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A token over `params` (name, decoded value), signed with `secret` for
/// `scope_day`/`scope_region`/`service`, with `host_header` as the signed host.
/// The parameters are written in the given order; the signature is appended.
pub fn sign_custom(
    endpoint: &str,
    host_header: &str,
    params: &[(&str, &str)],
    secret: &str,
    date: &str,
    scope: &str,
) -> String {
    let mut sorted: Vec<(String, String)> = params.iter().map(|(k, v)| (enc(k), enc(v))).collect();
    sorted.sort();
    let cq = sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let creq = format!(
        "GET\n/\n{cq}\nhost:{host_header}\n\nhost\n{}",
        hex(&Sha256::digest(b""))
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part);
    }
    let sig = hex(&hmac(&key, &sts));
    let query = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{endpoint}/?{query}&X-Amz-Signature={sig}")
}

/// The standard parameters of a token for `user` from akid/skid at
/// 2024-08-26T22:00:00Z, us-east-1, as (name, value) — for tests to alter.
pub fn standard_params(user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Action", "connect".into()),
        ("DBUser", user.into()),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".into()),
        (
            "X-Amz-Credential",
            "akid/20240826/us-east-1/rds-db/aws4_request".into(),
        ),
        ("X-Amz-Date", "20240826T220000Z".into()),
        ("X-Amz-Expires", "900".into()),
        ("X-Amz-SignedHeaders", "host".into()),
    ]
}

/// Signs `params` (usually [`standard_params`], altered) for the gateway
/// endpoint `gateway.internal:5432`, with the scope taken from the credential.
pub fn sign_params(params: &[(&'static str, String)], secret: &str) -> String {
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let credential = get("X-Amz-Credential");
    let scope = credential
        .split_once('/')
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sign_custom(
        "gateway.internal:5432",
        "gateway.internal:5432",
        &borrowed,
        secret,
        &get("X-Amz-Date"),
        &scope,
    )
}
