//! `gatehouse token verify TOKEN --config FILE`: what the gateway's `iam` method
//! would decide for this token, offline — every token check, then the key owner's
//! policies for `rds-db:connect` — with the deciding statement.
//!
//! Exit 0 allowed, 1 refused (the failed check is printed), 2 bad usage or input.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use gatehouse_iam::connect::{authorize_connect, ConnectRefusal, ConnectRequest};
use gatehouse_iam::token::SigningKeyCache;

use crate::config;
use crate::output::{printable, say, Format};

/// Arguments of `token verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The token (`-` reads it from standard input, keeping it out of the process list).
    token: String,
    /// gatehouse.toml (its `[iam]` section and state store).
    #[arg(long)]
    config: PathBuf,
    /// The database user the client would connect as (default: the token's DBUser).
    #[arg(long)]
    user: Option<String>,
    /// The client address, for `aws:SourceIp` conditions.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// The client would connect without TLS (`aws:SecureTransport` = false).
    #[arg(long)]
    no_ssl: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `token verify`; returns the exit code.
pub fn verify_cmd(a: &VerifyArgs, out: &mut String) -> Result<u8> {
    let token = if a.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("reading the token from standard input")?;
        s.trim().to_owned()
    } else {
        a.token.trim().to_owned()
    };
    let loaded = config::load(&a.config)?;
    let Some(iam) = &loaded.iam else {
        bail!(
            "{}: no [iam] section: tokens are not accepted",
            a.config.display()
        );
    };
    let directory = config::iam::directory(iam, &loaded.state_file)?;
    let user = match &a.user {
        Some(u) => u.clone(),
        None => gatehouse_iam::token::parse(&token)
            .map(|t| t.db_user)
            .unwrap_or_default(),
    };
    let request = ConnectRequest {
        token: &token,
        db_user: &user,
        source_ip: a.address,
        secure_transport: !a.no_ssl,
        now: SystemTime::now(),
    };
    let result = authorize_connect(
        &directory,
        &iam.settings,
        &SigningKeyCache::new(1),
        &request,
    );
    let json = a.format == Format::Json;
    match result {
        Ok(grant) => {
            let secs = |t: SystemTime| {
                t.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            let left = grant
                .token
                .expires_at
                .duration_since(SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if json {
                let v = serde_json::json!({
                    "decision": "allowed",
                    "db_user": user,
                    "principal": grant.user_arn,
                    "access_key_id": grant.token.access_key_id,
                    "statement": grant.statement.as_ref().map(|s| serde_json::json!({
                        "policy": s.policy, "index": s.index, "sid": s.sid,
                    })),
                    "issued_at": secs(grant.token.issued_at),
                    "expires_at": secs(grant.token.expires_at),
                });
                say!(out, "{v}");
            } else {
                say!(
                    out,
                    "allowed: {} (access key {}) may connect as \"{}\"",
                    grant.user_arn,
                    grant.token.access_key_id,
                    printable(&user, 64)
                );
                if let Some(s) = &grant.statement {
                    say!(out, "  allowed by {s}");
                }
                say!(out, "  the token expires in {left} s");
            }
            Ok(0)
        }
        Err(refusal) => {
            let statement = match &refusal {
                ConnectRefusal::ExplicitDeny { statement, .. } => Some(statement),
                _ => None,
            };
            if json {
                let v = serde_json::json!({
                    "decision": "refused",
                    "db_user": user,
                    "check": refusal.check(),
                    "reason": refusal.to_string(),
                    "statement": statement.map(|s| serde_json::json!({
                        "policy": s.policy, "index": s.index, "sid": s.sid,
                    })),
                });
                say!(out, "{v}");
            } else {
                say!(
                    out,
                    "refused ({}): {}",
                    refusal.check(),
                    printable(&refusal.to_string(), 400)
                );
                say!(
                    out,
                    "  the client would see: FATAL 28P01 PAM authentication failed for user \"{}\"",
                    printable(&user, 64)
                );
            }
            Ok(1)
        }
    }
}
