//! JSON-RPC 2.0 envelopes: parsing and validating a request body (pure), and building responses.
//!
//! The order of checks fixes which error a malformed body gets (C-RPC-01..07).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::json::object;

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
pub(crate) const INVALID_PARAMS: i64 = -32602;
pub(crate) const INTERNAL_ERROR: i64 = -32603;
/// ContextForge's "not found" for resources, prompts and sessions.
pub(crate) const NOT_FOUND: i64 = -32002;
/// Access denied (D9: denials use this code, never 0).
pub(crate) const ACCESS_DENIED: i64 = -32003;

/// Longest accepted method name.
pub(crate) const MAX_METHOD_LEN: usize = 128;
/// Largest accepted `params`, serialised.
pub(crate) const MAX_PARAMS_BYTES: usize = 256 * 1024;

static METHOD_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][a-zA-Z0-9_./-]*$").expect("static regex"));

/// A request that passed envelope validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// `None` when the body had no `id` (a notification).
    pub id: Option<Value>,
    pub method: String,
    pub params: Map<String, Value>,
}

/// A JSON-RPC error with the HTTP status it travels with (200 unless stated).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
    pub http_status: u16,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
            http_status: 200,
        }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }

    pub(crate) fn invalid_request() -> Self {
        RpcError::new(INVALID_REQUEST, "Invalid Request")
    }

    pub(crate) fn access_denied(method: &str) -> Self {
        RpcError::new(ACCESS_DENIED, "Access denied").with_data(json!({"method": method}))
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        RpcError::new(INTERNAL_ERROR, "Internal error").with_data(json!({"reason": reason.into()}))
    }
}

/// Why an envelope was refused, with the id to answer with.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvelopeError {
    /// Not JSON: HTTP 400, -32700.
    Parse,
    /// JSON but not a valid request: HTTP 200, -32600.
    Invalid { id: Value },
}

impl EnvelopeError {
    pub(crate) fn into_response_body(self) -> (u16, Value) {
        match self {
            EnvelopeError::Parse => (
                400,
                error_body(&Value::Null, &RpcError::new(PARSE_ERROR, "Parse error")),
            ),
            EnvelopeError::Invalid { id } => (200, error_body(&id, &RpcError::invalid_request())),
        }
    }
}

fn valid_id(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// Whether `m` is an acceptable method name.
pub(crate) fn valid_method(m: &str) -> bool {
    !m.is_empty() && m.len() <= MAX_METHOD_LEN && METHOD_NAME.is_match(m)
}

/// The first `"method": "..."` member of a raw body, as a scanner that never parses would read
/// it (escapes not undone): only the defect matrix's gateway asks.
pub(crate) fn first_method(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"method\"")?;
    let rest = text[at + 8..].trim_start().strip_prefix(':')?.trim_start();
    let value = rest.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_owned())
}

/// Parse and validate a request body.
pub fn parse_request(body: &[u8]) -> Result<RpcRequest, EnvelopeError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| EnvelopeError::Parse)?;
    parse_value(value, body.len())
}

/// Validate an already parsed body of `body_len` bytes.
pub(crate) fn parse_value(value: Value, body_len: usize) -> Result<RpcRequest, EnvelopeError> {
    let Value::Object(mut obj) = value else {
        return Err(EnvelopeError::Invalid { id: Value::Null });
    };
    let id = match obj.remove("id") {
        None => None,
        Some(v) if valid_id(&v) => Some(v),
        Some(_) => return Err(EnvelopeError::Invalid { id: Value::Null }),
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(EnvelopeError::Invalid { id: answer_id });
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) if valid_method(&m) => m,
        _ => return Err(EnvelopeError::Invalid { id: answer_id }),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(EnvelopeError::Invalid { id: answer_id }),
    };
    // `params` is part of the body, so a small body needs no measuring (this runs per request).
    if body_len > MAX_PARAMS_BYTES
        && serde_json::to_vec(&params).map_or(true, |b| b.len() > MAX_PARAMS_BYTES)
    {
        return Err(EnvelopeError::Invalid { id: answer_id });
    }
    Ok(RpcRequest { id, method, params })
}

/// `{"jsonrpc":"2.0","result":...,"id":...}`
pub(crate) fn result_body(id: &Value, result: Value) -> Value {
    object([
        ("jsonrpc", Value::from("2.0")),
        ("result", result),
        ("id", id.clone()),
    ])
}

/// [`result_body`] as text, around a result that is already JSON text.
pub(crate) fn result_text(id: &Value, result: &str) -> String {
    let id = id.to_string();
    let mut out = String::with_capacity(result.len() + id.len() + 32);
    out.push_str(r#"{"jsonrpc":"2.0","result":"#);
    out.push_str(result);
    out.push_str(r#","id":"#);
    out.push_str(&id);
    out.push('}');
    out
}

/// `{"jsonrpc":"2.0","error":{...},"id":...}`
pub(crate) fn error_body(id: &Value, err: &RpcError) -> Value {
    let mut e = object([
        ("code", Value::from(err.code)),
        ("message", Value::from(err.message.as_str())),
    ]);
    if let (Some(d), Value::Object(m)) = (&err.data, &mut e) {
        m.insert("data".to_owned(), d.clone());
    }
    object([
        ("jsonrpc", Value::from("2.0")),
        ("error", e),
        ("id", id.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_text_is_result_body_as_text() {
        let result = serde_json::json!({"tools": [{"name": "x"}]});
        for id in [Value::from(7), Value::from("a\"b"), Value::Null] {
            assert_eq!(
                result_text(&id, &result.to_string()),
                result_body(&id, result.clone()).to_string()
            );
        }
    }

    fn invalid_id(body: &str) -> Value {
        match parse_request(body.as_bytes()) {
            Err(EnvelopeError::Invalid { id }) => id,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn c_rpc_01_unparseable_is_400_parse_error() {
        assert_eq!(parse_request(b"{"), Err(EnvelopeError::Parse));
        let (status, body) = EnvelopeError::Parse.into_response_body();
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null})
        );
    }

    #[test]
    fn c_rpc_02_batches_and_scalars_are_invalid() {
        assert_eq!(invalid_id("[]"), Value::Null);
        assert_eq!(
            invalid_id(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Value::Null
        );
        assert_eq!(invalid_id("3"), Value::Null);
    }

    #[test]
    fn c_rpc_03_wrong_version_keeps_the_id() {
        assert_eq!(
            invalid_id(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#),
            json!(1)
        );
    }

    #[test]
    fn c_rpc_04_params_must_be_an_object_or_null() {
        assert_eq!(
            invalid_id(r#"{"jsonrpc":"2.0","method":"ping","id":1,"params":[1,2]}"#),
            json!(1)
        );
        let ok =
            parse_request(br#"{"jsonrpc":"2.0","method":"ping","id":1,"params":null}"#).unwrap();
        assert!(ok.params.is_empty());
    }

    #[test]
    fn c_rpc_05_ids_must_be_strings_or_integers() {
        assert_eq!(
            invalid_id(r#"{"jsonrpc":"2.0","method":"ping","id":{"a":1}}"#),
            Value::Null
        );
        assert_eq!(
            invalid_id(r#"{"jsonrpc":"2.0","method":"ping","id":1.5}"#),
            Value::Null
        );
        assert_eq!(
            invalid_id(r#"{"jsonrpc":"2.0","method":"ping","id":null}"#),
            Value::Null
        );
        assert!(parse_request(br#"{"jsonrpc":"2.0","method":"ping","id":"x"}"#).is_ok());
    }

    #[test]
    fn c_rpc_06_method_names_are_validated() {
        for m in ["1abc", "<script>", "", "a b"] {
            let body = json!({"jsonrpc":"2.0","method":m,"id":1}).to_string();
            assert_eq!(invalid_id(&body), json!(1), "{m}");
        }
        let long = "a".repeat(129);
        assert_eq!(
            invalid_id(&json!({"jsonrpc":"2.0","method":long,"id":1}).to_string()),
            json!(1)
        );
        assert!(valid_method(&"a".repeat(128)));
        assert!(valid_method("notifications/initialized"));
    }

    #[test]
    fn c_rpc_07_notifications_have_no_id() {
        let r =
            parse_request(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(r.id, None);
    }
}
