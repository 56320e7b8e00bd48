//! Token verification cost: the whole `verify` (parse, checks, canonical request,
//! SHA-256, HMAC, constant-time compare) with the signing key already cached
//! (every login after a key's first of the day), and cold (a new cache each time:
//! the four-HMAC key derivation included). Also `generate`, for comparison.
//!
//! `cargo bench -p gatehouse-iam --bench token -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gatehouse_iam::token::{
    generate, verify, Credentials, Expectations, SigningKeyCache, StaticKeys,
};

const AT: u64 = 1_724_709_600;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn bench(c: &mut Criterion) {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let creds = Credentials {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: secret.into(),
        session_token: None,
    };
    let with_session = Credentials {
        session_token: Some("IQoJb3JpZ2luX2VjE".repeat(50)),
        ..creds.clone()
    };
    let keys = StaticKeys::new().active("AKIAIOSFODNN7EXAMPLE", secret);
    let endpoints = vec!["gateway.example.com:5432".to_owned()];
    let expect = Expectations {
        region: "us-east-1",
        endpoints: &endpoints,
        db_user: "app_user",
        max_skew: Duration::from_secs(300),
        now: at(AT + 60),
    };
    let token = generate(
        &creds,
        "gateway.example.com",
        5432,
        "us-east-1",
        "app_user",
        at(AT),
    );
    let long = generate(
        &with_session,
        "gateway.example.com",
        5432,
        "us-east-1",
        "app_user",
        at(AT),
    );

    let mut g = c.benchmark_group("token");
    g.throughput(Throughput::Elements(1));
    let warm = SigningKeyCache::default();
    verify(&token, &expect, &keys, &warm).expect("valid");
    g.bench_function("verify_warm_cache", |b| {
        b.iter(|| verify(black_box(&token), &expect, &keys, &warm).expect("valid"))
    });
    g.bench_function("verify_warm_cache_session_token_850b", |b| {
        b.iter(|| verify(black_box(&long), &expect, &keys, &warm).expect("valid"))
    });
    g.bench_function("verify_cold_cache", |b| {
        b.iter(|| {
            let cold = SigningKeyCache::new(1);
            verify(black_box(&token), &expect, &keys, &cold).expect("valid")
        })
    });
    g.bench_function("refuse_bad_signature_warm", |b| {
        let mut bad = token.clone();
        let last = bad.pop().expect("a token");
        bad.push(if last == '0' { '1' } else { '0' });
        b.iter(|| verify(black_box(&bad), &expect, &keys, &warm).expect_err("refused"))
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| gatehouse_iam::token::parse(black_box(&token)).expect("valid"))
    });
    g.bench_function("generate", |b| {
        b.iter(|| {
            generate(
                black_box(&creds),
                "gateway.example.com",
                5432,
                "us-east-1",
                "app_user",
                at(AT),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
