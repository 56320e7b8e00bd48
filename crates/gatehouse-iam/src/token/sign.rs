//! SigV4 for RDS tokens: the canonical query, canonical request, string to sign,
//! signing key and signature — shared by [`generate`](super::generate) and
//! [`verify`](super::verify), so both compute exactly the same bytes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::encode::uri_encode_into;

/// HMAC-SHA256, keyed.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The only algorithm tokens use.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The SigV4 service name of RDS IAM authentication.
pub const SERVICE: &str = "rds-db";
/// The last element of every SigV4 credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// The only `Action` of an RDS token.
pub const ACTION: &str = "connect";
/// The only signed header.
pub const SIGNED_HEADERS: &str = "host";
/// The longest validity a token may ask for, in seconds (botocore always asks 900).
pub const MAX_EXPIRES: u64 = 900;

/// SHA-256 of the empty payload, hex.
const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long ones are hashed): this cannot fail.
    #[allow(clippy::expect_used)]
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn hmac_once(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = hmac(key);
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The raw SigV4 signing key:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn derive(secret: &[u8], yyyymmdd: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_once(&k_secret, yyyymmdd.as_bytes());
    k_secret.fill(0);
    let k_region = hmac_once(&k_date, region.as_bytes());
    let k_service = hmac_once(&k_region, service.as_bytes());
    hmac_once(&k_service, TERMINATOR.as_bytes())
}

/// The SigV4 signing key for `yyyymmdd`/`region`/`rds-db`, keyed and ready to sign
/// (the HMAC's inner and outer pads already absorbed).
pub(crate) fn signing_key(secret: &[u8], yyyymmdd: &str, region: &str) -> HmacSha256 {
    let mut raw = derive(secret, yyyymmdd, region, SERVICE);
    let key = hmac(&raw);
    raw.fill(0);
    key
}

/// The signed parameters of a token, decoded (everything but the signature).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedParams<'a> {
    pub action: &'a str,
    pub db_user: &'a str,
    pub algorithm: &'a str,
    pub credential: &'a str,
    pub date: &'a str,
    pub expires: &'a str,
    pub security_token: Option<&'a str>,
    pub signed_headers: &'a str,
}

impl SignedParams<'_> {
    /// The canonical query string: names and values URI-encoded, sorted by name
    /// (the parameter set is fixed and names are unique, so the order is the
    /// constant one of `parse::PARAMS`).
    pub(crate) fn canonical_query(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut pairs = [
            ("Action", Some(self.action)),
            ("DBUser", Some(self.db_user)),
            ("X-Amz-Algorithm", Some(self.algorithm)),
            ("X-Amz-Credential", Some(self.credential)),
            ("X-Amz-Date", Some(self.date)),
            ("X-Amz-Expires", Some(self.expires)),
            ("X-Amz-Security-Token", self.security_token),
            ("X-Amz-SignedHeaders", Some(self.signed_headers)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .peekable();
        while let Some((name, value)) = pairs.next() {
            out.push_str(name);
            out.push('=');
            uri_encode_into(value, &mut out);
            if pairs.peek().is_some() {
                out.push('&');
            }
        }
        out
    }
}

/// The `host` header botocore signs for `host:port`: the host lower-cased, the
/// port left out when it is https's default, 443.
pub(crate) fn botocore_host_header(host: &str, port: u16) -> String {
    if port == 443 {
        host.to_lowercase()
    } else {
        format!("{}:{port}", host.to_lowercase())
    }
}

/// `GET`, path `/`, the canonical query, `host:…`, signed headers `host`, and the
/// SHA-256 of the empty payload.
pub(crate) fn canonical_request(canonical_query: &str, host_header: &str) -> String {
    format!(
        "GET\n/\n{canonical_query}\nhost:{host_header}\n\n{SIGNED_HEADERS}\n{EMPTY_PAYLOAD_SHA256}"
    )
}

/// `AWS4-HMAC-SHA256`, the date, the scope without the key id, and the hex SHA-256
/// of the canonical request.
pub(crate) fn string_to_sign(date: &str, yyyymmdd: &str, region: &str, creq: &str) -> String {
    let digest = Sha256::digest(creq.as_bytes());
    format!(
        "{ALGORITHM}\n{date}\n{yyyymmdd}/{region}/{SERVICE}/{TERMINATOR}\n{}",
        hex(&digest)
    )
}

/// The signature of `string_to_sign` under a signing key.
pub(crate) fn signature(key: &HmacSha256, string_to_sign: &str) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(string_to_sign.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The credential parameter: `AKID/yyyymmdd/region/rds-db/aws4_request`.
pub(crate) fn credential(access_key_id: &str, yyyymmdd: &str, region: &str) -> String {
    format!("{access_key_id}/{yyyymmdd}/{region}/{SERVICE}/{TERMINATOR}")
}

/// Lower-case hex of a signature.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xF)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published signing-key example (IAM User Guide, "Examples of how to
    /// derive a signing key for Signature Version 4").
    #[test]
    fn signing_key_matches_the_aws_example() {
        let key = derive(
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        let ready = signing_key(b"skid", "20161107", "us-east-1");
        let raw = derive(b"skid", "20161107", "us-east-1", SERVICE);
        assert_eq!(signature(&ready, "x"), hmac_once(&raw, b"x"));
    }

    #[test]
    fn host_header_like_botocore() {
        assert_eq!(
            botocore_host_header("DB.Example.com", 5432),
            "db.example.com:5432"
        );
        assert_eq!(
            botocore_host_header("DB.Example.com", 443),
            "db.example.com"
        );
    }
}
