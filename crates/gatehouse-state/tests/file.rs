//! The SQLite file: persistence, several handles and processes, corrupt rows, schema.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use common::*;
use gatehouse_state::{ChangeAction, StateError, StateStore, SCHEMA_VERSION};
use rusqlite::Connection;

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    (dir, path)
}

fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("raw connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

#[test]
fn state_survives_reopening() {
    let (_dir, path) = temp_db();
    let (rule, m) = {
        let s = StateStore::open(&path).expect("create");
        let mut r = spec("10.0.0.0/8", 6432);
        r.expires_at = Some(in_secs(3600));
        r.description = Some("on call".to_owned());
        let rule = s.authorize_ingress(r, &config()).expect("authorize");
        let m = s
            .register_member(
                member("sg-app", "2001:db8::7", Some(in_secs(60))),
                &config(),
            )
            .expect("register");
        (rule, m)
    };
    let s = StateStore::open(&path).expect("reopen");
    assert_eq!(s.path(), Some(path.as_path()));
    assert_eq!(s.snapshot_part().expect("snapshot"), (vec![rule], vec![m]));
    assert_eq!(s.changes_since(0).expect("changes").len(), 2);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn open_errors_name_the_file() {
    let (_dir, path) = temp_db();
    let missing_dir = path.join("nope").join("state.db");
    let err = StateStore::open(&missing_dir).expect_err("no such directory");
    assert!(matches!(err, StateError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("nope/state.db"), "{err}");

    std::fs::write(
        &path,
        b"this is not a database, just some text that is long enough",
    )
    .expect("write");
    let err = StateStore::open(&path).expect_err("not a database");
    assert!(err.to_string().contains("not a database"), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = temp_db();
    drop(StateStore::open(&path).expect("create"));
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump version");
    let err = StateStore::open(&path).expect_err("newer schema");
    assert!(
        matches!(
            err,
            StateError::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION
            } if found == SCHEMA_VERSION + 1
        ),
        "{err:?}"
    );
}

#[test]
fn a_write_through_one_handle_changes_data_version_of_the_other() {
    let (_dir, path) = temp_db();
    let gateway = StateStore::open(&path).expect("gateway");
    let cli = StateStore::open(&path).expect("cli");
    let v0 = gateway.data_version().expect("version");
    assert_eq!(gateway.data_version().expect("version"), v0, "stable");

    let cli_v0 = cli.data_version().expect("cli version");
    cli.authorize_ingress(spec("10.0.0.0/8", 6432), &config())
        .expect("authorize");
    let v1 = gateway.data_version().expect("version");
    assert_ne!(v1, v0, "another connection committed");
    // A handle's own commits do not move its data_version.
    assert_eq!(cli.data_version().expect("cli version"), cli_v0);
    assert_eq!(gateway.snapshot_part().expect("snapshot").0.len(), 1);

    // Nor do reads of the other handle.
    cli.snapshot_part().expect("read");
    assert_eq!(gateway.data_version().expect("version"), v1);

    gateway
        .register_member(member("sg-app", "10.0.3.7", None), &config())
        .expect("register");
    assert_ne!(cli.data_version().expect("cli version"), cli_v0);
    assert_eq!(gateway.data_version().expect("version"), v1);
}

#[test]
fn corrupt_rows_are_errors_naming_table_row_and_column() {
    let (_dir, path) = temp_db();
    let s = StateStore::open(&path).expect("open");
    let mut good = spec("10.0.0.0/8", 6432);
    good.id = Some(rid("sgr-good"));
    s.authorize_ingress(good, &config()).expect("authorize");
    assert_eq!(s.snapshot_part().expect("clean").0.len(), 1);

    let conn = raw(&path);
    let bad_rule = |sql: &str| -> String {
        conn.execute_batch(&format!("DELETE FROM rules WHERE id != 'sgr-good'; {sql}"))
            .expect("raw sql");
        let err = s.snapshot_part().expect_err("corrupt row");
        assert!(matches!(err, StateError::CorruptRow { .. }), "{err:?}");
        err.to_string()
    };
    let insert = "INSERT INTO rules (rowid, id, group_id, protocol, from_port, to_port, \
                  source_kind, source_value, description, expires_at) VALUES";

    let text = bad_rule(&format!(
        "{insert} (7, 'sgr-x', 'sg-db', 'tcp', 1, 2, 'cidr', '10.0.0.300/8', NULL, NULL)"
    ));
    assert!(
        text.starts_with(
            "state store table rules, row 7 (sgr-x): column source_value: \"10.0.0.300/8\""
        ),
        "{text}"
    );
    assert!(text.ends_with("fix or delete that row"), "{text}");

    let text = bad_rule(&format!(
        "{insert} (8, x'dead', 'sg-db', 'tcp', 1, 2, 'cidr', '10.0.0.0/8', NULL, NULL)"
    ));
    assert_eq!(
        text,
        "state store table rules, row 8: column id: expected text, found a blob of 2 bytes; \
         fix or delete that row"
    );

    let text = bad_rule(&format!(
        "{insert} (9, 'sgr-x', 'sg-db', 'udp', 1, 2, 'cidr', '10.0.0.0/8', NULL, NULL)"
    ));
    assert!(
        text.contains("row 9 (sgr-x): column protocol: \"udp\""),
        "{text}"
    );

    let text = bad_rule(&format!(
        "{insert} (10, 'sgr-x', 'sg-db', 'tcp', 1, 70000, 'cidr', '10.0.0.0/8', NULL, NULL)"
    ));
    assert!(
        text.contains("row 10 (sgr-x): sgr-x: to_port 70000 is out of range 0-65535"),
        "{text}"
    );

    let text = bad_rule(&format!(
        "{insert} (11, 'sgr-x', 'sg-db', 'tcp', 1, 2, 'vpc', 'x', NULL, 'soon')"
    ));
    assert!(text.contains("column source_kind: \"vpc\""), "{text}");

    let text = bad_rule(&format!(
        "{insert} (12, 'sgr-x', 'sg-db', 'tcp', 1, 2, 'cidr', '10.0.0.0/8', NULL, 'soon')"
    ));
    assert!(
        text.contains("column expires_at: expected an integer, found the text \"soon\""),
        "{text}"
    );

    // A corrupt rule also blocks revoking by fields in its group (nothing is skipped),
    // but not revoking another rule by id.
    let err = s
        .revoke_ingress_matching(
            &gid("sg-db"),
            gatehouse_netacl::Protocol::Tcp,
            6432,
            6432,
            &cidr("10.0.0.0/8"),
        )
        .expect_err("corrupt row in the group");
    assert!(
        matches!(err, StateError::CorruptRow { rowid: 12, .. }),
        "{err:?}"
    );
    s.revoke_ingress(&rid("sgr-good")).expect("by id");
    conn.execute_batch("DELETE FROM rules").expect("clean");

    // Members and the change log are checked the same way.
    conn.execute_batch(
        "INSERT INTO members (rowid, group_id, address, expires_at) \
         VALUES (3, 'sg-app', '10.0.3.999', NULL)",
    )
    .expect("raw sql");
    let err = s.snapshot_part().expect_err("corrupt member");
    assert!(
        err.to_string().starts_with(
            "state store table members, row 3 (member of sg-app): column address: \"10.0.3.999\""
        ),
        "{err}"
    );
    conn.execute_batch("DELETE FROM members").expect("clean");
    assert_eq!(s.snapshot_part().expect("clean again"), (vec![], vec![]));

    conn.execute_batch(
        "INSERT INTO changes (at, action, object_id, detail) VALUES (1, 'reboot', 'x', '{}');",
    )
    .expect("raw sql");
    let err = s.changes_since(0).expect_err("corrupt change");
    assert!(
        err.to_string()
            .contains("column action: \"reboot\": unknown change action"),
        "{err}"
    );
    // The log is append-only, even for raw SQL.
    let err = conn
        .execute_batch("DELETE FROM changes")
        .expect_err("append-only");
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn four_concurrent_writers_all_succeed() {
    const THREADS: usize = 4;
    const EACH: usize = 25;
    let (_dir, path) = temp_db();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Every thread opens (and maybe creates) the file at the same moment.
                barrier.wait();
                let s = StateStore::open(&path).expect("open");
                let cfg = config();
                for i in 0..EACH {
                    let r = spec(&format!("10.{t}.{i}.0/24"), 6432);
                    s.authorize_ingress(r, &cfg).expect("authorize");
                    s.register_member(member("sg-app", &format!("10.1{t}.0.{i}"), None), &cfg)
                        .expect("register");
                    s.data_version().expect("poll");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    let s = StateStore::open(&path).expect("open");
    let (rules, members) = s.snapshot_part().expect("snapshot");
    assert_eq!(rules.len(), THREADS * EACH);
    assert_eq!(members.len(), THREADS * EACH);
    let log = s.changes_since(0).expect("changes");
    assert_eq!(log.len(), 2 * THREADS * EACH);
    let ids: Vec<i64> = log.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=(2 * THREADS * EACH) as i64).collect::<Vec<_>>());
    assert_eq!(
        log.iter()
            .filter(|c| c.action == ChangeAction::AuthorizeIngress)
            .count(),
        THREADS * EACH
    );
}

#[test]
fn one_store_shared_by_threads() {
    let s = Arc::new(StateStore::open_in_memory().expect("store"));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..10 {
                    s.register_member(member("sg-db", &format!("10.2{t}.0.{i}"), None), &config())
                        .expect("register");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(s.snapshot_part().expect("snapshot").1.len(), 40);
}
