//! The Postgres store (cluster mode): one table per kind holding each record as JSONB, with its
//! key and unique name in their own columns so lookups and uniqueness are done by Postgres.
//! Migrations run at start and are idempotent.

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{ApiToken, Gateway, Prompt, Resource, Revocation, Server, Team, Tool, User};
use super::{Entity, Kind, Store, StoreError, StoreResult, Table};

const KINDS: [Kind; 9] = [
    Kind::User,
    Kind::Team,
    Kind::Server,
    Kind::Tool,
    Kind::Gateway,
    Kind::Resource,
    Kind::Prompt,
    Kind::Token,
    Kind::Revocation,
];

/// Schema version this build writes; bump with a new migration step.
const SCHEMA_VERSION: i32 = 1;

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Connect to `url`, run migrations, and return a store whose tables live in Postgres.
pub async fn connect(url: &str) -> StoreResult<Store> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| unavailable(format!("bad DATABASE_URL: {e}")))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(16)
        .build()
        .map_err(unavailable)?;
    migrate(&pool).await?;
    Ok(Store {
        users: Arc::new(PgTable::<User>::new(pool.clone())),
        teams: Arc::new(PgTable::<Team>::new(pool.clone())),
        servers: Arc::new(PgTable::<Server>::new(pool.clone())),
        tools: Arc::new(PgTable::<Tool>::new(pool.clone())),
        gateways: Arc::new(PgTable::<Gateway>::new(pool.clone())),
        resources: Arc::new(PgTable::<Resource>::new(pool.clone())),
        prompts: Arc::new(PgTable::<Prompt>::new(pool.clone())),
        tokens: Arc::new(PgTable::<ApiToken>::new(pool.clone())),
        revocations: Arc::new(PgTable::<Revocation>::new(pool.clone())),
        usage: Arc::new(PgUsageLog { pool }),
        backend: super::Backend::Postgres,
        fold_server_names: false,
    })
}

async fn migrate(pool: &Pool) -> StoreResult<()> {
    let mut client = pool.get().await.map_err(unavailable)?;
    let tx = client.transaction().await.map_err(unavailable)?;
    // Several workers may start at once: serialise their migrations.
    tx.batch_execute("SELECT pg_advisory_xact_lock(7331001)")
        .await
        .map_err(unavailable)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS mcpgw_schema (version INT NOT NULL)")
        .await
        .map_err(unavailable)?;
    for kind in KINDS {
        let t = kind.table();
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS mcpgw_{t} (
                key TEXT PRIMARY KEY,
                name TEXT UNIQUE,
                seq BIGSERIAL NOT NULL,
                doc JSONB NOT NULL
            )"
        ))
        .await
        .map_err(unavailable)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mcpgw_token_usage (jti TEXT NOT NULL, at BIGINT NOT NULL);
         CREATE INDEX IF NOT EXISTS mcpgw_token_usage_jti_at ON mcpgw_token_usage (jti, at)",
    )
    .await
    .map_err(unavailable)?;
    let current: Option<i32> = tx
        .query_opt("SELECT max(version) FROM mcpgw_schema", &[])
        .await
        .map_err(unavailable)?
        .and_then(|r| r.get(0));
    match current {
        None => {
            tx.execute(
                "INSERT INTO mcpgw_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(unavailable)?;
        }
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Unavailable(format!(
                "database schema version {v} is newer than this build's {SCHEMA_VERSION}"
            )));
        }
        Some(_) => {}
    }
    tx.commit().await.map_err(unavailable)
}

/// One kind's table.
pub(crate) struct PgTable<T> {
    pool: Pool,
    select: String,
    _kind: PhantomData<fn() -> T>,
}

impl<T: Entity> PgTable<T> {
    fn new(pool: Pool) -> Self {
        PgTable {
            pool,
            select: format!("SELECT doc FROM mcpgw_{}", T::KIND.table()),
            _kind: PhantomData,
        }
    }

    fn table(&self) -> String {
        format!("mcpgw_{}", T::KIND.table())
    }

    fn decode(doc: Value) -> StoreResult<Arc<T>> {
        serde_json::from_value(doc).map(Arc::new).map_err(|e| {
            StoreError::Unavailable(format!("corrupt {} record: {e}", T::KIND.table()))
        })
    }

    async fn one(&self, filter: &str, arg: &str) -> StoreResult<Option<Arc<T>>> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let row = client
            .query_opt(&format!("{} WHERE {filter} = $1", self.select), &[&arg])
            .await
            .map_err(unavailable)?;
        row.map(|r| Self::decode(r.get(0))).transpose()
    }

    async fn write(&self, item: T, replace: bool) -> StoreResult<()> {
        let doc = serde_json::to_value(&item).map_err(unavailable)?;
        let name = item.unique_name().map(str::to_owned);
        let sql = if replace {
            format!(
                "INSERT INTO {} (key, name, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, doc = EXCLUDED.doc",
                self.table()
            )
        } else {
            format!(
                "INSERT INTO {} (key, name, doc) VALUES ($1, $2, $3)",
                self.table()
            )
        };
        let client = self.pool.get().await.map_err(unavailable)?;
        match client.execute(&sql, &[&item.key(), &name, &doc]).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Duplicate {
                kind: T::KIND.table(),
                name: name.unwrap_or_else(|| item.key().to_owned()),
            }),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl<T: Entity> Table<T> for PgTable<T> {
    async fn get(&self, key: &str) -> StoreResult<Option<Arc<T>>> {
        self.one("key", key).await
    }

    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Arc<T>>> {
        self.one("name", name).await
    }

    async fn list(&self) -> StoreResult<Vec<Arc<T>>> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(&format!("{} ORDER BY seq", self.select), &[])
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|r| Self::decode(r.get(0))).collect()
    }

    async fn insert(&self, item: T) -> StoreResult<()> {
        self.write(item, false).await
    }

    async fn upsert(&self, item: T) -> StoreResult<()> {
        self.write(item, true).await
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let n = client
            .execute(
                &format!("DELETE FROM {} WHERE key = $1", self.table()),
                &[&key],
            )
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}

/// Token usage counted in Postgres, shared by every worker.
pub(crate) struct PgUsageLog {
    pool: Pool,
}

#[async_trait]
impl super::usage::UsageLog for PgUsageLog {
    async fn counts(&self, jti: &str, now: i64) -> StoreResult<super::usage::UsageCounts> {
        let client = self.pool.get().await.map_err(unavailable)?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE at > $2::BIGINT - 3600), count(*) FROM mcpgw_token_usage
                 WHERE jti = $1 AND at > $2::BIGINT - 86400 AND at <= $2::BIGINT",
                &[&jti, &now],
            )
            .await
            .map_err(unavailable)?;
        let hour: i64 = row.get(0);
        let day: i64 = row.get(1);
        Ok(super::usage::UsageCounts {
            last_hour: hour as u64,
            last_day: day as u64,
        })
    }

    async fn record(&self, jti: &str, now: i64) -> StoreResult<()> {
        let client = self.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "INSERT INTO mcpgw_token_usage (jti, at) VALUES ($1, $2)",
                &[&jti, &now],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
