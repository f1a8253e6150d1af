//! Serving the upstream fixtures a target manifest declares, in a process of their own, for
//! gateways configured from a file: over Streamable HTTP on their declared ports
//! (`mcpgw-conformance upstreams`), or over stdin/stdout for a gateway that launches its servers
//! as commands (`mcpgw-conformance upstream --stdio KEY`). Either way every message that reaches
//! a fixture is recorded in the manifest's record directory, which is how the suite, in another
//! process, checks what a gateway forwarded (see [`crate::upstream::Recorded`]).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use serde_json::Value;

use crate::manifest::world::fixture_of;
use crate::manifest::{Manifest, UpstreamTransport};
use crate::scenario::UpstreamFixture;
use crate::upstream::memory::SessionMemory;
use crate::upstream::{McpUpstream, Received, Reply, append_record, reply};

/// Why the declared fixtures could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the manifest `{0}` declares no static world (provisioning: static)")]
    NotStatic(String),
    #[error("the manifest declares no upstream `{0}`")]
    Unknown(String),
    #[error("upstream `{0}` is not a stdio upstream")]
    NotStdio(String),
    #[error("failed to prepare the record directory {0}: {1}")]
    RecordDir(PathBuf, String),
    #[error("failed to serve upstream `{0}` on port {1}: {2}")]
    Bind(String, u16, std::io::Error),
    #[error("failed to talk over stdio: {0}")]
    Stdio(std::io::Error),
}

/// The record directory, created if missing.
fn record_dir(m: &Manifest) -> Result<PathBuf, ServeError> {
    let dir = m
        .record_dir()
        .map_err(|e| ServeError::RecordDir(PathBuf::new(), e))?;
    std::fs::create_dir_all(&dir).map_err(|e| ServeError::RecordDir(dir.clone(), e.to_string()))?;
    Ok(dir)
}

/// The HTTP fixtures being served, with their URLs, until dropped.
#[derive(Debug)]
pub struct Served {
    pub upstreams: Vec<(String, String, McpUpstream)>,
}

impl Served {
    /// The ready line: `ready KEY=URL ...`.
    pub fn ready_line(&self) -> String {
        let mut line = "ready".to_owned();
        for (key, url, _) in &self.upstreams {
            line.push_str(&format!(" {key}={url}"));
        }
        line
    }
}

/// Start every HTTP upstream the manifest declares on `host` and its declared port.
pub async fn serve_http(m: &Manifest, host: &str) -> Result<Served, ServeError> {
    let world = m
        .static_world()
        .ok_or_else(|| ServeError::NotStatic(m.name.value.clone()))?;
    let dir = record_dir(m)?;
    let mut upstreams = Vec::new();
    for (key, d) in &world.upstreams {
        let (UpstreamTransport::Http, Some(port)) = (d.value.transport, d.value.port) else {
            continue;
        };
        let record = dir.join(format!("{key}.jsonl"));
        let u = McpUpstream::start_on(host, port, fixture_of(&d.value), Some(record))
            .await
            .map_err(|e| ServeError::Bind(key.clone(), port, e))?;
        upstreams.push((key.clone(), u.url(), u));
    }
    Ok(Served { upstreams })
}

/// Serve the stdio upstream `key` on stdin/stdout until stdin closes: one JSON-RPC message (or
/// batch) per line, as MCP's stdio transport frames them.
pub fn serve_stdio(m: &Manifest, key: &str) -> Result<(), ServeError> {
    let world = m
        .static_world()
        .ok_or_else(|| ServeError::NotStatic(m.name.value.clone()))?;
    let d = world
        .upstreams
        .get(key)
        .ok_or_else(|| ServeError::Unknown(key.to_owned()))?;
    if d.value.transport != UpstreamTransport::Stdio {
        return Err(ServeError::NotStdio(key.to_owned()));
    }
    let record = record_dir(m)?.join(format!("{key}.jsonl"));
    let spec = fixture_of(&d.value);
    // Over stdio the process is the session: what it remembers, it remembers for whoever
    // writes to it.
    let memory = SessionMemory::default();
    let session = memory.open();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(ServeError::Stdio)?;
        if line.trim().is_empty() {
            continue;
        }
        let replies = match serde_json::from_str::<Value>(&line) {
            Err(_) => vec![serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": "Parse error"}
            })],
            Ok(msg) => {
                // Recorded like an HTTP fixture records a POST, so scenarios read both alike.
                let _ = append_record(
                    &record,
                    &Received {
                        http_method: "STDIO".to_owned(),
                        path: String::new(),
                        headers: Vec::new(),
                        body: msg.clone(),
                    },
                );
                reply_to(&spec, &msg, &memory, &session)
            }
        };
        for reply in replies {
            writeln!(stdout, "{reply}").map_err(ServeError::Stdio)?;
        }
        stdout.flush().map_err(ServeError::Stdio)?;
    }
    Ok(())
}

/// The lines that answer a message or a batch, in order (none: nothing to send back). On stdio
/// a single request's notifications go first, each a line of its own, as MCP's stdio transport
/// carries them; a batch's answer is one array of responses. Memory tools answer from
/// `session`'s memory.
fn reply_to(
    spec: &UpstreamFixture,
    msg: &Value,
    memory: &SessionMemory,
    session: &str,
) -> Vec<Value> {
    let one = |m: &Value| -> Option<Reply> {
        if spec.keeps_memory()
            && let Some(answer) = memory.answer(spec, Some(session), m)
        {
            let id = m.get("id").cloned().unwrap_or(Value::Null);
            return Some(Reply::only(answer.unwrap_or_else(|r| r.body(&id))));
        }
        reply(spec, m)
    };
    match msg {
        Value::Array(batch) => {
            let replies: Vec<Value> = batch.iter().filter_map(one).map(|r| r.response).collect();
            if replies.is_empty() {
                Vec::new()
            } else {
                vec![Value::Array(replies)]
            }
        }
        single => one(single)
            .map(|r| {
                let mut lines = r.notifications;
                lines.push(r.response);
                lines
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_answer_each_request_and_skip_notifications() {
        let spec = UpstreamFixture::default();
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"}
        ]);
        let memory = SessionMemory::default();
        let session = memory.open();
        let reply = reply_to(&spec, &batch, &memory, &session);
        assert_eq!(reply.len(), 1);
        assert_eq!(reply[0].as_array().map(Vec::len), Some(1));
        let note = json!({"jsonrpc": "2.0", "method": "x"});
        assert!(reply_to(&spec, &note, &memory, &session).is_empty());
    }
}
