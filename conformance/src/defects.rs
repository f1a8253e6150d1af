//! The defect matrix: the suite run once per defect the reference can re-create, to prove that
//! every known defect is caught by at least one scenario or fidelity feature (the fidelity
//! features run beside the scenarios, and a feature that is not preserved catches).

use mcpgw_reference::defects::Defect;
use serde::Serialize;

use crate::runner::{self, RunOptions};
use crate::scenario::{Capability, Loaded};
use crate::target::{Target, TargetConfig, TargetSpec};
use crate::verdict::Verdict;

/// Defects that only show on a target with a capability the in-process reference cannot take
/// on as a variant (a cluster). They run on a reference cluster of [`CLUSTER_WORKERS`] workers
/// (`--cluster`, stateful), started once per defect; when it cannot start (no Redis or
/// Postgres) the defect is reported as not run instead of undetected. (Stateful sessions are a
/// variant: their defects run on the stateful variant.)
pub(crate) const NEEDS_CAPABILITY: &[(Defect, Capability)] = &[
    (Defect::ForwardedNoServerId, Capability::Cluster),
    (Defect::UnsignedHopTrusted, Capability::Cluster),
    (Defect::DeadOwnerNotTakenOver, Capability::Cluster),
    (Defect::RevocationRememberedPerWorker, Capability::Cluster),
];

/// Workers of the cluster a defect in [`NEEDS_CAPABILITY`] runs on.
pub(crate) const CLUSTER_WORKERS: usize = 2;

/// Whether the in-process reference (as configured) has a capability. A single process is
/// never a cluster.
fn has_capability(cfg: &TargetConfig, c: Capability) -> bool {
    c != Capability::Cluster
        && (cfg.profile.capabilities.contains(&c) || cfg.with.contains(&c))
        && !cfg.without.contains(&c)
}

/// What one defect run found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DefectRow {
    pub defect: String,
    pub origin: String,
    /// Scenarios with a FAIL or WARN check while the defect was on.
    pub caught_by: Vec<String>,
    /// Set when the defect was not run (and why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Scenarios that could not be set up with the defect on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untestable: Vec<String>,
}

impl DefectRow {
    /// A defect that ran and nothing caught.
    pub(crate) fn undetected(&self) -> bool {
        self.skipped.is_none() && self.caught_by.is_empty()
    }
}

/// Run `scenarios` once per defect; `progress` is told each defect's name as it starts.
pub(crate) async fn run_matrix(
    base: &TargetConfig,
    scenarios: &[Loaded],
    opts: &RunOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<DefectRow>, crate::target::TargetError> {
    let mut rows = Vec::new();
    for defect in Defect::ALL {
        let mut row = DefectRow {
            defect: defect.name().to_owned(),
            origin: defect.origin().to_owned(),
            caught_by: Vec::new(),
            skipped: None,
            untestable: Vec::new(),
        };
        let needs = NEEDS_CAPABILITY
            .iter()
            .find(|(d, c)| *d == defect && !has_capability(base, *c))
            .map(|(_, c)| *c);
        let mut cfg = base.clone();
        let names = vec![defect.name().to_owned()];
        cfg.spec = match (needs, &base.spec) {
            (None, _) => TargetSpec::Reference { defects: names },
            (Some(_), TargetSpec::Cluster { exe, .. }) => TargetSpec::Cluster {
                workers: CLUSTER_WORKERS,
                defects: names,
                worker_env: Vec::new(),
                exe: exe.clone(),
                memory_store: false,
            },
            (Some(_), _) => TargetSpec::Cluster {
                workers: CLUSTER_WORKERS,
                defects: names,
                worker_env: Vec::new(),
                exe: None,
                memory_store: false,
            },
        };
        progress(defect.name());
        let target = match Target::start(&cfg).await {
            Ok(t) => Some(t),
            Err(e @ crate::target::TargetError::Cluster(_))
                if !crate::services::services_required() =>
            {
                row.skipped = Some(format!(
                    "needs a {} target: {e}",
                    needs.map(Capability::name).unwrap_or("cluster")
                ));
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(target) = target {
            let mut results = runner::run_all(&target, scenarios, opts, &|_| {}).await;
            let features = crate::fidelity::features();
            let fidelity = crate::fidelity::Options {
                timeout: runner::RunLimits::of(opts, &target).request_timeout,
                samples: 0,
                replay: String::new(),
            };
            match crate::fidelity::run(&target, &features, &fidelity).await {
                Ok(run) => results.extend(run.results),
                Err(e) => row.untestable.push(format!("fidelity ({e})")),
            }
            for r in results {
                if r.checks
                    .iter()
                    .any(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
                {
                    row.caught_by.push(r.id.clone());
                } else if r.verdict == Verdict::Untestable {
                    row.untestable.push(r.id.clone());
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The matrix as a text table.
pub(crate) fn render(rows: &[DefectRow]) -> String {
    let mut out = format!("{:<30} {:<18} caught by\n", "defect", "origin");
    for r in rows {
        let caught = match &r.skipped {
            Some(why) => format!("(not run: {why})"),
            None if r.caught_by.is_empty() => "UNDETECTED".to_owned(),
            None => r.caught_by.join(", "),
        };
        out.push_str(&format!("{:<30} {:<18} {caught}\n", r.defect, r.origin));
    }
    let undetected = rows.iter().filter(|r| r.undetected()).count();
    let ran = rows.iter().filter(|r| r.skipped.is_none()).count();
    out.push_str(&format!(
        "\n{} of {ran} defects detected, {undetected} undetected, {} not run\n",
        ran - undetected,
        rows.len() - ran
    ));
    out
}
