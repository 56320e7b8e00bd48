//! Test harness: a gateway running in this process in front of a throwaway
//! PostgreSQL (the test kit), and helpers to run real clients against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_hba::{HbaFile, IdentFile, OsFiles, ParseOptions, PgVersion};
use gatehouse_proxy::auth::Userlist;
use gatehouse_proxy::catalog::{Catalog, CatalogLogin, SecretSource, DEFAULT_AUTH_QUERY};
use gatehouse_proxy::config::{GatewayConfig, Limits, Rules, Upstream, UpstreamAddr, UpstreamAuth};
use gatehouse_proxy::server::Gateway;
use gatehouse_proxy::tls::{ServerTls, TlsSettings};
use gatehouse_testkit::tls::{write_pem_files, CertAuthority};
use gatehouse_testkit::Cluster;

/// SQL that sets up the auth_query login and function (docs/upstream-setup.sql).
pub const SETUP_SQL: &str = include_str!("../../../../docs/upstream-setup.sql");

/// A gateway serving on 127.0.0.1:<port> until dropped.
pub struct Gw {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The running gateway's shared state (reloads, registry).
    pub shared: Arc<gatehouse_proxy::server::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gw {
    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Decision events go to the test's captured output (shown when a test fails).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_ansi(false)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .try_init();
    });
}

/// Starts `config` (listen addresses are replaced by 127.0.0.1:0).
pub fn start(config: GatewayConfig) -> Gw {
    start_on(config, "127.0.0.1:0".parse().expect("addr"))
}

/// Starts `config` listening on `listen` (port 0: any free port).
pub fn start_on(mut config: GatewayConfig, listen: SocketAddr) -> Gw {
    init_logging();
    config.listen = vec![listen];
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let gw = Gateway::bind(config).await.expect("bind");
            addr_tx
                .send((gw.local_addrs()[0], gw.shared()))
                .expect("send addr");
            gw.run(async {
                let _ = stop_rx.await;
            })
            .await;
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
    let (addr, shared) = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("gateway started");
    Gw {
        addr,
        shared,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// A scratch directory for config files.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gatehouse-gw-")
        .tempdir()
        .expect("tempdir")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Rules from pg_hba.conf text (and optional pg_ident.conf text), written into `dir`.
pub fn rules(dir: &Path, hba: &str, ident: Option<&str>, version: PgVersion) -> Arc<Rules> {
    let opts = ParseOptions {
        version,
        extensions: true,
        ..ParseOptions::default()
    };
    let hba_path = write(dir, "pg_hba.conf", hba);
    let hba = HbaFile::load(
        &hba_path.to_string_lossy(),
        &OsFiles,
        &opts,
        &gatehouse_hba::NoResolver,
    )
    .expect("load hba");
    assert!(hba.is_loadable(), "{:?}", hba.errors);
    let ident = match ident {
        None => IdentFile::default(),
        Some(t) => {
            let p = write(dir, "pg_ident.conf", t);
            IdentFile::load(&p.to_string_lossy(), &OsFiles, &opts).expect("load ident")
        }
    };
    Arc::new(Rules::new(
        hba,
        ident,
        version,
        gatehouse_hba::system_interfaces().unwrap_or_default(),
    ))
}

/// The cluster's Unix socket as the upstream address.
pub fn unix_addr(cluster: &Cluster) -> UpstreamAddr {
    UpstreamAddr::Unix {
        dir: cluster.socket_dir().to_path_buf(),
        port: cluster.port(),
    }
}

/// A userlist (PgBouncer auth_file) from `(role, secret)` pairs.
pub fn userlist(dir: &Path, entries: &[(&str, &str)]) -> Arc<Userlist> {
    let text: String = entries
        .iter()
        .map(|(u, s)| format!("\"{u}\" \"{s}\"\n"))
        .collect();
    let p = write(dir, "userlist.txt", &text);
    Arc::new(Userlist::parse(&p.to_string_lossy(), &text).expect("userlist"))
}

/// auth_query through `gatehouse_auth` over the cluster's Unix socket (the
/// cluster must have run [`SETUP_SQL`]).
pub fn auth_query(cluster: &Cluster, ttl: Duration) -> SecretSource {
    SecretSource::AuthQuery {
        catalog: Catalog::new(
            CatalogLogin {
                host: cluster.socket_dir().to_string_lossy().into_owned(),
                port: cluster.port(),
                database: "postgres".into(),
                user: "gatehouse_auth".into(),
                password: None,
                connect_timeout: Duration::from_secs(5),
            },
            ttl,
        ),
        query: DEFAULT_AUTH_QUERY.into(),
    }
}

/// A config with no TLS, the given rules, upstream and secrets.
pub fn config(
    rules: Arc<Rules>,
    upstream: UpstreamAddr,
    auth: UpstreamAuth,
    secrets: SecretSource,
) -> GatewayConfig {
    GatewayConfig {
        listen: vec![],
        tls: None,
        rules,
        upstream: Arc::new(Upstream {
            addr: upstream,
            auth,
            reuse: None,
        }),
        secrets: Arc::new(secrets),
        limits: Limits::default(),
        network: gatehouse_proxy::network::NetworkPolicy::open(1),
        proxy: None,
        iam: None,
    }
}

/// TLS material in `dir`: a CA, a server certificate for localhost/127.0.0.1, a
/// client certificate with CN `client_cn`.
pub struct Pki {
    /// CA certificate file (PEM).
    pub ca: PathBuf,
    /// Client certificate and key files.
    pub client: (PathBuf, PathBuf),
    /// The server TLS state.
    pub server: Arc<ServerTls>,
}

/// Makes a [`Pki`].
pub fn pki(dir: &Path, client_cn: &str) -> Pki {
    let ca = CertAuthority::new("gatehouse test CA").expect("ca");
    let ca_path = write(dir, "ca.crt", ca.cert_pem());
    let server = ca
        .server_cert(&["localhost", "127.0.0.1"])
        .expect("server cert");
    let (scert, skey) = write_pem_files(dir, "server", &server).expect("write server");
    let client = ca.client_cert(client_cn, &[]).expect("client cert");
    let (ccert, ckey) = write_pem_files(dir, "client", &client).expect("write client");
    let mut settings = TlsSettings::new(scert, skey);
    settings.client_ca_file = Some(ca_path.clone());
    let server = Arc::new(ServerTls::load(&settings).expect("server tls"));
    Pki {
        ca: ca_path,
        client: (ccert, ckey),
        server,
    }
}

/// Runs psql from the cluster's version with `conninfo` and `-c sql`, no psqlrc.
pub fn psql(cluster: &Cluster, conninfo: &str, password: Option<&str>, sql: &str) -> Output {
    let mut cmd = Command::new(cluster.bin_dir().join("psql"));
    cmd.args([
        "-X",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
        "-c",
        sql,
    ])
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGPASSWORD")
    .env_remove("PGSSLMODE");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.output().expect("run psql")
}

/// stdout of a successful run, trimmed; panics with stderr otherwise.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// stderr of a failed run; panics if it succeeded.
pub fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The repository's Python venv interpreter (scripts/install-deps makes it).
pub fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

/// Runs a Python snippet with the venv; returns the output.
pub fn run_python(code: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(code);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run python")
}
