//! The fidelity fixture: an upstream MCP server whose every answer exercises one thing a gateway
//! must pass through intact, chosen by the method asked or the tool called. Everything is
//! deterministic (no clock, no randomness), so the same conversation held directly and through a
//! gateway can be compared message by message.
//!
//! - `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`: several pages,
//!   chained by opaque cursors that contain `+`, `/` and `=` (what a form-decoding or
//!   re-encoding gateway mangles); a cursor not issued here is a -32602 error.
//! - tools: [`TOOLS`] (every content type, `structuredContent` with its `outputSchema`,
//!   `isError`, a JSON-RPC error with `data`, a result of `bytes` bytes, astral-plane, RTL and
//!   NUL text, `_meta` echoed, progress and logging notifications), and `fid-die`, the call
//!   during which the upstream dies.
//! - what the transport does besides answering ([`delivery`]): a session id on `initialize`
//!   (recognisable by [`SESSION_PREFIX`]), a delay before answering `fid-echo-meta` when asked
//!   (`delay_ms`), and no answer at all to `fid-die` (the connection is dropped).
//! - `resources/read` (text and base64 blob), `prompts/get` with arguments, and
//!   `completion/complete` of a prompt's argument.
//!
//! This module decides answers only; the transports (`super::McpResponder`, stdio) carry them.

use serde_json::{Map, Value, json};

/// An answer to one request: the notifications sent before the response (only on a transport
/// that can carry them, an SSE stream), then the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub notifications: Vec<Value>,
    pub response: Value,
}

impl Reply {
    /// A response with no notifications before it.
    pub fn only(response: Value) -> Reply {
        Reply {
            notifications: Vec::new(),
            response,
        }
    }
}

/// The fixture's tools, by the upstream's names.
pub const TOOLS: [&str; 9] = [
    "fid-echo-meta",
    "fid-content",
    "fid-structured",
    "fid-is-error",
    "fid-rpc-error",
    "fid-large",
    "fid-unicode",
    "fid-progress",
    "fid-die",
];

/// The start of every session id the fixture issues: an upstream's session id must never reach
/// the gateway's clients, and this is how `fidelity` recognises one.
pub const SESSION_PREFIX: &str = "fid-upstream-session-";

/// The longest `delay_ms` honoured.
pub const MAX_DELAY_MS: u64 = 2_000;

/// What the transport does with a message besides answering it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Wait this long before answering (`fid-echo-meta` with `arguments.delay_ms`, at most
    /// [`MAX_DELAY_MS`]), so calls sent at once are all in flight inside the gateway together.
    pub delay_ms: u64,
    /// Never answer: drop the connection once the request is read (`fid-die`), as an upstream
    /// killed mid-call does.
    pub dies: bool,
    /// Issue a session id (`initialize`).
    pub issues_session: bool,
}

/// What the transport does with `msg` besides answering it.
pub fn delivery(msg: &Value) -> Delivery {
    let method = msg.get("method").and_then(Value::as_str);
    let params = msg.get("params");
    let tool = params.and_then(|p| p.get("name")).and_then(Value::as_str);
    let called = |name: &str| method == Some("tools/call") && tool == Some(name);
    Delivery {
        delay_ms: if called("fid-echo-meta") {
            params
                .and_then(|p| p.pointer("/arguments/delay_ms"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(MAX_DELAY_MS)
        } else {
            0
        },
        dies: called("fid-die"),
        issues_session: method == Some("initialize") && msg.get("id").is_some(),
    }
}

/// Items per page of each list: small, so every list spans several pages.
const PAGE: usize = 3;

/// The size of `fid-large`'s text when the call names none: 1 MiB.
pub const LARGE_DEFAULT: usize = 1 << 20;
/// The most `fid-large` produces, whatever the call asks: 8 MiB.
pub const LARGE_MAX: usize = 8 << 20;

/// The JSON-RPC error code `fid-rpc-error` answers (the implementation-defined server range).
pub const RPC_ERROR_CODE: i64 = -32042;

/// A 1x1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
/// A WAV header with no samples.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

/// Text a gateway must not re-encode: astral-plane characters, right-to-left scripts and
/// controls, an escaped NUL, JSON's own escapes and the separators JavaScript treats as lines.
pub const UNICODE_TEXT: &str = "astral: \u{1D49C}\u{1D505}\u{1F600}\u{1F004}\u{10FFFF}; \
rtl: \u{05E9}\u{05DC}\u{05D5}\u{05DD} \u{0645}\u{0631}\u{062D}\u{0628}\u{0627} \u{202E}desrever\u{202C}; \
nul: a\u{0000}b; escapes: \"quoted\" back\\slash tab\t; separators: \u{2028}\u{2029}; \
combining: e\u{0301} \u{FE0F}";

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// The cursor of page `n` (n >= 1): opaque to the client, with characters that a gateway which
/// decodes or re-encodes cursors changes.
pub fn cursor(n: usize) -> String {
    format!("pg{n}+/=")
}

fn page_of(cursor: &str) -> Option<usize> {
    cursor
        .strip_prefix("pg")?
        .strip_suffix("+/=")?
        .parse()
        .ok()
        .filter(|n| *n >= 1)
}

/// One page of `items` as `{key: [...], nextCursor?}`, or the -32602 of a cursor not issued.
fn paged(id: &Value, params: &Map<String, Value>, key: &str, items: Vec<Value>) -> Value {
    let page = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => match page_of(c) {
            Some(n) if n * PAGE < items.len() => n,
            _ => {
                return error(id, -32602, "Invalid cursor", Some(json!({"cursor": c})));
            }
        },
        Some(other) => {
            return error(id, -32602, "Invalid cursor", Some(json!({"cursor": other})));
        }
    };
    let start = page * PAGE;
    let chunk: Vec<Value> = items.into_iter().skip(start).take(PAGE + 1).collect();
    let more = chunk.len() > PAGE;
    let mut out = Map::new();
    out.insert(
        key.to_owned(),
        Value::Array(chunk.into_iter().take(PAGE).collect()),
    );
    if more {
        out.insert("nextCursor".to_owned(), json!(cursor(page + 1)));
    }
    result(id, Value::Object(out))
}

fn output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"temperature": {"type": "number"}, "conditions": {"type": "string"}},
        "required": ["temperature", "conditions"],
    })
}

/// The tools as `tools/list` shows them.
pub fn tools() -> Vec<Value> {
    TOOLS
        .iter()
        .map(|name| {
            let mut t = json!({
                "name": name,
                "description": format!("fidelity fixture tool {name}"),
                "inputSchema": {"type": "object", "properties": {"bytes": {"type": "integer"}, "note": {"type": "string"}}},
            });
            match *name {
                "fid-structured" => {
                    t["title"] = json!("Structured weather");
                    t["outputSchema"] = output_schema();
                }
                "fid-echo-meta" => t["_meta"] = json!({"io.mcpgw.fidelity/tool": "echo"}),
                "fid-progress" => {
                    t["annotations"] = json!({"readOnlyHint": true, "openWorldHint": false});
                }
                _ => {}
            }
            t
        })
        .collect()
}

/// The resources as `resources/list` shows them; the last one is binary.
pub fn resources() -> Vec<Value> {
    (1..=5)
        .map(|n| {
            let mime = if n == 5 { "image/png" } else { "text/plain" };
            json!({
                "uri": format!("fid://resource/{n}"),
                "name": format!("fid-resource-{n}"),
                "description": format!("fidelity fixture resource {n}"),
                "mimeType": mime,
            })
        })
        .collect()
}

fn templates() -> Vec<Value> {
    ["item", "user", "report", "log"]
        .iter()
        .map(|t| {
            json!({
                "uriTemplate": format!("fid://{t}/{{id}}"),
                "name": format!("fid-{t}"),
                "description": format!("fidelity fixture {t} by id"),
                "mimeType": "application/json",
            })
        })
        .collect()
}

/// The prompts as `prompts/list` shows them.
pub fn prompts() -> Vec<Value> {
    vec![
        json!({"name": "fid-greeting", "description": "a greeting in a style", "arguments": [
            {"name": "name", "description": "who to greet", "required": true},
            {"name": "style", "description": "formal or casual", "required": false},
        ]}),
        json!({"name": "fid-summary", "description": "a summary of a topic", "arguments": [
            {"name": "topic", "description": "what to summarise", "required": true},
        ]}),
        json!({"name": "fid-plain", "description": "a prompt without arguments", "arguments": []}),
        json!({"name": "fid-unicode", "description": "a prompt whose text is not ASCII", "arguments": []}),
    ]
}

const STYLES: [&str; 4] = ["formal", "friendly", "funny", "casual"];

fn text(s: &str) -> Value {
    json!({"type": "text", "text": s})
}

/// The answer to `tools/call` of `name`.
fn call(id: &Value, name: &str, params: &Map<String, Value>) -> Reply {
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let meta = params.get("_meta").cloned().unwrap_or(Value::Null);
    let r = |v: Value| Reply::only(result(id, v));
    match name {
        "fid-echo-meta" => {
            // What arrived, as it arrived: a `_meta` that did not arrive is absent here too.
            let mut received = json!({"arguments": args});
            if let Some(m) = params.get("_meta") {
                received["_meta"] = m.clone();
            }
            // The arguments are in the text too: a gateway that drops a result's `_meta`
            // still shows whose call an answer is.
            r(json!({
                "content": [text(&format!("meta echoed; arguments: {args}"))],
                "_meta": {
                    "io.mcpgw.fidelity/result": "kept",
                    "io.mcpgw.fidelity/received": received,
                },
            }))
        }
        "fid-content" => r(json!({"content": [
            {"type": "text", "text": "plain text", "annotations": {"audience": ["user"], "priority": 0.5}},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "audio", "data": WAV, "mimeType": "audio/wav"},
            {"type": "resource_link", "uri": "fid://resource/1", "name": "fid-resource-1",
             "description": "a link to a resource", "mimeType": "text/plain"},
            {"type": "resource", "resource": {"uri": "fid://resource/2", "mimeType": "text/plain", "text": "embedded text"}},
            {"type": "resource", "resource": {"uri": "fid://resource/5", "mimeType": "image/png", "blob": PNG}},
        ]})),
        "fid-structured" => {
            let data = json!({"temperature": 22.5, "conditions": "Partly cloudy"});
            r(json!({"content": [text(&data.to_string())], "structuredContent": data}))
        }
        "fid-is-error" => r(json!({
            "content": [text("the upstream failed on purpose")],
            "isError": true,
        })),
        "fid-rpc-error" => Reply::only(error(
            id,
            RPC_ERROR_CODE,
            "Upstream refused on purpose",
            Some(
                json!({"reason": "fidelity", "retryAfterMs": 1500, "nested": {"list": [1, 2, 3]}}),
            ),
        )),
        "fid-large" => {
            let n = args
                .get("bytes")
                .and_then(Value::as_u64)
                .map_or(LARGE_DEFAULT, |b| usize::try_from(b).unwrap_or(LARGE_MAX))
                .min(LARGE_MAX);
            let body: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            r(json!({"content": [text(&body)]}))
        }
        "fid-unicode" => r(json!({
            "content": [text(UNICODE_TEXT)],
            "structuredContent": {"text": UNICODE_TEXT},
        })),
        "fid-progress" => {
            let mut notifications = Vec::new();
            if let Some(token) = meta.get("progressToken") {
                for step in 1..=3 {
                    notifications.push(
                        json!({"jsonrpc": "2.0", "method": "notifications/progress",
                        "params": {"progressToken": token, "progress": step, "total": 3,
                                   "message": format!("step {step} of 3")}}),
                    );
                }
            }
            notifications.push(json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "logger": "mcpgw-fidelity", "data": {"done": true, "steps": 3}}}));
            Reply {
                notifications,
                response: result(id, json!({"content": [text("progress done")]})),
            }
        }
        // Never sent: the transport drops the connection instead (see [`delivery`]); over a
        // transport that cannot, the call is answered so that nothing waits for it.
        "fid-die" => {
            r(json!({"content": [text("the upstream should have died")], "isError": true}))
        }
        other => Reply::only(error(id, -32602, &format!("Unknown tool: {other}"), None)),
    }
}

fn read(id: &Value, uri: &str) -> Value {
    let n = uri
        .strip_prefix("fid://resource/")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=5).contains(n));
    match n {
        Some(5) => result(
            id,
            json!({"contents": [{"uri": uri, "mimeType": "image/png", "blob": PNG}]}),
        ),
        Some(n) => result(
            id,
            json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": format!("resource {n} text")}]}),
        ),
        None => error(id, -32002, "Resource not found", Some(json!({"uri": uri}))),
    }
}

fn get_prompt(id: &Value, name: &str, args: &Map<String, Value>) -> Value {
    let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or("");
    let messages = match name {
        "fid-greeting" => json!([
            {"role": "user", "content": text(&format!("Greet {} in a {} way", arg("name"), arg("style")))},
            {"role": "assistant", "content": {"type": "resource", "resource":
                {"uri": "fid://resource/1", "mimeType": "text/plain", "text": "resource 1 text"}}},
        ]),
        "fid-summary" => {
            json!([{"role": "user", "content": text(&format!("Summarise {}", arg("topic")))}])
        }
        "fid-plain" => json!([{"role": "user", "content": text("plain")}]),
        "fid-unicode" => json!([{"role": "user", "content": text(UNICODE_TEXT)}]),
        other => {
            return error(id, -32602, &format!("Unknown prompt: {other}"), None);
        }
    };
    result(
        id,
        json!({"description": format!("fidelity prompt {name}"), "messages": messages}),
    )
}

fn complete(id: &Value, params: &Map<String, Value>) -> Value {
    let prefix = params
        .get("argument")
        .and_then(|a| a.get("value"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let values: Vec<&str> = STYLES
        .iter()
        .copied()
        .filter(|s| s.starts_with(prefix))
        .collect();
    result(
        id,
        json!({"completion": {"values": values, "total": values.len(), "hasMore": false}}),
    )
}

/// The fixture's answer to one JSON-RPC message (`None` for a notification or a response).
pub fn answer(msg: &Value) -> Option<Reply> {
    let (Some(id), Some(method)) = (msg.get("id"), msg.get("method").and_then(Value::as_str))
    else {
        return None;
    };
    let empty = Map::new();
    let params = msg
        .get("params")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    Some(match method {
        "initialize" => Reply::only(result(
            id,
            json!({
                "protocolVersion": params.get("protocolVersion").cloned().unwrap_or_else(|| json!("2025-06-18")),
                "capabilities": {"tools": {}, "resources": {}, "prompts": {}, "logging": {}, "completions": {}},
                "serverInfo": {"name": "mcpgw-fidelity-upstream", "version": env!("CARGO_PKG_VERSION")},
            }),
        )),
        "ping" => Reply::only(result(id, json!({}))),
        "tools/list" => Reply::only(paged(id, params, "tools", tools())),
        "tools/call" => call(id, name, params),
        "resources/list" => Reply::only(paged(id, params, "resources", resources())),
        "resources/templates/list" => {
            Reply::only(paged(id, params, "resourceTemplates", templates()))
        }
        "resources/read" => Reply::only(read(
            id,
            params.get("uri").and_then(Value::as_str).unwrap_or(""),
        )),
        "prompts/list" => Reply::only(paged(id, params, "prompts", prompts())),
        "prompts/get" => {
            let args = params
                .get("arguments")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            Reply::only(get_prompt(id, name, args))
        }
        "completion/complete" => Reply::only(complete(id, params)),
        other => Reply::only(error(
            id,
            -32601,
            &format!("Method not found: {other}"),
            None,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(method: &str, params: Value) -> Value {
        answer(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .map(|r| r.response)
            .unwrap_or(Value::Null)
    }

    #[test]
    fn every_list_spans_several_pages_and_ends() {
        for (method, key, total) in [
            ("tools/list", "tools", TOOLS.len()),
            ("resources/list", "resources", 5),
            ("resources/templates/list", "resourceTemplates", 4),
            ("prompts/list", "prompts", 4),
        ] {
            let mut seen = 0;
            let mut pages = 0;
            let mut params = json!({});
            loop {
                let r = ask(method, params);
                seen += r["result"][key].as_array().map_or(0, Vec::len);
                pages += 1;
                match r["result"]["nextCursor"].as_str() {
                    Some(c) => params = json!({"cursor": c}),
                    None => break,
                }
            }
            assert_eq!(seen, total, "{method}");
            assert!(pages >= 2, "{method} has one page");
        }
    }

    #[test]
    fn a_rewritten_cursor_is_refused() {
        let r = ask("tools/list", json!({"cursor": "pg1 /="}));
        assert_eq!(r["error"]["code"], -32602);
        let r = ask("tools/list", json!({"cursor": cursor(9)}));
        assert_eq!(r["error"]["code"], -32602);
    }

    #[test]
    fn progress_comes_only_with_a_token() {
        let call = |meta: Value| {
            answer(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "fid-progress", "_meta": meta}}))
            .map(|r| r.notifications.len())
        };
        assert_eq!(call(json!({"progressToken": "t"})), Some(4));
        assert_eq!(call(Value::Null), Some(1));
    }

    #[test]
    fn large_results_are_bounded() {
        let r = ask(
            "tools/call",
            json!({"name": "fid-large", "arguments": {"bytes": u64::MAX}}),
        );
        let text = r["result"]["content"][0]["text"].as_str().unwrap_or("");
        assert_eq!(text.len(), LARGE_MAX);
    }

    #[test]
    fn deliveries_are_chosen_by_the_message() {
        let call = |name: &str, args: Value| {
            delivery(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": args}}))
        };
        assert_eq!(call("fid-echo-meta", json!({"delay_ms": 50})).delay_ms, 50);
        assert_eq!(
            call("fid-echo-meta", json!({"delay_ms": u64::MAX})).delay_ms,
            MAX_DELAY_MS
        );
        assert_eq!(call("fid-content", json!({"delay_ms": 50})).delay_ms, 0);
        assert!(call("fid-die", json!({})).dies);
        assert!(!call("fid-echo-meta", json!({})).dies);
        let init = delivery(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize"}));
        assert!(init.issues_session);
    }

    #[test]
    fn notifications_and_responses_get_none() {
        assert!(
            answer(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).is_none()
        );
        assert!(answer(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})).is_none());
    }
}
