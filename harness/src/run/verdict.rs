//! What became of a case: its outcome, and everything known about it once
//! it has finished (or never ran).

use crate::model::suite::Quarantine;
use crate::run::plan::{About, Planned};
use crate::run::trace::Trace;
use crate::run::transcript::Transcript;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The controller misbehaved: which step, and what was expected and seen.
    Failed {
        step: String,
        message: String,
    },
    /// The rig or harness broke.
    Error {
        step: String,
        message: String,
    },
    Skipped {
        reason: String,
    },
}

/// Everything known about one finished case.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// Position in this run's plan.
    pub index: usize,
    /// Position in the whole plan (see [`Planned::order`]).
    pub order: usize,
    pub suite: String,
    pub suite_file: PathBuf,
    pub suite_about: About,
    pub name: String,
    /// The case's own `description:` and `tags:`.
    pub about: About,
    pub outcome: Outcome,
    pub rig: String,
    pub build: Option<String>,
    pub proto: Option<u16>,
    pub seed: u64,
    pub started: SystemTime,
    pub wall: Duration,
    pub rig_time: Duration,
    pub steps_run: u64,
    /// What was said and done: all of it, or of a long case the beginning
    /// and the end, and the file that has the rest.
    pub transcript: Transcript,
    /// What was seen and done, at rig times: the timeline, and through
    /// [`Trace::lines`] the normalised trace snapshots compare.
    pub trace: Trace,
    /// Earlier runs of this case in this run, oldest first: failures that a
    /// retry followed, and rigs that broke under it. A passed case with
    /// attempts is flaky.
    pub attempts: Vec<Attempt>,
    /// The suite's quarantine entry, when the case is quarantined.
    pub quarantine: Option<Quarantine>,
    /// What its verdict could not check on its rig.
    pub caveats: Vec<Caveat>,
    /// The run's HTML page, which a failed case's JUnit entry links as an
    /// attachment (GitLab's and Jenkins' `[[ATTACHMENT|...]]`).
    pub page: Option<PathBuf>,
}

/// Something a case's verdict could not check on its rig, as the reports
/// say it: a JUnit property `caveat.<key>`, a line in the HTML report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caveat {
    pub key: &'static str,
    pub text: String,
}

impl Caveat {
    /// The build the controller runs is not known to be the one meant.
    pub fn build(text: String) -> Self {
        Self { key: "build", text }
    }

    /// A plain-text console: lines lost on the way are not noticed.
    pub fn loss(dialect: &str) -> Self {
        Self {
            key: "loss",
            text: format!(
                "lost console lines cannot be detected: the console is plain text read through dialect `{dialect}`, without sequence numbers or checksums"
            ),
        }
    }
}

/// An earlier run of a case that did not count.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    pub rig: String,
    pub seed: u64,
    pub started: SystemTime,
    pub wall: Duration,
    /// Its transcript, rendered: what a flaky failure looked like.
    pub transcript: String,
}

impl Attempt {
    pub(crate) fn of(r: &CaseReport) -> Self {
        Self {
            outcome: r.outcome.clone(),
            rig: r.rig.clone(),
            seed: r.seed,
            started: r.started,
            wall: r.wall,
            transcript: r.transcript.rendered().collect::<Vec<_>>().join("\n"),
        }
    }
}

impl CaseReport {
    /// This case in `plan`: at its index, else found by suite and name.
    pub fn planned<'a>(&self, plan: &'a [Planned]) -> Option<&'a Planned> {
        let this = |p: &&Planned| p.suite == self.suite && p.case.name == self.name;
        plan.get(self.index)
            .filter(this)
            .or_else(|| plan.iter().find(this))
    }

    /// Passed, but only after one or more failed runs.
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Passed && !self.attempts.is_empty()
    }
}

/// The report of a case that never ran on a rig (no healthy rig,
/// interrupted), and where a case's run starts its own.
pub fn not_run(index: usize, p: &Planned, rig: &str, outcome: Outcome) -> CaseReport {
    CaseReport {
        index,
        order: p.order,
        suite: p.suite.clone(),
        suite_file: p.suite_file.clone(),
        suite_about: p.suite_about.clone(),
        name: p.case.name.clone(),
        about: About {
            description: p.case.description.clone(),
            tags: p.case.tags.clone(),
        },
        outcome,
        rig: rig.to_owned(),
        build: None,
        proto: None,
        seed: p.seed,
        started: SystemTime::now(),
        wall: Duration::ZERO,
        rig_time: Duration::ZERO,
        steps_run: 0,
        transcript: Transcript::default(),
        trace: Trace::default(),
        attempts: Vec::new(),
        quarantine: p.quarantine.clone(),
        caveats: Vec::new(),
        page: None,
    }
}

/// A stopped run's reports made whole, in plan order: each case of
/// `planned` not in `done` that a rig was running (`running`: plan index ->
/// rig) is an error, since its verdict is lost; the others are skipped with
/// why. Also how many were cut short.
pub fn after_stop(
    planned: &[Planned],
    mut done: Vec<CaseReport>,
    running: &HashMap<usize, String>,
    by: &str,
    rig: &str,
) -> (Vec<CaseReport>, usize) {
    let mut cut = 0;
    for (i, p) in planned.iter().enumerate() {
        if done.iter().any(|r| r.index == i) {
            continue;
        }
        let outcome = match running.get(&i) {
            Some(rig) => {
                cut += 1;
                Outcome::Error {
                    step: "interrupted".into(),
                    message: format!(
                        "the run was stopped by {by} while this case ran on rig {rig}: it has no verdict"
                    ),
                }
            }
            None => Outcome::Skipped {
                reason: format!("not run: the run was stopped by {by} before this case started"),
            },
        };
        let rig = running.get(&i).map_or(rig, String::as_str);
        done.push(not_run(i, p, rig, outcome));
    }
    done.sort_by_key(|r| r.index);
    (done, cut)
}
