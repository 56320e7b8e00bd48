//! The SQLite schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Version 1:
//! - `rules`: one row per dynamic ingress rule, every [`gatehouse_netacl::IngressRule`]
//!   field; the source as `source_kind` (`cidr`, `prefix_list`, `group`) and
//!   `source_value` (the CIDR or the id); times as Unix seconds. A unique index on the
//!   permission (group, protocol, ports — both `-1` for protocol `-1` —, source) backs the
//!   `InvalidPermission.Duplicate` check.
//! - `members`: one row per (group, address); the address in canonical form (an
//!   IPv4-mapped IPv6 address stored as IPv4).
//! - `changes`: the append-only change log (`AUTOINCREMENT` ids are never reused;
//!   triggers refuse `UPDATE` and `DELETE`).
//!
//! Version 2 adds the IAM identity store (v1's tables are unchanged):
//! - `iam_users`, `iam_groups`, `iam_roles`: name (unique regardless of case, as in AWS),
//!   unique id (`AIDA…`, `AGPA…`, `AROA…`), path, creation time; roles keep their trust
//!   policy document.
//! - `iam_group_members`: (group, user) pairs.
//! - `iam_access_keys`: id, user, status (`Active`/`Inactive`), the secret access key
//!   encrypted with the key file (`secret_nonce`, 24 bytes; `secret_ciphertext`,
//!   XChaCha20-Poly1305 with the key id as associated data), creation and last-use times.
//! - `iam_managed_policies`: ARN, id (`ANPA…`), name, path, document, creation time.
//! - `iam_inline_policies`: (principal kind, principal name, policy name) → document.
//! - `iam_attachments`: (principal kind, principal name, policy ARN).
//!
//! Principal kinds are `user`, `group`, `role`. References between the tables are kept by
//! the store's operations (each one transaction), not by SQLite foreign keys.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{SqlContext, StateError};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

const V1: &str = "
CREATE TABLE rules (
    id           TEXT PRIMARY KEY NOT NULL,
    group_id     TEXT NOT NULL,
    protocol     TEXT NOT NULL,
    from_port    INTEGER NOT NULL,
    to_port      INTEGER NOT NULL,
    source_kind  TEXT NOT NULL,
    source_value TEXT NOT NULL,
    description  TEXT,
    expires_at   INTEGER
);
CREATE UNIQUE INDEX rules_permission ON rules (
    group_id,
    protocol,
    (CASE WHEN protocol = '-1' THEN -1 ELSE from_port END),
    (CASE WHEN protocol = '-1' THEN -1 ELSE to_port END),
    source_kind,
    source_value
);
CREATE INDEX rules_expiry ON rules (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE members (
    group_id   TEXT NOT NULL,
    address    TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (group_id, address)
);
CREATE INDEX members_expiry ON members (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    action    TEXT NOT NULL,
    object_id TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
BEGIN
    SELECT RAISE(ABORT, 'the changes table is append-only');
END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
BEGIN
    SELECT RAISE(ABORT, 'the changes table is append-only');
END;
";

const V2: &str = "
CREATE TABLE iam_users (
    name    TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    path    TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE iam_groups (
    name     TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    group_id TEXT NOT NULL UNIQUE,
    path     TEXT NOT NULL,
    created  INTEGER NOT NULL
);

CREATE TABLE iam_group_members (
    group_name TEXT NOT NULL COLLATE NOCASE,
    user_name  TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (group_name, user_name)
);
CREATE INDEX iam_group_members_user ON iam_group_members (user_name);

CREATE TABLE iam_roles (
    name               TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    role_id            TEXT NOT NULL UNIQUE,
    path               TEXT NOT NULL,
    created            INTEGER NOT NULL,
    assume_role_policy TEXT
);

CREATE TABLE iam_access_keys (
    access_key_id     TEXT NOT NULL PRIMARY KEY,
    user_name         TEXT NOT NULL COLLATE NOCASE,
    status            TEXT NOT NULL,
    secret_nonce      BLOB NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    created           INTEGER NOT NULL,
    last_used         INTEGER
);
CREATE INDEX iam_access_keys_user ON iam_access_keys (user_name);

CREATE TABLE iam_managed_policies (
    arn       TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
    policy_id TEXT NOT NULL UNIQUE,
    name      TEXT NOT NULL COLLATE NOCASE UNIQUE,
    path      TEXT NOT NULL,
    document  TEXT NOT NULL,
    created   INTEGER NOT NULL
);

CREATE TABLE iam_inline_policies (
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL COLLATE NOCASE,
    policy_name    TEXT NOT NULL COLLATE NOCASE,
    document       TEXT NOT NULL,
    PRIMARY KEY (principal_kind, principal_name, policy_name)
);

CREATE TABLE iam_attachments (
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL COLLATE NOCASE,
    policy_arn     TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (principal_kind, principal_name, policy_arn)
);
CREATE INDEX iam_attachments_policy ON iam_attachments (policy_arn);
";

/// Brings the schema to [`SCHEMA_VERSION`], one step at a time, each step in one
/// `IMMEDIATE` transaction (so two processes opening a new file at once migrate it once:
/// the second waits for the first and then sees the new version).
///
/// # Errors
/// [`StateError::UnsupportedSchema`] when the file's version is newer than this build's
/// (or negative);
/// [`StateError::Sqlite`] when a step fails (that step is rolled back).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StateError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("migrating the schema")?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .ctx("reading the schema version")?;
        match version {
            SCHEMA_VERSION => return Ok(()),
            0 => tx.execute_batch(V1).ctx("creating schema version 1")?,
            1 => tx
                .execute_batch(V2)
                .ctx("migrating to schema version 2 (IAM tables)")?,
            found => {
                return Err(StateError::UnsupportedSchema {
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
        }
        tx.pragma_update(None, "user_version", version + 1)
            .ctx("setting the schema version")?;
        tx.commit().ctx("migrating the schema")?;
    }
}
