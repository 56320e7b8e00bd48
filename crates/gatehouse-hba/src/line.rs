//! One pg_hba.conf record: its parsed form and PostgreSQL's `parse_hba_line()`.

use std::net::IpAddr;
use std::sync::Arc;

use crate::address::{cidr_mask, format_numeric, parse_numeric_host, AddrMask};
use crate::method::AuthMethod;
use crate::options::{parse_auth_option, view_options, AuthOptions, ClientCert, OptionContext};
use crate::pgregex::PgRegex;
use crate::resolve::Resolver;
use crate::tokenize::{Token, TokenizedLine};
use crate::version::{ParseOptions, PgVersion};

/// The connection type column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnType {
    /// `local`: Unix-domain socket.
    Local,
    /// `host`: TCP/IP, with or without TLS.
    Host,
    /// `hostssl`: TCP/IP with TLS.
    HostSsl,
    /// `hostnossl`: TCP/IP without TLS.
    HostNoSsl,
    /// `hostgssenc`: TCP/IP with GSSAPI encryption.
    HostGssEnc,
    /// `hostnogssenc`: TCP/IP without GSSAPI encryption.
    HostNoGssEnc,
}

impl ConnType {
    /// The keyword, as the view's `type` column shows it.
    pub fn name(self) -> &'static str {
        match self {
            ConnType::Local => "local",
            ConnType::Host => "host",
            ConnType::HostSsl => "hostssl",
            ConnType::HostNoSsl => "hostnossl",
            ConnType::HostGssEnc => "hostgssenc",
            ConnType::HostNoGssEnc => "hostnogssenc",
        }
    }
}

/// The address column of a non-`local` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressSpec {
    /// `all`.
    All,
    /// `samehost`: any of the server's own addresses.
    SameHost,
    /// `samenet`: any address on a subnet the server is directly connected to.
    SameNet,
    /// A numeric address with a CIDR length or separate netmask.
    Mask(AddrMask),
    /// A host name (`.suffix` for a suffix match), checked by forward-confirmed reverse DNS.
    Hostname(String),
}

/// A database or role name token, as `AuthToken` in PostgreSQL.
#[derive(Clone, Debug)]
pub struct NameToken {
    /// The name with quotes removed.
    pub text: String,
    /// Whether the token began with a quote (keywords and `+` lose their meaning).
    pub quoted: bool,
    /// The compiled regular expression when the text starts with `/` (16+).
    pub regex: Option<PgRegex>,
}

impl NameToken {
    /// Unquoted and equal to keyword `k` (`token_is_keyword`).
    pub fn is_keyword(&self, k: &str) -> bool {
        !self.quoted && self.text == k
    }
    /// An unquoted `+role` (`token_is_member_check`).
    pub fn is_member_check(&self) -> bool {
        !self.quoted && self.text.starts_with('+')
    }
}

impl PartialEq for NameToken {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.quoted == other.quoted
    }
}

/// One loaded pg_hba.conf record (PostgreSQL's `HbaLine`).
#[derive(Clone, Debug, PartialEq)]
pub struct HbaLine {
    /// File the record came from.
    pub file: Arc<str>,
    /// First physical line number of the record.
    pub line: u32,
    /// The record's text.
    pub raw: String,
    /// Connection type.
    pub conntype: ConnType,
    /// Database tokens (comma list, `@file` expanded).
    pub databases: Vec<NameToken>,
    /// Role tokens.
    pub roles: Vec<NameToken>,
    /// Address; `None` for `local` lines.
    pub address: Option<AddressSpec>,
    /// Authentication method (`ident` on a `local` line is stored as `peer`).
    pub method: AuthMethod,
    /// Options. Lines without options share one default value (the struct is large
    /// and most lines have none).
    pub options: Arc<AuthOptions>,
    /// A problem PostgreSQL reports in the view's error column while still loading the
    /// line (e.g. `hostssl record cannot match because SSL is disabled`).
    pub warning: Option<String>,
}

impl HbaLine {
    /// The view's `address` and `netmask` columns.
    pub fn view_address(&self) -> (Option<String>, Option<String>) {
        match &self.address {
            None => (None, None),
            Some(AddressSpec::All) => (Some("all".into()), None),
            Some(AddressSpec::SameHost) => (Some("samehost".into()), None),
            Some(AddressSpec::SameNet) => (Some("samenet".into()), None),
            Some(AddressSpec::Hostname(h)) => (Some(h.clone()), None),
            Some(AddressSpec::Mask(m)) => {
                (Some(format_numeric(m.addr)), Some(format_numeric(m.mask)))
            }
        }
    }

    /// The view's `options` column.
    pub fn view_options(&self) -> Option<Vec<String>> {
        view_options(self.method, &self.options)
    }

    /// Whether a client certificate is required (`clientcert`, or implied by `cert`).
    pub fn requires_client_cert(&self) -> bool {
        self.options.clientcert != ClientCert::Off
    }
}

/// A line PostgreSQL refuses to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The text of the view's error column; `None` where PostgreSQL leaves it empty
    /// (a handful of option errors it only logs).
    pub view: Option<String>,
    /// The full message, as PostgreSQL logs it.
    pub log: String,
    /// 1-based column of the offending token.
    pub column: Option<usize>,
}

impl LineError {
    fn at(msg: impl Into<String>, column: usize) -> Self {
        let msg = msg.into();
        LineError {
            view: Some(msg.clone()),
            log: msg,
            column: Some(column),
        }
    }
}

/// Compiles a `/regex` name token. PostgreSQL compiles any token whose text starts
/// with `/`, quoted or not; matching is an unanchored search.
///
/// Errors: `invalid regular expression "…": …` (the reason is the Rust engine's,
/// not PostgreSQL's wording).
pub fn compile_name_regex(text: &str) -> Result<Option<PgRegex>, String> {
    let Some(pattern) = text.strip_prefix('/') else {
        return Ok(None);
    };
    PgRegex::new(pattern)
        .map(Some)
        .map_err(|reason| format!("invalid regular expression \"{pattern}\": {reason}"))
}

fn name_tokens(tokens: Vec<Token>, version: PgVersion) -> Result<Vec<NameToken>, LineError> {
    tokens
        .into_iter()
        .map(|t| {
            let regex = if version.has_regex_and_includes() {
                compile_name_regex(&t.text).map_err(|m| LineError::at(m, t.column))?
            } else {
                None
            };
            Ok(NameToken {
                text: t.text,
                quoted: t.quoted,
                regex,
            })
        })
        .collect()
}

fn method_from(token: &str, opts: &ParseOptions) -> Result<AuthMethod, String> {
    let f = opts.features;
    let (method, supported) = match token {
        "trust" => (AuthMethod::Trust, true),
        "ident" => (AuthMethod::Ident, true),
        "peer" => (AuthMethod::Peer, true),
        "password" => (AuthMethod::Password, true),
        "gss" => (AuthMethod::Gss, f.gssapi),
        "sspi" => (AuthMethod::Sspi, f.sspi),
        "reject" => (AuthMethod::Reject, true),
        "md5" => (AuthMethod::Md5, true),
        "scram-sha-256" => (AuthMethod::ScramSha256, true),
        "pam" => (AuthMethod::Pam, f.pam),
        "bsd" => (AuthMethod::Bsd, f.bsd),
        "ldap" => (AuthMethod::Ldap, f.ldap),
        "cert" => (AuthMethod::Cert, f.ssl),
        "radius" => (AuthMethod::Radius, true),
        "oauth" if opts.version >= PgVersion::V18 => (AuthMethod::OAuth, true),
        "iam" if opts.extensions => (AuthMethod::Iam, true),
        _ => return Err(format!("invalid authentication method \"{token}\"")),
    };
    if supported {
        Ok(method)
    } else {
        Err(format!(
            "invalid authentication method \"{token}\": not supported by this build"
        ))
    }
}

/// PostgreSQL's `parse_hba_line()`: turns a tokenized record into an [`HbaLine`],
/// with the same load-time checks and error texts.
///
/// Errors: the record would make PostgreSQL refuse the file.
pub fn parse_hba_line(
    tok: TokenizedLine,
    opts: &ParseOptions,
    resolver: &dyn Resolver,
) -> Result<HbaLine, LineError> {
    let TokenizedLine {
        file,
        line,
        raw,
        fields,
        ..
    } = tok;
    let mut fields = fields.into_iter();
    let eol_col = raw.len() + 1;
    let first = fields
        .next()
        .ok_or_else(|| LineError::at("empty record", 1))?;
    if first.len() > 1 {
        return Err(LineError::at(
            "multiple values specified for connection type",
            first[1].column,
        ));
    }
    let t = &first[0];
    let mut warning = None;
    let conntype = match t.text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => {
            if !opts.features.ssl {
                warning = Some(
                    "hostssl record cannot match because SSL is not supported by this build"
                        .to_owned(),
                );
            } else if !opts.ssl_enabled {
                warning = Some("hostssl record cannot match because SSL is disabled".to_owned());
            }
            ConnType::HostSsl
        }
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" => {
            if !opts.features.gssapi {
                warning = Some(
                    "hostgssenc record cannot match because GSSAPI is not supported by this build"
                        .to_owned(),
                );
            }
            ConnType::HostGssEnc
        }
        "hostnogssenc" => ConnType::HostNoGssEnc,
        other => {
            return Err(LineError::at(
                format!("invalid connection type \"{other}\""),
                t.column,
            ))
        }
    };

    let db_field = fields
        .next()
        .ok_or_else(|| LineError::at("end-of-line before database specification", eol_col))?;
    let databases = name_tokens(db_field, opts.version)?;
    let role_field = fields
        .next()
        .ok_or_else(|| LineError::at("end-of-line before role specification", eol_col))?;
    let roles = name_tokens(role_field, opts.version)?;

    let address = if conntype == ConnType::Local {
        None
    } else {
        Some(parse_address(&mut fields, eol_col)?)
    };

    let method_field = fields
        .next()
        .ok_or_else(|| LineError::at("end-of-line before authentication method", eol_col))?;
    if method_field.len() > 1 {
        return Err(LineError::at(
            "multiple values specified for authentication type",
            method_field[1].column,
        ));
    }
    let mt = &method_field[0];
    let mut method = method_from(&mt.text, opts).map_err(|m| LineError::at(m, mt.column))?;
    if conntype == ConnType::Local && method == AuthMethod::Ident {
        method = AuthMethod::Peer;
    }
    if conntype == ConnType::Local && method == AuthMethod::Gss {
        return Err(LineError::at(
            "gssapi authentication is not supported on local sockets",
            mt.column,
        ));
    }
    if conntype != ConnType::Local && method == AuthMethod::Peer {
        return Err(LineError::at(
            "peer authentication is only supported on local sockets",
            mt.column,
        ));
    }
    if conntype != ConnType::HostSsl && method == AuthMethod::Cert {
        return Err(LineError::at(
            "cert authentication is only supported on hostssl connections",
            mt.column,
        ));
    }
    let mut options = AuthOptions {
        include_realm: matches!(method, AuthMethod::Gss | AuthMethod::Sspi),
        compat_realm: method == AuthMethod::Sspi,
        ..AuthOptions::default()
    };
    let ctx = OptionContext {
        conntype,
        method,
        opts,
        resolver,
    };
    for field in fields {
        for t in field {
            let Some((name, val)) = t.text.split_once('=') else {
                return Err(LineError::at(
                    format!("authentication option not in name=value format: {}", t.text),
                    t.column,
                ));
            };
            parse_auth_option(&mut options, &ctx, name, val).map_err(|e| LineError {
                view: e.view,
                log: e.log,
                column: Some(t.column),
            })?;
        }
    }
    check_required(method, &options, opts, mt.column)?;
    if method == AuthMethod::Cert {
        options.clientcert = ClientCert::VerifyFull;
    }
    let options = shared_options(options);
    Ok(HbaLine {
        file,
        line,
        raw,
        conntype,
        databases,
        roles,
        address,
        method,
        options,
        warning,
    })
}

fn parse_address(
    fields: &mut impl Iterator<Item = Vec<Token>>,
    eol_col: usize,
) -> Result<AddressSpec, LineError> {
    let field = fields
        .next()
        .ok_or_else(|| LineError::at("end-of-line before IP address specification", eol_col))?;
    if field.len() > 1 {
        return Err(LineError::at(
            "multiple values specified for host address",
            field[1].column,
        ));
    }
    let t = &field[0];
    if !t.quoted {
        match t.text.as_str() {
            "all" => return Ok(AddressSpec::All),
            "samehost" => return Ok(AddressSpec::SameHost),
            "samenet" => return Ok(AddressSpec::SameNet),
            _ => {}
        }
    }
    let (host, bits) = match t.text.split_once('/') {
        Some((h, b)) => (h, Some(b)),
        None => (t.text.as_str(), None),
    };
    let Some(addr) = parse_numeric_host(host) else {
        if bits.is_some() {
            return Err(LineError::at(
                format!(
                    "specifying both host name and CIDR mask is invalid: \"{}\"",
                    t.text
                ),
                t.column,
            ));
        }
        return Ok(AddressSpec::Hostname(host.to_owned()));
    };
    if let Some(bits) = bits {
        let mask = cidr_mask(bits, addr).ok_or_else(|| {
            LineError::at(
                format!("invalid CIDR mask in address \"{}\"", t.text),
                t.column,
            )
        })?;
        return Ok(AddressSpec::Mask(AddrMask { addr, mask }));
    }
    let mask_field = fields
        .next()
        .ok_or_else(|| LineError::at("end-of-line before netmask specification", eol_col))?;
    if mask_field.len() > 1 {
        return Err(LineError::at(
            "multiple values specified for netmask",
            mask_field[1].column,
        ));
    }
    let mt = &mask_field[0];
    let mask: IpAddr = parse_numeric_host(&mt.text).ok_or_else(|| {
        LineError::at(
            format!("invalid IP mask \"{}\": Name or service not known", mt.text),
            mt.column,
        )
    })?;
    if addr.is_ipv4() != mask.is_ipv4() {
        return Err(LineError::at("IP address and mask do not match", mt.column));
    }
    Ok(AddressSpec::Mask(AddrMask { addr, mask }))
}

/// One shared allocation for the common "no options" value.
fn shared_options(options: AuthOptions) -> Arc<AuthOptions> {
    static DEFAULT: std::sync::OnceLock<Arc<AuthOptions>> = std::sync::OnceLock::new();
    let default = DEFAULT.get_or_init(|| Arc::new(AuthOptions::default()));
    if options == **default {
        Arc::clone(default)
    } else {
        Arc::new(options)
    }
}

/// PostgreSQL 18 reworded the LDAP bind-mode conflict message.
fn ldap_mix_message(version: PgVersion) -> &'static str {
    if version >= PgVersion::V18 {
        "cannot mix options for simple bind and search+bind modes"
    } else {
        "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute, ldapsearchfilter, or ldapurl together with ldapprefix"
    }
}

fn check_required(
    method: AuthMethod,
    o: &AuthOptions,
    opts: &ParseOptions,
    col: usize,
) -> Result<(), LineError> {
    match method {
        AuthMethod::Ldap => {
            if o.ldapprefix.is_some() || o.ldapsuffix.is_some() {
                if o.ldapbasedn.is_some()
                    || o.ldapbinddn.is_some()
                    || o.ldapbindpasswd.is_some()
                    || o.ldapsearchattribute.is_some()
                    || o.ldapsearchfilter.is_some()
                {
                    return Err(LineError::at(ldap_mix_message(opts.version), col));
                }
            } else if o.ldapbasedn.is_none() {
                return Err(LineError::at(
                    "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set",
                    col,
                ));
            }
            if o.ldapsearchattribute.is_some() && o.ldapsearchfilter.is_some() {
                return Err(LineError::at(
                    "cannot use ldapsearchattribute together with ldapsearchfilter",
                    col,
                ));
            }
        }
        AuthMethod::Radius => {
            let servers = o.radiusservers.as_ref().map(|(_, l)| l.len());
            let secrets = o.radiussecrets.as_ref().map(|(_, l)| l.len());
            let Some(servers) = servers else {
                return Err(required("radius", "radiusservers", col));
            };
            let Some(secrets) = secrets else {
                return Err(required("radius", "radiussecrets", col));
            };
            if !(secrets == 1 || secrets == servers) {
                return Err(LineError::at(format!("the number of RADIUS secrets ({secrets}) must be 1 or the same as the number of RADIUS servers ({servers})"), col));
            }
            for (what, list) in [
                ("ports", &o.radiusports),
                ("identifiers", &o.radiusidentifiers),
            ] {
                let n = list.as_ref().map_or(0, |(_, l)| l.len());
                if !(n == 0 || n == 1 || n == servers) {
                    return Err(LineError::at(format!("the number of RADIUS {what} ({n}) must be 1 or the same as the number of RADIUS servers ({servers})"), col));
                }
            }
        }
        AuthMethod::OAuth => {
            if o.oauth_scope.is_none() {
                return Err(required("oauth", "scope", col));
            }
            if o.oauth_issuer.is_none() {
                return Err(required("oauth", "issuer", col));
            }
            check_oauth_validator(o, opts, col)?;
            if o.map.is_some() && o.oauth_skip_usermap {
                return Err(LineError::at(
                    "map cannot be used in combination with delegate_ident_mapping",
                    col,
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

fn required(method: &str, arg: &str, col: usize) -> LineError {
    LineError::at(
        format!("authentication method \"{method}\" requires argument \"{arg}\" to be set"),
        col,
    )
}

/// PostgreSQL 18's `check_oauth_validator()` against `oauth_validator_libraries`.
fn check_oauth_validator(
    o: &AuthOptions,
    opts: &ParseOptions,
    col: usize,
) -> Result<(), LineError> {
    let libs = &opts.oauth_validator_libraries;
    if libs.is_empty() {
        return Err(LineError::at(
            "oauth_validator_libraries must be set for authentication method oauth",
            col,
        ));
    }
    match &o.oauth_validator {
        None if libs.len() == 1 => Ok(()),
        None => Err(LineError::at("authentication method \"oauth\" requires argument \"validator\" to be set when oauth_validator_libraries contains multiple options", col)),
        Some(v) if libs.iter().any(|l| l == v) => Ok(()),
        Some(v) => Err(LineError::at(
            format!("validator \"{v}\" is not permitted by oauth_validator_libraries"),
            col,
        )),
    }
}
