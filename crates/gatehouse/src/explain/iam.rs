//! Layer 4 for `iam` (the line's method, or the token-only role's): the token
//! checked as the gateway checks it (`authorize_connect`), with the deciding
//! statement; without a token, which IAM users' policies would allow the
//! connection.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use anyhow::Result;
use gatehouse_hba::{AuthMethod, HbaLine};
use gatehouse_iam::connect::{
    authorize_connect, connect_context, ConnectFacts, ConnectRefusal, ConnectRequest,
    ConnectSettings, CONNECT_ACTION,
};
use gatehouse_iam::directory::{Directory, PrincipalKind};
use gatehouse_iam::policy::{evaluate, AttachedPolicy, Decision, PolicyDocument, StatementRef};
use gatehouse_iam::token::{SigningKeyCache, TokenRefusal};
use gatehouse_proxy::refusal::auth_failed;
use serde_json::{json, Value};

use super::report::shell_command;
use super::{ClientSees, Credential, Cx, Fix, Layer, Verdict};
use crate::config::iam::IamConfig;

/// Users evaluated for the "who could connect" list, at most.
const MAX_USERS_EVALUATED: usize = 10_000;
/// Users listed, at most.
const MAX_USERS_LISTED: usize = 20;

fn statement_json(s: &StatementRef) -> Value {
    json!({"policy": s.policy, "index": s.index, "sid": s.sid})
}

/// Layer 4 when the effective method is `iam`; `token_only` names the token-only
/// role when that is why.
///
/// # Errors
/// The IAM directory cannot be read from the state store.
pub fn layer(cx: &Cx<'_>, line: &HbaLine, user: &str, token_only: Option<&str>) -> Result<Layer> {
    let f = cx.facts;
    let refusal = ClientSees::from(&auth_failed(AuthMethod::Iam, user, ""));
    let refused = |detail: String, fix: Fix| {
        let mut l = Layer::new("auth", Verdict::Refused, detail);
        l.client_sees = Some(refusal.clone());
        l.fix = Some(fix);
        l
    };
    let Some(iam) = &cx.loaded.iam else {
        return Ok(refused(
            "iam: [iam] is not set in gatehouse.toml: iam logins refuse every client".into(),
            Fix::says("add [iam] with account_id, region, resource_id and endpoints"),
        ));
    };
    // The gateway refuses before asking for the token when the connection is not
    // TLS, unless the line itself is iam and says iam_allow_plaintext=1.
    let plaintext_ok = token_only.is_none() && line.options.iam_allow_plaintext;
    if !f.ssl && !plaintext_ok {
        let why = match token_only {
            Some(role) => format!(
                "iam: \"{user}\" is a member of {role} (token only) and the connection is not TLS"
            ),
            None => {
                "iam: the connection is not TLS and the line does not say iam_allow_plaintext=1: \
                     the gateway refuses before asking for the token"
                    .to_owned()
            }
        };
        let fix = if cx.loaded.gateway.tls.is_some() {
            "connect with TLS (sslmode=require)"
        } else {
            "set [tls] in gatehouse.toml and connect with TLS (sslmode=require)"
        };
        return Ok(refused(why, Fix::says(fix)));
    }
    let directory = crate::config::iam::directory(iam, &cx.loaded.state_file)?;
    let settings = &iam.settings;
    let resource = settings.dbuser_arn(user);
    let source_ip = f.address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut l = match &f.credential {
        Credential::Token(token) => {
            let request = ConnectRequest {
                token,
                db_user: user,
                source_ip,
                secure_transport: f.ssl,
                now: SystemTime::now(),
            };
            match authorize_connect(&directory, settings, &SigningKeyCache::new(1), &request) {
                Ok(grant) => {
                    let by = grant
                        .statement
                        .as_ref()
                        .map_or_else(|| "a policy".to_owned(), ToString::to_string);
                    let mut l = Layer::new(
                        "auth",
                        Verdict::Allowed,
                        format!(
                            "iam: the token of {} (access key {}) is allowed by {by}",
                            grant.user_arn, grant.token.access_key_id
                        ),
                    );
                    let left = grant
                        .token
                        .expires_at
                        .duration_since(SystemTime::now())
                        .map_or(0, |d| d.as_secs());
                    l.note(format!("the token expires in {left} s"));
                    l.rule = Some(json!({
                        "method": "iam",
                        "principal": grant.user_arn,
                        "access_key_id": grant.token.access_key_id,
                        "statement": grant.statement.as_ref().map(statement_json),
                        "check": null,
                    }));
                    l
                }
                Err(r) => {
                    let (rule_stmt, principal) = match &r {
                        ConnectRefusal::ExplicitDeny {
                            statement,
                            user_arn,
                            ..
                        } => (Some(statement_json(statement)), Some(user_arn.clone())),
                        ConnectRefusal::NoAllow { user_arn, .. } => (None, Some(user_arn.clone())),
                        ConnectRefusal::Token(_) | ConnectRefusal::SessionToken { .. } => {
                            (None, None)
                        }
                    };
                    let fix = refusal_fix(cx, iam, &directory, &r, user, source_ip);
                    let mut l = refused(format!("iam: {r}"), fix);
                    l.rule = Some(json!({
                        "method": "iam",
                        "principal": principal,
                        "statement": rule_stmt,
                        "check": r.check(),
                    }));
                    l
                }
            }
        }
        other => {
            let mut l = Layer::new(
                "auth",
                Verdict::Skipped,
                "iam: the client must send an IAM auth token as its password: give --token TOKEN \
                 (or --token - to read it from standard input) to check one",
            );
            if matches!(other, Credential::Password(_)) {
                l.note("a password is not checked where the method is iam");
            }
            let facts = ConnectFacts {
                db_user: user,
                source_ip,
                secure_transport: f.ssl,
                now: SystemTime::now(),
            };
            let who = who_could(&directory, settings, &facts);
            if who.allowed == 0 {
                l.note(format!(
                    "no IAM user's policies allow {CONNECT_ACTION} on {resource} for this connection \
                     ({} user(s) evaluated)",
                    who.evaluated
                ));
                l.fix = Some(policy_fix(cx, iam, &directory, None, user, source_ip));
            } else {
                l.note(format!(
                    "IAM users whose policies allow {CONNECT_ACTION} on {resource} for this connection \
                     ({} of {} evaluated):",
                    who.allowed, who.evaluated
                ));
                for u in &who.users {
                    l.note(format!(
                        "  {} by {} ({} active access key(s))",
                        u["arn"].as_str().unwrap_or_default(),
                        u["statement_text"].as_str().unwrap_or_default(),
                        u["active_keys"]
                    ));
                }
                if who.allowed > who.users.len() {
                    l.note(format!("  … and {} more", who.allowed - who.users.len()));
                }
                l.fix = Some(
                    Fix::says("sign a token with an active access key of one of them")
                        .command(generate_command(settings, user)),
                );
            }
            if who.denied_count > 0 {
                l.note(format!(
                    "IAM users a Deny statement refuses for this connection ({}; a Deny beats every Allow):",
                    who.denied_count
                ));
                for u in &who.denied {
                    l.note(format!(
                        "  {} by {}",
                        u["arn"].as_str().unwrap_or_default(),
                        u["statement_text"].as_str().unwrap_or_default()
                    ));
                }
                if who.denied_count > who.denied.len() {
                    l.note(format!(
                        "  … and {} more",
                        who.denied_count - who.denied.len()
                    ));
                }
            }
            l.extra.push((
                "who_could",
                json!({
                    "evaluated": who.evaluated,
                    "allowed": who.allowed,
                    "users": who.users,
                    "denied": who.denied_count,
                    "denied_users": who.denied,
                }),
            ));
            l
        }
    };
    l.extra.push((
        "iam",
        json!({"resource": resource, "token_only_role": token_only}),
    ));
    Ok(l)
}

/// Which IAM users' policies allow the connection, and which deny it explicitly.
struct WhoCould {
    /// Users evaluated (at most [`MAX_USERS_EVALUATED`]).
    evaluated: usize,
    /// How many are allowed.
    allowed: usize,
    /// The first [`MAX_USERS_LISTED`] of them.
    users: Vec<Value>,
    /// How many a Deny statement refuses.
    denied_count: usize,
    /// The first [`MAX_USERS_LISTED`] of them.
    denied: Vec<Value>,
}

/// Evaluates every IAM user's policies (up to [`MAX_USERS_EVALUATED`]) with the
/// request the gateway would make for this connection.
fn who_could(dir: &Directory, settings: &ConnectSettings, facts: &ConnectFacts<'_>) -> WhoCould {
    let mut active: HashMap<&str, usize> = HashMap::new();
    for k in dir.access_keys().filter(|k| k.is_active()) {
        *active.entry(k.user_name.as_str()).or_default() += 1;
    }
    let mut who = WhoCould {
        evaluated: 0,
        allowed: 0,
        users: Vec::new(),
        denied_count: 0,
        denied: Vec::new(),
    };
    for u in dir.users().take(MAX_USERS_EVALUATED) {
        who.evaluated += 1;
        let ctx = connect_context(settings, &u.name, &u.user_id, &u.arn, facts);
        let eval = evaluate(&dir.policies_for_user(&u.name), &ctx);
        let entry = || {
            json!({
                "user_name": u.name,
                "arn": u.arn,
                "statement": eval.deciding.as_ref().map(statement_json),
                "statement_text": eval.deciding.as_ref().map(ToString::to_string),
                "active_keys": active.get(u.name.as_str()).copied().unwrap_or(0),
            })
        };
        match eval.decision {
            Decision::Allow => {
                who.allowed += 1;
                if who.users.len() < MAX_USERS_LISTED {
                    who.users.push(entry());
                }
            }
            Decision::ExplicitDeny => {
                who.denied_count += 1;
                if who.denied.len() < MAX_USERS_LISTED {
                    who.denied.push(entry());
                }
            }
            Decision::ImplicitDeny => {}
        }
    }
    who
}

/// `gatehouse token generate` for the first `[iam] endpoints` name.
fn generate_command(settings: &ConnectSettings, user: &str) -> String {
    let endpoint = settings.endpoints.first().cloned().unwrap_or_default();
    let (host, port) = endpoint.rsplit_once(':').unwrap_or((&endpoint, "5432"));
    shell_command(&[
        "token",
        "generate",
        "--hostname",
        host,
        "--port",
        port,
        "--region",
        &settings.region,
        "--username",
        user,
    ])
}

/// What to change for a refused token.
fn refusal_fix(
    cx: &Cx<'_>,
    iam: &IamConfig,
    dir: &Directory,
    r: &ConnectRefusal,
    user: &str,
    source_ip: IpAddr,
) -> Fix {
    let settings = &iam.settings;
    let config = cx.config_arg();
    match r {
        ConnectRefusal::NoAllow { user_arn, .. } => {
            let iam_user = dir
                .users()
                .find(|u| &u.arn == user_arn)
                .map(|u| u.name.as_str());
            policy_fix(cx, iam, dir, iam_user, user, source_ip)
        }
        ConnectRefusal::ExplicitDeny {
            statement,
            user_arn,
            ..
        } => {
            let mut fix = Fix::says(format!(
                "{statement} denies it, and a Deny beats every Allow: remove or narrow that statement"
            ));
            let iam_user = dir
                .users()
                .find(|u| &u.arn == user_arn)
                .map(|u| u.name.clone());
            if let Some(u) = iam_user {
                let policy = statement.policy.as_str();
                let own = dir
                    .inline_policies(PrincipalKind::User, &u)
                    .iter()
                    .any(|p| p.name == policy);
                let group = dir.groups_for_user(&u).into_iter().find(|g| {
                    dir.inline_policies(PrincipalKind::Group, &g.name)
                        .iter()
                        .any(|p| p.name == policy)
                });
                let cmd = if own {
                    Some(shell_command(&[
                        "iam",
                        "--config",
                        &config,
                        "get-user-policy",
                        "--user-name",
                        &u,
                        "--policy-name",
                        policy,
                    ]))
                } else if let Some(g) = group {
                    Some(shell_command(&[
                        "iam",
                        "--config",
                        &config,
                        "get-group-policy",
                        "--group-name",
                        &g.name,
                        "--policy-name",
                        policy,
                    ]))
                } else if policy.starts_with("arn:") {
                    Some(shell_command(&[
                        "iam",
                        "--config",
                        &config,
                        "get-policy-version",
                        "--policy-arn",
                        policy,
                        "--version-id",
                        "v1",
                    ]))
                } else {
                    None
                };
                if let Some(c) = cmd {
                    fix = fix.command(c);
                }
            }
            fix
        }
        ConnectRefusal::SessionToken { .. } => Fix::says(
            "sign the token with a long-term access key of the identity store (gatehouse issues no \
             temporary credentials, so a token with X-Amz-Security-Token is refused)",
        )
        .command(generate_command(settings, user)),
        ConnectRefusal::Token(t) => {
            let generate = generate_command(settings, user);
            match t {
                TokenRefusal::Expired { .. } => {
                    Fix::says("make a new token (a token is valid for 15 minutes)").command(generate)
                }
                TokenRefusal::Skew { .. } => Fix::says(format!(
                    "the token is dated in the future: correct the signer's clock (allowed skew {} s)",
                    settings.max_skew.as_secs()
                )),
                TokenRefusal::WrongHost { .. } => Fix::says(format!(
                    "sign the token for one of [iam] endpoints ({}), or add the name the client uses there",
                    settings.endpoints.join(", ")
                ))
                .command(generate),
                TokenRefusal::WrongUser { .. } => Fix::says(format!(
                    "make the token for the database user \"{user}\" (its DBUser must be the connection's user)"
                ))
                .command(generate),
                TokenRefusal::WrongRegion { .. } => {
                    Fix::says(format!("sign the token for region {}", settings.region))
                        .command(generate)
                }
                TokenRefusal::UnknownKey { .. } => Fix::says(
                    "sign with an access key of the identity store (gatehouse iam create-access-key --user-name …)",
                ),
                TokenRefusal::InactiveKey { access_key_id } => {
                    Fix::says("activate the access key, or sign with an active one").command(
                        shell_command(&[
                            "iam", "--config", &config, "update-access-key", "--access-key-id",
                            access_key_id, "--status", "Active",
                        ]),
                    )
                }
                TokenRefusal::Signature => Fix::says(
                    "the token was altered or signed with another secret: make a new one with the key's secret",
                )
                .command(generate),
                _ => Fix::says("make a new token as `aws rds generate-db-auth-token` does")
                    .command(generate),
            }
        }
    }
}

/// A statement that allows the connection and the command that adds it to
/// `iam_user` (a placeholder when unknown); the document is checked to allow the
/// connection before it is proposed.
fn policy_fix(
    cx: &Cx<'_>,
    iam: &IamConfig,
    dir: &Directory,
    iam_user: Option<&str>,
    user: &str,
    source_ip: IpAddr,
) -> Fix {
    let settings = &iam.settings;
    let resource = settings.dbuser_arn(user);
    // IAM's Sid alphabet is letters and digits: "app_user" gives ConnectAsAppuser.
    let mut alnum: String = user
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(50)
        .collect();
    if let Some(first) = alnum.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let sid = format!("ConnectAs{alnum}");
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Action": CONNECT_ACTION,
            "Resource": resource,
        }]
    });
    let text = doc.to_string();
    let checks = PolicyDocument::parse(&text).is_ok_and(|parsed| {
        let (name, id, arn) = match iam_user.and_then(|n| dir.user(n)) {
            Some(u) => (u.name.clone(), u.user_id.clone(), u.arn.clone()),
            None => (String::new(), String::new(), String::new()),
        };
        let facts = ConnectFacts {
            db_user: user,
            source_ip,
            secure_transport: cx.facts.ssl,
            now: SystemTime::now(),
        };
        let ctx = connect_context(settings, &name, &id, &arn, &facts);
        let policies = [AttachedPolicy {
            name: "proposed",
            document: &parsed,
        }];
        evaluate(&policies, &ctx).decision == Decision::Allow
    });
    if !checks {
        return Fix::says(format!(
            "allow {CONNECT_ACTION} on {resource} in a policy of the IAM user that signs the tokens"
        ));
    }
    let who = iam_user.unwrap_or("IAM_USER");
    // A policy name the user does not have yet (put-user-policy replaces one of
    // the same name).
    let base: String = format!("rds-connect-{user}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let taken = |n: &str| {
        iam_user.is_some_and(|u| {
            dir.inline_policies(PrincipalKind::User, u)
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(n))
        })
    };
    let mut name = base.clone();
    let mut i = 2;
    while taken(&name) {
        name = format!("{base}-{i}");
        i += 1;
    }
    let target = match iam_user {
        Some(u) => format!("the IAM user {u}"),
        None => "the IAM user that signs the tokens (IAM_USER below)".to_owned(),
    };
    let mut fix = Fix::says(format!(
        "no statement allows it (implicit deny): give {target} a policy allowing {CONNECT_ACTION} on {resource}"
    ))
    .command(shell_command(&[
        "iam",
        "--config",
        &cx.config_arg(),
        "put-user-policy",
        "--user-name",
        who,
        "--policy-name",
        &name,
        "--policy-document",
        &text,
    ]));
    fix.policy = Some(doc);
    fix
}
