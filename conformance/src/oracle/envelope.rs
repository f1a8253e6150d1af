//! What a JSON-RPC request body is (§2 "Body handling", C-RPC-01..06): a parse error, an
//! invalid request (with the id to answer with), or a request.
//!
//! The rules, in order: a body that is not JSON is a parse error; a body that is not an object,
//! an `id` that is neither a string nor an integer (answered with `id: null`), `jsonrpc` other
//! than `"2.0"`, a `method` that is not a non-empty string, `params` that is not an object
//! (`null` counts as `{}`), or a method that does not match `^[a-zA-Z][a-zA-Z0-9_./-]*$` or is
//! longer than 128 characters is an invalid request. A missing `id` is allowed (the gateway
//! generates one).
//!
//! ContextForge parses with Python's `json`, which accepts things RFC 8259 does not (`NaN`,
//! lone surrogates, a byte-order mark, deep nesting) and treats `true` as an integer; those
//! cases, and `id: null`, are undecided here.

use serde_json::{Map, Value};

/// The oracle's judgement of one body.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// -32700, HTTP 400.
    ParseError,
    /// -32600, answered with this id (`None`: `id: null`).
    Invalid {
        id: Option<Value>,
    },
    /// A request; `id: None` means the body had no id.
    Request {
        method: String,
        id: Option<Value>,
        params: Map<String, Value>,
    },
    Unspecified(&'static str),
}

/// The longest method name accepted.
pub const MAX_METHOD_CHARS: usize = 128;

/// Judge one request body.
pub fn judge(body: &[u8]) -> Envelope {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return parse_failure(body),
    };
    if nesting_depth(&value) > 64 {
        return Envelope::Unspecified("deep nesting (a JSON depth limit applies)");
    }
    let Value::Object(obj) = value else {
        return Envelope::Invalid { id: None };
    };
    let id = match obj.get("id") {
        None => None,
        Some(v @ Value::String(_)) => Some(v.clone()),
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v.clone()),
        Some(Value::Null) => return Envelope::Unspecified("`id: null`"),
        Some(Value::Bool(_)) => {
            return Envelope::Unspecified("a boolean id (Python's bool is an int)");
        }
        Some(Value::Number(n))
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18) =>
        {
            return Envelope::Unspecified("an integer id too large for 64 bits");
        }
        Some(_) => return Envelope::Invalid { id: None },
    };
    let invalid = || Envelope::Invalid { id: id.clone() };
    if obj.get("jsonrpc") != Some(&Value::String("2.0".to_owned())) {
        return invalid();
    }
    let Some(Value::String(method)) = obj.get("method") else {
        return invalid();
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return invalid(),
    };
    if !valid_method(method) {
        return invalid();
    }
    Envelope::Request {
        method: method.clone(),
        id,
        params,
    }
}

/// `^[a-zA-Z][a-zA-Z0-9_./-]*$`, at most 128 characters.
pub fn valid_method(m: &str) -> bool {
    let mut chars = m.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && m.chars().count() <= MAX_METHOD_CHARS
}

fn parse_failure(body: &[u8]) -> Envelope {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let lone_surrogate = [
        "\\ud8", "\\ud9", "\\uda", "\\udb", "\\udc", "\\udd", "\\ude", "\\udf",
    ]
    .iter()
    .any(|s| lower.contains(s));
    let pythonic = body.starts_with(b"\xef\xbb\xbf")
        || lone_surrogate
        || text.contains("NaN")
        || text.contains("Infinity")
        || body.contains(&0)
        || body.iter().filter(|&&b| b == b'[' || b == b'{').count() > 64;
    if pythonic {
        Envelope::Unspecified("input Python's json accepts but RFC 8259 does not")
    } else {
        Envelope::ParseError
    }
}

fn nesting_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(nesting_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn j(v: Value) -> Envelope {
        judge(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn c_rpc_01_to_06() {
        assert_eq!(judge(b"{"), Envelope::ParseError);
        assert_eq!(judge(b"[]"), Envelope::Invalid { id: None });
        assert_eq!(
            j(json!({"jsonrpc": "1.0", "method": "ping", "id": 1})),
            Envelope::Invalid { id: Some(json!(1)) }
        );
        assert_eq!(
            j(json!({"jsonrpc": "2.0", "method": "ping", "id": 1, "params": [1, 2]})),
            Envelope::Invalid { id: Some(json!(1)) }
        );
        assert!(matches!(
            j(json!({"jsonrpc": "2.0", "method": "ping", "id": 1, "params": null})),
            Envelope::Request { .. }
        ));
        for id in [json!({"a": 1}), json!(1.5)] {
            assert_eq!(
                j(json!({"jsonrpc": "2.0", "method": "ping", "id": id})),
                Envelope::Invalid { id: None }
            );
        }
        for m in ["1abc", "<script>", &"a".repeat(129)] {
            assert_eq!(
                j(json!({"jsonrpc": "2.0", "method": m, "id": "x"})),
                Envelope::Invalid {
                    id: Some(json!("x"))
                }
            );
        }
        assert!(valid_method(&"a".repeat(128)));
    }
}
