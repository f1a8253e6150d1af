//! A small MCP client over Streamable HTTP for fidelity's conversations: `initialize`,
//! `notifications/initialized`, requests whose answers are JSON or an SSE stream (the
//! notifications before the response kept, in order), and a `DELETE` of the session at the
//! end. Every exchange is kept for the transcripts. Talks to the upstream directly and to the
//! gateway alike; only the endpoint and its credential differ. (The reference has a client of
//! its own for its upstreams; the harness does not borrow it, so that a fault in one is not
//! hidden by the same fault in the other.)

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::client::{self, Exchange, RequestLimits, WireRequest};

/// Bytes of response bodies one conversation may receive in all (a 1 MiB result each way is the
/// largest the fixture sends; a gateway that pages forever or answers huge bodies is cut here).
pub const CONVERSATION_BYTES: usize = 32 * 1024 * 1024;

/// The protocol version the conversations ask for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Where a conversation is held.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// The request target (path, from the root).
    pub path: String,
    /// Headers every request carries (the credential, through the gateway).
    pub headers: Vec<(String, String)>,
}

impl Endpoint {
    /// `http://host:port/path` and extra headers.
    pub fn parse(url: &str, headers: Vec<(String, String)>) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// endpoints are supported"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Endpoint {
            authority: authority.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
            headers,
        })
    }
}

/// What one request got back.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The JSON-RPC response with the request's id (`None`: none came).
    pub response: Option<Value>,
    /// Every other message before it (notifications), in order.
    pub notifications: Vec<Value>,
    /// Why no response came, when none did (HTTP status, transport, not JSON).
    pub failure: Option<String>,
    /// From sending the request to having its whole answer.
    pub elapsed: Duration,
}

/// An open conversation.
#[derive(Debug)]
pub struct Conversation {
    endpoint: Endpoint,
    limits: RequestLimits,
    session_id: Option<String>,
    /// Bytes of response bodies received so far.
    received: usize,
    /// Every exchange so far, oldest first, each body kept up to `client::KEPT_BODY_BYTES`
    /// (the transcripts show less).
    pub exchanges: Vec<Exchange>,
}

/// The JSON-RPC messages of a response body: one JSON value (a batch's items), or the `data`
/// of each SSE event.
pub fn messages_of(body: &[u8], content_type: Option<&str>) -> Result<Vec<Value>, String> {
    let is_sse = content_type.is_some_and(|c| c.trim_start().starts_with("text/event-stream"));
    if !is_sse {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(batch)) => Ok(batch),
            Ok(one) => Ok(vec![one]),
            Err(e) => Err(format!("the answer is not JSON: {e}")),
        };
    }
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            match serde_json::from_str::<Value>(&data) {
                Ok(v) => out.push(v),
                Err(e) => return Err(format!("an SSE event is not JSON: {e}")),
            }
            data.clear();
        }
    }
    Ok(out)
}

/// The answer a response body gives to the request `id`: its response and the notifications
/// beside it.
fn answer_of(
    id: &Value,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    elapsed: Duration,
) -> Answer {
    let ct = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let messages = match messages_of(body, ct) {
        Ok(m) => m,
        Err(e) => {
            return Answer {
                failure: Some(format!("HTTP {status}: {e}")),
                ..Answer::default()
            };
        }
    };
    let mut answer = Answer {
        elapsed,
        ..Answer::default()
    };
    for m in messages {
        if answer.response.is_none() && m.get("id") == Some(id) && m.get("method").is_none() {
            answer.response = Some(m);
        } else {
            answer.notifications.push(m);
        }
    }
    if answer.response.is_none() {
        answer.failure = Some(format!("HTTP {status}: no response with id {id}"));
    }
    answer
}

impl Conversation {
    /// Open a conversation: `initialize` (id 0) and `notifications/initialized`. The second
    /// value says why `initialize` failed, if it did (the conversation keeps its transcript).
    pub async fn open(endpoint: Endpoint, timeout: Duration) -> (Conversation, Option<String>) {
        let mut limits = RequestLimits::new(timeout);
        // An SSE answer may stay open after its response; what came by then is the answer.
        limits.stream_wait = Some(timeout);
        let mut c = Conversation {
            endpoint,
            limits,
            session_id: None,
            received: 0,
            exchanges: Vec::new(),
        };
        let init = c
            .request(
                json!(0),
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "mcpgw-conformance-fidelity", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await;
        if let Some(why) = init.failure {
            return (c, Some(format!("initialize failed: {why}")));
        }
        c.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        (c, None)
    }

    /// The session id the other side issued, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            // The wire client sends only the headers it is given, and HTTP/1.1 requires a Host
            // (RFC 9112 §3.2: servers such as uvicorn answer 400 without one).
            ("host".to_owned(), self.endpoint.authority.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            (
                "mcp-protocol-version".to_owned(),
                PROTOCOL_VERSION.to_owned(),
            ),
        ];
        h.extend(self.endpoint.headers.iter().cloned());
        if let Some(sid) = &self.session_id {
            h.push(("mcp-session-id".to_owned(), sid.clone()));
        }
        h
    }

    async fn post(&mut self, msg: &Value) -> Option<(Vec<(String, String)>, Bytes)> {
        if self.received > CONVERSATION_BYTES {
            return None;
        }
        let req = WireRequest {
            method: "POST".to_owned(),
            target: self.endpoint.path.clone(),
            headers: self.headers(),
            body: Bytes::from(msg.to_string()),
        };
        let (ex, _) = client::send_within(&self.endpoint.authority, req, &self.limits).await;
        let out = match (&ex.response, &ex.error) {
            (Some(r), None) => {
                if self.session_id.is_none()
                    && let Some(sid) = r.header("mcp-session-id")
                {
                    self.session_id = Some(sid);
                }
                self.received += r.body.len();
                Some((r.headers.clone(), r.body.clone()))
            }
            _ => None,
        };
        self.keep(ex);
        out
    }

    /// Keep an exchange for the transcript, its body cut to what a transcript can use.
    fn keep(&mut self, mut ex: Exchange) {
        if let Some(r) = ex.response.as_mut()
            && r.body.len() > client::KEPT_BODY_BYTES
        {
            r.body.truncate(client::KEPT_BODY_BYTES);
        }
        self.exchanges.push(ex);
    }

    /// Send a request and collect its answer.
    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Answer {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let sent = self.exchanges.len();
        let started = std::time::Instant::now();
        let posted = self.post(&msg).await;
        let elapsed = started.elapsed();
        let Some((headers, body)) = posted else {
            let why = if self.exchanges.len() == sent {
                format!("not sent: the conversation received over {CONVERSATION_BYTES} bytes")
            } else {
                self.exchanges
                    .last()
                    .and_then(|e| e.error.clone())
                    .unwrap_or_else(|| "no response".to_owned())
            };
            return Answer {
                failure: Some(why),
                ..Answer::default()
            };
        };
        let status = self
            .exchanges
            .last()
            .and_then(|e| e.response.as_ref())
            .map_or(0, |r| r.status);
        answer_of(&id, status, &headers, &body, elapsed)
    }

    /// Send a request on this session beside others in flight (`&self`: many at once). Its
    /// exchange is returned instead of kept, and its bytes are not counted.
    pub async fn request_alone(
        &self,
        id: Value,
        method: &str,
        params: Value,
    ) -> (Answer, Exchange) {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let req = WireRequest {
            method: "POST".to_owned(),
            target: self.endpoint.path.clone(),
            headers: self.headers(),
            body: Bytes::from(msg.to_string()),
        };
        let started = std::time::Instant::now();
        let (ex, _) = client::send_within(&self.endpoint.authority, req, &self.limits).await;
        let answer = match (&ex.response, &ex.error) {
            (Some(r), None) => answer_of(&id, r.status, &r.headers, &r.body, started.elapsed()),
            _ => Answer {
                failure: Some(ex.error.clone().unwrap_or_else(|| "no response".to_owned())),
                ..Answer::default()
            },
        };
        (answer, ex)
    }

    /// End the session, if one was issued (best effort; the exchange is kept).
    pub async fn close(&mut self) {
        if self.session_id.is_none() {
            return;
        }
        let req = WireRequest {
            method: "DELETE".to_owned(),
            target: self.endpoint.path.clone(),
            headers: self.headers(),
            body: Bytes::new(),
        };
        let (ex, _) = client::send_within(&self.endpoint.authority, req, &self.limits).await;
        self.keep(ex);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_and_json_bodies_give_their_messages() {
        let sse = b"event: message\ndata: {\"method\":\"n\"}\n\nevent: message\r\ndata: {\"id\":1}\r\n\r\n";
        let m = messages_of(sse, Some("text/event-stream")).unwrap_or_default();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1]["id"], 1);
        let j = messages_of(br#"{"id":1}"#, Some("application/json")).unwrap_or_default();
        assert_eq!(j.len(), 1);
        assert!(messages_of(b"nope", None).is_err());
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://127.0.0.1:9/mcp", vec![]).unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("127.0.0.1:9", "/mcp")
        );
        assert!(Endpoint::parse("https://x/mcp", vec![]).is_err());
    }
}
