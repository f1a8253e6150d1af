//! The reference's cluster mode (D11, C-AFF-*) on a real Redis: two workers in this process,
//! each with its own listener, registry handle and heartbeat, sharing one store (as workers on
//! one Postgres do). Requests are sent "via" a worker through its router; forwards between
//! workers go over real HTTP to the owner's listener.
//!
//! The harness's `--cluster N` target (separate processes, kill and restart) builds on the same
//! reference code; these tests pin the registry and forwarding rules themselves.

use std::time::Duration;

use mcpgw_conformance::services::{Provider, RedisService, services_required};
use mcpgw_reference::testing::TestGateway;
use mcpgw_reference::testing::mcp::{TwoServers, tool_names};
use mcpgw_reference::{Embedded, Settings, Store, spawn_embedded_with};
use redis::AsyncCommands;
use serde_json::json;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

struct Cluster {
    redis: RedisService,
    conn: redis::aio::MultiplexedConnection,
    workers: Vec<Embedded>,
    via: Vec<TestGateway>,
    f: TwoServers,
    alice: String,
    bob: String,
}

fn settings(redis: &str, defects: &[&str]) -> Settings {
    let mut s = Settings::default_for_tests();
    s.redis_url = Some(redis.to_owned());
    s.cluster_secret = Some("cluster-test-secret".to_owned());
    s.use_stateful_sessions = true;
    s.worker_heartbeat_ttl = 2;
    s.redis_timeout_ms = 500;
    s.policy = mcpgw_reference::defects::policy_with(defects).expect("defects of the matrix");
    s
}

impl Cluster {
    /// Two workers on a fresh Redis; `None` (skip) when no Redis can be had outside CI.
    async fn start(defects: &[&str]) -> Option<Cluster> {
        let redis = match RedisService::start().await {
            Ok(r) => r,
            Err(e) if !services_required() => {
                eprintln!("skipping: {e}");
                return None;
            }
            Err(e) => panic!("{e}"),
        };
        let store = Store::memory();
        let mut workers = Vec::new();
        let mut via = Vec::new();
        for _ in 0..2 {
            let w = spawn_embedded_with(settings(&redis.url, defects), store.clone())
                .await
                .expect("worker starts");
            via.push(TestGateway::from_state(w.state.clone()).await);
            workers.push(w);
        }
        let f = via[0].two_servers().await;
        via[0].create_user(ALICE, false).await;
        via[0].create_user(BOB, false).await;
        let alice = via[0].token(ALICE, false, Some(vec![]), None);
        let bob = via[0].token(BOB, false, Some(vec![]), None);
        let conn = redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Cluster {
            redis,
            conn,
            workers,
            via,
            f,
            alice,
            bob,
        })
    }

    fn id(&self, i: usize) -> String {
        self.workers[i]
            .state
            .worker_id()
            .expect("cluster mode")
            .to_owned()
    }

    fn s_path(&self) -> String {
        format!("/servers/{}/mcp", self.f.s)
    }

    async fn owner(&self, sid: &str) -> Option<String> {
        self.conn
            .clone()
            .get(format!("mcpgw:pool_owner:{sid}"))
            .await
            .unwrap()
    }

    async fn list(
        &self,
        i: usize,
        path: &str,
        token: &str,
        sid: &str,
    ) -> mcpgw_reference::testing::TestResponse {
        self.via[i]
            .in_session(path, token, sid, "tools/list", json!({}))
            .await
    }
}

#[tokio::test]
async fn c_aff_01_02_initialize_registers_the_owner_and_workers_heartbeat() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let sid = c.via[0].open_session(&c.s_path(), &c.alice).await;
    assert_eq!(c.owner(&sid).await, Some(c.id(0)));
    let ttl: i64 = c
        .conn
        .clone()
        .ttl(format!("mcpgw:pool_owner:{sid}"))
        .await
        .unwrap();
    assert!((1..=300).contains(&ttl), "owner TTL {ttl}");
    for i in 0..2 {
        let key = format!("mcpgw:worker_heartbeat:{}", c.id(i));
        let ttl: i64 = c.conn.clone().ttl(&key).await.unwrap();
        assert!((1..=30).contains(&ttl), "{key}: TTL {ttl}");
        let url: String = c.conn.clone().get(&key).await.unwrap();
        assert_eq!(url, c.workers[i].url());
    }
}

#[tokio::test]
async fn d11_a_forwarded_request_keeps_its_server_scope() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let path = c.s_path();
    let sid = c.via[0].open_session(&path, &c.gw_admin()).await;
    // Via worker 1: forwarded to worker 0, which applies the path's server.
    let r = c.list(1, &path, &c.gw_admin(), &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-mcpgw-worker"),
        Some(c.id(0).as_str()),
        "served by the owner"
    );
    assert_eq!(tool_names(&r), vec![c.f.s_tool.clone()]);
    // Without params at all, and with params naming the other server: still S only / refused.
    let r = c.via[1]
        .send(
            c.via[1]
                .req("POST", &path)
                .bearer(&c.gw_admin())
                .header("mcp-session-id", &sid)
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"server_id": c.f.t}})),
        )
        .await;
    assert!(!r.text().contains(&c.f.t_tool), "{}", r.text());
    assert_eq!(c.owner(&sid).await, Some(c.id(0)), "ownership stays");
}

impl Cluster {
    fn gw_admin(&self) -> String {
        self.via[0].admin.clone()
    }
}

#[tokio::test]
async fn d11_check_fails_on_a_cluster_that_drops_the_server_id() {
    let Some(c) = Cluster::start(&["forwarded-no-server-id"]).await else {
        return;
    };
    let path = c.s_path();
    let sid = c.via[0].open_session(&path, &c.gw_admin()).await;
    // Direct requests are still scoped: the defect is in the forward only.
    let r = c.list(0, &path, &c.gw_admin(), &sid).await;
    assert_eq!(tool_names(&r), vec![c.f.s_tool.clone()]);
    let r = c.list(1, &path, &c.gw_admin(), &sid).await;
    let names = tool_names(&r);
    assert!(names.contains(&c.f.t_tool), "the defect shows: {names:?}");
}

#[tokio::test]
async fn c_mcp_18_ownership_holds_across_the_forward_and_delete_ends_it_everywhere() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let path = c.s_path();
    let sid = c.via[0].open_session(&path, &c.alice).await;
    let r = c.list(1, &path, &c.bob, &sid).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Session access denied"}));
    let r = c.via[1]
        .send(
            c.via[1]
                .req("DELETE", &path)
                .bearer(&c.alice)
                .header("mcp-session-id", &sid),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for i in 0..2 {
        let r = c.list(i, &path, &c.alice, &sid).await;
        assert_eq!(r.status, 404, "worker {i}: {}", r.text());
    }
    assert_eq!(c.owner(&sid).await, None, "the owner record is released");
}

#[tokio::test]
async fn d3_c_aff_04_client_supplied_internal_headers_give_nothing() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let path = c.s_path();
    let sid = c.via[0].open_session(&path, &c.alice).await;
    // A forged hop: refused outright, whatever the rest says.
    let r = c.via[0]
        .send(
            c.via[0]
                .req("POST", &path)
                .bearer(&c.bob)
                .header("mcp-session-id", &sid)
                .header("accept", "application/json")
                .header("x-mcpgw-forward-from", &c.id(1))
                .header("x-mcpgw-forward-ts", "0")
                .header("x-mcpgw-forward-client", "127.0.0.1")
                .header("x-mcpgw-forward-sig", "00")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], -32003);
    assert_eq!(
        r.json()["error"]["message"],
        "Forwarded auth context failed integrity verification"
    );
    // ContextForge's internal marker is just a header here.
    let r = c.via[1]
        .send(
            c.via[1]
                .req("POST", &path)
                .bearer(&c.bob)
                .header("mcp-session-id", &sid)
                .header("x-forwarded-internally", "true")
                .header("x-forwarded-for", "127.0.0.1")
                .header("accept", "application/json")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json(), json!({"detail": "Session access denied"}));
}

#[tokio::test]
async fn c_aff_07_a_dead_owners_session_is_taken_over_and_stays_scoped() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    let path = c.s_path();
    let admin = c.gw_admin();
    // A session whose owner has no heartbeat (a worker that died).
    let sid = c.via[0].open_session(&path, &admin).await;
    let _: () = c
        .conn
        .clone()
        .set(format!("mcpgw:pool_owner:{sid}"), "dead-worker")
        .await
        .unwrap();
    let r = c.list(1, &path, &admin, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![c.f.s_tool.clone()]);
    assert_eq!(c.owner(&sid).await, Some(c.id(1)), "worker 1 took it over");

    // An owner whose heartbeat has not expired yet but whose port is closed: taken over too.
    let sid = c.via[0].open_session(&path, &admin).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let _: () = c
        .conn
        .clone()
        .set_ex("mcpgw:worker_heartbeat:gone", url, 30)
        .await
        .unwrap();
    let _: () = c
        .conn
        .clone()
        .set(format!("mcpgw:pool_owner:{sid}"), "gone")
        .await
        .unwrap();
    let r = c.list(1, &path, &admin, &sid).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tool_names(&r), vec![c.f.s_tool.clone()]);
    assert_eq!(c.owner(&sid).await, Some(c.id(1)));
}

#[tokio::test]
async fn d11_redis_unreachable_fails_closed_then_recovers() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    if c.redis.provider == Provider::Url {
        return eprintln!("skipping: a Redis given by URL cannot be paused");
    }
    let path = c.s_path();
    let admin = c.gw_admin();
    let sid = c.via[0].open_session(&path, &admin).await;
    c.redis.pause().await.unwrap();
    for i in 0..2 {
        let r = c.list(i, &path, &admin, &sid).await;
        assert_eq!(r.status, 503, "worker {i}: {}", r.text());
        assert!(tool_names(&r).is_empty());
    }
    let r = c.via[1].initialize(&path, &admin).await;
    assert_eq!(r.status, 503, "a new session needs Redis too: {}", r.text());
    // Stateless parts of the gateway do not need Redis.
    let r = c.via[1]
        .rpc("/rpc", &admin, "tools/list", json!({"server_id": c.f.s}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    c.redis.unpause().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.list(1, &path, &admin, &sid).await;
        if r.status == 200 {
            assert_eq!(tool_names(&r), vec![c.f.s_tool.clone()]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery: {}",
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cluster_mode_needs_a_cluster_secret() {
    let mut s = settings("redis://127.0.0.1:1/0", &[]);
    s.cluster_secret = None;
    let e = spawn_embedded_with(s, Store::memory()).await.unwrap_err();
    assert!(e.contains("CLUSTER_SECRET"), "{e}");
}
