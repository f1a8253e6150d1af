//! Every committed baseline is usable as a gate: it parses, names a target, and each entry names
//! a scenario (and step) that exists and says why it fails, citing a decision, an upstream issue
//! or PR, a gap, a checklist item, or what was observed on which version. An entry for a renamed
//! scenario would otherwise never match and never go stale.

use std::collections::BTreeSet;
use std::path::Path;

use mcpgw_conformance::baseline::Baseline;
use mcpgw_conformance::fuzz::invariants::Invariant;
use mcpgw_conformance::scenario;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn cites_something(reason: &str) -> bool {
    let re = regex::Regex::new(
        r"\b(D\d{1,2}|issue \d+|PR \d+|gap G\d+|C-[A-Z]+-\d+)\b|observed on \d+\.\d+",
    )
    .unwrap();
    re.is_match(reason)
}

#[test]
fn committed_baselines_name_existing_checks_with_reasons() {
    let scenarios = scenario::load_dir(&Path::new(ROOT).join("scenarios")).unwrap();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for l in &scenarios {
        known.insert(l.scenario.id.clone());
        for st in &l.scenario.steps {
            known.insert(format!("{}:{}", l.scenario.id, st.name));
        }
    }
    // Fidelity differences are baselined in the same files (`fidelity/<feature>:<step>`).
    known.extend(mcpgw_conformance::fidelity::check_ids());
    let mut files = 0;
    for entry in std::fs::read_dir(Path::new(ROOT).join("baselines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        files += 1;
        let b = Baseline::load(&path).unwrap();
        let shown = path.display();
        assert!(b.target.is_some(), "{shown}: no `target`");
        let mut seen = BTreeSet::new();
        for k in &b.known_failures {
            assert!(
                known.contains(&k.scenario),
                "{shown}: {} names no scenario or step",
                k.scenario
            );
            assert!(seen.insert(&k.scenario), "{shown}: {} twice", k.scenario);
            assert!(
                !k.reason.contains("TODO") && cites_something(&k.reason),
                "{shown}: {}: the reason must say why and cite D1-D12, an issue, PR, gap, \
                 checklist id or `observed on <version>`: {:?}",
                k.scenario,
                k.reason
            );
        }
        let mut invariants = BTreeSet::new();
        for f in &b.fuzz_findings {
            assert!(
                Invariant::from_name(&f.invariant).is_some(),
                "{shown}: fuzz_findings: {} is no invariant",
                f.invariant
            );
            assert!(
                invariants.insert(&f.invariant),
                "{shown}: {} twice",
                f.invariant
            );
            assert!(
                !f.reason.contains("TODO") && cites_something(&f.reason),
                "{shown}: fuzz finding {}: the reason must cite as known_failures do: {:?}",
                f.invariant,
                f.reason
            );
        }
    }
    assert!(files > 0, "no baseline under baselines/");
}

#[test]
fn the_reason_rule_can_fail() {
    assert!(cites_something("issue 3990, D5: 403 CSRF"));
    assert!(cites_something("observed on 1.1.0: 401 body"));
    assert!(!cites_something(
        "TODO: explain why this fails on this target"
    ));
    assert!(!cites_something("it is broken"));
}

/// The description line of a snapshot file: `scenario:step`.
fn snapshot_check(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("description: "))?;
    Some(
        line.trim_start_matches("description: ")
            .trim_matches('"')
            .to_owned(),
    )
}

/// Snapshots of a profile's directory that store the reply of a check its baselines list as
/// failing: (snapshot file, entry).
fn blessed_defects(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("baselines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        // `contextforge-1.1.0.yaml` gates the `contextforge` profile's snapshots.
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let profile = stem
            .split_once('-')
            .filter(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
            .map_or(stem.as_str(), |(p, _)| p)
            .to_owned();
        let dir = root.join("snapshots").join(&profile);
        let b = Baseline::load(&path).unwrap();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let Some(check) = snapshot_check(&text) else {
                    continue;
                };
                let scenario = check.split(':').next().unwrap_or_default();
                if let Some(k) = b.covering(scenario, Some(&check)) {
                    out.push((p.display().to_string(), k.scenario.clone()));
                }
            }
        }
    }
    out
}

/// A snapshot stores a correct reply, never one a baseline lists as wrong: such a snapshot
/// would keep the check failing after the gateway is fixed, and its entry would never go stale.
#[test]
fn no_snapshot_stores_a_reply_a_baseline_lists_as_wrong() {
    let found = blessed_defects(Path::new(ROOT));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_snapshot_rule_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("baselines")).unwrap();
    std::fs::create_dir_all(root.join("snapshots/gw/auth")).unwrap();
    std::fs::write(
        root.join("baselines/gw-2.0.yaml"),
        "target: gw 2.0\nknown_failures:\n  - scenario: \"auth/x:empty\"\n    reason: \"issue 1\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("snapshots/gw/auth/x__empty.snap"),
        "---\nsource: conformance/src/snapshot.rs\ndescription: \"auth/x:empty\"\n---\nstatus: 403\n",
    )
    .unwrap();
    let found = blessed_defects(root);
    assert_eq!(found.len(), 1, "{found:?}");
}
