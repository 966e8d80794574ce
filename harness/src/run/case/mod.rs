//! One case on one rig: its steps run in order, each action marking the
//! window its expectations look in, and its outcome decided ([`run_case`]).
//! What each step does is in [`act`]; how an expectation is judged, in [`judge`].

mod act;
mod judge;

use crate::model::rigfile::{ExpectBuild, RigDescription};
use crate::model::suite::{Since, Step};
use crate::rigs::{FixtureAction, FlashReport, Rig, RigError};
use crate::run::obs::{Dir, ObsKind, TranscriptLine};
use crate::run::plan::Planned;
use crate::run::session::Session;
use crate::run::trace::{StepMark, Trace};
use crate::run::transcript::Live;
use crate::run::verdict::{CaseReport, Caveat, Outcome, not_run};
use locker_proto::{Command, DiagItem, Event, Response};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a freshly powered controller has to announce itself and finish its self-test.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// A bench case's wall-time limit when neither its suite nor the command
/// line sets one. Model rigs have none by default: their time is virtual
/// (a 60-day wait is a healthy case), and a model rig that stops answering
/// says so within seconds (the qemu rig's every exchange has a bound).
pub const BENCH_CASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Grace past the limit for a case that is stuck outside a pump (a fixture
/// call that never returns): the runtime cuts it then.
pub const LIMIT_GRACE: Duration = Duration::from_secs(5);
/// Transcript lines quoted in a failure message.
pub const QUOTED_LINES: usize = 12;

/// What went wrong in a step.
enum StepError {
    Failed(String),
    Rig(RigError),
    /// The suite asked for something this rig does not have.
    Input(String),
}

impl From<RigError> for StepError {
    fn from(e: RigError) -> Self {
        Self::Rig(e)
    }
}

type StepResult = Result<(), StepError>;

/// A step that failed: where it is in the suite (`steps[2] `...``), its
/// index among the steps that ran, and why.
struct FailedStep {
    path: String,
    mark: usize,
    error: StepError,
}

struct CaseRun<'s, 'r, R: Rig> {
    s: Session<'r, R>,
    desc: &'s RigDescription,
    vars: HashMap<String, String>,
    /// Latest parcel number per compartment, from drop-off events.
    parcels: HashMap<usize, u32>,
    /// Index into observations where the last action began.
    cursor: usize,
    /// Where each `mark` step run last opened its window: an observation's
    /// number and the rig time.
    marks: HashMap<String, (usize, Duration)>,
    /// Some expectation looks `from: start`: the log keeps the case's
    /// observations from the first (up to its bound).
    keeps_start: bool,
    /// The marks some expectation looks from.
    looked_from: std::collections::BTreeSet<String>,
    /// Rig time at which that window opened: the last action, or the end
    /// of the boot self-test for a case's first expectations.
    window_at: Duration,
    /// The last action, as the transcript says it, and when.
    last_action: Option<(String, Duration)>,
    /// Index into `steps` of the step whose failure decided the outcome.
    failed_step: Option<usize>,
    steps: Vec<StepMark>,
    actions: Vec<(Duration, FixtureAction)>,
    /// Top-level steps started, by section (see [`crate::model::suite::SECTIONS`]).
    started: [usize; 3],
    steps_run: u64,
    /// The build the controller said it runs.
    announced: Option<String>,
    caveats: Vec<Caveat>,
    /// This rig takes this case's long waits by moving the clocks.
    moves_clocks: bool,
}

/// Where the expectations of `case` look from, besides the last action.
fn looked_from(case: &crate::model::suite::Case) -> Vec<Since> {
    fn walk(steps: &[Step], out: &mut Vec<Since>) {
        for s in steps {
            match s {
                Step::Expect(e) if e.from != Since::LastAction => out.push(e.from.clone()),
                Step::Absent(a) if a.from != Since::LastAction => out.push(a.from.clone()),
                Step::Repeat { steps, .. } => walk(steps, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for (_, steps) in case.sections() {
        walk(steps, &mut out);
    }
    out
}

/// Run one case on a rig that has been flashed.
pub async fn run_case<R: Rig>(
    rig: &mut R,
    desc: &RigDescription,
    flash: &FlashReport,
    p: &Planned,
    index: usize,
) -> CaseReport {
    let wall = Instant::now();
    let mut report = not_run(index, p, rig.name(), Outcome::Passed);
    report.build = match &flash.expect {
        ExpectBuild::Exact(b) => Some(b.clone()),
        _ => None,
    };
    let quarantined = p.quarantine.as_ref().map(|q| match &q.link {
        Some(link) => format!("quarantined: {} ({link})", q.reason),
        None => format!("quarantined: {}", q.reason),
    });
    let skip = quarantined.or_else(|| p.case.skip.clone()).or_else(|| {
        let kind = desc.kind_name();
        let reason = p.case.skip_on.reason(kind)?;
        Some(format!("not on {kind} rigs: {reason}"))
    });
    if let Some(reason) = skip {
        report.outcome = Outcome::Skipped { reason };
        return report;
    }
    let wall_clock = rig.wall_clock();
    let compartments = desc.compartments.iter().map(|(n, _)| n.clone()).collect();
    let spill = (p.transcripts.clone()).map(|dir| crate::run::transcript::SpillTo {
        dir,
        stem: crate::run::transcript::stem(p.order, &p.suite, &p.case.name),
    });
    let mut run = CaseRun {
        s: Session::new(rig, compartments, spill).read_through(desc.dialect.clone()),
        desc,
        vars: HashMap::new(),
        parcels: HashMap::new(),
        cursor: 0,
        marks: HashMap::new(),
        keeps_start: looked_from(&p.case).contains(&Since::Start),
        looked_from: (looked_from(&p.case).into_iter())
            .filter_map(|f| match f {
                Since::Mark(m) => Some(m),
                _ => None,
            })
            .collect(),
        window_at: Duration::ZERO,
        last_action: None,
        failed_step: None,
        steps: Vec::new(),
        actions: Vec::new(),
        started: [0; 3],
        steps_run: 0,
        announced: None,
        caveats: (desc.dialect.iter())
            .map(|d| Caveat::loss(&d.name))
            .collect(),
        moves_clocks: wall_clock && crate::model::cost::moves_clocks(desc, &p.case),
    };
    if desc.rules == crate::model::rigfile::Rules::Reference {
        let inv = std::mem::take(&mut run.s.invariants);
        run.s.invariants = inv.with_rules(desc.station);
    }
    let limit = p
        .timeout
        .or_else(|| wall_clock.then_some(BENCH_CASE_TIMEOUT));
    run.s.limit = limit.map(|l| (l, Instant::now() + l));
    let outcome = match limit {
        None => run.whole_case(p, flash).await,
        Some(l) => match tokio::time::timeout(l + LIMIT_GRACE, run.whole_case(p, flash)).await {
            Ok(o) => o,
            Err(_) => Outcome::Error {
                step: "case".into(),
                message: RigError::WallLimit(l).to_string(),
            },
        },
    };
    report.outcome = outcome;
    report.proto = run.s.proto;
    report.rig_time = run.s.now();
    report.steps_run = run.steps_run;
    report.transcript = std::mem::replace(&mut run.s.transcript, Live::new(None)).finish();
    let (obs, omitted) = std::mem::take(&mut run.s.obs).finish();
    report.trace = Trace {
        obs,
        omitted,
        steps: run.steps,
        actions: run.actions,
        compartments: std::mem::take(&mut run.s.compartments),
        failed_step: run.failed_step,
        not_run: (p.case.sections().into_iter())
            .zip(run.started)
            .flat_map(|((section, steps), started)| {
                (steps.iter().enumerate().skip(started))
                    .map(move |(i, s)| format!("{section}[{i}] {s}"))
            })
            .collect(),
    };
    let vars = run.vars;
    report.build = run.announced.or(report.build);
    report.caveats = run.caveats;
    drop(run.s);
    rig.release();
    report.wall = wall.elapsed();
    // The one way out of a case: nothing a person sees carries a code.
    crate::run::privacy::guard(&mut report, &vars);
    report
}

impl<R: Rig> CaseRun<'_, '_, R> {
    async fn whole_case(&mut self, p: &Planned, flash: &FlashReport) -> Outcome {
        // How the image got there, as the lab's tool said it.
        for line in &flash.output {
            self.s.note(Dir::Note, format!("flash| {line}"));
        }
        if let Err(e) = self.s.rig.prepare(p.seed).await {
            return Outcome::Error {
                step: "prepare".into(),
                message: e.to_string(),
            };
        }
        if let Err(e) = self.ready(flash).await {
            return match e {
                StepError::Failed(message) => Outcome::Failed {
                    step: "boot".into(),
                    message,
                },
                StepError::Rig(e) => Outcome::Error {
                    step: "boot".into(),
                    message: e.to_string(),
                },
                StepError::Input(message) => Outcome::Error {
                    step: "boot".into(),
                    message,
                },
            };
        }
        let mut outcome = Outcome::Passed;
        for (section, steps) in [("setup", &p.case.setup), ("steps", &p.case.steps)] {
            if let Err(failed) = self.steps(section, true, steps).await {
                outcome = self.outcome(failed);
                break;
            }
        }
        // Teardown runs whatever happened, unless the rig itself is broken.
        if !matches!(outcome, Outcome::Error { .. })
            && let Err(failed) = self.steps("teardown", true, &p.case.teardown).await
            && (outcome == Outcome::Passed || matches!(failed.error, StepError::Rig(_)))
        {
            outcome = self.outcome(failed);
        }
        let end = self.s.now();
        if let Some(broken) = self.s.invariants.finish(end) {
            self.s.note(Dir::Note, broken.clone());
            if outcome == Outcome::Passed {
                outcome = Outcome::Failed {
                    step: "invariants".into(),
                    message: broken,
                };
            }
        }
        self.trust(outcome).await
    }

    /// A failure is the controller's only if the console was sound: damaged
    /// lines make it untrustworthy, and a controller that no longer answers
    /// `PING` has a console (or power) problem, which is the rig's.
    async fn trust(&mut self, outcome: Outcome) -> Outcome {
        let Outcome::Failed { step, message } = outcome else {
            return outcome;
        };
        if self.s.damaged > 0 {
            let n = self.s.damaged;
            self.s.note(
                Dir::Note,
                format!("{n} console line(s) lost or damaged: the failure is not trusted"),
            );
            return Outcome::Error {
                message: format!(
                    "{n} console line(s) were lost or damaged during the case, so this cannot be trusted as the controller's failure:\n{message}"
                ),
                step,
            };
        }
        if self.s.invariants.unpowered() {
            self.s.note(
                Dir::Note,
                "no liveness check: the case left the controller without power",
            );
            return Outcome::Failed { step, message };
        }
        match self.s.command(Command::Ping).await {
            Ok(_) => {}
            // A console that cannot be asked (a plain-text one without a
            // version command) leaves the verdict as it is.
            Err(RigError::Unsupported(why)) => {
                self.s
                    .note(Dir::Note, format!("no liveness check: cannot {why}"));
            }
            Err(e) => {
                self.s.note(Dir::Note, format!("liveness check: {e}"));
                return Outcome::Error {
                    message: format!(
                        "the controller stopped answering on the console ({e}), so this is the rig's problem, not a verdict:\n{message}"
                    ),
                    step,
                };
            }
        }
        Outcome::Failed { step, message }
    }

    /// The outcome a failed step gives the case; the step is remembered by
    /// its index, so reports mark it and not whatever ran after (teardown).
    fn outcome(&mut self, failed: FailedStep) -> Outcome {
        let FailedStep {
            path: step,
            mark,
            error: e,
        } = failed;
        self.failed_step = Some(mark);
        let quote = |s: &Session<'_, R>| {
            (s.transcript.recent(QUOTED_LINES))
                .map(TranscriptLine::render)
                .collect::<Vec<_>>()
                .join("\n")
        };
        match e {
            StepError::Failed(m) => {
                self.s.note(Dir::Note, format!("FAILED at {step}: {m}"));
                Outcome::Failed {
                    message: format!("{m}\nlast transcript lines:\n{}", quote(&self.s)),
                    step,
                }
            }
            StepError::Rig(e) => {
                self.s.note(Dir::Note, format!("RIG ERROR at {step}: {e}"));
                Outcome::Error {
                    message: format!("{e}\nlast transcript lines:\n{}", quote(&self.s)),
                    step,
                }
            }
            StepError::Input(m) => Outcome::Error { step, message: m },
        }
    }

    /// Wait for the banner and the end of the boot self-test.
    async fn ready(&mut self, flash: &FlashReport) -> StepResult {
        let deadline = self.s.now() + READY_TIMEOUT;
        // A plain-text firmware may not say who it is, or when its
        // self-test ends: the dialect says which it does.
        let (banner, self_test) = match self.s.dialect() {
            None => (true, true),
            Some(d) => (d.has_banner(), d.makes("diag")),
        };
        let mut build = None;
        loop {
            // The banner's build, and where the self-test ended after it.
            let mut done = None;
            for (i, o) in self.s.obs.since(0) {
                match &o.kind {
                    ObsKind::Hello { build: b, .. } => build = Some(b.clone()),
                    ObsKind::Event {
                        event:
                            Event::Diag {
                                item: DiagItem::Done,
                                ..
                            },
                        ..
                    } if build.is_some() || !banner => {
                        // The first window opens after it.
                        done = Some((i + 1, o.at));
                        break;
                    }
                    _ => {}
                }
            }
            if !self_test && (build.is_some() || !banner) {
                done = Some((self.s.obs.len(), self.s.now()));
            }
            if let Some((cursor, at)) = done
                && (build.is_some() || !banner)
            {
                // A firmware that does not say who it is at start-up may
                // say so when asked.
                if build.is_none() && flash.expect != ExpectBuild::Unstated {
                    build = self.ask_build(deadline).await?;
                }
                self.check_build(flash, build.as_deref())?;
                // The first window opens with the end of the self-test:
                // what the idle controller says next (its display, its
                // LED) is the case's to expect.
                self.cursor = cursor;
                self.window_at = at;
                self.keep_windows();
                return Ok(());
            }
            if self.s.now() >= deadline {
                let what = if build.is_some() {
                    "did not finish its self-test"
                } else {
                    "never sent its boot banner"
                };
                return Err(StepError::Rig(RigError::Console(format!(
                    "controller {what} within {}s of power-on",
                    READY_TIMEOUT.as_secs()
                ))));
            }
            self.s.pump(deadline).await?;
        }
    }

    /// The build the controller says when asked (`identify`), asked again
    /// until `deadline` while it does not answer (it may still be booting);
    /// `None` when its console cannot be asked.
    async fn ask_build(&mut self, deadline: Duration) -> Result<Option<String>, StepError> {
        loop {
            match self.s.command(Command::Identify).await {
                Ok(Response::Ident { build, .. }) => return Ok(Some(build.to_string())),
                Err(RigError::Unsupported(_)) => return Ok(None),
                Ok(_) | Err(RigError::Console(_)) if self.s.now() < deadline => {}
                Ok(_) | Err(RigError::Console(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The controller said it runs `build` (or nothing): is that what
    /// was flashed? What cannot be told is a caveat of the case, or, when
    /// the rig names a build to expect, the rig's error.
    fn check_build(&mut self, flash: &FlashReport, build: Option<&str>) -> StepResult {
        self.announced = build.map(str::to_owned);
        let unverified = match (&flash.expect, build) {
            (ExpectBuild::Unstated, _) => Some(
                "the rig knows no build to expect (an image without a `LOCKER-IMAGE` identity, or flashed by hand, and no `expect-build`)",
            ),
            // The image says which build it is, but nobody asked for a check.
            (_, None) if self.desc.expect_build == ExpectBuild::Unstated => Some(
                "the controller never said which build it runs (no banner with a build, no `identify` answer)",
            ),
            (expect, None) => {
                return Err(StepError::Rig(RigError::Flash(format!(
                    "the controller never said which build it runs (no banner with a build, no answer to `identify` within {}s of power-on), so the expected build {} cannot be checked",
                    READY_TIMEOUT.as_secs(),
                    expect.describe()
                ))));
            }
            (expect, Some(b)) => {
                expect.check(b).map_err(|why| {
                    StepError::Rig(RigError::Flash(format!(
                        "controller announced build `{b}`, but {why}"
                    )))
                })?;
                None
            }
        };
        if let Some(why) = unverified {
            let text = format!("the build was not verified: {why}");
            self.s.note(Dir::Note, text.clone());
            self.caveats.push(Caveat::build(text));
        }
        Ok(())
    }

    async fn steps(&mut self, section: &str, top: bool, steps: &[Step]) -> Result<(), FailedStep> {
        for (i, step) in steps.iter().enumerate() {
            if top
                && let Some(n) = crate::model::suite::SECTIONS
                    .iter()
                    .position(|s| *s == section)
            {
                self.started[n] = i + 1;
            }
            let mark = self.steps.len();
            self.steps.push(StepMark {
                at: self.s.now(),
                obs_before: self.s.obs.len(),
                text: step.to_string(),
            });
            self.steps_run += 1;
            let r = match step {
                Step::Repeat { times, steps } => {
                    for n in 0..*times {
                        let inner = format!("{section}[{i}].repeat#{}.steps", n + 1);
                        Box::pin(self.steps(&inner, false, steps)).await?;
                    }
                    Ok(())
                }
                _ => self.step(step).await,
            };
            // A promise broken while the step ran fails the case here, at
            // the step that was running, and nothing after it runs.
            // It wins over the step's own failure too (a guard that waited
            // for a door the broken promise kept shut): it came first and
            // is the cause. The rig's errors and the suite's stay as they are.
            let now = self.s.now();
            self.s.invariants.until(now);
            let r = match (r, self.s.invariants.violation()) {
                (Ok(()) | Err(StepError::Failed(_)), Some(v)) => {
                    Err(StepError::Failed(v.to_owned()))
                }
                (r, _) => r,
            };
            r.map_err(|error| FailedStep {
                path: format!("{section}[{i}] `{step}`"),
                mark,
                error,
            })?;
        }
        Ok(())
    }

    fn compartment(&self, name: &str) -> Result<usize, StepError> {
        self.desc
            .compartments
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| {
                let names: Vec<_> = self
                    .desc
                    .compartments
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                StepError::Input(format!(
                    "compartment `{name}` is not on rig `{}` (it has {})",
                    self.desc.name,
                    names.join(", ")
                ))
            })
    }

    /// Keep the observations every window a later step may look through
    /// opens at: the last action's, each mark's, and the start's when asked for.
    fn keep_windows(&mut self) {
        let earliest = (self.marks.values().map(|(i, _)| *i))
            .chain([self.cursor])
            .chain(self.keeps_start.then_some(0))
            .min()
            .unwrap_or(self.cursor);
        self.s.obs.open_window(earliest);
    }

    /// A `mark` step: a window named `name` opens here (kept open only
    /// when some step looks from it).
    fn set_mark(&mut self, name: &str) {
        if !self.looked_from.contains(name) {
            return;
        }
        let here = (self.s.obs.len(), self.s.now());
        self.marks.insert(name.to_owned(), here);
        self.keep_windows();
    }

    fn mark(&mut self, text: String) {
        self.cursor = self.s.obs.len();
        self.window_at = self.s.now();
        self.keep_windows();
        self.last_action = Some((text.clone(), self.window_at));
        self.s.note(Dir::Act, text);
    }
}
