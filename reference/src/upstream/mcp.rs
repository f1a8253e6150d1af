//! A minimal MCP client over Streamable HTTP, for upstream servers registered as gateways.
//!
//! Each operation opens a short session: `initialize`, `notifications/initialized`, the call, and
//! a `DELETE` of the session when the upstream issued one. Responses may be JSON or an SSE
//! stream; the JSON-RPC response with the request's id is taken from either, and the
//! notifications the stream carried before it (progress, logging) are kept so they can be
//! relayed to the client whose request they belong to.

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use super::{UpstreamClient, UpstreamError};

/// The protocol version this client asks for.
pub(crate) const CLIENT_PROTOCOL_VERSION: &str = "2025-06-18";

/// An open upstream session.
#[derive(Debug)]
pub(crate) struct McpSession<'a> {
    client: &'a UpstreamClient,
    url: String,
    session_id: Option<String>,
    protocol_version: String,
    next_id: u64,
}

/// Notifications kept from one upstream answer at most: the body is already bounded
/// (`MAX_UPSTREAM_BODY`), this bounds what a flood of tiny events costs on top of it.
const MAX_NOTIFICATIONS: usize = 1024;

/// An upstream's answer to one request: the JSON-RPC response and the notifications the
/// stream carried before it, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answered {
    pub message: Value,
    pub notifications: Vec<Value>,
    /// The session id the upstream issued, if any (set by [`call_once_answered`]).
    pub session_id: Option<String>,
}

/// Pull the JSON-RPC message answering `id` out of a JSON or SSE body.
#[cfg(test)]
fn extract_response(
    body: &[u8],
    content_type: Option<&str>,
    id: u64,
) -> Result<Value, UpstreamError> {
    extract_answer(body, content_type, id).map(|a| a.message)
}

/// Pull the JSON-RPC message answering `id`, and the notifications before it, out of a JSON
/// or SSE body.
pub(crate) fn extract_answer(
    body: &[u8],
    content_type: Option<&str>,
    id: u64,
) -> Result<Answered, UpstreamError> {
    let is_sse = content_type.is_some_and(|c| c.starts_with("text/event-stream"));
    let matches = |v: &Value| v.get("id").and_then(Value::as_u64) == Some(id);
    if !is_sse {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| UpstreamError::Protocol(format!("bad JSON: {e}")))?;
        return Ok(Answered {
            message: v,
            notifications: Vec::new(),
            session_id: None,
        });
    }
    let mut notifications = Vec::new();
    let text = String::from_utf8_lossy(body);
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                if matches(&v) {
                    return Ok(Answered {
                        message: v,
                        notifications,
                        session_id: None,
                    });
                }
                if v.get("id").is_none()
                    && v.get("method").is_some()
                    && notifications.len() < MAX_NOTIFICATIONS
                {
                    notifications.push(v);
                }
            }
            data.clear();
        }
    }
    Err(UpstreamError::Protocol(
        "no response in the event stream".to_owned(),
    ))
}

impl<'a> McpSession<'a> {
    /// Open a session with `initialize` and `notifications/initialized`.
    pub(crate) async fn open(
        client: &'a UpstreamClient,
        url: &str,
    ) -> Result<McpSession<'a>, UpstreamError> {
        let mut s = McpSession {
            client,
            url: url.to_owned(),
            session_id: None,
            protocol_version: CLIENT_PROTOCOL_VERSION.to_owned(),
            next_id: 0,
        };
        let init = s
            .request(
                "initialize",
                json!({
                    "protocolVersion": CLIENT_PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "mcpgw-reference", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        if let Some(v) = init.get("protocolVersion").and_then(Value::as_str) {
            s.protocol_version = v.to_owned();
        }
        s.notify("notifications/initialized").await?;
        Ok(s)
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            (
                "mcp-protocol-version".to_owned(),
                self.protocol_version.clone(),
            ),
        ];
        if let Some(sid) = &self.session_id {
            h.push(("mcp-session-id".to_owned(), sid.clone()));
        }
        h
    }

    async fn notify(&mut self, method: &str) -> Result<(), UpstreamError> {
        let body =
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": method})).unwrap_or_default();
        let resp = self
            .client
            .send(Method::POST, &self.url, &self.headers(), Bytes::from(body))
            .await?;
        if !resp.status.is_success() {
            return Err(UpstreamError::Status {
                status: resp.status.as_u16(),
                body: String::from_utf8_lossy(&resp.body).into_owned(),
            });
        }
        Ok(())
    }

    /// Send a request and return its `result`; a JSON-RPC error becomes `Err(Protocol)` unless
    /// the caller wants it raw (see [`Self::request_raw`]).
    pub(crate) async fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Value, UpstreamError> {
        let msg = self.request_raw(method, params).await?;
        if let Some(err) = msg.get("error") {
            return Err(UpstreamError::Protocol(format!("upstream error: {err}")));
        }
        msg.get("result")
            .cloned()
            .ok_or_else(|| UpstreamError::Protocol("response without result".to_owned()))
    }

    /// Send a request and return the whole JSON-RPC response message.
    pub(crate) async fn request_raw(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Value, UpstreamError> {
        self.request_answered(method, params)
            .await
            .map(|a| a.message)
    }

    /// Send a request and return the whole JSON-RPC response message with the notifications
    /// that came before it.
    pub(crate) async fn request_answered(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Answered, UpstreamError> {
        self.next_id += 1;
        let id = self.next_id;
        let body = serde_json::to_vec(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .unwrap_or_default();
        let resp = self
            .client
            .send(Method::POST, &self.url, &self.headers(), Bytes::from(body))
            .await?;
        if !resp.status.is_success() {
            return Err(UpstreamError::Status {
                status: resp.status.as_u16(),
                body: String::from_utf8_lossy(&resp.body).into_owned(),
            });
        }
        if self.session_id.is_none()
            && let Some(sid) = resp
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            self.session_id = Some(sid.to_owned());
        }
        let ct = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        extract_answer(&resp.body, ct, id)
    }

    /// End the session (best effort).
    pub(crate) async fn close(self) {
        if let Some(sid) = &self.session_id {
            let headers = vec![
                ("mcp-session-id".to_owned(), sid.clone()),
                (
                    "mcp-protocol-version".to_owned(),
                    self.protocol_version.clone(),
                ),
            ];
            let _ = self
                .client
                .send(Method::DELETE, &self.url, &headers, Bytes::new())
                .await;
        }
    }
}

/// What an upstream offers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovery {
    pub capabilities: Value,
    pub tools: Vec<Value>,
    pub resources: Vec<Value>,
    pub prompts: Vec<Value>,
}

/// Pages of one list followed at most: an upstream whose cursors never end cannot hold a
/// registration forever.
const MAX_PAGES: usize = 1000;

/// How discovery follows an upstream's `nextCursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursors {
    /// Sent back exactly as they came (MCP: cursors are opaque); a later page that fails fails
    /// the discovery, as a list known to be incomplete.
    Verbatim,
    /// The defect matrix's gateway: a cursor form-decoded on its way back (`+` becomes a
    /// space), and a page that fails taken as the end of the list.
    FormDecoded,
}

impl McpSession<'_> {
    /// Every item of a paginated list (`tools/list` and the like), following `nextCursor`.
    async fn list_all(
        &mut self,
        method: &str,
        key: &str,
        cursors: Cursors,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = match self.request(method, params).await {
                Ok(page) => page,
                Err(_) if cursor.is_some() && cursors == Cursors::FormDecoded => break,
                Err(e) => return Err(e),
            };
            if let Some(list) = page.get(key).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            cursor = match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) if cursors == Cursors::FormDecoded => Some(next.replace('+', " ")),
                Some(next) => Some(next.to_owned()),
                None => break,
            };
        }
        Ok(items)
    }
}

/// Discover an upstream's tools, resources and prompts, every page of each.
pub(crate) async fn discover(
    client: &UpstreamClient,
    url: &str,
    cursors: Cursors,
) -> Result<Discovery, UpstreamError> {
    let mut s = McpSession::open(client, url).await?;
    let tools = s.list_all("tools/list", "tools", cursors).await?;
    // Resources and prompts are optional capabilities; an upstream without them answers an error.
    let resources = s
        .list_all("resources/list", "resources", cursors)
        .await
        .unwrap_or_default();
    let prompts = s
        .list_all("prompts/list", "prompts", cursors)
        .await
        .unwrap_or_default();
    s.close().await;
    Ok(Discovery {
        capabilities: json!({"tools": {"listChanged": false}, "resources": {}, "prompts": {}}),
        tools,
        resources,
        prompts,
    })
}

/// Run one method on an upstream in its own session, returning the whole response message so
/// upstream JSON-RPC errors can be relayed.
pub(crate) async fn call_once(
    client: &UpstreamClient,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, UpstreamError> {
    call_once_answered(client, url, method, params)
        .await
        .map(|a| a.message)
}

/// Every item of a paginated list, in a session of its own, following cursors verbatim.
pub(crate) async fn list_once(
    client: &UpstreamClient,
    url: &str,
    method: &str,
    key: &str,
) -> Result<Vec<Value>, UpstreamError> {
    let mut s = McpSession::open(client, url).await?;
    let out = s.list_all(method, key, Cursors::Verbatim).await;
    s.close().await;
    out
}

/// [`call_once`], keeping the notifications the upstream sent before its response.
pub(crate) async fn call_once_answered(
    client: &UpstreamClient,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Answered, UpstreamError> {
    let mut s = McpSession::open(client, url).await?;
    let out = s.request_answered(method, params).await;
    let session_id = s.session_id.clone();
    s.close().await;
    out.map(|a| Answered { session_id, ..a })
}

/// The defect matrix's upstream sessions (`upstream-session-shared`): one per upstream URL,
/// opened on first use and then shared by every call, whoever makes it, so what one client's
/// call leaves in the upstream's session state the next client's call finds. The strict policy
/// never touches it (each call has a session of its own, [`call_once_answered`]).
#[derive(Debug, Default)]
pub(crate) struct SharedSessions {
    open: std::sync::Mutex<std::collections::HashMap<String, SharedSession>>,
}

/// An upstream session kept open for every caller.
#[derive(Debug, Clone)]
struct SharedSession {
    session_id: Option<String>,
    protocol_version: String,
    /// The last request id used in it.
    next_id: u64,
}

/// [`call_once_answered`] in the upstream's shared session (opened if there is none yet).
pub(crate) async fn call_in_shared_session(
    client: &UpstreamClient,
    shared: &SharedSessions,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Answered, UpstreamError> {
    let known = shared
        .open
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(url)
        .cloned();
    let mut s = match known {
        Some(k) => McpSession {
            client,
            url: url.to_owned(),
            session_id: k.session_id,
            protocol_version: k.protocol_version,
            next_id: k.next_id,
        },
        None => McpSession::open(client, url).await?,
    };
    let out = s.request_answered(method, params).await;
    shared
        .open
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            url.to_owned(),
            SharedSession {
                session_id: s.session_id.clone(),
                protocol_version: s.protocol_version.clone(),
                next_id: s.next_id,
            },
        );
    let session_id = s.session_id.clone();
    out.map(|a| Answered { session_id, ..a })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_found_in_sse_streams() {
        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n";
        let v = extract_response(body, Some("text/event-stream"), 3).unwrap();
        assert_eq!(v["id"], 3);
        assert!(extract_response(body, Some("text/event-stream"), 4).is_err());
        let j = extract_response(
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            Some("application/json"),
            1,
        )
        .unwrap();
        assert_eq!(j["result"], json!({}));
    }

    #[test]
    fn notifications_before_the_response_are_kept_in_order() {
        let body = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n\
data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n\
data: {\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":1}}\n\n\
data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n";
        let a = extract_answer(body, Some("text/event-stream"), 3).unwrap();
        assert_eq!(a.message["id"], 3);
        let methods: Vec<&str> = a
            .notifications
            .iter()
            .filter_map(|n| n["method"].as_str())
            .collect();
        // Another request's response is not a notification.
        assert_eq!(methods, ["notifications/progress", "notifications/message"]);
    }
}
