//! What a refused client is told, in PostgreSQL's words and SQLSTATEs.
//!
//! A [`Refusal`] pairs the client-safe text (as PostgreSQL 16+ `auth.c`
//! `ClientAuthentication()` / `auth_failed()` words it; 15 where it differs) with
//! the detailed reason that only goes to the decision log.

use std::net::IpAddr;

use gatehouse_hba::{AuthMethod, PgVersion};

use crate::protocol::{ErrorFields, Severity};

/// One refusal: SQLSTATE, client message, and the reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Five-character SQLSTATE.
    pub sqlstate: &'static str,
    /// What the client reads (PostgreSQL's wording).
    pub message: String,
    /// PostgreSQL's errdetail for the client, when it sends one.
    pub detail: Option<String>,
    /// Why, in detail; never a secret. Goes to the decision log only.
    pub reason: String,
}

impl Refusal {
    /// A refusal with its parts.
    pub fn new(
        sqlstate: &'static str,
        message: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            sqlstate,
            message: message.into(),
            detail: None,
            reason: reason.into(),
        }
    }

    /// The same refusal with a client-visible detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The same refusal with another SQLSTATE.
    pub fn with_sqlstate(mut self, sqlstate: &'static str) -> Self {
        self.sqlstate = sqlstate;
        self
    }

    /// The FATAL ErrorResponse the client gets.
    pub fn to_error_fields(&self) -> ErrorFields {
        let f = ErrorFields::new(Severity::Fatal, self.sqlstate, self.message.clone());
        match &self.detail {
            Some(d) => f.with_detail(d),
            None => f,
        }
    }
}

/// The connection facts the refusal texts quote.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// Client address; `None` for a Unix socket (`[local]`).
    pub addr: Option<IpAddr>,
    /// TLS in use.
    pub ssl: bool,
    /// StartupMessage user.
    pub user: &'a str,
    /// StartupMessage database.
    pub database: &'a str,
    /// A physical replication connection.
    pub replication: bool,
    /// Whose wording: 15 says "SSL off/on", 16+ "no encryption/SSL encryption".
    pub version: PgVersion,
}

impl Who<'_> {
    fn host(&self) -> String {
        match self.addr {
            Some(a) => a.to_string(),
            None => "[local]".to_string(),
        }
    }

    fn encryption(&self) -> &'static str {
        match (self.version, self.ssl) {
            (PgVersion::V15, true) => "SSL on",
            (PgVersion::V15, false) => "SSL off",
            (_, true) => "SSL encryption",
            (_, false) => "no encryption",
        }
    }

    /// `host "…", user "…", database "…", <encryption>` (or the replication form).
    fn tail(&self, replication_lead: &str, normal_lead: &str) -> String {
        if self.replication {
            format!(
                "{replication_lead} host \"{}\", user \"{}\", {}",
                self.host(),
                self.user,
                self.encryption()
            )
        } else {
            format!(
                "{normal_lead} host \"{}\", user \"{}\", database \"{}\", {}",
                self.host(),
                self.user,
                self.database,
                self.encryption()
            )
        }
    }
}

/// 28000 `no pg_hba.conf entry for …`.
pub fn no_hba_entry(who: &Who<'_>) -> Refusal {
    let msg = who.tail(
        "no pg_hba.conf entry for replication connection from",
        "no pg_hba.conf entry for",
    );
    Refusal::new("28000", msg, "no pg_hba.conf line matched")
}

/// 28000 `pg_hba.conf rejects connection for …` (a `reject` line matched).
pub fn hba_rejects(who: &Who<'_>, file: &str, line: u32) -> Refusal {
    let msg = who.tail(
        "pg_hba.conf rejects replication connection for",
        "pg_hba.conf rejects connection for",
    );
    Refusal::new("28000", msg, format!("reject line {file}:{line} matched"))
}

/// PostgreSQL's `auth_failed()`: the method's failure text, SQLSTATE 28P01 for
/// password methods, 28000 for the others. `reason` goes to the log only.
pub fn auth_failed(method: AuthMethod, user: &str, reason: impl Into<String>) -> Refusal {
    let (sqlstate, what) = match method {
        AuthMethod::Password | AuthMethod::Md5 | AuthMethod::ScramSha256 => ("28P01", "password"),
        AuthMethod::Cert => ("28000", "certificate"),
        AuthMethod::Ldap => ("28000", "LDAP"),
        AuthMethod::Gss => ("28000", "GSSAPI"),
        AuthMethod::Sspi => ("28000", "SSPI"),
        AuthMethod::Peer => ("28000", "Peer"),
        AuthMethod::Ident => ("28000", "Ident"),
        AuthMethod::Radius => ("28000", "RADIUS"),
        AuthMethod::Bsd => ("28000", "BSD"),
        // RDS words IAM failures as PAM failures; gatehouse follows it.
        AuthMethod::Pam | AuthMethod::Iam => ("28P01", "PAM"),
        AuthMethod::OAuth => ("28000", "OAuth bearer"),
        AuthMethod::Trust | AuthMethod::Reject => ("28000", "authentication"),
    };
    let message = if what == "authentication" {
        format!("authentication failed for user \"{user}\"")
    } else {
        format!("{what} authentication failed for user \"{user}\"")
    };
    Refusal::new(sqlstate, message, reason)
}

/// 28000 `connection requires a valid client certificate` (clientcert=verify-ca
/// or verify-full without a verified certificate).
pub fn certificate_required() -> Refusal {
    Refusal::new(
        "28000",
        "connection requires a valid client certificate",
        "the line needs a client certificate and none was verified",
    )
}

/// 08P01 for a client that broke the authentication protocol.
pub fn protocol_violation(message: impl Into<String>, reason: impl Into<String>) -> Refusal {
    Refusal::new("08P01", message, reason)
}

/// 08006 `could not connect to the database server`: the upstream is unreachable
/// or did not answer within the connect timeout.
pub fn upstream_unavailable(reason: impl Into<String>) -> Refusal {
    Refusal::new(
        "08006",
        "could not connect to the database server through gatehouse",
        reason,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(ssl: bool, version: PgVersion, replication: bool) -> Who<'static> {
        Who {
            addr: Some("127.0.0.2".parse().expect("ip")),
            ssl,
            user: "alice",
            database: "shop",
            replication,
            version,
        }
    }

    #[test]
    fn texts_follow_postgresql_versions() {
        assert_eq!(
            no_hba_entry(&who(false, PgVersion::V18, false)).message,
            "no pg_hba.conf entry for host \"127.0.0.2\", user \"alice\", database \"shop\", no encryption"
        );
        assert_eq!(
            no_hba_entry(&who(true, PgVersion::V15, false)).message,
            "no pg_hba.conf entry for host \"127.0.0.2\", user \"alice\", database \"shop\", SSL on"
        );
        assert_eq!(
            hba_rejects(&who(true, PgVersion::V16, true), "f", 1).message,
            "pg_hba.conf rejects replication connection for host \"127.0.0.2\", user \"alice\", SSL encryption"
        );
        let r = auth_failed(AuthMethod::ScramSha256, "alice", "wrong proof");
        assert_eq!(r.sqlstate, "28P01");
        assert_eq!(
            r.message,
            "password authentication failed for user \"alice\""
        );
    }
}
