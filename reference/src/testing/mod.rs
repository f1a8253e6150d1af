//! Test support: drive `app()` in process without a socket, provision fixtures through the
//! admin API, and sign tokens. Used by this crate's integration tests and by the harness's
//! in-process checks; not part of the gateway's behaviour.

pub mod mcp;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::state::Clock;
use crate::{AppState, Settings, Store, app, bootstrap};

/// A complete response.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request to send; built with [`TestGateway::req`].
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: Method,
    /// Sent exactly as written (query string included).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Headers whose values are arbitrary bytes (obs-text, invalid UTF-8), sent after `headers`.
    pub raw_headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl TestRequest {
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A header whose value is raw bytes, for non-UTF-8 header tests.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.raw_headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// Send the token as the `jwt_token` cookie.
    pub fn cookie_token(self, token: &str) -> Self {
        self.header("cookie", &format!("jwt_token={token}"))
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Bytes::from(serde_json::to_vec(body).expect("JSON values serialise"));
        self.header("content-type", "application/json")
    }

    pub fn raw_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Pretend the TCP peer is `addr` (for trusted-proxy and IP-restriction tests).
    pub fn peer(mut self, addr: &str) -> Self {
        self.peer = addr.parse().expect("a socket address like 10.0.0.1:1234");
        self
    }
}

/// The gateway in process, with the platform administrator's token at hand.
#[derive(Debug, Clone)]
pub struct TestGateway {
    pub state: AppState,
    pub router: Router,
    pub admin: String,
}

impl TestGateway {
    /// Default test settings, in-memory store.
    pub async fn new() -> Self {
        Self::with_settings(Settings::default_for_tests()).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let state = AppState::new(with_test_defects(settings), Store::memory())
            .expect("test settings are valid");
        Self::from_state(state).await
    }

    /// Build on a prepared state (for a fixed clock, see `Clock`).
    pub async fn from_state(state: AppState) -> Self {
        bootstrap::ensure_admin(&state)
            .await
            .expect("the in-memory store works");
        let admin =
            bootstrap::admin_token(&state, &state.settings.platform_admin_email.clone(), 60);
        TestGateway {
            router: app(state.clone()),
            state,
            admin,
        }
    }

    /// The same gateway with a fixed clock.
    pub async fn with_clock(settings: Settings, now: &str) -> Self {
        let state = AppState::new(with_test_defects(settings), Store::memory())
            .expect("test settings are valid")
            .with_clock(Clock::Fixed(now.parse().expect("an RFC 3339 timestamp")));
        Self::from_state(state).await
    }

    pub fn req(&self, method: &str, path: &str) -> TestRequest {
        TestRequest {
            method: Method::from_bytes(method.as_bytes()).expect("a valid method"),
            path: path.to_owned(),
            headers: Vec::new(),
            raw_headers: Vec::new(),
            body: Bytes::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }

    /// Send a request through `app()`. Panics only if the path cannot be put into a request
    /// line at all (use [`Self::try_send`] for fuzzing).
    pub async fn send(&self, r: TestRequest) -> TestResponse {
        self.try_send(r)
            .await
            .expect("the path is a valid request target")
    }

    /// Send a request; `None` when `http` refuses the path or a header as a request target,
    /// which a real server would answer with 400 before the gateway saw it.
    pub async fn try_send(&self, r: TestRequest) -> Option<TestResponse> {
        let mut builder = Request::builder().method(r.method).uri(r.path.as_str());
        for (k, v) in &r.headers {
            builder = builder.header(k.as_str(), HeaderValue::from_bytes(v.as_bytes()).ok()?);
        }
        for (k, v) in &r.raw_headers {
            builder = builder.header(k.as_str(), HeaderValue::from_bytes(v).ok()?);
        }
        let mut request = builder.body(Body::from(r.body)).ok()?;
        request.extensions_mut().insert(ConnectInfo(r.peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Some(TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Send with the admin token and a JSON body; returns the response.
    pub async fn admin_json(&self, method: &str, path: &str, body: &Value) -> TestResponse {
        self.send(self.req(method, path).bearer(&self.admin).json(body))
            .await
    }

    /// POST a JSON-RPC request to `path` with `token`.
    pub async fn rpc(&self, path: &str, token: &str, method: &str, params: Value) -> TestResponse {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        self.send(
            self.req("POST", path)
                .bearer(token)
                .header("accept", "application/json, text/event-stream")
                .json(&body),
        )
        .await
    }

    /// Create a public server named `name` with `extra` fields merged into `server`; returns
    /// its id.
    pub async fn create_server(&self, name: &str, extra: Value) -> String {
        let mut server = json!({"name": name});
        merge(&mut server, extra);
        let r = self
            .admin_json("POST", "/servers", &json!({"server": server}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create server {name}: {}",
            r.text()
        );
        r.json()["id"].as_str().expect("server id").to_owned()
    }

    /// The checklist's S and T: public servers "alpha" (REST tool `s-tool`) and "beta" (REST
    /// tool `t-tool`); returns their ids. The tools point at a closed loopback port, so a call
    /// that runs comes back as an `isError` result.
    pub async fn alpha_and_beta(&self) -> (String, String) {
        let (s_tool, _) = self
            .create_rest_tool("s-tool", "http://127.0.0.1:9/s", json!({}))
            .await;
        let (t_tool, _) = self
            .create_rest_tool("t-tool", "http://127.0.0.1:9/t", json!({}))
            .await;
        let s = self
            .create_server("alpha", json!({"associated_tools": [s_tool]}))
            .await;
        let t = self
            .create_server("beta", json!({"associated_tools": [t_tool]}))
            .await;
        (s, t)
    }

    /// Create a REST tool calling `url`; returns (id, callable name).
    pub async fn create_rest_tool(&self, name: &str, url: &str, extra: Value) -> (String, String) {
        let mut tool = json!({"name": name, "integration_type": "REST", "request_type": "POST", "url": url,
            "input_schema": {"type": "object", "properties": {}}});
        merge(&mut tool, extra);
        let r = self
            .admin_json("POST", "/tools", &json!({"tool": tool}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "create tool {name}: {}", r.text());
        let v = r.json();
        (
            v["id"].as_str().expect("tool id").to_owned(),
            v["name"].as_str().expect("tool name").to_owned(),
        )
    }

    /// Create a resource with inline `content`; returns its id.
    pub async fn create_resource(&self, uri: &str, content: &str, extra: Value) -> String {
        let mut resource = json!({"uri": uri, "name": uri, "content": content});
        merge(&mut resource, extra);
        let r = self
            .admin_json("POST", "/resources", &json!({"resource": resource}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "create resource {uri}: {}",
            r.text()
        );
        r.json()["id"].as_str().expect("resource id").to_owned()
    }

    /// Create a prompt with an inline `template`; returns (id, callable name).
    pub async fn create_prompt(
        &self,
        name: &str,
        template: &str,
        extra: Value,
    ) -> (String, String) {
        let mut prompt = json!({"name": name, "template": template});
        merge(&mut prompt, extra);
        let r = self
            .admin_json("POST", "/prompts", &json!({"prompt": prompt}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "create prompt {name}: {}",
            r.text()
        );
        let v = r.json();
        (
            v["id"].as_str().expect("prompt id").to_owned(),
            v["name"].as_str().expect("prompt name").to_owned(),
        )
    }

    /// Register an upstream MCP server at `url` (`POST /gateways`); returns the gateway as the
    /// API shows it.
    pub async fn register_gateway(&self, name: &str, url: &str) -> Value {
        let r = self
            .admin_json("POST", "/gateways", &json!({"name": name, "url": url}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "register gateway {name}: {}",
            r.text()
        );
        r.json()
    }

    /// Replace a server's associated tools, resources and prompts (ids).
    pub async fn associate(
        &self,
        server_id: &str,
        tools: &[&str],
        resources: &[&str],
        prompts: &[&str],
    ) {
        let r = self
            .admin_json(
                "PUT",
                &format!("/servers/{server_id}"),
                &json!({"associated_tools": tools, "associated_resources": resources,
                    "associated_prompts": prompts}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "associate with {server_id}: {}",
            r.text()
        );
    }

    /// POST a JSON body (any shape) to `path`, with `token` when given.
    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> TestResponse {
        let mut r = self
            .req("POST", path)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(t) = token {
            r = r.bearer(t);
        }
        self.send(r).await
    }

    /// The tool names `tools/list` returns on `path` (`/rpc`, `/mcp`, `/servers/S/mcp`).
    pub async fn tool_names(&self, path: &str, token: &str, params: Value) -> Vec<String> {
        let r = self.rpc(path, token, "tools/list", params).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "tools/list on {path}: {}",
            r.text()
        );
        let mut names: Vec<String> = r.json()["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list on {path} has no tools: {}", r.text()))
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// The claims of a token signed with the gateway's key (signature checked, nothing else).
    pub fn claims_of(&self, token: &str) -> Value {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_secret(&self.state.jwt.secret),
            &validation,
        )
        .expect("a token signed with the gateway's key")
        .claims
    }

    /// Create a user (not an administrator unless `admin`).
    pub async fn create_user(&self, email: &str, admin: bool) {
        let password = "a-long-enough-password-for-admins";
        let r = self
            .admin_json(
                "POST",
                "/auth/email/admin/users",
                &json!({"email": email, "password": password, "full_name": email, "is_admin": admin}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create user {email}: {}",
            r.text()
        );
    }

    /// Create a team owned by the administrator with `members`; returns its id.
    pub async fn create_team(&self, name: &str, members: &[&str]) -> String {
        let r = self
            .admin_json(
                "POST",
                "/teams/",
                &json!({"name": name, "visibility": "private"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "create team {name}: {}",
            r.text()
        );
        let id = r.json()["id"].as_str().expect("team id").to_owned();
        for m in members {
            let r = self
                .admin_json(
                    "POST",
                    &format!("/teams/{id}/members"),
                    &json!({"email": m, "role": "member"}),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "add {m} to {name}: {}",
                r.text()
            );
        }
        id
    }

    /// A token signed with the gateway's key. `teams`: `None` writes `"teams": null`.
    pub fn token(
        &self,
        email: &str,
        admin: bool,
        teams: Option<Vec<String>>,
        scopes: Option<Value>,
    ) -> String {
        bootstrap::token_for(&self.state, email, admin, teams, scopes, Some(3600))
    }

    /// A token for a non-administrator `email` with these `teams` (`None`: `"teams": null`) and
    /// `scopes`.
    pub fn user_token(
        &self,
        email: &str,
        teams: Option<Vec<String>>,
        scopes: Option<Value>,
    ) -> String {
        self.token(email, false, teams, scopes)
    }

    /// An admin-bypass token restricted to `server_id` (the checklist's "scoped(S)").
    pub fn scoped(&self, server_id: &str) -> String {
        let email = self.state.settings.platform_admin_email.clone();
        self.token(
            &email,
            true,
            None,
            Some(json!({"server_id": server_id, "permissions": []})),
        )
    }

    /// An admin-bypass token with arbitrary `scopes`.
    pub fn admin_with_scopes(&self, scopes: Value) -> String {
        let email = self.state.settings.platform_admin_email.clone();
        self.token(&email, true, None, Some(scopes))
    }

    /// Sign arbitrary claims with the gateway's key.
    pub fn sign(&self, claims: &Value) -> String {
        crate::auth::jwt::sign(claims, &self.state.jwt.secret)
    }
}

/// Unpadded base64url, for hand-made tokens (`alg: none`, relabelled headers).
pub fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// In builds with the `defects` feature, `MCPGW_TEST_INJECT_DEFECT=name[,name]` loosens the
/// policy of every `TestGateway`, so a test run can prove that the tests catch each defect.
/// Test support only: the gateway itself never reads this variable.
#[cfg_attr(not(feature = "defects"), allow(unused_mut))]
fn with_test_defects(mut settings: Settings) -> Settings {
    #[cfg(feature = "defects")]
    if let Ok(names) = std::env::var("MCPGW_TEST_INJECT_DEFECT") {
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let defect = crate::defects::Defect::parse(name).expect("a known defect name");
            settings.policy = defect.loosen(settings.policy);
        }
    }
    settings
}

/// Merge `extra`'s keys into `base` (both objects).
pub fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(b), Value::Object(e)) = (base, extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// A private team with no members, for tests of the store's tables.
pub fn team(id: &str, name: &str) -> crate::store::Team {
    crate::store::Team {
        id: id.into(),
        name: name.into(),
        slug: name.into(),
        description: None,
        visibility: crate::store::Visibility::Private,
        created_by: "a@x".into(),
        members: vec![],
        created_at: String::new(),
    }
}
