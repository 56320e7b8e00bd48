//! `rds-db:connect`: a token's signature and a principal's policies, together.
//!
//! Mirrors what RDS does for a user granted `rds_iam`: the password the client sent
//! is an auth token ([`crate::token`]); its access key names an IAM user
//! ([`crate::directory`]); that user's policies must allow `rds-db:connect` on
//! `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DBUSER` ([`crate::policy`]).

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::directory::{Directory, KeyStatus};
use crate::policy::{evaluate, Decision, RequestContext, StatementRef};
use crate::token::time::iso8601;
use crate::token::{
    verify, Expectations, KeyLookup, SecretKeys, SigningKeyCache, TokenRefusal, VerifiedToken,
};

/// The action every connection is authorized for.
pub const CONNECT_ACTION: &str = "rds-db:connect";

/// Default of [`ConnectSettings::max_skew`]: 5 minutes.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);

/// Who this gateway is, in AWS terms (from `[iam]` in gatehouse.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    /// 12-digit account id, e.g. `123456789012`.
    pub account_id: String,
    /// Region, e.g. `us-east-1`: the only one a token's credential scope may name.
    pub region: String,
    /// The DB resource id, e.g. `db-ABCDEFGHIJKLMNOPQRSTUVWXYZ` (the `dbuser:` ARN's id).
    pub resource_id: String,
    /// Accepted `host:port` endpoint names (the part of a token before `/?`).
    pub endpoints: Vec<String>,
    /// How far in the future a token's X-Amz-Date may be.
    pub max_skew: Duration,
}

impl ConnectSettings {
    /// `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DBUSER`.
    pub fn dbuser_arn(&self, db_user: &str) -> String {
        format!(
            "arn:aws:rds-db:{}:{}:dbuser:{}/{}",
            self.region, self.account_id, self.resource_id, db_user
        )
    }
}

/// One connection attempt that presented a token.
#[derive(Debug, Clone, Copy)]
pub struct ConnectRequest<'a> {
    /// The password the client sent.
    pub token: &'a str,
    /// The StartupMessage user.
    pub db_user: &'a str,
    /// The client's real address (after any PROXY header): `aws:SourceIp`.
    pub source_ip: IpAddr,
    /// Whether the client connection is TLS: `aws:SecureTransport`.
    pub secure_transport: bool,
    /// Now: `aws:CurrentTime`, and the token's validity window.
    pub now: SystemTime,
}

/// A connection that may proceed.
#[derive(Debug, Clone)]
pub struct ConnectGrant {
    /// The token's facts.
    pub token: VerifiedToken,
    /// The IAM user's name.
    pub user_name: String,
    /// The IAM user's ARN.
    pub user_arn: String,
    /// The Allow statement that decided.
    pub statement: Option<StatementRef>,
}

/// Why a token did not let the client in. Shown in the audit log only: the client
/// always gets RDS's `PAM authentication failed for user "…"`.
#[derive(Debug, Clone)]
pub enum ConnectRefusal {
    /// A token check failed (see [`TokenRefusal::check`]).
    Token(TokenRefusal),
    /// The token carries `X-Amz-Security-Token` (temporary credentials). Its signature
    /// checked out, but gatehouse issues no temporary credentials yet (STS is planned),
    /// and AWS refuses a long-term key presented with a session token.
    SessionToken {
        /// The access key that signed it.
        access_key_id: String,
    },
    /// No statement of the user's policies allows the connection.
    NoAllow {
        /// The IAM user's ARN.
        user_arn: String,
        /// The `dbuser` ARN that was asked for.
        resource: String,
    },
    /// A Deny statement matched.
    ExplicitDeny {
        /// The IAM user's ARN.
        user_arn: String,
        /// The `dbuser` ARN that was asked for.
        resource: String,
        /// The Deny statement.
        statement: StatementRef,
    },
}

impl ConnectRefusal {
    /// Short audit code: a token check's code, `policy_no_allow` or `policy_explicit_deny`.
    pub fn check(&self) -> &'static str {
        match self {
            ConnectRefusal::Token(t) => t.check(),
            ConnectRefusal::SessionToken { .. } => "session_token",
            ConnectRefusal::NoAllow { .. } => "policy_no_allow",
            ConnectRefusal::ExplicitDeny { .. } => "policy_explicit_deny",
        }
    }
}

impl fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectRefusal::Token(t) => write!(f, "{}: {t}", t.check()),
            ConnectRefusal::SessionToken { access_key_id } => write!(
                f,
                "session_token: the token of access key {access_key_id} carries X-Amz-Security-Token, \
                 but gatehouse issues no temporary credentials (sign with a long-term key)"
            ),
            ConnectRefusal::NoAllow { user_arn, resource } => write!(
                f,
                "policy_no_allow: no statement allows {user_arn} {CONNECT_ACTION} on {resource} (implicit deny)"
            ),
            ConnectRefusal::ExplicitDeny {
                user_arn,
                resource,
                statement,
            } => write!(
                f,
                "policy_explicit_deny: {statement} denies {user_arn} {CONNECT_ACTION} on {resource}"
            ),
        }
    }
}

impl SecretKeys for Directory {
    fn find(&self, access_key_id: &str) -> KeyLookup<'_> {
        match self.access_key(access_key_id) {
            None => KeyLookup::Unknown,
            Some(k) if k.status != KeyStatus::Active => KeyLookup::Inactive,
            Some(k) => KeyLookup::Active(k.secret()),
        }
    }
}

/// Verifies the token, then evaluates the key owner's policies for `rds-db:connect` on
/// the `dbuser` ARN of the StartupMessage user.
///
/// The policy context carries `aws:SourceIp`, `aws:SecureTransport`, `aws:CurrentTime`,
/// `aws:EpochTime`, `aws:username`, `aws:userid`, `aws:PrincipalArn`,
/// `aws:PrincipalAccount`, `aws:PrincipalType` (`User`) and `rds-db:DbUser`.
///
/// # Errors
/// [`ConnectRefusal`]: the first failed token check, or the policy decision.
pub fn authorize_connect(
    directory: &Directory,
    settings: &ConnectSettings,
    cache: &SigningKeyCache,
    request: &ConnectRequest<'_>,
) -> Result<ConnectGrant, ConnectRefusal> {
    let expect = Expectations {
        region: &settings.region,
        endpoints: &settings.endpoints,
        db_user: request.db_user,
        max_skew: settings.max_skew,
        now: request.now,
    };
    let token = verify(request.token, &expect, directory, cache).map_err(ConnectRefusal::Token)?;
    if token.has_session_token {
        return Err(ConnectRefusal::SessionToken {
            access_key_id: token.access_key_id,
        });
    }
    let key = directory.access_key(&token.access_key_id).ok_or_else(|| {
        ConnectRefusal::Token(TokenRefusal::UnknownKey {
            access_key_id: token.access_key_id.clone(),
        })
    })?;
    let user_name = key.user_name.clone();
    let (user_arn, user_id) = match directory.user(&user_name) {
        Some(u) => (u.arn.clone(), u.user_id.clone()),
        None => {
            return Err(ConnectRefusal::Token(TokenRefusal::UnknownKey {
                access_key_id: token.access_key_id.clone(),
            }))
        }
    };
    let resource = settings.dbuser_arn(request.db_user);
    let facts = ConnectFacts {
        db_user: request.db_user,
        source_ip: request.source_ip,
        secure_transport: request.secure_transport,
        now: request.now,
    };
    let ctx = connect_context(settings, &user_name, &user_id, &user_arn, &facts);
    let policies = directory.policies_for_user(&user_name);
    let eval = evaluate(&policies, &ctx);
    match eval.decision {
        Decision::Allow => Ok(ConnectGrant {
            token,
            user_name,
            user_arn,
            statement: eval.deciding,
        }),
        Decision::ImplicitDeny => Err(ConnectRefusal::NoAllow { user_arn, resource }),
        Decision::ExplicitDeny => Err(ConnectRefusal::ExplicitDeny {
            user_arn,
            resource,
            statement: eval.deciding.unwrap_or(StatementRef {
                policy: String::new(),
                index: 0,
                sid: None,
            }),
        }),
    }
}

/// The facts of a connection that go into the policy context, without a token.
#[derive(Debug, Clone, Copy)]
pub struct ConnectFacts<'a> {
    /// The StartupMessage user: the `dbuser` ARN's last part and `rds-db:DbUser`.
    pub db_user: &'a str,
    /// `aws:SourceIp`.
    pub source_ip: IpAddr,
    /// `aws:SecureTransport`.
    pub secure_transport: bool,
    /// `aws:CurrentTime`, `aws:EpochTime`.
    pub now: SystemTime,
}

/// The request [`authorize_connect`] evaluates an IAM user's policies with:
/// `rds-db:connect` on the `dbuser` ARN of `facts.db_user`, and the condition keys
/// `aws:SourceIp`, `aws:SecureTransport`, `aws:CurrentTime`, `aws:EpochTime`,
/// `aws:username`, `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount`,
/// `aws:PrincipalType` (`User`) and `rds-db:DbUser`. Public so that offline tools
/// (`gatehouse explain`) ask exactly what the gateway asks.
pub fn connect_context(
    settings: &ConnectSettings,
    user_name: &str,
    user_id: &str,
    user_arn: &str,
    facts: &ConnectFacts<'_>,
) -> RequestContext {
    let mut ctx = RequestContext::new(CONNECT_ACTION, settings.dbuser_arn(facts.db_user));
    let one = |v: String| vec![v];
    ctx.set(
        "aws:SourceIp",
        one(facts.source_ip.to_canonical().to_string()),
    );
    ctx.set(
        "aws:SecureTransport",
        one(facts.secure_transport.to_string()),
    );
    let secs = facts
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ctx.set("aws:CurrentTime", one(iso8601(secs)));
    ctx.set("aws:EpochTime", one(secs.to_string()));
    ctx.set("aws:username", one(user_name.to_owned()));
    ctx.set("aws:userid", one(user_id.to_owned()));
    ctx.set("aws:PrincipalArn", one(user_arn.to_owned()));
    ctx.set("aws:PrincipalAccount", one(settings.account_id.clone()));
    ctx.set("aws:PrincipalType", one("User".to_owned()));
    ctx.set("rds-db:DbUser", one(facts.db_user.to_owned()));
    ctx
}

#[cfg(test)]
mod tests {
    use crate::token::time::iso8601;

    #[test]
    fn iso_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_478_540_373), "2016-11-07T17:39:33Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_083_200), "2026-12-01T00:00:00Z");
    }
}
