//! `gatehouse iam …`: the IAM identity store in AWS CLI spirit (docs/iam.md), working
//! directly on the SQLite state store named by gatehouse.toml. A running gateway notices
//! the change by polling the store, so there is no admin API round trip.
//!
//! Output: a readable table by default, AWS-shaped JSON with `--format json`. Exit 0 ok,
//! 1 a negative answer (`simulate-principal-policy` with a denied request), 2 bad usage or
//! a refusal (`gatehouse iam: <AWS code>: <message>` on stderr, as the AWS CLI exits
//! non-zero on `EntityAlreadyExists`).

mod args;
mod commands;
mod settings;
mod show;
mod simulate;

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use gatehouse_state::StateStore;

pub use args::IamCommand;

use crate::output::{say, Format};

/// `gatehouse iam [--config FILE] [--format text|json] COMMAND …`.
#[derive(Args, Debug)]
pub struct IamArgs {
    /// gatehouse.toml: names the state file (`[admin] state_file`), the account id and
    /// the key file (`[iam] account_id`, `key_file`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t)]
    format: Format,
    #[command(subcommand)]
    command: IamCommand,
}

/// Runs an `iam` command. Errors are printed here (`gatehouse iam: …`) and give exit 2.
pub fn run(args: IamArgs, out: &mut String) -> Result<u8> {
    match execute(&args) {
        Ok(reply) => {
            match args.format {
                Format::Json if reply.json.is_null() => {}
                Format::Json => say!(out, "{}", serde_json::to_string_pretty(&reply.json)?),
                Format::Text => out.push_str(&reply.text),
            }
            Ok(reply.code)
        }
        Err(e) => {
            eprintln!("gatehouse iam: {e:#}");
            Ok(2)
        }
    }
}

fn execute(args: &IamArgs) -> Result<show::Reply> {
    let config = args
        .config
        .as_deref()
        .ok_or_else(|| anyhow!("--config FILE is required (the gateway's gatehouse.toml)"))?;
    let settings = settings::read(config)?;
    let store = StateStore::open(&settings.state_file)
        .with_context(|| format!("{}: [admin] state_file", config.display()))?;
    let iam = store.iam(&settings.account_id)?;
    commands::dispatch(&args.command, &iam, &settings)
}
