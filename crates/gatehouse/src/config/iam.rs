//! `[iam]`: validated into [`IamConfig`]; [`gate`] builds the gateway's
//! [`IamGate`] from it and the state store's IAM directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use gatehouse_iam::connect::ConnectSettings;
use gatehouse_iam::directory::{Directory, MasterKey};
use gatehouse_proxy::iam::IamGate;

use super::file::IamSection;

/// `[iam]`, checked.
#[derive(Debug, Clone)]
pub struct IamConfig {
    /// Account, region, resource id, endpoints, clock skew.
    pub settings: ConnectSettings,
    /// The database role whose members must use a token (`None`: off).
    pub token_only_role: Option<String>,
    /// The key file that encrypts secret access keys at rest.
    pub key_file: PathBuf,
}

/// Checks `[iam]`; errors name the file, the key and the bad value.
///
/// # Errors
/// An account id that is not 12 digits, an empty or odd region, a resource id not
/// shaped `db-…`, no endpoint or one that is not `host:port`, a clock skew outside
/// (0, 3600] seconds.
pub fn iam_config(path: &Path, s: IamSection, base: &Path) -> Result<IamConfig> {
    let at = |key: &str| format!("{}: [iam] {key}", path.display());
    if s.account_id.len() != 12 || !s.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "{}: {:?} is not a 12-digit account id",
            at("account_id"),
            s.account_id
        );
    }
    let region_ok = !s.region.is_empty()
        && s.region.len() <= 32
        && s.region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.region.starts_with('-')
        && !s.region.ends_with('-');
    if !region_ok {
        bail!(
            "{}: {:?} is not a region name such as \"us-east-1\"",
            at("region"),
            s.region
        );
    }
    let id_ok = s.resource_id.len() > 3
        && s.resource_id.len() <= 64
        && s.resource_id.starts_with("db-")
        && s.resource_id[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric());
    if !id_ok {
        bail!(
            "{}: {:?} is not a DB resource id such as \"db-ABCDEFGHIJKLMNOPQRSTUVWXY1\"",
            at("resource_id"),
            s.resource_id
        );
    }
    if s.endpoints.is_empty() {
        bail!(
            "{}: at least one \"host:port\" is needed (the name clients put in tokens)",
            at("endpoints")
        );
    }
    for e in &s.endpoints {
        let ok = e.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(['/', '?', ' '])
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            bail!("{}: {e:?} is not \"host:port\"", at("endpoints"));
        }
    }
    if !(s.clock_skew.is_finite() && s.clock_skew > 0.0 && s.clock_skew <= 3600.0) {
        bail!(
            "{}: {} is not a number of seconds in (0, 3600]",
            at("clock_skew"),
            s.clock_skew
        );
    }
    let key_file = if s.key_file.is_absolute() {
        s.key_file
    } else {
        base.join(s.key_file)
    };
    Ok(IamConfig {
        settings: ConnectSettings {
            account_id: s.account_id,
            region: s.region,
            resource_id: s.resource_id,
            endpoints: s.endpoints,
            max_skew: Duration::from_secs_f64(s.clock_skew),
        },
        token_only_role: Some(s.token_only_role).filter(|r| !r.is_empty()),
        key_file,
    })
}

/// The IAM directory stored in `state_file` (users, keys, policies), secrets
/// decrypted with the key file. A missing store or key file gives an empty
/// directory (nothing was created yet).
///
/// # Errors
/// The store cannot be read, the key file is unsafe or unreadable, or a stored
/// secret does not decrypt with it (a different key file).
pub fn directory(cfg: &IamConfig, state_file: &Path) -> Result<Directory> {
    let account = &cfg.settings.account_id;
    if !state_file.exists() || !cfg.key_file.exists() {
        return Ok(Directory::new(account));
    }
    let key =
        MasterKey::load(&cfg.key_file).map_err(|e| anyhow!("{}: {e}", cfg.key_file.display()))?;
    let store = gatehouse_state::StateStore::open(state_file)
        .with_context(|| format!("state store {}", state_file.display()))?;
    store
        .iam_directory(account, &key)
        .with_context(|| format!("state store {}: IAM directory", state_file.display()))
}

/// The gateway's gate: settings and the stored directory.
///
/// # Errors
/// As [`directory`].
pub fn gate(cfg: &IamConfig, state_file: &Path) -> Result<IamGate> {
    Ok(IamGate::new(
        cfg.settings.clone(),
        cfg.token_only_role.clone(),
        directory(cfg, state_file)?,
    ))
}
