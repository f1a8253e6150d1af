//! The pure half of fidelity: what a gateway may change is taken out of both transcripts
//! ([`normalise`]), what is left is compared ([`diff`]), and each difference gets a verdict
//! ([`Difference::verdict`]) and the feature an outcome ([`Outcome::of`]). No I/O here: the
//! runner hands in messages, this hands back differences.
//!
//! Normalising, in order: the pages of a paginated list become one list (pagination is the
//! gateway's own business, its items are not), the gateway's names of an upstream's tools,
//! prompts and resources become the upstream's, `_meta` keys the manifest lets the gateway add
//! are removed, the gateway's own session id becomes a placeholder, and list items are keyed by
//! what identifies them (a gateway that aggregates may reorder).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::verdict::Verdict;

/// What a gateway may change, as the target manifest and the provisioning say.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// The gateway's name of an item -> the upstream's name (tools, prompts, resources).
    pub names: BTreeMap<String, String>,
    /// `_meta` keys the gateway may add (a trailing `*` matches any rest).
    pub added_meta: Vec<String>,
    /// The session id the gateway issued, when the manifest lets it appear in messages.
    pub session_id: Option<String>,
}

/// The list keys of paginated results and what identifies one of their items.
const LISTS: [(&str, &str); 4] = [
    ("tools", "name"),
    ("prompts", "name"),
    ("resources", "uri"),
    ("resourceTemplates", "uriTemplate"),
];

/// Keys whose list items the gateway renames (resources keep their URI, but may be renamed).
const RENAMED: [&str; 3] = ["tools", "prompts", "resources"];

/// The placeholder for the gateway's own session id.
const SESSION: &str = "<gateway-session-id>";

/// One response of a paginated list: its pages' items joined, in one synthetic response
/// (`{"result": {key: [...]}}`) whose id is the first page's. A page that is an error ends the
/// join with that error as the answer.
pub fn join_pages(pages: &[Value]) -> Value {
    let Some(first) = pages.first() else {
        return Value::Null;
    };
    let mut joined: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for page in pages {
        let Some(result) = page.get("result").and_then(Value::as_object) else {
            return page.clone();
        };
        for (key, _) in LISTS {
            if let Some(items) = result.get(key).and_then(Value::as_array) {
                joined
                    .entry(key.to_owned())
                    .or_default()
                    .extend(items.iter().cloned());
            }
        }
    }
    let mut result = Map::new();
    for (k, v) in joined {
        result.insert(k, Value::Array(v));
    }
    let mut out = Map::new();
    out.insert("jsonrpc".to_owned(), Value::from("2.0"));
    out.insert(
        "id".to_owned(),
        first.get("id").cloned().unwrap_or(Value::Null),
    );
    out.insert("result".to_owned(), Value::Object(result));
    Value::Object(out)
}

fn meta_key_allowed(allowed: &Allowed, key: &str) -> bool {
    allowed
        .added_meta
        .iter()
        .any(|a| match a.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => a == key,
        })
}

/// Remove allowed `_meta` keys, and replace the session id, everywhere in `v`.
fn scrub(v: &mut Value, allowed: &Allowed) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(meta)) = m.get_mut("_meta") {
                meta.retain(|k, _| !meta_key_allowed(allowed, k));
                if meta.is_empty() {
                    m.remove("_meta");
                }
            }
            for (_, child) in m.iter_mut() {
                scrub(child, allowed);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| scrub(c, allowed)),
        Value::String(s) if allowed.session_id.as_deref().is_some_and(|id| id == s) => {
            *s = SESSION.to_owned();
        }
        _ => {}
    }
}

/// Key list items by what identifies them (an object of items instead of an array: a gateway
/// that aggregates may reorder, and a missing item is then named, not a shifted index); with
/// `names`, give them the upstream's names first.
fn keyed_lists(v: &mut Value, names: Option<&BTreeMap<String, String>>) {
    let Some(result) = v.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, id) in LISTS {
        let Some(Value::Array(items)) = result.get_mut(key) else {
            continue;
        };
        let mut keyed = Map::new();
        for mut item in std::mem::take(items) {
            if let Some(names) = names.filter(|_| RENAMED.contains(&key))
                && let Some(Value::String(n)) = item.get_mut("name")
                && let Some(up) = names.get(n.as_str())
            {
                *n = up.clone();
            }
            let base = item
                .get(id)
                .and_then(Value::as_str)
                .unwrap_or("(no id)")
                .to_owned();
            // The same id twice is kept twice, the second under a suffix of its own.
            let mut k = base.clone();
            let mut n = 1;
            while keyed.contains_key(&k) {
                n += 1;
                k = format!("{base}#{n}");
            }
            keyed.insert(k, item);
        }
        result.insert(key.to_owned(), Value::Object(keyed));
    }
}

/// A message as compared: from the upstream directly (`through == false`) or through the
/// gateway, with what the gateway may change taken out.
pub fn normalise(msg: &Value, through: bool, allowed: &Allowed) -> Value {
    let mut v = msg.clone();
    if through {
        keyed_lists(&mut v, Some(&allowed.names));
        scrub(&mut v, allowed);
    } else {
        keyed_lists(&mut v, None);
    }
    v
}

/// Notifications as compared: keyed by kind and their number within it (`progress 1`,
/// `message 1`), so a dropped one is named and the order between kinds (which a gateway
/// merging streams may change) does not count; the order within a kind does.
pub fn keyed_notifications(list: &[Value]) -> Value {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Map::new();
    for n in list {
        let method = n
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("(no method)");
        let kind = method.strip_prefix("notifications/").unwrap_or(method);
        let count = seen.entry(kind.to_owned()).or_insert(0);
        *count += 1;
        out.insert(format!("{kind} {count}"), n.clone());
    }
    Value::Object(out)
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// There directly, missing through the gateway.
    Dropped,
    /// There on both sides, different.
    Altered,
    /// Missing directly, there through the gateway.
    Added,
}

/// One difference: where (a path into the compared message after a label for which message:
/// `response/result/tools/fid-large`; a key holding `/` is in brackets), what kind, and both
/// values in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub at: String,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
}

impl Difference {
    /// Lost or altered data fails; data the gateway added warns.
    pub fn verdict(&self) -> Verdict {
        match self.change {
            Change::Dropped | Change::Altered => Verdict::Fail,
            Change::Added => Verdict::Warn,
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let none = "(none)";
        match self.change {
            Change::Dropped => write!(
                f,
                "dropped at {}: {}",
                self.at,
                self.direct.as_deref().unwrap_or(none)
            ),
            Change::Added => write!(
                f,
                "added at {}: {}",
                self.at,
                self.through.as_deref().unwrap_or(none)
            ),
            Change::Altered => write!(
                f,
                "altered at {}: {} became {}",
                self.at,
                self.direct.as_deref().unwrap_or(none),
                self.through.as_deref().unwrap_or(none)
            ),
        }
    }
}

/// The most differences reported for one comparison (a result of a million differing
/// characters is one difference, but a list of a million items could be a million).
pub const MAX_DIFFERENCES: usize = 50;

/// How much of a value a difference shows.
const SHOWN: usize = 120;

/// Characters that reorder or hide text on a terminal or a page (bidirectional controls):
/// shown escaped, so a difference reads as what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A value in short: JSON text, cut at [`SHOWN`] characters with the full length said.
pub fn short(v: &Value) -> String {
    let text: String = v
        .to_string()
        .chars()
        .map(|c| {
            if is_bidi_control(c) {
                format!("\\u{:04x}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect();
    if text.len() <= SHOWN {
        return text;
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// Where two long strings first differ, said in short.
fn string_change(a: &str, b: &str) -> (String, String) {
    if a.len() <= SHOWN && b.len() <= SHOWN {
        return (short(&Value::from(a)), short(&Value::from(b)));
    }
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let around = |s: &str| {
        let mut start = at.saturating_sub(16);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let rest = s.get(start..).unwrap_or("");
        let cut: String = rest.chars().take(40).collect();
        format!(
            "a string of {} bytes, from byte {start}: {}",
            s.len(),
            short(&Value::from(cut))
        )
    };
    (around(a), around(b))
}

/// A key as a segment of a difference's place: as it is, or in brackets when it holds a `/`
/// (a resource URI), so the place stays readable.
fn segment(key: &str) -> String {
    if key.contains('/') {
        format!("[{key}]")
    } else {
        key.to_owned()
    }
}

fn walk(at: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<Difference>) {
    if out.len() >= MAX_DIFFERENCES {
        return;
    }
    let push = |out: &mut Vec<Difference>, change, direct: Option<String>, through| {
        out.push(Difference {
            at: if at.is_empty() {
                "/".to_owned()
            } else {
                at.to_owned()
            },
            change,
            direct,
            through,
        });
    };
    match (a, b) {
        (None, None) => {}
        (Some(a), None) => push(out, Change::Dropped, Some(short(a)), None),
        (None, Some(b)) => push(out, Change::Added, None, Some(short(b))),
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                walk(&format!("{at}/{}", segment(k)), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{at}/{i}"), x.get(i), y.get(i), out);
            }
        }
        (Some(Value::String(x)), Some(Value::String(y))) if x != y => {
            let (d, t) = string_change(x, y);
            push(out, Change::Altered, Some(d), Some(t));
        }
        (Some(x), Some(y)) if x != y => push(out, Change::Altered, Some(short(x)), Some(short(y))),
        _ => {}
    }
}

/// Every difference between the normalised `direct` and `through`, at most
/// [`MAX_DIFFERENCES`]; `label` names the message in each difference's place.
pub fn diff(label: &str, direct: Option<&Value>, through: Option<&Value>) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(label, direct, through, &mut out);
    out
}

/// How a feature fared through the gateway: the feature table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything came through as the upstream sent it (after normalising).
    Preserved,
    /// All of it came through, with something added.
    Added,
    /// Something came through changed.
    Altered,
    /// Something the upstream sent never came through.
    Dropped,
    /// The gateway says it does not offer the feature (the manifest), or answered that it does
    /// not know the method.
    NotSupported,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Preserved => "preserved",
            Outcome::Added => "added",
            Outcome::Altered => "altered",
            Outcome::Dropped => "dropped",
            Outcome::NotSupported => "not supported",
        }
    }

    /// The outcome of a feature with these differences.
    pub fn of(differences: &[Difference]) -> Outcome {
        let has = |c: Change| differences.iter().any(|d| d.change == c);
        if has(Change::Dropped) {
            Outcome::Dropped
        } else if has(Change::Altered) {
            Outcome::Altered
        } else if has(Change::Added) {
            Outcome::Added
        } else {
            Outcome::Preserved
        }
    }

    /// The verdict of a feature with this outcome: a gateway that says it lacks a feature is
    /// NOT-APPLICABLE when its manifest declared so, a WARN when it only answered so.
    pub fn verdict(self, declared_unsupported: bool) -> Verdict {
        match self {
            Outcome::Preserved => Verdict::Pass,
            Outcome::Added => Verdict::Warn,
            Outcome::Altered | Outcome::Dropped => Verdict::Fail,
            Outcome::NotSupported if declared_unsupported => Verdict::NotApplicable,
            Outcome::NotSupported => Verdict::Warn,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a response through the gateway says it does not know the method (-32601) where the
/// upstream answered it.
pub fn says_unsupported(direct: Option<&Value>, through: Option<&Value>) -> bool {
    let code = |v: Option<&Value>| {
        v.and_then(|m| m.get("error"))
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64)
    };
    code(through) == Some(-32601) && code(direct) != Some(-32601)
}

/// What is known of one step once both sides held it.
#[derive(Debug, Clone, Copy)]
pub struct StepSeen<'a> {
    /// Why the upstream, directly, gave no answer (nothing can be compared then).
    pub direct_failure: Option<&'a str>,
    /// Why the gateway gave no answer.
    pub through_failure: Option<&'a str>,
    /// The upstream's answer, for the difference a missing gateway answer is.
    pub direct_response: Option<&'a Value>,
    /// The gateway answered that it does not know the method.
    pub unsupported: bool,
    /// The manifest says the gateway does not offer the feature.
    pub declared_unsupported: bool,
}

/// A step's verdict and its messages, from what was seen and its differences (which the
/// returned list extends with the whole answer dropped when the gateway gave none).
pub fn judge_step(
    name: &str,
    seen: StepSeen<'_>,
    mut differences: Vec<Difference>,
) -> (Verdict, Vec<String>, Vec<Difference>) {
    let mut messages = Vec::new();
    let verdict = if let Some(why) = seen.direct_failure {
        messages.push(format!("the upstream, directly: {why}"));
        Verdict::Untestable
    } else if let Some(why) = seen.through_failure {
        messages.push(format!("through the gateway: {why}"));
        differences.push(Difference {
            at: format!("{name}/response"),
            change: Change::Dropped,
            direct: seen.direct_response.map(short),
            through: None,
        });
        Verdict::Fail
    } else if seen.unsupported {
        Outcome::NotSupported.verdict(seen.declared_unsupported)
    } else {
        differences
            .iter()
            .map(Difference::verdict)
            .max()
            .unwrap_or(Verdict::Pass)
    };
    let verdict = if seen.declared_unsupported && verdict != Verdict::Untestable {
        Verdict::NotApplicable
    } else {
        verdict
    };
    messages.extend(differences.iter().map(|d| format!("{name}: {d}")));
    (verdict, messages, differences)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allowed() -> Allowed {
        Allowed {
            names: [("gw-fid-a".to_owned(), "fid-a".to_owned())].into(),
            added_meta: vec!["io.gw/*".to_owned()],
            session_id: Some("S1".to_owned()),
        }
    }

    #[test]
    fn pages_join_and_names_map_back() {
        let pages = [
            json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "fid-b"}], "nextCursor": "x"}}),
            json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "fid-a"}]}}),
        ];
        let direct = normalise(&join_pages(&pages), false, &allowed());
        let one_page = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "gw-fid-a"}, {"name": "fid-b"}]}});
        let through = normalise(&join_pages(&[one_page]), true, &allowed());
        assert_eq!(diff("", Some(&direct), Some(&through)), vec![]);
    }

    #[test]
    fn a_missing_item_is_named() {
        let direct = json!({"result": {"tools": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
        let through = json!({"result": {"tools": [{"name": "c"}, {"name": "a"}]}});
        let d = diff(
            "",
            Some(&normalise(&direct, false, &allowed())),
            Some(&normalise(&through, true, &allowed())),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].change, d[0].at.as_str()),
            (Change::Dropped, "/result/tools/b")
        );
    }

    #[test]
    fn notifications_are_keyed_by_kind() {
        let n = |m: &str, p: u32| json!({"method": m, "params": {"progress": p}});
        let direct = [
            n("notifications/progress", 1),
            n("notifications/message", 0),
            n("notifications/progress", 2),
        ];
        let through = [
            n("notifications/message", 0),
            n("notifications/progress", 1),
        ];
        let d = diff(
            "notifications",
            Some(&keyed_notifications(&direct)),
            Some(&keyed_notifications(&through)),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].at, "notifications/progress 2");
        assert_eq!(d[0].change, Change::Dropped);
    }

    #[test]
    fn a_page_that_fails_is_the_answer() {
        let pages = [
            json!({"id": 1, "result": {"tools": [{"name": "a"}]}}),
            json!({"id": 2, "error": {"code": -32602}}),
        ];
        assert_eq!(join_pages(&pages)["error"]["code"], -32602);
    }

    #[test]
    fn allowed_meta_and_session_ids_are_not_differences() {
        let direct = json!({"result": {"_meta": {"k": 1}}});
        let through = json!({"result": {"_meta": {"k": 1, "io.gw/trace": "t"}, "s": "S1"}});
        let d = diff(
            "",
            Some(&normalise(&direct, false, &allowed())),
            Some(&normalise(&through, true, &allowed())),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].change, Change::Added);
        assert_eq!(d[0].at, "/result/s");
        assert_eq!(d[0].verdict(), Verdict::Warn);
        let other = json!({"result": {"_meta": {"k": 1, "other": 2}}});
        let d = diff(
            "",
            Some(&normalise(&direct, false, &allowed())),
            Some(&normalise(&other, true, &allowed())),
        );
        assert_eq!(d[0].at, "/result/_meta/other");
    }

    #[test]
    fn changes_are_classified_and_judged() {
        let a = json!({"error": {"code": -32042, "data": {"x": 1}}});
        let b = json!({"error": {"code": -32603}});
        let d = diff("response", Some(&a), Some(&b));
        assert_eq!(d.len(), 2);
        assert!(
            d.iter()
                .any(|x| x.change == Change::Altered && x.at == "response/error/code")
        );
        assert!(
            d.iter()
                .any(|x| x.change == Change::Dropped && x.at == "response/error/data")
        );
        assert!(d.iter().all(|x| x.verdict() == Verdict::Fail));
        assert_eq!(Outcome::of(&d), Outcome::Dropped);
        assert_eq!(Outcome::of(&[]), Outcome::Preserved);
        assert_eq!(Outcome::Dropped.verdict(false), Verdict::Fail);
        assert_eq!(Outcome::NotSupported.verdict(true), Verdict::NotApplicable);
    }

    #[test]
    fn long_strings_are_shown_in_short() {
        let a = "a".repeat(1 << 20);
        let mut b = a.clone();
        b.replace_range(500_000..500_001, "b");
        let d = diff("", Some(&json!(a)), Some(&json!(b)));
        assert_eq!(d.len(), 1);
        let shown = d[0].to_string();
        assert!(shown.len() < 400, "{shown}");
        assert!(shown.contains("from byte 499984"), "{shown}");
    }

    #[test]
    fn differences_are_bounded() {
        let a: Vec<u32> = (0..10_000).collect();
        let d = diff("", Some(&json!(a)), Some(&json!([])));
        assert_eq!(d.len(), MAX_DIFFERENCES);
    }

    #[test]
    fn steps_are_judged() {
        let seen = StepSeen {
            direct_failure: None,
            through_failure: None,
            direct_response: None,
            unsupported: false,
            declared_unsupported: false,
        };
        let altered = diff("r", Some(&json!(1)), Some(&json!(2)));
        assert_eq!(judge_step("s", seen, altered.clone()).0, Verdict::Fail);
        assert_eq!(judge_step("s", seen, vec![]).0, Verdict::Pass);
        let gone = StepSeen {
            through_failure: Some("HTTP 502"),
            direct_response: Some(&json!({"result": {}})),
            ..seen
        };
        let (v, m, d) = judge_step("s", gone, vec![]);
        assert_eq!((v, d.len()), (Verdict::Fail, 1));
        assert!(m[0].contains("HTTP 502") && m[1].contains("dropped at s/response"));
        let broken = StepSeen {
            direct_failure: Some("refused"),
            ..seen
        };
        assert_eq!(judge_step("s", broken, vec![]).0, Verdict::Untestable);
        let unknown = StepSeen {
            unsupported: true,
            ..seen
        };
        assert_eq!(judge_step("s", unknown, altered.clone()).0, Verdict::Warn);
        let declared = StepSeen {
            declared_unsupported: true,
            ..unknown
        };
        assert_eq!(judge_step("s", declared, altered).0, Verdict::NotApplicable);
    }

    #[test]
    fn unknown_method_is_not_supported() {
        let direct = json!({"result": {}});
        let through = json!({"error": {"code": -32601}});
        assert!(says_unsupported(Some(&direct), Some(&through)));
        assert!(!says_unsupported(Some(&through), Some(&through)));
    }
}
