//! The HTTP/1.1 client for requests under test: the request target is sent byte for byte.
//!
//! General-purpose clients (reqwest, anything built on `url`) normalise `..` and percent-escapes,
//! which would hide exactly the traversal defects the suite looks for. This client hands the
//! target to hyper when `http::Uri` keeps it unchanged, and otherwise (raw non-ASCII, a
//! backslash, a space, control bytes, or a header hyper refuses) writes the request by hand over
//! a `TcpStream` and parses the response with httparse. One connection per request.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request exactly as it goes on the wire (headers in order, names as written).
#[derive(Debug, Clone, Serialize)]
pub struct WireRequest {
    pub method: String,
    /// The request target (path and query), sent byte for byte.
    pub target: String,
    /// Credentials are shortened when serialised (reports must not carry usable tokens).
    #[serde(serialize_with = "ser_request_headers")]
    pub headers: Vec<(String, String)>,
    #[serde(serialize_with = "ser_body")]
    pub body: Bytes,
}

/// A header value fit for a report: `authorization`/`cookie` values are cut after 12
/// characters of the credential, enough to tell tokens apart and useless to replay.
pub fn shown_header_value(name: &str, value: &str) -> String {
    if !(name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie")) {
        return value.to_owned();
    }
    let (scheme, cred) = value.split_once(' ').unwrap_or(("", value));
    if cred.len() <= 12 {
        return value.to_owned();
    }
    let cut: String = cred.chars().take(12).collect();
    if scheme.is_empty() {
        format!("{cut}…(redacted)")
    } else {
        format!("{scheme} {cut}…(redacted)")
    }
}

fn ser_request_headers<S: serde::Serializer>(
    headers: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for (k, v) in headers {
        seq.serialize_element(&(k, shown_header_value(k, v)))?;
    }
    seq.end()
}

/// A complete response.
#[derive(Debug, Clone, Serialize)]
pub struct WireResponse {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    #[serde(serialize_with = "ser_body")]
    pub body: Bytes,
}

impl WireResponse {
    /// All values of a header joined with `, ` (RFC 9110 §5.3), or `None`.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn ser_body<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// How a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Hyper,
    /// Written by hand because `http` refused the target or a header.
    Raw,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("failed to exchange HTTP messages: {0}")]
    Http(String),
}

/// One request and what came back.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub request: WireRequest,
    pub response: Option<WireResponse>,
    pub error: Option<String>,
    pub transport: Transport,
    pub duration_ms: u64,
}

/// Send `req` to `authority` (`host:port`).
pub async fn send(authority: &str, req: WireRequest, timeout: Duration) -> Exchange {
    let started = Instant::now();
    let transport = if hyper_can_send(&req) {
        Transport::Hyper
    } else {
        Transport::Raw
    };
    let result = tokio::time::timeout(timeout, async {
        let stream =
            TcpStream::connect(authority)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: authority.to_owned(),
                    source,
                })?;
        let _ = stream.set_nodelay(true);
        match transport {
            Transport::Hyper => send_hyper(stream, &req).await,
            Transport::Raw => send_raw(stream, &req).await,
        }
    })
    .await
    .unwrap_or(Err(ClientError::Timeout(timeout)));
    let duration_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(resp) => Exchange {
            request: req,
            response: Some(resp),
            error: None,
            transport,
            duration_ms,
        },
        Err(e) => Exchange {
            request: req,
            response: None,
            error: Some(e.to_string()),
            transport,
            duration_ms,
        },
    }
}

/// Whether hyper would put exactly these bytes on the wire.
fn hyper_can_send(req: &WireRequest) -> bool {
    let uri_ok = req
        .target
        .parse::<http::Uri>()
        .is_ok_and(|u| u.to_string() == req.target && u.scheme().is_none());
    uri_ok
        && http::Method::from_bytes(req.method.as_bytes()).is_ok()
        && req.headers.iter().all(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && http::HeaderValue::from_bytes(v.as_bytes()).is_ok()
        })
}

async fn send_hyper(stream: TcpStream, req: &WireRequest) -> Result<WireResponse, ClientError> {
    let http_err = |e: &dyn std::fmt::Display| ClientError::Http(e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http_err(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = http::Request::builder()
        .method(req.method.as_bytes())
        .uri(req.target.as_str());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_bytes());
    }
    let request = builder
        .body(Full::new(req.body.clone()))
        .map_err(|e| http_err(&e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| http_err(&e))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| http_err(&e))?.to_bytes();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(WireResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    })
}

/// The request's bytes as written by hand.
pub fn encode_raw(req: &WireRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + req.body.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (k, v) in &req.headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
    out
}

async fn send_raw(mut stream: TcpStream, req: &WireRequest) -> Result<WireResponse, ClientError> {
    let io = |e: std::io::Error| ClientError::Http(e.to_string());
    stream.write_all(&encode_raw(req)).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = Vec::new();
    // The server may close without reading all of a refused request; keep what arrived.
    if let Err(e) = stream.read_to_end(&mut buf).await
        && buf.is_empty()
    {
        return Err(io(e));
    }
    parse_response(&buf, req.method.eq_ignore_ascii_case("HEAD"))
}

/// Parse a complete HTTP/1.1 response read until the connection closed.
pub fn parse_response(buf: &[u8], head_only: bool) -> Result<WireResponse, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::Http(format!(
                "incomplete response head ({} bytes before the connection closed)",
                buf.len()
            )));
        }
        Err(e) => return Err(ClientError::Http(format!("malformed response: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let rest = &buf[head_len..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only || status == 204 || status == 304 {
        Bytes::new()
    } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        Bytes::from(dechunk(rest)?)
    } else if let Some(len) = find("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        Bytes::copy_from_slice(&rest[..len.min(rest.len())])
    } else {
        Bytes::copy_from_slice(rest)
    };
    Ok(WireResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(out);
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_owned();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| ClientError::Http(format!("bad chunk size {size_text:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        data = data.get(take + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_refuses_what_it_would_change() {
        let req = |t: &str| WireRequest {
            method: "GET".into(),
            target: t.into(),
            headers: vec![],
            body: Bytes::new(),
        };
        assert!(hyper_can_send(&req("/servers/../rpc")));
        assert!(hyper_can_send(&req("/a%2e%2e/b?x=1")));
        assert!(!hyper_can_send(&req("/a\u{0}b")));
        assert!(!hyper_can_send(&req("/a b")));
    }

    #[test]
    fn parses_chunked_and_length_bodies() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(&r.body[..], b"abcde");
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\n{}",
            false,
        )
        .unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.header("X-A").as_deref(), Some("1, 2"));
        assert_eq!(&r.body[..], b"{}");
    }

    /// Accept one connection, return the request head it received, answer 400.
    async fn capture_one() -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
            )
            .await
            .unwrap();
            buf
        });
        (addr, handle)
    }

    async fn first_line_sent(target: &str) -> (String, Transport, u16) {
        let (addr, handle) = capture_one().await;
        let req = WireRequest {
            method: "GET".into(),
            target: target.into(),
            headers: vec![("host".into(), addr.clone())],
            body: Bytes::new(),
        };
        let ex = send(&addr, req, Duration::from_secs(5)).await;
        let head = handle.await.unwrap();
        let line = head.split(|b| *b == b'\r').next().unwrap().to_vec();
        (
            String::from_utf8(line).unwrap(),
            ex.transport,
            ex.response.map_or(0, |r| r.status),
        )
    }

    #[tokio::test]
    async fn targets_reach_the_wire_byte_for_byte() {
        let (line, t, status) = first_line_sent("/servers/../rpc?x=%2e%2E").await;
        assert_eq!(line, "GET /servers/../rpc?x=%2e%2E HTTP/1.1");
        assert_eq!((t, status), (Transport::Hyper, 400));
        let (line, t, status) = first_line_sent("/servers/hello world/mcp").await;
        assert_eq!(line, "GET /servers/hello world/mcp HTTP/1.1");
        assert_eq!((t, status), (Transport::Raw, 400));
        let (line, t, _) = first_line_sent("/a\u{1}b").await;
        assert_eq!(line, "GET /a\u{1}b HTTP/1.1");
        assert_eq!(t, Transport::Raw);
    }
}
