//! Snapshots of responses (insta), stored under `snapshots/<profile>/<area>/`.
//!
//! A response is reduced to its status, a few meaningful headers and its body, then redacted:
//! values the run provisioned become their names (`[servers.S.id]`), and remaining ids, UUIDs,
//! JWTs, session ids, dates and loopback ports become placeholders, so a snapshot is the same on
//! every run. insta decides what happens on a difference: locally a `.snap.new` is written for
//! `cargo insta review --workspace-root .`; with `CI=true` nothing is written and the check fails.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::client::WireResponse;
use crate::runner::body_json;

/// Headers worth keeping in a snapshot; everything else (dates, lengths, servers) is noise.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "www-authenticate",
    "location",
    "allow",
    "cache-control",
    "mcp-session-id",
    "x-robots-tag",
];

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
            "[jwt]",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
            "[date]",
        ),
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "[uuid]",
        ),
        (r"\b[0-9a-f]{32}\b", "[id]"),
        (r"(?:127\.0\.0\.1|localhost|\[::1\]):\d+", "[host]"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("static regex"), to))
    .collect()
});

/// Redact one string.
pub fn redact_str(s: &str, known: &[(String, String)]) -> String {
    let mut out = s.to_owned();
    for (value, placeholder) in known {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), placeholder);
        }
    }
    for (re, to) in PATTERNS.iter() {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

fn redact_value(v: &Value, known: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => Value::String(redact_str(s, known)),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_value(x, known)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (redact_str(k, known), redact_value(x, known)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The snapshot of a response.
pub fn redacted_response(resp: &WireResponse, known: &[(String, String)]) -> Value {
    let mut headers = Map::new();
    for name in KEPT_HEADERS {
        if let Some(v) = resp.header(name) {
            let v = if *name == "mcp-session-id" {
                "[session-id]".to_owned()
            } else {
                redact_str(&v, known)
            };
            headers.insert((*name).to_owned(), Value::String(v));
        }
    }
    let body = match body_json(resp) {
        Some(j) => redact_value(&j, known),
        None => Value::String(redact_str(&resp.text(), known)),
    };
    json!({"status": resp.status, "headers": headers, "body": body})
}

/// Where snapshots are kept.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    /// The top-level `snapshots/` directory (absolute).
    pub dir: PathBuf,
    /// The profile's subdirectory: responses differ between kinds of gateway.
    pub profile: String,
}

impl SnapshotStore {
    /// Compare `value` with the stored snapshot `<area>/<slug>__<name>.snap`.
    pub fn check(
        &self,
        scenario_id: &str,
        step: &str,
        name: &str,
        scenario_path: &Path,
        value: &Value,
    ) -> Result<(), String> {
        let (area, slug) = scenario_id.split_once('/').unwrap_or(("", scenario_id));
        let dir = self.dir.join(&self.profile).join(area);
        let snap_name = format!("{}__{name}", slug.replace('/', "__"));
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_sort_maps(true);
        settings.set_input_file(scenario_path);
        settings.set_description(format!("{scenario_id}:{step}"));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_yaml_snapshot!(snap_name.as_str(), value));
        }));
        outcome.map_err(|_| {
            let file = dir.join(format!("{snap_name}.snap"));
            if file.exists() {
                format!(
                    "snapshot `{name}` differs from {} (review with `cargo insta review --workspace-root .`)",
                    file.display()
                )
            } else {
                format!(
                    "snapshot `{name}` is new: no {} yet (accept with `cargo insta review --workspace-root .`)",
                    file.display()
                )
            }
        })
    }
}

/// Keep insta's snapshot panics (already turned into check failures) off the terminal.
pub fn quiet_snapshot_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.starts_with("snapshot assertion for") {
            default(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values_then_patterns() {
        let known = vec![(
            "0123456789abcdef0123456789abcdef".to_owned(),
            "[servers.S.id]".to_owned(),
        )];
        assert_eq!(
            redact_str(
                "http://127.0.0.1:4444/servers/0123456789abcdef0123456789abcdef/mcp at 2026-11-22T02:23:37.214521",
                &known
            ),
            "http://[host]/servers/[servers.S.id]/mcp at [date]"
        );
        assert_eq!(
            redact_str("ffffffffffffffffffffffffffffffff eyJa.eyJb.c", &[]),
            "[id] [jwt]"
        );
    }
}
