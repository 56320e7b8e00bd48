//! Client authentication core: pure functions and state machines, no I/O.
//!
//! - [`StoredSecret`] / [`ScramSecret`]: the secrets PostgreSQL stores in
//!   `pg_authid.rolpassword` (and PgBouncer's userlist holds), classified as
//!   PostgreSQL's `get_password_type` does; the `password` and `md5` methods' checks
//!   ([`verify_cleartext`], [`verify_md5_response`]) and the upstream side of `md5`
//!   ([`md5_client_response`]).
//! - [`ScramServer`]: the SCRAM-SHA-256(-PLUS) exchange with a client, as PostgreSQL's
//!   `auth-scram.c` (mock exchange for roles without a usable secret, PostgreSQL's
//!   error texts and SQLSTATEs in [`ScramError`]).
//! - [`ScramClient`]: the same exchange towards the upstream server, with a password
//!   or with the ClientKey recovered from the client's proof (pass-through).
//! - [`Userlist`]: PgBouncer's `auth_file` format.
//!
//! Secrets never appear in `Debug` output, and every comparison with a secret is
//! constant-time.
//!
//! A full exchange, both sides in memory:
//!
//! ```
//! use gatehouse_proxy::auth::*;
//!
//! let secret = ScramSecret::from_password("pencil", b"0123456789abcdef", 4096);
//! let server = ScramServer::new("alice", Some(&secret), &MockAuthKey::random(), None, ScramNonce::random());
//! assert_eq!(server.mechanisms(), ["SCRAM-SHA-256"]);
//! let client = ScramClient::new(
//!     ScramCredentials::Password("pencil".into()),
//!     ClientChannelBinding::Unsupported,
//!     ScramNonce::random(),
//! );
//!
//! let (client, client_first) = client.client_first();
//! let (server, server_first) = server.client_first("SCRAM-SHA-256", client_first.as_bytes())?;
//! let (client, client_final) = client.server_first(server_first.as_bytes())?;
//! let success = server.client_final(client_final.as_bytes())?;
//! client.server_final(success.server_final().as_bytes())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each step consumes its state, so a client-final-message cannot be replayed
//! against the same exchange — this does not compile:
//!
//! ```compile_fail
//! use gatehouse_proxy::auth::*;
//!
//! let secret = ScramSecret::from_password("pencil", b"0123456789abcdef", 4096);
//! let server = ScramServer::new("alice", Some(&secret), &MockAuthKey::random(), None, ScramNonce::random());
//! let client = ScramClient::new(
//!     ScramCredentials::Password("pencil".into()),
//!     ClientChannelBinding::Unsupported,
//!     ScramNonce::random(),
//! );
//! let (client, client_first) = client.client_first();
//! let (server, server_first) = server.client_first("SCRAM-SHA-256", client_first.as_bytes())?;
//! let (_client, client_final) = client.server_first(server_first.as_bytes())?;
//! let _success = server.client_final(client_final.as_bytes())?;
//! let _replayed = server.client_final(client_final.as_bytes()); // `server` was moved
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod crypto;
mod scram;
mod scram_client;
mod scram_error;
mod secret;
mod userlist;

pub use scram::{
    MockAuthKey, ScramNonce, ScramServer, ScramServerChallenged, ScramServerSelected,
    ScramServerSuccess, MAX_SCRAM_MESSAGE_LEN, SCRAM_SHA_256, SCRAM_SHA_256_PLUS,
};
pub use scram_client::{
    ClientChannelBinding, ScramClient, ScramClientError, ScramClientFinalSent,
    ScramClientFirstSent, ScramCredentials, MAX_CLIENT_ITERATIONS, MAX_SERVER_MESSAGE_LEN,
};
pub use scram_error::{MalformedScram, ProofFailure, ScramError};
pub use secret::{
    md5_client_response, md5_secret_text, verify_cleartext, verify_md5_response, Md5LineExchange,
    Md5Verdict, ScramSecret, StoredSecret, SCRAM_DEFAULT_ITERATIONS, SCRAM_DEFAULT_SALT_LEN,
};
pub use userlist::{Userlist, UserlistError, UserlistErrorKind};
