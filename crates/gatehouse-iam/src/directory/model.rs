//! The entities of the identity store: users, groups, roles, access keys, managed and
//! inline policies.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use super::trust::TrustPolicy;
use crate::policy::PolicyDocument;

/// An IAM user: a person or application with long-term access keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `[\w+=,.@-]{1,64}`, unique regardless of case.
    pub name: String,
    /// `AIDA` + 17 characters of `A-Z0-9`, as AWS makes them.
    pub user_id: String,
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    pub arn: String,
    /// `/` or `/…/`.
    pub path: String,
    /// When it was created (second precision).
    pub created: SystemTime,
}

/// An IAM group: a set of users that share policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `[\w+=,.@-]{1,128}`, unique regardless of case.
    pub name: String,
    /// `AGPA` + 17 characters of `A-Z0-9`.
    pub group_id: String,
    /// `arn:aws:iam::ACCOUNT:group/PATH/NAME`.
    pub arn: String,
    /// `/` or `/…/`.
    pub path: String,
    /// When it was created.
    pub created: SystemTime,
}

/// An IAM role: an identity with policies but no long-term keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// `[\w+=,.@-]{1,64}`, unique regardless of case.
    pub name: String,
    /// `AROA` + 17 characters of `A-Z0-9`.
    pub role_id: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub arn: String,
    /// `/` or `/…/`.
    pub path: String,
    /// When it was created.
    pub created: SystemTime,
    /// The trust policy (who may assume the role): checked for shape, stored and shown;
    /// not evaluated yet. Not a [`PolicyDocument`]: it names a `Principal`, which identity
    /// policies may not.
    pub assume_role_policy: Option<TrustPolicy>,
}

/// Whether an access key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Requests signed with it are accepted.
    Active,
    /// Kept, but requests signed with it are refused.
    Inactive,
}

impl KeyStatus {
    /// `Active` or `Inactive`, as AWS writes them.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status that is neither `Active` nor `Inactive`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Status {0:?}: expected Active or Inactive")]
pub struct UnknownStatus(pub String);

impl FromStr for KeyStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<KeyStatus, UnknownStatus> {
        match s {
            "Active" => Ok(KeyStatus::Active),
            "Inactive" => Ok(KeyStatus::Inactive),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// What is known about an access key without its secret (AWS `AccessKeyMetadata`): what
/// listings show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMetadata {
    /// `AKIA` + 16 characters of `A-Z2-7`.
    pub access_key_id: String,
    /// The user it belongs to.
    pub user_name: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// When it was created.
    pub created: SystemTime,
    /// When a request signed with it was last accepted, if ever.
    pub last_used: Option<SystemTime>,
}

/// An access key with its secret. The secret is never shown by [`fmt::Debug`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA` + 16 characters of `A-Z2-7`.
    pub access_key_id: String,
    /// The user it belongs to.
    pub user_name: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// When it was created.
    pub created: SystemTime,
    /// When a request signed with it was last accepted, if ever.
    pub last_used: Option<SystemTime>,
    secret: Vec<u8>,
}

impl AccessKey {
    /// An access key from its metadata and its secret (the 40-character secret access
    /// key, as bytes).
    pub fn new(metadata: AccessKeyMetadata, secret: Vec<u8>) -> AccessKey {
        AccessKey {
            access_key_id: metadata.access_key_id,
            user_name: metadata.user_name,
            status: metadata.status,
            created: metadata.created,
            last_used: metadata.last_used,
            secret,
        }
    }

    /// The secret access key (40 characters of `A-Za-z0-9+/`, as bytes): the SigV4
    /// signing secret.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Whether requests signed with it may be accepted.
    pub fn is_active(&self) -> bool {
        self.status == KeyStatus::Active
    }

    /// Everything but the secret.
    pub fn metadata(&self) -> AccessKeyMetadata {
        AccessKeyMetadata {
            access_key_id: self.access_key_id.clone(),
            user_name: self.user_name.clone(),
            status: self.status,
            created: self.created,
            last_used: self.last_used,
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("user_name", &self.user_name)
            .field("status", &self.status)
            .field("created", &self.created)
            .field("last_used", &self.last_used)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A customer managed policy: a named document that can be attached to users, groups
/// and roles.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicy {
    /// `[\w+=,.@-]{1,128}`, unique regardless of case.
    pub name: String,
    /// `ANPA` + 17 characters of `A-Z0-9`.
    pub policy_id: String,
    /// `arn:aws:iam::ACCOUNT:policy/PATH/NAME`: how it is attached and named in
    /// evaluation results.
    pub arn: String,
    /// `/` or `/…/`.
    pub path: String,
    /// The document (one version: gatehouse keeps no version history).
    pub document: PolicyDocument,
    /// When it was created.
    pub created: SystemTime,
}

/// An inline policy: a document embedded in one user, group or role.
#[derive(Debug, Clone, PartialEq)]
pub struct InlinePolicy {
    /// `[\w+=,.@-]{1,128}`, unique per principal regardless of case.
    pub name: String,
    /// The document.
    pub document: PolicyDocument,
}

/// The kind of principal a policy is embedded in or attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKind {
    /// An IAM user.
    User,
    /// An IAM group.
    Group,
    /// An IAM role.
    Role,
}

impl PrincipalKind {
    /// `user`, `group` or `role` (as in ARNs and the state store).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Group => "group",
            PrincipalKind::Role => "role",
        }
    }

    /// `User`, `Group` or `Role` (as in AWS's messages and field names).
    pub fn title(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Group => "Group",
            PrincipalKind::Role => "Role",
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalKind {
    type Err = String;
    fn from_str(s: &str) -> Result<PrincipalKind, String> {
        match s {
            "user" => Ok(PrincipalKind::User),
            "group" => Ok(PrincipalKind::Group),
            "role" => Ok(PrincipalKind::Role),
            other => Err(format!("{other:?} is not one of user, group, role")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let key = AccessKey::new(
            AccessKeyMetadata {
                access_key_id: "AKIAEXAMPLEEXAMPLE22".into(),
                user_name: "alice".into(),
                status: KeyStatus::Active,
                created: SystemTime::UNIX_EPOCH,
                last_used: None,
            },
            b"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00".to_vec(),
        );
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("AKIAEXAMPLEEXAMPLE22"));
        assert_eq!(key.secret(), b"wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00");
        assert!(key.is_active());
        assert_eq!(key.metadata().access_key_id, key.access_key_id);
    }

    #[test]
    fn status_words() {
        assert_eq!("Active".parse(), Ok(KeyStatus::Active));
        assert_eq!("Inactive".parse(), Ok(KeyStatus::Inactive));
        assert!("active".parse::<KeyStatus>().is_err());
        assert_eq!(KeyStatus::Inactive.to_string(), "Inactive");
        for k in [
            PrincipalKind::User,
            PrincipalKind::Group,
            PrincipalKind::Role,
        ] {
            assert_eq!(k.as_str().parse(), Ok(k));
        }
    }
}
