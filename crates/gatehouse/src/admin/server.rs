//! The gateway side of the admin API (axum on a Unix socket), and the task that
//! removes expired dynamic rules and members from the state store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_netacl::{GroupId, IngressRule, Member, Timestamp};
use gatehouse_proxy::network::NetworkPolicy;
use gatehouse_proxy::server::Shared;
use gatehouse_state::{IngressRuleSpec, StateStore};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{AuthorizeIngress, DeregisterMember, RegisterMember, RevokeIngress};

/// What the handlers share.
pub struct Admin {
    store: StateStore,
    /// The policy from gatehouse.toml (its snapshot is the static part: groups,
    /// rules, prefix lists, members); replaced on SIGHUP.
    base: std::sync::Mutex<NetworkPolicy>,
    shared: Arc<Shared>,
}

impl Admin {
    /// Takes the opened state store and the static part of the policy; the
    /// gateway must already run with [`merged`] of the two.
    pub fn new(store: StateStore, base: NetworkPolicy, shared: Arc<Shared>) -> Arc<Admin> {
        Arc::new(Admin {
            store,
            base: std::sync::Mutex::new(base),
            shared,
        })
    }

    /// The static part as configured now.
    fn statics(&self) -> NetworkPolicy {
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes a reloaded gatehouse.toml's network policy and publishes it with the
    /// stored rules.
    /// Nothing changes when the merged policy does not compile (for example the
    /// new file drops a group that stored rules still name): the running policy
    /// and the API's view of it stay as they were.
    pub fn reload_static(&self, base: NetworkPolicy) -> Result<(), String> {
        self.publish_with(base.clone())?;
        *self.base.lock().unwrap_or_else(|p| p.into_inner()) = base;
        Ok(())
    }

    fn publish_with(&self, base: NetworkPolicy) -> Result<(), String> {
        let merged = merged(&self.store, base).map_err(|e| e.to_string())?;
        self.shared.reload_network(merged)
    }

    /// Static + stored rules and members, published to the gateway (compiled at
    /// once; live sessions re-checked where a group enforces on existing ones).
    pub fn publish(&self) -> Result<(), String> {
        self.publish_with(self.statics())
    }

    fn all_rules(&self) -> Result<Vec<(IngressRule, &'static str)>, String> {
        let (dynamic, _) = self.store.snapshot_part().map_err(|e| e.to_string())?;
        let mut all: Vec<(IngressRule, &'static str)> = self
            .statics()
            .snapshot
            .rules
            .into_iter()
            .map(|r| (r, "config"))
            .collect();
        all.extend(dynamic.into_iter().map(|r| (r, "state")));
        Ok(all)
    }
}

/// The configured policy plus the store's rules and members.
///
/// # Errors
/// The store cannot be read.
pub fn merged(store: &StateStore, mut base: NetworkPolicy) -> Result<NetworkPolicy> {
    let (rules, members) = store.snapshot_part().context("state store")?;
    base.snapshot.rules.extend(rules);
    base.snapshot.members.extend(members);
    Ok(base)
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

fn changed(admin: &Admin, what: &str, detail: &Value) -> Result<(), ApiError> {
    tracing::info!(target: "gatehouse::change", action = what, detail = %detail, "security group change");
    admin.publish().map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("stored, but not applied: {e}"),
        )
    })
}

async fn groups(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, ApiError> {
    let rules = admin.all_rules().map_err(bad)?;
    let statics = admin.statics();
    let list: Vec<Value> = statics
        .snapshot
        .groups
        .iter()
        .map(|g| {
            let n = rules.iter().filter(|(r, _)| r.group_id == g.id).count();
            json!({
                "group_id": g.id, "group_name": g.name, "description": g.description,
                "enforce_on_existing": g.enforce_on_existing, "ingress_rules": n,
            })
        })
        .collect();
    Ok(Json(json!({ "security_groups": list })))
}

#[derive(Deserialize)]
struct RulesQuery {
    group_id: Option<GroupId>,
}

async fn rules(
    State(admin): State<Arc<Admin>>,
    Query(q): Query<RulesQuery>,
) -> Result<Json<Value>, ApiError> {
    let rules = admin.all_rules().map_err(bad)?;
    let list: Vec<Value> = rules
        .into_iter()
        .filter(|(r, _)| q.group_id.as_ref().is_none_or(|g| *g == r.group_id))
        .map(|(r, origin)| {
            let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
            v["origin"] = json!(origin);
            v
        })
        .collect();
    Ok(Json(json!({ "security_group_rules": list })))
}

async fn authorize(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<AuthorizeIngress>,
) -> Result<Json<Value>, ApiError> {
    let spec = IngressRuleSpec {
        id: None,
        group_id: req.group_id,
        protocol: req.protocol,
        from_port: req.from_port,
        to_port: req.to_port,
        source: req.source,
        description: req.description,
        expires_at: req.expires_in_secs.map(|s| Timestamp::now().plus_secs(s)),
    };
    check_group(&admin, &spec.group_id)?;
    let rule = admin
        .store
        .authorize_ingress(spec, &admin.statics().snapshot)
        .map_err(bad)?;
    let v = serde_json::to_value(&rule).map_err(bad)?;
    changed(&admin, "authorize_ingress", &v)?;
    Ok(Json(json!({ "security_group_rule": v })))
}

fn check_group(admin: &Admin, group: &GroupId) -> Result<(), ApiError> {
    if admin
        .statics()
        .snapshot
        .groups
        .iter()
        .any(|g| g.id == *group)
    {
        Ok(())
    } else {
        Err(bad(format!(
            "InvalidGroup.NotFound: the security group '{group}' does not exist"
        )))
    }
}

async fn revoke(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<RevokeIngress>,
) -> Result<Json<Value>, ApiError> {
    let rule = match (
        &req.rule_id,
        &req.group_id,
        req.protocol,
        req.from_port,
        req.to_port,
        &req.source,
    ) {
        (Some(id), ..) => {
            if admin.statics().snapshot.rules.iter().any(|r| r.id == *id) {
                return Err(bad(format!(
                    "{id} is defined in gatehouse.toml: remove it there and reload (SIGHUP)"
                )));
            }
            admin.store.revoke_ingress(id).map_err(bad)?
        }
        (None, Some(g), Some(p), Some(from), Some(to), Some(src)) => admin
            .store
            .revoke_ingress_matching(g, p, from, to, src)
            .map_err(bad)?,
        _ => {
            return Err(bad(
                "give rule_id, or group_id, protocol, from_port, to_port and source",
            ))
        }
    };
    let v = serde_json::to_value(&rule).map_err(bad)?;
    changed(&admin, "revoke_ingress", &v)?;
    Ok(Json(json!({ "revoked": v })))
}

async fn register(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<RegisterMember>,
) -> Result<Json<Value>, ApiError> {
    check_group(&admin, &req.group_id)?;
    let member = Member {
        group_id: req.group_id,
        address: req.address,
        expires_at: req.expires_in_secs.map(|s| Timestamp::now().plus_secs(s)),
    };
    let member = admin
        .store
        .register_member(member, &admin.statics().snapshot)
        .map_err(bad)?;
    let v = serde_json::to_value(&member).map_err(bad)?;
    changed(&admin, "register_member", &v)?;
    Ok(Json(json!({ "member": v })))
}

async fn deregister(
    State(admin): State<Arc<Admin>>,
    Json(req): Json<DeregisterMember>,
) -> Result<Json<Value>, ApiError> {
    admin
        .store
        .deregister_member(&req.group_id, req.address)
        .map_err(bad)?;
    let v = json!({ "group_id": req.group_id, "address": req.address });
    changed(&admin, "deregister_member", &v)?;
    Ok(Json(json!({ "deregistered": v })))
}

/// Binds the admin socket (mode 0600). A leftover socket that nobody answers on
/// is replaced; a live one (another gatehouse) or any other kind of file is an
/// error, so nothing that is not ours is ever deleted.
///
/// # Errors
/// The path is in use or cannot be bound.
pub fn bind(socket: &Path) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "admin socket {}: the path exists and is not a socket; refusing to replace it",
                socket.display()
            );
        }
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            anyhow::bail!(
                "admin socket {}: another gatehouse is serving it (one state store and socket per gateway)",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("remove stale {}", socket.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .with_context(|| format!("admin socket {}", socket.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", socket.display()))?;
    Ok(listener)
}

/// Serves the admin API on a bound socket and removes expired rows every second.
pub async fn serve(
    admin: Arc<Admin>,
    listener: tokio::net::UnixListener,
    socket: PathBuf,
) -> Result<()> {
    let janitor = admin.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match janitor.store.remove_expired(Timestamp::now()) {
                Ok(changes) if !changes.is_empty() => {
                    for c in &changes {
                        tracing::info!(target: "gatehouse::change", action = c.action.as_str(), object = %c.object_id, "expired");
                    }
                    if let Err(e) = janitor.publish() {
                        tracing::error!(target: "gatehouse::change", error = %e, "publish after expiry failed");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(target: "gatehouse::change", error = %e, "removing expired rows failed")
                }
            }
        }
    });
    let app = Router::new()
        .route("/v1/security-groups", get(groups))
        .route("/v1/security-group-rules", get(rules))
        .route("/v1/ingress/authorize", post(authorize))
        .route("/v1/ingress/revoke", post(revoke))
        .route("/v1/members/register", post(register))
        .route("/v1/members/deregister", post(deregister))
        .with_state(admin);
    tracing::info!(target: "gatehouse::server", socket = %socket.display(), "admin API listening");
    axum::serve(listener, app).await.context("admin API")?;
    Ok(())
}
