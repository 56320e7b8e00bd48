//! The `gatehouse iam` subcommands and their flags, named as the AWS CLI names them.

use clap::{Args, Subcommand};
use gatehouse_iam::directory::{KeyStatus, PrincipalKind};

/// A user, group or role named on the command line.
pub trait Principal {
    /// Which kind.
    const KIND: PrincipalKind;
    /// The name given.
    fn name(&self) -> &str;
}

/// `--user-name`.
#[derive(Args, Debug)]
pub struct UserName {
    /// The IAM user.
    #[arg(long)]
    pub user_name: String,
}

/// `--group-name`.
#[derive(Args, Debug)]
pub struct GroupName {
    /// The IAM group.
    #[arg(long)]
    pub group_name: String,
}

/// `--role-name`.
#[derive(Args, Debug)]
pub struct RoleName {
    /// The IAM role.
    #[arg(long)]
    pub role_name: String,
}

impl Principal for UserName {
    const KIND: PrincipalKind = PrincipalKind::User;
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl Principal for GroupName {
    const KIND: PrincipalKind = PrincipalKind::Group;
    fn name(&self) -> &str {
        &self.group_name
    }
}

impl Principal for RoleName {
    const KIND: PrincipalKind = PrincipalKind::Role;
    fn name(&self) -> &str {
        &self.role_name
    }
}

/// `--path` for create commands.
#[derive(Args, Debug)]
pub struct PathArg {
    /// Path of the new entity: `/` (default) or `/division/`.
    #[arg(long)]
    pub path: Option<String>,
}

/// `--path-prefix` for list commands.
#[derive(Args, Debug)]
pub struct PathPrefix {
    /// Only entities whose path starts with this (e.g. `/division/`).
    #[arg(long)]
    pub path_prefix: Option<String>,
}

/// `--policy-name`.
#[derive(Args, Debug)]
pub struct PolicyName {
    /// The inline policy's name.
    #[arg(long)]
    pub policy_name: String,
}

/// `--policy-name` and `--policy-document`.
#[derive(Args, Debug)]
pub struct PolicyInput {
    /// The policy's name.
    #[arg(long)]
    pub policy_name: String,
    /// The policy document: `file://PATH` or the JSON itself.
    #[arg(long)]
    pub policy_document: String,
}

/// `--policy-arn`.
#[derive(Args, Debug)]
pub struct PolicyArn {
    /// The managed policy's ARN (`arn:aws:iam::ACCOUNT:policy/NAME`).
    #[arg(long)]
    pub policy_arn: String,
}

/// `--access-key-id` and an optional `--user-name` that must own it.
#[derive(Args, Debug)]
pub struct KeyId {
    /// The access key (AKIA…).
    #[arg(long)]
    pub access_key_id: String,
    /// The user the key must belong to.
    #[arg(long)]
    pub user_name: Option<String>,
}

/// `gatehouse iam` subcommands.
#[derive(Subcommand, Debug)]
pub enum IamCommand {
    /// Create a user.
    CreateUser {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        path: PathArg,
    },
    /// Show a user.
    GetUser(UserName),
    /// List users.
    ListUsers(PathPrefix),
    /// Delete a user (it must have no keys, policies or groups left).
    DeleteUser(UserName),

    /// Create a group.
    CreateGroup {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        path: PathArg,
    },
    /// Show a group and its users.
    GetGroup(GroupName),
    /// List groups.
    ListGroups(PathPrefix),
    /// List the groups of a user.
    ListGroupsForUser(UserName),
    /// Delete a group (it must have no users or policies left).
    DeleteGroup(GroupName),
    /// Add a user to a group.
    AddUserToGroup {
        #[command(flatten)]
        group: GroupName,
        #[command(flatten)]
        user: UserName,
    },
    /// Remove a user from a group.
    RemoveUserFromGroup {
        #[command(flatten)]
        group: GroupName,
        #[command(flatten)]
        user: UserName,
    },

    /// Create a role.
    CreateRole {
        #[command(flatten)]
        role: RoleName,
        #[command(flatten)]
        path: PathArg,
        /// The trust policy: `file://PATH` or the JSON (stored, not evaluated yet).
        #[arg(long)]
        assume_role_policy_document: Option<String>,
    },
    /// Show a role.
    GetRole(RoleName),
    /// List roles.
    ListRoles(PathPrefix),
    /// Delete a role (it must have no policies left).
    DeleteRole(RoleName),

    /// Create an access key; prints its secret, once.
    CreateAccessKey(UserName),
    /// Make an access key Active or Inactive.
    UpdateAccessKey {
        #[command(flatten)]
        key: KeyId,
        /// `Active` or `Inactive`.
        #[arg(long)]
        status: KeyStatus,
    },
    /// Delete an access key.
    DeleteAccessKey(KeyId),
    /// List access keys (of one user, or all), without secrets.
    ListAccessKeys {
        /// Only this user's keys.
        #[arg(long)]
        user_name: Option<String>,
    },
    /// When an access key was last used to sign an accepted token.
    GetAccessKeyLastUsed {
        /// The access key (AKIA…).
        #[arg(long)]
        access_key_id: String,
    },

    /// Embed an inline policy in a user (replacing one of the same name).
    PutUserPolicy {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        policy: PolicyInput,
    },
    /// Embed an inline policy in a group.
    PutGroupPolicy {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        policy: PolicyInput,
    },
    /// Embed an inline policy in a role.
    PutRolePolicy {
        #[command(flatten)]
        who: RoleName,
        #[command(flatten)]
        policy: PolicyInput,
    },
    /// Show a user's inline policy.
    GetUserPolicy {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// Show a group's inline policy.
    GetGroupPolicy {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// Show a role's inline policy.
    GetRolePolicy {
        #[command(flatten)]
        who: RoleName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// Delete a user's inline policy.
    DeleteUserPolicy {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// Delete a group's inline policy.
    DeleteGroupPolicy {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// Delete a role's inline policy.
    DeleteRolePolicy {
        #[command(flatten)]
        who: RoleName,
        #[command(flatten)]
        name: PolicyName,
    },
    /// List a user's inline policies.
    ListUserPolicies(UserName),
    /// List a group's inline policies.
    ListGroupPolicies(GroupName),
    /// List a role's inline policies.
    ListRolePolicies(RoleName),

    /// Create a customer managed policy (arn:aws:iam::ACCOUNT:policy/NAME).
    CreatePolicy {
        #[command(flatten)]
        policy: PolicyInput,
        #[command(flatten)]
        path: PathArg,
    },
    /// Show a managed policy.
    GetPolicy(PolicyArn),
    /// Show a managed policy's document (gatehouse keeps one version, v1).
    GetPolicyVersion {
        #[command(flatten)]
        arn: PolicyArn,
        /// The version (only `v1` exists).
        #[arg(long, default_value = "v1")]
        version_id: String,
    },
    /// Delete a managed policy (it must be detached everywhere).
    DeletePolicy(PolicyArn),
    /// List managed policies.
    ListPolicies(PathPrefix),
    /// Attach a managed policy to a user.
    AttachUserPolicy {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// Attach a managed policy to a group.
    AttachGroupPolicy {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// Attach a managed policy to a role.
    AttachRolePolicy {
        #[command(flatten)]
        who: RoleName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// Detach a managed policy from a user.
    DetachUserPolicy {
        #[command(flatten)]
        who: UserName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// Detach a managed policy from a group.
    DetachGroupPolicy {
        #[command(flatten)]
        who: GroupName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// Detach a managed policy from a role.
    DetachRolePolicy {
        #[command(flatten)]
        who: RoleName,
        #[command(flatten)]
        arn: PolicyArn,
    },
    /// List the managed policies attached to a user.
    ListAttachedUserPolicies(UserName),
    /// List the managed policies attached to a group.
    ListAttachedGroupPolicies(GroupName),
    /// List the managed policies attached to a role.
    ListAttachedRolePolicies(RoleName),

    /// Evaluate a principal's policies for actions on resources, offline
    /// (exit 1 when any is denied).
    SimulatePrincipalPolicy(SimulateArgs),
}

/// `simulate-principal-policy`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The user, group or role ARN whose policies are evaluated.
    #[arg(long)]
    pub policy_source_arn: String,
    /// Actions, e.g. `rds-db:connect` (several after one flag, or the flag repeated).
    #[arg(long, num_args = 1.., required = true)]
    pub action_names: Vec<String>,
    /// Resources, e.g. `arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/app`
    /// (default `*`).
    #[arg(long, num_args = 1..)]
    pub resource_arns: Vec<String>,
    /// A condition key and its values: `aws:SourceIp=10.0.0.5` (several values
    /// comma-separated); repeat for more keys.
    #[arg(long = "context", value_name = "KEY=VALUE[,VALUE…]")]
    pub context: Vec<String>,
    /// AWS CLI shorthand:
    /// `ContextKeyName=aws:SourceIp,ContextKeyValues=10.0.0.5,ContextKeyType=ip`.
    #[arg(long, num_args = 1..)]
    pub context_entries: Vec<String>,
}
