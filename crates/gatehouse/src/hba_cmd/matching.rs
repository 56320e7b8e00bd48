//! `gatehouse hba match --hba FILE (--local | --address IP) --user U --database D …`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use gatehouse_hba::{
    startup_names, system_interfaces, AuthMethod, Connection, HbaFile, IdentFile, MatchEnv,
    Membership, OsFiles, Replication, SystemResolver, Transport,
};
use serde_json::json;

use crate::engine_args::{absolute, EngineArgs};
use crate::output::{printable, say, Format, MAX_MESSAGE};

/// `--replication`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReplicationArg {
    /// Physical replication (`replication=true`).
    True,
    /// Logical replication (`replication=database`).
    Database,
}

/// Arguments of `hba match`.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["local", "address"]))]
pub struct MatchArgs {
    /// The pg_hba.conf to match against.
    #[arg(long)]
    hba: PathBuf,
    /// A pg_ident.conf to validate alongside (its errors are reported as warnings).
    #[arg(long)]
    ident: Option<PathBuf>,
    /// The client connects over the Unix socket.
    #[arg(long, group = "source")]
    local: bool,
    /// The client's IP address (TCP); an IPv6 `%zone` suffix is accepted and ignored.
    #[arg(long, group = "source", value_parser = parse_address)]
    address: Option<IpAddr>,
    /// The connection uses TLS (TCP only).
    #[arg(long, conflicts_with_all = ["local", "gss"])]
    ssl: bool,
    /// The connection uses GSSAPI encryption (TCP only).
    #[arg(long, conflicts_with = "local")]
    gss: bool,
    /// StartupMessage user.
    #[arg(long)]
    user: String,
    /// StartupMessage database.
    #[arg(long)]
    database: String,
    /// StartupMessage replication parameter.
    #[arg(long, value_enum)]
    replication: Option<ReplicationArg>,
    /// A role the user belongs to, directly or indirectly (repeat per role).
    #[arg(long = "member-of")]
    member_of: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    engine: EngineArgs,
}

fn parse_address(s: &str) -> Result<IpAddr, String> {
    let base = s.split_once('%').map_or(s, |(a, _)| a);
    base.parse()
        .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))
}

/// Option values never printed.
const SECRET_OPTIONS: &[&str] = &["ldapbindpasswd", "radiussecrets"];

/// Runs `hba match`: exit 0 when a line matches (and is not `reject`), 1 when no
/// line matches or the matching line rejects, 2 when the file would not load.
pub fn run(args: &MatchArgs, out: &mut String) -> Result<u8> {
    let opts = args.engine.options()?;
    let path = absolute(&args.hba)?;
    let hba = match HbaFile::load(&path, &OsFiles, &opts, &SystemResolver) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return Ok(2);
        }
    };
    if !hba.is_loadable() {
        for e in &hba.errors {
            eprintln!("error: {}", printable(&e.to_string(), MAX_MESSAGE));
        }
        eprintln!("gatehouse: {path}: PostgreSQL would refuse to load this file");
        return Ok(2);
    }
    if let Some(ident) = &args.ident {
        let ipath = absolute(ident)?;
        match IdentFile::load(&ipath, &OsFiles, &opts) {
            Ok(f) => {
                for e in &f.errors {
                    eprintln!("warning: {e} (PostgreSQL would not load this pg_ident.conf)");
                }
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    let transport = match (args.local, args.address) {
        (true, _) => Transport::Local,
        (false, Some(addr)) => Transport::Tcp {
            addr,
            ssl: args.ssl,
            gssenc: args.gss,
        },
        (false, None) => bail!("give --local or --address"),
    };
    if args.user.is_empty() {
        bail!("no PostgreSQL user name specified in startup packet (--user is empty)");
    }
    let (user, database) = startup_names(&args.user, &args.database);
    let membership = Membership::of(args.member_of.iter().cloned());
    let conn = Connection {
        transport,
        user: &user,
        database: &database,
        replication: match args.replication {
            None => Replication::None,
            Some(ReplicationArg::True) => Replication::Physical,
            Some(ReplicationArg::Database) => Replication::Logical,
        },
        membership: &membership,
    };
    let interfaces = system_interfaces().unwrap_or_default();
    let env = MatchEnv {
        interfaces: &interfaces,
        resolver: &SystemResolver,
    };
    let found = hba.find(&conn, &env);
    tracing::debug!(
        file = %path,
        user = %args.user,
        database = %args.database,
        matched_line = found.map(|l| l.line),
        method = found.map(|l| l.method.name()),
        "pg_hba.conf decision"
    );
    match args.format {
        Format::Json => {
            let doc = match found {
                Some(line) => json!({
                    "matched": true,
                    "file": line.file.to_string(),
                    "line": line.line,
                    "type": line.conntype.name(),
                    "method": line.method.name(),
                    "options": options_object(line.view_options()),
                }),
                None => json!({"matched": false}),
            };
            say!(out, "{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Text => match found {
            Some(line) => {
                say!(
                    out,
                    "{}:{}: {}",
                    printable(&line.file, MAX_MESSAGE),
                    line.line,
                    printable(line.raw.trim(), MAX_MESSAGE)
                );
                say!(out, "matched line {}: method {}", line.line, line.method);
            }
            None => say!(
                out,
                "no pg_hba.conf entry matches (PostgreSQL: \"no pg_hba.conf entry for …\")"
            ),
        },
    }
    Ok(match found {
        Some(line) if line.method != AuthMethod::Reject => 0,
        _ => 1,
    })
}

fn options_object(view: Option<Vec<String>>) -> serde_json::Value {
    let mut map = BTreeMap::new();
    for item in view.unwrap_or_default() {
        let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
        let v = if SECRET_OPTIONS.contains(&k) {
            "********"
        } else {
            v
        };
        map.insert(k.to_owned(), v.to_owned());
    }
    json!(map)
}
