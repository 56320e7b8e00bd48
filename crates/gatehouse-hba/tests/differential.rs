//! Differential suite: every case under `tests/differential/cases/*.toml` and every
//! file under `tests/differential/corpus/` goes through real PostgreSQL (15 and 18,
//! via gatehouse-testkit) and through gatehouse-hba, and must come out the same:
//! the same `pg_hba_file_rules` / `pg_ident_file_mappings` rows, the same verdict on
//! whether the file loads, and for each probe the same decision (the auth request
//! the server sends to a StartupMessage from that source, or its refusal).
//!
//! All disagreements of a run are collected and reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use gatehouse_hba::{
    system_interfaces, AuthMethod, BuildFeatures, Connection, HbaFile, IdentFile, MatchEnv,
    Membership, OsFiles, ParseOptions, PgVersion, Replication, SystemResolver, Transport,
};
use gatehouse_testkit as kit;
use serde::Deserialize;

#[derive(Deserialize)]
struct CaseFile {
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// One line on what the case shows (documentation only).
    #[serde(default)]
    #[allow(dead_code)]
    about: String,
    versions: Option<Vec<u32>>,
    hba: Option<String>,
    hba_b64: Option<String>,
    ident: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    files_b64: BTreeMap<String, String>,
    load_error: Option<String>,
    load_error_15: Option<String>,
    load_error_18: Option<String>,
    load_ok_15: Option<bool>,
    load_ok_18: Option<bool>,
    #[serde(default)]
    probe: Vec<ProbeCase>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct ProbeCase {
    from: String,
    #[serde(default)]
    ssl: bool,
    user: String,
    database: String,
    replication: Option<String>,
    expect: Option<String>,
    expect_15: Option<String>,
    expect_18: Option<String>,
}

/// The role universe created in every cluster (see the cases' README in the toml headers).
const ROLES_SQL: &str = "
CREATE ROLE root_su SUPERUSER LOGIN;
CREATE ROLE admins NOLOGIN; CREATE ROLE devs NOLOGIN; CREATE ROLE juniors NOLOGIN;
CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN; CREATE ROLE carol LOGIN; CREATE ROLE dave LOGIN;
CREATE ROLE repl LOGIN REPLICATION; CREATE ROLE \"Erin\" LOGIN;
GRANT admins TO alice; GRANT devs TO bob; GRANT juniors TO carol; GRANT devs TO juniors;
";

fn membership(user: &str) -> Membership {
    let roles: &[&str] = match user {
        "alice" => &["admins"],
        "bob" => &["devs"],
        "carol" => &["juniors", "devs"],
        "juniors" => &["devs"],
        "postgres" | "root_su" | "dave" | "repl" | "Erin" | "admins" | "devs" => &[],
        _ => return Membership::default(),
    };
    Membership::of(roles.iter().copied())
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cases_dir().join("cases"))
        .expect("cases dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        let parsed: CaseFile =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in parsed.case {
            assert!(
                names.insert(c.name.clone()),
                "duplicate case name {}",
                c.name
            );
            out.push(c);
        }
    }
    out
}

fn engine_options(version: kit::PgVersion, f: kit::BuildFeatures) -> ParseOptions {
    ParseOptions {
        version: match version {
            kit::PgVersion::V15 => PgVersion::V15,
            kit::PgVersion::V18 => PgVersion::V18,
        },
        features: BuildFeatures {
            ssl: f.ssl,
            gssapi: f.gssapi,
            ldap: f.ldap,
            pam: f.pam,
            bsd: false,
            sspi: false,
        },
        ssl_enabled: true,
        oauth_validator_libraries: Vec::new(),
        extensions: false,
    }
}

/// The oracle's decision, in the cases' vocabulary.
fn server_label(o: &kit::ProbeOutcome) -> String {
    match o {
        kit::ProbeOutcome::NoEntry { .. } => "no-entry".into(),
        kit::ProbeOutcome::Rejects { .. } => "reject".into(),
        kit::ProbeOutcome::Auth {
            code,
            sasl_mechanisms,
        } => match code {
            0 => "trust".into(),
            3 => "password".into(),
            5 => "md5".into(),
            7 => "gss".into(),
            10 if sasl_mechanisms.iter().any(|m| m == "OAUTHBEARER") => "oauth".into(),
            10 => "scram".into(),
            other => format!("auth-{other}"),
        },
        kit::ProbeOutcome::Error { message, .. } => {
            if message.contains("Ident authentication failed") {
                "ident".into()
            } else if message.contains("Peer authentication failed") {
                "peer".into()
            } else if message.contains("certificate") {
                "cert".into()
            } else {
                format!("error: {message}")
            }
        }
        kit::ProbeOutcome::SslRefused => "ssl-refused".into(),
    }
}

/// The operating-system user this test runs as: what `peer` sees on the Unix socket.
fn os_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// What the server would answer given the line gatehouse matched. `peer` lines are
/// decided with the pg_ident.conf map, as the probe's OS user: success is
/// AuthenticationOk ("trust"), failure the peer error.
fn gatehouse_label(
    line: Option<&gatehouse_hba::HbaLine>,
    ident: &IdentFile,
    user: &str,
    sys_user: &str,
) -> String {
    let Some(line) = line else {
        return "no-entry".into();
    };
    if line.requires_client_cert() {
        return "cert".into();
    }
    if line.method == AuthMethod::Peer {
        let m = membership(user);
        let is_member = |r: &str| m.is_member(user, r);
        let ok = match &line.options.map {
            None => sys_user == user,
            Some(map) => matches!(
                ident.check(map, user, sys_user, false, &is_member),
                gatehouse_hba::IdentDecision::Allowed { .. }
            ),
        };
        return if ok { "trust".into() } else { "peer".into() };
    }
    match line.method {
        AuthMethod::Reject => "reject",
        AuthMethod::Trust => "trust",
        AuthMethod::Password
        | AuthMethod::Ldap
        | AuthMethod::Radius
        | AuthMethod::Pam
        | AuthMethod::Bsd => "password",
        AuthMethod::Md5 => "md5",
        AuthMethod::ScramSha256 => "scram",
        AuthMethod::Gss => "gss",
        AuthMethod::Sspi => "sspi",
        AuthMethod::Ident => "ident",
        AuthMethod::Peer => "peer",
        AuthMethod::Cert => "cert",
        AuthMethod::OAuth => "oauth",
        AuthMethod::Iam => "iam",
    }
    .into()
}

/// Normalises an error text for comparison: regex errors keep only PostgreSQL's
/// fixed prefix (the engines word their reasons differently).
fn norm_error(e: &Option<String>) -> Option<String> {
    e.as_ref().map(|s| {
        if let Some(rest) = s.strip_prefix("invalid regular expression \"") {
            let pat = rest.rsplit_once("\": ").map_or(rest, |(p, _)| p);
            format!("invalid regular expression \"{pat}\"")
        } else {
            s.clone()
        }
    })
}

struct Runner<'a> {
    cluster: &'a kit::Cluster,
    version: kit::PgVersion,
    opts: ParseOptions,
    interfaces: Vec<gatehouse_hba::InterfaceAddr>,
    failures: Vec<String>,
    written: Vec<PathBuf>,
    os_user: String,
}

impl<'c> Runner<'c> {
    fn new(cluster: &'c kit::Cluster, opts: ParseOptions) -> Runner<'c> {
        Runner {
            cluster,
            version: cluster.version(),
            opts,
            interfaces: system_interfaces().expect("interfaces"),
            failures: Vec::new(),
            written: Vec::new(),
            os_user: os_user(),
        }
    }

    fn fail(&mut self, case: &str, msg: String) {
        self.failures
            .push(format!("[pg{}] {case}: {msg}", self.version.major()));
    }

    fn clean_conf_dir(&mut self) {
        for p in self.written.drain(..) {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) {
        let top = rel.split('/').next().unwrap_or(rel);
        self.written.push(self.cluster.conf_dir().join(top));
        self.cluster
            .write_conf_file(rel, bytes)
            .expect("write conf file");
    }

    /// Compares the rows and returns the server's (empty when it could not be read).
    fn compare_hba_rows(&mut self, name: &str, ours: &HbaFile) -> Vec<kit::HbaFileRule> {
        let theirs = match self.cluster.hba_file_rules() {
            Ok(r) => r,
            Err(e) => {
                self.fail(name, format!("pg_hba_file_rules failed: {e}"));
                return Vec::new();
            }
        };
        let v16 = self.version.major() >= 16;
        let rows = ours.rows();
        if theirs.len() != rows.len() {
            self.fail(
                name,
                format!(
                    "row count: postgres {} vs gatehouse {}\n  pg: {theirs:?}\n  gh: {:?}",
                    theirs.len(),
                    rows.len(),
                    rows
                ),
            );
            return theirs;
        }
        for (t, o) in theirs.iter().zip(&rows) {
            // 15 has no rule_number / file_name columns.
            let same_16 = t.rule_number == o.rule_number.map(|n| n as i32)
                && t.file_name.as_deref() == Some(o.file_name.as_str());
            let same = (!v16 || same_16)
                && t.line_number == Some(o.line_number as i32)
                && t.rule_type == o.rule_type
                && t.database == o.database
                && t.user_name == o.user_name
                && t.address == o.address
                && t.netmask == o.netmask
                && t.auth_method == o.auth_method
                && t.options == o.options
                && norm_error(&t.error) == norm_error(&o.error);
            if !same {
                self.fail(name, format!("row differs\n  pg: {t:?}\n  gh: {o:?}"));
            }
        }
        theirs
    }

    fn compare_ident_rows(&mut self, name: &str, ours: &IdentFile) {
        let theirs = match self.cluster.ident_file_mappings() {
            Ok(r) => r,
            Err(e) => return self.fail(name, format!("pg_ident_file_mappings failed: {e}")),
        };
        let v16 = self.version.major() >= 16;
        let ok = theirs.len() == ours.rows.len()
            && theirs.iter().zip(&ours.rows).all(|(t, o)| {
                (!v16 || t.map_number == o.map_number.map(|n| n as i32))
                    && t.line_number == Some(o.line_number as i32)
                    && t.map_name == o.map_name
                    && t.sys_name == o.sys_name
                    && t.pg_username == o.pg_username
                    && norm_error(&t.error) == norm_error(&o.error)
            });
        if !ok {
            self.fail(
                name,
                format!("ident rows differ\n  pg: {theirs:?}\n  gh: {:?}", ours.rows),
            );
        }
    }

    fn run_case(&mut self, case: &Case) {
        self.clean_conf_dir();
        let b64 = base64::engine::general_purpose::STANDARD;
        for (rel, text) in &case.files {
            self.write(rel, text.as_bytes());
        }
        for (rel, enc) in &case.files_b64 {
            let bytes = b64.decode(enc.trim()).expect("files_b64 is base64");
            self.write(rel, &bytes);
        }
        let hba: Vec<u8> = match (&case.hba, &case.hba_b64) {
            (Some(t), _) => t.clone().into_bytes(),
            (None, Some(enc)) => b64.decode(enc.trim()).expect("hba_b64 is base64"),
            (None, None) => Vec::new(),
        };
        self.cluster
            .write_conf_file("pg_hba.conf", &hba)
            .expect("write hba");
        let ident_text = case.ident.clone().unwrap_or_default();
        self.cluster.write_ident(&ident_text).expect("write ident");
        let reload = match self.cluster.reload() {
            Ok(r) => r,
            Err(e) => return self.fail(&case.name, format!("reload failed: {e}")),
        };
        let hba_path = self.cluster.hba_path().to_string_lossy().into_owned();
        let ours = match HbaFile::load(&hba_path, &OsFiles, &self.opts, &SystemResolver) {
            Ok(h) => h,
            Err(e) => {
                return self.fail(
                    &case.name,
                    format!("gatehouse could not read the file: {e}"),
                )
            }
        };
        let pg_rows = self.compare_hba_rows(&case.name, &ours);
        let ipath = self.cluster.ident_path().to_string_lossy().into_owned();
        let ident = IdentFile::load(&ipath, &OsFiles, &self.opts).unwrap_or_default();
        if case.ident.is_some() {
            self.compare_ident_rows(&case.name, &ident);
        }
        if ident.is_loadable() != reload.ident_reloaded {
            self.fail(
                &case.name,
                format!(
                    "ident loadable: postgres {} vs gatehouse {}",
                    reload.ident_reloaded,
                    ident.is_loadable()
                ),
            );
        }
        if reload.hba_reloaded != ours.is_loadable() {
            return self.fail(
                &case.name,
                format!(
                    "loadable: postgres {} vs gatehouse {} (gatehouse errors: {:?}; server log: {:?})",
                    reload.hba_reloaded, ours.is_loadable(), ours.errors, reload.log
                ),
            );
        }
        let major = self.version.major();
        let expected_error = match major {
            15 => case.load_error_15.as_ref().or(case.load_error.as_ref()),
            _ => case.load_error_18.as_ref().or(case.load_error.as_ref()),
        };
        let load_ok_override = match major {
            15 => case.load_ok_15,
            _ => case.load_ok_18,
        };
        if let (Some(want), None | Some(false)) = (expected_error, load_ok_override) {
            let mut pg_text = reload.log.join("\n");
            for e in pg_rows.iter().filter_map(|r| r.error.as_ref()) {
                pg_text.push('\n');
                pg_text.push_str(e);
            }
            let ours_text: Vec<String> = ours.errors.iter().map(|d| d.message.clone()).collect();
            if reload.hba_reloaded || !pg_text.contains(want.as_str()) {
                self.fail(
                    &case.name,
                    format!("expected load error {want:?}; server log: {pg_text}"),
                );
            }
            if !ours_text.iter().any(|m| m.contains(want.as_str())) {
                self.fail(
                    &case.name,
                    format!("expected load error {want:?}; gatehouse: {ours_text:?}"),
                );
            }
        }
        if !reload.hba_reloaded {
            return;
        }
        let interfaces = self.interfaces.clone();
        let env = MatchEnv {
            interfaces: &interfaces,
            resolver: &SystemResolver,
        };
        for p in &case.probe {
            let (source, transport) = if p.from == "local" {
                (kit::Source::Unix, Transport::Local)
            } else {
                let addr: IpAddr = p.from.parse().expect("probe address");
                if addr.is_ipv6() && !self.cluster.ipv6() {
                    continue;
                }
                (
                    kit::Source::Tcp(addr),
                    Transport::Tcp {
                        addr,
                        ssl: p.ssl,
                        gssenc: false,
                    },
                )
            };
            let probe = kit::Probe {
                source,
                ssl: p.ssl,
                user: p.user.clone(),
                database: p.database.clone(),
                replication: p.replication.clone(),
            };
            let server = match self.cluster.probe(&probe) {
                Ok(o) => server_label(&o),
                Err(e) => {
                    self.fail(&case.name, format!("probe {} failed: {e}", p.from));
                    continue;
                }
            };
            let (user, database) = gatehouse_hba::startup_names(&p.user, &p.database);
            let m = membership(&user);
            let conn = Connection {
                transport,
                user: &user,
                database: &database,
                replication: match p.replication.as_deref() {
                    Some("true") => Replication::Physical,
                    Some("database") => Replication::Logical,
                    _ => Replication::None,
                },
                membership: &m,
            };
            let line = ours.find(&conn, &env);
            if line.is_some_and(|l| l.method == AuthMethod::Peer) && !reload.ident_reloaded {
                continue; // the server kept an older pg_ident.conf
            }
            let gh = gatehouse_label(line, &ident, &user, &self.os_user);
            let what = format!(
                "probe from {} ssl={} user={} db={} repl={:?}",
                p.from, p.ssl, p.user, p.database, p.replication
            );
            if server != gh {
                self.fail(
                    &case.name,
                    format!(
                        "{what}: postgres {server} vs gatehouse {gh} (line {:?})",
                        line.map(|l| l.line)
                    ),
                );
            }
            let expect = match major {
                15 => p.expect_15.as_ref().or(p.expect.as_ref()),
                _ => p.expect_18.as_ref().or(p.expect.as_ref()),
            };
            if let Some(want) = expect {
                if &server != want {
                    self.fail(
                        &case.name,
                        format!("{what}: expected {want}, postgres said {server}"),
                    );
                }
            }
        }
    }
}

/// Starts a cluster with `options`, creates the role universe, tells the engine the
/// same version, build and settings (`tweak`), runs `body`, and fails with every
/// disagreement it recorded.
fn with_runner(
    options: kit::ClusterOptions,
    tweak: impl FnOnce(&mut ParseOptions),
    body: impl FnOnce(&mut Runner<'_>),
) {
    let version = options.version;
    assert!(
        kit::available(version),
        "PostgreSQL {version} binaries not found: run scripts/install-deps"
    );
    let cluster = kit::Cluster::start_with(options).expect("start cluster");
    cluster.execute(ROLES_SQL).expect("create roles");
    let mut engine = engine_options(version, kit::features(version).expect("build features"));
    tweak(&mut engine);
    let mut r = Runner::new(&cluster, engine);
    body(&mut r);
    r.clean_conf_dir();
    assert!(
        r.failures.is_empty(),
        "{} disagreements:\n{}",
        r.failures.len(),
        r.failures.join("\n")
    );
}

fn run_cases(version: kit::PgVersion) {
    with_runner(
        kit::ClusterOptions::new(version),
        |_| {},
        |r| {
            let mut ran = 0;
            for case in &load_cases() {
                if case
                    .versions
                    .as_ref()
                    .is_some_and(|vs| !vs.contains(&version.major()))
                {
                    continue;
                }
                r.run_case(case);
                ran += 1;
            }
            eprintln!(
                "pg{}: {ran} cases, {} disagreements",
                version.major(),
                r.failures.len()
            );
            assert!(ran >= 100, "too few cases ran: {ran}");
        },
    );
}

fn run_corpus(version: kit::PgVersion) {
    with_runner(
        kit::ClusterOptions::new(version),
        |_| {},
        |r| {
            let dir = cases_dir().join("corpus");
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .expect("corpus dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            files.sort();
            assert!(files.len() >= 12, "corpus has {} files", files.len());
            for f in &files {
                let stem = f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                let mut case = Case {
                    name: format!("corpus/{stem}"),
                    about: String::new(),
                    versions: None,
                    hba: Some(std::fs::read_to_string(f).expect("corpus file")),
                    hba_b64: None,
                    ident: None,
                    files: BTreeMap::new(),
                    files_b64: BTreeMap::new(),
                    load_error: None,
                    load_error_15: None,
                    load_error_18: None,
                    load_ok_15: None,
                    load_ok_18: None,
                    probe: Vec::new(),
                };
                let side = dir.join(format!("{stem}.d"));
                if side.is_dir() {
                    for e in std::fs::read_dir(&side).expect("side dir") {
                        let p = e.expect("entry").path();
                        let rel = format!(
                            "{stem}.d/{}",
                            p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
                        );
                        case.files
                            .insert(rel, std::fs::read_to_string(&p).expect("side file"));
                    }
                }
                r.run_case(&case);
            }
        },
    );
}

#[test]
fn differential_cases_pg15() {
    run_cases(kit::PgVersion::V15);
}

#[test]
fn differential_cases_pg18() {
    run_cases(kit::PgVersion::V18);
}

#[test]
fn corpus_lints_like_pg15() {
    run_corpus(kit::PgVersion::V15);
}

#[test]
fn corpus_lints_like_pg18() {
    run_corpus(kit::PgVersion::V18);
}

/// Runs inline cases on a cluster started with non-default settings, with the engine
/// told the same settings.
fn run_with_settings(
    cluster: kit::ClusterOptions,
    tweak: impl FnOnce(&mut ParseOptions),
    cases_toml: &str,
) {
    let parsed: CaseFile = toml::from_str(cases_toml).expect("inline cases");
    assert!(!parsed.case.is_empty());
    with_runner(cluster, tweak, |r| {
        for case in &parsed.case {
            r.run_case(case);
        }
    });
}

#[test]
fn ssl_off_server_warns_on_hostssl_pg15() {
    run_with_settings(
        kit::ClusterOptions::new(kit::PgVersion::V15).ssl(false),
        |o| o.ssl_enabled = false,
        r#"
[[case]]
name = "hostssl-with-ssl-off"
hba = '''
hostssl all all 127.0.0.0/8 md5
host all all 127.0.0.0/8 scram-sha-256
local all all trust
'''
[[case.probe]]
from = "127.0.0.3"
user = "alice"
database = "appdb"
expect = "scram"
"#,
    );
}

#[test]
fn oauth_with_validator_libraries_pg18() {
    run_with_settings(
        kit::ClusterOptions::new(kit::PgVersion::V18).setting(
            "oauth_validator_libraries",
            "'corp_validator, other_validator'",
        ),
        |o| o.oauth_validator_libraries = vec!["corp_validator".into(), "other_validator".into()],
        r#"
[[case]]
name = "oauth-loads-with-validator"
hba = '''
host all all 127.0.0.0/8 oauth issuer="https://login.example.org" scope="openid profile" validator=corp_validator
local all all trust
'''
[[case.probe]]
from = "127.0.0.3"
user = "alice"
database = "appdb"
expect = "oauth"

[[case]]
name = "oauth-needs-validator-when-several"
load_error = "requires argument \"validator\" to be set when oauth_validator_libraries contains multiple options"
hba = '''
host all all 127.0.0.0/8 oauth issuer="https://login.example.org" scope="openid"
'''

[[case]]
name = "oauth-unknown-validator"
load_error = "validator \"rogue\" is not permitted by oauth_validator_libraries"
hba = '''
host all all 127.0.0.0/8 oauth issuer="https://login.example.org" scope="openid" validator=rogue
'''

[[case]]
name = "oauth-map-and-delegate"
load_error = "map cannot be used in combination with delegate_ident_mapping"
hba = '''
host all all 127.0.0.0/8 oauth issuer="https://login.example.org" scope="openid" validator=corp_validator map=m delegate_ident_mapping=1
'''

[[case]]
name = "oauth-options-in-view"
hba = '''
host all all 127.0.0.0/8 oauth issuer="https://login.example.org" scope="openid" validator=other_validator map=m
host all all 127.0.0.0/8 oauth issuer="https://b.example.org" scope="" validator=corp_validator delegate_ident_mapping=1
local all all trust
'''
[[case.probe]]
from = "127.0.0.3"
user = "bob"
database = "appdb"
expect = "oauth"
"#,
    );
}
