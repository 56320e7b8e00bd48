//! Arbitrary bytes as pg_hba.conf (every supported PostgreSQL version) and as
//! pg_ident.conf. The in-memory file tree makes `include`, `include_if_exists`,
//! `include_dir` and `@file` reachable through a few fixed files (one includes
//! itself and one `@file` names itself, so the nesting limit is hit). The input is
//! deliberately not includable itself: `k` self-includes per level would take
//! `k^10` steps, which PostgreSQL shares and which would only drown the run in
//! timeouts.
//!
//! Besides "never panics", checks two invariants on every loadable file: the
//! indexed `find()` agrees with `find_linear()`, and every line row is consistent.
#![no_main]

use gatehouse_hba::*;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const TOP: &str = "/etc/pg/pg_hba.conf";

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
    f.insert("/etc/pg/conf.d/x.txt", "not included\n");
    f
}

fn connections() -> Vec<(Transport, &'static str, &'static str, Replication)> {
    let tcp = |a: &str, ssl: bool| Transport::Tcp {
        addr: a.parse().expect("fixed address"),
        ssl,
        gssenc: false,
    };
    vec![
        (Transport::Local, "postgres", "postgres", Replication::None),
        (tcp("10.1.2.3", false), "alice", "app", Replication::None),
        (
            tcp("192.168.0.7", true),
            "svc_x",
            "db",
            Replication::Logical,
        ),
        (
            tcp("::1", true),
            "bob",
            "replication",
            Replication::Physical,
        ),
        (tcp("2001:db8::5", false), "all", "all", Replication::None),
    ]
}

fuzz_target!(|data: &[u8]| {
    static FILES: OnceLock<MemFiles> = OnceLock::new();
    let files = FILES.get_or_init(files);
    let member = Membership::of(["admins", "app"]);
    let env = MatchEnv {
        interfaces: &[InterfaceAddr {
            addr: "10.0.0.1".parse().expect("fixed address"),
            netmask: "255.0.0.0".parse().expect("fixed mask"),
        }],
        resolver: &NoResolver,
    };
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
        let hba = HbaFile::parse_bytes(TOP, data, files, &opts, &NoResolver);
        for d in hba.errors.iter().chain(&hba.warnings) {
            let _ = d.to_string();
        }
        for (transport, user, database, replication) in connections() {
            let conn = Connection {
                transport,
                user,
                database,
                replication,
                membership: &member,
            };
            let a = hba.find(&conn, &env).map(|l| (&l.file, l.line));
            let b = hba.find_linear(&conn, &env).map(|l| (&l.file, l.line));
            assert_eq!(a, b, "index and linear scan disagree for {conn:?}");
        }

        let ident = IdentFile::parse_bytes("/etc/pg/pg_ident.conf", data, files, &opts);
        let _ = ident.is_loadable();
        for line in ident.lines.iter().take(4) {
            let _ = ident.check(&line.map, "alice", "alice", false, &|r| r == "admins");
            let _ = ident.check(
                &line.map,
                &line.pg_user.text,
                &line.system_user.text,
                true,
                &|_| true,
            );
        }
    }
});
