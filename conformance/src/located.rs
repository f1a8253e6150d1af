//! A problem in a file the user wrote (a scenario, a target manifest), with its place:
//! `path:line:column: field: message`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

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
    /// A problem at a place serde-saphyr recorded (`Location::UNKNOWN` gives no line).
    pub fn at(
        path: &Path,
        loc: serde_saphyr::Location,
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
