//! End-to-end smoke test through `app()`: the admin API provisions, `/rpc` answers in scope.

use mcpgw_reference::testing::TestGateway;
use serde_json::json;

#[tokio::test]
async fn c_scope_01_scoped_token_pings_rpc_and_sees_only_its_server() {
    let gw = TestGateway::new().await;
    let s = gw.create_server("alpha", json!({})).await;
    let t = gw.create_server("beta", json!({})).await;
    let scoped = gw.scoped(&s);
    let r = gw.rpc("/rpc", &scoped, "ping", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"], json!({}));
    let r = gw
        .rpc("/rpc", &scoped, "tools/list", json!({"server_id": t}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], -32003);
    let r = gw
        .send(
            gw.req("POST", &format!("/servers/{t}/mcp"))
                .bearer(&scoped)
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), json!({"detail": "Access denied"}));
}
