//! Persistence: one `Table<T>` per entity kind behind a trait, so the gateway runs on the
//! in-memory store (default, one process) or on Postgres (cluster mode) unchanged.

pub(crate) mod memory;
mod model;
pub mod postgres;
pub(crate) mod usage;

use std::sync::Arc;

use async_trait::async_trait;

pub use model::*;

/// A storage failure. Handlers turn it into 503 (never an unscoped answer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("{kind} named {name:?} already exists")]
    Duplicate { kind: &'static str, name: String },
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// One kind of record.
#[async_trait]
pub trait Table<T: Entity>: Send + Sync {
    async fn get(&self, key: &str) -> StoreResult<Option<Arc<T>>>;
    /// The record whose unique name is `name`.
    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Arc<T>>>;
    /// Every record, oldest first.
    async fn list(&self) -> StoreResult<Vec<Arc<T>>>;
    /// Insert. Fails with `Duplicate` when the unique name is taken by another record.
    async fn insert(&self, item: T) -> StoreResult<()>;
    /// Insert or replace by key. Fails with `Duplicate` when the name is taken by another record.
    async fn upsert(&self, item: T) -> StoreResult<()>;
    async fn delete(&self, key: &str) -> StoreResult<bool>;
}

/// Every table the gateway uses.
#[derive(Clone)]
pub struct Store {
    pub users: Arc<dyn Table<User>>,
    pub teams: Arc<dyn Table<Team>>,
    pub servers: Arc<dyn Table<Server>>,
    pub tools: Arc<dyn Table<Tool>>,
    pub gateways: Arc<dyn Table<Gateway>>,
    pub resources: Arc<dyn Table<Resource>>,
    pub prompts: Arc<dyn Table<Prompt>>,
    pub tokens: Arc<dyn Table<ApiToken>>,
    pub revocations: Arc<dyn Table<Revocation>>,
    pub usage: Arc<dyn usage::UsageLog>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// A fresh in-memory store.
    pub fn memory() -> Self {
        use memory::MemoryTable;
        Store {
            users: Arc::new(MemoryTable::<User>::default()),
            teams: Arc::new(MemoryTable::<Team>::default()),
            servers: Arc::new(MemoryTable::<Server>::default()),
            tools: Arc::new(MemoryTable::<Tool>::default()),
            gateways: Arc::new(MemoryTable::<Gateway>::default()),
            resources: Arc::new(MemoryTable::<Resource>::default()),
            prompts: Arc::new(MemoryTable::<Prompt>::default()),
            tokens: Arc::new(MemoryTable::<ApiToken>::default()),
            revocations: Arc::new(MemoryTable::<Revocation>::default()),
            usage: Arc::new(usage::MemoryUsageLog::default()),
        }
    }

    /// A server by canonical id, else by name (D4). Segments that are neither a canonical id nor
    /// a valid name are never looked up.
    pub async fn resolve_server(&self, id_or_name: &str) -> StoreResult<Option<Arc<Server>>> {
        if crate::ids::is_canonical_id(id_or_name)
            && let Some(s) = self.servers.get(id_or_name).await?
        {
            return Ok(Some(s));
        }
        if crate::ids::is_valid_server_name(id_or_name) {
            return self.servers.find_by_name(id_or_name).await;
        }
        Ok(None)
    }
}
