//! Where authentication files come from: the file system, or memory (tests, fuzzing).
//!
//! Paths are handled as PostgreSQL's `AbsoluteConfigLocation()` and
//! `canonicalize_path()` do: lexically, without resolving symbolic links.

use std::collections::BTreeMap;
use std::io::{self, Read as _};

/// Largest authentication file gatehouse reads (16 MiB, about 500,000 records). PostgreSQL has no limit;
/// gatehouse refuses bigger files rather than exhaust memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// What a directory entry is, as `get_dirent_type()` sees it through symbolic links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Anything that is not a directory.
    File,
    /// A directory (skipped by `include_dir`).
    Dir,
    /// It could not be examined (e.g. a dangling symbolic link): PostgreSQL's
    /// `include_dir` fails with "could not stat file".
    Unknown,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name.
    pub name: String,
    /// Its kind.
    pub kind: EntryKind,
}

/// Read access to configuration files and directories.
pub trait FileSource {
    /// The whole content of the file at `path` (an absolute path).
    ///
    /// Errors: the I/O error, whose text becomes part of PostgreSQL's message
    /// (`could not open file "…": No such file or directory`); reading a directory
    /// fails with `EISDIR`, which includes treat as an empty file, as PostgreSQL does.
    fn read(&self, path: &str) -> io::Result<Vec<u8>>;

    /// The entries directly inside the directory at `path`, in any order.
    fn list_dir(&self, path: &str) -> io::Result<Vec<DirEntry>>;
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
        if !meta.is_file() {
            // FIFOs block and devices like /dev/zero never end: refuse them.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut data = Vec::new();
        std::fs::File::open(path)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut data)?;
        if data.len() as u64 > MAX_FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file is larger than 16 MiB",
            ));
        }
        Ok(data)
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            // Follows symlinks, like get_dirent_type(…, look_through_symlinks = true).
            let kind = match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => EntryKind::Dir,
                Ok(_) => EntryKind::File,
                Err(_) => EntryKind::Unknown,
            };
            entries.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind,
            });
        }
        Ok(entries)
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

    fn list_dir(&self, path: &str) -> io::Result<Vec<DirEntry>> {
        let dir = canonicalize_path(path);
        let prefix = if dir.ends_with('/') {
            dir.clone()
        } else {
            format!("{dir}/")
        };
        let names: Vec<DirEntry> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(|name| DirEntry {
                name: name.to_owned(),
                kind: EntryKind::File,
            })
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
