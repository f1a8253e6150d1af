//! The conversations fidelity holds with the fidelity fixture (`crate::upstream::rich`), one
//! per feature, as data: which requests, in which order, and whether a request is a paginated
//! list to follow to its end. The same list is held directly and through the gateway.
//!
//! Names are the upstream's: through the gateway the runner sends the gateway's names for them.

use serde_json::{Value, json};

/// One request of a conversation.
#[derive(Debug, Clone)]
pub struct Step {
    pub method: &'static str,
    pub params: Value,
    /// A list whose `nextCursor` is followed until it ends (at most [`MAX_PAGES`]).
    pub paginated: bool,
}

/// Pages of a list followed at most, on either side.
pub const MAX_PAGES: usize = 50;

/// One feature: what a gateway must pass through, and the conversation that shows it.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Stable id (`tools-list-paginated`): checks are `fidelity/<id>:<step>`; the manifest's
    /// `fidelity.unsupported` names features by it.
    pub id: &'static str,
    pub title: &'static str,
    /// Where the behaviour is specified.
    pub spec: &'static str,
    pub steps: Vec<Step>,
    /// A concurrency or failure probe instead of a conversation (`steps` is then empty).
    pub probe: Option<super::probe::Probe>,
}

/// The `_meta` every tool call carries, so a gateway that strips or adds keys shows it.
fn meta() -> Value {
    json!({"io.mcpgw.fidelity/trace": "trace-0001", "io.mcpgw.fidelity/nested": {"a": [1, "two", null]}})
}

fn call(tool: &'static str, arguments: Value) -> Step {
    Step {
        method: "tools/call",
        params: json!({"name": tool, "arguments": arguments, "_meta": meta()}),
        paginated: false,
    }
}

fn list(method: &'static str) -> Step {
    Step {
        method,
        params: json!({}),
        paginated: true,
    }
}

fn request(method: &'static str, params: Value) -> Step {
    Step {
        method,
        params,
        paginated: false,
    }
}

fn feature(id: &'static str, title: &'static str, spec: &'static str, steps: Vec<Step>) -> Feature {
    Feature {
        id,
        title,
        spec,
        steps,
        probe: None,
    }
}

fn probe(
    id: &'static str,
    title: &'static str,
    spec: &'static str,
    probe: super::probe::Probe,
) -> Feature {
    Feature {
        probe: Some(probe),
        ..feature(id, title, spec, Vec::new())
    }
}

/// Every feature, in report order.
pub fn features() -> Vec<Feature> {
    let mut progress_meta = meta();
    progress_meta["progressToken"] = json!("fid-progress-token-1");
    vec![
        feature(
            "tools-list-paginated",
            "tools/list over several pages: every tool, with title, outputSchema, annotations and _meta",
            "MCP 2025-06-18 server/utilities/pagination, server/tools",
            vec![list("tools/list")],
        ),
        feature(
            "resources-list-paginated",
            "resources/list over several pages",
            "MCP 2025-06-18 server/utilities/pagination, server/resources",
            vec![list("resources/list")],
        ),
        feature(
            "resource-templates-list",
            "resources/templates/list over several pages",
            "MCP 2025-06-18 server/resources (resource templates)",
            vec![list("resources/templates/list")],
        ),
        feature(
            "prompts-list-paginated",
            "prompts/list over several pages, with arguments",
            "MCP 2025-06-18 server/utilities/pagination, server/prompts",
            vec![list("prompts/list")],
        ),
        feature(
            "content-types",
            "a tool result with text, image, audio, resource_link and embedded resources",
            "MCP 2025-06-18 server/tools (tool result content)",
            vec![call("fid-content", json!({}))],
        ),
        feature(
            "structured-content",
            "a tool result with structuredContent matching the tool's outputSchema",
            "MCP 2025-06-18 server/tools (structured content, output schema)",
            vec![call("fid-structured", json!({}))],
        ),
        feature(
            "is-error-result",
            "a tool result with isError: true",
            "MCP 2025-06-18 server/tools (error handling)",
            vec![call("fid-is-error", json!({}))],
        ),
        feature(
            "jsonrpc-error",
            "an upstream JSON-RPC error: its code, message and data",
            "JSON-RPC 2.0 §5.1; MCP 2025-06-18 server/tools (error handling)",
            vec![call("fid-rpc-error", json!({}))],
        ),
        feature(
            "large-result",
            "a tool result of 1 MiB, then one of 8 MiB",
            "MCP 2025-06-18 basic (messages are not truncated)",
            vec![
                call("fid-large", json!({"bytes": 1_048_576})),
                call(
                    "fid-large",
                    json!({"bytes": crate::upstream::rich::LARGE_MAX}),
                ),
            ],
        ),
        feature(
            "unicode-text",
            "text with astral-plane characters, right-to-left scripts, an escaped NUL",
            "RFC 8259 §7-8 (JSON strings)",
            vec![call(
                "fid-unicode",
                json!({"note": "\u{1F600} \u{05E9} a\u{0000}b"}),
            )],
        ),
        feature(
            "meta-passthrough",
            "_meta of a request reaches the upstream, _meta of a result reaches the client",
            "MCP 2025-06-18 basic (_meta)",
            vec![call("fid-echo-meta", json!({"k": "v"}))],
        ),
        feature(
            "progress-notifications",
            "progress notifications for a call with a progressToken, and logging notifications",
            "MCP 2025-06-18 basic/utilities/progress, server/utilities/logging",
            vec![Step {
                method: "tools/call",
                params: json!({"name": "fid-progress", "arguments": {}, "_meta": progress_meta}),
                paginated: false,
            }],
        ),
        feature(
            "resource-read",
            "resources/read of a text and of a binary (base64) resource",
            "MCP 2025-06-18 server/resources (reading resources)",
            vec![
                request("resources/read", json!({"uri": "fid://resource/2"})),
                request("resources/read", json!({"uri": "fid://resource/5"})),
            ],
        ),
        feature(
            "prompt-arguments",
            "prompts/get with arguments, messages with text and an embedded resource",
            "MCP 2025-06-18 server/prompts (getting a prompt)",
            vec![
                request(
                    "prompts/get",
                    json!({"name": "fid-greeting", "arguments": {"name": "Ada \u{1F600}", "style": "formal"}}),
                ),
                request("prompts/get", json!({"name": "fid-unicode"})),
            ],
        ),
        feature(
            "completion",
            "completion/complete of a prompt argument",
            "MCP 2025-06-18 server/utilities/completion",
            vec![request(
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "fid-greeting"}, "argument": {"name": "style", "value": "f"}}),
            )],
        ),
        probe(
            "colliding-ids",
            "2 clients x 50 calls at once with the same JSON-RPC ids: each gets its own answer",
            "JSON-RPC 2.0 §5 (the response's id is the request's); MCP 2025-06-18 basic/transports",
            super::probe::Probe::CollidingIds,
        ),
        probe(
            "dead-upstream",
            "an upstream that dies mid-call: the client gets an error within 10 s, never a hang",
            "MCP 2025-06-18 basic/lifecycle (timeouts), JSON-RPC 2.0 §5.1",
            super::probe::Probe::DeadUpstream,
        ),
        probe(
            "upstream-session-id",
            "an upstream's Mcp-Session-Id never reaches the client",
            "MCP 2025-06-18 basic/transports (session management)",
            super::probe::Probe::UpstreamSessionId,
        ),
    ]
}

/// The requests timed for the latency a gateway adds: one of each kind a client repeats, small,
/// so the time is the gateway's and not the payload's.
pub fn timed() -> Vec<(&'static str, Step)> {
    vec![
        ("tools/list (first page)", request("tools/list", json!({}))),
        (
            "tools/call fid-echo-meta",
            call("fid-echo-meta", json!({"k": "v"})),
        ),
        (
            "resources/read",
            request("resources/read", json!({"uri": "fid://resource/2"})),
        ),
        (
            "prompts/get",
            request(
                "prompts/get",
                json!({"name": "fid-greeting", "arguments": {"name": "Ada", "style": "formal"}}),
            ),
        ),
    ]
}

/// Where the name of the item a step addresses is, to send the gateway's name for it.
pub fn named_item(step: &Step) -> Option<&'static str> {
    match step.method {
        "tools/call" | "prompts/get" => Some("/name"),
        "completion/complete" => Some("/ref/name"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_tool_is_used() {
        let f = features();
        let mut ids: Vec<_> = f.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), f.len());
        // The probes call these themselves.
        let probed = ["fid-die"];
        for tool in crate::upstream::rich::TOOLS {
            assert!(
                probed.contains(&tool)
                    || f.iter()
                        .flat_map(|f| &f.steps)
                        .any(|s| s.params["name"] == tool),
                "{tool} unused"
            );
        }
    }
}
