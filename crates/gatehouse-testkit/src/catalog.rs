//! The server's own reading of pg_hba.conf and pg_ident.conf (the files on disk, not the
//! loaded rules): `pg_hba_file_rules` and `pg_ident_file_mappings`.

use postgres::Row;

use crate::cluster::Cluster;
use crate::error::Result;

/// One row of `pg_hba_file_rules`, in the view's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HbaFileRule {
    /// Rule number among valid rules (16+; `None` on 15 and for error rows).
    pub rule_number: Option<i32>,
    /// File the line is in (16+; `None` on 15).
    pub file_name: Option<String>,
    /// Line number in that file.
    pub line_number: Option<i32>,
    /// `local`, `host`, `hostssl`, `hostnossl`, `hostgssenc`, `hostnogssenc`.
    pub rule_type: Option<String>,
    /// Database names as the view shows them.
    pub database: Option<Vec<String>>,
    /// User names as the view shows them.
    pub user_name: Option<Vec<String>>,
    /// Address (or `all`, `samehost`, `samenet`, a host name).
    pub address: Option<String>,
    /// Netmask.
    pub netmask: Option<String>,
    /// Authentication method.
    pub auth_method: Option<String>,
    /// Options as `name=value`.
    pub options: Option<Vec<String>>,
    /// Why the line is invalid, if it is.
    pub error: Option<String>,
}

/// One row of `pg_ident_file_mappings`, in the view's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentFileMapping {
    /// Mapping number among valid mappings (16+).
    pub map_number: Option<i32>,
    /// File the line is in (16+).
    pub file_name: Option<String>,
    /// Line number in that file.
    pub line_number: Option<i32>,
    /// Map name.
    pub map_name: Option<String>,
    /// System user name (or `/regex`).
    pub sys_name: Option<String>,
    /// PostgreSQL user name.
    pub pg_username: Option<String>,
    /// Why the line is invalid, if it is.
    pub error: Option<String>,
}

impl Cluster {
    /// Reads `pg_hba_file_rules` (parses the pg_hba.conf on disk now; no reload needed).
    pub fn hba_file_rules(&self) -> Result<Vec<HbaFileRule>> {
        let columns = if self.server_major >= 16 {
            "rule_number, file_name"
        } else {
            "NULL::int4 AS rule_number, NULL::text AS file_name"
        };
        let sql = format!(
            "SELECT {columns}, line_number, type, {db}, {users}, textsend(address), netmask, \
             auth_method, {opts}, textsend(error) FROM pg_catalog.pg_hba_file_rules",
            db = BYTES_ARRAY.replace("COL", "database"),
            users = BYTES_ARRAY.replace("COL", "user_name"),
            opts = BYTES_ARRAY.replace("COL", "options"),
        );
        let rows = self.with_admin(|c| c.query(&sql, &[]))?;
        rows.iter().map(hba_row).collect()
    }

    /// Reads `pg_ident_file_mappings` (parses the pg_ident.conf on disk now).
    pub fn ident_file_mappings(&self) -> Result<Vec<IdentFileMapping>> {
        let columns = if self.server_major >= 16 {
            "map_number, file_name"
        } else {
            "NULL::int4 AS map_number, NULL::text AS file_name"
        };
        let sql = format!(
            "SELECT {columns}, line_number, textsend(map_name), textsend(sys_name), \
             textsend(pg_username), textsend(error) FROM pg_catalog.pg_ident_file_mappings"
        );
        let rows = self.with_admin(|c| c.query(&sql, &[]))?;
        rows.iter().map(ident_row).collect()
    }
}

/// Text that may hold bytes that are not UTF-8 (a file in a SQL_ASCII cluster can name
/// anything) is fetched as `bytea` via `textsend()` and decoded lossily, the same way
/// gatehouse-hba reads such bytes.
const BYTES_ARRAY: &str =
    "(SELECT array_agg(textsend(e) ORDER BY n) FROM unnest(COL) WITH ORDINALITY AS u(e, n))";

fn lossy(row: &Row, i: usize) -> Result<Option<String>> {
    let v: Option<Vec<u8>> = row.try_get(i)?;
    Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn lossy_array(row: &Row, i: usize) -> Result<Option<Vec<String>>> {
    let v: Option<Vec<Vec<u8>>> = row.try_get(i)?;
    Ok(v.map(|items| {
        items
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }))
}

fn hba_row(row: &Row) -> Result<HbaFileRule> {
    Ok(HbaFileRule {
        rule_number: row.try_get(0)?,
        file_name: row.try_get(1)?,
        line_number: row.try_get(2)?,
        rule_type: row.try_get(3)?,
        database: lossy_array(row, 4)?,
        user_name: lossy_array(row, 5)?,
        address: lossy(row, 6)?,
        netmask: row.try_get(7)?,
        auth_method: row.try_get(8)?,
        options: lossy_array(row, 9)?,
        error: lossy(row, 10)?,
    })
}

fn ident_row(row: &Row) -> Result<IdentFileMapping> {
    Ok(IdentFileMapping {
        map_number: row.try_get(0)?,
        file_name: row.try_get(1)?,
        line_number: row.try_get(2)?,
        map_name: lossy(row, 3)?,
        sys_name: lossy(row, 4)?,
        pg_username: lossy(row, 5)?,
        error: lossy(row, 6)?,
    })
}
