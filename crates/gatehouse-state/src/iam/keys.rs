//! Access keys: created with a fresh secret, sealed with the key file, listed without it.

use gatehouse_iam::directory::names;
use gatehouse_iam::directory::{AccessKey, AccessKeyMetadata, KeyStatus, MasterKey, PrincipalKind};
use rusqlite::{params, Connection};
use serde_json::json;

use super::{key_exists, now, principal_name, rows, IamStore, MAX_ACCESS_KEYS_PER_USER};
use crate::change::ChangeAction;
use crate::error::{SqlContext, StateError};
use crate::rows::log_change;

/// How many times a generated access key id is drawn again when taken (80 random bits).
const ID_ATTEMPTS: usize = 8;

fn detail(k: &AccessKeyMetadata) -> serde_json::Value {
    json!({"UserName": k.user_name, "AccessKeyId": k.access_key_id, "Status": k.status.as_str()})
}

fn no_such_key(id: &str) -> StateError {
    StateError::IamNoSuchEntity {
        kind: "access key",
        name: id.to_owned(),
    }
}

/// The key's metadata; when `user` is given the key must belong to that user (as AWS's
/// `UserName` parameter: another user's key is not found).
fn find_key(
    conn: &Connection,
    access_key_id: &str,
    user: Option<&str>,
) -> Result<AccessKeyMetadata, StateError> {
    if let Some(u) = user {
        principal_name(conn, PrincipalKind::User, u)?;
    }
    let (meta, _) = rows::access_keys(conn, "access_key_id = ?1", params![access_key_id])?
        .into_iter()
        .next()
        .ok_or_else(|| no_such_key(access_key_id))?;
    match user {
        Some(u) if !u.eq_ignore_ascii_case(&meta.user_name) => Err(StateError::IamNoSuchEntity {
            kind: "access key",
            name: format!("{access_key_id} of user {u}"),
        }),
        _ => Ok(meta),
    }
}

impl IamStore<'_> {
    /// Creates an access key for `user` (AWS `CreateAccessKey`), `Active`, with a fresh
    /// secret encrypted with `key` before it is stored. The returned key holds the secret
    /// in clear: it is the only time it is shown.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown user;
    /// [`StateError::IamLimitExceeded`] when the user has [`MAX_ACCESS_KEYS_PER_USER`]
    /// keys already (active or not).
    pub fn create_access_key(&self, user: &str, key: &MasterKey) -> Result<AccessKey, StateError> {
        let (at, created) = now();
        self.store.write("iam create_access_key", |tx| {
            let user = principal_name(tx, PrincipalKind::User, user)?;
            let existing = rows::access_keys(tx, "user_name = ?1", params![user])?;
            if existing.len() >= MAX_ACCESS_KEYS_PER_USER {
                return Err(StateError::IamLimitExceeded {
                    object: format!("user {user}"),
                    message: format!(
                        "cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER} \
                         (delete one of {} first)",
                        existing
                            .iter()
                            .map(|(k, _)| k.access_key_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            let mut id = names::generate_access_key_id();
            let mut attempts = 1;
            while key_exists(tx, &id)? {
                if attempts >= ID_ATTEMPTS {
                    return Err(StateError::IamEntityExists {
                        kind: "access key",
                        name: id,
                    });
                }
                id = names::generate_access_key_id();
                attempts += 1;
            }
            let secret = names::generate_secret();
            let sealed = key.seal(&id, &secret).map_err(StateError::IamSecret)?;
            let meta = AccessKeyMetadata {
                access_key_id: id,
                user_name: user,
                status: KeyStatus::Active,
                created,
                last_used: None,
            };
            tx.execute(
                "INSERT INTO iam_access_keys (access_key_id, user_name, status, secret_nonce, \
                 secret_ciphertext, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    meta.access_key_id,
                    meta.user_name,
                    meta.status.as_str(),
                    &sealed.nonce[..],
                    sealed.ciphertext,
                    rows::to_secs(created)
                ],
            )
            .ctx("storing the access key")?;
            log_change(
                tx,
                at,
                ChangeAction::IamCreateAccessKey,
                &meta.access_key_id,
                &detail(&meta),
            )?;
            Ok(AccessKey::new(meta, secret))
        })
    }

    /// Sets a key `Active` or `Inactive` (AWS `UpdateAccessKey`); when `user` is given the
    /// key must be that user's. Setting the status it already has changes and logs
    /// nothing. Returns the key as stored.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn update_access_key(
        &self,
        access_key_id: &str,
        status: KeyStatus,
        user: Option<&str>,
    ) -> Result<AccessKeyMetadata, StateError> {
        let (at, _) = now();
        self.store.write("iam update_access_key", |tx| {
            let mut meta = find_key(tx, access_key_id, user)?;
            if meta.status == status {
                return Ok(meta);
            }
            meta.status = status;
            tx.execute(
                "UPDATE iam_access_keys SET status = ?2 WHERE access_key_id = ?1",
                params![meta.access_key_id, status.as_str()],
            )
            .ctx("updating the access key")?;
            log_change(
                tx,
                at,
                ChangeAction::IamUpdateAccessKey,
                &meta.access_key_id,
                &detail(&meta),
            )?;
            Ok(meta)
        })
    }

    /// Deletes a key (AWS `DeleteAccessKey`); when `user` is given the key must be that
    /// user's. Returns the deleted key's metadata.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn delete_access_key(
        &self,
        access_key_id: &str,
        user: Option<&str>,
    ) -> Result<AccessKeyMetadata, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_access_key", |tx| {
            let meta = find_key(tx, access_key_id, user)?;
            tx.execute(
                "DELETE FROM iam_access_keys WHERE access_key_id = ?1",
                params![meta.access_key_id],
            )
            .ctx("deleting the access key")?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeleteAccessKey,
                &meta.access_key_id,
                &detail(&meta),
            )?;
            Ok(meta)
        })
    }

    /// The keys of `user`, or of every user when `None` (AWS `ListAccessKeys`), without
    /// secrets; by user, then creation time.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown user.
    pub fn list_access_keys(
        &self,
        user: Option<&str>,
    ) -> Result<Vec<AccessKeyMetadata>, StateError> {
        self.store.read("iam list_access_keys", |tx| {
            let keys = match user {
                Some(u) => {
                    let u = principal_name(tx, PrincipalKind::User, u)?;
                    rows::access_keys(tx, "user_name = ?1", params![u])?
                }
                None => rows::access_keys(tx, "1", [])?,
            };
            Ok(keys.into_iter().map(|(meta, _)| meta).collect())
        })
    }
}
