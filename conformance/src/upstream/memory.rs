//! The stateful fixture's session memory: what a `remember` tool kept, per upstream session, for
//! `recall` to answer ([`crate::scenario::UpstreamTool::memory`]).
//!
//! It is how a scenario sees whether a gateway keeps one user's upstream session state away
//! from another user's: a gateway that opens its own upstream session per client (or per call)
//! lets nobody recall what another remembered; one that shares an upstream session between
//! clients lets the second recall what the first remembered.
//!
//! Bounded whatever a gateway does: at most [`MAX_SESSIONS`] sessions (the oldest is forgotten
//! first) and [`MAX_VALUES`] remembered values per session (the oldest first again).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::scenario::{MemoryOp, UpstreamFixture};

/// The start of every session id a memory upstream issues.
pub const SESSION_PREFIX: &str = "mem-upstream-session-";
/// Sessions kept at once.
pub const MAX_SESSIONS: usize = 4096;
/// Values kept per session.
pub const MAX_VALUES: usize = 256;

/// Why a memory call was not served: MCP session management's answers of a server that needs
/// a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Mcp-Session-Id`: 400.
    NoSession,
    /// An id this upstream never issued, or one already ended: 404.
    UnknownSession,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::NoSession => 400,
            Refusal::UnknownSession => 404,
        }
    }

    /// The JSON-RPC error body answering request `id`.
    pub fn body(self, id: &Value) -> Value {
        let message = match self {
            Refusal::NoSession => "Bad Request: this server needs an Mcp-Session-Id",
            Refusal::UnknownSession => "Session not found",
        };
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": message}})
    }
}

/// Every open session's remembered values.
#[derive(Debug, Default)]
pub struct SessionMemory {
    inner: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    next: u64,
    open: BTreeMap<u64, VecDeque<Value>>,
}

/// The number inside a session id this module issued.
fn number_of(session: &str) -> Option<u64> {
    session.strip_prefix(SESSION_PREFIX)?.parse().ok()
}

impl SessionMemory {
    /// Open a session and return its id.
    pub fn open(&self) -> String {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.next += 1;
        let n = s.next;
        if s.open.len() >= MAX_SESSIONS {
            s.open.pop_first();
        }
        s.open.insert(n, VecDeque::new());
        format!("{SESSION_PREFIX}{n:08}")
    }

    /// End a session (an unknown id is ignored).
    pub fn close(&self, session: &str) {
        if let Some(n) = number_of(session) {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            s.open.remove(&n);
        }
    }

    /// The answer to `msg` when it is a `tools/call` of one of `spec`'s memory tools, made in
    /// `session` (the request's `Mcp-Session-Id`); `None` for any other message.
    pub fn answer(
        &self,
        spec: &UpstreamFixture,
        session: Option<&str>,
        msg: &Value,
    ) -> Option<Result<Value, Refusal>> {
        if msg.get("method").and_then(Value::as_str) != Some("tools/call") {
            return None;
        }
        let id = msg.get("id")?;
        let params = msg.get("params")?;
        let name = params.get("name").and_then(Value::as_str)?;
        let op = spec.tools.iter().find(|t| t.name == name)?.memory?;
        let Some(session) = session else {
            return Some(Err(Refusal::NoSession));
        };
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(kept) = number_of(session).and_then(|n| s.open.get_mut(&n)) else {
            return Some(Err(Refusal::UnknownSession));
        };
        let text = match op {
            MemoryOp::Remember => {
                if kept.len() >= MAX_VALUES {
                    kept.pop_front();
                }
                kept.push_back(params.get("arguments").cloned().unwrap_or(json!({})));
                "remembered".to_owned()
            }
            MemoryOp::Recall => Value::Array(kept.iter().cloned().collect()).to_string(),
        };
        Some(Ok(json!({
            "jsonrpc": "2.0",
            "id": id,
            "result": {"content": [{"type": "text", "text": text}], "isError": false},
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::UpstreamTool;

    fn spec() -> UpstreamFixture {
        let tool = |name: &str, memory| UpstreamTool {
            name: name.to_owned(),
            description: None,
            input_schema: None,
            result: None,
            memory: Some(memory),
        };
        UpstreamFixture {
            tools: vec![
                tool("remember", MemoryOp::Remember),
                tool("recall", MemoryOp::Recall),
            ],
            ..Default::default()
        }
    }

    fn call(name: &str, args: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": args}})
    }

    fn text(answer: Option<Result<Value, Refusal>>) -> String {
        answer.unwrap().unwrap()["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn each_session_recalls_only_what_it_remembered() {
        let (m, spec) = (SessionMemory::default(), spec());
        let (a, b) = (m.open(), m.open());
        assert_eq!(
            text(m.answer(&spec, Some(&a), &call("remember", json!({"v": 1})))),
            "remembered"
        );
        assert_eq!(
            text(m.answer(&spec, Some(&a), &call("recall", json!({})))),
            r#"[{"v":1}]"#
        );
        assert_eq!(
            text(m.answer(&spec, Some(&b), &call("recall", json!({})))),
            "[]"
        );
        m.close(&a);
        assert_eq!(
            m.answer(&spec, Some(&a), &call("recall", json!({})))
                .unwrap(),
            Err(Refusal::UnknownSession)
        );
    }

    #[test]
    fn memory_calls_need_a_session_it_issued_and_others_pass_by() {
        let (m, spec) = (SessionMemory::default(), spec());
        let recall = call("recall", json!({}));
        assert_eq!(
            m.answer(&spec, None, &recall).unwrap(),
            Err(Refusal::NoSession)
        );
        let forged = format!("{SESSION_PREFIX}00000099");
        assert_eq!(
            m.answer(&spec, Some(&forged), &recall).unwrap(),
            Err(Refusal::UnknownSession)
        );
        assert_eq!(
            m.answer(&spec, Some("x"), &recall).unwrap(),
            Err(Refusal::UnknownSession)
        );
        assert!(m.answer(&spec, None, &call("other", json!({}))).is_none());
        assert!(
            m.answer(
                &spec,
                None,
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            )
            .is_none()
        );
    }

    #[test]
    fn memory_is_bounded() {
        let (m, spec) = (SessionMemory::default(), spec());
        let first = m.open();
        for _ in 0..MAX_SESSIONS {
            m.open();
        }
        let recall = call("recall", json!({}));
        assert_eq!(
            m.answer(&spec, Some(&first), &recall).unwrap(),
            Err(Refusal::UnknownSession)
        );
        let s = m.open();
        for i in 0..MAX_VALUES + 5 {
            m.answer(&spec, Some(&s), &call("remember", json!({"i": i})));
        }
        let kept: Vec<Value> =
            serde_json::from_str(&text(m.answer(&spec, Some(&s), &recall))).unwrap();
        assert_eq!(kept.len(), MAX_VALUES);
        assert_eq!(kept[0], json!({"i": 5}));
    }
}
