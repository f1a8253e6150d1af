//! `junit.xml`: one test suite per area, one test case per check (quick-junit).
//!
//! FAIL is a failure, UNTESTABLE an error, NOT-APPLICABLE skipped; WARN passes with its
//! messages in `system-out`, since a broken SHOULD does not fail a run. With a baseline the file
//! agrees with the exit code: a failure the baseline lists is skipped (its message is the
//! baseline's reason), and each stale entry is a failing case of a `baseline` suite.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{Report, transcript_text};
use crate::verdict::Verdict;

/// A skipped status for a failure the baseline lists.
fn known(id: &str, report: &Report) -> Option<TestCaseStatus> {
    let entry = report.baseline.as_ref()?.entry(id)?;
    let mut status = TestCaseStatus::skipped();
    status.set_message(format!("known failure (baseline): {}", entry.reason));
    Some(status)
}

pub fn render(report: &Report) -> String {
    let mut junit = JunitReport::new("mcpgw-conformance");
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for s in &report.scenarios {
        let suite = suites
            .entry(s.area.as_str())
            .or_insert_with(|| TestSuite::new(s.area.clone()));
        let mut cases = Vec::new();
        match s.verdict {
            Verdict::NotApplicable | Verdict::Untestable => {
                let mut status = if s.verdict == Verdict::NotApplicable {
                    TestCaseStatus::skipped()
                } else {
                    TestCaseStatus::non_success(NonSuccessKind::Error)
                };
                let mut description = s.reason.clone().unwrap_or_default();
                if let Some(ex) = &s.provisioning_transcript {
                    description.push_str("\n\n");
                    description.push_str(&transcript_text(ex));
                }
                description.push_str(&format!("\n\nreplay: {}", s.replay));
                status.set_message(format!(
                    "{}: {}",
                    s.verdict,
                    s.reason.clone().unwrap_or_default()
                ));
                status.set_description(description);
                let status = known(&s.id, report).unwrap_or(status);
                let mut case = TestCase::new(s.id.clone(), status);
                case.set_classname(s.id.clone());
                cases.push(case);
            }
            _ => {
                for c in &s.checks {
                    let mut status = match c.verdict {
                        Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                        _ => TestCaseStatus::success(),
                    };
                    let mut text = c.messages.join("\n");
                    if c.verdict != Verdict::Pass {
                        if let Some(ex) = &c.transcript {
                            text.push_str("\n\n");
                            text.push_str(&transcript_text(ex));
                        }
                        if let Some(row) = report.fidelity_row(&s.id) {
                            text.push_str("\n\n");
                            text.push_str(&super::both_transcripts(row));
                        }
                        text.push_str(&format!("\nreplay: {}", s.replay));
                    }
                    if c.verdict == Verdict::Fail {
                        status.set_message(c.messages.first().cloned().unwrap_or_default());
                        status.set_description(text.clone());
                        if let Some(k) = known(&c.id, report) {
                            status = k;
                        }
                    }
                    let mut case = TestCase::new(c.id.clone(), status);
                    case.set_classname(s.id.clone());
                    if c.verdict == Verdict::Warn {
                        case.set_system_out(format!("WARN (SHOULD broken)\n{text}"));
                    }
                    if let Some(ex) = &c.transcript {
                        case.set_time(Duration::from_millis(ex.duration_ms));
                    }
                    cases.push(case);
                }
            }
        }
        suite.add_test_cases(cases);
    }
    if let Some(b) = report
        .baseline
        .as_ref()
        .filter(|b| !b.comparison.stale.is_empty())
    {
        let mut suite = TestSuite::new("baseline");
        suite.add_test_cases(b.comparison.stale.iter().map(|k| {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!(
                "stale baseline entry: {} now passes; remove it from {} (or re-bless)",
                k.scenario, b.path
            ));
            status.set_description(k.reason.clone());
            TestCase::new(format!("baseline:{}", k.scenario), status)
        }));
        suites.insert("~baseline", suite);
    }
    junit.add_test_suites(suites.into_values());
    junit
        .to_string()
        .unwrap_or_else(|e| format!("<!-- failed to render junit: {e} -->"))
}
