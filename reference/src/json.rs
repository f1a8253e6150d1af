//! Building JSON values on hot paths. `serde_json::json!` copies every interpolated `Value`
//! through the serializer (a deep copy per field); these helpers move owned values instead.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// A record's JSON text, made once on first use. It is a cache, not data: it compares equal to
/// any other, is never stored, and a clone starts empty (a clone is usually about to be edited,
/// and must not carry the text of what it was).
#[derive(Default)]
pub(crate) struct TextCache(OnceLock<Box<str>>);

impl TextCache {
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> String) -> &str {
        self.0.get_or_init(|| make().into_boxed_str())
    }
}

impl Clone for TextCache {
    fn clone(&self) -> Self {
        TextCache::default()
    }
}

impl PartialEq for TextCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for TextCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TextCache")
    }
}

/// An object with these keys, in order, taking ownership of the values.
pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
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
    fn a_text_cache_is_made_once_and_a_clone_starts_empty() {
        let cache = TextCache::default();
        assert_eq!(cache.get_or_init(|| "a".into()), "a");
        assert_eq!(cache.get_or_init(|| "b".into()), "a");
        let copy = cache.clone();
        assert_eq!(copy.get_or_init(|| "c".into()), "c");
        assert_eq!(cache, copy);
    }

    #[test]
    fn keys_keep_their_order_and_values_move_in() {
        let inner = json!({"b": [1, 2]});
        let v = object([("z", Value::from(1)), ("a", inner)]);
        assert_eq!(v.to_string(), r#"{"z":1,"a":{"b":[1,2]}}"#);
    }
}
