//! The names pg_hba looks at in a client certificate: the CN and the RFC 2253 DN, as
//! PostgreSQL (with OpenSSL) extracts them in `be_tls_open_server()`.

use x509_parser::der_parser::asn1_rs::{Any, Class, Tag};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::short_names::short_name;
use super::TlsError;

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The first commonName of the subject, its raw bytes as PostgreSQL takes them
    /// (`X509_NAME_get_text_by_NID(NID_commonName)`); `None` when the subject has no CN.
    /// Compared with the user name by `cert` / `clientcert=verify-full` (default
    /// `clientname=CN`).
    pub cn: Option<String>,
    /// The subject in the RFC 2253 form PostgreSQL uses for `clientname=DN` and shows as
    /// `system_user` (`X509_NAME_print_ex(XN_FLAG_RFC2253)` in `be_tls_open_server()`):
    /// last RDN first, `,` between RDNs, `+` inside a multi-valued RDN, `,+"\<>;` and a
    /// leading `#` or leading/trailing space escaped with `\`, control characters and each
    /// byte of the UTF-8 form of a non-ASCII character as `\XX` (so `CN=é` is `CN=\C3\A9`;
    /// always ASCII). Attribute types by OpenSSL's short name; a type OpenSSL does not know
    /// as a dotted OID and `#` + the value's DER in hex. Example: `CN=alice,OU=dev,O=Example`.
    ///
    /// PostgreSQL (checked with 18) ends every connection whose client certificate has a
    /// subject attribute type OpenSSL does not know, whatever the auth method (its
    /// pg_stat_ssl code cannot name it); we do not copy that.
    pub dn: String,
}

impl ClientIdentity {
    /// The identity named by a DER certificate (which the caller has verified).
    ///
    /// Fails where PostgreSQL ends the connection — a CN with an embedded NUL (any
    /// BMPString CN) — and also where the CN is not UTF-8 (PostgreSQL would compare its raw
    /// bytes with the user name; we refuse instead), where a BMPString or UniversalString
    /// is malformed, or where the certificate cannot be parsed.
    pub fn from_der(cert_der: &[u8]) -> Result<ClientIdentity, TlsError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
            .map_err(|e| TlsError::PeerCertificate(format!("cannot parse: {e}")))?;
        let subject = cert.subject();
        Ok(ClientIdentity {
            cn: common_name(subject)?,
            dn: rfc2253(subject)?,
        })
    }

    /// The identity of the client's verified certificate on a finished server handshake;
    /// `None` when the client sent no certificate. (With [`super::ServerTls`], a
    /// certificate the client sent has been verified, or the handshake failed.)
    pub fn from_connection(
        conn: &rustls::ServerConnection,
    ) -> Result<Option<ClientIdentity>, TlsError> {
        match conn.peer_certificates().and_then(|chain| chain.first()) {
            Some(leaf) => ClientIdentity::from_der(leaf).map(Some),
            None => Ok(None),
        }
    }
}

/// OID of commonName.
const OID_CN: &str = "2.5.4.3";

/// The first CN's raw content bytes, as `X509_NAME_get_text_by_NID` copies them.
fn common_name(subject: &X509Name<'_>) -> Result<Option<String>, TlsError> {
    let Some(cn) = subject
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == OID_CN)
    else {
        return Ok(None);
    };
    let bytes = cn.attr_value().data;
    if bytes.contains(&0) {
        // PostgreSQL's words (CVE-2009-4034); BMPString CNs always end here.
        return Err(TlsError::PeerCertificate(
            "SSL certificate's common name contains embedded null".to_string(),
        ));
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| TlsError::PeerCertificate("common name is not valid UTF-8".to_string()))
}

/// The subject as `X509_NAME_print_ex(XN_FLAG_RFC2253)` prints it.
pub(super) fn rfc2253(name: &X509Name<'_>) -> Result<String, TlsError> {
    // OpenSSL walks the entries (not the RDNs) backwards; entries of one RDN share a set
    // number and are joined with '+', so a multi-valued RDN comes out reversed as well.
    let entries: Vec<_> = name
        .iter()
        .enumerate()
        .flat_map(|(set, rdn)| rdn.iter().map(move |atv| (set, atv)))
        .collect();
    let mut out = Vec::new();
    let mut prev = None;
    for (set, atv) in entries.iter().rev() {
        if let Some(prev) = prev {
            out.push(if prev == *set { b'+' } else { b',' });
        }
        prev = Some(*set);
        let oid = atv.attr_type().to_id_string();
        match short_name(&oid) {
            Some(short) => {
                out.extend_from_slice(short.as_bytes());
                out.push(b'=');
                print_value(atv.attr_value(), &mut out)?;
            }
            None => {
                out.extend_from_slice(oid.as_bytes());
                out.push(b'=');
                dump_der(atv.attr_value(), &mut out);
            }
        }
    }
    // Every byte over 0x7f was escaped: the output is ASCII.
    String::from_utf8(out)
        .map_err(|_| TlsError::PeerCertificate("distinguished name is not ASCII".to_string()))
}

/// How OpenSSL reads a string type with `ASN1_STRFLGS_UTF8_CONVERT` (`tag2nbyte`).
enum Chars {
    /// UTF8String: bytes taken one by one, not decoded.
    Raw,
    /// One byte per character (Latin-1 for T61String), converted to UTF-8.
    Width1,
    /// BMPString: UCS-2 big-endian, converted to UTF-8.
    Width2,
    /// UniversalString: UCS-4 big-endian, converted to UTF-8.
    Width4,
}

/// One attribute value (`do_print_ex` with `ASN1_STRFLGS_RFC2253`).
fn print_value(value: &Any<'_>, out: &mut Vec<u8>) -> Result<(), TlsError> {
    if value.class() != Class::Universal || value.header.is_constructed() {
        dump_der(value, out);
        return Ok(());
    }
    let chars = match value.tag() {
        Tag::Utf8String => Chars::Raw,
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::UtcTime
        | Tag::GeneralizedTime
        | Tag::VisibleString => Chars::Width1,
        Tag::BmpString => Chars::Width2,
        Tag::UniversalString => Chars::Width4,
        _ => {
            dump_der(value, out);
            return Ok(());
        }
    };
    let data = value.data;
    let code_points: Vec<u32> = match chars {
        Chars::Raw | Chars::Width1 => data.iter().map(|b| u32::from(*b)).collect(),
        Chars::Width2 => {
            if !data.len().is_multiple_of(2) {
                return Err(bad_string("BMPString of odd length"));
            }
            data.chunks_exact(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect()
        }
        Chars::Width4 => {
            if !data.len().is_multiple_of(4) {
                return Err(bad_string(
                    "UniversalString whose length is not a multiple of 4",
                ));
            }
            data.chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    };
    let count = code_points.len();
    for (i, c) in code_points.into_iter().enumerate() {
        // do_buf(): the first character may need escaping as first, the last as last;
        // a single character counts as last only.
        let position = if i + 1 == count {
            Position::Last
        } else if i == 0 {
            Position::First
        } else {
            Position::Middle
        };
        match chars {
            Chars::Raw => escape(c as u8, position, out),
            _ if c < 0x80 => escape(c as u8, position, out),
            _ => {
                // Converted to UTF-8, then each byte escaped (all over 0x7f: `\XX`).
                let ch = char::from_u32(c)
                    .ok_or_else(|| bad_string("character that is not a Unicode scalar value"))?;
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    escape(b, position, out);
                }
            }
        }
    }
    Ok(())
}

fn bad_string(what: &str) -> TlsError {
    TlsError::PeerCertificate(format!("distinguished name holds a {what}"))
}

/// Where a character is in its value (RFC 2253 escapes depend on it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    First,
    Middle,
    Last,
}

/// One byte as `do_esc_char()` writes it with `ESC_2253 | ESC_CTRL | ESC_MSB`.
fn escape(b: u8, position: Position, out: &mut Vec<u8>) {
    let backslash = matches!(b, b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';')
        || (b == b'#' && position == Position::First)
        || (b == b' ' && position != Position::Middle);
    if backslash {
        out.push(b'\\');
        out.push(b);
    } else if !(0x20..0x7f).contains(&b) {
        out.extend_from_slice(format!("\\{b:02X}").as_bytes());
    } else {
        out.push(b);
    }
}

/// `#` and the hex of the value's DER encoding (`do_dump()` with `ASN1_STRFLGS_DUMP_DER`).
fn dump_der(value: &Any<'_>, out: &mut Vec<u8>) {
    let mut der = Vec::with_capacity(value.data.len() + 8);
    let class_bits: u8 = match value.class() {
        Class::Universal => 0x00,
        Class::Application => 0x40,
        Class::ContextSpecific => 0x80,
        Class::Private => 0xc0,
    };
    let constructed: u8 = if value.header.is_constructed() {
        0x20
    } else {
        0
    };
    let tag = value.tag().0;
    if tag < 31 {
        der.push(class_bits | constructed | tag as u8);
    } else {
        der.push(class_bits | constructed | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        let last = groups.len() - 1;
        for (i, g) in groups.iter().rev().enumerate() {
            der.push(if i < last { g | 0x80 } else { *g });
        }
    }
    let len = value.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        der.push(0x80 | (bytes.len() - skip) as u8);
        der.extend_from_slice(&bytes[skip..]);
    }
    der.extend_from_slice(value.data);
    out.push(b'#');
    for b in der {
        out.extend_from_slice(format!("{b:02X}").as_bytes());
    }
}
