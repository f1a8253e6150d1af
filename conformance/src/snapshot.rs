//! Snapshots of responses, stored under `snapshots/<profile>/<area>/` in insta's file format.
//!
//! A response is reduced to its status, a few meaningful headers and its body, then redacted:
//! values the run provisioned become their names (`[servers.S.id]`), and remaining ids, UUIDs,
//! JWTs, session ids, dates and loopback ports become placeholders, so a snapshot is the same on
//! every run. What happens on a difference follows insta's rules (`INSTA_UPDATE`, `CI`): locally
//! a `.snap.new` is written for `cargo insta review --workspace-root .`; on CI nothing is written
//! and the check fails. The files are read and written here ([`file`]) rather than by
//! `insta::assert_yaml_snapshot!`, whose only way to report a difference is a panic.

pub mod file;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use crate::client::WireResponse;
use crate::runner::body_json;

/// Headers worth keeping in a snapshot; everything else (dates, lengths, servers) is noise.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "www-authenticate",
    "location",
    "allow",
    "cache-control",
    "mcp-session-id",
    "x-robots-tag",
];

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
            "[jwt]",
        ),
        (
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
            "[date]",
        ),
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "[uuid]",
        ),
        (r"\b[0-9a-f]{32}\b", "[id]"),
        (r"(?:127\.0\.0\.1|localhost|\[::1\]):\d+", "[host]"),
    ]
    .into_iter()
    .map(|(re, to)| (Regex::new(re).expect("static regex"), to))
    .collect()
});

/// Redact one string.
pub fn redact_str(s: &str, known: &[(String, String)]) -> String {
    let mut out = s.to_owned();
    for (value, placeholder) in known {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), placeholder);
        }
    }
    for (re, to) in PATTERNS.iter() {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

fn redact_value(v: &Value, known: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => Value::String(redact_str(s, known)),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_value(x, known)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (redact_str(k, known), redact_value(x, known)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The snapshot of a response.
pub fn redacted_response(resp: &WireResponse, known: &[(String, String)]) -> Value {
    let mut headers = Map::new();
    for name in KEPT_HEADERS {
        if let Some(v) = resp.header(name) {
            let v = if *name == "mcp-session-id" {
                "[session-id]".to_owned()
            } else {
                redact_str(&v, known)
            };
            headers.insert((*name).to_owned(), Value::String(v));
        }
    }
    let body = match body_json(resp) {
        Some(j) => redact_value(&j, known),
        None => Value::String(redact_str(&resp.text(), known)),
    };
    json!({"status": resp.status, "headers": headers, "body": body})
}

/// How the message of a snapshot that does not exist yet starts.
pub const MISSING: &str = "snapshot missing: ";

/// Whether a check's message says only that its snapshot does not exist yet.
pub fn is_missing(message: &str) -> bool {
    message.starts_with(MISSING)
}

/// Where snapshots are kept.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    /// The top-level `snapshots/` directory (absolute).
    pub dir: PathBuf,
    /// The profile's subdirectory: responses differ between kinds of gateway.
    pub profile: String,
}

impl SnapshotStore {
    /// Compare `value` with the stored snapshot `<area>/<slug>__<name>.snap` of step `step` of
    /// scenario `scenario_id` (read from `scenario_path`); on a difference, write what
    /// `INSTA_UPDATE` and `CI` say. `Err` is the check's failure message.
    pub fn check(
        &self,
        scenario_id: &str,
        step: &str,
        name: &str,
        scenario_path: &Path,
        value: &Value,
    ) -> Result<(), String> {
        let update = Update::from_env()?;
        self.check_with(update, scenario_id, step, name, scenario_path, value)
    }

    /// [`SnapshotStore::check`] with the update rule given.
    fn check_with(
        &self,
        update: Update,
        scenario_id: &str,
        step: &str,
        name: &str,
        scenario_path: &Path,
        value: &Value,
    ) -> Result<(), String> {
        let (area, slug) = scenario_id.split_once('/').unwrap_or(("", scenario_id));
        let snap = self
            .dir
            .join(&self.profile)
            .join(area)
            .join(format!("{}__{name}.snap", slug.replace('/', "__")));
        let pending = snap.with_extension("snap.new");
        let body = file::to_yaml(value);
        let old = match std::fs::read_to_string(&snap) {
            Ok(text) => Some(file::body(&text).map(str::to_owned).ok_or_else(|| {
                format!(
                    "{} is not an insta snapshot (no `---` front matter)",
                    snap.display()
                )
            })?),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", snap.display())),
        };
        let header = file::Header {
            source: "conformance/src/snapshot.rs".to_owned(),
            description: format!("{scenario_id}:{step}"),
            input_file: self.relative(scenario_path),
        };
        let write = |path: &Path| {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
                .and_then(|()| std::fs::write(path, file::write(&header, &body)))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        if let Some(old) = old.as_deref()
            && file::same(old, &body)
        {
            // As insta does: a passing snapshot leaves no review pending.
            let _ = std::fs::remove_file(&pending);
            if update == Update::Force {
                write(&snap)?;
            }
            return Ok(());
        }
        let what = match old.as_deref() {
            None => format!("{MISSING}`{name}` is new: no {} yet", snap.display()),
            Some(old) => format!(
                "snapshot `{name}` differs from {}: {}",
                snap.display(),
                diff(old, &body)
            ),
        };
        match update.on_difference(old.is_some()) {
            Write::InPlace => {
                write(&snap)?;
                let _ = std::fs::remove_file(&pending);
                Ok(())
            }
            Write::Pending => {
                write(&pending)?;
                Err(format!(
                    "{what} (review {} with `cargo insta review --workspace-root .`)",
                    pending.display()
                ))
            }
            Write::Nothing => Err(format!(
                "{what} (nothing written: CI or INSTA_UPDATE=no; run locally to write it for \
                 `cargo insta review --workspace-root .`)"
            )),
        }
    }

    /// `path` relative to the directory that holds `snapshots/` (the workspace root), as insta
    /// records an input file.
    fn relative(&self, path: &Path) -> String {
        let root = self.dir.parent().and_then(|r| r.canonicalize().ok());
        let full = path.canonicalize().ok();
        let shown = match (root, full) {
            (Some(root), Some(full)) => full
                .strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or(full),
            _ => path.to_path_buf(),
        };
        shown.to_string_lossy().replace('\\', "/")
    }
}

/// `INSTA_UPDATE`, as insta reads it: what to do with a snapshot that is new or differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Update {
    /// `always` (or `1`): write the `.snap`; the check passes.
    Always,
    /// `new`, and `auto` (or unset) off CI: write a `.snap.new` for review; the check fails.
    New,
    /// `unseen`: a new snapshot as `always`, a changed one as `new`.
    Unseen,
    /// `no`, and `auto` (or unset) on CI: write nothing; the check fails.
    No,
    /// `force`: as `always`, and rewrite even a snapshot that matches.
    Force,
}

/// Where a new or different snapshot goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    InPlace,
    Pending,
    Nothing,
}

impl Update {
    /// From `INSTA_UPDATE` and `CI` in the environment.
    fn from_env() -> Result<Update, String> {
        let ci = match std::env::var("CI").ok().as_deref() {
            Some("false" | "0" | "") => false,
            Some(_) => true,
            // insta's test for Azure Pipelines.
            None => std::env::var_os("TF_BUILD").is_some(),
        };
        Update::parse(std::env::var("INSTA_UPDATE").ok().as_deref(), ci)
    }

    /// From the value of `INSTA_UPDATE` (unset or empty: `auto`), on CI or not.
    fn parse(value: Option<&str>, ci: bool) -> Result<Update, String> {
        Ok(match value.unwrap_or("") {
            "" | "auto" if ci => Update::No,
            "" | "auto" => Update::New,
            "always" | "1" => Update::Always,
            "new" => Update::New,
            "unseen" => Update::Unseen,
            "no" => Update::No,
            "force" => Update::Force,
            other => {
                return Err(format!(
                    "INSTA_UPDATE={other:?} is none of auto, always, new, unseen, no, force"
                ));
            }
        })
    }

    fn on_difference(self, exists: bool) -> Write {
        match self {
            Update::Always | Update::Force => Write::InPlace,
            Update::Unseen if !exists => Write::InPlace,
            Update::New | Update::Unseen => Write::Pending,
            Update::No => Write::Nothing,
        }
    }
}

/// The lines that differ, on one line: `-stored` / `+got`, in order (a longest common subsequence
/// keeps the rest apart); at most [`DIFF_LINES`] of them.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.trim_end().lines().collect();
    let b: Vec<&str> = new.trim_end().lines().collect();
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut changes = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            changes.push(format!("-`{}`", a[i].trim()));
            i += 1;
        } else {
            changes.push(format!("+`{}`", b[j].trim()));
            j += 1;
        }
    }
    let more = changes.len().saturating_sub(DIFF_LINES);
    changes.truncate(DIFF_LINES);
    if more > 0 {
        changes.push(format!("and {more} more"));
    }
    changes.join(" ")
}

/// How many differing lines a failure message shows.
const DIFF_LINES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_values_then_patterns() {
        let known = vec![(
            "0123456789abcdef0123456789abcdef".to_owned(),
            "[servers.S.id]".to_owned(),
        )];
        assert_eq!(
            redact_str(
                "http://127.0.0.1:4444/servers/0123456789abcdef0123456789abcdef/mcp at 2026-11-22T02:23:37.214521",
                &known
            ),
            "http://[host]/servers/[servers.S.id]/mcp at [date]"
        );
        assert_eq!(
            redact_str("ffffffffffffffffffffffffffffffff eyJa.eyJb.c", &[]),
            "[id] [jwt]"
        );
    }

    /// A store in a temporary workspace (`<tmp>/snapshots`, `<tmp>/scenarios/auth/x.yaml`).
    struct Fixture {
        dir: tempfile::TempDir,
        store: SnapshotStore,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("scenarios/auth")).unwrap();
            std::fs::write(dir.path().join("scenarios/auth/x.yaml"), "").unwrap();
            let store = SnapshotStore {
                dir: dir.path().join("snapshots"),
                profile: "reference".to_owned(),
            };
            Fixture { dir, store }
        }

        fn check(&self, update: Update, value: &Value) -> Result<(), String> {
            let scenario = self.dir.path().join("scenarios/auth/x.yaml");
            self.store
                .check_with(update, "auth/x", "step", "snap", &scenario, value)
        }

        fn snap(&self) -> PathBuf {
            self.store.dir.join("reference/auth/x__snap.snap")
        }

        fn pending(&self) -> PathBuf {
            self.snap().with_extension("snap.new")
        }
    }

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    #[test]
    fn a_new_snapshot_is_written_as_insta_rules_say() {
        let v = json!({"status": 401});
        // Off CI by default: pending review, the check fails.
        let f = Fixture::new();
        let e = f.check(Update::New, &v).unwrap_err();
        assert!(
            e.contains("snapshot missing: `snap` is new") && e.contains("cargo insta review"),
            "{e}"
        );
        assert_eq!(read(&f.snap()), None);
        assert_eq!(
            read(&f.pending()).unwrap(),
            "---\nsource: conformance/src/snapshot.rs\ndescription: \"auth/x:step\"\n\
             input_file: scenarios/auth/x.yaml\n---\nstatus: 401\n"
        );
        // Accepting it (`cargo insta review`, or renaming it to `.snap`) makes the check pass.
        std::fs::rename(f.pending(), f.snap()).unwrap();
        f.check(Update::No, &v).unwrap();
        // On CI: nothing written, the check fails.
        let f = Fixture::new();
        let e = f.check(Update::No, &v).unwrap_err();
        assert!(e.contains("nothing written"), "{e}");
        assert_eq!((read(&f.snap()), read(&f.pending())), (None, None));
        // `always`, and `unseen` for a new one: written in place, the check passes.
        for update in [Update::Always, Update::Unseen] {
            let f = Fixture::new();
            f.check(update, &v).unwrap();
            assert!(read(&f.snap()).unwrap().ends_with("---\nstatus: 401\n"));
            assert_eq!(read(&f.pending()), None);
        }
    }

    #[test]
    fn a_changed_snapshot_names_what_changed() {
        let f = Fixture::new();
        f.check(Update::Always, &json!({"status": 401, "body": "a"}))
            .unwrap();
        let stored = read(&f.snap()).unwrap();
        let changed = json!({"status": 403, "body": "a"});
        for update in [Update::New, Update::Unseen] {
            let e = f.check(update, &changed).unwrap_err();
            assert!(
                e.contains("differs from") && e.contains("-`status: 401` +`status: 403`"),
                "{e}"
            );
            assert!(read(&f.pending()).unwrap().ends_with("status: 403\n"));
            assert_eq!(
                read(&f.snap()).unwrap(),
                stored,
                "the .snap is left as it was"
            );
        }
        // Passing again clears the pending file.
        f.check(Update::New, &json!({"status": 401, "body": "a"}))
            .unwrap();
        assert_eq!(read(&f.pending()), None);
        let e = f.check(Update::No, &changed).unwrap_err();
        assert!(e.contains("nothing written"), "{e}");
        assert_eq!(read(&f.pending()), None);
        f.check(Update::Always, &changed).unwrap();
        assert!(read(&f.snap()).unwrap().ends_with("status: 403\n"));
    }

    #[test]
    fn a_matching_snapshot_is_left_byte_for_byte_unless_forced() {
        let f = Fixture::new();
        std::fs::create_dir_all(f.snap().parent().unwrap()).unwrap();
        // As committed snapshots are: an older header (with `assertion_line`).
        let old = "---\nsource: conformance/src/snapshot.rs\nassertion_line: 129\n\
                   description: \"auth/x:step\"\ninput_file: scenarios/auth/x.yaml\n---\n\
                   status: 401\n";
        std::fs::write(f.snap(), old).unwrap();
        for update in [Update::Always, Update::New, Update::Unseen, Update::No] {
            f.check(update, &json!({"status": 401})).unwrap();
            assert_eq!(read(&f.snap()).unwrap(), old);
        }
        f.check(Update::Force, &json!({"status": 401})).unwrap();
        assert!(!read(&f.snap()).unwrap().contains("assertion_line"));
        // A file that is not a snapshot is an error, not a difference.
        std::fs::write(f.snap(), "status: 401\n").unwrap();
        let e = f
            .check(Update::Always, &json!({"status": 401}))
            .unwrap_err();
        assert!(e.contains("not an insta snapshot"), "{e}");
    }

    #[test]
    fn insta_update_is_read_as_insta_reads_it() {
        assert_eq!(Update::parse(None, false), Ok(Update::New));
        assert_eq!(Update::parse(Some(""), true), Ok(Update::No));
        assert_eq!(Update::parse(Some("auto"), true), Ok(Update::No));
        assert_eq!(Update::parse(Some("always"), true), Ok(Update::Always));
        assert_eq!(Update::parse(Some("1"), false), Ok(Update::Always));
        assert_eq!(Update::parse(Some("unseen"), false), Ok(Update::Unseen));
        assert_eq!(Update::parse(Some("new"), true), Ok(Update::New));
        assert_eq!(Update::parse(Some("no"), false), Ok(Update::No));
        assert_eq!(Update::parse(Some("force"), false), Ok(Update::Force));
        assert!(
            Update::parse(Some("yes"), false)
                .unwrap_err()
                .contains("INSTA_UPDATE")
        );
    }

    #[test]
    fn a_diff_lists_the_changed_lines_in_order() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "-`b` +`x`");
        assert_eq!(diff("a\n", "a\nb\n"), "+`b`");
        let many: String = (0..20).map(|i| format!("{i}\n")).collect();
        assert!(diff("", &many).ends_with("and 12 more"));
    }
}
