//! Replays the `scenario_yaml` cargo-fuzz target's committed inputs as an ordinary test on
//! stable: the seed corpus (`fuzz/corpus/scenario_yaml/`, made from `scenarios/**`) and crash
//! files kept as regressions (`fuzz/regressions/scenario_yaml/`). The body is
//! `mcpgw_conformance::fuzz::scenario_yaml`, the function the cargo-fuzz wrapper calls; every
//! file under `scenarios/` is replayed as well. The reference's targets replay the same way
//! (`reference/tests/fuzz_corpus_replay.rs`).

use std::path::{Path, PathBuf};

use mcpgw_conformance::fuzz::scenario_yaml;
use mcpgw_reference::fuzzing::{inputs, panicking_inputs};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn scenario_yaml_corpus_replays() {
    let corpus = inputs(&fuzz_dir().join("corpus/scenario_yaml"));
    // A glob that matches nothing must not pass silently.
    assert!(
        corpus.len() >= 40,
        "fuzz/corpus/scenario_yaml/ has {} seed inputs",
        corpus.len()
    );
    let regressions = inputs(&fuzz_dir().join("regressions/scenario_yaml"));
    // The scenarios as they are now, too: the seed corpus is a snapshot of them.
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let live = mcpgw_conformance::scenario::load::scenario_files(&scenarios).unwrap_or_default();
    let failed = panicking_inputs(scenario_yaml, &[corpus, regressions, live].concat());
    assert!(failed.is_empty(), "scenario_yaml panics on: {failed:#?}");
}
