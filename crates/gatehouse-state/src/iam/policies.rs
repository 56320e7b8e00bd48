//! Inline policies, customer managed policies and their attachments.

use gatehouse_iam::directory::names::{self, IdPrefix};
use gatehouse_iam::directory::{InlinePolicy, ManagedPolicy, PrincipalKind};
use rusqlite::{params, Connection};
use serde_json::json;

use super::principals::fresh_id;
use super::{
    check_path, check_policy_name, count, now, parse_document, policy_size, principal_name, rows,
    IamStore, MAX_ATTACHED_POLICIES, MAX_GROUP_INLINE_SIZE, MAX_MANAGED_POLICY_SIZE,
    MAX_ROLE_INLINE_SIZE, MAX_USER_INLINE_SIZE,
};
use crate::change::ChangeAction;
use crate::error::{SqlContext, StateError};
use crate::rows::log_change;

/// `user policy`, `group policy`, `role policy`: an inline policy in errors, as AWS says.
fn inline_kind(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "user policy",
        PrincipalKind::Group => "group policy",
        PrincipalKind::Role => "role policy",
    }
}

/// The aggregate inline policy size a principal may have, and AWS's quota name.
fn inline_quota(kind: PrincipalKind) -> (usize, &'static str) {
    match kind {
        PrincipalKind::User => (MAX_USER_INLINE_SIZE, "UserPolicySize"),
        PrincipalKind::Group => (MAX_GROUP_INLINE_SIZE, "GroupPolicySize"),
        PrincipalKind::Role => (MAX_ROLE_INLINE_SIZE, "RolePolicySize"),
    }
}

const PRINCIPAL: &str = "principal_kind = ?1 AND principal_name = ?2";
const PRINCIPAL_AND_NAME: &str = "principal_kind = ?1 AND principal_name = ?2 AND policy_name = ?3";

fn inline_detail(kind: PrincipalKind, principal: &str, p: &InlinePolicy) -> serde_json::Value {
    json!({
        "PrincipalKind": kind.as_str(),
        "PrincipalName": principal,
        "PolicyName": p.name,
        "PolicyDocument": p.document.source(),
    })
}

fn managed_detail(p: &ManagedPolicy) -> serde_json::Value {
    json!({
        "PolicyName": p.name,
        "PolicyId": p.policy_id,
        "Arn": p.arn,
        "Path": p.path,
        "PolicyDocument": p.document.source(),
    })
}

fn attachment_detail(kind: PrincipalKind, principal: &str, arn: &str) -> serde_json::Value {
    json!({"PrincipalKind": kind.as_str(), "PrincipalName": principal, "PolicyArn": arn})
}

fn find_inline(
    conn: &Connection,
    kind: PrincipalKind,
    principal: &str,
    name: &str,
) -> Result<InlinePolicy, StateError> {
    check_policy_name(name)?;
    let principal = principal_name(conn, kind, principal)?;
    rows::inline_policies(
        conn,
        PRINCIPAL_AND_NAME,
        params![kind.as_str(), principal, name],
    )?
    .into_iter()
    .next()
    .map(|row| row.policy)
    .ok_or_else(|| StateError::IamNoSuchEntity {
        kind: inline_kind(kind),
        name: format!("{name} of {kind} {principal}"),
    })
}

fn find_managed(conn: &Connection, arn: &str) -> Result<ManagedPolicy, StateError> {
    rows::managed_policies(conn, "arn = ?1", params![arn])?
        .into_iter()
        .next()
        .ok_or_else(|| StateError::IamNoSuchEntity {
            kind: "policy",
            name: arn.to_owned(),
        })
}

fn attachment_count(conn: &Connection, arn: &str) -> Result<usize, StateError> {
    count(
        conn,
        "SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?1",
        params![arn],
    )
}

impl IamStore<'_> {
    /// Embeds an inline policy in a user, group or role, replacing one of the same name
    /// (AWS `PutUserPolicy`, `PutGroupPolicy`, `PutRolePolicy`).
    ///
    /// # Errors
    /// [`StateError::MalformedPolicy`] with the JSON path of the problem;
    /// [`StateError::IamValidation`] for a bad policy name; [`StateError::IamNoSuchEntity`]
    /// for an unknown principal; [`StateError::IamLimitExceeded`] when the principal's
    /// inline policies together would exceed the size quota ([`super::MAX_USER_INLINE_SIZE`]
    /// and the others).
    pub fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<InlinePolicy, StateError> {
        check_policy_name(policy_name)?;
        let object = format!("inline policy {policy_name} of {kind} {principal}");
        let policy = InlinePolicy {
            name: policy_name.to_owned(),
            document: parse_document(&object, document)?,
        };
        let (at, _) = now();
        self.store.write("iam put_inline_policy", |tx| {
            let principal = principal_name(tx, kind, principal)?;
            let current = rows::inline_policies(tx, PRINCIPAL, params![kind.as_str(), principal])?;
            // A replaced policy keeps the name it was first put under (names ignore case).
            let mut policy = policy.clone();
            let mut others = 0;
            for row in &current {
                if row.policy.name.eq_ignore_ascii_case(policy_name) {
                    policy.name.clone_from(&row.policy.name);
                } else {
                    others += policy_size(row.policy.document.source());
                }
            }
            let (max, quota) = inline_quota(kind);
            let total = others + policy_size(document);
            if total > max {
                return Err(StateError::IamLimitExceeded {
                    object: format!("{kind} {principal}"),
                    message: format!(
                        "cannot exceed quota for {quota}: {max} (its inline policies would \
                         have {total} characters other than white space)"
                    ),
                });
            }
            tx.execute(
                &format!("DELETE FROM iam_inline_policies WHERE {PRINCIPAL_AND_NAME}"),
                params![kind.as_str(), principal, policy.name],
            )
            .ctx("replacing the inline policy")?;
            tx.execute(
                "INSERT INTO iam_inline_policies (principal_kind, principal_name, policy_name, \
                 document) VALUES (?1, ?2, ?3, ?4)",
                params![kind.as_str(), principal, policy.name, document],
            )
            .ctx("storing the inline policy")?;
            log_change(
                tx,
                at,
                ChangeAction::IamPutInlinePolicy,
                &format!("inline policy {} of {kind} {principal}", policy.name),
                &inline_detail(kind, &principal, &policy),
            )?;
            Ok(policy)
        })
    }

    /// One inline policy (AWS `GetUserPolicy` and the others).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown principal or policy.
    pub fn get_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy, StateError> {
        self.store.read("iam get_inline_policy", |tx| {
            find_inline(tx, kind, principal, policy_name)
        })
    }

    /// The inline policies of a principal, by name (AWS `ListUserPolicies` and the
    /// others, which give the names).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown principal.
    pub fn list_inline_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<InlinePolicy>, StateError> {
        self.store.read("iam list_inline_policies", |tx| {
            let principal = principal_name(tx, kind, principal)?;
            Ok(
                rows::inline_policies(tx, PRINCIPAL, params![kind.as_str(), principal])?
                    .into_iter()
                    .map(|row| row.policy)
                    .collect(),
            )
        })
    }

    /// Deletes an inline policy (AWS `DeleteUserPolicy` and the others) and returns it.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        policy_name: &str,
    ) -> Result<InlinePolicy, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_inline_policy", |tx| {
            let policy = find_inline(tx, kind, principal, policy_name)?;
            let principal = principal_name(tx, kind, principal)?;
            tx.execute(
                &format!("DELETE FROM iam_inline_policies WHERE {PRINCIPAL_AND_NAME}"),
                params![kind.as_str(), principal, policy.name],
            )
            .ctx("deleting the inline policy")?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeleteInlinePolicy,
                &format!("inline policy {} of {kind} {principal}", policy.name),
                &inline_detail(kind, &principal, &policy),
            )?;
            Ok(policy)
        })
    }

    /// Creates a customer managed policy (AWS `CreatePolicy`):
    /// `arn:aws:iam::ACCOUNT:policy` + path + name.
    ///
    /// # Errors
    /// [`StateError::IamValidation`] for a bad name or path;
    /// [`StateError::MalformedPolicy`]; [`StateError::IamLimitExceeded`] for a document
    /// over [`MAX_MANAGED_POLICY_SIZE`]; [`StateError::IamEntityExists`] when a policy of
    /// that name (any case, any path) exists.
    pub fn create_policy(
        &self,
        name: &str,
        path: Option<&str>,
        document: &str,
    ) -> Result<ManagedPolicy, StateError> {
        check_policy_name(name)?;
        let path = check_path(path)?;
        let object = format!("policy {name}");
        // The quota first: AWS answers LimitExceeded, not MalformedPolicyDocument.
        let size = policy_size(document);
        if size > MAX_MANAGED_POLICY_SIZE {
            return Err(StateError::IamLimitExceeded {
                object,
                message: format!(
                    "cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY_SIZE} (it has \
                     {size} characters other than white space)"
                ),
            });
        }
        let parsed = parse_document(&object, document)?;
        let (at, created) = now();
        self.store.write("iam create_policy", |tx| {
            if let Some(existing) = rows::managed_policies(tx, "name = ?1", params![name])?
                .into_iter()
                .next()
            {
                return Err(StateError::IamEntityExists {
                    kind: "policy",
                    name: existing.arn,
                });
            }
            let policy = ManagedPolicy {
                policy_id: fresh_id(tx, IdPrefix::Policy, "iam_managed_policies", "policy_id")?,
                arn: names::arn(self.account_id, "policy", &path, name),
                name: name.to_owned(),
                path,
                document: parsed,
                created,
            };
            tx.execute(
                "INSERT INTO iam_managed_policies (arn, policy_id, name, path, document, \
                 created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    policy.arn,
                    policy.policy_id,
                    policy.name,
                    policy.path,
                    document,
                    rows::to_secs(created)
                ],
            )
            .ctx("storing the policy")?;
            log_change(
                tx,
                at,
                ChangeAction::IamCreatePolicy,
                &policy.arn,
                &managed_detail(&policy),
            )?;
            Ok(policy)
        })
    }

    /// A managed policy by ARN and how many principals it is attached to (AWS
    /// `GetPolicy` with `GetPolicyVersion`'s document).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn get_policy(&self, arn: &str) -> Result<(ManagedPolicy, usize), StateError> {
        self.store.read("iam get_policy", |tx| {
            let policy = find_managed(tx, arn)?;
            let n = attachment_count(tx, &policy.arn)?;
            Ok((policy, n))
        })
    }

    /// Every managed policy whose path starts with `path_prefix`, by name, with its
    /// attachment count (AWS `ListPolicies --scope Local`).
    ///
    /// # Errors
    /// [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn list_policies(
        &self,
        path_prefix: Option<&str>,
    ) -> Result<Vec<(ManagedPolicy, usize)>, StateError> {
        self.store.read("iam list_policies", |tx| {
            let mut out = Vec::new();
            for p in rows::managed_policies(tx, "1", [])? {
                if path_prefix.is_some_and(|pre| !p.path.starts_with(pre)) {
                    continue;
                }
                let n = attachment_count(tx, &p.arn)?;
                out.push((p, n));
            }
            Ok(out)
        })
    }

    /// Deletes a managed policy (AWS `DeletePolicy`); refused while it is attached.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`]; [`StateError::IamDeleteConflict`] naming the
    /// principals it is attached to.
    pub fn delete_policy(&self, arn: &str) -> Result<ManagedPolicy, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_policy", |tx| {
            let policy = find_managed(tx, arn)?;
            let attached = rows::attachments(tx, "policy_arn = ?1", params![policy.arn])?;
            if !attached.is_empty() {
                let who: Vec<String> = attached
                    .iter()
                    .map(|(kind, name, _)| format!("{kind} {name}"))
                    .collect();
                return Err(StateError::IamDeleteConflict {
                    object: format!("policy {}", policy.arn),
                    message: format!(
                        "cannot delete a policy attached to entities; detach it first from {}",
                        who.join(", ")
                    ),
                });
            }
            tx.execute(
                "DELETE FROM iam_managed_policies WHERE arn = ?1",
                params![policy.arn],
            )
            .ctx("deleting the policy")?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeletePolicy,
                &policy.arn,
                &managed_detail(&policy),
            )?;
            Ok(policy)
        })
    }

    /// Attaches a managed policy to a user, group or role (AWS `AttachUserPolicy` and the
    /// others). Attaching it again changes and logs nothing.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown principal or policy;
    /// [`StateError::IamLimitExceeded`] past [`MAX_ATTACHED_POLICIES`].
    pub fn attach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<(), StateError> {
        let (at, _) = now();
        self.store.write("iam attach_policy", |tx| {
            let principal = principal_name(tx, kind, principal)?;
            let policy = find_managed(tx, arn)?;
            let attached = rows::attachments(tx, PRINCIPAL, params![kind.as_str(), principal])?;
            if attached
                .iter()
                .any(|(_, _, a)| a.eq_ignore_ascii_case(&policy.arn))
            {
                return Ok(());
            }
            if attached.len() >= MAX_ATTACHED_POLICIES {
                return Err(StateError::IamLimitExceeded {
                    object: format!("{kind} {principal}"),
                    message: format!(
                        "cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED_POLICIES}",
                        kind.title()
                    ),
                });
            }
            tx.execute(
                "INSERT INTO iam_attachments (principal_kind, principal_name, policy_arn) \
                 VALUES (?1, ?2, ?3)",
                params![kind.as_str(), principal, policy.arn],
            )
            .ctx("storing the attachment")?;
            log_change(
                tx,
                at,
                ChangeAction::IamAttachPolicy,
                &format!("{} to {kind} {principal}", policy.arn),
                &attachment_detail(kind, &principal, &policy.arn),
            )?;
            Ok(())
        })
    }

    /// Detaches a managed policy (AWS `DetachUserPolicy` and the others).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown principal, or a policy not attached
    /// to it.
    pub fn detach_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        arn: &str,
    ) -> Result<(), StateError> {
        let (at, _) = now();
        self.store.write("iam detach_policy", |tx| {
            let principal = principal_name(tx, kind, principal)?;
            let attached = rows::attachments(
                tx,
                "principal_kind = ?1 AND principal_name = ?2 AND policy_arn = ?3",
                params![kind.as_str(), principal, arn],
            )?;
            let Some((_, _, stored_arn)) = attached.into_iter().next() else {
                return Err(StateError::IamNoSuchEntity {
                    kind: "attached policy",
                    name: format!("{arn} of {kind} {principal}"),
                });
            };
            tx.execute(
                "DELETE FROM iam_attachments WHERE principal_kind = ?1 AND principal_name = ?2 \
                 AND policy_arn = ?3",
                params![kind.as_str(), principal, stored_arn],
            )
            .ctx("deleting the attachment")?;
            log_change(
                tx,
                at,
                ChangeAction::IamDetachPolicy,
                &format!("{stored_arn} to {kind} {principal}"),
                &attachment_detail(kind, &principal, &stored_arn),
            )?;
            Ok(())
        })
    }

    /// The managed policies attached to a principal, by name (AWS
    /// `ListAttachedUserPolicies` and the others).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown principal.
    pub fn list_attached_policies(
        &self,
        kind: PrincipalKind,
        principal: &str,
    ) -> Result<Vec<ManagedPolicy>, StateError> {
        self.store.read("iam list_attached_policies", |tx| {
            let principal = principal_name(tx, kind, principal)?;
            rows::managed_policies(
                tx,
                "arn IN (SELECT policy_arn FROM iam_attachments WHERE principal_kind = ?1 \
                 AND principal_name = ?2)",
                params![kind.as_str(), principal],
            )
        })
    }
}
