//! The cases chosen to run, each with what it runs with: its seed, retries,
//! quarantine, time limit and place in the whole plan.

use crate::model::places::{Origin, Pos, Seg};
use crate::model::suite::{Case, Quarantine, Suite};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// The suite file's text and places, and the case's index in its
    /// `cases`: where a report points a reader (or a CI annotation).
    pub origin: Arc<Origin>,
    pub case_index: usize,
}

impl Planned {
    pub fn id(&self) -> String {
        format!("{}::{}", self.suite, self.case.name)
    }

    /// Line and column in the suite file of the step a report names
    /// (`steps[2] ...`, `setup[0].repeat#3.steps[1] ...`), or of the case
    /// when the step is not one of its own (`flash`, a time limit).
    pub fn place_of(&self, step: &str) -> Option<Pos> {
        let case = [Seg::Key("cases"), Seg::Index(self.case_index)];
        let path = step.split_once(' ').map_or(step, |(p, _)| p);
        let mut keys: Vec<(String, Option<usize>)> = Vec::new();
        for part in path.split('.') {
            let part = part.split_once('#').map_or(part, |(k, _)| k);
            let (key, index) = match part.split_once('[') {
                Some((k, i)) => match i.strip_suffix(']').and_then(|i| i.parse().ok()) {
                    Some(i) => (k, Some(i)),
                    None => return self.origin.at(&case),
                },
                None => (part, None),
            };
            if !(crate::model::suite::SECTIONS.contains(&key) || key == "repeat") {
                return self.origin.at(&case);
            }
            keys.push((key.to_owned(), index));
        }
        let mut segs = case.to_vec();
        for (k, i) in &keys {
            segs.push(Seg::Key(k));
            segs.extend(i.map(Seg::Index));
        }
        self.origin.nearest(&segs)
    }
}

/// Every planned case in file order.
pub fn plan(suites: &[(PathBuf, Suite)], keep: impl Fn(&Suite, &Case) -> bool) -> Vec<Planned> {
    let mut out = Vec::new();
    for (file, suite) in suites {
        for (case_index, case) in suite.cases.iter().enumerate() {
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
                    origin: suite.origin.clone(),
                    case_index,
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SUITE: &str = "\
name: t
cases:
  - name: a
    steps:
      - wait: 1s
  - name: b
    setup:
      - wait: 1s
    steps:
      - wait: 1s
      - repeat:
          times: 2
          steps:
            - wait: 1s
            - keys: \"1\"
";

    #[rstest]
    #[case::a_step(0, "steps[0] `wait 1s`", 5)]
    #[case::a_setup_step(1, "setup[0] `wait 1s`", 8)]
    #[case::inside_a_repeat(1, "steps[1].repeat#2.steps[1] `keys 1`", 15)]
    #[case::the_repeat(1, "steps[1] `repeat 2 times`", 11)]
    #[case::not_a_step_points_at_the_case(1, "flash", 6)]
    #[case::a_bad_index_points_at_the_case(1, "steps[x] `?`", 6)]
    fn a_reported_step_is_placed_on_its_line(
        #[case] case: usize,
        #[case] step: &str,
        #[case] line: usize,
    ) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("t.yaml");
        std::fs::write(&file, SUITE).unwrap_or_else(|e| panic!("{e}"));
        let suites = crate::model::load_suites(&[file]).unwrap_or_else(|e| panic!("{}", e[0]));
        let p = &plan(&suites, |_, _| true)[case];
        assert_eq!(p.place_of(step).map(|(l, _)| l), Some(line));
    }
}
