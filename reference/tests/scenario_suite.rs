//! The harness's scenario suite as this crate's test, for mutation testing (`ci/mutants.sh`):
//! a prebuilt harness (`MCPGW_SUITE_HARNESS`, the `mcpgw-conformance` binary) runs every
//! scenario with `--reference-exe` set to this crate's binary as cargo just built it, so a
//! mutant of the reference is judged by the scenarios alone, never by the unit tests. Built only
//! with the `mutation-suite` feature; without `MCPGW_SUITE_HARNESS` it fails, as it has nothing
//! to run.

use std::path::Path;
use std::process::Command;

#[test]
fn the_scenario_suite_passes_on_this_build() {
    let harness = std::env::var_os("MCPGW_SUITE_HARNESS").expect(
        "MCPGW_SUITE_HARNESS must name the mcpgw-conformance binary (ci/mutants.sh sets it)",
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(&harness)
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--reference-exe",
            env!("CARGO_BIN_EXE_mcpgw-reference"),
        ])
        .arg("--scenarios")
        .arg(root.join("scenarios"))
        .status()
        .unwrap_or_else(|e| panic!("start {}: {e}", harness.to_string_lossy()));
    assert!(
        status.success(),
        "the scenario suite failed on this build: {status}"
    );
}
