//! Pass-through fidelity (differential): the same conversation held directly with the
//! harness's fidelity upstream (`crate::upstream::rich`) and through the gateway, compared after
//! normalising what the target manifest lets the gateway change; every difference is a check.
//!
//! [`conversation`] says what is sent (data), [`session`] holds a conversation over Streamable
//! HTTP (I/O), [`compare`] normalises and diffs (pure), [`overhead`] summarises the latency the
//! gateway adds (pure), [`run`] ties them to a target and [`table`] is the feature table the
//! reports show. [`probe`] (I/O) and [`judge`] (pure) are the concurrency and failure
//! features, which hold no conversation of their own.

pub mod compare;
pub mod conversation;
pub mod judge;
pub mod overhead;
pub mod probe;
pub mod run;
pub mod session;
pub mod table;

pub use conversation::{Feature, features};
pub use run::{FidelityError, FidelityRun, Options, run};
pub use table::{FeatureRow, FeatureTable};

/// The name of a feature's `i`th step in its check id (`fidelity/<feature>:<name>`).
pub fn step_name(i: usize, step: &conversation::Step) -> String {
    format!("{}-{}", i + 1, step.method.replace('/', "-"))
}

/// Every check id the features can report (what a baseline may list): each feature, each of its
/// steps, and the probe of a probe feature.
pub fn check_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for f in features() {
        let id = format!("fidelity/{}", f.id);
        for (i, step) in f.steps.iter().enumerate() {
            ids.push(format!("{id}:{}", step_name(i, step)));
        }
        if f.probe.is_some() {
            ids.push(format!("{id}:probe"));
        }
        ids.push(id);
    }
    ids
}

/// The features whose ids are in `wanted` (all when it is empty); an unknown id is an error
/// that lists the known ones.
pub fn select(wanted: &[String]) -> Result<Vec<Feature>, String> {
    let all = features();
    if wanted.is_empty() {
        return Ok(all);
    }
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !all.iter().any(|f| f.id == w.as_str()))
    {
        let known: Vec<&str> = all.iter().map(|f| f.id).collect();
        return Err(format!(
            "unknown fidelity feature {unknown:?}; known: {}",
            known.join(", ")
        ));
    }
    Ok(all
        .into_iter()
        .filter(|f| wanted.iter().any(|w| w == f.id))
        .collect())
}
