//! Layer 4: the matched pg_hba line's method, run against the client.
//!
//! Mirrors PostgreSQL 18 `auth.c` `ClientAuthentication()`: clientcert checks
//! first, then the method; `md5` lines whose role has a SCRAM secret run SCRAM
//! (as PostgreSQL does); a role that does not exist, has no password or whose
//! password expired (VALID UNTIL) fails like a wrong password, and an unknown
//! role still gets a full (doomed) SCRAM exchange so that its absence is not
//! revealed. Every failure carries its detailed reason for the decision log.

use std::net::IpAddr;
use std::time::SystemTime;

use gatehouse_iam::connect::ConnectRequest;

use gatehouse_hba::options::{ClientCert, ClientName};
use gatehouse_hba::{AuthMethod, HbaLine, IdentDecision, Membership};
use rand::RngCore;

use crate::auth::{
    verify_cleartext, verify_md5_response, Md5Verdict, MockAuthKey, ScramError, ScramNonce,
    ScramServer, StoredSecret,
};
use crate::catalog::{RoleRecord, SecretSource};
use crate::config::Rules;
use crate::iam::IamGate;
use crate::protocol::{
    encode_auth_cleartext_password, encode_auth_md5_password, encode_auth_sasl,
    encode_auth_sasl_continue, encode_auth_sasl_final, parse_message_limited, password_from,
    sasl_initial_response, FrontendMessage, PG_MAX_AUTH_TOKEN_LENGTH,
};
use crate::refusal::{auth_failed, certificate_required, Refusal};
use crate::session::negotiate::TlsInfo;
use crate::stream::{MessageStream, ReadError};
use crate::upstream::ClientProof;

/// Why authentication did not succeed.
#[derive(Debug)]
pub enum AuthFailure {
    /// Tell the client (FATAL) and log the reason.
    Refuse(Refusal),
    /// The client left or broke the connection: close without a word.
    Drop(String),
}

impl From<Refusal> for AuthFailure {
    fn from(r: Refusal) -> Self {
        AuthFailure::Refuse(r)
    }
}

/// The facts authentication needs.
pub struct AuthInput<'a> {
    /// The matched line.
    pub line: &'a HbaLine,
    /// The StartupMessage user (after truncation).
    pub user: &'a str,
    /// TLS facts, when TLS is in use.
    pub tls: Option<&'a TlsInfo>,
    /// The rules (for pg_ident maps).
    pub rules: &'a Rules,
    /// Secrets.
    pub secrets: &'a SecretSource,
    /// The user's memberships (for `+group` in pg_ident).
    pub membership: &'a Membership,
    /// Per-process key for mock SCRAM salts of unknown roles.
    pub mock_key: &'a MockAuthKey,
    /// The `iam` method's gate (`[iam]`), if configured.
    pub iam: Option<&'a IamGate>,
    /// The client's real address (after any PROXY header): `aws:SourceIp`.
    pub source: IpAddr,
    /// The role is a member of the token-only role (RDS `rds_iam`): whatever the
    /// line's method, it must present a token.
    pub token_only: bool,
}

/// What a successful authentication leaves.
pub struct Authenticated {
    /// Reusable proof for the upstream login.
    pub proof: ClientProof,
    /// The pg_ident line that allowed the mapping, if a map was used.
    pub ident_line: Option<String>,
    /// For `iam`: who the token proved and which statement allowed it.
    pub iam: Option<String>,
}

/// The method that runs for a client: the line's, except that a member of the
/// token-only role (RDS `rds_iam`) must present a token whatever the line says
/// (a `reject` line still rejects).
pub(crate) fn effective_method(line: AuthMethod, token_only: bool) -> AuthMethod {
    if token_only && line != AuthMethod::Reject {
        AuthMethod::Iam
    } else {
        line
    }
}

/// Runs clientcert checks and the line's method.
pub async fn authenticate(
    stream: &mut MessageStream,
    input: &AuthInput<'_>,
) -> Result<Authenticated, AuthFailure> {
    let line = input.line;
    let opts = &line.options;
    let mut ident_line = None;
    let needs_cert = opts.clientcert != ClientCert::Off || line.method == AuthMethod::Cert;
    if needs_cert && input.tls.and_then(|t| t.client.as_ref()).is_none() {
        if line.method == AuthMethod::Cert {
            return Err(auth_failed(
                AuthMethod::Cert,
                input.user,
                "cert method: the client sent no (verified) certificate",
            )
            .into());
        }
        return Err(certificate_required().into());
    }
    let mut iam_summary = None;
    let method = effective_method(line.method, input.token_only);
    let proof = match method {
        AuthMethod::Iam => {
            iam_summary = Some(iam(stream, input).await?);
            ClientProof::None
        }
        AuthMethod::Trust => ClientProof::None,
        AuthMethod::Reject => {
            return Err(auth_failed(AuthMethod::Reject, input.user, "reject line").into())
        }
        AuthMethod::Cert => {
            ident_line = check_cert(input, true)?;
            ClientProof::None
        }
        AuthMethod::Password => password(stream, input).await?,
        AuthMethod::Md5 => md5(stream, input).await?,
        AuthMethod::ScramSha256 => scram(stream, input).await?,
        other => {
            return Err(auth_failed(
                other,
                input.user,
                format!("auth method {} is not served by gatehouse", other.name()),
            )
            .into())
        }
    };
    if opts.clientcert == ClientCert::VerifyFull && line.method != AuthMethod::Cert {
        ident_line = check_cert(input, false)?;
    }
    Ok(Authenticated {
        proof,
        ident_line,
        iam: iam_summary,
    })
}

/// The `iam` method: the password is an RDS IAM auth token (SigV4), checked against
/// the directory and the key owner's policies ([`IamGate::authorize`]). Refused
/// without asking for the token when the connection is not TLS, unless the line
/// says `iam_allow_plaintext=1` (a token-only role never gets that exemption from
/// another method's line). Every refusal is RDS's 28P01
/// `PAM authentication failed for user "…"`; the log names the failed check.
async fn iam(stream: &mut MessageStream, input: &AuthInput<'_>) -> Result<String, AuthFailure> {
    let fail =
        |why: String| -> AuthFailure { auth_failed(AuthMethod::Iam, input.user, why).into() };
    let overridden = input.line.method != AuthMethod::Iam;
    let Some(gate) = input.iam else {
        return Err(fail("iam: no [iam] section is configured".into()));
    };
    let plaintext_ok = !overridden && input.line.options.iam_allow_plaintext;
    if input.tls.is_none() && !plaintext_ok {
        let why = if overridden {
            format!(
                "iam: the role is a member of {} (token only) and the connection is not TLS",
                gate.token_only_role().unwrap_or_default()
            )
        } else {
            "iam: the connection is not TLS (the line does not say iam_allow_plaintext=1)"
                .to_owned()
        };
        return Err(fail(why));
    }
    encode_auth_cleartext_password(stream.out());
    send(stream).await?;
    let body = read_response(stream).await?;
    let token = password_packet(&body)?;
    let Ok(token) = std::str::from_utf8(token) else {
        return Err(fail("iam: malformed: the token is not UTF-8".into()));
    };
    let request = ConnectRequest {
        token,
        db_user: input.user,
        source_ip: input.source,
        secure_transport: input.tls.is_some(),
        now: SystemTime::now(),
    };
    let via = if overridden {
        format!(
            " (member of {}: token only)",
            gate.token_only_role().unwrap_or_default()
        )
    } else {
        String::new()
    };
    match gate.authorize(&request) {
        Ok(grant) => Ok(format!(
            "{} key {} allowed by {}{via}",
            grant.user_arn,
            grant.token.access_key_id,
            grant
                .statement
                .map(|s| s.to_string())
                .unwrap_or_else(|| "policy".into()),
        )),
        Err(refusal) => Err(fail(format!("iam {refusal}{via}"))),
    }
}

/// PostgreSQL's `CheckCertAuth()`: the certificate's CN (or DN with
/// `clientname=DN`) must be the user, or map to it through `map=`.
fn check_cert(input: &AuthInput<'_>, cert_method: bool) -> Result<Option<String>, AuthFailure> {
    let method = if cert_method {
        AuthMethod::Cert
    } else {
        input.line.method
    };
    let Some(id) = input.tls.and_then(|t| t.client.as_ref()) else {
        return Err(certificate_required().into());
    };
    let opts = &input.line.options;
    let (kind, name) = match opts.clientname {
        ClientName::Dn => ("DN", Some(id.dn.clone())),
        ClientName::Cn => ("CN", id.cn.clone()),
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(auth_failed(
            AuthMethod::Cert,
            input.user,
            "the client certificate contains no user name",
        )
        .into());
    };
    let fail = |why: String| -> AuthFailure {
        if cert_method {
            auth_failed(AuthMethod::Cert, input.user, why).into()
        } else {
            auth_failed(
                method,
                input.user,
                format!("certificate validation (clientcert=verify-full) failed: {kind} mismatch ({why})"),
            )
            .into()
        }
    };
    match &opts.map {
        None => {
            if name == input.user {
                Ok(None)
            } else {
                Err(fail(format!(
                    "certificate {kind} \"{name}\" is not the user name and no map= is set"
                )))
            }
        }
        Some(map) => {
            let is_member = |role: &str| input.membership.is_member(input.user, role);
            match input
                .rules
                .ident
                .check(map, input.user, &name, false, &is_member)
            {
                IdentDecision::Allowed { file, line } => Ok(Some(format!("{file}:{line}"))),
                IdentDecision::NoMatch => Err(fail(format!(
                    "no line of map \"{map}\" lets {kind} \"{name}\" connect as \"{}\"",
                    input.user
                ))),
                IdentDecision::Error(e) => Err(fail(format!("map \"{map}\": {e}"))),
            }
        }
    }
}

async fn read_response(stream: &mut MessageStream) -> Result<bytes::Bytes, AuthFailure> {
    match stream
        .read_with(|b| parse_message_limited(b, PG_MAX_AUTH_TOKEN_LENGTH))
        .await
    {
        Ok(FrontendMessage::AuthResponse(body)) => Ok(body),
        Ok(FrontendMessage::Terminate) => Err(AuthFailure::Drop(
            "client sent Terminate during authentication".into(),
        )),
        Err(ReadError::Protocol(p)) => Err(Refusal::new(
            p.sqlstate(),
            p.client_message(),
            format!("bad authentication message: {p}"),
        )
        .into()),
        Err(e) => Err(AuthFailure::Drop(format!(
            "client gone during authentication: {e}"
        ))),
    }
}

async fn send(stream: &mut MessageStream) -> Result<(), AuthFailure> {
    stream
        .flush()
        .await
        .map_err(|e| AuthFailure::Drop(format!("write failed: {e}")))
}

async fn lookup(input: &AuthInput<'_>) -> Result<RoleRecord, AuthFailure> {
    // The upstream could not be asked: that is an outage, not a wrong password.
    input.secrets.role(input.user).await.map_err(|e| {
        AuthFailure::Refuse(crate::refusal::upstream_unavailable(format!(
            "could not read the role's secret: {e}"
        )))
    })
}

/// Role-level checks after a correct password (PostgreSQL `get_role_password()`
/// checks VALID UNTIL; the backend refuses roles without LOGIN).
fn role_checks(input: &AuthInput<'_>, rec: &RoleRecord) -> Result<(), AuthFailure> {
    if let Some(until) = rec.valid_until {
        if until < SystemTime::now() {
            return Err(auth_failed(
                input.line.method,
                input.user,
                "the role's password expired (VALID UNTIL is past)",
            )
            .into());
        }
    }
    if !rec.can_login {
        return Err(Refusal::new(
            "28000",
            format!("role \"{}\" is not permitted to log in", input.user),
            "the role has no LOGIN attribute",
        )
        .into());
    }
    Ok(())
}

fn missing(input: &AuthInput<'_>, rec: &RoleRecord) -> Option<AuthFailure> {
    let why = if !rec.exists {
        "role does not exist (or is not in the userlist)"
    } else if rec.secret.is_none() {
        "role has no password assigned"
    } else {
        return None;
    };
    Some(auth_failed(input.line.method, input.user, why).into())
}

/// The password of a PasswordMessage (`password_from`), or PostgreSQL's refusal.
fn password_packet(body: &[u8]) -> Result<&[u8], AuthFailure> {
    password_from(body).map_err(|p| {
        AuthFailure::Refuse(Refusal::new(
            p.sqlstate(),
            p.client_message(),
            format!("password packet: {p}"),
        ))
    })
}

async fn password(
    stream: &mut MessageStream,
    input: &AuthInput<'_>,
) -> Result<ClientProof, AuthFailure> {
    encode_auth_cleartext_password(stream.out());
    send(stream).await?;
    let body = read_response(stream).await?;
    let pw = password_packet(&body)?;
    let rec = lookup(input).await?;
    if let Some(f) = missing(input, &rec) {
        return Err(f);
    }
    let secret = rec
        .secret
        .as_ref()
        .ok_or_else(|| AuthFailure::Drop("no secret".into()))?;
    if !verify_cleartext(secret, input.user, pw) {
        return Err(auth_failed(input.line.method, input.user, "wrong password").into());
    }
    role_checks(input, &rec)?;
    Ok(ClientProof::Cleartext(
        String::from_utf8_lossy(pw).into_owned(),
    ))
}

async fn md5(
    stream: &mut MessageStream,
    input: &AuthInput<'_>,
) -> Result<ClientProof, AuthFailure> {
    let rec = lookup(input).await?;
    // PostgreSQL: an md5 line with a SCRAM secret runs SCRAM.
    if let Some(StoredSecret::Scram(_)) = rec.secret {
        return scram_with(stream, input, rec).await;
    }
    let mut salt = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut salt);
    encode_auth_md5_password(salt, stream.out());
    send(stream).await?;
    let body = read_response(stream).await?;
    let answer = password_packet(&body)?;
    if let Some(f) = missing(input, &rec) {
        return Err(f);
    }
    let secret = rec
        .secret
        .as_ref()
        .ok_or_else(|| AuthFailure::Drop("no secret".into()))?;
    match verify_md5_response(secret, input.user, salt, answer) {
        Md5Verdict::Match => {}
        Md5Verdict::Mismatch => {
            return Err(auth_failed(AuthMethod::Md5, input.user, "wrong md5 response").into())
        }
        Md5Verdict::Incompatible => {
            return Err(auth_failed(
                AuthMethod::Md5,
                input.user,
                "SCRAM secret on an md5 exchange",
            )
            .into())
        }
    }
    role_checks(input, &rec)?;
    Ok(ClientProof::from_stored(secret))
}

async fn scram(
    stream: &mut MessageStream,
    input: &AuthInput<'_>,
) -> Result<ClientProof, AuthFailure> {
    let rec = lookup(input).await?;
    scram_with(stream, input, rec).await
}

async fn scram_with(
    stream: &mut MessageStream,
    input: &AuthInput<'_>,
    rec: RoleRecord,
) -> Result<ClientProof, AuthFailure> {
    let cb = input.tls.and_then(|t| t.end_point.clone());
    let server = ScramServer::for_stored_secret(
        input.user,
        rec.secret.as_ref(),
        input.mock_key,
        cb,
        ScramNonce::random(),
    );
    let mechanisms = server.mechanisms();
    let names: Vec<&[u8]> = mechanisms.iter().map(|m| m.as_bytes()).collect();
    encode_auth_sasl(&names, stream.out())
        .map_err(|e| AuthFailure::Drop(format!("encode SASL: {e}")))?;
    send(stream).await?;

    let body = read_response(stream).await?;
    let initial = sasl_initial_response(&body).map_err(|p| {
        AuthFailure::Refuse(Refusal::new(
            p.sqlstate(),
            p.client_message(),
            format!("SASLInitialResponse: {p}"),
        ))
    })?;
    let data = initial.data.unwrap_or_default();
    let mechanism = std::str::from_utf8(initial.mechanism).unwrap_or("");
    let (server, first) = server
        .client_first(mechanism, data)
        .map_err(|e| scram_refusal(input, &e))?;
    encode_auth_sasl_continue(first.as_bytes(), stream.out())
        .map_err(|e| AuthFailure::Drop(format!("encode SASL: {e}")))?;
    send(stream).await?;

    let body = read_response(stream).await?;
    let outcome = server
        .client_final(&body)
        .map_err(|e| scram_refusal(input, &e))?;
    if let Some(f) = missing(input, &rec) {
        return Err(f);
    }
    role_checks(input, &rec)?;
    encode_auth_sasl_final(outcome.server_final().as_bytes(), stream.out())
        .map_err(|e| AuthFailure::Drop(format!("encode SASL: {e}")))?;
    Ok(match (&rec.secret, outcome.pass_through_credentials()) {
        (Some(StoredSecret::Plain(p)), _) => ClientProof::Cleartext(p.clone()),
        (_, Some(creds)) => ClientProof::Scram(creds),
        _ => ClientProof::None,
    })
}

fn scram_refusal(input: &AuthInput<'_>, e: &ScramError) -> AuthFailure {
    if let ScramError::InvalidProof(why) = e {
        return auth_failed(input.line.method, input.user, format!("SCRAM: {why}")).into();
    }
    let r = Refusal::new(
        e.sqlstate(),
        e.message(input.user),
        format!("SCRAM: {}", e.reason()),
    );
    match e.detail() {
        Some(d) => r.with_detail(d).into(),
        None => r.into(),
    }
}
