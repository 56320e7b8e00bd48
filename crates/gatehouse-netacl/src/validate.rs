//! Validation with AWS's constraints, reporting every problem at once.
//!
//! Each error names the object (`sg-…`, `sgr-…`, `pl-…`, `member ADDR of sg-…`) and the
//! field, e.g. `sgr-0abc: to_port 70000 is out of range 0-65535`. Nothing here panics.
//!
//! AWS's character set for group names and descriptions and rule descriptions:
//! `a-z`, `A-Z`, `0-9`, spaces, and `._-:/()#,@[]+=&;{}!$*`; at most 255 characters.

use std::collections::{HashMap, HashSet};

use ipnet::{IpNet, Ipv6Net};

use crate::id::{GroupId, PrefixListId};
use crate::model::{IngressRule, PrefixList, Protocol, SecurityGroup, Snapshot, Source};

/// Longest name or description AWS allows, in characters.
pub const MAX_TEXT_LEN: usize = 255;

/// One problem in a [`Snapshot`] or in the groups attached to a listener. `object` is the
/// id of what is wrong (or `member ADDR of sg-…`, `listener port N`), `field` the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Two objects of the same kind share an id (AWS never hands out one id twice).
    #[error("{object}: duplicate {kind} id")]
    DuplicateId {
        /// "security group", "security group rule" or "prefix list".
        kind: &'static str,
        /// The repeated id.
        object: String,
    },
    /// Two groups share a name (AWS: `InvalidGroup.Duplicate`).
    #[error("{object}: name {name:?} is already used by {other}")]
    DuplicateGroupName {
        /// The later group.
        object: String,
        /// The shared name.
        name: String,
        /// The earlier group with that name.
        other: String,
    },
    /// A TCP port outside 0-65535 (AWS: `InvalidParameterValue`).
    #[error("{object}: {field} {value} is out of range 0-65535")]
    PortOutOfRange {
        /// The rule id.
        object: String,
        /// `from_port` or `to_port`.
        field: &'static str,
        /// The rejected value.
        value: i32,
    },
    /// `from_port > to_port`.
    #[error("{object}: from_port {from} is greater than to_port {to}")]
    PortRangeReversed {
        /// The rule id.
        object: String,
        /// `from_port`.
        from: i32,
        /// `to_port`.
        to: i32,
    },
    /// A CIDR with host bits set, e.g. `10.0.0.1/8` (AWS: `InvalidParameterValue`,
    /// "CIDR block … is malformed").
    #[error("{object}: {field} {cidr} is not a network address (did you mean {network}?)")]
    CidrNotNetwork {
        /// The rule or prefix list id.
        object: String,
        /// `source` or `entries`.
        field: &'static str,
        /// The CIDR as given.
        cidr: IpNet,
        /// The network address with the same length.
        network: IpNet,
    },
    /// A CIDR inside `::ffff:0:0/96` (IPv4-mapped). gatehouse checks mapped client
    /// addresses as IPv4, so such a block would never match.
    #[error(
        "{object}: {field} {cidr} is an IPv4-mapped IPv6 block, which never matches \
         (mapped clients are checked as IPv4); write the IPv4 block instead"
    )]
    MappedCidr {
        /// The rule or prefix list id.
        object: String,
        /// `source` or `entries`.
        field: &'static str,
        /// The CIDR as given.
        cidr: IpNet,
    },
    /// A name or description longer than 255 characters.
    #[error("{object}: {field} is {len} characters long, at most 255 are allowed")]
    TooLong {
        /// The object id.
        object: String,
        /// `name` or `description`.
        field: &'static str,
        /// Length in characters.
        len: usize,
    },
    /// A character outside AWS's set for names and descriptions.
    #[error(
        "{object}: {field} contains {ch:?}; allowed are a-z, A-Z, 0-9, spaces and \
         ._-:/()#,@[]+=&;{{}}!$*"
    )]
    BadCharacter {
        /// The object id.
        object: String,
        /// `name` or `description`.
        field: &'static str,
        /// The first offending character.
        ch: char,
    },
    /// A required name that is empty.
    #[error("{object}: {field} must not be empty")]
    Empty {
        /// The object id.
        object: String,
        /// `name`.
        field: &'static str,
    },
    /// A name with a prefix AWS reserves (`sg-` for groups, `com.amazonaws` for lists).
    #[error("{object}: {field} {value:?} must not start with {reserved:?}")]
    ReservedPrefix {
        /// The object id.
        object: String,
        /// `name`.
        field: &'static str,
        /// The name.
        value: String,
        /// The reserved prefix.
        reserved: &'static str,
    },
    /// A reference to a group that is not in the snapshot
    /// (AWS: `InvalidGroup.NotFound`).
    #[error("{object}: {field} refers to unknown security group {group}")]
    UnknownGroup {
        /// The rule id or member.
        object: String,
        /// `group_id` or `source`.
        field: &'static str,
        /// The missing group.
        group: GroupId,
    },
    /// A reference to a prefix list that is not in the snapshot
    /// (AWS: `InvalidPrefixListID.NotFound`).
    #[error("{object}: {field} refers to unknown prefix list {list}")]
    UnknownPrefixList {
        /// The rule id.
        object: String,
        /// `source`.
        field: &'static str,
        /// The missing list.
        list: PrefixListId,
    },
    /// `max_entries` is 0.
    #[error("{object}: max_entries must be at least 1")]
    MaxEntriesZero {
        /// The prefix list id.
        object: String,
    },
    /// More entries than `max_entries` (AWS: `PrefixListMaxEntriesExceeded`).
    #[error("{object}: entries has {count} entries, more than max_entries {max}")]
    PrefixListTooLarge {
        /// The prefix list id.
        object: String,
        /// Number of entries.
        count: usize,
        /// `max_entries`.
        max: u32,
    },
    /// The same CIDR twice in one prefix list.
    #[error("{object}: entries lists {cidr} more than once")]
    DuplicateEntry {
        /// The prefix list id.
        object: String,
        /// The repeated CIDR.
        cidr: IpNet,
    },
    /// A listener compiled with no group: it must say `network = "open"` instead.
    #[error(
        "listener port {port}: no security group attached; attach one or set network = \"open\""
    )]
    NoGroupsAttached {
        /// The listener port.
        port: u16,
    },
    /// A listener attached to a group that is not in the snapshot.
    #[error("listener port {port}: attached security group {group} does not exist")]
    UnknownAttachedGroup {
        /// The listener port.
        port: u16,
        /// The missing group.
        group: GroupId,
    },
}

fn is_aws_text_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// Checks AWS's length and character set for a name or description.
fn check_text(
    out: &mut Vec<ValidationError>,
    object: &str,
    field: &'static str,
    value: &str,
    charset: bool,
) {
    let len = value.chars().count();
    if len > MAX_TEXT_LEN {
        out.push(ValidationError::TooLong {
            object: object.to_owned(),
            field,
            len,
        });
    }
    if charset {
        if let Some(ch) = value.chars().find(|c| !is_aws_text_char(*c)) {
            out.push(ValidationError::BadCharacter {
                object: object.to_owned(),
                field,
                ch,
            });
        }
    }
}

/// Checks that a CIDR is a network address and not inside the IPv4-mapped block.
fn check_cidr(out: &mut Vec<ValidationError>, object: &str, field: &'static str, cidr: IpNet) {
    let network = cidr.trunc();
    if network != cidr {
        out.push(ValidationError::CidrNotNetwork {
            object: object.to_owned(),
            field,
            cidr,
            network,
        });
    }
    if let IpNet::V6(v6) = network {
        let mapped = Ipv6Net::new_assert(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
        if mapped.contains(&v6) {
            out.push(ValidationError::MappedCidr {
                object: object.to_owned(),
                field,
                cidr,
            });
        }
    }
}

impl SecurityGroup {
    /// Checks the group's own fields (name 1-255 characters of AWS's set, not starting
    /// with `sg-`; description at most 255 of AWS's set). Uniqueness is checked by
    /// [`Snapshot::validate`].
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let object = self.id.as_str();
        if self.name.is_empty() {
            out.push(ValidationError::Empty {
                object: object.to_owned(),
                field: "name",
            });
        }
        if self.name.to_ascii_lowercase().starts_with("sg-") {
            out.push(ValidationError::ReservedPrefix {
                object: object.to_owned(),
                field: "name",
                value: self.name.clone(),
                reserved: "sg-",
            });
        }
        check_text(&mut out, object, "name", &self.name, true);
        check_text(&mut out, object, "description", &self.description, true);
        out
    }
}

impl IngressRule {
    /// Checks the rule's own fields: for `tcp` both ports in 0-65535 and
    /// `from_port <= to_port` (ignored for `-1`), a CIDR source that is a network address
    /// outside `::ffff:0:0/96`, a description of at most 255 characters of AWS's set.
    /// References are checked by [`Snapshot::validate`].
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let object = self.id.as_str();
        if self.protocol == Protocol::Tcp {
            let mut in_range = true;
            for (field, value) in [("from_port", self.from_port), ("to_port", self.to_port)] {
                if !(0..=65535).contains(&value) {
                    in_range = false;
                    out.push(ValidationError::PortOutOfRange {
                        object: object.to_owned(),
                        field,
                        value,
                    });
                }
            }
            if in_range && self.from_port > self.to_port {
                out.push(ValidationError::PortRangeReversed {
                    object: object.to_owned(),
                    from: self.from_port,
                    to: self.to_port,
                });
            }
        }
        if let Source::Cidr(cidr) = self.source {
            check_cidr(&mut out, object, "source", cidr);
        }
        if let Some(d) = &self.description {
            check_text(&mut out, object, "description", d, true);
        }
        out
    }
}

impl PrefixList {
    /// Checks the list's own fields: name 1-255 characters not starting with
    /// `com.amazonaws`, `max_entries >= 1`, at most `max_entries` entries, each a network
    /// address outside `::ffff:0:0/96`, listed once, with a description of at most 255
    /// characters.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let object = self.id.as_str();
        if self.name.is_empty() {
            out.push(ValidationError::Empty {
                object: object.to_owned(),
                field: "name",
            });
        }
        if self.name.starts_with("com.amazonaws") {
            out.push(ValidationError::ReservedPrefix {
                object: object.to_owned(),
                field: "name",
                value: self.name.clone(),
                reserved: "com.amazonaws",
            });
        }
        check_text(&mut out, object, "name", &self.name, false);
        if self.max_entries == 0 {
            out.push(ValidationError::MaxEntriesZero {
                object: object.to_owned(),
            });
        }
        if self.entries.len() > self.max_entries as usize {
            out.push(ValidationError::PrefixListTooLarge {
                object: object.to_owned(),
                count: self.entries.len(),
                max: self.max_entries,
            });
        }
        let mut seen = HashSet::new();
        for entry in &self.entries {
            check_cidr(&mut out, object, "entries", entry.cidr);
            if !seen.insert(entry.cidr.trunc()) {
                out.push(ValidationError::DuplicateEntry {
                    object: object.to_owned(),
                    cidr: entry.cidr,
                });
            }
            if let Some(d) = &entry.description {
                check_text(&mut out, object, "entries.description", d, false);
            }
        }
        out
    }
}

impl Snapshot {
    /// Checks every object ([`SecurityGroup::validate`], [`IngressRule::validate`],
    /// [`PrefixList::validate`]) and everything between them: unique ids of each kind,
    /// unique group names, rules and members in existing groups, sources naming existing
    /// groups and prefix lists. Errors come in snapshot order: groups, prefix lists, rules,
    /// members.
    ///
    /// # Errors
    /// Every problem found, when there is at least one.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut out = Vec::new();
        let mut groups: HashSet<&GroupId> = HashSet::with_capacity(self.groups.len());
        let mut names: HashMap<&str, &GroupId> = HashMap::with_capacity(self.groups.len());
        for g in &self.groups {
            out.extend(g.validate());
            if !groups.insert(&g.id) {
                out.push(ValidationError::DuplicateId {
                    kind: "security group",
                    object: g.id.to_string(),
                });
            } else if let Some(other) = names.insert(&g.name, &g.id) {
                out.push(ValidationError::DuplicateGroupName {
                    object: g.id.to_string(),
                    name: g.name.clone(),
                    other: other.to_string(),
                });
            }
        }
        let mut lists = HashSet::with_capacity(self.prefix_lists.len());
        for pl in &self.prefix_lists {
            out.extend(pl.validate());
            if !lists.insert(&pl.id) {
                out.push(ValidationError::DuplicateId {
                    kind: "prefix list",
                    object: pl.id.to_string(),
                });
            }
        }
        let mut rule_ids = HashSet::with_capacity(self.rules.len());
        for r in &self.rules {
            out.extend(r.validate());
            if !rule_ids.insert(&r.id) {
                out.push(ValidationError::DuplicateId {
                    kind: "security group rule",
                    object: r.id.to_string(),
                });
            }
            if !groups.contains(&r.group_id) {
                out.push(ValidationError::UnknownGroup {
                    object: r.id.to_string(),
                    field: "group_id",
                    group: r.group_id.clone(),
                });
            }
            match &r.source {
                Source::Cidr(_) => {}
                Source::Group(g) if !groups.contains(g) => {
                    out.push(ValidationError::UnknownGroup {
                        object: r.id.to_string(),
                        field: "source",
                        group: g.clone(),
                    });
                }
                Source::Group(_) => {}
                Source::PrefixList(pl) if !lists.contains(pl) => {
                    out.push(ValidationError::UnknownPrefixList {
                        object: r.id.to_string(),
                        field: "source",
                        list: pl.clone(),
                    });
                }
                Source::PrefixList(_) => {}
            }
        }
        for m in &self.members {
            if !groups.contains(&m.group_id) {
                out.push(ValidationError::UnknownGroup {
                    object: format!("member {} of {}", m.address, m.group_id),
                    field: "group_id",
                    group: m.group_id.clone(),
                });
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(out)
        }
    }
}
