//! IAM's evaluation logic for identity-based policies: an explicit Deny beats every
//! Allow; without a matching Deny, one matching Allow allows; otherwise the request is
//! implicitly denied.

use super::document::{lowercase_action, Effect};
use super::{AttachedPolicy, Decision, Evaluation, RequestContext, StatementRef};

/// See [`super::evaluate`].
pub(crate) fn evaluate(policies: &[AttachedPolicy<'_>], ctx: &RequestContext) -> Evaluation {
    // The first matching Allow, as (policy index, statement index); once found, only
    // Deny statements still need evaluating.
    let mut allow: Option<(usize, usize)> = None;
    let action = lowercase_action(&ctx.action);
    for (p, policy) in policies.iter().enumerate() {
        for (s, statement) in policy.document.statements().iter().enumerate() {
            match statement.effect() {
                Effect::Deny => {
                    if statement.applies(ctx, &action) {
                        return Evaluation {
                            decision: Decision::ExplicitDeny,
                            deciding: Some(reference(policies, p, s)),
                        };
                    }
                }
                Effect::Allow => {
                    if allow.is_none() && statement.applies(ctx, &action) {
                        allow = Some((p, s));
                    }
                }
            }
        }
    }
    match allow {
        Some((p, s)) => Evaluation {
            decision: Decision::Allow,
            deciding: Some(reference(policies, p, s)),
        },
        None => Evaluation {
            decision: Decision::ImplicitDeny,
            deciding: None,
        },
    }
}

fn reference(policies: &[AttachedPolicy<'_>], p: usize, s: usize) -> StatementRef {
    let policy = &policies[p];
    StatementRef {
        policy: policy.name.to_owned(),
        index: s,
        sid: policy.document.statements()[s].sid().map(str::to_owned),
    }
}
