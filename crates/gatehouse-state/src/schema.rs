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

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{SqlContext, StateError};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

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
