//! REST tools: an HTTP endpoint called with the tool's arguments.

use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use super::{UpstreamClient, UpstreamError};
use crate::store::Tool;

/// Build the query string for a GET/DELETE tool from its arguments.
pub(crate) fn query_from_arguments(args: &serde_json::Map<String, Value>) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
    args.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{}={}", enc(k), enc(&text))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Call a REST tool and turn the answer into an MCP tool result: the upstream body as one text
/// item (pretty-printed when it is JSON); `isError` when the upstream answered an error status.
pub(crate) async fn call_rest_tool(
    client: &UpstreamClient,
    tool: &Tool,
    arguments: &serde_json::Map<String, Value>,
) -> Result<Value, UpstreamError> {
    let url = tool
        .url
        .as_deref()
        .ok_or_else(|| UpstreamError::BadUrl(String::new()))?;
    let method = Method::from_bytes(tool.request_type.to_ascii_uppercase().as_bytes())
        .unwrap_or(Method::POST);
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(h)) = &tool.headers {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                headers.push((k.clone(), v.to_owned()));
            }
        }
    }
    let (url, body) = if method == Method::GET || method == Method::DELETE {
        let q = query_from_arguments(arguments);
        let sep = if url.contains('?') { '&' } else { '?' };
        (
            if q.is_empty() {
                url.to_owned()
            } else {
                format!("{url}{sep}{q}")
            },
            Bytes::new(),
        )
    } else {
        headers.push(("content-type".into(), "application/json".into()));
        (
            url.to_owned(),
            Bytes::from(serde_json::to_vec(arguments).unwrap_or_default()),
        )
    };
    let resp = client.send(method, &url, &headers, body).await?;
    let text = match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&resp.body).into_owned(),
    };
    let is_error = !resp.status.is_success();
    Ok(json!({"content": [{"type": "text", "text": text}], "isError": is_error}))
}
