//! Where authentication files come from: the file system, or memory (tests, fuzzing).
//!
//! Paths are handled as PostgreSQL's `AbsoluteConfigLocation()` and
//! `canonicalize_path()` do: lexically, without resolving symbolic links.

use std::collections::BTreeMap;
use std::io;

/// Read access to configuration files and directories.
pub trait FileSource {
    /// The whole content of the file at `path` (an absolute path).
    ///
    /// Errors: the I/O error, whose text becomes part of PostgreSQL's message
    /// (`could not open file "…": No such file or directory`).
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;

    /// Names of the regular files directly inside the directory at `path` (not
    /// sub-directories), in any order.
    fn list_files(&self, path: &str) -> io::Result<Vec<String>>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFiles;

impl FileSource for OsFiles {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(21)); // EISDIR, as fopen() then read fails
        }
        std::fs::read(path)
    }

    fn list_files(&self, path: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            // Follows symlinks, like get_dirent_type(…, look_through_symlinks = true).
            let is_dir = std::fs::metadata(entry.path())
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }
}

/// An in-memory file tree keyed by absolute path; used by tests and fuzz targets.
#[derive(Clone, Debug, Default)]
pub struct MemFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFiles {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the file at absolute `path`.
    pub fn insert(&mut self, path: &str, content: impl Into<Vec<u8>>) {
        self.files.insert(canonicalize_path(path), content.into());
    }
}

impl FileSource for MemFiles {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(&canonicalize_path(path))
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(2))
    }

    fn list_files(&self, path: &str) -> io::Result<Vec<String>> {
        let dir = canonicalize_path(path);
        let prefix = if dir.ends_with('/') {
            dir.clone()
        } else {
            format!("{dir}/")
        };
        let names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
            .collect();
        let is_dir = self.files.keys().any(|k| k.starts_with(&prefix));
        if !is_dir {
            return Err(io::Error::from_raw_os_error(2));
        }
        Ok(names)
    }
}

/// The text PostgreSQL's `%m` prints for an I/O error (C `strerror`), e.g.
/// "No such file or directory".
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(pos) => text[..pos].to_owned(),
        None => text,
    }
}

/// Lexical path clean-up as PostgreSQL's `canonicalize_path()`: collapses repeated
/// slashes, drops `.` components and trailing slashes, resolves `..` against the
/// preceding component.
pub fn canonicalize_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// PostgreSQL's `AbsoluteConfigLocation(location, calling_file)`: an absolute
/// `location` is returned unchanged; a relative one is joined to the directory of
/// `calling_file` and canonicalized.
pub fn absolute_config_location(location: &str, calling_file: &str) -> String {
    if location.starts_with('/') {
        return location.to_owned();
    }
    let parent = match calling_file.rfind('/') {
        Some(0) => "/",
        Some(pos) => &calling_file[..pos],
        None => ".",
    };
    canonicalize_path(&format!("{parent}/{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_like_postgres() {
        assert_eq!(canonicalize_path("/a//b/./c/"), "/a/b/c");
        assert_eq!(canonicalize_path("/a/b/../c"), "/a/c");
        assert_eq!(canonicalize_path("/../a"), "/a");
        assert_eq!(canonicalize_path("a/../../b"), "../b");
    }

    #[test]
    fn relative_locations_follow_the_calling_file() {
        assert_eq!(
            absolute_config_location("users.txt", "/etc/pg/pg_hba.conf"),
            "/etc/pg/users.txt"
        );
        assert_eq!(
            absolute_config_location("../x/./y", "/etc/pg/pg_hba.conf"),
            "/etc/x/y"
        );
        assert_eq!(
            absolute_config_location("/abs//p", "/etc/pg/pg_hba.conf"),
            "/abs//p"
        );
    }

    #[test]
    fn strerror_drops_the_os_error_suffix() {
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(2)),
            "No such file or directory"
        );
    }
}
