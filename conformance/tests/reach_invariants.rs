//! The invariants checked on every response (`outside-reach-shown`, `outside-reach-run`) are
//! what catches the two matrix defects written for them: with each defect on, the suite fails,
//! and every failing check fails by that invariant alone (no step's own expectation sees it).
//! A step that waives the invariant is not judged by it.

use std::path::Path;

use mcpgw_conformance::runner::{self, RunOptions};
use mcpgw_conformance::scenario::{self, Loaded};
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};

fn scenarios() -> Vec<Loaded> {
    scenario::load_dir(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios"
    )))
    .unwrap()
}

/// Every message of every failing check, with the defect on.
async fn failures(defect: &str, scenarios: &[Loaded]) -> Vec<(String, String)> {
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Reference {
        defects: vec![defect.to_owned()],
    };
    let t = Target::start(&cfg).await.unwrap();
    let results = runner::run_all(&t, scenarios, &RunOptions::default(), &|_| {}).await;
    results
        .iter()
        .flat_map(|r| &r.checks)
        .filter(|c| c.verdict.is_failure())
        .flat_map(|c| c.messages.iter().map(|m| (c.id.clone(), m.clone())))
        .collect()
}

async fn caught_only_by(defect: &str, invariant: &str) {
    let found = failures(defect, &scenarios()).await;
    assert!(!found.is_empty(), "{defect} went undetected");
    for (check, message) in &found {
        assert!(
            message.starts_with(&format!("{invariant}: ")),
            "{defect}: {check} failed by something else: {message}"
        );
    }
}

#[tokio::test]
async fn a_refusal_listing_the_catalogue_is_caught_by_outside_reach_shown_alone() {
    caught_only_by("refusal-suggests-every-tool", "outside-reach-shown").await;
}

#[tokio::test]
async fn a_refused_call_sent_later_is_caught_by_outside_reach_run_alone() {
    caught_only_by("refused-call-sent-later", "outside-reach-run").await;
}

#[tokio::test]
async fn a_waived_invariant_does_not_judge_its_step() {
    let path =
        Path::new("scenarios/scoping/other-servers-tool-is-not-callable-through-a-server.yaml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .unwrap();
    let parse = |text: &str| Loaded {
        scenario: scenario::parse_str(path, text).unwrap(),
        path: path.to_path_buf(),
    };
    let judged = failures("refusal-suggests-every-tool", &[parse(&text)]).await;
    assert!(!judged.is_empty());
    // Every request step waives it (their `expect:` maps are written as block mappings).
    let waived = text.replace(
        "    expect:\n",
        "    expect:\n      waive: {outside-reach-shown: this test shows what waiving does}\n",
    );
    assert_ne!(waived, text, "the scenario's steps were not found");
    let passed = failures("refusal-suggests-every-tool", &[parse(&waived)]).await;
    assert!(passed.is_empty(), "{passed:?}");
}
