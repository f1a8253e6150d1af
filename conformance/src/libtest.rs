//! The `cargo test` entry: one libtest trial per scenario (libtest-mimic).
//!
//! The target comes from the environment, as in CI: `MCPGW_TARGET_URL` (+ `MCPGW_TARGET_TOKEN`
//! or `MCPGW_TARGET_JWT_SECRET`, `MCPGW_TARGET_PROFILE` or `MCPGW_TARGET_FILE`), parsed like the
//! command line's flags; unset, the in-process reference.
//! `MCPGW_BASELINE` names a baseline file whose known failures then pass. Scenarios needing a
//! capability the target lacks are reported as ignored. Finding no scenario is a failure, never
//! a silently green run.
//!
//! Use it from a test target with `harness = false`:
//! `fn main() { mcpgw_conformance::libtest::main(Path::new("scenarios")) }`.

use std::path::Path;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::baseline::Baseline;
use crate::report::transcript_text;
use crate::runner::{self, RunOptions};
use crate::scenario;
use crate::snapshot::SnapshotStore;
use crate::target::{Target, TargetConfig};
use crate::verdict::Verdict;

/// The target described by `MCPGW_TARGET_*` (see [`crate::settings::target_config_from_env`]).
pub fn config_from_env() -> Result<TargetConfig, String> {
    crate::settings::target_config_from_env()
}

/// Run every scenario under `dir` as a libtest trial, then exit.
pub fn main(dir: &Path) -> ! {
    let cfg = config_from_env().unwrap_or_else(|e| panic!("{e}"));
    main_with(dir, cfg, |_| true)
}

/// Run the scenarios under `dir` that `select` accepts as libtest trials against the target
/// `cfg` describes, then exit. A cluster target whose services (Redis, Postgres) cannot be had
/// reports every trial as ignored, unless `MCPGW_REQUIRE_SERVICES=1`, where it fails.
pub fn main_with(
    dir: &Path,
    cfg: crate::target::TargetConfig,
    select: impl Fn(&scenario::Loaded) -> bool,
) -> ! {
    let args = Arguments::from_args();
    let loaded: Vec<_> = scenario::load_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .filter(|l| select(l))
        .collect();
    assert!(
        !loaded.is_empty(),
        "no scenario selected under {}: refusing to report a green run",
        dir.display()
    );
    let rt = Arc::new(tokio::runtime::Runtime::new().expect("a tokio runtime"));
    let started = std::time::Instant::now();
    let target = match rt.block_on(Target::start(&cfg)) {
        Ok(t) => Arc::new(t),
        Err(e @ crate::target::TargetError::Cluster(_))
            if !crate::services::services_required() =>
        {
            eprintln!("skipping every scenario: {e}");
            let trials = loaded
                .into_iter()
                .map(|l| Trial::test(l.scenario.id, || Ok(())).with_ignored_flag(true))
                .collect();
            libtest_mimic::run(&args, trials).exit()
        }
        Err(e) => panic!("failed to start the target: {e}"),
    };
    if let Some(d) = rt.block_on(target.cluster_startup()) {
        eprintln!(
            "cluster of {} workers started in {:.2} s (target ready in {:.2} s)",
            target.bases.len(),
            d.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    let baseline = std::env::var_os("MCPGW_BASELINE")
        .map(|p| Arc::new(Baseline::load(Path::new(&p)).unwrap_or_else(|e| panic!("{e}"))));
    let opts = Arc::new(RunOptions {
        snapshots: Some(SnapshotStore {
            dir: crate::settings::default_dir(None, "snapshots"),
            profile: cfg.profile.name.clone(),
        }),
        ..RunOptions::default()
    });
    let trials = loaded
        .into_iter()
        .map(|l| {
            let id = l.scenario.id.clone();
            let area = id.split('/').next().unwrap_or_default().to_owned();
            let missing = matches!(
                runner::applicability(&target, &l.scenario),
                runner::Applicability::NotApplicable(_)
            );
            let (rt, target, opts, baseline) =
                (rt.clone(), target.clone(), opts.clone(), baseline.clone());
            Trial::test(id, move || {
                let r = rt.block_on(runner::run_scenario(&target, &l, &opts));
                if let Some(b) = &baseline
                    && b.compare(std::slice::from_ref(&r)).is_clean()
                {
                    return Ok(());
                }
                match r.verdict {
                    Verdict::Pass | Verdict::Warn | Verdict::NotApplicable => Ok(()),
                    Verdict::Untestable if r.untestable_as_a_whole() => Err(Failed::from(format!(
                        "UNTESTABLE: {}\nreplay: {}",
                        r.reason.unwrap_or_default(),
                        r.replay
                    ))),
                    Verdict::Fail | Verdict::Untestable => {
                        let mut msg = String::new();
                        for c in r.checks.iter().filter(|c| c.verdict.is_failure()) {
                            msg.push_str(&format!("{} {}\n", c.verdict, c.id));
                            for m in &c.messages {
                                msg.push_str(&format!("  - {m}\n"));
                            }
                            if let Some(ex) = &c.transcript {
                                msg.push_str(&transcript_text(ex));
                            }
                        }
                        msg.push_str(&format!("replay: {}", r.replay));
                        Err(Failed::from(msg))
                    }
                }
            })
            .with_kind(area)
            .with_ignored_flag(missing)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // `exit` skips destructors: drop the target first, inside the runtime (its containers are
    // removed by an async drop), so that no container or worker outlives the test.
    let _ = rt.block_on(rt.spawn(async move { drop(target) }));
    conclusion.exit()
}
