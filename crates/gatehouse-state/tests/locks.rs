//! Regression: opening the store a second time in the same process (the gateway does,
//! for its IAM watcher) must not drop the first connection's SQLite locks. Before the
//! fix, `StateStore::open` opened the existing file with `std::fs` and closed it, which
//! on Linux releases every POSIX lock the process holds on it; another process's SQLite
//! closing the file then deleted the WAL under the gateway, which went on reading a
//! stale copy (an Inactive access key kept working).
#![allow(clippy::unwrap_used)]

use std::process::Command;

use gatehouse_state::StateStore;

#[test]
fn a_second_open_keeps_the_first_connections_locks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let first = StateStore::open(&path).unwrap();
    first
        .iam("123456789012")
        .unwrap()
        .create_user("before", None)
        .unwrap();
    let wal = dir.path().join("state.db-wal");
    assert!(wal.exists(), "WAL journaling is on");

    // The second open and close, in this process.
    drop(StateStore::open(&path).unwrap());

    // Another process opens, reads and closes the file (what sqlite3 or a CLI does).
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from iam_users').fetchone(); c.close()",
            path.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        wal.exists(),
        "the WAL was deleted while the store had it open"
    );

    // A change by another connection is still seen by the first one.
    let other = StateStore::open(&path).unwrap();
    other
        .iam("123456789012")
        .unwrap()
        .create_user("after", None)
        .unwrap();
    let names: Vec<String> = first
        .iam("123456789012")
        .unwrap()
        .list_users(None)
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["after", "before"]);
}
