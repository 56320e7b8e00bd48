//! IAM policy documents (AWS's JSON grammar) and AWS's evaluation logic.
//!
//! PUBLIC INTERFACE FIXED — the bodies are being written. Other modules and crates code
//! against these signatures.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed, validated policy document (`{"Version": …, "Statement": […]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    source: String,
}

impl PolicyDocument {
    /// Parses and validates a document.
    ///
    /// # Errors
    /// [`PolicyError`] naming the JSON path of the first problem
    /// (`$.Statement[1].Condition.IpAddress.aws:SourceIp[0]`).
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        Ok(PolicyDocument {
            source: json.to_owned(),
        })
    }

    /// The document's text as given to [`PolicyDocument::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Why a document was refused: where (a JSON path from `$`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// JSON path of the offending value, e.g. `$.Statement[0].Effect`.
    pub path: String,
    /// What is wrong, e.g. `expected "Allow" or "Deny", found "allow"`.
    pub message: String,
}

/// One policy that applies to the principal: its name (inline policy name or managed
/// policy ARN) and document.
#[derive(Debug, Clone, Copy)]
pub struct AttachedPolicy<'a> {
    /// Inline policy name, or managed policy ARN.
    pub name: &'a str,
    /// The document.
    pub document: &'a PolicyDocument,
}

/// The request being authorized: action, resource and condition context keys.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// e.g. `rds-db:connect`.
    pub action: String,
    /// e.g. `arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/app_user`.
    pub resource: String,
    values: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A context with no condition keys.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> RequestContext {
        RequestContext {
            action: action.into(),
            resource: resource.into(),
            values: BTreeMap::new(),
        }
    }

    /// Sets a condition key (case-insensitive, like AWS) to one or more values, in
    /// their string form (`aws:SourceIp` = `"10.0.0.5"`, `aws:CurrentTime` =
    /// `"2026-11-29T18:00:00Z"`, `aws:SecureTransport` = `"true"`).
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.values.insert(key.to_ascii_lowercase(), values);
    }

    /// The values of a key, if present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// At least one Allow statement matched and no Deny did.
    Allow,
    /// A Deny statement matched (it beats any Allow).
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

/// Which statement decided: the policy's name, the statement's index and Sid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// [`AttachedPolicy::name`].
    pub policy: String,
    /// 0-based index in the document's `Statement` array.
    pub index: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{} statement {} (Sid {sid})", self.policy, self.index),
            None => write!(f, "{} statement {}", self.policy, self.index),
        }
    }
}

/// The decision and the statement that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Allow, explicit deny or implicit deny.
    pub decision: Decision,
    /// For `ExplicitDeny` the first matching Deny statement; for `Allow` the first
    /// matching Allow statement; `None` for `ImplicitDeny`.
    pub deciding: Option<StatementRef>,
}

/// AWS's evaluation logic for identity-based policies.
pub fn evaluate(_policies: &[AttachedPolicy<'_>], _ctx: &RequestContext) -> Evaluation {
    Evaluation {
        decision: Decision::ImplicitDeny,
        deciding: None,
    }
}
