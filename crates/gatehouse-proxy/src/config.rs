//! The gateway's run-time configuration: already loaded and validated (the CLI
//! reads `gatehouse.toml` and the files it names into these types).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_hba::{HbaFile, IdentFile, InterfaceAddr, PgVersion};

use crate::auth::Userlist;
use crate::catalog::SecretSource;
use crate::tls::ServerTls;

/// Everything one gateway needs.
pub struct GatewayConfig {
    /// TCP listen addresses.
    pub listen: Vec<SocketAddr>,
    /// TLS for clients (SSLRequest and direct TLS); `None` answers 'N'.
    pub tls: Option<Arc<ServerTls>>,
    /// pg_hba.conf and pg_ident.conf.
    pub rules: Arc<Rules>,
    /// Where connections go and how gatehouse logs in there.
    pub upstream: Arc<Upstream>,
    /// Where client secrets and memberships come from.
    pub secrets: Arc<SecretSource>,
    /// Time budgets.
    pub limits: Limits,
    /// Layer 1: security groups per listener (index = `listen` index).
    pub network: crate::network::NetworkPolicy,
    /// PROXY protocol from trusted balancers (all listeners).
    pub proxy: Option<crate::proxy_header::ProxySettings>,
    /// The `iam` method's settings and directory (`None`: no `[iam]` section, so
    /// `iam` lines refuse every client).
    pub iam: Option<Arc<crate::iam::IamGate>>,
}

/// The loaded pg_hba.conf / pg_ident.conf and the facts matching needs.
pub struct Rules {
    /// pg_hba.conf (loadable: the CLI refuses a file PostgreSQL would refuse).
    pub hba: HbaFile,
    /// pg_ident.conf.
    pub ident: IdentFile,
    /// Whose semantics and wording (15 or 16+).
    pub version: PgVersion,
    /// This machine's interfaces, for `samehost` / `samenet`.
    pub interfaces: Vec<InterfaceAddr>,
    /// Whether any line uses `+group`, `samerole` or `samegroup` (then each
    /// connection's memberships are read before matching).
    pub needs_membership: bool,
}

impl Rules {
    /// Builds the rules and works out [`Rules::needs_membership`].
    pub fn new(
        hba: HbaFile,
        ident: IdentFile,
        version: PgVersion,
        interfaces: Vec<InterfaceAddr>,
    ) -> Self {
        let needs_membership = hba.lines.iter().any(|l| {
            l.roles.iter().any(|t| t.is_member_check())
                || l.databases
                    .iter()
                    .any(|t| t.is_keyword("samerole") || t.is_keyword("samegroup"))
        });
        Self {
            hba,
            ident,
            version,
            interfaces,
            needs_membership,
        }
    }
}

/// How the upstream PostgreSQL is reached.
#[derive(Clone)]
pub enum UpstreamAddr {
    /// A Unix socket: `<dir>/.s.PGSQL.<port>`.
    Unix {
        /// Socket directory.
        dir: PathBuf,
        /// Port number naming the socket file.
        port: u16,
    },
    /// TCP, optionally with TLS.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// TLS to the upstream (SSLRequest first, as libpq does).
        tls: Option<UpstreamTls>,
    },
}

/// TLS towards the upstream.
#[derive(Clone)]
pub struct UpstreamTls {
    /// rustls client configuration (verification mode decided when built).
    pub config: Arc<rustls::ClientConfig>,
    /// The name checked against the server certificate.
    pub server_name: rustls::pki_types::ServerName<'static>,
}

/// How gatehouse authenticates to the upstream as the client's role.
#[derive(Clone)]
pub enum UpstreamAuth {
    /// The upstream trusts gatehouse (its socket or address): no secret is sent.
    Trust,
    /// A per-role secret file (PgBouncer auth_file format; plaintext or md5 or SCRAM secrets).
    Password(Arc<Userlist>),
    /// Reuse what the client proved: the SCRAM ClientKey recovered from its proof
    /// (as PgBouncer does), or the cleartext password of a `password` line.
    ScramPassthrough,
}

/// The upstream server.
#[derive(Clone)]
pub struct Upstream {
    /// Where.
    pub addr: UpstreamAddr,
    /// How to log in.
    pub auth: UpstreamAuth,
    /// Reuse of authenticated connections for the same role and parameters
    /// (`None`: every client gets a fresh upstream login).
    pub reuse: Option<crate::pool::ReuseSettings>,
}

/// Time budgets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From accept to the end of client authentication (PostgreSQL's
    /// `authentication_timeout`, default 60 s); a client still in that phase
    /// afterwards is dropped without a message.
    pub auth_timeout: Duration,
    /// Connecting and logging in to the upstream, up to its ReadyForQuery.
    pub connect_timeout: Duration,
    /// Client connections open at once (all phases); one more is told 53300
    /// `sorry, too many clients already` and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            auth_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}
