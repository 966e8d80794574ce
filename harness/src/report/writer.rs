//! Keeps the report files current while a run goes on, off the run's path.
//!
//! Finished cases are handed to a thread of its own. It rewrites the files
//! with everything it has, then with everything that came meanwhile: a
//! fast run costs a handful of rewrites, not one per case, and a slow one
//! (a bench, a case a minute) has each case on disk as soon as it is done.
//!
//! Each case is serialised once, as it arrives, into a `<testsuite>` of
//! its own; a rewrite only joins those pieces and writes them (no fsync:
//! a killed process loses nothing the kernel has). So a case is on disk
//! after its own serialisation plus one write of the file, however many and
//! however large the cases before it: no re-serialising everything on each
//! rewrite, which fell behind a run with large transcripts. The run's last
//! write is the regular report, one `testsuite` per suite file, made durable.
//! A run killed at any moment leaves the files as of the last rewrite, and
//! a rewrite never leaves half a file (see [`super::write_atomic`]).
//! Every file this thread writes says the run is still going (an error
//! case `run incomplete`, see [`RunState`]): a run killed now is red. Only
//! the run's own last write, after this thread has stopped, says how it ended.

use super::RunState;
use crate::runner::CaseReport;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

/// The report files being kept current.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<(Instant, CaseReport)>>,
    thread: Option<JoinHandle<Written>>,
}

/// What the writer ends with.
#[derive(Debug)]
pub struct Written {
    /// Every case it was given, in plan order.
    pub reports: Vec<CaseReport>,
    /// The first write that failed, if one did.
    pub error: Option<String>,
    /// How many times the files were rewritten.
    pub rewrites: usize,
    /// The longest a case waited, from [`Writer::add`] to the end of the
    /// write that put it on disk.
    pub slowest: std::time::Duration,
}

impl Writer {
    /// Start keeping `junit` current.
    pub fn spawn(junit: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<(Instant, CaseReport)>();
        let thread = std::thread::Builder::new()
            .name("report-writer".into())
            .spawn(move || {
                let mut w = Written {
                    reports: Vec::new(),
                    error: None,
                    rewrites: 0,
                    slowest: std::time::Duration::ZERO,
                };
                let mut pieces = Pieces::default();
                // Block for one case, take whatever else is waiting, write.
                while let Ok(first) = rx.recv() {
                    let mut oldest = first.0;
                    for (sent, r) in std::iter::once(first).chain(rx.try_iter()) {
                        oldest = oldest.min(sent);
                        pieces.add(&r);
                        w.reports.push(r);
                    }
                    w.rewrites += 1;
                    // The run's own last write (not this thread's) says
                    // whether it finished.
                    if let Err(e) = super::write_replace(&junit, &pieces.file(), false) {
                        w.error
                            .get_or_insert(format!("cannot write {}: {e}", junit.display()));
                    }
                    w.slowest = w.slowest.max(oldest.elapsed());
                }
                w.reports.sort_by_key(|r| r.index);
                w
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
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
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(w)) => w,
            _ => Written {
                reports: Vec::new(),
                error: Some("the report writer stopped".into()),
                rewrites: 0,
                slowest: std::time::Duration::ZERO,
            },
        }
    }
}

/// The cases so far, each already serialised as a `<testsuite>` of its
/// own, with the counts the file's root carries.
#[derive(Debug, Default)]
struct Pieces {
    /// By plan index: the file lists cases in plan order.
    suites: std::collections::BTreeMap<usize, String>,
    tally: super::Tally,
}

impl Pieces {
    fn add(&mut self, r: &CaseReport) {
        self.tally.add(&r.outcome);
        let xml = super::junit_in(std::slice::from_ref(r), false, &RunState::Complete)
            .to_string()
            .unwrap_or_default();
        if let Some(suite) = testsuites_body(&xml) {
            self.suites.insert(r.index, suite.to_owned());
        }
    }

    /// The whole file: every case so far and the error case that says the
    /// run has not ended.
    fn file(&self) -> Vec<u8> {
        let marker = super::junit_in(&[], false, &RunState::InProgress)
            .to_string()
            .unwrap_or_default();
        let marker = testsuites_body(&marker).unwrap_or_default();
        let t = self.tally;
        let size: usize = self.suites.values().map(String::len).sum();
        let mut out = String::with_capacity(size + marker.len() + 256);
        out.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"locker-hil\" tests=\"{}\" skipped=\"{}\" failures=\"{}\" errors=\"{}\">\n",
            t.passed + t.failed + t.errors + t.skipped + 1,
            t.skipped,
            t.failed,
            t.errors + 1
        ));
        out.push_str(marker);
        for s in self.suites.values() {
            out.push_str(s);
        }
        out.push_str("</testsuites>\n");
        out.into_bytes()
    }
}

/// What a serialised report holds between its root's tags: its
/// `<testsuite>` elements.
fn testsuites_body(xml: &str) -> Option<&str> {
    let open = xml.find("<testsuites")?;
    let start = open + xml[open..].find('>')? + 1;
    let end = xml.rfind("</testsuites>")?;
    Some(xml[start..end].trim_start_matches('\n'))
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Outcome, not_run};

    fn planned(name: &str) -> crate::runner::Planned {
        let suites = crate::cli::load_suites(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/code-entry.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let mut p = crate::runner::plan(&suites, |_, _| true).remove(0);
        p.case.name = name.into();
        p
    }

    #[test]
    fn every_case_reaches_the_file_in_plan_order_with_few_rewrites() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let junit = dir.path().join("junit.xml");
        let w = Writer::spawn(junit.clone()).unwrap_or_else(|e| panic!("{e}"));
        for i in (0..500).rev() {
            w.add(not_run(
                i,
                &planned(&format!("case {i}")),
                "sim",
                Outcome::Passed,
            ));
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
}
