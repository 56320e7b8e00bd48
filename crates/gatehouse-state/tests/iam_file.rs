//! The IAM tables on disk: migration from a version 1 file, secrets encrypted at rest
//! (read from the raw rows and the raw files), the wrong key file, swapped ciphertexts.

use std::path::{Path, PathBuf};

use gatehouse_iam::directory::{MasterKey, PrincipalKind};
use gatehouse_state::{StateError, StateStore, SCHEMA_VERSION};
use rusqlite::{params, Connection};

const ACCOUNT: &str = "123456789012";
const DENY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"No","Effect":"Deny","Action":"rds-db:connect","Resource":"*"}]}"#;

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

/// The schema of version 1, as gatehouse 0.1 created it (kept here verbatim so the test
/// does not depend on the code it tests).
const V1_SCHEMA: &str = "
CREATE TABLE rules (
    id           TEXT PRIMARY KEY NOT NULL,
    group_id     TEXT NOT NULL,
    protocol     TEXT NOT NULL,
    from_port    INTEGER NOT NULL,
    to_port      INTEGER NOT NULL,
    source_kind  TEXT NOT NULL,
    source_value TEXT NOT NULL,
    description  TEXT,
    expires_at   INTEGER
);
CREATE UNIQUE INDEX rules_permission ON rules (
    group_id,
    protocol,
    (CASE WHEN protocol = '-1' THEN -1 ELSE from_port END),
    (CASE WHEN protocol = '-1' THEN -1 ELSE to_port END),
    source_kind,
    source_value
);
CREATE INDEX rules_expiry ON rules (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE members (
    group_id   TEXT NOT NULL,
    address    TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (group_id, address)
);
CREATE INDEX members_expiry ON members (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    action    TEXT NOT NULL,
    object_id TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
BEGIN
    SELECT RAISE(ABORT, 'the changes table is append-only');
END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
BEGIN
    SELECT RAISE(ABORT, 'the changes table is append-only');
END;
";

#[test]
fn a_version_1_file_is_migrated_and_keeps_its_rules() {
    let (_dir, path) = temp_db();
    {
        let conn = raw(&path);
        conn.execute_batch(V1_SCHEMA).expect("v1 schema");
        conn.execute(
            "INSERT INTO rules (id, group_id, protocol, from_port, to_port, source_kind, \
             source_value, description) VALUES ('sgr-0123456789abcdef0', 'sg-db', 'tcp', 6432, \
             6432, 'cidr', '10.0.0.0/8', 'kept')",
            [],
        )
        .expect("rule");
        conn.execute(
            "INSERT INTO members (group_id, address) VALUES ('sg-app', '10.0.3.7')",
            [],
        )
        .expect("member");
        conn.execute(
            "INSERT INTO changes (at, action, object_id, detail) VALUES (1, \
             'authorize_ingress', 'sgr-0123456789abcdef0', '{}')",
            [],
        )
        .expect("change");
        conn.pragma_update(None, "user_version", 1).expect("v1");
    }

    let s = StateStore::open(&path).expect("open migrates");
    let (rules, members) = s.snapshot_part().expect("snapshot");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].id.as_str(), "sgr-0123456789abcdef0");
    assert_eq!(rules[0].description.as_deref(), Some("kept"));
    assert_eq!(members.len(), 1);
    assert_eq!(s.changes_since(0).expect("log").len(), 1, "the log is kept");

    let version: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 2);

    // The IAM tables are there and usable; opening again migrates nothing more.
    s.iam(ACCOUNT)
        .expect("iam")
        .create_user("alice", None)
        .expect("user");
    drop(s);
    let s = StateStore::open(&path).expect("reopen");
    assert_eq!(s.snapshot_part().expect("snapshot").0.len(), 1);
    assert_eq!(
        s.iam(ACCOUNT)
            .expect("iam")
            .list_users(None)
            .expect("users")
            .len(),
        1
    );
    assert_eq!(s.changes_since(0).expect("log").len(), 2);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn secrets_are_encrypted_at_rest() {
    let (dir, path) = temp_db();
    let key = MasterKey::generate();
    let s = StateStore::open(&path).expect("open");
    let i = s.iam(ACCOUNT).expect("iam");
    i.create_user("alice", None).expect("user");
    let k = i.create_access_key("alice", &key).expect("key");

    let (nonce, ciphertext): (Vec<u8>, Vec<u8>) = raw(&path)
        .query_row(
            "SELECT secret_nonce, secret_ciphertext FROM iam_access_keys WHERE \
             access_key_id = ?1",
            params![k.access_key_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("raw row");
    assert_eq!(nonce.len(), 24);
    assert_eq!(ciphertext.len(), 40 + 16, "secret and tag");
    assert!(!contains(&ciphertext, k.secret()));
    assert!(!contains(&ciphertext, &k.secret()[..8]));

    // Nowhere in the files either (the database and its write-ahead log).
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let file = entry.expect("entry").path();
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !contains(&bytes, k.secret()),
            "{} holds the secret",
            file.display()
        );
    }
    let d = s.iam_directory(ACCOUNT, &key).expect("directory");
    assert_eq!(
        d.access_key(&k.access_key_id).expect("key").secret(),
        k.secret()
    );
}

#[test]
fn the_wrong_key_file_is_an_error_naming_the_key() {
    let (dir, path) = temp_db();
    let key_path = dir.path().join("iam.key");
    let key = MasterKey::load_or_create(&key_path).expect("key file");
    let s = StateStore::open(&path).expect("open");
    let i = s.iam(ACCOUNT).expect("iam");
    i.create_user("alice", None).expect("user");
    let k = i.create_access_key("alice", &key).expect("key");

    // The same file loads the same key.
    let again = MasterKey::load(&key_path).expect("reload");
    s.iam_directory(ACCOUNT, &again).expect("same key works");

    let other = MasterKey::generate();
    let err = s
        .iam_directory(ACCOUNT, &other)
        .expect_err("another key file");
    assert!(matches!(err, StateError::IamSecret(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&k.access_key_id), "{text}");
    assert!(text.contains("does not decrypt"), "{text}");
    assert!(!text.contains(std::str::from_utf8(k.secret()).expect("ascii")));
    assert!(!format!("{err:?}").contains(std::str::from_utf8(k.secret()).expect("ascii")));
    // Without secrets the policies are still readable.
    assert_eq!(i.policy_directory().expect("policies").users().count(), 1);
}

#[test]
fn a_ciphertext_moved_to_another_key_does_not_decrypt() {
    let (_dir, path) = temp_db();
    let key = MasterKey::generate();
    let s = StateStore::open(&path).expect("open");
    let i = s.iam(ACCOUNT).expect("iam");
    i.create_user("alice", None).expect("user");
    i.create_user("bob", None).expect("user");
    let a = i.create_access_key("alice", &key).expect("alice's key");
    let b = i.create_access_key("bob", &key).expect("bob's key");

    // Swap the encrypted secrets (and their nonces) between the two rows.
    let conn = raw(&path);
    let read = |id: &str| -> (Vec<u8>, Vec<u8>) {
        conn.query_row(
            "SELECT secret_nonce, secret_ciphertext FROM iam_access_keys WHERE \
             access_key_id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row")
    };
    let (na, ca) = read(&a.access_key_id);
    let (nb, cb) = read(&b.access_key_id);
    let write = |id: &str, n: &[u8], c: &[u8]| {
        conn.execute(
            "UPDATE iam_access_keys SET secret_nonce = ?2, secret_ciphertext = ?3 WHERE \
             access_key_id = ?1",
            params![id, n, c],
        )
        .expect("update");
    };
    write(&a.access_key_id, &nb, &cb);
    write(&b.access_key_id, &na, &ca);

    let err = s.iam_directory(ACCOUNT, &key).expect_err("swapped rows");
    let text = err.to_string();
    assert!(
        text.contains(&a.access_key_id) || text.contains(&b.access_key_id),
        "{text}"
    );
    assert!(matches!(err, StateError::IamSecret(_)), "{err:?}");

    // Put them back: it works again.
    write(&a.access_key_id, &na, &ca);
    write(&b.access_key_id, &nb, &cb);
    s.iam_directory(ACCOUNT, &key).expect("restored");
}

#[test]
fn hand_edited_rows_are_reported_not_skipped() {
    let (_dir, path) = temp_db();
    let key = MasterKey::generate();
    let s = StateStore::open(&path).expect("open");
    let i = s.iam(ACCOUNT).expect("iam");
    i.create_user("alice", None).expect("user");
    i.create_access_key("alice", &key).expect("key");
    let conn = raw(&path);

    // A key whose user is gone: the directory refuses to load rather than drop it.
    conn.execute("DELETE FROM iam_users WHERE name = 'alice'", [])
        .expect("delete");
    let err = s.iam_directory(ACCOUNT, &key).expect_err("dangling key");
    assert!(matches!(err, StateError::IamInconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("user alice"), "{err}");
    i.create_user("alice", None).expect("back");
    s.iam_directory(ACCOUNT, &key).expect("consistent again");

    // An attachment of a policy that is gone: a dropped Deny would widen access.
    let p = i.create_policy("deny", None, DENY).expect("policy");
    i.attach_policy(PrincipalKind::User, "alice", &p.arn)
        .expect("attach");
    conn.execute("DELETE FROM iam_managed_policies", [])
        .expect("delete");
    let err = s.iam_directory(ACCOUNT, &key).expect_err("dangling");
    assert!(err.to_string().contains(&p.arn), "{err}");
    conn.execute("DELETE FROM iam_attachments", [])
        .expect("fix");

    // A stored document that no longer parses (here: not even JSON).
    i.put_inline_policy(PrincipalKind::User, "alice", "p", DENY)
        .expect("policy");
    conn.execute("UPDATE iam_inline_policies SET document = '{oops'", [])
        .expect("edit");
    let err = s.iam_directory(ACCOUNT, &key).expect_err("bad document");
    assert!(
        matches!(
            err,
            StateError::CorruptRow {
                table: "iam_inline_policies",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("inline policy p of user alice"),
        "{err}"
    );
    assert!(err.to_string().contains("column document: $"), "{err}");
    conn.execute("DELETE FROM iam_inline_policies", [])
        .expect("fix");

    // A bad status or nonce names the table, row and column.
    conn.execute("UPDATE iam_access_keys SET status = 'Enabled'", [])
        .expect("status");
    let err = s.iam_directory(ACCOUNT, &key).expect_err("status");
    assert!(
        matches!(
            err,
            StateError::CorruptRow {
                table: "iam_access_keys",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("column status"), "{err}");
    conn.execute(
        "UPDATE iam_access_keys SET status = 'Active', secret_nonce = x'00'",
        [],
    )
    .expect("nonce");
    let err = s.iam_directory(ACCOUNT, &key).expect_err("nonce");
    assert!(err.to_string().contains("column secret_nonce"), "{err}");
}

#[test]
fn a_change_through_one_handle_is_seen_by_the_other() {
    let (_dir, path) = temp_db();
    let gateway = StateStore::open(&path).expect("gateway");
    let cli = StateStore::open(&path).expect("cli");
    let v0 = gateway.data_version().expect("version");
    cli.iam(ACCOUNT)
        .expect("iam")
        .create_user("alice", None)
        .expect("user");
    assert_ne!(gateway.data_version().expect("version"), v0);
    let d = gateway
        .iam_directory(ACCOUNT, &MasterKey::generate())
        .expect("directory");
    assert!(d.user("alice").is_some());

    // The gateway's own touches do not make it reload.
    let key = MasterKey::generate();
    let k = cli
        .iam(ACCOUNT)
        .expect("iam")
        .create_access_key("alice", &key)
        .expect("key");
    let v1 = gateway.data_version().expect("version");
    gateway
        .touch_access_key(&k.access_key_id, std::time::SystemTime::now())
        .expect("touch");
    assert_eq!(gateway.data_version().expect("version"), v1);
}
