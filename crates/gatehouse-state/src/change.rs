//! The change log: one [`Change`] per mutation, in commit order.

use std::fmt;
use std::str::FromStr;

use gatehouse_netacl::Timestamp;
use serde::Serialize;

/// What a logged change did. Serialized (and stored) as its snake_case name, e.g.
/// `"authorize_ingress"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// A rule was added ([`crate::StateStore::authorize_ingress`]); detail: the rule.
    AuthorizeIngress,
    /// A rule was removed by an operator ([`crate::StateStore::revoke_ingress`],
    /// [`crate::StateStore::revoke_ingress_matching`]); detail: the removed rule.
    RevokeIngress,
    /// A member was registered, or its expiry changed by registering it again; detail: the
    /// member as stored.
    RegisterMember,
    /// A member was removed by an operator; detail: the removed member.
    DeregisterMember,
    /// An expired rule was removed ([`crate::StateStore::remove_expired`], or an expired
    /// duplicate replaced by `authorize_ingress`); detail: the rule.
    ExpireRule,
    /// An expired member was removed; detail: the member.
    ExpireMember,
}

impl ChangeAction {
    /// Every action, in declaration order.
    pub const ALL: [ChangeAction; 6] = [
        ChangeAction::AuthorizeIngress,
        ChangeAction::RevokeIngress,
        ChangeAction::RegisterMember,
        ChangeAction::DeregisterMember,
        ChangeAction::ExpireRule,
        ChangeAction::ExpireMember,
    ];

    /// The snake_case name, e.g. `authorize_ingress`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::AuthorizeIngress => "authorize_ingress",
            ChangeAction::RevokeIngress => "revoke_ingress",
            ChangeAction::RegisterMember => "register_member",
            ChangeAction::DeregisterMember => "deregister_member",
            ChangeAction::ExpireRule => "expire_rule",
            ChangeAction::ExpireMember => "expire_member",
        }
    }
}

impl fmt::Display for ChangeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`ChangeAction::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown change action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for ChangeAction {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, UnknownAction> {
        ChangeAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// One entry of the append-only change log. Serializes as
/// `{"id":7,"at":1714564800,"action":"authorize_ingress","object_id":"sgr-…","detail":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Position in the log: increasing, never reused, not necessarily contiguous.
    pub id: i64,
    /// When the change was made (for `expire_*`, the `now` given to
    /// [`crate::StateStore::remove_expired`]), in seconds since the Unix epoch.
    pub at: Timestamp,
    /// What was done.
    pub action: ChangeAction,
    /// The rule id (`sgr-…`) or `member ADDR of sg-…`.
    pub object_id: String,
    /// The rule or member as JSON, in netacl's serde form.
    pub detail: serde_json::Value,
}
