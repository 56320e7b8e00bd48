//! Layer 1: the security groups attached to the listener, with the state store's
//! dynamic rules and members merged in as the running gateway has them.

use anyhow::Result;
use gatehouse_netacl::{canonical_addr, explain, IpNet, NotApplied, Outcome, Source, Timestamp};
use serde_json::json;

use super::report::shell_command;
use super::{ClientSees, Cx, Fix, Layer, Verdict};

/// What a client sees when layer 1 denies it: nothing but a closed connection.
const CLOSED: &str = "no reply: the connection is closed before gatehouse reads a byte \
                      (libpq: \"server closed the connection unexpectedly\")";

/// Layer 1's report.
///
/// # Errors
/// The state store exists but cannot be read.
pub fn layer(cx: &Cx<'_>) -> Result<Layer> {
    let f = cx.facts;
    let Some(addr) = f.address else {
        let mut l = Layer::new(
            "network",
            Verdict::Skipped,
            "a Unix-socket connection: security groups check TCP source addresses only",
        );
        l.note("gatehouse listens on TCP only ([listen] addresses); --local explains pg_hba.conf's local lines");
        return Ok(l);
    };
    let g = &cx.loaded.gateway;
    // Rules and members of the state store count too, as in the running gateway.
    let policy = crate::serve_cmd::stored_policy(&cx.loaded.state_file, &g.network)?
        .unwrap_or_else(|| g.network.clone());
    let listener = &policy.listeners[f.listener];
    if listener.open {
        let mut l = Layer::new(
            "network",
            Verdict::Allowed,
            "open ([network] mode = \"open\"): every source may connect",
        );
        l.rule = Some(json!({"mode": "open"}));
        return Ok(l);
    }
    let e = explain(
        &policy.snapshot,
        f.port,
        &listener.groups,
        addr,
        Timestamp::now(),
    );
    let text = e.to_string();
    let mut lines = text.lines();
    let mut l = Layer::new(
        "network",
        Verdict::Refused,
        lines.next().unwrap_or_default().to_owned(),
    );
    for n in lines {
        l.note(n.strip_prefix("  ").unwrap_or(n));
    }
    if g.proxy.is_some() {
        l.note("behind a trusted balancer, this is the address of the PROXY protocol header");
    }
    l.extra.push(("explanation", serde_json::to_value(&e)?));
    match &e.outcome {
        Outcome::Allowed(a) => {
            let from_config = g.network.snapshot.rules.iter().any(|r| r.id == a.rule);
            l.verdict = Verdict::Allowed;
            l.rule = Some(json!({
                "id": a.rule,
                "group": a.group,
                "source": a.source.to_string(),
                "matched": a.matched.to_string(),
                "description": a.description,
                "expires_at": a.expires_at.map(|t| t.to_string()),
                "origin": if from_config { "gatehouse.toml" } else { "state store" },
            }));
            if !from_config {
                l.note(format!(
                    "{} is a dynamic rule (state store; `gatehouse sg`)",
                    a.rule
                ));
            }
        }
        Outcome::Denied { groups } => {
            l.client_sees = Some(ClientSees::nothing(CLOSED));
            let cidr = IpNet::from(canonical_addr(addr));
            let config = cx.config_arg();
            let port = f.port.to_string();
            let cidr_text = cidr.to_string();
            let target = listener.groups.first().map(ToString::to_string);
            let mut fix = Fix::says(match &target {
                Some(gid) => format!(
                    "add an ingress rule for {cidr} on port {port} to {gid} (through the running \
                     gateway's admin API; or a [[network.rules]] entry in gatehouse.toml)"
                ),
                None => "attach a security group to the listener".to_owned(),
            });
            if let Some(gid) = &target {
                fix = fix.command(shell_command(&[
                    "sg",
                    "authorize-ingress",
                    "--config",
                    &config,
                    "--group-id",
                    gid,
                    "--protocol",
                    "tcp",
                    "--port",
                    &port,
                    "--cidr",
                    &cidr_text,
                ]));
            }
            // A rule that allows the members of a group: registering the address
            // there is the other way in.
            let mut member_groups = Vec::new();
            for r in groups.iter().flat_map(|g| &g.rules) {
                let member_reason = matches!(
                    r.reason,
                    NotApplied::NotAMember
                        | NotApplied::NoMembers
                        | NotApplied::MemberExpired { .. }
                );
                if let (true, Source::Group(sg)) = (member_reason, &r.source) {
                    if !member_groups.contains(sg) {
                        member_groups.push(sg.clone());
                    }
                }
            }
            if !member_groups.is_empty() {
                let names: Vec<String> = member_groups.iter().map(ToString::to_string).collect();
                fix.text.push_str(&format!(
                    "; or register {} as a member of {} (a rule allows that group's members)",
                    canonical_addr(addr),
                    names.join(" or ")
                ));
                let a = canonical_addr(addr).to_string();
                for sg in &names {
                    fix = fix.command(shell_command(&[
                        "sg",
                        "register-member",
                        "--config",
                        &config,
                        "--group-id",
                        sg,
                        "--address",
                        &a,
                    ]));
                }
            }
            l.fix = Some(fix);
        }
        Outcome::NoGroupsAttached => {
            l.client_sees = Some(ClientSees::nothing(CLOSED));
            l.fix = Some(Fix::says(
                "attach a security group: [network] attach = [\"sg-…\"] with its [[network.groups]] and [[network.rules]]",
            ));
        }
        Outcome::Invalid { .. } => {
            l.client_sees = Some(ClientSees::nothing(CLOSED));
            l.fix = Some(Fix::says(
                "correct the security-group configuration (the errors above; `gatehouse check` lists them too)",
            ));
        }
    }
    Ok(l)
}
