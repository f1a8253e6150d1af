//! The Redis fixture: answers, pauses (requests hang) and resumes.

use std::time::Duration;

use mcpgw_conformance::services::{RedisService, services_required};

#[tokio::test]
async fn redis_fixture_pauses_and_resumes() {
    let redis = match RedisService::start().await {
        Ok(r) => r,
        Err(e) if !services_required() => return eprintln!("skipping: {e}"),
        Err(e) => panic!("{e}"),
    };
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
    if redis.provider == mcpgw_conformance::services::Provider::Url {
        return;
    }
    redis.pause().await.unwrap();
    let stalled = tokio::time::timeout(
        Duration::from_millis(300),
        redis::cmd("GET").arg("k").query_async::<String>(&mut c),
    )
    .await;
    assert!(stalled.is_err(), "a paused Redis must not answer");
    redis.unpause().await.unwrap();
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(v, "v");
}
