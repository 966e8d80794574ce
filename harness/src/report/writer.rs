//! Keeps the report files current while a run goes on, off the run's path.
//!
//! Two threads, so that a finished case reaches the disk in time bounded by
//! its own size, whatever came before it:
//!
//! - the journal thread serialises each case once, as it arrives, into a
//!   `<testsuite>` of its own and appends it to `<junit>.journal` beside the
//!   report (one write, no fsync: a killed process loses nothing the kernel
//!   has). A run killed at any moment leaves every case it finished in the
//!   journal; `harness report recover <junit>` rebuilds the report from it.
//! - the report thread keeps the JUnit file itself current: it joins the
//!   pieces (plan order) and rewrites the file atomically with everything
//!   it has, then with everything that came meanwhile, so it lags behind a
//!   burst of large cases but never holds the journal up.
//!
//! Every file they write says the run is still going (an error case `run
//! incomplete`, see [`RunState`]): a run killed now is red. Only the run's
//! own last write, after both threads have stopped, says how it ended, made
//! durable; the journal is then removed.

use super::RunState;
use crate::run::runner::CaseReport;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The report files being kept current.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<(Instant, CaseReport)>>,
    journal: Option<JoinHandle<Journaled>>,
    report: Option<JoinHandle<(Option<String>, usize)>>,
}

/// What the writer ends with.
#[derive(Debug)]
pub struct Written {
    /// Every case it was given, in plan order.
    pub reports: Vec<CaseReport>,
    /// The first write that failed, if one did.
    pub error: Option<String>,
    /// How many times the JUnit file was rewritten.
    pub rewrites: usize,
    /// The longest a case waited, from [`Writer::add`] to being in the
    /// journal.
    pub slowest: Duration,
}

#[derive(Debug)]
struct Journaled {
    reports: Vec<CaseReport>,
    error: Option<String>,
    slowest: Duration,
}

/// The journal beside a JUnit report: `reports/junit.xml.journal`.
pub fn journal_path(junit: &Path) -> PathBuf {
    let mut name = junit.file_name().unwrap_or_default().to_owned();
    name.push(".journal");
    junit.with_file_name(name)
}

/// A case serialised for the journal and the report thread.
struct Piece {
    index: usize,
    outcome: crate::run::runner::Outcome,
    xml: String,
}

impl Writer {
    /// Start keeping `junit` current (and its journal, see [`journal_path`]).
    pub fn spawn(junit: PathBuf) -> std::io::Result<Self> {
        let journal_file = journal_path(&junit);
        super::outputs::replaceable(&journal_file).map_err(std::io::Error::other)?;
        let mut journal = std::fs::File::create(&journal_file)?;
        let (tx, rx) = mpsc::channel::<(Instant, CaseReport)>();
        let (to_report, pieces) = mpsc::channel::<Piece>();
        let report = std::thread::Builder::new()
            .name("report-writer".into())
            .spawn(move || keep_report(&junit, &pieces))?;
        let journal = std::thread::Builder::new()
            .name("report-journal".into())
            .spawn(move || {
                let mut j = Journaled {
                    reports: Vec::new(),
                    error: None,
                    slowest: Duration::ZERO,
                };
                for (sent, r) in rx {
                    let xml = piece(&r);
                    if let Err(e) = journal.write_all(xml.as_bytes()) {
                        j.error
                            .get_or_insert(format!("cannot write {}: {e}", journal_file.display()));
                    }
                    j.slowest = j.slowest.max(sent.elapsed());
                    let _ = to_report.send(Piece {
                        index: r.index,
                        outcome: r.outcome.clone(),
                        xml,
                    });
                    j.reports.push(r);
                }
                j.reports.sort_by_key(|r| r.index);
                j
            })?;
        Ok(Self {
            tx: Some(tx),
            journal: Some(journal),
            report: Some(report),
        })
    }

    /// A case is finished: it will be on disk shortly.
    pub fn add(&self, report: CaseReport) {
        if let Some(tx) = &self.tx {
            // The thread only stops when told to; a send cannot fail before.
            let _ = tx.send((Instant::now(), report));
        }
    }

    /// Write what is left and hand back every case.
    pub fn finish(mut self) -> Written {
        self.tx = None;
        let journaled = self.journal.take().map(JoinHandle::join);
        let report = self.report.take().map(JoinHandle::join);
        match (journaled, report) {
            (Some(Ok(j)), Some(Ok(r))) => Written {
                reports: j.reports,
                error: j.error.or(r.0),
                rewrites: r.1,
                slowest: j.slowest,
            },
            _ => Written {
                reports: Vec::new(),
                error: Some("the report writer stopped".into()),
                rewrites: 0,
                slowest: Duration::ZERO,
            },
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.journal.take() {
            let _ = t.join();
        }
        if let Some(t) = self.report.take() {
            let _ = t.join();
        }
    }
}

/// One case as a `<testsuite>` of its own.
fn piece(r: &CaseReport) -> String {
    let xml = super::junit_in(std::slice::from_ref(r), false, &RunState::Complete)
        .to_string()
        .unwrap_or_default();
    testsuites_body(&xml).unwrap_or_default().to_owned()
}

/// The report thread: rewrite the JUnit file with every piece so far.
fn keep_report(junit: &Path, pieces: &mpsc::Receiver<Piece>) -> (Option<String>, usize) {
    let mut suites = BTreeMap::new();
    let mut tally = super::Tally::default();
    let (mut error, mut rewrites) = (None, 0);
    let marker = marker();
    while let Ok(first) = pieces.recv() {
        for p in std::iter::once(first).chain(pieces.try_iter()) {
            tally.add(&p.outcome);
            suites.insert(p.index, p.xml);
        }
        rewrites += 1;
        let file = document(&marker, suites.values().map(String::as_str), tally);
        if let Err(e) = super::write_replace(junit, file.as_bytes(), false) {
            error.get_or_insert(format!("cannot write {}: {e}", junit.display()));
        }
    }
    (error, rewrites)
}

/// The `<testsuite>` holding the error case that says the run has not ended.
fn marker() -> String {
    let xml = super::junit_in(&[], false, &RunState::InProgress)
        .to_string()
        .unwrap_or_default();
    testsuites_body(&xml).unwrap_or_default().to_owned()
}

/// A JUnit document of `marker` and `suites` (serialised `<testsuite>`
/// elements), with the root's counts from `t` and the marker's error.
fn document<'a>(
    marker: &str,
    suites: impl Iterator<Item = &'a str> + Clone,
    t: super::Tally,
) -> String {
    let size: usize = suites.clone().map(str::len).sum();
    let mut out = String::with_capacity(size + marker.len() + 256);
    out.push_str(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"locker-hil\" tests=\"{}\" skipped=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        t.passed + t.failed + t.errors + t.skipped + 1,
        t.skipped,
        t.failed,
        t.errors + 1
    ));
    out.push_str(marker);
    for s in suites {
        out.push_str(s);
    }
    out.push_str("</testsuites>\n");
    out
}

/// What a serialised report holds between its root's tags: its
/// `<testsuite>` elements.
fn testsuites_body(xml: &str) -> Option<&str> {
    let open = xml.find("<testsuites")?;
    let start = open + xml[open..].find('>')? + 1;
    let end = xml.rfind("</testsuites>")?;
    Some(xml[start..end].trim_start_matches('\n'))
}

/// `harness report recover`: the report of a run that died, rebuilt from
/// its journal (a piece cut short by the kill is dropped). The report still
/// says the run did not finish. Returns how many cases it holds.
pub fn recover(junit: &Path) -> Result<usize, String> {
    let journal = journal_path(junit);
    let text = crate::model::input::read_string(
        &journal,
        crate::model::input::REPORT_LIMIT * 4,
        "journals",
    )
    .map_err(|e| format!("{}: cannot read: {e}", journal.display()))?;
    const END: &str = "</testsuite>\n";
    let whole = text.rfind(END).map_or("", |at| &text[..at + END.len()]);
    // Counts from the pieces themselves: parse what the journal holds.
    let probe = format!("<testsuites>{whole}</testsuites>");
    let parsed = quick_junit::Report::deserialize_from_str(&probe)
        .map_err(|e| format!("{}: not a locker-hil journal: {e}", journal.display()))?;
    let mut tally = super::Tally::default();
    let mut cases = 0;
    for s in &parsed.test_suites {
        for c in &s.test_cases {
            cases += 1;
            match &c.status {
                quick_junit::TestCaseStatus::Success { .. } => tally.passed += 1,
                quick_junit::TestCaseStatus::Skipped { .. } => tally.skipped += 1,
                quick_junit::TestCaseStatus::NonSuccess { kind, .. } => match kind {
                    quick_junit::NonSuccessKind::Failure => tally.failed += 1,
                    quick_junit::NonSuccessKind::Error => tally.errors += 1,
                },
            }
        }
    }
    let pieces: Vec<&str> = whole.split_inclusive(END).collect();
    super::write_atomic(
        junit,
        document(&marker(), pieces.iter().copied(), tally).as_bytes(),
    )
    .map_err(|e| format!("cannot write {}: {e}", junit.display()))?;
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::runner::{Outcome, not_run};

    fn planned(name: &str) -> crate::run::runner::Planned {
        let suites = crate::model::load_suites(&[
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/code-entry.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let mut p = crate::run::runner::plan(&suites, |_, _| true).remove(0);
        p.case.name = name.into();
        p
    }

    #[test]
    fn every_case_reaches_the_file_in_plan_order_with_few_rewrites() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let junit = dir.path().join("junit.xml");
        let w = Writer::spawn(junit.clone()).unwrap_or_else(|e| panic!("{e}"));
        // Made before the adds, so that they come faster than the file is
        // written (the point of the test), however slow loading a suite is.
        let cases: Vec<_> = (0..500).map(|i| planned(&format!("case {i}"))).collect();
        for (i, p) in cases.iter().enumerate().rev() {
            w.add(not_run(i, p, "sim", Outcome::Passed));
        }
        let done = w.finish();
        assert_eq!(done.error, None);
        assert_eq!(done.reports.len(), 500);
        assert!(done.reports.windows(2).all(|p| p[0].index < p[1].index));
        assert!(done.rewrites < 500, "{} rewrites", done.rewrites);
        let xml = std::fs::read_to_string(&junit).unwrap_or_default();
        // Every case, and the error case that says the run has not ended,
        // in a file JUnit readers take.
        assert_eq!(xml.matches("<testcase ").count(), 501);
        let parsed =
            quick_junit::Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.tests, 501);
        assert_eq!(parsed.errors, 1);
        assert!(xml.contains("name=\"run incomplete\""), "{xml}");
        assert!(xml.find("case 0\"") < xml.find("case 499\""));
    }

    /// Issue 14: a run killed after 2-5 s had printed PASS for cases its
    /// JUnit file did not hold. The journal holds every case handed over,
    /// and the report is rebuilt from it, a piece cut short by the kill
    /// dropped, still saying the run did not finish.
    #[test]
    fn a_killed_run_is_recovered_from_its_journal() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let junit = dir.path().join("junit.xml");
        let w = Writer::spawn(junit.clone()).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..40 {
            let outcome = if i % 10 == 3 {
                Outcome::Failed {
                    step: "steps[0]".into(),
                    message: "no".into(),
                }
            } else {
                Outcome::Passed
            };
            w.add(not_run(i, &planned(&format!("case {i}")), "sim", outcome));
        }
        drop(w.finish());
        // As a kill mid-append leaves it: half a piece at the end.
        let journal = journal_path(&junit);
        let mut text = std::fs::read_to_string(&journal).unwrap_or_default();
        assert_eq!(text.matches("<testcase ").count(), 40);
        text.push_str("    <testsuite name=\"code-entry\" tests=\"1\"><testcase name=\"cut");
        std::fs::write(&journal, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&junit, "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recover(&junit), Ok(40));
        let xml = std::fs::read_to_string(&junit).unwrap_or_default();
        let report =
            quick_junit::Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.tests, 41, "40 cases and the run-incomplete case");
        assert_eq!(report.failures, 4);
        assert_eq!(report.errors, 1);
        assert!(xml.contains("name=\"run incomplete\""));
    }
}
