//! Users, groups, roles and group membership.

use gatehouse_iam::directory::names::{self, IdPrefix};
use gatehouse_iam::directory::{Group, PrincipalKind, Role, TrustPolicy, User};
use rusqlite::{params, Connection};
use serde_json::json;

use super::{
    check_path, check_principal_name, now, policy_size, principal_name, rows, IamStore,
    MAX_GROUPS_PER_USER, MAX_TRUST_POLICY_SIZE,
};
use crate::change::ChangeAction;
use crate::error::{SqlContext, StateError};
use crate::rows::log_change;

/// How many times a generated unique id is drawn again when taken (~88 random bits).
const ID_ATTEMPTS: usize = 8;

/// A fresh unique id (`AIDA…`) not yet used in `table`.`column`.
pub(super) fn fresh_id(
    conn: &Connection,
    prefix: IdPrefix,
    table: &str,
    column: &str,
) -> Result<String, StateError> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)");
    let mut id = names::generate_unique_id(prefix);
    for _ in 0..ID_ATTEMPTS {
        let taken: bool = conn
            .query_row(&sql, params![id], |row| row.get(0))
            .ctx("generating an id")?;
        if !taken {
            return Ok(id);
        }
        id = names::generate_unique_id(prefix);
    }
    Err(StateError::IamEntityExists {
        kind: "unique id",
        name: id,
    })
}

fn exists_error(
    conn: &Connection,
    kind: PrincipalKind,
    name: &str,
) -> Result<Option<StateError>, StateError> {
    Ok(match principal_name(conn, kind, name) {
        Ok(stored) => Some(StateError::IamEntityExists {
            kind: kind.as_str(),
            name: stored,
        }),
        Err(StateError::IamNoSuchEntity { .. }) => None,
        Err(e) => return Err(e),
    })
}

/// What a principal still has that blocks its deletion, as AWS lists it.
fn blockers(conn: &Connection, kind: PrincipalKind, name: &str) -> Result<Vec<String>, StateError> {
    let mut out = Vec::new();
    if kind == PrincipalKind::User {
        let keys: Vec<String> = rows::access_keys(conn, "user_name = ?1", params![name])?
            .into_iter()
            .map(|(k, _)| k.access_key_id)
            .collect();
        if !keys.is_empty() {
            out.push(format!("delete its access keys ({})", keys.join(", ")));
        }
        let groups: Vec<String> = rows::memberships(conn, "user_name = ?1", params![name])?
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        if !groups.is_empty() {
            out.push(format!("remove it from its groups ({})", groups.join(", ")));
        }
    }
    if kind == PrincipalKind::Group {
        let users: Vec<String> = rows::memberships(conn, "group_name = ?1", params![name])?
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        if !users.is_empty() {
            out.push(format!("remove its users ({})", users.join(", ")));
        }
    }
    let filter = "principal_kind = ?1 AND principal_name = ?2";
    let inline: Vec<String> = rows::inline_policies(conn, filter, params![kind.as_str(), name])?
        .into_iter()
        .map(|row| row.policy.name)
        .collect();
    if !inline.is_empty() {
        out.push(format!(
            "delete its inline policies ({})",
            inline.join(", ")
        ));
    }
    let attached: Vec<String> = rows::attachments(conn, filter, params![kind.as_str(), name])?
        .into_iter()
        .map(|(_, _, arn)| arn)
        .collect();
    if !attached.is_empty() {
        out.push(format!(
            "detach its managed policies ({})",
            attached.join(", ")
        ));
    }
    Ok(out)
}

fn check_deletable(conn: &Connection, kind: PrincipalKind, name: &str) -> Result<(), StateError> {
    let blocking = blockers(conn, kind, name)?;
    if blocking.is_empty() {
        return Ok(());
    }
    Err(StateError::IamDeleteConflict {
        object: format!("{kind} {name}"),
        message: format!("cannot delete entity, first {}", blocking.join("; ")),
    })
}

fn delete_principal(conn: &Connection, kind: PrincipalKind, name: &str) -> Result<(), StateError> {
    let sql = format!(
        "DELETE FROM {} WHERE name = ?1",
        super::principal_table(kind)
    );
    conn.execute(&sql, params![name]).ctx("deleting")?;
    Ok(())
}

fn user_detail(u: &User) -> serde_json::Value {
    json!({"UserName": u.name, "UserId": u.user_id, "Arn": u.arn, "Path": u.path})
}

fn group_detail(g: &Group) -> serde_json::Value {
    json!({"GroupName": g.name, "GroupId": g.group_id, "Arn": g.arn, "Path": g.path})
}

fn role_detail(r: &Role) -> serde_json::Value {
    json!({
        "RoleName": r.name,
        "RoleId": r.role_id,
        "Arn": r.arn,
        "Path": r.path,
        "AssumeRolePolicyDocument": r.assume_role_policy.as_ref().map(|d| d.source()),
    })
}

fn with_prefix<T>(items: Vec<T>, prefix: Option<&str>, path: impl Fn(&T) -> &str) -> Vec<T> {
    match prefix {
        None => items,
        Some(p) => items
            .into_iter()
            .filter(|i| path(i).starts_with(p))
            .collect(),
    }
}

impl IamStore<'_> {
    /// Creates a user (AWS `CreateUser`) at `path` (default `/`).
    ///
    /// # Errors
    /// [`StateError::IamValidation`] for a bad name or path;
    /// [`StateError::IamEntityExists`] when a user of that name (any case) exists;
    /// [`StateError::Sqlite`].
    pub fn create_user(&self, name: &str, path: Option<&str>) -> Result<User, StateError> {
        check_principal_name(PrincipalKind::User, name)?;
        let path = check_path(path)?;
        let (at, created) = now();
        self.store.write("iam create_user", |tx| {
            if let Some(e) = exists_error(tx, PrincipalKind::User, name)? {
                return Err(e);
            }
            let user = User {
                user_id: fresh_id(tx, IdPrefix::User, "iam_users", "user_id")?,
                arn: names::arn(self.account_id, "user", &path, name),
                name: name.to_owned(),
                path,
                created,
            };
            tx.execute(
                "INSERT INTO iam_users (name, user_id, path, created) VALUES (?1, ?2, ?3, ?4)",
                params![user.name, user.user_id, user.path, rows::to_secs(created)],
            )
            .ctx("storing the user")?;
            log_change(
                tx,
                at,
                ChangeAction::IamCreateUser,
                &user.arn,
                &user_detail(&user),
            )?;
            Ok(user)
        })
    }

    /// The user of that name (any case) (AWS `GetUser`).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`]; [`StateError::IamValidation`] for a bad name.
    pub fn get_user(&self, name: &str) -> Result<User, StateError> {
        check_principal_name(PrincipalKind::User, name)?;
        self.store.read("iam get_user", |tx| {
            rows::users(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "user",
                    name: name.to_owned(),
                })
        })
    }

    /// Every user whose path starts with `path_prefix` (all when `None`), by name
    /// (AWS `ListUsers`).
    ///
    /// # Errors
    /// [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn list_users(&self, path_prefix: Option<&str>) -> Result<Vec<User>, StateError> {
        let users = self.store.read("iam list_users", |tx| {
            rows::users(tx, self.account_id, "1", [])
        })?;
        Ok(with_prefix(users, path_prefix, |u| &u.path))
    }

    /// Deletes a user (AWS `DeleteUser`) and returns it. Refused while it has access keys,
    /// inline or attached policies, or group memberships.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`]; [`StateError::IamDeleteConflict`] listing what
    /// must go first.
    pub fn delete_user(&self, name: &str) -> Result<User, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_user", |tx| {
            let name = principal_name(tx, PrincipalKind::User, name)?;
            check_deletable(tx, PrincipalKind::User, &name)?;
            let user = rows::users(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "user",
                    name: name.clone(),
                })?;
            delete_principal(tx, PrincipalKind::User, &name)?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeleteUser,
                &user.arn,
                &user_detail(&user),
            )?;
            Ok(user)
        })
    }

    /// Creates a group (AWS `CreateGroup`) at `path` (default `/`).
    ///
    /// # Errors
    /// As [`IamStore::create_user`].
    pub fn create_group(&self, name: &str, path: Option<&str>) -> Result<Group, StateError> {
        check_principal_name(PrincipalKind::Group, name)?;
        let path = check_path(path)?;
        let (at, created) = now();
        self.store.write("iam create_group", |tx| {
            if let Some(e) = exists_error(tx, PrincipalKind::Group, name)? {
                return Err(e);
            }
            let group = Group {
                group_id: fresh_id(tx, IdPrefix::Group, "iam_groups", "group_id")?,
                arn: names::arn(self.account_id, "group", &path, name),
                name: name.to_owned(),
                path,
                created,
            };
            tx.execute(
                "INSERT INTO iam_groups (name, group_id, path, created) VALUES (?1, ?2, ?3, ?4)",
                params![
                    group.name,
                    group.group_id,
                    group.path,
                    rows::to_secs(created)
                ],
            )
            .ctx("storing the group")?;
            log_change(
                tx,
                at,
                ChangeAction::IamCreateGroup,
                &group.arn,
                &group_detail(&group),
            )?;
            Ok(group)
        })
    }

    /// The group and its users, by name (AWS `GetGroup`).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn get_group(&self, name: &str) -> Result<(Group, Vec<User>), StateError> {
        check_principal_name(PrincipalKind::Group, name)?;
        self.store.read("iam get_group", |tx| {
            let group = rows::groups(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "group",
                    name: name.to_owned(),
                })?;
            let users = rows::users(
                tx,
                self.account_id,
                "name IN (SELECT user_name FROM iam_group_members WHERE group_name = ?1)",
                params![group.name],
            )?;
            Ok((group, users))
        })
    }

    /// Every group whose path starts with `path_prefix`, by name (AWS `ListGroups`).
    ///
    /// # Errors
    /// [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn list_groups(&self, path_prefix: Option<&str>) -> Result<Vec<Group>, StateError> {
        let groups = self.store.read("iam list_groups", |tx| {
            rows::groups(tx, self.account_id, "1", [])
        })?;
        Ok(with_prefix(groups, path_prefix, |g| &g.path))
    }

    /// The groups a user belongs to, by name (AWS `ListGroupsForUser`).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown user.
    pub fn list_groups_for_user(&self, user: &str) -> Result<Vec<Group>, StateError> {
        self.store.read("iam list_groups_for_user", |tx| {
            let user = principal_name(tx, PrincipalKind::User, user)?;
            rows::groups(
                tx,
                self.account_id,
                "name IN (SELECT group_name FROM iam_group_members WHERE user_name = ?1)",
                params![user],
            )
        })
    }

    /// Deletes a group (AWS `DeleteGroup`); refused while it has users or policies.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`]; [`StateError::IamDeleteConflict`].
    pub fn delete_group(&self, name: &str) -> Result<Group, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_group", |tx| {
            let name = principal_name(tx, PrincipalKind::Group, name)?;
            check_deletable(tx, PrincipalKind::Group, &name)?;
            let group = rows::groups(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "group",
                    name: name.clone(),
                })?;
            delete_principal(tx, PrincipalKind::Group, &name)?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeleteGroup,
                &group.arn,
                &group_detail(&group),
            )?;
            Ok(group)
        })
    }

    /// Adds a user to a group (AWS `AddUserToGroup`). Adding a member again changes
    /// nothing (and logs nothing).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown user or group;
    /// [`StateError::IamLimitExceeded`] past [`MAX_GROUPS_PER_USER`].
    pub fn add_user_to_group(&self, group: &str, user: &str) -> Result<(), StateError> {
        let (at, _) = now();
        self.store.write("iam add_user_to_group", |tx| {
            let group = principal_name(tx, PrincipalKind::Group, group)?;
            let user = principal_name(tx, PrincipalKind::User, user)?;
            let current = rows::memberships(tx, "user_name = ?1", params![user])?;
            if current.iter().any(|(g, _)| g.eq_ignore_ascii_case(&group)) {
                return Ok(());
            }
            if current.len() >= MAX_GROUPS_PER_USER {
                return Err(StateError::IamLimitExceeded {
                    object: format!("user {user}"),
                    message: format!(
                        "cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
                    ),
                });
            }
            tx.execute(
                "INSERT INTO iam_group_members (group_name, user_name) VALUES (?1, ?2)",
                params![group, user],
            )
            .ctx("storing the membership")?;
            log_change(
                tx,
                at,
                ChangeAction::IamAddUserToGroup,
                &format!("user {user} in group {group}"),
                &json!({"GroupName": group, "UserName": user}),
            )?;
            Ok(())
        })
    }

    /// Removes a user from a group (AWS `RemoveUserFromGroup`).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`] for an unknown user or group, or a user that is not
    /// a member.
    pub fn remove_user_from_group(&self, group: &str, user: &str) -> Result<(), StateError> {
        let (at, _) = now();
        self.store.write("iam remove_user_from_group", |tx| {
            let group = principal_name(tx, PrincipalKind::Group, group)?;
            let user = principal_name(tx, PrincipalKind::User, user)?;
            let n = tx
                .execute(
                    "DELETE FROM iam_group_members WHERE group_name = ?1 AND user_name = ?2",
                    params![group, user],
                )
                .ctx("removing the membership")?;
            if n == 0 {
                return Err(StateError::IamNoSuchEntity {
                    kind: "group member",
                    name: format!("{user} of group {group}"),
                });
            }
            log_change(
                tx,
                at,
                ChangeAction::IamRemoveUserFromGroup,
                &format!("user {user} in group {group}"),
                &json!({"GroupName": group, "UserName": user}),
            )?;
            Ok(())
        })
    }

    /// Creates a role (AWS `CreateRole`) with an optional trust policy (AWS requires one;
    /// gatehouse checks its shape with [`TrustPolicy::parse`] and stores it, but does not
    /// evaluate it yet).
    ///
    /// # Errors
    /// As [`IamStore::create_user`], and [`StateError::MalformedPolicy`] for a trust policy
    /// the parser refuses, [`StateError::IamLimitExceeded`] for one over
    /// [`MAX_TRUST_POLICY_SIZE`].
    pub fn create_role(
        &self,
        name: &str,
        path: Option<&str>,
        assume_role_policy: Option<&str>,
    ) -> Result<Role, StateError> {
        check_principal_name(PrincipalKind::Role, name)?;
        let path = check_path(path)?;
        let object = format!("trust policy of role {name}");
        let trust = assume_role_policy
            .map(|text| {
                TrustPolicy::parse(text).map_err(|error| StateError::MalformedPolicy {
                    object: object.clone(),
                    error,
                })
            })
            .transpose()?;
        if let Some(text) = assume_role_policy {
            let size = policy_size(text);
            if size > MAX_TRUST_POLICY_SIZE {
                return Err(StateError::IamLimitExceeded {
                    object,
                    message: format!(
                        "cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY_SIZE} \
                         (it has {size} characters other than white space)"
                    ),
                });
            }
        }
        let (at, created) = now();
        self.store.write("iam create_role", |tx| {
            if let Some(e) = exists_error(tx, PrincipalKind::Role, name)? {
                return Err(e);
            }
            let role = Role {
                role_id: fresh_id(tx, IdPrefix::Role, "iam_roles", "role_id")?,
                arn: names::arn(self.account_id, "role", &path, name),
                name: name.to_owned(),
                path,
                created,
                assume_role_policy: trust,
            };
            tx.execute(
                "INSERT INTO iam_roles (name, role_id, path, created, assume_role_policy) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    role.name,
                    role.role_id,
                    role.path,
                    rows::to_secs(created),
                    assume_role_policy
                ],
            )
            .ctx("storing the role")?;
            log_change(
                tx,
                at,
                ChangeAction::IamCreateRole,
                &role.arn,
                &role_detail(&role),
            )?;
            Ok(role)
        })
    }

    /// The role of that name (AWS `GetRole`).
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`].
    pub fn get_role(&self, name: &str) -> Result<Role, StateError> {
        check_principal_name(PrincipalKind::Role, name)?;
        self.store.read("iam get_role", |tx| {
            rows::roles(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "role",
                    name: name.to_owned(),
                })
        })
    }

    /// Every role whose path starts with `path_prefix`, by name (AWS `ListRoles`).
    ///
    /// # Errors
    /// [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn list_roles(&self, path_prefix: Option<&str>) -> Result<Vec<Role>, StateError> {
        let roles = self.store.read("iam list_roles", |tx| {
            rows::roles(tx, self.account_id, "1", [])
        })?;
        Ok(with_prefix(roles, path_prefix, |r| &r.path))
    }

    /// Deletes a role (AWS `DeleteRole`); refused while it has inline or attached
    /// policies.
    ///
    /// # Errors
    /// [`StateError::IamNoSuchEntity`]; [`StateError::IamDeleteConflict`].
    pub fn delete_role(&self, name: &str) -> Result<Role, StateError> {
        let (at, _) = now();
        self.store.write("iam delete_role", |tx| {
            let name = principal_name(tx, PrincipalKind::Role, name)?;
            check_deletable(tx, PrincipalKind::Role, &name)?;
            let role = rows::roles(tx, self.account_id, "name = ?1", params![name])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::IamNoSuchEntity {
                    kind: "role",
                    name: name.clone(),
                })?;
            delete_principal(tx, PrincipalKind::Role, &name)?;
            log_change(
                tx,
                at,
                ChangeAction::IamDeleteRole,
                &role.arn,
                &role_detail(&role),
            )?;
            Ok(role)
        })
    }
}
