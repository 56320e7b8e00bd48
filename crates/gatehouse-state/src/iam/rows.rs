//! Reading the IAM tables. Every row read back is checked (texts, times, the principal
//! kind, the policy documents through the policy parser); one that does not fit is a
//! [`StateError::CorruptRow`] naming the table, the rowid and the column, never skipped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_iam::directory::{
    names, AccessKeyMetadata, Group, InlinePolicy, KeyStatus, ManagedPolicy, PrincipalKind, Role,
    SealedSecret, TrustPolicy, User, NONCE_LEN,
};
use gatehouse_iam::policy::PolicyDocument;
use rusqlite::{Connection, Row};

use crate::error::{SqlContext, StateError};
use crate::rows::RowReader;

/// Seconds since the Unix epoch as stored (second precision, like the rest of the store).
pub(crate) fn to_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored time back as a `SystemTime`.
pub(crate) fn from_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn time(r: &RowReader<'_, '_>, idx: usize, column: &str) -> Result<SystemTime, StateError> {
    opt_time(r, idx, column)?
        .ok_or_else(|| r.corrupt(format!("column {column}: expected an integer, found NULL")))
}

fn opt_time(
    r: &RowReader<'_, '_>,
    idx: usize,
    column: &str,
) -> Result<Option<SystemTime>, StateError> {
    Ok(r.opt_time(idx, column)?.map(|t| from_secs(t.as_secs())))
}

fn document(r: &RowReader<'_, '_>, idx: usize, column: &str) -> Result<PolicyDocument, StateError> {
    let text = r.text(idx, column)?;
    super::parse_document("", &text).map_err(|e| match e {
        StateError::MalformedPolicy { error, .. } => r.corrupt(format!("column {column}: {error}")),
        other => other,
    })
}

fn kind(r: &RowReader<'_, '_>, idx: usize) -> Result<PrincipalKind, StateError> {
    let text = r.text(idx, "principal_kind")?;
    text.parse()
        .map_err(|e: String| r.corrupt(format!("column principal_kind: {e}")))
}

/// Runs `sql` (whose first column is the rowid) and decodes every row with `decode`.
fn read_all<T>(
    conn: &Connection,
    what: &str,
    sql: &str,
    args: impl rusqlite::Params,
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StateError>,
) -> Result<Vec<T>, StateError> {
    let mut stmt = conn.prepare_cached(sql).ctx(what)?;
    let mut rows = stmt.query(args).ctx(what)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx(what)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// The users matching `filter` (an SQL condition on `iam_users`), by name.
pub(crate) fn users(
    conn: &Connection,
    account: &str,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<User>, StateError> {
    let sql = format!(
        "SELECT rowid, name, user_id, path, created FROM iam_users WHERE {filter} \
         ORDER BY name"
    );
    read_all(conn, "reading IAM users", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_users")?;
        let name = r.text(1, "name")?;
        r.key = format!("user {name}");
        let path = r.text(3, "path")?;
        Ok(User {
            arn: names::arn(account, "user", &path, &name),
            user_id: r.text(2, "user_id")?,
            created: time(&r, 4, "created")?,
            name,
            path,
        })
    })
}

/// The groups matching `filter` (on `iam_groups`), by name.
pub(crate) fn groups(
    conn: &Connection,
    account: &str,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Group>, StateError> {
    let sql = format!(
        "SELECT rowid, name, group_id, path, created FROM iam_groups WHERE {filter} \
         ORDER BY name"
    );
    read_all(conn, "reading IAM groups", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_groups")?;
        let name = r.text(1, "name")?;
        r.key = format!("group {name}");
        let path = r.text(3, "path")?;
        Ok(Group {
            arn: names::arn(account, "group", &path, &name),
            group_id: r.text(2, "group_id")?,
            created: time(&r, 4, "created")?,
            name,
            path,
        })
    })
}

/// The roles matching `filter` (on `iam_roles`), by name.
pub(crate) fn roles(
    conn: &Connection,
    account: &str,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Role>, StateError> {
    let sql = format!(
        "SELECT rowid, name, role_id, path, created, assume_role_policy FROM iam_roles \
         WHERE {filter} ORDER BY name"
    );
    read_all(conn, "reading IAM roles", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_roles")?;
        let name = r.text(1, "name")?;
        r.key = format!("role {name}");
        let path = r.text(3, "path")?;
        let trust = r
            .opt_text(5, "assume_role_policy")?
            .map(|text| {
                TrustPolicy::parse(&text)
                    .map_err(|e| r.corrupt(format!("column assume_role_policy: {e}")))
            })
            .transpose()?;
        Ok(Role {
            arn: names::arn(account, "role", &path, &name),
            role_id: r.text(2, "role_id")?,
            created: time(&r, 4, "created")?,
            assume_role_policy: trust,
            name,
            path,
        })
    })
}

/// The managed policies matching `filter` (on `iam_managed_policies`), by name.
pub(crate) fn managed_policies(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<ManagedPolicy>, StateError> {
    let sql = format!(
        "SELECT rowid, arn, policy_id, name, path, document, created FROM \
         iam_managed_policies WHERE {filter} ORDER BY name"
    );
    read_all(conn, "reading IAM managed policies", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_managed_policies")?;
        let arn = r.text(1, "arn")?;
        r.key = format!("policy {arn}");
        Ok(ManagedPolicy {
            policy_id: r.text(2, "policy_id")?,
            name: r.text(3, "name")?,
            path: r.text(4, "path")?,
            document: document(&r, 5, "document")?,
            created: time(&r, 6, "created")?,
            arn,
        })
    })
}

/// One inline policy row: the principal it is embedded in and the policy.
pub(crate) struct InlineRow {
    pub(crate) kind: PrincipalKind,
    pub(crate) principal: String,
    pub(crate) policy: InlinePolicy,
}

/// The inline policies matching `filter` (on `iam_inline_policies`), by principal and
/// name.
pub(crate) fn inline_policies(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<InlineRow>, StateError> {
    let sql = format!(
        "SELECT rowid, principal_kind, principal_name, policy_name, document FROM \
         iam_inline_policies WHERE {filter} \
         ORDER BY principal_kind, principal_name, policy_name"
    );
    read_all(conn, "reading IAM inline policies", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_inline_policies")?;
        let kind = kind(&r, 1)?;
        let principal = r.text(2, "principal_name")?;
        let name = r.text(3, "policy_name")?;
        r.key = format!("inline policy {name} of {kind} {principal}");
        Ok(InlineRow {
            kind,
            principal,
            policy: InlinePolicy {
                document: document(&r, 4, "document")?,
                name,
            },
        })
    })
}

/// One attachment: principal kind and name, policy ARN.
pub(crate) type AttachmentRow = (PrincipalKind, String, String);

/// The attachments matching `filter` (on `iam_attachments`).
pub(crate) fn attachments(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<AttachmentRow>, StateError> {
    let sql = format!(
        "SELECT rowid, principal_kind, principal_name, policy_arn FROM iam_attachments \
         WHERE {filter} ORDER BY principal_kind, principal_name, policy_arn"
    );
    read_all(conn, "reading IAM policy attachments", &sql, args, |row| {
        let r = RowReader::new(row, "iam_attachments")?;
        Ok((
            kind(&r, 1)?,
            r.text(2, "principal_name")?,
            r.text(3, "policy_arn")?,
        ))
    })
}

/// The group memberships matching `filter` (on `iam_group_members`), as (group, user).
pub(crate) fn memberships(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(String, String)>, StateError> {
    let sql = format!(
        "SELECT rowid, group_name, user_name FROM iam_group_members WHERE {filter} \
         ORDER BY group_name, user_name"
    );
    read_all(conn, "reading IAM group members", &sql, args, |row| {
        let r = RowReader::new(row, "iam_group_members")?;
        Ok((r.text(1, "group_name")?, r.text(2, "user_name")?))
    })
}

/// The access keys matching `filter` (on `iam_access_keys`), by user then creation, each
/// with its sealed secret.
pub(crate) fn access_keys(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(AccessKeyMetadata, SealedSecret)>, StateError> {
    let sql = format!(
        "SELECT rowid, access_key_id, user_name, status, created, last_used, secret_nonce, \
         secret_ciphertext FROM iam_access_keys WHERE {filter} \
         ORDER BY user_name, created, access_key_id"
    );
    read_all(conn, "reading IAM access keys", &sql, args, |row| {
        let mut r = RowReader::new(row, "iam_access_keys")?;
        let id = r.text(1, "access_key_id")?;
        r.key = format!("access key {id}");
        let status: KeyStatus = r.parse(3, "status")?;
        let nonce = r.blob(6, "secret_nonce")?;
        let nonce: [u8; NONCE_LEN] = nonce.as_slice().try_into().map_err(|_| {
            r.corrupt(format!(
                "column secret_nonce: {} bytes, expected {NONCE_LEN}",
                nonce.len()
            ))
        })?;
        Ok((
            AccessKeyMetadata {
                user_name: r.text(2, "user_name")?,
                status,
                created: time(&r, 4, "created")?,
                last_used: opt_time(&r, 5, "last_used")?,
                access_key_id: id,
            },
            SealedSecret {
                nonce,
                ciphertext: r.blob(7, "secret_ciphertext")?,
            },
        ))
    })
}
