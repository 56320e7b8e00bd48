//! Layer 4: the matched line's method, as the gateway runs it (the token-only
//! role turns any method but `reject` into `iam`), checked offline where it can
//! be: a password against the userlist secret, a token against the IAM directory.

use anyhow::Result;
use gatehouse_hba::{AuthMethod, HbaLine};
use gatehouse_proxy::auth::{verify_cleartext, StoredSecret};
use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::refusal::auth_failed;
use serde_json::json;

use super::{ClientSees, Credential, Cx, Fix, Layer, Verdict};

/// Whether the gateway would require a token of this user: a member (by
/// `--member-of`) of `[iam] token_only_role`, which is not the user itself.
pub fn token_only(cx: &Cx<'_>, user: &str) -> Option<String> {
    let role = cx.loaded.iam.as_ref()?.token_only_role.as_deref()?;
    (role != user && cx.facts.member_of.iter().any(|m| m == role)).then(|| role.to_owned())
}

/// Layer 4's report; `line` is layer 3's matched line.
///
/// # Errors
/// The IAM directory cannot be read from the state store.
pub fn layer(cx: &Cx<'_>, line: Option<&HbaLine>) -> Result<Layer> {
    let f = cx.facts;
    let Some((user, _)) = &f.names else {
        return Ok(Layer::new(
            "auth",
            Verdict::Skipped,
            "not asked: give --user to check the authentication method",
        ));
    };
    let Some(line) = line.filter(|l| l.method != AuthMethod::Reject) else {
        return Ok(Layer::new(
            "auth",
            Verdict::Skipped,
            "not reached: no pg_hba.conf line admits the connection",
        ));
    };
    let token_only = token_only(cx, user);
    let method = if token_only.is_some() {
        AuthMethod::Iam
    } else {
        line.method
    };
    let mut l = match method {
        AuthMethod::Iam => super::iam::layer(cx, line, user, token_only.as_deref())?,
        AuthMethod::Trust => {
            let mut l = Layer::new("auth", Verdict::Allowed, "trust: no password is asked");
            l.rule = Some(json!({"method": "trust"}));
            if !matches!(f.credential, Credential::None) {
                l.note("the password or token given is not used");
            }
            l
        }
        AuthMethod::Cert => {
            let name = match line.options.clientname {
                gatehouse_hba::options::ClientName::Dn => "DN",
                gatehouse_hba::options::ClientName::Cn => "CN",
            };
            let to = match &line.options.map {
                Some(m) => format!("map to \"{user}\" through map \"{m}\" of pg_ident.conf"),
                None => format!("be \"{user}\""),
            };
            let mut l = Layer::new(
                "auth",
                Verdict::Skipped,
                format!("cert: the client certificate's {name} must {to}: not checked offline"),
            );
            l.rule = Some(json!({"method": "cert"}));
            l
        }
        AuthMethod::Password | AuthMethod::Md5 | AuthMethod::ScramSha256 => {
            password(cx, method, user)
        }
        other => {
            let mut l = Layer::new(
                "auth",
                Verdict::Refused,
                format!(
                    "{}: gatehouse loads this method but does not serve it: every client is refused",
                    other.name()
                ),
            );
            l.rule = Some(json!({"method": other.name()}));
            l.client_sees = Some(ClientSees::from(&auth_failed(other, user, "not served")));
            l.fix = Some(Fix::says(
                "use a method gatehouse serves: scram-sha-256, md5, password, cert, trust or iam",
            ));
            l
        }
    };
    if let Some(role) = &token_only {
        if line.method != AuthMethod::Iam {
            l.notes.insert(
                0,
                format!(
                    "\"{user}\" is a member of {role} ([iam] token_only_role): the gateway requires an \
                     IAM token whatever the line's method ({})",
                    line.method.name()
                ),
            );
        }
    }
    Ok(l)
}

/// `password`, `md5` and `scram-sha-256`: the role's secret and, with
/// `--password-file`, the password.
fn password(cx: &Cx<'_>, method: AuthMethod, user: &str) -> Layer {
    let f = cx.facts;
    let name = method.name();
    let refused = |detail: String, fix: &str| {
        let mut l = Layer::new("auth", Verdict::Refused, detail);
        l.client_sees = Some(ClientSees::from(&auth_failed(method, user, "")));
        l.fix = Some(Fix::says(fix));
        l
    };
    let mut l = match cx.loaded.gateway.secrets.as_ref() {
        SecretSource::None => refused(
            format!("{name}: [auth] source = \"none\": no role has a secret, so the login always fails"),
            "set [auth] source = \"userlist\" (with userlist_file) or \"auth_query\"",
        ),
        SecretSource::AuthQuery { .. } => {
            let mut l = Layer::new(
                "auth",
                Verdict::Skipped,
                format!(
                    "{name}: the role's secret comes from auth_query, which needs the live catalog: not checked offline"
                ),
            );
            if matches!(f.credential, Credential::Password(_)) {
                l.note("the password was not checked");
            }
            l
        }
        SecretSource::Userlist { list, .. } => match list.get(user) {
            None => refused(
                format!(
                    "{name}: \"{user}\" is not in the userlist ([auth] userlist_file): the login fails as with a wrong password"
                ),
                "add the role to [auth] userlist_file: \"ROLE\" \"SCRAM-SHA-256$…\" (its pg_authid.rolpassword); SIGHUP reloads it",
            ),
            Some(secret) => userlist_secret(cx, method, user, secret),
        },
    };
    l.rule = Some(json!({
        "method": name,
        "secret_source": match cx.loaded.gateway.secrets.as_ref() {
            SecretSource::None => "none",
            SecretSource::AuthQuery { .. } => "auth_query",
            SecretSource::Userlist { .. } => "userlist",
        },
    }));
    if matches!(f.credential, Credential::Token(_)) {
        l.note(format!(
            "a token is checked only where the method is iam (this line's is {name})"
        ));
    }
    l
}

fn userlist_secret(cx: &Cx<'_>, method: AuthMethod, user: &str, secret: &StoredSecret) -> Layer {
    let name = method.name();
    let kind = secret.kind();
    let fail = |detail: String, fix: &str| {
        let mut l = Layer::new("auth", Verdict::Refused, detail);
        l.client_sees = Some(ClientSees::from(&auth_failed(method, user, "")));
        l.fix = Some(Fix::says(fix));
        l
    };
    if method == AuthMethod::ScramSha256 && matches!(secret, StoredSecret::Md5(_)) {
        return fail(
            format!("{name}: the userlist holds an md5 secret for \"{user}\", which cannot serve a SCRAM exchange"),
            "store the role's SCRAM secret in the userlist, or give it an md5 line",
        );
    }
    if matches!(secret, StoredSecret::Plain(p) if p.is_empty()) {
        return fail(
            format!("{name}: the userlist's password for \"{user}\" is empty: it matches nothing"),
            "store the role's secret in the userlist",
        );
    }
    let mut l = match &cx.facts.credential {
        Credential::Password(pw) => {
            if verify_cleartext(secret, user, pw) {
                Layer::new(
                    "auth",
                    Verdict::Allowed,
                    format!("{name}: the password matches the userlist's {kind} secret for \"{user}\""),
                )
            } else {
                fail(
                    format!("{name}: the password does not match the userlist's {kind} secret for \"{user}\""),
                    "send the role's password, or store its current secret in the userlist (SIGHUP reloads it)",
                )
            }
        }
        _ => Layer::new(
            "auth",
            Verdict::Skipped,
            format!(
                "{name}: \"{user}\" has a {kind} secret in the userlist; give --password-file FILE to check a password"
            ),
        ),
    };
    if method == AuthMethod::Md5 && matches!(secret, StoredSecret::Scram(_)) {
        l.note("an md5 line with a SCRAM secret runs a SCRAM exchange, as PostgreSQL does");
    }
    l
}
