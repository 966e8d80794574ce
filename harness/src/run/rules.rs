//! The reference firmware's documented rules, checked in every case on a
//! rig that runs it, against a model fed only by what the case did and
//! what the controller said (so a bench is held to them as a sim is):
//!
//! - `lockout-kept`: the fifth wrong code in a row locks the keypad for the
//!   documented time (30 s, doubling to an hour); the lockout survives power
//!   cuts, brownouts and soft resets with its time left (saved every 5 s);
//!   it neither ends early nor runs on, and no code is accepted during it;
//! - `valid-codes-only`: no code is accepted that nobody issued, that was
//!   used, that is for another station, another compartment or another day,
//!   or while the controller says it is too cold or too hot;
//! - `valid-code-accepted`: a pickup code the model is sure of (its parcel
//!   waits behind a shut door, its day is well inside its validity, no
//!   lockout, no refusal, nothing wrong with the compartment, the entry
//!   typed whole on a controller that had finished its self-test) opens
//!   its door;
//! - `temperature-policy`: E41 and E42 are raised and cleared at the
//!   documented temperatures with their hysteresis, the heater switched at
//!   its thresholds, as the controller's own `temp` reports say.
//!
//! The numbers come from [`locker_rules`], written from PROTOCOL.md and
//! shared with the firmware's model test. Where the model cannot be sure
//! (a lockout's end within a second, a code's day within minutes of an
//! edge, memory lost), it does not judge.

use crate::run::issuer::{CodeRequest, Kind};
use crate::run::obs::fmt_at;
use locker_proto::{CodeResult, DiagItem, ErrorCode, Event, Name, ResetCause};
use locker_rules::{self as rules, Attempts, Refusal, Validity};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The rules by the names a violation carries (as the invariants' do).
pub const LOCKOUT_KEPT: &str = "lockout-kept";
pub const VALID_ONLY: &str = "valid-codes-only";
pub const VALID_CODE_ACCEPTED: &str = "valid-code-accepted";
pub const TEMPERATURE_POLICY: &str = "temperature-policy";

/// Slack for what the console reports a little late or early (the
/// controller's tick, a key's 200 ms).
const SLACK: Duration = Duration::from_secs(1);
/// How long after `#` the verdict on a code may come.
const VERDICT_WITHIN: Duration = Duration::from_secs(2);
/// How far from an edge of its validity a code's day must be for the
/// model to judge it (the harness knows the controller's clock to a second
/// or two; a code's day is whole days).
const DAY_MARGIN_S: u64 = 600;
/// An unlock under way: the model judges no code until it has ended.
const UNLOCKING: Duration = Duration::from_secs(5);

/// What a bound code is, as the back office minted it.
#[derive(Debug, Clone)]
struct Code {
    kind: Kind,
    station: u32,
    compartment: Option<usize>,
    parcel: Option<u32>,
    window: u64,
}

/// The lockout as the model knows it, in rig time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lock {
    Free,
    /// Running: it ends between the two instants.
    Running {
        ends: (Duration, Duration),
        len: Duration,
    },
    /// Its time stands still (no power): this much is left.
    Frozen {
        left: (Duration, Duration),
        len: Duration,
    },
    /// The controller restarted with this much left: it must say so
    /// (`lockout <s>`) before its self-test ends.
    Resuming {
        left: (Duration, Duration),
        len: Duration,
    },
    /// Started, with a length the model does not know (memory lost).
    Unknown,
}

/// What the compartment holds, by the controller's own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Parcel { number: u32, drop_day: Option<u64> },
    Other,
}

/// An entry completed with `#`, waiting for its verdict.
#[derive(Debug, Clone)]
struct Entered {
    at: Duration,
    keys: String,
    /// Every key of it reached a controller that was up and ready.
    whole: bool,
    /// The code the model is sure opens, and which compartment.
    sure: Option<usize>,
}

#[derive(Debug, Clone)]
struct Expectation {
    by: Duration,
    what: Expect,
    why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Lockout(u32),
    Error { code: ErrorCode, raised: bool },
    Heater(bool),
}

/// The model of one case (see the module docs).
#[derive(Debug)]
pub struct Rules {
    station: u32,
    names: Vec<String>,
    codes: HashMap<String, Code>,
    attempts: Attempts,
    /// The count and doubling are known (memory was not lost).
    attempts_known: bool,
    lock: Lock,
    powered: bool,
    /// Power is known from the plant's truth.
    truthful: bool,
    /// The controller finished its self-test since it last started.
    ready: bool,
    /// The controller's clock now, unix ms.
    rtc_ms: i64,
    /// Keys of the entry under way, each with its instant.
    entry: Vec<(char, Duration)>,
    /// Every key of it reached a controller that was up and ready.
    entry_whole: bool,
    last_key: Option<Duration>,
    entered: Option<Entered>,
    held: Vec<Option<Held>>,
    open: Vec<bool>,
    /// Compartments whose door the last self-test failed.
    diag_failed: Vec<bool>,
    gone: HashSet<u32>,
    expired: HashSet<u32>,
    /// The last accepted code whose unlock has not ended: when, for which
    /// compartment, what kind of code and which.
    accepted: Option<(Duration, usize, Kind, String)>,
    /// An unlock that just ended with its door shut: when, and as above.
    ended: Option<(Duration, usize, Kind, String)>,
    /// Pickup and return codes whose door opened: spent, whether or not
    /// the parcel was taken (one left behind waits for the courier). A
    /// code whose door never opened (a jam, nobody there) stays good.
    spent: HashSet<String>,
    /// Parcels whose door opened for a pickup: every code for them is
    /// spent (one left behind waits for the courier, not its customer).
    spent_parcels: HashSet<u32>,
    /// Error codes raised and not cleared, with their compartment.
    raised: HashSet<(ErrorCode, Option<usize>)>,
    /// The refusal the controller's reported temperatures call for.
    refusal: Refusal,
    temp: Option<i32>,
    heater: Option<bool>,
    expecting: Vec<Expectation>,
    found: Vec<(Duration, &'static str, String)>,
}

impl Rules {
    pub fn new(station: u32, names: Vec<String>) -> Self {
        let n = names.len();
        Self {
            station,
            names,
            codes: HashMap::new(),
            attempts: Attempts::default(),
            attempts_known: true,
            lock: Lock::Free,
            powered: true,
            truthful: false,
            ready: false,
            rtc_ms: 0,
            entry: Vec::new(),
            entry_whole: true,
            last_key: None,
            entered: None,
            held: vec![None; n],
            open: vec![false; n],
            diag_failed: vec![false; n],
            gone: HashSet::new(),
            expired: HashSet::new(),
            accepted: None,
            ended: None,
            spent: HashSet::new(),
            spent_parcels: HashSet::new(),
            raised: HashSet::new(),
            refusal: Refusal::None,
            temp: None,
            heater: None,
            expecting: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Violations found since the last call.
    pub fn take(&mut self) -> Vec<(Duration, &'static str, String)> {
        std::mem::take(&mut self.found)
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    fn index(&self, c: &Name) -> Option<usize> {
        self.names.iter().position(|n| n.as_str() == c.as_str())
    }

    fn broke(&mut self, at: Duration, promise: &'static str, what: String) {
        self.found.push((at, promise, what));
    }

    /// A code the case bound, with what it is.
    pub fn bound(&mut self, code: &str, req: &CodeRequest) {
        self.codes.insert(
            code.to_owned(),
            Code {
                kind: req.kind,
                station: req.station,
                compartment: req.compartment_index,
                parcel: req.parcel,
                window: req.window,
            },
        );
    }

    /// The controller's clock (unix ms) at the case's last action: true
    /// time plus what the case set it off by.
    pub fn clock(&mut self, rtc_ms: i64) {
        self.rtc_ms = rtc_ms;
    }

    fn rtc_s(&self) -> u64 {
        (self.rtc_ms.max(0) / 1000) as u64
    }

    /// What the plant's truth says of the controller's power: from now on
    /// the model believes only it (not a restart) about power.
    pub fn truth_power(&mut self, on: bool, at: Duration) {
        self.truthful = true;
        self.power(on, at);
    }

    /// The controller lost or regained power.
    pub fn power(&mut self, on: bool, at: Duration) {
        self.overdue(at);
        if self.powered == on {
            return;
        }
        self.powered = on;
        if !on {
            self.ready = false;
            // Everything typed is lost, and what was typed from the cut on
            // reached nothing.
            self.entry.clear();
            self.entry_whole = false;
            self.lapse(at);
            // A pending expectation of a controller that is gone lapses.
            self.lapse_expectations();
            if let Lock::Running { ends, len } = self.lock {
                self.lock = Lock::Frozen {
                    left: (ends.0.saturating_sub(at), ends.1.saturating_sub(at)),
                    len,
                };
            }
        }
    }

    /// A code entered before a cut or restart at `at` gets no verdict; one
    /// entered at that very instant may have been judged just before it.
    fn lapse(&mut self, at: Duration) {
        self.entered = self
            .entered
            .take()
            .filter(|e| e.at >= at)
            .map(|e| Entered { sure: None, ..e });
    }

    /// What the controller was due to say when it stopped lapses; a
    /// lockout it was due to start may have been saved before the cut, or
    /// not: if it resumes, it is judged as resumed.
    fn lapse_expectations(&mut self) {
        for e in std::mem::take(&mut self.expecting) {
            if let Expect::Lockout(s) = e.what {
                let len = Duration::from_secs(u64::from(s));
                self.lock = Lock::Resuming {
                    left: (Duration::ZERO, len),
                    len,
                };
            }
        }
    }

    fn clear_entry(&mut self) {
        self.entry.clear();
        self.entry_whole = true;
    }

    /// The controller stopped or restarted at `at`: keys pressed before
    /// are gone. One pressed at that very instant may have reached it
    /// before or after (the case acts before it hears what followed its
    /// last action): it is kept, and the entry is no longer sure.
    fn cut_entry(&mut self, at: Duration) {
        self.entry.retain(|(_, t)| *t >= at);
        self.entry_whole = self.entry.is_empty();
    }

    /// A key pressed on the keypad.
    pub fn key(&mut self, ch: char, at: Duration) {
        self.overdue(at);
        if let Some(k) = self.last_key {
            let gap = at.saturating_sub(k);
            if gap >= rules::KEYPAD_TIMEOUT {
                self.clear_entry();
            }
            // At the timeout's very edge the key may come before or after
            // the controller clears: the entry is no longer sure.
            if gap.abs_diff(rules::KEYPAD_TIMEOUT) < SLACK {
                self.entry_whole = false;
            }
        }
        self.last_key = Some(at);
        let up = self.powered && self.ready;
        match ch {
            '*' => self.clear_entry(),
            '#' => {
                let keys: String = self.entry.drain(..).map(|(k, _)| k).collect();
                let whole = std::mem::replace(&mut self.entry_whole, true) && up;
                let sure = self.sure_to_open(&keys, whole, at);
                self.entered = Some(Entered {
                    at,
                    keys,
                    whole,
                    sure,
                });
            }
            d => {
                // A key the controller swallows (no power, its self-test,
                // a lockout) leaves an entry the model cannot be sure of.
                self.entry_whole &= up && self.lock == Lock::Free;
                if self.entry.len() < 64 {
                    self.entry.push((d, at));
                }
            }
        }
    }

    /// The compartment a whole entry of `keys` must open now, if the
    /// model is sure of it.
    fn sure_to_open(&self, keys: &str, whole: bool, at: Duration) -> Option<usize> {
        let code = self.codes.get(keys)?;
        let c = code.compartment?;
        let locked = !matches!(self.lock, Lock::Free);
        let temp_ok = self.temp.is_none_or(|t| {
            (rules::COLD_RESUME_ABOVE + 100..rules::HOT_RESUME_BELOW - 100).contains(&t)
        });
        let calm = whole
            && self.attempts_known
            && !locked
            && self.powered
            && self.ready
            && self.refusal == Refusal::None
            && self.raised.iter().all(|(e, _)| !matches!(e.0 / 10, 4 | 5))
            && temp_ok
            && !(0..self.names.len()).any(|i| self.in_trouble(i))
            && !self.open.iter().any(|o| *o)
            && self
                .accepted
                .as_ref()
                .is_none_or(|(a, ..)| at.saturating_sub(*a) > UNLOCKING);
        if !calm || code.kind != Kind::Pickup || code.station != self.station {
            return None;
        }
        let Some(Held::Parcel {
            number,
            drop_day: Some(drop_day),
        }) = self.held.get(c).copied().flatten()
        else {
            return None;
        };
        let rtc = self.rtc_s();
        let valid = code.parcel == Some(number)
            && !self.spent.contains(keys)
            && !self.spent_parcels.contains(&number)
            && !self.expired.contains(&number)
            && rules::validity(code.window, rules::PICKUP_VALID_DAYS, rtc) == Validity::Valid
            && rules::margin(code.window, rules::PICKUP_VALID_DAYS, rtc) >= DAY_MARGIN_S
            && code.window.abs_diff(drop_day) <= 1;
        valid.then_some(c)
    }

    /// Something the controller said.
    pub fn event(&mut self, e: &Event, at: Duration) {
        self.overdue(at);
        match e {
            Event::Reset(cause) => self.restarted(*cause, at),
            Event::Diag {
                item: DiagItem::Done,
                ..
            } => {
                self.ready = true;
                if let Lock::Resuming { left, .. } = self.lock {
                    // One that may never have been saved may be gone.
                    if left.0.is_zero() {
                        self.lock = Lock::Free;
                        return;
                    }
                    let what = format!(
                        "the controller restarted with {} left of its lockout, but finished its self-test without resuming it (no `lockout <s>`): the lockout was lost with the reset",
                        span(left)
                    );
                    self.lock = Lock::Free;
                    self.broke(at, LOCKOUT_KEPT, what);
                }
            }
            // A door the self-test finds faulty is out of service.
            Event::Diag {
                item: DiagItem::Door(c),
                result,
            } => {
                if let Some(i) = self.index(c) {
                    self.diag_failed[i] = *result == locker_proto::DiagResult::Fail;
                }
            }
            Event::Lockout { seconds } => self.lockout(*seconds, at),
            Event::LockoutEnd => self.lockout_end(at),
            Event::Code { result, c } => self.verdict(*result, c.as_ref(), at),
            // The unlock ended with the door shut (nobody opened it, or it
            // was given up at a restart): the code stays good.
            Event::Lock {
                c,
                state: locker_proto::LockState::Locked,
            } => {
                if let Some(i) = self.index(c)
                    && self.accepted.as_ref().is_some_and(|(_, ci, ..)| *ci == i)
                {
                    // Kept for a pickup settled at this instant (a restart
                    // finds the parcel gone: `lock locked`, then `pickup`).
                    self.ended = self
                        .accepted
                        .take()
                        .map(|(_, ci, k, code)| (at, ci, k, code));
                }
            }
            Event::Door { c, state } => {
                if let Some(i) = self.index(c) {
                    let open = *state == locker_proto::DoorState::Open;
                    self.open[i] = open;
                    // The door of an unlock not yet ended opened (at once,
                    // or found open when the controller restarted): the
                    // code did what it is for.
                    if open
                        && let Some((_, ci, ..)) = &self.accepted
                        && *ci == i
                        && let Some((_, _, kind, code)) = self.accepted.take()
                    {
                        if matches!(kind, Kind::Pickup | Kind::Return) {
                            self.spent.insert(code);
                        }
                        if kind == Kind::Pickup
                            && let Some(Held::Parcel { number, .. }) = self.held[i]
                        {
                            self.spent_parcels.insert(number);
                        }
                        if kind == Kind::Pickup {
                            // Earlier mistakes are forgiven, and the count
                            // is known again if memory was lost.
                            self.attempts.forgive();
                            self.attempts_known = true;
                        }
                    }
                }
            }
            Event::Dropoff { c, parcel } => {
                if let Some(i) = self.index(c) {
                    let drop_day = self.day_of_clock();
                    self.held[i] = Some(Held::Parcel {
                        number: *parcel,
                        drop_day,
                    });
                }
            }
            Event::Return { c, .. } => {
                if let Some(i) = self.index(c) {
                    self.held[i] = Some(Held::Other);
                }
            }
            Event::Pickup { c, parcel } => {
                self.gone.insert(*parcel);
                if let Some(i) = self.index(c) {
                    self.held[i] = None;
                    // Settled at a restart (the door opened while the
                    // controller was off): the pickup forgives all the same.
                    let pending = |a: &Option<(Duration, usize, Kind, String)>, now: bool| {
                        a.as_ref().is_some_and(|(t, ci, k, _)| {
                            *ci == i && *k == Kind::Pickup && (!now || *t == at)
                        })
                    };
                    let settled = if pending(&self.accepted, false) {
                        self.accepted.take()
                    } else if pending(&self.ended, true) {
                        self.ended.take()
                    } else {
                        None
                    };
                    if let Some((.., code)) = settled {
                        self.spent.insert(code);
                        self.attempts.forgive();
                        self.attempts_known = true;
                    }
                }
            }
            Event::Collected { c } => {
                if let Some(i) = self.index(c) {
                    if let Some(Held::Parcel { number, .. }) = self.held[i] {
                        self.gone.insert(number);
                    }
                    self.held[i] = None;
                }
            }
            Event::Expired { parcel, .. } => {
                self.expired.insert(*parcel);
            }
            Event::Reinstated { parcel, .. } => {
                self.expired.remove(parcel);
            }
            Event::Error { code, c } => self.error(*code, c.as_ref(), true, at),
            Event::ErrorCleared { code, c } => self.error(*code, c.as_ref(), false, at),
            Event::Temp { centi } => self.temperature(*centi, at),
            Event::Heater(on) => {
                self.heater = Some(*on);
                self.met(Expect::Heater(*on));
            }
            _ => {}
        }
    }

    /// The day by the controller's clock, when not within minutes of a
    /// midnight (where the harness could be a day off).
    fn day_of_clock(&self) -> Option<u64> {
        let rtc = self.rtc_s();
        let into = rtc % rules::DAY_S;
        (into > DAY_MARGIN_S && into < rules::DAY_S - DAY_MARGIN_S).then_some(rtc / rules::DAY_S)
    }

    fn restarted(&mut self, cause: ResetCause, at: Duration) {
        // Whatever cut it, the controller has power again (where the plant
        // says so, it says when).
        if !self.truthful {
            self.powered = true;
        }
        self.ready = false;
        self.cut_entry(at);
        self.lapse(at);
        // A soft reset restarts the session, not the controller: its
        // errors, its temperature policy and a lockout run on.
        if cause == ResetCause::Soft {
            return;
        }
        self.lapse_expectations();
        self.raised.clear();
        self.diag_failed.fill(false);
        self.open.fill(false);
        self.refusal = Refusal::None;
        self.temp = None;
        self.heater = None;
        if cause == ResetCause::Factory {
            *self = Self {
                codes: std::mem::take(&mut self.codes),
                found: std::mem::take(&mut self.found),
                truthful: self.truthful,
                powered: self.powered,
                ..Self::new(self.station, std::mem::take(&mut self.names))
            };
            return;
        }
        self.lock = match self.lock {
            // A restart without a power loss the truth saw (a brownout):
            // what is left now.
            Lock::Running { ends, len } => Lock::Resuming {
                left: (ends.0.saturating_sub(at), ends.1.saturating_sub(at)),
                len,
            },
            Lock::Frozen { left, len } => Lock::Resuming { left, len },
            other => other,
        };
    }

    fn lockout(&mut self, seconds: u32, at: Duration) {
        let said = Duration::from_secs(u64::from(seconds));
        let expected = self.expecting.iter().find_map(|e| match e.what {
            Expect::Lockout(s) => Some(s),
            _ => None,
        });
        self.expecting
            .retain(|e| !matches!(e.what, Expect::Lockout(_)));
        match (self.lock, expected) {
            (_, Some(s)) => {
                if s != seconds {
                    let what = format!(
                        "the keypad locked for {seconds} s, but after {} earlier lockout(s) since the last pickup the lockout is {s} s (30 s, doubling to an hour)",
                        self.attempts.lockouts.saturating_sub(1)
                    );
                    self.broke(at, LOCKOUT_KEPT, what);
                }
                self.locked(at, (said, said), said);
            }
            (Lock::Resuming { left, len }, None) => {
                let (lo, hi) = rules::resumed(left.0, len);
                let hi = hi.max(left.1 + rules::LOCKOUT_SAVED_EVERY).min(len);
                // `lockout <s>` rounds the time left up to a second.
                if said + SLACK < lo || said > hi + SLACK {
                    let what = format!(
                        "the controller resumed its lockout with {seconds} s left, but {} was left when it stopped (saved every 5 s, so {} to {} on resuming)",
                        span(left),
                        secs(lo),
                        secs(hi)
                    );
                    self.broke(at, LOCKOUT_KEPT, what);
                }
                self.locked(at, (said.saturating_sub(SLACK), said), len);
            }
            (Lock::Unknown, None) => {
                self.locked(at, (said.saturating_sub(SLACK), said), said);
            }
            // Announced again while it runs (a restart the model took for
            // none): it must still be what is left.
            (Lock::Running { ends, len }, None) => {
                let left = (ends.0.saturating_sub(at), ends.1.saturating_sub(at));
                let hi = left.1 + rules::LOCKOUT_SAVED_EVERY + SLACK;
                if said + SLACK < left.0 || said > hi {
                    let what = format!(
                        "the controller announced its lockout with {seconds} s left, but {} was left",
                        span(left)
                    );
                    self.broke(at, LOCKOUT_KEPT, what);
                }
                self.locked(at, (said.saturating_sub(SLACK), said), len);
            }
            (_, None) if !self.attempts_known => {
                self.locked(at, (said.saturating_sub(SLACK), said), said);
            }
            (_, None) => {
                let what = format!(
                    "the keypad locked for {seconds} s after {} wrong code(s) in a row; it locks after the fifth",
                    self.attempts.wrong
                );
                self.broke(at, LOCKOUT_KEPT, what);
                self.locked(at, (said, said), said);
            }
        }
    }

    /// A lockout with `left` to go from `at`: running, or standing still
    /// when the controller said so as its power went.
    fn locked(&mut self, at: Duration, left: (Duration, Duration), len: Duration) {
        self.lock = match self.powered {
            true => Lock::Running {
                ends: (at + left.0, at + left.1),
                len,
            },
            false => Lock::Frozen { left, len },
        };
    }

    fn lockout_end(&mut self, at: Duration) {
        if let Lock::Running { ends, len } = self.lock
            && at + SLACK < ends.0
        {
            let what = format!(
                "the lockout of {} ended at {}, {} early",
                secs(len),
                fmt_at(at),
                secs(ends.0 - at)
            );
            self.broke(at, LOCKOUT_KEPT, what);
        }
        self.lock = Lock::Free;
    }

    fn verdict(&mut self, result: CodeResult, c: Option<&Name>, at: Duration) {
        let entered = self
            .entered
            .take()
            .filter(|e| at.saturating_sub(e.at) <= VERDICT_WITHIN);
        let i = c.and_then(|c| self.index(c));
        if result == CodeResult::Wrong
            && self.attempts_known
            && matches!(self.lock, Lock::Free)
            && let Some(len) = self.attempts.wrong()
        {
            self.expecting.push(Expectation {
                by: at + SLACK,
                what: Expect::Lockout(len.as_secs() as u32),
                why: format!(
                    "the fifth wrong code in a row (at {}) did not lock the keypad ({} s due)",
                    fmt_at(at),
                    len.as_secs()
                ),
            });
        }
        if let Some(e) = &entered
            && let Some(sure) = e.sure
            && (result != CodeResult::Accepted || i != Some(sure))
        {
            let what = format!(
                "a valid pickup code for {} (its parcel waiting, its day well inside its validity, no lockout, no refusal, nothing wrong with the compartment), typed whole at {}, got `code {result}`",
                self.name(sure),
                fmt_at(e.at)
            );
            self.broke(at, VALID_CODE_ACCEPTED, what);
        }
        if result != CodeResult::Accepted {
            return;
        }
        let Some(i) = i else { return };
        if let Lock::Running { ends, len } = self.lock
            && at + SLACK < ends.0
        {
            let what = format!(
                "a code was accepted for {} during a lockout of {} that had {} to go",
                self.name(i),
                secs(len),
                secs(ends.0 - at)
            );
            self.broke(at, LOCKOUT_KEPT, what);
        }
        let refusal = [ErrorCode::TOO_COLD, ErrorCode::TOO_HOT]
            .into_iter()
            .find(|e| self.raised.contains(&(*e, None)));
        if let Some(e) = refusal {
            let what = format!(
                "a code was accepted for {} while {e} said it was too {} to actuate",
                self.name(i),
                if e == ErrorCode::TOO_COLD {
                    "cold"
                } else {
                    "hot"
                }
            );
            self.broke(at, VALID_ONLY, what);
        }
        let Some(e) = entered else { return };
        // The codes the entry ends with (keys may have been cleared in the
        // controller that the model still counts): the one accepted is one.
        let code = (self.codes.iter())
            .filter(|(k, _)| e.keys.ends_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(k, c)| (k.clone(), c.clone()));
        let Some((keys, code)) = code else {
            if !e.whole {
                // Keys that crossed a restart: the controller may have
                // had more of them than the model.
                return;
            }
            let what = format!(
                "a code nobody issued ({} digits) was accepted for {}",
                e.keys.len(),
                self.name(i)
            );
            self.broke(at, VALID_ONLY, what);
            return;
        };
        self.accepted = Some((at, i, code.kind, keys.clone()));
        if let Some(why) = self.invalid(&keys, &code, i) {
            let what = format!(
                "a {} code was accepted for {}, but {why}",
                kind_word(code.kind),
                self.name(i)
            );
            self.broke(at, VALID_ONLY, what);
        }
    }

    /// Why `code` must not open compartment `i` now, when the model is sure.
    fn invalid(&self, keys: &str, code: &Code, i: usize) -> Option<String> {
        if code.station != self.station {
            return Some(format!(
                "it was issued for station {}, not this one ({})",
                code.station, self.station
            ));
        }
        if let Some(c) = code.compartment
            && c != i
            && code.kind != Kind::Return
        {
            return Some(format!("it was issued for {}", self.name(c)));
        }
        let rtc = self.rtc_s();
        let days = match code.kind {
            Kind::Pickup => rules::PICKUP_VALID_DAYS,
            _ => rules::SERVICE_VALID_DAYS,
        };
        if rules::margin(code.window, days, rtc) >= DAY_MARGIN_S {
            match rules::validity(code.window, days, rtc) {
                Validity::Valid => {}
                v => {
                    return Some(format!(
                        "by the controller's clock it is {} (issued for day {}, valid {days} day(s), 5 minutes either way)",
                        if v == Validity::Early {
                            "not valid yet"
                        } else {
                            "no longer valid"
                        },
                        code.window
                    ));
                }
            }
        }
        match code.kind {
            Kind::Pickup => {
                if self.spent.contains(keys) {
                    return Some("its door opened for it before: the code was spent".into());
                }
                let parcel = code.parcel?;
                if self.spent_parcels.contains(&parcel) {
                    return Some(format!(
                        "parcel {parcel}'s door opened for its pickup before: its codes are spent"
                    ));
                }
                if self.gone.contains(&parcel) {
                    return Some(format!(
                        "parcel {parcel} was already taken: the code was used"
                    ));
                }
                None
            }
            Kind::Return if self.spent.contains(keys) => {
                Some("a door opened for that return code before: it works once".into())
            }
            _ => None,
        }
    }

    /// Whether compartment `i` is out of service: a fault raised for it
    /// (E21, E31, E32, E33) or its door failed by the last self-test.
    fn in_trouble(&self, i: usize) -> bool {
        self.diag_failed.get(i).copied().unwrap_or(false)
            || (self.raised.iter()).any(|(e, c)| *c == Some(i) && matches!(e.0, 21 | 31 | 32 | 33))
    }

    fn error(&mut self, code: ErrorCode, c: Option<&Name>, raised: bool, at: Duration) {
        let ci = c.and_then(|c| self.index(c));
        if raised {
            self.raised.insert((code, ci));
        } else {
            self.raised.remove(&(code, ci));
        }
        if matches!(code.0, 21 | 31 | 32 | 33)
            && let Some(i) = ci
        {
            // A jam ends the unlock: the code stays good.
            if code == ErrorCode::JAM
                && raised
                && self.accepted.as_ref().is_some_and(|(_, ci, ..)| *ci == i)
            {
                self.accepted = None;
            }
        }
        if code == ErrorCode::MEMORY && raised {
            // What the controller knew is gone: the model no longer knows
            // its count, its lockout or what its compartments hold.
            self.attempts_known = false;
            self.lock = Lock::Unknown;
            self.held.fill(None);
        }
        if matches!(code, ErrorCode::TOO_COLD | ErrorCode::TOO_HOT) {
            let expected = Expect::Error { code, raised };
            if !self.met(expected) && self.temp.is_some() {
                let what = format!(
                    "{code} was {} at {}, but the last temperature reported ({}) does not call for it (refuse below -20 C until above -17 C, above 60 C until below 57 C)",
                    if raised { "raised" } else { "cleared" },
                    fmt_at(at),
                    self.temp.map_or("none".into(), celsius)
                );
                self.broke(at, TEMPERATURE_POLICY, what);
            }
        }
    }

    /// An expected event came: true when it was expected.
    fn met(&mut self, what: Expect) -> bool {
        let before = self.expecting.len();
        self.expecting.retain(|e| e.what != what);
        self.expecting.len() != before
    }

    fn temperature(&mut self, centi: i32, at: Duration) {
        self.temp = Some(centi);
        let next = rules::refusal(self.refusal, centi);
        let by = at + SLACK;
        let change = |code, raised, why: String| Expectation {
            by,
            what: Expect::Error { code, raised },
            why,
        };
        let t = celsius(centi);
        match (self.refusal, next) {
            (Refusal::None, Refusal::Cold) => self.expecting.push(change(
                ErrorCode::TOO_COLD,
                true,
                format!("at {t} the controller did not raise E41 (too cold below -20 C)"),
            )),
            (Refusal::None, Refusal::Hot) => self.expecting.push(change(
                ErrorCode::TOO_HOT,
                true,
                format!("at {t} the controller did not raise E42 (too hot above 60 C)"),
            )),
            (Refusal::Cold, Refusal::None) => self.expecting.push(change(
                ErrorCode::TOO_COLD,
                false,
                format!("at {t} the controller did not clear E41 (it resumes above -17 C)"),
            )),
            (Refusal::Hot, Refusal::None) => self.expecting.push(change(
                ErrorCode::TOO_HOT,
                false,
                format!("at {t} the controller did not clear E42 (it resumes below 57 C)"),
            )),
            _ => {}
        }
        self.refusal = next;
        // Heater: on below 5 C, off above 8 C.
        let want = match self.heater {
            Some(false) | None if centi < 500 => Some(true),
            Some(true) if centi > 800 => Some(false),
            _ => None,
        };
        if let Some(on) = want {
            self.expecting.push(Expectation {
                by,
                what: Expect::Heater(on),
                why: format!(
                    "at {t} the heater was not switched {} (on below 5 C, off above 8 C)",
                    if on { "on" } else { "off" }
                ),
            });
        }
    }

    /// Expectations whose time ran out by `now`, and a lockout that ran on.
    pub fn overdue(&mut self, now: Duration) {
        let (late, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.expecting)
            .into_iter()
            .partition(|e| now > e.by);
        self.expecting = keep;
        for e in late {
            let promise = match e.what {
                Expect::Lockout(_) => LOCKOUT_KEPT,
                _ => TEMPERATURE_POLICY,
            };
            if let Expect::Lockout(s) = e.what {
                // Locked all the same, with a length the case will see.
                let len = Duration::from_secs(u64::from(s));
                self.lock = Lock::Running {
                    ends: (e.by, e.by + len),
                    len,
                };
            }
            self.broke(e.by, promise, e.why);
        }
        if let Lock::Running { ends, len } = self.lock
            && self.powered
            && now > ends.1 + 2 * SLACK
        {
            let what = format!(
                "the lockout of {} should have ended by {} and had not (no `lockout-end`)",
                secs(len),
                fmt_at(ends.1)
            );
            self.lock = Lock::Free;
            self.broke(ends.1 + 2 * SLACK, LOCKOUT_KEPT, what);
        }
        if let Some(e) = &self.entered
            && now > e.at + VERDICT_WITHIN
        {
            let e = self.entered.take();
            if let Some(Entered {
                at, sure: Some(c), ..
            }) = e
            {
                let what = format!(
                    "a valid pickup code for {} (its parcel waiting, its day well inside its validity, no lockout, no refusal), typed whole at {}, got no verdict at all",
                    self.name(c),
                    fmt_at(at)
                );
                self.broke(at + VERDICT_WITHIN, VALID_CODE_ACCEPTED, what);
            }
        }
    }
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Pickup => "pickup",
        Kind::Dropoff => "drop-off",
        Kind::Return => "return",
        Kind::Collect => "collection",
    }
}

fn celsius(centi: i32) -> String {
    format!("{:.2} C", f64::from(centi) / 100.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn span((lo, hi): (Duration, Duration)) -> String {
    if hi.saturating_sub(lo) < Duration::from_millis(100) {
        secs(lo)
    } else {
        format!("{} to {}", secs(lo), secs(hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locker_proto::{DiagResult, DoorState, LockState};

    const STATION: u32 = 4711;
    /// 2026-03-02 09:00 UTC, as unix ms.
    const NOW_MS: i64 = 1_772_442_000_000;
    const TODAY: u64 = 20_514;

    fn name(s: &str) -> Name {
        Name::try_from(s).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A model whose controller has finished its self-test at +0.
    fn ready() -> Rules {
        let mut r = Rules::new(STATION, vec!["S1".into(), "M1".into()]);
        r.clock(NOW_MS);
        r.truth_power(true, ms(0));
        r.event(&Event::Reset(ResetCause::PowerOn), ms(0));
        r.event(
            &Event::Diag {
                item: DiagItem::Done,
                result: DiagResult::Ok,
            },
            ms(0),
        );
        r
    }

    fn broken(r: &mut Rules) -> Vec<(&'static str, String)> {
        r.take().into_iter().map(|(_, p, w)| (p, w)).collect()
    }

    fn wrong(r: &mut Rules, at: u64) {
        r.event(
            &Event::Code {
                result: CodeResult::Wrong,
                c: None,
            },
            ms(at),
        );
    }

    fn lockout(r: &mut Rules, seconds: u32, at: u64) {
        r.event(&Event::Lockout { seconds }, ms(at));
    }

    fn typed(r: &mut Rules, keys: &str, at: u64) {
        for (i, ch) in keys.chars().enumerate() {
            r.key(ch, ms(at + i as u64 * 200));
        }
    }

    fn bind(r: &mut Rules, code: &str, kind: Kind, c: usize, station: u32, window: u64) {
        let req = CodeRequest {
            kind,
            station,
            compartment: None,
            compartment_index: Some(c),
            parcel: Some(7),
            size: None,
            window,
            unix_time: TODAY * 86_400,
        };
        r.bound(code, &req);
    }

    fn accepted(r: &mut Rules, c: &str, at: u64) {
        r.event(
            &Event::Code {
                result: CodeResult::Accepted,
                c: Some(name(c)),
            },
            ms(at),
        );
    }

    #[test]
    fn the_fifth_wrong_code_in_a_row_locks_for_30_s_then_60_s() {
        let mut r = ready();
        for i in 0..5 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        lockout(&mut r, 30, 5_000);
        assert!(broken(&mut r).is_empty());
        r.event(&Event::LockoutEnd, ms(35_000));
        for i in 0..5 {
            wrong(&mut r, 40_000 + 1_000 * i);
        }
        lockout(&mut r, 30, 44_000);
        let b = broken(&mut r);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].1.contains("the lockout is 60 s"), "{b:?}");
    }

    #[test]
    fn a_lockout_after_four_wrong_codes_or_none_after_five_is_broken() {
        let mut r = ready();
        for i in 0..4 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        lockout(&mut r, 30, 4_000);
        assert!(broken(&mut r)[0].1.contains("after 4 wrong code(s)"));
        let mut r = ready();
        for i in 0..5 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        r.overdue(ms(6_001));
        let b = broken(&mut r);
        assert!(b[0].1.contains("did not lock the keypad"), "{b:?}");
    }

    #[test]
    fn a_pickup_forgives_the_count() {
        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        for i in 0..4 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        typed(&mut r, "12345678#", 10_000);
        accepted(&mut r, "M1", 11_600);
        r.event(
            &Event::Door {
                c: name("M1"),
                state: DoorState::Open,
            },
            ms(11_900),
        );
        wrong(&mut r, 20_000);
        r.overdue(ms(30_000));
        assert!(broken(&mut r).is_empty());
    }

    /// Cut with 12 s left: the controller may resume with 12 to 17 s
    /// (saved every 5 s), and must resume before its self-test ends.
    #[test]
    fn a_lockout_resumes_after_a_cut_with_what_was_left_up_to_5_s_more() {
        for (said, ok) in [(12, true), (17, true), (30, false)] {
            let mut r = ready();
            for i in 0..5 {
                wrong(&mut r, 1_000 * (i + 1));
            }
            lockout(&mut r, 30, 5_000);
            r.truth_power(false, ms(23_000));
            r.truth_power(true, ms(60_000));
            r.event(&Event::Reset(ResetCause::PowerOn), ms(60_050));
            lockout(&mut r, said, 60_050);
            assert_eq!(broken(&mut r).is_empty(), ok, "resumed with {said} s");
        }
        let mut r = ready();
        for i in 0..5 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        lockout(&mut r, 30, 5_000);
        r.event(&Event::Reset(ResetCause::Brownout), ms(10_000));
        r.event(
            &Event::Diag {
                item: DiagItem::Done,
                result: DiagResult::Ok,
            },
            ms(10_200),
        );
        assert!(broken(&mut r)[0].1.contains("without resuming it"));
    }

    #[test]
    fn no_code_is_accepted_during_a_lockout() {
        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        for i in 0..5 {
            wrong(&mut r, 1_000 * (i + 1));
        }
        lockout(&mut r, 30, 5_000);
        typed(&mut r, "12345678#", 10_000);
        accepted(&mut r, "M1", 11_600);
        assert_eq!(broken(&mut r)[0].0, LOCKOUT_KEPT);
    }

    #[test]
    fn codes_nobody_issued_for_another_station_or_spent_are_not_accepted() {
        let mut r = ready();
        typed(&mut r, "87654321#", 1_000);
        accepted(&mut r, "M1", 2_600);
        assert!(broken(&mut r)[0].1.contains("nobody issued"));

        let mut r = ready();
        bind(&mut r, "22222222", Kind::Pickup, 1, 4712, TODAY);
        typed(&mut r, "22222222#", 1_000);
        accepted(&mut r, "M1", 2_600);
        assert!(broken(&mut r)[0].1.contains("station 4712"));

        let mut r = ready();
        bind(&mut r, "33333333", Kind::Pickup, 1, STATION, TODAY - 4);
        typed(&mut r, "33333333#", 1_000);
        accepted(&mut r, "M1", 2_600);
        assert!(broken(&mut r)[0].1.contains("no longer valid"));

        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        typed(&mut r, "12345678#", 1_000);
        accepted(&mut r, "M1", 2_600);
        r.event(
            &Event::Door {
                c: name("M1"),
                state: DoorState::Open,
            },
            ms(2_900),
        );
        r.event(
            &Event::Lock {
                c: name("M1"),
                state: LockState::Locked,
            },
            ms(9_000),
        );
        typed(&mut r, "12345678#", 10_000);
        accepted(&mut r, "M1", 11_600);
        let b = broken(&mut r);
        assert!(b[0].1.contains("spent"), "{b:?}");
    }

    #[test]
    fn a_valid_pickup_code_refused_is_broken() {
        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        r.event(
            &Event::Dropoff {
                c: name("M1"),
                parcel: 7,
            },
            ms(500),
        );
        typed(&mut r, "12345678#", 1_000);
        wrong(&mut r, 2_600);
        let b = broken(&mut r);
        assert_eq!(b[0].0, VALID_CODE_ACCEPTED, "{b:?}");
    }

    /// A cut between the fifth wrong code and its `lockout`: the controller
    /// may resume the lockout or not; neither is a broken promise.
    #[test]
    fn a_lockout_due_at_a_cut_may_resume_or_not() {
        for resumes in [true, false] {
            let mut r = ready();
            for i in 0..5 {
                wrong(&mut r, 1_000 * (i + 1));
            }
            r.truth_power(false, ms(5_000));
            r.truth_power(true, ms(9_000));
            r.event(&Event::Reset(ResetCause::PowerOn), ms(9_050));
            if resumes {
                lockout(&mut r, 30, 9_050);
            }
            r.event(
                &Event::Diag {
                    item: DiagItem::Done,
                    result: DiagResult::Ok,
                },
                ms(9_200),
            );
            assert!(broken(&mut r).is_empty(), "resumes: {resumes}");
        }
    }

    /// A parcel left behind (its door opened, its package still in): any
    /// code for it is spent, not only the one typed (found by explore).
    #[test]
    fn every_code_of_a_parcel_left_behind_is_spent() {
        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        bind(&mut r, "87654321", Kind::Pickup, 1, STATION, TODAY - 1);
        r.event(
            &Event::Dropoff {
                c: name("M1"),
                parcel: 7,
            },
            ms(500),
        );
        typed(&mut r, "12345678#", 10_000);
        accepted(&mut r, "M1", 11_600);
        for (open, at) in [(DoorState::Open, 11_900), (DoorState::Closed, 13_000)] {
            r.event(
                &Event::Door {
                    c: name("M1"),
                    state: open,
                },
                ms(at),
            );
        }
        typed(&mut r, "87654321#", 20_000);
        r.event(
            &Event::Code {
                result: CodeResult::Used,
                c: Some(name("M1")),
            },
            ms(21_600),
        );
        r.overdue(ms(30_000));
        assert!(broken(&mut r).is_empty());
    }

    /// Two faults on one compartment: clearing one leaves it out of
    /// service, so a refusal of its code is not judged.
    #[test]
    fn a_compartment_stays_in_trouble_while_any_fault_is_raised() {
        let mut r = ready();
        bind(&mut r, "12345678", Kind::Pickup, 1, STATION, TODAY);
        r.event(
            &Event::Dropoff {
                c: name("M1"),
                parcel: 7,
            },
            ms(500),
        );
        for (code, raised) in [
            (ErrorCode::JAM, true),
            (ErrorCode::DOOR_SENSOR, true),
            (ErrorCode::DOOR_SENSOR, false),
        ] {
            let c = Some(name("M1"));
            let e = match raised {
                true => Event::Error { code, c },
                false => Event::ErrorCleared { code, c },
            };
            r.event(&e, ms(600));
        }
        typed(&mut r, "12345678#", 10_000);
        r.event(
            &Event::Code {
                result: CodeResult::Unavailable,
                c: Some(name("M1")),
            },
            ms(11_600),
        );
        r.overdue(ms(20_000));
        assert!(broken(&mut r).is_empty());
    }

    /// Refuse below -20 C until above -17 C; the heater on below 5 C.
    #[test]
    fn the_temperature_policy_follows_the_reported_temperatures() {
        let temp = |r: &mut Rules, centi, at| r.event(&Event::Temp { centi }, ms(at));
        let err = |r: &mut Rules, raised: bool, at| {
            let e = match raised {
                true => Event::Error {
                    code: ErrorCode::TOO_COLD,
                    c: None,
                },
                false => Event::ErrorCleared {
                    code: ErrorCode::TOO_COLD,
                    c: None,
                },
            };
            r.event(&e, ms(at));
        };
        let mut r = ready();
        temp(&mut r, 400, 1_000);
        r.event(&Event::Heater(true), ms(1_000));
        temp(&mut r, -2_000, 11_000);
        temp(&mut r, -2_001, 21_000);
        err(&mut r, true, 21_000);
        temp(&mut r, -1_700, 31_000);
        temp(&mut r, -1_699, 41_000);
        err(&mut r, false, 41_000);
        r.overdue(ms(60_000));
        assert!(broken(&mut r).is_empty());

        let mut r = ready();
        temp(&mut r, -2_000, 1_000);
        err(&mut r, true, 1_000);
        let b = broken(&mut r);
        assert_eq!(b[0].0, TEMPERATURE_POLICY, "{b:?}");
        let mut r = ready();
        temp(&mut r, 499, 1_000);
        r.overdue(ms(3_000));
        assert!(broken(&mut r)[0].1.contains("heater was not switched on"));
    }
}
