//! Expectations, absences and states judged against what a case observed:
//! in the window since the last action, a mark or the start, in the back
//! office's records, in the controller's `STATUS`, and in the last report
//! of each state.

use super::{CaseRun, StepError, StepResult};
use crate::model::suite::{
    Absence, Check, Expectation, Holds, HoldsHow, Look, Matcher, Records, Since, StatusMatch,
};
use crate::model::units::fmt_duration;
use crate::rigs::{Measurement, Rig, RigError};
use crate::run::obs::{Obs, ObsKind, fmt_at};
use crate::run::trace::{WINDOW_CAP, obs_text};
use locker_proto::{Command, FieldValue, Response};
use std::time::Duration;

/// Does this observation satisfy the check? (The back office and
/// `STATUS` are judged apart.)
fn matches(c: &Check, names: &[String], o: &Obs) -> bool {
    match &o.kind {
        ObsKind::Measured(Measurement::Pulse { compartment: i, on }) => {
            let Matcher::Pulse { min, max } = c.matcher else {
                return false;
            };
            (c.compartment.as_deref()).is_none_or(|want| names.get(*i).is_some_and(|n| n == want))
                && crate::model::look::Bounds { min, max }.contains(*on)
        }
        ObsKind::Event { event, .. } => {
            (c.compartment.as_deref()).is_none_or(|want| names_compartment(event, want))
                && c.matcher.matches_event(event)
        }
        _ => false,
    }
}

/// Whether event `e` names compartment `want`.
fn names_compartment(e: &locker_proto::Event, want: &str) -> bool {
    e.field("compartment") == Some(FieldValue::Compartment(want))
}

/// Whether `e` is a report of the thing a state check is about: the
/// compartment or the link it names narrows which reports count; the rest
/// of the check must then hold of each of them.
fn about(c: &Check, e: &locker_proto::Event) -> bool {
    let link = match &c.matcher {
        Matcher::Event(m) if m.kind == "link" => (m.fields.iter()).find_map(|(n, w)| match w {
            crate::model::look::Want::Word(w) if *n == "link" => Some(*w),
            _ => None,
        }),
        _ => None,
    };
    (c.compartment.as_deref()).is_none_or(|want| names_compartment(e, want))
        && link.is_none_or(|want| e.field("link") == Some(FieldValue::Word(want)))
}

/// Same kind of thing, for "seen instead" in failure messages.
fn same_kind(m: &Matcher, o: &Obs) -> bool {
    match (&o.kind, m) {
        (ObsKind::Measured(Measurement::Pulse { .. }), Matcher::Pulse { .. }) => true,
        (ObsKind::Event { event, .. }, m) => m.event_kind() == Some(event.kind()),
        _ => false,
    }
}

/// How far `look` got through `obs`: `Ok` when it is seen, else for an
/// order the index of the first check not seen after those before it.
fn progress<'o>(
    look: &Look,
    names: &[String],
    obs: impl Iterator<Item = &'o Obs>,
) -> Result<(), usize> {
    match look {
        Look::One(c) => {
            let mut obs = obs;
            obs.any(|o| matches(c, names, o)).then_some(()).ok_or(0)
        }
        Look::AnyOf(cs) => {
            let mut obs = obs;
            (obs.any(|o| cs.iter().any(|c| matches(c, names, o))))
                .then_some(())
                .ok_or(0)
        }
        Look::InOrder(cs) => {
            // The earliest match of each after the one before: if any
            // order of matches exists, this finds one.
            let mut next = 0;
            for o in obs {
                if next < cs.len() && matches(&cs[next], names, o) {
                    next += 1;
                }
            }
            if next == cs.len() { Ok(()) } else { Err(next) }
        }
    }
}

impl<R: Rig> CaseRun<'_, '_, R> {
    /// Where the window `from` names opens: an observation's number and its rig time.
    fn opens(&self, from: &Since) -> Result<(usize, Duration), StepError> {
        match from {
            Since::LastAction => Ok((self.cursor, self.window_at)),
            Since::Start => Ok((0, Duration::ZERO)),
            Since::Mark(m) => self.marks.get(m).copied().ok_or_else(|| {
                // The suite's check makes sure a mark is set before use;
                // a mark inside a skipped branch is the one way here.
                StepError::Input(format!("mark `{m}` was never set in this run of the case"))
            }),
        }
    }

    /// An expectation that found nothing, in a window that lost some of its
    /// observations, cannot say they were not there.
    pub(super) fn window_whole(&self, from: usize, at: Duration) -> StepResult {
        match self.s.obs.lost_since(from) {
            0 => Ok(()),
            lost => Err(StepError::Input(format!(
                "the window since {} saw more observations than the {WINDOW_CAP} a window keeps, and the {lost} oldest are gone: an expectation cannot look at them. Look from a later mark, or make the wait shorter",
                fmt_at(at)
            ))),
        }
    }

    /// Wait up to `within` for a match after the last action; true if seen.
    pub(super) async fn expect_quiet(
        &mut self,
        m: &Matcher,
        compartment: Option<&str>,
        within: Duration,
    ) -> Result<bool, StepError> {
        let look = Look::One(Check {
            matcher: m.clone(),
            compartment: compartment.map(str::to_owned),
        });
        self.seen_within(&look, self.cursor, within).await
    }

    /// Wait up to `within` for `look` in the window from observation
    /// `from` on; true if seen.
    async fn seen_within(
        &mut self,
        look: &Look,
        from: usize,
        within: Duration,
    ) -> Result<bool, StepError> {
        let deadline = self.s.now() + within;
        let mut scanned = from;
        loop {
            let names = &self.s.compartments;
            let seen = match look {
                // A single match or a choice is found among what is new;
                // an order is looked for from the start of the window.
                Look::One(_) | Look::AnyOf(_) => {
                    progress(look, names, self.s.obs.since(scanned).map(|(_, o)| o)).is_ok()
                }
                Look::InOrder(_) => {
                    progress(look, names, self.s.obs.since(from).map(|(_, o)| o)).is_ok()
                }
            };
            if seen {
                self.note_parcels();
                return Ok(true);
            }
            scanned = self.s.obs.len();
            if self.s.now() >= deadline {
                self.note_parcels();
                return Ok(false);
            }
            self.s.pump(deadline).await?;
        }
    }

    pub(super) async fn expect(&mut self, e: &Expectation) -> StepResult {
        if let Some(c) = e.look.one() {
            match &c.matcher {
                Matcher::Status(st) => return self.expect_status(st, e.within).await,
                Matcher::Backoffice(r) => return self.expect_records(r, e.within).await,
                _ => {}
            }
        }
        let (from, at) = self.opens(&e.from)?;
        if self.seen_within(&e.look, from, e.within).await? {
            return Ok(());
        }
        self.window_whole(from, at)?;
        Err(StepError::Failed(self.not_seen(e, from, at)))
    }

    /// Ask the controller for its status until it matches or `within` passes.
    async fn expect_status(&mut self, want: &StatusMatch, within: Duration) -> StepResult {
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
            // True time as the back office keeps it (moved with the clocks
            // when a bench takes its waits so).
            let truth = self.s.true_unix_ms();
            if want.matches(&status, truth) {
                return Ok(());
            }
            if self.s.now() >= deadline {
                let lag = status.rtc_s as i64 * 1000 - truth as i64;
                return Err(StepError::Failed(format!(
                    "expected {} within {}; the controller reports failed={} queued={} lockout={}s uptime={} clock {}{} from true time",
                    Matcher::Status(*want),
                    fmt_duration(within),
                    status.failed,
                    status.queued,
                    status.lockout_s,
                    fmt_duration(Duration::from_millis(status.uptime_ms)),
                    if lag < 0 { "-" } else { "+" },
                    fmt_duration(Duration::from_millis(lag.unsigned_abs())),
                )));
            }
            let next = (self.s.now() + Duration::from_millis(100)).min(deadline);
            self.s.wait_until(next).await?;
        }
    }

    /// Whether the back office holds what `r` says (`Err`: what it holds instead).
    fn holdings(&self, r: &Records) -> Result<(), String> {
        let names = &self.s.compartments;
        let name = |i: usize| names.get(i).map_or("?", String::as_str);
        let all = self.s.records.all();
        let shown = |rs: &[&crate::run::state::Record]| {
            if rs.is_empty() {
                return "none".to_owned();
            }
            let list: Vec<_> = (rs.iter())
                .map(|r| {
                    format!(
                        "{} {} (seq {}, sent {}x)",
                        r.kind,
                        name(r.compartment),
                        r.seq,
                        r.sent
                    )
                })
                .collect();
            list.join(", ")
        };
        match r {
            Records::Count {
                kind,
                compartment,
                count,
                sent,
            } => {
                let of: Vec<_> = (all.iter())
                    .filter(|r| r.kind == *kind)
                    .filter(|r| {
                        compartment
                            .as_deref()
                            .is_none_or(|c| name(r.compartment) == c)
                    })
                    .collect();
                if of.len() as u32 == *count && of.iter().all(|r| sent.contains(r.sent)) {
                    Ok(())
                } else {
                    Err(format!("it holds {}: {}", of.len(), shown(&of)))
                }
            }
            Records::Order(items) => {
                let fits = |r: &crate::run::state::Record, (k, c): &(_, Option<String>)| {
                    r.kind == *k && c.as_deref().is_none_or(|c| name(r.compartment) == c)
                };
                let of: Vec<_> = (all.iter())
                    .filter(|r| items.iter().any(|i| fits(r, i)))
                    .collect();
                let same = of.len() == items.len() && of.iter().zip(items).all(|(r, i)| fits(r, i));
                if same {
                    Ok(())
                } else {
                    Err(format!(
                        "of those kinds it holds, as first received: {}",
                        shown(&of)
                    ))
                }
            }
        }
    }

    /// Wait up to `within` for the back office to hold what `r` says.
    async fn expect_records(&mut self, r: &Records, within: Duration) -> StepResult {
        let deadline = self.s.now() + within;
        loop {
            let held = self.holdings(r);
            let Err(instead) = held else {
                return Ok(());
            };
            if self.s.now() >= deadline {
                return Err(StepError::Failed(format!(
                    "expected the {} within {}; {instead}",
                    Matcher::Backoffice(r.clone()),
                    fmt_duration(within)
                )));
            }
            self.s.pump(deadline).await?;
        }
    }

    fn not_seen(&self, e: &Expectation, from: usize, at: Duration) -> String {
        let mut msg = format!("expected {e} within {}, not seen", fmt_duration(e.within));
        match (&e.from, &self.last_action) {
            (Since::LastAction, Some((text, at))) => msg.push_str(&format!(
                " after the last action (`{text}` at {})",
                fmt_at(*at)
            )),
            (Since::LastAction, None) => msg.push_str(&format!(
                " in the case's first window, which opens when the controller finishes its boot self-test (at {})",
                fmt_at(at)
            )),
            (Since::Start, _) => msg.push_str(" since the case started"),
            (Since::Mark(m), _) => {
                msg.push_str(&format!(" since mark `{m}` (at {})", fmt_at(at)))
            }
        }
        let names = &self.s.compartments;
        let window = || self.s.obs.since(from).map(|(_, o)| o);
        if let Look::InOrder(cs) = &e.look {
            // What came when: each item's matches, and where the order broke.
            let stuck = progress(&e.look, names, window()).err().unwrap_or(0);
            msg.push_str(&format!(
                "; the order broke at item {} (`{}`), not seen{}",
                stuck + 1,
                cs[stuck],
                if stuck == 0 {
                    String::new()
                } else {
                    format!(" after item {stuck}")
                }
            ));
            // What came, in the order it came, each with the items it is.
            let came: Vec<String> = (window())
                .filter_map(|o| {
                    let items: Vec<String> = (cs.iter().enumerate())
                        .filter(|(_, c)| matches(c, names, o))
                        .map(|(i, _)| (i + 1).to_string())
                        .collect();
                    (!items.is_empty()).then(|| {
                        format!(
                            "\n  item {}: `{}` at {}",
                            items.join("/"),
                            obs_text(o),
                            fmt_at(o.at)
                        )
                    })
                })
                .collect();
            if came.is_empty() {
                msg.push_str("; none of the items was seen");
            } else {
                msg.push_str("; what was seen, in the order it came:");
                let n = came.len();
                if n > 20 {
                    msg.push_str(&format!("\n  ({} earlier ones left out)", n - 20));
                }
                msg.extend(came.into_iter().skip(n.saturating_sub(20)));
            }
            return msg;
        }
        let checks: Vec<&Check> = e.look.checks().collect();
        let instead: Vec<String> = (window())
            .filter(|o| checks.iter().any(|c| same_kind(&c.matcher, o)))
            .map(|o| format!("{} at {}", obs_text(o), fmt_at(o.at)))
            .collect();
        if instead.is_empty() {
            msg.push_str(&format!(
                "; nothing of that kind was reported since {}",
                fmt_at(at)
            ));
        } else {
            let n = instead.len();
            let shown = instead[n.saturating_sub(6)..].join("; ");
            msg.push_str(&format!("; seen instead: {shown}"));
        }
        // A match just before the window is the likeliest misunderstanding
        // of where an expectation looks: say so.
        if let Some(o) =
            (self.s.obs.before(from)).find(|o| checks.iter().any(|c| matches(c, names, o)))
        {
            msg.push_str(&format!(
                "; a match came before the window opened: `{}` at {} (an expectation sees only what happens after the last action, or after the self-test for the first ones; `from:` looks from a mark or the start)",
                obs_text(o),
                fmt_at(o.at)
            ));
        }
        msg
    }

    pub(super) async fn absent(&mut self, a: &Absence) -> StepResult {
        let (from, at) = self.opens(&a.from)?;
        let until = self.s.now() + a.for_;
        if let Some(c) = a.look.one()
            && let Matcher::Backoffice(r) = &c.matcher
        {
            return self.absent_records(r, until).await;
        }
        self.s.wait_until(until).await?;
        let names = &self.s.compartments;
        let window = || self.s.obs.since(from).map(|(_, o)| o);
        if progress(&a.look, names, window()).is_ok() {
            let checks: Vec<&Check> = a.look.checks().collect();
            let seen: Vec<String> = (window())
                .filter(|o| checks.iter().any(|c| matches(c, names, o)))
                .map(|o| format!("`{}` at {}", obs_text(o), fmt_at(o.at)))
                .take(6)
                .collect();
            return Err(StepError::Failed(format!(
                "expected no {} for {}, but saw {}",
                a.look,
                fmt_duration(a.for_),
                seen.join(", then ")
            )));
        }
        self.window_whole(from, at)?;
        Ok(())
    }

    /// The back office never holds what `r` says until `until`: looked at
    /// after every arrival, and a count it went past was held on the way
    /// (records only come, one at a time).
    async fn absent_records(&mut self, r: &Records, until: Duration) -> StepResult {
        loop {
            let past = match r {
                Records::Count {
                    kind, count, sent, ..
                } if sent.is_open() => self.s.records.count(*kind) > *count,
                _ => false,
            };
            if self.holdings(r).is_ok() || past {
                return Err(StepError::Failed(format!(
                    "expected the back office never to be {} (at {}), but it was",
                    Matcher::Backoffice(r.clone()),
                    fmt_at(self.s.now())
                )));
            }
            if self.s.now() >= until {
                return Ok(());
            }
            self.s.pump(until).await?;
        }
    }

    /// Whether what the controller last reported of the check's state
    /// holds: `Err` says what it last reported instead.
    fn holds_now(&self, c: &Check) -> Result<(), String> {
        let kind = c.matcher.event_kind().unwrap_or_default();
        let of: Vec<_> = (self.s.states.of_kind(kind))
            .filter(|l| about(c, &l.event))
            .collect();
        if of.is_empty() {
            return Err("the controller has not reported it since it last started".into());
        }
        // Of every compartment, when it names none: each must have said so.
        if c.compartment.is_none() && locker_proto::Event::WITH_COMPARTMENT.contains(&kind) {
            let silent: Vec<&str> = (self.s.compartments.iter())
                .filter(|n| !of.iter().any(|l| names_compartment(&l.event, n)))
                .map(String::as_str)
                .collect();
            if !silent.is_empty() {
                return Err(format!(
                    "{} has not reported it since the controller last started",
                    silent.join(", ")
                ));
            }
        }
        let off: Vec<_> = (of.iter())
            .filter(|l| !c.matcher.matches_event(&l.event))
            .map(|l| format!("`{}` at {}", l.event, fmt_at(l.at)))
            .collect();
        if off.is_empty() {
            Ok(())
        } else {
            Err(format!("the controller last reported {}", off.join(", ")))
        }
    }

    pub(super) async fn state(&mut self, h: &Holds) -> StepResult {
        match h.how {
            HoldsHow::Within(within) => {
                let deadline = self.s.now() + within;
                loop {
                    let now = self.holds_now(&h.check);
                    let Err(instead) = now else {
                        return Ok(());
                    };
                    if self.s.now() >= deadline {
                        return Err(StepError::Failed(format!(
                            "expected {} to hold within {}; {instead}",
                            h.check,
                            fmt_duration(within)
                        )));
                    }
                    self.s.pump(deadline).await?;
                }
            }
            HoldsHow::For(d) => {
                let until = self.s.now() + d;
                if let Err(instead) = self.holds_now(&h.check) {
                    return Err(StepError::Failed(format!(
                        "expected {} to hold for {}, but it did not when the step began: {instead}",
                        h.check,
                        fmt_duration(d)
                    )));
                }
                // Every report of it from here on, not only the last one:
                // a change and its undoing between two looks still breaks it.
                let mut scanned = self.s.obs.len();
                loop {
                    let c = &h.check;
                    let broke = (self.s.obs.since(scanned)).find_map(|(_, o)| match &o.kind {
                        ObsKind::Event { event, .. }
                            if c.matcher.event_kind() == Some(event.kind())
                                && about(c, event)
                                && !c.matcher.matches_event(event) =>
                        {
                            Some(format!("`{event}` at {}", fmt_at(o.at)))
                        }
                        _ => None,
                    });
                    if let Some(seen) = broke {
                        return Err(StepError::Failed(format!(
                            "expected {} to hold for {}, but the controller reported {seen}",
                            h.check,
                            fmt_duration(d)
                        )));
                    }
                    scanned = self.s.obs.len();
                    if self.s.now() >= until {
                        return Ok(());
                    }
                    self.s.pump(until).await?;
                }
            }
        }
    }
}
