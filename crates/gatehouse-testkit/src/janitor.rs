//! Cleans up after test processes that died without running destructors (SIGKILL, abort,
//! a CI timeout): their clusters would otherwise keep running and their folders stay.
//!
//! Each cluster folder holds an `owner` file with the test process's pid and start time.
//! Once per process, before its first cluster starts, the kit looks at the other
//! `gatehouse-pg-*` folders in the base dir (and the system temp dir): when the owner is gone, it stops that
//! cluster's postmaster (after checking that the pid's working directory is that data
//! folder, so a reused pid is never signalled) and removes the folder.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use crate::error::{Result, TestkitError};
use crate::osuser::base_dir;
use crate::server::{read_pid, stop_postmaster};

/// Prefix of every cluster folder.
pub(crate) const DIR_PREFIX: &str = "gatehouse-pg-";

/// The start time (clock ticks since boot) of process `pid`, from `/proc/<pid>/stat`.
fn start_time(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with field 3 (state); start time is field 22.
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Records this process as the owner of the cluster folder `root`.
pub(crate) fn write_owner(root: &Path) -> Result<()> {
    let pid = std::process::id().to_string();
    let start = start_time(&pid).unwrap_or_default();
    let path = root.join("owner");
    std::fs::write(&path, format!("{pid} {start}\n"))
        .map_err(|e| TestkitError::io("write", path, e))
}

fn owner_alive(root: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("owner")) else {
        // Being set up right now, or not ours: leave young folders alone.
        return std::fs::metadata(root)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(600));
    };
    let mut parts = text.split_whitespace();
    let (Some(pid), start) = (parts.next(), parts.next()) else {
        return false;
    };
    match start_time(pid) {
        None => false,
        Some(now) => start.is_none_or(|s| s == now),
    }
}

fn postmaster_belongs_to(pid: i32, data_dir: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    let data = std::fs::canonicalize(data_dir);
    matches!((cwd, data), (Ok(a), Ok(b)) if a == b)
}

/// Reaps orphaned clusters once per process (best effort, never fails).
pub(crate) fn reap_orphans_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        reap_orphans();
    });
}

/// Stops and removes clusters whose test process died without dropping them (SIGKILL,
/// abort, a CI timeout). Runs by itself before a process's first cluster starts; call it to
/// clean up at another time. Returns how many cluster folders were removed. Best effort:
/// folders it cannot remove are skipped.
pub fn reap_orphans() -> usize {
    let mut removed = 0;
    let mut dirs = vec![base_dir(), std::env::temp_dir()];
    dirs.dedup();
    let entries = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten());
    for entry in entries {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let root = entry.path();
        if !root.is_dir() || owner_alive(&root) {
            continue;
        }
        let data = root.join("data");
        if let Some(pid) = read_pid(&data) {
            if postmaster_belongs_to(pid, &data) {
                stop_postmaster(&data);
            }
        }
        if std::fs::remove_dir_all(&root).is_ok() {
            removed += 1;
        }
    }
    removed
}
