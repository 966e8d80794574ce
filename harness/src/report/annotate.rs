//! CI annotations: a failed case, or a problem in an input file, shown by
//! the CI beside the line it is about.
//!
//! GitHub Actions reads workflow commands from a step's output
//! (`::error file=F,line=L,title=T::message`) and shows each on the run's
//! page and in the pull request's diff, and renders the Markdown a step
//! appends to the file named by `GITHUB_STEP_SUMMARY` on the run's summary
//! page. It shows at most [`GITHUB_LIMIT`] error annotations per step, so
//! the run annotates that many and says how many more there were.

use crate::model::diag::InputError;
use crate::run::runner::{CaseReport, Outcome, Planned};
use std::fmt::Write as _;
use std::path::Path;

/// Error annotations GitHub Actions shows for one step.
pub const GITHUB_LIMIT: usize = 10;

/// Which CI to annotate for (`--annotations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Annotations {
    /// GitHub Actions when `GITHUB_ACTIONS=true`, else none.
    Auto,
    Github,
    None,
}

impl Annotations {
    /// Whether to write GitHub's workflow commands, given the environment.
    pub fn github(self, env: impl Fn(&str) -> Option<String>) -> bool {
        match self {
            Self::Github => true,
            Self::None => false,
            Self::Auto => env("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
        }
    }
}

/// One annotation: where, a title, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub title: String,
    pub message: String,
}

impl Note {
    /// GitHub's `::error` command for this note.
    pub fn github(&self) -> String {
        let mut props = format!("file={}", property(&self.file));
        if let Some(l) = self.line {
            let _ = write!(props, ",line={l}");
        }
        if let Some(c) = self.column {
            let _ = write!(props, ",col={c}");
        }
        let _ = write!(props, ",title={}", property(&self.title));
        format!("::error {props}::{}", data(&self.message))
    }
}

/// The notes of a run: each failed or broken case at its failing step.
pub fn of_run(plan: &[Planned], reports: &[CaseReport]) -> Vec<Note> {
    reports
        .iter()
        .filter_map(|r| {
            let (kind, step, message) = match &r.outcome {
                Outcome::Failed { step, message } => ("failed", step, message),
                Outcome::Error { step, message } => ("error", step, message),
                Outcome::Passed | Outcome::Skipped { .. } => return None,
            };
            let at = r.planned(plan).and_then(|p| p.place_of(step));
            Some(Note {
                file: shown(&r.suite_file),
                line: at.map(|(l, _)| l),
                column: at.map(|(_, c)| c),
                title: format!("{}::{} {kind}", r.suite, r.name),
                message: format!("{step}: {}", first_part(message)),
            })
        })
        .collect()
}

/// The notes of `harness check`: each problem where it is.
pub fn of_problems(problems: &[InputError]) -> Vec<Note> {
    problems
        .iter()
        .map(|e| Note {
            file: shown(&e.file),
            line: e.at.map(|(l, _)| l),
            column: e.at.map(|(_, c)| c),
            title: "harness check".into(),
            message: e.message.clone(),
        })
        .collect()
}

/// GitHub's commands for `notes`: the first [`GITHUB_LIMIT`], the last of
/// them saying how many more there are when there are more, and that
/// `listed` lists every one.
pub fn github_lines(notes: &[Note], listed: &str) -> Vec<String> {
    if notes.len() <= GITHUB_LIMIT {
        return notes.iter().map(Note::github).collect();
    }
    let shown = GITHUB_LIMIT - 1;
    let mut lines: Vec<String> = notes[..shown].iter().map(Note::github).collect();
    lines.push(format!(
        "::error title={}::{}",
        property("more failures"),
        data(&format!(
            "{} more not annotated (GitHub shows {GITHUB_LIMIT} per step); {listed} every one",
            notes.len() - shown
        ))
    ));
    lines
}

/// The run's summary in Markdown, for `GITHUB_STEP_SUMMARY`.
pub fn github_summary(notes: &[Note], reports: &[CaseReport]) -> String {
    let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let passed = count(|o| matches!(o, Outcome::Passed));
    let failed = count(|o| matches!(o, Outcome::Failed { .. }));
    let errors = count(|o| matches!(o, Outcome::Error { .. }));
    let skipped = count(|o| matches!(o, Outcome::Skipped { .. }));
    let mut md = String::from(
        "### locker-hil\n\n| passed | failed | errors | skipped |\n|---|---|---|---|\n",
    );
    let _ = writeln!(md, "| {passed} | {failed} | {errors} | {skipped} |");
    if !notes.is_empty() {
        md.push_str("\n| case | where | why |\n|---|---|---|\n");
        for n in notes {
            let at = match n.line {
                Some(l) => format!("{}:{l}", n.file),
                None => n.file.clone(),
            };
            let _ = writeln!(
                md,
                "| {} | `{}` | {} |",
                cell(&n.title),
                at,
                cell(&n.message)
            );
        }
    }
    md
}

/// Append `markdown` to the job summary, when the step has one
/// (`GITHUB_STEP_SUMMARY`); a summary that cannot be written is a warning.
pub fn append_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return;
    };
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot append the summary to {}: {e}",
            Path::new(&path).display()
        );
    }
}

/// `harness check`'s problems in Markdown, for `GITHUB_STEP_SUMMARY`.
pub fn problems_summary(notes: &[Note]) -> String {
    let mut md = format!(
        "### harness check\n\n{} problem(s) in the input\n\n| where | problem |\n|---|---|\n",
        notes.len()
    );
    for n in notes {
        let at = match (n.line, n.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", n.file),
            (Some(l), None) => format!("{}:{l}", n.file),
            _ => n.file.clone(),
        };
        let _ = writeln!(md, "| `{at}` | {} |", cell(&n.message));
    }
    md
}

/// A path as the annotation names it (see [`super::from_checkout`]).
fn shown(p: &Path) -> String {
    super::from_checkout(p).display().to_string()
}

/// The reason without the transcript a report appends to it.
fn first_part(message: &str) -> &str {
    let end = message
        .find("\nlast transcript lines")
        .unwrap_or(message.len());
    message[..end].trim_end()
}

/// A workflow command's message: `%`, CR and LF escaped.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`data`], and `:` and `,`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Text for one Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(i: usize) -> Note {
        Note {
            file: "suites/a.yaml".into(),
            line: Some(10 + i),
            column: Some(9),
            title: format!("a::case {i}, with: punctuation"),
            message: "expected 50%\nsaw nothing".into(),
        }
    }

    #[test]
    fn a_note_is_one_escaped_error_command() {
        assert_eq!(
            note(2).github(),
            "::error file=suites/a.yaml,line=12,col=9,title=a%3A%3Acase 2%2C with%3A punctuation::expected 50%25%0Asaw nothing"
        );
    }

    #[test]
    fn past_the_limit_the_last_annotation_counts_the_rest() {
        let notes: Vec<Note> = (0..25).map(note).collect();
        let lines = github_lines(&notes, "the summary lists");
        assert_eq!(
            lines.len(),
            10,
            "GitHub shows 10 error annotations per step"
        );
        assert!(lines[8].contains("line=18"));
        assert!(
            lines[9].contains(
                "16 more not annotated (GitHub shows 10 per step); the summary lists every one"
            ),
            "{}",
            lines[9]
        );
        assert_eq!(github_lines(&notes[..10], "").len(), 10);
        assert!(github_lines(&notes[..10], "")[9].contains("line=19"));
    }

    #[test]
    fn auto_means_github_only_under_github_actions() {
        let on = |v: &'static str| move |k: &str| (k == "GITHUB_ACTIONS").then(|| v.to_owned());
        assert!(Annotations::Auto.github(on("true")));
        assert!(!Annotations::Auto.github(on("false")));
        assert!(!Annotations::Auto.github(|_| None));
        assert!(Annotations::Github.github(|_| None));
        assert!(!Annotations::None.github(on("true")));
    }
}
