//! RDS IAM auth tokens: the SigV4 presigned URL that `aws rds
//! generate-db-auth-token` (botocore's `generate_db_auth_token`) makes, and that
//! an application sends as its PostgreSQL password.
//!
//! ```text
//! db.example.com:5432/?Action=connect&DBUser=app&X-Amz-Algorithm=AWS4-HMAC-SHA256
//!   &X-Amz-Credential=AKID%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request
//!   &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host
//!   [&X-Amz-Security-Token=…]&X-Amz-Signature=<64 hex>
//! ```
//!
//! - [`generate`] makes one, byte for byte as botocore does.
//! - [`verify`] checks one against the gateway's [`Expectations`] and a
//!   [`SecretKeys`] source, with a [`SigningKeyCache`] so the four-HMAC key
//!   derivation runs once per access key and day. Each refusal is a
//!   [`TokenRefusal`] naming its check ([`TokenRefusal::check`]).
//! - [`parse`] takes one apart (structure only).
//!
//! Pure: the clock is an input ([`Expectations::now`]), no I/O.
//! docs/iam-tokens.md describes the format and every check.

mod cache;
mod encode;
mod generate;
mod keys;
mod parse;
mod refusal;
mod sign;
pub(crate) mod time;
mod verify;

pub use cache::{SigningKeyCache, DEFAULT_CAPACITY};
pub use generate::{generate, Credentials};
pub use keys::{KeyLookup, SecretKeys, StaticKeys};
pub use parse::{parse, ParsedToken, MAX_TOKEN_LEN};
pub use refusal::{TokenRefusal, ECHO_MAX};
pub use sign::{ACTION, ALGORITHM, MAX_EXPIRES, SERVICE, SIGNED_HEADERS, TERMINATOR};
pub use verify::{verify, verify_bytes, Expectations, VerifiedToken, DEFAULT_MAX_SKEW};
