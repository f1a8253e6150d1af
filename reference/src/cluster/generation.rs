//! The store's generation in Redis (`keys::STORE_GENERATION`): one `GET` per request on every
//! worker, an `INCR` around every write. The first value is random, and so is the value after
//! Redis lost the key (a restart without persistence): a number from before can never come back,
//! so no worker's cache can match a generation it was not filled at.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::keys::STORE_GENERATION;
use super::registry::within;
use crate::store::generation::Generations;
use crate::store::{StoreError, StoreResult};

/// The value if there is one, else `ARGV[1]` (random) stored and returned.
static CURRENT_OR_START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]",
    )
});

/// The value plus one if there is one, else `ARGV[1]` (random) stored and returned.
static BUMP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]",
    )
});

/// A random start, far below `i64::MAX` so that `INCR` never overflows.
fn random_start() -> u64 {
    rand::random::<u64>() >> 2
}

/// The generation in this cluster's Redis.
pub(crate) struct RedisGenerations {
    conn: ConnectionManager,
    deadline: Duration,
}

impl RedisGenerations {
    pub(crate) fn new(conn: ConnectionManager, deadline: Duration) -> Self {
        RedisGenerations { conn, deadline }
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("store generation: {e}"))
}

#[async_trait]
impl Generations for RedisGenerations {
    async fn current(&self) -> StoreResult<u64> {
        let mut c = self.conn.clone();
        let found: Option<u64> = within(self.deadline, c.get(STORE_GENERATION))
            .await
            .map_err(unavailable)?;
        if let Some(g) = found {
            return Ok(g);
        }
        let mut inv = CURRENT_OR_START.key(STORE_GENERATION);
        inv.arg(random_start());
        within(self.deadline, inv.invoke_async(&mut c))
            .await
            .map_err(unavailable)
    }

    async fn bump(&self) -> StoreResult<u64> {
        let mut c = self.conn.clone();
        let mut inv = BUMP.key(STORE_GENERATION);
        inv.arg(random_start());
        within(self.deadline, inv.invoke_async(&mut c))
            .await
            .map_err(unavailable)
    }
}
