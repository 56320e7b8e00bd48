//! Where [`verify`](super::verify) finds secret access keys: the [`SecretKeys`]
//! trait (the IAM directory implements it) and [`StaticKeys`], a fixed set for
//! tests, fuzzing and benchmarks.

use std::collections::BTreeMap;
use std::fmt;

/// The secret behind an access key id, and whether the key may be used.
pub trait SecretKeys {
    /// Looks `access_key_id` up.
    fn find(&self, access_key_id: &str) -> KeyLookup<'_>;
}

/// What [`SecretKeys::find`] knows about an access key id.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyLookup<'a> {
    /// No such key.
    Unknown,
    /// The key exists and is inactive: its tokens are refused.
    Inactive,
    /// The key is active; the bytes of its secret access key (40 characters at AWS).
    Active(&'a [u8]),
}

impl fmt::Debug for KeyLookup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyLookup::Unknown => f.write_str("Unknown"),
            KeyLookup::Inactive => f.write_str("Inactive"),
            KeyLookup::Active(_) => f.write_str("Active(<redacted>)"),
        }
    }
}

/// A fixed set of access keys (id → secret, active or not).
#[derive(Clone, Default)]
pub struct StaticKeys {
    keys: BTreeMap<String, (bool, Vec<u8>)>,
}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.keys
                    .iter()
                    .map(|(id, (active, _))| (id, if *active { "active" } else { "inactive" })),
            )
            .finish()
    }
}

impl StaticKeys {
    /// An empty set.
    pub fn new() -> StaticKeys {
        StaticKeys::default()
    }

    /// Adds (or replaces) an active key.
    #[must_use]
    pub fn active(mut self, access_key_id: &str, secret: &str) -> StaticKeys {
        self.keys
            .insert(access_key_id.to_owned(), (true, secret.as_bytes().to_vec()));
        self
    }

    /// Adds (or replaces) an inactive key.
    #[must_use]
    pub fn inactive(mut self, access_key_id: &str, secret: &str) -> StaticKeys {
        self.keys.insert(
            access_key_id.to_owned(),
            (false, secret.as_bytes().to_vec()),
        );
        self
    }
}

impl SecretKeys for StaticKeys {
    fn find(&self, access_key_id: &str) -> KeyLookup<'_> {
        match self.keys.get(access_key_id) {
            None => KeyLookup::Unknown,
            Some((false, _)) => KeyLookup::Inactive,
            Some((true, secret)) => KeyLookup::Active(secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_redaction() {
        let keys = StaticKeys::new()
            .active("A", "sekrit")
            .inactive("B", "other");
        assert_eq!(keys.find("A"), KeyLookup::Active(b"sekrit"));
        assert_eq!(keys.find("B"), KeyLookup::Inactive);
        assert_eq!(keys.find("C"), KeyLookup::Unknown);
        let shown = format!("{keys:?} {:?}", keys.find("A"));
        assert!(
            !shown.contains("sekrit") && !shown.contains("other"),
            "{shown}"
        );
    }
}
