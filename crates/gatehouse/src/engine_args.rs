//! Command-line flags shared by every command that parses authentication files.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;
use gatehouse_hba::{BuildFeatures, ParseOptions, PgVersion};

/// Which PostgreSQL to emulate.
#[derive(Args, Clone, Debug)]
pub struct EngineArgs {
    /// PostgreSQL major version whose rules apply (15, 16, 17 or 18).
    #[arg(long = "pg-version", default_value = "18")]
    pub pg_version: PgVersion,
    /// Build features the emulated server lacks, comma separated: ssl, gssapi, ldap, pam.
    #[arg(long, value_delimiter = ',')]
    pub without: Vec<String>,
    /// Emulate a server with `ssl = off` (hostssl lines are reported as unable to match).
    #[arg(long)]
    pub ssl_off: bool,
    /// Value of PostgreSQL 18's `oauth_validator_libraries` (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub oauth_validator_libraries: Vec<String>,
}

impl EngineArgs {
    /// The engine options these flags describe.
    pub fn options(&self) -> Result<ParseOptions> {
        let mut features = BuildFeatures::default();
        for w in &self.without {
            match w.as_str() {
                "ssl" => features.ssl = false,
                "gssapi" => features.gssapi = false,
                "ldap" => features.ldap = false,
                "pam" => features.pam = false,
                other => bail!(
                    "--without: unknown feature {other:?} (expected ssl, gssapi, ldap or pam)"
                ),
            }
        }
        Ok(ParseOptions {
            version: self.pg_version,
            features,
            ssl_enabled: !self.ssl_off,
            oauth_validator_libraries: self.oauth_validator_libraries.clone(),
            extensions: true,
        })
    }
}

/// The absolute, lexically clean form of a path given on the command line; the
/// engine resolves includes relative to it, as PostgreSQL does with `hba_file`.
pub fn absolute(path: &Path) -> Result<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(path)
    };
    let text = abs
        .to_str()
        .with_context(|| format!("{}: path is not valid UTF-8", path.display()))?;
    Ok(gatehouse_hba::source::canonicalize_path(text))
}
