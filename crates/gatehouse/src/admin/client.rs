//! The CLI side of the admin API: one HTTP/1.1 request over the Unix socket
//! (hyper), JSON in and out.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Sends `method path` with an optional JSON body to the gateway's admin socket;
/// returns the JSON answer, or the API's error message.
pub fn call(socket: &Path, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .with_context(|| {
                format!(
                "cannot reach the admin API at {} (is `gatehouse serve` running with this config?)",
                socket.display()
            )
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("admin API handshake")?;
        tokio::spawn(conn);
        let bytes = match body {
            Some(v) => Bytes::from(serde_json::to_vec(v)?),
            None => Bytes::new(),
        };
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "gatehouse")
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .context("admin API request")?;
        let response = sender
            .send_request(request)
            .await
            .context("admin API request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("admin API answer")?
            .to_bytes();
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| anyhow!("admin API answered {status} with non-JSON ({e})"))?;
        if !status.is_success() {
            let msg = value["error"].as_str().unwrap_or("unknown error");
            bail!("{msg}");
        }
        Ok(value)
    })
}
