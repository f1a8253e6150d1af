//! Running scenarios: capability check, fixtures, steps, verdicts, cleanup.
//!
//! A scenario is NOT-APPLICABLE when the target lacks a capability it needs (declared in
//! `requires`, or implied: locally signed tokens need `jwt-secret`, `via: N` needs `cluster`)
//! and cannot start a variant with it, or when the target runs in a mode the scenario was not
//! written for; UNTESTABLE when a fixture cannot be made; otherwise the worst verdict of its
//! checks.
//!
//! Every wait is bounded ([`RunLimits`]): each request by its deadline and the response size
//! cap, each scenario (fixtures and steps) by its own deadline, the whole run by another. A
//! limit that cuts a step FAILs that step and names the limit; the run goes on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;

use crate::client::{self, RequestLimits, WireRequest, WireResponse};
use crate::manifest::Limits;
use crate::provision::{self, Provisioned};
use crate::reach;
use crate::scenario::subst::{self, Lookup};
use crate::scenario::{
    Action, Capability, Expect, Loaded, Matcher, Request, SaveFrom, Scenario, Step, TokenSource,
    WhichEvent,
};
use crate::snapshot::{self, SnapshotStore};
use crate::target::Target;
use crate::upstream::Received;
use crate::verdict::{CheckResult, ScenarioResult, Verdict};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Scenarios run at once.
    pub jobs: usize,
    /// Where snapshots live; `None` skips `expect.snapshot`.
    pub snapshots: Option<SnapshotStore>,
    /// Limits the caller sets (the command line's flags); each one left unset is the target
    /// manifest's, else the default of [`RunLimits::DEFAULT`].
    pub limits: Limits,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 8,
            snapshots: None,
            limits: Limits::default(),
        }
    }
}

/// The limits a run keeps, once the caller's, the manifest's and the defaults are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Bytes of one response body (`--max-response-bytes`).
    pub max_response_bytes: usize,
    /// One request, head and body (`--timeout`).
    pub request_timeout: Duration,
    /// One scenario's fixtures and steps (`--scenario-timeout`).
    pub scenario_timeout: Duration,
    /// The whole run of the scenarios (`--run-timeout`).
    pub run_timeout: Duration,
}

impl RunLimits {
    /// Far above what the suite needs against a working gateway (its longest scenario, with
    /// cluster restarts, takes seconds), so that only a gateway that stalls meets them.
    pub const DEFAULT: RunLimits = RunLimits {
        max_response_bytes: client::DEFAULT_MAX_RESPONSE_BYTES,
        request_timeout: Duration::from_secs(15),
        scenario_timeout: Duration::from_secs(120),
        run_timeout: Duration::from_secs(3600),
    };

    /// Each limit `given` sets, else the one `manifest` sets, else the default.
    pub fn resolve(given: &Limits, manifest: &Limits) -> RunLimits {
        let l = given.or(*manifest);
        let d = RunLimits::DEFAULT;
        let ms = |v: Option<std::num::NonZeroU64>, default| {
            v.map_or(default, |v| Duration::from_millis(v.get()))
        };
        RunLimits {
            max_response_bytes: l.max_response_bytes.map_or(d.max_response_bytes, |v| {
                usize::try_from(v.get()).unwrap_or(usize::MAX)
            }),
            request_timeout: ms(l.request_timeout_ms, d.request_timeout),
            scenario_timeout: ms(l.scenario_timeout_ms, d.scenario_timeout),
            run_timeout: l
                .run_timeout_s
                .map_or(d.run_timeout, |v| Duration::from_secs(v.get())),
        }
    }

    /// The limits of a run of `opts` on `target`.
    pub fn of(opts: &RunOptions, target: &Target) -> RunLimits {
        RunLimits::resolve(&opts.limits, &target.manifest.limits)
    }
}

/// A length of time as its flag takes it: `15 s`, `2.5 s`.
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// When a piece of work must be over, and the limit that says so (for messages).
#[derive(Debug, Clone)]
struct Deadline {
    at: Instant,
    /// `--scenario-timeout 120 s`
    name: String,
}

impl Deadline {
    fn new(length: Duration, flag: &str) -> Deadline {
        Deadline {
            // A length too large to add means no deadline: a century away is as good.
            at: Instant::now()
                .checked_add(length)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400)),
            name: format!("{flag} {}", secs(length)),
        }
    }

    /// The earlier of the two.
    fn min(self, other: &Deadline) -> Deadline {
        if other.at < self.at {
            other.clone()
        } else {
            self
        }
    }

    fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}

/// The run deadline, and how many scenarios it stopped or left unrun.
#[derive(Debug)]
struct RunClock {
    deadline: Deadline,
    cut: AtomicUsize,
}

impl RunClock {
    fn cut_one(&self) {
        self.cut.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one scenario may spend: its limits and its deadline (its own, or the run's if that
/// comes first).
#[derive(Debug, Clone)]
struct Budget {
    limits: RunLimits,
    deadline: Deadline,
}

impl Budget {
    /// The limits of one request: the request deadline, or what is left of the scenario's if
    /// that is less, named accordingly.
    fn request(&self) -> RequestLimits {
        let left = self.deadline.at.saturating_duration_since(Instant::now());
        let (deadline, deadline_name) = if self.limits.request_timeout <= left {
            (
                self.limits.request_timeout,
                format!("--timeout {}", secs(self.limits.request_timeout)),
            )
        } else {
            (left, self.deadline.name.clone())
        };
        RequestLimits {
            deadline,
            deadline_name,
            max_response_bytes: self.limits.max_response_bytes,
            stream_wait: None,
        }
    }
}

/// How long cleanup may take after a scenario, even one stopped by a deadline: fixtures left
/// behind are worth one more bounded wait.
const CLEANUP_TIME: Duration = Duration::from_secs(60);

/// Capabilities a scenario needs, declared or implied.
pub fn needed_capabilities(s: &Scenario) -> BTreeSet<Capability> {
    let mut caps: BTreeSet<Capability> = s.requires.iter().copied().collect();
    if s.fixtures
        .tokens
        .values()
        .any(|t| t.needs_signing() || t.source == TokenSource::Sign)
    {
        caps.insert(Capability::JwtSecret);
    }
    let requests = || s.steps.iter().filter_map(Step::request);
    let faults = || s.steps.iter().filter_map(Step::fault);
    if requests().any(|r| r.via > 0) {
        caps.insert(Capability::Cluster);
    }
    if faults().next().is_some() {
        caps.insert(Capability::ClusterFaults);
    }
    if faults().any(|f| f.worker().is_some_and(|w| w > 0)) {
        caps.insert(Capability::Cluster);
    }
    if s.paths_of.is_none() && requests().any(|r| !is_portable_path(&r.request.path)) {
        caps.insert(Capability::ContextforgeApi);
    }
    caps
}

/// Whether a request path is built from the target's endpoint templates (`${servers.S.mcp}`,
/// `${endpoints.mcp}`, ...) and so means the same on every gateway. A path written literally
/// (`/servers/${servers.S.id}/mcp`, `/rpc`) is ContextForge's URL layout.
pub fn is_portable_path(path: &str) -> bool {
    let rest = path.strip_prefix("${target.root}").unwrap_or(path);
    let Ok(pieces) = subst::parse(rest) else {
        return false;
    };
    match pieces.first() {
        Some(subst::Piece::Var { path, .. }) => matches!(
            path.as_slice(),
            ["endpoints", _] | ["servers", _, "mcp" | "metadata"] | ["absent_server", _]
        ),
        _ => false,
    }
}

/// The endpoint templates a scenario's references use (`mcp`, `server_mcp`, `rpc`, ...).
pub fn endpoints_used(s: &Scenario) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(all) = serde_json::to_value(s) else {
        return out;
    };
    for text in subst::json_strings(&all) {
        let Ok(pieces) = subst::parse(&text) else {
            continue;
        };
        for piece in pieces {
            if let subst::Piece::Var { path, .. } = piece {
                match path.as_slice() {
                    ["endpoints", name] => {
                        out.insert((*name).to_owned());
                    }
                    ["servers" | "absent_server", .., f @ ("mcp" | "metadata")] => {
                        out.insert(
                            if *f == "mcp" {
                                "server_mcp"
                            } else {
                                "server_metadata"
                            }
                            .to_owned(),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// Where a scenario runs on a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    /// On the target itself.
    Run,
    /// On a variant of the in-process reference that adds these capabilities.
    Variant(BTreeSet<Capability>),
    /// Nowhere, for this reason.
    NotApplicable(String),
}

/// Whether and where `s` runs on `target`.
pub fn applicability(target: &Target, s: &Scenario) -> Applicability {
    if let Some(shapes) = &s.paths_of
        && *shapes != target.manifest.name.value
    {
        return Applicability::NotApplicable(format!(
            "its paths are written in the URL shapes of target `{shapes}`, not `{}`",
            target.manifest.name.value
        ));
    }
    let needed = target.needed_capabilities(s);
    let missing: BTreeSet<Capability> =
        needed.iter().copied().filter(|c| !target.has(*c)).collect();
    if target.can_vary(&missing) {
        return Applicability::Variant(missing);
    }
    let names = |set: &mut dyn Iterator<Item = Capability>| {
        set.map(Capability::name).collect::<Vec<_>>().join(", ")
    };
    if !missing.is_empty() {
        return Applicability::NotApplicable(format!(
            "the target ({} profile) lacks: {}",
            target.profile.name,
            names(&mut missing.into_iter())
        ));
    }
    let absent: Vec<String> = endpoints_used(s)
        .into_iter()
        .filter(|e| target.manifest.endpoints.template(e).is_none())
        .collect();
    if !absent.is_empty() {
        return Applicability::NotApplicable(format!(
            "the target ({} profile) has no endpoint: {}",
            target.profile.name,
            absent.join(", ")
        ));
    }
    if let Some(why) = target.provisioner.unmet_need(&s.fixtures) {
        return Applicability::NotApplicable(format!(
            "the target's declared world cannot meet it: {why}"
        ));
    }
    let stateful_cluster = target.is_harness_cluster()
        || (target.has(Capability::Cluster) && target.has(Capability::Stateful));
    if stateful_cluster
        && ![
            Capability::Stateful,
            Capability::Cluster,
            Capability::ClusterFaults,
        ]
        .iter()
        .any(|c| needed.contains(c))
    {
        // The workers run stateful sessions, under which a request without `mcp-session-id`
        // may be refused: scenarios written for one node with stateless sessions would fail for
        // that alone. They are run against one worker, or one node, instead.
        return Applicability::NotApplicable(
            "written for one node with stateless sessions; the cluster's workers are stateful \
             (run it against one worker, or without --cluster)"
                .to_owned(),
        );
    }
    let mut modes = target
        .capabilities
        .iter()
        .copied()
        .filter(|c| c.is_mode() && !needed.contains(c))
        .peekable();
    if modes.peek().is_some() {
        return Applicability::NotApplicable(format!(
            "written for the default configuration; the target runs in mode: {}",
            names(&mut modes)
        ));
    }
    Applicability::Run
}

/// Every scenario's result, and whether the run deadline cut the run short.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// In the order of the scenarios.
    pub results: Vec<ScenarioResult>,
    /// Set when the run deadline passed before every scenario had finished: says how many it
    /// stopped or left unrun. Such a run has failed, whatever a baseline says.
    pub stopped: Option<String>,
}

/// Run every scenario, `opts.jobs` at a time; `done` is called as each finishes. Results are
/// returned in the order of `scenarios`.
pub async fn run_all(
    target: &Target,
    scenarios: &[Loaded],
    opts: &RunOptions,
    done: &(dyn Fn(&ScenarioResult) + Sync),
) -> Vec<ScenarioResult> {
    run_all_within(target, scenarios, opts, done).await.results
}

/// [`run_all`], saying whether the run deadline (`--run-timeout`) cut it short. Scenarios
/// running when it passes end their steps there (and still clean up); scenarios not started
/// are UNTESTABLE, not run.
pub async fn run_all_within(
    target: &Target,
    scenarios: &[Loaded],
    opts: &RunOptions,
    done: &(dyn Fn(&ScenarioResult) + Sync),
) -> RunOutcome {
    let limits = RunLimits::of(opts, target);
    let run = RunClock {
        deadline: Deadline::new(limits.run_timeout, "--run-timeout"),
        cut: AtomicUsize::new(0),
    };
    let run_ref = &run;
    let mut stream = futures_util::stream::iter(scenarios.iter().enumerate())
        .map(|(i, l)| async move {
            let r = if run_ref.deadline.passed() {
                run_ref.cut_one();
                not_run(target, l, &run_ref.deadline)
            } else {
                scenario_within(target, l, opts, Some(run_ref)).await
            };
            done(&r);
            (i, r)
        })
        .buffer_unordered(opts.jobs.max(1));
    let mut results: Vec<Option<ScenarioResult>> = vec![None; scenarios.len()];
    // Scenarios end their steps at the run deadline and then clean up within CLEANUP_TIME;
    // this only catches what somehow did not (a result is made for each such scenario).
    let net = run.deadline.at + CLEANUP_TIME + Duration::from_secs(30);
    while let Ok(Some((i, r))) = tokio::time::timeout_at(net.into(), stream.next()).await {
        results[i] = Some(r);
    }
    drop(stream);
    let results: Vec<ScenarioResult> = results
        .into_iter()
        .zip(scenarios)
        .map(|(r, l)| {
            r.unwrap_or_else(|| {
                run.cut_one();
                let mut r = not_run(target, l, &run.deadline);
                r.reason = Some(format!(
                    "did not finish: {} passed, and its cleanup did not end",
                    run.deadline.name
                ));
                done(&r);
                r
            })
        })
        .collect();
    let cut = run.cut.into_inner();
    RunOutcome {
        stopped: (cut > 0).then(|| {
            format!(
                "the run deadline passed ({}): {cut} of {} scenario(s) stopped or not run; the \
                 reports hold every result so far",
                run.deadline.name,
                scenarios.len()
            )
        }),
        results,
    }
}

/// The result of a scenario the run deadline left unrun.
fn not_run(target: &Target, loaded: &Loaded, run: &Deadline) -> ScenarioResult {
    let mut r = blank_result(target, loaded);
    r.verdict = Verdict::Untestable;
    r.reason = Some(format!("not run: {} had passed", run.name));
    r
}

/// Run one scenario, on a variant of the target when it needs one.
pub async fn run_scenario(target: &Target, loaded: &Loaded, opts: &RunOptions) -> ScenarioResult {
    scenario_within(target, loaded, opts, None).await
}

/// [`run_scenario`], ending by the run deadline `run` at the latest.
async fn scenario_within(
    target: &Target,
    loaded: &Loaded,
    opts: &RunOptions,
    run: Option<&RunClock>,
) -> ScenarioResult {
    let s = &loaded.scenario;
    let why = match applicability(target, s) {
        Applicability::Run => return run_on(target, loaded, opts, run).await,
        Applicability::NotApplicable(why) => why,
        Applicability::Variant(extra) => match target.variant(&extra).await {
            // The variant has `extra`, so this recursion ends there (Run or NotApplicable).
            Some(Ok(v)) => return Box::pin(scenario_within(&v, loaded, opts, run)).await,
            Some(Err(e)) => {
                let mut r = blank_result(target, loaded);
                r.verdict = Verdict::Untestable;
                r.reason = Some(e.to_string());
                return r;
            }
            None => "no variant of the target has the capabilities it needs".to_owned(),
        },
    };
    let mut r = blank_result(target, loaded);
    r.verdict = Verdict::NotApplicable;
    r.reason = Some(why);
    r
}

/// The result of a scenario before anything ran: PASS with no checks.
fn blank_result(target: &Target, loaded: &Loaded) -> ScenarioResult {
    let s = &loaded.scenario;
    ScenarioResult {
        id: s.id.clone(),
        area: s.id.split('/').next().unwrap_or_default().to_owned(),
        title: s.title.clone(),
        spec: s.spec.clone(),
        level: s.level,
        path: loaded.path.display().to_string(),
        verdict: Verdict::Pass,
        reason: None,
        provisioning_transcript: None,
        checks: Vec::new(),
        cleanup_errors: Vec::new(),
        replay: target.replay_command(&s.id),
        forwards: None,
        duration_ms: 0,
    }
}

/// Run one applicable scenario on exactly this target, by its deadline or the run's `run`.
async fn run_on(
    target: &Target,
    loaded: &Loaded,
    opts: &RunOptions,
    run: Option<&RunClock>,
) -> ScenarioResult {
    let started = Instant::now();
    let s = &loaded.scenario;
    let mut result = blank_result(target, loaded);
    let faults = s.steps.iter().any(|st| st.fault().is_some());
    // Forwards are counted for every scenario that spans workers, and only such scenarios.
    let counts_forwards = target.forward_logs.is_some()
        && (needed_capabilities(s).contains(&Capability::Cluster)
            || s.steps
                .iter()
                .any(|st| st.request().is_some_and(|r| r.expect.forwarded)));
    // In a shared world, what reached an upstream is only this scenario's if it runs alone; the
    // forwards the workers log are only this scenario's if it runs alone.
    let _gate = target
        .gate(faults || counts_forwards || target.provisioner.shared_world())
        .await;
    if let Some(run) = run.filter(|r| r.deadline.passed()) {
        // The wait for the gate outlasted the run.
        run.cut_one();
        return not_run(target, loaded, &run.deadline);
    }
    // The scenario's time starts once it may run: waiting for others is not its doing.
    let limits = RunLimits::of(opts, target);
    let own = Deadline::new(limits.scenario_timeout, "--scenario-timeout");
    let budget = Budget {
        limits,
        deadline: match run {
            Some(run) => own.min(&run.deadline),
            None => own,
        },
    };
    let base = &target.bases[0];
    let mut p = Provisioned::new(
        provision::new_run_id(),
        base,
        target.manifest.endpoints.clone(),
    );
    // Fixtures made before a deadline cuts this short are in `p` and cleaned up below (one
    // whose creation was under way at that moment may remain).
    let provisioned = tokio::time::timeout_at(
        budget.deadline.at.into(),
        target.provisioner.provision(target, &s.fixtures, &mut p),
    )
    .await;
    match provisioned {
        Err(_) => {
            result.verdict = Verdict::Untestable;
            result.reason = Some(format!(
                "the fixtures were not made within {}",
                budget.deadline.name
            ));
        }
        Ok(Err(e)) => {
            result.verdict = Verdict::Untestable;
            result.reason = Some(e.to_string());
            result.provisioning_transcript = e.exchange.map(|b| *b);
        }
        Ok(Ok(())) => {
            let forwards_from = target
                .forward_logs
                .as_ref()
                .filter(|_| counts_forwards)
                .map(|l| l.mark());
            let world = reach::World::of(&s.fixtures, &p, target);
            let mut watched: Option<Watched> = None;
            let no_marks = BTreeMap::new();
            for step in &s.steps {
                // What reached the upstreams since the last step was sent is that step's doing.
                let since = watched.as_ref().map_or(&no_marks, |w| &w.marks);
                let (calls, marks) = reach::calls_since(&p, since).await;
                if let Some(w) = watched.take() {
                    w.judge(&world, &calls, &mut result.checks);
                }
                let mut check = if budget.deadline.passed() {
                    step_not_run(s, step, &budget.deadline)
                } else {
                    step_within(target, s, step, &mut p, opts, &budget, &loaded.path).await
                };
                if let Some(r) = step.request() {
                    watched = judge_reach(&world, s, r, &p, &mut check, result.checks.len(), marks);
                }
                result.checks.push(check);
            }
            if let Some(w) = watched.take() {
                tokio::time::sleep(SETTLE).await;
                let (calls, _) = reach::calls_since(&p, &w.marks).await;
                w.judge(&world, &calls, &mut result.checks);
            }
            result.verdict = ScenarioResult::worst(&result.checks);
            if let (Some(logs), Some(from)) = (&target.forward_logs, &forwards_from) {
                result.forwards = Some(crate::verdict::ForwardTally {
                    requests: result.checks.iter().map(|c| c.attempts as usize).sum(),
                    forwarded: logs.count_since(from),
                });
            }
        }
    }
    // Its work ends by the run deadline: ending after it means the deadline cut it short.
    if let Some(run) = run.filter(|r| r.deadline.passed()) {
        run.cut_one();
    }
    let mut healed = Ok(());
    if faults {
        // Worker 0 (where fixtures are deleted) may be dead: make the cluster whole first.
        healed = target.heal().await;
    }
    result.cleanup_errors = match tokio::time::timeout(
        CLEANUP_TIME,
        target.provisioner.cleanup(target, &mut p),
    )
    .await
    {
        Ok(errors) => errors,
        Err(_) => vec![format!(
            "cleanup did not finish within {}: fixtures of this scenario may remain on the \
                 target",
            secs(CLEANUP_TIME)
        )],
    };
    if let Err(e) = healed {
        result
            .cleanup_errors
            .push(format!("failed to undo the faults: {e}"));
    }
    if faults
        && result.verdict.is_failure()
        && let Some(logs) = target.worker_logs().await
    {
        result.cleanup_errors.push(logs);
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// How long after a scenario's last step its upstreams are read for the `outside-reach-run`
/// invariant: a call a gateway makes after answering (a queue, a retry) still counts.
const SETTLE: Duration = Duration::from_millis(100);

/// A step whose caller has limited reach, waiting for the upstream calls it may have caused.
struct Watched {
    /// Its check among the scenario's.
    index: usize,
    reach: BTreeSet<String>,
    /// Each upstream's count of requests when the step was sent.
    marks: BTreeMap<String, usize>,
}

impl Watched {
    fn judge(self, world: &reach::World, calls: &[reach::Call], checks: &mut [CheckResult]) {
        let broken = world.ran_outside(&self.reach, calls);
        if let Some(check) = checks.get_mut(self.index)
            && !broken.is_empty()
        {
            check.verdict = Verdict::Fail;
            check.messages.extend(broken);
        }
    }
}

/// The reach invariants of a request step that got a response: what it was shown is judged now
/// (FAIL, whatever the step's level: a leak is never a SHOULD); the upstream calls it caused are
/// judged when the next step starts, so it is returned to be watched until then. A waived
/// invariant (`expect.waive`) is not judged.
fn judge_reach(
    world: &reach::World,
    s: &Scenario,
    r: &crate::scenario::RequestStep,
    p: &Provisioned,
    check: &mut CheckResult,
    index: usize,
    marks: BTreeMap<String, usize>,
) -> Option<Watched> {
    let exchange = check.transcript.as_ref()?;
    let resp = exchange.response.as_ref()?;
    let path = subst::render(&r.request.path, p).ok()?;
    let reach = world.reach(&r.request, &s.fixtures, p, &path)?;
    let waived = |name: &str| r.expect.waive.contains_key(name);
    if !waived(reach::SHOWN) {
        let shown = world.shown_outside(&reach, &exchange.request, resp);
        if !shown.is_empty() {
            check.verdict = Verdict::Fail;
            check.messages.extend(shown);
        }
    }
    (!waived(reach::RUN)).then_some(Watched {
        index,
        reach,
        marks,
    })
}

/// Build the wire request of a step, to worker `via` (also how the fuzzer sends its cases, so
/// that a shrunk case written as a scenario replays byte for byte).
pub fn build_request(
    target: &Target,
    via: usize,
    r: &Request,
    p: &Provisioned,
) -> Result<(String, WireRequest), String> {
    // Where several workers share each URL, `via` picks a URL and the URL picks the worker.
    let url = if target.manifest.cluster.behind_one_url() {
        via % target.bases.len().max(1)
    } else {
        via
    };
    let base = target
        .bases
        .get(url)
        .ok_or_else(|| format!("the target has no worker {via}"))?;
    let path = subst::render(&r.path, p)?;
    let mut headers: Vec<(String, Option<String>)> =
        vec![("host".to_owned(), Some(base.authority.clone()))];
    let body = match (&r.json, &r.body) {
        (Some(j), _) => {
            headers.push((
                "content-type".to_owned(),
                Some("application/json".to_owned()),
            ));
            headers.push((
                "accept".to_owned(),
                Some("application/json, text/event-stream".to_owned()),
            ));
            Bytes::from(subst::render_json(j, p)?.to_string())
        }
        (None, Some(b)) => Bytes::from(subst::render(b, p)?),
        (None, None) => Bytes::new(),
    };
    if let Some(t) = &r.token {
        let secret = p.lookup(&["tokens", t])?;
        // An empty secret is a principal of a gateway without authentication: no credential.
        if !secret.is_empty() {
            let (name, value) = target.credential_header(&secret);
            headers.push((name, Some(value)));
        }
    }
    for (name, value) in &r.headers {
        let value = value.as_ref().map(|v| subst::render(v, p)).transpose()?;
        match headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => *slot = (name.clone(), value),
            None => headers.push((name.clone(), value)),
        }
    }
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let has_length = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    let wants_length = !body.is_empty() || matches!(r.method.as_str(), "POST" | "PUT" | "PATCH");
    if !has_length && wants_length {
        headers.push(("content-length".to_owned(), body.len().to_string()));
    }
    Ok((
        base.authority.clone(),
        WireRequest {
            method: r.method.clone(),
            target: if r.absolute_form {
                format!("http://{}{}{path}", base.authority, base.root)
            } else {
                format!("{}{path}", base.root)
            },
            headers,
            body,
        },
    ))
}

/// The body as JSON: plain JSON, or the last JSON `data:` event of an SSE stream.
pub fn body_json(resp: &WireResponse) -> Option<Value> {
    if !resp.is_event_stream() {
        return serde_json::from_slice(&resp.body).ok();
    }
    let text = resp.text();
    let mut last = None;
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(v) = serde_json::from_str::<Value>(&data) {
                last = Some(v);
            }
            data.clear();
        }
    }
    last
}

/// Whether a response refuses the request: an HTTP 4xx, or a 2xx whose JSON-RPC answer (the
/// body, or the last SSE event) is an `error` with no `result`.
pub fn is_refusal(resp: &WireResponse) -> bool {
    if (400..500).contains(&resp.status) {
        return true;
    }
    if !(200..300).contains(&resp.status) {
        return false;
    }
    body_json(resp).is_some_and(|j| j.get("error").is_some() && j.get("result").is_none())
}

fn render_matcher(m: &Matcher, p: &Provisioned) -> Result<Matcher, String> {
    m.map_strings(&mut |s| subst::render(s, p).map(Value::String))
}

/// The check of a step with nothing yet found.
fn blank_check(s: &Scenario, step: &Step) -> CheckResult {
    CheckResult {
        id: format!("{}:{}", s.id, step.name),
        name: step.name.clone(),
        level: step.level.unwrap_or(s.level),
        verdict: Verdict::Pass,
        messages: Vec::new(),
        transcript: None,
        upstream: Vec::new(),
        attempts: 0,
    }
}

/// The check of a step a deadline left unrun: the scenario failed to finish.
fn step_not_run(s: &Scenario, step: &Step, deadline: &Deadline) -> CheckResult {
    let mut check = blank_check(s, step);
    check.verdict = Verdict::Fail;
    check
        .messages
        .push(format!("not run: {} had passed", deadline.name));
    check
}

/// Run a step by the scenario's deadline. Its requests end by then on their own (their
/// deadlines are cut to what is left); this also ends the waits between them (`wait_ms`,
/// retries, faults) a little after.
async fn step_within(
    target: &Target,
    s: &Scenario,
    step: &Step,
    p: &mut Provisioned,
    opts: &RunOptions,
    budget: &Budget,
    path: &std::path::Path,
) -> CheckResult {
    let net = budget.deadline.at + Duration::from_secs(1);
    let ran =
        tokio::time::timeout_at(net.into(), run_step(target, s, step, p, opts, budget, path)).await;
    ran.unwrap_or_else(|_| {
        let mut check = blank_check(s, step);
        check.verdict = Verdict::Fail;
        check.messages.push(format!(
            "stopped: {} passed during this step",
            budget.deadline.name
        ));
        check
    })
}

async fn run_step(
    target: &Target,
    s: &Scenario,
    step: &Step,
    p: &mut Provisioned,
    opts: &RunOptions,
    budget: &Budget,
    path: &std::path::Path,
) -> CheckResult {
    let mut check = blank_check(s, step);
    let level = check.level;
    // Past the fault and the pause, the step is a request step.
    let step = match &step.action {
        Action::Fault(f) => {
            match target.fault(*f).await {
                Ok(done) => check.messages.push(done),
                Err(e) => {
                    // The fault could not be caused: nothing about the target was learnt.
                    check.verdict = Verdict::Untestable;
                    check.messages.push(format!("failed to cause {f:?}: {e}"));
                }
            }
            return check;
        }
        Action::Wait(pause) => {
            tokio::time::sleep(*pause).await;
            return check;
        }
        Action::Request(r) => r,
    };
    let mut seen_before = upstream_counts(step, p).await;
    let forward_mark = target.forward_logs.as_ref().map(|l| l.mark());
    let deadline = Instant::now() + step.retry_for.unwrap_or_default();
    let mut attempts = 0u32;
    // Behind one URL the worker is not chosen: a step that expects a forward is sent again
    // until one shows (a DELETE only once: a second one would find no session).
    let sends = if step.expect.forwarded && !step.request.method.eq_ignore_ascii_case("DELETE") {
        target.manifest.cluster.sends_per_forwarded_step()
    } else {
        1
    };
    let mut held = 0u32;
    let (exchange, hit, mut messages) = loop {
        attempts += 1;
        let (authority, req) = match build_request(target, step.via, &step.request, p) {
            Ok(r) => r,
            Err(e) => {
                check.verdict = Verdict::broken(level);
                check
                    .messages
                    .push(format!("cannot build the request: {e}"));
                return check;
            }
        };
        let mut limits = budget.request();
        limits.stream_wait = step.request.stream_ms.map(Duration::from);
        let (exchange, hit) = client::send_within(&authority, req, &limits).await;
        let mut messages = Vec::new();
        check.upstream.clear();
        match (&exchange.response, &exchange.error) {
            // Cut at a limit: what came is not judged, the limit is the finding.
            (_, Some(e)) if hit.is_some() => messages.push(e.clone()),
            (None, e) => messages.push(format!("no response: {}", e.clone().unwrap_or_default())),
            (Some(_), Some(e)) => messages.push(format!("incomplete response: {e}")),
            (Some(resp), None) => {
                evaluate(&step.expect, resp, p, &mut messages);
                for (i, (key, up)) in step.expect.upstream.iter().enumerate() {
                    let all = p.received(key).await.unwrap_or_default();
                    let new: Vec<Received> = all.into_iter().skip(seen_before[i]).collect();
                    check_upstream(key, up, &new, p, &mut messages);
                    check.upstream.push((key.clone(), new));
                }
            }
        }
        if messages.is_empty() && hit.is_none() {
            held += 1;
            let forwarded = || {
                target
                    .forward_logs
                    .as_ref()
                    .zip(forward_mark.as_ref())
                    .is_some_and(|(l, m)| l.count_since(m) > 0)
            };
            if held < sends && !forwarded() {
                seen_before = upstream_counts(step, p).await;
                continue;
            }
            break (exchange, hit, messages);
        }
        if held > 0 {
            messages.push(format!(
                "on send {} of up to {sends} (the workers behind one URL; the earlier sends held)",
                held + 1
            ));
        }
        // A limit is not a state the target grows out of: no retry. Nor is an answer other than
        // the unsettled one the step retries while.
        let unsettled = match (&step.retry_while, &exchange.response) {
            (None, _) => true,
            (Some(w), Some(resp)) => {
                let mut differs = Vec::new();
                evaluate(w, resp, p, &mut differs);
                differs.is_empty()
            }
            (Some(_), None) => false,
        };
        if hit.is_some() || held > 0 || !unsettled || Instant::now() >= deadline {
            break (exchange, hit, messages);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Some(retry) = step.retry_for
        && !messages.is_empty()
    {
        messages.push(format!(
            "still not as expected after {attempts} attempt(s) in {} ms (retry_for_ms)",
            retry.as_millis()
        ));
    }
    match (&exchange.response, &exchange.error) {
        (None, _) | (_, Some(_)) => {}
        (Some(resp), None) => {
            // A reply the step's expectations refused is never compared with (or written as)
            // a snapshot: it would store what a baseline lists as wrong, and that entry would
            // never go stale when the gateway is fixed.
            if let (Some(name), Some(store), true) =
                (&step.expect.snapshot, &opts.snapshots, messages.is_empty())
            {
                let value = snapshot::redacted_response(resp, &p.redactions());
                if let Err(e) = store.check(&s.id, &check.name, name, path, &value) {
                    messages.push(e);
                }
            }
            for (name, from) in &step.save {
                match save_value(from, resp) {
                    Some(v) => {
                        p.saved.insert(name.clone(), v);
                    }
                    None => messages.push(format!(
                        "cannot save `{name}`: the response has no {}",
                        match from {
                            SaveFrom::Header(h) => format!("header `{h}`"),
                            SaveFrom::Pointer(p) => format!("JSON value at `{p}`"),
                            SaveFrom::EventId(_) => "SSE event with an `id`".to_owned(),
                        }
                    )),
                }
            }
        }
    }
    if !messages.is_empty() {
        // Over a limit the target is not merely off the spec: the step could not be judged.
        check.verdict = if hit.is_some() {
            Verdict::Fail
        } else {
            Verdict::broken(level)
        };
    } else if step.expect.forwarded
        && let Some(why) = not_forwarded(target, forward_mark.as_ref(), attempts)
    {
        check.verdict = Verdict::Untestable;
        messages.push(why);
    }
    check.messages = messages;
    check.transcript = Some(exchange);
    check.attempts = attempts;
    check
}

/// Why a step that expects its request to be forwarded, and whose expectations held, learnt
/// nothing about forwarding: no forward shows in the workers' logs since `mark`, or the target
/// gives no way to see one. `None`: at least one forward was seen.
fn not_forwarded(
    target: &Target,
    mark: Option<&crate::forwards::Marks>,
    sent: u32,
) -> Option<String> {
    let (Some(logs), Some(mark)) = (&target.forward_logs, mark) else {
        return Some(
            "its request was to be forwarded to the session's owner, and nothing shows whether \
             it was: the target's manifest declares no `cluster.forwards` (the workers' logs and \
             the line of a forward)"
                .to_owned(),
        );
    };
    (logs.count_since(mark) == 0).then(|| {
        format!(
            "its request ({sent} send(s)) was answered without being forwarded: no line matching \
             `{}` was added to {}; the answers held, but nothing about forwarding was tested",
            logs.pattern(),
            logs.files()
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// How many requests each upstream of the step's `expect.upstream` has received so far.
async fn upstream_counts(step: &crate::scenario::RequestStep, p: &Provisioned) -> Vec<usize> {
    let mut counts = Vec::new();
    for key in step.expect.upstream.keys() {
        counts.push(p.received(key).await.map(|r| r.len()).unwrap_or(0));
    }
    counts
}

fn save_value(from: &SaveFrom, resp: &WireResponse) -> Option<String> {
    match from {
        SaveFrom::Header(h) => resp.header(h),
        SaveFrom::Pointer(ptr) => body_json(resp)?.pointer(ptr).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        SaveFrom::EventId(WhichEvent::Last) => last_event_id(resp),
    }
}

/// The `id` of the last event of an SSE response that has one (`None` for a body that is not
/// an event stream). An `id` field with a NUL is ignored, as SSE parsing ignores it.
pub fn last_event_id(resp: &WireResponse) -> Option<String> {
    if !resp.is_event_stream() {
        return None;
    }
    resp.text()
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.strip_prefix(' ').unwrap_or(v))
        .find(|v| !v.contains('\0'))
        .map(str::to_owned)
}

/// Compare a response with the step's expectations; push one message per broken expectation.
fn evaluate(e: &Expect, resp: &WireResponse, p: &Provisioned, out: &mut Vec<String>) {
    if let Some(want) = e.refused {
        let refused = is_refusal(resp);
        if refused != want {
            out.push(if want {
                format!(
                    "refused: expected a refusal (HTTP 4xx, or a JSON-RPC error without a result), \
                     got HTTP {}{}",
                    resp.status,
                    if (200..300).contains(&resp.status) {
                        " with a result"
                    } else {
                        ""
                    }
                )
            } else {
                format!("refused: expected no refusal, got HTTP {}", resp.status)
            });
        }
    }
    let mut check = |what: &str, m: &Matcher, actual: Option<&Value>| match render_matcher(m, p) {
        Err(err) => out.push(format!("{what}: {err}")),
        Ok(m) => {
            if let Err(mm) = m.check(actual) {
                out.push(format!("{what}: {mm}"));
            }
        }
    };
    if let Some(m) = &e.status {
        check("status", m, Some(&Value::from(resp.status)));
    }
    for (name, m) in &e.headers {
        let v = resp.header(name).map(Value::String);
        check(&format!("header {name}"), m, v.as_ref());
    }
    if let Some(m) = &e.body {
        check("body", m, Some(&Value::String(resp.text())));
    }
    if e.json.is_some() || !e.pointers.is_empty() {
        match body_json(resp) {
            None => out.push(format!(
                "body: expected JSON, got {:?}",
                resp.text().chars().take(200).collect::<String>()
            )),
            Some(j) => {
                if let Some(m) = &e.json {
                    check("json", m, Some(&j));
                }
                for (ptr, m) in &e.pointers {
                    check(&format!("pointer {ptr}"), m, j.pointer(ptr));
                }
            }
        }
    }
}

fn check_upstream(
    key: &str,
    up: &crate::scenario::UpstreamExpect,
    received: &[Received],
    p: &Provisioned,
    out: &mut Vec<String>,
) {
    let is_rest = p.rest_echoes.contains_key(key);
    let params = match up.params.as_ref().map(|m| render_matcher(m, p)).transpose() {
        Ok(m) => m,
        Err(e) => {
            out.push(format!("upstream {key}: {e}"));
            return;
        }
    };
    let selected: Vec<&Received> = received
        .iter()
        .filter(|r| {
            let (method, body_params) = if is_rest {
                (Some(r.http_method.as_str()), Some(&r.body))
            } else {
                (
                    r.body.get("method").and_then(Value::as_str),
                    r.body.get("params"),
                )
            };
            up.method.as_deref().is_none_or(|m| method == Some(m))
                && params.as_ref().is_none_or(|m| m.check(body_params).is_ok())
        })
        .collect();
    let what = match &up.method {
        Some(m) => format!("upstream {key} {m}"),
        None => format!("upstream {key}"),
    };
    let count = up.count.clone().unwrap_or_else(|| {
        serde_json::from_value(serde_json::json!({"$gte": 1})).expect("static matcher")
    });
    if let Err(mm) = count.check(Some(&Value::from(selected.len()))) {
        let methods: Vec<String> = received
            .iter()
            .map(|r| {
                if is_rest {
                    r.http_method.clone()
                } else {
                    r.body
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                }
            })
            .collect();
        out.push(format!(
            "{what}: number of matching requests: {mm} (received during the step: [{}])",
            methods.join(", ")
        ));
    }
    for text in &up.never_carries {
        let text = match subst::render(text, p) {
            // An empty text is in everything and means nothing (a principal without a secret).
            Ok(t) if t.is_empty() => continue,
            Ok(t) => t,
            Err(e) => {
                out.push(format!("{what}: {e}"));
                continue;
            }
        };
        // Every request, not only the selected ones: a leak in any of them is a leak.
        for (i, r) in received.iter().enumerate() {
            let in_headers = r.headers.iter().find(|(_, v)| v.contains(&text));
            let in_body = r.body.to_string().contains(&text);
            if let Some((h, _)) = in_headers {
                out.push(format!(
                    "{what}: request {} carried a forbidden text in header `{h}`",
                    i + 1
                ));
            } else if in_body {
                out.push(format!(
                    "{what}: request {} carried a forbidden text in its body",
                    i + 1
                ));
            }
        }
    }
    for r in &selected {
        for (h, m) in &up.headers {
            let m = match render_matcher(m, p) {
                Ok(m) => m,
                Err(e) => {
                    out.push(format!("{what}: {e}"));
                    continue;
                }
            };
            let v = r.header(h).map(Value::String);
            if let Err(mm) = m.check(v.as_ref()) {
                out.push(format!("{what}: header {h}: {mm}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    #[test]
    fn the_last_event_id_of_an_event_stream_is_saved() {
        let resp = |ct: &str, body: &str| WireResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), ct.to_owned())],
            body: Bytes::from(body.to_owned()),
        };
        let last = SaveFrom::EventId(WhichEvent::Last);
        let stream = "id: 7\nevent: message\ndata: {}\n\nid:8\ndata: {}\n\n: keep-alive\n\n";
        assert_eq!(
            save_value(&last, &resp("text/event-stream", stream)).as_deref(),
            Some("8")
        );
        // An id with a NUL is ignored (SSE), the one before counts.
        let nul = "id: 1\ndata: x\n\nid: 2\0\ndata: y\n\n";
        assert_eq!(
            save_value(&last, &resp("text/event-stream", nul)).as_deref(),
            Some("1")
        );
        assert_eq!(
            save_value(&last, &resp("text/event-stream", "data: x\n\n")),
            None
        );
        assert_eq!(
            save_value(&last, &resp("application/json", "id: 3\n")),
            None
        );
    }

    #[test]
    fn each_limit_comes_from_the_caller_else_the_manifest_else_the_default() {
        let n = |v| NonZeroU64::new(v);
        let manifest = Limits {
            max_response_bytes: n(1024),
            request_timeout_ms: n(2500),
            scenario_timeout_ms: None,
            run_timeout_s: n(60),
        };
        let given = Limits {
            max_response_bytes: n(4096),
            scenario_timeout_ms: n(7000),
            ..Limits::default()
        };
        assert_eq!(
            RunLimits::resolve(&given, &manifest),
            RunLimits {
                max_response_bytes: 4096,
                request_timeout: Duration::from_millis(2500),
                scenario_timeout: Duration::from_secs(7),
                run_timeout: Duration::from_secs(60),
            }
        );
        assert_eq!(
            RunLimits::resolve(&Limits::default(), &Limits::default()),
            RunLimits::DEFAULT
        );
        assert_eq!(RunLimits::DEFAULT.max_response_bytes, 16 * 1024 * 1024);
    }

    #[test]
    fn a_request_gets_what_is_left_of_the_scenario_named_as_its_limit() {
        let budget = |left: Duration| Budget {
            limits: RunLimits::DEFAULT,
            deadline: Deadline {
                at: Instant::now() + left,
                name: "--scenario-timeout 120 s".to_owned(),
            },
        };
        let r = budget(Duration::from_secs(100)).request();
        assert_eq!(
            (r.deadline, r.deadline_name.as_str()),
            (Duration::from_secs(15), "--timeout 15 s")
        );
        let r = budget(Duration::from_secs(5)).request();
        assert!(r.deadline <= Duration::from_secs(5));
        assert_eq!(r.deadline_name, "--scenario-timeout 120 s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5 s");
        // A length too large to add is as good as none, not a panic.
        assert!(!Deadline::new(Duration::MAX, "--run-timeout").passed());
    }
}
