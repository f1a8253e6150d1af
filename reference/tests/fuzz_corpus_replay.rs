//! Replays every committed fuzz input as an ordinary test on stable: the seed corpora
//! (`fuzz/corpus/<target>/`) and the crash files kept as regressions
//! (`fuzz/regressions/<target>/`, named as libFuzzer names its artifacts). The target bodies are
//! `mcpgw_reference::fuzzing`, the same functions the cargo-fuzz wrappers call.

use std::path::{Path, PathBuf};

use mcpgw_reference::fuzzing::{TARGETS, inputs, panicking_inputs};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn replay(target: &str) {
    let body = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target named {target}"));
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    // A glob that matches nothing must not pass silently.
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ has no seed inputs"
    );
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let failed = panicking_inputs(body, &[corpus, regressions].concat());
    assert!(failed.is_empty(), "{target} panics on: {failed:#?}");
}

#[test]
fn every_target_has_a_replay_test() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "raw_server_path",
            "server_id_or_name",
            "well_known_path",
            "rpc_injection",
            "jwt_claims"
        ],
        "add a replay test for the new target below"
    );
}

#[test]
fn raw_server_path_corpus_replays() {
    replay("raw_server_path");
}

#[test]
fn server_id_or_name_corpus_replays() {
    replay("server_id_or_name");
}

#[test]
fn well_known_path_corpus_replays() {
    replay("well_known_path");
}

#[test]
fn rpc_injection_corpus_replays() {
    replay("rpc_injection");
}

#[test]
fn jwt_claims_corpus_replays() {
    replay("jwt_claims");
}
