//! `simulate-principal-policy`: the principal's policies evaluated offline, as the gateway
//! evaluates them, for each action and resource.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use gatehouse_iam::directory::{Directory, PrincipalKind};
use gatehouse_iam::policy::{evaluate, Decision, RequestContext, StatementRef};
use gatehouse_state::StateError;
use serde_json::{json, Value};

use super::args::SimulateArgs;
use super::show::Reply;
use crate::output::table;

/// AWS's `EvalDecision` words.
fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "allowed",
        Decision::ExplicitDeny => "explicitDeny",
        Decision::ImplicitDeny => "implicitDeny",
    }
}

/// `--context KEY=V1,V2`.
fn parse_context(entry: &str) -> Result<(String, Vec<String>)> {
    let Some((key, values)) = entry.split_once('=') else {
        bail!("--context {entry:?}: expected KEY=VALUE, e.g. aws:SourceIp=10.0.0.5");
    };
    if key.is_empty() {
        bail!("--context {entry:?}: the key is empty");
    }
    Ok((
        key.to_owned(),
        values.split(',').map(str::to_owned).collect(),
    ))
}

/// `--context-entries ContextKeyName=K,ContextKeyValues=V1,V2,ContextKeyType=T` (the AWS
/// CLI shorthand; a part without `=` is one more value of the field before it).
fn parse_entry(entry: &str) -> Result<(String, Vec<String>)> {
    let mut name = None;
    let mut values: Vec<String> = Vec::new();
    let mut last = "";
    for part in entry.split(',') {
        match part.split_once('=') {
            Some(("ContextKeyName", v)) => {
                name = Some(v.to_owned());
                last = "ContextKeyName";
            }
            Some(("ContextKeyValues", v)) => {
                values.push(v.trim_matches(['[', ']']).to_owned());
                last = "ContextKeyValues";
            }
            Some(("ContextKeyType", _)) => last = "ContextKeyType",
            None if last == "ContextKeyValues" => {
                values.push(part.trim_matches(['[', ']']).to_owned());
            }
            _ => bail!(
                "--context-entries {entry:?}: expected \
                 ContextKeyName=KEY,ContextKeyValues=VALUE[,VALUE…][,ContextKeyType=TYPE]"
            ),
        }
    }
    match name {
        Some(n) if !n.is_empty() && !values.is_empty() => Ok((n, values)),
        _ => bail!("--context-entries {entry:?}: ContextKeyName and ContextKeyValues are required"),
    }
}

/// AWS's `SourcePolicyType` for a policy that applies to the principal.
fn source_type(
    dir: &Directory,
    kind: PrincipalKind,
    principal: &str,
    policy: &str,
) -> &'static str {
    if policy.starts_with("arn:") {
        return "user-managed";
    }
    let own = dir
        .inline_policies(kind, principal)
        .iter()
        .any(|p| p.name == policy);
    match kind {
        PrincipalKind::User if !own => "group",
        PrincipalKind::User => "user",
        PrincipalKind::Group => "group",
        PrincipalKind::Role => "role",
    }
}

fn statement_text(s: &Option<StatementRef>) -> String {
    s.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Runs the simulation on `dir` (principals and policies).
///
/// # Errors
/// `NoSuchEntity` for an ARN that names no user, group or role of the directory;
/// malformed `--context` values.
pub fn run(dir: &Directory, args: &SimulateArgs) -> Result<Reply> {
    let Some((kind, name)) = dir.principal_by_arn(&args.policy_source_arn) else {
        return Err(StateError::IamNoSuchEntity {
            kind: "principal",
            name: args.policy_source_arn.clone(),
        }
        .into());
    };
    // The keys AWS knows about the caller, as the gateway sets them; the operator's
    // --context values replace them.
    let mut context: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut put = |k: &str, v: Vec<String>| {
        context.insert(k.to_ascii_lowercase(), (k.to_owned(), v));
    };
    put("aws:PrincipalArn", vec![args.policy_source_arn.clone()]);
    put("aws:PrincipalAccount", vec![dir.account_id().to_owned()]);
    if let (PrincipalKind::User, Some(user)) = (kind, dir.user(name)) {
        put("aws:username", vec![user.name.clone()]);
        put("aws:userid", vec![user.user_id.clone()]);
        put("aws:PrincipalType", vec!["User".to_owned()]);
    }
    for entry in &args.context {
        let (k, v) = parse_context(entry)?;
        put(&k, v);
    }
    for entry in &args.context_entries {
        let (k, v) = parse_entry(entry)?;
        put(&k, v);
    }
    let resources = if args.resource_arns.is_empty() {
        vec!["*".to_owned()]
    } else {
        args.resource_arns.clone()
    };

    let policies = dir.policies_for(kind, name);
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut all_allowed = true;
    for action in &args.action_names {
        for resource in &resources {
            let mut ctx = RequestContext::new(action.clone(), resource.clone());
            for (key, values) in context.values() {
                ctx.set(key, values.clone());
            }
            let eval = evaluate(&policies, &ctx);
            all_allowed &= eval.decision == Decision::Allow;
            let matched: Vec<Value> = eval
                .deciding
                .iter()
                .map(|s| {
                    json!({
                        "SourcePolicyId": s.policy,
                        "SourcePolicyType": source_type(dir, kind, name, &s.policy),
                        "StatementIndex": s.index,
                        "Sid": s.sid,
                    })
                })
                .collect();
            results.push(json!({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": decision_word(eval.decision),
                "MatchedStatements": matched,
            }));
            rows.push(vec![
                action.clone(),
                resource.clone(),
                decision_word(eval.decision).to_owned(),
                statement_text(&eval.deciding),
            ]);
        }
    }
    let mut reply = Reply::new(
        json!({"EvaluationResults": results}),
        table(
            &[
                "EvalActionName",
                "EvalResourceName",
                "EvalDecision",
                "MatchedStatement",
            ],
            &rows,
        ),
    );
    reply.code = if all_allowed { 0 } else { 1 };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_flags() {
        assert_eq!(
            parse_context("aws:SourceIp=10.0.0.5").expect("one"),
            ("aws:SourceIp".into(), vec!["10.0.0.5".into()])
        );
        assert_eq!(
            parse_context("k=a,b").expect("two").1,
            vec!["a".to_owned(), "b".to_owned()]
        );
        parse_context("novalue").expect_err("no =");
        parse_context("=x").expect_err("no key");
        assert_eq!(
            parse_entry(
                "ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.5,10.0.0.6,ContextKeyType=ipList"
            )
            .expect("entry"),
            (
                "aws:SourceIp".into(),
                vec!["10.0.0.5".into(), "10.0.0.6".into()]
            )
        );
        parse_entry("ContextKeyName=k").expect_err("no values");
        parse_entry("Foo=bar").expect_err("unknown field");
    }
}
