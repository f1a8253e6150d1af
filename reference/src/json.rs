//! Building JSON values on hot paths. `serde_json::json!` copies every interpolated `Value`
//! through the serializer (a deep copy per field); these helpers move owned values instead.

use serde_json::{Map, Value};

/// An object with these keys, in order, taking ownership of the values.
pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in pairs {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_keep_their_order_and_values_move_in() {
        let inner = json!({"b": [1, 2]});
        let v = object([("z", Value::from(1)), ("a", inner)]);
        assert_eq!(v.to_string(), r#"{"z":1,"a":{"b":[1,2]}}"#);
    }
}
