//! Test support for the MCP transport: requests shaped like a client's, sessions, SSE bodies and
//! streams that stay open (a session's `GET`).

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{TestGateway, TestRequest, TestResponse};
use crate::rpc::protocol::LATEST_VERSION;

/// What MCP clients send as `Accept`.
pub const CLIENT_ACCEPT: &str = "application/json, text/event-stream";

/// A response whose body is read as it arrives.
#[derive(Debug)]
pub struct OpenResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

/// How long a test waits for a stream to yield or end before calling it stuck.
const STREAM_WAIT: Duration = Duration::from_secs(10);

impl OpenResponse {
    /// The next data chunk; `None` when the stream ended. Panics if nothing happens for a long
    /// time (a hung stream is a failure, not a slow one).
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let frame = tokio::time::timeout(STREAM_WAIT, self.body.frame())
                .await
                .expect("the stream neither yielded nor ended");
            match frame {
                None | Some(Err(_)) => return None,
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Some(data);
                    }
                }
            }
        }
    }

    /// Read until the stream ends; panics if it does not (see [`Self::next_chunk`]).
    pub async fn until_end(mut self) -> Bytes {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            all.extend_from_slice(&chunk);
        }
        Bytes::from(all)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The JSON values of the `data:` fields of an SSE body, one per event.
pub fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty())
                .then(|| serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null))
        })
        .collect()
}

/// `{"jsonrpc":"2.0","id":1,"method":...,"params":...}`
pub fn request_body(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

/// The `initialize` parameters a client sends, asking for `version`.
pub fn initialize_params(version: &str) -> Value {
    json!({"protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "mcpgw-tests", "version": "0"}})
}

impl TestResponse {
    /// The one JSON-RPC message of an answer, whether it came as JSON or as an SSE event.
    pub fn message(&self) -> Value {
        let is_sse = self
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if is_sse {
            sse_messages(&self.text())
                .into_iter()
                .next()
                .unwrap_or(Value::Null)
        } else {
            self.json()
        }
    }

    /// The `mcp-session-id` header.
    pub fn session_id(&self) -> Option<String> {
        self.header("mcp-session-id").map(str::to_owned)
    }
}

impl TestGateway {
    /// A POST of one JSON-RPC request to an MCP endpoint, with a client's `Accept`; `token`
    /// empty sends no `Authorization`.
    pub fn mcp_req(&self, path: &str, token: &str, method: &str, params: Value) -> TestRequest {
        let r = self
            .req("POST", path)
            .header("accept", CLIENT_ACCEPT)
            .json(&request_body(method, params));
        if token.is_empty() { r } else { r.bearer(token) }
    }

    /// `initialize` on `path` asking for the latest protocol version.
    pub async fn initialize(&self, path: &str, token: &str) -> TestResponse {
        self.send(self.mcp_req(path, token, "initialize", initialize_params(LATEST_VERSION)))
            .await
    }

    /// Whether this process holds an open event stream (`GET`) of session `sid`.
    pub fn session_stream_open(&self, sid: &str) -> bool {
        self.state.sessions.listeners.is_open(sid)
    }

    /// The stored session `sid` as (owner, bound server id); `None` when there is none.
    pub async fn session_binding(&self, sid: &str) -> Option<(Option<String>, Option<String>)> {
        let record = self
            .state
            .sessions
            .store
            .get(sid)
            .await
            .expect("the session store");
        record.map(|r| (r.owner, r.server_id))
    }

    /// Open a stateful session on `path`: its id (panics if none is issued).
    pub async fn open_session(&self, path: &str, token: &str) -> String {
        let r = self.initialize(path, token).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "initialize on {path}: {}",
            r.text()
        );
        r.session_id().expect("initialize issues mcp-session-id")
    }

    /// A request on an open session.
    pub async fn in_session(
        &self,
        path: &str,
        token: &str,
        session: &str,
        method: &str,
        params: Value,
    ) -> TestResponse {
        self.send(
            self.mcp_req(path, token, method, params)
                .header("mcp-session-id", session),
        )
        .await
    }

    /// Send a request and return as soon as the response head arrives, with the body still
    /// streaming (for `GET` streams that stay open).
    pub async fn open(&self, r: TestRequest) -> OpenResponse {
        let mut builder = Request::builder().method(r.method).uri(r.path.as_str());
        for (k, v) in &r.headers {
            let value = HeaderValue::from_bytes(v.as_bytes()).expect("a valid header value");
            builder = builder.header(k.as_str(), value);
        }
        let mut request = builder
            .body(Body::from(r.body))
            .expect("a valid request target");
        request.extensions_mut().insert(ConnectInfo(r.peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        OpenResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// A tool URL nothing listens on: calls fail fast with an `isError` result.
pub const UNREACHABLE_TOOL_URL: &str = "http://127.0.0.1:9/unreachable";

/// Two public servers, `alpha` (S) and `beta` (T), each with one REST tool of its own.
#[derive(Debug, Clone)]
pub struct TwoServers {
    pub s: String,
    pub t: String,
    /// Callable names of S's and T's tools.
    pub s_tool: String,
    pub t_tool: String,
}

impl TwoServers {
    pub const S_NAME: &'static str = "alpha";
    pub const T_NAME: &'static str = "beta";
}

impl TestGateway {
    /// A gateway on the test defaults as changed by `configure`, with [`TwoServers`] on it.
    pub async fn with_two_servers(
        configure: impl FnOnce(&mut crate::Settings),
    ) -> (TestGateway, TwoServers) {
        let mut settings = crate::Settings::default_for_tests();
        configure(&mut settings);
        let gw = TestGateway::with_settings(settings).await;
        let servers = gw.two_servers().await;
        (gw, servers)
    }

    /// Provision [`TwoServers`].
    pub async fn two_servers(&self) -> TwoServers {
        let (s_tool_id, s_tool) = self
            .create_rest_tool("alpha-tool", UNREACHABLE_TOOL_URL, json!({}))
            .await;
        let (t_tool_id, t_tool) = self
            .create_rest_tool("beta-tool", UNREACHABLE_TOOL_URL, json!({}))
            .await;
        let s = self
            .create_server(TwoServers::S_NAME, json!({"associated_tools": [s_tool_id]}))
            .await;
        let t = self
            .create_server(TwoServers::T_NAME, json!({"associated_tools": [t_tool_id]}))
            .await;
        TwoServers {
            s,
            t,
            s_tool,
            t_tool,
        }
    }
}

/// The tool names of a `tools/list` answer (empty when it is not one).
pub fn tool_names(r: &TestResponse) -> Vec<String> {
    r.message()["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
