//! `cargo test -p mcpgw-conformance --test cluster_scenarios`: every scenario that needs a
//! cluster (`requires: [cluster]`, `via: N`, `fault` steps), one libtest trial each, against a
//! 2-worker reference cluster the harness starts once (separate `serve-reference` processes on
//! Redis and Postgres from the services module; see docs/cluster.md).
//!
//! Without a Docker engine the services module falls back to native processes; when neither
//! works the trials are reported as ignored, except with `MCPGW_REQUIRE_SERVICES=1` (CI), where
//! that is a failure.

use std::path::{Path, PathBuf};

use mcpgw_conformance::runner::needed_capabilities;
use mcpgw_conformance::scenario::Capability;
use mcpgw_conformance::target::{TargetConfig, TargetSpec};

fn main() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"));
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Cluster {
        workers: 2,
        defects: Vec::new(),
        worker_env: Vec::new(),
        exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_mcpgw-conformance"))),
        memory_store: false,
    };
    mcpgw_conformance::libtest::main_with(dir, cfg, |l| {
        let needed = needed_capabilities(&l.scenario);
        needed.contains(&Capability::Cluster) || needed.contains(&Capability::ClusterFaults)
    })
}
