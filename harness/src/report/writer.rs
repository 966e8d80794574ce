//! Keeps the report files current while a run goes on, off the run's path.
//!
//! Finished cases are handed to a thread of its own. It rewrites the files
//! with everything it has, then with everything that came meanwhile: a
//! fast run costs a handful of rewrites, not one per case, and a slow one
//! (a bench, a case a minute) has each case on disk as soon as it is done.
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

/// The report files being kept current.
#[derive(Debug)]
pub struct Writer {
    tx: Option<mpsc::Sender<CaseReport>>,
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
}

impl Writer {
    /// Start keeping `junit` current.
    pub fn spawn(junit: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<CaseReport>();
        let thread = std::thread::Builder::new()
            .name("report-writer".into())
            .spawn(move || {
                let mut w = Written {
                    reports: Vec::new(),
                    error: None,
                    rewrites: 0,
                };
                // Block for one case, take whatever else is waiting, write.
                while let Ok(first) = rx.recv() {
                    w.reports.push(first);
                    w.reports.extend(rx.try_iter());
                    w.reports.sort_by_key(|r| r.index);
                    w.rewrites += 1;
                    // The run's own last write (not this thread's) says
                    // whether it finished.
                    if let Err(e) = super::write_junit(&junit, &w.reports, &RunState::InProgress) {
                        w.error.get_or_insert(e);
                    }
                }
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
            let _ = tx.send(report);
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
            },
        }
    }
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
        // Every case, and the error case that says the run has not ended.
        assert_eq!(xml.matches("<testcase ").count(), 501);
        assert!(xml.contains("name=\"run incomplete\""), "{xml}");
        assert!(xml.find("case 0\"") < xml.find("case 499\""));
    }
}
