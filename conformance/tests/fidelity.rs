//! Pass-through fidelity against the in-process reference: every feature is preserved by the
//! strict reference, and each fidelity defect of the matrix makes its feature fail with the
//! outcome it should (a check that cannot fail would prove nothing).

use std::time::Duration;

use mcpgw_conformance::fidelity::{self, FidelityRun, compare::Outcome};
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::Verdict;

async fn run_with(defects: &[&str]) -> FidelityRun {
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Reference {
        defects: defects.iter().map(|d| (*d).to_owned()).collect(),
    };
    let target = Target::start(&cfg).await.expect("the reference starts");
    fidelity::run(&target, &fidelity::features(), Duration::from_secs(15), "")
        .await
        .expect("the fidelity fixture is set up")
}

fn row<'a>(run: &'a FidelityRun, id: &str) -> &'a fidelity::FeatureRow {
    run.table
        .features
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no feature {id}"))
}

#[tokio::test]
async fn the_reference_preserves_every_feature() {
    let run = run_with(&[]).await;
    assert_eq!(run.table.features.len(), fidelity::features().len());
    for f in &run.table.features {
        assert_eq!(
            (f.outcome, f.verdict),
            (Outcome::Preserved, Verdict::Pass),
            "{}: {:?}\n{}",
            f.id,
            f.differences,
            f.through
        );
    }
    for r in &run.results {
        assert!(
            r.checks.iter().all(|c| c.verdict == Verdict::Pass),
            "{}",
            r.id
        );
    }
}

/// With `defect` on, `feature` fails with `outcome` and a difference mentioning `needle`; with
/// `isolated`, every other feature stays preserved.
async fn caught(defect: &str, feature: &str, outcome: Outcome, needle: &str, isolated: bool) {
    let run = run_with(&[defect]).await;
    let f = row(&run, feature);
    assert_eq!(
        (f.outcome, f.verdict),
        (outcome, Verdict::Fail),
        "{defect}: {f:?}"
    );
    assert!(
        f.differences.iter().any(|d| d.contains(needle)),
        "{defect}: no difference mentions {needle}: {:?}",
        f.differences
    );
    let check = run
        .results
        .iter()
        .find(|r| r.id == format!("fidelity/{feature}"))
        .and_then(|r| r.checks.first())
        .map(|c| c.verdict);
    assert_eq!(check, Some(Verdict::Fail), "{defect}");
    for other in run
        .table
        .features
        .iter()
        .filter(|f| isolated && f.id != feature)
    {
        assert_eq!(
            other.verdict,
            Verdict::Pass,
            "{defect} also broke {}",
            other.id
        );
    }
}

#[tokio::test]
async fn a_dropped_progress_notification_is_caught() {
    caught(
        "progress-dropped",
        "progress-notifications",
        Outcome::Dropped,
        "dropped at notifications/progress 1",
        true,
    )
    .await;
}

#[tokio::test]
async fn a_rewritten_cursor_is_caught() {
    // The gateway's discovery lost the pages after the first: those tools are missing, and so
    // are the calls of them, the resources and prompts after their first pages.
    caught(
        "cursor-rewritten",
        "tools-list-paginated",
        Outcome::Dropped,
        "dropped at response/result/tools/fid-unicode",
        false,
    )
    .await;
}

#[tokio::test]
async fn stripped_structured_content_is_caught() {
    caught(
        "structured-content-stripped",
        "structured-content",
        Outcome::Dropped,
        "dropped at response/result/structuredContent",
        false,
    )
    .await;
}

#[tokio::test]
async fn a_replaced_error_code_is_caught() {
    caught(
        "upstream-error-code-replaced",
        "jsonrpc-error",
        Outcome::Altered,
        "altered at response/error/code: -32042 became -32603",
        true,
    )
    .await;
}
