//! [`StateStore`]: the SQLite-backed store of dynamic rules and members.

use std::collections::HashSet;
use std::fmt;
use std::fs::OpenOptions;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_netacl::{
    canonical_addr, GroupId, IngressRule, Member, Protocol, RuleId, Snapshot, Source, Timestamp,
    ValidationError,
};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::change::{Change, ChangeAction};
use crate::error::{show_time, SqlContext, StateError};
use crate::rows;
use crate::schema;

/// How long an operation waits for another connection's write transaction to finish
/// before failing with `database is locked`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a generated rule id is drawn again when it is already taken (68 random
/// bits: a second draw is already unheard of).
const ID_ATTEMPTS: usize = 8;

fn all_ports() -> i32 {
    -1
}

/// A rule to authorize: an [`IngressRule`] whose id may be left out (a fresh
/// `sgr-` + 17 hex digits is generated, as AWS does). Same fields, same serde form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRuleSpec {
    /// An operator-chosen `sgr-…` id, or `None` to generate one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RuleId>,
    /// The group the rule belongs to (defined in the configuration).
    pub group_id: GroupId,
    /// `tcp` or `-1`.
    pub protocol: Protocol,
    /// First port, 0-65535 for `tcp`; ignored for `-1`. Defaults to -1.
    #[serde(default = "all_ports")]
    pub from_port: i32,
    /// Last port (inclusive), `>= from_port` for `tcp`; ignored for `-1`. Defaults to -1.
    #[serde(default = "all_ports")]
    pub to_port: i32,
    /// Exactly one source: CIDR, prefix list or group.
    pub source: Source,
    /// At most 255 characters of AWS's set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When the rule stops matching (seconds since the Unix epoch); must be in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl IngressRuleSpec {
    /// The rule with this id (whatever `self.id` says).
    pub fn with_id(self, id: RuleId) -> IngressRule {
        IngressRule {
            id,
            group_id: self.group_id,
            protocol: self.protocol,
            from_port: self.from_port,
            to_port: self.to_port,
            source: self.source,
            description: self.description,
            expires_at: self.expires_at,
        }
    }
}

impl From<IngressRule> for IngressRuleSpec {
    fn from(rule: IngressRule) -> Self {
        IngressRuleSpec {
            id: Some(rule.id),
            group_id: rule.group_id,
            protocol: rule.protocol,
            from_port: rule.from_port,
            to_port: rule.to_port,
            source: rule.source,
            description: rule.description,
            expires_at: rule.expires_at,
        }
    }
}

/// Whether two rules grant the same permission (AWS's duplicate test): same group,
/// protocol and source, and for `tcp` the same port range.
fn same_permission(a: &IngressRule, b: &IngressRule) -> bool {
    a.group_id == b.group_id
        && a.protocol == b.protocol
        && a.source == b.source
        && (a.protocol == Protocol::All || (a.from_port, a.to_port) == (b.from_port, b.to_port))
}

/// Refuses an expiry that is not in the future or does not fit the database.
fn check_expiry(
    object: &str,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StateError> {
    let Some(t) = expires_at else {
        return Ok(());
    };
    if t.is_expired_at(now) {
        return Err(StateError::InvalidExpiry {
            object: object.to_owned(),
            expires_at: t.as_secs(),
            reason: format!(
                "({t}) is not after now ({}): the rule or member would already be expired",
                show_time(now)
            ),
        });
    }
    rows::time_column(object, t).map(drop)
}

/// netacl's checks for one rule: its own fields, and that the groups and prefix list it
/// names exist in the configuration.
fn validate_rule(rule: &IngressRule, config: &Snapshot) -> Result<(), StateError> {
    let mut problems = rule.validate();
    let groups: HashSet<&GroupId> = config.groups.iter().map(|g| &g.id).collect();
    if !groups.contains(&rule.group_id) {
        problems.push(ValidationError::UnknownGroup {
            object: rule.id.to_string(),
            field: "group_id",
            group: rule.group_id.clone(),
        });
    }
    match &rule.source {
        Source::Cidr(_) => {}
        Source::Group(g) => {
            if !groups.contains(g) {
                problems.push(ValidationError::UnknownGroup {
                    object: rule.id.to_string(),
                    field: "source",
                    group: g.clone(),
                });
            }
        }
        Source::PrefixList(pl) => {
            if !config.prefix_lists.iter().any(|l| &l.id == pl) {
                problems.push(ValidationError::UnknownPrefixList {
                    object: rule.id.to_string(),
                    field: "source",
                    list: pl.clone(),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StateError::Invalid(problems))
    }
}

/// Creates the file if it does not exist, readable and writable by its owner only.
///
/// An existing file is never opened here: closing any descriptor of a file drops every
/// POSIX lock this process holds on it (fcntl semantics), including the SQLite locks of
/// the store's other connections, after which another process may think it is the last
/// user and delete the WAL under them. Only a brand-new file (`create_new`) is opened.
fn create_private_file(path: &Path) -> Result<(), StateError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Another process created it in between: it is theirs to set up.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StateError::Open {
            path: path.to_owned(),
            reason: format!("cannot create the file: {e}"),
        }),
    }
}

/// Switches the file to WAL journaling and returns the journal mode now in effect.
///
/// SQLite does not call the busy handler for this switch when it could deadlock (several
/// processes opening a new file at once), so `database is locked` is retried here, every
/// 10 ms, until [`BUSY_TIMEOUT`].
fn enable_wal(conn: &Connection) -> Result<String, rusqlite::Error> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// The dynamic part of layer 1 — ingress rules and group members added and removed at run
/// time — in a SQLite file that survives restarts. Static groups, rules and prefix lists
/// come from the configuration file and are passed in where they matter (`config`).
///
/// Every method is one SQLite transaction; every mutation appends to the change log in the
/// same transaction, so the log and the data never disagree. Writes take the write lock
/// up front (`BEGIN IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for another process (the
/// CLI, the gateway) to finish. One `StateStore` is one connection, shared by the threads
/// that hold it (`Send + Sync`; operations are serialized).
pub struct StateStore {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "StateStore({})", p.display()),
            None => f.write_str("StateStore(:memory:)"),
        }
    }
}

impl StateStore {
    /// Opens the store at `path`, creating the file (mode 0600) if it is missing, and
    /// brings its schema up to date. The file uses WAL journaling (readers never block the
    /// writer) with `synchronous = FULL` and a [`BUSY_TIMEOUT`] of 5 s, so a CLI and the
    /// gateway can open it at the same time.
    ///
    /// # Errors
    /// [`StateError::Open`] when the file cannot be created or opened or does not support
    /// WAL; [`StateError::UnsupportedSchema`] when a newer gatehouse wrote it;
    /// [`StateError::Sqlite`] for anything else SQLite reports (e.g. not a database).
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        create_private_file(path)?;
        let open_err = |e: rusqlite::Error| StateError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let mode = enable_wal(&conn).map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Open {
                path: path.to_owned(),
                reason: format!(
                    "SQLite cannot use WAL journaling on this file (it reports journal mode \
                     {mode:?}); put the state file on a local file system"
                ),
            });
        }
        Self::init(conn, Some(path.to_owned()))
    }

    /// A private store in memory, empty, gone when dropped (for tests).
    ///
    /// # Errors
    /// [`StateError::Sqlite`] when SQLite cannot create it.
    pub fn open_in_memory() -> Result<StateStore, StateError> {
        let conn = Connection::open_in_memory().ctx("opening an in-memory database")?;
        Self::init(conn, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<StateStore, StateError> {
        conn.pragma_update(None, "synchronous", "FULL")
            .ctx("setting synchronous = FULL")?;
        schema::migrate(&mut conn)?;
        Ok(StateStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done work: an unfinished
        // transaction was rolled back when it was dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one transaction and commits it when `f` succeeds (rolls back otherwise).
    fn transaction<T>(
        &self,
        what: &str,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(behavior).ctx(what)?;
        let out = f(&tx)?;
        tx.commit().ctx(what)?;
        Ok(out)
    }

    pub(crate) fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.transaction(what, TransactionBehavior::Immediate, f)
    }

    pub(crate) fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.transaction(what, TransactionBehavior::Deferred, f)
    }

    /// Everything stored: the dynamic rules and the members, each in insertion order,
    /// including rows that are expired but not yet removed (the engine ignores them at
    /// `now`). Add them to the configuration's [`Snapshot`] before compiling.
    ///
    /// # Errors
    /// [`StateError::CorruptRow`] when a row cannot be read back; [`StateError::Sqlite`].
    pub fn snapshot_part(&self) -> Result<(Vec<IngressRule>, Vec<Member>), StateError> {
        self.read("snapshot_part", |tx| {
            let rules = rows::read_rules(tx, "1", [])?;
            let members = rows::read_members(tx, "1", [])?;
            Ok((rules, members))
        })
    }

    /// Adds a rule (AWS `AuthorizeSecurityGroupIngress`) and returns it as stored, with its
    /// id (generated when `rule.id` is `None`).
    ///
    /// `config` is the static part from the configuration file: its rules count as existing
    /// (a duplicate of one is refused too), and its groups and prefix lists are the ones
    /// the rule may name. Expired rules (of either kind) are not duplicates; an expired
    /// stored duplicate is removed (logged as `expire_rule`) and replaced.
    ///
    /// # Errors
    /// - [`StateError::Invalid`]: netacl's validation (ports, CIDR, description), or a
    ///   group or prefix list that is not in `config`; each error names the rule and field.
    /// - [`StateError::InvalidExpiry`]: `expires_at` not in the future.
    /// - [`StateError::DuplicatePermission`] (`InvalidPermission.Duplicate`): an unexpired
    ///   rule with the same group, protocol, ports and source exists.
    /// - [`StateError::DuplicateRuleId`]: the chosen id is taken.
    /// - [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn authorize_ingress(
        &self,
        rule: IngressRuleSpec,
        config: &Snapshot,
    ) -> Result<IngressRule, StateError> {
        let now = Timestamp::now();
        self.write("authorize_ingress", |tx| {
            let id_taken = |id: &RuleId| -> Result<Option<bool>, StateError> {
                if config.rules.iter().any(|r| &r.id == id) {
                    return Ok(Some(true));
                }
                let stored: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM rules WHERE id = ?1)",
                        params![id.as_str()],
                        |row| row.get(0),
                    )
                    .ctx("authorize_ingress")?;
                Ok(stored.then_some(false))
            };
            let id = match rule.id.clone() {
                Some(id) => {
                    if let Some(in_config) = id_taken(&id)? {
                        return Err(StateError::DuplicateRuleId { id, in_config });
                    }
                    id
                }
                None => {
                    let mut fresh = RuleId::generate();
                    for _ in 1..ID_ATTEMPTS {
                        if id_taken(&fresh)?.is_none() {
                            break;
                        }
                        fresh = RuleId::generate();
                    }
                    if let Some(in_config) = id_taken(&fresh)? {
                        return Err(StateError::DuplicateRuleId {
                            id: fresh,
                            in_config,
                        });
                    }
                    fresh
                }
            };
            let rule = rule.with_id(id);
            validate_rule(&rule, config)?;
            check_expiry(rule.id.as_str(), rule.expires_at, now)?;
            if let Some(existing) = config
                .rules
                .iter()
                .find(|r| same_permission(r, &rule) && !r.is_expired_at(now))
            {
                return Err(StateError::DuplicatePermission {
                    existing: existing.id.clone(),
                    rule: Box::new(rule),
                    in_config: true,
                });
            }
            for existing in rows::read_rules(tx, "group_id = ?1", params![rule.group_id.as_str()])?
            {
                if !same_permission(&existing, &rule) {
                    continue;
                }
                if !existing.is_expired_at(now) {
                    return Err(StateError::DuplicatePermission {
                        existing: existing.id,
                        rule: Box::new(rule),
                        in_config: false,
                    });
                }
                rows::delete_rule(tx, &existing.id)?;
                rows::log_change(
                    tx,
                    now,
                    ChangeAction::ExpireRule,
                    existing.id.as_str(),
                    &existing,
                )?;
            }
            rows::insert_rule(tx, &rule)?;
            rows::log_change(
                tx,
                now,
                ChangeAction::AuthorizeIngress,
                rule.id.as_str(),
                &rule,
            )?;
            Ok(rule)
        })
    }

    /// Removes the stored rule with this id (AWS `RevokeSecurityGroupIngress` with
    /// `SecurityGroupRuleIds`) and returns it.
    ///
    /// # Errors
    /// [`StateError::RuleNotFound`] (`InvalidPermission.NotFound`) when the store has no
    /// such rule — rules from the configuration file are never in the store, and the
    /// message says so; [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn revoke_ingress(&self, rule_id: &RuleId) -> Result<IngressRule, StateError> {
        let now = Timestamp::now();
        self.write("revoke_ingress", |tx| {
            let rule = rows::read_rules(tx, "id = ?1", params![rule_id.as_str()])?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::RuleNotFound {
                    id: rule_id.clone(),
                })?;
            rows::delete_rule(tx, &rule.id)?;
            rows::log_change(
                tx,
                now,
                ChangeAction::RevokeIngress,
                rule.id.as_str(),
                &rule,
            )?;
            Ok(rule)
        })
    }

    /// Removes the stored rule granting this permission (AWS `RevokeSecurityGroupIngress`
    /// with `IpPermissions`): same group, protocol and source, and for `tcp` the same
    /// `from_port..=to_port` (ports are ignored for protocol `-1`). Returns the rule.
    ///
    /// # Errors
    /// [`StateError::PermissionNotFound`] (`InvalidPermission.NotFound`) when no stored
    /// rule matches (configuration rules cannot be revoked here, the message says so);
    /// [`StateError::CorruptRow`], [`StateError::Sqlite`].
    pub fn revoke_ingress_matching(
        &self,
        group: &GroupId,
        protocol: Protocol,
        from_port: i32,
        to_port: i32,
        source: &Source,
    ) -> Result<IngressRule, StateError> {
        let now = Timestamp::now();
        self.write("revoke_ingress_matching", |tx| {
            let probe = IngressRuleSpec {
                id: None,
                group_id: group.clone(),
                protocol,
                from_port,
                to_port,
                source: source.clone(),
                description: None,
                expires_at: None,
            };
            let probe = probe.with_id(RuleId::generate());
            let rule = rows::read_rules(tx, "group_id = ?1", params![group.as_str()])?
                .into_iter()
                .find(|r| same_permission(r, &probe))
                .ok_or_else(|| StateError::PermissionNotFound {
                    group: group.clone(),
                    protocol,
                    ports: probe.port_text(),
                    peer: source.clone(),
                })?;
            rows::delete_rule(tx, &rule.id)?;
            rows::log_change(
                tx,
                now,
                ChangeAction::RevokeIngress,
                rule.id.as_str(),
                &rule,
            )?;
            Ok(rule)
        })
    }

    /// Registers `member.address` as a member of `member.group_id` until
    /// `member.expires_at` (`None`: until deregistered). Registering an address that is
    /// already a member of the group replaces its expiry. The address is stored in
    /// canonical form (an IPv4-mapped IPv6 address as IPv4); the stored member is returned.
    ///
    /// # Errors
    /// [`StateError::Invalid`] (`InvalidGroup.NotFound`) when the group is not in
    /// `config`; [`StateError::InvalidExpiry`] when `expires_at` is not in the future;
    /// [`StateError::Sqlite`].
    pub fn register_member(&self, member: Member, config: &Snapshot) -> Result<Member, StateError> {
        let now = Timestamp::now();
        let member = Member {
            address: canonical_addr(member.address),
            ..member
        };
        let object = rows::member_object(&member.group_id, member.address);
        if !config.groups.iter().any(|g| g.id == member.group_id) {
            return Err(StateError::Invalid(vec![ValidationError::UnknownGroup {
                object,
                field: "group_id",
                group: member.group_id,
            }]));
        }
        check_expiry(&object, member.expires_at, now)?;
        self.write("register_member", |tx| {
            rows::upsert_member(tx, &member)?;
            rows::log_change(tx, now, ChangeAction::RegisterMember, &object, &member)?;
            Ok(member)
        })
    }

    /// Removes `address` from the members of `group` and returns the removed member.
    ///
    /// # Errors
    /// [`StateError::MemberNotFound`] when it is not registered; [`StateError::CorruptRow`],
    /// [`StateError::Sqlite`].
    pub fn deregister_member(
        &self,
        group: &GroupId,
        address: IpAddr,
    ) -> Result<Member, StateError> {
        let now = Timestamp::now();
        let address = canonical_addr(address);
        self.write("deregister_member", |tx| {
            let member = rows::read_members(
                tx,
                "group_id = ?1 AND address = ?2",
                params![group.as_str(), address.to_string()],
            )?
            .into_iter()
            .next()
            .ok_or_else(|| StateError::MemberNotFound {
                group: group.clone(),
                address,
            })?;
            rows::delete_member(tx, group, address)?;
            let object = rows::member_object(group, address);
            rows::log_change(tx, now, ChangeAction::DeregisterMember, &object, &member)?;
            Ok(member)
        })
    }

    /// Deletes every rule and member expired at `now` (`expires_at <= now`, as netacl's
    /// `is_expired_at`) and logs each removal (`expire_rule`, `expire_member`, at `now`).
    /// Returns the logged changes, rules first; empty when nothing expired.
    ///
    /// # Errors
    /// [`StateError::CorruptRow`] when an expired row cannot be read back (nothing is
    /// removed then); [`StateError::Sqlite`].
    pub fn remove_expired(&self, now: Timestamp) -> Result<Vec<Change>, StateError> {
        let limit = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.write("remove_expired", |tx| {
            let mut changes = Vec::new();
            let expired = "expires_at IS NOT NULL AND expires_at <= ?1";
            for rule in rows::read_rules(tx, expired, params![limit])? {
                rows::delete_rule(tx, &rule.id)?;
                changes.push(rows::log_change(
                    tx,
                    now,
                    ChangeAction::ExpireRule,
                    rule.id.as_str(),
                    &rule,
                )?);
            }
            for member in rows::read_members(tx, expired, params![limit])? {
                rows::delete_member(tx, &member.group_id, member.address)?;
                let object = rows::member_object(&member.group_id, member.address);
                changes.push(rows::log_change(
                    tx,
                    now,
                    ChangeAction::ExpireMember,
                    &object,
                    &member,
                )?);
            }
            Ok(changes)
        })
    }

    /// The change log entries after `id` (`changes_since(0)`: all), oldest first.
    ///
    /// # Errors
    /// [`StateError::CorruptRow`] when an entry cannot be read back; [`StateError::Sqlite`].
    pub fn changes_since(&self, id: i64) -> Result<Vec<Change>, StateError> {
        self.read("changes_since", |tx| rows::read_changes(tx, id))
    }

    /// The id of the newest change log entry, 0 when the log is empty. A reader that
    /// remembers it can later ask [`StateStore::changes_since`] for what is new.
    ///
    /// # Errors
    /// [`StateError::Sqlite`].
    pub fn last_change_id(&self) -> Result<i64, StateError> {
        self.read("last_change_id", |tx| {
            tx.query_row("SELECT COALESCE(MAX(id), 0) FROM changes", [], |row| {
                row.get(0)
            })
            .ctx("last_change_id")
        })
    }

    /// SQLite's `PRAGMA data_version` of this handle: a number that changes when ANOTHER
    /// connection (another process, or another `StateStore` on the same file) has
    /// committed since it was last read. This handle's own commits do not change it.
    /// Cheap (no file read when nothing changed), so a gateway polls it every ~250 ms and,
    /// when it differs from the previous value, reloads [`StateStore::snapshot_part`] and
    /// recompiles its ACLs — see the crate documentation for the loop.
    ///
    /// # Errors
    /// [`StateError::Sqlite`].
    pub fn data_version(&self) -> Result<i64, StateError> {
        self.lock()
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .ctx("data_version")
    }
}
