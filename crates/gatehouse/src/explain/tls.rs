//! Layer 2: whether the listener offers TLS, whether the connection uses it, and
//! whether the matched pg_hba.conf line needs a client certificate.

use gatehouse_hba::options::ClientCert;
use gatehouse_hba::{AuthMethod, HbaLine};
use gatehouse_proxy::refusal::{auth_failed, certificate_required};
use serde_json::json;

use super::{ClientSees, Cx, Fix, Layer, Verdict};

/// Layer 2's report; `line` is layer 3's matched line, if any.
pub fn layer(cx: &Cx<'_>, line: Option<&HbaLine>) -> Layer {
    let f = cx.facts;
    if f.address.is_none() {
        return Layer::new("tls", Verdict::Skipped, "a Unix-socket connection: no TLS");
    }
    let offered = cx.loaded.gateway.tls.is_some();
    let client_ca = cx.loaded.client_ca;
    let cert_line = line.filter(|l| {
        l.method != AuthMethod::Reject
            && (l.method == AuthMethod::Cert || l.options.clientcert != ClientCert::Off)
    });
    let rule = json!({
        "offered": offered,
        "used": f.ssl,
        "client_certificates_requested": offered && client_ca,
        "client_certificate_required_by": cert_line.map(|l| format!("{}:{}", l.file, l.line)),
    });
    if f.ssl && !offered {
        let mut l = Layer::new(
            "tls",
            Verdict::Refused,
            "TLS asked for (--ssl), but [tls] is not set: the gateway answers the SSLRequest with 'N'",
        );
        l.rule = Some(rule);
        l.client_sees = Some(ClientSees::nothing(
            "no TLS (libpq with sslmode=require: \"server does not support SSL, but SSL was required\"; \
             with sslmode=prefer it goes on without TLS)",
        ));
        l.fix = Some(Fix::says(
            "set [tls] cert_file and key_file in gatehouse.toml (a restart is needed), or connect without TLS",
        ));
        return l;
    }
    let mut l = if f.ssl {
        Layer::new(
            "tls",
            Verdict::Allowed,
            "TLS offered ([tls] is set) and used (--ssl)",
        )
    } else {
        let mut l = Layer::new(
            "tls",
            Verdict::Allowed,
            "no TLS (--ssl not given): the connection is plaintext",
        );
        if offered {
            l.note("the gateway offers TLS ([tls] is set): sslmode=require would use it");
        }
        l
    };
    l.rule = Some(rule);
    if offered {
        l.note(if client_ca {
            "client certificates are requested and verified against [tls] client_ca_file"
        } else {
            "client certificates are not requested ([tls] client_ca_file is not set)"
        });
    }
    let Some(cl) = cert_line else {
        return l;
    };
    let why = if cl.method == AuthMethod::Cert {
        "the cert method".to_owned()
    } else {
        format!(
            "clientcert={}",
            match cl.options.clientcert {
                ClientCert::VerifyFull => "verify-full",
                _ => "verify-ca",
            }
        )
    };
    let needs = format!("{}:{} needs a client certificate ({why})", cl.file, cl.line);
    let user = f.names.as_ref().map_or("", |n| n.0.as_str());
    let refusal = if cl.method == AuthMethod::Cert {
        auth_failed(AuthMethod::Cert, user, "no client certificate")
    } else {
        certificate_required()
    };
    if !f.ssl {
        l.verdict = Verdict::Refused;
        l.detail = format!("{needs}, and a certificate needs TLS");
        l.client_sees = Some(ClientSees::from(&refusal));
        l.fix = Some(Fix::says(
            "connect with TLS and a client certificate (sslmode=require sslcert=… sslkey=…)",
        ));
    } else if !client_ca {
        l.verdict = Verdict::Refused;
        l.detail = format!(
            "{needs}, but [tls] client_ca_file is not set: no certificate is ever verified"
        );
        l.client_sees = Some(ClientSees::from(&refusal));
        l.fix = Some(Fix::says(
            "set [tls] client_ca_file to the CA that issues client certificates (a restart is needed)",
        ));
    } else {
        l.note(format!(
            "{needs}, signed by a CA of client_ca_file: the certificate itself is not checked offline"
        ));
    }
    l
}
