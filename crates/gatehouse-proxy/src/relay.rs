//! Layer 5, second half: relaying a session both ways.
//!
//! Each direction copies whatever bytes arrive, without reassembling messages,
//! while a [`Framer`] follows the message boundaries (5-byte header, then the
//! body) so that the relay knows two things without copying anything: when the
//! client sends Terminate ('X'), and whether the server's last message was a
//! ReadyForQuery with status idle. Both are needed to hand a clean upstream
//! connection back for reuse (see [`crate::pool`]); plain relaying only needs
//! the copies.

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::stream::BoxedIo;

/// Size of each direction's copy buffer (bytes).
pub const RELAY_BUFFER: usize = 8 * 1024;

/// Follows message boundaries of one direction of a protocol-3 stream.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    header: [u8; 5],
    header_len: usize,
    /// Body bytes still to come of the current message.
    remaining: usize,
    /// Tag of the message in progress (or last completed).
    tag: u8,
    /// For ReadyForQuery: its status byte, once seen.
    status: Option<u8>,
    /// The last completed message was ReadyForQuery('I').
    idle: bool,
    /// A length word below 4: the stream is not protocol 3 any more.
    broken: bool,
}

impl Framer {
    /// Feeds `data`; returns the offset where a message with tag `stop` begins,
    /// if one begins in `data` (the bytes from there on are not consumed).
    pub fn feed(&mut self, data: &[u8], stop: Option<u8>) -> Option<usize> {
        let mut i = 0;
        while i < data.len() && !self.broken {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len() - i);
                if self.tag == b'Z' && self.status.is_none() {
                    self.status = Some(data[i]);
                }
                self.remaining -= take;
                i += take;
                if self.remaining == 0 {
                    self.finish();
                }
                continue;
            }
            if self.header_len == 0 && stop == Some(data[i]) {
                return Some(i);
            }
            self.header[self.header_len] = data[i];
            self.header_len += 1;
            i += 1;
            if self.header_len == 5 {
                self.header_len = 0;
                self.tag = self.header[0];
                self.status = None;
                self.idle = false;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                if len < 4 {
                    self.broken = true;
                    break;
                }
                self.remaining = (len - 4) as usize;
                if self.remaining == 0 {
                    self.finish();
                }
            } else {
                self.idle = false;
            }
        }
        None
    }

    fn finish(&mut self) {
        self.idle = self.tag == b'Z' && self.status == Some(b'I');
    }

    /// The stream is between messages and the last one was ReadyForQuery('I').
    pub fn is_idle(&self) -> bool {
        self.idle && self.header_len == 0 && self.remaining == 0 && !self.broken
    }
}

/// How a relayed session ended.
pub enum RelayEnd {
    /// The client sent Terminate. `upstream` is handed back; `idle` says whether
    /// the server was between messages after ReadyForQuery('I').
    ClientTerminated {
        /// The upstream connection, whole again.
        upstream: BoxedIo,
        /// Safe to reset and reuse.
        idle: bool,
    },
    /// Either side closed or failed; everything is dropped.
    Closed {
        /// Bytes client → upstream.
        to_upstream: u64,
        /// Bytes upstream → client.
        to_client: u64,
    },
}

/// Relays until one side ends. `client_rest` / `upstream_rest` are bytes already
/// read past the startup phase (a client may pipeline its first query); they are
/// sent first and followed by the framers like the rest. `watch_terminate`: stop
/// at the client's Terminate (not forwarded) and hand the upstream back;
/// otherwise Terminate is relayed like any message.
pub async fn relay(
    client: BoxedIo,
    upstream: BoxedIo,
    client_rest: &[u8],
    upstream_rest: &[u8],
    watch_terminate: bool,
) -> RelayEnd {
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let mut client_framer = Framer::default();
    let mut server_framer = Framer::default();
    let mut up_bytes = 0u64;
    let mut down_bytes = 0u64;
    let stop = watch_terminate.then_some(b'X');
    let early = client_framer.feed(client_rest, stop);
    server_framer.feed(upstream_rest, None);
    let sent = async {
        uw.write_all(&client_rest[..early.unwrap_or(client_rest.len())])
            .await?;
        cw.write_all(upstream_rest).await
    };
    if sent.await.is_err() {
        return RelayEnd::Closed {
            to_upstream: 0,
            to_client: 0,
        };
    }
    let outcome = if early.is_some() {
        Ended::Stopped
    } else {
        let up = copy_dir(&mut cr, &mut uw, &mut client_framer, stop, &mut up_bytes);
        let down = copy_dir(&mut ur, &mut cw, &mut server_framer, None, &mut down_bytes);
        tokio::select! {
            r = up => r,
            _ = down => Ended::Closed,
        }
    };
    match outcome {
        Ended::Stopped => {
            let _ = cw.shutdown().await;
            RelayEnd::ClientTerminated {
                upstream: ur.unsplit(uw),
                idle: server_framer.is_idle(),
            }
        }
        Ended::Closed => {
            let _ = cw.shutdown().await;
            let _ = uw.shutdown().await;
            RelayEnd::Closed {
                to_upstream: up_bytes,
                to_client: down_bytes,
            }
        }
    }
}

enum Ended {
    /// The stop tag was seen (the bytes before it were forwarded).
    Stopped,
    /// EOF or an error on either end.
    Closed,
}

async fn copy_dir(
    from: &mut ReadHalf<BoxedIo>,
    to: &mut WriteHalf<BoxedIo>,
    framer: &mut Framer,
    stop: Option<u8>,
    count: &mut u64,
) -> Ended {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return Ended::Closed,
            Ok(n) => n,
        };
        let cut = framer.feed(&buf[..n], stop);
        let end = cut.unwrap_or(n);
        if end > 0 && to.write_all(&buf[..end]).await.is_err() {
            return Ended::Closed;
        }
        *count += end as u64;
        if cut.is_some() {
            let _ = to.flush().await;
            return Ended::Stopped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn finds_terminate_only_at_a_boundary_in_any_split() {
        let mut stream = msg(b'Q', b"SELECT 'X'\0");
        stream.extend(msg(b'P', b"X\0X\0\0\0"));
        let at = stream.len();
        stream.extend(msg(b'X', b""));
        for cut in 0..=stream.len() {
            let mut f = Framer::default();
            let first = f.feed(&stream[..cut], Some(b'X'));
            let found = match first {
                Some(i) => Some(i),
                None => f.feed(&stream[cut..], Some(b'X')).map(|i| i + cut),
            };
            assert_eq!(found, Some(at), "split at {cut}");
        }
    }

    #[test]
    fn idle_after_ready_for_query_i_only() {
        let mut s = msg(b'T', b"\0\0");
        s.extend(msg(b'Z', b"I"));
        for cut in 0..=s.len() {
            let mut f = Framer::default();
            f.feed(&s[..cut], None);
            f.feed(&s[cut..], None);
            assert!(f.is_idle(), "split at {cut}");
        }
        let mut f = Framer::default();
        f.feed(&msg(b'Z', b"T"), None);
        assert!(!f.is_idle());
        f.feed(&msg(b'Z', b"I")[..3], None);
        assert!(!f.is_idle());
        let mut f = Framer::default();
        f.feed(&[b'Z', 0, 0, 0, 2], None);
        assert!(!f.is_idle());
    }
}
