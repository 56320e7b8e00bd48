//! What quickstart prints once the gateway listens: commands ready to paste.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::postgres::on_path;
use super::setup::{self, Credentials, Passwords};
use super::shell_word;

/// The last line of the banner: tests and scripts wait for it.
pub const READY: &str = "gatehouse quickstart is ready";

/// What the banner tells.
pub struct Facts {
    /// DIR.
    pub dir: PathBuf,
    /// The gateway's port.
    pub port: u16,
    /// PostgreSQL's version.
    pub version: String,
    /// The psql of the installation used.
    pub psql: PathBuf,
    /// The people's passwords.
    pub passwords: Passwords,
    /// The application's access key.
    pub credentials: Credentials,
    /// `[log] decision_file`.
    pub decision_file: Option<PathBuf>,
}

/// `name` when the one on PATH is `path` (or, with `any`, when there is one at all),
/// else `path` itself: the line pastes either way.
fn command_name(name: &str, path: &Path, any: bool) -> String {
    let found = on_path(name)
        .is_some_and(|p| any || std::fs::canonicalize(p).ok() == std::fs::canonicalize(path).ok());
    if found {
        name.to_string()
    } else {
        shell_word(&path.to_string_lossy())
    }
}

fn path(p: &Path) -> String {
    shell_word(&p.to_string_lossy())
}

/// The banner, ending with [`READY`].
pub fn text(f: &Facts, listening: &[SocketAddr]) -> String {
    let gatehouse = std::env::current_exe()
        .map(|exe| command_name("gatehouse", &exe, false))
        .unwrap_or_else(|_| "gatehouse".into());
    let psql = command_name("psql", &f.psql, true);
    let port = f.port;
    let addrs: Vec<String> = listening.iter().map(ToString::to_string).collect();
    let config = path(&f.dir.join("gatehouse.toml"));
    let mut s = String::new();
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "PostgreSQL {} runs behind gatehouse, listening on {} — the database itself takes no TCP \
         connection at all.",
        f.version,
        addrs.join(" and ")
    );
    let _ = writeln!(
        s,
        "Everything is in {} (kept when you stop; --reset starts over).",
        path(&f.dir)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "People log in with a password (SCRAM-SHA-256 over TLS, with channel binding):"
    );
    for (name, pw) in &f.passwords {
        let team = setup::PEOPLE
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, t)| t);
        let _ = writeln!(s, "  # {name}, team {team}");
        let _ = writeln!(
            s,
            "  PGPASSWORD={pw} {psql} \"host=localhost hostaddr=127.0.0.1 port={port} dbname=shop \
             user={name} sslmode=require channel_binding=require\""
        );
    }
    let _ = writeln!(
        s,
        "  (passwords: {}; try `SELECT * FROM customers` as carol: support reads orders only)",
        path(&f.dir.join("passwords.txt"))
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "The application logs in as {} with an IAM auth token, signed with IAM user {}'s access key:",
        setup::APP_ROLE,
        setup::IAM_USER
    );
    let _ = writeln!(
        s,
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        f.credentials.access_key_id, f.credentials.secret_access_key
    );
    let _ = writeln!(
        s,
        "  PGPASSWORD=\"$({gatehouse} token generate --hostname localhost --port {port} --region {} \
         --username {})\" {psql} \"host=localhost hostaddr=127.0.0.1 port={port} dbname=shop user={} \
         sslmode=require\"",
        setup::REGION,
        setup::APP_ROLE,
        setup::APP_ROLE
    );
    let _ = writeln!(
        s,
        "  (any AWS SDK's generate_db_auth_token for localhost:{port} works the same; the key is \
         also in {})",
        path(&f.dir.join("aws-credentials"))
    );
    let _ = writeln!(s);
    if listening.iter().any(SocketAddr::is_ipv6) {
        let _ = writeln!(
            s,
            "The security group allows sources in 127.0.0.0/8 only. A client of [::1]:{port} comes \
             from ::1, a source outside it: the gateway closes the connection before reading a \
             byte (layer 1):"
        );
        let _ = writeln!(
            s,
            "  {psql} \"host=::1 port={port} dbname=shop user=alice sslmode=require\"   # server closed the connection unexpectedly"
        );
    } else {
        let _ = writeln!(
            s,
            "The security group allows sources in 127.0.0.0/8 only; one outside it (::1, say) is \
             closed before a byte is read (layer 1)."
        );
    }
    let _ = writeln!(s, "explain says which rule decides, offline:");
    let _ = writeln!(
        s,
        "  {gatehouse} explain --config {config} --address ::1 --port {port} --ssl --user alice \
         --database shop --member-of admin"
    );
    let _ = writeln!(
        s,
        "(That is why the lines above say hostaddr=127.0.0.1: localhost may resolve to ::1 first, \
         and libpq tries no other address once a server has closed the connection.)"
    );
    let _ = writeln!(s);
    if let Some(log) = &f.decision_file {
        let _ = writeln!(
            s,
            "Every decision (network rule, pg_hba line, method, IAM statement or check, outcome) is \
             one JSON line in {}; the terminal shows them as text.",
            path(log)
        );
    }
    let _ = writeln!(s, "Ctrl-C stops gatehouse and PostgreSQL.");
    let _ = writeln!(s);
    let _ = writeln!(s, "{READY}");
    s
}
