//! A shrunk failure written as a YAML scenario that the normal runner replays.
//!
//! The scenario declares the fuzzer's whole fixture world (so the request meets the same
//! servers and tools), the failing case's caller as token `caller`, and one step: the minimal
//! request, expecting exactly the broken invariant ([`invariants::expectation`]). The file is
//! named after the invariant and a short hash of the request, and is checked to load back
//! unchanged before it is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::scenario::{
    Action, Capability, Fault, Fixtures, Level, RequestStep, SaveFrom, Scenario, Step, parse_str,
};

use super::case::Caller;
use super::engine::Found;
use super::invariants;
use super::sequence_run::SequenceFound;
use super::sessions::{self, SessionPlan};

/// The token key of the failing case's caller in a written scenario.
const CALLER: &str = "caller";

/// Where and how a failure was found, for the scenario's description.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub seed: u64,
    pub cases: u32,
    /// e.g. `the in-process reference with --inject-defect normalise-dot-segments`.
    pub target: String,
    /// Whether the fixture world had an OAuth-enabled server.
    pub oauth: bool,
    /// Whether the target resolved server names.
    pub name_resolution: bool,
    /// The world the campaign ran on.
    pub fixtures: Fixtures,
    /// The target manifest whose URL shapes the paths are in, when the target does not speak
    /// ContextForge's API (the scenario then runs only there).
    pub paths_of: Option<String>,
    /// The sessions the campaign opened first (a request may carry their ids).
    pub sessions: Vec<SessionPlan>,
    /// The campaign ran on several workers (a cluster): so must the scenario, whatever worker
    /// its request goes to (a forged hop, say, means something only there).
    pub cluster: bool,
}

/// The token key of the caller that opens sessions in a written scenario.
const OPENER: &str = "opener";

/// Why a scenario could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RegressionError {
    #[error(
        "failed to name a scenario in {0}: its folder name must be a lowercase slug (the scenario's area)"
    )]
    Area(PathBuf),
    #[error("failed to serialise the scenario: {0}")]
    Serialise(String),
    #[error("failed to write a scenario that loads back unchanged: {0}")]
    RoundTrip(String),
    #[error("failed to write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// FNV-1a, 64 bits: a stable short hash for file names (no dependency, same on every build).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The scenario's slug: invariant name and a hash of the request.
pub fn slug(found: &Found) -> String {
    let c = &found.case;
    let key = format!("{} {} {:?} {:?}", c.method, c.path, c.caller, c.body);
    format!(
        "fuzz-{}-{:08x}",
        found.violation.invariant.name(),
        fnv1a(key.as_bytes()) >> 32
    )
}

/// The regression scenario for a failure; `area` is the folder it goes in.
pub fn scenario(found: &Found, area: &str, provenance: &Provenance) -> Scenario {
    let v = &found.violation;
    let mut fixtures = provenance.fixtures.clone();
    if let Some(token) = &found.token {
        fixtures.tokens.insert(CALLER.to_owned(), token.clone());
    }
    let mut requires = Vec::new();
    // The sessions whose ids the request carries are opened (and ended) again first.
    let headers = found.case.headers.iter().map(|(_, v)| v.as_str());
    let used: Vec<&SessionPlan> = provenance
        .sessions
        .iter()
        .filter(|p| {
            let reference = format!("${{saved.{}}}", p.key);
            headers.clone().any(|v| v.contains(&reference))
        })
        .collect();
    let mut steps = Vec::new();
    if !used.is_empty() {
        requires.push(Capability::Stateful);
        fixtures
            .tokens
            .insert(OPENER.to_owned(), crate::scenario::TokenFixture::default());
        for plan in &used {
            steps.extend(sessions::steps(plan, OPENER));
        }
    }
    // The campaign killed the sessions' owner before this case: so does the scenario (a fault
    // step and `via` imply the cluster capabilities).
    if let Some(worker) = found.killed {
        steps.push(Step {
            name: format!("kill-worker-{worker}"),
            description: Some(
                "The campaign killed the sessions' owner half-way; this case came after".to_owned(),
            ),
            level: None,
            action: Action::Fault(Fault::KillWorker(worker)),
        });
    }
    if provenance.oauth {
        requires.push(Capability::Oauth);
    }
    if provenance.cluster {
        requires.push(Capability::Cluster);
    }
    if provenance.name_resolution && found.case.uses_server_names() {
        requires.push(Capability::NameResolution);
    }
    let description = format!(
        "Found by fuzzing: `mcpgw-conformance fuzz --seed {} --cases {}` against {}. Case {} \
         broke `{}`; proptest shrank it in {} step(s) to the request below, which then broke \
         `{}`: {}. The expectation holds exactly when the invariant does.",
        provenance.seed,
        provenance.cases,
        provenance.target,
        found.case_index,
        found.first.invariant.name(),
        found.shrink_steps,
        v.invariant.name(),
        v.detail,
    );
    let steps = steps
        .into_iter()
        .chain([Step {
            name: v.invariant.name().to_owned(),
            description: Some(format!(
                "The minimal request fuzzing found ({})",
                v.invariant.name()
            )),
            level: None,
            action: Action::Request(Box::new(RequestStep {
                via: found.via,
                request: found
                    .case
                    .request(found.token.as_ref().map(|_| CALLER.to_owned())),
                expect: invariants::expectation(v),
                retry_for: None,
                retry_while: None,
                save: BTreeMap::new(),
            })),
        }])
        .collect();
    finding_scenario(
        format!("{area}/{}", slug(found)),
        v,
        description,
        requires,
        provenance,
        fixtures,
        steps,
    )
}

/// A finding's scenario: titled and cited by its invariant, a MUST.
fn finding_scenario(
    id: String,
    v: &invariants::Violation,
    description: String,
    requires: Vec<Capability>,
    provenance: &Provenance,
    fixtures: Fixtures,
    steps: Vec<Step>,
) -> Scenario {
    Scenario {
        id,
        title: v.invariant.title().to_owned(),
        description: Some(description),
        spec: v.invariant.spec().iter().map(|s| (*s).to_owned()).collect(),
        level: Level::Must,
        requires,
        paths_of: provenance.paths_of.clone(),
        fixtures,
        steps,
    }
}

/// The token key of a caller in a written sequence scenario, readable where it can be.
fn caller_key(caller: &Caller, n: usize) -> String {
    match caller {
        Caller::Admin => "admin".to_owned(),
        Caller::OtherUser => "other".to_owned(),
        Caller::Scoped {
            server: Some(s),
            permissions,
        } if permissions.is_empty() => format!("scoped_{}", s.to_ascii_lowercase()),
        _ => format!("caller{n}"),
    }
}

/// The slug of a sequence scenario: invariant name and a hash of the steps.
pub fn sequence_slug(found: &SequenceFound) -> String {
    let key = format!("{:?}", found.sequence);
    format!(
        "fuzz-seq-{}-{:08x}",
        found.violation.invariant.name(),
        fnv1a(key.as_bytes()) >> 32
    )
}

/// The regression scenario of a failing sequence: every step as it was sent, each caller a
/// token of its own, the last step expecting exactly the broken invariant.
pub fn sequence_scenario(found: &SequenceFound, area: &str, provenance: &Provenance) -> Scenario {
    let v = &found.violation;
    let mut fixtures = provenance.fixtures.clone();
    let mut keys: Vec<(Caller, String)> = Vec::new();
    for s in &found.sent {
        if s.caller.token_fixture().is_some() && !keys.iter().any(|(c, _)| *c == s.caller) {
            let key = caller_key(&s.caller, keys.len());
            keys.push((s.caller.clone(), key));
        }
    }
    for (caller, key) in &keys {
        if let Some(t) = caller.token_fixture() {
            fixtures.tokens.insert(key.clone(), t);
        }
    }
    let mut requires = Vec::new();
    let opens = found
        .sent
        .iter()
        .any(|s| s.save.values().any(|f| matches!(f, SaveFrom::Header(_))));
    if opens {
        requires.push(Capability::Stateful);
    }
    if found
        .sent
        .iter()
        .any(|s| s.request.headers.contains_key("last-event-id"))
    {
        requires.push(Capability::ResumableStreams);
    }
    if provenance.oauth {
        requires.push(Capability::Oauth);
    }
    if provenance.cluster {
        requires.push(Capability::Cluster);
    }
    let steps = found
        .sent
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut request = s.request.clone();
            request.token = keys
                .iter()
                .find(|(c, _)| *c == s.caller)
                .map(|(_, k)| k.clone());
            if s.caller == Caller::EmptyBearer {
                request
                    .headers
                    .insert("authorization".to_owned(), Some("Bearer ".to_owned()));
            }
            let expect = if i == found.failing {
                invariants::expectation(v)
            } else {
                // An earlier step: any answer will do; what it saved is what later steps use.
                crate::scenario::Expect {
                    status: Some(
                        serde_json::from_value(serde_json::json!({"$gte": 100}))
                            .expect("a matcher written here parses"),
                    ),
                    ..Default::default()
                }
            };
            Step {
                name: s.name.clone(),
                description: Some(s.description.clone()),
                level: None,
                action: Action::Request(Box::new(RequestStep {
                    via: s.via,
                    request,
                    expect,
                    retry_for: None,
                    retry_while: None,
                    save: s.save.clone(),
                })),
            }
        })
        .collect();
    let description = format!(
        "Found by fuzzing sequences: `mcpgw-conformance fuzz --sequences --seed {} --cases {}` \
         against {}. Sequence {} broke `{}`; proptest shrank it in {} step(s) to the {} request(s) \
         below, whose last then broke `{}`: {}. The last step's expectation holds exactly when \
         the invariant does.",
        provenance.seed,
        provenance.cases,
        provenance.target,
        found.case_index,
        found.first.invariant.name(),
        found.shrink_steps,
        found.sent.len(),
        v.invariant.name(),
        v.detail,
    );
    finding_scenario(
        format!("{area}/{}", sequence_slug(found)),
        v,
        description,
        requires,
        provenance,
        fixtures,
        steps,
    )
}

/// Write the regression scenario of a failing sequence into `dir` (its area folder).
pub fn write_sequence(
    dir: &Path,
    found: &SequenceFound,
    provenance: &Provenance,
) -> Result<(PathBuf, String), RegressionError> {
    let area = area_of(dir)?;
    let scenario = sequence_scenario(found, &area, provenance);
    let path = dir.join(format!("{}.yaml", sequence_slug(found)));
    save(&scenario, path)
}

/// The area a folder of regressions is (its name, a lowercase slug).
fn area_of(dir: &Path) -> Result<String, RegressionError> {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .ok_or_else(|| RegressionError::Area(dir.to_path_buf()))
}

/// Write `scenario` to `path`, checked to load back unchanged.
fn save(scenario: &Scenario, path: PathBuf) -> Result<(PathBuf, String), RegressionError> {
    let text = yaml(scenario, &path)?;
    let io = |source| RegressionError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(&path, text).map_err(io)?;
    Ok((path, scenario.id.clone()))
}

/// Fields of fixtures that hold free JSON (kept as they are).
const FREE_JSON: &[&str] = &["inputSchema", "result", "claims", "time_restrictions"];

/// Drop from the fixtures what a reader need not see because the loader fills it in anyway:
/// empty lists, `visibility: public`, `enabled: true`, `source: auto`. Empty maps stay
/// (`caller: {}` is a token); free JSON and the steps are left alone.
fn without_defaults(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, v)| {
                    let default = matches!(
                        (k.as_str(), v),
                        ("visibility", Value::String(s)) if s == "public"
                    ) || matches!((k.as_str(), v), ("enabled", Value::Bool(true)))
                        || matches!((k.as_str(), v), ("source", Value::String(s)) if s == "auto");
                    let empty_list = matches!(v, Value::Array(a) if a.is_empty());
                    !default && !empty_list
                })
                .map(|(k, v)| {
                    let v = if FREE_JSON.contains(&k.as_str()) {
                        v
                    } else {
                        without_defaults(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_defaults).collect()),
        other => other,
    }
}

/// The YAML text of a scenario, checked to load back unchanged.
pub fn yaml(scenario: &Scenario, path: &Path) -> Result<String, RegressionError> {
    let mut value =
        serde_json::to_value(scenario).map_err(|e| RegressionError::Serialise(e.to_string()))?;
    if let Some(fixtures) = value.get_mut("fixtures") {
        *fixtures = without_defaults(fixtures.take());
    }
    let body =
        serde_saphyr::to_string(&value).map_err(|e| RegressionError::Serialise(e.to_string()))?;
    let text = format!(
        "# yaml-language-server: $schema=../schema.json\n# Written by `mcpgw-conformance fuzz`; see `description`.\n{body}"
    );
    let again = parse_str(path, &text).map_err(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        RegressionError::RoundTrip(shown.join("; "))
    })?;
    let same = serde_json::to_value(scenario).ok() == serde_json::to_value(&again).ok();
    if !same {
        return Err(RegressionError::RoundTrip(format!(
            "the file reads back as a different scenario:\n{text}"
        )));
    }
    Ok(text)
}

/// Write the regression scenario for `found` into `dir` (its area folder). Returns the path
/// and the scenario's id.
pub fn write(
    dir: &Path,
    found: &Found,
    provenance: &Provenance,
) -> Result<(PathBuf, String), RegressionError> {
    let area = area_of(dir)?;
    let scenario = scenario(found, &area, provenance);
    let path = dir.join(format!("{}.yaml", slug(found)));
    save(&scenario, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Exchange, Transport, WireRequest};
    use crate::fuzz::case;
    use crate::fuzz::invariants::{Invariant, Violation};
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    fn found(case: case::Case, invariant: Invariant) -> Found {
        let mut violation = Violation::new(invariant, "a \"detail\"\n".to_owned());
        violation.must_not_show = vec!["${tools.ub.beta.name}".to_owned()];
        violation.must_not_run = vec![("ub".to_owned(), "beta".to_owned())];
        violation.only_tools = vec!["${tools.ua.alpha.name}".to_owned()];
        violation.request_id = Some(serde_json::json!("x"));
        Found {
            case_index: 3,
            first: violation.clone(),
            token: case.caller.token_fixture(),
            case,
            violation,
            exchange: Exchange {
                request: WireRequest {
                    method: "GET".to_owned(),
                    target: "/".to_owned(),
                    headers: Vec::new(),
                    body: Default::default(),
                },
                response: None,
                error: None,
                transport: Transport::Hyper,
                duration_ms: 0,
            },
            shrink_steps: 1,
            reproduced: true,
            via: 1,
            killed: (invariant == Invariant::ServerError).then_some(1),
        }
    }

    /// Every generated case, whatever bytes its path and body hold, writes a scenario that
    /// loads back unchanged and passes the loader's checks.
    #[test]
    fn generated_cases_write_scenarios_that_load_back() {
        let provenance = Provenance {
            seed: 1,
            cases: 10,
            target: "the in-process reference".to_owned(),
            oauth: true,
            name_resolution: true,
            fixtures: crate::fuzz::world::default_fixtures(true, true),
            paths_of: None,
            sessions: sessions::plan(&["A".to_owned(), "B".to_owned()], 1),
            cluster: true,
        };
        let invariants = crate::fuzz::invariants::ALL;
        let mut runner = TestRunner::deterministic();
        let v = case::Vocabulary::contextforge_default();
        for i in 0..500 {
            let c = case::case(&v).new_tree(&mut runner).unwrap().current();
            let f = found(c, invariants[i % invariants.len()]);
            let s = scenario(&f, "regressions", &provenance);
            let path = Path::new("scenarios/regressions/x.yaml");
            yaml(&s, path).unwrap_or_else(|e| panic!("{e}\n{:?}", f.case));
        }
    }
    /// Every generated sequence, rendered step by step as a campaign sends it, writes a
    /// scenario that loads back unchanged, with a token per caller and the last step judged.
    #[test]
    fn generated_sequences_write_scenarios_that_load_back() {
        use crate::fuzz::sequence::{self, Tracker};
        use crate::fuzz::sequence_run::{SentStep, SequenceFound};
        let provenance = Provenance {
            seed: 1,
            cases: 10,
            target: "the in-process reference".to_owned(),
            oauth: false,
            name_resolution: true,
            fixtures: crate::fuzz::world::default_fixtures(false, true),
            paths_of: None,
            sessions: Vec::new(),
            cluster: false,
        };
        let mut v = case::Vocabulary::contextforge_default();
        v.other_user = true;
        let invariants = crate::fuzz::invariants::ALL;
        let mut runner = TestRunner::deterministic();
        for i in 0..300 {
            let seq = sequence::sequence(&v)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let mut tracker = Tracker::new(i);
            let mut sent = Vec::new();
            for (n, step) in seq.steps.iter().enumerate() {
                let Some(r) = tracker.render(n, step, None, &v) else {
                    continue;
                };
                let save = tracker.record(step, &r, Some(200), true, n % 2 == 0);
                sent.push(SentStep {
                    name: r.name.clone(),
                    description: sequence::describe(step),
                    request: r.request,
                    caller: step.caller.clone(),
                    via: step.via,
                    save,
                });
            }
            if sent.is_empty() {
                continue;
            }
            let base = found(
                case::Case {
                    method: "GET",
                    path: "/".to_owned(),
                    caller: Caller::Admin,
                    body: None,
                    headers: Vec::new(),
                    via: 0,
                    absolute_form: false,
                },
                invariants[i as usize % invariants.len()],
            );
            let f = SequenceFound {
                case_index: 1,
                first: base.first.clone(),
                sequence: seq,
                failing: sent.len() - 1,
                sent,
                violation: base.violation.clone(),
                exchange: base.exchange.clone(),
                shrink_steps: 2,
                reproduced: true,
            };
            let s = sequence_scenario(&f, "regressions", &provenance);
            let callers: std::collections::BTreeSet<_> = f
                .sent
                .iter()
                .filter(|s| s.caller.token_fixture().is_some())
                .map(|s| format!("{:?}", s.caller))
                .collect();
            assert_eq!(s.fixtures.tokens.len(), callers.len());
            let path = Path::new("scenarios/regressions/x.yaml");
            yaml(&s, path).unwrap_or_else(|e| panic!("{e}\n{:?}", f.sequence));
        }
    }
}
