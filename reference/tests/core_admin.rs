//! The admin REST API in ContextForge's shapes (issue 2, section 3): enough of servers, tools,
//! users, teams and health to provision every scenario the same way on both gateways.

use mcpgw_reference::testing::{TestGateway, TestResponse};
use serde_json::json;

fn is_canonical_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn get(gw: &TestGateway, path: &str) -> TestResponse {
    gw.send(gw.req("GET", path).bearer(&gw.admin)).await
}

#[tokio::test]
async fn health_needs_no_token() {
    let gw = TestGateway::new().await;
    let r = gw.send(gw.req("GET", "/health")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"status": "healthy"}));
}

#[tokio::test]
async fn servers_are_created_read_updated_and_deleted_in_contextforge_shapes() {
    let gw = TestGateway::new().await;
    let (tool, tool_name) = gw
        .create_rest_tool("my-tool", "http://127.0.0.1:9/x", json!({}))
        .await;
    let r = gw
        .admin_json(
            "POST",
            "/servers",
            &json!({"server": {"name": "alpha", "description": "first", "associated_tools": [tool],
                "oauth_enabled": true, "oauth_config": {"authorization_servers": ["https://as.example.com"]}},
                "visibility": "public"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    assert!(is_canonical_id(&id), "id {id:?}");
    assert_eq!(created["name"], "alpha");
    assert_eq!(created["visibility"], "public");
    assert_eq!(created["oauthEnabled"], true);
    assert_eq!(created["associatedTools"], json!([tool_name]));
    assert_eq!(created["associatedToolIds"], json!([tool]));
    assert_eq!(created["ownerEmail"], "admin@example.com");

    // Read by id and, D4, by name.
    assert_eq!(get(&gw, &format!("/servers/{id}")).await.json(), created);
    assert_eq!(get(&gw, "/servers/alpha").await.json(), created);
    let list = get(&gw, "/servers").await.json();
    assert!(
        list.as_array()
            .is_some_and(|a| a.iter().any(|s| s["id"] == id.as_str())),
        "{list}"
    );

    let r = gw
        .admin_json(
            "PUT",
            &format!("/servers/{id}"),
            &json!({"description": "changed", "associated_tools": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["description"], "changed");
    assert_eq!(r.json()["associatedTools"], json!([]));

    let r = gw
        .send(
            gw.req("DELETE", &format!("/servers/{id}"))
                .bearer(&gw.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&gw, &format!("/servers/{id}")).await;
    assert_eq!(r.status, 404, "{}", r.text());
}

#[tokio::test]
async fn server_ids_are_normalised_and_server_requests_validated() {
    let gw = TestGateway::new().await;
    let r = gw
        .admin_json(
            "POST",
            "/servers",
            &json!({"server": {"id": "11111111-2222-3333-4444-55555555AAAA", "name": "given-id"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"], "1111111122223333444455555555aaaa");
    for (what, body, status) in [
        (
            "duplicate name",
            json!({"server": {"name": "given-id"}}),
            409,
        ),
        (
            "duplicate id",
            json!({"server": {"id": "1111111122223333444455555555aaaa", "name": "x2"}}),
            409,
        ),
        (
            "bad visibility",
            json!({"server": {"name": "v", "visibility": "secret"}}),
            422,
        ),
        (
            "tool given by name",
            json!({"server": {"name": "n", "associated_tools": ["my-tool"]}}),
            422,
        ),
        (
            "unknown tool id",
            json!({"server": {"name": "u", "associated_tools": ["0123456789abcdef0123456789abcdef"]}}),
            400,
        ),
        (
            "name that is an id (D4)",
            json!({"server": {"name": "0123456789abcdef0123456789abcdef"}}),
            422,
        ),
        (
            "team visibility without a team",
            json!({"server": {"name": "t", "visibility": "team"}}),
            422,
        ),
        (
            "unknown team",
            json!({"server": {"name": "t2", "team_id": "nope"}}),
            422,
        ),
        (
            "bad id",
            json!({"server": {"id": "not-an-id", "name": "i"}}),
            422,
        ),
        ("empty name", json!({"server": {"name": " "}}), 422),
        ("no server object", json!({"name": "flat"}), 422),
    ] {
        let r = gw.admin_json("POST", "/servers", &body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(r.json()["detail"].is_string(), "{what}: {}", r.text());
    }
}

#[tokio::test]
async fn tools_are_created_and_listed_in_contextforge_shapes() {
    let gw = TestGateway::new().await;
    let r = gw
        .admin_json(
            "POST",
            "/tools",
            &json!({"tool": {"name": "Echo_REST-Tool", "url": "http://127.0.0.1:9/echo", "integration_type": "REST",
                "request_type": "post", "description": "d", "input_schema": {"type": "object"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert!(is_canonical_id(t["id"].as_str().unwrap_or_default()), "{t}");
    assert_eq!(t["name"], "echo-rest-tool");
    assert_eq!(t["originalName"], "Echo_REST-Tool");
    assert_eq!(t["requestType"], "POST");
    assert_eq!(t["integrationType"], "REST");
    let id = t["id"].as_str().unwrap_or_default();
    assert_eq!(get(&gw, &format!("/tools/{id}")).await.json(), t);
    assert!(
        get(&gw, "/tools")
            .await
            .json()
            .as_array()
            .is_some_and(|a| a.contains(&t))
    );
    for (what, tool) in [
        ("ftp url", json!({"name": "a", "url": "ftp://x/"})),
        ("no url", json!({"name": "b"})),
        (
            "bad name",
            json!({"name": "<script>", "url": "http://127.0.0.1:9/"}),
        ),
        (
            "bad request type",
            json!({"name": "c", "url": "http://127.0.0.1:9/", "request_type": "BREW"}),
        ),
        (
            "MCP integration",
            json!({"name": "d", "url": "http://127.0.0.1:9/", "integration_type": "MCP"}),
        ),
    ] {
        let r = gw
            .admin_json("POST", "/tools", &json!({"tool": tool}))
            .await;
        assert_eq!(r.status, 422, "{what}: {}", r.text());
    }
    let r = gw
        .admin_json(
            "POST",
            "/tools",
            &json!({"tool": {"name": "Echo_REST-Tool", "url": "http://127.0.0.1:9/"}}),
        )
        .await;
    assert_eq!(r.status, 409, "duplicate: {}", r.text());
}

#[tokio::test]
async fn only_owners_and_administrators_change_items() {
    let gw = TestGateway::new().await;
    let user = "user@example.com";
    gw.create_user(user, false).await;
    let tok = gw.user_token(user, Some(vec![]), None);
    let admins = gw.create_server("admins-server", json!({})).await;
    for (m, p) in [
        ("DELETE", format!("/servers/{admins}")),
        ("PUT", format!("/servers/{admins}")),
    ] {
        let r = gw
            .send(
                gw.req(m, &p)
                    .bearer(&tok)
                    .json(&json!({"description": "mine now"})),
            )
            .await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.text());
    }
    let r = gw
        .send(
            gw.req("POST", "/servers")
                .bearer(&tok)
                .json(&json!({"server": {"name": "users-server"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mine = r.json()["id"].as_str().unwrap_or_default().to_owned();
    let r = gw
        .send(gw.req("DELETE", &format!("/servers/{mine}")).bearer(&tok))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Users are managed by administrators only.
    let r = gw
        .send(
            gw.req("POST", "/auth/email/admin/users")
                .bearer(&tok)
                .json(&json!({"email": "x@example.com", "password": "long-enough-password"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
}

#[tokio::test]
async fn users_and_teams_can_be_provisioned() {
    let gw = TestGateway::new().await;
    gw.create_user("member@example.com", false).await;
    let team = gw
        .create_team("Platform Team", &["member@example.com"])
        .await;
    let r = get(&gw, &format!("/teams/{team}/members")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("member@example.com"), "{}", r.text());
    let r = gw
        .admin_json(
            "POST",
            "/auth/email/admin/users",
            &json!({"email": "member@example.com", "password": "long-enough-password"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = gw
        .admin_json(
            "POST",
            "/auth/email/admin/users",
            &json!({"email": "not-an-email", "password": "long-enough-password"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
}
