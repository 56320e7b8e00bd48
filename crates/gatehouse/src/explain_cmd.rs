//! `gatehouse explain --config FILE --address IP [--port P] [--ssl] [--user U
//! --database D] [--member-of R]... [--format json]`: runs layer 1 (security
//! groups) and, with `--user`, layer 3 (pg_hba.conf) offline from the
//! configuration, and says which rule decided. Exit 0 when every layer asked
//! admits the connection, 1 when one refuses it, 2 for bad input.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use gatehouse_hba::{
    startup_names, Connection, MatchEnv, Membership, NoResolver, Replication, Transport,
};
use gatehouse_netacl::{explain, Outcome, Timestamp};
use serde_json::json;

use crate::config;
use crate::output::{printable, say, Format, MAX_MESSAGE};

/// Arguments of `explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// gatehouse.toml.
    #[arg(long)]
    config: PathBuf,
    /// The client's source address (after any PROXY header).
    #[arg(long)]
    address: IpAddr,
    /// The listener port (default: the first `[listen] addresses` entry's).
    #[arg(long)]
    port: Option<u16>,
    /// The connection uses TLS (for hostssl / hostnossl lines).
    #[arg(long)]
    ssl: bool,
    /// StartupMessage user: also run the pg_hba.conf layer.
    #[arg(long)]
    user: Option<String>,
    /// StartupMessage database (default: the user).
    #[arg(long, default_value = "")]
    database: String,
    /// A role the user belongs to (for +group / samerole), once per role.
    #[arg(long = "member-of")]
    member_of: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `explain`.
pub fn run(args: &ExplainArgs, out: &mut String) -> Result<u8> {
    let loaded = config::load(&args.config)?;
    let g = &loaded.gateway;
    let index = match args.port {
        None => 0,
        Some(p) => match g.listen.iter().position(|a| a.port() == p) {
            Some(i) => i,
            None => bail!("--port {p}: no listener on that port in [listen] addresses"),
        },
    };
    let port = g.listen[index].port();
    // Rules and members of the state store count too, as in the running gateway.
    let policy = crate::serve_cmd::stored_policy(&loaded.state_file, &g.network)?
        .unwrap_or_else(|| g.network.clone());
    let listener = &policy.listeners[index];
    let network = if listener.open {
        None
    } else {
        Some(explain(
            &policy.snapshot,
            port,
            &listener.groups,
            args.address,
            Timestamp::now(),
        ))
    };
    let network_ok = match &network {
        None => true,
        Some(e) => matches!(e.outcome, Outcome::Allowed(_)),
    };

    let hba = args.user.as_ref().map(|user| {
        let (user, database) = startup_names(user, &args.database);
        let membership = Membership::of(args.member_of.iter().cloned());
        let conn = Connection {
            transport: Transport::Tcp {
                addr: args.address,
                ssl: args.ssl,
                gssenc: false,
            },
            user: &user,
            database: &database,
            replication: Replication::None,
            membership: &membership,
        };
        let env = MatchEnv {
            interfaces: &g.rules.interfaces,
            resolver: &NoResolver,
        };
        g.rules
            .hba
            .find(&conn, &env)
            .map(|l| (l.file.to_string(), l.line, l.raw.clone(), l.method.name()))
    });
    let hba_ok = match &hba {
        None => true,
        Some(Some((_, _, _, method))) => *method != "reject",
        Some(None) => false,
    };

    match args.format {
        Format::Json => {
            let doc = json!({
                "address": args.address.to_string(),
                "port": port,
                "network": match &network {
                    None => json!({"result": "open"}),
                    Some(e) => serde_json::to_value(e)?,
                },
                "hba": match &hba {
                    None => serde_json::Value::Null,
                    Some(None) => json!({"matched": false}),
                    Some(Some((file, line, raw, method))) => json!({
                        "matched": true, "file": file, "line": line, "text": raw, "method": method
                    }),
                },
                "admitted": network_ok && hba_ok,
            });
            say!(out, "{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Text => {
            match &network {
                None => say!(
                    out,
                    "network: open ([network] mode = \"open\"): every source may connect"
                ),
                Some(e) => {
                    for line in e.to_string().lines() {
                        say!(out, "network: {}", printable(line, MAX_MESSAGE));
                    }
                }
            }
            match &hba {
                None => {}
                Some(None) => say!(out, "pg_hba.conf: no line matches (the client gets 28000 \"no pg_hba.conf entry …\")"),
                Some(Some((file, line, raw, method))) => {
                    say!(out, "pg_hba.conf: {file}:{line}: {}", printable(raw, MAX_MESSAGE));
                    say!(out, "pg_hba.conf: method {method}");
                }
            }
            say!(
                out,
                "{}",
                if network_ok && hba_ok {
                    "admitted (so far as these layers go)"
                } else {
                    "refused"
                }
            );
        }
    }
    Ok(if network_ok && hba_ok { 0 } else { 1 })
}
