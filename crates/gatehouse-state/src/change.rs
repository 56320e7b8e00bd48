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
    /// An IAM user was created; detail: `UserName`, `UserId`, `Arn`, `Path`.
    IamCreateUser,
    /// An IAM user was deleted; detail: as for creation.
    IamDeleteUser,
    /// An IAM group was created; detail: `GroupName`, `GroupId`, `Arn`, `Path`.
    IamCreateGroup,
    /// An IAM group was deleted.
    IamDeleteGroup,
    /// A user was added to a group; detail: `GroupName`, `UserName`.
    IamAddUserToGroup,
    /// A user was removed from a group.
    IamRemoveUserFromGroup,
    /// An IAM role was created; detail: `RoleName`, `RoleId`, `Arn`, `Path`,
    /// `AssumeRolePolicyDocument`.
    IamCreateRole,
    /// An IAM role was deleted.
    IamDeleteRole,
    /// An access key was created; detail: `UserName`, `AccessKeyId`, `Status` (never the
    /// secret).
    IamCreateAccessKey,
    /// An access key's status changed; detail: as for creation.
    IamUpdateAccessKey,
    /// An access key was deleted.
    IamDeleteAccessKey,
    /// An inline policy was put (created or replaced); detail: `PrincipalKind`,
    /// `PrincipalName`, `PolicyName`, `PolicyDocument`.
    IamPutInlinePolicy,
    /// An inline policy was deleted.
    IamDeleteInlinePolicy,
    /// A managed policy was created; detail: `PolicyName`, `PolicyId`, `Arn`, `Path`,
    /// `PolicyDocument`.
    IamCreatePolicy,
    /// A managed policy was deleted.
    IamDeletePolicy,
    /// A managed policy was attached; detail: `PrincipalKind`, `PrincipalName`,
    /// `PolicyArn`.
    IamAttachPolicy,
    /// A managed policy was detached.
    IamDetachPolicy,
}

impl ChangeAction {
    /// Every action, in declaration order.
    pub const ALL: [ChangeAction; 23] = [
        ChangeAction::AuthorizeIngress,
        ChangeAction::RevokeIngress,
        ChangeAction::RegisterMember,
        ChangeAction::DeregisterMember,
        ChangeAction::ExpireRule,
        ChangeAction::ExpireMember,
        ChangeAction::IamCreateUser,
        ChangeAction::IamDeleteUser,
        ChangeAction::IamCreateGroup,
        ChangeAction::IamDeleteGroup,
        ChangeAction::IamAddUserToGroup,
        ChangeAction::IamRemoveUserFromGroup,
        ChangeAction::IamCreateRole,
        ChangeAction::IamDeleteRole,
        ChangeAction::IamCreateAccessKey,
        ChangeAction::IamUpdateAccessKey,
        ChangeAction::IamDeleteAccessKey,
        ChangeAction::IamPutInlinePolicy,
        ChangeAction::IamDeleteInlinePolicy,
        ChangeAction::IamCreatePolicy,
        ChangeAction::IamDeletePolicy,
        ChangeAction::IamAttachPolicy,
        ChangeAction::IamDetachPolicy,
    ];

    /// Whether the change is to the IAM identity store (else to layer 1's rules and
    /// members).
    pub fn is_iam(self) -> bool {
        self.as_str().starts_with("iam_")
    }

    /// The snake_case name, e.g. `authorize_ingress`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::AuthorizeIngress => "authorize_ingress",
            ChangeAction::RevokeIngress => "revoke_ingress",
            ChangeAction::RegisterMember => "register_member",
            ChangeAction::DeregisterMember => "deregister_member",
            ChangeAction::ExpireRule => "expire_rule",
            ChangeAction::ExpireMember => "expire_member",
            ChangeAction::IamCreateUser => "iam_create_user",
            ChangeAction::IamDeleteUser => "iam_delete_user",
            ChangeAction::IamCreateGroup => "iam_create_group",
            ChangeAction::IamDeleteGroup => "iam_delete_group",
            ChangeAction::IamAddUserToGroup => "iam_add_user_to_group",
            ChangeAction::IamRemoveUserFromGroup => "iam_remove_user_from_group",
            ChangeAction::IamCreateRole => "iam_create_role",
            ChangeAction::IamDeleteRole => "iam_delete_role",
            ChangeAction::IamCreateAccessKey => "iam_create_access_key",
            ChangeAction::IamUpdateAccessKey => "iam_update_access_key",
            ChangeAction::IamDeleteAccessKey => "iam_delete_access_key",
            ChangeAction::IamPutInlinePolicy => "iam_put_inline_policy",
            ChangeAction::IamDeleteInlinePolicy => "iam_delete_inline_policy",
            ChangeAction::IamCreatePolicy => "iam_create_policy",
            ChangeAction::IamDeletePolicy => "iam_delete_policy",
            ChangeAction::IamAttachPolicy => "iam_attach_policy",
            ChangeAction::IamDetachPolicy => "iam_detach_policy",
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
    /// The rule id (`sgr-…`), `member ADDR of sg-…`, or for IAM changes the entity's ARN,
    /// the access key id, or a phrase naming both sides (`user alice in group ops`,
    /// `inline policy db of user alice`, `ARN to user alice`).
    pub object_id: String,
    /// The rule or member as JSON, in netacl's serde form; for IAM changes AWS-style
    /// fields (`UserName`, `AccessKeyId`, …), never a secret.
    pub detail: serde_json::Value,
}
