//! Helpers shared by the `gatehouse` CLI's integration tests (`mod support;` in each).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{Ipv6Addr, TcpListener};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python (psycopg, botocore); a missing venv fails the test with the fix.
pub fn python() -> PathBuf {
    let p = repo().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run ./scripts/install-deps (it installs psycopg and botocore)",
        p.display()
    );
    p
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A port free on both 127.0.0.1 and ::1 (for `gatehouse quickstart`, which listens
/// on both); on a machine without IPv6 loopback, one free on 127.0.0.1.
pub fn free_port_v4_v6() -> u16 {
    for _ in 0..20 {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            Ok(_) => return port,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(_) => return port, // no IPv6 here at all
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}
