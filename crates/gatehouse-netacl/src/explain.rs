//! `gatehouse explain --address IP`: why layer 1 allows or denies an address.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::acl::{check_attached, Acl, Verdict};
use crate::id::{GroupId, RuleId};
use crate::model::{canonical_addr, IngressRule, Snapshot, Source, SourceKind};
use crate::time::Timestamp;
use crate::validate::ValidationError;

/// How many rules per group [`Explanation`]'s `Display` lists before summarizing.
pub const MAX_LISTED_RULES: usize = 20;

/// Why layer 1 allows or denies one address on one listener port at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The address as checked (an IPv4-mapped IPv6 address shows as IPv4).
    pub address: IpAddr,
    /// The listener port.
    pub port: u16,
    /// The groups attached to the listener, as given.
    pub groups: Vec<GroupId>,
    /// The time the rules were evaluated at.
    pub now: Timestamp,
    /// The answer.
    pub outcome: Outcome,
}

/// The answer of [`explain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// A rule allows the address: the same rule [`Acl::check`] names.
    Allowed(AllowedBy),
    /// No rule allows it; for each attached group, why none of its rules applies.
    Denied {
        /// One report per attached group, in the order given.
        groups: Vec<GroupReport>,
    },
    /// No group is attached (a listener refuses to start so, unless `network = "open"`).
    NoGroupsAttached,
    /// The snapshot or the attached groups are invalid; nothing was evaluated.
    Invalid {
        /// The validation errors' messages.
        errors: Vec<String>,
    },
}

/// The rule that allowed an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowedBy {
    /// The rule id.
    pub rule: RuleId,
    /// Its group.
    pub group: GroupId,
    /// Its source as configured.
    pub source: Source,
    /// Its description.
    pub description: Option<String>,
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// The prefix that contains the address.
    pub matched: IpNet,
    /// Where that prefix came from.
    pub via: SourceKind,
}

/// Why no rule of one attached group allows the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    /// The group.
    pub group: GroupId,
    /// Its name.
    pub name: String,
    /// One line per rule of the group, in snapshot order (empty: the group has no rules).
    pub rules: Vec<RuleReport>,
}

/// Why one rule does not allow the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleReport {
    /// The rule id.
    pub rule: RuleId,
    /// Its source.
    pub source: Source,
    /// Its description.
    pub description: Option<String>,
    /// The first reason that applies, checked in this order: port, expiry, source.
    pub reason: NotApplied,
}

/// The reason a rule does not allow an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotApplied {
    /// The rule's port range does not contain the listener port.
    PortNotCovered {
        /// The rule's ports as text (`5432`, `6000-6999`).
        ports: String,
    },
    /// The rule expired (`expires_at <= now`).
    Expired {
        /// When.
        at: Timestamp,
    },
    /// The rule's CIDR or none of its prefix list's entries contains the address.
    SourceDoesNotContain,
    /// The referenced group has no unexpired member at all.
    NoMembers,
    /// The address is not an unexpired member of the referenced group.
    NotAMember,
    /// The address was a member of the referenced group until this time.
    MemberExpired {
        /// The latest expiry among its memberships.
        at: Timestamp,
    },
}

/// Explains the verdict of [`Acl::compile`] + [`Acl::check`] for `addr` on a listener on
/// `port` with `groups` attached, at `now`. Never fails: an invalid snapshot gives
/// [`Outcome::Invalid`].
pub fn explain(
    snapshot: &Snapshot,
    port: u16,
    groups: &[GroupId],
    addr: IpAddr,
    now: Timestamp,
) -> Explanation {
    let address = canonical_addr(addr);
    let outcome = if groups.is_empty() {
        Outcome::NoGroupsAttached
    } else {
        match Acl::compile(snapshot, port, groups, now) {
            Err(errors) => Outcome::Invalid {
                errors: errors.iter().map(ValidationError::to_string).collect(),
            },
            Ok(acl) => match acl.check(address) {
                Verdict::Allowed {
                    rule,
                    group,
                    matched,
                    via,
                } => {
                    let found = snapshot.rules.iter().find(|r| r.id == rule);
                    Outcome::Allowed(AllowedBy {
                        source: found.map_or(Source::Cidr(matched), |r| r.source.clone()),
                        description: found.and_then(|r| r.description.clone()),
                        expires_at: found.and_then(|r| r.expires_at),
                        rule,
                        group,
                        matched,
                        via,
                    })
                }
                Verdict::Open | Verdict::Denied => Outcome::Denied {
                    groups: denied_reports(snapshot, port, groups, address, now),
                },
            },
        }
    };
    Explanation {
        address,
        port,
        groups: groups.to_vec(),
        now,
        outcome,
    }
}

fn denied_reports(
    snapshot: &Snapshot,
    port: u16,
    groups: &[GroupId],
    address: IpAddr,
    now: Timestamp,
) -> Vec<GroupReport> {
    debug_assert!(check_attached(snapshot, port, groups).is_empty());
    let mut seen = std::collections::HashSet::new();
    groups
        .iter()
        .filter(|g| seen.insert(*g))
        .map(|g| GroupReport {
            group: g.clone(),
            name: snapshot
                .groups
                .iter()
                .find(|x| &x.id == g)
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            rules: snapshot
                .rules
                .iter()
                .filter(|r| &r.group_id == g)
                .map(|r| RuleReport {
                    rule: r.id.clone(),
                    source: r.source.clone(),
                    description: r.description.clone(),
                    reason: reason(snapshot, r, port, address, now),
                })
                .collect(),
        })
        .collect()
}

fn reason(
    snapshot: &Snapshot,
    rule: &IngressRule,
    port: u16,
    address: IpAddr,
    now: Timestamp,
) -> NotApplied {
    if !rule.covers_port(port) {
        return NotApplied::PortNotCovered {
            ports: rule.port_text(),
        };
    }
    if let Some(at) = rule.expires_at.filter(|t| t.is_expired_at(now)) {
        return NotApplied::Expired { at };
    }
    match &rule.source {
        Source::Cidr(_) | Source::PrefixList(_) => NotApplied::SourceDoesNotContain,
        Source::Group(g) => {
            let members = snapshot.members.iter().filter(|m| &m.group_id == g);
            let mut any_live = false;
            let mut expired_at = None;
            for m in members {
                let live = !m.is_expired_at(now);
                any_live |= live;
                if !live && canonical_addr(m.address) == address {
                    expired_at = expired_at.max(m.expires_at);
                }
            }
            match expired_at {
                Some(at) => NotApplied::MemberExpired { at },
                None if any_live => NotApplied::NotAMember,
                None => NotApplied::NoMembers,
            }
        }
    }
}

impl fmt::Display for NotApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotApplied::PortNotCovered { ports } => write!(f, "port not covered (rule: {ports})"),
            NotApplied::Expired { at } => write!(f, "expired at {at}"),
            NotApplied::SourceDoesNotContain => f.write_str("source does not contain the address"),
            NotApplied::NoMembers => f.write_str("the referenced group has no members"),
            NotApplied::NotAMember => {
                f.write_str("the address is not a member of the referenced group")
            }
            NotApplied::MemberExpired { at } => {
                write!(f, "the address's membership expired at {at}")
            }
        }
    }
}

/// Short human lines: the first says allowed or denied; for a denial, one indented line
/// per rule (at most [`MAX_LISTED_RULES`] per group, then a count of the rest).
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on port {}: ", self.address, self.port)?;
        match &self.outcome {
            Outcome::Allowed(a) => {
                write!(
                    f,
                    "allowed by {} in {} (source {}, matched {})",
                    a.rule, a.group, a.source, a.matched
                )?;
                if let Some(d) = &a.description {
                    write!(f, " {d:?}")?;
                }
                if let Some(t) = a.expires_at {
                    write!(f, ", expires {t}")?;
                }
                writeln!(f)
            }
            Outcome::NoGroupsAttached => writeln!(f, "no security group is attached"),
            Outcome::Invalid { errors } => {
                writeln!(f, "not evaluated, the rules are invalid:")?;
                errors.iter().try_for_each(|e| writeln!(f, "  {e}"))
            }
            Outcome::Denied { groups } => {
                writeln!(f, "denied: no rule allows this source on this port")?;
                for g in groups {
                    if g.rules.is_empty() {
                        writeln!(f, "  {} ({}): no ingress rules", g.group, g.name)?;
                        continue;
                    }
                    writeln!(f, "  {} ({}):", g.group, g.name)?;
                    for r in g.rules.iter().take(MAX_LISTED_RULES) {
                        writeln!(f, "    {} from {}: {}", r.rule, r.source, r.reason)?;
                    }
                    if g.rules.len() > MAX_LISTED_RULES {
                        writeln!(
                            f,
                            "    … and {} more rules",
                            g.rules.len() - MAX_LISTED_RULES
                        )?;
                    }
                }
                Ok(())
            }
        }
    }
}
