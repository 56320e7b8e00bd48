//! The registry of live sessions: which listener and source address each one
//! came from, and a handle to end it. Used to close sessions whose source a
//! changed network policy no longer allows (security groups with
//! `enforce_on_existing`), within the second that follows the change.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

struct Entry {
    listener: usize,
    /// `None` while a PROXY header is still awaited: not re-checked until known.
    source: Option<IpAddr>,
    abort: AbortHandle,
}

/// Live sessions of one gateway.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<u64, Entry>>,
}

/// Removes its session from the registry when the session's task ends (also
/// when it is aborted).
struct Registration {
    sessions: Arc<Sessions>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self
            .sessions
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.remove(&self.id);
    }
}

impl Sessions {
    /// Spawns `session` as a task and registers it under `id` with its listener
    /// index and (effective) source address.
    pub fn spawn<F>(self: &Arc<Self>, id: u64, listener: usize, source: Option<IpAddr>, session: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let registration = Registration {
            sessions: self.clone(),
            id,
        };
        // The lock is held across spawn and insert, so the task's Registration
        // cannot remove the entry before it exists.
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let handle = tokio::spawn(async move {
            let _registration = registration;
            session.await;
        });
        map.insert(
            id,
            Entry {
                listener,
                source,
                abort: handle.abort_handle(),
            },
        );
    }

    /// Records the session's real source once known (after a PROXY header).
    pub fn set_source(&self, id: u64, source: IpAddr) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(&id) {
            e.source = Some(source);
        }
    }

    /// Ends every session for which `allowed(listener, source)` is false; returns
    /// how many were ended.
    pub fn close_unless(&self, allowed: impl Fn(usize, IpAddr) -> bool) -> usize {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        for e in map.values() {
            let Some(source) = e.source else { continue };
            if !allowed(e.listener, source) {
                e.abort.abort();
                closed += 1;
            }
        }
        closed
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn register_close_and_forget() {
        let s = Arc::new(Sessions::default());
        let a: IpAddr = "127.0.0.2".parse().expect("ip");
        let b: IpAddr = "127.0.0.3".parse().expect("ip");
        let long = || async { tokio::time::sleep(Duration::from_secs(60)).await };
        s.spawn(1, 0, Some(a), long());
        s.spawn(2, 0, Some(b), long());
        s.spawn(3, 0, Some(b), async {});
        // A PROXY connection whose header has not arrived: source unknown, kept.
        s.spawn(4, 0, None, long());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.len(), 3, "the finished session removed itself");
        assert_eq!(
            s.close_unless(|_, src| src == a),
            1,
            "a session without a known source is kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.len(), 2, "the aborted session removed itself");
    }
}
