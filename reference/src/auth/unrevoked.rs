//! The defect matrix's per-worker memory of tokens found unrevoked
//! (`revocation-remembered-per-worker`): a worker that remembers a token's `jti` once the store
//! said it was not revoked, and stops asking. The revocation a worker makes itself it forgets at
//! once; one made through another worker it never hears of. The strict policy never touches it
//! (revocation is read from the store on every request).

use std::collections::HashSet;
use std::sync::RwLock;

/// Tokens remembered before the memory starts over (it only ever holds verified tokens' ids).
const CAPACITY: usize = 10_000;

/// `jti`s this worker found unrevoked.
#[derive(Debug, Default)]
pub(crate) struct UnrevokedSeen {
    jtis: RwLock<HashSet<String>>,
}

impl UnrevokedSeen {
    pub(crate) fn contains(&self, jti: &str) -> bool {
        self.jtis
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(jti)
    }

    pub(crate) fn remember(&self, jti: &str) {
        let mut jtis = self.jtis.write().unwrap_or_else(|e| e.into_inner());
        if jtis.len() >= CAPACITY {
            jtis.clear();
        }
        jtis.insert(jti.to_owned());
    }

    pub(crate) fn forget(&self, jti: &str) {
        self.jtis
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(jti);
    }
}
