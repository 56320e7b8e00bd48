//! Arbitrary bytes as an RDS IAM auth token (the password of an `iam` login),
//! verified against a fixed key set, endpoint list, region and clock.
//!
//! Besides "never panics": the expected user is taken from the token itself when
//! it parses (so inputs get past the user check to the deeper ones), and a token
//! that is accepted must be one a key holder signed: its fields are what was
//! expected, and `generate` with the same key and fields gives the same
//! signature (the seeds are botocore's tokens; nothing else can be accepted).
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_iam::token::{
    generate, parse, verify_bytes, Credentials, Expectations, SigningKeyCache, StaticKeys,
};
use libfuzzer_sys::fuzz_target;

const SECRETS: [(&str, &str); 2] = [
    ("akid", "skid"),
    ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
];

struct Fixture {
    keys: StaticKeys,
    endpoints: Vec<String>,
    cache: SigningKeyCache,
    now: SystemTime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        keys: StaticKeys::new()
            .active(SECRETS[0].0, SECRETS[0].1)
            .active(SECRETS[1].0, SECRETS[1].1)
            .inactive("AKIDINACTIVE", "inactive-secret"),
        endpoints: vec!["gateway.internal:5432".into(), "db.example.com:443".into()],
        cache: SigningKeyCache::new(16),
        // 2024-08-26T22:01:00Z: the seeds are dated 22:00:00.
        now: UNIX_EPOCH + Duration::from_secs(1_724_709_660),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let text = std::str::from_utf8(data).ok();
    let parsed = text.and_then(|t| parse(t).ok());
    let user = parsed
        .as_ref()
        .map_or_else(|| "app".to_owned(), |p| p.db_user.clone());
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &f.endpoints,
        db_user: &user,
        max_skew: Duration::from_secs(300),
        now: f.now,
    };
    let result = verify_bytes(data, &expect, &f.keys, &f.cache);
    let refusal_text = result.as_ref().err().map(ToString::to_string);
    if let Some(t) = &refusal_text {
        assert!(!t.contains('\n'), "refusal not on one line: {t}");
    }
    let Ok(v) = result else { return };
    let p = parsed.expect("an accepted token parses");
    assert_eq!(v.db_user, user);
    assert_eq!(v.region, "us-east-1");
    assert!(f.endpoints.contains(&v.endpoint));
    assert!(v.issued_at <= f.now + Duration::from_secs(300));
    assert!(f.now <= v.expires_at);
    let secret = SECRETS
        .iter()
        .find(|(id, _)| *id == v.access_key_id)
        .map(|(_, s)| *s)
        .expect("accepted with an active key");
    let creds = Credentials {
        access_key_id: v.access_key_id.clone(),
        secret_access_key: secret.into(),
        session_token: p.security_token.clone(),
    };
    let again = generate(&creds, &p.host, p.port, &v.region, &p.db_user, v.issued_at);
    let again = parse(&again).expect("generate's token parses");
    assert_eq!(
        again.signature, p.signature,
        "accepted a token whose signature generate does not reproduce"
    );
});
