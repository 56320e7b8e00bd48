//! How IAM entities are shown: AWS-shaped JSON (the AWS CLI's field names) and text
//! tables for people. No function here sees a secret except [`created_key`].

use std::time::SystemTime;

use gatehouse_iam::directory::{AccessKey, AccessKeyMetadata, Group, ManagedPolicy, Role, User};
use serde_json::{json, Value};

use crate::output::{printable, table, MAX_MESSAGE};

/// What a command answers: its JSON (`Null`: nothing, as the AWS CLI prints nothing for
/// `delete-user` and the like), its text, and its exit code.
pub struct Reply {
    /// For `--format json`.
    pub json: Value,
    /// For people.
    pub text: String,
    /// 0, or 1 for a negative answer.
    pub code: u8,
}

impl Reply {
    /// An answer with both forms, exit 0.
    pub fn new(json: Value, text: String) -> Reply {
        Reply {
            json,
            text,
            code: 0,
        }
    }

    /// An answer with no JSON (AWS prints nothing), a line for people.
    pub fn done(text: String) -> Reply {
        Reply::new(Value::Null, format!("{text}\n"))
    }
}

/// A time as the AWS CLI prints it: `2026-05-01T12:00:00+00:00`.
pub fn date(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    match s.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => s,
    }
}

/// A policy document as the AWS CLI shows it: the JSON itself (text when it is not JSON).
pub fn document(source: &str) -> Value {
    serde_json::from_str(source).unwrap_or_else(|_| Value::String(source.into()))
}

/// `field  value` lines, aligned, values escaped.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:width$}  {}\n", printable(v, MAX_MESSAGE)));
    }
    out
}

/// `{"UserName","UserId","Arn","Path","CreateDate"}`.
pub fn user(u: &User) -> Value {
    json!({
        "Path": u.path,
        "UserName": u.name,
        "UserId": u.user_id,
        "Arn": u.arn,
        "CreateDate": date(u.created),
    })
}

/// `{"GroupName","GroupId","Arn","Path","CreateDate"}`.
pub fn group(g: &Group) -> Value {
    json!({
        "Path": g.path,
        "GroupName": g.name,
        "GroupId": g.group_id,
        "Arn": g.arn,
        "CreateDate": date(g.created),
    })
}

/// `{"RoleName","RoleId","Arn","Path","CreateDate","AssumeRolePolicyDocument"}`.
pub fn role(r: &Role) -> Value {
    let mut v = json!({
        "Path": r.path,
        "RoleName": r.name,
        "RoleId": r.role_id,
        "Arn": r.arn,
        "CreateDate": date(r.created),
    });
    if let Some(doc) = &r.assume_role_policy {
        v["AssumeRolePolicyDocument"] = document(doc.source());
    }
    v
}

/// `{"UserName","AccessKeyId","Status","CreateDate"}` (AWS's `AccessKeyMetadata`).
pub fn key_metadata(k: &AccessKeyMetadata) -> Value {
    json!({
        "UserName": k.user_name,
        "AccessKeyId": k.access_key_id,
        "Status": k.status.as_str(),
        "CreateDate": date(k.created),
    })
}

/// `{"PolicyName","PolicyId","Arn","Path","DefaultVersionId","AttachmentCount",
/// "IsAttachable","CreateDate","UpdateDate"}`.
pub fn policy(p: &ManagedPolicy, attachments: usize) -> Value {
    json!({
        "PolicyName": p.name,
        "PolicyId": p.policy_id,
        "Arn": p.arn,
        "Path": p.path,
        "DefaultVersionId": "v1",
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": true,
        "CreateDate": date(p.created),
        "UpdateDate": date(p.created),
    })
}

/// The one place a secret is shown: `create-access-key`'s answer.
pub fn created_key(k: &AccessKey) -> Reply {
    let secret = String::from_utf8_lossy(k.secret()).into_owned();
    let json = json!({"AccessKey": {
        "UserName": k.user_name,
        "AccessKeyId": k.access_key_id,
        "Status": k.status.as_str(),
        "SecretAccessKey": secret,
        "CreateDate": date(k.created),
    }});
    let text = fields(&[
        ("UserName", k.user_name.clone()),
        ("AccessKeyId", k.access_key_id.clone()),
        ("SecretAccessKey", secret),
        ("Status", k.status.to_string()),
        ("CreateDate", date(k.created)),
    ]) + "\nThe secret access key is shown only now: store it safely.\n";
    Reply::new(json, text)
}

/// A table of users.
pub fn users_table(users: &[User]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.user_id.clone(),
                u.path.clone(),
                u.arn.clone(),
                date(u.created),
            ]
        })
        .collect();
    table(&["UserName", "UserId", "Path", "Arn", "CreateDate"], &rows)
}

/// A table of groups.
pub fn groups_table(groups: &[Group]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                g.group_id.clone(),
                g.path.clone(),
                g.arn.clone(),
                date(g.created),
            ]
        })
        .collect();
    table(
        &["GroupName", "GroupId", "Path", "Arn", "CreateDate"],
        &rows,
    )
}

/// A table of roles.
pub fn roles_table(roles: &[Role]) -> String {
    let rows: Vec<Vec<String>> = roles
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.role_id.clone(),
                r.path.clone(),
                r.arn.clone(),
                date(r.created),
            ]
        })
        .collect();
    table(&["RoleName", "RoleId", "Path", "Arn", "CreateDate"], &rows)
}

/// A table of access keys (never a secret: metadata has none).
pub fn keys_table(keys: &[AccessKeyMetadata]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.access_key_id.clone(),
                k.user_name.clone(),
                k.status.to_string(),
                date(k.created),
                k.last_used.map(date).unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    table(
        &[
            "AccessKeyId",
            "UserName",
            "Status",
            "CreateDate",
            "LastUsedDate",
        ],
        &rows,
    )
}

/// A table of managed policies with their attachment counts.
pub fn policies_table(policies: &[(ManagedPolicy, usize)]) -> String {
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|(p, n)| {
            vec![
                p.name.clone(),
                p.arn.clone(),
                n.to_string(),
                date(p.created),
            ]
        })
        .collect();
    table(
        &["PolicyName", "Arn", "AttachmentCount", "CreateDate"],
        &rows,
    )
}

/// A policy document for people: pretty JSON (the text as stored when it is not JSON).
pub fn document_text(source: &str) -> String {
    let pretty = serde_json::from_str::<Value>(source)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| source.to_owned());
    // Escapes control characters the JSON could hold, line by line.
    pretty
        .lines()
        .map(|l| printable(l, usize::MAX))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_look_like_the_aws_cli() {
        let t = UNIX_EPOCH + Duration::from_secs(1_777_636_800);
        assert_eq!(date(t), "2026-05-01T12:00:00+00:00");
    }
}
