//! `mcpgw-conformance fuzz`: flags, progress, the printed failure, the written scenario and
//! its replay check.
//!
//! Exit codes: 0 no invariant broken, 1 a failure was found (and written), 2 usage or
//! configuration error (bad flags, unreachable target, fixtures that cannot be made).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use std::collections::BTreeSet;

use crate::baseline::Baseline;
use crate::report::transcript_text;
use crate::runner::{self, RunOptions};
use crate::scenario::{self, Capability};
use crate::settings::{TargetArgs, default_dir, target_config};
use crate::target::{Target, TargetConfig, TargetSpec};
use crate::verdict::Verdict;

use super::engine::{self, Event, Found, FuzzOptions, Report};
use super::invariants::{self, Invariant};
use super::regression::{self, Provenance};

/// Generate requests from the oracle's generators, check invariants, shrink a failure and write
/// it as a regression scenario.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Exit codes: 0 no invariant broken (or only those the baseline lists), 1 a \
                  finding (shrunk, printed and written as a scenario), 2 usage or \
                  configuration error.\n\
                  Every target: a response to every request and no 5xx; a caller that reaches \
                  only some servers (or none: no or a forged credential) never sees or runs \
                  another's tool; a server's own endpoint lists only its tools and calls only \
                  the upstreams behind it; a JSON-RPC response keeps its request's id; a \
                  foreign Origin gets no result from an MCP endpoint; a session is unknown to \
                  every endpoint but its own and once ended, and is served only to the user \
                  who opened it; a session id the client made up is never adopted; an MCP \
                  endpoint serves no request of an MCP-Protocol-Version from the future; a \
                  tool call reaches its upstream with the client's arguments and _meta (the \
                  progress token aside) and its answer reaches the client as the upstream gave \
                  it (each member of the result, _meta aside; an error's code); no answer \
                  carries an upstream's session id. With \
                  --sequences, checked after every step of each sequence \
                  with the sessions it opened, and also: no answer to one user carries the \
                  secret another user's tool call sent (other-user-data-seen).\n\
                  Several workers: each case goes to one of them, sessions live on the last; \
                  on a cluster the harness starts (--cluster N) the sessions' owner is killed \
                  half-way.\n\
                  Targets that speak ContextForge's API also: JSON-RPC error code 0 (D9); a \
                  path the oracle refuses served (D8); RFC 9728 paths (D6); the server \
                  restriction of scoped tokens (C-SCOPE-03, D1, D4); the path's server \
                  injected over params.server_id (D11); a token's permission list, whatever \
                  the body or method says (no success where the map denies, no tool run \
                  without tools.execute); a host from the client's forwarding headers in no \
                  answer (D3)."
)]
pub struct FuzzArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Requests to generate.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub cases: u32,
    /// Seed of the generator; the same seed sends the same requests [default: random, printed].
    #[arg(long, env = "MCPGW_FUZZ_SEED")]
    pub seed: Option<u64>,
    /// Where a failure's scenario is written; the folder name is its area
    /// [default: <scenarios>/regressions].
    #[arg(long, value_name = "DIR")]
    pub regressions_dir: Option<PathBuf>,
    /// Scenario directory whose `regressions/` receives failures [default: ./scenarios, else the
    /// repository's].
    #[arg(long, env = "MCPGW_SCENARIOS", value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Print the failure but write no scenario.
    #[arg(long)]
    pub no_write: bool,
    /// Known failures of the target: its `fuzz_findings` name invariants the campaign counts
    /// but does not report as findings.
    #[arg(long, env = "MCPGW_BASELINE", value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Go on after a finding, so that every invariant broken is found (each once, shrunk and
    /// written); otherwise the campaign stops at the first.
    #[arg(long)]
    pub keep_going: bool,
    /// Seconds to wait for each response.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
    /// Cases sent at once. A failure counts only if it holds when its case is sent again
    /// alone (cases sent together may meet each other's effects); 1 sends one at a time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Give up shrinking after this many attempts.
    #[arg(long, default_value_t = 1024)]
    pub max_shrink_iters: u32,
    /// Give up shrinking one finding after this many seconds (a gateway that hangs makes every
    /// attempt wait for --timeout).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub max_shrink_secs: u64,
    /// Stateful fuzzing: each case is a sequence of up to 6 MCP requests (sessions opened,
    /// used on their own endpoint and others', by their user and another, ended and resumed;
    /// tool calls carrying a secret of their sender's user), checked after every step; a
    /// failure shrinks to the shortest sequence. Sequences run one at a time (--jobs is
    /// ignored).
    #[arg(long)]
    pub sequences: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print every request line and status on stderr.
    #[arg(long)]
    pub trace: bool,
}

/// Progress on stderr: a bar on a terminal, a line per tenth of the run otherwise.
struct Progress {
    bar: ProgressBar,
    total: u32,
    plain: bool,
    trace: bool,
}

impl Progress {
    fn new(total: u32, quiet: bool, trace: bool) -> Progress {
        let bar = ProgressBar::new(u64::from(total));
        let terminal = std::io::stderr().is_terminal();
        if quiet || !terminal {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        } else {
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed}] {bar:30} {pos}/{len} cases ({per_sec}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        Progress {
            bar,
            total,
            plain: !quiet && !terminal,
            trace,
        }
    }

    fn event(&self, e: Event<'_>) {
        match e {
            Event::Sent {
                method,
                target,
                status,
            } => {
                if self.trace {
                    let status = status.map_or("no response".to_owned(), |s| s.to_string());
                    self.bar
                        .suspend(|| eprintln!("{method} {} -> {status}", target.escape_debug()));
                }
            }
            Event::Case { done } => {
                self.bar.set_position(u64::from(done));
                let tenth = (self.total / 10).max(1);
                if self.plain && (done % tenth == 0 || done == self.total) {
                    eprintln!(
                        "fuzz: {done}/{} cases, {:.0} s",
                        self.total,
                        self.bar.elapsed().as_secs_f64()
                    );
                }
            }
            Event::Failed {
                case_index,
                violation,
            } => {
                let line = format!("case {case_index} failed: {violation}; shrinking");
                if self.plain {
                    eprintln!("fuzz: {line}");
                } else {
                    self.bar.println(line);
                }
            }
            Event::Unoffered { tools } => {
                let line = format!(
                    "the gateway does not offer {} of the world's tools ({}); the campaign does not call them",
                    tools.len(),
                    tools.join(", ")
                );
                if self.plain {
                    eprintln!("fuzz: {line}");
                } else {
                    self.bar.println(line);
                }
            }
            Event::Fault {
                before_case,
                outcome,
            } => {
                let line = match outcome {
                    Ok(done) => format!("before case {before_case}: {done} (the sessions' owner)"),
                    Err(e) => format!("before case {before_case}: no worker could be killed: {e}"),
                };
                if self.plain {
                    eprintln!("fuzz: {line}");
                } else {
                    self.bar.println(line);
                }
            }
            Event::Shrink { step, failing } => {
                self.bar.set_message(format!(
                    "shrinking: step {step}{}",
                    if failing { " (still failing)" } else { "" }
                ));
                if self.plain && step % 100 == 0 {
                    eprintln!("fuzz: shrinking, step {step}");
                }
            }
        }
    }
}

/// A random seed, when none was given (printed so the run can be repeated).
fn fresh_seed() -> u64 {
    let uuid = uuid::Uuid::new_v4();
    let b = uuid.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) >> 16
}

/// The invariants a baseline file lists under `fuzz_findings`.
fn known_invariants(path: &Path) -> Result<BTreeSet<Invariant>, String> {
    let baseline = Baseline::load(path).map_err(|e| e.to_string())?;
    let mut known = BTreeSet::new();
    for f in &baseline.fuzz_findings {
        let invariant = Invariant::from_name(&f.invariant).ok_or_else(|| {
            let names: Vec<&str> = invariants::ALL.iter().map(|i| i.name()).collect();
            format!(
                "{}: fuzz_findings: `{}` is no invariant (one of: {})",
                path.display(),
                f.invariant,
                names.join(", ")
            )
        })?;
        known.insert(invariant);
    }
    Ok(known)
}

/// Run `mcpgw-conformance fuzz`; `Err` is a usage or configuration error (exit 2).
pub async fn run(args: FuzzArgs) -> Result<ExitCode, String> {
    let cfg = target_config(&args.target)?;
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let known = match &args.baseline {
        Some(p) => known_invariants(p)?,
        None => BTreeSet::new(),
    };
    let regressions_dir = match &args.regressions_dir {
        Some(d) => d.clone(),
        None => default_dir(args.scenarios.as_deref(), "scenarios").join("regressions"),
    };
    let target = Target::start(&cfg).await.map_err(|e| e.to_string())?;
    let described = describe_target(&target);
    eprintln!(
        "fuzz: {} case(s) against {described}, seed {seed}",
        args.cases
    );
    let opts = FuzzOptions {
        cases: args.cases,
        seed,
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_shrink_iters: args.max_shrink_iters,
        max_shrink_time: Duration::from_secs(args.max_shrink_secs),
        known,
        keep_going: args.keep_going,
        jobs: usize::from(args.jobs),
    };
    let progress = Progress::new(args.cases, args.quiet, args.trace);
    let report = if args.sequences {
        super::sequence_run::fuzz_sequences(&target, &opts, &|e| progress.event(e)).await
    } else {
        engine::fuzz(&target, &opts, &|e| progress.event(e)).await
    }
    .map_err(|e| e.to_string())?;
    progress.bar.finish_and_clear();
    let mut out = summary(&report, seed, &opts.known);
    if report.found.is_empty() && report.sequences.is_empty() {
        print_out(&out);
        return Ok(ExitCode::SUCCESS);
    }
    let provenance = Provenance {
        seed,
        cases: args.cases,
        target: described,
        oauth: report.oauth,
        name_resolution: report.name_resolution,
        fixtures: report.fixtures.clone(),
        sessions: report.sessions.clone(),
        cluster: target.has(Capability::Cluster),
        paths_of: (!target.has(Capability::ContextforgeApi))
            .then(|| target.manifest.name.value.clone()),
    };
    for found in &report.found {
        out.push_str(&failure_text(found));
        if args.no_write {
            continue;
        }
        match regression::write(&regressions_dir, found, &provenance) {
            Ok((path, id)) => {
                out.push_str(&written_text(&target, &cfg, &path, &id, &args).await);
            }
            Err(e) => {
                let _ = writeln!(out, "\nthe scenario was not written: {e}");
            }
        }
    }
    for found in &report.sequences {
        out.push_str(&sequence_failure_text(found));
        if args.no_write {
            continue;
        }
        match regression::write_sequence(&regressions_dir, found, &provenance) {
            Ok((path, id)) => {
                out.push_str(&written_text(&target, &cfg, &path, &id, &args).await);
            }
            Err(e) => {
                let _ = writeln!(out, "\nthe scenario was not written: {e}");
            }
        }
    }
    print_out(&out);
    Ok(ExitCode::from(1))
}

fn sequence_failure_text(found: &super::sequence_run::SequenceFound) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nsequence {} broke {}", found.case_index, found.first);
    let _ = writeln!(
        out,
        "shrunk in {} step(s) to {} request(s), the last of which breaks {}{}",
        found.shrink_steps,
        found.sent.len(),
        found.violation,
        if found.reproduced {
            ""
        } else {
            "\n(warning: running it once more did not fail again: the failure may be flaky)"
        }
    );
    let _ = writeln!(out, "\nminimal sequence:");
    for (i, s) in found.sent.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} {} ({})",
            i + 1,
            s.request.method,
            s.request.path,
            s.description
        );
    }
    let _ = writeln!(out, "\nthe last request and its response:");
    for line in transcript_text(&found.exchange).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Print to stdout; a closed pipe is not worth a panic.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn describe_target(target: &Target) -> String {
    let id = &target.identity;
    let mut s = if id.kind.starts_with("reference (in-process") {
        "the in-process reference".to_owned()
    } else if id.kind.starts_with("reference cluster") {
        format!("a {}", id.kind)
    } else {
        format!("{} ({} profile)", id.urls.join(", "), id.profile)
    };
    if !id.defects.is_empty() {
        let _ = write!(s, " with --inject-defect {}", id.defects.join(","));
    }
    s
}

fn summary(report: &Report, seed: u64, known: &BTreeSet<Invariant>) -> String {
    let secs = report.elapsed.as_secs_f64();
    let mut out = String::new();
    let verdict = if report.found.is_empty() && report.sequences.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    let _ = writeln!(
        out,
        "{verdict}: {} case(s) in {secs:.1} s ({:.0} cases/s), seed {seed}; {} skipped, fixtures rebuilt {} time(s)",
        report.cases_run,
        f64::from(report.cases_run) / secs.max(1e-9),
        report.skipped,
        report.rebuilds,
    );
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(s, n)| match s {
            Some(s) => format!("{s}×{n}"),
            None => format!("none×{n}"),
        })
        .collect();
    let _ = writeln!(out, "statuses of passing cases: {}", statuses.join(" "));
    if report.unconfirmed > 0 {
        let _ = writeln!(
            out,
            "{} failure(s) did not hold when the case was sent again alone on a new connection (not counted)",
            report.unconfirmed
        );
    }
    if let Some((worker, case)) = report.killed {
        let _ = writeln!(
            out,
            "worker {worker} (the sessions' owner) was killed before case {case}; later cases meant for it went to the next worker"
        );
    }
    for (invariant, n) in &report.broken {
        let what = if known.contains(invariant) {
            "known (baseline)"
        } else {
            "found"
        };
        let _ = writeln!(out, "broken: {} in {n} case(s), {what}", invariant.name());
    }
    for invariant in known.iter().filter(|i| !report.broken.contains_key(i)) {
        let _ = writeln!(
            out,
            "baseline: {} was not broken in this campaign (a campaign samples: the entry is kept)",
            invariant.name()
        );
    }
    for e in &report.cleanup_errors {
        let _ = writeln!(out, "cleanup: {e}");
    }
    out
}

fn failure_text(found: &Found) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\ncase {} broke {}", found.case_index, found.first);
    let _ = writeln!(
        out,
        "shrunk in {} step(s) to a request that breaks {}{}",
        found.shrink_steps,
        found.violation,
        if found.reproduced {
            ""
        } else {
            "\n(warning: sending it once more did not fail again: the failure may be flaky)"
        }
    );
    let _ = writeln!(out, "\nminimal case (templates): {:?}", found.case);
    let _ = writeln!(out, "\nminimal request and response:");
    for line in transcript_text(&found.exchange).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The written file, its replay command, and what replaying it on this target (and, with
/// injected defects, on the reference without them) gives.
async fn written_text(
    target: &Target,
    cfg: &TargetConfig,
    path: &Path,
    id: &str,
    args: &FuzzArgs,
) -> String {
    let mut out = String::new();
    let root = path
        .parent()
        .and_then(Path::parent)
        .filter(|r| !r.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let default_root = default_dir(args.scenarios.as_deref(), "scenarios");
    let scenarios_flag = if same_dir(&root, &default_root) {
        String::new()
    } else {
        format!(" --scenarios {}", root.display())
    };
    let _ = writeln!(out, "\nwrote {}", path.display());
    let _ = writeln!(
        out,
        "replay: mcpgw-conformance run{}{scenarios_flag} --scenario {id}",
        target.replay_args
    );
    let loaded = match scenario::load_file(&root, path) {
        Ok(l) => l,
        Err(errors) => {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "the written scenario does not load: {}",
                shown.join("; ")
            );
            return out;
        }
    };
    let opts = RunOptions {
        jobs: 1,
        snapshots: None,
        limits: crate::manifest::Limits {
            request_timeout_ms: std::num::NonZeroU64::new(args.timeout.max(1).saturating_mul(1000)),
            ..crate::manifest::Limits::default()
        },
    };
    let here = runner::run_scenario(target, &loaded, &opts).await.verdict;
    let _ = writeln!(
        out,
        "replayed here: {}{}",
        here.as_str(),
        if here == Verdict::Fail {
            " (as it should)"
        } else {
            " (warning: expected FAIL)"
        }
    );
    // The same reference (in-process, or a cluster of the same shape) without its defects.
    let mut clean = cfg.clone();
    let had_defects = match &mut clean.spec {
        TargetSpec::Reference { defects } | TargetSpec::Cluster { defects, .. } => {
            !std::mem::take(defects).is_empty()
        }
        _ => false,
    };
    if had_defects {
        match Target::start(&clean).await {
            Ok(reference) => {
                let v = runner::run_scenario(&reference, &loaded, &opts)
                    .await
                    .verdict;
                let _ = writeln!(
                    out,
                    "replayed on the reference without the defect: {}{}",
                    v.as_str(),
                    if v == Verdict::Pass {
                        " (as it should)"
                    } else {
                        " (warning: expected PASS)"
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(out, "could not start a clean reference to replay on: {e}");
            }
        }
    }
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
