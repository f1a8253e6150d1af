//! insta's `.snap` file format, read and written here so that a difference is a value rather than
//! a panic: a YAML front matter between `---` lines (`source`, `description`, `input_file`), then
//! the snapshot body, the response as insta's YAML writer writes it. Files written here are the
//! ones `insta::assert_yaml_snapshot!` wrote, byte for byte, so `cargo insta review` reads them
//! and accepting a `.snap.new` gives the `.snap` this code compares with.

use serde_json::{Map, Number, Value};

/// A snapshot file's front matter (insta's `MetaData`, the fields this harness sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The code that wrote the snapshot, relative to the workspace root.
    pub source: String,
    /// `<scenario id>:<step name>`.
    pub description: String,
    /// The scenario file, relative to the workspace root.
    pub input_file: String,
}

/// The whole text of a snapshot file.
pub fn write(header: &Header, body: &str) -> String {
    let mut out = String::from("---\n");
    for (key, value) in [
        ("source", &header.source),
        ("description", &header.description),
        ("input_file", &header.input_file),
    ] {
        out.push_str(key);
        out.push_str(": ");
        push_scalar(&mut out, value);
        out.push('\n');
    }
    out.push_str("---\n");
    out.push_str(body.trim_end());
    out.push('\n');
    out
}

/// The body of a snapshot file, if it has insta's front matter.
pub fn body(text: &str) -> Option<&str> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next()?;
    if first.trim_end() != "---" {
        return None;
    }
    let mut at = first.len();
    for line in lines {
        at += line.len();
        if line.trim_end() == "---" {
            return Some(&text[at..]);
        }
    }
    None
}

/// Whether two bodies are the same snapshot: insta compares them without trailing whitespace and
/// with `\r\n` read as `\n`.
pub fn same(a: &str, b: &str) -> bool {
    normalised(a) == normalised(b)
}

fn normalised(body: &str) -> String {
    body.trim_end().replace("\r\n", "\n")
}

/// `value` as insta writes a YAML snapshot body: block style, maps sorted by key, two-space
/// indents, a list item's map starting on the item's line, `~` for null, and strings in double
/// quotes (JSON escapes) only where YAML would read them as something else. A port of the emitter
/// insta vendors from yaml-rust, checked against insta itself in the tests.
pub fn to_yaml(value: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        level: -1,
    };
    e.node(value);
    e.out.push('\n');
    e.out
}

struct Emitter {
    out: String,
    /// Nesting depth; the top-level map is at 0.
    level: isize,
}

impl Emitter {
    fn indent(&mut self, level: isize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn node(&mut self, v: &Value) {
        match v {
            Value::Array(items) => self.list(items),
            Value::Object(map) => self.map(map),
            Value::String(s) => push_scalar(&mut self.out, s),
            Value::Number(n) => self.out.push_str(&number(n)),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Null => self.out.push('~'),
        }
    }

    fn list(&mut self, items: &[Value]) {
        if items.is_empty() {
            self.out.push_str("[]");
            return;
        }
        self.level += 1;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.indent(self.level);
            }
            self.out.push('-');
            self.value(true, item);
        }
        self.level -= 1;
    }

    fn map(&mut self, map: &Map<String, Value>) {
        if map.is_empty() {
            self.out.push_str("{}");
            return;
        }
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        self.level += 1;
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.indent(self.level);
            }
            push_scalar(&mut self.out, key);
            self.out.push(':');
            self.value(false, value);
        }
        self.level -= 1;
    }

    /// The value after a key's `:` (`after_dash` false) or a list item's `-`: a non-empty map or
    /// list goes on the next line, one level in, except right after a `-`.
    fn value(&mut self, after_dash: bool, v: &Value) {
        let nested = match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => false,
        };
        if nested && !after_dash {
            self.out.push('\n');
            self.indent(self.level + 1);
        } else {
            self.out.push(' ');
        }
        self.node(v);
    }
}

/// A number as insta writes it: integers as they are, floats by Rust's `Display` (`1.0` is `1`).
fn number(n: &Number) -> String {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), ..) => u.to_string(),
        (None, Some(i), _) => i.to_string(),
        (None, None, Some(f)) => f.to_string(),
        (None, None, None) => n.to_string(),
    }
}

/// A string, quoted if YAML would read it as anything but this string.
fn push_scalar(out: &mut String, s: &str) {
    if !needs_quotes(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// insta's rule for when a string needs quotes (its vendored emitter's `need_quotes`).
fn needs_quotes(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true", "False", "FALSE", "false",
        "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
    ];
    s.is_empty()
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.starts_with(['&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@', '.'])
        || s.contains(|c: char| {
            matches!(c, ':' | '{' | '}' | '[' | ']' | ',' | '#' | '`' | '"' | '\'' | '\\'
                | '\0'..='\x06' | '\t' | '\n' | '\r' | '\x0e'..='\x1a' | '\x1c'..='\x1f')
        })
        || WORDS.contains(&s)
        || s.starts_with("0x")
        || s.parse::<i64>().is_ok()
        || s.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    /// What insta itself writes for `value` as the body of a YAML snapshot with sorted maps (its
    /// macros' serializer: not a stable API, so only used to check ours).
    fn insta_body(value: &Value) -> String {
        use insta::_macro_support::{SerializationFormat, serialize_value};
        let mut settings = insta::Settings::clone_current();
        settings.set_sort_maps(true);
        settings.bind(|| serialize_value(value, SerializationFormat::Yaml))
    }

    #[test]
    fn bodies_are_written_as_insta_writes_them() {
        let strings = [
            "",
            " a",
            "a ",
            "-x",
            "x: y",
            "a:b",
            "yes",
            "No",
            "null",
            "~",
            "1",
            "-7",
            "1.5",
            "1e5",
            "inf",
            "NaN",
            "0x1f",
            ".5",
            "a\nb",
            "tab\there",
            "say \"hi\"",
            "it's",
            "back\\slash",
            "\u{1}",
            "\u{7}",
            "\u{8}\u{b}\u{c}",
            "\u{1b}[0m",
            "\u{7f}",
            "é ü",
            "#",
            "a #b",
            "a,b",
            "[x]",
            "{x}",
            "`x`",
            "&a",
            "*a",
            "?",
            "|",
            "<",
            ">",
            "=",
            "!",
            "%",
            "@",
            "Bearer",
            "Bearer resource_metadata=\"x\"",
            "[target.base]/mcp",
            "[servers.S.id]",
            "/result/isError",
            "2.0",
            "Parse error",
            "text/event-stream",
        ];
        let mut cases = vec![
            json!({"status": 401, "headers": {}, "body": {"detail": "x"}}),
            json!({"b": [], "a": {}, "c": null, "d": [1, -2, 1.5, 1.0, -0.25, 1e300, u64::MAX]}),
            json!({"list": [{"b": 1, "a": [1, [2, 3], {"z": {"y": []}}]}, [], [[]], {}]}),
            json!([{"a": 1}, [{"b": 2}], "x", true, false, null]),
            json!({"": 1, "1": 2, "/a": 3, "a b": 4, "é": {"nested": {"deeper": ["x"]}}}),
            json!("top-level string"),
            json!(null),
        ];
        cases.push(Value::Array(strings.iter().map(|s| json!(s)).collect()));
        cases.push(Value::Object(
            strings
                .iter()
                .map(|s| ((*s).to_owned(), json!(s)))
                .collect(),
        ));
        for value in cases {
            assert_eq!(to_yaml(&value), insta_body(&value), "{value}");
        }
    }

    #[test]
    fn committed_snapshots_write_back_byte_for_byte() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"));
        let mut dirs = vec![root.to_path_buf()];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let body = body(&text).unwrap_or_else(|| panic!("{}", path.display()));
                let value: Value = serde_saphyr::from_str(body).unwrap();
                assert_eq!(to_yaml(&value), body, "{}", path.display());
                assert!(same(body, &to_yaml(&value)));
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen} snapshots");
    }

    #[test]
    fn a_written_file_is_what_insta_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a__b.snap.new");
        let header = Header {
            source: "conformance/src/snapshot.rs".to_owned(),
            description: "auth/x:step-1".to_owned(),
            input_file: "scenarios/auth/x.yaml".to_owned(),
        };
        let value = json!({"status": 200, "body": {"jsonrpc": "2.0", "id": null}});
        let text = write(&header, &to_yaml(&value));
        assert_eq!(
            text,
            "---\nsource: conformance/src/snapshot.rs\ndescription: \"auth/x:step-1\"\n\
             input_file: scenarios/auth/x.yaml\n---\nbody:\n  id: ~\n  jsonrpc: \"2.0\"\n\
             status: 200\n"
        );
        std::fs::write(&path, &text).unwrap();
        let snap = insta::Snapshot::from_file(&path).unwrap();
        let meta = snap.metadata();
        assert_eq!(meta.source(), Some("conformance/src/snapshot.rs"));
        assert_eq!(meta.description(), Some("auth/x:step-1"));
        assert_eq!(meta.input_file(), Some("scenarios/auth/x.yaml"));
        assert_eq!(
            snap.as_text().unwrap().to_string(),
            body(&text).unwrap().trim_end()
        );
    }

    #[test]
    fn a_file_without_front_matter_has_no_body() {
        assert_eq!(body("status: 200\n"), None);
        assert_eq!(body("---\nsource: x\n"), None);
        assert_eq!(
            body("---\r\nsource: x\r\n---\r\nstatus: 200\r\n"),
            Some("status: 200\r\n")
        );
        assert!(same(
            "status: 200\r\nbody: x\r\n\r\n",
            "status: 200\nbody: x\n"
        ));
    }
}
