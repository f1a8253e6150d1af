//! Persistence: one `Table<T>` per entity kind behind a trait, so the gateway runs on the
//! in-memory store (default, one process) or on Postgres (cluster mode) unchanged.

mod cache;
pub(crate) mod generation;
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
    pub(crate) backend: Backend,
    /// Server ids and names are looked up folded (case and fullwidth forms); only the defect
    /// matrix's `server-segments-folded` sets it (D4: ids and names are exact).
    pub(crate) fold_server_names: bool,
}

/// Where a [`Store`]'s tables live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// In this process.
    Memory,
    /// In a database other workers share.
    Postgres,
    /// In a shared database, every write changing the store generation (`generation`);
    /// `cache_reads`: reads are cached for a generation (`cache`).
    Generational { cache_reads: bool },
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
            backend: Backend::Memory,
            fold_server_names: false,
        }
    }

    /// This store with every write changing the store generation in `generations` (cluster
    /// mode: a Redis key), and with `cache_reads` a read cache in front of each table, valid for
    /// one generation. Only a shared database needs either: any other store is returned as it
    /// is. Writes change the generation even without the cache, so workers with and without it
    /// can share a database.
    pub(crate) fn with_generation(
        self,
        generations: Arc<dyn generation::Generations>,
        cache_reads: bool,
    ) -> Self {
        if self.backend != Backend::Postgres {
            return self;
        }
        let source = Arc::new(generation::Source::new(generations));
        Store {
            users: cache::wrap(self.users, &source, cache_reads),
            teams: cache::wrap(self.teams, &source, cache_reads),
            servers: cache::wrap(self.servers, &source, cache_reads),
            tools: cache::wrap(self.tools, &source, cache_reads),
            gateways: cache::wrap(self.gateways, &source, cache_reads),
            resources: cache::wrap(self.resources, &source, cache_reads),
            prompts: cache::wrap(self.prompts, &source, cache_reads),
            tokens: cache::wrap(self.tokens, &source, cache_reads),
            revocations: cache::wrap(self.revocations, &source, cache_reads),
            usage: self.usage,
            backend: Backend::Generational { cache_reads },
            fold_server_names: self.fold_server_names,
        }
    }

    /// Whether requests should each read at one generation ([`generation::scope`]).
    pub(crate) fn has_read_cache(&self) -> bool {
        self.backend == Backend::Generational { cache_reads: true }
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
            // An uppercase id is a valid name; only the defect's look-up folds it into the id.
            let found = self.servers.find_by_name(id_or_name).await?;
            if found.is_some() || !self.fold_server_names {
                return Ok(found);
            }
        }
        if self.fold_server_names {
            return self.find_server_folded(id_or_name).await;
        }
        Ok(None)
    }

    /// The defect matrix's look-up: the first server whose id or name equals `segment` once
    /// both are folded (fullwidth forms to ASCII, then lowercase).
    async fn find_server_folded(&self, segment: &str) -> StoreResult<Option<Arc<Server>>> {
        let fold = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    '\u{FF01}'..='\u{FF5E}' => {
                        char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c)
                    }
                    other => other,
                })
                .flat_map(char::to_lowercase)
                .collect()
        };
        let wanted = fold(segment);
        Ok(self
            .servers
            .list()
            .await?
            .into_iter()
            .find(|s| s.id == wanted || fold(&s.name) == wanted))
    }
}
