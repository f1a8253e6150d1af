//! Matchers: what an expected value in a scenario may say about an actual value.
//!
//! A literal matches exactly (an object matches as a subset: every key written must be present
//! and match; extra keys are fine; an array matches element by element with the same length).
//! An object whose keys all start with `$` is a set of operators, all of which must hold.
//! Matching is pure: [`Matcher::check`] takes the actual value (`None` when it is absent) and
//! returns the first mismatch with the JSON path where it was found.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An expected value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `null`, a boolean, a number or a string: equal to the actual value.
    Scalar(Value),
    /// Same length, element `i` matches element `i`.
    Array(Vec<Matcher>),
    /// Every key present and matching; other keys ignored.
    Object(BTreeMap<String, Matcher>),
    /// Every operator holds.
    Ops(Vec<Op>),
}

/// One `$operator`.
#[derive(Debug, Clone)]
pub enum Op {
    /// Deep equality (objects must match exactly, not as a subset).
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    /// Substring of a string, element of an array, or key of an object.
    Contains(Value),
    StartsWith(String),
    /// A regular expression found in a string (anchor it with `^...$` for a full match).
    Matches(PatternRegex),
    /// The length of a string (in characters), array or object.
    Len(Box<Matcher>),
    /// `true`: the value must be missing; `false`: it must be present.
    Absent(bool),
    /// `true`: the value must be present; `false`: it must be missing.
    Present(bool),
    Gte(f64),
    Lte(f64),
    Not(Box<Matcher>),
    AnyOf(Vec<Matcher>),
    /// Some element of an array matches (for a string: it contains the literal text).
    Includes(Box<Matcher>),
    /// No element of an array matches (for a string: it does not contain the literal text).
    Excludes(Box<Matcher>),
    /// A JWT (`header.payload.signature`) whose payload, decoded but not verified, matches.
    JwtClaims(Box<Matcher>),
}

/// A regular expression and its source (which may hold `${...}` references until run time).
#[derive(Debug, Clone)]
pub struct PatternRegex {
    pub source: String,
    pub regex: Regex,
}

impl PatternRegex {
    /// Compile `src`. `${...}` references are checked with a stand-in value, since the real one
    /// is only known at run time (it is inserted as is, not escaped).
    pub fn new(src: &str) -> Result<PatternRegex, String> {
        let probe = crate::scenario::subst::parse(src)
            .map(|pieces| {
                pieces
                    .into_iter()
                    .map(|p| match p {
                        crate::scenario::subst::Piece::Text(t) => t,
                        crate::scenario::subst::Piece::Var { .. } => "x".to_owned(),
                    })
                    .collect::<String>()
            })
            .unwrap_or_else(|_| src.to_owned());
        Regex::new(&probe).map_err(|e| {
            format!(
                "`$matches` is not a valid regex: {}",
                e.to_string().replace('\n', " ")
            )
        })?;
        Ok(PatternRegex::compiled(src))
    }

    /// `src` compiled; a pattern that does not compile matches nothing (and says so in messages).
    fn compiled(src: &str) -> PatternRegex {
        PatternRegex {
            source: src.to_owned(),
            regex: Regex::new(src)
                .unwrap_or_else(|_| Regex::new(r"[^\s\S]").expect("static regex")),
        }
    }
}

/// The operators, as written in scenarios.
pub const OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$in",
    "$contains",
    "$starts_with",
    "$matches",
    "$len",
    "$absent",
    "$present",
    "$gte",
    "$lte",
    "$not",
    "$any_of",
    "$includes",
    "$excludes",
    "$jwt_claims",
];

/// Why an actual value did not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where in the value, e.g. `/result/tools/0/name` (empty: the value itself).
    pub at: String,
    pub message: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.at, self.message)
        }
    }
}

fn mismatch(at: &str, message: impl Into<String>) -> Mismatch {
    Mismatch {
        at: at.to_owned(),
        message: message.into(),
    }
}

/// A short rendering of an actual value for messages.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None => "nothing (absent)".to_owned(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 200 {
                let cut: String = s.chars().take(200).collect();
                format!("{cut}...")
            } else {
                s
            }
        }
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Equality where numbers compare by value (`1` equals `1.0`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

impl Matcher {
    /// A matcher equal to `v` (objects as subsets).
    pub fn literal(v: &Value) -> Matcher {
        match v {
            Value::Array(a) => Matcher::Array(a.iter().map(Matcher::literal).collect()),
            Value::Object(o) => Matcher::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Matcher::literal(v)))
                    .collect(),
            ),
            other => Matcher::Scalar(other.clone()),
        }
    }

    /// Check `actual` (`None`: absent) against this matcher.
    pub fn check(&self, actual: Option<&Value>) -> Result<(), Mismatch> {
        self.check_at("", actual)
    }

    fn check_at(&self, at: &str, actual: Option<&Value>) -> Result<(), Mismatch> {
        match self {
            Matcher::Scalar(expected) => match actual {
                Some(a) if values_equal(a, expected) => Ok(()),
                a => Err(mismatch(
                    at,
                    format!("expected {expected}, got {}", show(a)),
                )),
            },
            Matcher::Array(items) => match actual {
                Some(Value::Array(a)) => {
                    if a.len() != items.len() {
                        return Err(mismatch(
                            at,
                            format!(
                                "expected an array of {} element(s), got {}: {}",
                                items.len(),
                                a.len(),
                                show(actual)
                            ),
                        ));
                    }
                    for (i, (m, v)) in items.iter().zip(a).enumerate() {
                        m.check_at(&format!("{at}/{i}"), Some(v))?;
                    }
                    Ok(())
                }
                a => Err(mismatch(at, format!("expected an array, got {}", show(a)))),
            },
            Matcher::Object(fields) => match actual {
                Some(Value::Object(o)) => {
                    for (k, m) in fields {
                        m.check_at(&format!("{at}/{}", escape_pointer(k)), o.get(k))?;
                    }
                    Ok(())
                }
                a => Err(mismatch(at, format!("expected an object, got {}", show(a)))),
            },
            Matcher::Ops(ops) => {
                for op in ops {
                    op.check_at(at, actual)?;
                }
                Ok(())
            }
        }
    }

    /// Apply `f` to every string this matcher compares with (for `${...}` substitution).
    pub fn map_strings<E>(
        &self,
        f: &mut impl FnMut(&str) -> Result<Value, E>,
    ) -> Result<Matcher, E> {
        Ok(match self {
            Matcher::Scalar(Value::String(s)) => Matcher::Scalar(f(s)?),
            Matcher::Scalar(v) => Matcher::Scalar(v.clone()),
            Matcher::Array(a) => Matcher::Array(
                a.iter()
                    .map(|m| m.map_strings(f))
                    .collect::<Result<_, _>>()?,
            ),
            Matcher::Object(o) => Matcher::Object(
                o.iter()
                    .map(|(k, m)| Ok((k.clone(), m.map_strings(f)?)))
                    .collect::<Result<_, E>>()?,
            ),
            Matcher::Ops(ops) => Matcher::Ops(
                ops.iter()
                    .map(|op| op.map_strings(f))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Every string in this matcher (for static checks of `${...}` references).
    pub fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let _ = self.map_strings(&mut |s: &str| -> Result<Value, ()> {
            out.push(s.to_owned());
            Ok(Value::String(s.to_owned()))
        });
        out
    }
}

fn escape_pointer(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

fn map_value<E>(v: &Value, f: &mut impl FnMut(&str) -> Result<Value, E>) -> Result<Value, E> {
    crate::scenario::subst::map_json_strings(v, f)
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "$eq",
            Op::Ne(_) => "$ne",
            Op::In(_) => "$in",
            Op::Contains(_) => "$contains",
            Op::StartsWith(_) => "$starts_with",
            Op::Matches(_) => "$matches",
            Op::Len(_) => "$len",
            Op::Absent(_) => "$absent",
            Op::Present(_) => "$present",
            Op::Gte(_) => "$gte",
            Op::Lte(_) => "$lte",
            Op::Not(_) => "$not",
            Op::AnyOf(_) => "$any_of",
            Op::Includes(_) => "$includes",
            Op::Excludes(_) => "$excludes",
            Op::JwtClaims(_) => "$jwt_claims",
        }
    }

    fn check_at(&self, at: &str, actual: Option<&Value>) -> Result<(), Mismatch> {
        let fail = |what: String| Err(mismatch(at, format!("{what}, got {}", show(actual))));
        match self {
            Op::Absent(_) | Op::Present(_) => {
                let want_absent = matches!(self, Op::Absent(true) | Op::Present(false));
                match (want_absent, actual.is_some()) {
                    (true, false) | (false, true) => Ok(()),
                    (true, true) => fail("expected it to be absent".to_owned()),
                    (false, false) => fail("expected it to be present".to_owned()),
                }
            }
            Op::Not(m) => match m.check_at(at, actual) {
                Ok(()) => fail(format!("expected NOT {}", m.describe())),
                Err(_) => Ok(()),
            },
            Op::AnyOf(ms) => {
                if ms.iter().any(|m| m.check_at(at, actual).is_ok()) {
                    Ok(())
                } else {
                    let alts: Vec<_> = ms.iter().map(Matcher::describe).collect();
                    fail(format!("expected any of [{}]", alts.join(", ")))
                }
            }
            _ => {
                let Some(a) = actual else {
                    return fail(format!("expected a value for {}", self.name()));
                };
                self.check_present(at, a)
            }
        }
    }

    fn check_present(&self, at: &str, a: &Value) -> Result<(), Mismatch> {
        let got = show(Some(a));
        let fail = |what: String| Err(mismatch(at, format!("{what}, got {got}")));
        match self {
            Op::Eq(v) => {
                if values_equal(a, v) {
                    Ok(())
                } else {
                    fail(format!("expected exactly {v}"))
                }
            }
            Op::Ne(v) => {
                if values_equal(a, v) {
                    fail(format!("expected anything but {v}"))
                } else {
                    Ok(())
                }
            }
            Op::In(vs) => {
                if vs.iter().any(|v| values_equal(a, v)) {
                    Ok(())
                } else {
                    fail(format!("expected one of {}", Value::Array(vs.clone())))
                }
            }
            Op::Contains(v) => {
                let ok = match (a, v) {
                    (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                    (Value::Array(items), v) => items.iter().any(|i| values_equal(i, v)),
                    (Value::Object(o), Value::String(k)) => o.contains_key(k),
                    _ => false,
                };
                if ok {
                    Ok(())
                } else {
                    fail(format!("expected it to contain {v}"))
                }
            }
            Op::StartsWith(p) => match a {
                Value::String(s) if s.starts_with(p.as_str()) => Ok(()),
                _ => fail(format!("expected a string starting with {p:?}")),
            },
            Op::Matches(re) => match a {
                Value::String(s) if re.regex.is_match(s) => Ok(()),
                _ => fail(format!("expected a string matching /{}/", re.source)),
            },
            Op::Len(m) => {
                let len = match a {
                    Value::String(s) => s.chars().count(),
                    Value::Array(v) => v.len(),
                    Value::Object(o) => o.len(),
                    _ => return fail("expected a string, array or object for $len".to_owned()),
                };
                m.check_at(at, Some(&Value::from(len)))
                    .map_err(|e| mismatch(at, format!("length {len}: {}", e.message)))
            }
            Op::Gte(n) | Op::Lte(n) => {
                let Some(x) = as_f64(a) else {
                    return fail(format!("expected a number for {}", self.name()));
                };
                let ok = if matches!(self, Op::Gte(_)) {
                    x >= *n
                } else {
                    x <= *n
                };
                if ok {
                    Ok(())
                } else {
                    fail(format!("expected {} {n}", self.name()))
                }
            }
            Op::Includes(m) | Op::Excludes(m) => {
                let found = match a {
                    Value::Array(items) => items.iter().any(|i| m.check(Some(i)).is_ok()),
                    Value::String(s) => match m.as_ref() {
                        Matcher::Scalar(Value::String(sub)) => s.contains(sub.as_str()),
                        _ => return fail(format!("{} on a string needs a string", self.name())),
                    },
                    _ => return fail(format!("expected an array or string for {}", self.name())),
                };
                match (self, found) {
                    (Op::Includes(_), true) | (Op::Excludes(_), false) => Ok(()),
                    (Op::Includes(_), false) => {
                        fail(format!("expected an element matching {}", m.describe()))
                    }
                    _ => fail(format!("expected no element matching {}", m.describe())),
                }
            }
            Op::JwtClaims(m) => match a.as_str().and_then(jwt_payload) {
                Some(claims) => m.check_at(&format!("{at}(jwt)"), Some(&claims)),
                None => fail("expected a JWT whose payload is a JSON object".to_owned()),
            },
            Op::Absent(_) | Op::Present(_) | Op::Not(_) | Op::AnyOf(_) => Ok(()),
        }
    }

    fn map_strings<E>(&self, f: &mut impl FnMut(&str) -> Result<Value, E>) -> Result<Op, E> {
        let s = |s: &str, f: &mut dyn FnMut(&str) -> Result<Value, E>| -> Result<String, E> {
            Ok(match f(s)? {
                Value::String(s) => s,
                other => other.to_string(),
            })
        };
        Ok(match self {
            Op::Eq(v) => Op::Eq(map_value(v, f)?),
            Op::Ne(v) => Op::Ne(map_value(v, f)?),
            Op::In(vs) => Op::In(
                vs.iter()
                    .map(|v| map_value(v, f))
                    .collect::<Result<_, _>>()?,
            ),
            Op::Contains(v) => Op::Contains(map_value(v, f)?),
            Op::StartsWith(p) => Op::StartsWith(s(p, f)?),
            Op::Matches(re) => Op::Matches(PatternRegex::compiled(&s(&re.source, f)?)),
            Op::Len(m) => Op::Len(Box::new(m.map_strings(f)?)),
            Op::Absent(b) => Op::Absent(*b),
            Op::Present(b) => Op::Present(*b),
            Op::Gte(n) => Op::Gte(*n),
            Op::Lte(n) => Op::Lte(*n),
            Op::Not(m) => Op::Not(Box::new(m.map_strings(f)?)),
            Op::AnyOf(ms) => Op::AnyOf(
                ms.iter()
                    .map(|m| m.map_strings(f))
                    .collect::<Result<_, _>>()?,
            ),
            Op::Includes(m) => Op::Includes(Box::new(m.map_strings(f)?)),
            Op::Excludes(m) => Op::Excludes(Box::new(m.map_strings(f)?)),
            Op::JwtClaims(m) => Op::JwtClaims(Box::new(m.map_strings(f)?)),
        })
    }

    fn to_value(&self) -> Value {
        match self {
            Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => v.clone(),
            Op::In(vs) => Value::Array(vs.clone()),
            Op::StartsWith(s) => Value::String(s.clone()),
            Op::Matches(re) => Value::String(re.source.clone()),
            Op::Len(m) | Op::Not(m) | Op::Includes(m) | Op::Excludes(m) | Op::JwtClaims(m) => {
                m.to_value()
            }
            Op::Absent(b) | Op::Present(b) => Value::Bool(*b),
            Op::Gte(n) | Op::Lte(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Op::AnyOf(ms) => Value::Array(ms.iter().map(Matcher::to_value).collect()),
        }
    }
}

/// The claims of a JWT, decoded without verification: the harness inspects what a gateway
/// issued (e.g. `POST /tokens`), it does not trust it. `None` unless the payload is an object.
fn jwt_payload(token: &str) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.trim().split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

impl Matcher {
    /// The matcher written back as a JSON value (the form it was read from).
    pub fn to_value(&self) -> Value {
        match self {
            Matcher::Scalar(v) => v.clone(),
            Matcher::Array(a) => Value::Array(a.iter().map(Matcher::to_value).collect()),
            Matcher::Object(o) => {
                Value::Object(o.iter().map(|(k, m)| (k.clone(), m.to_value())).collect())
            }
            Matcher::Ops(ops) => Value::Object(
                ops.iter()
                    .map(|op| (op.name().to_owned(), op.to_value()))
                    .collect(),
            ),
        }
    }

    /// A one-line rendering for messages.
    pub fn describe(&self) -> String {
        show(Some(&self.to_value()))
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Matcher::Ops(ops) => {
                let mut map = serializer.serialize_map(Some(ops.len()))?;
                for op in ops {
                    map.serialize_entry(op.name(), &op.to_value())?;
                }
                map.end()
            }
            other => other.to_value().serialize(serializer),
        }
    }
}

/// Deserialises directly from the YAML events, so an unknown operator is reported at its line.
struct MatcherVisitor;

impl<'de> Visitor<'de> for MatcherVisitor {
    type Value = Matcher;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value to match, or a map of $operators")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        ))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::String(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Matcher, E> {
        Ok(Matcher::Scalar(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Matcher, D::Error> {
        d.deserialize_any(MatcherVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Matcher, A::Error> {
        let mut items = Vec::new();
        while let Some(m) = seq.next_element::<Matcher>()? {
            items.push(m);
        }
        Ok(Matcher::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Matcher, A::Error> {
        let mut fields = BTreeMap::new();
        let mut ops = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(op) = key.strip_prefix('$') {
                if !fields.is_empty() {
                    return Err(de::Error::custom(format!(
                        "`{key}` mixes an operator with plain keys; write operators in a map of their own"
                    )));
                }
                ops.push(read_op(op, &key, &mut map)?);
            } else {
                if !ops.is_empty() {
                    return Err(de::Error::custom(format!(
                        "`{key}` mixes a plain key with operators; write operators in a map of their own"
                    )));
                }
                let m = map.next_value::<Matcher>()?;
                fields.insert(key, m);
            }
        }
        if ops.is_empty() {
            Ok(Matcher::Object(fields))
        } else {
            Ok(Matcher::Ops(ops))
        }
    }
}

fn read_op<'de, A: MapAccess<'de>>(op: &str, key: &str, map: &mut A) -> Result<Op, A::Error> {
    Ok(match op {
        "eq" => Op::Eq(map.next_value()?),
        "ne" => Op::Ne(map.next_value()?),
        "in" => Op::In(map.next_value()?),
        "contains" => Op::Contains(map.next_value()?),
        "starts_with" => Op::StartsWith(map.next_value()?),
        "matches" => {
            let src: String = map.next_value()?;
            Op::Matches(PatternRegex::new(&src).map_err(de::Error::custom)?)
        }
        "len" => Op::Len(Box::new(map.next_value()?)),
        "absent" => Op::Absent(map.next_value()?),
        "present" => Op::Present(map.next_value()?),
        "gte" => Op::Gte(map.next_value()?),
        "lte" => Op::Lte(map.next_value()?),
        "not" => Op::Not(Box::new(map.next_value()?)),
        "any_of" => Op::AnyOf(map.next_value()?),
        "includes" => Op::Includes(Box::new(map.next_value()?)),
        "excludes" => Op::Excludes(Box::new(map.next_value()?)),
        "jwt_claims" => Op::JwtClaims(Box::new(map.next_value()?)),
        _ => {
            return Err(de::Error::custom(format!(
                "unknown operator `{key}`, expected one of {}",
                OPERATORS.join(", ")
            )));
        }
    })
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Matcher, D::Error> {
        d.deserialize_any(MatcherVisitor)
    }
}

impl JsonSchema for Matcher {
    fn schema_name() -> Cow<'static, str> {
        "Matcher".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let m = generator.subschema_for::<Matcher>();
        let values = json_schema!({"type": "array"});
        json_schema!({
            "description": "An expected value. A literal matches exactly (objects as a subset, arrays element by element); a map whose keys all start with `$` is a set of operators that must all hold.",
            "anyOf": [
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": false,
                    "properties": {
                        "$eq": {"description": "deep equality (no subset rule)"},
                        "$ne": {"description": "anything but this value"},
                        "$in": values,
                        "$contains": {"description": "substring of a string, element of an array, key of an object"},
                        "$starts_with": {"type": "string"},
                        "$matches": {"type": "string", "description": "a regular expression found in the string"},
                        "$len": m,
                        "$absent": {"type": "boolean"},
                        "$present": {"type": "boolean"},
                        "$gte": {"type": "number"},
                        "$lte": {"type": "number"},
                        "$not": m,
                        "$any_of": {"type": "array", "items": m},
                        "$includes": m,
                        "$excludes": m,
                        "$jwt_claims": m
                    }
                },
                {
                    "type": "object",
                    "propertyNames": {"pattern": "^[^$]"},
                    "additionalProperties": m
                },
                {"type": "array", "items": m},
                {"type": ["string", "number", "boolean", "null"]}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(yaml: &str) -> Matcher {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn literal_object_is_a_subset() {
        let mm = m("{jsonrpc: '2.0', result: {}}");
        assert!(
            mm.check(Some(
                &json!({"jsonrpc": "2.0", "id": 1, "result": {"x": 1}})
            ))
            .is_ok()
        );
        let e = mm.check(Some(&json!({"jsonrpc": "2.0"}))).unwrap_err();
        assert_eq!(e.at, "/result");
    }

    #[test]
    fn operators() {
        assert!(m("{$ne: 403}").check(Some(&json!(200))).is_ok());
        assert!(m("{$ne: 403}").check(Some(&json!(403))).is_err());
        assert!(m("{$in: [400, 404]}").check(Some(&json!(404))).is_ok());
        assert!(m("{$absent: true}").check(None).is_ok());
        assert!(m("{$absent: true}").check(Some(&json!("x"))).is_err());
        assert!(m("{$len: 2}").check(Some(&json!([1, 2]))).is_ok());
        assert!(m("{$len: {$gte: 3}}").check(Some(&json!([1, 2]))).is_err());
        assert!(
            m("{$includes: {name: a}}")
                .check(Some(&json!([{"name": "b"}, {"name": "a"}])))
                .is_ok()
        );
        assert!(
            m("{$excludes: {name: a}}")
                .check(Some(&json!([{"name": "a"}])))
                .is_err()
        );
        assert!(
            m("{$matches: '^Bearer resource_metadata='}")
                .check(Some(&json!("Bearer resource_metadata=\"x\"")))
                .is_ok()
        );
        assert!(
            m("{$not: {$contains: resource_metadata}}")
                .check(Some(&json!("Bearer")))
                .is_ok()
        );
        assert!(
            m("{$any_of: [1, {$gte: 10}]}")
                .check(Some(&json!(12)))
                .is_ok()
        );
        assert!(
            m("{$eq: {a: 1}}")
                .check(Some(&json!({"a": 1, "b": 2})))
                .is_err()
        );
        assert!(m("200").check(Some(&json!(200.0))).is_ok());
    }

    #[test]
    fn jwt_claims_decodes_the_payload() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"HS256"}"#),
            b64(
                r#"{"token_use":"api","teams":null,"scopes":{"permissions":["tools.read","servers.use"]}}"#
            )
        );
        let ok = m(
            "{$jwt_claims: {token_use: api, teams: null, scopes: {permissions: [tools.read, servers.use]}}}",
        );
        assert!(ok.check(Some(&json!(jwt))).is_ok());
        let e = m("{$jwt_claims: {scopes: {usage_limits: {$present: true}}}}")
            .check(Some(&json!(jwt)))
            .unwrap_err();
        assert_eq!(e.at, "(jwt)/scopes/usage_limits");
        assert!(
            m("{$jwt_claims: {}}")
                .check(Some(&json!("not-a-jwt")))
                .is_err()
        );
        assert!(m("{$jwt_claims: {}}").check(None).is_err());
    }

    #[test]
    fn unknown_operator_and_mixed_maps_are_refused() {
        let e = serde_saphyr::from_str::<Matcher>("{$inn: [1]}").unwrap_err();
        assert!(e.to_string().contains("unknown operator `$inn`"), "{e}");
        let e = serde_saphyr::from_str::<Matcher>("{a: 1, $ne: 2}").unwrap_err();
        assert!(e.to_string().contains("mixes"), "{e}");
    }

    #[test]
    fn round_trips_through_serialize() {
        let mm = m("{$len: {$gte: 1}, $contains: x}");
        let v = serde_json::to_value(&mm).unwrap();
        assert_eq!(v, json!({"$len": {"$gte": 1.0}, "$contains": "x"}));
    }
}
