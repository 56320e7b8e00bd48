//! `gatehouse quickstart [--dir DIR] [--port PORT] [--reset]`: a throwaway PostgreSQL
//! that only the gateway can reach, the example shop and its teams, an IAM user for
//! the application, and the gateway in front of it all, in this process; prints how
//! to connect; SIGINT/SIGTERM stop the gateway and the database. DIR is kept, so the
//! next run reuses it (docs/quickstart.md).

mod banner;
mod postgres;
mod setup;

use std::net::{Ipv6Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::config;
use crate::serve_cmd;

/// The gateway's port when DIR has no configuration yet.
const DEFAULT_PORT: u16 = 6432;

/// Marks a folder as the quickstart's (and records how far the first run went).
const MARKER: &str = ".gatehouse-quickstart";
/// The marker's content once the database is seeded.
const SEEDED: &str = "seeded\n";

/// Everything quickstart makes in DIR: what `--reset` removes (nothing else).
/// Held (flock) by the running quickstart of a DIR.
const LOCK_FILE: &str = ".quickstart.lock";

const MADE: &[&str] = &[
    MARKER,
    LOCK_FILE,
    "data",
    "socket",
    "postgresql.log",
    "gatehouse.toml",
    "pg_hba.conf",
    "server.crt",
    "server.key",
    "gatehouse-state.sqlite",
    "gatehouse-state.sqlite-wal",
    "gatehouse-state.sqlite-shm",
    "gatehouse-state.sqlite-journal",
    "gatehouse-iam.key",
    "gatehouse-admin.sock",
    "passwords.txt",
    "aws-credentials",
    "decisions.log",
];

/// Arguments of `quickstart`.
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// The folder for the database, the configuration and the secrets (created when
    /// missing; kept when quickstart stops, and reused by the next run).
    #[arg(long, default_value = "gatehouse-quickstart")]
    dir: PathBuf,
    /// The gateway's port [default: 6432; a later run uses the port DIR was made with].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Start over: stop a database left running in DIR and remove everything quickstart
    /// made there (nothing else) before setting up again.
    #[arg(long)]
    reset: bool,
}

/// One line of progress, at once (stdout is line-buffered).
macro_rules! step {
    ($($arg:tt)*) => {{
        println!("quickstart: {}", format_args!($($arg)*));
    }};
}

/// Runs `quickstart` until SIGINT or SIGTERM.
pub fn run(args: &QuickstartArgs) -> Result<u8> {
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("{}: cannot resolve", args.dir.display()))?;
    let install = postgres::find()?;
    let mut cluster = postgres::Cluster::new(install, &dir)?;
    // One quickstart per DIR: a second one (even a --reset) would pull the database
    // out from under the first.
    let mut lock = if dir.join(MARKER).exists() {
        Some(lock_dir(&dir)?)
    } else {
        None
    };
    if args.reset {
        reset(&dir, &mut cluster)?;
    }
    cluster.preflight()?;

    let cfg_path = dir.join("gatehouse.toml");
    let existing = if cfg_path.exists() {
        Some(config::load(&cfg_path).with_context(|| {
            format!(
                "{} (fix it, or start over with --reset)",
                cfg_path.display()
            )
        })?)
    } else {
        None
    };
    let port = match (&existing, args.port) {
        (Some(loaded), wanted) => {
            let port = loaded.gateway.listen[0].port();
            if let Some(w) = wanted.filter(|w| *w != port) {
                bail!(
                    "{} was made for port {port}: run with --port {port}, or start over with \
                     --reset --port {w}",
                    dir.display()
                );
            }
            port
        }
        (None, wanted) => wanted.unwrap_or(DEFAULT_PORT),
    };
    if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
        bail!("port {port} on 127.0.0.1 is not free ({e}): choose another with --port");
    }
    drop(existing);
    let fresh = claim(&dir, cluster.switches_user())?;
    if lock.is_none() {
        lock = Some(lock_dir(&dir)?);
    }
    if fresh {
        step!("setting up in {}", dir.display());
    } else {
        step!("reusing {} (--reset starts over)", dir.display());
    }

    // The database.
    cluster.prepare()?;
    let version = cluster.install().version.clone();
    if !cluster.initialised() {
        step!(
            "initialising PostgreSQL {version} in {}…",
            cluster.data_dir().display()
        );
        cluster.init()?;
    }
    if cluster.running_already() {
        step!("stopping the PostgreSQL an earlier run left running…");
        cluster.stop()?;
    }
    step!(
        "starting PostgreSQL {version} (Unix socket only, in {})…",
        cluster.socket_dir().display()
    );
    cluster.start()?;
    let passwords = seed(&dir, &cluster)?;

    // The gateway's files.
    if !cfg_path.exists() {
        write_gateway_files(&dir, port)?;
    }
    let loaded = config::load(&cfg_path)?;
    let Some(iam) = loaded.iam.clone() else {
        bail!(
            "{}: no [iam] section (start over with --reset)",
            cfg_path.display()
        );
    };
    let (credentials, made) = setup::iam_user(
        &loaded.state_file,
        &iam.key_file,
        &iam.settings.resource_id,
        &dir.join("aws-credentials"),
    )?;
    if made {
        step!(
            "created IAM user {} with an access key and the policy {} (rds-db:connect as {})",
            setup::IAM_USER,
            setup::POLICY_NAME,
            setup::APP_ROLE
        );
    }

    // The gateway, in this process, until SIGINT or SIGTERM.
    step!("starting gatehouse…");
    serve_cmd::init_logging(&loaded.log)?;
    let facts = banner::Facts {
        dir: dir.clone(),
        port,
        version,
        psql: cluster.install().psql.clone(),
        passwords,
        credentials,
        decision_file: loaded.log.decision_file.clone(),
    };
    serve_cmd::runtime()?.block_on(async {
        let started = serve_cmd::start(&cfg_path, loaded).await?;
        print!("{}", banner::text(&facts, &started.local_addrs()));
        started.run(serve_cmd::shutdown_signal()).await
    })?;
    step!("stopping gatehouse and PostgreSQL…");
    cluster.stop()?;
    step!(
        "stopped. {} is kept: run again to reuse it (same passwords and key), or with --reset to start over",
        dir.display()
    );
    drop(lock);
    Ok(0)
}

/// An exclusive `flock` on `DIR/.quickstart.lock`, held until the returned value is
/// dropped (or the process ends, however it ends).
fn lock_dir(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::errno::Errno::EWOULDBLOCK {
            anyhow::anyhow!(
                "another gatehouse quickstart is running in {}: stop it first (Ctrl-C), or use another --dir",
                dir.display()
            )
        } else {
            anyhow::anyhow!("cannot lock {}: {e}", path.display())
        }
    })
}

/// Creates DIR (or checks it is the quickstart's) and marks it. Returns whether it
/// is new. When the database runs as another OS user, DIR is made searchable (0711)
/// so that user reaches its own `data/` and `socket/` inside.
fn claim(dir: &Path, switches_user: bool) -> Result<bool> {
    let marker = dir.join(MARKER);
    if marker.exists() {
        return Ok(false);
    }
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty and was not made by gatehouse quickstart: choose another --dir",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mode = if switches_user { 0o711 } else { 0o700 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", dir.display()))?;
    std::fs::write(&marker, "new\n")
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(true)
}

/// `--reset`: stops a database left running, removes what quickstart made.
fn reset(dir: &Path, cluster: &mut postgres::Cluster) -> Result<()> {
    if !dir.join(MARKER).exists() {
        return Ok(());
    }
    if cluster.running_already() {
        step!("stopping the PostgreSQL running in {}…", dir.display());
        cluster.stop()?;
    }
    step!("removing what quickstart made in {}", dir.display());
    // The marker last: a reset cut short is still recognised as ours.
    for name in MADE.iter().skip(1).chain(MADE.iter().take(1)) {
        let p = dir.join(name);
        let result = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
        }
    }
    Ok(())
}

/// The people's passwords: made and applied with the seed on the first run, read
/// back afterwards.
fn seed(dir: &Path, cluster: &postgres::Cluster) -> Result<setup::Passwords> {
    let marker = dir.join(MARKER);
    let pw_file = dir.join("passwords.txt");
    let seeded = std::fs::read_to_string(&marker).is_ok_and(|m| m == SEEDED);
    if seeded {
        return setup::read_passwords(&pw_file);
    }
    let passwords = if pw_file.exists() {
        setup::read_passwords(&pw_file)?
    } else {
        let p: setup::Passwords = setup::PEOPLE
            .iter()
            .map(|(name, _)| (name.to_string(), setup::new_password()))
            .collect();
        setup::write_new(&pw_file, &setup::passwords_text(&p), 0o600)?;
        p
    };
    step!("creating the gatehouse_auth login (docs/upstream-setup.sql)…");
    step!("creating database shop, its tables and teams (examples/quickstart/seed.sql)…");
    cluster
        .psql(&setup::seed_script(&passwords))
        .with_context(|| {
            "seeding the database failed (run again with --reset to start over)".to_string()
        })?;
    std::fs::write(&marker, SEEDED)
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(passwords)
}

/// gatehouse.toml, pg_hba.conf and the certificate, for `port`.
fn write_gateway_files(dir: &Path, port: u16) -> Result<()> {
    step!(
        "writing gatehouse.toml, pg_hba.conf and a self-signed certificate (localhost, 127.0.0.1)…"
    );
    let ipv6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok();
    let (cert, key) = setup::certificate()?;
    for (name, text, mode) in [
        ("server.crt", cert.as_str(), 0o644),
        ("server.key", key.as_str(), 0o600),
        ("pg_hba.conf", setup::hba_text().as_str(), 0o644),
    ] {
        let p = dir.join(name);
        if !p.exists() {
            setup::write_new(&p, text, mode)?;
        }
    }
    // Last: its presence means the others are there.
    setup::write_new(
        &dir.join("gatehouse.toml"),
        &setup::config_text(port, ipv6, &setup::new_resource_id()),
        0o644,
    )
}

/// Paths as a shell reads them back: quoted when they hold anything unusual.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,=@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("/tmp/gatehouse-quickstart"),
            "/tmp/gatehouse-quickstart"
        );
        assert_eq!(shell_word("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_foreign_folder_is_refused_and_ours_recognised() {
        let t = tempfile::tempdir().unwrap();
        let mine = t.path().join("qs");
        assert!(claim(&mine, false).unwrap());
        assert!(!claim(&mine, false).unwrap());
        let theirs = t.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
        let e = claim(&theirs, false).unwrap_err().to_string();
        assert!(e.contains("not made by gatehouse quickstart"), "{e}");
    }
}
