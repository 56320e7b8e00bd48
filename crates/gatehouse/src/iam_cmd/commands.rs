//! One function per kind of command: store call, then the AWS-shaped answer.

use anyhow::{Context, Result};
use gatehouse_iam::directory::{MasterKey, PrincipalKind};
use gatehouse_state::{IamStore, StateError};
use serde_json::{json, Value};

use super::args::{IamCommand, PolicyInput, Principal};
use super::settings::Settings;
use super::show::{self, Reply};
use super::simulate;
use crate::output::table;

/// A policy document argument: `file://PATH` (read from the file) or the JSON itself.
fn document_arg(flag: &str, value: &str) -> Result<String> {
    match value.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--{flag} file://{path}: cannot read")),
        None => Ok(value.to_owned()),
    }
}

/// `User`, `Group` or `Role` + `Name`: the AWS field naming the principal.
fn name_field(kind: PrincipalKind) -> String {
    format!("{}Name", kind.title())
}

fn put_policy<P: Principal>(iam: &IamStore<'_>, who: &P, input: &PolicyInput) -> Result<Reply> {
    let doc = document_arg("policy-document", &input.policy_document)?;
    let p = iam.put_inline_policy(P::KIND, who.name(), &input.policy_name, &doc)?;
    Ok(Reply::done(format!(
        "put inline policy {} of {} {}",
        p.name,
        P::KIND,
        who.name()
    )))
}

fn get_policy<P: Principal>(iam: &IamStore<'_>, who: &P, name: &str) -> Result<Reply> {
    let p = iam.get_inline_policy(P::KIND, who.name(), name)?;
    let mut json =
        json!({"PolicyName": p.name, "PolicyDocument": show::document(p.document.source())});
    json[name_field(P::KIND)] = Value::String(who.name().to_owned());
    Ok(Reply::new(json, show::document_text(p.document.source())))
}

fn delete_policy<P: Principal>(iam: &IamStore<'_>, who: &P, name: &str) -> Result<Reply> {
    let p = iam.delete_inline_policy(P::KIND, who.name(), name)?;
    Ok(Reply::done(format!(
        "deleted inline policy {} of {} {}",
        p.name,
        P::KIND,
        who.name()
    )))
}

fn list_policies<P: Principal>(iam: &IamStore<'_>, who: &P) -> Result<Reply> {
    let names: Vec<String> = iam
        .list_inline_policies(P::KIND, who.name())?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let rows: Vec<Vec<String>> = names.iter().map(|n| vec![n.clone()]).collect();
    Ok(Reply::new(
        json!({"PolicyNames": names}),
        table(&["PolicyName"], &rows),
    ))
}

fn attach<P: Principal>(iam: &IamStore<'_>, who: &P, arn: &str) -> Result<Reply> {
    iam.attach_policy(P::KIND, who.name(), arn)?;
    Ok(Reply::done(format!(
        "attached {arn} to {} {}",
        P::KIND,
        who.name()
    )))
}

fn detach<P: Principal>(iam: &IamStore<'_>, who: &P, arn: &str) -> Result<Reply> {
    iam.detach_policy(P::KIND, who.name(), arn)?;
    Ok(Reply::done(format!(
        "detached {arn} from {} {}",
        P::KIND,
        who.name()
    )))
}

fn list_attached<P: Principal>(iam: &IamStore<'_>, who: &P) -> Result<Reply> {
    let attached = iam.list_attached_policies(P::KIND, who.name())?;
    let json: Vec<Value> = attached
        .iter()
        .map(|p| json!({"PolicyName": p.name, "PolicyArn": p.arn}))
        .collect();
    let rows: Vec<Vec<String>> = attached
        .iter()
        .map(|p| vec![p.name.clone(), p.arn.clone()])
        .collect();
    Ok(Reply::new(
        json!({"AttachedPolicies": json}),
        table(&["PolicyName", "PolicyArn"], &rows),
    ))
}

/// Runs one command against the store.
///
/// # Errors
/// The store's refusals (`StateError`, whose message starts with AWS's code), unreadable
/// `file://` arguments, a key file that cannot be used.
pub fn dispatch(cmd: &IamCommand, iam: &IamStore<'_>, settings: &Settings) -> Result<Reply> {
    use IamCommand as C;
    Ok(match cmd {
        C::CreateUser { who: u, path } => {
            let user = iam.create_user(&u.user_name, path.path.as_deref())?;
            Reply::new(
                json!({"User": show::user(&user)}),
                show::users_table(&[user]),
            )
        }
        C::GetUser(u) => {
            let user = iam.get_user(&u.user_name)?;
            Reply::new(
                json!({"User": show::user(&user)}),
                show::users_table(&[user]),
            )
        }
        C::ListUsers(p) => {
            let users = iam.list_users(p.path_prefix.as_deref())?;
            let json: Vec<Value> = users.iter().map(show::user).collect();
            Reply::new(json!({"Users": json}), show::users_table(&users))
        }
        C::DeleteUser(u) => {
            let user = iam.delete_user(&u.user_name)?;
            Reply::done(format!("deleted user {}", user.name))
        }

        C::CreateGroup { who: g, path } => {
            let group = iam.create_group(&g.group_name, path.path.as_deref())?;
            Reply::new(
                json!({"Group": show::group(&group)}),
                show::groups_table(&[group]),
            )
        }
        C::GetGroup(g) => {
            let (group, users) = iam.get_group(&g.group_name)?;
            let json = json!({
                "Group": show::group(&group),
                "Users": users.iter().map(show::user).collect::<Vec<_>>(),
            });
            let text = format!(
                "{}\nUsers:\n{}",
                show::groups_table(std::slice::from_ref(&group)),
                show::users_table(&users)
            );
            Reply::new(json, text)
        }
        C::ListGroups(p) => {
            let groups = iam.list_groups(p.path_prefix.as_deref())?;
            let json: Vec<Value> = groups.iter().map(show::group).collect();
            Reply::new(json!({"Groups": json}), show::groups_table(&groups))
        }
        C::ListGroupsForUser(u) => {
            let groups = iam.list_groups_for_user(&u.user_name)?;
            let json: Vec<Value> = groups.iter().map(show::group).collect();
            Reply::new(json!({"Groups": json}), show::groups_table(&groups))
        }
        C::DeleteGroup(g) => {
            let group = iam.delete_group(&g.group_name)?;
            Reply::done(format!("deleted group {}", group.name))
        }
        C::AddUserToGroup { group: g, user: u } => {
            iam.add_user_to_group(&g.group_name, &u.user_name)?;
            Reply::done(format!(
                "added user {} to group {}",
                u.user_name, g.group_name
            ))
        }
        C::RemoveUserFromGroup { group: g, user: u } => {
            iam.remove_user_from_group(&g.group_name, &u.user_name)?;
            Reply::done(format!(
                "removed user {} from group {}",
                u.user_name, g.group_name
            ))
        }

        C::CreateRole {
            role,
            path,
            assume_role_policy_document,
        } => {
            let trust = assume_role_policy_document
                .as_deref()
                .map(|d| document_arg("assume-role-policy-document", d))
                .transpose()?;
            let r = iam.create_role(&role.role_name, path.path.as_deref(), trust.as_deref())?;
            Reply::new(json!({"Role": show::role(&r)}), show::roles_table(&[r]))
        }
        C::GetRole(r) => {
            let role = iam.get_role(&r.role_name)?;
            let mut text = show::roles_table(std::slice::from_ref(&role));
            if let Some(doc) = &role.assume_role_policy {
                text.push_str("\nAssumeRolePolicyDocument:\n");
                text.push_str(&show::document_text(doc.source()));
            }
            Reply::new(json!({"Role": show::role(&role)}), text)
        }
        C::ListRoles(p) => {
            let roles = iam.list_roles(p.path_prefix.as_deref())?;
            let json: Vec<Value> = roles.iter().map(show::role).collect();
            Reply::new(json!({"Roles": json}), show::roles_table(&roles))
        }
        C::DeleteRole(r) => {
            let role = iam.delete_role(&r.role_name)?;
            Reply::done(format!("deleted role {}", role.name))
        }

        C::CreateAccessKey(u) => {
            // A new key file only for the first secret: with secrets already sealed under
            // a key file that went missing, a fresh one would make them all unreadable.
            let stored = iam.list_access_keys(None)?.len();
            let key = if stored == 0 {
                MasterKey::load_or_create(&settings.key_file)
            } else {
                MasterKey::load(&settings.key_file)
            }
            .with_context(|| {
                format!("[iam] key_file (the store holds {stored} access key(s) sealed with it)")
            })?;
            show::created_key(&iam.create_access_key(&u.user_name, &key)?)
        }
        C::UpdateAccessKey { key, status } => {
            let k = iam.update_access_key(&key.access_key_id, *status, key.user_name.as_deref())?;
            Reply::done(format!("access key {} is {}", k.access_key_id, k.status))
        }
        C::DeleteAccessKey(key) => {
            let k = iam.delete_access_key(&key.access_key_id, key.user_name.as_deref())?;
            Reply::done(format!(
                "deleted access key {} of user {}",
                k.access_key_id, k.user_name
            ))
        }
        C::ListAccessKeys { user_name } => {
            let keys = iam.list_access_keys(user_name.as_deref())?;
            let json: Vec<Value> = keys.iter().map(show::key_metadata).collect();
            Reply::new(json!({"AccessKeyMetadata": json}), show::keys_table(&keys))
        }
        C::GetAccessKeyLastUsed { access_key_id } => {
            let key = iam
                .list_access_keys(None)?
                .into_iter()
                .find(|k| &k.access_key_id == access_key_id)
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "access key",
                    name: access_key_id.clone(),
                })?;
            let mut last = json!({"ServiceName": "rds-db", "Region": "N/A"});
            if let Some(t) = key.last_used {
                last["LastUsedDate"] = Value::String(show::date(t));
            } else {
                last["ServiceName"] = Value::String("N/A".into());
            }
            let text = show::fields(&[
                ("AccessKeyId", key.access_key_id.clone()),
                ("UserName", key.user_name.clone()),
                (
                    "LastUsedDate",
                    key.last_used
                        .map(show::date)
                        .unwrap_or_else(|| "never".into()),
                ),
            ]);
            Reply::new(
                json!({"UserName": key.user_name, "AccessKeyLastUsed": last}),
                text,
            )
        }

        C::PutUserPolicy { who: w, policy: p } => put_policy(iam, w, p)?,
        C::PutGroupPolicy { who: w, policy: p } => put_policy(iam, w, p)?,
        C::PutRolePolicy { who: w, policy: p } => put_policy(iam, w, p)?,
        C::GetUserPolicy { who: w, name: n } => get_policy(iam, w, &n.policy_name)?,
        C::GetGroupPolicy { who: w, name: n } => get_policy(iam, w, &n.policy_name)?,
        C::GetRolePolicy { who: w, name: n } => get_policy(iam, w, &n.policy_name)?,
        C::DeleteUserPolicy { who: w, name: n } => delete_policy(iam, w, &n.policy_name)?,
        C::DeleteGroupPolicy { who: w, name: n } => delete_policy(iam, w, &n.policy_name)?,
        C::DeleteRolePolicy { who: w, name: n } => delete_policy(iam, w, &n.policy_name)?,
        C::ListUserPolicies(w) => list_policies(iam, w)?,
        C::ListGroupPolicies(w) => list_policies(iam, w)?,
        C::ListRolePolicies(w) => list_policies(iam, w)?,

        C::CreatePolicy {
            policy: input,
            path,
        } => {
            let doc = document_arg("policy-document", &input.policy_document)?;
            let p = iam.create_policy(&input.policy_name, path.path.as_deref(), &doc)?;
            Reply::new(
                json!({"Policy": show::policy(&p, 0)}),
                show::policies_table(&[(p, 0)]),
            )
        }
        C::GetPolicy(a) => {
            let (p, n) = iam.get_policy(&a.policy_arn)?;
            Reply::new(
                json!({"Policy": show::policy(&p, n)}),
                show::policies_table(&[(p, n)]),
            )
        }
        C::GetPolicyVersion { arn, version_id } => {
            let (p, _) = iam.get_policy(&arn.policy_arn)?;
            if version_id != "v1" {
                return Err(StateError::IamNoSuchEntity {
                    kind: "policy version",
                    name: format!("{version_id} of {}", p.arn),
                }
                .into());
            }
            Reply::new(
                json!({"PolicyVersion": {
                    "Document": show::document(p.document.source()),
                    "VersionId": "v1",
                    "IsDefaultVersion": true,
                    "CreateDate": show::date(p.created),
                }}),
                show::document_text(p.document.source()),
            )
        }
        C::DeletePolicy(a) => {
            let p = iam.delete_policy(&a.policy_arn)?;
            Reply::done(format!("deleted policy {}", p.arn))
        }
        C::ListPolicies(prefix) => {
            let policies = iam.list_policies(prefix.path_prefix.as_deref())?;
            let json: Vec<Value> = policies.iter().map(|(p, n)| show::policy(p, *n)).collect();
            Reply::new(json!({"Policies": json}), show::policies_table(&policies))
        }
        C::AttachUserPolicy { who: w, arn: a } => attach(iam, w, &a.policy_arn)?,
        C::AttachGroupPolicy { who: w, arn: a } => attach(iam, w, &a.policy_arn)?,
        C::AttachRolePolicy { who: w, arn: a } => attach(iam, w, &a.policy_arn)?,
        C::DetachUserPolicy { who: w, arn: a } => detach(iam, w, &a.policy_arn)?,
        C::DetachGroupPolicy { who: w, arn: a } => detach(iam, w, &a.policy_arn)?,
        C::DetachRolePolicy { who: w, arn: a } => detach(iam, w, &a.policy_arn)?,
        C::ListAttachedUserPolicies(w) => list_attached(iam, w)?,
        C::ListAttachedGroupPolicies(w) => list_attached(iam, w)?,
        C::ListAttachedRolePolicies(w) => list_attached(iam, w)?,

        C::SimulatePrincipalPolicy(args) => simulate::run(&iam.policy_directory()?, args)?,
    })
}
