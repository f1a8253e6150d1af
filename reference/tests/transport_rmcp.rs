//! Interop with a client nobody here wrote: the official MCP Rust SDK (`rmcp`) drives the
//! embedded reference over a real socket, initialize -> tools/list -> tools/call on
//! `/servers/{id}/mcp`, in stateless and stateful mode and in both response modes.

use mcpgw_reference::testing::TestGateway;
use mcpgw_reference::{Settings, spawn_embedded};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// An upstream REST endpoint that answers with the body it was sent.
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(request.body.clone(), "application/json")
    }
}

async fn round_trip(stateful: bool, json_response: bool) {
    let mode = format!("stateful={stateful} json_response={json_response}");
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&upstream)
        .await;

    let mut settings = Settings::default_for_tests();
    settings.use_stateful_sessions = stateful;
    settings.json_response_enabled = json_response;
    let gateway = spawn_embedded(settings).await.expect("the gateway starts");
    // Provision through the admin API in process, on the running gateway's own store.
    let admin = TestGateway::from_state(gateway.state.clone()).await;
    let (tool_id, tool) = admin
        .create_rest_tool("echo", &format!("{}/echo", upstream.uri()), json!({}))
        .await;
    let server = admin
        .create_server("interop", json!({"associated_tools": [tool_id]}))
        .await;

    let config = StreamableHttpClientTransportConfig::with_uri(format!(
        "{}/servers/{server}/mcp",
        gateway.url()
    ))
    .auth_header(gateway.admin_token.clone());
    let mut client = ()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap_or_else(|e| panic!("{mode}: initialize failed: {e}"));
    let info = client
        .peer()
        .peer_info()
        .expect("the server's initialize result");
    let server_name = info.server_info.as_ref().map(|i| i.name.as_str());
    assert_eq!(server_name, Some("mcpgw-reference"), "{mode}");

    let tools = client
        .peer()
        .list_all_tools()
        .await
        .unwrap_or_else(|e| panic!("{mode}: tools/list failed: {e}"));
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, vec![tool.as_str()], "{mode}");

    let arguments = json!({"text": "hello from rmcp"});
    let result = client
        .peer()
        .call_tool(
            CallToolRequestParams::new(tool.clone())
                .with_arguments(arguments.as_object().cloned().unwrap_or_default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{mode}: tools/call failed: {e}"));
    assert_eq!(result.is_error, Some(false), "{mode}: {result:?}");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(text.contains("hello from rmcp"), "{mode}: {text}");

    client.close().await.expect("the client shuts down");
}

#[tokio::test]
async fn rmcp_stateless_json() {
    round_trip(false, true).await;
}

#[tokio::test]
async fn rmcp_stateless_sse() {
    round_trip(false, false).await;
}

#[tokio::test]
async fn rmcp_stateful_json() {
    round_trip(true, true).await;
}

#[tokio::test]
async fn rmcp_stateful_sse() {
    round_trip(true, false).await;
}
