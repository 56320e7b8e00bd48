//! Reuse of authenticated upstream connections (off by default:
//! `[upstream] reuse_connections = true`).
//!
//! When a client ends its session with Terminate while the upstream is idle
//! (its last message was ReadyForQuery 'I'), gatehouse runs `DISCARD ALL` on the
//! upstream connection and parks it under the exact identity it was opened
//! with: role, database and every StartupMessage parameter. A later client that
//! authenticated (fully, at the gateway) as the same role with the same
//! parameters gets it instead of a fresh login. A connection is never handed to
//! another role; one in a transaction, in COPY, or with a message half sent is
//! closed instead. This is what PgBouncer's session mode does with
//! `server_reset_query = DISCARD ALL`, restricted to one role per connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::cancel::CancelTarget;
use crate::protocol::{encode_query, parse_backend, BackendMessage, TransactionStatus};
use crate::stream::{BoxedIo, MessageStream};

/// Settings for reuse.
#[derive(Debug, Clone, Copy)]
pub struct ReuseSettings {
    /// How long a parked connection may wait before it is closed.
    pub idle_timeout: Duration,
    /// At most this many parked connections per identity.
    pub max_idle_per_key: usize,
}

/// The identity a connection was opened with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// Every StartupMessage parameter sent upstream (user, database, options, GUCs), in order.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A parked connection and what its new client must be told.
pub struct Parked {
    /// The connection, idle after `DISCARD ALL`.
    pub io: BoxedIo,
    /// Current ParameterStatus values.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    /// The backend's cancel key.
    pub key: CancelTarget,
    since: Instant,
}

/// The parked connections of one gateway.
pub struct UpstreamPool {
    settings: ReuseSettings,
    idle: Mutex<HashMap<PoolKey, Vec<Parked>>>,
}

impl UpstreamPool {
    /// An empty pool.
    pub fn new(settings: ReuseSettings) -> Self {
        Self {
            settings,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// A live parked connection for `key`, newest first; expired or dead ones are dropped.
    pub async fn take(&self, key: &PoolKey) -> Option<Parked> {
        loop {
            let candidate = {
                let mut map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                let list = map.get_mut(key)?;
                let c = list.pop();
                if list.is_empty() {
                    map.remove(key);
                }
                c?
            };
            if candidate.since.elapsed() > self.settings.idle_timeout {
                continue;
            }
            let mut parked = candidate;
            // Nothing may be readable on an idle connection: EOF (the server closed
            // it) or stray bytes both mean it cannot be used.
            let mut probe = [0u8; 1];
            match tokio::time::timeout(Duration::ZERO, parked.io.read(&mut probe)).await {
                Err(_) => return Some(parked),
                Ok(_) => continue,
            }
        }
    }

    /// Resets `io` with `DISCARD ALL` and parks it; closes it on any surprise.
    /// `params` are the ParameterStatus values the session started with.
    pub async fn give_back(
        &self,
        key: PoolKey,
        io: BoxedIo,
        mut params: Vec<(Vec<u8>, Vec<u8>)>,
        cancel: CancelTarget,
    ) -> bool {
        let mut s = MessageStream::new(io);
        if encode_query(b"DISCARD ALL", s.out()).is_err() || s.flush().await.is_err() {
            return false;
        }
        let reset = async {
            let mut ok = false;
            loop {
                match s.read_with(parse_backend).await {
                    Ok(BackendMessage::ParameterStatus { name, value }) => {
                        match params.iter_mut().find(|(n, _)| *n == name) {
                            Some(p) => p.1 = value,
                            None => params.push((name, value)),
                        }
                    }
                    Ok(BackendMessage::CommandComplete(_)) => ok = true,
                    Ok(BackendMessage::ReadyForQuery(status)) => {
                        return ok && status == TransactionStatus::Idle
                    }
                    Ok(BackendMessage::NoticeResponse(_)) => {}
                    Ok(_) | Err(_) => return false,
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), reset).await {
            Ok(true) => {}
            _ => return false,
        }
        let (io, rest) = s.into_parts();
        if !rest.is_empty() {
            return false;
        }
        let mut map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.entry(key).or_default();
        list.retain(|p| p.since.elapsed() <= self.settings.idle_timeout);
        if list.len() >= self.settings.max_idle_per_key {
            return false;
        }
        list.push(Parked {
            io,
            params,
            key: cancel,
            since: Instant::now(),
        });
        true
    }

    /// Closes parked connections older than the idle timeout.
    pub fn reap(&self) {
        let mut map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let limit = self.settings.idle_timeout;
        map.retain(|_, list| {
            list.retain(|p| p.since.elapsed() <= limit);
            !list.is_empty()
        });
    }

    /// How often [`Self::reap`] should run.
    pub fn reap_interval(&self) -> Duration {
        (self.settings.idle_timeout / 2).max(Duration::from_millis(100))
    }

    /// Parked connections in all.
    pub fn idle_count(&self) -> usize {
        let map = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(Vec::len).sum()
    }
}
