//! The cases chosen to run, each with what it runs with: its seed, retries,
//! quarantine, time limit and place in the whole plan.

use crate::model::suite::{Case, Quarantine, Suite};
use std::path::PathBuf;
use std::time::Duration;

/// What a suite or a case says about itself: shown in the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub description: String,
    pub tags: Vec<String>,
}

/// One case chosen to run.
#[derive(Debug, Clone)]
pub struct Planned {
    pub suite: String,
    pub suite_file: PathBuf,
    /// The suite's `description:` and `tags:`, for the reports.
    pub suite_about: About,
    pub case: Case,
    pub seed: u64,
    /// Runs after a failure before it counts: the case's, else the suite's;
    /// `None` leaves it to the command line's `--retries`.
    pub retries: Option<u32>,
    /// Set when the suite quarantines the case: reported skipped, with why.
    pub quarantine: Option<Quarantine>,
    /// Wall time the case may take: the case's, else the suite's; `None`
    /// leaves it to `--case-timeout`, then to the rig's default.
    pub timeout: Option<Duration>,
    /// Position in the whole plan, before any `--shard`: merged shard
    /// reports are put back in this order.
    pub order: usize,
    /// The folder beside the report where a long case's whole transcript
    /// goes; `None` keeps only what memory holds.
    pub transcripts: Option<PathBuf>,
}

impl Planned {
    pub fn id(&self) -> String {
        format!("{}::{}", self.suite, self.case.name)
    }
}

/// Every planned case in file order.
pub fn plan(suites: &[(PathBuf, Suite)], keep: impl Fn(&Suite, &Case) -> bool) -> Vec<Planned> {
    let mut out = Vec::new();
    for (file, suite) in suites {
        for case in &suite.cases {
            if keep(suite, case) {
                let seed = case
                    .seed
                    .unwrap_or_else(|| fnv1a(&format!("{}::{}", suite.name, case.name)));
                out.push(Planned {
                    suite: suite.name.clone(),
                    suite_file: file.clone(),
                    suite_about: About {
                        description: suite.description.clone(),
                        tags: suite.tags.clone(),
                    },
                    case: case.clone(),
                    seed,
                    retries: case.retries.or(suite.retries),
                    timeout: case.timeout.or(suite.timeout.map(|d| d.0)),
                    quarantine: suite.quarantined(&case.name).cloned(),
                    order: out.len(),
                    transcripts: None,
                });
            }
        }
    }
    out
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
