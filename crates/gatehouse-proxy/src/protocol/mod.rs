//! PostgreSQL wire protocol 3.0 and 3.2 (PostgreSQL 18), startup and
//! authentication phase: the messages a client and a server exchange before the
//! first ReadyForQuery.
//!
//! Parsers take `&mut BytesMut` holding what has arrived so far and return
//! `Ok(None)` while a message is incomplete (the buffer is left untouched), or
//! `Ok(Some(message))` with exactly that message's bytes removed from the front.
//! On `Err` the buffer is also left untouched; the connection should be closed
//! (PostgreSQL closes it on every one of these errors). Encoders append one
//! complete message to a `BytesMut`, filling the length word in after the body;
//! an encoder that fails leaves the buffer as it was.
//!
//! Reference: PostgreSQL 18 `src/backend/tcop/backend_startup.c`
//! (`ProcessStartupPacket`), `src/backend/libpq/auth.c` and `auth-sasl.c`,
//! `src/backend/libpq/pqformat.c`, and the "Message Formats" chapter of the
//! documentation.
//!
//! Files, by concern:
//! - `startup.rs`: the untyped first packet ([`parse_startup`]): StartupMessage,
//!   SSLRequest, GSSENCRequest, CancelRequest.
//! - `frontend.rs`: typed client messages of the auth phase ([`parse_message`]),
//!   the body helpers [`password_from`] and [`sasl_initial_response`], and the
//!   client-side encoders.
//! - `backend.rs`: server messages, encoders and [`parse_backend`].
//! - `fields.rs`: ErrorResponse / NoticeResponse fields.
//! - `error.rs`: [`ProtocolError`] (with SQLSTATE and PostgreSQL's wording) and
//!   [`EncodeError`].

mod backend;
mod error;
mod fields;
mod frontend;
mod startup;
mod wire;

pub use backend::*;
pub use error::{EncodeError, ProtocolError};
pub use fields::{ErrorField, ErrorFields, Severity};
pub use frontend::*;
pub use startup::*;
pub use wire::{DEFAULT_MAX_MESSAGE_LENGTH, PG_MAX_AUTH_TOKEN_LENGTH};
