//! One client connection, phase by phase, as DESIGN.md draws it:
//! negotiate (TLS) → StartupMessage → pg_hba → authentication → upstream login →
//! relay. Each phase is a function; the front door (up to the end of client
//! authentication) runs within the authentication timeout, the upstream login
//! within the connect timeout.

pub mod authenticate;
pub mod negotiate;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use gatehouse_hba::{startup_names, Connection, MatchEnv, Membership, NoResolver, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::decision::{Decision, Outcome};
use crate::pool::PoolKey;
use crate::protocol::{
    encode_auth_ok, encode_backend_key_data, encode_cancel_request, encode_error_response,
    encode_error_response_v2, encode_negotiate_protocol_version, encode_parameter_status,
    encode_ready_for_query, CancelRequest, ProtocolVersion, Replication, Severity, StartupMessage,
    TransactionStatus,
};
use crate::refusal::{self, Refusal, Who};
use crate::relay::{relay, RelayEnd};
use crate::server::Shared;
use crate::stream::MessageStream;
use crate::upstream::{self, ClientProof, UpstreamError, UpstreamSession};
use authenticate::{authenticate, AuthFailure, AuthInput};
use negotiate::{negotiate, Negotiated, NegotiationError};

/// A client that passed the front door.
struct Admitted {
    stream: MessageStream,
    startup: StartupMessage,
    proof: ClientProof,
    version: ProtocolVersion,
}

/// Serves one accepted TCP connection to its end.
pub async fn serve(
    shared: Arc<Shared>,
    conn_id: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    network: String,
) {
    let mut d = Decision {
        conn_id,
        network: Some(network),
        source: Some(peer),
        ..Decision::default()
    };
    let budget = shared.limits.auth_timeout;
    let admitted = match tokio::time::timeout(budget, front_door(&shared, tcp, peer, &mut d)).await
    {
        Err(_) => {
            d.log(
                Outcome::Aborted,
                &format!(
                    "authentication timeout ({} s): dropped without a message",
                    budget.as_secs()
                ),
            );
            return;
        }
        Ok(None) => return,
        Ok(Some(a)) => a,
    };
    connect_and_relay(&shared, admitted, &mut d).await;
}

async fn refuse(mut stream: MessageStream, refusal: Refusal, d: &mut Decision, outcome: Outcome) {
    let _ = encode_error_response(&refusal.to_error_fields(), stream.out());
    stream.shutdown().await;
    d.sqlstate = Some(refusal.sqlstate.to_string());
    d.log(outcome, &refusal.reason);
}

async fn front_door(
    shared: &Shared,
    tcp: TcpStream,
    peer: SocketAddr,
    d: &mut Decision,
) -> Option<Admitted> {
    let negotiated = match negotiate(tcp, shared.tls.as_ref()).await {
        Ok(n) => n,
        Err(NegotiationError::Refuse(stream, r)) => {
            refuse(stream, r, d, Outcome::Aborted).await;
            return None;
        }
        Err(NegotiationError::RefuseV2(mut stream, r)) => {
            let _ = encode_error_response_v2(Severity::Fatal, r.message.as_bytes(), stream.out());
            stream.shutdown().await;
            d.sqlstate = Some(r.sqlstate.to_string());
            d.log(Outcome::Aborted, &r.reason);
            return None;
        }
        Err(NegotiationError::Drop(why)) => {
            d.log(Outcome::Aborted, &why);
            return None;
        }
        Err(NegotiationError::Closed) => {
            // Health checks and port probes: not a connection attempt worth an event.
            tracing::debug!(target: "gatehouse::session", conn = d.conn_id, "closed before the first byte");
            return None;
        }
    };
    let (mut stream, startup, tls) = match negotiated {
        Negotiated::Cancel(c) => {
            cancel(shared, c, d).await;
            return None;
        }
        Negotiated::Startup {
            stream,
            message,
            tls,
        } => (stream, *message, tls),
    };
    d.tls = tls.is_some();
    d.client_dn = tls
        .as_ref()
        .and_then(|t| t.client.as_ref())
        .map(|c| c.dn.clone());

    let version = startup.negotiated_version();
    if startup.needs_negotiation() {
        let names: Vec<&[u8]> = startup
            .protocol_options
            .iter()
            .map(|p| p.name.as_slice())
            .collect();
        let _ = encode_negotiate_protocol_version(version, &names, stream.out());
    }

    let (user, database) = startup_names(&startup.user_lossy(), &startup.database_lossy());
    d.user = Some(user.clone());
    d.database = Some(database.clone());

    let rules = shared.rules();
    let secrets = shared.secrets();
    let token_only_role = shared.iam.as_ref().and_then(|g| g.token_only_role());
    let membership = if rules.needs_membership || token_only_role.is_some() {
        match secrets.membership(&user).await {
            Ok(m) => m,
            Err(e) => {
                let r = refusal::upstream_unavailable(format!(
                    "reading memberships for +group/samerole/token-only role: {e}"
                ));
                refuse(stream, r, d, Outcome::UpstreamFailed).await;
                return None;
            }
        }
    } else {
        Membership::of(Vec::<String>::new())
    };
    let replication = match startup.replication {
        Replication::None => gatehouse_hba::Replication::None,
        Replication::Physical => gatehouse_hba::Replication::Physical,
        Replication::Logical => gatehouse_hba::Replication::Logical,
    };
    let who = Who {
        addr: Some(peer.ip()),
        ssl: tls.is_some(),
        user: &user,
        database: &database,
        replication: startup.replication == Replication::Physical,
        version: rules.version,
    };
    let found = {
        let conn = Connection {
            transport: Transport::Tcp {
                addr: peer.ip(),
                ssl: tls.is_some(),
                gssenc: false,
            },
            user: &user,
            database: &database,
            replication,
            membership: &membership,
        };
        let env = MatchEnv {
            interfaces: &rules.interfaces,
            resolver: &NoResolver,
        };
        rules.hba.find(&conn, &env)
    };
    let Some(line) = found else {
        refuse(stream, refusal::no_hba_entry(&who), d, Outcome::Refused).await;
        return None;
    };
    d.hba_line = Some(format!("{}:{}", line.file, line.line));
    d.method = Some(line.method.name());
    if line.method == gatehouse_hba::AuthMethod::Reject {
        let r = refusal::hba_rejects(&who, &line.file, line.line);
        refuse(stream, r, d, Outcome::Refused).await;
        return None;
    }

    // RDS: members of rds_iam log in only with a token, whatever pg_hba.conf says.
    // A role named like the token-only role itself is not its own member here.
    let token_only =
        token_only_role.is_some_and(|r| r != user.as_str() && membership.is_member(&user, r));
    d.method = Some(authenticate::effective_method(line.method, token_only).name());
    let input = AuthInput {
        line,
        user: &user,
        tls: tls.as_ref(),
        rules: &rules,
        secrets: &secrets,
        membership: &membership,
        mock_key: &shared.mock_key,
        iam: shared.iam.as_deref(),
        source: peer.ip(),
        token_only,
    };
    match authenticate(&mut stream, &input).await {
        Ok(done) => {
            d.ident_line = done.ident_line;
            d.iam = done.iam;
            encode_auth_ok(stream.out());
            if let Err(e) = stream.flush().await {
                d.log(
                    Outcome::Aborted,
                    &format!("client gone after authentication: {e}"),
                );
                return None;
            }
            Some(Admitted {
                stream,
                startup,
                proof: done.proof,
                version,
            })
        }
        Err(AuthFailure::Refuse(r)) => {
            refuse(stream, r, d, Outcome::Refused).await;
            None
        }
        Err(AuthFailure::Drop(why)) => {
            d.log(Outcome::Aborted, &why);
            None
        }
    }
}

/// The StartupMessage parameters to send upstream: the client's, minus `_pq_.` options.
fn upstream_params(m: &StartupMessage) -> Vec<(&[u8], &[u8])> {
    let mut p: Vec<(&[u8], &[u8])> = vec![(b"user", &m.user), (b"database", &m.database)];
    if let Some(o) = &m.options {
        p.push((b"options", o));
    }
    match m.replication {
        Replication::None => {}
        Replication::Physical => p.push((b"replication", b"true")),
        Replication::Logical => p.push((b"replication", b"database")),
    }
    for param in &m.params {
        p.push((&param.name, &param.value));
    }
    p
}

async fn connect_and_relay(shared: &Shared, admitted: Admitted, d: &mut Decision) {
    let Admitted {
        mut stream,
        startup,
        proof,
        version,
    } = admitted;
    let user = d.user.clone().unwrap_or_default();
    let params = upstream_params(&startup);
    let pool_key = match (&shared.pool, startup.replication) {
        (Some(_), Replication::None) => Some(PoolKey {
            params: params
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
        }),
        _ => None,
    };
    let reused = match (&shared.pool, &pool_key) {
        (Some(pool), Some(key)) => pool.take(key).await,
        _ => None,
    };
    let (up, how) = match reused {
        Some(parked) => {
            let mut to_client = BytesMut::new();
            for (n, v) in &parked.params {
                let _ = encode_parameter_status(n, v, &mut to_client);
            }
            let up = UpstreamSession {
                stream: MessageStream::new(parked.io),
                to_client,
                params: parked.params,
                key: parked.key,
                status: TransactionStatus::Idle,
            };
            (up, "reused")
        }
        None => match upstream::login(
            &shared.upstream,
            &params,
            &proof,
            &user,
            shared.limits.connect_timeout,
        )
        .await
        {
            Ok(up) => (up, "new"),
            Err(UpstreamError::Server(fields)) => {
                let _ = encode_error_response(&fields, stream.out());
                stream.shutdown().await;
                let msg = fields
                    .get(b'M')
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                d.sqlstate = fields
                    .get(b'C')
                    .map(|c| String::from_utf8_lossy(c).into_owned());
                d.log(
                    Outcome::UpstreamFailed,
                    &format!("upstream refused the login: {msg}"),
                );
                return;
            }
            Err(e) => {
                refuse(
                    stream,
                    refusal::upstream_unavailable(e.to_string()),
                    d,
                    Outcome::UpstreamFailed,
                )
                .await;
                return;
            }
        },
    };
    drop(proof);
    let key = shared.cancel.issue(version, up.key.clone());
    stream.queue(&up.to_client);
    let _ = encode_backend_key_data(key.process_id, &key.secret_key, stream.out());
    encode_ready_for_query(up.status, stream.out());
    if let Err(e) = stream.flush().await {
        d.log(
            Outcome::Aborted,
            &format!("client gone before the session started: {e}"),
        );
        return;
    }
    d.log(
        Outcome::Allowed,
        &format!(
            "authenticated; upstream {} backend pid {} ({how} connection)",
            shared.upstream.addr.describe(),
            up.key.process_id
        ),
    );
    let (client_io, client_rest) = stream.into_parts();
    let (up_io, up_rest) = up.stream.into_parts();
    let watch = shared.pool.is_some() && pool_key.is_some();
    match relay(client_io, up_io, &client_rest, &up_rest, watch).await {
        RelayEnd::ClientTerminated { upstream, idle } => {
            let parked = match (&shared.pool, pool_key, idle) {
                (Some(pool), Some(k), true) => pool.give_back(k, upstream, up.params, up.key).await,
                _ => false,
            };
            tracing::debug!(target: "gatehouse::session", conn = d.conn_id, parked, "session ended by the client");
        }
        RelayEnd::Closed {
            to_upstream,
            to_client,
        } => tracing::debug!(
            target: "gatehouse::session",
            conn = d.conn_id,
            bytes_to_upstream = to_upstream,
            bytes_to_client = to_client,
            "session ended"
        ),
    }
    drop(key);
}

/// Forwards a CancelRequest whose key gatehouse issued; drops any other silently.
async fn cancel(shared: &Shared, c: CancelRequest, d: &mut Decision) {
    let Some(target) = shared.cancel.lookup(c.process_id, &c.secret_key) else {
        d.log(
            Outcome::Cancel,
            "cancel request with an unknown key: dropped",
        );
        return;
    };
    let mut buf = BytesMut::new();
    if encode_cancel_request(target.process_id, &target.secret_key, &mut buf).is_err() {
        return;
    }
    let sent = async {
        let mut io = upstream::open(&shared.upstream.addr)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        io.write_all(&buf).await?;
        io.flush().await?;
        io.shutdown().await
    };
    match tokio::time::timeout(shared.limits.connect_timeout, sent).await {
        Ok(Ok(())) => d.log(
            Outcome::Cancel,
            "cancel request forwarded to the upstream backend",
        ),
        Ok(Err(e)) => d.log(
            Outcome::Cancel,
            &format!("cancel request could not be forwarded: {e}"),
        ),
        Err(_) => d.log(
            Outcome::Cancel,
            "cancel request could not be forwarded: timeout",
        ),
    }
}
