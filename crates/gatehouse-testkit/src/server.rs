//! The postmaster process: start with `pg_ctl`, stop with SIGQUIT (immediate shutdown).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Result, TestkitError};
use crate::osuser::RunAs;
use crate::version::PgVersion;

/// How long `pg_ctl start -w` may wait for the server.
const START_TIMEOUT_SECS: u32 = 60;
/// How long to wait for the postmaster to exit after SIGQUIT before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A started postmaster; stopped (immediate mode) on drop.
#[derive(Debug)]
pub(crate) struct Server {
    data_dir: PathBuf,
    stopped: bool,
}

/// The last `lines` lines of the file at `path` (empty when unreadable).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The postmaster pid from `<data>/postmaster.pid`, if the file exists.
pub(crate) fn read_pid(data_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// Sends SIGQUIT (immediate shutdown) and waits for `postmaster.pid` to go away, as
/// `pg_ctl stop -m immediate` does; SIGKILL after [`STOP_TIMEOUT`].
/// Whether `pid` has exited and waits for its parent to reap it (state `Z`).
fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

pub(crate) fn stop_postmaster(data_dir: &Path) {
    let Some(pid) = read_pid(data_dir) else {
        return;
    };
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        return; // Already gone.
    }
    // Wait for the process itself, not its pid file: PostgreSQL removes postmaster.pid a
    // moment before it exits, and a caller may check the pid right after this returns.
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if kill(pid, None).is_err() || is_zombie(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = kill(pid, Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(200));
}

impl Server {
    /// Starts the postmaster on `port` and waits until it accepts connections.
    pub(crate) fn start(
        bin_dir: &Path,
        run_as: RunAs,
        data_dir: &Path,
        log_path: &Path,
        port: u16,
        version: PgVersion,
    ) -> Result<Server> {
        let out = run_as
            .command(bin_dir.join("pg_ctl"))
            .arg("start")
            .arg("-D")
            .arg(data_dir)
            .arg("-l")
            .arg(log_path)
            .arg("-w")
            .arg("-t")
            .arg(START_TIMEOUT_SECS.to_string())
            .arg("-s")
            .arg("-o")
            .arg(format!("-p {port}"))
            .output()
            .map_err(|e| TestkitError::Command {
                command: format!("{}/pg_ctl start", bin_dir.display()),
                detail: e.to_string(),
            })?;
        let server = Server {
            data_dir: data_dir.to_path_buf(),
            stopped: false,
        };
        if out.status.success() {
            return Ok(server);
        }
        // Dropping `server` stops a postmaster that came up too late for pg_ctl.
        drop(server);
        Err(TestkitError::Start {
            version,
            detail: format!(
                "pg_ctl start: {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            log: log_tail(log_path, 30),
        })
    }

    /// Whether the server log says a start failed because the port was taken.
    pub(crate) fn port_clash(log_path: &Path) -> bool {
        let log = log_tail(log_path, 50);
        log.contains("could not bind") || log.contains("Address already in use")
    }

    /// The postmaster's pid, while it runs.
    pub(crate) fn pid(&self) -> Option<i32> {
        if self.stopped {
            None
        } else {
            read_pid(&self.data_dir)
        }
    }

    /// Stops the server (idempotent).
    pub(crate) fn stop(&mut self) {
        if !self.stopped {
            stop_postmaster(&self.data_dir);
            self.stopped = true;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
