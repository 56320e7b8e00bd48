//! Replays inputs that once crashed the parser (found by `cargo fuzz run hba_parse`
//! or by the property tests): each file under `tests/regressions/inputs/` goes
//! through every PostgreSQL version's pg_hba.conf parser, the matcher and the
//! pg_ident.conf parser, and must not panic.
//!
//! Inputs for bugs that are still open are listed in [`KNOWN_OPEN`]; they are
//! replayed by the ignored test `known_open_bugs` (`cargo test -p gatehouse-hba
//! --test regressions -- --ignored`). Move an input out of the list once its bug is
//! fixed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gatehouse_hba::*;

/// Inputs whose bug is not fixed yet, with the bug.
const KNOWN_OPEN: &[(&str, &str)] = &[
    (
        "fuzz-ldapurl-char-boundary",
        "ldapurl.rs slices url[..4] at a byte that is not a char boundary",
    ),
    (
        "ldapurl-char-boundary-min",
        "ldapurl.rs slices url[..4] at a byte that is not a char boundary",
    ),
];

fn files() -> MemFiles {
    let mut f = MemFiles::new();
    f.insert(
        "/etc/pg/self.conf",
        "include self.conf\nlocal all all trust\n",
    );
    f.insert(
        "/etc/pg/users",
        "alice, bob\n+admins \"all\" /^svc_\n@users\n",
    );
    f.insert("/etc/pg/dbs", "app,\"sameuser\"\n# comment\nreplication\n");
    f.insert("/etc/pg/conf.d/10-a.conf", "host all all 10.0.0.0/8 md5\n");
    f.insert(
        "/etc/pg/conf.d/20-b.conf",
        "include_if_exists ../nothing.conf\n",
    );
    f
}

fn replay(data: &[u8]) {
    let files = files();
    let member = Membership::of(["admins"]);
    let env = MatchEnv {
        interfaces: &[],
        resolver: &NoResolver,
    };
    let addr: IpAddr = "10.1.2.3".parse().expect("fixed address");
    for version in [
        PgVersion::V15,
        PgVersion::V16,
        PgVersion::V17,
        PgVersion::V18,
    ] {
        let opts = ParseOptions {
            version,
            ..ParseOptions::default()
        };
        let hba = HbaFile::parse_bytes("/etc/pg/pg_hba.conf", data, &files, &opts, &NoResolver);
        let conn = Connection {
            transport: Transport::Tcp {
                addr,
                ssl: true,
                gssenc: false,
            },
            user: "alice",
            database: "app",
            replication: Replication::None,
            membership: &member,
        };
        assert_eq!(
            hba.find(&conn, &env).map(|l| l.line),
            hba.find_linear(&conn, &env).map(|l| l.line)
        );
        let ident = IdentFile::parse_bytes("/etc/pg/pg_ident.conf", data, &files, &opts);
        let _ = ident.check("m", "alice", "alice", false, &|_| false);
    }
}

fn inputs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/inputs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("inputs directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    paths
}

fn is_known_open(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    KNOWN_OPEN.iter().any(|(n, _)| *n == name)
}

#[test]
fn fixed_regressions_do_not_panic() {
    for path in inputs().into_iter().filter(|p| !is_known_open(p)) {
        let data = std::fs::read(&path).expect("input");
        eprintln!("replaying {}", path.display());
        replay(&data);
    }
}

#[test]
#[ignore = "open gatehouse-hba bugs; see KNOWN_OPEN"]
fn known_open_bugs() {
    let mut failed = Vec::new();
    for path in inputs().into_iter().filter(|p| is_known_open(p)) {
        let data = std::fs::read(&path).expect("input");
        if std::panic::catch_unwind(|| replay(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "still panicking: {failed:?}");
}

#[test]
fn known_open_entries_exist() {
    let names: Vec<String> = inputs()
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
        .collect();
    for (name, _) in KNOWN_OPEN {
        assert!(names.iter().any(|n| n == name), "missing input {name}");
    }
}
