//! `gatehouse hba lint FILE [--format json] [--strict]`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use gatehouse_hba::{HbaFile, OsFiles, SystemResolver};
use serde::Serialize;

use crate::engine_args::{absolute, EngineArgs};
use crate::output::{pg_array, plural, printable, say, table, Format, MAX_MESSAGE};

/// Arguments of `hba lint`.
#[derive(Args)]
pub struct LintArgs {
    /// The pg_hba.conf to check.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Also report what PostgreSQL itself would not accept (gatehouse's `iam` method).
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Serialize)]
struct LintJson<'a> {
    rules: &'a [gatehouse_hba::FileRule],
    errors: Vec<String>,
    warnings: Vec<String>,
}

/// Runs `hba lint`: exit 0 when PostgreSQL would load the file, 1 when not (or, with
/// `--strict`, when it uses gatehouse extensions), 2 when it cannot be read.
pub fn run(args: &LintArgs, out: &mut String) -> Result<u8> {
    let opts = args.engine.options()?;
    let path = absolute(&args.file)?;
    let hba = match HbaFile::load(&path, &OsFiles, &opts, &SystemResolver) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return Ok(2);
        }
    };
    tracing::debug!(file = %path, records = hba.lines.len(), errors = hba.errors.len(), "pg_hba.conf parsed");
    let mut errors: Vec<String> = hba.errors.iter().map(ToString::to_string).collect();
    if args.strict {
        for line in hba.lines.iter().filter(|l| l.method.is_extension()) {
            errors.push(format!(
                "{}:{}: authentication method \"{}\" is a gatehouse extension; PostgreSQL would refuse this file",
                line.file, line.line, line.method
            ));
        }
    }
    let warnings: Vec<String> = hba.warnings.iter().map(ToString::to_string).collect();
    let rows = hba.rows();
    match args.format {
        crate::output::Format::Json => {
            let doc = LintJson {
                rules: &rows,
                errors: errors.clone(),
                warnings,
            };
            say!(out, "{}", serde_json::to_string_pretty(&doc)?);
        }
        crate::output::Format::Text => print_text(&hba, &rows, &errors, &warnings, out),
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

fn print_text(
    hba: &HbaFile,
    rows: &[gatehouse_hba::FileRule],
    errors: &[String],
    warnings: &[String],
    out: &mut String,
) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mark = if r.error.is_some() || r.rule_type.is_none() {
                "✗"
            } else {
                " "
            };
            vec![
                mark.to_owned(),
                r.rule_number.map(|n| n.to_string()).unwrap_or_default(),
                format!("{}:{}", short(&r.file_name, &hba.path), r.line_number),
                r.rule_type.clone().unwrap_or_default(),
                pg_array(&r.database),
                pg_array(&r.user_name),
                r.address.clone().unwrap_or_default(),
                r.netmask.clone().unwrap_or_default(),
                r.auth_method.clone().unwrap_or_default(),
                pg_array(&r.options),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "",
            "rule",
            "line",
            "type",
            "database",
            "user_name",
            "address",
            "netmask",
            "auth_method",
            "options",
        ],
        &rows,
    ));
    for w in warnings {
        say!(out, "warning: {}", printable(w, MAX_MESSAGE));
    }
    for e in errors {
        say!(out, "error: {}", printable(e, MAX_MESSAGE));
    }
    let extensions = hba.lines.iter().filter(|l| l.method.is_extension()).count();
    if !errors.is_empty() {
        say!(
            out,
            "{}: PostgreSQL would refuse to load this file ({})",
            hba.path,
            plural(errors.len(), "error")
        );
    } else if extensions > 0 {
        say!(
            out,
            "{}: OK for gatehouse, {}; {} gatehouse's iam method, which PostgreSQL itself would refuse (see --strict)",
            hba.path,
            plural(hba.lines.len(), "rule"),
            if extensions == 1 { "1 rule uses" } else { "some rules use" }
        );
    } else {
        say!(
            out,
            "{}: OK, {}; PostgreSQL would load this file",
            hba.path,
            plural(hba.lines.len(), "rule")
        );
    }
}

/// File name relative to the top-level file's directory, for compact tables.
fn short(file: &str, top: &str) -> String {
    let dir = top.rsplit_once('/').map_or("", |(d, _)| d);
    file.strip_prefix(dir)
        .and_then(|s| s.strip_prefix('/'))
        .unwrap_or(file)
        .to_owned()
}
