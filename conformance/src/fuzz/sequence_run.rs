//! The search over sequences (`fuzz --sequences`): generate [`Sequence`]s, send each step by
//! step on the world of [`super::world::sequence_fixtures`], check every answer against the
//! invariants (with the sessions the sequence opened so far, and the secrets its steps sent),
//! and shrink a failing sequence to the shortest one that still breaks the same invariant.
//!
//! Sequences run one at a time (a step's upstream calls and a session's state are its own), each
//! step on a connection of its own, as the written scenario replays them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};

use crate::client::{self, Exchange};
use crate::runner;
use crate::scenario::{Request, SaveFrom};
use crate::target::Target;

use super::case::{Caller, Vocabulary};
use super::engine::{Event, FuzzError, FuzzOptions, Report};
use super::invariants::{self, Invariant, Sent, UpstreamCall, Violation};
use super::observe;
use super::sequence::{self, SAVED_PREFIX, Sequence, Tracker};
use super::world::{self, World};

/// How long an answer that is an event stream is read (a `GET` stream stays open by design).
const STREAM_WAIT: Duration = Duration::from_millis(sequence::STREAM_MS);

/// When the harness's upstreams have logged this many requests, the world is made again.
const UPSTREAM_LOG_LIMIT: usize = 300;

/// A step as it was sent: what a written scenario's step is made of.
#[derive(Debug, Clone)]
pub struct SentStep {
    pub name: String,
    pub description: String,
    /// The request as a template; its token is set by the writer from `caller`.
    pub request: Request,
    pub caller: Caller,
    pub via: usize,
    /// What the step saved from its answer (a session id, the last event id).
    pub save: BTreeMap<String, SaveFrom>,
}

/// A request a step sent, as rendered: an answer to the same caller may repeat it.
struct Echo {
    caller: Caller,
    path: String,
    body: String,
}

/// A failing sequence, shrunk.
#[derive(Debug, Clone)]
pub struct SequenceFound {
    /// 1-based index of the generated sequence that failed first.
    pub case_index: u32,
    pub first: Violation,
    pub sequence: Sequence,
    /// The minimal sequence's steps as sent (steps that could not be sent are left out).
    pub sent: Vec<SentStep>,
    /// The index in `sent` of the step that broke the invariant (the last one).
    pub failing: usize,
    pub violation: Violation,
    /// The failing step's exchange (tokens in it are usable: shorten before showing).
    pub exchange: Exchange,
    pub shrink_steps: u32,
    /// Whether running the minimal sequence once more failed again.
    pub reproduced: bool,
}

/// One run of a sequence: its steps as sent, and the first step that broke invariants.
struct Run {
    sent: Vec<SentStep>,
    failure: Option<(Vec<Violation>, Exchange)>,
    statuses: Vec<Option<u16>>,
}

impl Run {
    fn breaks(&self, aim: Invariant) -> Option<&Violation> {
        let (vs, _) = self.failure.as_ref()?;
        vs.iter().find(|v| v.invariant == aim)
    }
}

struct SequenceSearch<'a> {
    target: &'a Target,
    progress: &'a (dyn Fn(Event<'_>) + Sync),
    world: Option<World>,
    vocabulary: Vocabulary,
    timeout: Duration,
    rebuilds: u32,
    /// Steps not sent: the target would not make the caller's token, or the step needs what
    /// the sequence had not got (a session, an event id).
    skipped: u32,
    /// Runs so far: each run's secrets carry its number.
    runs: u64,
}

impl SequenceSearch<'_> {
    fn world(&mut self) -> &mut World {
        self.world
            .as_mut()
            .expect("the world exists while the search runs")
    }

    async fn rebuild(&mut self) -> Result<(), FuzzError> {
        if let Some(old) = self.world.take() {
            old.tear_down(self.target).await;
        }
        let fixtures = world::sequence_fixtures(self.target);
        self.world = Some(World::build_from(self.target, fixtures).await?);
        self.rebuilds += 1;
        Ok(())
    }

    fn limits(&self) -> client::RequestLimits {
        client::RequestLimits {
            stream_wait: Some(STREAM_WAIT),
            ..client::RequestLimits::new(self.timeout)
        }
    }

    /// Send `seq` step by step until a step breaks an invariant.
    async fn run(&mut self, seq: &Sequence) -> Result<Run, FuzzError> {
        self.runs += 1;
        let target = self.target;
        let mut tracker = Tracker::new(self.runs);
        self.world()
            .provisioned
            .saved
            .retain(|k, _| !k.starts_with(SAVED_PREFIX));
        let mut run = Run {
            sent: Vec::new(),
            failure: None,
            statuses: Vec::new(),
        };
        let mut longest_log = 0;
        let mut echoes: Vec<Echo> = Vec::new();
        for (i, step) in seq.steps.iter().enumerate() {
            let Ok(token) = self.world().token_for(target, &step.caller).await else {
                self.skipped += 1;
                continue;
            };
            let Some(rendered) = tracker.render(i, step, token, &self.vocabulary) else {
                self.skipped += 1;
                continue;
            };
            let via = step.via.min(target.bases.len().saturating_sub(1));
            let Ok((authority, request)) =
                runner::build_request(target, via, &rendered.request, &self.world().provisioned)
            else {
                self.skipped += 1;
                continue;
            };
            let watch = sequence::runs_a_tool(step);
            let before = if watch {
                observe::log_lengths(self.world()).await
            } else {
                Vec::new()
            };
            let (mut exchange, _) = client::send_within(&authority, request, &self.limits()).await;
            if exchange.error.is_some() {
                exchange.response = None;
            }
            let calls = if watch {
                let (calls, longest) = observe::calls_since(self.world(), &before).await;
                longest_log = longest_log.max(longest);
                calls
            } else {
                Vec::new()
            };
            let status = exchange.response.as_ref().map(|r| r.status);
            run.statuses.push(status);
            (self.progress)(Event::Sent {
                method: &exchange.request.method,
                target: &exchange.request.target,
                status,
            });
            let broken = self.judge(step, via, &exchange, calls, &tracker, &echoes);
            echoes.push(Echo {
                caller: step.caller.clone(),
                path: exchange.request.target.clone(),
                body: String::from_utf8_lossy(&exchange.request.body).into_owned(),
            });
            // What the answer gave the sequence: a session, an event id, a session ended.
            let header = exchange
                .response
                .as_ref()
                .and_then(|r| r.header("mcp-session-id"));
            let event = exchange.response.as_ref().and_then(runner::last_event_id);
            let save = tracker.record(step, &rendered, status, header.is_some(), event.is_some());
            let saved = &mut self.world().provisioned.saved;
            for (key, from) in &save {
                let value = match from {
                    SaveFrom::Header(_) => header.clone(),
                    _ => event.clone(),
                };
                if let Some(v) = value {
                    saved.insert(key.clone(), v);
                }
            }
            run.sent.push(SentStep {
                name: rendered.name,
                description: sequence::describe(step),
                request: rendered.request,
                caller: step.caller.clone(),
                via,
                save,
            });
            if !broken.is_empty() {
                run.failure = Some((broken, exchange));
                break;
            }
        }
        if longest_log > UPSTREAM_LOG_LIMIT {
            self.rebuild().await?;
        }
        Ok(run)
    }

    /// Every invariant one step's answer breaks, with the sessions the sequence opened so far.
    fn judge(
        &self,
        step: &sequence::Step,
        via: usize,
        exchange: &Exchange,
        calls: Vec<UpstreamCall>,
        tracker: &Tracker,
        earlier: &[Echo],
    ) -> Vec<Violation> {
        let world = self
            .world
            .as_ref()
            .expect("the world exists while the search runs");
        let path = observe::path_of(self.target, via, exchange);
        let observed = observe::observed(exchange, calls);
        let session = observe::sent_header(exchange, "mcp-session-id");
        let sent = Sent {
            method: &exchange.request.method,
            path,
            body: &exchange.request.body,
            caller: &step.caller,
            origin: None,
            session,
            forged_hop: false,
            headers: &exchange.request.headers,
        };
        let mut view = world.view.clone();
        view.sessions = tracker.sessions(&world.provisioned.saved);
        // What this caller sent earlier in the sequence, which an answer may repeat.
        let echoed: String = earlier
            .iter()
            .filter(|s| s.caller == step.caller)
            .map(|s| format!("{} {}\n", s.path, s.body))
            .collect();
        let mut broken = invariants::check_echoing(&sent, observed.as_ref(), &view, &echoed);
        observe::explain_no_response(&mut broken, exchange, observed.is_some());
        if let Some(obs) = &observed
            && let Some(v) = invariants::data_of_others(&step.caller, obs, &tracker.planted, &view)
        {
            broken.push(v);
        }
        broken
    }
}

/// Run the search over sequences against `target`.
pub async fn fuzz_sequences(
    target: &Target,
    opts: &FuzzOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Report, FuzzError> {
    let started = Instant::now();
    let world = World::build_from(target, world::sequence_fixtures(target)).await?;
    let name_resolution = world.view.name_resolution;
    let fixtures = world.fixtures.clone();
    let oauth = target.has(crate::scenario::Capability::Oauth);
    let mut vocabulary = world.vocabulary(target);
    let unoffered = world.unoffered_tools();
    if !unoffered.is_empty() {
        progress(Event::Unoffered { tools: &unoffered });
    }
    // The second user is sent wherever there is one: the sequences open the sessions it may
    // cross (the single-request campaign offers it only beside its own sessions).
    vocabulary.other_user = matches!(vocabulary.callers, super::case::Callers::Minted)
        && world.fixtures.users.contains_key(super::case::OTHER_USER);
    let mut search = SequenceSearch {
        target,
        progress,
        world: Some(world),
        vocabulary,
        timeout: opts.timeout,
        rebuilds: 0,
        skipped: 0,
        runs: 0,
    };
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, super::engine::rng(opts.seed));
    let strategy = sequence::sequence(&search.vocabulary);
    let mut found: Vec<SequenceFound> = Vec::new();
    let mut broken: BTreeMap<Invariant, u32> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    let mut cases_run = 0;
    let result = async {
        for index in 1..=opts.cases {
            let mut tree = strategy
                .new_tree(&mut runner)
                .map_err(|e| FuzzError::Generate(e.to_string()))?;
            let seq = tree.current();
            let run = search.run(&seq).await?;
            cases_run = index;
            for s in &run.statuses {
                *statuses.entry(*s).or_default() += 1;
            }
            if let Some((violations, _)) = &run.failure {
                for v in violations {
                    *broken.entry(v.invariant).or_default() += 1;
                }
                let fresh = violations.iter().find(|v| {
                    !opts.known.contains(&v.invariant)
                        && !found.iter().any(|f| f.first.invariant == v.invariant)
                });
                if let Some(violation) = fresh.cloned() {
                    progress(Event::Failed {
                        case_index: index,
                        violation: &violation,
                    });
                    let f =
                        shrink(&mut search, &mut tree, index, seq, violation, run, opts).await?;
                    found.push(f);
                    if !opts.keep_going {
                        break;
                    }
                }
            }
            progress(Event::Case { done: index });
        }
        Ok::<(), FuzzError>(())
    }
    .await;
    let cleanup_errors = match search.world.take() {
        Some(w) => w.tear_down(target).await,
        None => Vec::new(),
    };
    result?;
    Ok(Report {
        cases_run,
        skipped: search.skipped,
        rebuilds: search.rebuilds,
        elapsed: started.elapsed(),
        statuses,
        found: Vec::new(),
        sequences: found,
        broken,
        cleanup_errors,
        name_resolution,
        oauth,
        fixtures,
        sessions: Vec::new(),
        killed: None,
        unconfirmed: 0,
    })
}

/// Shrink a failing sequence as proptest's runner does: simplify while it fails, complicate
/// when a simplification passes, until neither is possible or the budget is spent.
async fn shrink<T: ValueTree<Value = Sequence>>(
    search: &mut SequenceSearch<'_>,
    tree: &mut T,
    case_index: u32,
    seq: Sequence,
    violation: Violation,
    run: Run,
    opts: &FuzzOptions,
) -> Result<SequenceFound, FuzzError> {
    let aim = violation.invariant;
    let first = violation;
    let mut best = (seq, run);
    let mut steps = 0;
    if tree.simplify() {
        let started = Instant::now();
        while steps < opts.max_shrink_iters && started.elapsed() < opts.max_shrink_time {
            steps += 1;
            let candidate = tree.current();
            let run = search.run(&candidate).await?;
            let failing = run.breaks(aim).is_some();
            (search.progress)(Event::Shrink {
                step: steps,
                failing,
            });
            if failing {
                best = (candidate, run);
            }
            let moved = if failing {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !moved {
                break;
            }
        }
    }
    let (sequence, run) = best;
    let reproduced = search.run(&sequence).await?.breaks(aim).is_some();
    let mut violation = run.breaks(aim).cloned().unwrap_or_else(|| first.clone());
    let (_, exchange) = run
        .failure
        .expect("the best run is a failing one: the first run failed");
    let mut first = first;
    // Details name this run's fixtures; a written scenario reads the same on every run.
    let redactions = if search.target.provisioner.declared_fixtures().is_none() {
        search.world().provisioned.redactions()
    } else {
        Vec::new()
    };
    for (value, placeholder) in redactions {
        violation.detail = violation.detail.replace(&value, &placeholder);
        first.detail = first.detail.replace(&value, &placeholder);
    }
    let failing = run.sent.len().saturating_sub(1);
    Ok(SequenceFound {
        case_index,
        first,
        sequence,
        sent: run.sent,
        failing,
        violation,
        exchange,
        shrink_steps: steps,
        reproduced,
    })
}
