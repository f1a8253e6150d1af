//! The I/O half of fidelity: the fidelity fixture is started and given a route through the
//! gateway (the target's own provisioning, as `run` makes fixtures), each feature's conversation
//! is held once directly with the fixture and once through the gateway, and the pure comparison
//! (`super::compare`) judges each step. The result is one scenario per feature, one check per
//! step, and the feature table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::compare::{self, Allowed, Difference, Outcome};
use super::conversation::{Feature, MAX_PAGES, Step, named_item, timed};
use super::overhead::{self, Overhead};
use super::session::{Answer, Conversation, Endpoint};
use super::table::{FeatureRow, FeatureTable};
use crate::provision::{self, Provisioned};
use crate::report::transcript_text;
use crate::scenario::{Fixtures, Level};
use crate::target::Target;
use crate::verdict::{CheckResult, ScenarioResult, Verdict};

/// The upstream's key in the fixtures, and the server that fronts it.
const UPSTREAM: &str = "fid";
const SERVER: &str = "S";
const TOKEN: &str = "T";

/// What a fidelity run produced.
#[derive(Debug)]
pub struct FidelityRun {
    /// One per feature (`fidelity/<feature id>`), one check per step.
    pub results: Vec<ScenarioResult>,
    pub table: FeatureTable,
}

/// Why a fidelity run could not start.
#[derive(Debug, thiserror::Error)]
pub enum FidelityError {
    #[error("failed to set up the fidelity fixture on the target: {0}")]
    Provision(String),
}

/// The fixtures: the fidelity upstream, one server offering all of it, and a credential.
fn fixtures() -> Fixtures {
    let served = crate::scenario::UpstreamFixture {
        fidelity: true,
        ..Default::default()
    }
    .served();
    let refs = |v: &[(String, String)]| -> Vec<String> {
        v.iter().map(|(n, _)| format!("{UPSTREAM}.{n}")).collect()
    };
    let f = json!({
        "upstreams": {UPSTREAM: {"fidelity": true}},
        "servers": {SERVER: {
            "tools": refs(&served.tools),
            "resources": refs(&served.resources),
            "prompts": refs(&served.prompts),
        }},
        // The administrator's credential (or a principal reaching every server): what every
        // gateway has, configured from a file or not.
        "tokens": {TOKEN: {}},
    });
    // The literal above is the format's own shape; it cannot fail to parse.
    serde_json::from_value(f).unwrap_or_default()
}

/// The gateway's name of each provisioned item -> the upstream's.
fn gateway_names(p: &Provisioned) -> BTreeMap<String, String> {
    let prefix = format!("{UPSTREAM}.");
    p.tools
        .iter()
        .chain(&p.prompts)
        .chain(&p.resources)
        .filter_map(|(k, e)| Some((e.name.clone(), k.strip_prefix(&prefix)?.to_owned())))
        .collect()
}

/// A step as sent through the gateway: the item it names under the gateway's name.
fn through_params(step: &Step, upstream_to_gateway: &BTreeMap<String, String>) -> Value {
    let mut params = step.params.clone();
    if let Some(at) = named_item(step)
        && let Some(Value::String(name)) = params.pointer_mut(at)
        && let Some(g) = upstream_to_gateway.get(name.as_str())
    {
        *name = g.clone();
    }
    params
}

/// One step's answers on one side: the response (pages joined) and the notifications.
#[derive(Debug, Default)]
struct Side {
    response: Option<Value>,
    notifications: Vec<Value>,
    failure: Option<String>,
}

/// Hold one step: a request, or a list followed page by page. Ids are the step's own, the same
/// on both sides, so a gateway that changes them shows it.
async fn hold(c: &mut Conversation, step: &Step, params: Value, first_id: u64) -> Side {
    let mut pages = Vec::new();
    let mut notifications = Vec::new();
    let mut params = params;
    for page in 0..MAX_PAGES as u64 {
        let Answer {
            response,
            notifications: n,
            failure,
            ..
        } = c
            .request(json!(first_id + page), step.method, params.clone())
            .await;
        notifications.extend(n);
        let Some(response) = response else {
            return Side {
                response: (!pages.is_empty()).then(|| compare::join_pages(&pages)),
                notifications,
                failure,
            };
        };
        let next = response
            .pointer("/result/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        pages.push(response);
        match next {
            Some(cursor) if step.paginated => params["cursor"] = json!(cursor),
            _ => break,
        }
    }
    let response = if step.paginated {
        compare::join_pages(&pages)
    } else {
        pages.pop().unwrap_or(Value::Null)
    };
    Side {
        response: Some(response),
        notifications,
        failure: None,
    }
}

/// What one feature's conversation on one side produced.
struct Held {
    steps: Vec<Side>,
    transcript: String,
    session_id: Option<String>,
    failure: Option<String>,
}

async fn converse(
    endpoint: &Endpoint,
    feature: &Feature,
    names: Option<&BTreeMap<String, String>>,
    timeout: Duration,
) -> Held {
    let (mut c, failure) = Conversation::open(endpoint.clone(), timeout).await;
    let mut steps = Vec::new();
    if failure.is_none() {
        for (i, step) in feature.steps.iter().enumerate() {
            let params = match names {
                Some(n) => through_params(step, n),
                None => step.params.clone(),
            };
            steps.push(hold(&mut c, step, params, 100 * (i as u64 + 1)).await);
        }
    }
    let session_id = c.session_id().map(str::to_owned);
    c.close().await;
    let transcript = c
        .exchanges
        .iter()
        .map(transcript_text)
        .collect::<Vec<_>>()
        .join("\n");
    Held {
        steps,
        transcript,
        session_id,
        failure,
    }
}

/// Compare one step: its response and its notifications, normalised.
fn compare_step(direct: &Side, through: &Side, allowed: &Allowed) -> Vec<Difference> {
    let norm = |v: &Value, t| compare::normalise(v, t, allowed);
    let d = direct.response.as_ref().map(|v| norm(v, false));
    let t = through.response.as_ref().map(|v| norm(v, true));
    let mut out = compare::diff("response", d.as_ref(), t.as_ref());
    let nd: Vec<Value> = direct
        .notifications
        .iter()
        .map(|v| norm(v, false))
        .collect();
    let nt: Vec<Value> = through
        .notifications
        .iter()
        .map(|v| norm(v, true))
        .collect();
    let (nd, nt) = (
        compare::keyed_notifications(&nd),
        compare::keyed_notifications(&nt),
    );
    out.extend(compare::diff("notifications", Some(&nd), Some(&nt)));
    out
}

/// Everything a feature needs from the run.
struct Context<'a> {
    direct: &'a Endpoint,
    through: &'a Endpoint,
    names: &'a BTreeMap<String, String>,
    upstream_to_gateway: BTreeMap<String, String>,
    manifest: &'a crate::manifest::Fidelity,
    timeout: Duration,
    replay: String,
}

/// A probe's feature: one check, its findings as messages.
async fn run_probe(
    cx: &Context<'_>,
    feature: &Feature,
    probe: super::probe::Probe,
) -> (Vec<CheckResult>, Verdict, FeatureRow) {
    let gateway_name = |n: &str| {
        cx.upstream_to_gateway
            .get(n)
            .cloned()
            .unwrap_or_else(|| n.to_owned())
    };
    let (echo, die) = (gateway_name("fid-echo-meta"), gateway_name("fid-die"));
    let probed = super::probe::run(probe, cx.direct, cx.through, (&echo, &die), cx.timeout).await;
    let declared = cx.manifest.unsupported.iter().any(|u| u == feature.id);
    let j = probed.judged;
    let verdict = if declared && j.verdict != Verdict::Untestable {
        Verdict::NotApplicable
    } else {
        j.verdict
    };
    let outcome = if declared {
        Outcome::NotSupported
    } else {
        j.outcome
    };
    let check = CheckResult {
        id: format!("fidelity/{}:probe", feature.id),
        name: "probe".to_owned(),
        level: Level::Must,
        verdict,
        messages: j.findings.clone(),
        transcript: None,
        upstream: Vec::new(),
        attempts: 0,
    };
    let findings = if verdict == Verdict::Pass {
        Vec::new()
    } else {
        j.findings
    };
    let row = row_of(
        feature,
        (outcome, verdict),
        findings,
        probed.direct,
        probed.through,
    );
    (vec![check], verdict, row)
}

async fn run_feature(cx: &Context<'_>, feature: &Feature) -> (ScenarioResult, FeatureRow) {
    let started = Instant::now();
    if let Some(probe) = feature.probe {
        let (checks, verdict, row) = run_probe(cx, feature, probe).await;
        return (result_of(cx, feature, checks, verdict, started), row);
    }
    let direct = converse(cx.direct, feature, None, cx.timeout).await;
    let through = converse(
        cx.through,
        feature,
        Some(&cx.upstream_to_gateway),
        cx.timeout,
    )
    .await;
    let allowed = Allowed {
        names: cx.names.clone(),
        added_meta: cx.manifest.added_meta.clone(),
        session_id: through
            .session_id
            .clone()
            .filter(|_| cx.manifest.own_session_ids),
    };
    let declared = cx.manifest.unsupported.iter().any(|u| u == feature.id);
    let id = format!("fidelity/{}", feature.id);
    let mut checks = Vec::new();
    let mut all = Vec::new();
    let mut unsupported = declared;
    for (i, step) in feature.steps.iter().enumerate() {
        let name = super::step_name(i, step);
        let (d, t) = (direct.steps.get(i), through.steps.get(i));
        let step_unsupported = match (d, t) {
            (Some(d), Some(t)) => {
                compare::says_unsupported(d.response.as_ref(), t.response.as_ref())
            }
            _ => false,
        };
        unsupported |= step_unsupported;
        let differences = match (d, t) {
            (Some(d), Some(t)) => compare_step(d, t, &allowed),
            _ => Vec::new(),
        };
        let seen = compare::StepSeen {
            direct_failure: direct
                .failure
                .as_deref()
                .or(d.and_then(|d| d.failure.as_deref())),
            through_failure: through
                .failure
                .as_deref()
                .or(t.and_then(|t| t.failure.as_deref())),
            direct_response: d.and_then(|d| d.response.as_ref()),
            unsupported: step_unsupported,
            declared_unsupported: declared,
        };
        let (verdict, messages, differences) = compare::judge_step(&name, seen, differences);
        all.extend(differences);
        checks.push(CheckResult {
            id: format!("{id}:{name}"),
            name,
            level: Level::Must,
            verdict,
            messages,
            transcript: None,
            upstream: Vec::new(),
            attempts: 0,
        });
    }
    let outcome = if unsupported {
        Outcome::NotSupported
    } else {
        Outcome::of(&all)
    };
    let verdict = if checks.iter().any(|c| c.verdict == Verdict::Untestable) {
        Verdict::Untestable
    } else if unsupported {
        outcome.verdict(declared)
    } else {
        ScenarioResult::worst(&checks)
    };
    let differences = all.iter().map(ToString::to_string).collect();
    let row = row_of(
        feature,
        (outcome, verdict),
        differences,
        direct.transcript,
        through.transcript,
    );
    (result_of(cx, feature, checks, verdict, started), row)
}

/// A feature's row of the table.
fn row_of(
    feature: &Feature,
    (outcome, verdict): (Outcome, Verdict),
    differences: Vec<String>,
    direct: String,
    through: String,
) -> FeatureRow {
    FeatureRow {
        id: feature.id.to_owned(),
        title: feature.title.to_owned(),
        spec: feature.spec.to_owned(),
        outcome,
        verdict,
        differences,
        direct,
        through,
    }
}

/// A feature's result: one scenario, its checks.
fn result_of(
    cx: &Context<'_>,
    feature: &Feature,
    checks: Vec<CheckResult>,
    verdict: Verdict,
    started: Instant,
) -> ScenarioResult {
    ScenarioResult {
        id: format!("fidelity/{}", feature.id),
        area: "fidelity".to_owned(),
        title: feature.title.to_owned(),
        spec: vec![feature.spec.to_owned()],
        level: Level::Must,
        path: String::new(),
        verdict,
        reason: None,
        provisioning_transcript: None,
        checks,
        cleanup_errors: Vec::new(),
        replay: format!("{} --feature {}", cx.replay, feature.id),
        forwards: None,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// How a fidelity run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bounds each request.
    pub timeout: Duration,
    /// Times each timed request is sent on each side for the latency the gateway adds (0: not
    /// measured).
    pub samples: usize,
    /// The command line that runs this again (each feature's replay adds `--feature`).
    pub replay: String,
}

/// Run `features` against `target`: the fixture made through its provisioning, each feature's
/// conversation held directly and through it, then the latency measured.
pub async fn run(
    target: &Target,
    features: &[Feature],
    opts: &Options,
) -> Result<FidelityRun, FidelityError> {
    let fixtures = fixtures();
    let base = &target.bases[0];
    let mut p = Provisioned::new(
        provision::new_run_id(),
        base,
        target.manifest.endpoints.clone(),
    );
    let made = target
        .provisioner
        .provision(target, &fixtures, &mut p)
        .await;
    let outcome = match made {
        Ok(()) => held(target, &p, features, opts).await,
        Err(e) => Err(FidelityError::Provision(e.to_string())),
    };
    // Whatever happened, what was made is undone; what could not be is said.
    for e in target.provisioner.cleanup(target, &mut p).await {
        eprintln!("mcpgw-conformance fidelity: cleanup: {e}");
    }
    outcome
}

async fn held(
    target: &Target,
    p: &Provisioned,
    features: &[Feature],
    opts: &Options,
) -> Result<FidelityRun, FidelityError> {
    use crate::scenario::subst::Lookup;
    let direct_url = p
        .upstreams
        .get(UPSTREAM)
        .map(|u| u.url.clone())
        .ok_or_else(|| FidelityError::Provision("the fidelity upstream was not started".into()))?;
    if direct_url.starts_with("stdio:") {
        return Err(FidelityError::Provision(
            "the fidelity upstream is launched over stdio by the gateway; declare it with \
             `transport: http` and a port, so the harness can also reach it directly"
                .to_owned(),
        ));
    }
    let direct = Endpoint::parse(&direct_url, Vec::new()).map_err(FidelityError::Provision)?;
    let path = p
        .lookup(&["servers", SERVER, "mcp"])
        .map_err(FidelityError::Provision)?;
    let secret = p
        .lookup(&["tokens", TOKEN])
        .map_err(FidelityError::Provision)?;
    let base = &target.bases[0];
    let through = Endpoint {
        authority: base.authority.clone(),
        path: format!("{}{path}", base.root),
        headers: vec![target.credential_header(&secret)],
    };
    let names = gateway_names(p);
    let cx = Context {
        direct: &direct,
        through: &through,
        upstream_to_gateway: names.iter().map(|(g, u)| (u.clone(), g.clone())).collect(),
        names: &names,
        manifest: &target.manifest.fidelity,
        timeout: opts.timeout,
        replay: opts.replay.clone(),
    };
    let mut results = Vec::new();
    let mut table = FeatureTable::default();
    for f in features {
        let (r, row) = run_feature(&cx, f).await;
        results.push(r);
        table.features.push(row);
    }
    if opts.samples > 0 {
        table.overhead = measure(&cx, opts.samples).await;
    }
    Ok(FidelityRun { results, table })
}

/// The latency the gateway adds to each timed request: sent `samples` times on each side, the
/// two sides interleaved so that both meet the same load. A sample without an answer is left
/// out.
async fn measure(cx: &Context<'_>, samples: usize) -> Vec<Overhead> {
    let (mut direct, d_failed) = Conversation::open(cx.direct.clone(), cx.timeout).await;
    let (mut through, t_failed) = Conversation::open(cx.through.clone(), cx.timeout).await;
    let mut out = Vec::new();
    if d_failed.is_none() && t_failed.is_none() {
        for (label, step) in timed() {
            let sent_through = through_params(&step, &cx.upstream_to_gateway);
            let (mut d, mut t) = (Vec::new(), Vec::new());
            for i in 0..samples {
                let id = json!(1000 + i);
                let a = direct
                    .request(id.clone(), step.method, step.params.clone())
                    .await;
                let b = through.request(id, step.method, sent_through.clone()).await;
                if a.response.is_some() && b.response.is_some() {
                    d.push(a.elapsed.as_secs_f64() * 1000.0);
                    t.push(b.elapsed.as_secs_f64() * 1000.0);
                }
                // Only the timing is wanted: the transcripts would grow with every sample.
                direct.exchanges.clear();
                through.exchanges.clear();
            }
            out.push(overhead::summarise(label, d, t));
        }
    }
    direct.close().await;
    through.close().await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_parse_and_offer_everything() {
        let f = fixtures();
        assert!(f.upstreams[UPSTREAM].fidelity);
        let s = &f.servers[SERVER];
        assert_eq!(s.tools.len(), crate::upstream::rich::TOOLS.len());
        assert!(!s.resources.is_empty() && !s.prompts.is_empty());
        assert!(f.tokens.contains_key(TOKEN));
    }
}
