//! Byte streams of a session and the message framing over them.
//!
//! Client and upstream connections are each one [`Io`] object (plain TCP, TLS
//! over TCP, or a Unix socket), boxed so the phases after negotiation do not
//! care which. [`MessageStream`] adds a read buffer and the codec of
//! [`crate::protocol`]: it reads until one whole message is in, and writes whole
//! messages.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::ProtocolError;

/// Anything a session can read and write: TCP, TLS over TCP, Unix socket.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed [`Io`].
pub type BoxedIo = Box<dyn Io>;

/// Why reading a message failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection (EOF), possibly mid-message; `pending` is
    /// how many bytes of an unfinished message had arrived.
    #[error("connection closed by peer ({pending} bytes of an unfinished message)")]
    Closed {
        /// Bytes left in the buffer.
        pending: usize,
    },
    /// The bytes broke the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The budget for this phase ran out.
    #[error("timed out")]
    TimedOut,
}

/// A stream with a read buffer, read and written one protocol message at a time.
pub struct MessageStream {
    io: BoxedIo,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl MessageStream {
    /// Wraps `io` with empty buffers.
    pub fn new(io: BoxedIo) -> Self {
        Self {
            io,
            rbuf: BytesMut::with_capacity(1024),
            wbuf: BytesMut::with_capacity(1024),
        }
    }

    /// Wraps `io` whose first bytes were already read into `rbuf`.
    pub fn with_buffer(io: BoxedIo, rbuf: BytesMut) -> Self {
        Self {
            io,
            rbuf,
            wbuf: BytesMut::with_capacity(1024),
        }
    }

    /// Reads one message with `parse`, which must follow the codec's contract
    /// (`Ok(None)` while incomplete, consuming nothing). EOF before a whole
    /// message is [`ReadError::Closed`].
    pub async fn read_with<T>(
        &mut self,
        mut parse: impl FnMut(&mut BytesMut) -> Result<Option<T>, ProtocolError>,
    ) -> Result<T, ReadError> {
        loop {
            if let Some(msg) = parse(&mut self.rbuf)? {
                return Ok(msg);
            }
            self.rbuf.reserve(1024);
            let n = self.io.read_buf(&mut self.rbuf).await?;
            if n == 0 {
                return Err(ReadError::Closed {
                    pending: self.rbuf.len(),
                });
            }
        }
    }

    /// [`Self::read_with`] within `budget`.
    pub async fn read_within<T>(
        &mut self,
        budget: Duration,
        parse: impl FnMut(&mut BytesMut) -> Result<Option<T>, ProtocolError>,
    ) -> Result<T, ReadError> {
        match tokio::time::timeout(budget, self.read_with(parse)).await {
            Ok(r) => r,
            Err(_) => Err(ReadError::TimedOut),
        }
    }

    /// Bytes received but not yet parsed.
    pub fn buffered(&self) -> &[u8] {
        &self.rbuf
    }

    /// The write buffer: encoders append to it, [`Self::flush`] sends it.
    pub fn out(&mut self) -> &mut BytesMut {
        &mut self.wbuf
    }

    /// Sends everything queued in the write buffer.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.io.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.io.flush().await
    }

    /// Queues raw bytes (an already encoded message, relayed as is).
    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Gives back the stream and whatever was read past the last message.
    pub fn into_parts(self) -> (BoxedIo, BytesMut) {
        (self.io, self.rbuf)
    }

    /// Closes the write side, ignoring errors (the peer may be gone).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}
