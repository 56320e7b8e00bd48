//! The compiled ingress ACL of one listener: one longest-prefix-match trie.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use prefix_trie::joint::map::Entry as TrieEntry;
use prefix_trie::joint::JointPrefixMap;
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

/// What a prefix in the trie points at: a rule and the index of its (group, source kind)
/// in [`Compiled::origins`] (few distinct pairs, so 24 bytes per rule instead of 56).
#[derive(Debug, Clone)]
struct AclEntry {
    rule: RuleId,
    origin: u32,
}

#[derive(Debug, Clone)]
struct Compiled {
    trie: JointPrefixMap<IpNet, u32>,
    entries: Vec<AclEntry>,
    origins: Vec<(GroupId, SourceKind)>,
    next_expiry: Option<Timestamp>,
}

/// The ingress rules that apply to one listener at one moment, compiled into a single
/// longest-prefix-match trie (`prefix-trie`'s tree bitmap) holding every CIDR source,
/// prefix list entry and member address of every applicable rule, each prefix mapped to
/// the rule that put it there. Immutable; cheap to share behind an `Arc` and swap whole
/// when the snapshot changes or [`Acl::next_expiry`] passes.
#[derive(Debug, Clone)]
pub struct Acl {
    compiled: Option<Compiled>,
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

        let mut trie = JointPrefixMap::new();
        let mut entries: Vec<AclEntry> = Vec::with_capacity(applicable.len());
        let mut origins: Vec<(GroupId, SourceKind)> = Vec::new();
        let mut origin_index: HashMap<(&GroupId, SourceKind), u32> = HashMap::new();
        for rule in applicable {
            next_expiry = earliest(next_expiry, rule.expires_at);
            let index = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            let origin = *origin_index
                .entry((&rule.group_id, rule.source.kind()))
                .or_insert_with(|| {
                    origins.push((rule.group_id.clone(), rule.source.kind()));
                    u32::try_from(origins.len() - 1).unwrap_or(u32::MAX)
                });
            entries.push(AclEntry {
                rule: rule.id.clone(),
                origin,
            });
            match &rule.source {
                Source::Cidr(net) => insert(&mut trie, &entries, *net, index),
                Source::PrefixList(id) => {
                    for e in lists.get(id).map(|p| p.entries.as_slice()).unwrap_or(&[]) {
                        insert(&mut trie, &entries, e.cidr.trunc(), index);
                    }
                }
                Source::Group(id) => {
                    for net in members.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                        insert(&mut trie, &entries, *net, index);
                    }
                }
            }
        }
        Ok(Acl {
            compiled: Some(Compiled {
                trie,
                entries,
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
        match c.trie.get_lpm(&key) {
            Some((matched, &index)) => {
                let entry = c.entries.get(index as usize);
                match entry.and_then(|e| Some((e, c.origins.get(e.origin as usize)?))) {
                    Some((e, (group, via))) => Verdict::Allowed {
                        rule: e.rule.clone(),
                        group: group.clone(),
                        matched,
                        via: via.clone(),
                    },
                    None => Verdict::Denied,
                }
            }
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
        self.compiled.as_ref().map_or(0, |c| c.trie.len())
    }

    /// Number of rules that applied (port covered, unexpired), whether or not they put a
    /// prefix in the trie.
    pub fn rule_count(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.entries.len())
    }

    /// Bytes the trie itself reports using (the rule table and ids are not counted).
    pub fn trie_bytes(&self) -> usize {
        self.compiled
            .as_ref()
            .map_or(0, |c| c.trie.t1.mem_size() + c.trie.t2.mem_size())
    }
}

/// Inserts `net -> index`, keeping the lowest rule id when the prefix is already there.
fn insert(trie: &mut JointPrefixMap<IpNet, u32>, entries: &[AclEntry], net: IpNet, index: u32) {
    match trie.entry(net) {
        TrieEntry::Vacant(v) => {
            v.insert(index);
        }
        TrieEntry::Occupied(o) => {
            let existing = *o.get();
            let lower = match (entries.get(index as usize), entries.get(existing as usize)) {
                (Some(new), Some(old)) => new.rule < old.rule,
                _ => false,
            };
            if lower {
                o.insert(index);
            }
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
