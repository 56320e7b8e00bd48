//! Layer 3: the first pg_hba.conf line the connection matches, as the gateway
//! finds it; on a refusal, the line that would let it in and where it must go.

use gatehouse_hba::{
    AuthMethod, Connection, HbaFile, HbaLine, MatchEnv, MemFiles, NoResolver, ParseOptions,
    Replication, Transport,
};
use gatehouse_proxy::auth::StoredSecret;
use gatehouse_proxy::catalog::SecretSource;
use gatehouse_proxy::refusal::{hba_rejects, no_hba_entry, Who};
use serde_json::json;

use super::{ClientSees, Credential, Cx, Facts, Fix, HbaEdit, Layer, Verdict};

/// The connection as the hba engine takes it, with `ssl` as given.
fn connection<'f>(f: &'f Facts, user: &'f str, database: &'f str, ssl: bool) -> Connection<'f> {
    Connection {
        transport: match f.address {
            None => Transport::Local,
            Some(addr) => Transport::Tcp {
                addr,
                ssl,
                gssenc: false,
            },
        },
        user,
        database,
        replication: Replication::None,
        membership: &f.membership,
    }
}

/// `file:line: text`.
pub fn line_ref(l: &HbaLine) -> String {
    format!("{}:{}: {}", l.file, l.line, l.raw.trim())
}

/// The deciding line as data.
fn rule_json(l: &HbaLine) -> serde_json::Value {
    json!({
        "file": l.file.as_ref(),
        "line": l.line,
        "text": l.raw.trim(),
        "type": l.conntype.name(),
        "method": l.method.name(),
        "options": l.view_options().unwrap_or_default(),
    })
}

/// Layer 3's report and the line that matched (a `reject` line included).
pub fn layer<'a>(cx: &Cx<'a>) -> (Layer, Option<&'a HbaLine>) {
    let f = cx.facts;
    let Some((user, database)) = &f.names else {
        return (
            Layer::new(
                "hba",
                Verdict::Skipped,
                "not asked: give --user (and --database) to find the pg_hba.conf line",
            ),
            None,
        );
    };
    let rules = &cx.loaded.gateway.rules;
    let env = MatchEnv {
        interfaces: &rules.interfaces,
        resolver: &NoResolver,
    };
    let conn = connection(f, user, database, f.ssl);
    let all = rules.hba.find_all(&conn, &env);
    let who = Who {
        addr: f.address,
        ssl: f.ssl,
        user,
        database,
        replication: false,
        version: rules.version,
    };
    let mut l = match all.first() {
        Some(line) if line.method != AuthMethod::Reject => {
            let mut l = Layer::new("hba", Verdict::Allowed, line_ref(line));
            l.rule = Some(rule_json(line));
            l.note(format!("method {}", line.method.name()));
            l
        }
        Some(line) => {
            let mut l = Layer::new("hba", Verdict::Refused, line_ref(line));
            l.rule = Some(rule_json(line));
            l.note("method reject");
            l.client_sees = Some(ClientSees::from(&hba_rejects(&who, &line.file, line.line)));
            if let Some(m) = all.iter().skip(1).find(|x| x.method != AuthMethod::Reject) {
                l.note(format!(
                    "{} would admit it but comes after line {}: moving it up changes every connection it matches",
                    line_ref(m),
                    line.line
                ));
            }
            let text = format!(
                "line {} rejects this connection: a line that admits it must come before it; add before line {} of {}",
                line.line, line.line, line.file
            );
            let edit = proposal(cx, user, database).map(|text| HbaEdit {
                file: line.file.to_string(),
                before_line: Some(line.line),
                text,
            });
            l.fix = Some(with_edit(text, edit));
            l
        }
        None => {
            let mut l = Layer::new(
                "hba",
                Verdict::Refused,
                "no pg_hba.conf line matches this connection",
            );
            l.client_sees = Some(ClientSees::from(&no_hba_entry(&who)));
            let first_reject = rules
                .hba
                .lines
                .iter()
                .find(|x| x.method == AuthMethod::Reject);
            let (file, before_line, text) = match first_reject {
                Some(r) => (
                    r.file.to_string(),
                    Some(r.line),
                    format!(
                        "no line matches, so a new one decides wherever it goes; add it before line {} \
                         of {} (the first reject line)",
                        r.line, r.file
                    ),
                ),
                None => (
                    rules.hba.path.clone(),
                    None,
                    format!(
                        "no line matches, so a new one decides wherever it goes; add it to {} (for example at the end)",
                        rules.hba.path
                    ),
                ),
            };
            let edit = proposal(cx, user, database).map(|text| HbaEdit {
                file,
                before_line,
                text,
            });
            l.fix = Some(with_edit(text, edit));
            l
        }
    };
    // hostssl / hostnossl: would the other transport match?
    if l.verdict == Verdict::Refused && f.address.is_some() {
        let other = connection(f, user, database, !f.ssl);
        if let Some(m) = rules
            .hba
            .find(&other, &env)
            .filter(|m| m.method != AuthMethod::Reject)
        {
            let how = if f.ssl {
                "without TLS".to_owned()
            } else if cx.loaded.gateway.tls.is_some() {
                "with TLS (--ssl; sslmode=require)".to_owned()
            } else {
                "with TLS (which needs [tls] in gatehouse.toml)".to_owned()
            };
            l.note(format!("{how} the connection would match {}", line_ref(m)));
            if !f.ssl && cx.loaded.gateway.tls.is_some() {
                // The file admits this client over TLS: the fix is TLS, not a new
                // plaintext line that would undo its hostssl rule.
                l.fix = Some(Fix::says(format!(
                    "connect with TLS (sslmode=require): {} would then decide; no line without TLS \
                     is proposed, as it would undo pg_hba.conf's TLS-only rule for this client",
                    line_ref(m)
                )));
            }
        }
    }
    if rules.needs_membership && f.member_of.is_empty() {
        l.note(
            "pg_hba.conf uses +group/samerole/samegroup: the gateway reads the user's roles from the \
             catalogs; give --member-of ROLE for each to match as it would",
        );
    }
    let found = all.first().copied();
    (l, found)
}

fn with_edit(text: String, edit: Option<HbaEdit>) -> Fix {
    let mut fix = Fix::says(match &edit {
        Some(_) => text,
        None => format!(
            "{text} (no line is proposed: the user or database name cannot be written as one pg_hba.conf name)"
        ),
    });
    fix.hba_line = edit;
    fix
}

/// The method a proposed line gets: what the client would use.
fn proposed_method(cx: &Cx<'_>, user: &str) -> AuthMethod {
    let f = cx.facts;
    if matches!(f.credential, Credential::Token(_)) || super::auth::token_only(cx, user).is_some() {
        return AuthMethod::Iam;
    }
    // An md5 secret cannot do SCRAM: such a role needs an md5 line.
    if let SecretSource::Userlist { list, .. } = cx.loaded.gateway.secrets.as_ref() {
        if let Some(StoredSecret::Md5(_)) = list.get(user) {
            return AuthMethod::Md5;
        }
    }
    AuthMethod::ScramSha256
}

/// A user or database name as one pg_hba.conf token; `None` when it cannot be one
/// (a `"` or control character, or a leading `/`, which PostgreSQL 16+ reads as a
/// regular expression even in quotes).
fn name_token(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with('/') || name.chars().any(|c| c == '"' || c.is_control())
    {
        return None;
    }
    let keyword = matches!(
        name,
        "all" | "sameuser" | "samerole" | "samegroup" | "replication"
    );
    let plain = !keyword
        && !name.starts_with(['+', '@'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
    Some(if plain {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    })
}

/// The narrowest line that admits this connection (this database, this user, this
/// address), checked by parsing it with the configuration's pg_hba.conf rules and
/// matching the connection against it.
pub fn proposal(cx: &Cx<'_>, user: &str, database: &str) -> Option<String> {
    let f = cx.facts;
    let method = proposed_method(cx, user);
    let (db, role) = (name_token(database)?, name_token(user)?);
    let text = match f.address {
        None => format!("local {db} {role} {method}"),
        Some(a) => {
            let a = a.to_canonical();
            let bits = if a.is_ipv4() { 32 } else { 128 };
            let kind = if f.ssl { "hostssl" } else { "host" };
            format!("{kind} {db} {role} {a}/{bits} {method}")
        }
    };
    let rules = &cx.loaded.gateway.rules;
    let opts = ParseOptions {
        version: rules.version,
        ssl_enabled: cx.loaded.gateway.tls.is_some(),
        extensions: true,
        ..ParseOptions::default()
    };
    let parsed = HbaFile::parse_bytes(
        "proposed",
        format!("{text}\n").as_bytes(),
        &MemFiles::new(),
        &opts,
        &NoResolver,
    );
    let env = MatchEnv {
        interfaces: &rules.interfaces,
        resolver: &NoResolver,
    };
    let conn = connection(f, user, database, f.ssl);
    let ok = parsed.is_loadable() && parsed.lines.len() == 1 && parsed.find(&conn, &env).is_some();
    ok.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::name_token;

    #[test]
    fn names_are_quoted_when_they_must_be() {
        assert_eq!(name_token("alice").as_deref(), Some("alice"));
        assert_eq!(name_token("all").as_deref(), Some("\"all\""));
        assert_eq!(name_token("+admins").as_deref(), Some("\"+admins\""));
        assert_eq!(name_token("a b,c").as_deref(), Some("\"a b,c\""));
        assert_eq!(name_token("say\"hi"), None);
        assert_eq!(name_token("/x"), None);
        assert_eq!(name_token(""), None);
    }
}
