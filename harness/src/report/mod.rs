//! Reporters: JUnit for CI, a summary for people. They read finished cases
//! and never influence the run.

use crate::run::runner::{CaseReport, Outcome};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub mod annotate;
pub mod html;
pub mod json;
pub mod merge;
pub mod outputs;
pub mod snapshots;
pub mod terminal;
pub mod writer;

/// Where the run was when a report was written. Only a finished run's
/// report can be green: any other says so with an error test case, which
/// every CI test reporter counts, so a run killed or stopped half-way is red.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Written while the run goes on: what a run killed now would leave.
    InProgress,
    /// Stopped by a signal (named) before every case finished.
    Interrupted(String),
    Complete,
}

/// The test suite that says a run did not finish.
pub const RUN_SUITE: &str = "locker-hil run";

impl RunState {
    /// The property every test suite carries.
    fn property(&self) -> String {
        match self {
            Self::InProgress => "in progress".into(),
            Self::Interrupted(by) => format!("interrupted by {by}"),
            Self::Complete => "complete".into(),
        }
    }

    /// The error case of a report written before the run ended.
    fn marker(&self) -> Option<TestSuite> {
        let (name, message) = match self {
            Self::Complete => return None,
            Self::InProgress => (
                "run incomplete",
                "the run had not finished when this file was written: it holds the cases finished so far; \
                 the run's last write removes this case, so a run that was killed stays red"
                    .to_owned(),
            ),
            Self::Interrupted(by) => (
                "run interrupted",
                format!(
                    "the run was stopped by {by}: cases that were running are errors, cases never started are skipped"
                ),
            ),
        };
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type("run-incomplete").set_message(message);
        let mut case = TestCase::new(name, st);
        case.set_classname(RUN_SUITE);
        let mut suite = TestSuite::new(RUN_SUITE);
        suite.add_property(Property::new("run.state", self.property()));
        suite.add_test_case(case);
        Some(suite)
    }
}

/// Build the JUnit report: one testsuite per suite file, one testcase per case.
pub fn junit(reports: &[CaseReport], rig_time_redacted: bool) -> Report {
    junit_in(reports, rig_time_redacted, &RunState::Complete)
}

/// [`junit`] for a run in `state`: every suite says the state in its
/// `run.state` property, and an unfinished run has its error case.
pub fn junit_in(reports: &[CaseReport], rig_time_redacted: bool, state: &RunState) -> Report {
    let mut report = Report::new("locker-hil");
    let mut suites: Vec<(String, TestSuite)> = Vec::new();
    let mut total = Duration::ZERO;
    for r in reports {
        total += r.wall;
        let pos = match suites.iter().position(|(n, _)| *n == r.suite) {
            Some(p) => p,
            None => {
                let mut s = TestSuite::new(r.suite.clone());
                s.add_property(Property::new("file", r.suite_file.display().to_string()));
                s.add_property(Property::new("rig", r.rig.clone()));
                about_properties(&r.suite_about, |p| {
                    s.add_property(p);
                });
                s.add_property(Property::new("run.state", state.property()));
                suites.push((r.suite.clone(), s));
                suites.len() - 1
            }
        };
        suites[pos].1.add_test_case(testcase(r, rig_time_redacted));
    }
    for (_, mut s) in suites {
        let time: Duration = reports
            .iter()
            .filter(|r| r.suite == s.name.as_str())
            .map(|r| r.wall)
            .sum();
        if !rig_time_redacted {
            s.set_time(time);
        }
        report.add_test_suite(s);
    }
    if let Some(marker) = state.marker() {
        report.add_test_suite(marker);
    }
    if !rig_time_redacted {
        report.set_time(total);
    }
    report
}

/// `description` and `tags` (comma-separated) as JUnit properties, when said.
fn about_properties(about: &crate::run::runner::About, mut add: impl FnMut(Property)) {
    if !about.description.trim().is_empty() {
        add(Property::new("description", about.description.trim()));
    }
    if !about.tags.is_empty() {
        add(Property::new("tags", about.tags.join(", ")));
    }
}

pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn testcase(r: &CaseReport, redact: bool) -> TestCase {
    let mut status = match &r.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed { step, message } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("failure");
            st.set_message(format!("{step}: {}", first_line(message)));
            st.set_description(format!("step {step}\n{message}"));
            st
        }
        Outcome::Error { step, message } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("rig-error");
            st.set_message(format!("{step}: {}", first_line(message)));
            st.set_description(format!("step {step}\n{message}"));
            st
        }
        Outcome::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.clone());
            st
        }
    };
    // Earlier runs: flakyFailure / flakyError under a pass, rerunFailure /
    // rerunError under a failure (the Maven surefire elements CI tools read).
    for a in &r.attempts {
        let (kind, ty, step, message) = match &a.outcome {
            Outcome::Failed { step, message } => {
                (NonSuccessKind::Failure, "failure", step, message)
            }
            Outcome::Error { step, message } => (NonSuccessKind::Error, "rig-error", step, message),
            _ => continue,
        };
        let mut rerun = TestRerun::new(kind);
        rerun
            .set_type(ty)
            .set_message(format!("{step}: {}", first_line(message)))
            .set_description(format!(
                "rig {}, seed {}\nstep {step}\n{message}",
                a.rig, a.seed
            ));
        if !redact {
            rerun
                .set_time(a.wall)
                .set_timestamp(chrono::DateTime::<chrono::Utc>::from(a.started).fixed_offset());
        }
        if !a.transcript.is_empty() {
            rerun.set_system_out(a.transcript.as_str());
        }
        status.add_rerun(rerun);
    }
    let mut tc = TestCase::new(r.name.clone(), status);
    tc.set_classname(r.suite.clone());
    if !redact {
        tc.set_time(r.wall);
        tc.set_timestamp(chrono::DateTime::<chrono::Utc>::from(r.started).fixed_offset());
    }
    tc.add_property(Property::new("rig", r.rig.clone()));
    about_properties(&r.about, |p| {
        tc.add_property(p);
    });
    if let Some(b) = &r.build {
        tc.add_property(Property::new(
            "firmware.build",
            if redact { "<build>".into() } else { b.clone() },
        ));
    }
    if let Some(p) = r.proto {
        tc.add_property(Property::new("protocol.version", p.to_string()));
    }
    for c in &r.caveats {
        tc.add_property(Property::new(format!("caveat.{}", c.key), c.text.clone()));
    }
    tc.add_property(Property::new("seed", r.seed.to_string()));
    tc.add_property(Property::new(merge::ORDER, r.order.to_string()));
    if r.is_flaky() {
        tc.add_property(Property::new(
            "flaky",
            format!("passed after {} failed run(s)", r.attempts.len()),
        ));
    }
    if let Some(q) = &r.quarantine {
        tc.add_property(Property::new("quarantine.reason", q.reason.clone()));
        if let Some(link) = &q.link {
            tc.add_property(Property::new("quarantine.link", link.clone()));
        }
    }
    tc.add_property(Property::new(
        "rig.time",
        crate::model::units::fmt_duration(Duration::from_millis(r.rig_time.as_millis() as u64)),
    ));
    let mut text: Vec<String> = r.transcript.rendered().collect();
    // Jenkins' and GitLab's convention for a file that goes with a case.
    if let Some(f) = &r.transcript.file {
        let f = std::path::absolute(f).unwrap_or_else(|_| f.clone());
        text.push(format!("[[ATTACHMENT|{}]]", f.display()));
    }
    // A failure's page: GitLab links it beside the case (as an artifact
    // path, relative to the checkout, where the run was started).
    if let (Some(page), Outcome::Failed { .. } | Outcome::Error { .. }) = (&r.page, &r.outcome) {
        text.push(format!("[[ATTACHMENT|{}]]", from_checkout(page).display()));
    }
    if !text.is_empty() {
        tc.set_system_out(text.join("\n"));
    }
    tc
}

/// `path` relative to the working directory (a CI job's checkout) when it
/// is inside it, else absolute: what GitLab resolves among a job's
/// artifacts, and GitHub beside a pull request's files.
pub(crate) fn from_checkout(path: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    std::env::current_dir()
        .ok()
        .and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or(absolute)
}

/// The temporary file a write of `path` goes through: hidden, beside it
/// (a rename within one folder is atomic), and this process's own.
pub(crate) fn temp_beside(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Write a file so that readers see the old or the new content, never
/// half. Only a regular file is replaced (a device node or a link that
/// appeared since the run was checked is refused), and the temporary file
/// is removed on any error: a full disk leaves the old file and nothing else.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_replace(path, bytes, true)
}

/// [`write_atomic`], made durable (fsync) only when `durable`: a file that
/// is rewritten soon anyway needs to survive the process, not the machine.
pub fn write_replace(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    outputs::replaceable(path).map_err(std::io::Error::other)?;
    let tmp = temp_beside(path);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub fn write_junit(path: &Path, reports: &[CaseReport], state: &RunState) -> Result<(), String> {
    write_report(path, &junit_in(reports, false, state))
}

/// Write a JUnit report atomically (a run's, or a merged one).
pub fn write_report(path: &Path, report: &Report) -> Result<(), String> {
    let xml = report
        .to_string()
        .map_err(|e| format!("cannot serialise JUnit: {e}"))?;
    write_atomic(path, xml.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn of(reports: &[CaseReport]) -> Self {
        let mut t = Self::default();
        for r in reports {
            t.add(&r.outcome);
        }
        t
    }

    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Error { .. } => self.errors += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }
}
