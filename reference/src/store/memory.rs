//! The in-memory store: one map per kind, with a name index, behind a read-mostly lock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use foldhash::fast::RandomState;

use async_trait::async_trait;

use super::{Entity, StoreError, StoreResult, Table};

#[derive(Debug)]
struct Inner<T> {
    by_key: HashMap<String, (u64, Arc<T>), RandomState>,
    by_name: HashMap<String, String, RandomState>,
    next_seq: u64,
}

/// A table held in this process.
#[derive(Debug)]
pub(crate) struct MemoryTable<T> {
    inner: RwLock<Inner<T>>,
}

impl<T> Default for MemoryTable<T> {
    fn default() -> Self {
        MemoryTable {
            inner: RwLock::new(Inner {
                by_key: HashMap::default(),
                by_name: HashMap::default(),
                next_seq: 0,
            }),
        }
    }
}

impl<T: Entity> MemoryTable<T> {
    fn write(&self, item: T, replace: bool) -> StoreResult<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let key = item.key().to_owned();
        if !replace && inner.by_key.contains_key(&key) {
            return Err(StoreError::Duplicate {
                kind: T::KIND.table(),
                name: key,
            });
        }
        if let Some(name) = item.unique_name()
            && let Some(owner) = inner.by_name.get(name)
            && *owner != key
        {
            return Err(StoreError::Duplicate {
                kind: T::KIND.table(),
                name: name.to_owned(),
            });
        }
        let seq = match inner.by_key.get(&key) {
            Some((seq, old)) => {
                let (seq, old_name) = (*seq, old.unique_name().map(str::to_owned));
                if let Some(old_name) = old_name {
                    inner.by_name.remove(&old_name);
                }
                seq
            }
            None => {
                inner.next_seq += 1;
                inner.next_seq
            }
        };
        if let Some(name) = item.unique_name() {
            inner.by_name.insert(name.to_owned(), key.clone());
        }
        inner.by_key.insert(key, (seq, Arc::new(item)));
        Ok(())
    }
}

#[async_trait]
impl<T: Entity> Table<T> for MemoryTable<T> {
    async fn get(&self, key: &str) -> StoreResult<Option<Arc<T>>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(inner.by_key.get(key).map(|(_, v)| Arc::clone(v)))
    }

    async fn find_by_name(&self, name: &str) -> StoreResult<Option<Arc<T>>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(inner
            .by_name
            .get(name)
            .and_then(|k| inner.by_key.get(k))
            .map(|(_, v)| Arc::clone(v)))
    }

    async fn list(&self) -> StoreResult<Vec<Arc<T>>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = inner
            .by_key
            .values()
            .map(|(seq, v)| (*seq, Arc::clone(v)))
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        Ok(all.into_iter().map(|(_, v)| v).collect())
    }

    async fn insert(&self, item: T) -> StoreResult<()> {
        self.write(item, false)
    }

    async fn upsert(&self, item: T) -> StoreResult<()> {
        self.write(item, true)
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match inner.by_key.remove(key) {
            Some((_, old)) => {
                if let Some(name) = old.unique_name() {
                    inner.by_name.remove(name);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Owned, Revocation, Team};
    use crate::testing::team;

    #[tokio::test]
    async fn names_are_unique_and_follow_renames() {
        let t = MemoryTable::<Team>::default();
        t.insert(team("1", "a")).await.unwrap();
        assert!(matches!(
            t.insert(team("2", "a")).await,
            Err(StoreError::Duplicate { .. })
        ));
        t.upsert(team("1", "b")).await.unwrap();
        assert!(t.find_by_name("a").await.unwrap().is_none());
        t.insert(team("2", "a")).await.unwrap();
        assert_eq!(
            t.list()
                .await
                .unwrap()
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert!(t.delete("1").await.unwrap());
        assert!(t.find_by_name("b").await.unwrap().is_none());
        let _ = Owned::default();
        let r = MemoryTable::<Revocation>::default();
        r.insert(Revocation {
            jti: "j".into(),
            revoked_at: String::new(),
            reason: None,
        })
        .await
        .unwrap();
        assert!(r.get("j").await.unwrap().is_some());
    }
}
