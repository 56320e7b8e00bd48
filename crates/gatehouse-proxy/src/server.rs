//! Listeners and the accept loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::auth::MockAuthKey;
use crate::cancel::CancelRegistry;
use crate::catalog::SecretSource;
use crate::config::{GatewayConfig, Limits, Rules, Upstream};
use crate::decision::{Decision, Outcome};
use crate::network::{verdict_text, CompiledNetwork, NetworkPolicy};
use crate::pool::UpstreamPool;
use crate::protocol::{encode_error_response, ErrorFields, Severity};
use crate::proxy_header::{read_proxy_header, ProxySettings};
use crate::sessions::Sessions;
use crate::tls::ServerTls;
use gatehouse_netacl::Timestamp;

/// What every session of one gateway shares.
pub struct Shared {
    /// Client TLS.
    pub tls: Option<Arc<ServerTls>>,
    /// pg_hba / pg_ident (swapped whole on reload).
    rules: RwLock<Arc<Rules>>,
    /// The upstream.
    pub upstream: Arc<Upstream>,
    /// Secrets and memberships (swapped whole on reload).
    secrets: RwLock<Arc<SecretSource>>,
    /// Budgets.
    pub limits: Limits,
    /// Issued cancel keys.
    pub cancel: CancelRegistry,
    /// Per-process key for the mock SCRAM salts of unknown roles.
    pub mock_key: MockAuthKey,
    /// Parked upstream connections, when reuse is on.
    pub pool: Option<UpstreamPool>,
    /// Client connection slots ([`Limits::max_connections`]).
    slots: Arc<Semaphore>,
    /// Live sessions, for policy re-checks.
    pub sessions: Arc<Sessions>,
    /// Layer 1, as configured and as compiled now (swapped whole).
    network: RwLock<Arc<(NetworkPolicy, CompiledNetwork)>>,
    /// Wakes the network task when the policy changed.
    network_changed: Notify,
    /// PROXY protocol settings.
    proxy: Option<ProxySettings>,
    /// The `iam` method (`[iam]`), if configured.
    pub iam: Option<Arc<crate::iam::IamGate>>,
    conn_ids: AtomicU64,
}

impl Shared {
    /// The rules new connections are matched against.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The secret source new connections use.
    pub fn secrets(&self) -> Arc<SecretSource> {
        self.secrets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The network policy and its compiled form in force now.
    pub fn network(&self) -> Arc<(NetworkPolicy, CompiledNetwork)> {
        self.network
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the network policy (compiled at once) and re-checks live sessions
    /// on listeners that enforce on existing connections.
    ///
    /// # Errors
    /// The policy does not compile; the running one stays.
    pub fn reload_network(&self, policy: NetworkPolicy) -> Result<(), String> {
        let compiled = policy
            .compile(Timestamp::now())
            .map_err(|e| network_errors(&e))?;
        *self.network.write().unwrap_or_else(|p| p.into_inner()) = Arc::new((policy, compiled));
        self.network_changed.notify_one();
        Ok(())
    }

    /// Ends sessions the compiled policy no longer allows (on enforcing listeners).
    fn enforce(&self) {
        let net = self.network();
        let closed = self.sessions.close_unless(|index, source| {
            !net.1.enforces_on_existing(index) || net.1.check(index, source).is_allowed()
        });
        if closed > 0 {
            tracing::info!(
                target: "gatehouse::decision",
                outcome = Outcome::NetworkRevoked.as_str(),
                sessions = closed,
                "sessions ended: their source is no longer allowed (enforce_on_existing)"
            );
        }
    }

    /// Replaces the rules and secret source for connections accepted from now on
    /// (sessions already running keep going, as PostgreSQL's do after a reload).
    pub fn reload(&self, rules: Arc<Rules>, secrets: Arc<SecretSource>) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = secrets;
    }

    /// The next connection number (1, 2, …).
    pub fn next_conn_id(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A bound gateway, not yet accepting.
pub struct Gateway {
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
}

impl Gateway {
    /// Binds every listen address of `config`.
    ///
    /// # Errors
    /// The first address that cannot be bound.
    pub async fn bind(config: GatewayConfig) -> io::Result<Gateway> {
        let mut listeners = Vec::new();
        for addr in &config.listen {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push(l);
        }
        let pool = config.upstream.reuse.map(UpstreamPool::new);
        let compiled = config
            .network
            .compile(Timestamp::now())
            .map_err(|errs| io::Error::other(network_errors(&errs)))?;
        let shared = Arc::new(Shared {
            tls: config.tls,
            rules: RwLock::new(config.rules),
            upstream: config.upstream,
            secrets: RwLock::new(config.secrets),
            limits: config.limits,
            cancel: CancelRegistry::default(),
            mock_key: MockAuthKey::random(),
            pool,
            slots: Arc::new(Semaphore::new(config.limits.max_connections.max(1))),
            sessions: Arc::new(Sessions::default()),
            network: RwLock::new(Arc::new((config.network, compiled))),
            network_changed: Notify::new(),
            proxy: config.proxy,
            iam: config.iam,
            conn_ids: AtomicU64::new(0),
        });
        Ok(Gateway { listeners, shared })
    }

    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The shared state (for tests and the admin side).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts until `shutdown` completes; sessions run as their own tasks.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, l) in self.listeners.into_iter().enumerate() {
            tasks.spawn(accept_loop(l, index, self.shared.clone()));
        }
        {
            let shared = self.shared.clone();
            tasks.spawn(network_task(shared));
        }
        if self.shared.pool.is_some() {
            let shared = self.shared.clone();
            tasks.spawn(async move {
                loop {
                    let Some(pool) = shared.pool.as_ref() else {
                        return;
                    };
                    tokio::time::sleep(pool.reap_interval()).await;
                    pool.reap();
                }
            });
        }
        shutdown.await;
        tasks.abort_all();
    }
}

/// Recompiles the network policy when a rule or member expires, and enforces on
/// existing sessions after each change (expiry or reload) within the second.
async fn network_task(shared: Arc<Shared>) {
    loop {
        let wait = match shared.network().1.next_expiry() {
            Some(t) => {
                t.to_system_time()
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default()
                    + Duration::from_millis(10)
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                let policy = shared.network().0.clone();
                if let Err(e) = shared.reload_network(policy) {
                    tracing::error!(target: "gatehouse::server", error = %e, "network policy recompile failed");
                }
                // reload_network notified; the next iteration's select takes it.
            }
            _ = shared.network_changed.notified() => shared.enforce(),
        }
    }
}

fn network_errors(errs: &[gatehouse_netacl::ValidationError]) -> String {
    let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
    format!("network policy: {}", lines.join("; "))
}

async fn accept_loop(listener: TcpListener, index: usize, shared: Arc<Shared>) {
    let mut last_warning: Option<std::time::Instant> = None;
    let mut suppressed = 0u64;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let slot = match shared.slots.clone().try_acquire_owned() {
                    Ok(slot) => slot,
                    Err(_) => {
                        tokio::spawn(too_many(tcp, peer));
                        continue;
                    }
                };
                if shared.proxy.is_none() {
                    // Layer 1, before a byte is read.
                    let verdict = shared.network().1.check(index, peer.ip());
                    if !verdict.is_allowed() {
                        drop(tcp);
                        network_denied(&shared, peer, &verdict);
                        continue;
                    }
                    let id = shared.next_conn_id();
                    let session_shared = shared.clone();
                    let network = verdict_text(&verdict);
                    shared
                        .sessions
                        .spawn(id, index, Some(peer.ip()), async move {
                            crate::session::serve(session_shared, id, tcp, peer, network).await;
                            drop(slot);
                        });
                } else {
                    let id = shared.next_conn_id();
                    let session_shared = shared.clone();
                    shared.sessions.spawn(id, index, None, async move {
                        proxied(session_shared, id, index, tcp, peer).await;
                        drop(slot);
                    });
                }
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning, and say so at
                // most once a second.
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(
                        target: "gatehouse::server",
                        error = %e,
                        suppressed,
                        "accept failed (out of file descriptors? see [listen] max_connections)"
                    );
                    last_warning = Some(std::time::Instant::now());
                    suppressed = 0;
                } else {
                    suppressed += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn network_denied(shared: &Shared, source: SocketAddr, verdict: &gatehouse_netacl::Verdict) {
    let d = Decision {
        conn_id: shared.next_conn_id(),
        source: Some(source),
        network: Some(verdict_text(verdict)),
        ..Decision::default()
    };
    d.log(
        Outcome::NetworkDenied,
        "closed: no ingress rule allows this source",
    );
}

/// A connection on a gateway that accepts PROXY headers: the header (from a
/// trusted balancer) names the real source, which layer 1 then checks; a header
/// from an untrusted peer, or a missing required one, closes the connection.
async fn proxied(
    shared: Arc<Shared>,
    id: u64,
    index: usize,
    mut tcp: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let Some(settings) = shared.proxy.clone() else {
        return;
    };
    let budget = shared.limits.auth_timeout.min(Duration::from_secs(10));
    let source = match read_proxy_header(&mut tcp, peer, &settings, budget).await {
        Ok(p) => p.client(peer),
        Err(e) => {
            let d = Decision {
                conn_id: id,
                source: Some(peer),
                ..Decision::default()
            };
            d.log(Outcome::Aborted, &format!("PROXY protocol: {e}"));
            return;
        }
    };
    let verdict = shared.network().1.check(index, source.ip());
    if !verdict.is_allowed() {
        drop(tcp);
        network_denied(&shared, source, &verdict);
        return;
    }
    shared.sessions.set_source(id, source.ip());
    crate::session::serve(shared.clone(), id, tcp, source, verdict_text(&verdict)).await;
}

/// PostgreSQL's answer when `max_connections` is reached: FATAL 53300, then close.
async fn too_many(mut tcp: tokio::net::TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    let mut buf = bytes::BytesMut::new();
    let fields = ErrorFields::new(Severity::Fatal, "53300", "sorry, too many clients already");
    let _ = encode_error_response(&fields, &mut buf);
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&buf)).await;
    let _ = tcp.shutdown().await;
    tracing::warn!(target: "gatehouse::server", source = %peer, "max_connections reached: refused with 53300");
}
