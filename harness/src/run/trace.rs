//! What a case's report keeps of its run, as data: the observations and the
//! steps, each at its rig time. Text is made from them only when someone
//! reads it (a snapshot, a report page): a run sees thousands of console
//! lines a case and should not spend its time formatting them.

use crate::rigs::{FixtureAction, Measurement};
use crate::run::obs::{Obs, ObsKind, fmt_at};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// A step as it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMark {
    /// Rig time when the step began.
    pub at: Duration,
    /// How many observations came before it.
    pub obs_before: usize,
    /// The step as the suite says it (`keys: $code#`).
    pub text: String,
}

/// A case's run as data; [`Trace::lines`] is its normalised text.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The observations kept: all of a short case's; of a long one, the
    /// first [`TRACE_HEAD`] and the last [`TRACE_TAIL`], with `omitted`
    /// standing for those between.
    pub obs: Vec<Obs>,
    /// What stands for the observations not kept, between `obs[..head]`
    /// and the rest.
    pub omitted: Option<Omitted>,
    /// Every step that started, in order: a failed case's failing step is
    /// the last one.
    pub steps: Vec<StepMark>,
    /// What the fixtures were made to do (all but key presses), at rig
    /// times: the chamber's set point, the supply, the links, doors held.
    pub actions: Vec<(Duration, FixtureAction)>,
    /// The rig's compartment names, by the index actions use.
    pub compartments: Vec<String>,
    /// Index into `steps` of the step that failed, when one did (a case can
    /// also fail at boot, or for privacy, with no step to blame).
    pub failed_step: Option<usize>,
    /// The case's top-level steps that never started (after a failure, or
    /// all of them when the controller did not boot), as `steps[4] text`.
    pub not_run: Vec<String>,
}

/// A trace's observations, its steps and where observations were not kept,
/// in the order they happened.
#[derive(Debug, Clone, Copy)]
pub enum Item<'t> {
    Obs(&'t Obs),
    Step(&'t StepMark),
    Omitted(&'t Omitted),
}

impl Trace {
    /// Everything in the order it happened: observations, steps, and the
    /// gap where observations were not kept (before the first step that
    /// came after one of them).
    pub fn walk<'t>(&'t self) -> impl Iterator<Item = Item<'t>> {
        let (head, gap_len) = self
            .omitted
            .as_ref()
            .map_or((usize::MAX, 0), |g| (g.head, g.count));
        // Where a kept observation stands among all the case saw.
        let absolute = |k: usize| if k < head { k } else { k + gap_len };
        let mut out = Vec::with_capacity(self.obs.len() + self.steps.len() + 1);
        let (mut next, mut gap) = (0, self.omitted.as_ref());
        // Everything that came before the observation numbered `limit`.
        let mut until = |out: &mut Vec<Item<'t>>, limit: usize| loop {
            if let Some(g) = gap.filter(|g| g.head == next && g.head < limit) {
                out.push(Item::Omitted(g));
                gap = None;
            } else if next < self.obs.len() && absolute(next) < limit {
                out.push(Item::Obs(&self.obs[next]));
                next += 1;
            } else {
                break;
            }
        };
        for s in &self.steps {
            until(&mut out, s.obs_before);
            out.push(Item::Step(s));
        }
        until(&mut out, usize::MAX);
        out.into_iter()
    }

    /// The normalised trace: rig times, observations and steps in the order
    /// they happened, no build ids, no codes. Identical on every rig that
    /// behaves the same, which is what snapshots compare.
    pub fn lines(&self) -> Vec<String> {
        if self.obs.is_empty() && self.steps.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(2 + self.obs.len() + self.steps.len());
        out.push(format!("{:>10} power on", fmt_at(Duration::ZERO)));
        out.extend(self.walk().map(|item| match item {
            Item::Obs(o) => obs_line(o),
            Item::Step(s) => format!("{:>10} {}", fmt_at(s.at), s.text),
            Item::Omitted(g) => format!("{:>10}   {g}", fmt_at(g.from)),
        }));
        out
    }
}

/// Observations a long case saw but did not keep: how many, over which rig
/// times, and a digest of what they said, so that a snapshot of a long case
/// still tells two behaviours apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omitted {
    /// Index in [`Trace::obs`] of the first observation after the gap.
    pub head: usize,
    pub count: usize,
    /// Of those, the ones a behaviour snapshot shows (not temperatures).
    pub behaviour: usize,
    pub from: Duration,
    pub to: Duration,
    /// FNV-1a of their [`behaviour`] lines.
    pub digest: u64,
}

impl Omitted {
    fn new(head: usize) -> Self {
        Self {
            head,
            count: 0,
            behaviour: 0,
            from: Duration::ZERO,
            to: Duration::ZERO,
            digest: FNV_OFFSET,
        }
    }

    fn take(&mut self, o: &Obs) {
        use fmt::Write as _;
        if self.count == 0 {
            self.from = o.at;
        }
        self.count += 1;
        self.to = o.at;
        if let Some(b) = behaviour(o) {
            self.behaviour += 1;
            let mut h = Fnv(self.digest);
            let _ = writeln!(h, "{b}");
            self.digest = h.0;
        }
    }
}

impl fmt::Display for Omitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "... {} observations until {} not kept in this report (digest {:016x})",
            self.count,
            fmt_at(self.to),
            self.digest
        )
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, fed by `write!`: a digest of text never made into a `String`.
struct Fnv(u64);

impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

/// How an observation reads in a behaviour snapshot: no times, no build,
/// no temperatures (they differ between rigs that behave the same).
pub fn behaviour(o: &Obs) -> Option<Behaviour<'_>> {
    match &o.kind {
        ObsKind::Event {
            event: locker_proto::Event::Temp { .. },
            ..
        } => None,
        _ => Some(Behaviour(o)),
    }
}

#[derive(Debug)]
pub struct Behaviour<'a>(&'a Obs);

impl fmt::Display for Behaviour<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            ObsKind::Hello { proto, .. } => write!(f, "hello proto {proto}"),
            _ => write!(f, "{}", obs_text(self.0)),
        }
    }
}

/// Observations kept in the first part of a trace.
pub const TRACE_HEAD: usize = 1_000;
/// Observations kept at the end of a trace.
pub const TRACE_TAIL: usize = 4_000;
/// Observations a window (what an expectation looks through: everything
/// since the last action) keeps at most, for a case still running.
pub const WINDOW_CAP: usize = 200_000;

/// A running case's observations, numbered from the first, in bounded
/// memory: the first [`TRACE_HEAD`], and from there on those still of use,
/// which are the current window (up to [`WINDOW_CAP`]) and the last
/// [`TRACE_TAIL`]. What falls out is counted and digested in [`Omitted`].
#[derive(Debug)]
pub struct ObsLog {
    head: Vec<Obs>,
    recent: VecDeque<Obs>,
    omitted: Omitted,
    /// Where the current window opens.
    window: usize,
}

impl Default for ObsLog {
    fn default() -> Self {
        Self {
            head: Vec::new(),
            recent: VecDeque::new(),
            omitted: Omitted::new(0),
            window: 0,
        }
    }
}

impl ObsLog {
    /// How many the case has seen.
    pub fn len(&self) -> usize {
        self.base() + self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of the first observation in `recent`.
    fn base(&self) -> usize {
        self.head.len() + self.omitted.count
    }

    pub fn push(&mut self, o: Obs) {
        if self.recent.is_empty() && self.omitted.count == 0 && self.head.len() < TRACE_HEAD {
            self.head.push(o);
            return;
        }
        self.recent.push_back(o);
        let len = self.len();
        let keep_from = self
            .window
            .min(len.saturating_sub(TRACE_TAIL))
            .max(len.saturating_sub(WINDOW_CAP));
        self.drop_before(keep_from);
    }

    fn drop_before(&mut self, keep_from: usize) {
        while self.base() < keep_from {
            let Some(o) = self.recent.pop_front() else {
                break;
            };
            self.omitted.head = self.head.len();
            self.omitted.take(&o);
        }
    }

    /// Open a window at observation `at` (the next one, usually): what
    /// came before it is no expectation's any more.
    pub fn open_window(&mut self, at: usize) {
        self.window = at;
    }

    /// The observations kept from number `from` on, with their numbers.
    pub fn since(&self, from: usize) -> impl DoubleEndedIterator<Item = (usize, &Obs)> {
        let base = self.base();
        let head = (from..self.head.len()).map(|i| (i, &self.head[i]));
        let skip = from.saturating_sub(base);
        let recent = (self.recent.iter().enumerate().skip(skip)).map(move |(i, o)| (base + i, o));
        head.chain(recent)
    }

    /// The observations kept before number `to`, latest first.
    pub fn before(&self, to: usize) -> impl Iterator<Item = &Obs> {
        let base = self.base();
        let recent = self.recent.iter().take(to.saturating_sub(base)).rev();
        recent.chain(self.head[..to.min(self.head.len())].iter().rev())
    }

    /// How many observations from number `from` on were not kept: an
    /// expectation that looks there cannot see them.
    pub fn lost_since(&self, from: usize) -> usize {
        self.base().saturating_sub(from.max(self.head.len()))
    }

    /// The trace's observations: the first ones and the last ones, and what
    /// stands for the rest.
    pub fn finish(mut self) -> (Vec<Obs>, Option<Omitted>) {
        let len = self.len();
        self.drop_before(len.saturating_sub(TRACE_TAIL));
        let omitted = (self.omitted.count > 0).then_some(self.omitted);
        let mut obs = self.head;
        obs.extend(self.recent);
        (obs, omitted)
    }
}

fn obs_line(o: &Obs) -> String {
    match &o.kind {
        // The build differs from release to release; traces must not.
        ObsKind::Hello { board, proto, .. } => format!(
            "{:>10}   hello proto {proto} board {board} build <build>",
            fmt_at(o.at)
        ),
        _ => format!("{:>10}   {}", fmt_at(o.at), obs_text(o)),
    }
}

/// How an observation reads in traces and messages.
pub fn obs_text(o: &Obs) -> ObsText<'_> {
    ObsText(o)
}

#[derive(Debug)]
pub struct ObsText<'a>(&'a Obs);

impl fmt::Display for ObsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            ObsKind::Hello { board, proto, .. } => write!(f, "hello proto {proto} board {board}"),
            ObsKind::Event { event, .. } => write!(f, "{event}"),
            ObsKind::Measured(Measurement::Pulse { on, .. }) => {
                write!(f, "measured pulse {}ms", on.as_millis())
            }
            ObsKind::Measured(Measurement::Backoffice {
                seq,
                kind,
                duplicate,
                ..
            }) => write!(
                f,
                "back office {kind} #{seq}{}",
                if *duplicate { " (duplicate)" } else { "" }
            ),
            ObsKind::Measured(Measurement::Truth(t)) => write!(f, "plant {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::{Event, Link};

    fn ev(ms: u64, event: Event) -> Obs {
        Obs {
            at: Duration::from_millis(ms),
            kind: ObsKind::Event { t_ms: ms, event },
        }
    }

    fn step(ms: u64, obs_before: usize, text: &str) -> StepMark {
        StepMark {
            at: Duration::from_millis(ms),
            obs_before,
            text: text.into(),
        }
    }

    #[test]
    fn lines_interleave_steps_and_observations_in_order() {
        let trace = Trace {
            obs: vec![
                Obs {
                    at: Duration::ZERO,
                    kind: ObsKind::Hello {
                        build: "locker-1.0+abc".into(),
                        board: "sim".into(),
                        proto: 1,
                    },
                },
                ev(1200, Event::LinkActive(Some(Link::Primary))),
                ev(2500, Event::LinkActive(None)),
            ],
            omitted: None,
            steps: vec![step(1500, 2, "wait: 1s"), step(2600, 3, "wait: 1s")],
            actions: Vec::new(),
            compartments: Vec::new(),
            failed_step: None,
            not_run: Vec::new(),
        };
        insta::assert_snapshot!(trace.lines().join("\n"), @r"
            +0.000s power on
            +0.000s   hello proto 1 board sim build <build>
            +1.200s   link-active primary
            +1.500s wait: 1s
            +2.500s   link-active none
            +2.600s wait: 1s
        ");
    }

    fn temp(i: usize) -> Obs {
        Obs {
            at: Duration::from_millis(i as u64),
            kind: ObsKind::Event {
                t_ms: i as u64,
                event: Event::Temp { centi: i as i32 },
            },
        }
    }

    #[test]
    fn a_log_keeps_its_window_and_its_ends_and_counts_the_rest() {
        let mut log = ObsLog::default();
        for i in 0..TRACE_HEAD + 100 {
            log.push(temp(i));
        }
        // A window opens; what comes after it is all kept.
        log.open_window(log.len());
        let window = log.len();
        for i in 0..3 * TRACE_TAIL {
            log.push(temp(window + i));
        }
        assert_eq!(log.len(), window + 3 * TRACE_TAIL);
        assert_eq!(log.since(window).count(), 3 * TRACE_TAIL);
        assert_eq!(log.lost_since(window), 0);
        assert_eq!(
            log.lost_since(0),
            100,
            "before the window, only the head and no more"
        );
        let (n, o) = log.since(window).next().unwrap();
        assert_eq!((n, o.at), (window, Duration::from_millis(window as u64)));
        assert_eq!(
            log.before(window).next().unwrap().at,
            Duration::from_millis(999)
        );
        // A new window lets the old one go, but the last TRACE_TAIL stay.
        log.open_window(log.len());
        log.push(temp(log.len()));
        assert_eq!(log.since(0).count(), TRACE_HEAD + TRACE_TAIL);
        let (obs, omitted) = log.finish();
        let omitted = omitted.unwrap();
        assert_eq!(obs.len(), TRACE_HEAD + TRACE_TAIL);
        assert_eq!(omitted.head, TRACE_HEAD);
        assert_eq!(
            omitted.count,
            window + 3 * TRACE_TAIL + 1 - TRACE_HEAD - TRACE_TAIL
        );
        assert_eq!(omitted.from, Duration::from_millis(TRACE_HEAD as u64));
        assert_eq!(omitted.behaviour, 0, "temperatures are not behaviour");
    }

    #[test]
    fn a_window_keeps_at_most_its_cap_and_says_what_it_lost() {
        let mut log = ObsLog::default();
        for i in 0..WINDOW_CAP + TRACE_HEAD + 7 {
            log.push(temp(i));
        }
        assert_eq!(log.lost_since(0), 7);
        assert_eq!(log.since(0).count(), TRACE_HEAD + WINDOW_CAP);
    }

    #[test]
    fn a_digest_tells_two_behaviours_apart_and_two_runs_of_one_alike() {
        let run = |link: Link| {
            let mut log = ObsLog::default();
            for i in 0..TRACE_HEAD + TRACE_TAIL + 10 {
                let event = if i == TRACE_HEAD + 5 {
                    Event::LinkActive(Some(link))
                } else {
                    Event::Temp { centi: i as i32 }
                };
                log.push(ev(i as u64, event));
            }
            log.finish().1.unwrap()
        };
        assert_eq!(run(Link::Primary), run(Link::Primary));
        assert_ne!(run(Link::Primary).digest, run(Link::Secondary).digest);
        assert_eq!(run(Link::Primary).behaviour, 1);
    }

    #[test]
    fn a_walk_puts_the_gap_where_it_was() {
        let trace = Trace {
            obs: vec![
                ev(1, Event::LinkActive(None)),
                ev(9, Event::LinkActive(None)),
            ],
            omitted: Some(Omitted {
                head: 1,
                count: 5,
                behaviour: 5,
                from: Duration::from_millis(2),
                to: Duration::from_millis(8),
                digest: 0xabc,
            }),
            // Before the gap, inside it (after observation 3 of 7), after it.
            steps: vec![step(0, 1, "a"), step(5, 3, "b"), step(10, 7, "c")],
            ..Trace::default()
        };
        insta::assert_snapshot!(trace.lines().join("\n"), @r"
            +0.000s power on
            +0.001s   link-active none
            +0.000s a
            +0.002s   ... 5 observations until +0.008s not kept in this report (digest 0000000000000abc)
            +0.005s b
            +0.009s   link-active none
            +0.010s c
        ");
    }

    #[test]
    fn an_unrun_case_has_no_lines() {
        assert!(Trace::default().lines().is_empty());
    }
}
