//! What a campaign reads around one exchange, shared by the search over single requests
//! ([`super::engine`]) and over sequences ([`super::sequence_run`]): the `tools/call` requests
//! the harness's upstreams received meanwhile, the answer as the invariants see it, and why
//! there was none.

use serde_json::Value;

use crate::client::Exchange;
use crate::runner;
use crate::target::Target;

use super::invariants::{Invariant, Observed, UpstreamCall, Violation};
use super::world::{World, WorldView};

/// How many requests each upstream of `world` has received.
pub async fn log_lengths(world: &World) -> Vec<usize> {
    let mut lengths = Vec::new();
    for up in world.fixtures.upstreams.keys() {
        let (len, _) = world
            .provisioned
            .messages_since(up, usize::MAX)
            .await
            .unwrap_or_default();
        lengths.push(len);
    }
    lengths
}

/// The `tools/call` requests the upstreams received since `before` (from [`log_lengths`]) was
/// read, each with what its upstream answered where that follows from the message, and the
/// longest log now.
pub async fn calls_since(world: &World, before: &[usize]) -> (Vec<UpstreamCall>, usize) {
    let mut calls = Vec::new();
    let mut longest = 0;
    for (i, (up, spec)) in world.fixtures.upstreams.iter().enumerate() {
        let seen = before.get(i).copied().unwrap_or(0);
        let (len, new) = world
            .provisioned
            .messages_since(up, seen)
            .await
            .unwrap_or_default();
        longest = longest.max(len);
        // An upstream that keeps session memory answers by its session, which the log does
        // not show; the others answer by the message alone.
        let answers = !spec.keeps_memory();
        calls.extend(tool_calls(&new).into_iter().map(|(tool, message)| {
            let answer = message
                .filter(|_| answers)
                .and_then(|m| crate::upstream::http_reply(spec, m))
                .map(|r| r.response);
            UpstreamCall {
                upstream: up.clone(),
                tool,
                params: message
                    .and_then(|m| m.get("params"))
                    .cloned()
                    .unwrap_or(Value::Null),
                answer,
            }
        }));
    }
    (calls, longest)
}

/// The tools that `tools/call` messages among `bodies` name, also inside a batch (a gateway
/// may forward a client's batch as one), each with its message when it came alone (an upstream
/// answers a batch as a whole, or not at all).
pub fn tool_calls(bodies: &[Value]) -> Vec<(String, Option<&Value>)> {
    let call = |m: &Value| {
        (m.get("method").and_then(Value::as_str) == Some("tools/call")).then(|| {
            m.pointer("/params/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
    };
    bodies
        .iter()
        .flat_map(|b| match b {
            Value::Array(batch) => batch
                .iter()
                .filter_map(|m| call(m).map(|t| (t, None)))
                .collect(),
            one => call(one)
                .map(|t| (t, Some(one)))
                .into_iter()
                .collect::<Vec<_>>(),
        })
        .collect()
}

/// The calls of `calls` that may be case `i`'s, of a batch whose cases sent `bodies`: all but
/// those that another case of the batch named (by the tool's name or id) and `i` did not. A
/// call nobody named stays with every case, so a gateway that runs a tool no one asked for is
/// still seen.
pub fn calls_of(
    calls: &[UpstreamCall],
    bodies: &[String],
    i: usize,
    world: &WorldView,
) -> Vec<UpstreamCall> {
    calls
        .iter()
        .filter(|c| {
            world.names_tool(&bodies[i], &c.upstream, &c.tool)
                || !bodies
                    .iter()
                    .enumerate()
                    .any(|(j, b)| j != i && world.names_tool(b, &c.upstream, &c.tool))
        })
        .cloned()
        .collect()
}

/// The request target of `exchange` without worker `via`'s root path (and, in absolute form,
/// without its scheme and authority: the path is what the gateway must judge either way).
pub fn path_of<'a>(target: &Target, via: usize, exchange: &'a Exchange) -> &'a str {
    let base = &target.bases[via];
    let sent = exchange.request.target.as_str();
    let origin_form = sent
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_prefix(base.authority.as_str()))
        .unwrap_or(sent);
    origin_form
        .strip_prefix(base.root.as_str())
        .unwrap_or(origin_form)
}

/// The answer as the invariants see it (`None`: no response), with the upstream `calls`.
pub fn observed(exchange: &Exchange, calls: Vec<UpstreamCall>) -> Option<Observed> {
    exchange.response.as_ref().map(|r| Observed {
        status: r.status,
        text: r.text(),
        json: runner::body_json(r),
        calls,
        www_authenticate: r.header("www-authenticate"),
        session_id: r.header("mcp-session-id"),
    })
}

/// A header the request carried.
pub fn sent_header<'a>(exchange: &'a Exchange, name: &str) -> Option<&'a str> {
    exchange
        .request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Say in `broken`'s no-response violation which limit or what broke (a deadline, the size
/// cap, a reset, garbage), when no response came.
pub fn explain_no_response(broken: &mut [Violation], exchange: &Exchange, answered: bool) {
    if let Some(why) = exchange.error.as_deref().filter(|_| !answered) {
        for v in broken
            .iter_mut()
            .filter(|v| v.invariant == Invariant::NoResponse)
        {
            v.detail = format!("no usable response: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_another_case_named_is_not_laid_at_this_ones_door() {
        let tool = |up: &str, original: &str| crate::fuzz::world::ToolView {
            key: format!("{up}.{original}"),
            upstream: up.into(),
            original: original.into(),
            name: format!("{up}-run-{original}"),
            id: format!("id-{original}"),
        };
        let world = WorldView {
            tools: vec![tool("ua", "alpha"), tool("ub", "beta")],
            ..WorldView::default()
        };
        let calls = vec![
            UpstreamCall::named("ua", "alpha"),
            UpstreamCall::named("ub", "beta"),
        ];
        let bodies = vec![
            r#"{"params":{"name":"ua-run-alpha"}}"#.to_owned(),
            r#"{"params":{"name":"nothing"}}"#.to_owned(),
        ];
        // The first named alpha: alpha is its own, and beta (named by nobody) may be too.
        assert_eq!(calls_of(&calls, &bodies, 0, &world), calls);
        // The second named neither: alpha is the first's; beta, unasked for, stays.
        assert_eq!(calls_of(&calls, &bodies, 1, &world), calls[1..]);
    }

    #[test]
    fn tool_calls_are_read_from_batches_too() {
        let call = |n: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": n}});
        let bodies = [
            call("alpha"),
            json!([json!({"method": "tools/list"}), call("beta")]),
            json!({"method": "tools/list"}),
            Value::Null,
        ];
        let found = tool_calls(&bodies);
        let names: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["alpha", "beta"]);
        // Only the call that came alone has a message an upstream answers.
        assert_eq!(found[0].1, Some(&bodies[0]));
        assert_eq!(found[1].1, None);
    }
}
