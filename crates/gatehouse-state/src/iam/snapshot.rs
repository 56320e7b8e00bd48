//! Building the gateway's [`Directory`] from the IAM tables (inside one read transaction).

use gatehouse_iam::directory::{AccessKey, Directory, MasterKey};
use rusqlite::Connection;

use super::rows;
use crate::error::StateError;

/// Every user, group, role and policy of the tables, then memberships, inline policies and
/// attachments, then (with `key`) the access keys with their secrets decrypted. Without
/// `key` there are no access keys.
pub(super) fn build(
    conn: &Connection,
    account: &str,
    key: Option<&MasterKey>,
) -> Result<Directory, StateError> {
    let bad = StateError::IamInconsistent;
    let mut dir = Directory::new(account);
    for user in rows::users(conn, account, "1", [])? {
        dir.add_user(user).map_err(bad)?;
    }
    for group in rows::groups(conn, account, "1", [])? {
        dir.add_group(group).map_err(bad)?;
    }
    for role in rows::roles(conn, account, "1", [])? {
        dir.add_role(role).map_err(bad)?;
    }
    for policy in rows::managed_policies(conn, "1", [])? {
        dir.add_managed_policy(policy).map_err(bad)?;
    }
    for (group, user) in rows::memberships(conn, "1", [])? {
        dir.add_user_to_group(&user, &group).map_err(bad)?;
    }
    for row in rows::inline_policies(conn, "1", [])? {
        dir.add_inline_policy(row.kind, &row.principal, row.policy)
            .map_err(bad)?;
    }
    for (kind, principal, arn) in rows::attachments(conn, "1", [])? {
        dir.attach_policy(kind, &principal, &arn).map_err(bad)?;
    }
    if let Some(key) = key {
        for (meta, sealed) in rows::access_keys(conn, "1", [])? {
            let secret = key
                .open(&meta.access_key_id, &sealed)
                .map_err(StateError::IamSecret)?;
            dir.add_access_key(AccessKey::new(meta, secret))
                .map_err(bad)?;
        }
    }
    Ok(dir)
}
