//! The three settings `gatehouse iam` needs from gatehouse.toml: the state file
//! (`[admin] state_file`), the account id and the key file (`[iam]`). Only those are read
//! (other sections and keys are ignored here; `gatehouse check` validates the whole
//! file); relative paths are relative to the file's directory, as everywhere.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

/// The state file when `[admin] state_file` is not set.
const DEFAULT_STATE_FILE: &str = "gatehouse-state.sqlite";
/// The key file when `[iam] key_file` is not set.
const DEFAULT_KEY_FILE: &str = "gatehouse-iam.key";

#[derive(Deserialize, Default)]
struct Partial {
    #[serde(default)]
    admin: AdminPart,
    iam: Option<IamPart>,
}

#[derive(Deserialize, Default)]
struct AdminPart {
    state_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct IamPart {
    account_id: Option<String>,
    key_file: Option<PathBuf>,
}

/// What `gatehouse iam` works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The SQLite state store.
    pub state_file: PathBuf,
    /// The AWS account id of the ARNs.
    pub account_id: String,
    /// The key file that encrypts secret access keys.
    pub key_file: PathBuf,
}

fn rel(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Reads the settings from the configuration file at `path`.
///
/// # Errors
/// The file cannot be read or is not TOML of the right shape, or `[iam] account_id` is
/// missing.
pub fn read(path: &Path) -> Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file: Partial = toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let abs =
        std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))?;
    let base = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let state_file = file
        .admin
        .state_file
        .unwrap_or_else(|| DEFAULT_STATE_FILE.into());
    let (account_id, key_file) = match file.iam {
        Some(IamPart {
            account_id: Some(a),
            key_file,
        }) => (a, key_file.unwrap_or_else(|| DEFAULT_KEY_FILE.into())),
        _ => {
            return Err(anyhow!(
                "{}: [iam] account_id is not set: add an [iam] section with account_id = \
                 \"123456789012\" (the 12-digit AWS account id the ARNs are in)",
                path.display()
            ))
        }
    };
    Ok(Settings {
        state_file: rel(&base, &state_file),
        account_id,
        key_file: rel(&base, &key_file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, text)?;
        let s = read(&path)?;
        Ok(Settings {
            state_file: s.state_file.strip_prefix(dir.path())?.to_path_buf(),
            key_file: s
                .key_file
                .strip_prefix(dir.path())
                .unwrap_or(&s.key_file)
                .to_path_buf(),
            ..s
        })
    }

    #[test]
    fn defaults_and_relative_paths() {
        let s = settings("[iam]\naccount_id = \"123456789012\"\n").expect("settings");
        assert_eq!(s.state_file, Path::new("gatehouse-state.sqlite"));
        assert_eq!(s.key_file, Path::new("gatehouse-iam.key"));
        assert_eq!(s.account_id, "123456789012");

        let s = settings(
            "[listen]\naddresses = [\"127.0.0.1:1\"]\n[admin]\nstate_file = \"var/s.db\"\n\
             socket = \"a.sock\"\n[iam]\naccount_id = \"123456789012\"\nregion = \"eu-west-1\"\n\
             key_file = \"/etc/gatehouse/iam.key\"\n",
        )
        .expect("settings");
        assert_eq!(s.state_file, Path::new("var/s.db"));
        assert_eq!(s.key_file, Path::new("/etc/gatehouse/iam.key"));
    }

    #[test]
    fn the_account_id_is_required() {
        for text in ["", "[iam]\nkey_file = \"k\"\n"] {
            let err = settings(text).expect_err("no account id");
            assert!(err.to_string().contains("[iam] account_id"), "{err}");
        }
        settings("[iam\n").expect_err("not TOML");
    }
}
