//! The identity store as the gateway sees it: one immutable [`Directory`] snapshot of the
//! users, groups, roles, access keys (with their decrypted secrets) and policies of one
//! AWS account.
//!
//! The state store (`gatehouse-state`) keeps them in SQLite, secrets encrypted with the
//! [`MasterKey`], and builds a `Directory` in one read transaction; the gateway swaps in a
//! new `Arc<Directory>` when the store changes. Lookups by name ignore case, as AWS
//! IAM's names do.
//!
//! A `Directory` is built with the `add_*` methods, principals and policies first, then
//! memberships and attachments: an attachment or membership that names something absent is
//! refused ([`DirectoryError`]) rather than skipped, because a dropped `Deny` policy would
//! widen access.
//!
//! ```
//! use std::time::SystemTime;
//! use gatehouse_iam::directory::{names, Directory, InlinePolicy, PrincipalKind, User};
//! use gatehouse_iam::policy::PolicyDocument;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut dir = Directory::new("123456789012");
//! dir.add_user(User {
//!     name: "alice".into(),
//!     user_id: names::generate_unique_id(names::IdPrefix::User),
//!     arn: names::arn("123456789012", "user", "/", "alice"),
//!     path: "/".into(),
//!     created: SystemTime::now(),
//! })?;
//! let document = PolicyDocument::parse(
//!     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"*"}]}"#,
//! )?;
//! dir.add_inline_policy(PrincipalKind::User, "alice", InlinePolicy { name: "db".into(), document })?;
//! assert_eq!(dir.policies_for_user("ALICE")[0].name, "db");
//! # Ok(())
//! # }
//! ```

mod master_key;
mod model;
pub mod names;
mod trust;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

pub use master_key::{
    MasterKey, MasterKeyError, SealedSecret, SecretError, MASTER_KEY_LEN, NONCE_LEN,
};
pub use model::{
    AccessKey, AccessKeyMetadata, Group, InlinePolicy, KeyStatus, ManagedPolicy, PrincipalKind,
    Role, UnknownStatus, User,
};
pub use trust::TrustPolicy;

use crate::policy::AttachedPolicy;

/// A `Directory` could not take an entry: a duplicate, or a reference to something it
/// does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Two entries of the same kind with the same name (ignoring case), or two access keys
    /// or managed policies with the same id or ARN.
    #[error("{kind} {name} is already in the directory")]
    Duplicate {
        /// `user`, `group`, `role`, `access key`, `policy`, `inline policy`.
        kind: &'static str,
        /// The name, id or ARN.
        name: String,
    },
    /// The entry refers to a principal or managed policy that is not in the directory.
    #[error("{entry}: {kind} {name} is not in the directory")]
    Missing {
        /// What was being added, e.g. `access key AKIA…`, `attachment of … to user bob`.
        entry: String,
        /// The kind of thing missing.
        kind: &'static str,
        /// Its name or ARN.
        name: String,
    },
}

type PrincipalKey = (PrincipalKind, String);

fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// An immutable snapshot of one account's identities and policies. `Send + Sync`, meant to
/// be shared in an `Arc` and replaced whole when the store changes.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    account_id: String,
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    roles: BTreeMap<String, Role>,
    access_keys: BTreeMap<String, AccessKey>,
    managed: BTreeMap<String, ManagedPolicy>,
    inline: BTreeMap<PrincipalKey, Vec<InlinePolicy>>,
    attached: BTreeMap<PrincipalKey, Vec<String>>,
    /// user (folded) → groups (folded), sorted.
    memberships: BTreeMap<String, Vec<String>>,
}

impl Directory {
    /// An empty directory for `account_id` (12 digits; see [`names::check_account_id`]).
    pub fn new(account_id: &str) -> Directory {
        Directory {
            account_id: account_id.to_owned(),
            ..Directory::default()
        }
    }

    /// The AWS account id the ARNs are in.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The access key with this id (exact match), active or not: callers check
    /// [`AccessKey::is_active`].
    pub fn access_key(&self, access_key_id: &str) -> Option<&AccessKey> {
        self.access_keys.get(access_key_id)
    }

    /// The user with this name (ignoring case).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(&fold(name))
    }

    /// The role with this name (ignoring case).
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(&fold(name))
    }

    /// The group with this name (ignoring case).
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(&fold(name))
    }

    /// The managed policy with this ARN.
    pub fn managed_policy(&self, arn: &str) -> Option<&ManagedPolicy> {
        self.managed.get(&fold(arn))
    }

    /// Every user, by name.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Every group, by name.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Every role, by name.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// Every access key, by id.
    pub fn access_keys(&self) -> impl Iterator<Item = &AccessKey> {
        self.access_keys.values()
    }

    /// The groups a user belongs to, by name.
    pub fn groups_for_user(&self, user: &str) -> Vec<&Group> {
        self.memberships
            .get(&fold(user))
            .into_iter()
            .flatten()
            .filter_map(|g| self.groups.get(g))
            .collect()
    }

    /// The inline policies of a principal, by name.
    pub fn inline_policies(&self, kind: PrincipalKind, name: &str) -> &[InlinePolicy] {
        self.inline
            .get(&(kind, fold(name)))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The managed policies attached to a principal, by ARN.
    pub fn attached_policies(&self, kind: PrincipalKind, name: &str) -> Vec<&ManagedPolicy> {
        self.attached
            .get(&(kind, fold(name)))
            .into_iter()
            .flatten()
            .filter_map(|arn| self.managed.get(arn))
            .collect()
    }

    /// A principal's own policies: inline (named by policy name) then attached (named by
    /// ARN).
    fn own_policies(&self, kind: PrincipalKind, name: &str) -> Vec<AttachedPolicy<'_>> {
        let inline = self
            .inline_policies(kind, name)
            .iter()
            .map(|p| AttachedPolicy {
                name: &p.name,
                document: &p.document,
            });
        let attached = self
            .attached_policies(kind, name)
            .into_iter()
            .map(|p| AttachedPolicy {
                name: &p.arn,
                document: &p.document,
            });
        inline.chain(attached).collect()
    }

    /// Every policy that applies to the user: its inline policies (named by policy name),
    /// its attached managed policies (named by ARN), then for each of its groups (by name)
    /// the group's inline and attached policies. Empty for an unknown user.
    pub fn policies_for_user(&self, name: &str) -> Vec<AttachedPolicy<'_>> {
        if self.user(name).is_none() {
            return Vec::new();
        }
        let mut out = self.own_policies(PrincipalKind::User, name);
        for group in self.groups_for_user(name) {
            out.extend(self.own_policies(PrincipalKind::Group, &group.name));
        }
        out
    }

    /// Every policy of the role: inline (by policy name), then attached (by ARN). The
    /// trust policy is not among them. Empty for an unknown role.
    pub fn policies_for_role(&self, name: &str) -> Vec<AttachedPolicy<'_>> {
        if self.role(name).is_none() {
            return Vec::new();
        }
        self.own_policies(PrincipalKind::Role, name)
    }

    /// Every policy of the group: inline, then attached. Empty for an unknown group.
    pub fn policies_for_group(&self, name: &str) -> Vec<AttachedPolicy<'_>> {
        if self.group(name).is_none() {
            return Vec::new();
        }
        self.own_policies(PrincipalKind::Group, name)
    }

    /// The principal an IAM ARN of this account names (`arn:aws:iam::ACCOUNT:user/…`,
    /// `group/…`, `role/…`), as its kind and name; `None` when there is none (the path in
    /// the ARN must match too).
    pub fn principal_by_arn(&self, arn: &str) -> Option<(PrincipalKind, &str)> {
        let (kind, path, name) = names::parse_arn(&self.account_id, arn)?;
        let (kind, stored_path, stored_name) = match kind {
            "user" => {
                let u = self.user(name)?;
                (PrincipalKind::User, &u.path, &u.name)
            }
            "group" => {
                let g = self.group(name)?;
                (PrincipalKind::Group, &g.path, &g.name)
            }
            "role" => {
                let r = self.role(name)?;
                (PrincipalKind::Role, &r.path, &r.name)
            }
            _ => return None,
        };
        (stored_path == path).then_some((kind, stored_name.as_str()))
    }

    /// The policies that apply to the principal `kind`/`name` (see
    /// [`Directory::policies_for_user`], [`Directory::policies_for_group`],
    /// [`Directory::policies_for_role`]).
    pub fn policies_for(&self, kind: PrincipalKind, name: &str) -> Vec<AttachedPolicy<'_>> {
        match kind {
            PrincipalKind::User => self.policies_for_user(name),
            PrincipalKind::Group => self.policies_for_group(name),
            PrincipalKind::Role => self.policies_for_role(name),
        }
    }

    fn has_principal(&self, kind: PrincipalKind, name: &str) -> bool {
        let key = fold(name);
        match kind {
            PrincipalKind::User => self.users.contains_key(&key),
            PrincipalKind::Group => self.groups.contains_key(&key),
            PrincipalKind::Role => self.roles.contains_key(&key),
        }
    }

    fn require_principal(
        &self,
        entry: impl FnOnce() -> String,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<(), DirectoryError> {
        if self.has_principal(kind, name) {
            Ok(())
        } else {
            Err(DirectoryError::Missing {
                entry: entry(),
                kind: kind.as_str(),
                name: name.to_owned(),
            })
        }
    }

    /// Adds a user.
    ///
    /// # Errors
    /// [`DirectoryError::Duplicate`] when a user of that name (ignoring case) is there.
    pub fn add_user(&mut self, user: User) -> Result<(), DirectoryError> {
        insert_new(&mut self.users, "user", &user.name.clone(), user)
    }

    /// Adds a group.
    ///
    /// # Errors
    /// [`DirectoryError::Duplicate`].
    pub fn add_group(&mut self, group: Group) -> Result<(), DirectoryError> {
        insert_new(&mut self.groups, "group", &group.name.clone(), group)
    }

    /// Adds a role.
    ///
    /// # Errors
    /// [`DirectoryError::Duplicate`].
    pub fn add_role(&mut self, role: Role) -> Result<(), DirectoryError> {
        insert_new(&mut self.roles, "role", &role.name.clone(), role)
    }

    /// Adds a managed policy.
    ///
    /// # Errors
    /// [`DirectoryError::Duplicate`] for a second policy with the same ARN.
    pub fn add_managed_policy(&mut self, policy: ManagedPolicy) -> Result<(), DirectoryError> {
        insert_new(&mut self.managed, "policy", &policy.arn.clone(), policy)
    }

    /// Adds an access key of an existing user.
    ///
    /// # Errors
    /// [`DirectoryError::Missing`] when its user is not there; [`DirectoryError::Duplicate`].
    pub fn add_access_key(&mut self, key: AccessKey) -> Result<(), DirectoryError> {
        self.require_principal(
            || format!("access key {}", key.access_key_id),
            PrincipalKind::User,
            &key.user_name,
        )?;
        let id = key.access_key_id.clone();
        match self.access_keys.entry(id) {
            Entry::Occupied(e) => Err(DirectoryError::Duplicate {
                kind: "access key",
                name: e.key().clone(),
            }),
            Entry::Vacant(e) => {
                e.insert(key);
                Ok(())
            }
        }
    }

    /// Adds a user to a group; both must be there already. Adding twice is a no-op.
    ///
    /// # Errors
    /// [`DirectoryError::Missing`].
    pub fn add_user_to_group(&mut self, user: &str, group: &str) -> Result<(), DirectoryError> {
        let entry = || format!("membership of user {user} in group {group}");
        self.require_principal(entry, PrincipalKind::User, user)?;
        self.require_principal(entry, PrincipalKind::Group, group)?;
        let groups = self.memberships.entry(fold(user)).or_default();
        let g = fold(group);
        if let Err(at) = groups.binary_search(&g) {
            groups.insert(at, g);
        }
        Ok(())
    }

    /// Embeds an inline policy in an existing principal.
    ///
    /// # Errors
    /// [`DirectoryError::Missing`]; [`DirectoryError::Duplicate`] when the principal
    /// already has an inline policy of that name (ignoring case).
    pub fn add_inline_policy(
        &mut self,
        kind: PrincipalKind,
        principal: &str,
        policy: InlinePolicy,
    ) -> Result<(), DirectoryError> {
        self.require_principal(
            || format!("inline policy {} of {kind} {principal}", policy.name),
            kind,
            principal,
        )?;
        let list = self.inline.entry((kind, fold(principal))).or_default();
        let key = fold(&policy.name);
        match list.binary_search_by(|p| fold(&p.name).cmp(&key)) {
            Ok(_) => Err(DirectoryError::Duplicate {
                kind: "inline policy",
                name: format!("{} of {kind} {principal}", policy.name),
            }),
            Err(at) => {
                list.insert(at, policy);
                Ok(())
            }
        }
    }

    /// Attaches a managed policy (by ARN) to an existing principal. Attaching twice is a
    /// no-op.
    ///
    /// # Errors
    /// [`DirectoryError::Missing`] when the principal or the policy is not there.
    pub fn attach_policy(
        &mut self,
        kind: PrincipalKind,
        principal: &str,
        policy_arn: &str,
    ) -> Result<(), DirectoryError> {
        let entry = || format!("attachment of {policy_arn} to {kind} {principal}");
        self.require_principal(entry, kind, principal)?;
        let arn = fold(policy_arn);
        if !self.managed.contains_key(&arn) {
            return Err(DirectoryError::Missing {
                entry: entry(),
                kind: "policy",
                name: policy_arn.to_owned(),
            });
        }
        let list = self.attached.entry((kind, fold(principal))).or_default();
        if let Err(at) = list.binary_search(&arn) {
            list.insert(at, arn);
        }
        Ok(())
    }
}

/// Inserts `value` under the folded `name`, refusing a second entry of that name.
fn insert_new<T>(
    map: &mut BTreeMap<String, T>,
    kind: &'static str,
    name: &str,
    value: T,
) -> Result<(), DirectoryError> {
    match map.entry(fold(name)) {
        Entry::Occupied(_) => Err(DirectoryError::Duplicate {
            kind,
            name: name.to_owned(),
        }),
        Entry::Vacant(e) => {
            e.insert(value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
