//! `name=value` authentication options of a pg_hba.conf line.
//!
//! Mirrors PostgreSQL's `parse_hba_auth_opt()` (hba.c), including its error texts,
//! and `get_hba_options()` (hbafuncs.c) for the text array the
//! `pg_hba_file_rules.options` column shows.

use crate::cnum::atoi;
use crate::line::ConnType;
use crate::method::AuthMethod;
use crate::resolve::Resolver;
use crate::version::{ParseOptions, PgVersion};

/// Client certificate requirement (`clientcert=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientCert {
    /// No certificate required.
    #[default]
    Off,
    /// `verify-ca`: a certificate signed by a trusted CA.
    VerifyCa,
    /// `verify-full`: as verify-ca, and its name must match the user (via `map`).
    VerifyFull,
}

/// Which certificate name `cert` / `clientcert=verify-full` compares (`clientname=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientName {
    /// The subject's Common Name (default).
    #[default]
    Cn,
    /// The full Distinguished Name (RFC 2253).
    Dn,
}

/// Parsed options of one line. Fields mirror `HbaLine` in PostgreSQL's hba.h.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthOptions {
    /// `map=`: the pg_ident.conf map name.
    pub map: Option<String>,
    /// `clientcert=`.
    pub clientcert: ClientCert,
    /// `clientname=`.
    pub clientname: ClientName,
    /// `pamservice=`.
    pub pamservice: Option<String>,
    /// `pam_use_hostname=1`.
    pub pam_use_hostname: bool,
    /// `ldapserver=` (or the host of `ldapurl=`).
    pub ldapserver: Option<String>,
    /// `ldapport=`; 0 when unset.
    pub ldapport: i32,
    /// `ldaptls=1`.
    pub ldaptls: bool,
    /// `ldapscheme=` (`ldap` or `ldaps`).
    pub ldapscheme: Option<String>,
    /// `ldapprefix=`.
    pub ldapprefix: Option<String>,
    /// `ldapsuffix=`.
    pub ldapsuffix: Option<String>,
    /// `ldapbasedn=`.
    pub ldapbasedn: Option<String>,
    /// `ldapbinddn=`.
    pub ldapbinddn: Option<String>,
    /// `ldapbindpasswd=` (a secret: redacted everywhere but `hba lint`).
    pub ldapbindpasswd: Option<String>,
    /// `ldapsearchattribute=`.
    pub ldapsearchattribute: Option<String>,
    /// `ldapsearchfilter=`.
    pub ldapsearchfilter: Option<String>,
    /// LDAP search scope (OpenLDAP numbering: 0 base, 1 one, 2 sub); PostgreSQL sets 2
    /// whenever any option is parsed on an LDAP-enabled build.
    pub ldapscope: i32,
    /// `krb_realm=`.
    pub krb_realm: Option<String>,
    /// `include_realm=` (defaults to true for gss and sspi).
    pub include_realm: bool,
    /// `compat_realm=` (sspi).
    pub compat_realm: bool,
    /// `upn_username=` (sspi).
    pub upn_username: bool,
    /// `radiusservers=` as written, and split.
    pub radiusservers: Option<(String, Vec<String>)>,
    /// `radiussecrets=` as written, and split (secrets).
    pub radiussecrets: Option<(String, Vec<String>)>,
    /// `radiusports=` as written, and split.
    pub radiusports: Option<(String, Vec<String>)>,
    /// `radiusidentifiers=` as written, and split.
    pub radiusidentifiers: Option<(String, Vec<String>)>,
    /// `issuer=` (oauth).
    pub oauth_issuer: Option<String>,
    /// `scope=` (oauth).
    pub oauth_scope: Option<String>,
    /// `validator=` (oauth).
    pub oauth_validator: Option<String>,
    /// `delegate_ident_mapping=1` (oauth).
    pub oauth_skip_usermap: bool,
    /// `iam_allow_plaintext=1` (gatehouse `iam`): accept a token without TLS.
    pub iam_allow_plaintext: bool,
}

/// An option error: PostgreSQL's `err_msg` (None where PostgreSQL refuses the
/// line without filling the view's error column) and the logged message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The text PostgreSQL puts in `pg_hba_file_rules.error`, if any.
    pub view: Option<String>,
    /// The text PostgreSQL logs.
    pub log: String,
}

impl OptionError {
    fn both(msg: String) -> Self {
        OptionError {
            view: Some(msg.clone()),
            log: msg,
        }
    }
    fn log_only(msg: String) -> Self {
        OptionError {
            view: None,
            log: msg,
        }
    }
}

fn invalid_for(name: &str, methods: &str) -> OptionError {
    OptionError::both(format!(
        "authentication option \"{name}\" is only valid for authentication methods {methods}"
    ))
}

fn require(
    method: AuthMethod,
    want: AuthMethod,
    name: &str,
    methods: &str,
) -> Result<(), OptionError> {
    if method == want {
        Ok(())
    } else {
        Err(invalid_for(name, methods))
    }
}

/// Context one option is parsed in.
pub struct OptionContext<'a> {
    /// The line's connection type.
    pub conntype: ConnType,
    /// The line's method.
    pub method: AuthMethod,
    /// Version, build and settings.
    pub opts: &'a ParseOptions,
    /// Name resolution for `radiusservers`.
    pub resolver: &'a dyn Resolver,
}

/// PostgreSQL's `parse_hba_auth_opt()`: applies `name=value` to `o`.
pub fn parse_auth_option(
    o: &mut AuthOptions,
    ctx: &OptionContext<'_>,
    name: &str,
    val: &str,
) -> Result<(), OptionError> {
    let method = ctx.method;
    if ctx.opts.features.ldap {
        o.ldapscope = 2; // LDAP_SCOPE_SUBTREE, reset on every option as PostgreSQL does
    }
    let v18 = ctx.opts.version >= PgVersion::V18;
    match name {
        "map" => {
            let ok = matches!(
                method,
                AuthMethod::Ident
                    | AuthMethod::Peer
                    | AuthMethod::Gss
                    | AuthMethod::Sspi
                    | AuthMethod::Cert
            ) || (v18 && method == AuthMethod::OAuth);
            if !ok {
                let list = if v18 {
                    "ident, peer, gssapi, sspi, cert, and oauth"
                } else {
                    "ident, peer, gssapi, sspi, and cert"
                };
                return Err(invalid_for("map", list));
            }
            o.map = Some(val.to_owned());
        }
        "clientcert" => {
            if ctx.conntype != ConnType::HostSsl {
                return Err(OptionError::both(
                    "clientcert can only be configured for \"hostssl\" rows".to_owned(),
                ));
            }
            match val {
                "verify-full" => o.clientcert = ClientCert::VerifyFull,
                "verify-ca" => {
                    if method == AuthMethod::Cert {
                        return Err(OptionError {
                            view: Some("clientcert can only be set to \"verify-full\" when using \"cert\" authentication".to_owned()),
                            log: "clientcert only accepts \"verify-full\" when using \"cert\" authentication".to_owned(),
                        });
                    }
                    o.clientcert = ClientCert::VerifyCa;
                }
                _ => {
                    return Err(OptionError::log_only(format!(
                        "invalid value for clientcert: \"{val}\""
                    )))
                }
            }
        }
        "clientname" => {
            if ctx.conntype != ConnType::HostSsl {
                return Err(OptionError::both(
                    "clientname can only be configured for \"hostssl\" rows".to_owned(),
                ));
            }
            o.clientname = match val {
                "CN" => ClientName::Cn,
                "DN" => ClientName::Dn,
                _ => {
                    return Err(OptionError::log_only(format!(
                        "invalid value for clientname: \"{val}\""
                    )))
                }
            };
        }
        "pamservice" => {
            require(method, AuthMethod::Pam, name, "pam")?;
            o.pamservice = Some(val.to_owned());
        }
        "pam_use_hostname" => {
            require(method, AuthMethod::Pam, name, "pam")?;
            o.pam_use_hostname = val == "1";
        }
        "ldapurl" => {
            require(method, AuthMethod::Ldap, name, "ldap")?;
            crate::ldapurl::apply(o, val)?;
        }
        "ldaptls" => {
            require(method, AuthMethod::Ldap, name, "ldap")?;
            o.ldaptls = val == "1";
        }
        "ldapscheme" => {
            require(method, AuthMethod::Ldap, name, "ldap")?;
            // PostgreSQL logs "invalid ldapscheme value" but keeps the line.
            o.ldapscheme = Some(val.to_owned());
        }
        "ldapserver" => {
            require(method, AuthMethod::Ldap, name, "ldap")?;
            o.ldapserver = Some(val.to_owned());
        }
        "ldapport" => {
            require(method, AuthMethod::Ldap, name, "ldap")?;
            o.ldapport = atoi(val);
            if o.ldapport == 0 {
                return Err(OptionError::both(format!(
                    "invalid LDAP port number: \"{val}\""
                )));
            }
        }
        "ldapbinddn" => set_ldap(method, name, &mut o.ldapbinddn, val)?,
        "ldapbindpasswd" => set_ldap(method, name, &mut o.ldapbindpasswd, val)?,
        "ldapsearchattribute" => set_ldap(method, name, &mut o.ldapsearchattribute, val)?,
        "ldapsearchfilter" => set_ldap(method, name, &mut o.ldapsearchfilter, val)?,
        "ldapbasedn" => set_ldap(method, name, &mut o.ldapbasedn, val)?,
        "ldapprefix" => set_ldap(method, name, &mut o.ldapprefix, val)?,
        "ldapsuffix" => set_ldap(method, name, &mut o.ldapsuffix, val)?,
        "krb_realm" => {
            if !matches!(method, AuthMethod::Gss | AuthMethod::Sspi) {
                return Err(invalid_for(name, "gssapi and sspi"));
            }
            o.krb_realm = Some(val.to_owned());
        }
        "include_realm" => {
            if !matches!(method, AuthMethod::Gss | AuthMethod::Sspi) {
                return Err(invalid_for(name, "gssapi and sspi"));
            }
            o.include_realm = val == "1";
        }
        "compat_realm" => {
            require(method, AuthMethod::Sspi, name, "sspi")?;
            o.compat_realm = val == "1";
        }
        "upn_username" => {
            require(method, AuthMethod::Sspi, name, "sspi")?;
            o.upn_username = val == "1";
        }
        "radiusservers" => {
            require(method, AuthMethod::Radius, name, "radius")?;
            let list = split_guc_list(val).ok_or_else(|| {
                OptionError::log_only(format!("could not parse RADIUS server list \"{val}\""))
            })?;
            for server in &list {
                if ctx.resolver.lookup_host(server).is_err() {
                    return Err(OptionError::log_only(format!(
                        "could not translate RADIUS server name \"{server}\" to address"
                    )));
                }
            }
            o.radiusservers = non_empty(val, list);
        }
        "radiusports" => {
            require(method, AuthMethod::Radius, name, "radius")?;
            let list = split_guc_list(val).ok_or_else(|| OptionError {
                view: Some(format!("invalid RADIUS port number: \"{val}\"")),
                log: format!("could not parse RADIUS port list \"{val}\""),
            })?;
            if list.iter().any(|p| atoi(p) == 0) {
                return Err(OptionError::log_only(format!(
                    "invalid RADIUS port number: \"{val}\""
                )));
            }
            o.radiusports = non_empty(val, list);
        }
        "radiussecrets" => {
            require(method, AuthMethod::Radius, name, "radius")?;
            let list = split_guc_list(val).ok_or_else(|| {
                OptionError::log_only(format!("could not parse RADIUS secret list \"{val}\""))
            })?;
            o.radiussecrets = non_empty(val, list);
        }
        "radiusidentifiers" => {
            require(method, AuthMethod::Radius, name, "radius")?;
            let list = split_guc_list(val).ok_or_else(|| {
                OptionError::log_only(format!("could not parse RADIUS identifiers list \"{val}\""))
            })?;
            o.radiusidentifiers = non_empty(val, list);
        }
        "issuer" if v18 => {
            require(method, AuthMethod::OAuth, name, "oauth")?;
            o.oauth_issuer = Some(val.to_owned());
        }
        "scope" if v18 => {
            require(method, AuthMethod::OAuth, name, "oauth")?;
            o.oauth_scope = Some(val.to_owned());
        }
        "validator" if v18 => {
            require(method, AuthMethod::OAuth, name, "oauth")?;
            o.oauth_validator = Some(val.to_owned());
        }
        "delegate_ident_mapping" if v18 => {
            require(method, AuthMethod::OAuth, name, "oauth")?;
            o.oauth_skip_usermap = val == "1";
        }
        "iam_allow_plaintext" if ctx.opts.extensions => {
            require(method, AuthMethod::Iam, name, "iam")?;
            o.iam_allow_plaintext = val == "1";
        }
        _ => {
            return Err(OptionError::both(format!(
                "unrecognized authentication option name: \"{name}\""
            )))
        }
    }
    Ok(())
}

fn set_ldap(
    method: AuthMethod,
    name: &str,
    slot: &mut Option<String>,
    val: &str,
) -> Result<(), OptionError> {
    require(method, AuthMethod::Ldap, name, "ldap")?;
    *slot = Some(val.to_owned());
    Ok(())
}

/// A list PostgreSQL's `SplitGUCList()` returned; an empty list counts as unset
/// (`NIL`), as it does in PostgreSQL.
fn non_empty(raw: &str, list: Vec<String>) -> Option<(String, Vec<String>)> {
    if list.is_empty() {
        None
    } else {
        Some((raw.to_owned(), list))
    }
}

/// PostgreSQL's `SplitGUCList(…, ',')`: comma list, blanks around elements,
/// double-quoted elements with `""`; `None` on a syntax error (empty element,
/// unterminated quote, junk after an element).
pub(crate) fn split_guc_list(s: &str) -> Option<Vec<String>> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ws = |c: char| c.is_ascii_whitespace();
    while i < b.len() && ws(b[i]) {
        i += 1;
    }
    if i == b.len() {
        return Some(out);
    }
    loop {
        let mut item = String::new();
        if b[i] == '"' {
            i += 1;
            loop {
                if i >= b.len() {
                    return None;
                }
                if b[i] == '"' {
                    if i + 1 < b.len() && b[i + 1] == '"' {
                        item.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                item.push(b[i]);
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != ',' && !ws(b[i]) {
                item.push(b[i]);
                i += 1;
            }
            if item.is_empty() {
                return None;
            }
        }
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        out.push(item);
        if i < b.len() && b[i] == ',' {
            i += 1;
            while i < b.len() && ws(b[i]) {
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
        } else if i >= b.len() {
            return Some(out);
        } else {
            return None;
        }
    }
}

/// The `pg_hba_file_rules.options` array for a line (`get_hba_options()`), or
/// `None` when it has no options to show.
pub fn view_options(method: AuthMethod, o: &AuthOptions) -> Option<Vec<String>> {
    let mut v = Vec::new();
    if matches!(method, AuthMethod::Gss | AuthMethod::Sspi) {
        if o.include_realm {
            v.push("include_realm=true".to_owned());
        }
        if let Some(r) = &o.krb_realm {
            v.push(format!("krb_realm={r}"));
        }
    }
    if let Some(m) = &o.map {
        v.push(format!("map={m}"));
    }
    match o.clientcert {
        ClientCert::Off => {}
        ClientCert::VerifyCa => v.push("clientcert=verify-ca".to_owned()),
        ClientCert::VerifyFull => v.push("clientcert=verify-full".to_owned()),
    }
    if let Some(p) = &o.pamservice {
        v.push(format!("pamservice={p}"));
    }
    if method == AuthMethod::Ldap {
        if let Some(s) = &o.ldapserver {
            v.push(format!("ldapserver={s}"));
        }
        if o.ldapport != 0 {
            v.push(format!("ldapport={}", o.ldapport));
        }
        if let Some(s) = &o.ldapscheme {
            v.push(format!("ldapscheme={s}"));
        }
        if o.ldaptls {
            v.push("ldaptls=true".to_owned());
        }
        for (key, val) in [
            ("ldapprefix", &o.ldapprefix),
            ("ldapsuffix", &o.ldapsuffix),
            ("ldapbasedn", &o.ldapbasedn),
            ("ldapbinddn", &o.ldapbinddn),
            ("ldapbindpasswd", &o.ldapbindpasswd),
            ("ldapsearchattribute", &o.ldapsearchattribute),
            ("ldapsearchfilter", &o.ldapsearchfilter),
        ] {
            if let Some(val) = val {
                v.push(format!("{key}={val}"));
            }
        }
        if o.ldapscope != 0 {
            v.push(format!("ldapscope={}", o.ldapscope));
        }
    }
    if method == AuthMethod::Radius {
        for (key, val) in [
            ("radiusservers", &o.radiusservers),
            ("radiussecrets", &o.radiussecrets),
            ("radiusidentifiers", &o.radiusidentifiers),
            ("radiusports", &o.radiusports),
        ] {
            if let Some((raw, _)) = val {
                v.push(format!("{key}={raw}"));
            }
        }
    }
    if method == AuthMethod::OAuth {
        for (key, val) in [
            ("issuer", &o.oauth_issuer),
            ("scope", &o.oauth_scope),
            ("validator", &o.oauth_validator),
        ] {
            if let Some(val) = val {
                v.push(format!("{key}={val}"));
            }
        }
        if o.oauth_skip_usermap {
            v.push("delegate_ident_mapping=true".to_owned());
        }
    }
    if method == AuthMethod::Iam && o.iam_allow_plaintext {
        v.push("iam_allow_plaintext=true".to_owned());
    }
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guc_lists() {
        assert_eq!(
            split_guc_list("a, b ,c"),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            split_guc_list("\"x,y\",z"),
            Some(vec!["x,y".into(), "z".into()])
        );
        assert_eq!(split_guc_list(""), Some(vec![]));
        assert_eq!(split_guc_list("a,,b"), None);
        assert_eq!(split_guc_list("a b"), None);
        assert_eq!(split_guc_list("a,"), None);
        assert_eq!(split_guc_list("\"a"), None);
    }
}
