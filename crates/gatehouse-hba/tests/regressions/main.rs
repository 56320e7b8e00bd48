//! Replays inputs that once crashed the parser (found by `cargo fuzz run hba_parse`
//! or by the property tests): each file under `tests/regressions/inputs/` goes
//! through every PostgreSQL version's pg_hba.conf parser, the matcher and the
//! pg_ident.conf parser, and must not panic.
//! Each input is named after what it caught (e.g. `ldapurl-char-boundary-*`: a
//! non-ASCII `ldapurl=` value sliced inside a character).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gatehouse_hba::*;

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

#[test]
fn fixed_regressions_do_not_panic() {
    for path in inputs() {
        let data = std::fs::read(&path).expect("input");
        eprintln!("replaying {}", path.display());
        replay(&data);
    }
}
