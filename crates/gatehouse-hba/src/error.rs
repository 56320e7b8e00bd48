//! Errors of the engine's entry points. Problems inside a file are not errors of
//! the API: they are reported as [`crate::Diagnostic`]s and rows, as PostgreSQL does.

use thiserror::Error;

/// Why an authentication file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The top-level file cannot be opened or read. The text is PostgreSQL's:
    /// `could not open file "…": No such file or directory`.
    #[error("{0}")]
    Open(String),
}
