//! `gatehouse.toml`: read, resolve relative paths against the file's directory,
//! load every file it names, and build the gateway's run-time configuration.
//! Each error names the file and, where the format has one, the line.

mod build;
mod file;
pub mod iam;

pub use build::{admin_socket, load, Loaded};
pub use file::LogSection;
