//! `gatehouse serve --config FILE` and `gatehouse check --config FILE`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use gatehouse_proxy::server::Gateway;

use crate::config;
use crate::output::say;

/// `--config FILE`.
#[derive(Args, Debug)]
pub struct ConfigArg {
    /// gatehouse.toml (relative paths in it are relative to its directory).
    #[arg(long)]
    pub config: PathBuf,
}

/// `check`: loads everything, prints warnings, exit 0 (ok) or 2 (errors on stderr).
pub fn check(args: &ConfigArg, out: &mut String) -> Result<u8> {
    let loaded = config::load(&args.config)?;
    // The stored dynamic rules must still fit this configuration (serve refuses
    // otherwise). A missing store is fine: serve creates it.
    if let Some(policy) = stored_policy(&loaded.state_file, &loaded.gateway.network)? {
        policy
            .compile(gatehouse_netacl::Timestamp::now())
            .map_err(|errs| {
                let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
                anyhow::anyhow!(
                    "{}: the stored rules do not fit this configuration: {}",
                    loaded.state_file.display(),
                    lines.join("; ")
                )
            })?;
    }
    if let Some(iam) = &loaded.iam {
        // The stored IAM directory must decrypt with the key file and parse.
        config::iam::directory(iam, &loaded.state_file)?;
    }
    for w in &loaded.warnings {
        say!(out, "warning: {w}");
    }
    let g = &loaded.gateway;
    say!(
        out,
        "configuration OK: {} listen address(es), pg_hba.conf with {} line(s), upstream {}",
        g.listen.len(),
        g.rules.hba.lines.len(),
        g.upstream.addr.describe()
    );
    Ok(0)
}

/// `serve`: runs until SIGINT or SIGTERM.
pub fn serve(args: &ConfigArg) -> Result<u8> {
    let loaded = config::load(&args.config)?;
    init_logging(&loaded.log)?;
    runtime()?.block_on(async {
        start(&args.config, loaded)
            .await?
            .run(shutdown_signal())
            .await
    })?;
    Ok(0)
}

/// The async runtime `serve` (and `quickstart`) run the gateway on.
///
/// # Errors
/// The runtime cannot start.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Installs the process's log subscriber as `[log]` says: `format` and `level` (or
/// `GATEHOUSE_LOG`) on stderr, and the decision events as JSON lines appended to
/// `decision_file` when one is set.
///
/// # Errors
/// A bad filter, or the decision file cannot be opened.
pub fn init_logging(log: &config::LogSection) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = match std::env::var("GATEHOUSE_LOG") {
        Ok(env) => tracing_subscriber::EnvFilter::try_new(&env)
            .with_context(|| format!("GATEHOUSE_LOG={env:?} is not a tracing filter"))?,
        Err(_) => {
            let level = log.level.clone().unwrap_or_else(|| "info".into());
            tracing_subscriber::EnvFilter::try_new(&level).context("[log] level")?
        }
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let stderr = if log.format.as_deref() == Some("json") {
        stderr.json().flatten_event(true).boxed()
    } else {
        stderr.boxed()
    };
    let decisions = match &log.decision_file {
        None => None,
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("[log] decision_file {}: cannot open", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_ansi(false)
                    .with_writer(std::sync::Arc::new(file))
                    .with_filter(
                        tracing_subscriber::filter::Targets::new()
                            .with_target("gatehouse::decision", tracing::Level::INFO),
                    ),
            )
        }
    };
    tracing_subscriber::registry()
        .with(stderr.with_filter(filter))
        .with(decisions)
        .init();
    Ok(())
}

/// A gateway bound to its listeners, with its admin API, SIGHUP reload and IAM
/// directory watcher started; [`Started::run`] serves until the shutdown future ends.
pub struct Started {
    gateway: Gateway,
    admin_socket: PathBuf,
}

impl Started {
    /// The addresses the listeners are bound to.
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.gateway.local_addrs()
    }

    /// Serves until `shutdown` completes, then closes the listeners and cuts the
    /// sessions, and removes the admin socket.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        self.gateway.run(shutdown).await;
        tracing::info!(target: "gatehouse::server", "shutting down");
        let _ = std::fs::remove_file(&self.admin_socket);
        Ok(())
    }
}

/// Starts the gateway `path` configures (already loaded as `loaded`, whose warnings
/// are logged): the configured network policy plus the state store's rules and
/// members, the IAM directory, the admin API and SIGHUP reloads. Call it inside the
/// runtime (it spawns tasks).
///
/// # Errors
/// The state store, the IAM directory, a listener or the admin socket fails.
pub async fn start(path: &Path, loaded: config::Loaded) -> Result<Started> {
    for w in &loaded.warnings {
        tracing::warn!(target: "gatehouse::config", "{w}");
    }
    let state_file = loaded.state_file.clone();
    let admin_socket = loaded.admin_socket.clone();
    let network = loaded.gateway.network.clone();
    let mut gateway_config = loaded.gateway;

    // The gateway starts with the configured policy plus the stored rules and
    // members, compiled once by Gateway::bind.
    let store = gatehouse_state::StateStore::open(&state_file)
        .with_context(|| format!("state store {}", state_file.display()))?;
    gateway_config.network = crate::admin::server::merged(&store, network.clone())?;
    if let Some(iam) = &loaded.iam {
        // The watcher's own connection: its data_version baseline is read before the
        // directory is built from it, so no change made in between goes unnoticed.
        let watched = gatehouse_state::StateStore::open(&state_file)
            .with_context(|| format!("state store {}", state_file.display()))?;
        let seen = watched.data_version()?;
        let gate = std::sync::Arc::new(gatehouse_proxy::iam::IamGate::new(
            iam.settings.clone(),
            iam.token_only_role.clone(),
            config::iam::directory_from(iam, &watched)?,
        ));
        watch_iam(gate.clone(), iam.clone(), watched, seen);
        gateway_config.iam = Some(gate);
    }
    let gateway = Gateway::bind(gateway_config).await.map_err(|e| {
        anyhow::anyhow!(
            "{e} (if the state store's rules name a group no longer in gatehouse.toml: \
             put the group back, or remove those rules with `gatehouse sg` first)"
        )
    })?;
    let shared = gateway.shared();
    let admin = crate::admin::server::Admin::new(store, network, shared.clone());
    let listener = crate::admin::server::bind(&admin_socket)?;
    for a in gateway.local_addrs() {
        tracing::info!(target: "gatehouse::server", address = %a, "listening");
    }
    let admin_for_api = admin.clone();
    let socket = admin_socket.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::admin::server::serve(admin_for_api, listener, socket).await {
            tracing::error!(target: "gatehouse::server", error = %format!("{e:#}"), "admin API stopped");
        }
    });
    tokio::spawn(reload_on_sighup(path.to_path_buf(), shared, admin));
    Ok(Started {
        gateway,
        admin_socket,
    })
}

/// SIGHUP: re-read the configuration; on success new connections use the new
/// pg_hba.conf, pg_ident.conf and secret source (running sessions are kept); on
/// failure the running configuration stays, as PostgreSQL does with a broken
/// pg_hba.conf. Listen addresses, TLS and upstream changes need a restart.
async fn reload_on_sighup(
    path: PathBuf,
    shared: std::sync::Arc<gatehouse_proxy::server::Shared>,
    admin: std::sync::Arc<crate::admin::server::Admin>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!(target: "gatehouse::server", "cannot listen for SIGHUP: reload disabled");
        return;
    };
    while hup.recv().await.is_some() {
        match config::load(&path) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(target: "gatehouse::config", "{w}");
                }
                let lines = loaded.gateway.rules.hba.lines.len();
                let running_iam = shared
                    .iam
                    .as_ref()
                    .map(|g| (g.settings().clone(), g.token_only_role().map(str::to_owned)));
                let new_iam = loaded
                    .iam
                    .as_ref()
                    .map(|c| (c.settings.clone(), c.token_only_role.clone()));
                if running_iam != new_iam {
                    tracing::warn!(
                        target: "gatehouse::config",
                        "[iam] changed: it is read at start only; restart gatehouse to use the new settings"
                    );
                }
                if let Err(e) = admin.reload_static(loaded.gateway.network) {
                    tracing::error!(
                        target: "gatehouse::config",
                        error = %e,
                        "reload failed (network policy); keeping the running configuration"
                    );
                    continue;
                }
                shared.reload(loaded.gateway.rules, loaded.gateway.secrets);
                tracing::info!(
                    target: "gatehouse::config",
                    hba_lines = lines,
                    "configuration reloaded (pg_hba.conf, pg_ident.conf, secrets, network)"
                );
            }
            Err(e) => tracing::error!(
                target: "gatehouse::config",
                error = %format!("{e:#}"),
                "reload failed; keeping the running configuration"
            ),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The configured network policy merged with the state store's rules and
/// members, when the store file exists.
///
/// # Errors
/// The store exists but cannot be opened or read.
pub fn stored_policy(
    state_file: &std::path::Path,
    base: &gatehouse_proxy::network::NetworkPolicy,
) -> Result<Option<gatehouse_proxy::network::NetworkPolicy>> {
    if !state_file.exists() {
        return Ok(None);
    }
    let store = gatehouse_state::StateStore::open(state_file)
        .with_context(|| format!("state store {}", state_file.display()))?;
    Ok(Some(crate::admin::server::merged(&store, base.clone())?))
}

/// Every second: when another process (`gatehouse iam …`) changed the state store,
/// the IAM directory is rebuilt and swapped in for new logins (a broken one is
/// logged and the running one kept); access keys used since the last tick get
/// their last-used time written. On a thread of its own: SQLite calls block.
fn watch_iam(
    gate: std::sync::Arc<gatehouse_proxy::iam::IamGate>,
    cfg: config::iam::IamConfig,
    store: gatehouse_state::StateStore,
    mut seen: i64,
) {
    let spawned = std::thread::Builder::new()
        .name("iam-directory".into())
        .spawn(move || {
            let s = &store;
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                for (key_id, at) in gate.take_last_used() {
                    if let Err(e) = s.touch_access_key(&key_id, at) {
                        tracing::warn!(target: "gatehouse::iam", error = %e, "cannot record an access key's last use");
                    }
                }
                let version = match s.data_version() {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(target: "gatehouse::iam", error = %e, "cannot poll the state store");
                        continue;
                    }
                };
                if std::mem::replace(&mut seen, version) == version {
                    continue;
                }
                match config::iam::directory_from(&cfg, s) {
                    Ok(d) => {
                        gate.set_directory(d);
                        tracing::info!(target: "gatehouse::iam", "IAM directory reloaded from the state store");
                    }
                    Err(e) => tracing::error!(
                        target: "gatehouse::iam",
                        error = %format!("{e:#}"),
                        "IAM directory reload failed; keeping the running one"
                    ),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(target: "gatehouse::iam", error = %e, "cannot start the IAM directory watcher");
    }
}
