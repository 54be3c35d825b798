//! HTTP/1.1 exchanges on one kept-alive connection, written and parsed here. hyper's
//! client runs each connection as a task of its own fed through a channel, so every
//! request woke two tasks, and it built and dropped a header map per request: the load
//! tool spent more CPU per request than some servers it measures, on the cores they
//! share (docs/performance-history.md). Event streams still go through hyper.

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bodies up to this size are copied behind the head and sent in one write.
const COALESCE: usize = 64 * 1024;
/// An answer's head (status line and headers) may not be longer than this.
const MAX_HEAD: usize = 64 * 1024;

pub struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: Vec<u8>,
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// Why an exchange failed, and whether the request may be sent again elsewhere.
#[derive(Debug)]
pub enum Failure {
    /// The connection failed before any byte of an answer came back: a kept-alive
    /// connection the server had already closed.
    Unanswered(io::Error),
    /// It failed part-way through the answer, or the answer was not HTTP.
    Broken(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unanswered(e) => write!(f, "no answer: {e}"),
            Failure::Broken(m) => f.write_str(m),
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The parts of an answer's head the exchange needs.
struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    close: bool,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(format!("answer head longer than {MAX_HEAD} bytes"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the answer is not HTTP/1.1: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut close = resp.version == Some(0);
    let mut framing = if matches!(status, 204 | 304) {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if !matches!(framing, Framing::Chunked) {
                let n = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(Head {
        len,
        status,
        close: close || matches!(framing, Framing::UntilClose),
        framing,
    }))
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            read: BytesMut::with_capacity(16 * 1024),
            write: Vec::with_capacity(4 * 1024),
        }
    }

    /// Sends `head` (the request line and headers, ending in the blank line) and `body`,
    /// and reads the answer.
    pub async fn exchange(&mut self, head: &[u8], body: &[u8]) -> Result<Answer, Failure> {
        if !self.read.is_empty() {
            return Err(Failure::Unanswered(io::Error::other(
                "the server sent bytes nobody asked for",
            )));
        }
        self.send(head, body).await.map_err(Failure::Unanswered)?;
        let head = loop {
            match parse_head(&self.read).map_err(Failure::Broken)? {
                Some(h) if (100..200).contains(&h.status) => {
                    let _ = self.read.split_to(h.len);
                }
                Some(h) => break h,
                None => {
                    let nothing_yet = self.read.is_empty();
                    match self.fill().await {
                        Ok(true) => {}
                        Ok(false) if nothing_yet => {
                            return Err(Failure::Unanswered(io::ErrorKind::UnexpectedEof.into()))
                        }
                        Ok(false) => return Err(closed("the answer's head")),
                        Err(e) if nothing_yet => return Err(Failure::Unanswered(e)),
                        Err(e) => return Err(Failure::Broken(format!("reading the answer: {e}"))),
                    }
                }
            }
        };
        let _ = self.read.split_to(head.len);
        let body = match head.framing {
            Framing::Length(n) => self.fixed(n).await?,
            Framing::Chunked => self.chunked().await?,
            Framing::UntilClose => {
                while self.fill().await.map_err(broken)? {}
                self.read.split().freeze()
            }
        };
        Ok(Answer {
            status: head.status,
            body,
            reusable: !head.close,
        })
    }

    async fn send(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        if body.len() <= COALESCE {
            self.write.clear();
            self.write.extend_from_slice(head);
            self.write.extend_from_slice(body);
            self.stream.write_all(&self.write).await
        } else {
            self.stream.write_all(head).await?;
            self.stream.write_all(body).await
        }
    }

    /// Reads more of the answer; `false` at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        self.read.reserve(16 * 1024);
        Ok(self.stream.read_buf(&mut self.read).await? > 0)
    }

    async fn fixed(&mut self, n: usize) -> Result<Bytes, Failure> {
        self.read.reserve(n.saturating_sub(self.read.len()));
        while self.read.len() < n {
            if !self.fill().await.map_err(broken)? {
                return Err(closed("the answer's body"));
            }
        }
        Ok(self.read.split_to(n).freeze())
    }

    async fn line(&mut self) -> Result<BytesMut, Failure> {
        loop {
            if let Some(i) = self.read.windows(2).position(|w| w == b"\r\n") {
                let line = self.read.split_to(i);
                let _ = self.read.split_to(2);
                return Ok(line);
            }
            if self.read.len() > MAX_HEAD {
                return Err(Failure::Broken("a chunk line is too long".into()));
            }
            if !self.fill().await.map_err(broken)? {
                return Err(closed("a chunked body"));
            }
        }
    }

    async fn chunked(&mut self) -> Result<Bytes, Failure> {
        let mut body = BytesMut::new();
        loop {
            let line = self.line().await?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| Failure::Broken("bad chunk size".into()))?;
            if size == 0 {
                // Trailers, up to the blank line.
                while !self.line().await?.is_empty() {}
                return Ok(body.freeze());
            }
            body.extend_from_slice(&self.fixed(size).await?);
            if !self.line().await?.is_empty() {
                return Err(Failure::Broken("a chunk runs past its size".into()));
            }
        }
    }
}

fn broken(e: io::Error) -> Failure {
    Failure::Broken(format!("reading the answer: {e}"))
}

fn closed(what: &str) -> Failure {
    Failure::Broken(format!("the connection closed in {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that reads one request head and answers each of `answers` in turn, one
    /// per request, then closes.
    async fn server(answers: Vec<&'static [u8]>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            for answer in answers {
                loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        break;
                    }
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                s.write_all(answer).await.unwrap();
            }
        });
        port
    }

    async fn open(port: u16) -> Conn {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Conn::new(tcp)
    }

    async fn ask(conn: &mut Conn) -> Result<Answer, Failure> {
        conn.exchange(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", b"")
            .await
    }

    #[tokio::test]
    async fn reads_answers_by_length_by_chunks_and_to_the_close() {
        let port = server(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nto the end",
        ])
        .await;
        let mut conn = open(port).await;
        let a = ask(&mut conn).await.unwrap();
        assert_eq!(
            (a.status, &a.body[..], a.reusable),
            (200, &b"hello"[..], true)
        );
        let a = ask(&mut conn).await.unwrap();
        assert_eq!(
            (a.status, &a.body[..], a.reusable),
            (400, &b"abcde"[..], true)
        );
        let a = ask(&mut conn).await.unwrap();
        assert_eq!((a.status, a.body.len(), a.reusable), (204, 0, true));
        let a = ask(&mut conn).await.unwrap();
        assert_eq!(
            (a.status, &a.body[..], a.reusable),
            (200, &b"to the end"[..], false)
        );
    }

    #[tokio::test]
    async fn connection_close_ends_reuse() {
        let port = server(vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let mut conn = open(port).await;
        assert!(!ask(&mut conn).await.unwrap().reusable);
    }

    #[tokio::test]
    async fn a_closed_connection_is_unanswered_and_a_cut_answer_broken() {
        let port = server(vec![]).await;
        let mut conn = open(port).await;
        assert!(matches!(ask(&mut conn).await, Err(Failure::Unanswered(_))));

        let port = server(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nshort"]).await;
        let mut conn = open(port).await;
        match ask(&mut conn).await {
            Err(Failure::Broken(m)) => assert!(m.contains("closed"), "{m}"),
            other => panic!("expected a broken answer, got {other:?}"),
        }

        let port = server(vec![b"SMTP ready\r\n\r\n"]).await;
        let mut conn = open(port).await;
        assert!(matches!(ask(&mut conn).await, Err(Failure::Broken(_))));
    }
}
