//! `gatehouse sg …`: security groups in AWS CLI spirit, through the running
//! gateway's admin API (docs/security-groups.md). Table output for people,
//! `--format json` for scripts. Exit 0 ok, 2 for an error (refusals such as
//! `InvalidPermission.Duplicate` included, as the AWS CLI exits non-zero).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use gatehouse_netacl::{GroupId, PrefixListId, Protocol, RuleId, Source};
use serde_json::{json, Value};

use crate::admin::client::call;
use crate::admin::{AuthorizeIngress, DeregisterMember, RegisterMember, RevokeIngress};
use crate::config;
use crate::output::{say, table, Format};

/// `gatehouse sg` subcommands.
#[derive(Subcommand, Debug)]
pub enum SgCommand {
    /// List the security groups.
    DescribeSecurityGroups(Common),
    /// List ingress rules (static from gatehouse.toml and dynamic from the state store).
    DescribeSecurityGroupRules {
        #[command(flatten)]
        common: Common,
        /// Only this group's rules.
        #[arg(long)]
        group_id: Option<GroupId>,
    },
    /// Add an ingress rule (kept in the state store).
    AuthorizeIngress {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        rule: RuleFields,
        /// Remove the rule after this long (e.g. 30m, 2h, 1d).
        #[arg(long)]
        expires_in: Option<String>,
        /// Description (≤ 255 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove an ingress rule, by id or by its fields.
    RevokeIngress {
        #[command(flatten)]
        common: Common,
        /// The rule id (sgr-…).
        #[arg(long, conflicts_with_all = ["port", "cidr", "source_group", "prefix_list"])]
        rule_id: Option<RuleId>,
        #[command(flatten)]
        rule: OptionalRuleFields,
    },
    /// Register an address as a member of a group (for rules whose source is that group).
    RegisterMember {
        #[command(flatten)]
        common: Common,
        /// The group.
        #[arg(long)]
        group_id: GroupId,
        /// The member's address.
        #[arg(long)]
        address: IpAddr,
        /// Remove the membership after this long.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Remove a member address from a group.
    DeregisterMember {
        #[command(flatten)]
        common: Common,
        /// The group.
        #[arg(long)]
        group_id: GroupId,
        /// The member's address.
        #[arg(long)]
        address: IpAddr,
    },
}

/// Flags every `sg` command takes.
#[derive(Args, Debug)]
pub struct Common {
    /// gatehouse.toml of the running gateway (names the admin socket).
    #[arg(long)]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// The fields that make a rule.
#[derive(Args, Debug)]
pub struct RuleFields {
    /// The group.
    #[arg(long)]
    group_id: GroupId,
    /// `tcp` or `-1` (all).
    #[arg(long, default_value = "tcp", allow_hyphen_values = true)]
    protocol: Protocol,
    /// A port or a range `FROM-TO` (ignored with protocol -1).
    #[arg(long, allow_hyphen_values = true)]
    port: Option<String>,
    /// Source: an IPv4 or IPv6 CIDR.
    #[arg(long, group = "src")]
    cidr: Option<gatehouse_netacl::IpNet>,
    /// Source: the members of another group.
    #[arg(long, group = "src")]
    source_group: Option<GroupId>,
    /// Source: a managed prefix list.
    #[arg(long, group = "src")]
    prefix_list: Option<PrefixListId>,
}

/// [`RuleFields`], all optional (revoke by id needs none).
#[derive(Args, Debug)]
pub struct OptionalRuleFields {
    /// The group.
    #[arg(long)]
    group_id: Option<GroupId>,
    /// `tcp` or `-1`.
    #[arg(long, allow_hyphen_values = true)]
    protocol: Option<Protocol>,
    /// A port or a range `FROM-TO`.
    #[arg(long, allow_hyphen_values = true)]
    port: Option<String>,
    /// Source CIDR.
    #[arg(long)]
    cidr: Option<gatehouse_netacl::IpNet>,
    /// Source group.
    #[arg(long)]
    source_group: Option<GroupId>,
    /// Source prefix list.
    #[arg(long)]
    prefix_list: Option<PrefixListId>,
}

fn ports(protocol: Protocol, port: Option<&str>) -> Result<(i32, i32)> {
    if protocol == Protocol::All {
        return Ok((-1, -1));
    }
    let Some(p) = port else {
        bail!("--port is required with protocol tcp (a port, or FROM-TO)");
    };
    let parse = |s: &str| -> Result<i32> {
        s.trim()
            .parse()
            .with_context(|| format!("--port {p:?}: {s:?} is not a port number"))
    };
    Ok(match p.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let n = parse(p)?;
            (n, n)
        }
    })
}

fn source(
    cidr: Option<gatehouse_netacl::IpNet>,
    group: Option<GroupId>,
    list: Option<PrefixListId>,
) -> Option<Source> {
    cidr.map(Source::Cidr)
        .or(group.map(Source::Group))
        .or(list.map(Source::PrefixList))
}

/// Longest `--expires-in` accepted: ten years.
const MAX_EXPIRES_SECS: u64 = 10 * 366 * 24 * 3600;

fn expires(s: Option<&str>) -> Result<Option<u64>> {
    s.map(|t| {
        let d = humantime::parse_duration(t).with_context(|| {
            format!("--expires-in {t:?}: expected a duration such as 30m, 2h or 1d")
        })?;
        if d.as_secs() < 1 || d.as_secs() > MAX_EXPIRES_SECS {
            bail!("--expires-in {t:?}: must be between 1 second and 10 years");
        }
        Ok(d.as_secs())
    })
    .transpose()
}

fn socket(config_path: &Path) -> Result<PathBuf> {
    config::admin_socket(config_path)
}

/// POSTs `body` to `path` on the admin API of `common.config`'s gateway.
fn post(common: &Common, path: &str, body: &Value) -> Result<(Format, Value)> {
    Ok((
        common.format,
        call(&socket(&common.config)?, "POST", path, Some(body))?,
    ))
}

fn rule_rows(rules: &[Value]) -> Vec<Vec<String>> {
    rules
        .iter()
        .map(|r| {
            let s = |k: &str| match &r[k] {
                Value::String(v) => v.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let src = match &r["source"] {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect(),
                _ => String::new(),
            };
            let ports = if s("protocol") == "-1" {
                "all".to_string()
            } else if s("from_port") == s("to_port") {
                s("from_port")
            } else {
                format!("{}-{}", s("from_port"), s("to_port"))
            };
            vec![
                s("id"),
                s("group_id"),
                s("protocol"),
                ports,
                src,
                s("expires_at"),
                s("origin"),
                s("description"),
            ]
        })
        .collect()
}

const RULE_HEADER: &[&str] = &[
    "rule",
    "group",
    "protocol",
    "ports",
    "source",
    "expires_at",
    "origin",
    "description",
];

/// Runs an `sg` command.
pub fn run(cmd: SgCommand, out: &mut String) -> Result<u8> {
    let (format, answer) = match cmd {
        SgCommand::DescribeSecurityGroups(c) => (
            c.format,
            call(&socket(&c.config)?, "GET", "/v1/security-groups", None)?,
        ),
        SgCommand::DescribeSecurityGroupRules { common, group_id } => {
            let path = match group_id {
                Some(g) => format!("/v1/security-group-rules?group_id={g}"),
                None => "/v1/security-group-rules".to_string(),
            };
            (
                common.format,
                call(&socket(&common.config)?, "GET", &path, None)?,
            )
        }
        SgCommand::AuthorizeIngress {
            common,
            rule,
            expires_in,
            description,
        } => {
            let (from_port, to_port) = ports(rule.protocol, rule.port.as_deref())?;
            let Some(src) = source(rule.cidr, rule.source_group, rule.prefix_list) else {
                bail!("give one source: --cidr, --source-group or --prefix-list");
            };
            let req = AuthorizeIngress {
                group_id: rule.group_id,
                protocol: rule.protocol,
                from_port,
                to_port,
                source: src,
                description,
                expires_in_secs: expires(expires_in.as_deref())?,
            };
            let body = serde_json::to_value(&req)?;
            post(&common, "/v1/ingress/authorize", &body)?
        }
        SgCommand::RevokeIngress {
            common,
            rule_id,
            rule,
        } => {
            let req = match rule_id {
                Some(id) => RevokeIngress {
                    rule_id: Some(id),
                    group_id: None,
                    protocol: None,
                    from_port: None,
                    to_port: None,
                    source: None,
                },
                None => {
                    let protocol = rule.protocol.unwrap_or(Protocol::Tcp);
                    let (from_port, to_port) = ports(protocol, rule.port.as_deref())?;
                    let Some(src) = source(rule.cidr, rule.source_group, rule.prefix_list) else {
                        bail!("give --rule-id, or --group-id, --port and one source");
                    };
                    RevokeIngress {
                        rule_id: None,
                        group_id: rule.group_id,
                        protocol: Some(protocol),
                        from_port: Some(from_port),
                        to_port: Some(to_port),
                        source: Some(src),
                    }
                }
            };
            let body = serde_json::to_value(&req)?;
            post(&common, "/v1/ingress/revoke", &body)?
        }
        SgCommand::RegisterMember {
            common,
            group_id,
            address,
            expires_in,
        } => {
            let req = RegisterMember {
                group_id,
                address,
                expires_in_secs: expires(expires_in.as_deref())?,
            };
            let body = serde_json::to_value(&req)?;
            post(&common, "/v1/members/register", &body)?
        }
        SgCommand::DeregisterMember {
            common,
            group_id,
            address,
        } => {
            let body = serde_json::to_value(DeregisterMember { group_id, address })?;
            post(&common, "/v1/members/deregister", &body)?
        }
    };
    match format {
        Format::Json => say!(out, "{}", serde_json::to_string_pretty(&answer)?),
        Format::Text => render(&answer, out),
    }
    Ok(0)
}

fn render(answer: &Value, out: &mut String) {
    if let Some(groups) = answer["security_groups"].as_array() {
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let s = |k: &str| {
                    g[k].as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| g[k].to_string())
                };
                vec![
                    s("group_id"),
                    s("group_name"),
                    s("ingress_rules"),
                    s("enforce_on_existing"),
                    s("description"),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "group",
                "name",
                "rules",
                "enforce_on_existing",
                "description",
            ],
            &rows,
        ));
    } else if let Some(rules) = answer["security_group_rules"].as_array() {
        out.push_str(&table(RULE_HEADER, &rule_rows(rules)));
    } else if answer.get("security_group_rule").is_some() || answer.get("revoked").is_some() {
        let (verb, r) = match answer.get("revoked") {
            Some(r) => ("revoked", r),
            None => ("authorized", &answer["security_group_rule"]),
        };
        say!(out, "{verb}:");
        out.push_str(&table(RULE_HEADER, &rule_rows(std::slice::from_ref(r))));
    } else if let Some(m) = answer.get("member").or_else(|| answer.get("deregistered")) {
        let verb = if answer.get("member").is_some() {
            "registered"
        } else {
            "deregistered"
        };
        let s = |k: &str| {
            m[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m[k].to_string())
        };
        say!(
            out,
            "{verb}: {} in {} (expires_at {})",
            s("address"),
            s("group_id"),
            s("expires_at")
        );
    } else {
        say!(out, "{}", json!(answer));
    }
}
