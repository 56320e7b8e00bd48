//! The client side of SCRAM-SHA-256(-PLUS), for logging in to the upstream server,
//! as libpq's `fe-auth-scram.c` does it, with PgBouncer's pass-through option:
//! instead of a password, the ClientKey recovered from the client's own proof and
//! the secret's ServerKey ([`ScramCredentials::ClientKey`]).
//!
//! ```text
//! ScramClient --client_first--> ScramClientFirstSent --server_first--> ScramClientFinalSent
//!                                                                        |
//!                                                   server_final --------+--> Ok(())
//! ```

use std::fmt;

use thiserror::Error;

use super::crypto::{self, Key};
use super::scram::{is_printable, Cursor, ScramNonce, SCRAM_SHA_256, SCRAM_SHA_256_PLUS};
use super::scram_error::sanitize_str;

/// The most PBKDF2 iterations an upstream may ask of us: 10,000,000, about five
/// seconds of one core. PostgreSQL's default is 4096 and `scram_iterations` is rarely
/// raised past a million; the bound keeps a hostile or misconfigured upstream from
/// pinning a core for minutes. Pass-through credentials need no PBKDF2 and are held
/// to the same bound for simplicity.
pub const MAX_CLIENT_ITERATIONS: u32 = 10_000_000;

/// The largest server message accepted (bytes).
pub const MAX_SERVER_MESSAGE_LEN: usize = 4096;

/// What proves our identity to the upstream.
#[derive(Clone, PartialEq, Eq)]
pub enum ScramCredentials {
    /// A password (SASLprep'ed as `pg_saslprep` does, raw bytes if that fails).
    Password(String),
    /// Pass-through: the ClientKey recovered from a client's proof
    /// ([`super::ScramServerSuccess::pass_through_credentials`]) and the ServerKey of
    /// the same secret. Works only if the upstream stores that very secret (same salt
    /// and iteration count); otherwise the upstream refuses the proof, or, if it
    /// accepted without knowing the secret, its signature fails to verify.
    ClientKey {
        /// `HMAC(SaltedPassword, "Client Key")`.
        client_key: [u8; 32],
        /// `HMAC(SaltedPassword, "Server Key")`, to check the upstream's signature.
        server_key: [u8; 32],
    },
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramCredentials::Password(_) => f.write_str("Password(<redacted>)"),
            ScramCredentials::ClientKey { .. } => f.write_str("ClientKey(<redacted>)"),
        }
    }
}

/// The gs2 channel binding flag we send.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientChannelBinding {
    /// `n`: no TLS, or channel binding disabled.
    Unsupported,
    /// `y`: we could bind, but the server did not offer `SCRAM-SHA-256-PLUS` (a
    /// server that does support it then fails the exchange: downgrade protection).
    NotOffered,
    /// `p=tls-server-end-point` with the hash of the server's certificate
    /// (`SCRAM-SHA-256-PLUS`).
    TlsServerEndPoint(Vec<u8>),
}

impl fmt::Debug for ClientChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientChannelBinding::Unsupported => f.write_str("Unsupported"),
            ClientChannelBinding::NotOffered => f.write_str("NotOffered"),
            ClientChannelBinding::TlsServerEndPoint(h) => {
                write!(f, "TlsServerEndPoint({} bytes)", h.len())
            }
        }
    }
}

impl ClientChannelBinding {
    /// libpq's choice (`channel_binding=prefer`) from the mechanisms the server
    /// offered and, when TLS is on, the hash of its certificate. `None` when the
    /// server offers neither SCRAM mechanism.
    pub fn negotiate(
        offered: &[&str],
        server_cert_hash: Option<Vec<u8>>,
    ) -> Option<ClientChannelBinding> {
        let plus = offered.contains(&SCRAM_SHA_256_PLUS);
        let plain = offered.contains(&SCRAM_SHA_256);
        match server_cert_hash.filter(|h| !h.is_empty()) {
            Some(hash) if plus => Some(ClientChannelBinding::TlsServerEndPoint(hash)),
            Some(_) if plain => Some(ClientChannelBinding::NotOffered),
            None if plain => Some(ClientChannelBinding::Unsupported),
            _ => None,
        }
    }

    fn gs2_header(&self) -> &'static str {
        match self {
            ClientChannelBinding::Unsupported => "n,,",
            ClientChannelBinding::NotOffered => "y,,",
            ClientChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }
}

/// Why the upstream exchange failed. `Display` follows libpq's wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScramClientError {
    /// An empty server message.
    #[error("malformed SCRAM message (empty message)")]
    Empty,
    /// A NUL byte inside a server message.
    #[error("malformed SCRAM message (length mismatch)")]
    LengthMismatch,
    /// A server message over [`MAX_SERVER_MESSAGE_LEN`] bytes.
    #[error("malformed SCRAM message ({0} bytes, too long)")]
    TooLong(usize),
    /// Another attribute than the expected one.
    #[error("malformed SCRAM message (attribute \"{}\" expected)", char::from(*.0))]
    ExpectedAttribute(u8),
    /// An attribute letter not followed by `=`.
    #[error("malformed SCRAM message (expected character \"=\" for attribute \"{}\")", char::from(*.0))]
    ExpectedEquals(u8),
    /// The server nonce does not start with ours, adds nothing, or is not printable.
    #[error("invalid SCRAM response (nonce mismatch)")]
    NonceMismatch,
    /// The salt is not base64.
    #[error("malformed SCRAM message (invalid salt)")]
    InvalidSalt,
    /// The iteration count is not a positive integer.
    #[error("malformed SCRAM message (invalid iteration count)")]
    InvalidIterations,
    /// The iteration count is over [`MAX_CLIENT_ITERATIONS`].
    #[error("SCRAM iteration count {0} exceeds the limit of {MAX_CLIENT_ITERATIONS}")]
    TooManyIterations(u64),
    /// Something after `i=` in server-first-message.
    #[error("malformed SCRAM message (garbage at end of server-first-message)")]
    GarbageServerFirst,
    /// server-final-message is `e=<error>` (sanitized).
    #[error("error received from server in SCRAM exchange: {0}")]
    ServerError(String),
    /// Something after `v=` in server-final-message.
    #[error("malformed SCRAM message (garbage at end of server-final-message)")]
    GarbageServerFinal,
    /// The server signature is not base64 of 32 bytes.
    #[error("malformed SCRAM message (invalid server signature)")]
    MalformedServerSignature,
    /// The server signature does not verify: the server does not know the secret.
    #[error("incorrect server signature")]
    IncorrectServerSignature,
}

impl ScramClientError {
    /// A short, stable reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            ScramClientError::Empty
            | ScramClientError::LengthMismatch
            | ScramClientError::TooLong(_)
            | ScramClientError::ExpectedAttribute(_)
            | ScramClientError::ExpectedEquals(_)
            | ScramClientError::InvalidSalt
            | ScramClientError::InvalidIterations
            | ScramClientError::GarbageServerFirst
            | ScramClientError::GarbageServerFinal
            | ScramClientError::MalformedServerSignature => "upstream_scram_malformed",
            ScramClientError::NonceMismatch => "upstream_scram_nonce_mismatch",
            ScramClientError::TooManyIterations(_) => "upstream_scram_too_many_iterations",
            ScramClientError::ServerError(_) => "upstream_scram_server_error",
            ScramClientError::IncorrectServerSignature => "upstream_scram_bad_server_signature",
        }
    }
}

/// An upstream SCRAM exchange before client-first-message.
pub struct ScramClient {
    credentials: ScramCredentials,
    channel_binding: ClientChannelBinding,
    client_nonce: ScramNonce,
    username: String,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// RFC 5802 `saslname`: `=` as `=3D`, `,` as `=2C`.
fn saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

impl ScramClient {
    /// A new exchange. `client_nonce` is normally [`ScramNonce::random`].
    pub fn new(
        credentials: ScramCredentials,
        channel_binding: ClientChannelBinding,
        client_nonce: ScramNonce,
    ) -> ScramClient {
        ScramClient {
            credentials,
            channel_binding,
            client_nonce,
            username: String::new(),
        }
    }

    /// Sends `n=<name>` instead of libpq's empty `n=` (PostgreSQL ignores it).
    pub fn with_username(mut self, name: &str) -> ScramClient {
        self.username = saslname(name);
        self
    }

    /// The mechanism to name in SASLInitialResponse.
    pub fn mechanism(&self) -> &'static str {
        match self.channel_binding {
            ClientChannelBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            _ => SCRAM_SHA_256,
        }
    }

    /// client-first-message (`<gs2 header>n=<user>,r=<nonce>`) and the next state.
    pub fn client_first(self) -> (ScramClientFirstSent, String) {
        let bare = format!("n={},r={}", self.username, self.client_nonce.as_str());
        let message = format!("{}{bare}", self.channel_binding.gs2_header());
        let state = ScramClientFirstSent {
            credentials: self.credentials,
            channel_binding: self.channel_binding,
            client_nonce: self.client_nonce,
            client_first_bare: bare,
        };
        (state, message)
    }
}

/// client-first-message is sent; server-first-message comes next.
pub struct ScramClientFirstSent {
    credentials: ScramCredentials,
    channel_binding: ClientChannelBinding,
    client_nonce: ScramNonce,
    client_first_bare: String,
}

impl fmt::Debug for ScramClientFirstSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClientFirstSent")
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

fn check_message(message: &[u8]) -> Result<(), ScramClientError> {
    if message.is_empty() {
        return Err(ScramClientError::Empty);
    }
    if message.len() > MAX_SERVER_MESSAGE_LEN {
        return Err(ScramClientError::TooLong(message.len()));
    }
    if message.contains(&0) {
        return Err(ScramClientError::LengthMismatch);
    }
    Ok(())
}

/// libpq's `read_attr_value`.
fn read_attr_value<'a>(cur: &mut Cursor<'a>, attr: u8) -> Result<&'a [u8], ScramClientError> {
    if cur.peek() != attr {
        return Err(ScramClientError::ExpectedAttribute(attr));
    }
    cur.bump();
    if cur.peek() != b'=' {
        return Err(ScramClientError::ExpectedEquals(attr));
    }
    cur.bump();
    Ok(cur.value())
}

/// A positive decimal iteration count within [`MAX_CLIENT_ITERATIONS`] (libpq also
/// takes a leading `+` or whitespace through `strtol`; PostgreSQL never sends them).
fn parse_iterations(text: &[u8]) -> Result<u32, ScramClientError> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(ScramClientError::InvalidIterations);
    }
    let value = text.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    if value == 0 {
        return Err(ScramClientError::InvalidIterations);
    }
    if value > u64::from(MAX_CLIENT_ITERATIONS) {
        return Err(ScramClientError::TooManyIterations(value));
    }
    u32::try_from(value).map_err(|_| ScramClientError::TooManyIterations(value))
}

impl ScramClientFirstSent {
    /// Reads server-first-message (`r=…,s=…,i=…`): the nonce must extend ours with at
    /// least one printable character; derives the keys and returns
    /// client-final-message (`c=…,r=…,p=<proof>`) and the next state.
    pub fn server_first(
        self,
        message: &[u8],
    ) -> Result<(ScramClientFinalSent, String), ScramClientError> {
        check_message(message)?;
        let mut cur = Cursor::new(message);
        let nonce = read_attr_value(&mut cur, b'r')?;
        let ours = self.client_nonce.as_str().as_bytes();
        if nonce.len() <= ours.len() || !nonce.starts_with(ours) || !is_printable(nonce) {
            return Err(ScramClientError::NonceMismatch);
        }
        let salt = crypto::pg_b64_decode(read_attr_value(&mut cur, b's')?)
            .ok_or(ScramClientError::InvalidSalt)?;
        let iterations = parse_iterations(read_attr_value(&mut cur, b'i')?)?;
        if !cur.at_end() {
            return Err(ScramClientError::GarbageServerFirst);
        }

        let (client_key, server_key): (Key, Key) = match &self.credentials {
            ScramCredentials::Password(password) => {
                let salted = crypto::salted_password(
                    &crypto::pg_saslprep(password.as_bytes()),
                    &salt,
                    iterations,
                );
                (crypto::client_key(&salted), crypto::server_key(&salted))
            }
            ScramCredentials::ClientKey {
                client_key,
                server_key,
            } => (*client_key, *server_key),
        };

        let mut cbind_input = self.channel_binding.gs2_header().as_bytes().to_vec();
        if let ClientChannelBinding::TlsServerEndPoint(hash) = &self.channel_binding {
            cbind_input.extend_from_slice(hash);
        }
        // The nonce is printable ASCII, checked above.
        let nonce = String::from_utf8_lossy(nonce);
        let without_proof = format!("c={},r={nonce}", crypto::b64_encode(&cbind_input));
        let auth_message: [&[u8]; 5] = [
            self.client_first_bare.as_bytes(),
            b",",
            message,
            b",",
            without_proof.as_bytes(),
        ];
        let stored_key = crypto::sha256(&client_key);
        let client_signature = crypto::hmac(&stored_key, &auth_message);
        let proof = crypto::xor(&client_key, &client_signature);
        let expected_server_signature = crypto::hmac(&server_key, &auth_message);
        let final_message = format!("{without_proof},p={}", crypto::b64_encode(&proof));
        Ok((
            ScramClientFinalSent {
                expected_server_signature,
            },
            final_message,
        ))
    }
}

/// client-final-message is sent; server-final-message comes next.
pub struct ScramClientFinalSent {
    expected_server_signature: Key,
}

impl fmt::Debug for ScramClientFinalSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramClientFinalSent { .. }")
    }
}

impl ScramClientFinalSent {
    /// Reads server-final-message (AuthenticationSASLFinal): `v=<ServerSignature>`,
    /// verified constant-time, or `e=<error>`.
    pub fn server_final(self, message: &[u8]) -> Result<(), ScramClientError> {
        check_message(message)?;
        let mut cur = Cursor::new(message);
        if cur.peek() == b'e' {
            let text = read_attr_value(&mut cur, b'e')?;
            return Err(ScramClientError::ServerError(sanitize_str(text)));
        }
        let signature = read_attr_value(&mut cur, b'v')?;
        if !cur.at_end() {
            return Err(ScramClientError::GarbageServerFinal);
        }
        let signature = crypto::pg_b64_decode(signature)
            .filter(|s| s.len() == crypto::KEY_LEN)
            .ok_or(ScramClientError::MalformedServerSignature)?;
        if crypto::ct_eq(&signature, &self.expected_server_signature) {
            Ok(())
        } else {
            Err(ScramClientError::IncorrectServerSignature)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn iterations_bounds() {
        assert_eq!(parse_iterations(b"4096"), Ok(4096));
        assert_eq!(parse_iterations(b"0004096"), Ok(4096));
        assert_eq!(parse_iterations(b"10000000"), Ok(MAX_CLIENT_ITERATIONS));
        assert_eq!(
            parse_iterations(b"10000001"),
            Err(ScramClientError::TooManyIterations(10_000_001))
        );
        assert!(matches!(
            parse_iterations(b"99999999999999999999999"),
            Err(ScramClientError::TooManyIterations(_))
        ));
        for bad in [&b""[..], b"0", b"-1", b"+1", b" 1", b"1x", b"000"] {
            assert_eq!(
                parse_iterations(bad),
                Err(ScramClientError::InvalidIterations),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn negotiation_as_libpq() {
        let hash = Some(vec![1u8; 32]);
        let both = [SCRAM_SHA_256_PLUS, SCRAM_SHA_256];
        assert_eq!(
            ClientChannelBinding::negotiate(&both, hash.clone()),
            Some(ClientChannelBinding::TlsServerEndPoint(vec![1; 32]))
        );
        assert_eq!(
            ClientChannelBinding::negotiate(&[SCRAM_SHA_256], hash.clone()),
            Some(ClientChannelBinding::NotOffered)
        );
        assert_eq!(
            ClientChannelBinding::negotiate(&both, None),
            Some(ClientChannelBinding::Unsupported)
        );
        assert_eq!(
            ClientChannelBinding::negotiate(&["OAUTHBEARER"], hash),
            None
        );
        assert_eq!(
            ClientChannelBinding::negotiate(&[SCRAM_SHA_256_PLUS], None),
            None
        );
    }

    #[test]
    fn username_is_saslname_escaped() {
        let nonce = ScramNonce::new("abc").unwrap();
        let client = ScramClient::new(
            ScramCredentials::Password("p".into()),
            ClientChannelBinding::Unsupported,
            nonce,
        )
        .with_username("a=b,c");
        let (_, first) = client.client_first();
        assert_eq!(first, "n,,n=a=3Db=2Cc,r=abc");
    }

    #[test]
    fn debug_redacts() {
        let creds = ScramCredentials::Password("hunter2".into());
        assert!(!format!("{creds:?}").contains("hunter2"));
        let keys = ScramCredentials::ClientKey {
            client_key: [0xab; 32],
            server_key: [0xcd; 32],
        };
        let debug = format!("{keys:?}");
        assert!(!debug.contains("171") && !debug.contains("ab"), "{debug}");
    }
}
