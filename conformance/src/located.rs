//! A problem in a file the user wrote (a scenario, a target manifest), with its place:
//! `path:line:column: field: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub path: PathBuf,
    /// 1-based; `None` when the problem has no single place.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Where in the document, e.g. `steps[1].expect.status` (empty: the whole file).
    pub field: String,
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem, one per line, then how many there were in `what` and that nothing was sent.
pub fn write_problems(
    f: &mut fmt::Formatter<'_>,
    problems: &[FileProblem],
    what: &str,
) -> fmt::Result {
    for e in problems {
        writeln!(f, "{e}")?;
    }
    write!(
        f,
        "{} problem(s) in {what}; nothing was sent to the target",
        problems.len()
    )
}

impl FileProblem {
    /// A problem with the file as a whole (it cannot be read, say): no line, no field.
    pub fn whole_file(path: &Path, message: impl Into<String>) -> FileProblem {
        FileProblem {
            path: path.to_path_buf(),
            line: None,
            column: None,
            field: String::new(),
            message: message.into(),
        }
    }

    /// A problem at a place serde-saphyr recorded (`Location::UNKNOWN` gives no line).
    pub fn at(
        path: &Path,
        loc: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> FileProblem {
        let known = loc.line() > 0;
        FileProblem {
            path: path.to_path_buf(),
            line: known.then(|| loc.line()),
            column: known.then(|| loc.column()),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parse YAML into `T`; on error, the place and the field path (`steps[1].expect.status`).
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, FileProblem> {
    let mut field = String::new();
    let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            field = e.path().to_string();
            e.into_inner()
        })
    });
    parsed.map_err(|e| {
        let loc = e.location();
        FileProblem {
            path: path.to_path_buf(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            field: if field == "." { String::new() } else { field },
            message: plain_message(&e),
        }
    })
}

/// serde-saphyr's message without its source snippet and location suffix (we print those).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let full = e.without_snippet().to_string();
    let first = full.lines().next().unwrap_or("").trim().to_owned();
    // Drop a trailing " at line N column M" the library may add; the location is printed apart.
    let first = match first.find(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first,
    };
    match first.as_str() {
        "expected sequence start" => "expected a list (`[a, b]` or `- a` lines)".to_owned(),
        "expected mapping start" => "expected a map (`{a: 1}` or `a: 1` lines)".to_owned(),
        _ => first,
    }
}

/// Where each mapping key and sequence item of a YAML document is, as serde-saphyr's spans say.
///
/// A problem found after parsing names its field path (`steps[1].request.token`); its line is
/// looked up here along that same path, so the line and the field always agree, however often
/// the same text appears in the file. A separate reading of the text, rather than spans in the
/// models, keeps the models plain for the code that runs them and builds them (the runner, the
/// fuzzer's regression writer).
#[derive(Debug)]
pub struct Places(Option<Spanned<Node>>);

/// A YAML node reduced to its children and their places; a scalar keeps its text, by which a
/// mapping key is matched.
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String),
}

impl Places {
    /// The places of `text`; none (every lookup unknown) if it is not YAML.
    pub fn read(text: &str) -> Places {
        Places(serde_saphyr::from_str(text).ok())
    }

    /// The place of `field` (`a.b[2].c`, as [`FileProblem::field`] writes it): a map entry's key,
    /// a list item's start; for a field the document lacks, its nearest ancestor that it has.
    pub fn of(&self, field: &str) -> Location {
        let Some(mut node) = self.0.as_ref() else {
            return Location::UNKNOWN;
        };
        let mut here = node.referenced;
        let mut rest = field;
        loop {
            rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.is_empty() {
                return here;
            }
            let next = match &node.value {
                Node::Seq(items) => rest.strip_prefix('[').and_then(|r| {
                    let (index, after) = r.split_once(']')?;
                    let item = items.get(index.parse::<usize>().ok()?)?;
                    Some((item.referenced, item, after))
                }),
                // The longest key the path goes on with: keys may hold `.` (`/a.b`, a pointer).
                Node::Map(entries) => entries
                    .iter()
                    .filter_map(|(k, v)| {
                        let Node::Scalar(key) = &k.value else {
                            return None;
                        };
                        let after = rest.strip_prefix(key.as_str())?;
                        let whole = after.is_empty() || after.starts_with(['.', '[']);
                        whole.then_some((key.len(), k.referenced, v, after))
                    })
                    .max_by_key(|(len, ..)| *len)
                    .map(|(_, at, v, after)| (at, v, after)),
                Node::Scalar(_) => None,
            };
            let Some((at, child, after)) = next else {
                return here;
            };
            here = at;
            node = child;
            rest = after;
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

/// `visit_*` methods that keep a scalar as its text.
macro_rules! scalar_as_text {
    ($($visit:ident: $t:ty),*) => {$(
        fn $visit<E: de::Error>(self, v: $t) -> Result<Node, E> {
            Ok(Node::Scalar(v.to_string()))
        }
    )*};
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    scalar_as_text!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
id: a/b
fixtures:
  servers:
    S:
      tools: [x]
  tokens: {S: {server: S}}
steps:
  - name: a
    request: {method: GET, token: S}
  - name: a
    request: {method: GET, token: S}
    expect:
      pointers: {/a.b: 1, /a: 2}
";

    fn line(field: &str) -> u64 {
        Places::read(DOC).of(field).line()
    }

    #[test]
    fn a_field_is_found_by_its_path_not_its_text() {
        assert_eq!(line("id"), 1);
        assert_eq!(line("fixtures.servers.S"), 4);
        assert_eq!(line("fixtures.tokens.S"), 6);
        assert_eq!(line("fixtures.tokens.S.server"), 6);
        assert_eq!(line("steps[0]"), 8);
        assert_eq!(line("steps[1].name"), 10);
        assert_eq!(line("steps[1].request.token"), 11);
        // A key with a dot in it, and a shorter key it starts with.
        assert_eq!(line("steps[1].expect.pointers./a.b"), 13);
        // What the document lacks is placed at its nearest ancestor.
        assert_eq!(line("steps[1].expect.status"), 12);
        assert_eq!(line("steps[7].name"), 7);
        assert_eq!(line("nothing"), Places::read(DOC).of("").line());
    }

    #[test]
    fn unreadable_text_has_no_places_and_odd_keys_are_passed_over() {
        assert_eq!(Places::read("a: [").of("a"), Location::UNKNOWN);
        let odd = Places::read("? [1]\n: x\n200: y\ntrue: z\n");
        assert_eq!(odd.of("200").line(), 3);
        assert_eq!(odd.of("true").line(), 4);
    }
}
