//! Running the server programs as the right operating-system user.
//!
//! PostgreSQL refuses to run as root. When the caller is root, `initdb`, `pg_ctl` and
//! `postgres` run as the `postgres` user instead (created with `useradd --system` when missing),
//! through [`std::os::unix::process::CommandExt::uid`] — no `runuser`, no PAM, no unsafe code
//! (the standard library drops root's supplementary groups when it switches). Otherwise they
//! run as the current user.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nix::unistd::{Gid, Uid, User};

/// The operating-system user the server runs as when the caller is root.
pub const SERVER_OS_USER: &str = "postgres";

/// What can go wrong here.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    /// The `postgres` operating-system user could not be found or created.
    #[error("operating-system user `{user}`: {detail}")]
    OsUser {
        /// The user name.
        user: String,
        /// What went wrong.
        detail: String,
    },
    /// Giving a file to the server user failed.
    #[error("chown {}: {source}", path.display())]
    Chown {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Who runs the server programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// `Some` when switching user (we are root); `None` to run as ourselves.
    ids: Option<(Uid, Gid)>,
}

impl RunAs {
    /// The user for this process: `postgres` when we are root (created when missing),
    /// ourselves otherwise. Looked up once per process.
    ///
    /// # Errors
    /// [`LocalPgError::OsUser`]: root, and the `postgres` user is missing and cannot be
    /// created.
    pub fn get() -> Result<RunAs, LocalPgError> {
        static CELL: OnceLock<Result<RunAs, String>> = OnceLock::new();
        CELL.get_or_init(|| {
            if !Uid::effective().is_root() {
                return Ok(RunAs { ids: None });
            }
            let user = lookup_or_create(SERVER_OS_USER)?;
            Ok(RunAs {
                ids: Some((user.uid, user.gid)),
            })
        })
        .clone()
        .map_err(|detail| LocalPgError::OsUser {
            user: SERVER_OS_USER.to_string(),
            detail,
        })
    }

    /// Whether the programs run as another user than this process.
    pub fn switches_user(&self) -> bool {
        self.ids.is_some()
    }

    /// The name of the user the programs run as (`postgres`, or this process's user).
    pub fn user_name(&self) -> String {
        let uid = self.ids.map_or_else(Uid::effective, |(u, _)| u);
        match User::from_uid(uid) {
            Ok(Some(u)) => u.name,
            _ => uid.to_string(),
        }
    }

    /// A command for `program` that runs as this user, with `/` as working directory (the
    /// caller's working directory may not be reachable for the server user) and no stdin.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    /// Gives `path` to this user (no-op when not switching user).
    ///
    /// # Errors
    /// [`LocalPgError::Chown`].
    pub fn chown(&self, path: &Path) -> Result<(), LocalPgError> {
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw())).map_err(
                |source| LocalPgError::Chown {
                    path: path.to_path_buf(),
                    source,
                },
            )?;
        }
        Ok(())
    }
}

fn lookup_or_create(name: &str) -> Result<User, String> {
    let lookup = || User::from_name(name).map_err(|e| format!("lookup failed: {e}"));
    if let Some(user) = lookup()? {
        return Ok(user);
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run useradd: {e}"))?;
    // Another process may have created it in the meantime: look again either way.
    match lookup()? {
        Some(user) => Ok(user),
        None => Err(format!(
            "missing, and `useradd --system {name}` failed: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}
