//! Reading scenario files: YAML parsing (serde-saphyr) into the form as written, the checks that
//! need more than one field (ids match file paths, references point at declared fixtures, saved
//! names exist), and typing each step (one of a request, a fault and a pause).
//!
//! Every problem is reported as `path:line:column: field: message`, the line found from the
//! field path in the parser's spans ([`Places`]); every file is checked before any request is
//! sent, so one run lists all malformed files at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::matcher::{Matcher, Op};
use super::model::{
    Action, Expect, Fixtures, RequestStep, Scenario, ScenarioFile, Step, StepFile, TokenSource,
    UpstreamFixture,
};
use super::subst::{self, Declared, Piece};
use crate::located::Places;

/// A scenario read from disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    /// The file it came from.
    pub path: PathBuf,
}

/// One problem in one scenario file.
pub type ScenarioError = crate::located::FileProblem;

/// Every problem found in a set of scenario files.
#[derive(Debug, Clone)]
pub struct LoadErrors(pub Vec<ScenarioError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::located::write_problems(f, &self.0, "scenario files")
    }
}

impl std::error::Error for LoadErrors {}

static SLUG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9][a-z0-9-]*$").expect("static regex"));
static KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$").expect("static regex"));

/// Every `*.yaml` / `*.yml` file under `root`, sorted.
pub fn scenario_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load and check every scenario under `root`. Fails with all problems of all files.
pub fn load_dir(root: &Path) -> Result<Vec<Loaded>, LoadErrors> {
    let files = scenario_files(root).map_err(|e| {
        LoadErrors(vec![ScenarioError::whole_file(
            root,
            format!("cannot read the scenario directory: {e}"),
        )])
    })?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match load_file(root, &path) {
            Ok(l) => loaded.push(l),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for l in &loaded {
        if let Some(first) = seen.insert(&l.scenario.id, &l.path) {
            let text = std::fs::read_to_string(&l.path).unwrap_or_default();
            errors.push(ScenarioError::at(
                &l.path,
                Places::read(&text).of("id"),
                "id",
                format!(
                    "duplicate id `{}` (also in {})",
                    l.scenario.id,
                    first.display()
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Load one file; `root` is the scenario directory its id is relative to.
pub fn load_file(root: &Path, path: &Path) -> Result<Loaded, Vec<ScenarioError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ScenarioError::whole_file(
            path,
            format!("cannot read the file: {e}"),
        )]
    })?;
    let scenario = parse_str(path, &text)?;
    let mut errors = Vec::new();
    if let Some(expected) = expected_id(root, path)
        && scenario.id != expected
    {
        errors.push(ScenarioError::at(
            path,
            Places::read(&text).of("id"),
            "id",
            format!(
                "id `{}` does not match the file's place; expected `{expected}` (id = <area>/<file name>)",
                scenario.id
            ),
        ));
    }
    if errors.is_empty() {
        Ok(Loaded {
            scenario,
            path: path.to_path_buf(),
        })
    } else {
        Err(errors)
    }
}

/// `root/area/slug.yaml` -> `area/slug`.
fn expected_id(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let no_ext = rel.with_extension("");
    let parts: Vec<_> = no_ext
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// Parse, check and type one scenario text; `path` is only used in messages.
pub fn parse_str(path: &Path, text: &str) -> Result<Scenario, Vec<ScenarioError>> {
    let file: ScenarioFile = crate::located::parse_yaml(path, text).map_err(|e| vec![e])?;
    typed(file).map_err(|problems| {
        let places = Places::read(text);
        problems
            .into_iter()
            .map(|(field, message)| ScenarioError::at(path, places.of(&field), field, message))
            .collect()
    })
}

/// (field path, message); the line is found from the field path.
type Problem = (String, String);

struct Decl<'a>(&'a Fixtures);

impl Declared for Decl<'_> {
    fn has(&self, kind: &str, key: &str) -> bool {
        let f = self.0;
        match kind {
            "servers" => f.servers.contains_key(key),
            "users" => f.users.contains_key(key),
            "teams" => f.teams.contains_key(key),
            "tokens" => f.tokens.contains_key(key),
            "upstreams" => f.upstreams.contains_key(key),
            "rest_tools" => f.rest_tools.contains_key(key),
            "resources" => f.resources.contains_key(key),
            "prompts" => f.prompts.contains_key(key),
            _ => false,
        }
    }

    fn has_upstream_item(&self, kind: &str, up: &str, name: &str) -> bool {
        let Some(u) = self.0.upstreams.get(up) else {
            return false;
        };
        if u.fidelity {
            return fidelity_serves(u, kind, name);
        }
        match kind {
            "tools" => u.tools.iter().any(|t| t.name == name),
            "resources" => u.resources.iter().any(|r| r.name == name),
            "prompts" => u.prompts.iter().any(|p| p.name == name),
            _ => false,
        }
    }
}

/// Whether the fidelity fixture `u` serves an item of `kind` called `name` (it declares none:
/// what it serves is the engine's; a build without the engine takes every name).
fn fidelity_serves(u: &UpstreamFixture, kind: &str, name: &str) -> bool {
    #[cfg(feature = "engine")]
    {
        let served = u.served();
        let list = match kind {
            "tools" => served.tools,
            "resources" => served.resources,
            "prompts" => served.prompts,
            _ => Vec::new(),
        };
        list.iter().any(|(n, _)| n == name)
    }
    #[cfg(not(feature = "engine"))]
    {
        let _ = (u, kind, name);
        true
    }
}

/// Check a scenario as written and type its steps: the scenario, or every problem found.
fn typed(s: ScenarioFile) -> Result<Scenario, Vec<Problem>> {
    let mut p: Vec<Problem> = Vec::new();
    let mut push = |field: &str, msg: String| p.push((field.to_owned(), msg));
    let id_ok = s.id.split_once('/').is_some_and(|(area, slug)| {
        SLUG.is_match(area) && slug.split('/').all(|part| SLUG.is_match(part))
    });
    if !id_ok {
        push(
            "id",
            format!(
                "`{}` is not `<area>/<slug>` (lowercase letters, digits, `-`)",
                s.id
            ),
        );
    }
    if s.title.trim().is_empty() {
        push("title", "must not be empty".into());
    }
    if s.spec.is_empty() || s.spec.iter().any(|r| r.trim().is_empty()) {
        push(
            "spec",
            "list at least one reference (checklist id, decision, issue, RFC section)".into(),
        );
    }
    if s.steps.is_empty() {
        push("steps", "a scenario needs at least one step".into());
    }
    check_fixtures(&s.fixtures, &mut push);

    let decl = Decl(&s.fixtures);
    let mut names = BTreeSet::new();
    let mut saved: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for (i, step) in s.steps.into_iter().enumerate() {
        let at = |f: &str| {
            if f.is_empty() {
                format!("steps[{i}]")
            } else {
                format!("steps[{i}].{f}")
            }
        };
        if !SLUG.is_match(&step.name) {
            push(
                &at("name"),
                format!(
                    "`{}` is not a slug (lowercase letters, digits, `-`)",
                    step.name
                ),
            );
        }
        if !names.insert(step.name.clone()) {
            push(&at("name"), format!("duplicate step name `{}`", step.name));
        }
        let Some(step) = typed_step(step, &mut |f, m| push(&at(f), m)) else {
            continue;
        };
        if let Some(r) = step.request() {
            check_request(r, &decl, &saved, &mut |f, m| push(&at(f), m));
            saved.extend(r.save.keys().cloned());
        }
        steps.push(step);
    }
    if !p.is_empty() {
        return Err(p);
    }
    Ok(Scenario {
        id: s.id,
        title: s.title,
        description: s.description,
        spec: s.spec,
        level: s.level,
        requires: s.requires,
        paths_of: s.paths_of,
        fixtures: s.fixtures,
        steps,
    })
}

fn check_fixtures(f: &Fixtures, push: &mut impl FnMut(&str, String)) {
    let keys = f
        .users
        .keys()
        .map(|k| ("users", k))
        .chain(f.teams.keys().map(|k| ("teams", k)))
        .chain(f.upstreams.keys().map(|k| ("upstreams", k)))
        .chain(f.rest_tools.keys().map(|k| ("rest_tools", k)))
        .chain(f.resources.keys().map(|k| ("resources", k)))
        .chain(f.prompts.keys().map(|k| ("prompts", k)))
        .chain(f.servers.keys().map(|k| ("servers", k)))
        .chain(f.tokens.keys().map(|k| ("tokens", k)));
    for (kind, key) in keys {
        if !KEY.is_match(key) {
            push(
                &format!("fixtures.{kind}.{key}"),
                "a fixture key is a letter then up to 31 letters, digits, `_` or `-`".into(),
            );
        }
    }
    let d = Decl(f);
    let team_ref = |field: String, team: &Option<String>, push: &mut dyn FnMut(&str, String)| {
        if let Some(t) = team
            && !f.teams.contains_key(t)
        {
            push(&field, format!("no team `{t}` in fixtures.teams"));
        }
    };
    for (k, t) in &f.teams {
        for (i, m) in t.members.iter().enumerate() {
            if !f.users.contains_key(m) {
                push(
                    &format!("fixtures.teams.{k}.members[{i}]"),
                    format!("no user `{m}` in fixtures.users"),
                );
            }
        }
    }
    for (k, u) in &f.upstreams {
        team_ref(format!("fixtures.upstreams.{k}.team"), &u.team, push);
        let mut names = BTreeSet::new();
        for (i, t) in u.tools.iter().enumerate() {
            if !names.insert(&t.name) {
                push(
                    &format!("fixtures.upstreams.{k}.tools[{i}]"),
                    format!("duplicate tool `{}`", t.name),
                );
            }
        }
    }
    for (k, t) in &f.rest_tools {
        team_ref(format!("fixtures.rest_tools.{k}.team"), &t.team, push);
    }
    for (k, r) in &f.resources {
        team_ref(format!("fixtures.resources.{k}.team"), &r.team, push);
    }
    for (k, pr) in &f.prompts {
        team_ref(format!("fixtures.prompts.{k}.team"), &pr.team, push);
    }
    for (k, s) in &f.servers {
        team_ref(format!("fixtures.servers.{k}.team"), &s.team, push);
        let lists = [
            ("tools", &s.tools),
            ("resources", &s.resources),
            ("prompts", &s.prompts),
        ];
        for (kind, list) in lists {
            for (i, item) in list.iter().enumerate() {
                let ok = match item.split_once('.') {
                    Some((up, name)) => d.has_upstream_item(kind, up, name),
                    None => {
                        let local = if kind == "tools" { "rest_tools" } else { kind };
                        d.has(local, item)
                    }
                };
                if !ok {
                    push(
                        &format!("fixtures.servers.{k}.{kind}[{i}]"),
                        format!(
                            "`{item}` names no {kind} fixture; write `<upstream>.<name>` or a key of fixtures.{}",
                            if kind == "tools" { "rest_tools" } else { kind }
                        ),
                    );
                }
            }
        }
    }
    for (k, t) in &f.tokens {
        let field = |name: &str| format!("fixtures.tokens.{k}.{name}");
        if let Some(u) = &t.user
            && !f.users.contains_key(u)
        {
            push(&field("user"), format!("no user `{u}` in fixtures.users"));
        }
        if let Some(s) = &t.server
            && !f.servers.contains_key(s)
        {
            push(
                &field("server"),
                format!("no server `{s}` in fixtures.servers"),
            );
        }
        if t.server.is_some() && t.server_id.is_some() {
            push(
                &field("server_id"),
                "give `server` or `server_id`, not both".into(),
            );
        }
        for (i, team) in t.teams.iter().flatten().enumerate() {
            if !f.teams.contains_key(team) {
                push(
                    &field(&format!("teams[{i}]")),
                    format!("no team `{team}` in fixtures.teams"),
                );
            }
        }
        if t.source == TokenSource::Api && t.needs_signing() {
            push(
                &field("source"),
                "`source: api` cannot make this token (claims, without, signing_key, algorithm or several teams need local signing)".into(),
            );
        }
        if let Some(sid) = &t.server_id {
            check_template(sid, &d, &[], &mut |m| push(&field("server_id"), m));
        }
        for s in t
            .time_restrictions
            .as_ref()
            .map(subst::json_strings)
            .unwrap_or_default()
        {
            check_template(&s, &d, &[], &mut |m| push(&field("time_restrictions"), m));
        }
    }
}

fn check_template(s: &str, d: &dyn Declared, saved: &[String], push: &mut dyn FnMut(String)) {
    match subst::parse(s) {
        Err(e) => push(e),
        Ok(pieces) => {
            for piece in pieces {
                if let Piece::Var { expr, path, .. } = piece
                    && let Err(e) = subst::check_reference(&path, d, saved)
                {
                    push(format!("`${{{expr}}}`: {e}"));
                }
            }
        }
    }
}

/// A step as written, typed: exactly one of `request`, `fault` and `wait_ms`, and what belongs
/// to a request (`via`, `expect`, `retry_for_ms`, `retry_while`, `save`) only on a request.
fn typed_step(step: StepFile, push: &mut dyn FnMut(&str, String)) -> Option<Step> {
    let StepFile {
        name,
        description,
        level,
        via,
        request,
        expect,
        retry_for_ms,
        retry_while,
        fault,
        wait_ms,
        save,
    } = step;
    let given: Vec<&str> = [
        ("`request`", request.is_some()),
        ("`fault`", fault.is_some()),
        ("`wait_ms`", wait_ms.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, present)| present.then_some(field))
    .collect();
    if given.len() != 1 {
        let has = if given.is_empty() {
            "none".to_owned()
        } else {
            given.join(" and ")
        };
        push(
            "",
            format!(
                "a step has exactly one of `request`, `fault` and `wait_ms`; this one has {has}"
            ),
        );
        return None;
    }
    if request.is_none() {
        let only_on_a_request = [
            (
                "via",
                via.is_some(),
                "goes to a worker (a fault names its worker itself)",
            ),
            ("expect", expect.is_some(), "has expectations"),
            ("retry_for_ms", retry_for_ms.is_some(), "can be retried"),
            ("retry_while", retry_while.is_some(), "can be retried"),
            ("save", save.is_some(), "saves values"),
        ];
        let mut misplaced = false;
        for (field, present, what) in only_on_a_request {
            if present {
                push(field, format!("only a `request` step {what}"));
                misplaced = true;
            }
        }
        if misplaced {
            return None;
        }
    }
    if retry_while.is_some() && retry_for_ms.is_none() {
        push(
            "retry_while",
            "says when to retry, and `retry_for_ms` (how long) is missing".to_owned(),
        );
        return None;
    }
    let action = match (request, fault, wait_ms) {
        (Some(request), ..) => Action::Request(Box::new(RequestStep {
            via: via.unwrap_or(0),
            request,
            expect: expect.unwrap_or_default(),
            retry_for: retry_for_ms.map(Duration::from),
            retry_while,
            save: save.unwrap_or_default(),
        })),
        (None, Some(fault), _) => Action::Fault(fault),
        (None, None, wait) => Action::Wait(Duration::from(wait?)),
    };
    Some(Step {
        name,
        description,
        level,
        action,
    })
}

/// The checks of a request step that need the rest of the scenario (fixtures, earlier saves).
fn check_request(
    step: &RequestStep,
    d: &Decl<'_>,
    saved: &[String],
    push: &mut dyn FnMut(&str, String),
) {
    let r = &step.request;
    if r.method.is_empty() || !r.method.bytes().all(|b| b.is_ascii_graphic()) {
        push(
            "request.method",
            format!("`{}` is not an HTTP method token", r.method),
        );
    }
    if r.json.is_some() && r.body.is_some() {
        push("request", "give `json` or `body`, not both".into());
    }
    if let Some(t) = &r.token
        && !d.0.tokens.contains_key(t)
    {
        push(
            "request.token",
            format!("no token `{t}` in fixtures.tokens"),
        );
    }
    check_template(&r.path, d, saved, &mut |m| push("request.path", m));
    for (name, v) in &r.headers {
        if let Some(v) = v {
            check_template(v, d, saved, &mut |m| {
                push(&format!("request.headers.{name}"), m)
            });
        }
    }
    if let Some(b) = &r.body {
        check_template(b, d, saved, &mut |m| push("request.body", m));
    }
    if let Some(j) = &r.json {
        for s in subst::json_strings(j) {
            check_template(&s, d, saved, &mut |m| push("request.json", m));
        }
    }
    let e = &step.expect;
    check_status(e, push);
    let mut matchers: Vec<(String, &super::matcher::Matcher)> = Vec::new();
    matchers.extend(e.status.iter().map(|m| ("expect.status".to_owned(), m)));
    matchers.extend(e.json.iter().map(|m| ("expect.json".to_owned(), m)));
    matchers.extend(e.body.iter().map(|m| ("expect.body".to_owned(), m)));
    matchers.extend(
        e.headers
            .iter()
            .map(|(h, m)| (format!("expect.headers.{h}"), m)),
    );
    for (ptr, m) in &e.pointers {
        if !ptr.is_empty() && !ptr.starts_with('/') {
            push(
                &format!("expect.pointers.{ptr}"),
                "a JSON pointer starts with `/` (e.g. `/error/code`)".into(),
            );
        }
        matchers.push((format!("expect.pointers.{ptr}"), m));
    }
    for (up, u) in &e.upstream {
        if !d.0.upstreams.contains_key(up) && !d.0.rest_tools.contains_key(up) {
            push(
                &format!("expect.upstream.{up}"),
                format!("no upstream or REST tool `{up}` in fixtures"),
            );
        }
        matchers.extend(
            u.params
                .iter()
                .map(|m| (format!("expect.upstream.{up}.params"), m)),
        );
        matchers.extend(
            u.headers
                .iter()
                .map(|(h, m)| (format!("expect.upstream.{up}.headers.{h}"), m)),
        );
    }
    for (field, m) in matchers {
        for s in m.strings() {
            check_template(&s, d, saved, &mut |msg| push(&field, msg));
        }
    }
    for (name, reason) in &e.waive {
        if !crate::scenario::WAIVABLE.contains(&name.as_str()) {
            push(
                &format!("expect.waive.{name}"),
                format!(
                    "no invariant `{name}`; the runner checks {}",
                    crate::scenario::WAIVABLE.join(", ")
                ),
            );
        } else if reason.trim().is_empty() {
            push(
                &format!("expect.waive.{name}"),
                "say why the step is not judged by this invariant".into(),
            );
        }
    }
    if let Some(name) = &e.snapshot
        && !SLUG.is_match(name)
    {
        push(
            "expect.snapshot",
            format!("`{name}` is not a slug (lowercase letters, digits, `-`)"),
        );
    }
    for (name, from) in &step.save {
        if !KEY.is_match(name) {
            push(
                &format!("save.{name}"),
                "a saved name is a letter then letters, digits, `_` or `-`".into(),
            );
        }
        if let super::model::SaveFrom::Pointer(p) = from
            && !p.is_empty()
            && !p.starts_with('/')
        {
            push(
                &format!("save.{name}"),
                "a JSON pointer starts with `/`".into(),
            );
        }
    }
}

/// A request step says which status it expects: `status`, or `refused: true` (which admits only
/// a refusal's statuses: a 4xx, or a 2xx carrying a JSON-RPC error). A status matcher never says
/// only what the status is *not*: `$ne: 403` (or `$not: 403`) also passes a 500, a redirect or a
/// 200 from the wrong route, so the step could hardly fail.
fn check_status(e: &Expect, push: &mut dyn FnMut(&str, String)) {
    match &e.status {
        None if e.refused != Some(true) => push(
            "expect.status",
            "a request step must state the status it expects (`status: 200`, or `$in` of the \
             statuses the spec allows; `refused: true` for a refusal in either form)"
                .into(),
        ),
        Some(m) if says_only_what_it_is_not(m) => push(
            "expect.status",
            "`$ne` on a status passes a 500 too: state the expected status, or `$in` of the \
             statuses the spec allows"
                .into(),
        ),
        _ => {}
    }
}

/// Whether a matcher is or contains `$ne` (at any depth), or `$not` of a plain value (the same
/// thing written another way).
fn says_only_what_it_is_not(m: &Matcher) -> bool {
    match m {
        Matcher::Scalar(_) => false,
        Matcher::Array(ms) => ms.iter().any(says_only_what_it_is_not),
        Matcher::Object(ms) => ms.values().any(says_only_what_it_is_not),
        Matcher::Ops(ops) => ops.iter().any(|op| match op {
            Op::Ne(_) => true,
            Op::Not(inner) => {
                matches!(**inner, Matcher::Scalar(_)) || says_only_what_it_is_not(inner)
            }
            Op::AnyOf(ms) => ms.iter().any(says_only_what_it_is_not),
            Op::Len(inner) | Op::Includes(inner) | Op::Excludes(inner) | Op::JwtClaims(inner) => {
                says_only_what_it_is_not(inner)
            }
            Op::Eq(_)
            | Op::In(_)
            | Op::Contains(_)
            | Op::StartsWith(_)
            | Op::Matches(_)
            | Op::Absent(_)
            | Op::Present(_)
            | Op::Gte(_)
            | Op::Lte(_) => false,
        }),
    }
}
