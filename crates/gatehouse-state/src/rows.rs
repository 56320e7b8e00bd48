//! Reading and writing rows. Every column read back is checked: a row that does not parse
//! (or that parses but fails netacl's validation) is a [`StateError::CorruptRow`] naming the
//! table, the rowid and the column, never skipped.

use std::fmt::Display;
use std::net::IpAddr;
use std::str::FromStr;

use gatehouse_netacl::{
    canonical_addr, GroupId, IngressRule, IpNet, Member, PrefixListId, Protocol, RuleId, Source,
    Timestamp,
};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, Row};

use crate::change::{Change, ChangeAction};
use crate::error::{SqlContext, StateError};

/// Columns selected by [`read_rules`], in the order [`decode_rule`] expects.
const RULE_COLUMNS: &str = "rowid, id, group_id, protocol, from_port, to_port, source_kind, \
                            source_value, description, expires_at";

/// Columns selected by [`read_members`].
const MEMBER_COLUMNS: &str = "rowid, group_id, address, expires_at";

/// `source_kind` and `source_value` of a source.
pub(crate) fn source_columns(source: &Source) -> (&'static str, String) {
    match source {
        Source::Cidr(net) => ("cidr", net.to_string()),
        Source::PrefixList(id) => ("prefix_list", id.to_string()),
        Source::Group(id) => ("group", id.to_string()),
    }
}

/// A timestamp as an SQLite integer.
///
/// # Errors
/// [`StateError::InvalidExpiry`] when it does not fit in `i64`.
pub(crate) fn time_column(object: &str, t: Timestamp) -> Result<i64, StateError> {
    i64::try_from(t.as_secs()).map_err(|_| StateError::InvalidExpiry {
        object: object.to_owned(),
        expires_at: t.as_secs(),
        reason: format!("is too large (at most {} is stored)", i64::MAX),
    })
}

/// The object id of a member in errors and in the change log: `member ADDR of sg-…`, as
/// netacl's validation errors name members.
pub(crate) fn member_object(group: &GroupId, address: IpAddr) -> String {
    format!("member {address} of {group}")
}

/// One row being decoded: knows where it is, to name it in errors.
pub(crate) struct RowReader<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
    rowid: i64,
    pub(crate) key: String,
}

impl<'a, 'r> RowReader<'a, 'r> {
    pub(crate) fn new(row: &'a Row<'r>, table: &'static str) -> Result<Self, StateError> {
        let rowid = row.get(0).ctx(table)?;
        Ok(Self {
            row,
            table,
            rowid,
            key: String::new(),
        })
    }

    pub(crate) fn corrupt(&self, reason: String) -> StateError {
        StateError::CorruptRow {
            table: self.table,
            rowid: self.rowid,
            key: self.key.clone(),
            reason,
        }
    }

    pub(crate) fn value(&self, idx: usize) -> Result<ValueRef<'_>, StateError> {
        self.row.get_ref(idx).ctx(self.table)
    }

    pub(crate) fn opt_text(&self, idx: usize, column: &str) -> Result<Option<String>, StateError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Some(s.to_owned())),
                Err(_) => Err(self.corrupt(format!("column {column}: text is not UTF-8"))),
            },
            other => Err(self.corrupt(format!(
                "column {column}: expected text, found {}",
                describe(other)
            ))),
        }
    }

    pub(crate) fn text(&self, idx: usize, column: &str) -> Result<String, StateError> {
        self.opt_text(idx, column)?
            .ok_or_else(|| self.corrupt(format!("column {column}: expected text, found NULL")))
    }

    pub(crate) fn opt_int(&self, idx: usize, column: &str) -> Result<Option<i64>, StateError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            other => Err(self.corrupt(format!(
                "column {column}: expected an integer, found {}",
                describe(other)
            ))),
        }
    }

    pub(crate) fn int(&self, idx: usize, column: &str) -> Result<i64, StateError> {
        self.opt_int(idx, column)?.ok_or_else(|| {
            self.corrupt(format!("column {column}: expected an integer, found NULL"))
        })
    }

    pub(crate) fn parse<T>(&self, idx: usize, column: &str) -> Result<T, StateError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.text(idx, column)?;
        text.parse()
            .map_err(|e| self.corrupt(format!("column {column}: {text:?}: {e}")))
    }

    pub(crate) fn blob(&self, idx: usize, column: &str) -> Result<Vec<u8>, StateError> {
        match self.value(idx)? {
            ValueRef::Blob(bytes) => Ok(bytes.to_vec()),
            other => Err(self.corrupt(format!(
                "column {column}: expected a blob, found {}",
                describe(other)
            ))),
        }
    }

    pub(crate) fn port(&self, idx: usize, column: &str) -> Result<i32, StateError> {
        let n = self.int(idx, column)?;
        i32::try_from(n).map_err(|_| self.corrupt(format!("column {column}: {n} is not a port")))
    }

    pub(crate) fn opt_time(
        &self,
        idx: usize,
        column: &str,
    ) -> Result<Option<Timestamp>, StateError> {
        self.opt_int(idx, column)?
            .map(|n| {
                u64::try_from(n).map(Timestamp).map_err(|_| {
                    self.corrupt(format!("column {column}: {n} is before 1970 (negative)"))
                })
            })
            .transpose()
    }
}

fn describe(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(n) => format!("the integer {n}"),
        ValueRef::Real(x) => format!("the real {x}"),
        ValueRef::Text(t) => format!("the text {:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

fn decode_rule(row: &Row<'_>) -> Result<IngressRule, StateError> {
    let mut r = RowReader::new(row, "rules")?;
    let id: RuleId = r.parse(1, "id")?;
    r.key = id.to_string();
    let group_id: GroupId = r.parse(2, "group_id")?;
    let protocol: Protocol = r.parse(3, "protocol")?;
    let from_port = r.port(4, "from_port")?;
    let to_port = r.port(5, "to_port")?;
    let kind = r.text(6, "source_kind")?;
    let source = match kind.as_str() {
        "cidr" => Source::Cidr(r.parse::<IpNet>(7, "source_value")?),
        "prefix_list" => Source::PrefixList(r.parse::<PrefixListId>(7, "source_value")?),
        "group" => Source::Group(r.parse::<GroupId>(7, "source_value")?),
        other => {
            return Err(r.corrupt(format!(
                "column source_kind: {other:?} is not one of cidr, prefix_list, group"
            )))
        }
    };
    let description = r.opt_text(8, "description")?;
    let expires_at = r.opt_time(9, "expires_at")?;
    let rule = IngressRule {
        id,
        group_id,
        protocol,
        from_port,
        to_port,
        source,
        description,
        expires_at,
    };
    let problems = rule.validate();
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(r.corrupt(text.join("; ")));
    }
    Ok(rule)
}

fn decode_member(row: &Row<'_>) -> Result<Member, StateError> {
    let mut r = RowReader::new(row, "members")?;
    let group_id: GroupId = r.parse(1, "group_id")?;
    r.key = format!("member of {group_id}");
    let address: IpAddr = r.parse(2, "address")?;
    r.key = member_object(&group_id, address);
    let expires_at = r.opt_time(3, "expires_at")?;
    Ok(Member {
        group_id,
        address,
        expires_at,
    })
}

fn decode_change(row: &Row<'_>) -> Result<Change, StateError> {
    let mut r = RowReader::new(row, "changes")?;
    let id = r.int(0, "id")?;
    r.key = format!("change {id}");
    let at = r.int(1, "at")?;
    let at = u64::try_from(at)
        .map(Timestamp)
        .map_err(|_| r.corrupt(format!("column at: {at} is before 1970 (negative)")))?;
    let action: ChangeAction = r.parse(2, "action")?;
    let object_id = r.text(3, "object_id")?;
    let detail_text = r.text(4, "detail")?;
    let detail = serde_json::from_str(&detail_text)
        .map_err(|e| r.corrupt(format!("column detail: not JSON: {e}")))?;
    Ok(Change {
        id,
        at,
        action,
        object_id,
        detail,
    })
}

/// Reads the rules matching `filter` (an SQL condition on `rules` whose parameters are
/// `args`), in insertion order.
pub(crate) fn read_rules(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<IngressRule>, StateError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE {filter} ORDER BY rowid");
    let mut stmt = conn.prepare_cached(&sql).ctx("reading rules")?;
    let mut rows = stmt.query(args).ctx("reading rules")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("reading rules")? {
        out.push(decode_rule(row)?);
    }
    Ok(out)
}

/// Reads the members matching `filter` (an SQL condition on `members` whose parameters are
/// `args`), in insertion order.
pub(crate) fn read_members(
    conn: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Member>, StateError> {
    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE {filter} ORDER BY rowid");
    let mut stmt = conn.prepare_cached(&sql).ctx("reading members")?;
    let mut rows = stmt.query(args).ctx("reading members")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("reading members")? {
        out.push(decode_member(row)?);
    }
    Ok(out)
}

/// Reads the changes with an id greater than `after`, oldest first.
pub(crate) fn read_changes(conn: &Connection, after: i64) -> Result<Vec<Change>, StateError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, at, action, object_id, detail FROM changes WHERE id > ?1 ORDER BY id",
        )
        .ctx("reading changes")?;
    let mut rows = stmt.query(params![after]).ctx("reading changes")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("reading changes")? {
        out.push(decode_change(row)?);
    }
    Ok(out)
}

/// Inserts a rule (already validated).
pub(crate) fn insert_rule(conn: &Connection, rule: &IngressRule) -> Result<(), StateError> {
    let (kind, value) = source_columns(&rule.source);
    let expires_at = rule
        .expires_at
        .map(|t| time_column(rule.id.as_str(), t))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO rules (id, group_id, protocol, from_port, to_port, source_kind, \
         source_value, description, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            rule.id.as_str(),
            rule.group_id.as_str(),
            rule.protocol.to_string(),
            rule.from_port,
            rule.to_port,
            kind,
            value,
            rule.description,
            expires_at,
        ])
    })
    .ctx("storing the rule")?;
    Ok(())
}

/// Deletes a rule by id; returns whether a row was deleted.
pub(crate) fn delete_rule(conn: &Connection, id: &RuleId) -> Result<bool, StateError> {
    let n = conn
        .prepare_cached("DELETE FROM rules WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![id.as_str()]))
        .ctx("deleting the rule")?;
    Ok(n > 0)
}

/// Inserts a member or updates the expiry of the same (group, address).
pub(crate) fn upsert_member(conn: &Connection, member: &Member) -> Result<(), StateError> {
    let object = member_object(&member.group_id, member.address);
    let expires_at = member
        .expires_at
        .map(|t| time_column(&object, t))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO members (group_id, address, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (group_id, address) DO UPDATE SET expires_at = excluded.expires_at",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            member.group_id.as_str(),
            canonical_addr(member.address).to_string(),
            expires_at
        ])
    })
    .ctx("storing the member")?;
    Ok(())
}

/// Deletes a member; returns whether a row was deleted.
pub(crate) fn delete_member(
    conn: &Connection,
    group: &GroupId,
    address: IpAddr,
) -> Result<bool, StateError> {
    let n = conn
        .prepare_cached("DELETE FROM members WHERE group_id = ?1 AND address = ?2")
        .and_then(|mut stmt| {
            stmt.execute(params![group.as_str(), canonical_addr(address).to_string()])
        })
        .ctx("deleting the member")?;
    Ok(n > 0)
}

/// Appends one entry to the change log and returns it.
pub(crate) fn log_change(
    conn: &Connection,
    at: Timestamp,
    action: ChangeAction,
    object_id: &str,
    object: &impl serde::Serialize,
) -> Result<Change, StateError> {
    let detail = serde_json::to_value(object).map_err(|source| StateError::Json {
        object: object_id.to_owned(),
        source,
    })?;
    let at_column = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "INSERT INTO changes (at, action, object_id, detail) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            at_column,
            action.as_str(),
            object_id,
            detail.to_string()
        ])
    })
    .ctx("appending to the change log")?;
    Ok(Change {
        id: conn.last_insert_rowid(),
        at,
        action,
        object_id: object_id.to_owned(),
        detail,
    })
}
