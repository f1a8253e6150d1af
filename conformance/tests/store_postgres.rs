//! The Postgres store against a real Postgres (testcontainers, `DATABASE_URL`, or a native
//! server): the same `Table` contract as the in-memory store, and persistence across a restart.

use mcpgw_conformance::services::{PostgresService, services_required};
use mcpgw_reference::store::{Store, StoreError, postgres};
use mcpgw_reference::testing::team;

async fn database() -> Option<PostgresService> {
    match PostgresService::start().await {
        Ok(s) => Some(s),
        Err(e) if !services_required() => {
            eprintln!("skipping: {e} (set MCPGW_REQUIRE_SERVICES=1 to make this an error)");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn postgres_tables_keep_the_table_contract_and_survive_a_restart() {
    let Some(pg) = database().await else { return };
    let store: Store = postgres::connect(&pg.url)
        .await
        .expect("connect and migrate");
    let t = &store.teams;
    t.insert(team("1", "a")).await.unwrap();
    assert!(
        matches!(
            t.insert(team("2", "a")).await,
            Err(StoreError::Duplicate { .. })
        ),
        "names are unique"
    );
    assert!(
        matches!(
            t.insert(team("1", "z")).await,
            Err(StoreError::Duplicate { .. })
        ),
        "keys are unique"
    );
    t.upsert(team("1", "b")).await.unwrap();
    assert!(
        t.find_by_name("a").await.unwrap().is_none(),
        "a rename frees the old name"
    );
    t.insert(team("2", "a")).await.unwrap();
    let names: Vec<_> = t
        .list()
        .await
        .unwrap()
        .iter()
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(names, ["1", "2"], "oldest first");
    assert_eq!(t.find_by_name("b").await.unwrap().unwrap().id, "1");

    // A second connection (a restarted worker) sees the same records; migrations are idempotent.
    let again = postgres::connect(&pg.url).await.expect("reconnect");
    assert_eq!(again.teams.get("2").await.unwrap().unwrap().name, "a");
    assert!(again.teams.delete("2").await.unwrap());
    assert!(!again.teams.delete("2").await.unwrap());
    assert!(store.teams.get("2").await.unwrap().is_none());

    // Token usage is shared by every worker on the database.
    store.usage.record("j", 10_000).await.unwrap();
    again.usage.record("j", 10_000 + 3600).await.unwrap();
    let c = store.usage.counts("j", 10_000 + 3601).await.unwrap();
    assert_eq!((c.last_hour, c.last_day), (1, 2));
}
