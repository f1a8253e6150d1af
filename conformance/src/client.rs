//! The HTTP/1.1 client for requests under test: the request target is sent byte for byte.
//!
//! General-purpose clients (reqwest, anything built on `url`) normalise `..` and percent-escapes,
//! which would hide exactly the traversal defects the suite looks for. This client hands the
//! target to hyper when `http::Uri` keeps it unchanged, and otherwise (raw non-ASCII, a
//! backslash, a space, control bytes, a header hyper refuses, or a body over 64 KiB) writes the
//! request by hand over a `TcpStream`, reading the response meanwhile, and parses it with
//! httparse. One connection per request, except through a [`Pool`] (keep-alive connections
//! for requests hyper sends, for a fuzz campaign).
//!
//! The gateway under test is suspect, so nothing it sends is trusted to end: every exchange has
//! one deadline for all of it (connecting, sending, head and body) and a cap on the body's size
//! ([`RequestLimits`]). Bodies are read frame by frame and counted, never collected whole; a
//! response cut at a limit keeps its head and the first [`KEPT_BODY_BYTES`] of its body for the
//! transcript, and its error names the limit.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod pool;
pub use pool::Pool;

/// A request exactly as it goes on the wire (headers in order, names as written).
#[derive(Debug, Clone, Serialize)]
pub struct WireRequest {
    pub method: String,
    /// The request target (path and query), sent byte for byte.
    pub target: String,
    /// Credentials are shortened when serialised (reports must not carry usable tokens).
    #[serde(serialize_with = "ser_request_headers")]
    pub headers: Vec<(String, String)>,
    #[serde(serialize_with = "ser_request_body")]
    pub body: Bytes,
}

/// A request body fit for a report: its first [`KEPT_BODY_BYTES`] and how many more were sent
/// (a step that sends 12 MiB on purpose would otherwise put them in every report).
fn ser_request_body<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    if b.len() <= KEPT_BODY_BYTES {
        return ser_body(b, s);
    }
    let head = String::from_utf8_lossy(&b[..KEPT_BODY_BYTES]);
    s.serialize_str(&format!(
        "{head}…({} more bytes not shown)",
        b.len() - KEPT_BODY_BYTES
    ))
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

    /// Whether the body is an SSE stream (`content-type: text/event-stream`).
    pub fn is_event_stream(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
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
    /// Written by hand because `http` refused the target or a header, or the body is larger
    /// than hyper is given.
    Raw,
}

/// The response body size cap when the caller gives none (`--max-response-bytes`): far above
/// any answer the suite expects, far below what would trouble a CI machine.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// How much of the body of a response cut at a limit the exchange keeps, for the transcript.
pub const KEPT_BODY_BYTES: usize = 64 * 1024;

/// How long a response already known to be over the size cap is read on, for the first bytes
/// of its body in the transcript.
const PREFIX_WAIT: Duration = Duration::from_secs(1);

/// The longest response head read by hand (hyper has its own bound, about 400 KiB).
const MAX_HEAD_BYTES: usize = 256 * 1024;

/// What one exchange may take.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// For all of it: connecting, sending the request, receiving head and body.
    pub deadline: Duration,
    /// How messages name the deadline (`--timeout 15 s`).
    pub deadline_name: String,
    /// Bytes of response body after de-chunking; one more and the response is cut.
    pub max_response_bytes: usize,
    /// An SSE response (`text/event-stream`) stays open by design: when set, its body is read
    /// for at most this long after the head, and the exchange then ends with what came, as a
    /// complete response. `None`: read it like any body, until it ends or the deadline passes.
    pub stream_wait: Option<Duration>,
}

impl RequestLimits {
    /// `deadline` for everything, named by its length, and the default size cap.
    pub fn new(deadline: Duration) -> RequestLimits {
        RequestLimits {
            deadline,
            deadline_name: format!("the request deadline of {deadline:?}"),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            stream_wait: None,
        }
    }
}

/// Which limit of [`RequestLimits`] ended an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    /// The body outgrew `max_response_bytes` (or its `content-length` announced it would).
    ResponseBytes,
    /// The deadline passed before the response was complete.
    Deadline,
}

/// Why a request got no complete response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{what} within {deadline}")]
    Timeout { what: String, deadline: String },
    #[error("response body exceeded --max-response-bytes {limit} {how}")]
    TooLarge { limit: usize, how: String },
    #[error("failed to exchange HTTP messages: {0}")]
    Http(String),
}

impl ClientError {
    fn limit_hit(&self) -> Option<LimitHit> {
        match self {
            ClientError::Timeout { .. } => Some(LimitHit::Deadline),
            ClientError::TooLarge { .. } => Some(LimitHit::ResponseBytes),
            _ => None,
        }
    }
}

/// One request and what came back. `response` with `error` is a response cut short (at a
/// limit, or by the connection): its head, and the first [`KEPT_BODY_BYTES`] of its body.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub request: WireRequest,
    pub response: Option<WireResponse>,
    pub error: Option<String>,
    pub transport: Transport,
    pub duration_ms: u64,
}

/// Send `req` to `authority` (`host:port`) with `timeout` for all of it and the default size
/// cap. For callers that need a response whole: one cut short is no response, and the error
/// says why (the limit, or what broke).
pub async fn send(authority: &str, req: WireRequest, timeout: Duration) -> Exchange {
    let (mut exchange, _) = send_within(authority, req, &RequestLimits::new(timeout)).await;
    if exchange.error.is_some() {
        exchange.response = None;
    }
    exchange
}

/// Send `req` to `authority` (`host:port`) within `limits`. A response cut short is kept
/// beside the error; the second value says whether a limit cut it.
pub async fn send_within(
    authority: &str,
    req: WireRequest,
    limits: &RequestLimits,
) -> (Exchange, Option<LimitHit>) {
    let started = Instant::now();
    let transport = if hyper_can_send(&req) {
        Transport::Hyper
    } else {
        Transport::Raw
    };
    let mut got = Received::default();
    let cap = limits.max_response_bytes;
    // `got` outlives the exchange's future, so a deadline keeps what had arrived.
    let result = tokio::time::timeout(limits.deadline, async {
        let stream = connect(authority).await?;
        got.connected = true;
        let wait = limits.stream_wait;
        match transport {
            Transport::Hyper => {
                let mut conn = HyperConn::open(stream).await?;
                let response = conn.send(hyper_request(&req)?).await?;
                receive_hyper(response, cap, wait, &mut got).await.map(drop)
            }
            Transport::Raw => send_raw(stream, &req, cap, wait, &mut got).await,
        }
    })
    .await
    .unwrap_or_else(|_| Err(got.deadline_passed(&limits.deadline_name)));
    finish(started, req, transport, got, result)
}

/// A TCP connection to `authority`, without Nagle's delay.
async fn connect(authority: &str) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|source| ClientError::Connect {
            addr: authority.to_owned(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// The exchange of `req`, from what was received and how it ended.
fn finish(
    started: Instant,
    req: WireRequest,
    transport: Transport,
    mut got: Received,
    result: Result<(), ClientError>,
) -> (Exchange, Option<LimitHit>) {
    // A body announced too large stays that failure, however its first bytes then went.
    let result = match got.too_large.take() {
        Some(e) => Err(e),
        None => result,
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let (error, hit) = match &result {
        Ok(()) => (None, None),
        Err(e) => (Some(e.to_string()), e.limit_hit()),
    };
    let exchange = Exchange {
        request: req,
        response: got.into_response(error.is_some()),
        error,
        transport,
        duration_ms,
    };
    (exchange, hit)
}

/// What has arrived of a response so far.
#[derive(Debug, Default)]
struct Received {
    connected: bool,
    head: Option<(u16, Vec<(String, String)>)>,
    body: Vec<u8>,
    /// Body bytes received, kept or not.
    body_len: usize,
    /// Set when `content-length` announced more than the cap: the body is read only for the
    /// transcript's sake, and this is the exchange's error whatever happens next.
    too_large: Option<ClientError>,
}

impl Received {
    /// Whether the head that arrived is an SSE stream's.
    fn is_event_stream(&self) -> bool {
        self.head.as_ref().is_some_and(|(_, headers)| {
            headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("content-type")
                    && v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("text/event-stream")
            })
        })
    }

    /// Take body bytes; refuse once more than `cap` have come.
    fn push(&mut self, data: &[u8], cap: usize) -> Result<(), ClientError> {
        self.body_len = self.body_len.saturating_add(data.len());
        if self.body_len > cap {
            self.keep_prefix(data);
            return Err(ClientError::TooLarge {
                limit: cap,
                how: format!("after {} bytes", self.body_len),
            });
        }
        self.body.extend_from_slice(data);
        Ok(())
    }

    /// Keep body bytes only up to [`KEPT_BODY_BYTES`] (a body already over a limit).
    fn keep_prefix(&mut self, data: &[u8]) {
        let room = KEPT_BODY_BYTES.saturating_sub(self.body.len());
        self.body.extend_from_slice(&data[..room.min(data.len())]);
    }

    /// Whether a body over a limit has given the transcript all it keeps.
    fn prefix_full(&self) -> bool {
        self.body.len() >= KEPT_BODY_BYTES
    }

    /// A head announced a body larger than `cap`.
    fn announced(&mut self, len: u64, cap: usize) {
        if usize::try_from(len).map_or(true, |l| l > cap) {
            self.too_large = Some(ClientError::TooLarge {
                limit: cap,
                how: format!("(content-length announces {len} bytes)"),
            });
        }
    }

    fn deadline_passed(&self, deadline: &str) -> ClientError {
        let what = match (&self.head, self.connected) {
            (Some(_), _) => format!(
                "response body not complete ({} bytes received)",
                self.body_len
            ),
            (None, true) => "no response head".to_owned(),
            (None, false) => "no connection".to_owned(),
        };
        ClientError::Timeout {
            what,
            deadline: deadline.to_owned(),
        }
    }

    /// The response, if its head arrived; a response cut short keeps only the first part of
    /// its body.
    fn into_response(mut self, cut: bool) -> Option<WireResponse> {
        let (status, headers) = self.head?;
        if cut && self.body.len() > KEPT_BODY_BYTES {
            self.body.truncate(KEPT_BODY_BYTES);
            self.body.shrink_to_fit();
        }
        Some(WireResponse {
            status,
            headers,
            body: Bytes::from(self.body),
        })
    }
}

/// The largest request body hyper sends. hyper gives up on a response that arrives before the
/// body is all written (a gateway refusing a large request early, then closing), so larger
/// bodies are written by hand while the response is read.
const HYPER_MAX_BODY: usize = 64 * 1024;

/// Whether hyper would put exactly these bytes on the wire, and wait for a response whatever
/// the gateway does with the body.
fn hyper_can_send(req: &WireRequest) -> bool {
    if req.body.len() > HYPER_MAX_BODY {
        return false;
    }
    let uri_ok = req
        .target
        .parse::<http::Uri>()
        .is_ok_and(|u| u.to_string() == req.target && u.scheme().is_none());
    // A request that states its own framing is written by hand: hyper frames a body itself
    // and would not put both `content-length` and `transfer-encoding` on the wire.
    let own_framing = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    uri_ok
        && !own_framing
        && http::Method::from_bytes(req.method.as_bytes()).is_ok()
        && req.headers.iter().all(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                && http::HeaderValue::from_bytes(v.as_bytes()).is_ok()
        })
}

/// Aborts the task when dropped: a connection must not outlive its exchange (an endless body
/// would otherwise be read on in the background).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An HTTP/1.1 connection driven by hyper; the task that drives it ends with it.
struct HyperConn {
    sender: SendRequest<Full<Bytes>>,
    _driver: AbortOnDrop,
}

impl HyperConn {
    async fn open(stream: TcpStream) -> Result<HyperConn, ClientError> {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http_err(&e))?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        Ok(HyperConn {
            sender,
            _driver: driver,
        })
    }

    async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, ClientError> {
        self.sender
            .send_request(request)
            .await
            .map_err(|e| http_err(&e))
    }
}

fn http_err(e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Http(e.to_string())
}

/// `req` as hyper takes it (only for requests [`hyper_can_send`]).
fn hyper_request(req: &WireRequest) -> Result<http::Request<Full<Bytes>>, ClientError> {
    let mut builder = http::Request::builder()
        .method(req.method.as_bytes())
        .uri(req.target.as_str());
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_bytes());
    }
    builder
        .body(Full::new(req.body.clone()))
        .map_err(|e| http_err(&e))
}

/// Read a response hyper received into `got`. `Ok(true)`: its body was read to the end, so
/// its connection can carry another request.
async fn receive_hyper(
    response: http::Response<Incoming>,
    cap: usize,
    stream_wait: Option<Duration>,
    got: &mut Received,
) -> Result<bool, ClientError> {
    let (parts, mut body) = response.into_parts();
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
    got.head = Some((parts.status.as_u16(), headers));
    if let Some(len) = hyper::body::Body::size_hint(&body).exact() {
        got.announced(len, cap);
    }
    if got.too_large.is_some() {
        // Only the transcript's first bytes, for a moment; errors no longer matter.
        let _ = tokio::time::timeout(PREFIX_WAIT, async {
            while !got.prefix_full()
                && let Some(Ok(frame)) = body.frame().await
            {
                if let Ok(data) = frame.into_data() {
                    got.keep_prefix(&data);
                }
            }
        })
        .await;
        return Ok(false);
    }
    match stream_wait.filter(|_| got.is_event_stream()) {
        // What a stream sent in its first moments is all the caller waits for.
        Some(wait) => {
            match tokio::time::timeout(wait, read_hyper_body(&mut body, cap, got)).await {
                Ok(read) => read.map(|()| true),
                Err(_) => Ok(false),
            }
        }
        None => read_hyper_body(&mut body, cap, got).await.map(|()| true),
    }
}

async fn read_hyper_body(
    body: &mut Incoming,
    cap: usize,
    got: &mut Received,
) -> Result<(), ClientError> {
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ClientError::Http(format!("{e} (after {} body bytes)", got.body_len)))?;
        if let Ok(data) = frame.into_data() {
            got.push(&data, cap)?;
        }
    }
    Ok(())
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

async fn send_raw(
    mut stream: TcpStream,
    req: &WireRequest,
    cap: usize,
    stream_wait: Option<Duration>,
    got: &mut Received,
) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::Http(e.to_string());
    let bytes = encode_raw(req);
    let (mut rd, mut wr) = stream.split();
    let write = async {
        wr.write_all(&bytes).await?;
        wr.flush().await
    };
    let head_only = req.method.eq_ignore_ascii_case("HEAD");
    // The response is read while the request is written: a gateway may answer (401, 413)
    // before it has read a large body, and close; that answer is the exchange's, not the
    // failed write.
    let read = read_raw(&mut rd, head_only, cap, stream_wait, got);
    tokio::pin!(read, write);
    let write_failed = tokio::select! {
        written = &mut write => written.err(),
        read = &mut read => return read,
    };
    match read.await {
        Err(e) if write_failed.is_some() && matches!(e, ClientError::Http(_)) => {
            let w = write_failed.map(|w| w.to_string()).unwrap_or_default();
            Err(io(std::io::Error::other(format!(
                "{w} while sending the request, and no response: {e}"
            ))))
        }
        read => read,
    }
}

/// Read a response from `rd` until it is complete, the connection closes, or (for a stream or
/// a body over the cap) the moment allowed for it passes.
async fn read_raw(
    rd: &mut tokio::net::tcp::ReadHalf<'_>,
    head_only: bool,
    cap: usize,
    stream_wait: Option<Duration>,
    got: &mut Received,
) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::Http(e.to_string());
    let mut reader = RawReader::new(head_only);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut prefix_until = None;
    loop {
        if got.too_large.is_some() && prefix_until.is_none() {
            prefix_until = Some(tokio::time::Instant::now() + PREFIX_WAIT);
        }
        // A stream's first moments are all the caller waits for (as for a body over the cap).
        if let Some(wait) = stream_wait
            && prefix_until.is_none()
            && got.is_event_stream()
        {
            prefix_until = Some(tokio::time::Instant::now() + wait);
        }
        let read = match prefix_until {
            None => rd.read(&mut chunk).await,
            // Over the cap already: the transcript's first bytes, for a moment.
            Some(until) => match tokio::time::timeout_at(until, rd.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => return Ok(()),
            },
        };
        let n = match read {
            Ok(n) => n,
            Err(e) if !reader.started(got) => return Err(io(e)),
            // The server may close without reading all of a refused request; keep what arrived.
            Err(_) => 0,
        };
        if n == 0 {
            return reader.closed(got);
        }
        if reader.feed(&chunk[..n], cap, got)? {
            return Ok(());
        }
    }
}

/// Parse a complete HTTP/1.1 response read until the connection closed.
pub fn parse_response(buf: &[u8], head_only: bool) -> Result<WireResponse, ClientError> {
    let mut got = Received::default();
    let mut reader = RawReader::new(head_only);
    let done = reader.feed(buf, usize::MAX, &mut got)?;
    if !done {
        reader.closed(&mut got)?;
    }
    Ok(got.into_response(false).unwrap_or(WireResponse {
        status: 0,
        headers: Vec::new(),
        body: Bytes::new(),
    }))
}

/// How the end of a body read by hand is found.
#[derive(Debug)]
enum Framing {
    /// No body (HEAD, 204, 304): the head is all.
    Empty,
    /// This many bytes are still to come.
    Length {
        left: u64,
        announced: u64,
    },
    Chunked(Chunk),
    /// Until the connection closes.
    UntilClose,
}

/// Where a chunked body's decoder is.
#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line (kept here until its end arrives).
    Size(Vec<u8>),
    /// Inside a chunk's data.
    Data(u64),
    /// Skipping the CRLF after a chunk's data.
    DataEnd(u8),
    /// The last chunk arrived (trailers are not read).
    Done,
}

/// A response read by hand, fed as bytes arrive, so that size and end are known at once.
#[derive(Debug)]
struct RawReader {
    head_only: bool,
    head: Vec<u8>,
    framing: Option<Framing>,
}

impl RawReader {
    fn new(head_only: bool) -> RawReader {
        RawReader {
            head_only,
            head: Vec::new(),
            framing: None,
        }
    }

    fn started(&self, got: &Received) -> bool {
        !self.head.is_empty() || got.head.is_some()
    }

    /// Take bytes; `Ok(true)` when the response is complete.
    fn feed(&mut self, data: &[u8], cap: usize, got: &mut Received) -> Result<bool, ClientError> {
        if self.framing.is_some() {
            return self.body(data, cap, got);
        }
        self.head.extend_from_slice(data);
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.head) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.head.len() > MAX_HEAD_BYTES => {
                return Err(ClientError::Http(format!(
                    "response head exceeded {MAX_HEAD_BYTES} bytes"
                )));
            }
            Ok(httparse::Status::Partial) => return Ok(false),
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
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let framing = if self.head_only || status == 204 || status == 304 {
            Framing::Empty
        } else if find("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked(Chunk::Size(Vec::new()))
        } else if let Some(len) = find("content-length").and_then(|v| v.trim().parse::<u64>().ok())
        {
            got.announced(len, cap);
            Framing::Length {
                left: len,
                announced: len,
            }
        } else {
            Framing::UntilClose
        };
        got.head = Some((status, headers));
        self.framing = Some(framing);
        let rest = self.head.split_off(head_len);
        self.body(&rest, cap, got)
    }

    fn body(
        &mut self,
        mut data: &[u8],
        cap: usize,
        got: &mut Received,
    ) -> Result<bool, ClientError> {
        if got.too_large.is_some() {
            got.keep_prefix(data);
            return Ok(got.prefix_full());
        }
        let Some(framing) = &mut self.framing else {
            return Ok(false);
        };
        match framing {
            Framing::Empty => Ok(true),
            Framing::UntilClose => got.push(data, cap).map(|()| false),
            Framing::Length { left, .. } => {
                let take = usize::try_from(*left).map_or(data.len(), |l| l.min(data.len()));
                got.push(&data[..take], cap)?;
                *left -= take as u64;
                Ok(*left == 0)
            }
            Framing::Chunked(state) => {
                while !data.is_empty() {
                    match state {
                        Chunk::Size(line) => {
                            let Some(end) = data.iter().position(|b| *b == b'\n') else {
                                line.extend_from_slice(data);
                                if line.len() > 1024 {
                                    return Err(ClientError::Http(
                                        "chunk-size line longer than 1024 bytes".to_owned(),
                                    ));
                                }
                                return Ok(false);
                            };
                            line.extend_from_slice(&data[..end]);
                            data = &data[end + 1..];
                            let text = String::from_utf8_lossy(line);
                            let text = text.split(';').next().unwrap_or("").trim().to_owned();
                            let size = u64::from_str_radix(&text, 16).map_err(|_| {
                                ClientError::Http(format!("bad chunk size {text:?}"))
                            })?;
                            *state = if size == 0 {
                                Chunk::Done
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Chunk::Data(left) => {
                            let take =
                                usize::try_from(*left).map_or(data.len(), |l| l.min(data.len()));
                            got.push(&data[..take], cap)?;
                            data = &data[take..];
                            *left -= take as u64;
                            if *left == 0 {
                                *state = Chunk::DataEnd(2);
                            }
                        }
                        Chunk::DataEnd(left) => {
                            let skip = usize::from(*left).min(data.len());
                            data = &data[skip..];
                            *left -= skip as u8;
                            if *left == 0 {
                                *state = Chunk::Size(Vec::new());
                            }
                        }
                        Chunk::Done => return Ok(true),
                    }
                }
                Ok(matches!(state, Chunk::Done))
            }
        }
    }

    /// The connection closed: fine after a complete response, or for a body that runs until
    /// then.
    fn closed(&self, got: &mut Received) -> Result<(), ClientError> {
        if got.too_large.is_some() {
            return Ok(());
        }
        match &self.framing {
            None => Err(ClientError::Http(format!(
                "incomplete response head ({} bytes before the connection closed)",
                self.head.len()
            ))),
            Some(Framing::Length { left, announced }) if *left > 0 => {
                Err(ClientError::Http(format!(
                    "the connection closed after {} of the {announced} body bytes content-length \
                     announced",
                    announced - left
                )))
            }
            Some(Framing::Chunked(c)) if !matches!(c, Chunk::Done) => {
                Err(ClientError::Http(format!(
                    "the connection closed inside a chunked body (after {} bytes)",
                    got.body_len
                )))
            }
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// Feed `bytes` to a reader `step` bytes at a time; whether it saw the end, and what it got.
    fn feed_in_pieces(
        bytes: &[u8],
        step: usize,
        cap: usize,
    ) -> (Result<bool, ClientError>, Received) {
        let mut got = Received::default();
        let mut reader = RawReader::new(false);
        for piece in bytes.chunks(step) {
            match reader.feed(piece, cap, &mut got) {
                Ok(false) => {}
                other => return (other, got),
            }
        }
        (Ok(false), got)
    }

    #[test]
    fn a_response_read_by_hand_ends_where_its_framing_says() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let sized = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nabcde";
        for step in [1, 2, 7, 1000] {
            for whole in [&chunked[..], &sized[..]] {
                let (done, got) = feed_in_pieces(whole, step, usize::MAX);
                assert!(done.unwrap(), "step {step}");
                assert_eq!(got.body, b"abcde", "step {step}");
            }
        }
        // Until the close: never complete by itself.
        let (done, got) = feed_in_pieces(b"HTTP/1.1 200 OK\r\n\r\nabc", 4, usize::MAX);
        assert!(!done.unwrap());
        assert_eq!(got.body, b"abc");
    }

    #[test]
    fn a_body_read_by_hand_is_cut_at_the_cap() {
        let endless = [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..],
            &b"4\r\nwxyz\r\n".repeat(1000),
        ]
        .concat();
        let (done, got) = feed_in_pieces(&endless, 64, 10);
        let e = done.unwrap_err();
        assert_eq!(
            e.to_string(),
            "response body exceeded --max-response-bytes 10 after 12 bytes"
        );
        assert_eq!(e.limit_hit(), Some(LimitHit::ResponseBytes));
        let cut = got.into_response(true).unwrap();
        assert_eq!((cut.status, &cut.body[..]), (200, &b"wxyzwxyzwxyz"[..]));
        // An announced length over the cap fails at once; the first bytes are still kept.
        let (done, mut got) = feed_in_pieces(
            b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\nabc",
            1000,
            10,
        );
        assert!(!done.unwrap());
        assert_eq!(
            got.too_large.take().map(|e| e.to_string()).as_deref(),
            Some(
                "response body exceeded --max-response-bytes 10 (content-length announces 99 bytes)"
            )
        );
        assert_eq!(got.body, b"abc");
    }

    #[test]
    fn a_close_before_the_announced_end_is_an_error() {
        let e =
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", false).unwrap_err();
        assert!(
            e.to_string().contains("after 3 of the 10 body bytes"),
            "{e}"
        );
        let e = parse_response(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("inside a chunked body"), "{e}");
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

    /// A server that answers one request with `answer` and keeps the connection open.
    async fn answer_and_hold(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            s.write_all(answer).await.unwrap();
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        addr
    }

    #[tokio::test]
    async fn both_transports_end_a_response_at_its_length_not_at_the_close() {
        for target in ["/ok", "/raw target"] {
            let addr = answer_and_hold(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
            let req = WireRequest {
                method: "GET".into(),
                target: target.into(),
                headers: vec![("host".into(), addr.clone())],
                body: Bytes::new(),
            };
            // Waiting for the close would meet the deadline instead.
            let (ex, hit) =
                send_within(&addr, req, &RequestLimits::new(Duration::from_secs(5))).await;
            assert_eq!((ex.error, hit), (None, None), "{target}");
            assert_eq!(&ex.response.unwrap().body[..], b"{}");
        }
    }

    #[tokio::test]
    async fn a_cut_response_is_kept_by_send_within_and_dropped_by_send() {
        let req = |addr: &str| WireRequest {
            method: "GET".into(),
            target: "/".into(),
            headers: vec![("host".into(), addr.to_owned())],
            body: Bytes::new(),
        };
        let big: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\nabc";
        let addr = answer_and_hold(big).await;
        let limits = RequestLimits {
            deadline: Duration::from_secs(5),
            deadline_name: "--timeout 5 s".to_owned(),
            max_response_bytes: 100,
            stream_wait: None,
        };
        let (ex, hit) = send_within(&addr, req(&addr), &limits).await;
        assert_eq!(hit, Some(LimitHit::ResponseBytes));
        assert_eq!(
            ex.error.as_deref(),
            Some(
                "response body exceeded --max-response-bytes 100 (content-length announces 5000 bytes)"
            )
        );
        assert_eq!(&ex.response.unwrap().body[..], b"abc");
        let held: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab";
        let addr = answer_and_hold(held).await;
        let ex = send(&addr, req(&addr), Duration::from_millis(300)).await;
        assert!(ex.response.is_none());
        assert!(
            ex.error.as_deref().unwrap().starts_with(
                "response body not complete (2 bytes received) within the request deadline"
            ),
            "{:?}",
            ex.error
        );
    }

    /// An SSE stream that stays open ends the exchange after `stream_wait` with its first
    /// events and no error, on both transports; without it, the deadline ends it, as a failure.
    #[tokio::test]
    async fn a_stream_is_read_for_its_wait_then_kept_as_a_response() {
        let open: &'static [u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
            transfer-encoding: chunked\r\n\r\n15\r\nevent: ping\ndata: 1\n\n\r\n";
        for target in ["/sse", "/raw target"] {
            let addr = answer_and_hold(open).await;
            let req = WireRequest {
                method: "GET".into(),
                target: target.into(),
                headers: vec![("host".into(), addr.clone())],
                body: Bytes::new(),
            };
            let limits = RequestLimits {
                stream_wait: Some(Duration::from_millis(200)),
                ..RequestLimits::new(Duration::from_secs(10))
            };
            let started = Instant::now();
            let (ex, hit) = send_within(&addr, req.clone(), &limits).await;
            assert!(started.elapsed() < Duration::from_secs(5), "{target}");
            assert_eq!((ex.error, hit), (None, None), "{target}");
            assert_eq!(&ex.response.unwrap().body[..], b"event: ping\ndata: 1\n\n");
            let addr = answer_and_hold(open).await;
            let req = WireRequest {
                headers: vec![("host".into(), addr.clone())],
                ..req
            };
            let (ex, hit) =
                send_within(&addr, req, &RequestLimits::new(Duration::from_millis(300))).await;
            assert_eq!(hit, Some(LimitHit::Deadline), "{target}: {:?}", ex.error);
        }
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

    #[tokio::test]
    async fn an_early_answer_to_a_large_body_is_the_response() {
        // The server reads the head only, answers and closes: the body was never wanted.
        let (addr, handle) = capture_one().await;
        let req = WireRequest {
            method: "POST".into(),
            target: "/rpc".into(),
            headers: vec![("host".into(), addr.clone())],
            body: Bytes::from(vec![b'a'; 4 * 1024 * 1024]),
        };
        let ex = send(&addr, req, Duration::from_secs(10)).await;
        handle.await.unwrap();
        assert_eq!(ex.transport, Transport::Raw);
        assert_eq!(ex.response.map(|r| r.status), Some(400), "{:?}", ex.error);
    }

    /// A keep-alive server answering every request with `answer`; counts its connections.
    async fn keep_alive_server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    // One read per request: these requests are small and sent one at a time.
                    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                        if s.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn send_five(pool: &Pool, addr: &str) {
        for _ in 0..5 {
            let req = WireRequest {
                method: "GET".into(),
                target: "/ok".into(),
                headers: vec![("host".into(), addr.to_owned())],
                body: Bytes::new(),
            };
            let (ex, _) = pool
                .send(addr, req, &RequestLimits::new(Duration::from_secs(5)))
                .await;
            assert_eq!(ex.response.map(|r| r.status), Some(200), "{:?}", ex.error);
        }
    }

    #[tokio::test]
    async fn a_pool_reuses_a_connection_unless_the_server_closes_it() {
        let (addr, accepted) =
            keep_alive_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        send_five(&Pool::new(), &addr).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        let (addr, accepted) = keep_alive_server(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .await;
        send_five(&Pool::new(), &addr).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }
}
