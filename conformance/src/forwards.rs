//! Forwarded requests, as a cluster's workers log them. A client cannot tell a reply its worker
//! forwarded to the session's owner from one it served itself, so an affinity scenario proves
//! nothing about forwarding unless something else shows that the forward happened: here, the
//! line each worker logs for each request it forwards (the manifest's `cluster.forwards`).
//!
//! Only what the log files gain between a mark and a count is read, so the files may be long
//! and shared with everything else the workers log. Scenarios that count forwards run alone on
//! their target: the lines gained in that window are theirs.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use regex::Regex;

/// At most this much of what one file gained is read (its end): a worker that logs without
/// bound cannot make the harness read without bound.
const READ_CAP: u64 = 16 * 1024 * 1024;

/// The workers' log files and the line that records one forward.
#[derive(Debug, Clone)]
pub struct ForwardLogs {
    files: Vec<PathBuf>,
    pattern: Regex,
}

/// How long each file was at a moment.
#[derive(Debug, Clone)]
pub struct Marks(Vec<u64>);

impl ForwardLogs {
    pub fn new(files: Vec<PathBuf>, pattern: Regex) -> ForwardLogs {
        ForwardLogs { files, pattern }
    }

    /// The files, for messages.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The pattern, for messages.
    pub fn pattern(&self) -> &str {
        self.pattern.as_str()
    }

    /// Each file's length now (a file that does not exist yet: 0).
    pub fn mark(&self) -> Marks {
        Marks(
            self.files
                .iter()
                .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
                .collect(),
        )
    }

    /// The forward lines the files gained since `marks`. A file shorter than its mark was
    /// rotated or truncated: all of it is new.
    pub fn count_since(&self, marks: &Marks) -> usize {
        self.files
            .iter()
            .zip(&marks.0)
            .map(|(f, &from)| count_lines(&read_from(f, from), &self.pattern))
            .sum()
    }
}

/// What `path` holds past `from` (its last [`READ_CAP`] bytes at most), as text.
fn read_from(path: &PathBuf, from: u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let from = if len < from { 0 } else { from };
    let start = from.max(len.saturating_sub(READ_CAP));
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.take(len - start).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// How many lines of `text` match `pattern`.
pub fn count_lines(text: &str, pattern: &Regex) -> usize {
    text.lines().filter(|l| pattern.is_match(l)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_matching_lines_count() {
        let p = Regex::new(r"Forwarding HTTP request").unwrap();
        let text = "a\n[HTTP_AFFINITY] Owner: w0 | Forwarding HTTP request\nb\n\
                    Forwarding HTTP request again\n";
        assert_eq!(count_lines(text, &p), 2);
        assert_eq!(count_lines("", &p), 0);
    }

    #[test]
    fn only_what_the_files_gained_since_the_mark_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, "forward 1\nother\n").unwrap();
        let logs = ForwardLogs::new(vec![a.clone(), b.clone()], Regex::new("forward").unwrap());
        let m = logs.mark();
        assert_eq!(logs.count_since(&m), 0);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .unwrap()
            .write_all(b"forward 2\n")
            .unwrap();
        std::fs::write(&b, "forward 3\nforward 4\n").unwrap();
        assert_eq!(logs.count_since(&m), 3);
        // Truncated since the mark: read from the start.
        std::fs::write(&a, "forward 5\n").unwrap();
        assert_eq!(logs.count_since(&logs.mark()), 0);
        assert_eq!(logs.count_since(&m), 3);
    }
}
