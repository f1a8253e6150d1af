//! A worker's read cache in front of a shared table (cluster mode, Postgres): what every request
//! reads (the caller's user and revocation, the token's server, the server's tools) is decoded
//! once, not on every request, and shared as the same `Arc` (so a tool's cached `tools/list`
//! text is made once too).
//!
//! Entries belong to one store generation (`generation`): a read at another generation empties
//! the cache first, and an entry read at an older generation is never kept. Every write changes
//! the generation (before and after the write), so a change made through any worker is seen by
//! every request that starts after the change returned. Absent records are cached too (a token
//! that was never revoked), within a bound on the number of entries (names come from request
//! paths: a client must not grow the cache without limit).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use foldhash::fast::RandomState;

use super::generation::Source;
use super::{Entity, StoreResult, Table};

/// Entries per table (by key and by name together) before the cache starts afresh.
const MAX_ENTRIES: usize = 4096;

type Map<T> = HashMap<String, Option<Arc<T>>, RandomState>;

/// What a table's cache holds at one generation.
struct Entries<T> {
    generation: Option<u64>,
    by_key: Map<T>,
    by_name: Map<T>,
    all: Option<Arc<[Arc<T>]>>,
}

impl<T> Entries<T> {
    fn clear(&mut self) {
        self.by_key.clear();
        self.by_name.clear();
        self.all = None;
    }

    fn full(&self) -> bool {
        self.by_key.len() + self.by_name.len() >= MAX_ENTRIES
    }
}

/// Which of a table's reads an entry answers.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    Key(&'a str),
    Name(&'a str),
}

/// `table` behind a cache at the generations of `source`; with `cache_reads` false, reads go
/// to `table` and only writes change the generation.
pub(crate) fn wrap<T: Entity>(
    table: Arc<dyn Table<T>>,
    source: &Arc<Source>,
    cache_reads: bool,
) -> Arc<dyn Table<T>> {
    let mut cached = CachedTable::new(table, Arc::clone(source));
    cached.cache_reads = cache_reads;
    Arc::new(cached)
}

/// `inner` with a read cache.
pub(crate) struct CachedTable<T> {
    inner: Arc<dyn Table<T>>,
    source: Arc<Source>,
    cache_reads: bool,
    entries: RwLock<Entries<T>>,
}

impl<T: Entity> CachedTable<T> {
    fn new(inner: Arc<dyn Table<T>>, source: Arc<Source>) -> Self {
        CachedTable {
            inner,
            source,
            cache_reads: true,
            entries: RwLock::new(Entries {
                generation: None,
                by_key: Map::default(),
                by_name: Map::default(),
                all: None,
            }),
        }
    }

    /// The generation reads may be cached at; `None`: read the table itself.
    async fn read_generation(&self) -> Option<u64> {
        if self.cache_reads {
            self.source.read_generation().await
        } else {
            None
        }
    }

    /// The cached answer to `what` at generation `g`, if there is one.
    fn hit(&self, g: u64, what: Lookup<'_>) -> Option<Option<Arc<T>>> {
        let e = self.entries.read().unwrap_or_else(|e| e.into_inner());
        if e.generation != Some(g) {
            return None;
        }
        match what {
            Lookup::Key(k) => e.by_key.get(k).cloned(),
            Lookup::Name(n) => e.by_name.get(n).cloned(),
        }
    }

    /// Keep `found`, read at generation `g`, unless the cache has moved on to another one.
    fn keep(&self, g: u64, what: Lookup<'_>, found: &Option<Arc<T>>) {
        self.at_generation(g, |e| {
            if e.full() {
                e.clear();
            }
            let (map, k) = match what {
                Lookup::Key(k) => (&mut e.by_key, k),
                Lookup::Name(n) => (&mut e.by_name, n),
            };
            map.insert(k.to_owned(), found.clone());
        });
    }

    /// Run `f` on the entries if they belong to generation `g`. A read at a generation the cache
    /// has not seen empties it and makes it that generation's: a request that started before a
    /// write and reads after it may move the cache back, which costs misses, never a stale hit,
    /// since an entry is only ever served to reads at the generation it was read at.
    fn at_generation(&self, g: u64, f: impl FnOnce(&mut Entries<T>)) {
        let mut e = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if e.generation != Some(g) {
            e.clear();
            e.generation = Some(g);
        }
        f(&mut e);
    }

    async fn one(&self, what: Lookup<'_>) -> StoreResult<Option<Arc<T>>> {
        let read = || async {
            match what {
                Lookup::Key(k) => self.inner.get(k).await,
                Lookup::Name(n) => self.inner.find_by_name(n).await,
            }
        };
        let Some(g) = self.read_generation().await else {
            return read().await;
        };
        if let Some(hit) = self.hit(g, what) {
            return Ok(hit);
        }
        let found = read().await?;
        self.keep(g, what, &found);
        Ok(found)
    }

    async fn write<R>(&self, op: impl Future<Output = StoreResult<R>>) -> StoreResult<R> {
        self.source.before_write().await?;
        let result = op.await;
        // This worker's entries go at once; the other workers' with the generation.
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.source.after_write().await;
        result
    }
}

#[async_trait]
impl<T: Entity> Table<T> for CachedTable<T> {
    async fn get(&self, key: &str) -> StoreResult<Option<Arc<T>>> {
        self.one(Lookup::Key(key)).await
    }

    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Arc<T>>> {
        self.one(Lookup::Name(name)).await
    }

    async fn list(&self) -> StoreResult<Vec<Arc<T>>> {
        let Some(g) = self.read_generation().await else {
            return self.inner.list().await;
        };
        {
            let e = self.entries.read().unwrap_or_else(|e| e.into_inner());
            if e.generation == Some(g)
                && let Some(all) = &e.all
            {
                return Ok(all.to_vec());
            }
        }
        let all = self.inner.list().await?;
        let shared: Arc<[Arc<T>]> = all.iter().cloned().collect();
        self.at_generation(g, |e| e.all = Some(shared));
        Ok(all)
    }

    async fn insert(&self, item: T) -> StoreResult<()> {
        self.write(self.inner.insert(item)).await
    }

    async fn upsert(&self, item: T) -> StoreResult<()> {
        self.write(self.inner.upsert(item)).await
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        self.write(self.inner.delete(key)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::store::generation::{fake::FakeGenerations, scope};
    use crate::store::memory::MemoryTable;
    use crate::store::{Revocation, StoreError, Team};
    use crate::testing::team;

    /// The shared database: a memory table that counts the reads reaching it.
    struct Counted<T> {
        table: MemoryTable<T>,
        reads: AtomicU64,
    }

    impl<T> Default for Counted<T> {
        fn default() -> Self {
            Counted {
                table: MemoryTable::default(),
                reads: AtomicU64::new(0),
            }
        }
    }

    #[async_trait]
    impl<T: Entity> Table<T> for Counted<T> {
        async fn get(&self, key: &str) -> StoreResult<Option<Arc<T>>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.table.get(key).await
        }
        async fn find_by_name(&self, name: &str) -> StoreResult<Option<Arc<T>>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.table.find_by_name(name).await
        }
        async fn list(&self) -> StoreResult<Vec<Arc<T>>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.table.list().await
        }
        async fn insert(&self, item: T) -> StoreResult<()> {
            self.table.insert(item).await
        }
        async fn upsert(&self, item: T) -> StoreResult<()> {
            self.table.upsert(item).await
        }
        async fn delete(&self, key: &str) -> StoreResult<bool> {
            self.table.delete(key).await
        }
    }

    /// Two workers' cached views of one shared table, with one generation home.
    struct TwoWorkers<T> {
        db: Arc<Counted<T>>,
        home: Arc<FakeGenerations>,
        w: [CachedTable<T>; 2],
    }

    fn two_workers<T: Entity>() -> TwoWorkers<T> {
        let db = Arc::new(Counted::<T>::default());
        let home = Arc::new(FakeGenerations::default());
        let worker = || {
            let source = Arc::new(Source::new(home.clone()));
            CachedTable::new(db.clone() as Arc<dyn Table<T>>, source)
        };
        TwoWorkers {
            w: [worker(), worker()],
            db,
            home,
        }
    }

    impl<T> TwoWorkers<T> {
        fn db_reads(&self) -> u64 {
            self.db.reads.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_request_reads_the_generation_once_and_repeated_reads_hit() {
        let c = two_workers::<Team>();
        c.w[0].insert(team("1", "a")).await.unwrap();
        let before = c.home.reads.load(Ordering::SeqCst);
        scope(async {
            assert_eq!(c.w[1].get("1").await.unwrap().unwrap().name, "a");
            assert!(c.w[1].get("2").await.unwrap().is_none());
            assert_eq!(c.w[1].find_by_name("a").await.unwrap().unwrap().id, "1");
        })
        .await;
        assert_eq!(
            c.home.reads.load(Ordering::SeqCst) - before,
            1,
            "one per request"
        );
        let reads = c.db_reads();
        for _ in 0..3 {
            scope(async {
                let first = c.w[1].get("1").await.unwrap().unwrap();
                let again = c.w[1].get("1").await.unwrap().unwrap();
                assert!(Arc::ptr_eq(&first, &again), "the same decoded record");
                assert!(
                    c.w[1].get("2").await.unwrap().is_none(),
                    "absence is cached"
                );
                assert_eq!(c.w[1].list().await.unwrap().len(), 1);
            })
            .await;
        }
        assert_eq!(
            c.db_reads() - reads,
            1,
            "only the first list reached the database"
        );
    }

    #[tokio::test]
    async fn a_change_through_one_worker_is_seen_by_the_other_on_its_next_request() {
        let c = two_workers::<Revocation>();
        let revoked = |jti: &str| Revocation {
            jti: jti.into(),
            revoked_at: String::new(),
            reason: None,
        };
        // Worker 1 learns that "j" is not revoked, and keeps that.
        for _ in 0..2 {
            assert!(scope(c.w[1].get("j")).await.unwrap().is_none());
        }
        scope(c.w[0].insert(revoked("j"))).await.unwrap();
        assert!(
            scope(c.w[1].get("j")).await.unwrap().is_some(),
            "insert seen"
        );
        scope(c.w[0].delete("j")).await.unwrap();
        assert!(
            scope(c.w[1].get("j")).await.unwrap().is_none(),
            "delete seen"
        );

        let t = two_workers::<Team>();
        t.w[0].insert(team("1", "a")).await.unwrap();
        assert_eq!(scope(t.w[1].list()).await.unwrap().len(), 1);
        assert!(scope(t.w[1].find_by_name("b")).await.unwrap().is_none());
        t.w[0].upsert(team("1", "b")).await.unwrap();
        assert!(
            scope(t.w[1].find_by_name("a")).await.unwrap().is_none(),
            "renamed"
        );
        assert_eq!(
            scope(t.w[1].find_by_name("b")).await.unwrap().unwrap().id,
            "1"
        );
        t.w[0].insert(team("2", "c")).await.unwrap();
        assert_eq!(
            scope(t.w[1].list()).await.unwrap().len(),
            2,
            "list refreshed"
        );
        // A failed write (duplicate name) changed nothing, and is still fine to follow.
        assert!(matches!(
            t.w[0].insert(team("3", "c")).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(scope(t.w[1].get("3")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_request_keeps_its_generation_and_its_own_writes_are_read_back() {
        let t = two_workers::<Team>();
        t.w[0].insert(team("1", "a")).await.unwrap();
        scope(async {
            assert_eq!(t.w[1].get("1").await.unwrap().unwrap().name, "a");
            // The request on worker 1 changes the team, then reads it back: its own write.
            t.w[1].upsert(team("1", "b")).await.unwrap();
            assert_eq!(t.w[1].get("1").await.unwrap().unwrap().name, "b");
        })
        .await;
        // A request that began before another worker's write may finish on what it read; what
        // it keeps is never served to a request that begins after the write.
        scope(async {
            assert_eq!(t.w[1].get("1").await.unwrap().unwrap().name, "b");
            scope(t.w[0].upsert(team("1", "c"))).await.unwrap();
            // Read again within the old request: kept at the old generation only.
            let _ = t.w[1].get("1").await.unwrap();
        })
        .await;
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "c");
    }

    #[tokio::test]
    async fn without_its_generation_home_a_worker_reads_the_database_and_refuses_writes() {
        let t = two_workers::<Team>();
        t.w[0].insert(team("1", "a")).await.unwrap();
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "a");
        t.home.down.store(true, Ordering::SeqCst);
        assert!(matches!(
            t.w[0].upsert(team("1", "b")).await,
            Err(StoreError::Unavailable(_))
        ));
        // A write no cache could learn about (straight into the database): while the home is
        // down, worker 1 reads the database itself, so it sees even that.
        t.db.table.upsert(team("1", "z")).await.unwrap();
        let reads = t.db_reads();
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "z");
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "z");
        assert_eq!(t.db_reads() - reads, 2, "no cache while the home is down");
    }

    #[tokio::test]
    async fn a_worker_without_the_cache_reads_the_table_and_its_writes_still_count() {
        let t = two_workers::<Team>();
        t.w[0].insert(team("1", "a")).await.unwrap();
        let uncached = wrap(
            t.db.clone() as Arc<dyn Table<Team>>,
            &Arc::new(Source::new(t.home.clone())),
            false,
        );
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "a");
        let reads = t.db_reads();
        uncached.upsert(team("1", "b")).await.unwrap();
        assert_eq!(scope(uncached.get("1")).await.unwrap().unwrap().name, "b");
        assert_eq!(t.db_reads() - reads, 1, "read from the table");
        assert_eq!(scope(t.w[1].get("1")).await.unwrap().unwrap().name, "b");
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let t = two_workers::<Team>();
        scope(async {
            for i in 0..(MAX_ENTRIES * 2) {
                assert!(
                    t.w[1]
                        .find_by_name(&format!("n{i}"))
                        .await
                        .unwrap()
                        .is_none()
                );
            }
        })
        .await;
        let e = t.w[1].entries.read().unwrap();
        assert!(e.by_key.len() + e.by_name.len() <= MAX_ENTRIES);
    }
}
