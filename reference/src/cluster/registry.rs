//! The Redis side of cluster mode: who owns which session (C-AFF-01), which workers are alive
//! and where they listen (C-AFF-02), and taking over a dead owner's session (C-AFF-07).
//!
//! Every command runs under a deadline: a Redis that does not answer (down, paused, partitioned)
//! becomes an error the caller turns into 503, never a request served without its owner.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::keys;

/// A registry failure: Redis unreachable, too slow, or answering nonsense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session registry unavailable: {0}")]
pub(crate) struct RegistryError(pub String);

pub(crate) type RegistryResult<T> = Result<T, RegistryError>;

/// Run one Redis command under the deadline.
pub(crate) async fn within<T>(
    deadline: Duration,
    f: impl Future<Output = redis::RedisResult<T>>,
) -> RegistryResult<T> {
    match tokio::time::timeout(deadline, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(RegistryError(e.to_string())),
        Err(_) => Err(RegistryError(format!(
            "Redis did not answer within {} ms",
            deadline.as_millis()
        ))),
    }
}

// The scripts are hashed once (`Script::new` computes their SHA-1), not on every request.

/// Claim a session if nobody owns it, refresh it if this worker does; 1 when it is ours.
static CLAIM_OR_REFRESH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0",
    )
});

/// Replace a dead owner with this worker, only if the dead one still holds it; 1 on success.
static TAKE_OVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0",
    )
});

/// Drop the owner record if it is this worker's.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// This worker's handle on the registry.
#[derive(Clone)]
pub(crate) struct Registry {
    conn: ConnectionManager,
    deadline: Duration,
    worker_id: String,
    url: String,
    affinity_ttl: u64,
    heartbeat_ttl: u64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("worker_id", &self.worker_id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new(
        conn: ConnectionManager,
        deadline: Duration,
        worker_id: String,
        url: String,
        affinity_ttl: u64,
        heartbeat_ttl: u64,
    ) -> Self {
        Registry {
            conn,
            deadline,
            worker_id,
            url,
            affinity_ttl: affinity_ttl.max(1),
            heartbeat_ttl: heartbeat_ttl.max(1),
        }
    }

    pub(crate) fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The string at `key`, if any.
    async fn get(&self, key: String) -> RegistryResult<Option<String>> {
        let mut c = self.conn.clone();
        within(self.deadline, c.get(key)).await
    }

    /// Run an owner-record script on `sid`'s key; its integer answer.
    async fn on_owner(&self, script: &Script, sid: &str, args: &[&str]) -> RegistryResult<i64> {
        let mut c = self.conn.clone();
        let mut inv = script.key(keys::owner(sid));
        for a in args {
            inv.arg(a);
        }
        within(self.deadline, inv.invoke_async::<i64>(&mut c)).await
    }

    /// The worker that owns `sid`, if any.
    pub(crate) async fn owner(&self, sid: &str) -> RegistryResult<Option<String>> {
        self.get(keys::owner(sid)).await
    }

    /// Where a live worker listens; `None` when its heartbeat expired (it is dead).
    pub(crate) async fn worker_url(&self, worker: &str) -> RegistryResult<Option<String>> {
        self.get(keys::heartbeat(worker)).await
    }

    /// Claim `sid` (nobody owns it) or refresh this worker's ownership; `false` when another
    /// worker owns it.
    pub(crate) async fn claim_or_refresh(&self, sid: &str) -> RegistryResult<bool> {
        let ttl = self.affinity_ttl.to_string();
        Ok(self
            .on_owner(&CLAIM_OR_REFRESH, sid, &[&self.worker_id, &ttl])
            .await?
            == 1)
    }

    /// Take `sid` over from `dead`; `false` when someone else got there first.
    pub(crate) async fn take_over(&self, sid: &str, dead: &str) -> RegistryResult<bool> {
        let ttl = self.affinity_ttl.to_string();
        Ok(self
            .on_owner(&TAKE_OVER, sid, &[dead, &self.worker_id, &ttl])
            .await?
            == 1)
    }

    /// Forget this worker's ownership of an ended session.
    pub(crate) async fn release(&self, sid: &str) -> RegistryResult<()> {
        self.on_owner(&RELEASE, sid, &[&self.worker_id])
            .await
            .map(|_| ())
    }

    /// Say this worker is alive (and where it listens) for `heartbeat_ttl` seconds.
    pub(crate) async fn heartbeat(&self) -> RegistryResult<()> {
        let mut c = self.conn.clone();
        within(
            self.deadline,
            c.set_ex::<_, _, ()>(
                keys::heartbeat(&self.worker_id),
                &self.url,
                self.heartbeat_ttl,
            ),
        )
        .await
    }

    /// Refresh the heartbeat every third of its lifetime, for as long as the process runs. A
    /// missed beat is logged; three in a row and other workers take this one's sessions over.
    pub(crate) fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let period =
            Duration::from_millis(me.heartbeat_ttl * 1000 / 3).max(Duration::from_millis(200));
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.heartbeat().await {
                    tracing::warn!(worker = %me.worker_id, "heartbeat failed: {e}");
                }
                tokio::time::sleep(period).await;
            }
        })
    }
}
