//! The search: generate cases with proptest, send each to the target, check the invariants,
//! and shrink a failure to a minimal request. Invariants the caller already knows to fail on
//! the target (a baseline) are counted, not shrunk; with `keep_going`, every other invariant
//! broken gets its own shrunk finding, otherwise the first one ends the search.
//!
//! The loop drives proptest's value trees itself (`new_tree`, then `simplify`/`complicate` as
//! proptest's own runner does) instead of calling `TestRunner::run`, so that every case is an
//! ordinary `await` on the caller's runtime (the in-process reference serves on the same one)
//! and progress can be reported as it goes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::client::{self, Exchange};
use crate::runner;
use crate::target::Target;

use super::case::{self, Body, Case};
use super::invariants::{self, Invariant, Sent, UpstreamCall, Violation};
use super::observe;
use super::world::{World, WorldView};

/// How to search.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub cases: u32,
    pub seed: u64,
    /// Per request.
    pub timeout: Duration,
    /// Shrinking stops after this many attempts...
    pub max_shrink_iters: u32,
    /// ... or after this long, whichever comes first.
    pub max_shrink_time: Duration,
    /// Invariants known to fail on the target: counted, never shrunk or reported as found.
    pub known: BTreeSet<Invariant>,
    /// Go on after a finding (each invariant is found once); otherwise stop at the first.
    pub keep_going: bool,
    /// Cases sent at once (a failure counts only if it holds when its case is sent alone).
    pub jobs: usize,
}

/// What the search reports as it goes.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A request was answered (`status: None`: no response), during the search or shrinking.
    Sent {
        method: &'a str,
        target: &'a str,
        status: Option<u16>,
    },
    /// A case passed (or was skipped); `done` of the run's total.
    Case { done: u32 },
    /// A case failed; shrinking starts.
    Failed {
        case_index: u32,
        violation: &'a Violation,
    },
    /// One shrinking attempt; `failing` when it still failed.
    Shrink { step: u32, failing: bool },
    /// Tools of the world (`<upstream>.<tool>`) the gateway does not offer: the campaign goes
    /// on without them.
    Unoffered { tools: &'a [String] },
    /// A fault was caused (`Ok`: what was done) before case `before_case`.
    Fault {
        before_case: u32,
        outcome: &'a Result<String, String>,
    },
}

/// A failure, shrunk.
#[derive(Debug, Clone)]
pub struct Found {
    /// 1-based index of the generated case that failed first.
    pub case_index: u32,
    /// What the first failing case broke (before shrinking).
    pub first: Violation,
    pub case: Case,
    pub violation: Violation,
    /// The minimal case's exchange (tokens in it are usable: shorten before showing).
    pub exchange: Exchange,
    /// The token fixture the case's caller used.
    pub token: Option<crate::scenario::TokenFixture>,
    pub shrink_steps: u32,
    /// Whether sending the minimal case once more failed again.
    pub reproduced: bool,
    /// The worker the minimal case was sent to.
    pub via: usize,
    /// The worker killed before it was sent (the sessions' owner), if any.
    pub killed: Option<usize>,
}

/// How a search ended.
#[derive(Debug)]
pub struct Report {
    pub cases_run: u32,
    /// Cases whose caller could not be given a token (e.g. the admin API refused its scopes).
    pub skipped: u32,
    /// Times the fixtures were made again (after a request that may have changed them).
    pub rebuilds: u32,
    pub elapsed: Duration,
    /// How many responses had each status (`None`: no response), over generated cases.
    pub statuses: BTreeMap<Option<u16>, u32>,
    /// New failures, one per invariant, in the order found.
    pub found: Vec<Found>,
    /// The same, of a campaign of sequences (`fuzz --sequences`).
    pub sequences: Vec<super::sequence_run::SequenceFound>,
    /// Cases that broke each invariant (known ones included, and found ones after the first).
    pub broken: BTreeMap<Invariant, u32>,
    /// Fixtures that could not be deleted at the end.
    pub cleanup_errors: Vec<String>,
    /// Whether the target resolves server names (the world's view).
    pub name_resolution: bool,
    /// Whether the fixture server A was OAuth-enabled.
    pub oauth: bool,
    /// The world the campaign ran on (what a regression scenario declares).
    pub fixtures: crate::scenario::Fixtures,
    /// The sessions opened before the campaign.
    pub sessions: Vec<super::sessions::SessionPlan>,
    /// The worker killed mid-campaign and the case before which it was, on a cluster the
    /// harness started.
    pub killed: Option<(usize, u32)>,
    /// Failures (of cases sent together, or on a kept-alive connection) that did not hold
    /// when their case was sent again alone on a new connection.
    pub unconfirmed: u32,
}

/// Why the search could not run.
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    #[error("failed to provision the fuzz fixtures: {0}")]
    Provision(#[from] crate::provision::ProvisionError),
    #[error("failed to build a request from case {case:?}: {reason}")]
    Render { case: Box<Case>, reason: String },
    #[error("failed to generate a case: {0}")]
    Generate(String),
}

/// A 32-byte ChaCha seed from a `u64`: the same `--seed` always generates the same cases.
pub(super) fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let word =
            seed.rotate_left(16 * i as u32) ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1));
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// How long an SSE response (a `GET` stream, which stays open by design) is read before its
/// first events are judged: every case is one request, and a stream must not hold the campaign
/// for the whole request deadline.
const STREAM_WAIT: Duration = Duration::from_millis(300);

/// When the harness's upstreams have logged this many requests, the world is made again, so
/// reading their logs stays cheap.
const UPSTREAM_LOG_LIMIT: usize = 300;

/// The outcome of sending one case.
enum Outcome {
    /// Passed, with the response status (`None`: no response).
    Pass(Option<u16>),
    Skip,
    /// Broke these invariants (never empty).
    Fail(Vec<Violation>, Option<u16>, Box<Exchange>),
}

/// Everything the loop keeps between cases.
struct Search<'a> {
    target: &'a Target,
    progress: &'a (dyn Fn(Event<'_>) + Sync),
    world: Option<World>,
    timeout: Duration,
    rebuilds: u32,
    skipped: u32,
    /// Whether the fixtures can be made again (not a declared world).
    rebuildable: bool,
    /// How many workers the target has.
    workers: usize,
    /// The worker killed mid-campaign: cases meant for it go to the next one.
    dead: Option<usize>,
    /// Failures that did not hold when their case was sent again alone on a new connection.
    unconfirmed: u32,
    /// Keep-alive connections to the workers.
    pool: client::Pool,
}

impl Search<'_> {
    fn world(&mut self) -> &mut World {
        self.world
            .as_mut()
            .expect("the world exists while the search runs")
    }

    /// The worker a case meant for `via` is sent to: the next one while `via` is dead.
    fn live(&self, via: usize) -> usize {
        if self.dead == Some(via) {
            (via + 1) % self.workers.max(1)
        } else {
            via
        }
    }

    /// The worker sessions are opened on: the last, so that on a cluster the others forward
    /// to it (and, once it is killed, must take its sessions over).
    fn session_worker(&self) -> usize {
        self.live(self.workers.saturating_sub(1))
    }

    async fn rebuild(&mut self) -> Result<(), FuzzError> {
        if let Some(old) = self.world.take() {
            old.tear_down(self.target).await;
        }
        self.world = Some(World::build(self.target, self.session_worker()).await?);
        self.rebuilds += 1;
        Ok(())
    }

    /// Make the case's token (on first use) and render its request; `None`: the target would
    /// not make the caller's token (the case is skipped).
    async fn prepare(&mut self, case: &Case) -> Result<Option<Prepared>, FuzzError> {
        let target = self.target;
        let Ok(token) = self.world().token_for(target, &case.caller).await else {
            self.skipped += 1;
            return Ok(None);
        };
        let via = self.live(case.via);
        let (authority, request) =
            runner::build_request(target, via, &case.request(token), &self.world().provisioned)
                .map_err(|reason| FuzzError::Render {
                    case: Box::new(case.clone()),
                    reason,
                })?;
        Ok(Some(Prepared {
            via,
            authority,
            request,
        }))
    }

    fn limits(&self) -> client::RequestLimits {
        client::RequestLimits {
            stream_wait: Some(STREAM_WAIT),
            ..client::RequestLimits::new(self.timeout)
        }
    }

    /// Send one case alone and check it.
    async fn run(&mut self, case: &Case, connection: Connection) -> Result<Outcome, FuzzError> {
        let Some(prepared) = self.prepare(case).await? else {
            return Ok(Outcome::Skip);
        };
        let watch = may_run_a_tool(case);
        let settle = watch && matches!(connection, Connection::Alone);
        if settle {
            tokio::time::sleep(SETTLE).await;
        }
        let before = if watch {
            observe::log_lengths(self.world()).await
        } else {
            Vec::new()
        };
        let via = prepared.via;
        let pool = match connection {
            Connection::Pooled => Some(&self.pool),
            Connection::Fresh | Connection::Alone => None,
        };
        let exchange = send(prepared, &self.limits(), pool).await;
        if settle {
            tokio::time::sleep(SETTLE).await;
        }
        let (calls, longest_log) = if watch {
            self.calls_since(&before).await
        } else {
            (Vec::new(), 0)
        };
        let (outcome, change) = self.judge(case, via, exchange, calls);
        self.settle(change, longest_log).await?;
        Ok(outcome)
    }

    /// Send one case alone on a kept-alive connection; a failure counts only if it holds on a
    /// connection of its own (as the written scenario is replayed).
    async fn run_confirmed(&mut self, case: &Case) -> Result<Outcome, FuzzError> {
        let outcome = self.run(case, Connection::Pooled).await?;
        if !matches!(outcome, Outcome::Fail(..)) {
            return Ok(outcome);
        }
        let alone = self.run(case, Connection::Alone).await?;
        if !matches!(alone, Outcome::Fail(..)) {
            self.unconfirmed += 1;
        }
        Ok(alone)
    }

    /// Send `cases` at once (each to its worker) and check each; a case that fails is sent
    /// again alone, and only a failure that holds alone counts: cases sent together may meet
    /// each other's effects (an upstream call of one seen during another), which is not the
    /// gateway's fault. Cases that may change what others meet (`DELETE`, `PUT`: a fixture, a
    /// session) are sent afterwards, one at a time, so that no failure is confirmed in a world
    /// a batch-mate changed. Returns an outcome per case, in order.
    async fn run_together(&mut self, cases: &[Case]) -> Result<Vec<Outcome>, FuzzError> {
        let (quiet, writes): (Vec<usize>, Vec<usize>) =
            (0..cases.len()).partition(|i| !matches!(cases[*i].method, "DELETE" | "PUT"));
        let mut outcomes: Vec<Option<Outcome>> = (0..cases.len()).map(|_| None).collect();
        if quiet.len() == 1 {
            outcomes[quiet[0]] = Some(self.run_confirmed(&cases[quiet[0]]).await?);
        } else if !quiet.is_empty() {
            let batch: Vec<&Case> = quiet.iter().map(|i| &cases[*i]).collect();
            for (i, outcome) in quiet.iter().zip(self.send_together(&batch).await?) {
                outcomes[*i] = Some(outcome);
            }
        }
        for i in writes {
            outcomes[i] = Some(self.run(&cases[i], Connection::Fresh).await?);
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skip))
            .collect())
    }

    /// [`Search::run_together`]'s batch of cases that change nothing for one another.
    async fn send_together(&mut self, cases: &[&Case]) -> Result<Vec<Outcome>, FuzzError> {
        let mut prepared = Vec::with_capacity(cases.len());
        for case in cases {
            prepared.push(self.prepare(case).await?);
        }
        let watch = cases.iter().any(|c| may_run_a_tool(c));
        let before = if watch {
            observe::log_lengths(self.world()).await
        } else {
            Vec::new()
        };
        let limits = self.limits();
        let pool = &self.pool;
        let exchanges = futures_util::future::join_all(prepared.into_iter().map(|p| {
            let limits = &limits;
            async move {
                match p {
                    Some(p) => Some((p.via, send(p, limits, Some(pool)).await)),
                    None => None,
                }
            }
        }))
        .await;
        let (calls, longest_log) = if watch {
            self.calls_since(&before).await
        } else {
            (Vec::new(), 0)
        };
        let mut outcomes = Vec::with_capacity(cases.len());
        let mut change = Change::None;
        // The bodies of the batch's cases that may run a tool, as sent.
        let bodies: Vec<String> = cases
            .iter()
            .zip(&exchanges)
            .map(|(case, sent)| match sent {
                Some((_, ex)) if may_run_a_tool(case) => {
                    String::from_utf8_lossy(&ex.request.body).into_owned()
                }
                _ => String::new(),
            })
            .collect();
        for (i, (case, sent)) in cases.iter().zip(exchanges).enumerate() {
            let Some((via, exchange)) = sent else {
                outcomes.push(Outcome::Skip);
                continue;
            };
            // Every call the upstreams received meanwhile is laid at each tool case's door,
            // but for those only a batch-mate asked for by name; a failure it causes is
            // checked alone below.
            let calls = if may_run_a_tool(case) {
                observe::calls_of(&calls, &bodies, i, &self.world().view)
            } else {
                Vec::new()
            };
            let (outcome, this) = self.judge(case, via, exchange, calls);
            change = change.max(this);
            outcomes.push(outcome);
        }
        // Failures are confirmed before the world is made again: in the world they met, on
        // a connection of their own, as the written scenario will be replayed.
        for (case, outcome) in cases.iter().zip(outcomes.iter_mut()) {
            if matches!(outcome, Outcome::Fail(..)) {
                *outcome = match self.run(case, Connection::Alone).await? {
                    Outcome::Fail(v, status, ex) => Outcome::Fail(v, status, ex),
                    alone => {
                        self.unconfirmed += 1;
                        alone
                    }
                };
            }
        }
        self.settle(change, longest_log).await?;
        Ok(outcomes)
    }

    /// The `tools/call` requests the upstreams received since `before` was read, and the
    /// longest log now.
    async fn calls_since(&mut self, before: &[usize]) -> (Vec<UpstreamCall>, usize) {
        observe::calls_since(self.world(), before).await
    }

    /// Make the world again when a request may have changed it, or when the upstreams' logs
    /// grew long.
    async fn settle(&mut self, change: Change, longest_log: usize) -> Result<(), FuzzError> {
        // A declared world cannot be made again (and the generator sends it nothing that
        // writes); it is only re-read, to keep reading the upstreams' logs cheap.
        if (change == Change::Fixtures && self.rebuildable) || longest_log > UPSTREAM_LOG_LIMIT {
            self.rebuild().await?;
        } else if change >= Change::Session {
            // Only the sessions: open them again (on a worker still alive).
            let (target, via) = (self.target, self.session_worker());
            self.world().open_sessions(target, via).await;
        }
        Ok(())
    }

    /// Check one exchange; also says what the request may have changed.
    fn judge(
        &self,
        case: &Case,
        via: usize,
        exchange: Exchange,
        calls: Vec<UpstreamCall>,
    ) -> (Outcome, Change) {
        let target = self.target;
        let world = self
            .world
            .as_ref()
            .expect("the world exists while the search runs");
        let path = observe::path_of(target, via, &exchange);
        let observed = observe::observed(&exchange, calls);
        let sent = Sent {
            method: case.method,
            path,
            body: &exchange.request.body,
            caller: &case.caller,
            origin: observe::sent_header(&exchange, "origin"),
            session: observe::sent_header(&exchange, "mcp-session-id"),
            forged_hop: target
                .manifest
                .hop_headers
                .keys()
                .any(|h| observe::sent_header(&exchange, h).is_some()),
            headers: &exchange.request.headers,
        };
        let mut broken = invariants::check(&sent, observed.as_ref(), &world.view);
        observe::explain_no_response(&mut broken, &exchange, observed.is_some());
        (self.progress)(Event::Sent {
            method: case.method,
            target: &exchange.request.target,
            status: observed.as_ref().map(|o| o.status),
        });
        let change = match observed.as_ref() {
            Some(o) if may_have_written(case.method, path, o.status) => Change::Fixtures,
            Some(o) if ends_a_session(case.method, o.status, sent.session, &world.view) => {
                Change::Session
            }
            _ => Change::None,
        };
        let status = observed.map(|o| o.status);
        let outcome = if broken.is_empty() {
            Outcome::Pass(status)
        } else {
            Outcome::Fail(broken, status, Box::new(exchange))
        };
        (outcome, change)
    }
}

/// A case's request, rendered for the worker it goes to.
struct Prepared {
    via: usize,
    authority: String,
    request: client::WireRequest,
}

/// How a case's request reaches the gateway.
#[derive(Debug, Clone, Copy)]
enum Connection {
    /// A keep-alive connection of the campaign's pool, when hyper can send the request.
    Pooled,
    /// A connection of its own, as a scenario's replay sends it.
    Fresh,
    /// A connection of its own, and the upstreams given [`SETTLE`] before the request (calls an
    /// earlier case caused land first, not on this one) and after its answer (a call the
    /// gateway makes after answering is still this case's): how failures are confirmed and
    /// shrunk, so that what is written does not lean on an earlier request.
    Alone,
}

/// How long a case sent [`Connection::Alone`] leaves the upstreams before and after it.
const SETTLE: Duration = Duration::from_millis(100);

/// Send a rendered request within the campaign's limits (on `pool`'s connections when given);
/// a response cut short (a limit, a broken connection) is no response to judge.
async fn send(
    p: Prepared,
    limits: &client::RequestLimits,
    pool: Option<&client::Pool>,
) -> Exchange {
    let (mut exchange, _) = match pool {
        Some(pool) => pool.send(&p.authority, p.request, limits).await,
        None => client::send_within(&p.authority, p.request, limits).await,
    };
    if exchange.error.is_some() {
        exchange.response = None;
    }
    exchange
}

/// Whether a case names a tool to run (only then are the upstreams' logs read).
fn may_run_a_tool(case: &Case) -> bool {
    let names_a_call = |text: &str| text.contains("tools/call") || text.contains("${tools.");
    match &case.body {
        Some(Body::Json(v)) => names_a_call(&v.to_string()),
        Some(Body::Raw(text)) => names_a_call(text),
        None => false,
    }
}

/// What a request may have changed, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    None,
    /// One of the campaign's live sessions may have ended: they are opened again, or every
    /// later case on them (and the owner's kill on a cluster) would meet an unknown session.
    Session,
    /// The fixtures: the world is made again.
    Fixtures,
}

/// Whether a response says the request may have changed the fixtures (a successful write
/// outside `/rpc` and the MCP endpoints, e.g. `DELETE /servers/{id}`).
fn may_have_written(method: &str, path: &str, status: u16) -> bool {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let trimmed = path.trim_end_matches('/');
    let transport = trimmed.ends_with("/rpc") || trimmed.ends_with("/mcp");
    method != "GET" && (200..300).contains(&status) && !transport
}

/// Whether a successful `DELETE` named one of the campaign's live sessions.
fn ends_a_session(method: &str, status: u16, session: Option<&str>, view: &WorldView) -> bool {
    method == "DELETE"
        && (200..300).contains(&status)
        && session.is_some_and(|id| view.sessions.iter().any(|s| s.id == id && !s.ended))
}

/// Run the search against `target`.
pub async fn fuzz(
    target: &Target,
    opts: &FuzzOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Report, FuzzError> {
    let started = Instant::now();
    let workers = target.bases.len();
    let world = World::build(target, workers.saturating_sub(1)).await?;
    let name_resolution = world.view.name_resolution;
    let fixtures = world.fixtures.clone();
    let sessions = world.sessions.clone();
    let oauth = target.has(crate::scenario::Capability::Oauth);
    let mut search = Search {
        target,
        progress,
        world: Some(world),
        timeout: opts.timeout,
        rebuilds: 0,
        skipped: 0,
        rebuildable: target.provisioner.declared_fixtures().is_none(),
        workers,
        dead: None,
        unconfirmed: 0,
        pool: client::Pool::new(),
    };
    // On a cluster the harness started, the sessions' owner is killed half-way: the second
    // half checks that its sessions are taken over, with their scope (C-AFF-07).
    let kill_at = (target.has(crate::scenario::Capability::ClusterFaults) && workers > 1)
        .then(|| opts.cases / 2 + 1);
    let mut killed = None;
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng(opts.seed));
    let vocabulary = search.world().vocabulary(target);
    let unoffered = search.world().unoffered_tools();
    if !unoffered.is_empty() {
        progress(Event::Unoffered { tools: &unoffered });
    }
    let strategy = case::case(&vocabulary);
    let mut found: Vec<Found> = Vec::new();
    let mut broken: BTreeMap<Invariant, u32> = BTreeMap::new();
    let mut cases_run = 0;
    let mut statuses = BTreeMap::new();
    let result = async {
        let jobs = u32::try_from(opts.jobs.max(1)).unwrap_or(u32::MAX);
        let mut index = 1;
        'campaign: while index <= opts.cases {
            if kill_at == Some(index) {
                let owner = search.session_worker();
                let outcome = target
                    .fault(crate::scenario::Fault::KillWorker(owner))
                    .await;
                progress(Event::Fault {
                    before_case: index,
                    outcome: &outcome,
                });
                if outcome.is_ok() {
                    search.dead = Some(owner);
                    killed = Some((owner, index));
                }
            }
            // The next `jobs` cases, sent together; a batch never spans the kill.
            let mut last = index.saturating_add(jobs - 1).min(opts.cases);
            if let Some(k) = kill_at.filter(|k| *k > index) {
                last = last.min(k - 1);
            }
            let mut trees = Vec::new();
            for _ in index..=last {
                trees.push(
                    strategy
                        .new_tree(&mut runner)
                        .map_err(|e| FuzzError::Generate(e.to_string()))?,
                );
            }
            let cases: Vec<Case> = trees.iter().map(ValueTree::current).collect();
            let outcomes = search.run_together(&cases).await?;
            for ((i, mut tree), (case, outcome)) in (index..=last)
                .zip(trees)
                .zip(cases.into_iter().zip(outcomes))
            {
                cases_run = i;
                if let Outcome::Fail(violations, status, exchange) = outcome {
                    for v in &violations {
                        *broken.entry(v.invariant).or_default() += 1;
                    }
                    let fresh = violations.into_iter().find(|v| {
                        !opts.known.contains(&v.invariant)
                            && !found.iter().any(|f| f.first.invariant == v.invariant)
                    });
                    match fresh {
                        None => *statuses.entry(status).or_default() += 1,
                        Some(violation) => {
                            progress(Event::Failed {
                                case_index: i,
                                violation: &violation,
                            });
                            let f = shrink(
                                &mut search,
                                &mut tree,
                                i,
                                case,
                                violation,
                                *exchange,
                                opts,
                                progress,
                            )
                            .await?;
                            found.push(*f);
                            if !opts.keep_going {
                                break 'campaign;
                            }
                        }
                    }
                } else if let Outcome::Pass(status) = outcome {
                    *statuses.entry(status).or_default() += 1;
                }
                progress(Event::Case { done: i });
            }
            index = last + 1;
        }
        Ok::<(), FuzzError>(())
    }
    .await;
    let mut cleanup_errors = match search.world.take() {
        Some(w) => w.tear_down(target).await,
        None => Vec::new(),
    };
    if killed.is_some()
        && let Err(e) = target.heal().await
    {
        cleanup_errors.push(format!("the killed worker did not start again: {e}"));
    }
    result?;
    Ok(Report {
        cases_run,
        skipped: search.skipped,
        rebuilds: search.rebuilds,
        elapsed: started.elapsed(),
        statuses,
        found,
        sequences: Vec::new(),
        broken,
        cleanup_errors,
        name_resolution,
        oauth,
        fixtures,
        sessions,
        killed,
        unconfirmed: search.unconfirmed,
    })
}

/// Shrink a failing case as proptest's runner does: simplify while it fails, complicate when a
/// simplification passes, until neither is possible or the budget is spent.
#[allow(clippy::too_many_arguments)]
async fn shrink<T: ValueTree<Value = Case>>(
    search: &mut Search<'_>,
    tree: &mut T,
    case_index: u32,
    case: Case,
    violation: Violation,
    exchange: Exchange,
    opts: &FuzzOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Box<Found>, FuzzError> {
    let first = violation.clone();
    let aim = violation.invariant;
    // The same invariant broken again, if it was.
    let breaks_aim = |outcome: Outcome| match outcome {
        Outcome::Fail(vs, _, ex) => vs.into_iter().find(|v| v.invariant == aim).map(|v| (v, ex)),
        Outcome::Pass(_) | Outcome::Skip => None,
    };
    let mut best = (case, violation, exchange);
    let mut steps = 0;
    if tree.simplify() {
        let started = Instant::now();
        while steps < opts.max_shrink_iters && started.elapsed() < opts.max_shrink_time {
            steps += 1;
            let candidate = tree.current();
            let failing = match breaks_aim(search.run(&candidate, Connection::Alone).await?) {
                Some((v, ex)) => {
                    best = (candidate, v, *ex);
                    true
                }
                None => false,
            };
            progress(Event::Shrink {
                step: steps,
                failing,
            });
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
    let (case, mut violation, exchange) = best;
    // Once more, to tell a reproducible failure from a flaky one.
    let reproduced = breaks_aim(search.run(&case, Connection::Alone).await?).is_some();
    // Details name this run's fixtures; written into a scenario they should read the same
    // on every run (`[tools.ua.alpha.name]`). A declared world's names are the same on every
    // run already (and often plain words).
    let mut first = first;
    let redactions = if search.rebuildable {
        search.world().provisioned.redactions()
    } else {
        Vec::new()
    };
    for (value, placeholder) in redactions {
        violation.detail = violation.detail.replace(&value, &placeholder);
        first.detail = first.detail.replace(&value, &placeholder);
    }
    Ok(Box::new(Found {
        case_index,
        first,
        token: case.caller.token_fixture(),
        via: search.live(case.via),
        killed: search.dead,
        case,
        violation,
        exchange,
        shrink_steps: steps,
        reproduced,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::world::SessionView;
    use super::*;

    #[test]
    fn the_seed_decides_the_cases() {
        let gen_cases = |seed| {
            let mut runner = TestRunner::new_with_rng(Config::default(), rng(seed));
            (0..20)
                .map(|_| {
                    case::case(&case::Vocabulary::contextforge_default())
                        .new_tree(&mut runner)
                        .unwrap()
                        .current()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(gen_cases(7), gen_cases(7));
        assert_ne!(gen_cases(7), gen_cases(8));
    }

    #[test]
    fn writes_outside_the_transports_rebuild() {
        assert!(may_have_written("DELETE", "/servers/abc", 200));
        assert!(!may_have_written("DELETE", "/servers/abc", 404));
        assert!(!may_have_written("POST", "/servers/abc/mcp/", 200));
        assert!(!may_have_written("GET", "/servers/abc", 200));
    }

    #[test]
    fn a_live_session_ended_is_opened_again() {
        let session = |id: &str, ended| SessionView {
            key: id.to_owned(),
            id: id.to_owned(),
            server: Some("A".to_owned()),
            ended,
            owner: super::super::world::ADMIN_USER,
        };
        let view = WorldView {
            sessions: vec![session("live", false), session("gone", true)],
            ..WorldView::default()
        };
        assert!(ends_a_session("DELETE", 200, Some("live"), &view));
        assert!(!ends_a_session("DELETE", 404, Some("live"), &view));
        assert!(!ends_a_session("DELETE", 200, Some("gone"), &view));
        assert!(!ends_a_session("DELETE", 200, Some("other"), &view));
        assert!(!ends_a_session("POST", 200, Some("live"), &view));
    }
}
