//! Server-id injection (§3.3 step 6, D11): the server id from the path is written into
//! `params.server_id` of a JSON-RPC body before it is dispatched.
//!
//! The rule: `params.server_id` is set (an existing value is replaced); `params` is created
//! when it is missing or not an object (`null`, an array, a scalar); nothing else changes.
//! What happens to a body that is not a JSON object is not decided.

use serde_json::{Map, Value};

/// The body after injection; `None` when `body` is not an object (undecided).
pub fn inject(body: &Value, server_id: &str) -> Option<Value> {
    let mut out = body.as_object()?.clone();
    let mut params = match out.remove("params") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    params.insert("server_id".to_owned(), Value::String(server_id.to_owned()));
    out.insert("params".to_owned(), Value::Object(params));
    Some(Value::Object(out))
}

/// Check that `after` is `before` with only `params.server_id` set to `server_id`. Key order
/// is not compared. `Err` describes the first difference.
pub fn check(before: &Value, after: &Value, server_id: &str) -> Result<(), String> {
    let Some(expected) = inject(before, server_id) else {
        return Ok(());
    };
    if &expected == after {
        return Ok(());
    }
    let (Some(e), Some(a)) = (expected.as_object(), after.as_object()) else {
        return Err(format!("the injected body is not an object: {after}"));
    };
    for (k, v) in e {
        match a.get(k) {
            None => return Err(format!("key {k:?} is missing after injection")),
            Some(got) if got != v => {
                return Err(format!("key {k:?} is {got}, expected {v}"));
            }
            Some(_) => {}
        }
    }
    let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    Err(format!("keys {extra:?} were added by injection"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_are_created_or_extended() {
        let s = "S";
        assert_eq!(
            inject(&json!({"method": "tools/list"}), s),
            Some(json!({"method": "tools/list", "params": {"server_id": "S"}}))
        );
        assert_eq!(
            inject(&json!({"params": [1, 2]}), s),
            Some(json!({"params": {"server_id": "S"}}))
        );
        assert_eq!(
            inject(&json!({"params": {"a": 1, "server_id": "T"}}), s),
            Some(json!({"params": {"a": 1, "server_id": "S"}}))
        );
        assert_eq!(inject(&json!([1]), s), None);
    }

    #[test]
    fn check_names_the_difference() {
        let before = json!({"id": 1, "params": {"a": 1}});
        assert!(
            check(
                &before,
                &json!({"id": 1, "params": {"a": 1, "server_id": "S"}}),
                "S"
            )
            .is_ok()
        );
        let err = check(
            &before,
            &json!({"id": 2, "params": {"a": 1, "server_id": "S"}}),
            "S",
        );
        assert!(err.unwrap_err().contains("\"id\""));
        let err = check(&before, &json!({"id": 1, "params": {"a": 1}}), "S");
        assert!(err.unwrap_err().contains("params"));
    }
}
