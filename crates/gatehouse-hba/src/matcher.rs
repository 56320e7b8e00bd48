//! Which pg_hba.conf record a connection matches: PostgreSQL's `check_hba()`,
//! first match wins, plus an index that skips records that cannot match by role
//! name without changing which record wins.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::address::{host_mask, AddrMask};
use crate::file::HbaFile;
pub(crate) use crate::index::RuleIndex;
use crate::line::{AddressSpec, ConnType, HbaLine, NameToken};
use crate::resolve::{InterfaceAddr, Resolver};

/// How the client reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Unix-domain socket.
    Local,
    /// TCP/IP from `addr`, with or without TLS and GSSAPI encryption.
    Tcp {
        /// The client's address (after any PROXY protocol header).
        addr: IpAddr,
        /// TLS in use.
        ssl: bool,
        /// GSSAPI encryption in use.
        gssenc: bool,
    },
}

/// The StartupMessage `replication` parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replication {
    /// A normal connection.
    #[default]
    None,
    /// `replication=true`: physical replication; only the `replication` keyword matches.
    Physical,
    /// `replication=database`: logical replication; matches like a normal connection.
    Logical,
}

/// PostgreSQL's `NAMEDATALEN - 1`: the longest user or database name the server keeps.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// The user and database names as PostgreSQL's startup processing leaves them
/// (`ProcessStartupPacket()`): an empty database defaults to the user name, and both
/// are cut to 63 bytes (here at a character boundary, so the text stays UTF-8;
/// identical to PostgreSQL for ASCII names).
pub fn startup_names(user: &str, database: &str) -> (String, String) {
    let database = if database.is_empty() { user } else { database };
    (
        truncate_identifier(user).to_owned(),
        truncate_identifier(database).to_owned(),
    )
}

fn truncate_identifier(name: &str) -> &str {
    if name.len() <= MAX_IDENTIFIER_BYTES {
        return name;
    }
    let mut end = MAX_IDENTIFIER_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The connecting role's memberships, for `+group`, `samerole` and `samegroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Whether the role exists (PostgreSQL says "not a member" for unknown roles).
    pub exists: bool,
    /// Every role it is a member of, directly or indirectly (superuser status does
    /// not imply membership).
    pub member_of: BTreeSet<String>,
}

impl Membership {
    /// PostgreSQL's `is_member()` for the role `user` these memberships belong to:
    /// false for an unknown user; a role is always a member of itself.
    pub fn is_member(&self, user: &str, role: &str) -> bool {
        self.exists && (role == user || self.member_of.contains(role))
    }

    /// An existing role with the given memberships.
    pub fn of(roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Membership {
            exists: true,
            member_of: roles.into_iter().map(Into::into).collect(),
        }
    }
}

/// The facts of one connection attempt.
#[derive(Clone, Debug)]
pub struct Connection<'a> {
    /// Socket kind and source.
    pub transport: Transport,
    /// StartupMessage `user`, as [`startup_names`] leaves it.
    pub user: &'a str,
    /// StartupMessage `database`, as [`startup_names`] leaves it.
    pub database: &'a str,
    /// StartupMessage `replication`.
    pub replication: Replication,
    /// The user's role memberships.
    pub membership: &'a Membership,
}

impl Connection<'_> {
    fn is_member(&self, role: &str) -> bool {
        self.membership.is_member(self.user, role)
    }
}

/// The machine facts matching needs: interfaces (`samehost`, `samenet`) and DNS
/// (host names).
pub struct MatchEnv<'a> {
    /// The server's interface addresses.
    pub interfaces: &'a [InterfaceAddr],
    /// Name resolution.
    pub resolver: &'a dyn Resolver,
}

/// Reverse-then-forward DNS result for one connection, cached as PostgreSQL caches
/// it on the `Port`.
#[derive(Default)]
struct HostnameCache {
    name: Option<String>,
    state: i8, // 0 unknown, +1 confirmed, -1 not confirmed, -2 lookup failed
}

/// PostgreSQL's `check_db()`.
fn check_db(conn: &Connection<'_>, tokens: &[NameToken]) -> bool {
    for tok in tokens {
        if conn.replication == Replication::Physical {
            if tok.is_keyword("replication") {
                return true;
            }
        } else if tok.is_keyword("all") {
            return true;
        } else if tok.is_keyword("sameuser") {
            if conn.database == conn.user {
                return true;
            }
        } else if tok.is_keyword("samegroup") || tok.is_keyword("samerole") {
            if conn.is_member(conn.database) {
                return true;
            }
        } else if tok.is_keyword("replication") {
            continue;
        } else if let Some(re) = &tok.regex {
            if re.is_match(conn.database) {
                return true;
            }
        } else if tok.text == conn.database {
            return true;
        }
    }
    false
}

/// PostgreSQL's `check_role()` (case-sensitive, as pg_hba.conf uses it).
pub(crate) fn check_role(
    user: &str,
    is_member: impl Fn(&str) -> bool,
    tokens: &[NameToken],
) -> bool {
    for tok in tokens {
        if tok.is_member_check() {
            if is_member(&tok.text[1..]) {
                return true;
            }
        } else if tok.is_keyword("all") {
            return true;
        } else if let Some(re) = &tok.regex {
            if re.is_match(user) {
                return true;
            }
        } else if tok.text == user {
            return true;
        }
    }
    false
}

fn hostname_match(pattern: &str, actual: &str) -> bool {
    if pattern.starts_with('.') {
        actual.len() >= pattern.len()
            && actual.as_bytes()[actual.len() - pattern.len()..]
                .eq_ignore_ascii_case(pattern.as_bytes())
    } else {
        pattern.eq_ignore_ascii_case(actual)
    }
}

fn check_hostname(
    client: IpAddr,
    pattern: &str,
    env: &MatchEnv<'_>,
    cache: &RefCell<HostnameCache>,
) -> bool {
    let mut c = cache.borrow_mut();
    if c.state < 0 {
        return false;
    }
    if c.name.is_none() {
        match env.resolver.reverse(client) {
            Some(n) => c.name = Some(n),
            None => {
                c.state = -2;
                return false;
            }
        }
    }
    let Some(name) = c.name.clone() else {
        return false;
    };
    if !hostname_match(pattern, &name) {
        return false;
    }
    if c.state == 1 {
        return true;
    }
    let found = match env.resolver.lookup_host(&name) {
        Ok(addrs) => addrs.contains(&client),
        Err(_) => {
            c.state = -2;
            return false;
        }
    };
    c.state = if found { 1 } else { -1 };
    found
}

fn check_same(client: IpAddr, env: &MatchEnv<'_>, same_host: bool) -> bool {
    env.interfaces.iter().any(|i| {
        let mask = if same_host {
            host_mask(i.addr)
        } else {
            i.netmask
        };
        AddrMask { addr: i.addr, mask }.contains(client)
    })
}

fn line_matches(
    line: &HbaLine,
    conn: &Connection<'_>,
    env: &MatchEnv<'_>,
    cache: &RefCell<HostnameCache>,
) -> bool {
    match conn.transport {
        Transport::Local => {
            if line.conntype != ConnType::Local {
                return false;
            }
        }
        Transport::Tcp { addr, ssl, gssenc } => {
            match line.conntype {
                ConnType::Local => return false,
                ConnType::HostNoSsl if ssl => return false,
                ConnType::HostSsl if !ssl => return false,
                ConnType::HostNoGssEnc if gssenc => return false,
                ConnType::HostGssEnc if !gssenc => return false,
                _ => {}
            }
            let ok = match &line.address {
                Some(AddressSpec::All) => true,
                Some(AddressSpec::Mask(m)) => m.contains(addr),
                Some(AddressSpec::Hostname(h)) => check_hostname(addr, h, env, cache),
                Some(AddressSpec::SameHost) => check_same(addr, env, true),
                Some(AddressSpec::SameNet) => check_same(addr, env, false),
                None => false,
            };
            if !ok {
                return false;
            }
        }
    }
    check_db(conn, &line.databases) && check_role(conn.user, |r| conn.is_member(r), &line.roles)
}

impl HbaFile {
    /// The first record `conn` matches (PostgreSQL's `check_hba()`), or `None` — the
    /// "no pg_hba.conf entry" refusal. Only meaningful on a loadable file.
    pub fn find(&self, conn: &Connection<'_>, env: &MatchEnv<'_>) -> Option<&HbaLine> {
        let cache = RefCell::new(HostnameCache::default());
        self.index.first(&self.lines, conn, |line| {
            line_matches(line, conn, env, &cache)
        })
    }

    /// The same answer as [`HbaFile::find`] by a plain scan of every record; used
    /// to check the index.
    pub fn find_linear(&self, conn: &Connection<'_>, env: &MatchEnv<'_>) -> Option<&HbaLine> {
        let cache = RefCell::new(HostnameCache::default());
        self.lines
            .iter()
            .find(|line| line_matches(line, conn, env, &cache))
    }

    /// Every record `conn` matches, in file order: the first is [`HbaFile::find`]'s
    /// answer, the others are the records it shadows (what `explain` needs to say
    /// which later line would decide if an earlier one were moved or removed).
    pub fn find_all(&self, conn: &Connection<'_>, env: &MatchEnv<'_>) -> Vec<&HbaLine> {
        let cache = RefCell::new(HostnameCache::default());
        self.lines
            .iter()
            .filter(|line| line_matches(line, conn, env, &cache))
            .collect()
    }
}
