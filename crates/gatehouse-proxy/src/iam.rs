//! The gateway's side of the `iam` method: the IAM directory in force, the
//! settings from `[iam]`, the SigV4 signing-key cache, and access keys' last use.
//!
//! The directory is an immutable snapshot swapped whole when the state store
//! changes (`gatehouse iam …` writes the store; `serve` notices and calls
//! [`IamGate::set_directory`]). Authorizing never touches the store or the network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use gatehouse_iam::connect::{
    authorize_connect, ConnectGrant, ConnectRefusal, ConnectRequest, ConnectSettings,
};
use gatehouse_iam::directory::Directory;
use gatehouse_iam::token::SigningKeyCache;

/// Default of `[iam] token_only_role`, as on RDS.
pub const DEFAULT_TOKEN_ONLY_ROLE: &str = "rds_iam";

/// Signing keys kept: one per (access key, day, region) in use.
const SIGNING_KEY_CACHE: usize = 4096;

/// Access keys whose last use is remembered between flushes (more are dropped
/// until the next flush; last-used is advisory, as on AWS).
const LAST_USED_CAP: usize = 100_000;

/// Everything the `iam` method needs, shared by all sessions.
pub struct IamGate {
    settings: ConnectSettings,
    token_only_role: Option<String>,
    directory: RwLock<Arc<Directory>>,
    cache: SigningKeyCache,
    last_used: Mutex<HashMap<String, SystemTime>>,
}

impl IamGate {
    /// A gate over `directory`. `token_only_role`: members of this database role
    /// (RDS: `rds_iam`) may log in only with a token, whatever pg_hba.conf says;
    /// `None` turns that off.
    pub fn new(
        settings: ConnectSettings,
        token_only_role: Option<String>,
        directory: Directory,
    ) -> IamGate {
        IamGate {
            settings,
            token_only_role,
            directory: RwLock::new(Arc::new(directory)),
            cache: SigningKeyCache::new(SIGNING_KEY_CACHE),
            last_used: Mutex::new(HashMap::new()),
        }
    }

    /// The `[iam]` settings.
    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }

    /// The database role whose members must use a token.
    pub fn token_only_role(&self) -> Option<&str> {
        self.token_only_role.as_deref()
    }

    /// The directory new logins are checked against.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the directory (users, keys, policies) for new logins.
    pub fn set_directory(&self, directory: Directory) {
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(directory);
    }

    /// Verifies a token and evaluates policy ([`authorize_connect`]); on success
    /// the access key's last use is recorded for [`IamGate::take_last_used`].
    ///
    /// # Errors
    /// [`ConnectRefusal`], for the audit log.
    pub fn authorize(&self, request: &ConnectRequest<'_>) -> Result<ConnectGrant, ConnectRefusal> {
        let directory = self.directory();
        let grant = authorize_connect(&directory, &self.settings, &self.cache, request)?;
        let mut used = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() < LAST_USED_CAP || used.contains_key(&grant.token.access_key_id) {
            used.insert(grant.token.access_key_id.clone(), request.now);
        }
        Ok(grant)
    }

    /// The access keys used since the last call, with their latest use.
    pub fn take_last_used(&self) -> Vec<(String, SystemTime)> {
        let mut used = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
        used.drain().collect()
    }
}
