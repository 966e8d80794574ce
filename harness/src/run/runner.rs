//! Runs cases on a pool of rigs and reports what happened.
//!
//! ```text
//! runner                     rig (sim / qemu / bench)            controller
//!   | prepare(seed) -------->  factory memory, fixtures at rest, power on
//!   |                    <---------------------------- HELLO proto build board
//!   |                    <---------------------------- EV ... diag done ok
//!   | act(key '1') ------->  keypad injector ---------> key press
//!   |                    <---------------------------- EV t keypad 1
//!   | expect: scan observations since the last action, pump until `within`
//! ```
//!
//! A case ends in one of four outcomes. `Failed` means the controller did
//! something wrong (a JUnit failure); `Error` means the rig or the harness
//! could not do its part (a JUnit error); the two are never mixed.

use crate::model::rigfile::RigDescription;
use crate::model::suite::{
    Absence, Case, ClockAction, CodeKind, DoorAction, Expectation, Matcher, PackageAction,
    Quarantine, Step, Suite,
};
use crate::rigs::{FixtureAction, FlashReport, Measurement, Rig, RigError};
use crate::run::backoffice;
use crate::run::session::{Dir, Obs, ObsKind, Session, TranscriptLine, fmt_at};
use crate::run::trace::{StepMark, Trace, WINDOW_CAP, obs_text};
use crate::run::transcript::{Live, Transcript};
use locker_proto::{Command, DiagItem, Event, LockState, Response};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a freshly powered controller has to announce itself and finish its self-test.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// A bench case's wall-time limit when neither its suite nor the command
/// line sets one. Model rigs have none by default: their time is virtual
/// (a 60-day wait is a healthy case), and a model rig that stops answering
/// says so within seconds (the qemu rig's every exchange has a bound).
pub const BENCH_CASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Grace past the limit for a case that is stuck outside a pump (a fixture
/// call that never returns): the runtime cuts it then.
const LIMIT_GRACE: Duration = Duration::from_secs(5);
/// The step a case that no rig could take fails at: the rigs' flashing
/// (or making) failed, which the run reports once as [`RunEvent::RigBroken`].
pub const NO_RIG_STEP: &str = "flash";
/// Transcript lines quoted in a failure message.
const QUOTED_LINES: usize = 12;

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
    fn of(r: &CaseReport) -> Self {
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
    /// Passed, but only after one or more failed runs.
    pub fn is_flaky(&self) -> bool {
        self.outcome == Outcome::Passed && !self.attempts.is_empty()
    }
}

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
    report.build = Some(flash.build_id.clone());
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
    let compartments = desc.compartments.iter().map(|(n, _)| n.clone()).collect();
    let spill = (p.transcripts.clone()).map(|dir| crate::run::transcript::SpillTo {
        dir,
        stem: crate::run::transcript::stem(p.order, &p.suite, &p.case.name),
    });
    let mut run = CaseRun {
        s: Session::new(rig, compartments, spill),
        desc,
        vars: HashMap::new(),
        parcels: HashMap::new(),
        cursor: 0,
        window_at: Duration::ZERO,
        last_action: None,
        failed_step: None,
        steps: Vec::new(),
        actions: Vec::new(),
        started: [0; 3],
        steps_run: 0,
    };
    let limit = p.timeout.or_else(|| {
        matches!(desc.kind, crate::model::rigfile::RigKind::Bench(_)).then_some(BENCH_CASE_TIMEOUT)
    });
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
    drop(run.s);
    rig.release();
    report.wall = wall.elapsed();
    // The one way out of a case: nothing a person sees carries a code.
    crate::run::privacy::guard(&mut report, &vars);
    report
}

fn event_compartment(e: &Event) -> Option<&str> {
    match e {
        Event::Door { c, .. }
        | Event::Bolt { c, .. }
        | Event::Lock { c, .. }
        | Event::Package { c, .. }
        | Event::Unlock { c, .. }
        | Event::Dropoff { c, .. }
        | Event::Pickup { c, .. }
        | Event::Return { c, .. }
        | Event::Collected { c }
        | Event::Expired { c, .. } => Some(c),
        Event::Error { c, .. } | Event::ErrorCleared { c, .. } | Event::Code { c, .. } => {
            c.as_deref()
        }
        Event::Diag {
            item: DiagItem::Door(c),
            ..
        } => Some(c),
        _ => None,
    }
}

fn in_range<T: PartialOrd>(v: T, min: Option<T>, max: Option<T>) -> bool {
    min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)
}

/// Does this observation satisfy the matcher? (`Backoffice` counts are judged apart.)
fn matches(m: &Matcher, compartment: Option<&str>, names: &[String], o: &Obs) -> bool {
    if let ObsKind::Measured(Measurement::Pulse { compartment: c, on }) = &o.kind {
        let Matcher::Pulse { min, max } = m else {
            return false;
        };
        return compartment.is_none_or(|want| names.get(*c).is_some_and(|n| n == want))
            && in_range(*on, *min, *max);
    }
    let ObsKind::Event { event, .. } = &o.kind else {
        return false;
    };
    if let Some(want) = compartment
        && event_compartment(event) != Some(want)
    {
        return false;
    }
    match (m, event) {
        (Matcher::Event(kind), e) => e.kind() == kind,
        (Matcher::Display(t), Event::Display(d)) => d.as_str() == t,
        (Matcher::Led(p), Event::Led(l)) => p == l,
        (Matcher::Lock(s), Event::Lock { state, .. }) => s == state,
        (Matcher::Door(s), Event::Door { state, .. }) => s == state,
        (Matcher::Bolt(s), Event::Bolt { state, .. }) => s == state,
        (Matcher::Package(p), Event::Package { present, .. }) => p == present,
        (Matcher::Error(c), Event::Error { code, .. }) => c == code,
        (Matcher::Code(r), Event::Code { result, .. }) => r == result,
        (Matcher::Heater(on), Event::Heater(h)) => on == h,
        (Matcher::Temperature { min, max }, Event::Temp { centi }) => in_range(
            f64::from(*centi) / 100.0,
            min.map(|c| c.0),
            max.map(|c| c.0),
        ),
        (Matcher::Lockout { min, max }, Event::Lockout { seconds }) => {
            in_range(Duration::from_secs(u64::from(*seconds)), *min, *max)
        }
        (
            Matcher::Unlock { attempt, min, max },
            Event::Unlock {
                attempt: a,
                pulse_ms,
                ..
            },
        ) => {
            attempt.is_none_or(|want| want == *a)
                && in_range(Duration::from_millis(u64::from(*pulse_ms)), *min, *max)
        }
        (Matcher::LinkActive(l), Event::LinkActive(a)) => l == a,
        (Matcher::Uplink(k), Event::Uplink { kind, .. }) => k == kind,
        _ => false,
    }
}

/// Same kind of thing, for "seen instead" in failure messages.
fn same_kind(m: &Matcher, o: &Obs) -> bool {
    match (&o.kind, m) {
        (ObsKind::Measured(Measurement::Pulse { .. }), Matcher::Pulse { .. }) => true,
        (ObsKind::Measured(Measurement::Backoffice { .. }), Matcher::Backoffice { .. }) => true,
        (ObsKind::Event { event, .. }, m) => {
            let kind = match m {
                Matcher::Event(k) => k.as_str(),
                Matcher::Display(_) => "display",
                Matcher::Led(_) => "led",
                Matcher::Lock(_) => "lock",
                Matcher::Door(_) => "door",
                Matcher::Bolt(_) => "bolt",
                Matcher::Package(_) => "pkg",
                Matcher::Error(_) => "error",
                Matcher::Code(_) => "code",
                Matcher::Heater(_) => "heater",
                Matcher::Temperature { .. } => "temp",
                Matcher::Lockout { .. } => "lockout",
                Matcher::Unlock { .. } => "unlock",
                Matcher::LinkActive(_) => "link-active",
                Matcher::Uplink(_) => "uplink",
                Matcher::Pulse { .. } | Matcher::Backoffice { .. } | Matcher::Status { .. } => {
                    return false;
                }
            };
            event.kind() == kind
        }
        _ => false,
    }
}

impl<R: Rig> CaseRun<'_, '_, R> {
    async fn whole_case(&mut self, p: &Planned, flash: &FlashReport) -> Outcome {
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
        if let Err(e) = self.s.command(Command::Ping).await {
            self.s.note(Dir::Note, format!("liveness check: {e}"));
            return Outcome::Error {
                message: format!(
                    "the controller stopped answering on the console ({e}), so this is the rig's problem, not a verdict:\n{message}"
                ),
                step,
            };
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
                    } if build.is_some() => {
                        done = Some((i, o.at));
                        break;
                    }
                    _ => {}
                }
            }
            if let (Some((i, at)), Some(b)) = (done, &build) {
                if *b != flash.build_id {
                    return Err(StepError::Rig(RigError::Flash(format!(
                        "controller announced build `{b}` but `{}` was flashed",
                        flash.build_id
                    ))));
                }
                // The first window opens with the end of the self-test:
                // what the idle controller says next (its display, its
                // LED) is the case's to expect.
                self.cursor = i + 1;
                self.window_at = at;
                self.s.obs.open_window(self.cursor);
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

    async fn act(&mut self, action: FixtureAction) -> StepResult {
        self.s.rig.act(&action).await?;
        // What the fixtures did goes on the timeline with what the
        // controller said; key presses are the keypad's events already.
        if !matches!(action, FixtureAction::Key(_)) {
            self.actions.push((self.s.now(), action));
        }
        Ok(())
    }

    fn mark(&mut self, text: String) {
        self.cursor = self.s.obs.len();
        self.window_at = self.s.now();
        self.s.obs.open_window(self.cursor);
        self.last_action = Some((text.clone(), self.window_at));
        self.s.note(Dir::Act, text);
    }

    async fn step(&mut self, step: &Step) -> StepResult {
        if step.is_action() {
            self.mark(step.to_string());
        }
        match step {
            Step::Keys { text, interval } => {
                let keys = text
                    .expand(|v| self.vars.get(v).cloned())
                    .map_err(StepError::Input)?;
                self.type_keys(&keys, *interval).await
            }
            Step::Help { presses } => {
                for n in 0..*presses {
                    if n > 0 {
                        self.wait(Duration::from_millis(500)).await?;
                    }
                    self.act(FixtureAction::HelpButton).await?;
                }
                Ok(())
            }
            Step::Door {
                compartment,
                action,
            } => {
                let c = self.compartment(compartment)?;
                self.act(FixtureAction::Door {
                    compartment: c,
                    action: *action,
                })
                .await
            }
            Step::Package {
                compartment,
                action,
            } => {
                let c = self.compartment(compartment)?;
                self.act(FixtureAction::Package {
                    compartment: c,
                    action: *action,
                })
                .await
            }
            Step::Chamber { set, ramp } => {
                self.act(FixtureAction::Chamber {
                    set: *set,
                    ramp: *ramp,
                })
                .await
            }
            Step::Power(p) => self.act(FixtureAction::Power(*p)).await,
            Step::Link { primary, secondary } => {
                self.act(FixtureAction::Link {
                    primary: *primary,
                    secondary: *secondary,
                })
                .await
            }
            Step::Fault {
                compartment,
                sensor,
                stuck,
            } => {
                let c = self.compartment(compartment)?;
                self.act(FixtureAction::Fault {
                    compartment: c,
                    sensor: *sensor,
                    stuck: *stuck,
                })
                .await
            }
            Step::Clock(action) => {
                let unix = match action {
                    ClockAction::Drift(ms) => {
                        ((self.s.rig.true_unix_ms() as i64 + ms).max(0) / 1000) as u64
                    }
                    ClockAction::Set(t) => *t,
                };
                match self.s.command(Command::ClockSet(unix)).await? {
                    Response::Ok => Ok(()),
                    other => Err(StepError::Rig(RigError::Console(format!(
                        "controller refused to set its clock: {other}"
                    )))),
                }
            }
            Step::Memory(m) => self.act(FixtureAction::Memory(*m)).await,
            Step::Wait(d) => self.wait(*d).await,
            Step::WaitUntil { second_of_day } => {
                let now_s = self.s.rig.true_unix_ms() / 1000;
                let sod = now_s % 86_400;
                let target = u64::from(*second_of_day);
                let wait = if target > sod {
                    target - sod
                } else {
                    target + 86_400 - sod
                };
                self.wait(Duration::from_secs(wait)).await
            }
            Step::Repeat { .. } => Ok(()), // expanded by `steps`
            Step::Parcel { compartment, bind } => self.parcel(compartment, bind).await,
            Step::Issue {
                kind,
                compartment,
                size,
                station,
                window,
                bind,
            } => {
                let c = compartment
                    .as_deref()
                    .map(|n| self.compartment(n))
                    .transpose()?;
                let station = station.unwrap_or(self.desc.station);
                let w = (backoffice::window(self.s.rig.true_unix_ms() / 1000) as i64 + window)
                    .max(0) as u64;
                let key = &self.desc.key;
                let code = match kind {
                    CodeKind::Pickup => {
                        let c = c.unwrap_or(0);
                        let parcel = *self.parcels.get(&c).ok_or_else(|| {
                            StepError::Input(format!(
                                "issue pickup for {}: nothing was dropped off there in this case",
                                self.s.compartment_name(c)
                            ))
                        })?;
                        backoffice::pickup(key, station, c as u8, parcel, w)
                    }
                    CodeKind::Dropoff => backoffice::service(
                        key,
                        station,
                        backoffice::DROPOFF,
                        c.unwrap_or(0) as u8,
                        w,
                    ),
                    CodeKind::Return => {
                        let digit = match size {
                            Some('S') => 1,
                            Some('M') => 2,
                            _ => 3,
                        };
                        backoffice::service(key, station, backoffice::RETURN, digit, w)
                    }
                    CodeKind::Collect => {
                        backoffice::service(key, station, backoffice::COLLECT, 0, w)
                    }
                };
                self.bind(bind.clone(), code);
                Ok(())
            }
            Step::Expect(e) => self.expect(e).await,
            Step::Absent(a) => self.absent(a).await,
        }
    }

    async fn wait(&mut self, d: Duration) -> StepResult {
        let until = self.s.now() + d;
        self.s.wait_until(until).await?;
        Ok(())
    }

    async fn type_keys(&mut self, keys: &str, interval: Duration) -> StepResult {
        for (i, ch) in keys.chars().enumerate() {
            if i > 0 {
                self.wait(interval).await?;
            }
            self.act(FixtureAction::Key(ch)).await?;
        }
        Ok(())
    }

    /// A courier drop-off through the front panel, as a courier would do it.
    async fn parcel(&mut self, compartment: &str, bind: &str) -> StepResult {
        let c = self.compartment(compartment)?;
        let w = backoffice::window(self.s.rig.true_unix_ms() / 1000);
        let code = backoffice::service(
            &self.desc.key,
            self.desc.station,
            backoffice::DROPOFF,
            c as u8,
            w,
        );
        // The courier's code is a code too: scrubbed like a bound one (as
        // `$courier.M1`, a name no suite can bind or type).
        self.bind(format!("courier.{compartment}"), code.to_string());
        let fail =
            |what: &str| StepError::Failed(format!("courier drop-off into {compartment}: {what}"));
        self.type_keys(
            &format!("{code}#"),
            crate::model::suite::DEFAULT_KEY_INTERVAL,
        )
        .await?;
        let within = Duration::from_secs(5);
        if !self
            .expect_quiet(
                &Matcher::Lock(LockState::Released),
                Some(compartment),
                within,
            )
            .await?
        {
            return Err(fail(
                "the lock was not released within 5s of a valid courier code",
            ));
        }
        if !self
            .expect_quiet(
                &Matcher::Door(locker_proto::DoorState::Open),
                Some(compartment),
                within,
            )
            .await?
        {
            return Err(fail(
                "the door did not open within 5s of the lock's release",
            ));
        }
        self.mark(format!("package {compartment} In"));
        self.act(FixtureAction::Package {
            compartment: c,
            action: PackageAction::In,
        })
        .await?;
        self.mark(format!("door {compartment} Push"));
        self.act(FixtureAction::Door {
            compartment: c,
            action: DoorAction::Push,
        })
        .await?;
        let deadline = self.s.now() + within;
        loop {
            let found = (self.s.obs.since(self.cursor))
                .map(|(_, o)| o)
                .find_map(|o| match &o.kind {
                    ObsKind::Event {
                        event: Event::Dropoff { c: n, parcel },
                        ..
                    } if n.as_str() == compartment => Some(*parcel),
                    _ => None,
                });
            if let Some(parcel) = found {
                let w = backoffice::window(self.s.rig.true_unix_ms() / 1000);
                let code =
                    backoffice::pickup(&self.desc.key, self.desc.station, c as u8, parcel, w);
                self.bind(bind.to_owned(), code);
                self.parcels.insert(c, parcel);
                return Ok(());
            }
            if self.s.now() >= deadline {
                return Err(fail(
                    "no drop-off was reported within 5s of closing the door on a package",
                ));
            }
            self.s.pump(deadline).await?;
        }
    }

    fn note_parcels(&mut self) {
        for (_, o) in self.s.obs.since(self.cursor) {
            if let ObsKind::Event {
                event: Event::Dropoff { c, parcel },
                ..
            } = &o.kind
                && let Some(i) = self
                    .desc
                    .compartments
                    .iter()
                    .position(|(n, _)| n == c.as_str())
            {
                self.parcels.insert(i, *parcel);
            }
        }
    }

    /// Bind `$name` to a code: from now on it is scrubbed wherever the
    /// case's text goes.
    fn bind(&mut self, name: String, code: String) {
        self.s.transcript.bind(&code, &name);
        self.vars.insert(name, code);
    }

    /// An expectation that found nothing, in a window that lost some of its
    /// observations, cannot say they were not there.
    fn window_whole(&self) -> StepResult {
        match self.s.obs.lost_since(self.cursor) {
            0 => Ok(()),
            lost => Err(StepError::Input(format!(
                "the window since {} saw more observations than the {WINDOW_CAP} a window keeps, and the {lost} oldest are gone: an expectation cannot look at them. Put an action before it, or make the wait shorter",
                fmt_at(self.window_at)
            ))),
        }
    }

    /// Wait up to `within` for a match after the last action; true if seen.
    async fn expect_quiet(
        &mut self,
        m: &Matcher,
        compartment: Option<&str>,
        within: Duration,
    ) -> Result<bool, StepError> {
        let deadline = self.s.now() + within;
        let mut scanned = self.cursor;
        loop {
            if let Matcher::Backoffice { kind, count } = m {
                if self.s.backoffice_count(*kind) == *count {
                    return Ok(true);
                }
            } else {
                let names = &self.s.compartments;
                if (self.s.obs.since(scanned)).any(|(_, o)| matches(m, compartment, names, o)) {
                    self.note_parcels();
                    return Ok(true);
                }
                scanned = self.s.obs.len();
            }
            if self.s.now() >= deadline {
                self.note_parcels();
                return Ok(false);
            }
            self.s.pump(deadline).await?;
        }
    }

    async fn expect(&mut self, e: &Expectation) -> StepResult {
        if let Matcher::Status {
            failed,
            queued,
            locked_out,
        } = e.matcher
        {
            return self
                .expect_status(failed, queued, locked_out, e.within)
                .await;
        }
        if self
            .expect_quiet(&e.matcher, e.compartment.as_deref(), e.within)
            .await?
        {
            return Ok(());
        }
        self.window_whole()?;
        Err(StepError::Failed(self.not_seen(e)))
    }

    /// Ask the controller for its status until it matches or `within` passes.
    async fn expect_status(
        &mut self,
        failed: Option<u8>,
        queued: Option<u16>,
        locked_out: Option<bool>,
        within: Duration,
    ) -> StepResult {
        let deadline = self.s.now() + within;
        loop {
            let status = match self.s.command(Command::Status).await? {
                Response::Status(st) => st,
                other => {
                    return Err(StepError::Rig(RigError::Console(format!(
                        "STATUS was answered with `{other}`"
                    ))));
                }
            };
            let ok = failed.is_none_or(|n| n == status.failed)
                && queued.is_none_or(|n| n == status.queued)
                && locked_out.is_none_or(|l| l == (status.lockout_s > 0));
            if ok {
                return Ok(());
            }
            if self.s.now() >= deadline {
                let wanted = Matcher::Status {
                    failed,
                    queued,
                    locked_out,
                };
                return Err(StepError::Failed(format!(
                    "expected {wanted} within {}; the controller reports failed={} queued={} lockout={}s",
                    crate::model::units::fmt_duration(within),
                    status.failed,
                    status.queued,
                    status.lockout_s
                )));
            }
            let next = (self.s.now() + Duration::from_millis(100)).min(deadline);
            self.s.wait_until(next).await?;
        }
    }

    fn not_seen(&self, e: &Expectation) -> String {
        let mut msg = format!(
            "expected {e} within {}, not seen",
            crate::model::units::fmt_duration(e.within)
        );
        if let Matcher::Backoffice { kind, .. } = &e.matcher {
            msg.push_str(&format!(
                "; the back office holds {} {kind} record(s)",
                self.s.backoffice_count(*kind)
            ));
            return msg;
        }
        match &self.last_action {
            Some((text, at)) => msg.push_str(&format!(
                " after the last action (`{text}` at {})",
                fmt_at(*at)
            )),
            None => msg.push_str(&format!(
                " in the case's first window, which opens when the controller finishes its boot self-test (at {})",
                fmt_at(self.window_at)
            )),
        }
        let instead: Vec<String> = (self.s.obs.since(self.cursor))
            .map(|(_, o)| o)
            .filter(|o| same_kind(&e.matcher, o))
            .map(|o| format!("{} at {}", obs_text(o), fmt_at(o.at)))
            .collect();
        if instead.is_empty() {
            msg.push_str(&format!(
                "; nothing of that kind was reported since {}",
                fmt_at(self.window_at)
            ));
        } else {
            let n = instead.len();
            let shown = instead[n.saturating_sub(6)..].join("; ");
            msg.push_str(&format!("; seen instead: {shown}"));
        }
        // A match just before the window is the likeliest misunderstanding
        // of where an expectation looks: say so.
        let names = &self.s.compartments;
        if let Some(o) = (self.s.obs.before(self.cursor))
            .find(|o| matches(&e.matcher, e.compartment.as_deref(), names, o))
        {
            msg.push_str(&format!(
                "; a match came before the window opened: `{}` at {} (an expectation sees only what happens after the last action, or after the self-test for the first ones)",
                obs_text(o),
                fmt_at(o.at)
            ));
        }
        msg
    }

    async fn absent(&mut self, a: &Absence) -> StepResult {
        let until = self.s.now() + a.for_;
        self.s.wait_until(until).await?;
        let names = &self.s.compartments;
        if let Some((_, o)) = (self.s.obs.since(self.cursor))
            .find(|(_, o)| matches(&a.matcher, a.compartment.as_deref(), names, o))
        {
            let mut what = a.matcher.to_string();
            if let Some(c) = &a.compartment {
                what.push_str(&format!(" on {c}"));
            }
            return Err(StepError::Failed(format!(
                "expected no {what} for {}, but saw `{}` at {}",
                crate::model::units::fmt_duration(a.for_),
                obs_text(o),
                fmt_at(o.at)
            )));
        }
        self.window_whole()?;
        if let Matcher::Backoffice { kind, count } = &a.matcher
            && self.s.backoffice_count(*kind) == *count
        {
            return Err(StepError::Failed(format!(
                "expected the back office not to hold {count} {kind} record(s), but it does"
            )));
        }
        Ok(())
    }
}

/// Something the run reports as it goes; reporters listen, never steer.
#[derive(Debug)]
pub enum RunEvent {
    Started {
        cases: usize,
        jobs: usize,
    },
    RigReady {
        rig: String,
        flash: FlashReport,
    },
    /// A rig could not be made or flashed, so it takes no case: said once
    /// here, while the cases no rig could take say only that.
    RigBroken {
        rig: String,
        error: RigError,
    },
    /// A rig took a case (again, for a retry: `attempt` counts from 1).
    CaseStarted {
        index: usize,
        rig: String,
        case: String,
        attempt: u32,
    },
    CaseFinished(Box<CaseReport>),
}

/// The report of a case that never ran on a rig (no healthy rig,
/// interrupted), and where [`run_case`] starts its own.
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
    }
}

/// Run `plan` on `jobs` rigs made by `make_rig`, reporting through `on_event`.
pub async fn run<R, F>(
    plan: Vec<Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    make_rig: F,
    on_event: impl FnMut(&RunEvent),
) -> Vec<CaseReport>
where
    R: Rig + 'static,
    F: Fn(usize) -> Result<R, RigError> + Send + Sync + 'static,
{
    run_until(plan, jobs, desc, make_rig, on_event, std::future::pending())
        .await
        .unwrap_or_default()
}

/// [`run`], stopped early when `stop` completes (Ctrl-C): cases in progress
/// are abandoned and their rigs dropped before this returns `None`, so no
/// emulator or port outlives the run. Finished cases were already reported.
pub async fn run_until<R, F>(
    plan: Vec<Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    make_rig: F,
    mut on_event: impl FnMut(&RunEvent),
    stop: impl Future<Output = ()>,
) -> Option<Vec<CaseReport>>
where
    R: Rig + 'static,
    F: Fn(usize) -> Result<R, RigError> + Send + Sync + 'static,
{
    let jobs = jobs.clamp(1, plan.len().max(1));
    on_event(&RunEvent::Started {
        cases: plan.len(),
        jobs,
    });
    let queue: Arc<Mutex<std::collections::VecDeque<(usize, Planned)>>> =
        Arc::new(Mutex::new(plan.into_iter().enumerate().collect()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let make_rig = Arc::new(make_rig);
    // Cases sent back after a rig broke under them, with that first run.
    let requeued: Arc<Mutex<HashMap<usize, Attempt>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut workers = Vec::new();
    for j in 0..jobs {
        let (queue, tx, make_rig, desc, requeued) = (
            queue.clone(),
            tx.clone(),
            make_rig.clone(),
            desc.clone(),
            requeued.clone(),
        );
        workers.push(tokio::spawn(async move {
            let take = || queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
            let broken = |rig: String, error: RigError| {
                let _ = tx.send(RunEvent::RigBroken {
                    rig,
                    error: error.clone(),
                });
                Some(error)
            };
            let (mut rig, flash) = match make_rig(j) {
                Ok(mut rig) => match rig.flash().await {
                    Ok(f) => {
                        let _ = tx.send(RunEvent::RigReady {
                            rig: rig.name().to_owned(),
                            flash: f.clone(),
                        });
                        (rig, f)
                    }
                    Err(e) => return broken(rig.name().to_owned(), e),
                },
                Err(e) => return broken(format!("{}-{j}", desc.name), e),
            };
            let rig_name = rig.name().to_owned();
            while let Some((i, p)) = take() {
                let started = |attempt: u32| RunEvent::CaseStarted {
                    index: i,
                    rig: rig_name.clone(),
                    case: p.id(),
                    attempt,
                };
                let _ = tx.send(started(1));
                let mut report = run_case(&mut rig, &desc, &flash, &p, i).await;
                // A failure may be the controller's flakiness: run again, on
                // another seed (the sim's noise, a bench's timing differ
                // anyway), and keep every failed run in the report. Rig
                // errors are not retried here: they are the rig's, not the
                // case's, and a flaky pass must not hide them.
                let retries = p.retries.unwrap_or(0);
                let mut attempts = Vec::new();
                while matches!(report.outcome, Outcome::Failed { .. })
                    && attempts.len() < retries as usize
                {
                    attempts.push(Attempt::of(&report));
                    let _ = tx.send(started(attempts.len() as u32 + 1));
                    let again = Planned {
                        seed: p.seed.wrapping_add(attempts.len() as u64),
                        ..p.clone()
                    };
                    report = run_case(&mut rig, &desc, &flash, &again, i).await;
                }
                report.attempts = attempts;
                // A rig that cannot even be brought to a known state is
                // unhealthy: it leaves the pool, and its case goes back once
                // for a healthy rig to take; its report says so.
                let sent_back = requeued.lock().ok().and_then(|mut r| r.remove(&i));
                if let Outcome::Error { step, message } = &report.outcome
                    && step == "prepare"
                {
                    let why = RigError::Console(format!(
                        "rig `{}` taken out of the pool: {message}",
                        rig.name()
                    ));
                    match sent_back {
                        None => {
                            if let Ok(mut r) = requeued.lock() {
                                r.insert(i, Attempt::of(&report));
                            }
                            if let Ok(mut q) = queue.lock() {
                                q.push_front((i, p));
                            }
                        }
                        Some(first) => {
                            report.attempts.insert(0, first);
                            let _ = tx.send(RunEvent::CaseFinished(Box::new(report)));
                        }
                    }
                    return Some(why);
                }
                if let Some(first) = sent_back {
                    report.attempts.insert(0, first);
                }
                if tx.send(RunEvent::CaseFinished(Box::new(report))).is_err() {
                    break;
                }
            }
            None
        }));
    }
    drop(tx);
    let mut reports = Vec::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                // Reporters look; the run keeps the report.
                on_event(&ev);
                if let RunEvent::CaseFinished(r) = ev {
                    reports.push(*r);
                }
            }
            () = &mut stop => {
                for w in &workers {
                    w.abort();
                }
                // Wait until every worker, and the rig it owned, is gone.
                for w in workers {
                    let _ = w.await;
                }
                return None;
            }
        }
    }
    // Cases no healthy rig could take are errors, never silently dropped;
    // rigs that broke the same way (a firmware that does not build) are
    // one reason, not one per rig.
    let mut why: Vec<String> = Vec::new();
    for w in workers {
        let reason = match w.await {
            Ok(Some(e)) => e.to_string(),
            Ok(None) => continue,
            Err(e) => format!("rig worker stopped: {e}"),
        };
        if !why.contains(&reason) {
            why.push(reason);
        }
    }
    let left: Vec<_> = queue
        .lock()
        .map(|mut q| q.drain(..).collect())
        .unwrap_or_default();
    for (i, p) in left {
        let message = format!("no healthy rig could run this case: {}", why.join("; "));
        let outcome = Outcome::Error {
            step: NO_RIG_STEP.into(),
            message,
        };
        let report = not_run(i, &p, &desc.name, outcome);
        reports.push(report.clone());
        on_event(&RunEvent::CaseFinished(Box::new(report.clone())));
    }
    reports.sort_by_key(|r| r.index);
    Some(reports)
}
