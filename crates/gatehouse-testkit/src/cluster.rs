//! A throwaway PostgreSQL cluster: start, configuration files, admin SQL, stop on drop.

use std::io::Write;
use std::net::{Ipv6Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::{NoTls, SimpleQueryMessage};
use tempfile::TempDir;

use crate::error::{Result, TestkitError};
use crate::janitor;
use crate::osuser::{base_dir, run_checked, server_bin_dir, RunAs};
use crate::probe::{Probe, ProbeOutcome, ProbeTarget};
use crate::server::Server;
use crate::template;
use crate::version::PgVersion;

/// The pg_hba.conf every cluster starts with.
pub const DEFAULT_HBA: &str = "local all all trust\nhost all all 127.0.0.1/32 trust\n";

/// How many ports to try when another process takes the chosen one first.
const START_ATTEMPTS: usize = 5;

/// How to start a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Server version.
    pub version: PgVersion,
    /// Listen on `::1` too: `None` = when this machine can bind `::1`.
    pub ipv6: Option<bool>,
    /// `ssl = on` with a fresh self-signed certificate (default true).
    pub ssl: bool,
    /// Copy a cached initdb'd template instead of running initdb (default true).
    pub use_template: bool,
    /// The initial pg_hba.conf (default [`DEFAULT_HBA`]).
    pub hba: String,
    /// The initial pg_ident.conf (default: a comment).
    pub ident: String,
    /// Extra `postgresql.conf` settings, appended after the kit's own (`name`, raw value —
    /// quote strings yourself: `("work_mem", "'8MB'")`).
    pub settings: Vec<(String, String)>,
    /// Folder to create the cluster's temporary folder in (default: `$GATEHOUSE_TESTKIT_DIR`,
    /// else `/dev/shm` when writable, else the system temp dir).
    pub base_dir: Option<PathBuf>,
}

impl ClusterOptions {
    /// Defaults for `version`.
    pub fn new(version: PgVersion) -> ClusterOptions {
        ClusterOptions {
            version,
            ipv6: None,
            ssl: true,
            use_template: true,
            hba: DEFAULT_HBA.to_string(),
            ident: "# gatehouse-testkit: empty pg_ident.conf\n".to_string(),
            settings: Vec::new(),
            base_dir: None,
        }
    }

    /// Sets the initial pg_hba.conf.
    pub fn hba(mut self, text: impl Into<String>) -> ClusterOptions {
        self.hba = text.into();
        self
    }

    /// Sets the initial pg_ident.conf.
    pub fn ident(mut self, text: impl Into<String>) -> ClusterOptions {
        self.ident = text.into();
        self
    }

    /// Adds a `postgresql.conf` setting (raw value, quote strings yourself).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> ClusterOptions {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Forces listening on `::1` on or off.
    pub fn ipv6(mut self, on: bool) -> ClusterOptions {
        self.ipv6 = Some(on);
        self
    }

    /// Turns TLS on or off.
    pub fn ssl(mut self, on: bool) -> ClusterOptions {
        self.ssl = on;
        self
    }

    /// Uses (or not) the cached initdb template.
    pub fn use_template(mut self, on: bool) -> ClusterOptions {
        self.use_template = on;
        self
    }
}

/// A running throwaway cluster. Dropping it stops the server (immediate mode) and removes
/// its folder, also when the test panics.
///
/// Layout of its temporary folder: `data/` (PGDATA), `conf/` (`pg_hba.conf`,
/// `pg_ident.conf`, and whatever [`Cluster::write_conf_file`] puts there), `tls/`
/// (`server.crt`, `server.key`), `sock/` (the Unix socket), `server.log`.
///
/// One superuser session over the Unix socket is opened at start and kept, so SQL keeps
/// working after a pg_hba.conf that locks everyone out has been loaded.
pub struct Cluster {
    pub(crate) admin: Mutex<Option<postgres::Client>>,
    server: Option<Server>,
    root: Option<TempDir>,
    pub(crate) version: PgVersion,
    pub(crate) server_major: u32,
    bin_dir: PathBuf,
    data_dir: PathBuf,
    conf_dir: PathBuf,
    socket_dir: PathBuf,
    cert_path: Option<PathBuf>,
    pub(crate) log_path: PathBuf,
    port: u16,
    ipv6: bool,
    run_as: RunAs,
    pub(crate) reload_seq: AtomicU64,
    startup_time: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("version", &self.version)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

fn pg_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ipv6_loopback_works() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A port free on 127.0.0.1 (and on ::1 when `ipv6`) right now.
fn free_port(ipv6: bool) -> Result<u16> {
    for _ in 0..20 {
        let v4 = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| TestkitError::io("bind", "127.0.0.1:0", e))?;
        let port = v4
            .local_addr()
            .map_err(|e| TestkitError::io("local_addr", "127.0.0.1:0", e))?
            .port();
        if !ipv6 || TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(TestkitError::InvalidArgument(
        "no port free on both 127.0.0.1 and ::1".to_string(),
    ))
}

fn mkdir(path: &Path, mode: u32, run_as: RunAs) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| TestkitError::io("create dir", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| TestkitError::io("chmod", path, e))?;
    Ok(run_as.chown(path)?)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, run_as: RunAs) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| TestkitError::io("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| TestkitError::io("chmod", path, e))?;
    Ok(run_as.chown(path)?)
}

impl Cluster {
    /// Starts a cluster of `version` with default options.
    pub fn start(version: PgVersion) -> Result<Cluster> {
        Cluster::start_with(ClusterOptions::new(version))
    }

    /// Starts a cluster as `options` say.
    pub fn start_with(options: ClusterOptions) -> Result<Cluster> {
        let started = Instant::now();
        let version = options.version;
        let run_as = RunAs::get()?;
        let bin_dir = server_bin_dir(version, run_as)?;
        janitor::reap_orphans_once();

        let base = options.base_dir.clone().unwrap_or_else(base_dir);
        let root = tempfile::Builder::new()
            .prefix(janitor::DIR_PREFIX)
            .tempdir_in(&base)
            .map_err(|e| TestkitError::io("create temp dir in", &base, e))?;
        let root_path = root.path().to_path_buf();
        // 0711: other users (peer-auth tests) may reach the socket, not list the folder.
        mkdir(&root_path, 0o711, run_as)?;
        janitor::write_owner(&root_path)?;

        let conf_dir = root_path.join("conf");
        let socket_dir = root_path.join("sock");
        let tls_dir = root_path.join("tls");
        let data_dir = root_path.join("data");
        let log_path = root_path.join("server.log");
        mkdir(&conf_dir, 0o755, run_as)?;
        mkdir(&socket_dir, 0o755, run_as)?;
        mkdir(&tls_dir, 0o700, run_as)?;
        write_file(
            &conf_dir.join("pg_hba.conf"),
            options.hba.as_bytes(),
            0o644,
            run_as,
        )?;
        write_file(
            &conf_dir.join("pg_ident.conf"),
            options.ident.as_bytes(),
            0o644,
            run_as,
        )?;

        let cert_path = if options.ssl {
            let cert = crate::tls::self_signed(&["localhost", "127.0.0.1", "::1"])?;
            write_file(
                &tls_dir.join("server.crt"),
                cert.cert_pem.as_bytes(),
                0o644,
                run_as,
            )?;
            write_file(
                &tls_dir.join("server.key"),
                cert.key_pem.as_bytes(),
                0o600,
                run_as,
            )?;
            Some(tls_dir.join("server.crt"))
        } else {
            None
        };

        if options.use_template {
            let template = template::template(&bin_dir, run_as)?;
            run_checked(run_as.command("cp").arg("-a").arg(&template).arg(&data_dir))?;
        } else {
            template::initdb(&bin_dir, run_as, &data_dir)?;
        }

        let ipv6 = options.ipv6.unwrap_or_else(ipv6_loopback_works);
        let listen = if ipv6 { "127.0.0.1,::1" } else { "127.0.0.1" };
        let mut conf = format!(
            "\n# --- gatehouse-testkit ---\n\
             listen_addresses = '{listen}'\n\
             unix_socket_directories = {sock}\n\
             unix_socket_permissions = 0777\n\
             hba_file = {hba}\n\
             ident_file = {ident}\n\
             password_encryption = md5\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             shared_buffers = 16MB\n\
             max_connections = 50\n\
             autovacuum = off\n\
             jit = off\n\
             log_min_messages = warning\n\
             log_destination = 'stderr'\n\
             logging_collector = off\n",
            sock = pg_quote(&socket_dir.to_string_lossy()),
            hba = pg_quote(&conf_dir.join("pg_hba.conf").to_string_lossy()),
            ident = pg_quote(&conf_dir.join("pg_ident.conf").to_string_lossy()),
        );
        if let Some(cert) = &cert_path {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = {}\nssl_key_file = {}\n",
                pg_quote(&cert.to_string_lossy()),
                pg_quote(&tls_dir.join("server.key").to_string_lossy())
            ));
        }
        for (name, value) in &options.settings {
            conf.push_str(&format!("{name} = {value}\n"));
        }
        let conf_path = data_dir.join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| TestkitError::io("append to", &conf_path, e))?;

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port(ipv6)?;
            match Server::start(&bin_dir, run_as, &data_dir, &log_path, port, version) {
                Ok(server) => {
                    let mut cluster = Cluster {
                        admin: Mutex::new(None),
                        server: Some(server),
                        root: Some(root),
                        version,
                        server_major: version.major(),
                        bin_dir,
                        data_dir,
                        conf_dir,
                        socket_dir,
                        cert_path,
                        log_path,
                        port,
                        ipv6,
                        run_as,
                        reload_seq: AtomicU64::new(0),
                        startup_time: Duration::ZERO,
                    };
                    let num = cluster.query_value("SHOW server_version_num")?;
                    cluster.server_major = num
                        .and_then(|n| n.parse::<u32>().ok())
                        .map(|n| n / 10_000)
                        .unwrap_or(version.major());
                    cluster.startup_time = started.elapsed();
                    return Ok(cluster);
                }
                Err(e @ TestkitError::Start { .. }) if Server::port_clash(&log_path) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| TestkitError::Start {
            version,
            detail: "no attempt made".to_string(),
            log: String::new(),
        }))
    }

    /// The admin session, reconnected over the Unix socket if it was closed.
    pub(crate) fn admin(&self) -> Result<MutexGuard<'_, Option<postgres::Client>>> {
        let mut guard = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            let client = postgres::Config::new()
                .host_path(&self.socket_dir)
                .port(self.port)
                .user("postgres")
                .dbname("postgres")
                .application_name("gatehouse-testkit-admin")
                .connect_timeout(Duration::from_secs(10))
                .connect(NoTls)?;
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// Runs `f` with the superuser session (for typed queries with the `postgres` crate).
    pub fn with_admin<R>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<R, postgres::Error>,
    ) -> Result<R> {
        let mut guard = self.admin()?;
        let client = guard
            .as_mut()
            .ok_or_else(|| TestkitError::InvalidArgument("admin session missing".to_string()))?;
        Ok(f(client)?)
    }

    /// Runs one or more SQL statements (simple query protocol) as superuser.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.with_admin(|c| c.batch_execute(sql))
    }

    /// Runs SQL as superuser and returns every row of every result, values as text.
    pub fn query_strings(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let messages = self.with_admin(|c| c.simple_query(sql))?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The first column of the first row (`None` for no rows or NULL).
    pub fn query_value(&self, sql: &str) -> Result<Option<String>> {
        Ok(self
            .query_strings(sql)?
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next().flatten()))
    }

    fn conf_path(&self, relative: &Path) -> Result<PathBuf> {
        if relative.as_os_str().is_empty()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(TestkitError::InvalidArgument(format!(
                "conf file path must be relative without `..`: {}",
                relative.display()
            )));
        }
        Ok(self.conf_dir.join(relative))
    }

    /// Writes `bytes` to `relative` inside [`Cluster::conf_dir`], creating folders, owned by
    /// the server user (mode 0644): `include` files and `@file` lists next to pg_hba.conf.
    /// Returns the absolute path written.
    pub fn write_conf_file(&self, relative: impl AsRef<Path>, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.conf_path(relative.as_ref())?;
        if let Some(parent) = path.parent() {
            let mut dir = self.conf_dir.clone();
            if let Ok(rel) = parent.strip_prefix(&self.conf_dir) {
                for part in rel.components() {
                    dir.push(part);
                    if !dir.is_dir() {
                        mkdir(&dir, 0o755, self.run_as)?;
                    }
                }
            }
        }
        write_file(&path, bytes, 0o644, self.run_as)?;
        Ok(path)
    }

    /// Replaces `conf/pg_hba.conf` (takes effect on [`Cluster::reload`]).
    pub fn write_hba(&self, text: &str) -> Result<()> {
        self.write_conf_file("pg_hba.conf", text.as_bytes())
            .map(|_| ())
    }

    /// Replaces `conf/pg_ident.conf` (takes effect on [`Cluster::reload`]).
    pub fn write_ident(&self, text: &str) -> Result<()> {
        self.write_conf_file("pg_ident.conf", text.as_bytes())
            .map(|_| ())
    }

    /// Runs a probe against this cluster (Unix socket or loopback TCP).
    pub fn probe(&self, probe: &Probe) -> Result<ProbeOutcome> {
        crate::probe::probe(&self.probe_target(), probe)
    }

    /// Where probes for this cluster go.
    pub fn probe_target(&self) -> ProbeTarget {
        ProbeTarget {
            socket_dir: Some(self.socket_dir.clone()),
            ..ProbeTarget::loopback(self.port)
        }
    }

    /// The folder with pg_hba.conf, pg_ident.conf and files written by `write_conf_file`.
    pub fn conf_dir(&self) -> &Path {
        &self.conf_dir
    }

    /// The pg_hba.conf the server uses (`conf/pg_hba.conf`).
    pub fn hba_path(&self) -> PathBuf {
        self.conf_dir.join("pg_hba.conf")
    }

    /// The pg_ident.conf the server uses (`conf/pg_ident.conf`).
    pub fn ident_path(&self) -> PathBuf {
        self.conf_dir.join("pg_ident.conf")
    }

    /// The TCP port (on 127.0.0.1, and on ::1 when [`Cluster::ipv6`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server also listens on `::1`.
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// The folder of the Unix socket (`.s.PGSQL.<port>` inside).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server version.
    pub fn version(&self) -> PgVersion {
        self.version
    }

    /// The major version the server reports (`server_version_num / 10000`).
    pub fn server_major(&self) -> u32 {
        self.server_major
    }

    /// The folder of the server programs used.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// PGDATA.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The cluster's temporary folder (removed on drop).
    pub fn root_dir(&self) -> &Path {
        self.data_dir.parent().unwrap_or(&self.data_dir)
    }

    /// The server's self-signed certificate (PEM file), when TLS is on.
    pub fn cert_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// The server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log so far.
    pub fn server_log(&self) -> Result<String> {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| TestkitError::io("read", &self.log_path, e))
    }

    /// The postmaster's process id.
    pub fn postmaster_pid(&self) -> Option<i32> {
        self.server.as_ref().and_then(Server::pid)
    }

    /// How long [`Cluster::start`] took for this cluster.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// A libpq-style connection string for the Unix socket (`host=<sock> port=<port>`).
    pub fn unix_conninfo(&self, user: &str, database: &str) -> String {
        format!(
            "host={} port={} user={user} dbname={database}",
            self.socket_dir.display(),
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Order: close the admin session, stop the server, then remove the folder.
        let client = self
            .admin
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|p| p.into_inner().take());
        drop(client);
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        if let Some(root) = self.root.take() {
            let path = root.path().to_path_buf();
            if root.close().is_err() {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    }
}
