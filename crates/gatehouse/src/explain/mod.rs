//! `gatehouse explain --config FILE (--address IP [--port P] | --local) [--ssl]
//! [--user U [--database D]] [--member-of R]... [--password-file F | --token T]
//! [--format json] [--color auto|always|never]`: runs layers 1–4 offline from the
//! configuration (and the state store) for a described connection and says, for
//! each layer, whether it lets the connection through, which rule decided, what
//! the client would be told, and what change would let a refused connection in.
//!
//! Exit 0 when no layer refuses, 1 when one does, 2 for bad input.

mod auth;
mod hba;
mod iam;
mod network;
mod report;
mod tls;

use std::fmt;
use std::io::{IsTerminal, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use gatehouse_hba::{startup_names, Membership};
use serde_json::json;

use crate::config;
use crate::config::Loaded;
use crate::output::{say, Format};

pub use report::{ClientSees, Fix, HbaEdit, Layer, Report, Verdict};

/// Arguments of `explain`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["address", "local"])))]
pub struct ExplainArgs {
    /// gatehouse.toml.
    #[arg(long)]
    config: PathBuf,
    /// The client's source address (after any PROXY header).
    #[arg(long)]
    address: Option<IpAddr>,
    /// A Unix-socket connection (pg_hba.conf `local` lines; no security groups, no TLS).
    #[arg(long)]
    local: bool,
    /// The listener port (default: the first `[listen] addresses` entry's).
    #[arg(long, conflicts_with = "local")]
    port: Option<u16>,
    /// The connection uses TLS (for hostssl / hostnossl lines, iam, client certificates).
    #[arg(long, conflicts_with = "local")]
    ssl: bool,
    /// StartupMessage user: also run the pg_hba.conf and authentication layers.
    #[arg(long)]
    user: Option<String>,
    /// StartupMessage database (default: the user).
    #[arg(long, default_value = "", requires = "user")]
    database: String,
    /// A role the user belongs to, directly or not (for +group, samerole and the
    /// `[iam] token_only_role`), once per role.
    #[arg(long = "member-of", requires = "user")]
    member_of: Vec<String>,
    /// A file holding the password the client would send (checked against the
    /// userlist secret; never printed).
    #[arg(long, requires = "user", conflicts_with = "token")]
    password_file: Option<PathBuf>,
    /// The IAM auth token the client would send as its password (`-`: read it from
    /// standard input, keeping it out of the process list; never printed).
    #[arg(long, requires = "user", allow_hyphen_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// ANSI colours in text output: `auto` (default) when stdout is a terminal and
    /// NO_COLOR is not set.
    #[arg(long, value_enum, default_value_t)]
    color: Color,
}

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stdout is a terminal, NO_COLOR is unset or empty and TERM is not `dumb`.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// What the client would send to prove who it is. `Debug` never shows it.
pub enum Credential {
    /// Nothing given.
    None,
    /// `--password-file`: the password's bytes.
    Password(Vec<u8>),
    /// `--token`.
    Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::None => "None",
            Credential::Password(_) => "Password(<redacted>)",
            Credential::Token(_) => "Token(<redacted>)",
        })
    }
}

/// Longest password file or token read (PostgreSQL's limit on a password packet).
const MAX_SECRET_BYTES: u64 = 65_535;

/// The described connection, as the gateway would see it.
#[derive(Debug)]
pub struct Facts {
    /// Source address; `None` for `--local`.
    pub address: Option<IpAddr>,
    /// Index of the listener in `[listen] addresses`.
    pub listener: usize,
    /// Its port.
    pub port: u16,
    /// TLS in use.
    pub ssl: bool,
    /// StartupMessage user and database after PostgreSQL's startup processing
    /// (empty database = user, 63-byte cut); `None` without `--user`.
    pub names: Option<(String, String)>,
    /// `--member-of`, as given.
    pub member_of: Vec<String>,
    /// The memberships for matching.
    pub membership: Membership,
    /// Password or token.
    pub credential: Credential,
}

/// Everything a layer needs: the configuration, the connection, where the
/// configuration file is (for the commands `explain` proposes).
pub struct Cx<'a> {
    /// The loaded configuration.
    pub loaded: &'a Loaded,
    /// The connection.
    pub facts: &'a Facts,
    /// `--config` as given.
    pub config_path: &'a Path,
}

impl Cx<'_> {
    /// `--config` as a shell word, for proposed commands.
    pub fn config_arg(&self) -> String {
        self.config_path.display().to_string()
    }
}

fn read_limited(r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("{what}: cannot read"))?;
    if buf.len() as u64 > MAX_SECRET_BYTES {
        bail!("{what}: longer than {MAX_SECRET_BYTES} bytes");
    }
    Ok(buf)
}

fn credential(args: &ExplainArgs) -> Result<Credential> {
    if let Some(p) = &args.password_file {
        let what = p.display().to_string();
        let file = std::fs::File::open(p).with_context(|| format!("{what}: cannot open"))?;
        let mut pw = read_limited(file, &what)?;
        // One trailing line end, as editors and `echo` leave it.
        if pw.ends_with(b"\n") {
            pw.pop();
            if pw.ends_with(b"\r") {
                pw.pop();
            }
        }
        return Ok(Credential::Password(pw));
    }
    if let Some(t) = &args.token {
        let raw = if t == "-" {
            read_limited(std::io::stdin(), "the token on standard input")?
        } else {
            t.as_bytes().to_vec()
        };
        let Ok(text) = String::from_utf8(raw) else {
            bail!("--token: the token is not UTF-8 text");
        };
        let token = text.trim().to_owned();
        if token.is_empty() {
            bail!("--token: the token is empty");
        }
        return Ok(Credential::Token(token));
    }
    Ok(Credential::None)
}

/// Runs `explain`.
pub fn run(args: &ExplainArgs, out: &mut String) -> Result<u8> {
    let credential = credential(args)?;
    let loaded = config::load(&args.config)?;
    let g = &loaded.gateway;
    let listener = match args.port {
        None => 0,
        Some(p) => match g.listen.iter().position(|a| a.port() == p) {
            Some(i) => i,
            None => bail!("--port {p}: no listener on that port in [listen] addresses"),
        },
    };
    let address = if args.local { None } else { args.address };
    let facts = Facts {
        address,
        listener,
        port: g.listen[listener].port(),
        ssl: args.ssl,
        names: args.user.as_ref().map(|u| startup_names(u, &args.database)),
        member_of: args.member_of.clone(),
        membership: Membership::of(args.member_of.iter().cloned()),
        credential,
    };
    let cx = Cx {
        loaded: &loaded,
        facts: &facts,
        config_path: &args.config,
    };

    let network = network::layer(&cx)?;
    let (hba, line) = hba::layer(&cx);
    let tls = tls::layer(&cx, line);
    let auth = auth::layer(&cx, line)?;
    let report = Report {
        connection: connection_json(&facts),
        headline: headline(&facts, &loaded),
        layers: vec![network, tls, hba, auth],
    };
    match args.format {
        Format::Json => say!(out, "{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Text => report.to_text(args.color.enabled(), out),
    }
    Ok(if report.refused_by().is_some() { 1 } else { 0 })
}

fn connection_json(f: &Facts) -> serde_json::Value {
    json!({
        "address": f.address.map(|a| a.to_string()),
        "local": f.address.is_none(),
        "port": f.address.map(|_| f.port),
        "ssl": f.ssl,
        "user": f.names.as_ref().map(|n| &n.0),
        "database": f.names.as_ref().map(|n| &n.1),
        "member_of": f.member_of,
        "credential": match f.credential {
            Credential::None => serde_json::Value::Null,
            Credential::Password(_) => json!("password"),
            Credential::Token(_) => json!("token"),
        },
    })
}

fn headline(f: &Facts, loaded: &Loaded) -> String {
    let from = match f.address {
        Some(a) => format!(
            "{a} to {} ({})",
            loaded.gateway.listen[f.listener],
            if f.ssl { "TLS" } else { "no TLS" }
        ),
        None => "a Unix-socket connection".to_owned(),
    };
    let who = match &f.names {
        Some((u, d)) => format!(", user \"{u}\", database \"{d}\""),
        None => String::new(),
    };
    let with = match f.credential {
        Credential::None => "",
        Credential::Password(_) => ", with a password",
        Credential::Token(_) => ", with an IAM token",
    };
    format!("{from}{who}{with}")
}
