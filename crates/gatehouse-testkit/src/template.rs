//! One initdb'd data directory per server build, shared by every cluster and test process.
//!
//! `initdb` costs 0.5–1 s; copying its result costs a small fraction of that. The template
//! lives in `<base>/gatehouse-testkit/template-<hash>/data` (`/dev/shm` by default), where the hash covers the
//! `postgres` binary (path, size, mtime), the initdb arguments and the server user. It is
//! built in a staging folder and renamed into place, so a half-made template is never used,
//! and concurrent test processes at worst both build one.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Result, TestkitError};
use crate::osuser::{fingerprint, run_checked, shared_dir, RunAs};

/// Arguments of every initdb the kit runs (besides `-D`).
pub(crate) const INITDB_ARGS: &[&str] = &[
    "--auth=trust",
    "--username=postgres",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
    // 1 MB WAL segments instead of 16: a third less to write and copy per cluster.
    "--wal-segsize=1",
];

/// Runs initdb into `data_dir` (which must not exist or be empty) as `run_as`.
pub(crate) fn initdb(bin: &Path, run_as: RunAs, data_dir: &Path) -> Result<()> {
    run_checked(
        run_as
            .command(bin.join("initdb"))
            .arg("-D")
            .arg(data_dir)
            .args(INITDB_ARGS),
    )?;
    Ok(())
}

/// The template data directory for the build in `bin`, made on first use.
pub(crate) fn template(bin: &Path, run_as: RunAs) -> Result<PathBuf> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = guard.get(bin) {
        if t.join("PG_VERSION").is_file() {
            return Ok(t.clone());
        }
    }
    let uid = format!("{run_as:?}");
    let key = fingerprint(
        &[
            b"template-v1",
            INITDB_ARGS.join(" ").as_bytes(),
            uid.as_bytes(),
        ],
        &bin.join("postgres"),
    );
    let shared = shared_dir()?;
    let home = shared.join(format!("template-{key:016x}"));
    let data = home.join("data");
    if !data.join("PG_VERSION").is_file() {
        let staging = shared.join(format!(
            "template-{key:016x}.tmp{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir(&staging).map_err(|e| TestkitError::io("create dir", &staging, e))?;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| TestkitError::io("chmod", &staging, e))?;
        run_as.chown(&staging)?;
        let result = initdb(bin, run_as, &staging.join("data"));
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        if std::fs::rename(&staging, &home).is_err() {
            // Another process finished first; use its template.
            let _ = std::fs::remove_dir_all(&staging);
        }
        if !data.join("PG_VERSION").is_file() {
            return Err(TestkitError::io(
                "template missing after initdb",
                &data,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
    }
    guard.insert(bin.to_path_buf(), data.clone());
    Ok(data)
}
