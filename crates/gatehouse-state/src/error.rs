//! [`StateError`]: everything a state store operation can refuse or fail with.

use std::net::IpAddr;
use std::path::PathBuf;

use gatehouse_iam::directory::names::NameError;
use gatehouse_iam::directory::{DirectoryError, SecretError};
use gatehouse_iam::policy::PolicyError;
use gatehouse_netacl::{GroupId, IngressRule, RuleId, Timestamp, ValidationError};

/// Why a [`crate::StateStore`] operation failed. Refusals of an operator's request carry
/// AWS's error code where AWS has one ([`StateError::code`]) and their message starts with
/// it; the message names the object (`sgr-…`, `member ADDR of sg-…`, `user alice`, or the
/// table and row of a stored row) and the field. No message ever holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file could not be created or opened, or SQLite cannot use it as required
    /// (for example WAL journaling is unavailable on that file system).
    #[error("state store {path}: {reason}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// SQLite reported an error (I/O, `database is locked` after the 5 s busy timeout, a
    /// constraint the code did not expect…). `context` says what the store was doing.
    #[error("state store: {context}: {source}")]
    Sqlite {
        /// The operation, e.g. `authorize_ingress`.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer gatehouse (its `PRAGMA user_version` is higher than
    /// the schema version this build knows, or negative); nothing is changed.
    #[error(
        "state store: schema version {found} is not one this gatehouse knows (it knows \
         0-{supported}); upgrade gatehouse or use a different state file"
    )]
    UnsupportedSchema {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build migrates to.
        supported: i64,
    },
    /// The rule or member breaks netacl's validation (AWS `InvalidParameterValue`,
    /// `InvalidGroup.NotFound`, `InvalidPrefixListID.NotFound`); every problem is listed.
    #[error("{}", join_errors(.0))]
    Invalid(Vec<ValidationError>),
    /// `expires_at` is not in the future, or does not fit SQLite's signed 64-bit integer.
    #[error("{object}: expires_at {expires_at} {reason}")]
    InvalidExpiry {
        /// The rule id or `member ADDR of sg-…`.
        object: String,
        /// The rejected expiry, in seconds since the Unix epoch.
        expires_at: u64,
        /// Why, e.g. `is not after now (…)`.
        reason: String,
    },
    /// A rule with the same group, protocol, port range and source already exists
    /// (AWS `InvalidPermission.Duplicate`).
    #[error(
        "InvalidPermission.Duplicate: {group} already allows {protocol} {ports} from {source} \
         (rule {existing} {place})",
        group = .rule.group_id,
        protocol = .rule.protocol,
        ports = .rule.port_text(),
        source = .rule.source,
        place = if *.in_config { "in the configuration file" } else { "in the state store" }
    )]
    DuplicatePermission {
        /// The rule that was refused.
        rule: Box<IngressRule>,
        /// The existing rule it duplicates.
        existing: RuleId,
        /// Whether `existing` comes from the configuration file (else the state store).
        in_config: bool,
    },
    /// The requested rule id is already taken by another rule.
    #[error(
        "InvalidSecurityGroupRuleId.Duplicate: {id} is already used by a rule {place}",
        place = if *.in_config { "in the configuration file" } else { "in the state store" }
    )]
    DuplicateRuleId {
        /// The id.
        id: RuleId,
        /// Whether the other rule comes from the configuration file.
        in_config: bool,
    },
    /// No stored rule has this id (AWS `InvalidPermission.NotFound`). Rules defined in the
    /// configuration file are never in the store and cannot be revoked through it.
    #[error(
        "InvalidPermission.NotFound: {id}: no such rule in the state store (rules defined \
         in the configuration file cannot be revoked here: remove them from the file and \
         reload)"
    )]
    RuleNotFound {
        /// The id asked for.
        id: RuleId,
    },
    /// No stored rule has this group, protocol, port range and source
    /// (AWS `InvalidPermission.NotFound`).
    #[error(
        "InvalidPermission.NotFound: {group} has no rule in the state store allowing \
         {protocol} {ports} from {peer} (rules defined in the configuration file cannot \
         be revoked here: remove them from the file and reload)"
    )]
    PermissionNotFound {
        /// The group.
        group: GroupId,
        /// `tcp` or `-1`.
        protocol: gatehouse_netacl::Protocol,
        /// The ports as text (`6432`, `6000-6999`, `all`).
        ports: String,
        /// The rule source asked for (`peer` as in AWS's messages; `source` would be taken
        /// for an error source).
        peer: gatehouse_netacl::Source,
    },
    /// The address is not a registered member of the group.
    #[error("InvalidMember.NotFound: {address} is not a registered member of {group}")]
    MemberNotFound {
        /// The group.
        group: GroupId,
        /// The address (IPv4-mapped IPv6 addresses are shown as IPv4).
        address: IpAddr,
    },
    /// A stored row cannot be read back as a rule, member or change (for example it was
    /// edited by hand). Nothing is skipped: the whole read fails until the row is fixed or
    /// deleted.
    #[error(
        "state store table {table}, row {rowid}{key}: {reason}; fix or delete that row",
        key = if .key.is_empty() { String::new() } else { format!(" ({})", .key) }
    )]
    CorruptRow {
        /// `rules`, `members` or `changes`.
        table: &'static str,
        /// SQLite's `rowid` of the row.
        rowid: i64,
        /// The row's key when it could be read (rule id, `member ADDR of sg-…`), else empty.
        key: String,
        /// Which column is wrong and how, e.g. `column to_port: 70000 is out of range`.
        reason: String,
    },
    /// An IAM name, path, account id or other parameter breaks AWS's rules
    /// (AWS `ValidationError`); the message names the field and the value.
    #[error("ValidationError: {0}")]
    IamValidation(NameError),
    /// An IAM entity of that name already exists (AWS `EntityAlreadyExists`). Names are
    /// compared ignoring case, as in AWS.
    #[error("EntityAlreadyExists: {kind} {name} already exists")]
    IamEntityExists {
        /// `user`, `group`, `role`, `policy`.
        kind: &'static str,
        /// The name (or ARN) asked for.
        name: String,
    },
    /// No such IAM entity (AWS `NoSuchEntity`).
    #[error("NoSuchEntity: {kind} {name} cannot be found")]
    IamNoSuchEntity {
        /// `user`, `group`, `role`, `access key`, `policy`, `user policy`, `attachment`, …
        kind: &'static str,
        /// Its name, id or ARN, with the principal where that matters
        /// (`db of user alice`).
        name: String,
    },
    /// An AWS quota would be exceeded (AWS `LimitExceeded`), e.g. a third access key.
    #[error("LimitExceeded: {object}: {message}")]
    IamLimitExceeded {
        /// The entity that would go over, e.g. `user alice`.
        object: String,
        /// Which quota, and its value.
        message: String,
    },
    /// The entity is still in use and cannot be deleted (AWS `DeleteConflict`).
    #[error("DeleteConflict: {object}: {message}")]
    IamDeleteConflict {
        /// The entity, e.g. `user alice`.
        object: String,
        /// What must be removed first.
        message: String,
    },
    /// A policy document was refused by the policy parser (AWS
    /// `MalformedPolicyDocument`); the message holds the JSON path of the problem.
    #[error("MalformedPolicyDocument: {object}: {error}")]
    MalformedPolicy {
        /// The policy, e.g. `inline policy db of user alice`.
        object: String,
        /// The parser's error (JSON path and message), shown in the message (so not
        /// repeated as a `source`).
        error: PolicyError,
    },
    /// A stored secret access key does not decrypt with the key file given (the wrong key
    /// file, or an altered or swapped row). Names the access key, never the secret.
    #[error("state store: {0}")]
    IamSecret(SecretError),
    /// The IAM rows do not fit together (a key of a missing user, an attachment of a
    /// missing policy…), for example after a hand edit.
    #[error("state store: the IAM tables are inconsistent: {0}; fix or delete that row")]
    IamInconsistent(DirectoryError),
    /// A change could not be encoded as JSON (not expected for netacl's types).
    #[error("state store: encoding the change log entry for {object}: {source}")]
    Json {
        /// The object being logged.
        object: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    /// AWS's error code for a refusal (`InvalidPermission.Duplicate`,
    /// `InvalidPermission.NotFound`, `InvalidParameterValue`, IAM's `EntityAlreadyExists`,
    /// `NoSuchEntity`, `LimitExceeded`, `DeleteConflict`, `MalformedPolicyDocument`,
    /// `ValidationError`…), or `None` for failures of
    /// the store itself (I/O, SQLite, corrupt rows, schema version). Codes without an AWS
    /// counterpart: `InvalidSecurityGroupRuleId.Duplicate` (operator-chosen ids) and
    /// `InvalidMember.NotFound`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            StateError::Invalid(errors) => Some(
                if errors
                    .iter()
                    .all(|e| matches!(e, ValidationError::UnknownGroup { .. }))
                {
                    "InvalidGroup.NotFound"
                } else if errors
                    .iter()
                    .all(|e| matches!(e, ValidationError::UnknownPrefixList { .. }))
                {
                    "InvalidPrefixListID.NotFound"
                } else {
                    "InvalidParameterValue"
                },
            ),
            StateError::InvalidExpiry { .. } => Some("InvalidParameterValue"),
            StateError::DuplicatePermission { .. } => Some("InvalidPermission.Duplicate"),
            StateError::DuplicateRuleId { .. } => Some("InvalidSecurityGroupRuleId.Duplicate"),
            StateError::RuleNotFound { .. } | StateError::PermissionNotFound { .. } => {
                Some("InvalidPermission.NotFound")
            }
            StateError::MemberNotFound { .. } => Some("InvalidMember.NotFound"),
            StateError::IamValidation(_) => Some("ValidationError"),
            StateError::IamEntityExists { .. } => Some("EntityAlreadyExists"),
            StateError::IamNoSuchEntity { .. } => Some("NoSuchEntity"),
            StateError::IamLimitExceeded { .. } => Some("LimitExceeded"),
            StateError::IamDeleteConflict { .. } => Some("DeleteConflict"),
            StateError::MalformedPolicy { .. } => Some("MalformedPolicyDocument"),
            StateError::Open { .. }
            | StateError::Sqlite { .. }
            | StateError::UnsupportedSchema { .. }
            | StateError::CorruptRow { .. }
            | StateError::IamSecret(_)
            | StateError::IamInconsistent(_)
            | StateError::Json { .. } => None,
        }
    }

    pub(crate) fn sqlite(context: impl Into<String>, source: rusqlite::Error) -> Self {
        StateError::Sqlite {
            context: context.into(),
            source,
        }
    }
}

fn join_errors(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Adds what the store was doing to a SQLite error.
pub(crate) trait SqlContext<T> {
    /// Maps the error to [`StateError::Sqlite`] with this context.
    fn ctx(self, context: &str) -> Result<T, StateError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, context: &str) -> Result<T, StateError> {
        self.map_err(|e| StateError::sqlite(context, e))
    }
}

/// A timestamp as the text shown in errors: RFC 3339 and the raw seconds.
pub(crate) fn show_time(t: Timestamp) -> String {
    format!("{t} ({})", t.as_secs())
}
