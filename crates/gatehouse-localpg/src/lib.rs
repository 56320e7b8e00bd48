//! Local PostgreSQL server programs: where they are installed, and running them as the
//! right operating-system user (PostgreSQL refuses to run as root).
//!
//! Shared by the test kit (throwaway clusters for tests) and `gatehouse quickstart` (a
//! throwaway cluster behind the gateway). Starting and stopping servers stays with each of
//! them: their lifetimes differ.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bin;
mod osuser;

pub use bin::{find_cached_pg18, has_server_programs};
pub use osuser::{LocalPgError, RunAs, SERVER_OS_USER};
