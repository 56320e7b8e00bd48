//! Which PostgreSQL behaviour to reproduce: major version, build features, server settings.

use std::fmt;
use std::str::FromStr;

/// A PostgreSQL major version whose pg_hba.conf rules gatehouse reproduces.
///
/// Differences that matter here: 16 added `/regex` database and user names, the
/// `include`, `include_if_exists` and `include_dir` records, unlimited token length
/// (15 stops at 255 bytes) and `+group`/`all`/regex targets in pg_ident.conf;
/// 18 added the `oauth` method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum PgVersion {
    /// PostgreSQL 15.
    V15,
    /// PostgreSQL 16.
    V16,
    /// PostgreSQL 17.
    V17,
    /// PostgreSQL 18 (the default).
    #[default]
    V18,
}

impl PgVersion {
    /// The major version number, e.g. `18`.
    pub fn major(self) -> u32 {
        match self {
            PgVersion::V15 => 15,
            PgVersion::V16 => 16,
            PgVersion::V17 => 17,
            PgVersion::V18 => 18,
        }
    }

    /// Builds from a major version number; `None` outside 15..=18.
    pub fn from_major(major: u32) -> Option<Self> {
        match major {
            15 => Some(PgVersion::V15),
            16 => Some(PgVersion::V16),
            17 => Some(PgVersion::V17),
            18 => Some(PgVersion::V18),
            _ => None,
        }
    }

    /// Whether `/regex` database and user names and include records exist (16+).
    pub fn has_regex_and_includes(self) -> bool {
        self >= PgVersion::V16
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.major())
    }
}

impl FromStr for PgVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u32>()
            .ok()
            .and_then(PgVersion::from_major)
            .ok_or_else(|| {
                format!("unsupported PostgreSQL version {s:?} (expected 15, 16, 17 or 18)")
            })
    }
}

/// Optional features a PostgreSQL build may lack (`./configure --with-…`).
///
/// A method whose feature is missing is a load error, "invalid authentication method
/// \"ldap\": not supported by this build", exactly as on such a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildFeatures {
    /// `--with-openssl`: `hostssl` lines and the `cert` method.
    pub ssl: bool,
    /// `--with-gssapi`: the `gss` method and `hostgssenc` lines.
    pub gssapi: bool,
    /// `--with-ldap`: the `ldap` method.
    pub ldap: bool,
    /// `--with-pam`: the `pam` method.
    pub pam: bool,
    /// BSD authentication (OpenBSD only).
    pub bsd: bool,
    /// SSPI (Windows only).
    pub sspi: bool,
}

impl Default for BuildFeatures {
    /// A typical Linux distribution build: SSL, GSSAPI, LDAP and PAM; no BSD auth, no SSPI.
    fn default() -> Self {
        BuildFeatures {
            ssl: true,
            gssapi: true,
            ldap: true,
            pam: true,
            bsd: false,
            sspi: false,
        }
    }
}

/// Everything besides the file text that decides how a pg_hba.conf file parses.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Which PostgreSQL major version's rules to apply.
    pub version: PgVersion,
    /// Which optional features the emulated build has.
    pub features: BuildFeatures,
    /// The server's `ssl` setting; `hostssl` lines warn when it is off.
    pub ssl_enabled: bool,
    /// The server's `oauth_validator_libraries` (PostgreSQL 18); empty makes every
    /// `oauth` line a load error, as on a default PostgreSQL 18.
    pub oauth_validator_libraries: Vec<String>,
    /// Accept gatehouse's extension methods (`iam`). `hba lint --strict` reports them.
    pub extensions: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            version: PgVersion::default(),
            features: BuildFeatures::default(),
            ssl_enabled: true,
            oauth_validator_libraries: Vec::new(),
            extensions: true,
        }
    }
}
