//! The data model: security groups, ingress rules, prefix lists, group members, snapshots.
//!
//! These are plain data (public fields, serde) shared by the configuration file and the
//! state store. Nothing here is checked on construction; [`Snapshot::validate`] (run by
//! [`crate::Acl::compile`]) reports every problem at once.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::id::{GroupId, PrefixListId, RuleId};
use crate::time::Timestamp;

/// A security group (AWS `SecurityGroup`): a named set of ingress rules attached to
/// listeners. gatehouse has no VPCs, so ids and names are unique per gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// `sg-…` id.
    pub id: GroupId,
    /// `GroupName`: 1-255 characters of AWS's set (see [`crate::validate`]), not starting
    /// with `sg-`, unique among groups.
    pub name: String,
    /// `Description`: 0-255 characters of AWS's set (AWS requires at least one; gatehouse
    /// allows an empty one).
    #[serde(default)]
    pub description: String,
    /// gatehouse only: when true, live sessions whose source a change no longer allows are
    /// closed; when false (AWS connection tracking), they keep running.
    #[serde(default)]
    pub enforce_on_existing: bool,
}

/// IP protocol of a rule. AWS knows many; a database gateway only sees TCP, so gatehouse
/// accepts `tcp` (or `6`) and `-1` (or `all`: every protocol, and then every port).
/// Serialized as `"tcp"` or `"-1"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ProtocolRepr", into = "String")]
pub enum Protocol {
    /// `tcp` / `6`: the rule applies to the ports `from_port..=to_port`.
    Tcp,
    /// `-1` / `all`: the rule applies to every port; `from_port` and `to_port` are ignored,
    /// as AWS ignores them.
    All,
}

/// A protocol other than `tcp`/`6`/`-1`/`all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported protocol {0:?}: gatehouse accepts tcp (6) or -1 (all)")]
pub struct ProtocolError(pub String);

impl FromStr for Protocol {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, ProtocolError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Ok(Protocol::Tcp),
            "-1" | "all" => Ok(Protocol::All),
            _ => Err(ProtocolError(s.to_owned())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::All => "-1",
        })
    }
}

impl From<Protocol> for String {
    fn from(p: Protocol) -> String {
        p.to_string()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProtocolRepr {
    Text(String),
    Number(i64),
}

impl TryFrom<ProtocolRepr> for Protocol {
    type Error = ProtocolError;
    fn try_from(r: ProtocolRepr) -> Result<Self, ProtocolError> {
        match r {
            ProtocolRepr::Text(s) => s.parse(),
            ProtocolRepr::Number(n) => n.to_string().parse(),
        }
    }
}

/// Where a rule allows traffic from: exactly one of AWS's `CidrIpv4`/`CidrIpv6`,
/// `PrefixListId` or `ReferencedGroupInfo`. Serialized externally tagged:
/// `{"cidr": "10.0.0.0/8"}`, `{"prefix_list": "pl-…"}`, `{"group": "sg-…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An IPv4 or IPv6 CIDR block; must be the network address (no host bits set).
    Cidr(IpNet),
    /// Every entry of a managed prefix list.
    PrefixList(PrefixListId),
    /// Every unexpired member address registered for that group (gatehouse's stand-in for
    /// "the network interfaces the group is attached to").
    Group(GroupId),
}

impl Source {
    /// The kind of source, with the prefix list or group it names.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Cidr(_) => SourceKind::Cidr,
            Source::PrefixList(id) => SourceKind::PrefixList(id.clone()),
            Source::Group(id) => SourceKind::Group(id.clone()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cidr(net) => write!(f, "{net}"),
            Source::PrefixList(id) => write!(f, "prefix list {id}"),
            Source::Group(id) => write!(f, "members of {id}"),
        }
    }
}

/// How an allowed address was matched: the CIDR of a rule itself, an entry of a prefix
/// list, or the address of a member of a referenced group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The rule's own CIDR.
    Cidr,
    /// An entry of this prefix list.
    PrefixList(PrefixListId),
    /// A member address (as /32 or /128) of this group.
    Group(GroupId),
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::Cidr => f.write_str("cidr"),
            SourceKind::PrefixList(id) => write!(f, "prefix list {id}"),
            SourceKind::Group(id) => write!(f, "member of {id}"),
        }
    }
}

fn all_ports() -> i32 {
    -1
}

/// An ingress rule (AWS `SecurityGroupRule` with `IsEgress = false`): allows TCP
/// connections from `source` to listener ports `from_port..=to_port` of every listener the
/// group is attached to, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// `sgr-…` id, unique among all rules.
    pub id: RuleId,
    /// The group the rule belongs to (must exist).
    pub group_id: GroupId,
    /// `IpProtocol`: `tcp` or `-1`.
    pub protocol: Protocol,
    /// `FromPort`: first port, 0-65535 for `tcp` (i32 so out-of-range input can be named
    /// in an error; AWS uses -1 for "all"). Ignored for protocol `-1`. Defaults to -1.
    #[serde(default = "all_ports")]
    pub from_port: i32,
    /// `ToPort`: last port (inclusive), 0-65535 and `>= from_port` for `tcp`. Ignored for
    /// protocol `-1`. Defaults to -1.
    #[serde(default = "all_ports")]
    pub to_port: i32,
    /// Exactly one source.
    pub source: Source,
    /// `Description`: at most 255 characters of AWS's set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// gatehouse only: the rule stops matching at this time (it is expired when
    /// `now >= expires_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl IngressRule {
    /// Whether the rule applies to connections on `port` (protocol `-1` covers every port).
    /// Meaningful only for a validated rule.
    pub fn covers_port(&self, port: u16) -> bool {
        match self.protocol {
            Protocol::All => true,
            Protocol::Tcp => (self.from_port..=self.to_port).contains(&i32::from(port)),
        }
    }

    /// Whether the rule is expired at `now` (`now >= expires_at`).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| t.is_expired_at(now))
    }

    /// The ports as text: `6432`, `6000-6999`, or `all`.
    pub fn port_text(&self) -> String {
        match self.protocol {
            Protocol::All => "all".to_owned(),
            Protocol::Tcp if self.from_port == self.to_port => self.from_port.to_string(),
            Protocol::Tcp => format!("{}-{}", self.from_port, self.to_port),
        }
    }
}

/// One entry of a managed prefix list (AWS `PrefixListEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixListEntry {
    /// An IPv4 or IPv6 CIDR block; must be the network address.
    pub cidr: IpNet,
    /// At most 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A managed prefix list (AWS `ManagedPrefixList`): a named set of CIDR blocks that rules
/// can name as their source. Unlike AWS, one list may mix IPv4 and IPv6 entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixList {
    /// `pl-…` id, unique among prefix lists.
    pub id: PrefixListId,
    /// `PrefixListName`: 1-255 characters, not starting with `com.amazonaws`.
    pub name: String,
    /// `MaxEntries`: at least 1; more entries than this is an error.
    pub max_entries: u32,
    /// The CIDR blocks, each at most once.
    #[serde(default)]
    pub entries: Vec<PrefixListEntry>,
}

/// An address registered as a member of a group, so rules whose source is that group
/// match it (as /32 or /128) until `expires_at`. gatehouse's stand-in for the network
/// interfaces a group is attached to in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The group (must exist).
    pub group_id: GroupId,
    /// The member's address; an IPv4-mapped IPv6 address counts as IPv4.
    pub address: IpAddr,
    /// The membership ends at this time (expired when `now >= expires_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl Member {
    /// Whether the membership is expired at `now`.
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| t.is_expired_at(now))
    }
}

/// Everything the engine needs, as the configuration and the state store hand it over.
/// The order of each list is kept in error reports; it does not change any verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// All security groups.
    #[serde(default)]
    pub groups: Vec<SecurityGroup>,
    /// All ingress rules, of every group.
    #[serde(default)]
    pub rules: Vec<IngressRule>,
    /// All managed prefix lists.
    #[serde(default)]
    pub prefix_lists: Vec<PrefixList>,
    /// All registered group members.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// The address as the engine checks it: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as
/// the kernel reports IPv4 peers on a dual-stack socket) becomes the IPv4 address.
pub fn canonical_addr(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}
