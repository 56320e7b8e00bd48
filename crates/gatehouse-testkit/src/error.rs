//! The one error type of the test kit.

use std::path::PathBuf;

use crate::PgVersion;

/// Everything that can go wrong while starting, driving or probing a throwaway cluster.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// The server binaries for a version are not installed where the kit looks for them.
    #[error(
        "PostgreSQL {version} binaries not found (looked in {looked_in}); run `scripts/install-deps` \
         or set {env_var} to the directory holding initdb, pg_ctl and postgres"
    )]
    BinariesMissing {
        /// The version asked for.
        version: PgVersion,
        /// Where the kit looked, human readable.
        looked_in: String,
        /// The environment variable that overrides the location.
        env_var: &'static str,
    },

    /// A file system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the kit was doing.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A helper program could not be run, or it exited unsuccessfully.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// Exit status and captured output (or the spawn error).
        detail: String,
    },

    /// The `postgres` operating-system user could not be found or created.
    #[error("operating-system user `{user}`: {detail}")]
    OsUser {
        /// The user name.
        user: String,
        /// What went wrong.
        detail: String,
    },

    /// The server did not come up.
    #[error("PostgreSQL {version} did not start: {detail}\n--- server log ---\n{log}")]
    Start {
        /// The version being started.
        version: PgVersion,
        /// What was observed.
        detail: String,
        /// The tail of the server log.
        log: String,
    },

    /// SQL through the admin session failed.
    #[error("admin session: {0}")]
    Sql(#[from] postgres::Error),

    /// A reload did not complete as expected.
    #[error("reload: {detail}\n--- server log since the reload ---\n{log}")]
    Reload {
        /// What was observed.
        detail: String,
        /// The server log lines written since the reload began.
        log: String,
    },

    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),

    /// A network operation of a probe failed (connect, read, write, timeout).
    #[error("probe {what}: {source}")]
    ProbeIo {
        /// What the probe was doing.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The TLS layer of a probe failed.
    #[error("probe TLS: {0}")]
    Tls(#[from] rustls::Error),

    /// The server sent something the probe does not understand.
    #[error("probe protocol: {0}")]
    Protocol(String),

    /// A caller passed arguments that cannot work together.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl TestkitError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TestkitError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

impl From<gatehouse_localpg::LocalPgError> for TestkitError {
    fn from(e: gatehouse_localpg::LocalPgError) -> Self {
        match e {
            gatehouse_localpg::LocalPgError::OsUser { user, detail } => {
                TestkitError::OsUser { user, detail }
            }
            gatehouse_localpg::LocalPgError::Chown { path, source } => TestkitError::Io {
                what: "chown",
                path,
                source,
            },
        }
    }
}

/// Result alias used throughout the kit.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;
