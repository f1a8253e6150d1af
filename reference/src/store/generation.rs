//! The store's generation: one number, shared by every worker, that every write changes. A
//! worker's read cache (`cache`) is valid only for the generation it was filled at, so a change
//! made through any worker is seen by every request that starts after the change returned.
//!
//! A request pins the generation on its first store read (`scope`, `pinned`) and keeps it for
//! its other reads: one round trip to the generation's home (Redis in cluster mode) per request,
//! not one per read. A source that does not answer makes reads go to the database itself for a
//! moment (`Source::read_generation` returns `None`): slower, never stale.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::StoreResult;

/// Where the generation lives.
#[async_trait]
pub(crate) trait Generations: Send + Sync {
    /// The current generation.
    async fn current(&self) -> StoreResult<u64>;
    /// Change the generation; returns the new one. Values never repeat, even when the home
    /// forgets the number (a restarted Redis): caches filled before must not match again.
    async fn bump(&self) -> StoreResult<u64>;
}

tokio::task_local! {
    /// The generation this request reads at, once it has read.
    static READ_AT: Cell<Option<u64>>;
}

/// Run `f` as one request: its store reads share one generation.
pub(crate) async fn scope<F: Future>(f: F) -> F::Output {
    READ_AT.scope(Cell::new(None), f).await
}

/// The generation the current request reads at; `None` outside a request or before its first read.
fn pinned() -> Option<u64> {
    READ_AT.try_with(Cell::get).ok().flatten()
}

/// Pin `g` for the rest of the current request (no-op outside one).
fn pin(g: u64) {
    let _ = READ_AT.try_with(|c| c.set(Some(g)));
}

/// How long reads skip a source that failed to answer, before asking it again.
const BACKOFF: Duration = Duration::from_secs(1);
/// How often a bump that failed after a write is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// A generation source as the cached tables use it: shared by all of a worker's tables.
pub(crate) struct Source {
    home: Arc<dyn Generations>,
    start: Instant,
    /// Milliseconds since `start` before which reads do not ask `home`.
    skip_until_ms: AtomicU64,
    /// A bump is being retried in the background.
    retrying: Arc<AtomicBool>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").finish_non_exhaustive()
    }
}

impl Source {
    pub(crate) fn new(home: Arc<dyn Generations>) -> Self {
        Source {
            home,
            start: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
            retrying: Arc::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The generation a read may use the cache at, or `None`: read the database directly.
    pub(crate) async fn read_generation(&self) -> Option<u64> {
        if let Some(g) = pinned() {
            return Some(g);
        }
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        match self.home.current().await {
            Ok(g) => {
                pin(g);
                Some(g)
            }
            Err(_) => {
                // Every request would otherwise wait out the home's deadline on its first read.
                self.skip_until_ms.store(
                    self.now_ms() + BACKOFF.as_millis() as u64,
                    Ordering::Relaxed,
                );
                None
            }
        }
    }

    /// Before a write: fails when the home does not answer, so that nothing is changed that the
    /// other workers' caches could not learn about.
    pub(crate) async fn before_write(&self) -> StoreResult<()> {
        self.home.bump().await.map(drop)
    }

    /// After a write (whatever its outcome: a failed write may still have committed): every
    /// cache filled before is now stale. The current request reads at the new generation. When
    /// the home does not answer, the bump is retried in the background until it does.
    pub(crate) async fn after_write(&self) {
        match self.home.bump().await {
            Ok(g) => pin(g),
            Err(_) => self.retry_bump(),
        }
    }

    fn retry_bump(&self) {
        if self.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let home = Arc::clone(&self.home);
        let retrying = Arc::clone(&self.retrying);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_EVERY).await;
                if home.bump().await.is_ok() {
                    break;
                }
            }
            retrying.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A generation home in memory, which tests can make unreachable.

    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::Generations;
    use crate::store::{StoreError, StoreResult};

    #[derive(Debug, Default)]
    pub(crate) struct FakeGenerations {
        pub value: AtomicU64,
        pub down: AtomicBool,
        pub reads: AtomicU64,
    }

    impl FakeGenerations {
        fn up(&self) -> StoreResult<()> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("generation home down".into()))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl Generations for FakeGenerations {
        async fn current(&self) -> StoreResult<u64> {
            self.up()?;
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.value.load(Ordering::SeqCst))
        }

        async fn bump(&self) -> StoreResult<u64> {
            self.up()?;
            Ok(self.value.fetch_add(1, Ordering::SeqCst) + 1)
        }
    }
}
