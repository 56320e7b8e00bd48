//! `Cluster::reload`: SIGHUP the postmaster and wait until it has really finished.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::error::{Result, TestkitError};

/// The setting the kit changes to mark reloads in the log.
const MARKER_SETTING: &str = "log_min_duration_sample";
/// How long to wait for one marker line.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// What a [`Cluster::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// pg_hba.conf was loaded (false: the server logged errors and kept the old rules).
    pub hba_reloaded: bool,
    /// pg_ident.conf was loaded (false: errors, old mappings kept).
    pub ident_reloaded: bool,
    /// The server log lines written while the reload was handled (the kit's own marker lines
    /// excluded): errors with their `CONTEXT` lines, changed settings, ...
    pub log: Vec<String>,
}

fn marker_value(seq: u64) -> u64 {
    // Odd, so never a whole number of seconds: PostgreSQL logs it as the bare number.
    1_000_000_001 + 2 * seq
}

fn marker_line(value: u64) -> String {
    format!("parameter \"{MARKER_SETTING}\" changed to \"{value}\"")
}

/// Reads complete lines appended to a log file since an offset.
struct LogTail {
    path: std::path::PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// Complete lines read but not yet consumed.
    pending: VecDeque<String>,
}

impl LogTail {
    fn at_end(path: &std::path::Path) -> Result<LogTail> {
        let offset = std::fs::metadata(path)
            .map_err(|e| TestkitError::io("stat", path, e))?
            .len();
        Ok(LogTail {
            path: path.to_path_buf(),
            offset,
            partial: Vec::new(),
            pending: VecDeque::new(),
        })
    }

    /// Reads what was appended since the last call into `pending`.
    fn fill(&mut self) -> Result<()> {
        let mut file =
            std::fs::File::open(&self.path).map_err(|e| TestkitError::io("open", &self.path, e))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| TestkitError::io("seek", &self.path, e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .map_err(|e| TestkitError::io("read", &self.path, e))?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.pending
                .push_back(String::from_utf8_lossy(&line[..pos]).into_owned());
        }
        Ok(())
    }

    /// Consumes lines until one contains `needle`, pushing the lines before it onto `seen`;
    /// lines after it stay pending for the next call.
    fn until(&mut self, needle: &str, seen: &mut Vec<String>) -> Result<()> {
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        loop {
            self.fill()?;
            while let Some(line) = self.pending.pop_front() {
                if line.contains(needle) {
                    return Ok(());
                }
                let broken = line.contains("contains errors; no changes were applied");
                seen.push(line);
                if broken {
                    return Err(TestkitError::Reload {
                        detail: "postgresql.conf has errors; the kit's marker setting was not \
                                 applied, so the end of the reload cannot be observed"
                            .to_string(),
                        log: seen.join("\n"),
                    });
                }
            }
            if Instant::now() > deadline {
                return Err(TestkitError::Reload {
                    detail: format!("timed out waiting for `{needle}` in the server log"),
                    log: seen.join("\n"),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Cluster {
    fn mark_and_signal(&self, client: &mut postgres::Client, value: u64) -> Result<()> {
        // Two round trips: ALTER SYSTEM cannot run in the implicit transaction of a batch.
        client.batch_execute(&format!("ALTER SYSTEM SET {MARKER_SETTING} = {value}"))?;
        client.batch_execute("SELECT pg_reload_conf()")?;
        Ok(())
    }

    /// Reloads the configuration (`pg_reload_conf()`) and returns once the postmaster has
    /// finished handling it, pg_hba.conf and pg_ident.conf included, whether or not they
    /// loaded.
    ///
    /// `pg_reload_conf()` only sends SIGHUP; the postmaster handles it later. While handling it,
    /// the postmaster (1) re-reads postgresql.conf and postgresql.auto.conf, logging
    /// `parameter "X" changed to "Y"` at LOG level for every changed setting, then (2) loads
    /// pg_hba.conf (logging `... pg_hba.conf was not reloaded` when that fails and keeping the old
    /// rules) and (3) pg_ident.conf likewise. Reloads are handled one after the other.
    ///
    /// So the kit sets a harmless setting (`log_min_duration_sample`, to huge odd millisecond
    /// values, which only affects statements running longer than ~11 days) to a fresh value N1
    /// with ALTER SYSTEM, reloads, and waits for the `changed to "N1"` line in the server log:
    /// that handling read our files after we wrote them. It then does the same with N2: once the
    /// N2 line appears, the N1 handling — including its pg_hba.conf and pg_ident.conf loads — is
    /// complete. The log lines between the two tell whether those loads failed.
    ///
    /// Signals alone could not do this: two SIGHUPs can merge into one, and a "received SIGHUP"
    /// line may belong to a reload that started before our files were written. Verified on 15
    /// and 18 (the 16+ message names the full path: `/…/pg_hba.conf was not reloaded`).
    ///
    /// Errors: a postgresql.conf with errors (the marker is then not applied), or no marker
    /// line within 20 s; the error carries the log lines seen.
    pub fn reload(&self) -> Result<ReloadOutcome> {
        let mut guard = self.admin()?;
        let client = guard
            .as_mut()
            .ok_or_else(|| TestkitError::InvalidArgument("admin session missing".to_string()))?;
        let first = marker_value(self.reload_seq.fetch_add(2, Ordering::SeqCst));
        let second = first + 2;
        let mut tail = LogTail::at_end(&self.log_path)?;

        let mut before = Vec::new();
        self.mark_and_signal(client, first)?;
        tail.until(&marker_line(first), &mut before)?;

        let mut during = Vec::new();
        self.mark_and_signal(client, second)?;
        tail.until(&marker_line(second), &mut during)?;
        // The last line before the second marker is that handling's "received SIGHUP".
        if during
            .last()
            .is_some_and(|l| l.contains("received SIGHUP, reloading configuration files"))
        {
            during.pop();
        }
        let hba_reloaded = !during
            .iter()
            .any(|l| l.contains("pg_hba.conf was not reloaded"));
        let ident_reloaded = !during
            .iter()
            .any(|l| l.contains("pg_ident.conf was not reloaded"));
        before.extend(during);
        Ok(ReloadOutcome {
            hba_reloaded,
            ident_reloaded,
            log: before,
        })
    }
}
