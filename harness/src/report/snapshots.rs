//! `harness run --snapshots check|update`: each case's behaviour, as a
//! normalised trace, against a stored snapshot, so a firmware team sees
//! what changed between two releases on the same bench.
//!
//! Snapshots are files in insta's format (a YAML header between `---`
//! lines, then the text), one per case and kind of rig:
//! `harness/snapshots/<rig kind>/<suite file>__<case>.snap` by default:
//! inside a package of the workspace, which is where `cargo insta` looks
//! for pending snapshots. A mismatch fails
//! the case with a diff and leaves the new text beside the old one as
//! `.snap.new`, which `cargo insta review` (or `cargo insta accept`) takes
//! like any pending snapshot; `--snapshots update` writes the `.snap` files
//! of every passing case directly.
//!
//! The normalised trace is the order of things, not their timing: what the
//! controller reported and what the steps did, without times, build ids,
//! codes or analog readings (temperature samples are the plant's, and vary
//! from one bench run to the next). Cases that failed are not compared:
//! their failure already says what is wrong.

use crate::run::runner::{CaseReport, Outcome};
use crate::run::trace::{Item, behaviour};
use std::path::{Path, PathBuf};

/// What `--snapshots` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Compare; a difference fails the case and leaves a `.snap.new`.
    Check,
    /// Store this run's traces as the snapshots.
    Update,
}

/// Where a run's snapshots live and what to do with them.
#[derive(Debug, Clone)]
pub struct Snapshots {
    pub mode: Mode,
    /// The kind of rig (`sim`, `qemu`, `bench`): each has its own snapshots.
    pub kind: String,
    /// The folder holding a folder per kind of rig.
    pub dir: PathBuf,
}

/// `Case name: 3 wrong codes` -> `case_name_3_wrong_codes`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

impl Snapshots {
    /// The snapshot file of a case.
    pub fn path(&self, r: &CaseReport) -> PathBuf {
        let stem = r
            .suite_file
            .file_stem()
            .map_or_else(|| slug(&r.suite), |s| slug(&s.to_string_lossy()));
        self.dir
            .join(&self.kind)
            .join(format!("{stem}__{}.snap", slug(&r.name)))
    }

    /// Compare (or store) a finished case's snapshot, turning a mismatch
    /// into a failure of the case.
    pub fn apply(&self, r: &mut CaseReport) {
        if r.outcome != Outcome::Passed {
            return;
        }
        let path = self.path(r);
        let pending = path.with_extension("snap.new");
        let text = normalised(r);
        let result = match self.mode {
            Mode::Update => write(&path, r, &text).map(|()| {
                let _ = std::fs::remove_file(&pending);
            }),
            Mode::Check => match read(&path) {
                Ok(Some(stored)) if stored == text => {
                    let _ = std::fs::remove_file(&pending);
                    Ok(())
                }
                Ok(stored) => {
                    let why = match &stored {
                        Some(stored) => format!(
                            "the behaviour differs from the snapshot {} (`-` stored, `+` this run):\n{}",
                            path.display(),
                            diff(stored, &text)
                        ),
                        None => format!(
                            "no snapshot stored at {}; record one with `--snapshots update`",
                            path.display()
                        ),
                    };
                    let saved = write(&pending, r, &text).map(|()| {
                        format!(
                            "\nthis run's is in {}: `cargo insta review` (or `--snapshots update`) accepts it",
                            pending.display()
                        )
                    });
                    r.outcome = Outcome::Failed {
                        step: "snapshot".into(),
                        message: format!("{why}{}", saved.unwrap_or_else(|e| format!("\n{e}"))),
                    };
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(message) = result {
            r.outcome = Outcome::Error {
                step: "snapshot".into(),
                message,
            };
        }
    }
}

/// The case's behaviour in order, without timing: `# power on`, then
/// observations indented two spaces and steps after `> `.
pub fn normalised(r: &CaseReport) -> String {
    let mut out = vec!["# power on".to_owned()];
    out.extend(r.trace.walk().filter_map(|item| match item {
        Item::Obs(o) => behaviour(o).map(|b| format!("  {b}")),
        Item::Step(s) => Some(format!("> {}", s.text)),
        // Times and temperatures are not behaviour: the count and digest
        // of the rest are, and two runs that differ there differ here.
        Item::Omitted(g) => Some(format!(
            "  ... {} observations not kept (digest {:016x})",
            g.behaviour, g.digest
        )),
    }));
    out.join("\n")
}

/// The text of a stored snapshot (insta's format); `None` when there is none.
pub fn read(path: &Path) -> Result<Option<String>, String> {
    if !path.exists() && path.symlink_metadata().is_err() {
        return Ok(None);
    }
    let text =
        crate::model::input::read_string(path, crate::model::input::REPORT_LIMIT, "snapshots")
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n").map(|(_, body)| body))
        .ok_or_else(|| {
            format!(
                "{}: not a snapshot (expected a `---` header, as insta writes)",
                path.display()
            )
        })?;
    Ok(Some(body.trim_end().replace("\r\n", "\n")))
}

/// Write a snapshot in insta's format.
fn write(path: &Path, r: &CaseReport, text: &str) -> Result<(), String> {
    // JSON strings are YAML strings: quoting handles any name.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let file = format!(
        "---\nsource: {}\nexpression: {}\n---\n{text}\n",
        quote(&r.suite_file.display().to_string()),
        quote(&format!("{}::{}", r.suite, r.name)),
    );
    // Its folder is made on the way.
    crate::report::write_atomic(path, file.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A unified diff, three lines of context.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header("stored", "this run")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("valid code opens its compartment", "valid_code_opens_its_compartment")]
    #[case("Clock +3 min: still OK?", "clock_3_min_still_ok")]
    #[case("__x__", "x")]
    fn slugs(#[case] name: &str, #[case] want: &str) {
        assert_eq!(slug(name), want);
    }

    #[test]
    fn a_snapshot_without_a_header_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("x.snap");
        std::fs::write(&p, "just text\n").unwrap_or_else(|e| panic!("{e}"));
        let e = read(&p).unwrap_err();
        assert!(e.contains("not a snapshot"), "{e}");
        assert_eq!(read(&dir.path().join("none.snap")), Ok(None));
    }

    #[test]
    fn the_diff_marks_what_changed() {
        let d = diff(
            "# power on\n  led green\n> wait: 1s\n",
            "# power on\n  led amber\n> wait: 1s\n",
        );
        assert!(
            d.contains("-  led green") && d.contains("+  led amber"),
            "{d}"
        );
    }
}
