//! The PostgreSQL front door of gatehouse (layer 2–5 of DESIGN.md's path).
//!
//! For now it holds only [`protocol`]: the wire codec of the startup and
//! authentication phase, as pure functions over bytes (no sockets, no runtime).
//! The listeners, TLS, auth exchanges, upstream and relay build on it.
//!
//! ```
//! use bytes::BytesMut;
//! use gatehouse_proxy::protocol::*;
//!
//! let mut out = BytesMut::new();
//! encode_startup(ProtocolVersion::V3_0, &[(b"user", b"alice")], &mut out).unwrap();
//! match parse_startup(&mut out).unwrap() {
//!     Some(StartupPacket::Startup(m)) => {
//!         assert_eq!(m.user, b"alice");
//!         assert_eq!(m.database, b"alice"); // defaults to the user, as in PostgreSQL
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod cancel;
pub mod catalog;
pub mod config;
pub mod decision;
pub mod iam;
pub mod network;
pub mod pool;
pub mod protocol;
pub mod proxy_header;
pub mod refusal;
pub mod relay;
pub mod server;
pub mod session;
pub mod sessions;
pub mod stream;
pub mod tls;
pub mod upstream;
