//! Reading verdicts back from a `report.json`, so a saved run can be compared with a baseline
//! (or re-bless it) without sending a request again: `mcpgw-conformance gate`.
//!
//! Only what a baseline comparison needs is read (ids, verdicts, messages); transcripts stay
//! behind.

use serde_json::Value;

use crate::scenario::Level;
use crate::verdict::{CheckResult, ScenarioResult, Verdict};

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("failed to read report {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to read report {path}: {message}")]
    Shape { path: String, message: String },
}

/// The verdicts of a saved `report.json`.
pub fn results(path: &std::path::Path) -> Result<Vec<ScenarioResult>, ReadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    let shape = |message: String| ReadError::Shape {
        path: shown.clone(),
        message,
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| shape(e.to_string()))?;
    match v.get("schema_version").and_then(Value::as_u64) {
        Some(n) if n == u64::from(super::REPORT_SCHEMA_VERSION) => {}
        other => {
            return Err(shape(format!(
                "schema_version {other:?}, this harness reads {}",
                super::REPORT_SCHEMA_VERSION
            )));
        }
    }
    let scenarios = v
        .get("scenarios")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("no `scenarios` array".to_owned()))?;
    scenarios
        .iter()
        .map(|s| scenario(s).map_err(&shape))
        .collect()
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("an entry has no `{key}`: {}", clip(v)))
}

fn clip(v: &Value) -> String {
    v.to_string().chars().take(120).collect()
}

fn verdict(v: &Value) -> Result<Verdict, String> {
    let name = text(v, "verdict")?;
    Verdict::ALL
        .into_iter()
        .find(|x| x.as_str() == name)
        .ok_or_else(|| format!("unknown verdict {name:?}"))
}

fn scenario(s: &Value) -> Result<ScenarioResult, String> {
    let id = text(s, "id")?;
    let checks = s
        .get("checks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            Ok(CheckResult {
                id: text(c, "id")?,
                name: text(c, "name").unwrap_or_default(),
                level: Level::Must,
                verdict: verdict(c)?,
                // Read too: a baselined check failing only for a missing snapshot is judged
                // by its messages.
                messages: c
                    .get("messages")
                    .and_then(Value::as_array)
                    .map(|m| {
                        m.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                transcript: None,
                upstream: Vec::new(),
                attempts: 0,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ScenarioResult {
        area: id.split('/').next().unwrap_or_default().to_owned(),
        title: text(s, "title").unwrap_or_default(),
        spec: Vec::new(),
        level: Level::Must,
        path: String::new(),
        verdict: verdict(s)?,
        reason: s.get("reason").and_then(Value::as_str).map(str::to_owned),
        provisioning_transcript: None,
        checks,
        cleanup_errors: Vec::new(),
        replay: String::new(),
        forwards: s.get("forwards").and_then(|f| {
            Some(crate::verdict::ForwardTally {
                requests: usize::try_from(f.get("requests")?.as_u64()?).ok()?,
                forwarded: usize::try_from(f.get("forwarded")?.as_u64()?).ok()?,
            })
        }),
        duration_ms: 0,
        id,
    })
}
