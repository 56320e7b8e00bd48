//! The IAM identity store: users, groups, roles, access keys and policies of one AWS
//! account, with AWS IAM's semantics (`CreateUser`, `PutUserPolicy`, `AttachRolePolicy`…).
//!
//! [`StateStore::iam`] gives an [`IamStore`] for an account id; every method is one
//! transaction and every mutation appends to the change log (never a secret). Secret access
//! keys are stored encrypted with the [`MasterKey`]. The gateway reads everything at once
//! with [`StateStore::iam_directory`] and records use with [`StateStore::touch_access_key`].
//!
//! Names are unique regardless of case and found regardless of case, as in AWS.
//!
//! AWS quotas enforced (default values; `LimitExceeded`):
//! [`MAX_ACCESS_KEYS_PER_USER`], [`MAX_GROUPS_PER_USER`], [`MAX_ATTACHED_POLICIES`],
//! and the policy sizes [`MAX_USER_INLINE_SIZE`], [`MAX_GROUP_INLINE_SIZE`],
//! [`MAX_ROLE_INLINE_SIZE`], [`MAX_MANAGED_POLICY_SIZE`], [`MAX_TRUST_POLICY_SIZE`]
//! (characters other than JSON white space outside strings, as AWS counts them).

mod keys;
mod policies;
mod principals;
mod rows;
mod snapshot;

use std::time::SystemTime;

use gatehouse_iam::directory::names::{self, NameError};
use gatehouse_iam::directory::{Directory, MasterKey, PrincipalKind};
use gatehouse_iam::policy::{PolicyDocument, PolicyError};
use gatehouse_netacl::Timestamp;
use rusqlite::{params, Connection};

use crate::error::{SqlContext, StateError};
use crate::store::StateStore;

/// Access keys a user may have, active or not.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// Groups a user may belong to.
pub const MAX_GROUPS_PER_USER: usize = 10;
/// Managed policies attached to one user, group or role.
pub const MAX_ATTACHED_POLICIES: usize = 10;
/// All inline policies of a user together, in non-white-space characters.
pub const MAX_USER_INLINE_SIZE: usize = 2_048;
/// All inline policies of a group together.
pub const MAX_GROUP_INLINE_SIZE: usize = 5_120;
/// All inline policies of a role together.
pub const MAX_ROLE_INLINE_SIZE: usize = 10_240;
/// One managed policy document.
pub const MAX_MANAGED_POLICY_SIZE: usize = 6_144;
/// A role's trust policy.
pub const MAX_TRUST_POLICY_SIZE: usize = 2_048;

/// The IAM operations of a [`StateStore`] for one AWS account (whose id goes into the ARNs
/// returned). Get one with [`StateStore::iam`].
#[derive(Debug, Clone, Copy)]
pub struct IamStore<'s> {
    store: &'s StateStore,
    account_id: &'s str,
}

fn check_account(account_id: &str) -> Result<(), StateError> {
    names::check_account_id(account_id).map_err(StateError::IamValidation)
}

impl StateStore {
    /// The IAM identity store of account `account_id` (12 digits) in this file.
    ///
    /// # Errors
    /// [`StateError::IamValidation`] when the account id is not 12 digits.
    pub fn iam<'s>(&'s self, account_id: &'s str) -> Result<IamStore<'s>, StateError> {
        check_account(account_id)?;
        Ok(IamStore {
            store: self,
            account_id,
        })
    }

    /// Everything the gateway needs to authenticate and authorize, read in one
    /// transaction: users, groups, memberships, roles, managed and inline policies,
    /// attachments, and the access keys with their secrets decrypted with `key`.
    ///
    /// # Errors
    /// - [`StateError::IamValidation`]: `account_id` is not 12 digits.
    /// - [`StateError::IamSecret`]: a secret does not decrypt with `key` (the wrong key
    ///   file, or an altered or swapped row); the message names the access key.
    /// - [`StateError::CorruptRow`]: a row does not read back (a stored policy document
    ///   the parser now refuses included); [`StateError::IamInconsistent`]: rows that
    ///   refer to missing entities; [`StateError::Sqlite`].
    pub fn iam_directory(
        &self,
        account_id: &str,
        key: &MasterKey,
    ) -> Result<Directory, StateError> {
        check_account(account_id)?;
        self.read("iam_directory", |tx| {
            snapshot::build(tx, account_id, Some(key))
        })
    }

    /// Records that a request signed with the access key was accepted at `at` (AWS's
    /// "last used"). Only moves forward: an older `at` leaves a newer time in place. A key
    /// that no longer exists is ignored (it may have been deleted since it was used). Not
    /// a configuration change: no change log entry.
    ///
    /// # Errors
    /// [`StateError::Sqlite`].
    pub fn touch_access_key(&self, access_key_id: &str, at: SystemTime) -> Result<(), StateError> {
        let secs = rows::to_secs(at);
        self.write("touch_access_key", |tx| {
            tx.execute(
                "UPDATE iam_access_keys SET last_used = ?2 WHERE access_key_id = ?1 \
                 AND (last_used IS NULL OR last_used < ?2)",
                params![access_key_id, secs],
            )
            .ctx("touch_access_key")?;
            Ok(())
        })
    }
}

fn key_exists(conn: &Connection, access_key_id: &str) -> Result<bool, StateError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM iam_access_keys WHERE access_key_id = ?1)",
        params![access_key_id],
        |row| row.get(0),
    )
    .ctx("looking up the access key")
}

impl<'s> IamStore<'s> {
    /// The account id the ARNs are in.
    pub fn account_id(&self) -> &'s str {
        self.account_id
    }

    /// The same snapshot as [`StateStore::iam_directory`] without access keys (so without
    /// the key file): principals and policies, for simulating policies offline.
    ///
    /// # Errors
    /// As [`StateStore::iam_directory`], without the secret errors.
    pub fn policy_directory(&self) -> Result<Directory, StateError> {
        self.store.read("iam policy_directory", |tx| {
            snapshot::build(tx, self.account_id, None)
        })
    }
}

/// Now, as the change log's timestamp and the entity's creation time (same second).
pub(crate) fn now() -> (Timestamp, SystemTime) {
    let ts = Timestamp::now();
    (ts, rows::from_secs(ts.as_secs()))
}

fn invalid(e: NameError) -> StateError {
    StateError::IamValidation(e)
}

/// Checks a principal name for its kind (`UserName` ≤ 64, `GroupName` ≤ 128, `RoleName`
/// ≤ 64).
pub(crate) fn check_principal_name(kind: PrincipalKind, name: &str) -> Result<(), StateError> {
    let (field, max) = match kind {
        PrincipalKind::User => ("UserName", names::MAX_USER_NAME),
        PrincipalKind::Group => ("GroupName", names::MAX_GROUP_NAME),
        PrincipalKind::Role => ("RoleName", names::MAX_ROLE_NAME),
    };
    names::check_name(field, name, max).map_err(invalid)
}

/// Checks a policy name (`PolicyName` ≤ 128).
pub(crate) fn check_policy_name(name: &str) -> Result<(), StateError> {
    names::check_name("PolicyName", name, names::MAX_POLICY_NAME).map_err(invalid)
}

/// Checks a path, defaulting to `/`.
pub(crate) fn check_path(path: Option<&str>) -> Result<String, StateError> {
    let path = path.unwrap_or("/");
    names::check_path(path).map_err(invalid)?;
    Ok(path.to_owned())
}

/// Parses a policy document with the policy parser; `object` names it in the error. Text
/// that is not JSON at all is refused here too (path `$`), whatever the parser says.
pub(crate) fn parse_document(object: &str, text: &str) -> Result<PolicyDocument, StateError> {
    let malformed = |error| StateError::MalformedPolicy {
        object: object.to_owned(),
        error,
    };
    let document = PolicyDocument::parse(text).map_err(malformed)?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(malformed(PolicyError {
            path: "$".to_owned(),
            message: format!("not valid JSON: {e}"),
        }));
    }
    Ok(document)
}

pub(crate) use gatehouse_iam::policy::policy_size;

/// The table holding principals of `kind`.
pub(crate) fn principal_table(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "iam_users",
        PrincipalKind::Group => "iam_groups",
        PrincipalKind::Role => "iam_roles",
    }
}

/// The stored name (its original case) of the principal `kind` `name`.
///
/// # Errors
/// [`StateError::IamNoSuchEntity`] when there is none.
pub(crate) fn principal_name(
    conn: &Connection,
    kind: PrincipalKind,
    name: &str,
) -> Result<String, StateError> {
    check_principal_name(kind, name)?;
    let sql = format!("SELECT name FROM {} WHERE name = ?1", principal_table(kind));
    let found: Option<String> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            let mut rows = stmt.query(params![name])?;
            rows.next()?.map(|row| row.get(0)).transpose()
        })
        .ctx("looking up the principal")?;
    found.ok_or_else(|| StateError::IamNoSuchEntity {
        kind: kind.as_str(),
        name: name.to_owned(),
    })
}

/// `SELECT COUNT(*)` of a query with parameters.
pub(crate) fn count(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<usize, StateError> {
    let n: i64 = conn
        .query_row(sql, args, |row| row.get(0))
        .ctx("counting")?;
    Ok(usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_size_skips_white_space_outside_strings() {
        assert_eq!(super::policy_size("{ \"a b\" :\n\t[ 1 ] }"), 11);
        assert_eq!(super::policy_size(r#"{"a\"  ":1}"#), 11);
        assert_eq!(super::policy_size(""), 0);
    }
}
