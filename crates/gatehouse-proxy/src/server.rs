//! Listeners and the accept loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::MockAuthKey;
use crate::cancel::CancelRegistry;
use crate::catalog::SecretSource;
use crate::config::{GatewayConfig, Limits, Rules, Upstream};
use crate::pool::UpstreamPool;
use crate::tls::ServerTls;

/// What every session of one gateway shares.
pub struct Shared {
    /// Client TLS.
    pub tls: Option<Arc<ServerTls>>,
    /// pg_hba / pg_ident.
    pub rules: Arc<Rules>,
    /// The upstream.
    pub upstream: Arc<Upstream>,
    /// Secrets and memberships.
    pub secrets: Arc<SecretSource>,
    /// Budgets.
    pub limits: Limits,
    /// Issued cancel keys.
    pub cancel: CancelRegistry,
    /// Per-process key for the mock SCRAM salts of unknown roles.
    pub mock_key: MockAuthKey,
    /// Parked upstream connections, when reuse is on.
    pub pool: Option<UpstreamPool>,
    conn_ids: AtomicU64,
}

impl Shared {
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
            rules: config.rules,
            upstream: config.upstream,
            secrets: config.secrets,
            limits: config.limits,
            cancel: CancelRegistry::default(),
            mock_key: MockAuthKey::random(),
            pool,
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
        for l in self.listeners {
            tasks.spawn(accept_loop(l, self.shared.clone()));
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

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(crate::session::serve(shared.clone(), tcp, peer));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(target: "gatehouse::server", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
