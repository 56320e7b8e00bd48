//! `gatehouse hba lint` and `gatehouse hba match`.

mod lint;
mod matching;

use anyhow::Result;
use clap::Subcommand;

/// `gatehouse hba …`.
#[derive(Subcommand)]
pub enum HbaCommand {
    /// One row per record, as PostgreSQL's pg_hba_file_rules view; exit 1 on errors.
    Lint(lint::LintArgs),
    /// Which record a connection matches first, as PostgreSQL's check_hba().
    Match(matching::MatchArgs),
}

/// Runs an `hba` subcommand; returns the exit code.
pub fn run(cmd: HbaCommand, out: &mut String) -> Result<u8> {
    match cmd {
        HbaCommand::Lint(args) => lint::run(&args, out),
        HbaCommand::Match(args) => matching::run(&args, out),
    }
}
