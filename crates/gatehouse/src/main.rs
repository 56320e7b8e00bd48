//! `gatehouse`: the command-line interface (DESIGN.md "CLI contract").
//!
//! Exit codes everywhere: 0 ok, 1 a negative answer (no match, lint errors),
//! 2 bad usage or input.

#![forbid(unsafe_code)]

mod admin;
mod config;
mod engine_args;
mod explain;
mod hba_cmd;
mod iam_cmd;
mod ident_cmd;
mod output;
mod quickstart;
mod serve_cmd;
mod sg_cmd;
mod token_cmd;
mod token_verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Connection-control gateway for PostgreSQL.
#[derive(Parser)]
#[command(name = "gatehouse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// pg_hba.conf: lint a file, or find the line a connection matches.
    Hba {
        #[command(subcommand)]
        command: hba_cmd::HbaCommand,
    },
    /// Run the gateway in front of a PostgreSQL server.
    Serve(serve_cmd::ConfigArg),
    /// A throwaway PostgreSQL behind the gateway, with example teams, passwords and an
    /// IAM user; prints how to connect. Ctrl-C stops it; DIR is kept for the next run.
    Quickstart(quickstart::QuickstartArgs),
    /// Validate gatehouse.toml and every file it names (like `nginx -t`).
    Check(serve_cmd::ConfigArg),
    /// Security groups of a running gateway, in AWS CLI spirit.
    Sg {
        #[command(subcommand)]
        command: sg_cmd::SgCommand,
    },
    /// The IAM identity store (users, keys, policies), in AWS CLI spirit.
    Iam(iam_cmd::IamArgs),
    /// Say, layer by layer, what decides a connection and what would let it in.
    Explain(explain::ExplainArgs),
    /// pg_ident.conf: lint a file, or check a user name map.
    Ident {
        #[command(subcommand)]
        command: ident_cmd::IdentCommand,
    },
    /// RDS IAM auth tokens: make one as `aws rds generate-db-auth-token` does.
    Token {
        #[command(subcommand)]
        command: token_cmd::TokenCommand,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // These two install their log subscriber from the configuration they load.
    let long_running = match &cli.command {
        Command::Serve(args) => Some(serve_cmd::serve(args)),
        Command::Quickstart(args) => Some(quickstart::run(args)),
        _ => None,
    };
    if let Some(result) = long_running {
        return match result {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("gatehouse: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let mut out = String::new();
    let result = match cli.command {
        Command::Hba { command } => hba_cmd::run(command, &mut out),
        Command::Ident { command } => ident_cmd::run(command, &mut out),
        Command::Check(args) => serve_cmd::check(&args, &mut out),
        Command::Explain(args) => explain::run(&args, &mut out),
        Command::Sg { command } => sg_cmd::run(command, &mut out),
        Command::Token { command } => token_cmd::run(command, &mut out),
        Command::Iam(args) => iam_cmd::run(args, &mut out),
        Command::Serve(_) | Command::Quickstart(_) => Ok(2),
    };
    match result {
        Ok(code) => ExitCode::from(output::flush(&out, code)),
        Err(e) => {
            output::flush(&out, 2);
            eprintln!("gatehouse: {e:#}");
            ExitCode::from(2)
        }
    }
}
