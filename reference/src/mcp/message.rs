//! What a POST to the MCP transport carries (pure): a request to answer, or a notification or a
//! response to one of our requests, which are acknowledged with 202 and no body.

use serde_json::{Map, Value};

use crate::rpc::envelope::{self, EnvelopeError, RpcRequest};

/// One JSON-RPC message from the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// Has an `id`: answered.
    Request(RpcRequest),
    /// No `id`: acknowledged.
    Notification { method: String },
    /// The client's answer to a server request (`result` or `error`, no `method`): acknowledged.
    Response,
}

impl Incoming {
    pub(crate) fn is_initialize(&self) -> bool {
        matches!(self, Incoming::Request(r) if r.method == "initialize")
    }
}

/// Classify a parsed body. Batches (arrays) are not accepted: the transport carries one message
/// per POST from protocol 2025-06-18 on, and no supported client sends batches.
pub(crate) fn classify(value: Value, body_len: usize) -> Result<Incoming, EnvelopeError> {
    let is_response = value.as_object().is_some_and(|o| {
        !o.contains_key("method") && (o.contains_key("result") || o.contains_key("error"))
    });
    if is_response {
        return match value {
            Value::Object(o) => check_response(&o),
            _ => Err(EnvelopeError::Invalid { id: Value::Null }),
        };
    }
    let request = envelope::parse_value(value, body_len)?;
    Ok(match request.id {
        Some(_) => Incoming::Request(request),
        None => Incoming::Notification {
            method: request.method,
        },
    })
}

fn check_response(o: &Map<String, Value>) -> Result<Incoming, EnvelopeError> {
    let id = o.get("id").cloned().unwrap_or(Value::Null);
    let id_ok = match &id {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        // A response to a request the server could not identify carries `id: null`.
        Value::Null => o.contains_key("error"),
        _ => false,
    };
    let one_outcome = o.contains_key("result") != o.contains_key("error");
    let error_ok = o.get("error").is_none_or(Value::is_object);
    if o.get("jsonrpc").and_then(Value::as_str) == Some("2.0") && id_ok && one_outcome && error_ok {
        Ok(Incoming::Response)
    } else {
        Err(EnvelopeError::Invalid {
            id: if id_ok { id } else { Value::Null },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: Value) -> Result<Incoming, EnvelopeError> {
        let len = v.to_string().len();
        classify(v, len)
    }

    #[test]
    fn requests_notifications_and_responses() {
        assert!(matches!(
            kind(json!({"jsonrpc":"2.0","id":1,"method":"initialize"})),
            Ok(i) if i.is_initialize()
        ));
        assert_eq!(
            kind(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Ok(Incoming::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            kind(json!({"jsonrpc":"2.0","id":"a","result":{}})),
            Ok(Incoming::Response)
        );
        assert_eq!(
            kind(json!({"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}})),
            Ok(Incoming::Response)
        );
    }

    #[test]
    fn malformed_messages_are_invalid() {
        for bad in [
            json!([]),
            json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]),
            json!(3),
            json!({"jsonrpc":"2.0","method":5}),
            json!({"jsonrpc":"1.0","method":"notifications/x"}),
            json!({"jsonrpc":"2.0","id":1,"result":{},"error":{}}),
            json!({"jsonrpc":"2.0","id":null,"result":{}}),
            json!({"jsonrpc":"2.0","id":[1],"result":{}}),
            json!({"jsonrpc":"2.0","id":1,"error":"x"}),
            json!({"id":1,"result":{}}),
            json!({}),
        ] {
            assert!(
                matches!(kind(bad.clone()), Err(EnvelopeError::Invalid { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            kind(json!({"jsonrpc":"2.0","id":7,"result":{},"error":{}})),
            Err(EnvelopeError::Invalid { id: json!(7) })
        );
    }
}
