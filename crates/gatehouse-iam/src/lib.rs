//! Layer 4's IAM half: the RDS model of "an application proves who it is with a
//! 15-minute token, and a JSON policy decides which database user it may be".
//!
//! - [`token`]: RDS IAM auth tokens, the SigV4 presigned URL that
//!   `aws rds generate-db-auth-token` (botocore `generate_db_auth_token`) makes:
//!   generation and verification.
//! - [`policy`]: IAM policy documents (AWS JSON) and AWS's evaluation logic.
//! - [`directory`]: principals (users, groups, roles), access keys and attached
//!   policies, as one immutable snapshot the gateway authorizes against.
//!
//! Pure: no I/O on the verification path, no network calls.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connect;
pub mod directory;
pub mod policy;
pub mod token;

pub use directory::{AccessKey, Directory, Group, KeyStatus, MasterKey, Role, User};
