//! CancelRequest routing: gatehouse hands each client its own BackendKeyData and
//! maps it to the upstream backend's key.
//!
//! A CancelRequest arrives on a new connection and is never answered, as
//! PostgreSQL does; a key that is unknown or whose secret does not match
//! (compared in constant time) is dropped silently.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::protocol::ProtocolVersion;

/// Where a cancel for one session must go.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    /// The upstream backend's process id.
    pub process_id: i32,
    /// The upstream backend's secret key.
    pub secret_key: Vec<u8>,
}

struct Entry {
    secret: Vec<u8>,
    target: CancelTarget,
}

/// The registry of live sessions' keys, shared by all sessions of a gateway.
#[derive(Clone, Default)]
pub struct CancelRegistry {
    inner: Arc<Mutex<HashMap<i32, Entry>>>,
}

/// The key issued to one client; its drop removes the entry.
pub struct IssuedKey {
    registry: CancelRegistry,
    /// The process id the client sees (random, positive, unique among live sessions).
    pub process_id: i32,
    /// The secret the client sees: 4 bytes in protocol 3.0, 32 in 3.2 (PostgreSQL 18's length).
    pub secret_key: Vec<u8>,
}

impl Drop for IssuedKey {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.inner.lock() {
            map.remove(&self.process_id);
        }
    }
}

impl CancelRegistry {
    /// Issues a fresh key for a session speaking `version` whose upstream is `target`.
    pub fn issue(&self, version: ProtocolVersion, target: CancelTarget) -> IssuedKey {
        let len = if version >= ProtocolVersion::V3_2 {
            32
        } else {
            4
        };
        let mut secret = vec![0u8; len];
        let mut rng = rand::thread_rng();
        rng.fill_bytes(&mut secret);
        let mut map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let process_id = loop {
            let pid = (rng.next_u32() & 0x7fff_ffff) as i32;
            if pid != 0 && !map.contains_key(&pid) {
                break pid;
            }
        };
        map.insert(
            process_id,
            Entry {
                secret: secret.clone(),
                target,
            },
        );
        IssuedKey {
            registry: self.clone(),
            process_id,
            secret_key: secret,
        }
    }

    /// The upstream target for a CancelRequest, if the key is live and the secret
    /// matches (constant-time; a length mismatch is a mismatch).
    pub fn lookup(&self, process_id: i32, secret_key: &[u8]) -> Option<CancelTarget> {
        let map = match self.inner.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = map.get(&process_id)?;
        let same_len = entry.secret.len() == secret_key.len();
        let equal = same_len && bool::from(entry.secret.as_slice().ct_eq(secret_key));
        equal.then(|| entry.target.clone())
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_lookup_drop() {
        let reg = CancelRegistry::default();
        let target = CancelTarget {
            process_id: 42,
            secret_key: vec![1, 2, 3, 4],
        };
        let key = reg.issue(ProtocolVersion::V3_0, target);
        assert_eq!(key.secret_key.len(), 4);
        assert!(key.process_id > 0);
        let found = reg
            .lookup(key.process_id, &key.secret_key)
            .expect("live key");
        assert_eq!(found.process_id, 42);
        let mut wrong = key.secret_key.clone();
        wrong[0] ^= 1;
        assert!(reg.lookup(key.process_id, &wrong).is_none());
        assert!(reg.lookup(key.process_id, &key.secret_key[..3]).is_none());
        let pid = key.process_id;
        let secret = key.secret_key.clone();
        drop(key);
        assert!(reg.lookup(pid, &secret).is_none());
        assert!(reg.is_empty());
        let long = reg.issue(
            ProtocolVersion::V3_2,
            CancelTarget {
                process_id: 1,
                secret_key: vec![0; 4],
            },
        );
        assert_eq!(long.secret_key.len(), 32);
    }
}
