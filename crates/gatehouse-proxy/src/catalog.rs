//! Role facts from the upstream's catalogs: the stored secret, LOGIN and VALID
//! UNTIL (through `auth_query`), and role memberships (for `+group` and
//! `samerole`), read through a dedicated low-privilege login and cached for a
//! short TTL.
//!
//! PgBouncer's `auth_query` returns only `(usename, passwd)`, so a role without
//! LOGIN or past VALID UNTIL can still pass PgBouncer's check when the query is
//! written against `pg_authid`. gatehouse's query must also return `canlogin`
//! and `valid_until`, and such roles are refused (see
//! `docs/decisions/004-upstream-auth-and-secrets.md`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gatehouse_hba::Membership;
use tokio::sync::Mutex;

use crate::auth::{StoredSecret, Userlist};

/// What gatehouse knows of one role when authenticating it.
#[derive(Clone, Default)]
pub struct RoleRecord {
    /// The role exists.
    pub exists: bool,
    /// Its stored secret (`rolpassword`), if any.
    pub secret: Option<StoredSecret>,
    /// `rolcanlogin`.
    pub can_login: bool,
    /// `rolvaliduntil`: the password stops working after this instant.
    pub valid_until: Option<SystemTime>,
}

impl std::fmt::Debug for RoleRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleRecord")
            .field("exists", &self.exists)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("can_login", &self.can_login)
            .field("valid_until", &self.valid_until)
            .finish()
    }
}

/// The default `auth_query`: the SECURITY DEFINER function of
/// `docs/upstream-setup.sql`.
pub const DEFAULT_AUTH_QUERY: &str =
    "SELECT passwd, canlogin, valid_until FROM gatehouse.get_auth($1)";

/// Memberships of a role, directly or indirectly, from `pg_auth_members`
/// (readable by every role). `$1` is the role name.
const MEMBERSHIP_QUERY: &str = "WITH RECURSIVE m(roleid) AS ( \
       SELECT a.roleid FROM pg_catalog.pg_auth_members a \
         JOIN pg_catalog.pg_roles r ON r.oid = a.member WHERE r.rolname = $1 \
       UNION SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN m ON a.member = m.roleid ) \
     SELECT r.rolname::text FROM m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid";

/// How to reach the upstream's catalogs.
#[derive(Clone)]
pub struct CatalogLogin {
    /// Unix socket directory, or host name / address for TCP.
    pub host: String,
    /// Port (also names the Unix socket file).
    pub port: u16,
    /// Database to connect to.
    pub database: String,
    /// The low-privilege login (`gatehouse_auth` by default).
    pub user: String,
    /// Its password, when the upstream asks for one.
    pub password: Option<String>,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for CatalogLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogLogin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where secrets (and memberships) come from.
pub enum SecretSource {
    /// A PgBouncer-format `auth_file`; every listed role exists and can log in;
    /// memberships come from `catalog` when given, else roles are members only
    /// of themselves.
    Userlist {
        /// The parsed file.
        list: Arc<Userlist>,
        /// Optional catalog login for memberships.
        catalog: Option<Catalog>,
    },
    /// `auth_query` run through the catalog login.
    AuthQuery {
        /// The connection and cache.
        catalog: Catalog,
        /// The query; `$1` is the role name; returns `passwd, canlogin, valid_until`.
        query: String,
    },
    /// No secrets (only trust, reject and cert lines can succeed).
    None,
}

/// Why a catalog lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Could not connect or the query failed (with the server's or the OS's reason).
    #[error("catalog query failed: {}", full_error(.0))]
    Query(#[from] tokio_postgres::Error),
    /// The connect timeout passed (connecting, or waiting for a query's answer).
    #[error("catalog connection or query timed out after {0:?}")]
    Timeout(Duration),
    /// The auth_query returned something unusable.
    #[error("auth_query result: {0}")]
    Shape(String),
}

/// tokio-postgres's Display says only "db error" or "error connecting to server";
/// the reason is in the source chain.
fn full_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A catalog connection with a TTL cache of lookups.
pub struct Catalog {
    login: CatalogLogin,
    ttl: Duration,
    client: Mutex<Option<Arc<tokio_postgres::Client>>>,
    roles: Mutex<HashMap<String, (Instant, RoleRecord)>>,
    members: Mutex<HashMap<String, (Instant, Membership)>>,
}

impl Catalog {
    /// A catalog reached through `login`, caching answers for `ttl`.
    pub fn new(login: CatalogLogin, ttl: Duration) -> Self {
        Self {
            login,
            ttl,
            client: Mutex::new(None),
            roles: Mutex::new(HashMap::new()),
            members: Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self) -> Result<Arc<tokio_postgres::Client>, CatalogError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let mut cfg = tokio_postgres::Config::new();
        if self.login.host.starts_with('/') {
            cfg.host_path(PathBuf::from(&self.login.host));
        } else {
            cfg.host(&self.login.host);
        }
        cfg.port(self.login.port)
            .dbname(&self.login.database)
            .user(&self.login.user)
            .application_name("gatehouse catalog")
            .connect_timeout(self.login.connect_timeout);
        if let Some(p) = &self.login.password {
            cfg.password(p.as_bytes());
        }
        let connect = cfg.connect(tokio_postgres::NoTls);
        let (client, conn) = tokio::time::timeout(self.login.connect_timeout, connect)
            .await
            .map_err(|_| CatalogError::Timeout(self.login.connect_timeout))??;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(target: "gatehouse::catalog", error = %e, "catalog connection ended");
            }
        });
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs `sql` with `$1 = role` through the catalog login, within the connect
    /// timeout (a hung catalog backend must not hold logins until the
    /// authentication timeout).
    async fn query(&self, sql: &str, role: &str) -> Result<Vec<tokio_postgres::Row>, CatalogError> {
        let client = self.client().await?;
        let budget = self.login.connect_timeout;
        tokio::time::timeout(budget, client.query(sql, &[&role]))
            .await
            .map_err(|_| CatalogError::Timeout(budget))?
            .map_err(CatalogError::from)
    }

    /// The role's record through `query`, from cache when younger than the TTL.
    pub async fn role(&self, query: &str, role: &str) -> Result<RoleRecord, CatalogError> {
        if let Some((at, rec)) = self.roles.lock().await.get(role) {
            if at.elapsed() < self.ttl {
                return Ok(rec.clone());
            }
        }
        let rows = self.query(query, role).await?;
        let rec = match rows.first() {
            None => RoleRecord::default(),
            Some(row) => {
                if row.len() < 3 {
                    return Err(CatalogError::Shape(format!(
                        "expected 3 columns (passwd, canlogin, valid_until), got {}",
                        row.len()
                    )));
                }
                let passwd: Option<String> = row.try_get(0)?;
                let can_login: Option<bool> = row.try_get(1)?;
                let valid_until: Option<SystemTime> = row.try_get(2)?;
                RoleRecord {
                    exists: true,
                    secret: passwd.map(|p| StoredSecret::parse(&p)),
                    can_login: can_login.unwrap_or(false),
                    valid_until,
                }
            }
        };
        let mut roles = self.roles.lock().await;
        bound(&mut roles, self.ttl);
        roles.insert(role.to_string(), (Instant::now(), rec.clone()));
        Ok(rec)
    }

    /// Every role `role` belongs to, directly or indirectly, from cache when
    /// younger than the TTL.
    pub async fn membership(&self, role: &str) -> Result<Membership, CatalogError> {
        if let Some((at, m)) = self.members.lock().await.get(role) {
            if at.elapsed() < self.ttl {
                return Ok(m.clone());
            }
        }
        let exists = !self
            .query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", role)
            .await?
            .is_empty();
        let mut m = Membership::default();
        if exists {
            let rows = self.query(MEMBERSHIP_QUERY, role).await?;
            let names = rows
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            m = Membership::of(names);
        }
        let mut members = self.members.lock().await;
        bound(&mut members, self.ttl);
        members.insert(role.to_string(), (Instant::now(), m.clone()));
        Ok(m)
    }
}

/// Most answers kept per cache: names are client-chosen, so a flood of made-up
/// user names must not grow memory without bound.
pub const MAX_CACHED: usize = 10_000;

fn bound<T>(cache: &mut HashMap<String, (Instant, T)>, ttl: Duration) {
    if cache.len() >= MAX_CACHED {
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
    }
}

impl SecretSource {
    /// The record of `role` (a role unknown to the source does not exist).
    pub async fn role(&self, role: &str) -> Result<RoleRecord, CatalogError> {
        match self {
            SecretSource::Userlist { list, .. } => Ok(match list.get(role) {
                Some(secret) => RoleRecord {
                    exists: true,
                    secret: Some(secret.clone()),
                    can_login: true,
                    valid_until: None,
                },
                None => RoleRecord::default(),
            }),
            SecretSource::AuthQuery { catalog, query } => catalog.role(query, role).await,
            SecretSource::None => Ok(RoleRecord::default()),
        }
    }

    /// The memberships of `role`, for `+group` and `samerole` lines.
    pub async fn membership(&self, role: &str) -> Result<Membership, CatalogError> {
        match self {
            SecretSource::AuthQuery { catalog, .. }
            | SecretSource::Userlist {
                catalog: Some(catalog),
                ..
            } => catalog.membership(role).await,
            SecretSource::Userlist { list, .. } => Ok(if list.get(role).is_some() {
                Membership::of(Vec::<String>::new())
            } else {
                Membership::default()
            }),
            SecretSource::None => Ok(Membership::of(Vec::<String>::new())),
        }
    }
}
