//! Shared by the SCRAM test files: RFC 7677's values and exchange helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_proxy::auth::*;

// RFC 7677 section 3.
pub const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
pub const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
pub const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
pub const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
pub const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
pub const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
pub const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

pub fn nonce(s: &str) -> ScramNonce {
    ScramNonce::new(s).unwrap()
}

pub fn rfc_secret() -> ScramSecret {
    static SECRET: OnceLock<ScramSecret> = OnceLock::new();
    SECRET
        .get_or_init(|| {
            ScramSecret::from_password("pencil", &STANDARD.decode(RFC_SALT).unwrap(), 4096)
        })
        .clone()
}

pub fn mock_key() -> MockAuthKey {
    MockAuthKey::from_bytes([7; 32])
}

pub fn server(secret: &ScramSecret, cb: Option<Vec<u8>>) -> ScramServer {
    ScramServer::new(
        "user",
        Some(secret),
        &mock_key(),
        cb,
        nonce(RFC_SERVER_NONCE),
    )
}

pub fn client(password: &str, cb: ClientChannelBinding) -> ScramClient {
    ScramClient::new(
        ScramCredentials::Password(password.into()),
        cb,
        nonce(RFC_CLIENT_NONCE),
    )
}

/// Runs a whole exchange; the error of whichever side failed, as text.
pub fn exchange(server: ScramServer, client: ScramClient) -> Result<ScramServerSuccess, String> {
    let mechanism = client.mechanism();
    let (client, first) = client.client_first();
    let (server, server_first) = server
        .client_first(mechanism, first.as_bytes())
        .map_err(|e| format!("server: {e:?}"))?;
    let (client, fin) = client
        .server_first(server_first.as_bytes())
        .map_err(|e| format!("client: {e:?}"))?;
    let success = server
        .client_final(fin.as_bytes())
        .map_err(|e| format!("server: {e:?}"))?;
    client
        .server_final(success.server_final().as_bytes())
        .map_err(|e| format!("client: {e:?}"))?;
    Ok(success)
}
