//! Pass-through fidelity against the in-process reference: every feature is preserved by the
//! strict reference, and each fidelity defect of the matrix makes its feature fail with the
//! outcome it should (a check that cannot fail would prove nothing).

use std::time::Duration;

use mcpgw_conformance::fidelity::{self, FidelityRun, compare::Outcome};
use mcpgw_conformance::report::Report;
use mcpgw_conformance::scenario::Capability;
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::Verdict;

async fn run_with(defects: &[&str]) -> FidelityRun {
    run_on(defects).await.1
}

async fn run_on(defects: &[&str]) -> (Target, FidelityRun) {
    run_as(defects, &[]).await
}

async fn run_as(defects: &[&str], with: &[Capability]) -> (Target, FidelityRun) {
    run_sampled(defects, with, 0).await
}

async fn run_sampled(
    defects: &[&str],
    with: &[Capability],
    samples: usize,
) -> (Target, FidelityRun) {
    let mut cfg = TargetConfig::reference();
    cfg.spec = TargetSpec::Reference {
        defects: defects.iter().map(|d| (*d).to_owned()).collect(),
    };
    cfg.with = with.to_vec();
    let target = Target::start(&cfg).await.expect("the reference starts");
    let opts = fidelity::Options {
        timeout: Duration::from_secs(15),
        samples,
        replay: String::new(),
    };
    let run = fidelity::run(&target, &fidelity::features(), &opts)
        .await
        .expect("the fidelity fixture is set up");
    (target, run)
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
    assert_all_preserved(&run_with(&[]).await);
}

/// With sessions (an `Mcp-Session-Id` on each side, ended with `DELETE`) and with SSE answers
/// to every request, nothing changes either.
#[tokio::test]
async fn the_stateful_and_sse_references_preserve_every_feature() {
    for with in [Capability::Stateful, Capability::SseResponse] {
        let (target, run) = run_as(&[], &[with]).await;
        assert!(target.has(with), "{with:?} was not switched on");
        assert_all_preserved(&run);
    }
}

fn assert_all_preserved(run: &FidelityRun) {
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
        // The worst of its steps' checks (the feature's difference may be in any step).
        .and_then(|r| r.checks.iter().map(|c| c.verdict).max());
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

#[tokio::test]
async fn a_call_without_the_clients_meta_is_caught() {
    caught(
        "meta-not-forwarded",
        "meta-passthrough",
        Outcome::Dropped,
        "dropped at response/result/_meta/[io.mcpgw.fidelity/received]/_meta",
        false,
    )
    .await;
}

#[tokio::test]
async fn flattened_content_is_caught() {
    caught(
        "content-flattened",
        "content-types",
        Outcome::Dropped,
        "dropped at response/result/content/1",
        true,
    )
    .await;
}

#[tokio::test]
async fn unlisted_templates_are_caught() {
    caught(
        "templates-not-listed",
        "resource-templates-list",
        Outcome::Dropped,
        "dropped at response/result/resourceTemplates/[fid://item/{id}]",
        true,
    )
    .await;
}

#[tokio::test]
async fn completions_not_asked_upstream_are_caught() {
    caught(
        "completion-not-forwarded",
        "completion",
        Outcome::Dropped,
        "dropped at response/result/completion/values/0",
        true,
    )
    .await;
}

#[tokio::test]
async fn crossed_answers_of_colliding_ids_are_caught() {
    // The later of two calls with the same id takes the earlier one's answer; the earlier one
    // gets none.
    caught(
        "colliding-ids-crossed",
        "colliding-ids",
        Outcome::Dropped,
        "got the answer of client",
        true,
    )
    .await;
}

#[tokio::test]
async fn a_hang_on_a_dead_upstream_is_caught() {
    caught(
        "dead-upstream-hangs",
        "dead-upstream",
        Outcome::Dropped,
        "no answer within 10 s",
        true,
    )
    .await;
}

#[tokio::test]
async fn a_leaked_upstream_session_id_is_caught() {
    caught(
        "upstream-session-id-leaked",
        "upstream-session-id",
        Outcome::Added,
        "header mcp-session-id: fid-upstream-session-",
        true,
    )
    .await;
}

#[tokio::test]
async fn a_truncated_large_result_is_caught() {
    caught(
        "large-result-truncated",
        "large-result",
        Outcome::Altered,
        "altered at response/result/content/0/text: a string of 8388608 bytes",
        true,
    )
    .await;
}

/// Every report format carries the feature table, the difference, both conversations and the
/// latency the gateway adds.
#[tokio::test]
async fn reports_show_the_table_and_both_conversations() {
    let (target, run) = run_sampled(&["progress-dropped"], &[], 5).await;
    assert_eq!(run.table.overhead.len(), 4);
    for o in &run.table.overhead {
        assert_eq!(o.samples, 5, "{o:?}");
        assert!(o.direct_p50_ms > 0.0 && o.through_p50_ms > 0.0, "{o:?}");
        assert!(o.through_p99_ms >= o.through_p50_ms, "{o:?}");
    }
    let mut report = Report::new(target.identity.clone(), run.results, None, 1);
    report.fidelity = Some(run.table);
    let dir = std::env::temp_dir().join(format!("mcpgw-fidelity-reports-{}", std::process::id()));
    report.write_all(&dir).expect("reports written");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let (json, junit, md, html) = (
        read("report.json"),
        read("junit.xml"),
        read("summary.md"),
        read("report.html"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(report.summary.failed);
    let difference = "dropped at notifications/progress 1";
    for (name, text) in [
        ("json", &json),
        ("junit", &junit),
        ("md", &md),
        ("html", &html),
    ] {
        assert!(text.contains(difference), "{name} lacks the difference");
        assert!(
            text.contains("fid-progress-token-1"),
            "{name} lacks the conversations"
        );
    }
    assert!(md.contains("| `progress-notifications`"), "{md}");
    assert!(md.contains("| dropped | FAIL |"), "{md}");
    assert!(junit.contains("--- through the gateway ---"), "{junit}");
    assert!(html.contains("<h4>through the gateway</h4>"));
    assert!(
        html.contains("<td>tools/call fid-echo-meta</td><td>5</td>"),
        "{html}"
    );
    assert!(md.contains("| tools/call fid-echo-meta | 5 |"), "{md}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("report.json is JSON");
    let rows = v["fidelity"]["features"].as_array().map_or(0, Vec::len);
    assert_eq!(rows, fidelity::features().len());
}
