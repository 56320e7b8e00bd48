//! The signing-key cache: the four-HMAC SigV4 key derivation runs once per
//! (access key, day, region), not once per login.
//!
//! Each entry also holds a SHA-256 fingerprint of the secret it was derived from,
//! so a secret that changes under the same access key id (a key re-imported, a
//! test fixture) is never served a stale key: the entry is simply re-derived.
//! Hits take a read lock only; the least recently used entry is evicted when full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sign::{signing_key, HmacSha256};

/// Entries kept by [`SigningKeyCache::default`]: a day's keys for a few thousand
/// active access keys.
pub const DEFAULT_CAPACITY: usize = 4096;

struct Entry {
    secret_fingerprint: [u8; 32],
    key: HmacSha256,
    last_used: AtomicU64,
}

/// Derived SigV4 signing keys per (access key id, `yyyymmdd`, region). Thread-safe
/// (`&self` everywhere), bounded to its capacity.
pub struct SigningKeyCache {
    capacity: usize,
    entries: RwLock<HashMap<String, Entry>>,
    tick: AtomicU64,
    derivations: AtomicU64,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("derivations", &self.derivations())
            .finish_non_exhaustive()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        SigningKeyCache::new(DEFAULT_CAPACITY)
    }
}

/// The map key: unambiguous whatever the id and region contain (the id is
/// length-prefixed, the date has a fixed length).
fn cache_key(access_key_id: &str, yyyymmdd: &str, region: &str) -> String {
    format!("{}:{access_key_id}{yyyymmdd}{region}", access_key_id.len())
}

impl SigningKeyCache {
    /// A cache holding at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> SigningKeyCache {
        SigningKeyCache {
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
            tick: AtomicU64::new(0),
            derivations: AtomicU64::new(0),
        }
    }

    /// The most keys kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys were derived (cache misses) since the cache was made.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    /// Drops every key (after a key is deactivated or rotated, for example;
    /// correctness does not depend on it).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The signing key for `secret` on `yyyymmdd` in `region`, from the cache or
    /// derived (and then kept).
    pub(crate) fn signing_key(
        &self,
        access_key_id: &str,
        secret: &[u8],
        yyyymmdd: &str,
        region: &str,
    ) -> HmacSha256 {
        let fingerprint: [u8; 32] = Sha256::digest(secret).into();
        let map_key = cache_key(access_key_id, yyyymmdd, region);
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        {
            let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = entries.get(&map_key) {
                if bool::from(e.secret_fingerprint.ct_eq(&fingerprint)) {
                    e.last_used.store(now, Ordering::Relaxed);
                    return e.key.clone();
                }
            }
        }
        self.derivations.fetch_add(1, Ordering::Relaxed);
        let key = signing_key(secret, yyyymmdd, region);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&map_key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            map_key,
            Entry {
                secret_fingerprint: fingerprint,
                key: key.clone(),
                last_used: AtomicU64::new(now),
            },
        );
        key
    }
}

#[cfg(test)]
mod tests {
    use super::super::sign::signature;
    use super::*;

    fn sig(cache: &SigningKeyCache, akid: &str, secret: &[u8], day: &str) -> [u8; 32] {
        signature(&cache.signing_key(akid, secret, day, "us-east-1"), "msg")
    }

    #[test]
    fn derives_once_per_key_and_day() {
        let cache = SigningKeyCache::new(8);
        let a = sig(&cache, "AKIDA", b"secret-a", "20240101");
        assert_eq!(sig(&cache, "AKIDA", b"secret-a", "20240101"), a);
        assert_eq!(cache.derivations(), 1);
        assert_ne!(sig(&cache, "AKIDA", b"secret-a", "20240102"), a);
        assert_eq!(cache.derivations(), 2);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_changed_secret_is_never_served_the_old_key() {
        let cache = SigningKeyCache::new(8);
        let old = sig(&cache, "AKIDA", b"old-secret", "20240101");
        let new = sig(&cache, "AKIDA", b"new-secret", "20240101");
        assert_ne!(old, new);
        assert_eq!(
            new,
            signature(&signing_key(b"new-secret", "20240101", "us-east-1"), "msg")
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn stays_within_capacity_and_keeps_the_recently_used() {
        let cache = SigningKeyCache::new(3);
        for n in 0..3 {
            sig(&cache, &format!("AKID{n}"), b"s", "20240101");
        }
        // Touch AKID0, so AKID1 is the least recently used.
        sig(&cache, "AKID0", b"s", "20240101");
        sig(&cache, "AKID3", b"s", "20240101");
        assert_eq!(cache.len(), 3);
        let before = cache.derivations();
        sig(&cache, "AKID0", b"s", "20240101");
        assert_eq!(cache.derivations(), before, "AKID0 was kept");
        sig(&cache, "AKID1", b"s", "20240101");
        assert_eq!(cache.derivations(), before + 1, "AKID1 was evicted");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn keys_cannot_collide_across_fields() {
        assert_ne!(
            cache_key("ab", "20240101", "c"),
            cache_key("a", "20240101", "bc")
        );
        let cache = SigningKeyCache::new(0);
        assert_eq!(cache.capacity(), 1);
    }

    #[test]
    fn usable_from_many_threads() {
        let cache = SigningKeyCache::new(16);
        std::thread::scope(|s| {
            for t in 0..4 {
                let cache = &cache;
                s.spawn(move || {
                    for n in 0..200 {
                        sig(cache, &format!("AKID{}", (n + t) % 20), b"s", "20240101");
                    }
                });
            }
        });
        assert!(cache.len() <= 16);
    }
}
