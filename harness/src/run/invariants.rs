//! Promises a locker controller keeps at every instant of every case,
//! whatever the suite says, checked by the runner against what really
//! happened on the rig:
//!
//! - no bolt leaves its strike without a code accepted for that compartment
//!   in the [`UNLATCH_AFTER_CODE`] before, and no code entered releases two
//!   compartments;
//! - no bolt stays out of its strike behind a shut door longer than
//!   [`UNLATCHED_SHUT`] (a door left unlocked unattended);
//! - every transaction the controller announces reaches the back office
//!   once it has had power and a working link for [`RECORD_DEADLINE`], and
//!   none reaches it more often than it was announced;
//! - parcels are conserved: at the end, a settled compartment holds a
//!   package exactly when the controller's own account (drop-offs and
//!   returns in, pickups and collections out) says it does, unless it raised
//!   its tamper alarm (E33) for it.
//!
//! The truth (bolts, doors, packages, power, links as they really are, not
//! as a sensor the case may have stuck reports them) comes from a model
//! rig's plant ([`Truth`]); a bench's instruments do not report it, so there
//! only the promises the console alone can show are checked (one code, one
//! compartment; no record at the back office more often than announced).
//! The first violation fails the case with its instant and its evidence.

use crate::model::suite::{PowerAction, Sensor};
use crate::rigs::{FixtureAction, Truth};
use crate::run::issuer::CodeRequest;
use crate::run::obs::fmt_at;
use crate::run::rules::Rules;
use locker_proto::{CodeResult, ErrorCode, Event, Name, UplinkKind};
use std::collections::HashMap;
use std::time::Duration;

/// How long before a bolt leaves its strike a code for that compartment
/// must have been accepted. The longest unlock the reference firmware makes
/// (three pulses of up to twice the coldest pulse, two 0.5 s reliefs
/// between) takes under 3 s.
pub const UNLATCH_AFTER_CODE: Duration = Duration::from_secs(5);
/// How long a bolt may stay out of its strike behind a shut door: the
/// controller holds it 3 s for the door to open, then locks again.
pub const UNLATCHED_SHUT: Duration = Duration::from_secs(5);
/// How long an announced transaction may take to reach the back office once
/// the controller has power and a working link (it retries an offline link
/// every 30 s and drains its queue in well under that).
pub const RECORD_DEADLINE: Duration = Duration::from_secs(60);
/// How long a compartment must have been shut and latched, with nothing
/// moving in it, before its contents are judged at the end of a case.
pub const SETTLED: Duration = Duration::from_secs(1);
/// The promises by the names a violation carries ([`broken`]), which
/// `harness explore` groups what it finds by.
pub const NO_UNLOCK_WITHOUT_CODE: &str = "no-unlock-without-code";
pub const ONE_CODE_ONE_COMPARTMENT: &str = "one-code-one-compartment";
pub const NOT_LEFT_UNLOCKED: &str = "not-left-unlocked";
pub const RECORDED_ONCE: &str = "recorded-once";
pub const PARCELS_CONSERVED: &str = "parcels-conserved";

/// How a broken promise reads: `invariant `<promise>` broken at <instant>: <evidence>`.
pub fn broken(promise: &str, at: Duration, what: &str) -> String {
    format!("invariant `{promise}` broken at {}: {what}", fmt_at(at))
}

/// The promise a failure message says was broken (the inverse of [`broken`]).
pub fn promise_of(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invariant `")?;
    let (promise, rest) = rest.split_once('`')?;
    rest.starts_with(" broken at ").then_some(promise)
}

/// Power and link changes kept for the record deadline (a case that flips
/// them more often keeps the latest).
const MAX_INTERVALS: usize = 4096;

/// What the controller says is in a compartment, and since when.
#[derive(Debug, Clone)]
struct Holds {
    what: String,
    at: Duration,
}

#[derive(Debug, Clone, Default)]
struct Compartment {
    /// When the bolt left its strike, while it is out.
    unlatched_at: Option<Duration>,
    door_open: bool,
    package: bool,
    /// When the bolt, door or package last changed.
    moved_at: Duration,
    /// The last code accepted for this compartment.
    accepted_at: Option<Duration>,
    /// The controller's account of what it holds.
    holds: Option<Holds>,
    /// Why its contents are not judged (a tamper alarm, a stuck sensor).
    excused: Option<String>,
}

/// A transaction the controller announced on its console.
#[derive(Debug, Clone)]
struct Announced {
    at: Duration,
    key: RecordKey,
    /// Why it need not arrive: refused by a full queue, or memory the case
    /// corrupted.
    excused: bool,
}

/// The records whose transactions the console announces one by one (the
/// others, faults and lockouts, are announced as errors, and a lockout
/// again after every restart).
const TRANSACTIONS: [UplinkKind; 6] = [
    UplinkKind::Dropoff,
    UplinkKind::Pickup,
    UplinkKind::Return,
    UplinkKind::Collect,
    UplinkKind::Expired,
    UplinkKind::Reinstated,
];

/// What identifies a transaction's record: its kind, the compartment's
/// index and its value (a collection's value is not on the console).
type RecordKey = (UplinkKind, usize, Option<u32>);

/// The checks of one case (see the module docs).
#[derive(Debug, Default)]
pub struct Invariants {
    names: Vec<String>,
    /// The rig reports its plant's truth.
    truthful: bool,
    comps: Vec<Compartment>,
    power: bool,
    links: bool,
    /// Intervals with power and a link, `(from, to)`; the last may be open.
    up: Vec<(Duration, Option<Duration>)>,
    /// Codes accepted since the last Enter press.
    accepted_since_enter: Vec<(Duration, String)>,
    announced: Vec<Announced>,
    /// Records the back office received, each sequence number once.
    delivered: HashMap<RecordKey, u32>,
    /// E62 raised and not cleared: a record announced now may be refused.
    queue_full: bool,
    /// The reference firmware's rules, when the rig runs it.
    rules: Option<Rules>,
    /// The case's last power action turned the supply off.
    cut: bool,
    violation: Option<String>,
}

fn key_of(kind: UplinkKind, compartment: usize, value: u32) -> RecordKey {
    let value = (kind != UplinkKind::Collect).then_some(value);
    (kind, compartment, value)
}

fn describe(key: &RecordKey, names: &[String]) -> String {
    let (kind, c, value) = key;
    let c = names.get(*c).map_or("?", String::as_str);
    match value {
        Some(v) => format!("`{kind}` record of {v} from {c}"),
        None => format!("`{kind}` record from {c}"),
    }
}

impl Invariants {
    pub fn new(names: Vec<String>) -> Self {
        let comps = vec![Compartment::default(); names.len()];
        Self {
            names,
            comps,
            ..Self::default()
        }
    }

    /// Also hold the controller to the reference firmware's documented
    /// rules, as station `station`.
    pub fn with_rules(mut self, station: u32) -> Self {
        self.rules = Some(Rules::new(station, self.names.clone()));
        self
    }

    /// Run `f` on the rules, if checked, and keep what they found broken.
    fn rules(&mut self, f: impl FnOnce(&mut Rules)) {
        let Some(r) = self.rules.as_mut() else {
            return;
        };
        f(r);
        for (at, promise, what) in r.take() {
            self.violate(at, promise, what);
        }
    }

    /// A code the case bound, and what the back office minted it for.
    pub fn bound(&mut self, code: &str, req: &CodeRequest) {
        self.rules(|r| r.bound(code, req));
    }

    /// The controller's clock now (unix ms), as the case has set it.
    pub fn clock(&mut self, rtc_ms: i64) {
        self.rules(|r| r.clock(rtc_ms));
    }

    fn index(&self, c: &Name) -> Option<usize> {
        self.names.iter().position(|n| n.as_str() == c.as_str())
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    fn violate(&mut self, at: Duration, promise: &'static str, what: String) {
        if self.violation.is_none() {
            self.violation = Some(broken(promise, at, &what));
        }
    }

    /// Rig time has reached `now`: promises whose time ran out by then
    /// are judged (a verdict that never came, a bolt out too long), though
    /// nothing was said or done to bring them up.
    pub fn until(&mut self, now: Duration) {
        self.overdue(now);
        self.rules(|r| r.overdue(now));
    }

    /// Whether the case left the controller without power: the plant's
    /// truth where there is one, else the case's last power action.
    pub fn unpowered(&self) -> bool {
        match self.truthful {
            true => !self.power,
            false => self.cut,
        }
    }

    /// The first promise broken so far.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Something the controller said.
    pub fn event(&mut self, e: &Event, at: Duration) {
        self.overdue(at);
        self.rules(|r| r.event(e, at));
        match e {
            Event::Code {
                result: CodeResult::Accepted,
                c: Some(c),
            } => {
                if let Some(i) = self.index(c) {
                    self.comps[i].accepted_at = Some(at);
                }
                self.accepted_since_enter.push((at, c.to_string()));
                if let [(a, first), .., (b, second)] = &self.accepted_since_enter[..] {
                    let what = format!(
                        "one code entered released two compartments: accepted for {first} at {} and for {second} at {}",
                        fmt_at(*a),
                        fmt_at(*b)
                    );
                    self.violate(at, ONE_CODE_ONE_COMPARTMENT, what);
                }
            }
            Event::Dropoff { c, parcel } => self.put(
                c,
                at,
                format!("parcel {parcel}"),
                UplinkKind::Dropoff,
                Some(*parcel),
            ),
            Event::Return { c, id } => {
                self.put(c, at, format!("return {id}"), UplinkKind::Return, Some(*id))
            }
            Event::Pickup { c, parcel } => self.take(c, at, UplinkKind::Pickup, Some(*parcel)),
            Event::Collected { c } => self.take(c, at, UplinkKind::Collect, None),
            Event::Expired { c, parcel } => {
                self.announce(c, at, UplinkKind::Expired, Some(*parcel))
            }
            Event::Reinstated { c, parcel } => {
                self.announce(c, at, UplinkKind::Reinstated, Some(*parcel))
            }
            Event::Error { code, c } => match (*code, c) {
                (ErrorCode::TAMPER, Some(c)) => {
                    if let Some(i) = self.index(c) {
                        let why =
                            format!("the controller raised its tamper alarm at {}", fmt_at(at));
                        self.comps[i].excused.get_or_insert(why);
                    }
                }
                (ErrorCode::QUEUE_FULL, _) => {
                    // The controller announces a transaction, then finds
                    // no room for its record: what it announced at this
                    // instant is refused with the E62 it raises.
                    self.queue_full = true;
                    for a in self.announced.iter_mut().rev() {
                        if a.at != at {
                            break;
                        }
                        a.excused = true;
                    }
                }
                (ErrorCode::MEMORY, _) => self.forgotten(),
                _ => {}
            },
            Event::ErrorCleared {
                code: ErrorCode::QUEUE_FULL,
                ..
            } => self.queue_full = false,
            _ => {}
        }
    }

    fn put(&mut self, c: &Name, at: Duration, what: String, kind: UplinkKind, value: Option<u32>) {
        if let Some(i) = self.index(c) {
            self.comps[i].holds = Some(Holds { what, at });
        }
        self.announce(c, at, kind, value);
    }

    fn take(&mut self, c: &Name, at: Duration, kind: UplinkKind, value: Option<u32>) {
        if let Some(i) = self.index(c) {
            self.comps[i].holds = None;
        }
        self.announce(c, at, kind, value);
    }

    fn announce(&mut self, c: &Name, at: Duration, kind: UplinkKind, value: Option<u32>) {
        let Some(i) = self.index(c) else { return };
        let excused = self.queue_full;
        self.announced.push(Announced {
            at,
            key: (kind, i, value),
            excused,
        });
    }

    /// Memory was lost (corrupted by the case, or reported corrupt): what
    /// was queued may be gone, and so is the controller's account of what
    /// its compartments hold.
    fn forgotten(&mut self) {
        for a in &mut self.announced {
            a.excused = true;
        }
        for c in &mut self.comps {
            c.holds = None;
        }
    }

    /// Something the case did to the rig.
    pub fn action(&mut self, a: &FixtureAction, at: Duration) {
        self.overdue(at);
        let truthful = self.truthful;
        self.rules(|r| match a {
            FixtureAction::Key(ch) => r.key(*ch, at),
            // Without the plant's truth, a cut is known from the action
            // (power comes back with the controller's next start).
            FixtureAction::Power(PowerAction::Off | PowerAction::Cycle { .. }) if !truthful => {
                r.power(false, at);
            }
            _ => {}
        });
        match a {
            FixtureAction::Key('#') => self.accepted_since_enter.clear(),
            FixtureAction::Fault {
                compartment,
                sensor,
                ..
            } => {
                if let Some(c) = self.comps.get_mut(*compartment) {
                    let sensor = match sensor {
                        Sensor::Door => "door",
                        Sensor::Bolt => "bolt",
                        Sensor::Package => "package",
                    };
                    let why = format!("the case faulted its {sensor} sensor");
                    c.excused.get_or_insert(why);
                }
            }
            FixtureAction::Memory(_) => self.forgotten(),
            FixtureAction::Power(p) => self.cut = *p == PowerAction::Off,
            _ => {}
        }
    }

    /// A record reached the back office (`duplicate`: a resend of a
    /// sequence number it already had, which it keeps once).
    pub fn delivered(&mut self, kind: UplinkKind, compartment: u8, value: u32, duplicate: bool) {
        if !duplicate && TRANSACTIONS.contains(&kind) {
            *self
                .delivered
                .entry(key_of(kind, usize::from(compartment), value))
                .or_default() += 1;
        }
    }

    /// What really happened on the rig.
    pub fn truth(&mut self, t: Truth, at: Duration) {
        self.overdue(at);
        self.truthful = true;
        match t {
            Truth::Bolt {
                compartment: i,
                retracted,
            } => {
                let Some(c) = self.comps.get_mut(i) else {
                    return;
                };
                c.moved_at = at;
                if !retracted {
                    c.unlatched_at = None;
                    return;
                }
                c.unlatched_at = Some(at);
                let accepted = c.accepted_at;
                if accepted.is_none_or(|a| at.saturating_sub(a) > UNLATCH_AFTER_CODE) {
                    let last = match accepted {
                        Some(a) => format!("the last was at {}", fmt_at(a)),
                        None => "none was".to_owned(),
                    };
                    let what = format!(
                        "the bolt of {} left its strike with no code accepted for it in the {} s before ({last})",
                        self.name(i),
                        UNLATCH_AFTER_CODE.as_secs()
                    );
                    self.violate(at, NO_UNLOCK_WITHOUT_CODE, what);
                }
            }
            Truth::Door {
                compartment: i,
                open,
            } => {
                if let Some(c) = self.comps.get_mut(i) {
                    c.door_open = open;
                    c.moved_at = at;
                }
            }
            Truth::Package {
                compartment: i,
                present,
            } => {
                if let Some(c) = self.comps.get_mut(i) {
                    c.package = present;
                    c.moved_at = at;
                }
            }
            Truth::Power { on } => {
                self.power = on;
                self.up_changed(at);
                self.rules(|r| r.truth_power(on, at));
            }
            Truth::Links { up } => {
                self.links = up;
                self.up_changed(at);
            }
        }
    }

    fn up_changed(&mut self, at: Duration) {
        let up = self.power && self.links;
        match self.up.last_mut() {
            Some((_, end @ None)) if !up => *end = Some(at),
            Some((_, None)) => {}
            _ if up => {
                if self.up.len() >= MAX_INTERVALS {
                    self.up.remove(0);
                }
                self.up.push((at, None));
            }
            _ => {}
        }
    }

    /// Promises whose time ran out by `now`: a bolt out behind a shut door.
    fn overdue(&mut self, now: Duration) {
        if !self.truthful || self.violation.is_some() {
            return;
        }
        for i in 0..self.comps.len() {
            let c = &self.comps[i];
            if let Some(since) = c.unlatched_at
                && !c.door_open
                && now.saturating_sub(since) > UNLATCHED_SHUT
            {
                let what = format!(
                    "the bolt of {} has been out of its strike since {} behind a shut door: unlocked and unattended for more than {} s",
                    self.name(i),
                    fmt_at(since),
                    UNLATCHED_SHUT.as_secs()
                );
                self.violate(since + UNLATCHED_SHUT, NOT_LEFT_UNLOCKED, what);
            }
        }
    }

    /// How long the controller has had power and a link between `from` and `to`.
    fn up_between(&self, from: Duration, to: Duration) -> Duration {
        (self.up.iter())
            .map(|&(a, b)| {
                let (a, b) = (a.max(from), b.unwrap_or(to).min(to));
                b.saturating_sub(a)
            })
            .sum()
    }

    /// The case ended at `end`: check what can only be judged over its
    /// whole length, and give the first promise broken.
    pub fn finish(&mut self, end: Duration) -> Option<String> {
        self.overdue(end);
        self.rules(|r| r.overdue(end));
        // Records: no more at the back office than announced; none missing
        // once the controller had long enough to send it.
        let mut announced: HashMap<RecordKey, Vec<&Announced>> = HashMap::new();
        for a in &self.announced {
            announced.entry(a.key).or_default().push(a);
        }
        let mut found = Vec::new();
        for (key, n) in &self.delivered {
            let said = announced.get(key).map_or(0, Vec::len);
            if *n as usize > said {
                found.push((
                    end,
                    RECORDED_ONCE,
                    format!(
                        "the back office received the {} {n} times under different sequence numbers, but the controller announced it {said} time(s)",
                        describe(key, &self.names)
                    ),
                ));
            }
        }
        if self.truthful {
            for (key, list) in &announced {
                let got = self.delivered.get(key).copied().unwrap_or(0) as usize;
                for a in list.iter().skip(got).filter(|a| !a.excused) {
                    if self.up_between(a.at, end) >= RECORD_DEADLINE {
                        found.push((
                            a.at,
                            RECORDED_ONCE,
                            format!(
                                "the {} announced at {} never reached the back office, although the controller then had power and a link for {} s or more",
                                describe(key, &self.names),
                                fmt_at(a.at),
                                RECORD_DEADLINE.as_secs()
                            ),
                        ));
                    }
                }
            }
            for (i, c) in self.comps.iter().enumerate() {
                let settled = c.unlatched_at.is_none()
                    && !c.door_open
                    && end.saturating_sub(c.moved_at) >= SETTLED;
                if !settled || c.excused.is_some() || c.holds.is_some() == c.package {
                    continue;
                }
                let what = match &c.holds {
                    Some(h) => format!(
                        "{} is empty, but the controller's account says it holds {} (in since {}): a parcel lost with no pickup, collection or tamper alarm",
                        self.name(i),
                        h.what,
                        fmt_at(h.at)
                    ),
                    None => format!(
                        "{} holds a package, but the controller's account says it is empty: a parcel it does not know of, with no tamper alarm",
                        self.name(i)
                    ),
                };
                found.push((end, PARCELS_CONSERVED, what));
            }
        }
        found.sort_by_key(|(at, ..)| *at);
        for (at, promise, what) in found {
            self.violate(at, promise, what);
        }
        self.violation.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::try_from(s).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn fresh() -> Invariants {
        let mut inv = Invariants::new(vec!["S1".into(), "M1".into()]);
        for c in 0..2 {
            inv.truth(
                Truth::Bolt {
                    compartment: c,
                    retracted: false,
                },
                ms(0),
            );
            inv.truth(
                Truth::Door {
                    compartment: c,
                    open: false,
                },
                ms(0),
            );
            inv.truth(
                Truth::Package {
                    compartment: c,
                    present: false,
                },
                ms(0),
            );
        }
        inv.truth(Truth::Power { on: true }, ms(0));
        inv.truth(Truth::Links { up: true }, ms(0));
        inv
    }

    fn accepted(c: &str) -> Event {
        Event::Code {
            result: CodeResult::Accepted,
            c: Some(name(c)),
        }
    }

    #[test]
    fn a_bolt_out_after_its_code_is_kept_and_one_without_is_broken() {
        let mut inv = fresh();
        inv.event(&accepted("S1"), ms(1_000));
        inv.truth(
            Truth::Bolt {
                compartment: 0,
                retracted: true,
            },
            ms(1_150),
        );
        assert_eq!(inv.violation(), None);
        inv.truth(
            Truth::Bolt {
                compartment: 1,
                retracted: true,
            },
            ms(1_200),
        );
        let v = inv.violation().unwrap();
        assert!(
            v.starts_with("invariant `no-unlock-without-code` broken at +1.200s: the bolt of M1"),
            "{v}"
        );
        // The documented window: 5 s after the code, not 6.
        let mut inv = fresh();
        inv.event(&accepted("S1"), ms(1_000));
        inv.truth(
            Truth::Bolt {
                compartment: 0,
                retracted: true,
            },
            ms(6_000),
        );
        assert_eq!(inv.violation(), None);
        inv.truth(
            Truth::Bolt {
                compartment: 0,
                retracted: false,
            },
            ms(6_100),
        );
        inv.truth(
            Truth::Bolt {
                compartment: 0,
                retracted: true,
            },
            ms(7_001),
        );
        assert!(inv.violation().is_some());
    }

    #[test]
    fn one_entry_accepted_for_two_compartments_is_broken() {
        let mut inv = fresh();
        inv.action(&FixtureAction::Key('#'), ms(0));
        inv.event(&accepted("S1"), ms(10));
        inv.action(&FixtureAction::Key('#'), ms(20));
        inv.event(&accepted("M1"), ms(30));
        assert_eq!(inv.violation(), None, "two entries, two codes");
        inv.event(&accepted("S1"), ms(40));
        assert!(
            inv.violation()
                .unwrap()
                .contains("released two compartments")
        );
    }

    #[test]
    fn a_bolt_out_behind_a_shut_door_for_more_than_5_s_is_broken() {
        let mut inv = fresh();
        inv.event(&accepted("M1"), ms(0));
        inv.truth(
            Truth::Bolt {
                compartment: 1,
                retracted: true,
            },
            ms(100),
        );
        assert_eq!(inv.finish(ms(5_100)), None);
        let mut inv = fresh();
        inv.event(&accepted("M1"), ms(0));
        inv.truth(
            Truth::Bolt {
                compartment: 1,
                retracted: true,
            },
            ms(100),
        );
        let v = inv.finish(ms(5_101)).unwrap();
        assert!(
            v.starts_with("invariant `not-left-unlocked` broken at +5.100s"),
            "{v}"
        );
        assert_eq!(promise_of(&v), Some("not-left-unlocked"));
        assert!(v.contains("unattended"), "{v}");
    }

    #[test]
    fn a_record_must_arrive_once_after_60_s_of_power_and_link() {
        let mut inv = fresh();
        inv.event(
            &Event::Pickup {
                c: name("M1"),
                parcel: 7,
            },
            ms(1_000),
        );
        assert_eq!(
            inv.finish(ms(60_999)),
            None,
            "59.999 s is not yet long enough"
        );
        let v = inv.finish(ms(61_000)).unwrap();
        assert!(
            v.contains("`pickup` record of 7 from M1 announced at +1.000s never reached"),
            "{v}"
        );

        // The link down half the time: 60 s of it take longer.
        let mut inv = fresh();
        inv.event(
            &Event::Pickup {
                c: name("M1"),
                parcel: 7,
            },
            ms(0),
        );
        inv.truth(Truth::Links { up: false }, ms(30_000));
        inv.truth(Truth::Links { up: true }, ms(90_000));
        assert_eq!(inv.finish(ms(119_999)), None);
        assert!(inv.finish(ms(120_000)).is_some());

        let mut inv = fresh();
        inv.event(
            &Event::Pickup {
                c: name("M1"),
                parcel: 7,
            },
            ms(0),
        );
        inv.delivered(UplinkKind::Pickup, 1, 7, false);
        inv.delivered(UplinkKind::Pickup, 1, 7, true);
        assert_eq!(
            inv.finish(ms(100_000)),
            None,
            "a resend of one sequence number is one record"
        );
        inv.delivered(UplinkKind::Pickup, 1, 7, false);
        let v = inv.finish(ms(100_000)).unwrap();
        assert!(v.contains("2 times"), "{v}");
    }

    #[test]
    fn a_full_queue_excuses_what_it_refused() {
        let full = Event::Error {
            code: ErrorCode::QUEUE_FULL,
            c: None,
        };
        let expired = |parcel| Event::Expired {
            c: name("S1"),
            parcel,
        };
        // As the firmware says it: the transaction, then E62 for its record.
        let mut inv = fresh();
        inv.event(&expired(2), ms(0));
        inv.event(&full, ms(0));
        inv.event(&expired(3), ms(10));
        inv.event(
            &Event::ErrorCleared {
                code: ErrorCode::QUEUE_FULL,
                c: None,
            },
            ms(20),
        );
        assert_eq!(inv.finish(ms(200_000)), None);
        inv.event(&expired(4), ms(30));
        assert!(inv.finish(ms(200_000)).is_some());
        // Only what came at E62's instant: an older record stays owed.
        let mut inv = fresh();
        inv.event(&expired(1), ms(0));
        inv.event(&full, ms(5));
        assert!(inv.finish(ms(200_000)).is_some());
    }

    #[test]
    fn lost_memory_excuses_what_was_queued() {
        let mut inv = fresh();
        inv.event(
            &Event::Pickup {
                c: name("M1"),
                parcel: 7,
            },
            ms(0),
        );
        inv.event(
            &Event::Error {
                code: ErrorCode::MEMORY,
                c: None,
            },
            ms(100),
        );
        assert_eq!(inv.finish(ms(200_000)), None);
    }

    #[test]
    fn parcels_are_conserved_unless_the_controller_raised_its_tamper_alarm() {
        let mut inv = fresh();
        inv.event(
            &Event::Dropoff {
                c: name("S1"),
                parcel: 1,
            },
            ms(100),
        );
        inv.truth(
            Truth::Package {
                compartment: 0,
                present: true,
            },
            ms(50),
        );
        assert_eq!(inv.finish(ms(2_000)), None);
        // Gone behind the shut door, and the controller said nothing.
        inv.truth(
            Truth::Package {
                compartment: 0,
                present: false,
            },
            ms(3_000),
        );
        assert_eq!(inv.finish(ms(3_500)), None, "not settled yet");
        let v = inv.finish(ms(4_000)).unwrap();
        assert!(v.contains("S1 is empty") && v.contains("parcel 1"), "{v}");

        let mut inv = fresh();
        inv.event(
            &Event::Dropoff {
                c: name("S1"),
                parcel: 1,
            },
            ms(100),
        );
        inv.truth(
            Truth::Package {
                compartment: 0,
                present: false,
            },
            ms(3_000),
        );
        inv.event(
            &Event::Error {
                code: ErrorCode::TAMPER,
                c: Some(name("S1")),
            },
            ms(3_000),
        );
        assert_eq!(inv.finish(ms(9_000)), None);
    }

    #[test]
    fn without_the_plants_truth_only_the_console_is_judged() {
        let mut inv = Invariants::new(vec!["S1".into()]);
        inv.event(
            &Event::Pickup {
                c: name("S1"),
                parcel: 7,
            },
            ms(0),
        );
        assert_eq!(inv.finish(ms(1_000_000)), None);
    }
}
