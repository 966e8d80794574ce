//! Expectations and absences judged against what a case observed since
//! its last action.

use super::{CaseRun, StepError, StepResult};
use crate::model::suite::{Absence, Expectation, Matcher};
use crate::rigs::{Measurement, Rig, RigError};
use crate::run::obs::{Obs, ObsKind, fmt_at};
use crate::run::trace::{WINDOW_CAP, obs_text};
use locker_proto::{Command, DiagItem, Event, Response};
use std::time::Duration;

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
        (ObsKind::Event { event, .. }, m) => m.event_kind() == Some(event.kind()),
        _ => false,
    }
}

impl<R: Rig> CaseRun<'_, '_, R> {
    /// An expectation that found nothing, in a window that lost some of its
    /// observations, cannot say they were not there.
    pub(super) fn window_whole(&self) -> StepResult {
        match self.s.obs.lost_since(self.cursor) {
            0 => Ok(()),
            lost => Err(StepError::Input(format!(
                "the window since {} saw more observations than the {WINDOW_CAP} a window keeps, and the {lost} oldest are gone: an expectation cannot look at them. Put an action before it, or make the wait shorter",
                fmt_at(self.window_at)
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

    pub(super) async fn expect(&mut self, e: &Expectation) -> StepResult {
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
    pub(super) async fn expect_status(
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

    pub(super) fn not_seen(&self, e: &Expectation) -> String {
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

    pub(super) async fn absent(&mut self, a: &Absence) -> StepResult {
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
