//! What the gateway sends to what sits behind it, with wiremock standing in: `tools/call` through
//! a REST tool and through an upstream MCP server registered with `POST /gateways`;
//! `resources/read` and `prompts/get` through the gateway; D2's narrowing of all three for a
//! server-scoped token (including the legacy "method = tool name" form, C-RPC-22). Every test
//! also checks that the client's `Authorization` header never reaches the upstream.

use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---- an upstream MCP server (Streamable HTTP, JSON and SSE answers) -------------------------

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Answer one JSON-RPC message the way a small MCP server would.
fn answer(req: &Request) -> ResponseTemplate {
    let Ok(msg) = serde_json::from_slice::<Value>(&req.body) else {
        return ResponseTemplate::new(400);
    };
    let Some(id) = msg.get("id").cloned() else {
        // Notifications and responses are accepted without a body.
        return ResponseTemplate::new(202);
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let body = match msg["method"].as_str().unwrap_or_default() {
        "initialize" => {
            return ResponseTemplate::new(200)
                .insert_header("mcp-session-id", "upstream-session-1")
                .set_body_json(result(
                    &id,
                    json!({"protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
                        "serverInfo": {"name": "mock-upstream", "version": "1"}}),
                ));
        }
        "tools/list" => result(
            &id,
            json!({"tools": [
                {"name": "echo", "description": "Echo text",
                    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
                {"name": "Add_Numbers", "description": "Add",
                    "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}},
            ]}),
        ),
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or_default();
            let args = &params["arguments"];
            let text = match name {
                "echo" => args["text"].as_str().unwrap_or_default().to_owned(),
                "Add_Numbers" => (args["a"].as_f64().unwrap_or(0.0)
                    + args["b"].as_f64().unwrap_or(0.0))
                .to_string(),
                // A misbehaving upstream: ContextForge's own transport answers code 0 (D9).
                "code-zero" => {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": 0, "message": "denied upstream"}}));
                }
                _ => {
                    return ResponseTemplate::new(200)
                        .set_body_json(json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32602, "message": format!("Unknown tool: {name}")}}));
                }
            };
            result(
                &id,
                json!({"content": [{"type": "text", "text": text}], "isError": false}),
            )
        }
        "resources/list" => result(
            &id,
            json!({"resources": [{"uri": "upstream://doc/1", "name": "Doc One", "mimeType": "text/plain"}]}),
        ),
        "resources/read" => result(
            &id,
            json!({"contents": [{"uri": params["uri"], "mimeType": "text/plain", "text": "doc body"}]}),
        ),
        "prompts/list" => result(
            &id,
            json!({"prompts": [{"name": "Greet", "description": "Say hello",
                "arguments": [{"name": "who", "required": true}]}]}),
        ),
        "prompts/get" => {
            // Answered as an event stream, as Streamable HTTP servers may.
            let who = params["arguments"]["who"].as_str().unwrap_or_default();
            let msg = result(
                &id,
                json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("Hello, {who}!")}}]}),
            );
            return ResponseTemplate::new(200).set_body_raw(
                format!("event: message\ndata: {msg}\n\n"),
                "text/event-stream",
            );
        }
        other => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": format!("Method not found: {other}")}}),
    };
    ResponseTemplate::new(200).set_body_json(body)
}

async fn mcp_upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/mcp"))
        .respond_with(answer)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/mcp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The JSON-RPC messages the upstream received, in order (DELETEs as `"DELETE"`).
async fn received(server: &MockServer) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            if r.method.as_str() == "DELETE" {
                ("DELETE".to_owned(), Value::Null)
            } else {
                let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                (v["method"].as_str().unwrap_or("?").to_owned(), v)
            }
        })
        .collect()
}

async fn assert_no_client_credentials(server: &MockServer) {
    for r in server.received_requests().await.unwrap_or_default() {
        assert!(
            r.headers.get("authorization").is_none() && r.headers.get("cookie").is_none(),
            "the client's credentials reached the upstream: {} {}",
            r.method,
            r.url
        );
    }
}

/// A gateway with the upstream registered, and the ids of what it discovered, by name.
struct Fixture {
    gw: TestGateway,
    upstream: MockServer,
}

impl Fixture {
    async fn new() -> Self {
        let upstream = mcp_upstream().await;
        let gw = TestGateway::new().await;
        let g = gw
            .register_gateway("Up Stream", &format!("{}/mcp", upstream.uri()))
            .await;
        assert_eq!(g["toolCount"], 2, "{g}");
        assert_eq!(g["resourceCount"], 1, "{g}");
        assert_eq!(g["promptCount"], 1, "{g}");
        Fixture { gw, upstream }
    }

    async fn id_of(&self, collection: &str, key: &str, value: &str) -> String {
        let list = self
            .gw
            .send(self.gw.req("GET", collection).bearer(&self.gw.admin))
            .await
            .json();
        list.as_array()
            .and_then(|a| a.iter().find(|x| x[key] == value))
            .and_then(|x| x["id"].as_str())
            .unwrap_or_else(|| panic!("{value} not in {collection}: {list}"))
            .to_owned()
    }
}

fn text_of(r: &TestResponse) -> String {
    r.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {}", r.text()))
        .to_owned()
}

#[tokio::test]
async fn gateway_registration_discovers_tools_resources_and_prompts() {
    let f = Fixture::new().await;
    let tools = f.gw.tool_names("/rpc", &f.gw.admin, json!({})).await;
    assert_eq!(tools, vec!["up-stream-add-numbers", "up-stream-echo"]);
    let r =
        f.gw.rpc("/rpc", &f.gw.admin, "resources/list", json!({}))
            .await;
    assert_eq!(
        r.json()["result"]["resources"][0]["uri"],
        "upstream://doc/1",
        "{}",
        r.text()
    );
    let r =
        f.gw.rpc("/rpc", &f.gw.admin, "prompts/list", json!({}))
            .await;
    assert_eq!(
        r.json()["result"]["prompts"][0]["name"],
        "up-stream-greet",
        "{}",
        r.text()
    );
    let seen: Vec<String> = received(&f.upstream)
        .await
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(
        seen,
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "resources/list",
            "prompts/list",
            "DELETE"
        ]
    );
    assert_no_client_credentials(&f.upstream).await;
}

#[tokio::test]
async fn tools_call_through_an_upstream_mcp_server() {
    let f = Fixture::new().await;
    let add = f.id_of("/tools", "name", "up-stream-add-numbers").await;
    let s =
        f.gw.create_server("alpha", json!({"associated_tools": [add]}))
            .await;
    let before = received(&f.upstream).await.len();

    let args = json!({"a": 2, "b": 3.5});
    for path in [
        "/rpc".to_owned(),
        format!("/servers/{s}/mcp"),
        "/mcp".to_owned(),
    ] {
        let r =
            f.gw.rpc(
                &path,
                &f.gw.admin,
                "tools/call",
                json!({"name": "up-stream-add-numbers", "arguments": args}),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(text_of(&r), "5.5", "{path}");
        assert_eq!(r.json()["result"]["isError"], false);
    }
    // The legacy form on /rpc: the method is the tool's name, the params are its arguments.
    let r =
        f.gw.rpc("/rpc", &f.gw.admin, "up-stream-add-numbers", args.clone())
            .await;
    assert_eq!(text_of(&r), "5.5", "legacy form");

    let calls: Vec<Value> = received(&f.upstream)
        .await
        .into_iter()
        .skip(before)
        .filter(|(m, _)| m == "tools/call")
        .map(|(_, v)| v["params"].clone())
        .collect();
    assert_eq!(calls.len(), 4);
    for p in calls {
        assert_eq!(
            p,
            json!({"name": "Add_Numbers", "arguments": args}),
            "the upstream gets the original name"
        );
    }
    assert_no_client_credentials(&f.upstream).await;
}

#[tokio::test]
async fn d9_upstream_jsonrpc_errors_are_relayed_with_their_code_never_0() {
    let f = Fixture::new().await;
    // Make the gateway's record point at a name the upstream no longer knows.
    let echo = f.id_of("/tools", "name", "up-stream-echo").await;
    let mut tool = (*f
        .gw
        .state
        .store
        .tools
        .get(&echo)
        .await
        .ok()
        .flatten()
        .expect("tool"))
    .clone();
    tool.original_name = "gone".to_owned();
    f.gw.state
        .store
        .tools
        .upsert(tool)
        .await
        .expect("in-memory store");
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.admin,
            "tools/call",
            json!({"name": "up-stream-echo"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["error"],
        json!({"code": -32602, "message": "Unknown tool: gone"})
    );
    // D9: code 0 is never passed on.
    let mut tool = (*f
        .gw
        .state
        .store
        .tools
        .get(&echo)
        .await
        .ok()
        .flatten()
        .expect("tool"))
    .clone();
    tool.original_name = "code-zero".to_owned();
    f.gw.state
        .store
        .tools
        .upsert(tool)
        .await
        .expect("in-memory store");
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.admin,
            "tools/call",
            json!({"name": "up-stream-echo"}),
        )
        .await;
    assert_eq!(
        r.json()["error"],
        json!({"code": -32603, "message": "denied upstream"}),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn resources_read_and_prompts_get_through_an_upstream_mcp_server() {
    let f = Fixture::new().await;
    let before = received(&f.upstream).await.len();
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.admin,
            "resources/read",
            json!({"uri": "upstream://doc/1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["result"]["contents"][0]["text"],
        "doc body",
        "{}",
        r.text()
    );
    let r =
        f.gw.rpc(
            "/mcp",
            &f.gw.admin,
            "prompts/get",
            json!({"name": "up-stream-greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["result"]["messages"][0]["content"]["text"],
        "Hello, Ada!",
        "{}",
        r.text()
    );
    // A required argument is checked before the upstream is asked.
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.admin,
            "prompts/get",
            json!({"name": "up-stream-greet"}),
        )
        .await;
    assert_eq!(r.json()["error"]["code"], -32602, "{}", r.text());

    let sent: Vec<(String, Value)> = received(&f.upstream)
        .await
        .into_iter()
        .skip(before)
        .filter(|(m, _)| m == "resources/read" || m == "prompts/get")
        .map(|(m, v)| (m, v["params"].clone()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                "resources/read".to_owned(),
                json!({"uri": "upstream://doc/1"})
            ),
            (
                "prompts/get".to_owned(),
                json!({"name": "Greet", "arguments": {"who": "Ada"}})
            ),
        ]
    );
    assert_no_client_credentials(&f.upstream).await;
}

#[tokio::test]
async fn gateway_registration_failure_is_a_clean_502() {
    let gw = TestGateway::new().await;
    // Nothing listens on port 9 of the loopback.
    let r = gw
        .admin_json(
            "POST",
            "/gateways",
            &json!({"name": "down", "url": "http://127.0.0.1:9/mcp"}),
        )
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    // An upstream that answers garbage.
    let junk = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("not json", "application/json"))
        .mount(&junk)
        .await;
    let r = gw
        .admin_json(
            "POST",
            "/gateways",
            &json!({"name": "junk", "url": format!("{}/mcp", junk.uri())}),
        )
        .await;
    assert_eq!(r.status, 502, "{}", r.text());
    for bad in ["ftp://x/mcp", "not a url", "https://"] {
        let r = gw
            .admin_json("POST", "/gateways", &json!({"name": "bad", "url": bad}))
            .await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text());
    }
}

// ---- D2: a server-scoped token stays inside its server ---------------------------------------

/// S holds only `up-stream-echo`; T holds the other tool, the resource and the prompt.
async fn scoped_fixture() -> (Fixture, String, String) {
    let f = Fixture::new().await;
    let echo = f.id_of("/tools", "name", "up-stream-echo").await;
    let add = f.id_of("/tools", "name", "up-stream-add-numbers").await;
    let doc = f.id_of("/resources", "uri", "upstream://doc/1").await;
    let greet = f.id_of("/prompts", "name", "up-stream-greet").await;
    let s =
        f.gw.create_server("alpha", json!({"associated_tools": [echo]}))
            .await;
    let t = f.gw.create_server("beta", json!({})).await;
    f.gw.associate(&t, &[&add], &[&doc], &[&greet]).await;
    (f, s, t)
}

#[tokio::test]
async fn d2_scoped_token_cannot_reach_tools_resources_or_prompts_outside_its_server() {
    let (f, s, t) = scoped_fixture().await;
    let scoped = f.gw.scoped(&s);
    let before = received(&f.upstream).await.len();
    for path in [
        "/rpc".to_owned(),
        "/mcp".to_owned(),
        format!("/servers/{s}/mcp"),
    ] {
        for (method, params) in [
            (
                "tools/call",
                json!({"name": "up-stream-add-numbers", "arguments": {"a": 1, "b": 1}}),
            ),
            ("resources/read", json!({"uri": "upstream://doc/1"})),
            (
                "prompts/get",
                json!({"name": "up-stream-greet", "arguments": {"who": "x"}}),
            ),
        ] {
            let r = f.gw.rpc(&path, &scoped, method, params).await;
            assert_eq!(r.status, 200, "{path} {method}: {}", r.text());
            assert_eq!(
                r.json()["error"]["code"],
                -32003,
                "{path} {method}: {}",
                r.text()
            );
        }
    }
    // C-RPC-22: the legacy form on /rpc, without params.server_id.
    let r =
        f.gw.rpc(
            "/rpc",
            &scoped,
            "up-stream-add-numbers",
            json!({"a": 1, "b": 1}),
        )
        .await;
    assert_eq!(
        r.json()["error"]["code"],
        -32003,
        "legacy form: {}",
        r.text()
    );

    let leaked: Vec<String> = received(&f.upstream)
        .await
        .into_iter()
        .skip(before)
        .map(|(m, _)| m)
        .collect();
    assert!(
        leaked.is_empty(),
        "the upstream was asked for something outside S: {leaked:?}"
    );

    // Lists are narrowed the same way.
    for path in [
        "/rpc".to_owned(),
        "/mcp".to_owned(),
        format!("/servers/{s}/mcp"),
    ] {
        assert_eq!(
            f.gw.tool_names(&path, &scoped, json!({})).await,
            vec!["up-stream-echo"],
            "{path}"
        );
        let r = f.gw.rpc(&path, &scoped, "resources/list", json!({})).await;
        assert_eq!(
            r.json()["result"]["resources"],
            json!([]),
            "{path}: {}",
            r.text()
        );
        let r = f.gw.rpc(&path, &scoped, "prompts/list", json!({})).await;
        assert_eq!(
            r.json()["result"]["prompts"],
            json!([]),
            "{path}: {}",
            r.text()
        );
    }
    // And inside S everything works.
    let r =
        f.gw.rpc(
            "/rpc",
            &scoped,
            "tools/call",
            json!({"name": "up-stream-echo", "arguments": {"text": "in scope"}}),
        )
        .await;
    assert_eq!(text_of(&r), "in scope");
    // T's own token reaches what S's cannot.
    let r =
        f.gw.rpc(
            "/rpc",
            &f.gw.scoped(&t),
            "resources/read",
            json!({"uri": "upstream://doc/1"}),
        )
        .await;
    assert_eq!(
        r.json()["result"]["contents"][0]["text"],
        "doc body",
        "{}",
        r.text()
    );
    assert_no_client_credentials(&f.upstream).await;
}

// ---- REST tools -----------------------------------------------------------------------------

#[tokio::test]
async fn tools_call_through_a_rest_tool() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/echo"))
        .respond_with(|req: &Request| {
            let got: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            ResponseTemplate::new(200).set_body_json(json!({"echoed": got}))
        })
        .mount(&upstream)
        .await;
    let gw = TestGateway::new().await;
    let (id, name) = gw
        .create_rest_tool(
            "Echo_REST-Tool",
            &format!("{}/echo", upstream.uri()),
            json!({"headers": {"x-api-key": "configured-key"}}),
        )
        .await;
    assert_eq!(name, "echo-rest-tool");
    let s = gw
        .create_server("alpha", json!({"associated_tools": [id]}))
        .await;

    let args = json!({"text": "hi", "n": 3});
    for path in ["/rpc".to_owned(), format!("/servers/{s}/mcp")] {
        let r = gw
            .send(
                gw.req("POST", &path)
                    .bearer(&gw.admin)
                    .header("cookie", "session=secret-cookie")
                    .header("accept", "application/json, text/event-stream")
                    .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": name, "arguments": args}})),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()["result"]["isError"], false, "{}", r.text());
        let text: Value =
            serde_json::from_str(&text_of(&r)).expect("the upstream's JSON, pretty-printed");
        assert_eq!(text, json!({"echoed": args}));
    }
    let requests = upstream.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 2);
    for req in &requests {
        assert_eq!(
            serde_json::from_slice::<Value>(&req.body).ok(),
            Some(args.clone())
        );
        assert_eq!(
            req.headers.get("x-api-key").and_then(|v| v.to_str().ok()),
            Some("configured-key")
        );
    }
    assert_no_client_credentials(&upstream).await;
}

#[tokio::test]
async fn rest_get_tools_send_arguments_as_the_query_and_errors_become_error_results() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .respond_with(|req: &Request| {
            ResponseTemplate::new(200)
                .set_body_string(req.url.query().unwrap_or_default().to_owned())
        })
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/fail"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream broke"))
        .mount(&upstream)
        .await;
    let gw = TestGateway::new().await;
    gw.create_rest_tool(
        "search",
        &format!("{}/search", upstream.uri()),
        json!({"request_type": "GET"}),
    )
    .await;
    gw.create_rest_tool("fail", &format!("{}/fail", upstream.uri()), json!({}))
        .await;
    let r = gw
        .rpc(
            "/rpc",
            &gw.admin,
            "tools/call",
            json!({"name": "search", "arguments": {"q": "a b&c"}}),
        )
        .await;
    assert_eq!(text_of(&r), "q=a%20b%26c");
    let r = gw
        .rpc("/rpc", &gw.admin, "tools/call", json!({"name": "fail"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["isError"], true, "{}", r.text());
    assert_eq!(text_of(&r), "upstream broke");
    assert_no_client_credentials(&upstream).await;
}

// ---- inline resources and prompts -----------------------------------------------------------

#[tokio::test]
async fn resources_read_and_prompts_get_of_inline_items() {
    let gw = TestGateway::new().await;
    let doc = gw
        .create_resource(
            "docs://readme",
            "Read me.",
            json!({"mime_type": "text/markdown"}),
        )
        .await;
    let (review, name) = gw
        .create_prompt(
            "Code Review",
            "Review this {{ language }} code: {{code}}",
            json!({"arguments": [{"name": "language", "required": true}, {"name": "code"}]}),
        )
        .await;
    assert_eq!(name, "code-review");
    let s = gw.create_server("alpha", json!({})).await;
    gw.associate(&s, &[], &[&doc], &[&review]).await;
    let scoped = gw.scoped(&s);
    let r = gw
        .rpc(
            "/rpc",
            &scoped,
            "resources/read",
            json!({"uri": "docs://readme"}),
        )
        .await;
    assert_eq!(
        r.json()["result"],
        json!({"contents": [{"uri": "docs://readme", "text": "Read me.", "mimeType": "text/markdown"}]})
    );
    let r = gw
        .rpc(
            &format!("/servers/{s}/mcp"),
            &scoped,
            "prompts/get",
            json!({"name": "code-review", "arguments": {"language": "rust", "code": "fn x() {}"}}),
        )
        .await;
    assert_eq!(
        r.json()["result"]["messages"][0]["content"]["text"],
        "Review this rust code: fn x() {}",
        "{}",
        r.text()
    );
    let r = gw
        .rpc(
            "/rpc",
            &scoped,
            "prompts/get",
            json!({"name": "code-review"}),
        )
        .await;
    assert_eq!(
        r.json()["error"]["code"],
        -32602,
        "missing required argument: {}",
        r.text()
    );
}
