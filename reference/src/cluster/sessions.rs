//! MCP session records in Redis, shared by every worker: whichever worker a request reaches
//! sees the same record (owner, endpoint, server scope, protocol version), so a taken-over
//! session keeps its scope. Each record's TTL is its idle lifetime, renewed by `touch` (one
//! `EXPIRE`).

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::keys;
use super::registry::within;
use crate::mcp::session::{SessionError, SessionRecord, SessionResult, SessionStore};

/// Session records in Redis.
#[derive(Clone)]
pub(crate) struct RedisSessionStore {
    conn: ConnectionManager,
    deadline: Duration,
    idle_ttl: u64,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("idle_ttl", &self.idle_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    pub(crate) fn new(conn: ConnectionManager, deadline: Duration, idle_ttl: Duration) -> Self {
        RedisSessionStore {
            conn,
            deadline,
            idle_ttl: idle_ttl.as_secs().max(1),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> SessionError {
    SessionError::Unavailable(e.to_string())
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: SessionRecord) -> SessionResult<()> {
        let text = serde_json::to_string(&record).map_err(unavailable)?;
        let mut c = self.conn.clone();
        within(
            self.deadline,
            c.set_ex::<_, _, ()>(keys::session(&record.id), text, self.idle_ttl),
        )
        .await
        .map_err(unavailable)
    }

    async fn get(&self, id: &str) -> SessionResult<Option<SessionRecord>> {
        let mut c = self.conn.clone();
        let text: Option<String> = within(self.deadline, c.get(keys::session(id)))
            .await
            .map_err(unavailable)?;
        // A record this build cannot read is treated as unavailable, not as absent: "absent"
        // would answer 404 for a session that exists.
        text.map(|t| serde_json::from_str::<SessionRecord>(&t).map_err(unavailable))
            .transpose()
    }

    /// One round trip: the key's TTL is the session's idle clock, so renewing it is the touch.
    /// (The record's `last_used_at` keeps its creation time here; nothing reads it, and
    /// rewriting the record would cost a read and a write per request.)
    async fn touch(&self, id: &str, _now: i64) -> SessionResult<bool> {
        let mut c = self.conn.clone();
        let renewed: bool = within(
            self.deadline,
            c.expire(keys::session(id), self.idle_ttl as i64),
        )
        .await
        .map_err(unavailable)?;
        Ok(renewed)
    }

    async fn delete(&self, id: &str) -> SessionResult<bool> {
        let mut c = self.conn.clone();
        let n: i64 = within(self.deadline, c.del(keys::session(id)))
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}
