//! A candidate filter for first-match lookups that never changes which record wins.
//!
//! - Records whose role column lists only literal names are filed under those names.
//! - Otherwise, records whose database column lists only literal names are filed
//!   under those (they can never match a physical replication connection).
//! - The rest ("unfiled") are kept per transport in compact arrays holding what can
//!   be checked without touching the record: accepted TLS/GSS states and the
//!   numeric address and mask.
//!
//! A lookup walks the filed candidates and the unfiled array together in file
//! order and runs the full check (the caller's closure) only on records that pass
//! the cheap one.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use crate::line::{AddressSpec, ConnType, HbaLine, NameToken};
use crate::matcher::{Connection, Replication, Transport};

/// Bit for a TCP connection's (TLS, GSS encryption) state.
fn state_bit(ssl: bool, gssenc: bool) -> u8 {
    1 << (u8::from(ssl) | (u8::from(gssenc) << 1))
}

/// Which TCP (TLS, GSS) states a connection type accepts, as a 4-bit mask.
fn accepted_states(c: ConnType) -> u8 {
    let mut m = 0;
    for ssl in [false, true] {
        for gss in [false, true] {
            let ok = match c {
                ConnType::Local => false,
                ConnType::Host => true,
                ConnType::HostSsl => ssl,
                ConnType::HostNoSsl => !ssl,
                ConnType::HostGssEnc => gss,
                ConnType::HostNoGssEnc => !gss,
            };
            if ok {
                m |= state_bit(ssl, gss);
            }
        }
    }
    m
}

/// Cheap facts of one record.
#[derive(Clone, Copy, Debug)]
struct Pre {
    states: u8,
    local: bool,
    /// `(address, mask)` for numeric IPv4 addresses; all-zero mask otherwise.
    v4: (u32, u32),
    v6: (u128, u128),
    family: Family,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
    /// Not numeric (all, samehost, samenet, host name): either family may match.
    Any,
    Local,
}

impl Pre {
    fn of(line: &HbaLine) -> Pre {
        let mut p = Pre {
            states: accepted_states(line.conntype),
            local: line.conntype == ConnType::Local,
            v4: (0, 0),
            v6: (0, 0),
            family: Family::Any,
        };
        match &line.address {
            None => p.family = Family::Local,
            Some(AddressSpec::Mask(m)) => match (m.addr, m.mask) {
                (IpAddr::V4(a), IpAddr::V4(k)) => {
                    p.v4 = (u32::from(a), u32::from(k));
                    p.family = Family::V4;
                }
                (IpAddr::V6(a), IpAddr::V6(k)) => {
                    p.v6 = (u128::from(a), u128::from(k));
                    p.family = Family::V6;
                }
                _ => {}
            },
            Some(_) => {}
        }
        p
    }

    /// False only when the record certainly cannot match.
    fn may_match(&self, t: &Transport) -> bool {
        match *t {
            Transport::Local => self.local,
            Transport::Tcp { addr, ssl, gssenc } => {
                self.states & state_bit(ssl, gssenc) != 0
                    && match (self.family, addr) {
                        (Family::Any, _) => true,
                        (Family::V4, IpAddr::V4(c)) => (self.v4.0 ^ u32::from(c)) & self.v4.1 == 0,
                        (Family::V6, IpAddr::V6(c)) => (self.v6.0 ^ u128::from(c)) & self.v6.1 == 0,
                        _ => false,
                    }
            }
        }
    }
}

/// An unfiled IPv4-capable record: index, accepted states, address, mask.
#[derive(Clone, Copy, Debug)]
struct V4Entry {
    index: u32,
    states: u8,
    addr: u32,
    mask: u32,
}

/// The index over a file's loaded records.
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    by_user: HashMap<String, Vec<u32>>,
    by_db: HashMap<String, Vec<u32>>,
    wild_local: Vec<u32>,
    wild_v4: Vec<V4Entry>,
    wild_v6: Vec<u32>,
    pre: Vec<Pre>,
}

fn literal_names(tokens: &[NameToken], keywords: &[&str]) -> bool {
    tokens.iter().all(|t| {
        !t.is_member_check() && t.regex.is_none() && !keywords.iter().any(|k| t.is_keyword(k))
    })
}

impl RuleIndex {
    pub(crate) fn build(lines: &[HbaLine]) -> Self {
        let mut idx = RuleIndex::default();
        for (i, line) in lines.iter().enumerate() {
            let i = i as u32;
            let pre = Pre::of(line);
            idx.pre.push(pre);
            if literal_names(&line.roles, &["all"]) {
                let names: BTreeSet<&str> = line.roles.iter().map(|t| t.text.as_str()).collect();
                for n in names {
                    idx.by_user.entry(n.to_owned()).or_default().push(i);
                }
                continue;
            }
            let db_keywords = ["all", "sameuser", "samerole", "samegroup", "replication"];
            if literal_names(&line.databases, &db_keywords) {
                let names: BTreeSet<&str> =
                    line.databases.iter().map(|t| t.text.as_str()).collect();
                for n in names {
                    idx.by_db.entry(n.to_owned()).or_default().push(i);
                }
                continue;
            }
            let v4 = V4Entry {
                index: i,
                states: pre.states,
                addr: pre.v4.0,
                mask: pre.v4.1,
            };
            match pre.family {
                Family::Local => idx.wild_local.push(i),
                Family::V4 => idx.wild_v4.push(v4),
                Family::V6 => idx.wild_v6.push(i),
                Family::Any => {
                    idx.wild_v4.push(v4);
                    idx.wild_v6.push(i);
                }
            }
        }
        idx
    }

    /// The first record, in file order, among those that may match `conn`, for
    /// which `matches` (the full check) holds.
    pub(crate) fn first<'l>(
        &self,
        lines: &'l [HbaLine],
        conn: &Connection<'_>,
        mut matches: impl FnMut(&HbaLine) -> bool,
    ) -> Option<&'l HbaLine> {
        let named: &[u32] = self.by_user.get(conn.user).map_or(&[], Vec::as_slice);
        let by_db: &[u32] = if conn.replication == Replication::Physical {
            &[]
        } else {
            self.by_db.get(conn.database).map_or(&[], Vec::as_slice)
        };
        let t = conn.transport;
        let mut filed = Merge2 { a: named, b: by_db };
        let mut full = |i: u32| matches(&lines[i as usize]);
        let mut check = |i: u32| self.pre[i as usize].may_match(&t) && full(i);
        let mut next_filed = filed.next();
        // Walk the unfiled records of this transport; before each, the filed ones
        // that come earlier in the file.
        let mut visit =
            |unfiled: u32, pass: bool, check: &mut dyn FnMut(u32) -> bool| -> Option<u32> {
                while let Some(f) = next_filed.filter(|&f| f < unfiled) {
                    next_filed = filed.next();
                    if check(f) {
                        return Some(f);
                    }
                }
                (pass && check(unfiled)).then_some(unfiled)
            };
        let found = match t {
            Transport::Local => self
                .wild_local
                .iter()
                .find_map(|&i| visit(i, true, &mut check)),
            Transport::Tcp {
                addr: IpAddr::V4(c),
                ssl,
                gssenc,
            } => {
                let bit = state_bit(ssl, gssenc);
                let c = u32::from(c);
                self.wild_v4.iter().find_map(|e| {
                    let cheap = e.states & bit != 0 && (e.addr ^ c) & e.mask == 0;
                    visit(e.index, cheap, &mut check)
                })
            }
            Transport::Tcp {
                addr: IpAddr::V6(_),
                ..
            } => self
                .wild_v6
                .iter()
                .find_map(|&i| visit(i, true, &mut check)),
        };
        if let Some(i) = found {
            return Some(&lines[i as usize]);
        }
        // Filed records after the last unfiled one.
        while let Some(f) = next_filed {
            next_filed = filed.next();
            if check(f) {
                return Some(&lines[f as usize]);
            }
        }
        None
    }
}

/// Merges two ascending, disjoint index lists.
struct Merge2<'s> {
    a: &'s [u32],
    b: &'s [u32],
}

impl Iterator for Merge2<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let take_a = match (self.a.first(), self.b.first()) {
            (Some(x), Some(y)) => x < y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let list = if take_a { &mut self.a } else { &mut self.b };
        let v = list[0];
        *list = &list[1..];
        Some(v)
    }
}
