//! Upstream servers the harness runs itself (wiremock), so steps can assert what the gateway
//! actually sent upstream.
//!
//! [`McpUpstream`] answers Streamable HTTP JSON-RPC (`initialize`, notifications -> 202,
//! `tools/*`, `resources/*`, `prompts/*`, `ping`; anything else -32601) with JSON responses and
//! no session. [`RestEcho`] answers any request with what it received.

use std::net::TcpListener;

use serde::Serialize;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::scenario::{UpstreamFixture, UpstreamResource};

/// One request an upstream received.
#[derive(Debug, Clone, Serialize)]
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
    let listener = TcpListener::bind((host, 0))?;
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
}

impl McpUpstream {
    /// Start serving `spec` on `host` (an ephemeral port), at path `/mcp`.
    pub async fn start(host: &str, spec: UpstreamFixture) -> std::io::Result<McpUpstream> {
        let server = start_server(host).await?;
        Mock::given(matchers::any())
            .respond_with(McpResponder { spec })
            .mount(&server)
            .await;
        Ok(McpUpstream { server })
    }

    /// The URL to register as a gateway.
    pub fn url(&self) -> String {
        format!("{}/mcp", self.server.uri())
    }

    /// Everything received so far, oldest first.
    pub async fn received(&self) -> Vec<Received> {
        received(&self.server).await
    }
}

/// The JSON-RPC behaviour of an [`McpUpstream`].
#[derive(Debug)]
struct McpResponder {
    spec: UpstreamFixture,
}

fn rpc_result(id: &Value, result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn rpc_error(id: &Value, code: i64, message: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    )
}

fn resource_json(r: &UpstreamResource) -> Value {
    json!({"uri": r.uri, "name": r.name, "mimeType": r.mime_type})
}

impl Respond for McpResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match request.method.as_str() {
            "POST" => {}
            "DELETE" => return ResponseTemplate::new(200),
            _ => return ResponseTemplate::new(405).insert_header("allow", "POST, DELETE"),
        }
        let Ok(msg) = serde_json::from_slice::<Value>(&request.body) else {
            return ResponseTemplate::new(400).set_body_json(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            );
        };
        let (Some(id), Some(method)) = (msg.get("id"), msg.get("method").and_then(Value::as_str))
        else {
            // A notification or a response from the client: accepted, nothing to answer.
            return ResponseTemplate::new(202);
        };
        let params = msg.get("params").cloned().unwrap_or_else(|| json!({}));
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let spec = &self.spec;
        match method {
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
        }
    }
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
