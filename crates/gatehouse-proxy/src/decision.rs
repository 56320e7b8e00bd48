//! The decision log: one structured event per connection attempt (tracing
//! target `gatehouse::decision`; JSON when the subscriber is configured so).
//! It names the source, TLS, user, database, the pg_hba line that matched, the
//! method, the outcome and the detailed reason — never a password or token.

use std::borrow::Cow;
use std::net::SocketAddr;

/// `s` with control characters (newlines, ESC, …) written as `\n`, `\u{1b}`: user
/// and database names come from the client, and must not forge log lines or drive
/// a terminal in the text format.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How the attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Authenticated and connected upstream; the session is relayed.
    Allowed,
    /// Refused by pg_hba or authentication.
    Refused,
    /// Authenticated, but the upstream could not be reached or refused the login.
    UpstreamFailed,
    /// The client broke the protocol, went away or ran out of time before a decision.
    Aborted,
    /// A CancelRequest (forwarded or dropped).
    Cancel,
    /// Layer 1: no ingress rule allows the source; closed before a byte was read.
    NetworkDenied,
    /// Layer 1: a live session ended because a changed rule no longer allows it.
    NetworkRevoked,
}

impl Outcome {
    /// Lower-case name used in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused => "refused",
            Outcome::UpstreamFailed => "upstream_failed",
            Outcome::Aborted => "aborted",
            Outcome::Cancel => "cancel",
            Outcome::NetworkDenied => "network_denied",
            Outcome::NetworkRevoked => "network_revoked",
        }
    }
}

/// The facts of one decision, filled in as the connection goes through the phases.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Gateway-wide connection number.
    pub conn_id: u64,
    /// The client's address (after any PROXY header).
    pub source: Option<SocketAddr>,
    /// Layer 1's verdict, e.g. `allowed by sgr-… of sg-… (10.0.0.0/8)`.
    pub network: Option<String>,
    /// TLS in use (`None` until negotiated).
    pub tls: bool,
    /// TLS client certificate subject DN, if one was verified.
    pub client_dn: Option<String>,
    /// StartupMessage user.
    pub user: Option<String>,
    /// StartupMessage database.
    pub database: Option<String>,
    /// The matching pg_hba line as `file:line`.
    pub hba_line: Option<String>,
    /// The matching line's method.
    pub method: Option<&'static str>,
    /// pg_ident line that allowed a mapped name, as `file:line`.
    pub ident_line: Option<String>,
    /// The `iam` method's facts: principal, access key and the deciding statement,
    /// e.g. `arn:aws:iam::123456789012:user/app key AKIA… allowed by app statement 0 (Sid Connect)`.
    pub iam: Option<String>,
    /// SQLSTATE sent to the client, if refused.
    pub sqlstate: Option<String>,
}

impl Decision {
    /// Writes the event.
    pub fn log(&self, outcome: Outcome, reason: &str) {
        let source = self.source.map(|s| s.to_string()).unwrap_or_default();
        let opt = |o: &Option<String>| printable(o.as_deref().unwrap_or_default()).into_owned();
        let reason = printable(reason);
        tracing::info!(
            target: "gatehouse::decision",
            conn = self.conn_id,
            source = %source,
            network = %opt(&self.network),
            tls = self.tls,
            client_dn = %opt(&self.client_dn),
            user = %opt(&self.user),
            database = %opt(&self.database),
            hba_line = %opt(&self.hba_line),
            method = self.method.unwrap_or(""),
            ident_line = %opt(&self.ident_line),
            iam = %opt(&self.iam),
            outcome = outcome.as_str(),
            sqlstate = self.sqlstate.as_deref().unwrap_or(""),
            reason = %reason,
            "connection decision"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(
            printable("evil\n2026 INFO outcome=\"allowed\"\u{1b}[2J"),
            "evil\\n2026 INFO outcome=\"allowed\"\\u{1b}[2J"
        );
    }
}
