//! Upstream servers the harness runs itself (wiremock), so steps can assert what the gateway
//! actually sent upstream.
//!
//! [`McpUpstream`] answers Streamable HTTP JSON-RPC (`initialize`, notifications -> 202,
//! `tools/*`, `resources/*`, `prompts/*`, `ping`; anything else -32601) with JSON responses and
//! no session; a fixture with `fidelity: true` is the [`rich`] one instead, whose notifications
//! travel in an SSE answer when the client takes one; a fixture with memory tools issues
//! sessions and keeps what each session remembered ([`memory`]). [`RestEcho`] answers any
//! request with what it received.

pub mod memory;
pub mod rich;

use std::net::TcpListener;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::scenario::{UpstreamFixture, UpstreamResource};
pub use rich::Reply;

/// One request an upstream received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Received {
    pub http_method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
}

impl Received {
    fn from_request(r: &Request) -> Received {
        let mut path = r.url.path().to_owned();
        if let Some(q) = r.url.query() {
            path.push('?');
            path.push_str(q);
        }
        Received {
            http_method: r.method.to_string(),
            path,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        }
    }

    /// All values of a header joined with `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        let v: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }
}

async fn start_server(host: &str) -> std::io::Result<MockServer> {
    start_server_on(host, 0).await
}

async fn start_server_on(host: &str, port: u16) -> std::io::Result<MockServer> {
    let listener = TcpListener::bind((host, port))?;
    Ok(MockServer::builder().listener(listener).start().await)
}

async fn received(server: &MockServer) -> Vec<Received> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(Received::from_request)
        .collect()
}

/// A harness-run MCP server.
#[derive(Debug)]
pub struct McpUpstream {
    server: MockServer,
    /// Every request's body as JSON (`null` when it is not), in arrival order: what a caller
    /// that reads the log after every request (a fuzz campaign) reads, without copying and
    /// parsing every request again.
    messages: Arc<Mutex<Vec<Value>>>,
}

impl McpUpstream {
    /// Start serving `spec` on `host` (an ephemeral port), at path `/mcp`.
    pub async fn start(host: &str, spec: UpstreamFixture) -> std::io::Result<McpUpstream> {
        McpUpstream::start_on(host, 0, spec, None).await
    }

    /// Start serving `spec` on `host:port` (0: ephemeral); with `record`, every request is also
    /// appended to that file as one JSON line (see [`Recorded`]) before it is answered.
    pub async fn start_on(
        host: &str,
        port: u16,
        spec: UpstreamFixture,
        record: Option<PathBuf>,
    ) -> std::io::Result<McpUpstream> {
        let server = start_server_on(host, port).await?;
        let messages = Arc::new(Mutex::new(Vec::new()));
        Mock::given(matchers::any())
            .respond_with(McpResponder {
                spec,
                record,
                messages: messages.clone(),
                sessions: std::sync::atomic::AtomicU64::new(1),
                memory: memory::SessionMemory::default(),
            })
            .mount(&server)
            .await;
        Ok(McpUpstream { server, messages })
    }

    /// The URL to register as a gateway.
    pub fn url(&self) -> String {
        format!("{}/mcp", self.server.uri())
    }

    /// Everything received so far, oldest first.
    pub async fn received(&self) -> Vec<Received> {
        received(&self.server).await
    }

    /// How many requests arrived so far, and the bodies of those after the first `skip`.
    pub fn messages_since(&self, skip: usize) -> (usize, Vec<Value>) {
        let log = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        (log.len(), log.get(skip..).unwrap_or(&[]).to_vec())
    }
}

/// The JSON-RPC behaviour of an [`McpUpstream`].
#[derive(Debug)]
struct McpResponder {
    spec: UpstreamFixture,
    record: Option<PathBuf>,
    messages: Arc<Mutex<Vec<Value>>>,
    /// Session ids issued so far (the fidelity fixture issues one per `initialize`).
    sessions: std::sync::atomic::AtomicU64,
    /// What each session remembered (a fixture with memory tools).
    memory: memory::SessionMemory,
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: &Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn resource_json(r: &UpstreamResource) -> Value {
    json!({"uri": r.uri, "name": r.name, "mimeType": r.mime_type})
}

impl Respond for McpResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(file) = &self.record {
            // Recorded before answering, so a reader that has the response sees the request.
            let _ = append_record(file, &Received::from_request(request));
        }
        let parsed = serde_json::from_slice::<Value>(&request.body);
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(parsed.as_ref().map_or(Value::Null, Value::clone));
        let session = request
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok());
        match request.method.as_str() {
            "POST" => {}
            "DELETE" => {
                if let Some(sid) = session {
                    self.memory.close(sid);
                }
                return ResponseTemplate::new(200);
            }
            _ => return ResponseTemplate::new(405).insert_header("allow", "POST, DELETE"),
        }
        let Ok(msg) = parsed else {
            return ResponseTemplate::new(400).set_body_json(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            );
        };
        let takes_stream = request
            .headers
            .get_all("accept")
            .iter()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("text/event-stream"));
        let delivery = if self.spec.fidelity {
            rich::delivery(&msg)
        } else {
            rich::Delivery::default()
        };
        if delivery.dies {
            // An upstream killed mid-call: the request was read and no answer will come. A
            // panic ends the task that serves this connection (the server and its other
            // connections live on), so the gateway sees the connection close without a
            // response, as it would from a process that died.
            std::panic::resume_unwind(Box::new("fidelity fixture: fid-die drops the connection"));
        }
        if self.spec.keeps_memory() {
            match self.memory.answer(&self.spec, session, &msg) {
                Some(Ok(answer)) => return ResponseTemplate::new(200).set_body_json(answer),
                Some(Err(refused)) => {
                    let id = msg.get("id").cloned().unwrap_or(Value::Null);
                    return ResponseTemplate::new(refused.status())
                        .set_body_json(refused.body(&id));
                }
                None => {}
            }
            if msg.get("method").and_then(Value::as_str) == Some("initialize") {
                let issued = self.memory.open();
                let template = reply(&self.spec, &msg).map_or_else(
                    || ResponseTemplate::new(202),
                    |r| ResponseTemplate::new(200).set_body_json(r.response),
                );
                return template.insert_header("mcp-session-id", issued.as_str());
            }
        }
        let template = match reply(&self.spec, &msg) {
            Some(r) if !r.notifications.is_empty() && takes_stream => {
                ResponseTemplate::new(200).set_body_raw(event_stream(&r), "text/event-stream")
            }
            Some(r) => ResponseTemplate::new(200).set_body_json(r.response),
            // A notification or a response from the client: accepted, nothing to answer.
            None => ResponseTemplate::new(202),
        };
        let template = if delivery.issues_session {
            let n = self
                .sessions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            template.insert_header(
                "mcp-session-id",
                format!("{}{n:08}", rich::SESSION_PREFIX).as_str(),
            )
        } else {
            template
        };
        if delivery.delay_ms > 0 {
            template.set_delay(std::time::Duration::from_millis(delivery.delay_ms))
        } else {
            template
        }
    }
}

/// A reply as a one-shot SSE body: each notification, then the response, one event each.
fn event_stream(r: &Reply) -> Vec<u8> {
    let mut out = String::new();
    for m in r.notifications.iter().chain(std::iter::once(&r.response)) {
        // Serialised JSON holds no raw newline, so one `data:` line carries a message.
        out.push_str("event: message\ndata: ");
        out.push_str(&m.to_string());
        out.push_str("\n\n");
    }
    out.into_bytes()
}

/// The fixture's reply to one JSON-RPC message, notifications included (`None` for a
/// notification or a response).
pub fn reply(spec: &UpstreamFixture, msg: &Value) -> Option<Reply> {
    if spec.fidelity {
        rich::answer(msg)
    } else {
        answer(spec, msg).map(Reply::only)
    }
}

/// What the fixture answers one JSON-RPC message over HTTP: [`reply`], but nothing for a call
/// during which it drops the connection instead (`fid-die`).
pub fn http_reply(spec: &UpstreamFixture, msg: &Value) -> Option<Reply> {
    if spec.fidelity && rich::delivery(msg).dies {
        return None;
    }
    reply(spec, msg)
}

/// The fixture's answer to one JSON-RPC message (`None` for a notification or a response),
/// whatever transport carried it.
pub fn answer(spec: &UpstreamFixture, msg: &Value) -> Option<Value> {
    let (Some(id), Some(method)) = (msg.get("id"), msg.get("method").and_then(Value::as_str))
    else {
        return None;
    };
    let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    Some(match method {
        "initialize" => rpc_result(
            id,
            json!({
                "protocolVersion": params.get("protocolVersion").cloned().unwrap_or_else(|| json!("2025-06-18")),
                "capabilities": {"tools": {"listChanged": false}, "resources": {"subscribe": false, "listChanged": false}, "prompts": {"listChanged": false}},
                "serverInfo": {"name": "mcpgw-harness-upstream", "version": env!("CARGO_PKG_VERSION")},
            }),
        ),
        "ping" => rpc_result(id, json!({})),
        "tools/list" => rpc_result(
            id,
            json!({"tools": spec.tools.iter().map(|t| json!({
                "name": t.name,
                "description": t.description.clone().unwrap_or_default(),
                "inputSchema": t.input_schema.clone().unwrap_or_else(|| json!({"type": "object"})),
            })).collect::<Vec<_>>()}),
        ),
        "tools/call" => match spec.tools.iter().find(|t| t.name == name) {
            Some(t) => {
                let args = params
                    .get("arguments")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let result = t.result.clone().unwrap_or_else(|| {
                    json!({"content": [{"type": "text", "text": args.to_string()}], "isError": false})
                });
                rpc_result(id, result)
            }
            None => rpc_error(id, -32602, format!("Unknown tool: {name}")),
        },
        "resources/list" => rpc_result(
            id,
            json!({"resources": spec.resources.iter().map(resource_json).collect::<Vec<_>>()}),
        ),
        "resources/templates/list" => rpc_result(id, json!({"resourceTemplates": []})),
        "resources/read" => {
            let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
            match spec.resources.iter().find(|r| r.uri == uri) {
                Some(r) => rpc_result(
                    id,
                    json!({"contents": [{"uri": r.uri, "mimeType": r.mime_type, "text": r.text}]}),
                ),
                None => rpc_error(id, -32002, format!("Resource not found: {uri}")),
            }
        }
        "prompts/list" => rpc_result(
            id,
            json!({"prompts": spec.prompts.iter().map(|p| json!({
                "name": p.name,
                "description": p.description.clone().unwrap_or_default(),
                "arguments": p.arguments,
            })).collect::<Vec<_>>()}),
        ),
        "prompts/get" => match spec.prompts.iter().find(|p| p.name == name) {
            Some(p) => {
                let mut text = p.text.clone();
                if let Some(args) = params.get("arguments").and_then(Value::as_object) {
                    for (k, v) in args {
                        let v = v
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string());
                        text = text.replace(&format!("{{{{{k}}}}}"), &v);
                    }
                }
                rpc_result(
                    id,
                    json!({"description": p.description.clone().unwrap_or_default(),
                           "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}),
                )
            }
            None => rpc_error(id, -32602, format!("Unknown prompt: {name}")),
        },
        other => rpc_error(id, -32601, format!("Method not found: {other}")),
    })
}

/// A harness-run HTTP echo for REST tools.
#[derive(Debug)]
pub struct RestEcho {
    server: MockServer,
}

impl RestEcho {
    pub async fn start(host: &str) -> std::io::Result<RestEcho> {
        let server = start_server(host).await?;
        Mock::given(matchers::any())
            .respond_with(EchoResponder)
            .mount(&server)
            .await;
        Ok(RestEcho { server })
    }

    /// The URL to give the tool.
    pub fn url(&self) -> String {
        format!("{}/echo", self.server.uri())
    }

    pub async fn received(&self) -> Vec<Received> {
        received(&self.server).await
    }
}

#[derive(Debug)]
struct EchoResponder;

impl Respond for EchoResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let r = Received::from_request(request);
        ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "received_method": r.http_method,
            "received_path": r.path,
            "received_body": String::from_utf8_lossy(&request.body),
        }))
    }
}

/// An upstream the harness reaches only through what it recorded: a fixture served by another
/// process (`mcpgw-conformance upstreams`, or `upstream --stdio` launched by the gateway) that
/// appends one JSON [`Received`] line per request to a file.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub file: PathBuf,
    /// Lines already there when the scenario started: not this scenario's.
    pub skip: usize,
}

impl Recorded {
    /// Start reading `file` from its current end.
    pub fn from_now(file: PathBuf) -> Recorded {
        let skip = read_records(&file).len();
        Recorded { file, skip }
    }

    /// What was recorded since [`Recorded::from_now`].
    pub fn received(&self) -> Vec<Received> {
        read_records(&self.file)
            .into_iter()
            .skip(self.skip)
            .collect()
    }
}

/// Every record in `file` (none when it does not exist yet); a torn last line is skipped.
pub fn read_records(file: &Path) -> Vec<Received> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Append one record to `file` (one `write` of a whole line, so concurrent writers do not
/// interleave within a line).
pub fn append_record(file: &Path, r: &Received) -> std::io::Result<()> {
    use std::io::Write;
    let mut line = serde_json::to_string(r).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(line.as_bytes())
}

/// An upstream of a scenario, however it is run.
#[derive(Debug)]
pub enum UpstreamHandle {
    /// Run in this process for this scenario.
    Local(McpUpstream),
    /// Run elsewhere, for every scenario; read through its records.
    Recorded(Recorded),
}

impl UpstreamHandle {
    /// Everything received during this scenario so far, oldest first.
    pub async fn received(&self) -> Vec<Received> {
        match self {
            UpstreamHandle::Local(u) => u.received().await,
            UpstreamHandle::Recorded(r) => r.received(),
        }
    }

    /// How many requests arrived during this scenario so far, and the bodies of those after
    /// the first `skip` (`null` for a body that is not JSON).
    pub async fn messages_since(&self, skip: usize) -> (usize, Vec<Value>) {
        match self {
            UpstreamHandle::Local(u) => u.messages_since(skip),
            UpstreamHandle::Recorded(r) => {
                let all = r.received();
                let len = all.len();
                (len, all.into_iter().skip(skip).map(|r| r.body).collect())
            }
        }
    }
}
