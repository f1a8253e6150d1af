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
