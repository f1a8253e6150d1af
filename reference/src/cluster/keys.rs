//! Redis key names of the cluster registry. ContextForge's names where it has one
//! (`mcpgw:pool_owner:*`, `mcpgw:worker_heartbeat:*`), so an operator reading Redis sees the
//! same layout on either gateway. Session ids are validated before they reach a key.

/// Which worker owns session `sid`.
pub(crate) fn owner(sid: &str) -> String {
    format!("mcpgw:pool_owner:{sid}")
}

/// A live worker's heartbeat; its value is the URL other workers forward to.
pub(crate) fn heartbeat(worker: &str) -> String {
    format!("mcpgw:worker_heartbeat:{worker}")
}

/// A session's record (JSON).
pub(crate) fn session(sid: &str) -> String {
    format!("mcpgw:session:{sid}")
}

/// The shared store's generation: every write changes it, every worker's read cache follows it.
pub(crate) const STORE_GENERATION: &str = "mcpgw:store_generation";

#[cfg(test)]
mod tests {
    #[test]
    fn c_aff_01_02_key_layout() {
        assert_eq!(super::owner("abc"), "mcpgw:pool_owner:abc");
        assert_eq!(super::heartbeat("h:1"), "mcpgw:worker_heartbeat:h:1");
        assert_eq!(super::session("abc"), "mcpgw:session:abc");
    }
}
