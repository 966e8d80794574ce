//! `harness explore`: random scenarios run on a rig, judged with no
//! expected results, and a failure handed back as the smallest suite file
//! that shows it.
//!
//! ```text
//! generator (draw) -scenario---> suite YAML --> run_case on the rig (any kind)
//!      ^                                            |
//!      | next seed               judged by the promises every case keeps
//!      |                         (run::invariants): passed, another path, or
//!      |                         a promise broken at some step
//!      |                                            v
//!      +------------------------ new finding? --> shrink (shrink), each
//!                                candidate a whole case on the rig --> repro
//!                                file (scenario) --> run again from the file
//! ```
//!
//! A scenario runs as an ordinary case, from the YAML it would be written
//! as: what `harness run` does with a repro is what `explore` did. The
//! oracle is the runner's own: a case fails only when a promise breaks
//! (or a step a healthy controller cannot refuse, a drop-off at the start,
//! fails). A scenario whose guard (a door expected to open) fails took
//! another path: counted, not reported. A rig error is the rig's, never a
//! finding; a rig that keeps failing ends the exploration.

pub mod draw;
pub mod scenario;
pub mod shrink;

use crate::model::rigfile::RigDescription;
use crate::rigs::{FlashReport, Rig};
use crate::run::invariants::promise_of;
use crate::run::runner::{self, CaseReport, Outcome};
use draw::{Generator, Weights, scenario_seed};
use scenario::{Origin, Scenario};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Rig errors in a row after which the rig is taken as broken.
pub const ERRORS_IN_A_ROW: u32 = 3;
/// Cases one finding's shrinking may run.
pub const SHRINK_RUNS: u32 = 600;

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Wall time for drawing and running scenarios (shrinking a finding
    /// is not counted against it).
    Wall(Duration),
    /// Scenarios to run.
    Cases(u64),
}

/// What an exploration is asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub budget: Budget,
    pub seed: u64,
    /// Steps a scenario has at least.
    pub length: usize,
    pub weights: Weights,
    /// Where repro files go.
    pub out: PathBuf,
    /// The rig file, as the repro's comment names it.
    pub rig_file: String,
    pub shrink_runs: u32,
}

/// How a scenario failed: the promise broken (or the step that failed)
/// and the kind of step that was running. Findings are told apart by it,
/// and a shrunk scenario must keep it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    pub promise: String,
    /// The kind of step it broke in (`keys`, `power`, ...), or `end` for
    /// what only the whole case shows.
    pub step: String,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step.as_str() {
            "end" => write!(f, "{} (at the end of the case)", self.promise),
            s => write!(f, "{} (at a `{s}` step)", self.promise),
        }
    }
}

/// What one scenario's run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Kept,
    /// A guard's door did not open: the scenario went another way.
    Diverged,
    Found {
        signature: Signature,
        message: String,
    },
    RigError(String),
}

/// The kind of step a failure's step path names: `steps[3] `keys $p1#``
/// is `keys`; the end-of-case check is `end`.
fn step_kind(path: &str) -> String {
    match path.split_once('`') {
        Some((_, rest)) => rest.split([' ', '`']).next().unwrap_or("step").to_owned(),
        None if path == "invariants" => "end".to_owned(),
        None => path.to_owned(),
    }
}

/// A failure message's first line with its numbers taken out: what stays
/// the same when a scenario shrinks.
fn gist(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    let mut out = String::new();
    for ch in line.chars().take(120) {
        match ch {
            '0'..='9' if out.ends_with('#') => {}
            '0'..='9' => out.push('#'),
            c => out.push(c),
        }
    }
    out
}

/// The verdict on one run of a scenario.
pub fn judge(report: &CaseReport) -> Verdict {
    match &report.outcome {
        Outcome::Passed | Outcome::Skipped { .. } => Verdict::Kept,
        Outcome::Failed { step, message } => {
            let kind = step_kind(step);
            match promise_of(message) {
                Some(p) => Verdict::Found {
                    signature: Signature {
                        promise: p.to_owned(),
                        step: kind,
                    },
                    message: message.clone(),
                },
                None if kind == "expect" => Verdict::Diverged,
                None => Verdict::Found {
                    signature: Signature {
                        promise: format!("step failed: {}", gist(message)),
                        step: kind,
                    },
                    message: message.clone(),
                },
            }
        }
        // A package through a door that a moment before was open (a
        // restart shut it): the plant refuses, the scenario went another
        // way; the rig is fine.
        Outcome::Error { step, message }
            if step_kind(step) == "package" && message.contains("the door is closed") =>
        {
            Verdict::Diverged
        }
        Outcome::Error { step, message } => {
            Verdict::RigError(format!("{step}: {}", message.lines().next().unwrap_or("")))
        }
    }
}

/// A scenario that failed a new way, before shrinking: which of the run
/// (from 0), after how long, and how it failed.
struct Failed {
    n: u64,
    after: Duration,
    scenario: Scenario,
    signature: Signature,
    message: String,
}

/// One finding, shrunk and written.
#[derive(Debug, Clone)]
pub struct Finding {
    pub signature: Signature,
    /// The first failure's message, from the shrunk scenario's run.
    pub message: String,
    /// Which scenario of the run found it (from 0), and after how long.
    pub scenario: u64,
    pub after: Duration,
    pub steps_before: usize,
    pub steps_after: usize,
    pub shrink_runs: u32,
    pub file: PathBuf,
    /// Run again from the file: the same failure (`Ok`), or what it did.
    pub reproduced: Result<(), String>,
}

/// Running totals, for progress and the summary.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub scenarios: u64,
    pub diverged: u64,
    pub rig_errors: u64,
    /// Scenarios that failed the way an earlier finding did.
    pub duplicates: u64,
    pub steps: u64,
    pub rig_time: Duration,
    pub wall: Duration,
}

/// What an exploration tells while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// After each scenario.
    Tried(&'a Tally, usize),
    Found {
        signature: &'a Signature,
        scenario: u64,
        steps: usize,
    },
    /// A shrinking run: how many so far, and the fewest steps that still
    /// fail the same way.
    Shrinking {
        runs: u32,
        steps: usize,
    },
    Shrunk(&'a Finding),
    RigError(&'a str),
}

/// What an exploration came to.
#[derive(Debug, Clone, Default)]
pub struct Explored {
    pub tally: Tally,
    pub findings: Vec<Finding>,
    /// Why the exploration stopped early: the rig broke.
    pub broken: Option<String>,
    /// Bench steps the rig cannot do, left out of every scenario.
    pub unfit: Vec<String>,
}

/// Drives scenarios through one rig.
pub struct Explorer<'a, R: Rig> {
    pub rig: &'a mut R,
    pub desc: &'a RigDescription,
    pub flash: &'a FlashReport,
    names: Vec<String>,
}

impl<R: Rig> std::fmt::Debug for Explorer<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explorer")
            .field("rig", &self.rig.name())
            .finish_non_exhaustive()
    }
}

impl<'a, R: Rig> Explorer<'a, R> {
    pub fn new(rig: &'a mut R, desc: &'a RigDescription, flash: &'a FlashReport) -> Self {
        let names = desc.compartments.iter().map(|(n, _)| n.clone()).collect();
        Self {
            rig,
            desc,
            flash,
            names,
        }
    }

    /// Run a scenario as the case its YAML says.
    pub async fn run(&mut self, s: &Scenario) -> Result<CaseReport, String> {
        let (path, suite) = suite_of(&self.names, s)?;
        self.run_suite(path, suite).await
    }

    async fn run_suite(
        &mut self,
        path: PathBuf,
        suite: crate::model::suite::Suite,
    ) -> Result<CaseReport, String> {
        let plan = runner::plan(&[(path, suite)], |_, _| true);
        let p = plan.first().ok_or("the scenario's suite has no case")?;
        Ok(runner::run_case(self.rig, self.desc, self.flash, p, 0).await)
    }

    /// Explore until the budget is spent (or `stop` says so).
    pub async fn explore(
        &mut self,
        settings: &Settings,
        mut on: impl FnMut(Progress<'_>),
    ) -> Explored {
        let generator = Generator::new(self.desc, &settings.weights, settings.length);
        let started = Instant::now();
        let mut out = Explored::default();
        let mut seen: HashSet<Signature> = HashSet::new();
        let mut errors_in_a_row = 0;
        for n in 0.. {
            let spent = match settings.budget {
                Budget::Wall(w) => started.elapsed() >= w,
                Budget::Cases(c) => n >= c,
            };
            if spent {
                break;
            }
            // A sim scenario never waits on anything: let a signal in.
            tokio::task::yield_now().await;
            let mut s = generator.scenario(scenario_seed(settings.seed, n));
            let report = match fit(self.desc, &mut s, &mut out.unfit) {
                Ok((path, suite)) => self.run_suite(path, suite).await,
                Err(e) => Err(e),
            };
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    // A scenario the suite checks refuse is the generator's
                    // bug: said, and the exploration goes on.
                    on(Progress::RigError(&format!(
                        "scenario {n} is not a valid suite: {e}"
                    )));
                    continue;
                }
            };
            out.tally.scenarios += 1;
            out.tally.steps += report.steps_run;
            out.tally.rig_time += report.rig_time;
            out.tally.wall = started.elapsed();
            let verdict = judge(&report);
            if !matches!(verdict, Verdict::RigError(_)) {
                errors_in_a_row = 0;
            }
            match verdict {
                Verdict::Kept => {}
                Verdict::Diverged => out.tally.diverged += 1,
                Verdict::RigError(e) => {
                    out.tally.rig_errors += 1;
                    errors_in_a_row += 1;
                    on(Progress::RigError(&e));
                    if errors_in_a_row >= ERRORS_IN_A_ROW {
                        out.broken = Some(format!(
                            "the rig failed {ERRORS_IN_A_ROW} scenarios in a row; the last: {e}"
                        ));
                        break;
                    }
                }
                Verdict::Found { signature, .. } if seen.contains(&signature) => {
                    out.tally.duplicates += 1;
                }
                Verdict::Found { signature, message } => {
                    seen.insert(signature.clone());
                    on(Progress::Found {
                        signature: &signature,
                        scenario: n,
                        steps: s.len(),
                    });
                    let after = started.elapsed();
                    let failed = Failed {
                        n,
                        after,
                        scenario: s,
                        signature,
                        message,
                    };
                    let f = self.finding(settings, failed, &mut on).await;
                    on(Progress::Shrunk(&f));
                    out.findings.push(f);
                }
            }
            on(Progress::Tried(&out.tally, out.findings.len()));
        }
        out.tally.wall = started.elapsed();
        out
    }

    /// Shrink a failing scenario, write it, and run it again from the file.
    async fn finding(
        &mut self,
        settings: &Settings,
        failed: Failed,
        on: &mut impl FnMut(Progress<'_>),
    ) -> Finding {
        let Failed {
            n,
            after,
            scenario: failing,
            signature,
            message,
        } = failed;
        let steps_before = failing.len();
        let same = signature.clone();
        let mut runs = 0;
        let mut smallest = steps_before;
        let shrunk = shrink::shrink(failing, settings.shrink_runs, async |cand| {
            runs += 1;
            let same = match self.run(cand).await {
                Ok(r) => matches!(judge(&r), Verdict::Found { signature, .. } if signature == same),
                Err(_) => false,
            };
            if same {
                smallest = smallest.min(cand.len());
            }
            on(Progress::Shrinking {
                runs,
                steps: smallest,
            });
            same
        })
        .await;
        let s = shrunk.scenario;
        // The shrunk scenario's own failure message: what the file shows.
        let message = match self.run(&s).await.map(|r| judge(&r)) {
            Ok(Verdict::Found { message, .. }) => message,
            _ => message,
        };
        let origin = Origin {
            explore_seed: settings.seed,
            scenario: n,
            rig: settings.rig_file.clone(),
            broken: signature.to_string(),
            steps_before,
        };
        let stem = file_stem(&signature);
        let file = settings.out.join(format!("{stem}.yaml"));
        let text = s.suite_yaml(&self.names, &format!("explore-{stem}"), Some(&origin));
        let reproduced = match write(&file, &text) {
            Ok(()) => self.replay(&file, &signature).await,
            Err(e) => Err(e),
        };
        Finding {
            signature,
            message,
            scenario: n,
            after,
            steps_before,
            steps_after: s.len(),
            shrink_runs: shrunk.runs,
            file,
            reproduced,
        }
    }

    /// Run a repro file as `harness run` would, and say whether it fails
    /// the same way.
    pub async fn replay(&mut self, file: &Path, signature: &Signature) -> Result<(), String> {
        let suites = crate::model::load_suites(&[file.to_path_buf()]).map_err(|e| {
            let all: Vec<String> = e.iter().map(ToString::to_string).collect();
            format!("the repro does not load: {}", all.join("; "))
        })?;
        let (path, suite) = suites.into_iter().next().ok_or("the repro has no suite")?;
        let report = self.run_suite(path, suite).await?;
        match judge(&report) {
            Verdict::Found { signature: s, .. } if &s == signature => Ok(()),
            Verdict::Found { signature: s, .. } => Err(format!("it failed otherwise: {s}")),
            Verdict::Kept => Err("it passed when run from the file".into()),
            Verdict::Diverged => Err("it went another way when run from the file".into()),
            Verdict::RigError(e) => Err(format!("the rig failed when running it: {e}")),
        }
    }
}

/// The scenario's suite, checked as any suite file is.
fn suite_of(
    names: &[String],
    s: &Scenario,
) -> Result<(PathBuf, crate::model::suite::Suite), String> {
    let path = PathBuf::from("explore.yaml");
    let text = s.suite_yaml(names, "explore", None);
    let suite = crate::model::suite_from_text(&path, text).map_err(|e| {
        let all: Vec<String> = e.iter().map(ToString::to_string).collect();
        all.join("; ")
    })?;
    Ok((path, suite))
}

/// Drop the steps `rig` cannot do (a bench without a chamber, a key
/// injector, an actuator that forces doors): every step a case would be
/// refused for, by the same check `harness run` makes. What was left out is
/// added to `unfit`, once each. Gives the scenario's checked suite, as it
/// is then: the one parse a scenario that fits needs.
pub fn fit(
    rig: &RigDescription,
    s: &mut Scenario,
    unfit: &mut Vec<String>,
) -> Result<(PathBuf, crate::model::suite::Suite), String> {
    use crate::model::places::Seg;
    let names: Vec<String> = rig.compartments.iter().map(|(n, _)| n.clone()).collect();
    for _ in 0..4 {
        let checked = suite_of(&names, s)?;
        let Some(case) = checked.1.cases.first() else {
            return Ok(checked);
        };
        let found = crate::model::fit::unfit_steps(rig, case);
        if found.is_empty() {
            return Ok(checked);
        }
        // Last first, so the indices of the others stay right.
        for (at, shown, why) in found.iter().rev() {
            let (Some(Seg::Key(section)), Some(Seg::Index(i))) = (at.first(), at.get(1)) else {
                continue;
            };
            let acts = match *section {
                "setup" => &mut s.setup,
                "teardown" => &mut s.tail,
                _ => &mut s.steps,
            };
            if *i < acts.len() {
                acts.remove(*i);
            }
            let said = format!("{}: {}", shown.split('`').nth(1).unwrap_or(shown), why.why);
            if !unfit.contains(&said) {
                unfit.push(said);
            }
        }
    }
    suite_of(&names, s)
}

/// A repro's file name: the promise and the kind of step, in words a
/// file system takes.
fn file_stem(s: &Signature) -> String {
    let mut stem = String::new();
    for ch in format!("{}-at-{}", s.promise, s.step).chars() {
        match ch {
            'a'..='z' | '0'..='9' => stem.push(ch),
            'A'..='Z' => stem.push(ch.to_ascii_lowercase()),
            _ if !stem.ends_with('-') => stem.push('-'),
            _ => {}
        }
        if stem.len() >= 80 {
            break;
        }
    }
    stem.trim_matches('-').to_owned()
}

fn write(file: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rigs::sim::planted::{Fault, sim_with};
    use rstest::rstest;

    #[rstest]
    #[case("steps[3] `keys $p1#`", "keys")]
    #[case("steps[0] `power cycle (2s off)`", "power")]
    #[case("setup[1] `parcel into M1 as $p2`", "parcel")]
    #[case("invariants", "end")]
    fn the_kind_of_step_a_failure_names(#[case] path: &str, #[case] kind: &str) {
        assert_eq!(step_kind(path), kind);
    }

    fn explore_with(fault: Fault, cases: u64, out: &Path) -> Explored {
        let (desc, mut rig) = sim_with(fault);
        let settings = Settings {
            budget: Budget::Cases(cases),
            seed: 20,
            length: 24,
            weights: Weights::default(),
            out: out.to_path_buf(),
            rig_file: "rigs/sim.yaml".into(),
            shrink_runs: SHRINK_RUNS,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let flash = rig.flash().await.unwrap();
            let mut ex = Explorer::new(&mut rig, &desc, &flash);
            ex.explore(&settings, |_| {}).await
        })
    }

    /// A controller whose memory forgets everything at a power loss: a
    /// record waiting for the link is lost with it, and the exploration
    /// says so with a short scenario that fails again from its file.
    #[test]
    fn a_forgetful_memory_is_found_shrunk_and_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let found = explore_with(Fault::Amnesia, 400, dir.path());
        let f = found.findings.first().unwrap_or_else(|| {
            panic!("nothing found in {:?}", found.tally);
        });
        assert_eq!(f.reproduced, Ok(()), "{f:?}");
        assert!(
            f.steps_after <= 12,
            "{f:?}\n{}",
            std::fs::read_to_string(&f.file).unwrap()
        );
        assert!(f.steps_after < f.steps_before, "{f:?}");
        let text = std::fs::read_to_string(&f.file).unwrap();
        assert!(
            text.starts_with("# Found by `harness explore --seed 20"),
            "{text}"
        );
        assert!(text.contains(&f.signature.promise), "{text}");
    }

    #[test]
    fn the_reference_firmware_keeps_its_promises() {
        let dir = tempfile::tempdir().unwrap();
        let found = explore_with(Fault::SharedPin { from: 0, to: 0 }, 150, dir.path());
        assert!(found.findings.is_empty(), "{:?}", found.findings);
        assert_eq!(found.tally.scenarios, 150);
        assert_eq!(found.tally.rig_errors, 0, "{:?}", found.tally);
        assert!(found.broken.is_none());
    }

    /// A bench is given only what its rig file can do.
    #[test]
    fn a_bench_is_given_only_steps_it_can_do() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bench = RigDescription::load(&root.join("rigs/bench-relays.yaml")).unwrap();
        let g = Generator::new(&bench, &Weights::default(), 30);
        let mut unfit = Vec::new();
        for seed in 0..200 {
            let mut s = g.scenario(seed);
            let (_, suite) = fit(&bench, &mut s, &mut unfit).unwrap();
            let refused = crate::model::fit::unfit_steps(&bench, &suite.cases[0]);
            assert!(refused.is_empty(), "seed {seed}: {refused:?}");
        }
        assert!(!unfit.is_empty(), "this bench cannot force a door");
    }

    #[test]
    fn a_repro_file_is_named_by_its_promise_and_step() {
        let s = Signature {
            promise: "step failed: courier drop-off into M#: the lock".into(),
            step: "parcel".into(),
        };
        assert_eq!(
            file_stem(&s),
            "step-failed-courier-drop-off-into-m-the-lock-at-parcel"
        );
    }
}
