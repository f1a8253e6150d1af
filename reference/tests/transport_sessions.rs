//! Stateful sessions (`USE_STATEFUL_SESSIONS=true`): issue, ownership (C-MCP-18/19), binding to
//! the endpoint and server scope, the `GET` stream, and `DELETE` (D10).

use mcpgw_reference::Settings;
use mcpgw_reference::testing::mcp::{TwoServers, initialize_params, tool_names};
use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};

const A: &str = "alice@example.com";
const B: &str = "bob@example.com";

/// A stateful gateway with S and T, and two ordinary (public-only) users.
struct Fixture {
    gw: TestGateway,
    f: TwoServers,
    alice: String,
    bob: String,
}

impl Fixture {
    async fn new(configure: impl FnOnce(&mut Settings)) -> Self {
        let (gw, f) = TestGateway::with_two_servers(|s| {
            s.use_stateful_sessions = true;
            configure(s);
        })
        .await;
        gw.create_user(A, false).await;
        gw.create_user(B, false).await;
        let alice = gw.token(A, false, Some(vec![]), None);
        let bob = gw.token(B, false, Some(vec![]), None);
        Fixture { gw, f, alice, bob }
    }

    fn s_path(&self) -> String {
        format!("/servers/{}/mcp", self.f.s)
    }

    async fn list(&self, path: &str, token: &str, session: &str) -> TestResponse {
        self.gw
            .in_session(path, token, session, "tools/list", json!({}))
            .await
    }

    async fn delete(&self, path: &str, token: &str, session: &str) -> TestResponse {
        self.gw
            .send(
                self.gw
                    .req("DELETE", path)
                    .bearer(token)
                    .header("mcp-session-id", session),
            )
            .await
    }

    /// A `GET` stream request; the answer's head and, unless it is a stream, its body. A
    /// stream that was opened by mistake is dropped rather than read forever.
    async fn get_stream(&self, path: &str, token: &str, session: &str) -> (u16, Value) {
        let r = self
            .gw
            .open(
                self.gw
                    .req("GET", path)
                    .bearer(token)
                    .header("accept", "text/event-stream")
                    .header("mcp-session-id", session),
            )
            .await;
        let status = r.status.as_u16();
        if r.header("content-type") == Some("text/event-stream") {
            return (status, Value::Null);
        }
        let body = r.until_end().await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

fn detail(r: &TestResponse) -> Value {
    r.json()["detail"].clone()
}

#[tokio::test]
async fn stateless_mode_issues_no_session() {
    let gw = TestGateway::new().await;
    let r = gw.initialize("/mcp", &gw.admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.session_id(), None);
    // A session id on a stateless gateway is ignored, whatever it looks like.
    let r = gw
        .in_session("/mcp", &gw.admin, "no-such-session", "ping", json!({}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn initialize_issues_a_session_that_later_requests_carry() {
    let x = Fixture::new(|_| {}).await;
    let path = x.s_path();
    let r = x.gw.initialize(&path, &x.alice).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sid = r.session_id().expect("mcp-session-id on initialize");
    assert!(mcpgw_reference::mcp::session::is_valid_session_id(&sid));
    let r = x.list(&path, &x.alice, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![x.f.s_tool.clone()]);
    assert_eq!(r.session_id().as_deref(), Some(sid.as_str()));
    let second = x.gw.open_session(&path, &x.alice).await;
    assert_ne!(second, sid, "every initialize opens a new session");
}

#[tokio::test]
async fn sse_mode_issues_the_session_on_the_stream_response() {
    let x = Fixture::new(|s| s.json_response_enabled = false).await;
    let r = x.gw.initialize(&x.s_path(), &x.alice).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let sid = r.session_id().expect("session id");
    let r = x.list(&x.s_path(), &x.alice, &sid).await;
    assert_eq!(tool_names(&r), vec![x.f.s_tool.clone()]);
}

#[tokio::test]
async fn requests_other_than_initialize_need_the_session() {
    let x = Fixture::new(|_| {}).await;
    let path = x.s_path();
    let r =
        x.gw.send(x.gw.mcp_req(&path, &x.alice, "tools/list", json!({})))
            .await;
    assert_eq!(r.status, 400);
    assert_eq!(detail(&r), "Bad Request: Missing session ID");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let r =
        x.gw.send(x.gw.req("POST", &path).bearer(&x.alice).json(&note))
            .await;
    assert_eq!(r.status, 400, "notifications too");
    let sid = x.gw.open_session(&path, &x.alice).await;
    let r =
        x.gw.send(
            x.gw.req("POST", &path)
                .bearer(&x.alice)
                .header("mcp-session-id", &sid)
                .json(&note),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = x.delete(&path, &x.alice, "").await;
    assert_eq!(r.status, 400, "DELETE without a valid id");
}

#[tokio::test]
async fn malformed_session_ids_are_refused_before_any_lookup() {
    let x = Fixture::new(|_| {}).await;
    let long = "a".repeat(129);
    for bad in ["a.b", "../x", "a b", "a:b", long.as_str()] {
        let r = x.list(&x.s_path(), &x.alice, bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(detail(&r), "Bad Request: Invalid session ID");
    }
}

#[tokio::test]
async fn c_mcp_18_unknown_session_404_and_another_users_session_403() {
    let x = Fixture::new(|_| {}).await;
    let path = x.s_path();
    let sid = x.gw.open_session(&path, &x.alice).await;
    let r = x.list(&path, &x.bob, &sid).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Session access denied"}));
    let r = x
        .list(&path, &x.alice, "0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Session not found"}));
    // An administrator is another caller too: sessions are not shared.
    let r = x.list(&path, &x.gw.admin, &sid).await;
    assert_eq!(r.status, 403);
    // Nor may the other user end it.
    let r = x.delete(&path, &x.bob, &sid).await;
    assert_eq!(r.status, 403);
    assert_eq!(x.list(&path, &x.alice, &sid).await.status, 200);
}

#[tokio::test]
async fn c_mcp_19_get_with_another_users_session_is_403_and_opens_nothing() {
    let x = Fixture::new(|_| {}).await;
    let sid = x.gw.open_session("/mcp", &x.alice).await;
    let (status, body) = x.get_stream("/mcp", &x.bob, &sid).await;
    assert_eq!(status, 403);
    assert_eq!(body, json!({"detail": "Session access denied"}));
    assert!(!x.gw.session_stream_open(&sid));
    let (status, _) = x
        .get_stream("/mcp", &x.alice, "0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_get_stream_is_one_per_session_and_ends_with_the_session() {
    let x = Fixture::new(|_| {}).await;
    let path = x.s_path();
    let sid = x.gw.open_session(&path, &x.alice).await;
    let get = |accept: &str| {
        x.gw.req("GET", &path)
            .bearer(&x.alice)
            .header("accept", accept)
            .header("mcp-session-id", &sid)
    };
    let r = x.gw.open(get("application/json")).await;
    assert_eq!(r.status, 406, "a stream needs text/event-stream");

    let mut stream = x.gw.open(get("text/event-stream")).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.header("mcp-session-id"), Some(sid.as_str()));
    let first = stream.next_chunk().await.expect("a keep-alive comment");
    assert!(first.starts_with(b":"), "comments only: {first:?}");

    let r = x.gw.open(get("text/event-stream")).await;
    assert_eq!(r.status, 409, "one stream per session");

    let r = x.delete(&path, &x.alice, &sid).await;
    assert_eq!(r.status, 200);
    // Panics unless the stream ends: DELETE ends the session's stream.
    stream.until_end().await;
    assert!(!x.gw.session_stream_open(&sid));
}

#[tokio::test]
async fn a_dropped_stream_frees_its_session_for_another() {
    let x = Fixture::new(|_| {}).await;
    let sid = x.gw.open_session("/mcp", &x.alice).await;
    let get = || {
        x.gw.req("GET", "/mcp")
            .bearer(&x.alice)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
    };
    let stream = x.gw.open(get()).await;
    assert_eq!(stream.status, 200);
    drop(stream);
    let again = x.gw.open(get()).await;
    assert_eq!(again.status, 200, "the client left, so the slot is free");
}

/// DELETE a session, then use it: the status the second request gets.
async fn status_after_delete(x: &Fixture) -> u16 {
    let path = x.s_path();
    let sid = x.gw.open_session(&path, &x.alice).await;
    let r = x.delete(&path, &x.alice, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "result": {}}));
    x.list(&path, &x.alice, &sid).await.status.as_u16()
}

#[tokio::test]
async fn d10_a_deleted_session_is_not_found() {
    let x = Fixture::new(|_| {}).await;
    assert_eq!(status_after_delete(&x).await, 404);
    let path = x.s_path();
    let sid = x.gw.open_session(&path, &x.alice).await;
    assert_eq!(x.delete(&path, &x.alice, &sid).await.status, 200);
    let r = x.list(&path, &x.alice, &sid).await;
    assert_eq!(r.json(), json!({"detail": "Session not found"}));
    assert_eq!(x.get_stream(&path, &x.alice, &sid).await.0, 404);
    assert_eq!(x.delete(&path, &x.alice, &sid).await.status, 404);
}

#[cfg(feature = "defects")]
#[tokio::test]
async fn d10_check_fails_on_a_gateway_whose_delete_keeps_the_session() {
    let x = Fixture::new(|s| s.policy = defect_policy("delete-keeps-session")).await;
    assert_eq!(status_after_delete(&x).await, 200);
}

#[tokio::test]
async fn a_session_stays_on_the_endpoint_it_was_created_on() {
    let x = Fixture::new(|_| {}).await;
    let s_path = x.s_path();
    let sid = x.gw.open_session(&s_path, &x.alice).await;
    let t_path = format!("/servers/{}/mcp", x.f.t);
    for other in ["/mcp", t_path.as_str()] {
        let r = x.list(other, &x.alice, &sid).await;
        assert_eq!(r.status, 404, "{other}");
        assert_eq!(r.json(), json!({"detail": "Session not found"}));
    }
    // The same server by name is the same endpoint (D4).
    let by_name = format!("/servers/{}/mcp", TwoServers::S_NAME);
    let r = x.list(&by_name, &x.alice, &sid).await;
    assert_eq!(r.status, 200);
    assert_eq!(tool_names(&r), vec![x.f.s_tool.clone()]);
    let r = x.list(&format!("{s_path}/"), &x.alice, &sid).await;
    assert_eq!(r.status, 200, "trailing slash is the same endpoint");
}

#[tokio::test]
async fn a_session_keeps_the_server_scope_it_was_created_with() {
    let x = Fixture::new(|_| {}).await;
    let admin = x.gw.state.settings.platform_admin_email.clone();
    let scoped_s = x.gw.scoped(&x.f.s);
    let scoped_t = x.gw.scoped(&x.f.t);
    let sid = x.gw.open_session("/mcp", &scoped_s).await;
    let (owner, server) = x.gw.session_binding(&sid).await.expect("the session");
    assert_eq!(owner.as_deref(), Some(admin.as_str()));
    assert_eq!(server.as_deref(), Some(x.f.s.as_str()));

    // The same user with an unrestricted token: still only S's tools in this session.
    let r = x.list("/mcp", &x.gw.admin, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![x.f.s_tool.clone()]);
    let r =
        x.gw.in_session(
            "/mcp",
            &x.gw.admin,
            &sid,
            "tools/call",
            json!({"name": x.f.t_tool}),
        )
        .await;
    assert_eq!(r.json()["error"]["code"], -32003);
    // A token restricted to another server cannot take the session over.
    let r = x.list("/mcp", &scoped_t, &sid).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), json!({"detail": "Session access denied"}));
}

#[tokio::test]
async fn the_protocol_version_header_must_match_the_session() {
    let x = Fixture::new(|_| {}).await;
    let r =
        x.gw.send(x.gw.mcp_req(
            "/mcp",
            &x.alice,
            "initialize",
            initialize_params("2025-06-18"),
        ))
        .await;
    let sid = r.session_id().unwrap();
    let with_version = |v: &str| {
        x.gw.mcp_req("/mcp", &x.alice, "ping", json!({}))
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", v)
    };
    assert_eq!(x.gw.send(with_version("2025-06-18")).await.status, 200);
    let r = x.gw.send(with_version("2025-11-25")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(x.gw.send(with_version("1999-01-01")).await.status, 400);
}

#[tokio::test]
async fn anonymous_sessions_belong_to_the_anonymous_caller_only() {
    let x = Fixture::new(|s| s.mcp_require_auth = Some(false)).await;
    let sid = x.gw.open_session("/mcp", "").await;
    let r = x.list("/mcp", "", &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = x.list("/mcp", &x.alice, &sid).await;
    assert_eq!(r.status, 403, "a token does not adopt an anonymous session");
    let alices = x.gw.open_session("/mcp", &x.alice).await;
    let r = x.list("/mcp", "", &alices).await;
    assert_eq!(r.status, 403, "nor the anonymous caller a user's");
}

/// `POST /rpc tools/list` naming `session`.
async fn rpc_in_session(x: &Fixture, token: &str, session: &str) -> TestResponse {
    x.gw.send(
        x.gw.req("POST", "/rpc")
            .bearer(token)
            .header("mcp-session-id", session)
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})),
    )
    .await
}

#[tokio::test]
async fn c_rpc_21_rpc_checks_the_session_it_names() {
    let x = Fixture::new(|_| {}).await;
    let sid = x.gw.open_session(&x.s_path(), &x.alice).await;
    // The owner may use it on /rpc.
    let r = rpc_in_session(&x, &x.alice, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["result"]["tools"].is_array(), "{}", r.text());
    // Another user's session: -32003, HTTP 200.
    let r = rpc_in_session(&x, &x.bob, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], -32003, "{}", r.text());
    assert_eq!(r.json()["error"]["message"], "Session access denied");
    assert!(r.json().get("result").is_none());
    // An unknown (or malformed) one: -32002 "Session not found".
    for unknown in ["0123456789abcdef0123456789abcdef", "not a session"] {
        let r = rpc_in_session(&x, &x.alice, unknown).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], -32002, "{unknown}: {}", r.text());
        assert_eq!(r.json()["error"]["message"], "Session not found");
    }
    // Ended sessions are unknown too (D10).
    assert_eq!(x.delete(&x.s_path(), &x.alice, &sid).await.status, 200);
    let r = rpc_in_session(&x, &x.alice, &sid).await;
    assert_eq!(r.json()["error"]["code"], -32002, "{}", r.text());
}

#[tokio::test]
async fn c_rpc_21_stateless_rpc_ignores_session_headers() {
    let (gw, _f) = TestGateway::with_two_servers(|_| {}).await;
    let r = gw
        .send(
            gw.req("POST", "/rpc")
                .bearer(&gw.admin)
                .header("mcp-session-id", "0123456789abcdef0123456789abcdef")
                .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["result"]["tools"].is_array(), "{}", r.text());
}

/// The strict policy with one defect of the matrix re-created.
#[cfg(feature = "defects")]
fn defect_policy(name: &str) -> mcpgw_reference::Policy {
    mcpgw_reference::defects::policy_with(&[name]).expect("a defect of the matrix")
}
