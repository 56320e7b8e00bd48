//! `[iam]`: validated into [`IamConfig`]; [`directory_from`] reads the state store's
//! IAM directory for it (the gateway's gate, `token verify`, `explain`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use gatehouse_iam::connect::ConnectSettings;
use gatehouse_iam::directory::{Directory, MasterKey};

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
    let mut seen = std::collections::HashSet::new();
    for e in &s.endpoints {
        if !endpoint_ok(e) {
            bail!(
                "{}: {e:?} is not \"host:port\" (a DNS name or address, or [IPv6]; a port 1-65535 without sign or leading zero)",
                at("endpoints")
            );
        }
        if !seen.insert(e.to_ascii_lowercase()) {
            bail!("{}: {e:?} is listed twice", at("endpoints"));
        }
    }
    if s.token_only_role.len() > 63 || s.token_only_role.chars().any(char::is_control) {
        bail!(
            "{}: {:?} is not a PostgreSQL role name (at most 63 bytes, no control characters)",
            at("token_only_role"),
            s.token_only_role
        );
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

/// `host:port` as a token's endpoint part can spell it: the host a DNS name, an IPv4
/// address or a bracketed IPv6 address; the port canonical digits in 1..=65535.
fn endpoint_ok(e: &str) -> bool {
    let Some((host, port)) = e.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && !port.starts_with('0')
        && port.parse::<u16>().is_ok();
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    port_ok && host_ok
}

/// The IAM directory stored in `state_file` (users, keys, policies), secrets
/// decrypted with the key file. A missing store gives an empty directory.
///
/// # Errors
/// As [`directory_from`].
pub fn directory(cfg: &IamConfig, state_file: &Path) -> Result<Directory> {
    if !state_file.exists() {
        return Ok(Directory::new(&cfg.settings.account_id));
    }
    let store = gatehouse_state::StateStore::open(state_file)?;
    directory_from(cfg, &store)
}

/// The IAM directory of an open store. A missing key file is fine only while the store
/// holds no access key (nothing was sealed yet).
///
/// # Errors
/// The store cannot be read; the key file is missing while access keys are stored, or is
/// unsafe or unreadable; a stored secret does not decrypt with it (a different key file).
pub fn directory_from(cfg: &IamConfig, store: &gatehouse_state::StateStore) -> Result<Directory> {
    let account = &cfg.settings.account_id;
    if !cfg.key_file.exists() {
        let stored = store.iam(account)?.list_access_keys(None)?.len();
        if stored > 0 {
            bail!(
                "{}: the [iam] key file is missing, but the state store holds {stored} access \
                 key(s) sealed with it (restore the key file from the backup of the state file)",
                cfg.key_file.display()
            );
        }
        // Users and policies, without keys: nothing was sealed, nothing to decrypt.
        return Ok(store.iam(account)?.policy_directory()?);
    }
    let key = MasterKey::load(&cfg.key_file)?;
    Ok(store.iam_directory(account, &key)?)
}

#[cfg(test)]
mod tests {
    use super::endpoint_ok;

    #[test]
    fn endpoints_are_host_and_canonical_port() {
        for good in [
            "localhost:6432",
            "db.example.com:5432",
            "10.0.0.1:1",
            "[::1]:6432",
            "my_db:65535",
        ] {
            assert!(endpoint_ok(good), "{good}");
        }
        for bad in [
            "localhost",
            "localhost:",
            ":6432",
            "localhost:+6432",
            "localhost:06432",
            "localhost:0",
            "localhost:65536",
            "::1:6432",
            "[zz]:1",
            "h\u{0}:1",
            "a b:1",
            "h/x:1",
            "h?:1",
        ] {
            assert!(!endpoint_ok(bad), "{bad}");
        }
    }
}
