//! The compiled ingress ACL of one listener: one longest-prefix-match trie.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use iptrie::{IpLCTrieMap, IpRTrieMap};
use serde::Serialize;

use crate::id::{GroupId, RuleId};
use crate::model::{canonical_addr, IngressRule, Snapshot, Source, SourceKind};
use crate::time::Timestamp;
use crate::validate::ValidationError;

/// The answer for one source address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Some ingress rule allows the address.
    Allowed {
        /// The rule whose prefix matched. With several matching prefixes, the longest one
        /// decides; with several rules giving that same prefix, the lowest rule id.
        rule: RuleId,
        /// The group that rule belongs to.
        group: GroupId,
        /// The prefix that contains the address (a member address shows as /32 or /128).
        matched: IpNet,
        /// Whether the prefix came from the rule's CIDR, a prefix list or a group member.
        via: SourceKind,
    },
    /// The listener is configured `network = "open"`: every address is allowed.
    Open,
    /// No rule allows the address (AWS: the packet is dropped; gatehouse closes the
    /// connection without a reply).
    Denied,
}

impl Verdict {
    /// True for [`Verdict::Allowed`] and [`Verdict::Open`].
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Verdict::Denied)
    }
}

/// What a prefix in the trie points at, stored in the trie itself so a lookup touches no
/// other table: the rule and the index of its (group, source kind) in
/// [`Compiled::origins`] (few distinct pairs). `None` only at the trie's two roots
/// (0.0.0.0/0 and ::/0 always exist) while no rule gives them.
type TrieValue = Option<AclEntry>;

#[derive(Debug, Clone)]
struct AclEntry {
    rule: RuleId,
    origin: u32,
}

struct Compiled {
    trie: IpLCTrieMap<TrieValue>,
    prefixes: usize,
    rules: usize,
    origins: Vec<(GroupId, SourceKind)>,
    next_expiry: Option<Timestamp>,
}

/// The ingress rules that apply to one listener at one moment, compiled into a single
/// longest-prefix-match structure (`iptrie`'s level-compressed trie, IPv4 and IPv6 side by
/// side) holding every CIDR source, prefix list entry and member address of every
/// applicable rule, each prefix mapped to the rule that put it there. Immutable; share it
/// behind an `Arc` and swap it whole when the snapshot changes or [`Acl::next_expiry`]
/// passes.
pub struct Acl {
    compiled: Option<Compiled>,
}

impl std::fmt::Debug for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl")
            .field("open", &self.is_open())
            .field("rules", &self.rule_count())
            .field("prefixes", &self.prefix_count())
            .field("next_expiry", &self.next_expiry())
            .finish()
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Acl {
    /// An ACL for a listener configured `network = "open"`: [`Acl::check`] answers
    /// [`Verdict::Open`] for every address; it never expires.
    pub fn open() -> Acl {
        Acl { compiled: None }
    }

    /// Compiles the ACL of a listener on `listener_port` with `attached_groups`, at `now`.
    ///
    /// AWS semantics: the union (allow-only) of the ingress rules of all attached groups
    /// whose protocol is `-1` or whose port range `from_port..=to_port` contains the
    /// listener port. gatehouse adds expiry: a rule or member with `expires_at <= now` is
    /// left out. Sources: a rule's CIDR; every entry of its prefix list; every unexpired
    /// member address of its referenced group (as /32 or /128; a group without members
    /// contributes nothing). A listener whose groups have no applicable rule allows
    /// nothing. Repeated group ids in `attached_groups` count once.
    ///
    /// # Errors
    /// Everything [`Snapshot::validate`] reports, plus
    /// [`ValidationError::NoGroupsAttached`] when `attached_groups` is empty (use
    /// [`Acl::open`]) and [`ValidationError::UnknownAttachedGroup`] for a group not in the
    /// snapshot.
    pub fn compile(
        snapshot: &Snapshot,
        listener_port: u16,
        attached_groups: &[GroupId],
        now: Timestamp,
    ) -> Result<Acl, Vec<ValidationError>> {
        let mut errors = match snapshot.validate() {
            Ok(()) => Vec::new(),
            Err(e) => e,
        };
        errors.extend(check_attached(snapshot, listener_port, attached_groups));
        if !errors.is_empty() {
            return Err(errors);
        }
        let attached: HashSet<&GroupId> = attached_groups.iter().collect();
        let lists: HashMap<_, _> = snapshot.prefix_lists.iter().map(|p| (&p.id, p)).collect();
        let mut members: HashMap<&GroupId, Vec<IpNet>> = HashMap::new();
        let mut next_expiry = None;
        let applicable: Vec<&IngressRule> = snapshot
            .rules
            .iter()
            .filter(|r| {
                attached.contains(&r.group_id)
                    && r.covers_port(listener_port)
                    && !r.is_expired_at(now)
            })
            .collect();
        let referenced: HashSet<&GroupId> = applicable
            .iter()
            .filter_map(|r| match &r.source {
                Source::Group(g) => Some(g),
                _ => None,
            })
            .collect();
        for m in &snapshot.members {
            if referenced.contains(&m.group_id) && !m.is_expired_at(now) {
                members
                    .entry(&m.group_id)
                    .or_default()
                    .push(IpNet::from(canonical_addr(m.address)));
                next_expiry = earliest(next_expiry, m.expires_at);
            }
        }

        let mut trie: IpRTrieMap<TrieValue> = IpRTrieMap::with_roots(None, None);
        let mut prefixes = 0;
        let rules = applicable.len();
        let mut origins: Vec<(GroupId, SourceKind)> = Vec::new();
        let mut origin_index: HashMap<(&GroupId, SourceKind), u32> = HashMap::new();
        for rule in applicable {
            next_expiry = earliest(next_expiry, rule.expires_at);
            let origin = *origin_index
                .entry((&rule.group_id, rule.source.kind()))
                .or_insert_with(|| {
                    origins.push((rule.group_id.clone(), rule.source.kind()));
                    u32::try_from(origins.len() - 1).unwrap_or(u32::MAX)
                });
            let mut put = |net: IpNet| prefixes += insert(&mut trie, net, &rule.id, origin);
            match &rule.source {
                Source::Cidr(net) => put(*net),
                Source::PrefixList(id) => {
                    for e in lists.get(id).map(|p| p.entries.as_slice()).unwrap_or(&[]) {
                        put(e.cidr.trunc());
                    }
                }
                Source::Group(id) => {
                    for net in members.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                        put(*net);
                    }
                }
            }
        }
        Ok(Acl {
            compiled: Some(Compiled {
                trie: trie.compress(),
                prefixes,
                rules,
                origins,
                next_expiry,
            }),
        })
    }

    /// The verdict for a source address. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is checked as the IPv4 address; IPv4 prefixes never match other IPv6 addresses nor
    /// IPv6 prefixes IPv4 ones (so `::/0` does not allow IPv4 clients, as in AWS).
    pub fn check(&self, addr: IpAddr) -> Verdict {
        let Some(c) = &self.compiled else {
            return Verdict::Open;
        };
        let key = IpNet::from(canonical_addr(addr));
        let (matched, entry) = c.trie.lookup(&key);
        match entry
            .as_ref()
            .and_then(|e| Some((e, c.origins.get(e.origin as usize)?)))
        {
            Some((e, (group, via))) => Verdict::Allowed {
                rule: e.rule.clone(),
                group: group.clone(),
                matched,
                via: via.clone(),
            },
            // Only a root that no rule gave contains the address.
            None => Verdict::Denied,
        }
    }

    /// When this ACL stops being right because an applicable rule or a member of a
    /// referenced group expires: the earliest such `expires_at` (always after the `now`
    /// it was compiled at). The caller recompiles at (or after) that time; `None` when
    /// nothing expires, and for an open ACL.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.compiled.as_ref().and_then(|c| c.next_expiry)
    }

    /// Whether this is the `network = "open"` ACL.
    pub fn is_open(&self) -> bool {
        self.compiled.is_none()
    }

    /// Number of distinct prefixes in the trie (0 for an open ACL).
    pub fn prefix_count(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.prefixes)
    }

    /// Number of rules that applied (port covered, unexpired), whether or not they put a
    /// prefix in the trie.
    pub fn rule_count(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.rules)
    }
}

/// Inserts `net -> rule`, keeping the lowest rule id when the prefix is already there.
/// Returns 1 when the prefix is new, else 0.
fn insert(trie: &mut IpRTrieMap<TrieValue>, net: IpNet, rule: &RuleId, origin: u32) -> usize {
    let entry = || {
        Some(AclEntry {
            rule: rule.clone(),
            origin,
        })
    };
    match trie.get_mut(&net) {
        Some(Some(existing)) => {
            if *rule < existing.rule {
                *existing = AclEntry {
                    rule: rule.clone(),
                    origin,
                };
            }
            0
        }
        // A root that no rule gave yet.
        Some(root) => {
            *root = entry();
            1
        }
        None => {
            trie.insert(net, entry());
            1
        }
    }
}

/// The listener-side checks: at least one group, every group known.
pub(crate) fn check_attached(
    snapshot: &Snapshot,
    port: u16,
    attached: &[GroupId],
) -> Vec<ValidationError> {
    if attached.is_empty() {
        return vec![ValidationError::NoGroupsAttached { port }];
    }
    let known: HashSet<&GroupId> = snapshot.groups.iter().map(|g| &g.id).collect();
    let mut seen = HashSet::new();
    attached
        .iter()
        .filter(|g| !known.contains(g) && seen.insert(*g))
        .map(|g| ValidationError::UnknownAttachedGroup {
            port,
            group: g.clone(),
        })
        .collect()
}
