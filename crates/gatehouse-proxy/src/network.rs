//! Layer 1 at accept: each listener's security groups, compiled into one ACL per
//! listener ([`gatehouse_netacl::Acl`]) and checked on the source address before
//! gatehouse reads a byte (or, behind a trusted balancer, on the PROXY header's
//! source right after the header).
//!
//! The compiled state is swapped whole when the configuration is reloaded or
//! when a rule or member expires; then, on listeners with a group that sets
//! `enforce_on_existing`, live sessions whose source is no longer allowed are
//! ended (AWS keeps tracked connections otherwise).

use std::net::IpAddr;

use gatehouse_netacl::{Acl, GroupId, Snapshot, Timestamp, ValidationError, Verdict};

/// One listener's network settings.
#[derive(Debug, Clone)]
pub struct ListenerNetwork {
    /// The listener's port (what ingress rules' port ranges are matched against).
    pub port: u16,
    /// Attached security groups; empty only with `open`.
    pub groups: Vec<GroupId>,
    /// `network = "open"`: no security groups, every source allowed.
    pub open: bool,
}

/// The network policy: security groups, rules, prefix lists, members, and which
/// groups each listener has (index = listener index, in `[listen] addresses` order).
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// Groups, rules, prefix lists and members.
    pub snapshot: Snapshot,
    /// Per listener.
    pub listeners: Vec<ListenerNetwork>,
}

/// A policy compiled for a moment: one ACL per listener.
#[derive(Debug)]
pub struct CompiledNetwork {
    acls: Vec<Acl>,
    enforce: Vec<bool>,
    next_expiry: Option<Timestamp>,
}

impl NetworkPolicy {
    /// A policy with every listener open (no security groups).
    pub fn open(listeners: usize) -> Self {
        Self {
            snapshot: Snapshot::default(),
            listeners: (0..listeners)
                .map(|_| ListenerNetwork {
                    port: 0,
                    groups: Vec::new(),
                    open: true,
                })
                .collect(),
        }
    }

    /// Compiles every listener's ACL at `now`.
    ///
    /// # Errors
    /// The snapshot's validation errors, or a listener with no group that is not `open`.
    pub fn compile(&self, now: Timestamp) -> Result<CompiledNetwork, Vec<ValidationError>> {
        let mut acls = Vec::with_capacity(self.listeners.len());
        let mut enforce = Vec::with_capacity(self.listeners.len());
        let mut next: Option<Timestamp> = None;
        for l in &self.listeners {
            if l.open {
                acls.push(Acl::open());
                enforce.push(false);
                continue;
            }
            let acl = Acl::compile(&self.snapshot, l.port, &l.groups, now)?;
            if let Some(t) = acl.next_expiry() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            acls.push(acl);
            enforce.push(
                self.snapshot
                    .groups
                    .iter()
                    .any(|g| g.enforce_on_existing && l.groups.contains(&g.id)),
            );
        }
        Ok(CompiledNetwork {
            acls,
            enforce,
            next_expiry: next,
        })
    }
}

impl CompiledNetwork {
    /// The verdict for `source` on listener `index` (an unknown index is denied).
    pub fn check(&self, index: usize, source: IpAddr) -> Verdict {
        match self.acls.get(index) {
            Some(acl) => acl.check(source),
            None => Verdict::Denied,
        }
    }

    /// Whether listener `index` re-checks live sessions when the policy changes.
    pub fn enforces_on_existing(&self, index: usize) -> bool {
        self.enforce.get(index).copied().unwrap_or(false)
    }

    /// When the earliest rule or member expires (recompile then).
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.next_expiry
    }
}

/// A short text for the decision log: which rule allowed the source.
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Allowed {
            rule,
            group,
            matched,
            ..
        } => format!("allowed by {rule} of {group} ({matched})"),
        Verdict::Open => "network open (no security groups)".to_string(),
        Verdict::Denied => {
            "no ingress rule of the listener's security groups allows this source".to_string()
        }
    }
}
