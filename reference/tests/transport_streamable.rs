//! Streamable HTTP on `/mcp` and `/servers/{id}/mcp`: response modes, protocol versions and the
//! `MCP-Protocol-Version` header, `Accept` and `Content-Type`, what gets 202, `Origin`
//! (DNS-rebinding protection), and the methods other than POST without sessions.

use mcpgw_reference::Settings;
use mcpgw_reference::rpc::protocol::{LATEST_VERSION, SUPPORTED_VERSIONS};
use mcpgw_reference::testing::TestGateway;
use mcpgw_reference::testing::mcp::{TwoServers, initialize_params, tool_names};
use serde_json::json;

async fn gateway(configure: impl FnOnce(&mut Settings)) -> (TestGateway, TwoServers) {
    TestGateway::with_two_servers(configure).await
}

#[tokio::test]
async fn json_response_mode_is_the_default() {
    let (gw, f) = gateway(|_| {}).await;
    let path = format!("/servers/{}/mcp", f.s);
    let r = gw.initialize(&path, &gw.admin).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["result"]["protocolVersion"], LATEST_VERSION);
    assert_eq!(r.session_id(), None, "stateless by default");
    let r = gw
        .send(gw.mcp_req(&path, &gw.admin, "tools/list", json!({})))
        .await;
    assert_eq!(tool_names(&r), vec![f.s_tool.clone()]);
}

#[tokio::test]
async fn sse_response_mode_answers_a_post_with_one_event() {
    let (gw, f) = gateway(|s| s.json_response_enabled = false).await;
    let path = format!("/servers/{}/mcp", f.s);
    let r = gw.initialize(&path, &gw.admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let text = r.text();
    assert!(text.starts_with("event: message\ndata: {"), "{text}");
    assert!(text.ends_with("}\n\n"), "{text}");
    assert_eq!(r.message()["result"]["protocolVersion"], LATEST_VERSION);

    let r = gw
        .send(gw.mcp_req(&path, &gw.admin, "tools/list", json!({})))
        .await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(tool_names(&r), vec![f.s_tool.clone()]);

    // JSON-RPC errors travel in the stream too.
    let r = gw
        .send(gw.mcp_req(&path, &gw.admin, "tools/call", json!({"name": f.t_tool})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.message()["error"]["code"], -32003);
}

#[tokio::test]
async fn accept_picks_the_configured_mode_then_the_other_then_406() {
    for json_mode in [true, false] {
        let (gw, f) = gateway(|s| s.json_response_enabled = json_mode).await;
        let path = format!("/servers/{}/mcp", f.s);
        let send = |accept: Option<&'static str>| {
            let mut r = gw.req("POST", &path).bearer(&gw.admin).json(&json!(
                {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            ));
            if let Some(a) = accept {
                r = r.header("accept", a);
            }
            gw.send(r)
        };
        let r = send(Some("application/json")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = send(Some("text/event-stream")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let preferred = if json_mode {
            "application/json"
        } else {
            "text/event-stream"
        };
        let r = send(None).await;
        assert_eq!(
            r.header("content-type"),
            Some(preferred),
            "no Accept: anything goes"
        );
        let r = send(Some("*/*")).await;
        assert_eq!(r.header("content-type"), Some(preferred));
        for refused in [
            "text/html",
            "application/json;q=0, text/event-stream;q=0",
            "image/*",
        ] {
            let r = send(Some(refused)).await;
            assert_eq!(r.status, 406, "{refused}");
            assert!(
                r.json()["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Not Acceptable"),
                "{}",
                r.text()
            );
        }
    }
}

#[tokio::test]
async fn a_body_declared_as_something_other_than_json_is_415() {
    let (gw, f) = gateway(|_| {}).await;
    let r = gw
        .send(
            gw.req("POST", &format!("/servers/{}/mcp", f.s))
                .bearer(&gw.admin)
                .header("content-type", "text/plain")
                .raw_body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text());
}

#[tokio::test]
async fn protocol_versions_are_negotiated() {
    let (gw, _) = gateway(|_| {}).await;
    for v in SUPPORTED_VERSIONS {
        let r = gw
            .send(gw.mcp_req("/mcp", &gw.admin, "initialize", initialize_params(v)))
            .await;
        assert_eq!(r.json()["result"]["protocolVersion"], v);
    }
    let r = gw
        .send(gw.mcp_req(
            "/mcp",
            &gw.admin,
            "initialize",
            initialize_params("1999-01-01"),
        ))
        .await;
    assert_eq!(r.json()["result"]["protocolVersion"], LATEST_VERSION);
}

#[tokio::test]
async fn c_rpc_23_an_unsupported_protocol_version_header_is_400_on_every_method() {
    let (gw, f) = gateway(|s| s.use_stateful_sessions = true).await;
    let server_path = format!("/servers/{}/mcp", f.s);
    for path in ["/mcp", "/mcp/", server_path.as_str()] {
        for method in ["POST", "GET", "DELETE"] {
            let r = gw
                .send(
                    gw.req(method, path)
                        .bearer(&gw.admin)
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-protocol-version", "1999-01-01")
                        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
                )
                .await;
            assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
            assert_eq!(r.json()["error"], "Bad Request");
            assert!(
                r.json()["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Unsupported protocol version: 1999-01-01. Supported versions: "),
                "{}",
                r.text()
            );
        }
    }
    for v in SUPPORTED_VERSIONS {
        let r = gw
            .send(
                gw.mcp_req("/mcp", &gw.admin, "initialize", initialize_params(v))
                    .header("mcp-protocol-version", v),
            )
            .await;
        assert_eq!(r.status, 200, "{v}");
    }
}

#[tokio::test]
async fn notifications_client_responses_and_empty_bodies_get_202() {
    let (gw, f) = gateway(|_| {}).await;
    let path = format!("/servers/{}/mcp", f.s);
    let bodies = [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
        json!({"jsonrpc": "2.0", "id": "srv-1", "result": {}}),
        json!({"jsonrpc": "2.0", "id": 4, "error": {"code": -32601, "message": "no"}}),
    ];
    for body in bodies {
        let r = gw
            .send(
                gw.req("POST", &path)
                    .bearer(&gw.admin)
                    .header("accept", "application/json, text/event-stream")
                    .json(&body),
            )
            .await;
        assert_eq!(r.status, 202, "{body}: {}", r.text());
        assert!(r.body.is_empty(), "{body}");
    }
    let r = gw
        .send(
            gw.req("POST", &path)
                .bearer(&gw.admin)
                .header("content-type", "application/json"),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn malformed_messages_get_json_rpc_errors() {
    let (gw, _) = gateway(|_| {}).await;
    let send = |body: &'static str| {
        gw.send(
            gw.req("POST", "/mcp")
                .bearer(&gw.admin)
                .header("content-type", "application/json")
                .raw_body(body),
        )
    };
    let r = send("{").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})
    );
    for batch in ["[]", r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#] {
        let r = send(batch).await;
        assert_eq!(r.json()["error"]["code"], -32600, "{batch}");
    }
    let r = send(r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#).await;
    assert_eq!(r.json()["error"]["code"], -32600);
}

#[tokio::test]
async fn origin_is_checked_against_the_allow_list() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (gw, _) = gateway(|_| {}).await;
    let with_origin = |gw: &TestGateway, origin: Option<&str>, token: bool| {
        let mut r = gw.req("POST", "/mcp").json(&body);
        if token {
            r = r.bearer(&gw.admin);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r
    };
    // Empty list: no Origin and loopback origins pass; anything else is a rebinding suspect.
    for ok in [
        None,
        Some("http://localhost:6274"),
        Some("http://127.0.0.1"),
    ] {
        let r = gw.send(with_origin(&gw, ok, true)).await;
        assert_eq!(r.status, 200, "{ok:?}");
    }
    for bad in [
        "http://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let r = gw.send(with_origin(&gw, Some(bad), true)).await;
        assert_eq!(r.status, 403, "{bad}");
        assert_eq!(
            r.json(),
            json!({"detail": "Forbidden: invalid Origin header"})
        );
        // Refused before authentication: no token, still 403, not 401.
        let r = gw.send(with_origin(&gw, Some(bad), false)).await;
        assert_eq!(r.status, 403, "{bad} without a token");
    }

    let (gw, f) = gateway(|s| s.allowed_origins = vec!["https://app.example.com".into()]).await;
    let r = gw
        .send(with_origin(&gw, Some("https://app.example.com"), true))
        .await;
    assert_eq!(r.status, 200);
    for bad in [
        "http://localhost",
        "https://app.example.com:8443",
        "http://app.example.com",
    ] {
        let r = gw.send(with_origin(&gw, Some(bad), true)).await;
        assert_eq!(r.status, 403, "{bad}");
    }
    let r = gw
        .send(
            gw.req("GET", &format!("/servers/{}/mcp", f.s))
                .bearer(&gw.admin)
                .header("origin", "http://evil.example"),
        )
        .await;
    assert_eq!(r.status, 403, "GET is checked too");
}

#[tokio::test]
async fn c_mcp_16_get_without_stateful_sessions_is_405_after_authentication() {
    let (gw, f) = gateway(|_| {}).await;
    for path in ["/mcp".to_owned(), format!("/servers/{}/mcp", f.s)] {
        let r = gw
            .send(
                gw.req("GET", &path)
                    .bearer(&gw.admin)
                    .header("accept", "text/event-stream"),
            )
            .await;
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("POST, DELETE"));
        let r = gw.send(gw.req("GET", &path)).await;
        assert_eq!(r.status, 401, "unauthenticated first: {path}");
    }
}

#[tokio::test]
async fn c_mcp_16_get_without_a_session_id_is_405_in_stateful_mode() {
    let (gw, _) = gateway(|s| s.use_stateful_sessions = true).await;
    let r = gw
        .send(
            gw.req("GET", "/mcp")
                .bearer(&gw.admin)
                .header("accept", "text/event-stream"),
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, DELETE"));
}

#[tokio::test]
async fn delete_without_stateful_sessions_is_405_and_other_methods_too() {
    let (gw, f) = gateway(|_| {}).await;
    let path = format!("/servers/{}/mcp", f.s);
    let r = gw.send(gw.req("DELETE", &path).bearer(&gw.admin)).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    for method in ["PUT", "PATCH", "OPTIONS"] {
        let r = gw.send(gw.req(method, &path).bearer(&gw.admin)).await;
        assert_eq!(r.status, 405, "{method}");
    }
}
