//! The state store: what changes at run time — layer 1's dynamic ingress rules and group
//! members, and layer 4's IAM identity store (users, groups, roles, access keys with
//! encrypted secrets, policies; see [`IamStore`]).
//!
//! Security groups, static ingress rules and prefix lists come from the configuration file.
//! Operators add and remove **dynamic** ingress rules (which name groups and prefix lists
//! of the configuration) and **group members**, often temporary (`expires_at`), through
//! the CLI and the admin API. [`StateStore`] keeps them in a SQLite file that survives
//! restarts, together with an append-only log of every change ([`Change`]).
//!
//! The semantics are AWS's (`AuthorizeSecurityGroupIngress`,
//! `RevokeSecurityGroupIngress`): a rule with the same group, protocol, port range and
//! source as an existing one (stored, or from the configuration) is
//! `InvalidPermission.Duplicate`; revoking something absent is `InvalidPermission.NotFound`.
//! Rules and members are checked with `gatehouse_netacl`'s validation; errors name the
//! object and field ([`StateError`]).
//!
//! # The file
//! - Created with mode 0600 if missing; WAL journaling, `synchronous = FULL`, a 5 s busy
//!   timeout ([`BUSY_TIMEOUT`]): the gateway and a CLI may have it open at once, each
//!   write waits for the other's.
//! - Schema versioned with `PRAGMA user_version` ([`SCHEMA_VERSION`]), migrated on open.
//! - Every operation is one transaction; a mutation and its change log entry commit
//!   together.
//! - Nothing stored is lost silently: a row that does not read back as a valid rule,
//!   member or change (edited by hand, say) fails the read with
//!   [`StateError::CorruptRow`], naming the table and row.
//!
//! # Noticing another process's change
//! [`StateStore::data_version`] changes when another connection committed. The gateway
//! polls it every ~250 ms (one cheap pragma; no file read when nothing changed) and reloads
//! when it moved; it also calls [`StateStore::remove_expired`] at the next expiry:
//!
//! ```
//! use gatehouse_netacl::{GroupId, Member, SecurityGroup, Snapshot};
//! use gatehouse_state::StateStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("state.db");
//! let config = Snapshot {
//!     groups: vec![SecurityGroup {
//!         id: GroupId::new("sg-app")?,
//!         name: "app".into(),
//!         description: String::new(),
//!         enforce_on_existing: false,
//!     }],
//!     ..Snapshot::default()
//! };
//!
//! let gateway = StateStore::open(&path)?;
//! let mut seen = gateway.data_version()?;
//! let mut last_change = gateway.last_change_id()?;
//!
//! // The CLI, another process, registers a member.
//! let cli = StateStore::open(&path)?;
//! cli.register_member(
//!     Member { group_id: GroupId::new("sg-app")?, address: "10.0.3.7".parse()?, expires_at: None },
//!     &config,
//! )?;
//!
//! // One tick of the gateway's 250 ms poll loop.
//! let now = gateway.data_version()?;
//! if now != seen {
//!     seen = now;
//!     let (rules, members) = gateway.snapshot_part()?;
//!     // ... merge with the configuration's snapshot, recompile the ACLs ...
//!     for change in gateway.changes_since(last_change)? {
//!         // ... log a structured event for each ...
//!         last_change = change.id;
//!     }
//!     assert_eq!((rules.len(), members.len()), (0, 1));
//! }
//! assert_eq!(last_change, 1);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod change;
mod error;
mod iam;
mod rows;
mod schema;
mod store;

pub use change::{Change, ChangeAction, UnknownAction};
pub use error::StateError;
pub use iam::{
    IamStore, MAX_ACCESS_KEYS_PER_USER, MAX_ATTACHED_POLICIES, MAX_GROUPS_PER_USER,
    MAX_GROUP_INLINE_SIZE, MAX_MANAGED_POLICY_SIZE, MAX_ROLE_INLINE_SIZE, MAX_TRUST_POLICY_SIZE,
    MAX_USER_INLINE_SIZE,
};
pub use schema::SCHEMA_VERSION;
pub use store::{IngressRuleSpec, StateStore, BUSY_TIMEOUT};
