//! The reference's read cache in cluster mode, on a real Redis and Postgres: two workers in this
//! process, each with its own Postgres pool and its own cache (as two worker processes have),
//! sharing the store generation in Redis. What worker 1 has cached must never outlive a change
//! made through worker 0: every check below reads on worker 1 right after the change returned
//! on worker 0, without retrying.

use mcpgw_conformance::services::{PostgresService, RedisService, services_required};
use mcpgw_reference::store::postgres;
use mcpgw_reference::testing::TestGateway;
use mcpgw_reference::{Embedded, Settings, spawn_embedded_with};
use redis::AsyncCommands;
use serde_json::{Value, json};

struct Cluster {
    _services: (RedisService, PostgresService),
    redis: redis::aio::MultiplexedConnection,
    _workers: Vec<Embedded>,
    via: Vec<TestGateway>,
}

fn settings(redis: &str, database: &str) -> Settings {
    let mut s = Settings::default_for_tests();
    s.redis_url = Some(redis.to_owned());
    s.database_url = Some(database.to_owned());
    s.cluster_secret = Some("cluster-test-secret".to_owned());
    s.redis_timeout_ms = 500;
    s
}

impl Cluster {
    /// Two workers on a fresh Redis and database; `None` (skip) without them outside CI.
    async fn start() -> Option<Cluster> {
        let services = match (RedisService::start().await, PostgresService::start().await) {
            (Ok(r), Ok(p)) => (r, p),
            (Err(e), _) | (_, Err(e)) if !services_required() => {
                eprintln!("skipping: {e}");
                return None;
            }
            (Err(e), _) | (_, Err(e)) => panic!("{e}"),
        };
        let (redis_url, pg_url) = (services.0.url.clone(), services.1.url.clone());
        let mut workers = Vec::new();
        let mut via = Vec::new();
        for _ in 0..2 {
            let store = postgres::connect(&pg_url).await.expect("the store opens");
            let w = spawn_embedded_with(settings(&redis_url, &pg_url), store)
                .await
                .expect("worker starts");
            via.push(TestGateway::from_state(w.state.clone()).await);
            workers.push(w);
        }
        let redis = redis::Client::open(redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Cluster {
            _services: services,
            redis,
            _workers: workers,
            via,
        })
    }

    async fn generation(&self) -> u64 {
        self.redis
            .clone()
            .get("mcpgw:store_generation")
            .await
            .unwrap()
    }

    /// `tools/list` on `/rpc` through worker `i`: the tool names, or the HTTP status.
    async fn tools(&self, i: usize, token: &str) -> Result<Vec<String>, u16> {
        let r = self.via[i]
            .rpc("/rpc", token, "tools/list", json!({}))
            .await;
        if r.status != 200 {
            return Err(r.status.as_u16());
        }
        let v = r.json();
        let mut names: Vec<String> = v["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Enable or disable tool `id` through `via`.
async fn set_tool_state(via: &TestGateway, id: &str, enabled: bool) {
    let path = format!("/tools/{id}/state?activate={enabled}");
    let r = via.send(via.req("POST", &path).bearer(&via.admin)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn a_change_through_worker_0_is_seen_on_worker_1_at_once() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let w0 = &c.via[0];
    let (a, a_name) = w0
        .create_rest_tool("cache-a", "http://127.0.0.1:9/a", json!({}))
        .await;
    let (b, b_name) = w0
        .create_rest_tool("cache-b", "http://127.0.0.1:9/b", json!({}))
        .await;
    let sid = w0
        .create_server("cache-s", json!({"associated_tools": [a, b]}))
        .await;
    let r = w0
        .admin_json(
            "POST",
            "/tokens",
            &json!({"name": "cache-t", "expires_in_days": 1,
                    "scope": {"server_id": sid, "permissions": ["tools.read"]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = r.json();
    let token = v["access_token"].as_str().unwrap().to_owned();
    let token_id = v["token"]["id"].as_str().unwrap().to_owned();

    // Worker 1 reads (and caches) the user, the revocation that is not there, the server and
    // its tools.
    for _ in 0..3 {
        assert_eq!(
            c.tools(1, &token).await,
            Ok(vec![a_name.clone(), b_name.clone()])
        );
    }

    let before = c.generation().await;
    set_tool_state(w0, &b, false).await;
    assert_eq!(
        c.tools(1, &token).await,
        Ok(vec![a_name.clone()]),
        "tool disabled"
    );
    assert_ne!(c.generation().await, before, "a write moves the generation");

    let r = w0
        .admin_json(
            "PUT",
            &format!("/servers/{sid}"),
            &json!({"associated_tools": [b]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    set_tool_state(w0, &b, true).await;
    assert_eq!(
        c.tools(1, &token).await,
        Ok(vec![b_name.clone()]),
        "server changed"
    );

    let r = w0
        .send(
            w0.req("DELETE", &format!("/tokens/{token_id}"))
                .bearer(&w0.admin),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(c.tools(1, &token).await, Err(401), "revocation seen");
}

#[tokio::test]
async fn a_deleted_server_is_gone_on_the_other_worker_and_its_name_is_free() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let (w0, w1) = (&c.via[0], &c.via[1]);
    let sid = w0.create_server("cache-named", json!({})).await;
    // Worker 1 reads the server by id and by name (and caches both).
    for key in [sid.as_str(), "cache-named"] {
        for _ in 0..2 {
            let r = w1
                .send(w1.req("GET", &format!("/servers/{key}")).bearer(&w1.admin))
                .await;
            assert_eq!(r.status, 200, "{key}: {}", r.text());
        }
    }
    let r = w0
        .send(
            w0.req("DELETE", &format!("/servers/{sid}"))
                .bearer(&w0.admin),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    for key in [sid.as_str(), "cache-named"] {
        let r = w1
            .send(w1.req("GET", &format!("/servers/{key}")).bearer(&w1.admin))
            .await;
        assert_eq!(r.status, 404, "{key} still served: {}", r.text());
    }
    // The name is free on worker 1 at once.
    let again = w1.create_server("cache-named", json!({})).await;
    assert_ne!(again, sid);
}
