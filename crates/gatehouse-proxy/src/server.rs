//! Listeners and the accept loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::auth::MockAuthKey;
use crate::cancel::CancelRegistry;
use crate::catalog::SecretSource;
use crate::config::{GatewayConfig, Limits, Rules, Upstream};
use crate::pool::UpstreamPool;
use crate::sessions::Sessions;
use crate::protocol::{encode_error_response, ErrorFields, Severity};
use crate::tls::ServerTls;

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

async fn accept_loop(listener: TcpListener, index: usize, shared: Arc<Shared>) {
    let mut last_warning: Option<std::time::Instant> = None;
    let mut suppressed = 0u64;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                match shared.slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let id = shared.next_conn_id();
                        let session_shared = shared.clone();
                        shared.sessions.spawn(id, index, peer.ip(), async move {
                            crate::session::serve(session_shared, id, tcp, peer).await;
                            drop(slot);
                        });
                    }
                    Err(_) => {
                        tokio::spawn(too_many(tcp, peer));
                    }
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
