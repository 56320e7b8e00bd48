//! Splitting a token into its parts: `host:port`, then the query parameters,
//! percent-decoded strictly, each present exactly once.
//!
//! Only the structure is checked here (everything that is [`TokenRefusal::Malformed`]);
//! what the values must be is [`verify`](super::verify)'s business.

use std::fmt;
use std::time::SystemTime;

use super::encode::percent_decode;
use super::refusal::{echo, TokenRefusal};
use super::time::{from_unix_seconds, parse_amz_date};

/// Longest token accepted, in bytes. A token with a long STS session token is
/// about 1–3 KiB; a PostgreSQL password message is allowed far more.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The parameters a token may carry, in SigV4 canonical (sorted) order, with
/// `X-Amz-Signature` last (it is not part of the canonical query).
pub(crate) const PARAMS: [&str; 9] = [
    "Action",
    "DBUser",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];
const SECURITY_TOKEN: usize = 6;
const SIGNATURE: usize = 8;

/// A token taken apart. Every value is percent-decoded; nothing has been checked
/// against expectations or keys yet.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedToken {
    /// `host:port` exactly as written before `/?`.
    pub endpoint: String,
    /// The host part of `endpoint` (brackets kept for IPv6 literals).
    pub host: String,
    /// The port part of `endpoint`.
    pub port: u16,
    /// `Action`.
    pub action: String,
    /// `DBUser`.
    pub db_user: String,
    /// `X-Amz-Algorithm`.
    pub algorithm: String,
    /// `X-Amz-Credential` (`AKID/yyyymmdd/region/service/aws4_request`).
    pub credential: String,
    /// `X-Amz-Date` as written (`yyyymmddThhmmssZ` when well-formed).
    pub date: String,
    /// `X-Amz-Expires` as written.
    pub expires: String,
    /// `X-Amz-Date` as an instant.
    pub issued_at: SystemTime,
    /// `X-Amz-Expires` in seconds (at least 1; saturated at `u64::MAX`).
    pub expires_in: u64,
    /// `X-Amz-SignedHeaders`.
    pub signed_headers: String,
    /// `X-Amz-Security-Token`, when the credentials were temporary ones.
    pub security_token: Option<String>,
    /// `X-Amz-Signature`, decoded from its 64 lower-case hex digits.
    pub signature: [u8; 32],
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("endpoint", &self.endpoint)
            .field("action", &self.action)
            .field("db_user", &self.db_user)
            .field("algorithm", &self.algorithm)
            .field("credential", &self.credential)
            .field("date", &self.date)
            .field("expires", &self.expires)
            .field("issued_at", &self.issued_at)
            .field("signed_headers", &self.signed_headers)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("signature", &"<redacted>")
            .finish()
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// 64 lower-case hex digits (what every SDK writes) to 32 bytes.
fn signature_bytes(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

/// `X-Amz-Expires`: 1 to 20 ASCII digits, not zero; saturated at `u64::MAX`.
fn expires_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    (n > 0).then_some(n)
}

/// Splits `host:port` (the port after the last `:`, so `[::1]:5432` works).
fn endpoint(text: &str) -> Result<(String, u16), TokenRefusal> {
    let bad = |why: &str| {
        TokenRefusal::malformed(format!(
            "expected host:port before \"/?\", found {:?} ({why})",
            echo(text)
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.bytes().any(|b| b <= b' ' || b == 0x7F) {
        return Err(bad("a space or control character in the host"));
    }
    let digits_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && !(port.len() > 1 && port.starts_with('0'));
    let port = digits_ok
        .then(|| port.parse::<u16>().ok())
        .flatten()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    Ok((host.to_owned(), port))
}

/// Takes a token apart.
///
/// # Errors
/// [`TokenRefusal::Malformed`] when the token is longer than [`MAX_TOKEN_LEN`],
/// has no `host:port/?`, a parameter is missing, duplicated, unknown, has no `=`,
/// or is badly percent-encoded (see the `encode` rules: upper-case hex only, no raw
/// spaces or control characters, UTF-8), `X-Amz-Date` is not a real
/// `yyyymmddThhmmssZ`, `X-Amz-Expires` not a positive integer, or the signature
/// not 64 lower-case hex digits.
pub fn parse(token: &str) -> Result<ParsedToken, TokenRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenRefusal::malformed(format!(
            "the token is {} bytes long, more than the {MAX_TOKEN_LEN} accepted",
            token.len()
        )));
    }
    let Some((host_port, query)) = token.split_once("/?") else {
        return Err(TokenRefusal::malformed(
            "no \"/?\" between host:port and the parameters",
        ));
    };
    let (host, port) = endpoint(host_port)?;
    if query.is_empty() {
        return Err(TokenRefusal::malformed("no parameters after \"/?\""));
    }
    let mut values: [Option<String>; 9] = Default::default();
    for pair in query.split('&') {
        if pair.is_empty() {
            return Err(TokenRefusal::malformed(
                "an empty parameter (\"&&\", or '&' at an end)",
            ));
        }
        let Some((raw_name, raw_value)) = pair.split_once('=') else {
            return Err(TokenRefusal::malformed(format!(
                "parameter {:?} has no '='",
                echo(pair)
            )));
        };
        let name = percent_decode(raw_name).map_err(|e| {
            TokenRefusal::malformed(format!("a parameter name has {}", e.describe()))
        })?;
        let Some(slot) = PARAMS.iter().position(|p| *p == name) else {
            return Err(TokenRefusal::malformed(format!(
                "unexpected parameter {:?}",
                echo(&name)
            )));
        };
        if values[slot].is_some() {
            return Err(TokenRefusal::malformed(format!(
                "parameter {} appears twice",
                PARAMS[slot]
            )));
        }
        let value = percent_decode(raw_value).map_err(|e| {
            TokenRefusal::malformed(format!("{} has {}", PARAMS[slot], e.describe()))
        })?;
        values[slot] = Some(value);
    }
    let signature = values[SIGNATURE]
        .take()
        .ok_or_else(|| TokenRefusal::malformed("parameter X-Amz-Signature is missing"))?;
    let signature = signature_bytes(&signature).ok_or_else(|| {
        TokenRefusal::malformed("X-Amz-Signature is not 64 lower-case hex digits")
    })?;
    let security_token = values[SECURITY_TOKEN].take();
    let mut take = |slot: usize| {
        values[slot].take().ok_or_else(|| {
            TokenRefusal::malformed(format!("parameter {} is missing", PARAMS[slot]))
        })
    };
    let (action, db_user, algorithm, credential) = (take(0)?, take(1)?, take(2)?, take(3)?);
    let (date, expires, signed_headers) = (take(4)?, take(5)?, take(7)?);
    let issued_at = parse_amz_date(&date)
        .map(from_unix_seconds)
        .ok_or_else(|| {
            TokenRefusal::malformed(format!(
                "X-Amz-Date {:?} is not a UTC date and time yyyymmddThhmmssZ",
                echo(&date)
            ))
        })?;
    let expires_in = expires_seconds(&expires).ok_or_else(|| {
        TokenRefusal::malformed(format!(
            "X-Amz-Expires {:?} is not a whole number of seconds from 1",
            echo(&expires)
        ))
    })?;
    Ok(ParsedToken {
        endpoint: host_port.to_owned(),
        host,
        port,
        action,
        db_user,
        algorithm,
        credential,
        date,
        expires,
        issued_at,
        expires_in,
        signed_headers,
        security_token,
        signature,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const T: &str = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request\
&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61";

    fn detail(token: &str) -> String {
        match parse(token) {
            Err(TokenRefusal::Malformed { detail }) => detail,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn takes_a_botocore_token_apart() {
        let p = parse(T).unwrap();
        assert_eq!(p.endpoint, "prod-instance.us-east-1.rds.amazonaws.com:3306");
        assert_eq!(p.host, "prod-instance.us-east-1.rds.amazonaws.com");
        assert_eq!(p.port, 3306);
        assert_eq!(p.credential, "akid/20161107/us-east-1/rds-db/aws4_request");
        assert_eq!(p.signature[0], 0xd1);
        assert_eq!(p.security_token, None);
        assert_eq!(p.expires_in, 900);
        assert_eq!(
            p.issued_at,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_478_540_373)
        );
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("d1138cdb"), "{dbg}");
    }

    #[test]
    fn ipv6_literal_endpoint() {
        let t = T.replace("prod-instance.us-east-1.rds.amazonaws.com", "[::1]");
        let p = parse(&t).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("[::1]", 3306));
    }

    #[test]
    fn structure_errors_say_what() {
        assert!(detail("no-separator").contains("/?"));
        assert!(detail("host/?Action=connect").contains("no port"));
        assert!(detail(":5432/?Action=connect").contains("no host"));
        assert!(detail("h:0/?A=b").contains("1 to 65535"));
        assert!(detail("h:65536/?A=b").contains("1 to 65535"));
        assert!(detail("h:05432/?A=b").contains("1 to 65535"));
        assert!(detail("h:+543/?A=b").contains("1 to 65535"));
        assert!(detail("h:5432/?").contains("no parameters"));
        assert!(detail(&format!("{T}&")).contains("empty parameter"));
        assert!(detail(&T.replace("&DBUser=", "&&DBUser=")).contains("empty parameter"));
        assert!(detail(&format!("{T}&Foo=1")).contains("unexpected parameter \"Foo\""));
        assert!(detail(&format!("{T}&Action")).contains("no '='"));
        assert!(detail(&format!("{T}&Action=connect")).contains("Action appears twice"));
        assert!(detail(&T.replace("&X-Amz-Date=20161107T173933Z", ""))
            .contains("X-Amz-Date is missing"));
        assert!(detail(&T.replace("Signature=d1", "Signature=D1")).contains("64 lower-case"));
        assert!(detail(&T.replace("Signature=d1", "Signature=d")).contains("64 lower-case"));
        assert!(detail(&T.replace("%2F20161107", "%2f20161107")).contains("lower-case hex"));
        assert!(detail(&T.replace("someusername", "some%zzuser")).contains("'%'"));
        assert!(detail(&T.replace("someusername", "some%C3user")).contains("UTF-8"));
        assert!(detail(&T.replace("someusername", "some user")).contains("space"));
        assert!(detail(&"x".repeat(MAX_TOKEN_LEN + 1)).contains("8192"));
        assert!(detail(&T.replace("20161107T173933Z", "20161131T173933Z")).contains("X-Amz-Date"));
        assert!(detail(&T.replace("Expires=900", "Expires=0")).contains("X-Amz-Expires"));
        assert!(detail(&T.replace("Expires=900", "Expires=-1")).contains("X-Amz-Expires"));
        assert!(detail(&T.replace("Expires=900", "Expires=9e2")).contains("X-Amz-Expires"));
        assert!(
            detail(&T.replace("Expires=900", &format!("Expires={}", "9".repeat(21))))
                .contains("X-Amz-Expires")
        );
    }

    #[test]
    fn order_does_not_matter_and_names_may_be_encoded() {
        let (head, query) = T.split_once("/?").unwrap();
        let mut parts: Vec<&str> = query.split('&').collect();
        parts.reverse();
        let reversed = format!("{head}/?{}", parts.join("&"));
        assert_eq!(parse(&reversed).unwrap(), parse(T).unwrap());
        let encoded_name = T.replace("&DBUser=", "&DB%55ser=");
        assert_eq!(parse(&encoded_name).unwrap(), parse(T).unwrap());
    }

    #[test]
    fn parameters_are_in_canonical_order() {
        let canonical = &PARAMS[..SIGNATURE];
        let mut sorted = canonical.to_vec();
        sorted.sort_unstable();
        assert_eq!(canonical, sorted.as_slice());
    }
}

#[cfg(test)]
mod expires_tests {
    use super::expires_seconds;

    #[test]
    fn saturates_and_refuses_zero() {
        assert_eq!(expires_seconds("900"), Some(900));
        assert_eq!(expires_seconds("0900"), Some(900));
        assert_eq!(expires_seconds("99999999999999999999"), Some(u64::MAX));
        assert_eq!(expires_seconds("0"), None);
        assert_eq!(expires_seconds(""), None);
        assert_eq!(expires_seconds("+1"), None);
    }
}
