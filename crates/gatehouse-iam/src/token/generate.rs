//! Making a token, byte for byte as botocore's `generate_db_auth_token` (and
//! `aws rds generate-db-auth-token`) does.

use std::fmt;
use std::time::SystemTime;

use super::encode::uri_encode;
use super::sign::{
    botocore_host_header, canonical_request, credential, hex, signature, signing_key,
    string_to_sign, SignedParams, ACTION, ALGORITHM, SIGNED_HEADERS,
};
use super::time::amz_date;

/// AWS credentials: an access key, and the session token of temporary credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (`AKIA…`, `ASIA…`).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token that comes with temporary (STS) credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The validity botocore asks for, in seconds.
const EXPIRES: &str = "900";

/// An RDS IAM auth token for `username` at `hostname:port`, signed for `region`
/// at `at` (UTC, to the second) and valid 900 seconds: the same bytes as botocore
/// gives —
///
/// `{hostname}:{port}/?Action=connect&DBUser=…&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=900&X-Amz-SignedHeaders=host[&X-Amz-Security-Token=…]&X-Amz-Signature=…`
///
/// Values are URI-encoded (only `A-Za-z0-9-_.~` kept); the signed `host` header is
/// the host lower-cased, without the port when it is 443 (botocore's rule).
pub fn generate(
    creds: &Credentials,
    hostname: &str,
    port: u16,
    region: &str,
    username: &str,
    at: SystemTime,
) -> String {
    let date = amz_date(at);
    let day = date.get(..8).unwrap_or(&date);
    let credential = credential(&creds.access_key_id, day, region);
    let params = SignedParams {
        action: ACTION,
        db_user: username,
        algorithm: ALGORITHM,
        credential: &credential,
        date: &date,
        expires: EXPIRES,
        security_token: creds.session_token.as_deref(),
        signed_headers: SIGNED_HEADERS,
    };
    let creq = canonical_request(
        &params.canonical_query(),
        &botocore_host_header(hostname, port),
    );
    let sts = string_to_sign(&date, day, region, &creq);
    let key = signing_key(creds.secret_access_key.as_bytes(), day, region);
    let sig = signature(&key, &sts);

    // botocore's order: the operation's parameters, then the auth parameters in
    // the order SigV4QueryAuth builds them, the security token after the signed
    // headers, the signature appended last.
    let mut out = format!(
        "{hostname}:{port}/?Action={ACTION}&DBUser={}&X-Amz-Algorithm={ALGORITHM}\
         &X-Amz-Credential={}&X-Amz-Date={date}&X-Amz-Expires={EXPIRES}\
         &X-Amz-SignedHeaders={SIGNED_HEADERS}",
        uri_encode(username),
        uri_encode(&credential),
    );
    if let Some(token) = &creds.session_token {
        out.push_str("&X-Amz-Security-Token=");
        out.push_str(&uri_encode(token));
    }
    out.push_str("&X-Amz-Signature=");
    out.push_str(&hex(&sig));
    out
}
