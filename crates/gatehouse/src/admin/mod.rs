//! The admin API: HTTP/JSON on a Unix socket (mode 0600, next to gatehouse.toml
//! by default), served by `gatehouse serve` and used by `gatehouse sg …`. It
//! changes the dynamic part of layer 1 — ingress rules and group members kept in
//! the state store — and republishes the network policy at once, so a revoked
//! rule stops admitting new connections immediately (and ends live sessions
//! within a second where a group asks for `enforce_on_existing`).
//!
//! Endpoints (all JSON):
//! - `GET  /v1/security-groups` — groups with their rule counts.
//! - `GET  /v1/security-group-rules[?group_id=sg-…]` — static and dynamic rules.
//! - `POST /v1/ingress/authorize` — [`AuthorizeIngress`] → the new rule.
//! - `POST /v1/ingress/revoke` — [`RevokeIngress`] → the removed rule.
//! - `POST /v1/members/register` — [`RegisterMember`] → the member.
//! - `POST /v1/members/deregister` — [`DeregisterMember`].
//!
//! Errors are `{"error": "…"}` with status 400 (bad request or AWS-style
//! refusal such as `InvalidPermission.Duplicate`) or 500.

pub mod client;
pub mod server;

use std::net::IpAddr;

use gatehouse_netacl::{GroupId, Protocol, RuleId, Source};
use serde::{Deserialize, Serialize};

/// `authorize-ingress`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeIngress {
    /// The group the rule goes into.
    pub group_id: GroupId,
    /// `tcp` or `-1`.
    pub protocol: Protocol,
    /// First port of the range.
    pub from_port: i32,
    /// Last port of the range (inclusive).
    pub to_port: i32,
    /// CIDR, prefix list or source group.
    pub source: Source,
    /// Optional description (≤ 255 characters).
    pub description: Option<String>,
    /// Seconds until the rule expires (none: permanent).
    pub expires_in_secs: Option<u64>,
}

/// `revoke-ingress`: by id, or by the same fields as the rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeIngress {
    /// The rule id.
    pub rule_id: Option<RuleId>,
    /// Or: group, protocol, ports and source.
    pub group_id: Option<GroupId>,
    /// Protocol.
    pub protocol: Option<Protocol>,
    /// First port.
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// Source.
    pub source: Option<Source>,
}

/// `register-member`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterMember {
    /// The group.
    pub group_id: GroupId,
    /// The member's address.
    pub address: IpAddr,
    /// Seconds until the membership expires.
    pub expires_in_secs: Option<u64>,
}

/// `deregister-member`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeregisterMember {
    /// The group.
    pub group_id: GroupId,
    /// The member's address.
    pub address: IpAddr,
}
