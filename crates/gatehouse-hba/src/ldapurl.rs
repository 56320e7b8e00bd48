//! `ldapurl=`: the subset of OpenLDAP's `ldap_url_parse()` that PostgreSQL uses
//! (RFC 4516: `scheme://host:port/basedn?attribute?scope?filter`).
//!
//! Error texts follow PostgreSQL, which prints `ldap_err2string()` of OpenLDAP's
//! URL error code (so a bad scheme reads "Time limit exceeded", as on the server).

use crate::options::{AuthOptions, OptionError};

/// Applies an `ldapurl` value to the options, as PostgreSQL does on an OpenLDAP build.
pub fn apply(o: &mut AuthOptions, val: &str) -> Result<(), OptionError> {
    let fail = |code: &str| {
        let msg = format!("could not parse LDAP URL \"{val}\": {code}");
        OptionError {
            view: Some(msg.clone()),
            log: msg,
        }
    };
    let mut url = val.trim();
    if let Some(inner) = url.strip_prefix('<') {
        url = inner
            .strip_suffix('>')
            .ok_or_else(|| fail("Size limit exceeded"))?;
    }
    if url.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("URL:")) {
        url = &url[4..];
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| fail("Time limit exceeded"))?;
    let scheme_l = scheme.to_ascii_lowercase();
    if !matches!(scheme_l.as_str(), "ldap" | "ldaps" | "ldapi" | "cldap") {
        return Err(fail("Time limit exceeded"));
    }
    if scheme_l != "ldap" && scheme_l != "ldaps" {
        let msg = format!("unsupported LDAP URL scheme: {scheme_l}");
        return Err(OptionError {
            view: Some(msg.clone()),
            log: msg,
        });
    }
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            let port: i32 = p.parse().map_err(|_| fail("Compare True"))?;
            if !(1..=65535).contains(&port) {
                return Err(fail("Compare True"));
            }
            (h, Some(port))
        }
        _ => (hostport, None),
    };
    let default_port = if scheme_l == "ldaps" { 636 } else { 389 };
    o.ldapscheme = Some(scheme_l);
    if !host.is_empty() {
        o.ldapserver = Some(percent_decode(
            host.trim_start_matches('[').trim_end_matches(']'),
        ));
    }
    o.ldapport = port.unwrap_or(default_port);
    o.ldapscope = -1; // LDAP_SCOPE_DEFAULT when the URL names none
    if let Some(path) = path {
        let mut parts = path.splitn(5, '?');
        let dn = parts.next().unwrap_or("");
        if !dn.is_empty() {
            o.ldapbasedn = Some(percent_decode(dn));
        }
        if let Some(attrs) = parts.next() {
            if let Some(first) = attrs.split(',').next().filter(|a| !a.is_empty()) {
                o.ldapsearchattribute = Some(percent_decode(first));
            }
        }
        if let Some(scope) = parts.next() {
            o.ldapscope = match scope.to_ascii_lowercase().as_str() {
                "" => -1,
                "base" => 0,
                "one" | "onelevel" => 1,
                "sub" | "subtree" => 2,
                "subord" | "subordinate" | "children" => 3,
                _ => return Err(fail("Strong(er) authentication required")),
            };
        }
        if let Some(filter) = parts.next() {
            if !filter.is_empty() {
                o.ldapsearchfilter = Some(percent_decode(filter));
            }
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_dn_attr_scope_filter() {
        let mut o = AuthOptions::default();
        apply(
            &mut o,
            "ldap://ldap.example.net:3389/dc=example,dc=net?uid?sub?(objectClass=person)",
        )
        .expect("valid url");
        assert_eq!(o.ldapserver.as_deref(), Some("ldap.example.net"));
        assert_eq!(o.ldapport, 3389);
        assert_eq!(o.ldapbasedn.as_deref(), Some("dc=example,dc=net"));
        assert_eq!(o.ldapsearchattribute.as_deref(), Some("uid"));
        assert_eq!(o.ldapscope, 2);
        assert_eq!(o.ldapsearchfilter.as_deref(), Some("(objectClass=person)"));
    }

    #[test]
    fn non_ascii_values_do_not_panic() {
        let mut o = AuthOptions::default();
        let e = apply(&mut o, "abcé").expect_err("not a URL");
        assert_eq!(
            e.log,
            "could not parse LDAP URL \"abcé\": Time limit exceeded"
        );
        assert!(apply(&mut o, "ldap://hé:x/").is_err());
    }

    #[test]
    fn rejects_other_schemes() {
        let mut o = AuthOptions::default();
        let e = apply(&mut o, "http://x/").expect_err("bad scheme");
        assert!(e.log.contains("could not parse LDAP URL"));
        let e = apply(&mut o, "ldapi://x/").expect_err("unsupported");
        assert_eq!(e.log, "unsupported LDAP URL scheme: ldapi");
    }
}
