//! Authentication methods named in the method column.

use std::fmt;

/// An authentication method of a pg_hba.conf line (`UserAuth` in PostgreSQL's hba.h),
/// plus gatehouse's extension `iam`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// `reject`: refuse the connection.
    Reject,
    /// `trust`: allow without a password.
    Trust,
    /// `ident`: ask the client host's ident server (RFC 1413); on `local` lines it becomes `peer`.
    Ident,
    /// `peer`: the OS user of a Unix-socket client.
    Peer,
    /// `password`: cleartext password.
    Password,
    /// `md5`: MD5 challenge (or SCRAM when the stored secret is SCRAM).
    Md5,
    /// `scram-sha-256`: SASL SCRAM-SHA-256.
    ScramSha256,
    /// `gss`: GSSAPI (Kerberos).
    Gss,
    /// `sspi`: Windows SSPI.
    Sspi,
    /// `pam`: PAM, with a cleartext password.
    Pam,
    /// `bsd`: BSD authentication.
    Bsd,
    /// `ldap`: LDAP bind with a cleartext password.
    Ldap,
    /// `cert`: TLS client certificate.
    Cert,
    /// `radius`: RADIUS with a cleartext password.
    Radius,
    /// `oauth`: OAuth bearer tokens (PostgreSQL 18).
    OAuth,
    /// `iam`: gatehouse extension, RDS-style SigV4 token checked against IAM policy.
    Iam,
}

impl AuthMethod {
    /// The keyword as written in pg_hba.conf and shown in `pg_hba_file_rules.auth_method`.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Reject => "reject",
            AuthMethod::Trust => "trust",
            AuthMethod::Ident => "ident",
            AuthMethod::Peer => "peer",
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::Gss => "gss",
            AuthMethod::Sspi => "sspi",
            AuthMethod::Pam => "pam",
            AuthMethod::Bsd => "bsd",
            AuthMethod::Ldap => "ldap",
            AuthMethod::Cert => "cert",
            AuthMethod::Radius => "radius",
            AuthMethod::OAuth => "oauth",
            AuthMethod::Iam => "iam",
        }
    }

    /// Whether the method is a gatehouse extension that PostgreSQL does not know.
    pub fn is_extension(self) -> bool {
        matches!(self, AuthMethod::Iam)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
