//! The server side of SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, as PostgreSQL's
//! `src/backend/libpq/auth-scram.c` runs it, as states consumed on each step:
//!
//! ```text
//! ScramServer --select_mechanism--> ScramServerSelected --client_first--> ScramServerChallenged
//!     (or ScramServer::client_first for both)                                   |
//!                                                      client_final ------------+--> ScramServerSuccess
//! ```
//!
//! Differences from RFC 5802 that PostgreSQL makes and this module copies: the
//! SCRAM user name (`n=`) is ignored (the startup packet's user counts), the only
//! channel binding type is `tls-server-end-point`, a password that SASLprep refuses
//! is used as raw bytes, and a role without a usable secret still gets a complete,
//! plausible exchange (a mock salt derived from the role name) that fails at the
//! proof like a wrong password, so that unknown roles are not revealed.
//!
//! The server nonce is passed in ([`ScramNonce::random`] in production), so an
//! exchange can be replayed byte for byte in tests.

use std::fmt;

use super::crypto::{self, Key, KEY_LEN, RAW_NONCE_LEN};
use super::scram_client::ScramCredentials;
use super::scram_error::{sanitize_str, MalformedScram as M, ProofFailure, ScramError};
use super::secret::{ScramSecret, StoredSecret, SCRAM_DEFAULT_ITERATIONS, SCRAM_DEFAULT_SALT_LEN};

/// The mechanism name without channel binding.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The mechanism name with `tls-server-end-point` channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";
/// The largest client message accepted (bytes). Real ones are under 300 bytes.
pub const MAX_SCRAM_MESSAGE_LEN: usize = 4096;

const CBIND_HEADER: &[u8] = b"p=tls-server-end-point,,";

/// A SCRAM nonce: one or more printable ASCII characters other than `,`
/// (RFC 5802 `printable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramNonce(String);

impl ScramNonce {
    /// 18 random bytes from the operating system, base64-encoded (24 characters),
    /// as PostgreSQL and libpq make theirs.
    pub fn random() -> ScramNonce {
        ScramNonce(crypto::b64_encode(&crypto::random_bytes::<RAW_NONCE_LEN>()))
    }

    /// A given nonce (tests, replays); `None` if empty or not printable.
    pub fn new(text: &str) -> Option<ScramNonce> {
        (!text.is_empty() && is_printable(text.as_bytes())).then(|| ScramNonce(text.to_string()))
    }

    /// The nonce text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 5802 `printable`: `%x21-2B / %x2D-7E`.
pub(crate) fn is_printable(s: &[u8]) -> bool {
    s.iter().all(|&c| (0x21..=0x7e).contains(&c) && c != b',')
}

/// The per-process secret mock salts are derived from (PostgreSQL uses the
/// cluster's mock authentication nonce): `salt = SHA-256(role || key)[..16]`, so an
/// unknown role always gets the same salt from one gatehouse process, and salts
/// cannot be told apart from real ones.
#[derive(Clone)]
pub struct MockAuthKey([u8; 32]);

impl MockAuthKey {
    /// A fresh random key (once per process).
    pub fn random() -> MockAuthKey {
        MockAuthKey(crypto::random_bytes())
    }

    /// A given key (tests, or one kept across restarts).
    pub fn from_bytes(key: [u8; 32]) -> MockAuthKey {
        MockAuthKey(key)
    }

    fn salt(&self, role: &str) -> Vec<u8> {
        let mut input = role.as_bytes().to_vec();
        input.extend_from_slice(&self.0);
        crypto::sha256(&input)[..SCRAM_DEFAULT_SALT_LEN].to_vec()
    }
}

impl fmt::Debug for MockAuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MockAuthKey(<redacted>)")
    }
}

/// What the exchange verifies against.
#[derive(Clone)]
struct Verifier {
    secret: ScramSecret,
    /// `Some` for a mock exchange: it fails at the proof for this reason.
    doomed: Option<ProofFailure>,
    /// Derived here from a clear-text password with a random salt: the recovered
    /// ClientKey is then useless upstream.
    adhoc: bool,
}

/// A SCRAM exchange before the client's first message.
pub struct ScramServer {
    verifier: Verifier,
    /// The `tls-server-end-point` hash of our certificate, when TLS is on.
    channel_binding: Option<Vec<u8>>,
    server_nonce: ScramNonce,
}

impl ScramServer {
    /// An exchange for `role` with its SCRAM secret, or a mock one when `role_secret`
    /// is `None` (unknown role, no password). `channel_binding` is the
    /// `tls-server-end-point` hash of the certificate this connection presented
    /// (`None` without TLS; an empty hash counts as `None`). `mock_key` makes the
    /// mock salt.
    pub fn new(
        role: &str,
        role_secret: Option<&ScramSecret>,
        mock_key: &MockAuthKey,
        channel_binding: Option<Vec<u8>>,
        server_nonce: ScramNonce,
    ) -> ScramServer {
        let verifier = match role_secret {
            Some(secret) => Verifier {
                secret: secret.clone(),
                doomed: None,
                adhoc: false,
            },
            None => mock_verifier(role, mock_key, ProofFailure::NoSecret),
        };
        ScramServer::with_verifier(verifier, channel_binding, server_nonce)
    }

    /// An exchange for whatever `role` has stored: a SCRAM secret is used as is; a
    /// clear-text password (userlist) gets a secret derived on the spot with a random
    /// salt and 4096 iterations (as PgBouncer); an MD5 hash cannot do SCRAM and, like
    /// no secret or an empty password, gives a mock exchange (PostgreSQL's
    /// `scram_init`).
    pub fn for_stored_secret(
        role: &str,
        stored: Option<&StoredSecret>,
        mock_key: &MockAuthKey,
        channel_binding: Option<Vec<u8>>,
        server_nonce: ScramNonce,
    ) -> ScramServer {
        let verifier = match stored {
            Some(StoredSecret::Scram(secret)) => Verifier {
                secret: secret.clone(),
                doomed: None,
                adhoc: false,
            },
            Some(StoredSecret::Plain(password)) if !password.is_empty() => Verifier {
                secret: ScramSecret::generate(password, SCRAM_DEFAULT_ITERATIONS),
                doomed: None,
                adhoc: true,
            },
            Some(StoredSecret::Md5(_)) => {
                mock_verifier(role, mock_key, ProofFailure::NotScramSecret)
            }
            Some(StoredSecret::Plain(_)) | None => {
                mock_verifier(role, mock_key, ProofFailure::NoSecret)
            }
        };
        ScramServer::with_verifier(verifier, channel_binding, server_nonce)
    }

    fn with_verifier(
        verifier: Verifier,
        channel_binding: Option<Vec<u8>>,
        server_nonce: ScramNonce,
    ) -> ScramServer {
        ScramServer {
            verifier,
            channel_binding: channel_binding.filter(|cb| !cb.is_empty()),
            server_nonce,
        }
    }

    /// The mechanisms to offer in AuthenticationSASL, in PostgreSQL's order:
    /// `SCRAM-SHA-256-PLUS` first when channel binding data is available.
    pub fn mechanisms(&self) -> &'static [&'static str] {
        if self.channel_binding.is_some() {
            &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256]
        } else {
            &[SCRAM_SHA_256]
        }
    }

    /// The mechanism the client chose in SASLInitialResponse. Use this step alone
    /// when the client sent no initial response (length -1): PostgreSQL then answers
    /// with an empty AuthenticationSASLContinue and reads client-first next.
    pub fn select_mechanism(self, mechanism: &str) -> Result<ScramServerSelected, ScramError> {
        let channel_binding_in_use = match mechanism {
            SCRAM_SHA_256_PLUS if self.channel_binding.is_some() => true,
            SCRAM_SHA_256 => false,
            _ => return Err(ScramError::InvalidMechanism),
        };
        Ok(ScramServerSelected {
            server: self,
            channel_binding_in_use,
        })
    }

    /// [`ScramServer::select_mechanism`] then [`ScramServerSelected::client_first`]:
    /// the usual SASLInitialResponse carrying client-first-message.
    pub fn client_first(
        self,
        mechanism: &str,
        message: &[u8],
    ) -> Result<(ScramServerChallenged, String), ScramError> {
        self.select_mechanism(mechanism)?.client_first(message)
    }
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanisms", &self.mechanisms())
            .finish_non_exhaustive()
    }
}

fn mock_verifier(role: &str, key: &MockAuthKey, why: ProofFailure) -> Verifier {
    Verifier {
        secret: ScramSecret {
            iterations: SCRAM_DEFAULT_ITERATIONS,
            salt: key.salt(role),
            stored_key: [0; KEY_LEN],
            server_key: [0; KEY_LEN],
        },
        doomed: Some(why),
        adhoc: false,
    }
}

/// The mechanism is chosen; client-first-message comes next.
pub struct ScramServerSelected {
    server: ScramServer,
    channel_binding_in_use: bool,
}

impl fmt::Debug for ScramServerSelected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServerSelected")
            .field("channel_binding_in_use", &self.channel_binding_in_use)
            .finish_non_exhaustive()
    }
}

/// Common checks of both client messages (PostgreSQL's `scram_exchange`), plus the
/// size budget.
fn check_message(message: &[u8]) -> Result<(), ScramError> {
    if message.is_empty() {
        return Err(M::Empty.into());
    }
    if message.len() > MAX_SCRAM_MESSAGE_LEN {
        return Err(M::TooLong { len: message.len() }.into());
    }
    if message.contains(&0) {
        return Err(M::LengthMismatch.into());
    }
    Ok(())
}

/// A read position in a message; reads past the end see a NUL, as PostgreSQL's
/// parser sees the string terminator.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn peek(&self) -> u8 {
        self.buf.get(self.pos).copied().unwrap_or(0)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn bump(&mut self) {
        self.pos = (self.pos + 1).min(self.buf.len());
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The value up to the next comma (consumed) or the end.
    pub(crate) fn value(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
        self.pos += len;
        if !self.at_end() {
            self.pos += 1;
        }
        &rest[..len]
    }
}

/// PostgreSQL's `read_attr_value`: `attr=value`.
fn read_attr_value<'a>(cur: &mut Cursor<'a>, attr: u8) -> Result<&'a [u8], ScramError> {
    let found = cur.peek();
    if found != attr {
        return Err(M::ExpectedAttribute {
            expected: attr,
            found,
        }
        .into());
    }
    cur.bump();
    if cur.peek() != b'=' {
        return Err(M::ExpectedEquals { attr }.into());
    }
    cur.bump();
    Ok(cur.value())
}

/// PostgreSQL's `read_any_attr`: any `ALPHA=value`.
fn read_any_attr<'a>(cur: &mut Cursor<'a>) -> Result<(u8, &'a [u8]), ScramError> {
    let attr = cur.peek();
    if cur.at_end() {
        return Err(M::AttributeExpectedEnd.into());
    }
    if !attr.is_ascii_alphabetic() {
        return Err(M::AttributeInvalidChar { found: attr }.into());
    }
    cur.bump();
    if cur.peek() != b'=' {
        return Err(M::ExpectedEquals { attr }.into());
    }
    cur.bump();
    Ok((attr, cur.value()))
}

impl ScramServerSelected {
    /// Reads client-first-message as PostgreSQL's `read_client_first_message` and
    /// returns the next state with server-first-message
    /// (`r=<client nonce><server nonce>,s=<salt>,i=<iterations>`).
    pub fn client_first(
        self,
        message: &[u8],
    ) -> Result<(ScramServerChallenged, String), ScramError> {
        check_message(message)?;
        let supports_binding = self.server.channel_binding.is_some();
        let in_use = self.channel_binding_in_use;
        let mut cur = Cursor::new(message);
        let cbind_flag = cur.peek();
        match cbind_flag {
            b'n' | b'y' => {
                if in_use {
                    return Err(M::PlusWithoutBinding.into());
                }
                if cbind_flag == b'y' && supports_binding {
                    return Err(ScramError::ChannelBindingNegotiation);
                }
                cur.bump();
                if cur.peek() != b',' {
                    return Err(M::CommaExpected { found: cur.peek() }.into());
                }
                cur.bump();
            }
            b'p' => {
                if !in_use {
                    return Err(M::BindingWithoutPlus.into());
                }
                let kind = read_attr_value(&mut cur, b'p')?;
                if kind != b"tls-server-end-point" {
                    return Err(ScramError::UnsupportedChannelBindingType(sanitize_str(
                        kind,
                    )));
                }
            }
            found => return Err(M::UnexpectedChannelBindingFlag { found }.into()),
        }
        if cur.peek() == b'a' {
            return Err(ScramError::AuthzidUnsupported);
        }
        if cur.peek() != b',' {
            return Err(M::UnexpectedAttribute { found: cur.peek() }.into());
        }
        cur.bump();
        let bare = cur.rest().to_vec();
        if cur.peek() == b'm' {
            return Err(ScramError::UnsupportedExtension);
        }
        let _ignored_user = read_attr_value(&mut cur, b'n')?;
        let client_nonce = read_attr_value(&mut cur, b'r')?;
        if !is_printable(client_nonce) {
            return Err(ScramError::NonPrintableNonce);
        }
        // Optional extensions: parsed, ignored.
        while !cur.at_end() {
            read_any_attr(&mut cur)?;
        }

        let client_nonce = String::from_utf8_lossy(client_nonce).into_owned();
        let ScramServer {
            verifier,
            channel_binding,
            server_nonce,
        } = self.server;
        let server_first = format!(
            "r={client_nonce}{},s={},i={}",
            server_nonce.as_str(),
            crypto::b64_encode(&verifier.secret.salt),
            verifier.secret.iterations
        );
        let state = ScramServerChallenged {
            verifier,
            channel_binding: if in_use { channel_binding } else { None },
            cbind_flag,
            client_first_bare: bare,
            combined_nonce: format!("{client_nonce}{}", server_nonce.as_str()),
            server_first: server_first.clone(),
        };
        Ok((state, server_first))
    }
}

/// server-first-message is sent; client-final-message comes next. Consumed by
/// [`ScramServerChallenged::client_final`], so a final message cannot be replayed.
pub struct ScramServerChallenged {
    verifier: Verifier,
    /// Our certificate hash, when the client chose `SCRAM-SHA-256-PLUS`.
    channel_binding: Option<Vec<u8>>,
    cbind_flag: u8,
    client_first_bare: Vec<u8>,
    combined_nonce: String,
    server_first: String,
}

impl fmt::Debug for ScramServerChallenged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServerChallenged")
            .field("channel_binding_in_use", &self.channel_binding.is_some())
            .field("server_first", &self.server_first)
            .finish_non_exhaustive()
    }
}

impl ScramServerChallenged {
    /// The server-first-message sent.
    pub fn server_first_message(&self) -> &str {
        &self.server_first
    }

    /// Reads client-final-message as PostgreSQL's `read_client_final_message`, then
    /// checks the nonce and the proof (constant-time; computed in a mock exchange too,
    /// before it fails, as PostgreSQL does against timing probes).
    pub fn client_final(self, message: &[u8]) -> Result<ScramServerSuccess, ScramError> {
        check_message(message)?;
        let mut cur = Cursor::new(message);
        let binding = read_attr_value(&mut cur, b'c')?;
        match &self.channel_binding {
            Some(cert_hash) => {
                let mut input = CBIND_HEADER.to_vec();
                input.extend_from_slice(cert_hash);
                if binding != crypto::b64_encode(&input).as_bytes() {
                    return Err(ScramError::ChannelBindingMismatch);
                }
            }
            None => {
                let ok = (binding == b"biws" && self.cbind_flag == b'n')
                    || (binding == b"eSws" && self.cbind_flag == b'y');
                if !ok {
                    return Err(ScramError::UnexpectedChannelBinding);
                }
            }
        }
        let final_nonce = read_attr_value(&mut cur, b'r')?;
        // Extensions are skipped up to the proof; `proof_start` is the comma before.
        let (proof_start, proof) = loop {
            let start = cur.pos().saturating_sub(1);
            let (attr, value) = read_any_attr(&mut cur)?;
            if attr == b'p' {
                break (start, value);
            }
        };
        let proof: Key = crypto::pg_b64_decode(proof)
            .and_then(|p| p.try_into().ok())
            .ok_or(M::MalformedProof)?;
        if !cur.at_end() {
            return Err(M::Garbage.into());
        }
        let without_proof = &message[..proof_start];

        if final_nonce != self.combined_nonce.as_bytes() {
            return Err(ScramError::NonceMismatch);
        }

        let secret = &self.verifier.secret;
        let auth_message: [&[u8]; 5] = [
            &self.client_first_bare,
            b",",
            self.server_first.as_bytes(),
            b",",
            without_proof,
        ];
        let client_signature = crypto::hmac(&secret.stored_key, &auth_message);
        let client_key = crypto::xor(&proof, &client_signature);
        let proof_ok = crypto::ct_eq(&crypto::sha256(&client_key), &secret.stored_key);
        if let Some(why) = self.verifier.doomed {
            return Err(ScramError::InvalidProof(why));
        }
        if !proof_ok {
            return Err(ScramError::InvalidProof(ProofFailure::WrongProof));
        }
        let server_signature = crypto::hmac(&secret.server_key, &auth_message);
        Ok(ScramServerSuccess {
            server_final: format!("v={}", crypto::b64_encode(&server_signature)),
            client_key,
            server_key: secret.server_key,
            adhoc: self.verifier.adhoc,
            channel_bound: self.channel_binding.is_some(),
        })
    }
}

/// A successful exchange: send [`ScramServerSuccess::server_final`] in
/// AuthenticationSASLFinal, then AuthenticationOk.
pub struct ScramServerSuccess {
    server_final: String,
    client_key: Key,
    server_key: Key,
    adhoc: bool,
    channel_bound: bool,
}

impl ScramServerSuccess {
    /// server-final-message, `v=<ServerSignature>`.
    pub fn server_final(&self) -> &str {
        &self.server_final
    }

    /// The ClientKey recovered from the proof (`ClientProof XOR ClientSignature`).
    pub fn client_key(&self) -> [u8; 32] {
        self.client_key
    }

    /// Whether the exchange was `SCRAM-SHA-256-PLUS` with a verified channel binding.
    pub fn channel_bound(&self) -> bool {
        self.channel_bound
    }

    /// Credentials to log in upstream with the client's own proof of the password
    /// (pass-through, as PgBouncer does): the recovered ClientKey and the secret's
    /// ServerKey. They only work against a server storing the same secret (same salt
    /// and iterations). `None` when the secret was derived here from a clear-text
    /// password with a random salt; use that password upstream instead.
    pub fn pass_through_credentials(&self) -> Option<ScramCredentials> {
        (!self.adhoc).then_some(ScramCredentials::ClientKey {
            client_key: self.client_key,
            server_key: self.server_key,
        })
    }
}

impl fmt::Debug for ScramServerSuccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServerSuccess")
            .field("server_final", &self.server_final)
            .field("channel_bound", &self.channel_bound)
            .finish_non_exhaustive()
    }
}
