//! Server-id injection: putting the path's server into a JSON-RPC body (issue 3018, D11).

use serde_json::{Map, Value};

/// Return `body` with `params.server_id` set to `server_id`, creating `params` when it is missing
/// or not an object. Nothing else in the body changes (key order included). Non-object bodies
/// are returned unchanged.
pub fn inject_server_id(body: &Value, server_id: &str) -> Value {
    let mut out = body.clone();
    if let Value::Object(obj) = &mut out {
        let params = obj
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        if !params.is_object() {
            *params = Value::Object(Map::new());
        }
        if let Value::Object(p) = params {
            p.insert("server_id".to_owned(), Value::String(server_id.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn injection_sets_only_server_id() {
        let b = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
        assert_eq!(
            inject_server_id(&b, "S"),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"server_id":"S"}})
        );
        let b = json!({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":1,"server_id":"T"}});
        assert_eq!(
            inject_server_id(&b, "S")["params"],
            json!({"a":1,"server_id":"S"})
        );
        let b = json!({"jsonrpc":"2.0","id":1,"method":"x","params":[1]});
        assert_eq!(
            inject_server_id(&b, "S")["params"],
            json!({"server_id":"S"})
        );
        assert_eq!(inject_server_id(&json!([1]), "S"), json!([1]));
    }
}
