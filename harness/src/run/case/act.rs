//! What each step of a case does: fixture actions, keys, waits, parcels.

use super::{CaseRun, StepError, StepResult};
use crate::model::suite::{
    ClockAction, CodeKind, DoorAction, Matcher, PackageAction, PowerAction, Step,
};
use crate::rigs::{FixtureAction, Rig, RigError};
use crate::run::backoffice;
use crate::run::issuer::{self, CodeRequest};
use crate::run::obs::ObsKind;
use locker_proto::{Command, Event, LockState, Response};
use std::time::Duration;

impl<R: Rig> CaseRun<'_, '_, R> {
    pub(super) async fn act(&mut self, action: FixtureAction) -> StepResult {
        self.s.rig.act(&action).await?;
        let at = self.s.now();
        let rtc = self.s.true_unix_ms() as i64 + self.s.drift_ms;
        self.s.invariants.clock(rtc);
        self.s.invariants.action(&action, at);
        // What the fixtures did goes on the timeline with what the
        // controller said; key presses are the keypad's events already.
        if !matches!(action, FixtureAction::Key(_)) {
            self.actions.push((self.s.now(), action));
        }
        Ok(())
    }

    pub(super) async fn step(&mut self, step: &Step) -> StepResult {
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
            Step::Power(p) => {
                // Unpowered, the controller's last words hold no more.
                if matches!(p, PowerAction::Off | PowerAction::Cycle { .. }) {
                    self.s.states.forget();
                }
                self.act(FixtureAction::Power(*p)).await
            }
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
            Step::Clock(action) => self.set_clock(action).await,
            Step::Memory(m) => self.act(FixtureAction::Memory(*m)).await,
            Step::Wait(d) => self.wait(*d).await,
            Step::WaitUntil { second_of_day } => self.wait_until(*second_of_day).await,
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
                let code = self.issue(*kind, c, *size, *station, *window)?;
                self.bind(bind.clone(), code);
                Ok(())
            }
            Step::Expect(e) => self.expect(e).await,
            Step::Absent(a) => self.absent(a).await,
            Step::State(h) => self.state(h).await,
            Step::Mark(m) => {
                self.set_mark(m);
                Ok(())
            }
        }
    }

    /// The controller's clock set (`clock: { set: ... }`) or moved from true
    /// time (`clock: { drift: ... }`).
    async fn set_clock(&mut self, action: &ClockAction) -> StepResult {
        let truth = self.s.true_unix_ms() as i64;
        let unix = match action {
            ClockAction::Drift(ms) => ((truth + ms).max(0) / 1000) as u64,
            ClockAction::Set(t) => *t,
        };
        self.s.drift_ms = unix as i64 * 1000 - truth;
        match self.s.command(Command::ClockSet(unix)).await? {
            Response::Ok => Ok(()),
            other => Err(StepError::Rig(RigError::Console(format!(
                "controller refused to set its clock: {other}"
            )))),
        }
    }

    /// Wait until the next time true time is `second_of_day` (UTC).
    async fn wait_until(&mut self, second_of_day: u32) -> StepResult {
        let sod = (self.s.true_unix_ms() / 1000) % 86_400;
        let target = u64::from(second_of_day);
        let wait = if target > sod {
            target - sod
        } else {
            target + 86_400 - sod
        };
        self.wait(Duration::from_secs(wait)).await
    }

    /// A code the rig's issuer gives for this rig's station (or `station`),
    /// for compartment `c`, in the day window `window` away from today's.
    fn issue(
        &mut self,
        kind: CodeKind,
        c: Option<usize>,
        size: Option<char>,
        station: Option<u32>,
        window: i64,
    ) -> Result<String, StepError> {
        let unix_time = self.s.true_unix_ms() / 1000;
        let parcel = match (kind, c) {
            (CodeKind::Pickup, c) => {
                let c = c.unwrap_or(0);
                Some(*self.parcels.get(&c).ok_or_else(|| {
                    StepError::Input(format!(
                        "issue pickup for {}: nothing was dropped off there in this case",
                        self.s.compartment_name(c)
                    ))
                })?)
            }
            _ => None,
        };
        let c = c.or((kind == CodeKind::Pickup).then_some(0));
        self.code(CodeRequest {
            kind,
            station: station.unwrap_or(self.desc.station),
            compartment: c.map(|c| self.s.compartment_name(c)),
            compartment_index: c,
            parcel,
            size,
            window: (backoffice::window(unix_time) as i64 + window).max(0) as u64,
            unix_time,
        })
    }

    /// What the rig's issuer answers `req` (a command issuer runs without
    /// holding up the runtime's other rigs); the rules checked in every
    /// case learn what the code is for.
    pub(super) fn code(&mut self, req: CodeRequest) -> Result<String, StepError> {
        let desc = self.desc;
        let code = crate::rigs::blocking(true, || issuer::issue(desc, &req))?;
        self.s.invariants.bound(&code, &req);
        Ok(code)
    }

    pub(super) async fn wait(&mut self, d: Duration) -> StepResult {
        if self.moves_clocks && d >= crate::model::cost::SHORTEN_FROM {
            return self.move_clocks(d).await;
        }
        let until = self.s.now() + d;
        self.s.wait_until(until).await?;
        Ok(())
    }

    /// A long wait taken by moving the calendar: the back office's clock
    /// (what codes are minted for) and the controller's move `d` forward
    /// at once, and the report says so.
    async fn move_clocks(&mut self, d: Duration) -> StepResult {
        self.s.moved += d;
        // The controller's clock keeps what the case set it off by.
        let unix = ((self.s.true_unix_ms() as i64 + self.s.drift_ms).max(0) / 1000) as u64;
        let shown = crate::model::units::fmt_duration(d);
        self.mark(format!(
            "wait {shown} taken by moving the clocks {shown} forward"
        ));
        match self.s.command(Command::ClockSet(unix)).await? {
            Response::Ok => {}
            other => {
                return Err(StepError::Rig(RigError::Console(format!(
                    "controller refused to set its clock: {other}"
                ))));
            }
        }
        let settled = self.s.now() + crate::model::cost::CLOCK_SETTLE;
        self.s.wait_until(settled).await?;
        if !self.caveats.iter().any(|c| c.key == "clock") {
            self.caveats.push(crate::run::verdict::Caveat {
                key: "clock",
                text: format!(
                    "long waits (from {}) were taken by moving the controller's and the back office's clocks forward, not waited in full; a case whose meaning depends on time really passing says `waits: real`",
                    crate::model::units::fmt_duration(crate::model::cost::SHORTEN_FROM)
                ),
            });
        }
        Ok(())
    }

    pub(super) async fn type_keys(&mut self, keys: &str, interval: Duration) -> StepResult {
        for (i, ch) in keys.chars().enumerate() {
            if i > 0 {
                self.wait(interval).await?;
            }
            self.act(FixtureAction::Key(ch)).await?;
        }
        Ok(())
    }

    /// A courier drop-off through the front panel, as a courier would do it.
    pub(super) async fn parcel(&mut self, compartment: &str, bind: &str) -> StepResult {
        let c = self.compartment(compartment)?;
        let code = self.issue(CodeKind::Dropoff, Some(c), None, None, 0)?;
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
                self.parcels.insert(c, parcel);
                let code = self.issue(CodeKind::Pickup, Some(c), None, None, 0)?;
                self.bind(bind.to_owned(), code);
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

    pub(super) fn note_parcels(&mut self) {
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
    pub(super) fn bind(&mut self, name: String, code: String) {
        self.s.transcript.bind(&code, &name);
        self.vars.insert(name, code);
    }
}
