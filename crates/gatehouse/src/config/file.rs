//! The shape of `gatehouse.toml` (serde). Every key, its default and unit is
//! documented in `docs/configuration.md`; unknown keys are errors.

use std::path::PathBuf;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[listen]`.
    pub listen: ListenSection,
    /// `[tls]` (optional: without it SSLRequest is answered 'N').
    pub tls: Option<TlsSection>,
    /// `[hba]`.
    pub hba: HbaSection,
    /// `[upstream]`.
    pub upstream: UpstreamSection,
    /// `[auth]` (optional: defaults to no secret source).
    #[serde(default)]
    pub auth: AuthSection,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSection,
    /// `[network]`: security groups (layer 1) and the PROXY protocol.
    pub network: Option<NetworkSection>,
    /// `[admin]`: the admin API socket and the state store.
    #[serde(default)]
    pub admin: AdminSection,
    /// `[iam]`: the `iam` method (RDS IAM database authentication).
    pub iam: Option<IamSection>,
}

/// `[iam]`: who this gateway is in AWS terms, for RDS IAM auth tokens and
/// `rds-db:connect` policies (docs/iam-tokens.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSection {
    /// 12-digit account id of ARNs (`arn:aws:iam::ACCOUNT:user/…`, `arn:aws:rds-db:…:ACCOUNT:…`).
    pub account_id: String,
    /// The region tokens must be signed for, e.g. `us-east-1`.
    pub region: String,
    /// The DB resource id in `dbuser` ARNs, e.g. `db-ABCDEFGHIJKLMNOPQRSTUVWXY1`.
    pub resource_id: String,
    /// Endpoint names (`host:port`) a token's host part may name; at least one.
    pub endpoints: Vec<String>,
    /// Seconds a token's X-Amz-Date may be ahead of our clock (default 300).
    #[serde(default = "default_clock_skew")]
    pub clock_skew: f64,
    /// Members of this database role may log in only with a token, whatever
    /// pg_hba.conf says (default `rds_iam`; `""` turns it off).
    #[serde(default = "default_token_only_role")]
    pub token_only_role: String,
    /// The key file that encrypts secret access keys in the state store
    /// (default `gatehouse-iam.key`; 32 bytes, mode 0600).
    #[serde(default = "default_iam_key_file")]
    pub key_file: PathBuf,
}

fn default_clock_skew() -> f64 {
    300.0
}
fn default_token_only_role() -> String {
    "rds_iam".into()
}
fn default_iam_key_file() -> PathBuf {
    "gatehouse-iam.key".into()
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Unix socket of the admin API (mode 0600); default `gatehouse-admin.sock`.
    #[serde(default = "default_admin_socket")]
    pub socket: std::path::PathBuf,
    /// SQLite state store (dynamic rules and members); default `gatehouse-state.sqlite`.
    #[serde(default = "default_state_file")]
    pub state_file: std::path::PathBuf,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            socket: default_admin_socket(),
            state_file: default_state_file(),
        }
    }
}

fn default_admin_socket() -> std::path::PathBuf {
    "gatehouse-admin.sock".into()
}
fn default_state_file() -> std::path::PathBuf {
    "gatehouse-state.sqlite".into()
}

/// `[network]`: AWS security-group semantics (docs/security-groups.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// `"groups"` (default): listeners allow only what their groups' ingress rules
    /// allow; `"open"`: no layer-1 check (must be said explicitly).
    #[serde(default = "default_network_mode")]
    pub mode: String,
    /// Security group ids attached to every listener.
    #[serde(default)]
    pub attach: Vec<gatehouse_netacl::GroupId>,
    /// `[[network.groups]]`.
    #[serde(default)]
    pub groups: Vec<gatehouse_netacl::SecurityGroup>,
    /// `[[network.rules]]`: ingress rules.
    #[serde(default)]
    pub rules: Vec<gatehouse_netacl::IngressRule>,
    /// `[[network.prefix_lists]]`.
    #[serde(default)]
    pub prefix_lists: Vec<gatehouse_netacl::PrefixList>,
    /// `[[network.members]]`: addresses registered in groups (for group-referenced sources).
    #[serde(default)]
    pub members: Vec<gatehouse_netacl::Member>,
    /// `[network.proxy_protocol]`.
    pub proxy_protocol: Option<ProxyProtocolSection>,
    /// `[[network.egress]]`: where gatehouse itself may connect (the upstream).
    #[serde(default)]
    pub egress: Vec<EgressRule>,
}

/// An egress rule of an attached group: the upstream address gatehouse connects to
/// must fall inside one (checked at load). No egress rule at all means AWS's
/// default: all outbound traffic allowed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    /// `sgr-…`.
    pub id: gatehouse_netacl::RuleId,
    /// The group it belongs to.
    pub group_id: gatehouse_netacl::GroupId,
    /// `tcp` or `-1`.
    pub protocol: gatehouse_netacl::Protocol,
    /// First port (tcp).
    #[serde(default = "all_ports")]
    pub from_port: i32,
    /// Last port (tcp, inclusive).
    #[serde(default = "all_ports")]
    pub to_port: i32,
    /// Destination CIDR.
    pub cidr: ipnet::IpNet,
    /// Optional description.
    pub description: Option<String>,
}

fn all_ports() -> i32 {
    -1
}

fn default_network_mode() -> String {
    "groups".into()
}

/// `[network.proxy_protocol]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyProtocolSection {
    /// Balancers whose PROXY header is believed (CIDRs).
    pub trusted: Vec<ipnet::IpNet>,
    /// Connections from trusted peers must carry a header (default true).
    #[serde(default = "default_true")]
    pub required: bool,
}

fn default_true() -> bool {
    true
}

/// `[listen]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    /// `addresses = ["127.0.0.1:6432", "[::1]:6432"]`.
    pub addresses: Vec<String>,
    /// Client connections open at once (default 10000).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_max_connections() -> usize {
    10_000
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM CA bundle for client certificates (optional).
    pub client_ca_file: Option<PathBuf>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default = "default_tls_min")]
    pub min_version: String,
}

fn default_tls_min() -> String {
    "1.2".into()
}

/// `[hba]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbaSection {
    /// pg_hba.conf.
    pub file: PathBuf,
    /// pg_ident.conf (optional).
    pub ident_file: Option<PathBuf>,
    /// Whose rules and wording: 15, 16, 17 or 18 (default).
    #[serde(default = "default_pg_version")]
    pub pg_version: u32,
}

fn default_pg_version() -> u32 {
    18
}

/// `[upstream]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    /// Unix socket directory (preferred: the database then trusts only gatehouse's socket).
    pub socket_dir: Option<PathBuf>,
    /// Host name or address for TCP.
    pub host: Option<String>,
    /// Port (default 5432).
    #[serde(default = "default_pg_port")]
    pub port: u16,
    /// `"trust"` (default), `"password"` or `"scram-passthrough"`.
    #[serde(default = "default_upstream_auth")]
    pub auth: String,
    /// Per-role secrets for `auth = "password"` (PgBouncer auth_file format).
    pub password_file: Option<PathBuf>,
    /// TCP only: `"disable"` (default), `"require"`, `"verify-ca"`, `"verify-full"`.
    #[serde(default = "default_upstream_tls")]
    pub tls: String,
    /// CA bundle for verify-ca / verify-full.
    pub tls_root_ca_file: Option<PathBuf>,
    /// Name checked against the server certificate (default: `host`).
    pub tls_server_name: Option<String>,
    /// Seconds to connect and log in (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: f64,
    /// Reuse an idle upstream connection (after DISCARD ALL) for a later client
    /// of the same role, database and startup parameters (default false).
    #[serde(default)]
    pub reuse_connections: bool,
    /// Seconds a reusable connection may wait (default 60).
    #[serde(default = "default_reuse_idle")]
    pub reuse_idle_timeout: f64,
    /// Reusable connections kept per role/database/parameters (default 16).
    #[serde(default = "default_reuse_max")]
    pub reuse_max_idle: usize,
}

fn default_reuse_idle() -> f64 {
    60.0
}
fn default_reuse_max() -> usize {
    16
}

fn default_pg_port() -> u16 {
    5432
}
fn default_upstream_auth() -> String {
    "trust".into()
}
fn default_upstream_tls() -> String {
    "disable".into()
}
fn default_connect_timeout() -> f64 {
    10.0
}

/// `[auth]`: where client secrets come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `"none"` (default), `"userlist"` or `"auth_query"`.
    #[serde(default = "default_source")]
    pub source: String,
    /// For `userlist`: the PgBouncer-format file.
    pub userlist_file: Option<PathBuf>,
    /// The low-privilege login for auth_query and memberships (default `gatehouse_auth`).
    #[serde(default = "default_auth_user")]
    pub auth_user: String,
    /// File holding that login's password (optional).
    pub auth_password_file: Option<PathBuf>,
    /// Database the login connects to (default `postgres`).
    #[serde(default = "default_auth_database")]
    pub auth_database: String,
    /// The query; `$1` is the role; returns `passwd, canlogin, valid_until`.
    pub auth_query: Option<String>,
    /// Read memberships from the catalogs with a userlist too (default false; needed
    /// for `+group`/`samerole` and for `[iam] token_only_role`).
    #[serde(default)]
    pub memberships_from_catalog: bool,
    /// Seconds a looked-up secret or membership is reused (default 30).
    #[serde(default = "default_ttl")]
    pub cache_ttl: f64,
    /// Seconds a client has to finish authenticating (default 60, as PostgreSQL).
    #[serde(default = "default_auth_timeout")]
    pub authentication_timeout: f64,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            source: default_source(),
            userlist_file: None,
            auth_user: default_auth_user(),
            auth_password_file: None,
            auth_database: default_auth_database(),
            auth_query: None,
            memberships_from_catalog: false,
            cache_ttl: default_ttl(),
            authentication_timeout: default_auth_timeout(),
        }
    }
}

fn default_source() -> String {
    "none".into()
}
fn default_auth_user() -> String {
    "gatehouse_auth".into()
}
fn default_auth_database() -> String {
    "postgres".into()
}
fn default_ttl() -> f64 {
    30.0
}
fn default_auth_timeout() -> f64 {
    60.0
}

/// `[log]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"text"` (default) or `"json"`.
    pub format: Option<String>,
    /// A tracing filter, e.g. `"info"` (default) or `"gatehouse::decision=info,warn"`.
    pub level: Option<String>,
    /// Decision events (`gatehouse::decision`) are also appended to this file as JSON,
    /// one object per line, whatever `format` and `level` say (optional).
    pub decision_file: Option<PathBuf>,
}
