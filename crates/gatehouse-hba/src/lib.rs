//! pg_hba.conf and pg_ident.conf with PostgreSQL's exact semantics.
//!
//! Layer 3 of gatehouse: given the text of a pg_hba.conf (and what it includes),
//! produce the rows PostgreSQL's `pg_hba_file_rules` view would show, say whether
//! PostgreSQL would load the file, and for a described connection say which record
//! matches first (`check_hba()` in PostgreSQL 16–18's `src/backend/libpq/hba.c`;
//! 15's rules on request). Pure core: file access, DNS and interface lists come in
//! through [`FileSource`], [`Resolver`] and [`MatchEnv`].
//!
//! ```
//! use gatehouse_hba::*;
//! let files = MemFiles::new();
//! let opts = ParseOptions::default();
//! let hba = HbaFile::parse_bytes("/etc/pg_hba.conf", b"host all all 10.0.0.0/8 scram-sha-256\n",
//!     &files, &opts, &NoResolver);
//! assert!(hba.is_loadable());
//! let member = Membership::of(Vec::<String>::new());
//! let conn = Connection {
//!     transport: Transport::Tcp { addr: "10.1.2.3".parse().unwrap(), ssl: false, gssenc: false },
//!     user: "app", database: "app", replication: Replication::None, membership: &member,
//! };
//! let env = MatchEnv { interfaces: &[], resolver: &NoResolver };
//! assert_eq!(hba.find(&conn, &env).map(|l| l.line), Some(1));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
mod cnum;
mod error;
pub mod file;
mod hint;
pub mod ident;
mod index;
mod ldapurl;
pub mod line;
pub mod matcher;
pub mod method;
pub mod options;
pub mod pgregex;
pub mod resolve;
pub mod source;
pub mod tokenize;
pub mod version;

pub use error::LoadError;
pub use file::{Diagnostic, FileRule, HbaFile};
pub use ident::{IdentDecision, IdentFile, IdentRow};
pub use line::{AddressSpec, ConnType, HbaLine};
pub use matcher::{startup_names, Connection, MatchEnv, Membership, Replication, Transport};
pub use method::AuthMethod;
pub use resolve::{system_interfaces, InterfaceAddr, NoResolver, Resolver, SystemResolver};
pub use source::{DirEntry, EntryKind, FileSource, MemFiles, OsFiles};
pub use version::{BuildFeatures, ParseOptions, PgVersion};
