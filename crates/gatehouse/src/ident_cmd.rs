//! `gatehouse ident lint FILE` and `gatehouse ident match`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use gatehouse_hba::{IdentDecision, IdentFile, OsFiles};
use serde_json::json;

use crate::engine_args::{absolute, EngineArgs};
use crate::output::{plural, printable, say, table, Format, MAX_MESSAGE};

/// `gatehouse ident …`.
#[derive(Subcommand)]
pub enum IdentCommand {
    /// One row per line, as PostgreSQL's pg_ident_file_mappings view; exit 1 on errors.
    Lint(LintArgs),
    /// May a system user connect as a database user under a map? (check_usermap()).
    Match(MatchArgs),
}

/// Arguments of `ident lint`.
#[derive(Args)]
pub struct LintArgs {
    /// The pg_ident.conf to check.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Arguments of `ident match`.
#[derive(Args)]
pub struct MatchArgs {
    /// The pg_ident.conf.
    #[arg(long)]
    ident: PathBuf,
    /// Map name (the pg_hba.conf `map=` option).
    #[arg(long)]
    map: String,
    /// The authenticated system user (certificate CN, Kerberos principal, OS user, …).
    #[arg(long = "system-user")]
    system_user: String,
    /// The database user requested in the StartupMessage.
    #[arg(long)]
    user: String,
    /// A role the database user belongs to (for `+group`; repeat per role).
    #[arg(long = "member-of")]
    member_of: Vec<String>,
    /// Compare names case-insensitively (as some GSSAPI/SSPI setups ask).
    #[arg(long)]
    case_insensitive: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs an `ident` subcommand; returns the exit code.
pub fn run(cmd: IdentCommand, out: &mut String) -> Result<u8> {
    match cmd {
        IdentCommand::Lint(a) => lint(&a, out),
        IdentCommand::Match(a) => matching(&a, out),
    }
}

fn load(
    path: &std::path::Path,
    engine: &EngineArgs,
) -> Result<Result<IdentFile, gatehouse_hba::LoadError>> {
    let opts = engine.options()?;
    Ok(IdentFile::load(&absolute(path)?, &OsFiles, &opts))
}

fn lint(a: &LintArgs, out: &mut String) -> Result<u8> {
    let f = match load(&a.file, &a.engine)? {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return Ok(2);
        }
    };
    match a.format {
        Format::Json => say!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &json!({"mappings": f.rows, "errors": f.errors.iter().map(ToString::to_string).collect::<Vec<_>>()})
            )?
        ),
        Format::Text => {
            let rows: Vec<Vec<String>> = f
                .rows
                .iter()
                .map(|r| {
                    vec![
                        if r.error.is_some() {
                            "✗".into()
                        } else {
                            " ".into()
                        },
                        format!("{}:{}", r.file_name, r.line_number),
                        r.map_name.clone().unwrap_or_default(),
                        r.sys_name.clone().unwrap_or_default(),
                        r.pg_username.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["", "line", "map_name", "sys_name", "pg_username"],
                &rows,
            ));
            for e in &f.errors {
                say!(out, "error: {}", printable(&e.to_string(), MAX_MESSAGE));
            }
            if f.is_loadable() {
                say!(
                    out,
                    "OK, {}; PostgreSQL would load this file",
                    plural(f.lines.len(), "mapping")
                );
            } else {
                say!(
                    out,
                    "PostgreSQL would refuse to load this file ({})",
                    plural(f.errors.len(), "error")
                );
            }
        }
    }
    Ok(if f.is_loadable() { 0 } else { 1 })
}

fn matching(a: &MatchArgs, out: &mut String) -> Result<u8> {
    let f = match load(&a.ident, &a.engine)? {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return Ok(2);
        }
    };
    if !f.is_loadable() {
        for e in &f.errors {
            eprintln!("error: {}", printable(&e.to_string(), MAX_MESSAGE));
        }
        return Ok(2);
    }
    let membership = gatehouse_hba::Membership::of(a.member_of.iter().cloned());
    let is_member = |role: &str| membership.is_member(&a.user, role);
    let decision = f.check(
        &a.map,
        &a.user,
        &a.system_user,
        a.case_insensitive,
        &is_member,
    );
    let (doc, code) = match &decision {
        IdentDecision::Allowed { file, line } => {
            (json!({"matched": true, "file": file, "line": line}), 0)
        }
        IdentDecision::NoMatch => (json!({"matched": false}), 1),
        IdentDecision::Error(e) => (json!({"matched": false, "error": e}), 1),
    };
    match a.format {
        Format::Json => say!(out, "{}", serde_json::to_string_pretty(&doc)?),
        Format::Text => match decision {
            IdentDecision::Allowed { file, line } => say!(
                out,
                "{file}:{line}: map \"{}\" lets system user \"{}\" connect as \"{}\"",
                a.map,
                a.system_user,
                a.user
            ),
            IdentDecision::NoMatch => say!(
                out,
                "no match in usermap \"{}\" for user \"{}\" authenticated as \"{}\"",
                a.map,
                a.user,
                a.system_user
            ),
            IdentDecision::Error(e) => say!(out, "error: {e}"),
        },
    }
    Ok(code)
}
