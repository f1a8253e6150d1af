//! `${...}` substitution in paths, headers, bodies and expected values.
//!
//! `${servers.S.id}` is replaced by the value the run provisioned; `${x|upper}` applies a filter
//! (`upper`, `lower`, `fullwidth`, `dashed`, `pct`, `climb`; filters chain left to right); `${repeat(N):TEXT}`
//! writes TEXT N times (up to [`MAX_REPEAT_BYTES`]); `$${` writes a literal `${`.
//! References are checked when a scenario is loaded ([`check_reference`]) so a typo fails before
//! any request is sent; at run time [`render`] asks a [`Lookup`] for each value.

use serde_json::Value;

/// One parsed piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(String),
    Var {
        /// The whole expression inside `${}`, e.g. `servers.S.id|upper`.
        expr: &'a str,
        /// `["servers", "S", "id"]`
        path: Vec<&'a str>,
        filters: Vec<&'a str>,
    },
}

/// The filters a reference may name.
pub const FILTERS: &[&str] = &["upper", "lower", "fullwidth", "dashed", "pct", "climb"];

/// Split a template into text and references.
pub fn parse(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {s:?} (write `$${{` for a literal)"))?;
            let expr = &tail[..end];
            if let Some(generated) = repeat(expr)? {
                text.push_str(&generated);
                rest = &tail[end + 1..];
                continue;
            }
            let mut parts = expr.split('|');
            let path: Vec<&str> = parts.next().unwrap_or("").split('.').collect();
            let filters: Vec<&str> = parts.collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(format!("empty name in `${{{expr}}}`"));
            }
            if let Some(f) = filters.iter().find(|f| !FILTERS.contains(f)) {
                return Err(format!(
                    "unknown filter `{f}` in `${{{expr}}}`, expected one of {}",
                    FILTERS.join(", ")
                ));
            }
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Var {
                expr,
                path,
                filters,
            });
            rest = &tail[end + 1..];
        } else {
            text.push('$');
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The most text one `${repeat(N):TEXT}` may make: enough for any body limit worth testing,
/// little enough that a typo cannot take the machine's memory.
pub const MAX_REPEAT_BYTES: usize = 64 * 1024 * 1024;

/// `repeat(N):TEXT` -> TEXT written N times (a 12 MB body or a 100,000-deep array is one line
/// of YAML); `None` for any other expression.
fn repeat(expr: &str) -> Result<Option<String>, String> {
    let Some(args) = expr.strip_prefix("repeat(") else {
        return Ok(None);
    };
    let (count, text) = args
        .split_once("):")
        .ok_or_else(|| format!("`${{{expr}}}`: write `${{repeat(N):TEXT}}`"))?;
    let count: usize = count
        .trim()
        .parse()
        .map_err(|_| format!("`${{{expr}}}`: `{count}` is not a count"))?;
    if text.is_empty() {
        return Err(format!("`${{{expr}}}`: nothing to repeat"));
    }
    match count.checked_mul(text.len()) {
        Some(n) if n <= MAX_REPEAT_BYTES => Ok(Some(text.repeat(count))),
        _ => Err(format!(
            "`${{{expr}}}` would make more than {MAX_REPEAT_BYTES} bytes"
        )),
    }
}

/// Answers references at run time.
pub trait Lookup {
    /// The value of `path` (e.g. `["servers", "S", "id"]`), or why there is none.
    fn lookup(&self, path: &[&str]) -> Result<String, String>;
}

/// Apply a filter to a value.
pub fn apply_filter(filter: &str, v: &str) -> String {
    match filter {
        "upper" => v.to_uppercase(),
        "lower" => v.to_lowercase(),
        "fullwidth" => fullwidth(v),
        "dashed" => dashed(v),
        "pct" => v.bytes().map(|b| format!("%{b:02X}")).collect(),
        "climb" => climb(v),
        _ => v.to_owned(),
    }
}

/// Printable ASCII as its fullwidth form (`a1` -> `ａ１`, U+FF01..U+FF5E): the look-alike that
/// Unicode compatibility normalisation (NFKC) folds back.
fn fullwidth(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// `/a/b/c` -> `/a/b/c/../../..`: the path followed by as many `..` segments as it has segments,
/// so that what follows it is, once dot segments are normalised away, a path from the root.
fn climb(v: &str) -> String {
    let depth = v.split('/').filter(|s| !s.is_empty()).count();
    let mut out = v.trim_end_matches('/').to_owned();
    for _ in 0..depth {
        out.push_str("/..");
    }
    out
}

/// `0123456789abcdef0123456789abcdef` -> `01234567-89ab-cdef-0123-456789abcdef`; other input as is.
fn dashed(v: &str) -> String {
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!(
            "{}-{}-{}-{}-{}",
            &v[..8],
            &v[8..12],
            &v[12..16],
            &v[16..20],
            &v[20..]
        )
    } else {
        v.to_owned()
    }
}

/// Replace every reference in `s`.
pub fn render(s: &str, vars: &dyn Lookup) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse(s)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Var {
                expr,
                path,
                filters,
            } => {
                let mut v = vars
                    .lookup(&path)
                    .map_err(|e| format!("cannot substitute `${{{expr}}}`: {e}"))?;
                for f in filters {
                    v = apply_filter(f, &v);
                }
                out.push_str(&v);
            }
        }
    }
    Ok(out)
}

/// Apply `f` to every string inside a JSON value (object keys are left alone).
pub fn map_json_strings<E>(
    v: &Value,
    f: &mut impl FnMut(&str) -> Result<Value, E>,
) -> Result<Value, E> {
    Ok(match v {
        Value::String(s) => f(s)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| map_json_strings(x, f))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), map_json_strings(x, f)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other.clone(),
    })
}

/// Render every string in a JSON value.
pub fn render_json(v: &Value, vars: &dyn Lookup) -> Result<Value, String> {
    map_json_strings(v, &mut |s| render(s, vars).map(Value::String))
}

/// Every string in a JSON value (for static reference checks).
pub fn json_strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let _ = map_json_strings(v, &mut |s| -> Result<Value, ()> {
        out.push(s.to_owned());
        Ok(Value::Null)
    });
    out
}

/// What a scenario declares, for checking references before a run.
pub trait Declared {
    /// Whether a fixture of `kind` (`servers`, `tokens`, ...) with this key exists.
    fn has(&self, kind: &str, key: &str) -> bool;
    /// Whether upstream `up` declares a tool/resource/prompt `name` (`kind`: `tools`, ...).
    fn has_upstream_item(&self, kind: &str, up: &str, name: &str) -> bool;
}

/// Check one reference path against what the scenario declares and the names saved so far.
pub fn check_reference(path: &[&str], d: &dyn Declared, saved: &[String]) -> Result<(), String> {
    let fields = |allowed: &[&str], f: &str| -> Result<(), String> {
        if allowed.contains(&f) {
            Ok(())
        } else {
            Err(format!(
                "unknown field `{f}`, expected one of {}",
                allowed.join(", ")
            ))
        }
    };
    let need = |kind: &str, key: &str| -> Result<(), String> {
        if d.has(kind, key) {
            Ok(())
        } else {
            Err(format!("no fixture `{kind}.{key}` is declared"))
        }
    };
    match path {
        ["servers", k, f] => need("servers", k).and(fields(&["id", "name", "mcp", "metadata"], f)),
        ["absent_server", f] => fields(&["mcp", "metadata"], f),
        ["endpoints", f] => fields(&["mcp", "rpc"], f),
        ["users", k, f] => need("users", k).and(fields(&["email"], f)),
        ["teams", k, f] => need("teams", k).and(fields(&["id", "name"], f)),
        ["tokens", k] => need("tokens", k),
        ["tokens", k, f] => need("tokens", k).and(fields(&["id"], f)),
        ["upstreams", k, f] => need("upstreams", k).and(fields(&["url", "gateway_id"], f)),
        ["tools", k, f] => need("rest_tools", k).and(fields(&["id", "name"], f)),
        ["resources", k, f] => need("resources", k).and(fields(&["id", "name", "uri"], f)),
        ["prompts", k, f] => need("prompts", k).and(fields(&["id", "name"], f)),
        [kind @ ("tools" | "resources" | "prompts"), up, item, f] => {
            need("upstreams", up)?;
            if !d.has_upstream_item(kind, up, item) {
                return Err(format!(
                    "upstream `{up}` declares no {kind} entry named `{item}`"
                ));
            }
            let allowed: &[&str] = match *kind {
                "resources" => &["id", "name", "uri"],
                _ => &["id", "name"],
            };
            fields(allowed, f)
        }
        ["saved", name] => {
            if saved.iter().any(|s| s == name) {
                Ok(())
            } else {
                Err(format!("no earlier step saves `{name}`"))
            }
        }
        ["target", f] => fields(&["base", "host", "root"], f),
        ["run", f] => fields(&["id"], f),
        ["clock", f] => fields(&["today", "not_today", "noon_timezone"], f),
        _ => Err(format!(
            "unknown reference `{}`; references look like servers.KEY.id, servers.KEY.mcp, \
             endpoints.mcp, tokens.KEY, users.KEY.email, \
             teams.KEY.id, tools.KEY.name, tools.UPSTREAM.TOOL.name, saved.NAME, target.base, run.id, \
             clock.today",
            path.join(".")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars;
    impl Lookup for Vars {
        fn lookup(&self, path: &[&str]) -> Result<String, String> {
            match path {
                ["servers", "S", "id"] => Ok("0123456789abcdef0123456789abcdef".to_owned()),
                _ => Err("unknown".to_owned()),
            }
        }
    }

    #[test]
    fn fullwidth_maps_printable_ascii_only() {
        assert_eq!(apply_filter("fullwidth", "ab-1 é"), "ａｂ－１ é");
        assert_eq!(
            apply_filter("pct", &apply_filter("fullwidth", "a")),
            "%EF%BD%81"
        );
    }

    #[test]
    fn repeat_makes_large_and_deep_values_in_one_line() {
        assert_eq!(render("${repeat(3):ab}!", &Vars).unwrap(), "ababab!");
        let deep = render("${repeat(100000):[}${repeat(100000):]}", &Vars).unwrap();
        assert_eq!(deep.len(), 200_000);
        assert!(deep.starts_with("[[[") && deep.ends_with("]]]"));
        assert_eq!(
            render("${repeat(12582912):a}", &Vars).unwrap().len(),
            12_582_912
        );
        for bad in [
            "${repeat(x):a}",
            "${repeat(3):}",
            "${repeat(3)a}",
            "${repeat(99999999999):ab}",
        ] {
            assert!(render(bad, &Vars).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_references_filters_and_escapes() {
        assert_eq!(
            render("/servers/${servers.S.id}/mcp", &Vars).unwrap(),
            "/servers/0123456789abcdef0123456789abcdef/mcp"
        );
        assert_eq!(
            render("${servers.S.id|dashed|upper}", &Vars).unwrap(),
            "01234567-89AB-CDEF-0123-456789ABCDEF"
        );
        assert_eq!(render("a$${b}c$d", &Vars).unwrap(), "a${b}c$d");
        assert_eq!(render("%2e%2E", &Vars).unwrap(), "%2e%2E");
        assert!(render("${servers.T.id}", &Vars).is_err());
        assert!(parse("${x|nope}").is_err());
        assert!(parse("${unclosed").is_err());
        assert_eq!(apply_filter("pct", "a/"), "%61%2F");
        assert_eq!(apply_filter("climb", "/mcp/alpha"), "/mcp/alpha/../..");
        assert_eq!(
            apply_filter("climb", "/servers/x/mcp/"),
            "/servers/x/mcp/../../.."
        );
    }
}
