//! From [`FileConfig`] to [`GatewayConfig`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use gatehouse_hba::options::ClientCert;
use gatehouse_hba::AuthMethod;
use gatehouse_hba::{
    system_interfaces, HbaFile, IdentFile, OsFiles, ParseOptions, PgVersion, SystemResolver,
};
use gatehouse_proxy::auth::{StoredSecret, Userlist};
use gatehouse_proxy::catalog::{Catalog, CatalogLogin, SecretSource, DEFAULT_AUTH_QUERY};
use gatehouse_proxy::config::{
    GatewayConfig, Limits, Rules, Upstream, UpstreamAddr, UpstreamAuth, UpstreamTls,
};
use gatehouse_proxy::pool::ReuseSettings;
use gatehouse_proxy::tls::{
    upstream_client_config, ServerTls, TlsSettings, TlsVersion, UpstreamTlsMode,
};

use super::file::{FileConfig, LogSection, NetworkSection};
use gatehouse_netacl::Snapshot;
use gatehouse_proxy::network::{ListenerNetwork, NetworkPolicy};
use gatehouse_proxy::proxy_header::ProxySettings;

/// Where the admin API of the gateway configured by `path` listens (for `sg`
/// commands; reads only the file itself).
///
/// # Errors
/// The file cannot be read or parsed.
pub fn admin_socket(path: &Path) -> Result<PathBuf> {
    let (file, base) = read(path)?;
    Ok(rel(&base, &file.admin.socket))
}

/// The parsed file and the directory its relative paths are relative to.
fn read(path: &Path) -> Result<(FileConfig, PathBuf)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let abs =
        std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))?;
    Ok((
        file,
        abs.parent().map(Path::to_path_buf).unwrap_or_default(),
    ))
}

/// A loaded configuration: the gateway's part, the log settings, and warnings
/// worth printing (`check` prints them; `serve` logs them).
pub struct Loaded {
    /// The run-time configuration.
    pub gateway: GatewayConfig,
    /// `[log]`.
    pub log: LogSection,
    /// Things that work but deserve a look.
    pub warnings: Vec<String>,
    /// The admin API socket.
    pub admin_socket: PathBuf,
    /// The state store file.
    pub state_file: PathBuf,
    /// `[iam]`, checked (the gate itself is built by `serve` from the state store).
    pub iam: Option<super::iam::IamConfig>,
    /// `[tls] client_ca_file` is set: clients are asked for a certificate.
    pub client_ca: bool,
}

/// What is worth a look in how `iam` is set up.
fn iam_warnings(
    rules: &Rules,
    iam: Option<&super::iam::IamConfig>,
    memberships_known: bool,
    upstream_auth: &UpstreamAuth,
    warnings: &mut Vec<String>,
) {
    let iam_lines: Vec<String> = rules
        .hba
        .lines
        .iter()
        .filter(|l| l.method == AuthMethod::Iam)
        .map(|l| format!("{}:{}", l.file, l.line))
        .collect();
    match iam {
        None if !iam_lines.is_empty() => warnings.push(format!(
            "pg_hba.conf has iam lines ({}) but [iam] is not set: they refuse every client",
            iam_lines.join(", ")
        )),
        None => {}
        Some(cfg) => {
            if let (Some(role), false) = (&cfg.token_only_role, memberships_known) {
                warnings.push(format!(
                    "[iam] token_only_role = {role:?}, but memberships are not read from the catalogs \
                     ([auth] source = \"auth_query\" or memberships_from_catalog = true): its members are not recognised"
                ));
            }
            if matches!(upstream_auth, UpstreamAuth::ScramPassthrough) {
                warnings.push(
                    "[upstream] auth = \"scram-passthrough\": token logins have no password to pass on; \
                     use \"trust\" or \"password\" for roles that log in with iam"
                        .into(),
                );
            }
        }
    }
}

fn rel(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn secs(what: &str, v: f64) -> Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        bail!("{what}: {v} is not a number of seconds in (0, 86400]");
    }
    Ok(Duration::from_secs_f64(v))
}

fn read_secret_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn load_userlist(path: &Path, warnings: &mut Vec<String>) -> Result<Arc<Userlist>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let shown = path.display().to_string();
    let list = Userlist::parse(&shown, &text).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        anyhow!("{}", lines.join("\n"))
    })?;
    for role in list.roles() {
        if role.len() > 63 {
            warnings.push(format!(
                "{shown}: role \"{role}\" is longer than 63 bytes; PostgreSQL cuts names there, so it never matches"
            ));
        }
        if let Some(StoredSecret::Plain(p)) = list.get(role) {
            let md5_like = p.len() == 35 && p.starts_with("md5");
            if p.starts_with("SCRAM-SHA-256$") || md5_like {
                warnings.push(format!(
                    "{shown}: role \"{role}\": the secret looks like a SCRAM or md5 secret but is not a valid one; \
                     it is used as a plaintext password"
                ));
            }
        }
    }
    Ok(Arc::new(list))
}

/// `[log]`: the format must be known and the level a valid filter.
fn check_log(path: &Path, log: &LogSection) -> Result<()> {
    match log.format.as_deref() {
        None | Some("text") | Some("json") => {}
        Some(other) => bail!(
            "{}: [log] format: {other:?} (expected \"text\" or \"json\")",
            path.display()
        ),
    }
    if let Some(level) = &log.level {
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| {
            anyhow!(
                "{}: [log] level: {level:?} is not a tracing filter ({e})",
                path.display()
            )
        })?;
    }
    Ok(())
}

/// Lines that need a client certificate, when no CA is configured to verify one.
fn cert_line_warnings(rules: &Rules, client_ca: bool, warnings: &mut Vec<String>) {
    if client_ca {
        return;
    }
    for l in &rules.hba.lines {
        if l.method == AuthMethod::Cert || l.options.clientcert != ClientCert::Off {
            warnings.push(format!(
                "{}:{}: this line needs a client certificate, but [tls] client_ca_file is not set: it can never succeed",
                l.file, l.line
            ));
        }
    }
}

/// Reads `path` and everything it names.
///
/// # Errors
/// The first problem found, naming the file (and line where there is one).
pub fn load(path: &Path) -> Result<Loaded> {
    let (mut file, base) = read(path)?;
    let mut warnings = Vec::new();
    check_log(path, &file.log)?;
    file.log.decision_file = file.log.decision_file.map(|f| rel(&base, &f));

    let mut listen = Vec::new();
    for a in &file.listen.addresses {
        let addr: SocketAddr = a.parse().map_err(|e| {
            anyhow!(
                "{}: [listen] addresses: {a:?} is not IP:port ({e})",
                path.display()
            )
        })?;
        listen.push(addr);
    }
    if listen.is_empty() {
        bail!("{}: [listen] addresses is empty", path.display());
    }

    let tls = match &file.tls {
        None => {
            warnings.push(
                "[tls] is not set: clients cannot use TLS (SSLRequest is answered 'N')".into(),
            );
            None
        }
        Some(t) => {
            let min_version = match t.min_version.as_str() {
                "1.2" => TlsVersion::V1_2,
                "1.3" => TlsVersion::V1_3,
                other => bail!(
                    "{}: [tls] min_version: {other:?} (expected \"1.2\" or \"1.3\")",
                    path.display()
                ),
            };
            let settings = TlsSettings {
                cert_file: rel(&base, &t.cert_file),
                key_file: rel(&base, &t.key_file),
                client_ca_file: t.client_ca_file.as_ref().map(|p| rel(&base, p)),
                min_version,
            };
            Some(Arc::new(ServerTls::load(&settings)?))
        }
    };

    let version = match file.hba.pg_version {
        15 => PgVersion::V15,
        16 => PgVersion::V16,
        17 => PgVersion::V17,
        18 => PgVersion::V18,
        v => bail!(
            "{}: [hba] pg_version: {v} (expected 15, 16, 17 or 18)",
            path.display()
        ),
    };
    let opts = ParseOptions {
        version,
        ssl_enabled: tls.is_some(),
        extensions: true,
        ..ParseOptions::default()
    };
    let hba_path = rel(&base, &file.hba.file);
    let hba_str = hba_path.to_string_lossy().into_owned();
    let hba = HbaFile::load(&hba_str, &OsFiles, &opts, &SystemResolver)
        .map_err(|e| anyhow!("{hba_str}: {e}"))?;
    if !hba.is_loadable() {
        let errs: Vec<String> = hba.errors.iter().map(|d| d.to_string()).collect();
        bail!("{}", errs.join("\n"));
    }
    for w in &hba.warnings {
        warnings.push(w.to_string());
    }
    let ident = match &file.hba.ident_file {
        None => IdentFile::default(),
        Some(p) => {
            let p = rel(&base, p).to_string_lossy().into_owned();
            let f = IdentFile::load(&p, &OsFiles, &opts).map_err(|e| anyhow!("{p}: {e}"))?;
            if !f.is_loadable() {
                let errs: Vec<String> = f.errors.iter().map(|d| d.to_string()).collect();
                bail!("{}", errs.join("\n"));
            }
            f
        }
    };
    let interfaces = system_interfaces().unwrap_or_default();
    let rules = Arc::new(Rules::new(hba, ident, version, interfaces));
    let client_ca = file
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca_file.is_some());
    cert_line_warnings(&rules, client_ca, &mut warnings);

    let connect_timeout = secs("[upstream] connect_timeout", file.upstream.connect_timeout)?;
    let up = &file.upstream;
    let addr = match (&up.socket_dir, &up.host) {
        (Some(dir), None) => UpstreamAddr::Unix {
            dir: rel(&base, dir),
            port: up.port,
        },
        (None, Some(host)) => {
            let mode = match up.tls.as_str() {
                "disable" => None,
                "require" => Some(UpstreamTlsMode::Require),
                "verify-ca" => Some(UpstreamTlsMode::VerifyCa),
                "verify-full" => Some(UpstreamTlsMode::VerifyFull),
                other => bail!(
                    "{}: [upstream] tls: {other:?} (expected disable, require, verify-ca or verify-full)",
                    path.display()
                ),
            };
            let tls = match mode {
                None => None,
                Some(mode) => {
                    let root = up.tls_root_ca_file.as_ref().map(|p| rel(&base, p));
                    let config = upstream_client_config(mode, root.as_deref())?;
                    let name = up.tls_server_name.clone().unwrap_or_else(|| host.clone());
                    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
                        .map_err(|e| {
                            anyhow!(
                                "{}: [upstream] tls_server_name {name:?}: {e}",
                                path.display()
                            )
                        })?;
                    Some(UpstreamTls {
                        config,
                        server_name,
                    })
                }
            };
            UpstreamAddr::Tcp {
                host: host.clone(),
                port: up.port,
                tls,
            }
        }
        _ => bail!(
            "{}: [upstream] needs exactly one of socket_dir and host",
            path.display()
        ),
    };
    let upstream_auth = match up.auth.as_str() {
        "trust" => UpstreamAuth::Trust,
        "password" => {
            let p = up.password_file.as_ref().ok_or_else(|| {
                anyhow!(
                    "{}: [upstream] auth = \"password\" needs password_file",
                    path.display()
                )
            })?;
            UpstreamAuth::Password(load_userlist(&rel(&base, p), &mut warnings)?)
        }
        "scram-passthrough" => UpstreamAuth::ScramPassthrough,
        other => bail!(
            "{}: [upstream] auth: {other:?} (expected trust, password or scram-passthrough)",
            path.display()
        ),
    };

    let reuse = if up.reuse_connections {
        Some(ReuseSettings {
            idle_timeout: secs("[upstream] reuse_idle_timeout", up.reuse_idle_timeout)?,
            max_idle_per_key: up.reuse_max_idle.max(1),
        })
    } else {
        None
    };
    let a = &file.auth;
    let ttl = secs("[auth] cache_ttl", a.cache_ttl)?;
    let auth_timeout = secs("[auth] authentication_timeout", a.authentication_timeout)?;
    let catalog = || -> Result<Catalog> {
        let (host, port) = match &addr {
            UpstreamAddr::Unix { dir, port } => (dir.to_string_lossy().into_owned(), *port),
            UpstreamAddr::Tcp { host, port, .. } => (host.clone(), *port),
        };
        let password = match &a.auth_password_file {
            Some(p) => Some(read_secret_file(&rel(&base, p))?),
            None => None,
        };
        Ok(Catalog::new(
            CatalogLogin {
                host,
                port,
                database: a.auth_database.clone(),
                user: a.auth_user.clone(),
                password,
                connect_timeout,
            },
            ttl,
        ))
    };
    if a.source != "userlist" && a.userlist_file.is_some() {
        warnings.push(format!(
            "[auth] userlist_file is set but source = {:?}: the file is not used",
            a.source
        ));
    }
    let secrets = match a.source.as_str() {
        "none" => SecretSource::None,
        "userlist" => {
            let p = a.userlist_file.as_ref().ok_or_else(|| {
                anyhow!(
                    "{}: [auth] source = \"userlist\" needs userlist_file",
                    path.display()
                )
            })?;
            SecretSource::Userlist {
                list: load_userlist(&rel(&base, p), &mut warnings)?,
                catalog: if a.memberships_from_catalog {
                    Some(catalog()?)
                } else {
                    None
                },
            }
        }
        "auth_query" => SecretSource::AuthQuery {
            catalog: catalog()?,
            query: a
                .auth_query
                .clone()
                .unwrap_or_else(|| DEFAULT_AUTH_QUERY.to_string()),
        },
        other => bail!(
            "{}: [auth] source: {other:?} (expected none, userlist or auth_query)",
            path.display()
        ),
    };
    if rules.needs_membership
        && !matches!(
            secrets,
            SecretSource::AuthQuery { .. }
                | SecretSource::Userlist {
                    catalog: Some(_),
                    ..
                }
        )
    {
        warnings.push(
            "pg_hba.conf uses +group/samerole but memberships are not read from the catalogs \
             ([auth] source = \"auth_query\" or memberships_from_catalog = true): such lines match only the role itself"
                .into(),
        );
    }
    if matches!(upstream_auth, UpstreamAuth::Trust) && matches!(addr, UpstreamAddr::Tcp { .. }) {
        warnings.push(
            "[upstream] auth = \"trust\" over TCP: make sure the database trusts only gatehouse's address".into(),
        );
    }

    if let (Some(n), UpstreamAddr::Tcp { host, port, .. }) = (&file.network, &addr) {
        check_egress(path, n, host, *port)?;
    }
    let (network, proxy) = network_policy(path, file.network, &listen, &mut warnings)?;
    let memberships_known = matches!(
        secrets,
        SecretSource::AuthQuery { .. }
            | SecretSource::Userlist {
                catalog: Some(_),
                ..
            }
    );
    let iam = match file.iam {
        Some(section) => Some(super::iam::iam_config(path, section, &base)?),
        None => None,
    };
    iam_warnings(
        &rules,
        iam.as_ref(),
        memberships_known,
        &upstream_auth,
        &mut warnings,
    );

    Ok(Loaded {
        gateway: GatewayConfig {
            listen,
            tls,
            rules,
            upstream: Arc::new(Upstream {
                addr,
                auth: upstream_auth,
                reuse,
            }),
            secrets: Arc::new(secrets),
            limits: Limits {
                auth_timeout,
                connect_timeout,
                max_connections: file.listen.max_connections.max(1),
            },
            network,
            proxy,
            iam: None,
        },
        iam,
        client_ca,
        log: file.log,
        warnings,
        admin_socket: rel(&base, &file.admin.socket),
        state_file: rel(&base, &file.admin.state_file),
    })
}

/// `[network]` → the policy per listener and the PROXY settings. No section, or no
/// group attached, refuses to start unless `mode = "open"` (AWS has no "no group").
fn network_policy(
    path: &Path,
    section: Option<NetworkSection>,
    listen: &[SocketAddr],
    warnings: &mut Vec<String>,
) -> Result<(NetworkPolicy, Option<ProxySettings>)> {
    let Some(n) = section else {
        bail!(
            "{}: no [network] section: attach security groups ([network] attach = [\"sg-…\"] with \
             [[network.groups]] and [[network.rules]]), or say mode = \"open\" to accept every source",
            path.display()
        );
    };
    let proxy = n.proxy_protocol.map(|p| ProxySettings {
        trusted: p.trusted,
        required: p.required,
    });
    let snapshot = Snapshot {
        groups: n.groups,
        rules: n.rules,
        prefix_lists: n.prefix_lists,
        members: n.members,
    };
    let open = match n.mode.as_str() {
        "open" => true,
        "groups" => false,
        other => bail!(
            "{}: [network] mode: {other:?} (expected \"groups\" or \"open\")",
            path.display()
        ),
    };
    if open {
        warnings.push(
            "[network] mode = \"open\": no security group is checked; every source address may connect".into(),
        );
    } else if n.attach.is_empty() {
        bail!(
            "{}: [network] attach is empty: a listener with no security group refuses to start \
             (attach groups, or say mode = \"open\")",
            path.display()
        );
    }
    let policy = NetworkPolicy {
        listeners: listen
            .iter()
            .map(|a| ListenerNetwork {
                port: a.port(),
                groups: if open { Vec::new() } else { n.attach.clone() },
                open,
            })
            .collect(),
        snapshot,
    };
    if let Err(errs) = policy.compile(gatehouse_netacl::Timestamp::now()) {
        let lines: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: [network] {e}", path.display()))
            .collect();
        bail!("{}", lines.join("\n"));
    }
    Ok((policy, proxy))
}

/// Egress (AWS semantics, checked at load): when the attached groups have egress
/// rules, the upstream's TCP address must be inside one of them (a host name is
/// resolved now, and every address must be allowed). A Unix-socket upstream is
/// local and not subject to egress rules.
fn check_egress(path: &Path, n: &NetworkSection, host: &str, port: u16) -> Result<()> {
    let rules: Vec<_> = n
        .egress
        .iter()
        .filter(|r| n.attach.contains(&r.group_id))
        .collect();
    for r in &n.egress {
        if !n.groups.iter().any(|g| g.id == r.group_id) {
            bail!(
                "{}: [[network.egress]] {}: group {} is not defined",
                path.display(),
                r.id,
                r.group_id
            );
        }
        let ports_ok = (0..=65535).contains(&r.from_port)
            && (0..=65535).contains(&r.to_port)
            && r.from_port <= r.to_port;
        if r.protocol == gatehouse_netacl::Protocol::Tcp && !ports_ok {
            bail!(
                "{}: [[network.egress]] {}: port range {}-{} is not within 0-65535",
                path.display(),
                r.id,
                r.from_port,
                r.to_port
            );
        }
        if r.description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 255)
        {
            bail!(
                "{}: [[network.egress]] {}: description is longer than 255 characters",
                path.display(),
                r.id
            );
        }
    }
    if rules.is_empty() {
        return Ok(());
    }
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .with_context(|| {
            format!(
                "{}: [upstream] host {host:?} does not resolve",
                path.display()
            )
        })?
        .collect();
    for a in &addrs {
        let ip = gatehouse_netacl::canonical_addr(a.ip());
        let allowed = rules.iter().any(|r| {
            let port_ok = r.protocol == gatehouse_netacl::Protocol::All
                || (r.from_port..=r.to_port).contains(&i32::from(port));
            port_ok && r.cidr.contains(&ip)
        });
        if !allowed {
            bail!(
                "{}: [upstream] {host}:{port} ({ip}) is not allowed by the egress rules of the attached groups",
                path.display()
            );
        }
    }
    Ok(())
}
