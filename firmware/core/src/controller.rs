//! The controller state machine. See the crate docs for how a board drives it.

use crate::codes::{self, Validity};
use crate::config::{Config, MAX_COMPARTMENTS, Size};
use crate::nv::{Arming, Loaded, NV_SIZE, Nv, Purpose, Slot};
use crate::temp::{Refusal, TempPolicy};
use crate::uplink::{self, LinkManager, Pending, QUEUE_LEN, Record};
use core::fmt::Write;
use locker_proto::{
    BoltState, CodeResult, DiagItem, DiagResult, DoorState, ErrorCode, Event, Key, LedColour,
    LedPattern, Link, LockState, Name, ResetCause, Status, Text, UplinkKind,
};

/// Consecutive wrong codes that lock the keypad out.
pub const LOCKOUT_THRESHOLD: u8 = 5;
/// First lockout; each further one doubles, up to `LOCKOUT_MAX_S`.
pub const LOCKOUT_BASE_S: u32 = 30;
pub const LOCKOUT_MAX_S: u32 = 3_600;
const LOCKOUT_SAVE_MS: u64 = 5_000;
pub const INTER_KEY_TIMEOUT_MS: u64 = 10_000;
/// How long a transient message (WRONG CODE, THANK YOU) stays on the display.
pub const MESSAGE_MS: u64 = 3_000;
const MAX_ENTRY: usize = 12;
pub const JAM_ATTEMPTS: u8 = 3;
/// Pause between unlock attempts so a loaded door spring can relax.
pub const RELIEF_MS: u64 = 500;
/// After the bolt retracts, how long the solenoid holds while the door opens.
pub const OPEN_WAIT_MS: u64 = 3_000;
pub const SAMPLE_MS: u64 = 10_000;
const TEMP_REPORT_DELTA: i32 = 50;
pub const DIAG_PERIOD_MS: u64 = 3_600_000;
pub const HELP_PRESSES: usize = 3;
pub const HELP_WINDOW_MS: u64 = 30_000;

/// The time a board passes in: monotonic milliseconds since boot and the
/// real-time clock (unix seconds), which may drift or be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub ms: u64,
    pub rtc: u64,
}

/// Something that happened to the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Key(Key),
    Help,
    /// A sensor line changed; the controller reads them all again.
    Sensors,
    LinkProbe {
        link: Link,
        ok: bool,
    },
    UplinkResult {
        link: Link,
        seq: u32,
        ok: bool,
    },
}

/// The hardware as the controller sees it.
pub trait Hw {
    fn door_closed(&self, c: usize) -> bool;
    fn bolt_extended(&self, c: usize) -> bool;
    fn package_present(&self, c: usize) -> bool;
    /// One thermistor conversion, hundredths of a degree Celsius.
    fn read_temp_centi(&mut self) -> i32;
    fn set_solenoid(&mut self, c: usize, on: bool);
    fn set_heater(&mut self, on: bool);
    /// Push an event to the console; the board stamps and frames it.
    fn emit(&mut self, event: Event);
    /// Ask whether a link reaches the back office; answered by `Input::LinkProbe`.
    fn link_probe(&mut self, link: Link);
    /// Send a record; answered by `Input::UplinkResult`.
    fn uplink(&mut self, link: Link, record: &Record);
    fn nv_write(&mut self, image: &[u8; NV_SIZE]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Idle,
    Pulsing { attempt: u8, until: u64 },
    Relief { attempt: u8, until: u64 },
    Holding { until: u64 },
    Open,
}

#[derive(Debug, Clone, Copy)]
struct Comp {
    act: Act,
    door_closed: bool,
    bolt_extended: bool,
    package: bool,
    fault: Option<ErrorCode>,
}

/// The reference locker controller.
#[derive(Debug)]
pub struct Controller {
    cfg: Config,
    nv: Nv,
    comps: heapless::Vec<Comp, MAX_COMPARTMENTS>,
    selftest: bool,
    entry: heapless::Vec<u8, MAX_ENTRY>,
    last_key: u64,
    message_until: Option<u64>,
    lockout_until: Option<u64>,
    lockout_saved_at: u64,
    temp: TempPolicy,
    reported_temp: Option<i32>,
    next_sample: u64,
    link: LinkManager,
    help: heapless::Vec<u64, HELP_PRESSES>,
    display: Text,
    led: Option<LedPattern>,
    errors: heapless::Vec<(ErrorCode, Option<u8>), 24>,
    next_diag: u64,
}

fn text(s: &str) -> Text {
    let mut t = Text::new();
    for ch in s.chars() {
        if t.push(ch).is_err() {
            break;
        }
    }
    t
}

impl Controller {
    /// Start after power-on (or a reset) with the non-volatile image.
    pub fn boot(cfg: Config, image: &[u8], now: Now, cause: ResetCause, hw: &mut impl Hw) -> Self {
        let (mut nv, loaded) = Nv::decode(image);
        if loaded == Loaded::Corrupt {
            // Fail secure: a corrupt image must not be a way to clear a lockout.
            nv.lockout_remaining_ms = LOCKOUT_BASE_S * 1000;
        }
        let comps = cfg
            .compartments
            .iter()
            .map(|_| Comp {
                act: Act::Idle,
                door_closed: true,
                bolt_extended: true,
                package: false,
                fault: None,
            })
            .collect();
        let mut c = Self {
            cfg,
            nv,
            comps,
            selftest: false,
            entry: heapless::Vec::new(),
            last_key: 0,
            message_until: None,
            lockout_until: None,
            lockout_saved_at: now.ms,
            temp: TempPolicy::default(),
            reported_temp: None,
            next_sample: now.ms,
            link: LinkManager::default(),
            help: heapless::Vec::new(),
            display: Text::new(),
            led: None,
            errors: heapless::Vec::new(),
            next_diag: now.ms + DIAG_PERIOD_MS,
        };
        hw.emit(Event::Reset(cause));
        if loaded == Loaded::Corrupt {
            c.raise(ErrorCode::MEMORY, None, hw);
        }
        if loaded != Loaded::Valid {
            c.save(hw);
        }
        if c.nv.lockout_remaining_ms > 0 {
            c.lockout_until = Some(now.ms + u64::from(c.nv.lockout_remaining_ms));
            hw.emit(Event::Lockout {
                seconds: c.nv.lockout_remaining_ms.div_ceil(1000),
            });
            c.raise(ErrorCode::LOCKOUT, None, hw);
        }
        c.self_test(now, hw, true);
        c
    }

    /// The configuration this controller was provisioned with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Non-volatile state, for status and tests.
    pub fn nv(&self) -> &Nv {
        &self.nv
    }

    pub fn status(&self, now: Now) -> Status {
        Status {
            uptime_ms: now.ms,
            rtc_s: now.rtc,
            failed: self.nv.failed,
            lockout_s: self
                .lockout_until
                .map_or(0, |u| u.saturating_sub(now.ms).div_ceil(1000) as u32),
            queued: self.nv.queue.len() as u16,
        }
    }

    /// The earliest time `tick` has work to do.
    pub fn next_deadline(&self) -> u64 {
        let mut d = self.next_sample.min(self.next_diag);
        let mut at = |t: u64| d = d.min(t);
        for c in &self.comps {
            match c.act {
                Act::Pulsing { until, .. } | Act::Relief { until, .. } | Act::Holding { until } => {
                    at(until)
                }
                Act::Idle | Act::Open => {}
            }
        }
        if let Some(t) = self.message_until {
            at(t);
        }
        if !self.entry.is_empty() {
            at(self.last_key + INTER_KEY_TIMEOUT_MS);
        }
        if let Some(t) = self.lockout_until {
            at(t.min(self.lockout_saved_at + LOCKOUT_SAVE_MS));
        }
        match self.link.pending {
            Some(Pending::Probe { until, .. } | Pending::Send { until, .. }) => at(until),
            None => {
                if let Some(t) = self.link.next_primary_try {
                    at(t);
                }
            }
        }
        d
    }

    /// React to an input.
    pub fn handle(&mut self, now: Now, input: Input, hw: &mut impl Hw) {
        match input {
            Input::Key(k) => self.on_key(now, k, hw),
            Input::Help => self.on_help(now, hw),
            Input::Sensors => self.on_sensors(now, hw),
            Input::LinkProbe { link, ok } => {
                if matches!(self.link.pending, Some(Pending::Probe { link: l, .. }) if l == link) {
                    self.link.pending = None;
                    self.on_probe(now, link, ok, hw);
                }
            }
            Input::UplinkResult { link, seq, ok } => {
                if matches!(self.link.pending, Some(Pending::Send { link: l, seq: s, .. }) if l == link && s == seq)
                {
                    self.link.pending = None;
                    self.on_sent(now, link, seq, ok, hw);
                }
            }
        }
        self.pump(now, hw);
    }

    /// Do whatever is due at `now`.
    pub fn tick(&mut self, now: Now, hw: &mut impl Hw) {
        for i in 0..self.comps.len() {
            match self.comps[i].act {
                Act::Pulsing { attempt, until } if until <= now.ms => {
                    self.pulse_done(now, i, attempt, hw)
                }
                Act::Relief { attempt, until } if until <= now.ms => {
                    self.start_pulse(now, i, attempt + 1, hw)
                }
                Act::Holding { until } if until <= now.ms => {
                    // Released but nobody opened the door: lock again, the code stays good.
                    hw.set_solenoid(i, false);
                    self.comps[i].act = Act::Idle;
                    self.abort_unlock(i, hw);
                    let c = self.name(i);
                    hw.emit(Event::Lock {
                        c,
                        state: LockState::Locked,
                    });
                    self.message(now, "TRY AGAIN", hw);
                }
                _ => {}
            }
        }
        if self.message_until.is_some_and(|t| t <= now.ms) {
            self.message_until = None;
            self.redraw(hw, false);
        }
        if !self.entry.is_empty() && self.last_key + INTER_KEY_TIMEOUT_MS <= now.ms {
            self.entry.clear();
            hw.emit(Event::KeypadCleared { timeout: true });
            self.redraw(hw, false);
        }
        if let Some(until) = self.lockout_until {
            if until <= now.ms {
                self.lockout_until = None;
                self.nv.lockout_remaining_ms = 0;
                self.save(hw);
                hw.emit(Event::LockoutEnd);
                self.clear(ErrorCode::LOCKOUT, None, hw);
                self.redraw(hw, false);
            } else if self.lockout_saved_at + LOCKOUT_SAVE_MS <= now.ms {
                self.lockout_saved_at = now.ms;
                self.nv.lockout_remaining_ms = (until - now.ms) as u32;
                self.save(hw);
            }
        }
        if self.next_sample <= now.ms {
            self.next_sample = now.ms + SAMPLE_MS;
            self.sample(hw);
            self.check_expiry(now, hw);
        }
        match self.link.pending {
            Some(Pending::Probe { link, until }) if until <= now.ms => {
                self.link.pending = None;
                self.on_probe(now, link, false, hw);
            }
            Some(Pending::Send { link, seq, until }) if until <= now.ms => {
                self.link.pending = None;
                self.on_sent(now, link, seq, false, hw);
            }
            None if self.link.next_primary_try.is_some_and(|t| t <= now.ms) => {
                self.link.next_primary_try = None;
                self.probe(now, Link::Primary, hw);
            }
            _ => {}
        }
        if self.next_diag <= now.ms {
            self.next_diag = now.ms + DIAG_PERIOD_MS;
            self.self_test(now, hw, false);
        }
        self.pump(now, hw);
    }

    // ------------------------------------------------------------ keypad

    fn on_key(&mut self, now: Now, key: Key, hw: &mut impl Hw) {
        if self.selftest {
            return;
        }
        if self.lockout_until.is_some() {
            // Every press is answered, so the user sees why nothing happens.
            self.entry.clear();
            self.redraw(hw, true);
            return;
        }
        match key {
            Key::Digit(d) => {
                if self.entry.push(b'0' + d).is_ok() {
                    hw.emit(Event::Keypad {
                        digits: self.entry.len() as u8,
                    });
                }
                self.last_key = now.ms;
                self.message_until = None;
                let mut t = text("CODE ");
                for _ in 0..self.entry.len() {
                    let _ = t.push('-');
                }
                self.set_display(t, hw, false);
            }
            Key::Clear => {
                self.entry.clear();
                hw.emit(Event::KeypadCleared { timeout: false });
                self.message_until = None;
                self.redraw(hw, false);
            }
            Key::Enter => {
                if self.entry.is_empty() {
                    return;
                }
                let entry = core::mem::take(&mut self.entry);
                self.evaluate(now, &entry, hw);
            }
        }
    }

    fn evaluate(&mut self, now: Now, entry: &[u8], hw: &mut impl Hw) {
        match entry.len() {
            codes::PICKUP_LEN => self.evaluate_pickup(now, entry, hw),
            codes::SERVICE_LEN => self.evaluate_service(now, entry, hw),
            _ => self.wrong(now, hw),
        }
    }

    fn evaluate_pickup(&mut self, now: Now, entry: &[u8], hw: &mut impl Hw) {
        // Every candidate is computed and compared, match or not, so the
        // time taken does not say how close a guess came.
        let mut found: Option<(usize, u64, bool)> = None;
        for (i, slot) in self.nv.slots.iter().enumerate().take(self.comps.len()) {
            let (parcel, window, spent) = match *slot {
                Slot::Occupied { parcel, window } | Slot::Expired { parcel, window } => {
                    (parcel, window, false)
                }
                Slot::LeftBehind { parcel, window } => (parcel, window, true),
                _ => continue,
            };
            let wd = u64::from(window);
            for w in wd.saturating_sub(1)..=wd + 1 {
                let code = codes::pickup_code(&self.cfg.key, self.cfg.station, i as u8, parcel, w);
                if codes::ct_eq(&code, entry) {
                    found = Some((i, w, spent));
                }
            }
        }
        let Some((i, w, spent)) = found else {
            return self.wrong(now, hw);
        };
        if spent {
            return self.verdict(now, CodeResult::Used, Some(i), "CODE ALREADY USED", hw);
        }
        // The code that opens says which day the back office issued it (its
        // own clock and this one may disagree near midnight): that day's
        // validity is the parcel's, for its expiry too. A code refused as
        // early or expired says nothing of the parcel: it must not move
        // the day its own code is judged by.
        let validity = codes::validity(w, codes::VALID_WINDOWS, now.rtc);
        if validity == Validity::Valid
            && let Slot::Occupied { window, .. } | Slot::Expired { window, .. } =
                &mut self.nv.slots[i]
            && u64::from(*window) != w
        {
            *window = w as u32;
            self.save(hw);
        }
        // The clock now decides, not the one that announced an expiry.
        self.judge_expiry(now, i, hw);
        match validity {
            Validity::Early => {
                self.verdict(now, CodeResult::Early, Some(i), "CODE NOT YET VALID", hw)
            }
            Validity::Expired => {
                self.verdict(now, CodeResult::Expired, Some(i), "CODE EXPIRED", hw)
            }
            Validity::Valid => self.unlock(now, i, Arming::Pickup, hw),
        }
    }

    fn evaluate_service(&mut self, now: Now, entry: &[u8], hw: &mut impl Hw) {
        let (kind, arg, mac) = (entry[0] - b'0', entry[1] - b'0', &entry[2..]);
        let mut ok = false;
        for w in codes::service_windows(now.rtc) {
            ok |= codes::ct_eq(
                &codes::service_mac(&self.cfg.key, self.cfg.station, kind, arg, w),
                mac,
            );
        }
        if !ok {
            return self.wrong(now, hw);
        }
        let mac_value = mac.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        match kind {
            codes::SERVICE_DROPOFF => {
                let i = usize::from(arg);
                if i >= self.comps.len() {
                    return self.wrong(now, hw);
                }
                if self.nv.slots[i] != Slot::Empty {
                    return self.verdict(
                        now,
                        CodeResult::Unavailable,
                        Some(i),
                        "COMPARTMENT IN USE",
                        hw,
                    );
                }
                self.unlock(now, i, Arming::Dropoff, hw);
            }
            codes::SERVICE_RETURN => {
                let Some(size) = Size::from_digit(arg) else {
                    return self.wrong(now, hw);
                };
                if self.nv.used_return(mac_value) {
                    return self.verdict(now, CodeResult::Used, None, "CODE ALREADY USED", hw);
                }
                let free = (0..self.comps.len()).find(|&i| {
                    self.cfg.compartments[i].size == size
                        && self.nv.slots[i] == Slot::Empty
                        && self.comps[i].fault.is_none()
                        && self.comps[i].act == Act::Idle
                });
                match free {
                    Some(i) => self.unlock(now, i, Arming::Return { mac: mac_value }, hw),
                    None => self.verdict(
                        now,
                        CodeResult::Unavailable,
                        None,
                        "NO FREE COMPARTMENT",
                        hw,
                    ),
                }
            }
            codes::SERVICE_COLLECT => {
                // A corrected clock may have given an expired parcel back to its customer.
                for i in 0..self.comps.len() {
                    self.judge_expiry(now, i, hw);
                }
                let waiting = (0..self.comps.len()).find(|&i| {
                    matches!(
                        self.nv.slots[i],
                        Slot::Expired { .. } | Slot::LeftBehind { .. } | Slot::Returned { .. }
                    ) && self.comps[i].act == Act::Idle
                        && self.comps[i].fault.is_none()
                });
                match waiting {
                    Some(i) => self.unlock(now, i, Arming::Collect, hw),
                    None => {
                        self.verdict(now, CodeResult::Unavailable, None, "NOTHING TO COLLECT", hw)
                    }
                }
            }
            _ => self.wrong(now, hw),
        }
    }

    fn verdict(
        &mut self,
        now: Now,
        result: CodeResult,
        i: Option<usize>,
        msg: &str,
        hw: &mut impl Hw,
    ) {
        let c = i.map(|i| self.name(i));
        hw.emit(Event::Code { result, c });
        self.message(now, msg, hw);
    }

    fn wrong(&mut self, now: Now, hw: &mut impl Hw) {
        self.verdict(now, CodeResult::Wrong, None, "WRONG CODE", hw);
        self.nv.failed = self.nv.failed.saturating_add(1);
        if self.nv.failed >= LOCKOUT_THRESHOLD {
            self.start_lockout(now, hw);
        }
        self.save(hw);
    }

    fn start_lockout(&mut self, now: Now, hw: &mut impl Hw) {
        let seconds = LOCKOUT_BASE_S
            .checked_shl(u32::from(self.nv.lockout_level))
            .unwrap_or(u32::MAX)
            .min(LOCKOUT_MAX_S);
        self.nv.lockout_level = self.nv.lockout_level.saturating_add(1).min(8);
        self.nv.failed = 0;
        self.nv.lockout_remaining_ms = seconds * 1000;
        self.lockout_until = Some(now.ms + u64::from(seconds) * 1000);
        self.lockout_saved_at = now.ms;
        self.message_until = None;
        hw.emit(Event::Lockout { seconds });
        self.raise(ErrorCode::LOCKOUT, None, hw);
        self.enqueue(UplinkKind::Lockout, 0, seconds, hw);
        self.redraw(hw, true);
    }

    fn on_help(&mut self, now: Now, hw: &mut impl Hw) {
        self.help.retain(|&t| t + HELP_WINDOW_MS > now.ms);
        if self.help.push(now.ms).is_err() || self.help.len() >= HELP_PRESSES {
            self.help.clear();
            self.entry.clear();
            self.message_until = None;
            hw.emit(Event::Reset(ResetCause::Soft));
            self.self_test(now, hw, true);
            return;
        }
        let mut t = Text::new();
        let _ = write!(t, "HELP: PRESS {} MORE", HELP_PRESSES - self.help.len());
        self.message_until = Some(now.ms + MESSAGE_MS);
        self.set_display(t, hw, true);
    }

    // ------------------------------------------------------------ doors

    fn unlock(&mut self, now: Now, i: usize, arming: Arming, hw: &mut impl Hw) {
        if self.comps[i].fault.is_some() || self.comps[i].act != Act::Idle {
            return self.verdict(now, CodeResult::Unavailable, Some(i), "OUT OF SERVICE", hw);
        }
        match self.temp.refusal {
            Refusal::Cold => {
                return self.verdict(now, CodeResult::Refused, Some(i), "TOO COLD", hw);
            }
            Refusal::Hot => return self.verdict(now, CodeResult::Refused, Some(i), "TOO HOT", hw),
            Refusal::None => {}
        }
        let c = self.name(i);
        hw.emit(Event::Code {
            result: CodeResult::Accepted,
            c: Some(c.clone()),
        });
        // In memory before the solenoid fires: a power cut from here on
        // finds the unlock, and the door it may have released is not taken
        // for a forced one (see `settle_unlock`).
        self.nv.arming[i] = Some(arming);
        if let Arming::Return { mac } = arming {
            self.nv.mark_return_used(mac);
        }
        self.save(hw);
        let mut t = text("OPENING ");
        let _ = t.push_str(&c);
        self.message_until = None;
        self.set_display(t, hw, false);
        self.start_pulse(now, i, 1, hw);
    }

    fn start_pulse(&mut self, now: Now, i: usize, attempt: u8, hw: &mut impl Hw) {
        // Each retry pulses longer: 1x, 1.5x, 2x.
        let pulse_ms = self.temp.pulse_ms() * (u16::from(attempt) + 1) / 2;
        hw.set_solenoid(i, true);
        hw.emit(Event::Unlock {
            c: self.name(i),
            attempt,
            pulse_ms,
        });
        self.comps[i].act = Act::Pulsing {
            attempt,
            until: now.ms + u64::from(pulse_ms),
        };
    }

    fn pulse_done(&mut self, now: Now, i: usize, attempt: u8, hw: &mut impl Hw) {
        if !hw.bolt_extended(i) {
            // Keep the solenoid energised until the door spring has opened the door.
            self.comps[i].act = Act::Holding {
                until: now.ms + OPEN_WAIT_MS,
            };
            hw.emit(Event::Lock {
                c: self.name(i),
                state: LockState::Released,
            });
            self.clear(ErrorCode::JAM, Some(i), hw);
            if !hw.door_closed(i) {
                self.door_opened(now, i, hw);
            }
            return;
        }
        hw.set_solenoid(i, false);
        if attempt < JAM_ATTEMPTS {
            self.comps[i].act = Act::Relief {
                attempt,
                until: now.ms + RELIEF_MS,
            };
            return;
        }
        self.comps[i].act = Act::Idle;
        self.raise(ErrorCode::JAM, Some(i), hw);
        self.enqueue(UplinkKind::Jam, i as u8, 0, hw);
        self.abort_unlock(i, hw);
        self.message(now, "DOOR JAMMED", hw);
        // At rest again, and a jammed bolt never moves to say so: what
        // changed behind the door during the unlock is judged now.
        self.check_agreement(now, i, hw);
    }

    /// The unlock ended without the door opening: the compartment keeps
    /// what it held and its code stays good.
    fn abort_unlock(&mut self, i: usize, hw: &mut impl Hw) {
        if let Some(Arming::Return { mac }) = self.nv.arming[i].take() {
            self.nv.unmark_return(mac);
        }
        self.save(hw);
    }

    /// After a reset, an unlock that was under way when the power went: the
    /// door and the package sensor say how far it got.
    fn settle_unlock(&mut self, now: Now, i: usize, hw: &mut impl Hw) {
        let comp = self.comps[i];
        if !comp.door_closed {
            // Released on purpose before the cut: not a forced door.
            hw.emit(Event::Lock {
                c: self.name(i),
                state: LockState::Released,
            });
            self.door_opened(now, i, hw);
        } else if comp.package != self.nv.slots[i].holds_parcel() {
            // Opened and shut again while the power was off.
            self.door_opened(now, i, hw);
            self.door_closed(now, i, hw);
        } else {
            self.abort_unlock(i, hw);
        }
    }

    fn door_opened(&mut self, now: Now, i: usize, hw: &mut impl Hw) {
        hw.set_solenoid(i, false);
        self.comps[i].act = Act::Open;
        let Some(arming) = self.nv.arming[i].take() else {
            return;
        };
        let purpose = arming.purpose();
        let held = self.nv.slots[i];
        self.nv.slots[i] = Slot::Open {
            purpose,
            parcel: held.parcel(),
            window: held.window(),
        };
        if purpose == Purpose::Pickup {
            // A successful pickup forgives earlier mistakes.
            self.nv.failed = 0;
            self.nv.lockout_level = 0;
        }
        self.save(hw);
        let msg = match purpose {
            Purpose::Pickup => "TAKE PARCEL",
            Purpose::Dropoff | Purpose::Return => "PLACE PARCEL",
            Purpose::Collect => "COLLECT PARCEL",
        };
        self.message_until = Some(now.ms + OPEN_WAIT_MS * 20);
        self.set_display(text(msg), hw, false);
    }

    fn door_closed(&mut self, now: Now, i: usize, hw: &mut impl Hw) {
        self.comps[i].act = Act::Idle;
        hw.emit(Event::Lock {
            c: self.name(i),
            state: LockState::Locked,
        });
        let Slot::Open {
            purpose,
            parcel,
            window,
        } = self.nv.slots[i]
        else {
            return;
        };
        let present = self.comps[i].package;
        let c = self.name(i);
        let today = codes::window_of(now.rtc) as u32;
        let (slot, msg) = match (purpose, present) {
            (Purpose::Pickup, false) => {
                hw.emit(Event::Pickup { c, parcel });
                self.enqueue(UplinkKind::Pickup, i as u8, parcel, hw);
                (Slot::Empty, "THANK YOU")
            }
            // Left behind: the code is spent, so it waits for the courier.
            (Purpose::Pickup, true) => (Slot::LeftBehind { parcel, window }, "PARCEL LEFT BEHIND"),
            (Purpose::Dropoff, true) => {
                self.nv.parcel_counter = self.nv.parcel_counter.wrapping_add(1);
                let parcel = self.nv.parcel_counter;
                hw.emit(Event::Dropoff { c, parcel });
                self.enqueue(UplinkKind::Dropoff, i as u8, parcel, hw);
                let window = today;
                (Slot::Occupied { parcel, window }, "THANK YOU")
            }
            (Purpose::Return, true) => {
                self.nv.return_counter = self.nv.return_counter.wrapping_add(1);
                let id = self.nv.return_counter;
                hw.emit(Event::Return { c, id });
                self.enqueue(UplinkKind::Return, i as u8, id, hw);
                (Slot::Returned { id }, "THANK YOU")
            }
            (Purpose::Dropoff | Purpose::Return, false) => (Slot::Empty, "NO PARCEL"),
            (Purpose::Collect, false) => {
                hw.emit(Event::Collected { c });
                self.enqueue(UplinkKind::Collect, i as u8, parcel, hw);
                (Slot::Empty, "THANK YOU")
            }
            (Purpose::Collect, true) => (Slot::LeftBehind { parcel, window }, "PARCEL LEFT BEHIND"),
        };
        self.nv.slots[i] = slot;
        self.save(hw);
        self.message(now, msg, hw);
    }

    fn on_sensors(&mut self, now: Now, hw: &mut impl Hw) {
        for i in 0..self.comps.len() {
            self.read_sensors(i, hw, false);
            let comp = self.comps[i];
            match comp.act {
                Act::Holding { .. } | Act::Pulsing { .. } if !comp.door_closed => {
                    if matches!(comp.act, Act::Pulsing { .. }) {
                        hw.emit(Event::Lock {
                            c: self.name(i),
                            state: LockState::Released,
                        });
                    }
                    self.door_opened(now, i, hw);
                }
                Act::Open if comp.door_closed && comp.bolt_extended => self.door_closed(now, i, hw),
                Act::Idle => {
                    if matches!(self.nv.slots[i], Slot::Open { .. }) {
                        // A door left open across a power cut.
                        if comp.door_closed && comp.bolt_extended {
                            self.door_closed(now, i, hw);
                        } else {
                            self.comps[i].act = Act::Open;
                        }
                    } else {
                        self.check_agreement(now, i, hw);
                    }
                }
                _ => {}
            }
        }
    }

    /// Fail-secure check of a compartment at rest: door, bolt, package and
    /// the controller's own record must agree, or it goes out of service.
    /// A door open while locked (forced) and a package come or gone behind
    /// a shut door (tamper) sound an alarm on the display too; every fault
    /// is queued for the back office.
    fn check_agreement(&mut self, now: Now, i: usize, hw: &mut impl Hw) -> bool {
        let comp = self.comps[i];
        let slot = self.nv.slots[i];
        let fault = if !comp.door_closed {
            Some(ErrorCode::DOOR_SENSOR)
        } else if !comp.bolt_extended {
            Some(ErrorCode::BOLT_SENSOR)
        } else if comp.package != slot.holds_parcel() {
            Some(ErrorCode::TAMPER)
        } else {
            None
        };
        if fault != comp.fault {
            if let Some(old) = comp.fault {
                self.clear(old, Some(i), hw);
            }
            if let Some(new) = fault {
                hw.set_solenoid(i, false);
                self.raise(new, Some(i), hw);
                let (kind, value, alarm) = match new {
                    ErrorCode::TAMPER => (UplinkKind::Tamper, slot.parcel(), Some("TAMPER ALARM ")),
                    ErrorCode::DOOR_SENSOR => {
                        (UplinkKind::Fault, u32::from(new.0), Some("DOOR ALARM "))
                    }
                    _ => (UplinkKind::Fault, u32::from(new.0), None),
                };
                self.enqueue(kind, i as u8, value, hw);
                self.save(hw);
                if let Some(alarm) = alarm.filter(|_| !self.selftest) {
                    let mut t = text(alarm);
                    let _ = t.push_str(&self.name(i));
                    self.show(now, t, hw);
                }
            }
            self.comps[i].fault = fault;
        }
        fault.is_none()
    }

    fn read_sensors(&mut self, i: usize, hw: &mut impl Hw, report_all: bool) {
        let (door, bolt, pkg) = (
            hw.door_closed(i),
            hw.bolt_extended(i),
            hw.package_present(i),
        );
        let c = self.name(i);
        let comp = &mut self.comps[i];
        if report_all || door != comp.door_closed {
            let state = if door {
                DoorState::Closed
            } else {
                DoorState::Open
            };
            hw.emit(Event::Door {
                c: c.clone(),
                state,
            });
        }
        if report_all || bolt != comp.bolt_extended {
            let state = if bolt {
                BoltState::Extended
            } else {
                BoltState::Retracted
            };
            hw.emit(Event::Bolt {
                c: c.clone(),
                state,
            });
        }
        if report_all || pkg != comp.package {
            hw.emit(Event::Package { c, present: pkg });
        }
        comp.door_closed = door;
        comp.bolt_extended = bolt;
        comp.package = pkg;
    }

    // ------------------------------------------------------------ diagnostics

    /// Door sweep (top right first, the configured order), temperature, then
    /// the link check. `full` is the boot/soft-reset form with display and
    /// LED; the periodic form runs quietly.
    fn self_test(&mut self, now: Now, hw: &mut impl Hw, full: bool) {
        if full {
            self.selftest = true;
            self.set_display(text("SELF TEST"), hw, true);
            self.update_led(hw);
        }
        for i in 0..self.comps.len() {
            self.read_sensors(i, hw, full);
            if self.nv.arming[i].is_some() && self.comps[i].act == Act::Idle {
                self.settle_unlock(now, i, hw);
            }
            let ok = if matches!(self.nv.slots[i], Slot::Open { .. })
                || self.comps[i].act != Act::Idle
            {
                true
            } else {
                self.check_agreement(now, i, hw)
            };
            if full && ok && self.comps[i].act == Act::Idle {
                let state = if matches!(self.nv.slots[i], Slot::Open { .. }) {
                    LockState::Released
                } else {
                    LockState::Locked
                };
                hw.emit(Event::Lock {
                    c: self.name(i),
                    state,
                });
            }
            let result = if ok { DiagResult::Ok } else { DiagResult::Fail };
            hw.emit(Event::Diag {
                item: DiagItem::Door(self.name(i)),
                result,
            });
        }
        if full {
            self.on_sensors(now, hw);
            self.reported_temp = None;
            self.sample(hw);
            self.next_sample = now.ms + SAMPLE_MS;
        }
        if !full {
            // The hourly check asks both links, whichever is in use: a dead
            // one is reported even while records go through the other.
            self.link.check = [true, true];
        } else if self.link.active != Some(Link::Primary) && self.link.pending.is_none() {
            self.probe(now, Link::Primary, hw);
        } else {
            self.finish_self_test(hw);
        }
    }

    fn finish_self_test(&mut self, hw: &mut impl Hw) {
        if !self.selftest {
            return;
        }
        self.selftest = false;
        let ok = self
            .errors
            .iter()
            .all(|(code, _)| matches!(*code, ErrorCode::LOCKOUT));
        let result = if ok { DiagResult::Ok } else { DiagResult::Fail };
        hw.emit(Event::Diag {
            item: DiagItem::Done,
            result,
        });
        self.redraw(hw, true);
        self.update_led(hw);
    }

    fn sample(&mut self, hw: &mut impl Hw) {
        let t = hw.read_temp_centi();
        let before = self.temp;
        let changed = self.temp.sample(t);
        // A reading that changes the heater or the refusal is always reported,
        // so the log shows what the decision was based on.
        if changed
            || self
                .reported_temp
                .is_none_or(|r| (t - r).abs() >= TEMP_REPORT_DELTA)
        {
            self.reported_temp = Some(t);
            hw.emit(Event::Temp { centi: t });
        }
        if !changed {
            return;
        }
        if before.heater != self.temp.heater {
            hw.set_heater(self.temp.heater);
            hw.emit(Event::Heater(self.temp.heater));
        }
        if before.refusal != self.temp.refusal {
            match before.refusal {
                Refusal::Cold => self.clear(ErrorCode::TOO_COLD, None, hw),
                Refusal::Hot => self.clear(ErrorCode::TOO_HOT, None, hw),
                Refusal::None => {}
            }
            match self.temp.refusal {
                Refusal::Cold => self.raise(ErrorCode::TOO_COLD, None, hw),
                Refusal::Hot => self.raise(ErrorCode::TOO_HOT, None, hw),
                Refusal::None => {}
            }
            self.redraw(hw, false);
        }
    }

    fn check_expiry(&mut self, now: Now, hw: &mut impl Hw) {
        for i in 0..self.comps.len() {
            self.judge_expiry(now, i, hw);
        }
    }

    /// Expire a waiting parcel the clock says is past its validity, and give
    /// back to its customer one the clock no longer says so of (the clock
    /// was set right): the correct clock's verdict always wins. Both are
    /// announced and queued for the back office.
    fn judge_expiry(&mut self, now: Now, i: usize, hw: &mut impl Hw) {
        if self.nv.arming[i].is_some() {
            return;
        }
        let (expired, parcel, window) = match self.nv.slots[i] {
            Slot::Occupied { parcel, window } => (false, parcel, window),
            Slot::Expired { parcel, window } => (true, parcel, window),
            _ => return,
        };
        let verdict = codes::validity(u64::from(window), codes::VALID_WINDOWS, now.rtc);
        if (verdict == Validity::Expired) == expired {
            return;
        }
        let c = self.name(i);
        if expired {
            self.nv.slots[i] = Slot::Occupied { parcel, window };
            hw.emit(Event::Reinstated { c, parcel });
            self.enqueue(UplinkKind::Reinstated, i as u8, parcel, hw);
        } else {
            self.nv.slots[i] = Slot::Expired { parcel, window };
            hw.emit(Event::Expired { c, parcel });
            self.enqueue(UplinkKind::Expired, i as u8, parcel, hw);
        }
        self.save(hw);
    }

    // ------------------------------------------------------------ link

    fn probe(&mut self, now: Now, link: Link, hw: &mut impl Hw) {
        self.link.pending = Some(Pending::Probe {
            link,
            until: now.ms + uplink::LINK_TIMEOUT_MS,
        });
        hw.link_probe(link);
    }

    fn link_known(&mut self, link: Link, up: bool, hw: &mut impl Hw) {
        let k = &mut self.link.known[uplink::idx(link)];
        if *k != Some(up) {
            *k = Some(up);
            hw.emit(Event::LinkState { link, up });
        }
        if up {
            self.clear(uplink::dead(link), None, hw);
        }
    }

    fn set_active(&mut self, now: Now, active: Option<Link>, hw: &mut impl Hw) {
        if self.link.active != active || self.selftest {
            self.link.active = active;
            hw.emit(Event::LinkActive(active));
        }
        match active {
            Some(Link::Primary) => {
                self.link.next_primary_try = None;
                self.clear(ErrorCode::LINK_DOWN, None, hw);
            }
            Some(Link::Secondary) => {
                self.link.next_primary_try = Some(now.ms + uplink::FAILBACK_PROBE_MS);
                self.clear(ErrorCode::LINK_DOWN, None, hw);
            }
            None => {
                self.link.next_primary_try = Some(now.ms + uplink::OFFLINE_RETRY_MS);
                self.raise(ErrorCode::LINK_DOWN, None, hw);
            }
        }
    }

    fn on_probe(&mut self, now: Now, link: Link, ok: bool, hw: &mut impl Hw) {
        self.link_known(link, ok, hw);
        let checked = core::mem::take(&mut self.link.check[uplink::idx(link)]);
        if self.selftest || checked {
            let result = if ok { DiagResult::Ok } else { DiagResult::Fail };
            hw.emit(Event::Diag {
                item: DiagItem::Link(link),
                result,
            });
        }
        if checked && !ok {
            self.raise(uplink::dead(link), None, hw);
        }
        // Records go through the primary while it answers, else the secondary.
        let primary_up = self.link.known[uplink::idx(Link::Primary)] != Some(false);
        let on_primary = self.link.active == Some(Link::Primary) && primary_up;
        match (link, ok) {
            (Link::Primary, true) => self.set_active(now, Some(Link::Primary), hw),
            (Link::Secondary, true) if on_primary => {}
            (Link::Secondary, true) => self.set_active(now, Some(Link::Secondary), hw),
            (Link::Primary, false) if self.link.active == Some(Link::Secondary) => {
                // Failback attempt failed: stay on the secondary.
                self.link.next_primary_try = Some(now.ms + uplink::FAILBACK_PROBE_MS);
            }
            // The check asks the secondary next anyway.
            (Link::Primary, false) if self.link.check[uplink::idx(Link::Secondary)] => {}
            (Link::Primary, false) => return self.probe(now, Link::Secondary, hw),
            (Link::Secondary, false) if on_primary => {}
            (Link::Secondary, false) => self.set_active(now, None, hw),
        }
        self.finish_self_test(hw);
    }

    fn on_sent(&mut self, now: Now, link: Link, seq: u32, ok: bool, hw: &mut impl Hw) {
        if ok {
            self.link_known(link, true, hw);
            if self.nv.queue.front().is_some_and(|r| r.seq == seq)
                && let Some(r) = self.nv.queue.pop_front()
            {
                hw.emit(Event::Uplink {
                    seq,
                    kind: r.kind,
                    via: link,
                });
                self.clear(ErrorCode::QUEUE_FULL, None, hw);
                self.save(hw);
            }
            return;
        }
        self.link_known(link, false, hw);
        match link {
            Link::Primary => self.probe(now, Link::Secondary, hw),
            Link::Secondary => self.set_active(now, None, hw),
        }
    }

    /// Queue a record for the back office. In memory only: the caller saves
    /// it with the state change it reports, in one write, so that a power
    /// cut leaves either both or neither (never a pickup queued twice, or a
    /// drop-off with two parcel numbers).
    fn enqueue(&mut self, kind: UplinkKind, compartment: u8, value: u32, hw: &mut impl Hw) {
        let rec = Record {
            seq: self.nv.next_seq,
            kind,
            compartment,
            value,
        };
        if self.nv.queue.len() >= QUEUE_LEN || self.nv.queue.push_back(rec).is_err() {
            self.raise(ErrorCode::QUEUE_FULL, None, hw);
            return;
        }
        self.nv.next_seq = self.nv.next_seq.wrapping_add(1);
    }

    fn pump(&mut self, now: Now, hw: &mut impl Hw) {
        if self.link.pending.is_some() || self.selftest {
            return;
        }
        if let Some(link) = self.link.next_check() {
            return self.probe(now, link, hw);
        }
        let (Some(link), Some(rec)) = (self.link.active, self.nv.queue.front().copied()) else {
            return;
        };
        self.link.pending = Some(Pending::Send {
            link,
            seq: rec.seq,
            until: now.ms + uplink::LINK_TIMEOUT_MS,
        });
        hw.uplink(link, &rec);
    }

    // ------------------------------------------------------------ display, LED, errors

    fn name(&self, i: usize) -> Name {
        self.cfg.compartments[i].name.clone()
    }

    fn message(&mut self, now: Now, msg: &str, hw: &mut impl Hw) {
        self.show(now, text(msg), hw);
    }

    /// Show `t` for `MESSAGE_MS`, then the idle display again.
    fn show(&mut self, now: Now, t: Text, hw: &mut impl Hw) {
        self.message_until = Some(now.ms + MESSAGE_MS);
        self.set_display(t, hw, true);
    }

    fn redraw(&mut self, hw: &mut impl Hw, force: bool) {
        if self.message_until.is_some() || !self.entry.is_empty() {
            return;
        }
        let idle = if self.selftest {
            "SELF TEST"
        } else if self.lockout_until.is_some() {
            "LOCKED OUT"
        } else {
            match self.temp.refusal {
                Refusal::Cold => "TOO COLD",
                Refusal::Hot => "TOO HOT",
                Refusal::None => "ENTER CODE",
            }
        };
        self.set_display(text(idle), hw, force);
    }

    fn set_display(&mut self, t: Text, hw: &mut impl Hw, force: bool) {
        if force || t != self.display {
            self.display = t.clone();
            hw.emit(Event::Display(t));
        }
    }

    fn raise(&mut self, code: ErrorCode, i: Option<usize>, hw: &mut impl Hw) {
        let key = (code, i.map(|i| i as u8));
        if !self.errors.contains(&key) && self.errors.push(key).is_ok() {
            hw.emit(Event::Error {
                code,
                c: i.map(|i| self.name(i)),
            });
            self.update_led(hw);
        }
    }

    fn clear(&mut self, code: ErrorCode, i: Option<usize>, hw: &mut impl Hw) {
        let key = (code, i.map(|i| i as u8));
        if let Some(pos) = self.errors.iter().position(|e| *e == key) {
            self.errors.remove(pos);
            hw.emit(Event::ErrorCleared {
                code,
                c: i.map(|i| self.name(i)),
            });
            self.update_led(hw);
        }
    }

    /// Steady green is normal. Red blinks the most severe fault (the lowest
    /// code), amber a degraded state (the lockout first, then the lowest
    /// code: both links down before a full queue before one dead link),
    /// steady amber the self-test.
    fn update_led(&mut self, hw: &mut impl Hw) {
        let red = self.errors.iter().map(|e| e.0).filter(|c| c.0 < 60).min();
        let amber = (self.errors.iter().map(|e| e.0))
            .filter(|c| c.0 >= 60)
            .min_by_key(|c| (*c != ErrorCode::LOCKOUT, c.0));
        let led = if self.selftest {
            LedPattern::AMBER
        } else if let Some(code) = red {
            LedPattern::for_error(code, LedColour::Red)
        } else if let Some(code) = amber {
            LedPattern::for_error(code, LedColour::Amber)
        } else {
            LedPattern::GREEN
        };
        if self.led != Some(led) {
            self.led = Some(led);
            hw.emit(Event::Led(led));
        }
    }

    fn save(&mut self, hw: &mut impl Hw) {
        let mut image = [0u8; NV_SIZE];
        self.nv.encode(&mut image);
        hw.nv_write(&image);
    }
}

#[cfg(test)]
mod tests {
    //! The controller against an idealised board: doors and bolts obey at
    //! once, links answer at once. The sim rig's plant model adds physics;
    //! these tests pin the rules.
    use super::*;
    use crate::codes;
    use std::string::ToString;
    use std::vec::Vec;

    const KEY: [u8; 16] = *b"unit-test-key-16";
    const STATION: u32 = 99;
    const T0: u64 = 1_772_442_000; // 2026-03-02 09:00 UTC

    #[derive(Default)]
    struct FakeHw {
        door_closed: [bool; 5],
        bolt_extended: [bool; 5],
        package: [bool; 5],
        temp: i32,
        solenoid: [bool; 5],
        heater: bool,
        events: Vec<Event>,
        nv: Vec<u8>,
        /// Every image written, in order.
        writes: Vec<Vec<u8>>,
        probes: Vec<Link>,
        sent: Vec<Record>,
    }

    impl FakeHw {
        fn new() -> Self {
            Self {
                door_closed: [true; 5],
                bolt_extended: [true; 5],
                temp: 2000,
                nv: vec![0xFF; NV_SIZE],
                ..Self::default()
            }
        }
        fn take(&mut self) -> Vec<String> {
            self.events.drain(..).map(|e| e.to_string()).collect()
        }
    }

    impl Hw for FakeHw {
        fn door_closed(&self, c: usize) -> bool {
            self.door_closed[c]
        }
        fn bolt_extended(&self, c: usize) -> bool {
            self.bolt_extended[c]
        }
        fn package_present(&self, c: usize) -> bool {
            self.package[c]
        }
        fn read_temp_centi(&mut self) -> i32 {
            self.temp
        }
        fn set_solenoid(&mut self, c: usize, on: bool) {
            self.solenoid[c] = on;
        }
        fn set_heater(&mut self, on: bool) {
            self.heater = on;
        }
        fn emit(&mut self, event: Event) {
            self.events.push(event);
        }
        fn link_probe(&mut self, link: Link) {
            self.probes.push(link);
        }
        fn uplink(&mut self, _link: Link, record: &Record) {
            self.sent.push(*record);
        }
        fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
            self.nv = image.to_vec();
            self.writes.push(self.nv.clone());
        }
    }

    struct Bench {
        c: Controller,
        hw: FakeHw,
        ms: u64,
        rtc: u64,
        /// The real-time clock at `ms` 0 (the last boot).
        rtc0: u64,
    }

    impl Bench {
        /// The controller started from the image `hw` holds, its primary link up.
        fn start(hw: &mut FakeHw, now: Now, cause: ResetCause) -> Controller {
            let nv = hw.nv.clone();
            let mut c = Controller::boot(Config::reference(STATION, KEY), &nv, now, cause, hw);
            let up = Input::LinkProbe {
                link: Link::Primary,
                ok: true,
            };
            c.handle(now, up, hw);
            c
        }
        fn boot() -> Self {
            let mut hw = FakeHw::new();
            let c = Self::start(&mut hw, Now { ms: 0, rtc: T0 }, ResetCause::PowerOn);
            let mut b = Self {
                c,
                hw,
                ms: 0,
                rtc: T0,
                rtc0: T0,
            };
            b.hw.take();
            b
        }
        /// Power cut and back: the controller starts again from the image
        /// it last wrote; the coils drop; the clock runs on.
        fn power_cycle(&mut self, cause: ResetCause) {
            self.hw.solenoid = [false; 5];
            self.rtc0 = self.rtc;
            self.ms = 0;
            let now = self.now();
            self.c = Self::start(&mut self.hw, now, cause);
        }
        /// Set the real-time clock `s` seconds away from where it runs.
        fn shift_clock(&mut self, s: i64) {
            self.rtc0 = self.rtc0.wrapping_add_signed(s);
            self.rtc = self.rtc0 + self.ms / 1000;
        }
        fn now(&self) -> Now {
            Now {
                ms: self.ms,
                rtc: self.rtc,
            }
        }
        fn advance(&mut self, ms: u64) {
            let end = self.ms + ms;
            while self.c.next_deadline() <= end {
                self.ms = self.ms.max(self.c.next_deadline());
                self.rtc = self.rtc0 + self.ms / 1000;
                let now = self.now();
                self.c.tick(now, &mut self.hw);
            }
            self.ms = end;
            self.rtc = self.rtc0 + self.ms / 1000;
        }
        fn keys(&mut self, s: &str) {
            for ch in s.chars() {
                let now = self.now();
                self.c.handle(
                    now,
                    Input::Key(Key::from_char(ch).unwrap_or(Key::Clear)),
                    &mut self.hw,
                );
            }
        }
        fn sensors(&mut self) {
            let now = self.now();
            self.c.handle(now, Input::Sensors, &mut self.hw);
        }
        /// Put a parcel in compartment `i` directly, as a drop-off would.
        fn stock(&mut self, i: usize) -> String {
            let w = codes::window_of(self.rtc);
            self.c.nv.slots[i] = Slot::Occupied {
                parcel: 7,
                window: w as u32,
            };
            self.hw.package[i] = true;
            self.c.comps[i].package = true;
            self.c.save(&mut self.hw);
            let code = codes::pickup_code(&KEY, STATION, i as u8, 7, w);
            let mut s: String = code.iter().map(|&b| b as char).collect();
            s.push('#');
            s
        }
        fn saw(&mut self, text: &str) -> bool {
            self.hw.take().iter().any(|e| e == text)
        }
    }

    use std::string::String;

    #[test]
    fn boot_sweeps_doors_in_configured_order_then_checks_the_link() {
        let mut hw = FakeHw::new();
        let nv = hw.nv.clone();
        let now = Now { ms: 0, rtc: T0 };
        let _c = Controller::boot(
            Config::reference(STATION, KEY),
            &nv,
            now,
            ResetCause::PowerOn,
            &mut hw,
        );
        let diag: Vec<String> = hw
            .take()
            .into_iter()
            .filter(|e| e.starts_with("diag"))
            .collect();
        assert_eq!(
            diag,
            [
                "diag door S1 ok",
                "diag door S2 ok",
                "diag door M1 ok",
                "diag door M2 ok",
                "diag door L1 ok"
            ]
        );
        assert_eq!(hw.probes, [Link::Primary]);
    }

    #[test]
    fn valid_code_pulses_the_right_solenoid() {
        let mut b = Bench::boot();
        let code = b.stock(2);
        b.keys(&code);
        assert!(b.hw.solenoid[2]);
        assert!(b.hw.take().contains(&"unlock M1 1 200".into()));
    }

    #[test]
    fn lockout_threshold_and_doubling() {
        let mut b = Bench::boot();
        let code = b.stock(0);
        // PROTOCOL.md: 5 wrong codes lock out for 30 s, then 60 s.
        for n in 1..=5 {
            b.keys("11111111#");
            assert_eq!(
                b.c.status(b.now()).lockout_s > 0,
                n == 5,
                "after {n} wrong codes"
            );
        }
        assert!(b.hw.events.contains(&Event::Lockout { seconds: 30 }));
        b.keys(&code);
        assert!(!b.hw.solenoid[0], "locked out: no unlock");
        b.advance(30_000);
        assert!(!b.c.status(b.now()).lockout_s > 0);
        for _ in 0..5 {
            b.keys("11111111#");
        }
        assert!(b.hw.events.contains(&Event::Lockout { seconds: 60 }));
    }

    #[test]
    fn lockout_survives_reboot_from_nv() {
        let mut b = Bench::boot();
        for _ in 0..5 {
            b.keys("11111111#");
        }
        b.advance(12_000);
        let nv = b.hw.nv.clone();
        let mut hw = FakeHw::new();
        let c = Controller::boot(
            Config::reference(STATION, KEY),
            &nv,
            Now { ms: 0, rtc: T0 },
            ResetCause::PowerOn,
            &mut hw,
        );
        assert!(c.status(Now { ms: 0, rtc: T0 }).lockout_s > 0);
        let remaining = c.status(Now { ms: 0, rtc: T0 }).lockout_s;
        assert!(
            (18..=30).contains(&remaining),
            "{remaining}s left; time without power must not count"
        );
    }

    #[test]
    fn corrupt_nv_fails_secure() {
        let mut image = [0u8; NV_SIZE];
        Nv::default().encode(&mut image);
        image[10] ^= 0x40;
        let mut hw = FakeHw::new();
        let c = Controller::boot(
            Config::reference(STATION, KEY),
            &image,
            Now { ms: 0, rtc: T0 },
            ResetCause::PowerOn,
            &mut hw,
        );
        assert!(c.status(Now { ms: 0, rtc: T0 }).lockout_s > 0);
        assert!(hw.events.contains(&Event::Error {
            code: ErrorCode::MEMORY,
            c: None
        }));
    }

    #[test]
    fn jam_retries_three_times_then_reports() {
        let mut b = Bench::boot();
        let code = b.stock(0);
        b.keys(&code);
        b.advance(5_000); // bolt never moves
        let ev = b.hw.take();
        let unlocks: Vec<_> = ev.iter().filter(|e| e.starts_with("unlock")).collect();
        assert_eq!(
            unlocks,
            ["unlock S1 1 200", "unlock S1 2 300", "unlock S1 3 400"]
        );
        assert!(ev.contains(&"error E21 S1".into()));
        assert!(!b.hw.solenoid[0]);
        assert!(
            matches!(b.c.nv.slots[0], Slot::Occupied { .. }),
            "a jam does not use up the code"
        );
    }

    /// Found by `harness explore`: a parcel taken out behind the door
    /// while its bolt jammed went unnoticed, since a compartment mid-unlock
    /// is not checked and a jammed bolt never moves again to make it so.
    #[test]
    fn a_parcel_gone_during_a_jammed_unlock_raises_the_tamper_alarm() {
        let mut b = Bench::boot();
        let code = b.stock(0);
        b.keys(&code);
        b.advance(100);
        b.hw.package[0] = false;
        b.sensors();
        b.advance(5_000); // the bolt never moves
        let ev = b.hw.take();
        assert!(ev.contains(&"error E21 S1".into()), "{ev:?}");
        assert!(ev.contains(&"error E33 S1".into()), "{ev:?}");
    }

    /// Found by `harness explore`: a code of a later day for the same
    /// parcel (refused as early) moved the parcel's day, so its own code
    /// was then refused as wrong.
    #[test]
    fn an_early_code_does_not_spoil_the_parcels_own_code() {
        let mut b = Bench::boot();
        let own = b.stock(2);
        let w = codes::window_of(b.rtc);
        // Tomorrow's is early; the day after's is not found near the
        // parcel's day (it was found once tomorrow's had moved it).
        for (later, verdict) in [(w + 1, "code early M1"), (w + 2, "code wrong")] {
            let code = codes::pickup_code(&KEY, STATION, 2, 7, later);
            let mut s: String = code.iter().map(|&b| b as char).collect();
            s.push('#');
            b.keys(&s);
            assert!(b.saw(verdict), "{verdict}");
            b.advance(4_000);
        }
        b.keys(&own);
        assert!(b.saw("code accepted M1"));
    }

    #[test]
    fn pickup_purges_the_code() {
        let mut b = Bench::boot();
        let code = b.stock(1);
        b.keys(&code);
        b.hw.bolt_extended[1] = false;
        b.advance(200);
        b.hw.door_closed[1] = false;
        b.sensors();
        assert!(!b.hw.solenoid[1], "solenoid released once the door is open");
        b.hw.package[1] = false;
        b.hw.bolt_extended[1] = true;
        b.hw.door_closed[1] = true;
        b.sensors();
        assert!(b.saw("pickup S2 7"));
        assert_eq!(b.c.nv.slots[1], Slot::Empty);
        b.keys(&code);
        assert!(b.saw("code wrong"));
    }

    #[test]
    fn door_open_without_unlock_is_a_sensor_fault() {
        let mut b = Bench::boot();
        b.hw.door_closed[4] = false;
        b.sensors();
        assert!(b.saw("error E31 L1"));
        b.hw.door_closed[4] = true;
        b.sensors();
        assert!(b.saw("error-clear E31 L1"));
    }

    #[test]
    fn help_three_times_is_a_soft_reset() {
        let mut b = Bench::boot();
        for _ in 0..3 {
            let now = b.now();
            b.c.handle(now, Input::Help, &mut b.hw);
            b.advance(5_000);
        }
        assert!(b.hw.events.contains(&Event::Reset(ResetCause::Soft)));
    }

    #[test]
    fn help_presses_spread_out_do_not_reset() {
        let mut b = Bench::boot();
        for _ in 0..3 {
            let now = b.now();
            b.c.handle(now, Input::Help, &mut b.hw);
            b.advance(15_001); // three presses over more than 30 s
        }
        assert!(!b.hw.events.contains(&Event::Reset(ResetCause::Soft)));
    }

    #[test]
    fn failed_uplink_fails_over_to_secondary_and_keeps_the_record() {
        let mut b = Bench::boot();
        let now = b.now();
        b.c.enqueue(UplinkKind::Pickup, 0, 7, &mut b.hw);
        b.c.pump(now, &mut b.hw);
        assert_eq!(b.hw.sent.len(), 1);
        let seq = b.hw.sent[0].seq;
        let now = b.now();
        b.c.handle(
            now,
            Input::UplinkResult {
                link: Link::Primary,
                seq,
                ok: false,
            },
            &mut b.hw,
        );
        assert_eq!(b.hw.probes.last(), Some(&Link::Secondary));
        b.c.handle(
            now,
            Input::LinkProbe {
                link: Link::Secondary,
                ok: true,
            },
            &mut b.hw,
        );
        assert_eq!(b.c.nv.queue.len(), 1, "kept until acknowledged");
        assert_eq!(b.hw.sent.len(), 2);
        b.c.handle(
            now,
            Input::UplinkResult {
                link: Link::Secondary,
                seq,
                ok: true,
            },
            &mut b.hw,
        );
        assert!(b.c.nv.queue.is_empty());
        assert!(b.saw(&std::format!("uplink {seq} pickup secondary")));
    }

    // ---------------------------------------------------------------- issue 19

    /// The bolt of compartment `i` clears the strike and the pulse ends.
    fn release(b: &mut Bench, i: usize) {
        b.hw.bolt_extended[i] = false;
        b.sensors();
        b.advance(250);
    }

    /// The cut the acceptance run found: the bolt released, the power went
    /// before the door opened, and the spring opened it in the dark. The
    /// door is the customer's, not a forced one, and the pickup is recorded
    /// once when it shuts.
    #[test]
    fn a_door_that_opened_during_a_cut_after_its_release_completes_the_pickup() {
        let mut b = Bench::boot();
        let code = b.stock(2);
        b.keys(&code);
        release(&mut b, 2);
        assert_eq!(b.c.nv.arming[2], Some(Arming::Pickup), "armed in memory");
        // In the dark: the bolt drops back, the spring has already popped the door.
        b.hw.bolt_extended[2] = true;
        b.hw.door_closed[2] = false;
        b.power_cycle(ResetCause::PowerOn);
        let ev = b.hw.take();
        assert!(!ev.iter().any(|e| e.starts_with("error E31")), "{ev:?}");
        assert!(ev.contains(&"lock M1 released".into()), "{ev:?}");
        assert_eq!(b.c.nv.arming[2], None);
        b.hw.package[2] = false;
        b.hw.door_closed[2] = true;
        b.sensors();
        assert_eq!(
            b.hw.take()
                .iter()
                .filter(|e| e.starts_with("pickup"))
                .count(),
            1
        );
        assert_eq!(b.c.nv.slots[2], Slot::Empty);
        assert_eq!(
            (b.c.nv.queue.iter().filter(|r| r.kind == UplinkKind::Pickup)).count(),
            1,
            "queued once"
        );
    }

    /// A cut before the door moved: the parcel still waits and its code still opens.
    #[rstest::rstest]
    #[case::power_on(ResetCause::PowerOn)]
    #[case::brownout(ResetCause::Brownout)]
    fn a_cut_before_the_door_opened_leaves_the_parcel_waiting(#[case] cause: ResetCause) {
        let mut b = Bench::boot();
        let code = b.stock(0);
        b.keys(&code);
        release(&mut b, 0);
        b.hw.bolt_extended[0] = true;
        b.power_cycle(cause);
        assert!(matches!(b.c.nv.slots[0], Slot::Occupied { parcel: 7, .. }));
        assert_eq!(b.c.nv.arming[0], None);
        assert!(!b.hw.take().iter().any(|e| e.starts_with("error")));
        b.keys(&code);
        assert!(b.saw("code accepted S1"), "the code is still good");
    }

    /// Opened and shut again while the power was off: the package sensor
    /// says the parcel went, so the pickup is recorded at boot.
    #[test]
    fn a_door_opened_and_shut_during_a_cut_is_settled_by_the_package() {
        let mut b = Bench::boot();
        let code = b.stock(1);
        b.keys(&code);
        release(&mut b, 1);
        b.hw.bolt_extended[1] = true;
        b.hw.package[1] = false;
        b.power_cycle(ResetCause::PowerOn);
        let ev = b.hw.take();
        assert!(ev.contains(&"pickup S2 7".into()), "{ev:?}");
        assert!(!ev.iter().any(|e| e.starts_with("error E33")), "{ev:?}");
        assert_eq!(b.c.nv.slots[1], Slot::Empty);
    }

    /// A return code is spent as it is accepted, and given back when the
    /// door never opened, across a cut too.
    #[test]
    fn a_return_whose_door_never_opened_keeps_its_code() {
        let mut b = Bench::boot();
        let w = codes::window_of(b.rtc);
        let mac = codes::service_mac(&KEY, STATION, codes::SERVICE_RETURN, 1, w);
        let code: String = std::format!("21{}#", core::str::from_utf8(&mac).unwrap());
        b.keys(&code);
        assert!(b.saw("code accepted S1"));
        b.keys(&code);
        assert!(b.saw("code used"), "one code opens one compartment");
        release(&mut b, 0);
        b.hw.bolt_extended[0] = true;
        b.power_cycle(ResetCause::PowerOn);
        b.keys(&code);
        assert!(b.saw("code accepted S1"), "given back");
    }

    /// A parcel taken out through a shut, locked door (or one slipped in)
    /// raises E33 with its LED, display and a record for the back office;
    /// putting it back clears it.
    #[test]
    fn a_package_gone_behind_a_shut_door_is_tamper() {
        let mut b = Bench::boot();
        let code = b.stock(3);
        b.hw.package[3] = false;
        b.sensors();
        let ev = b.hw.take();
        for want in ["error E33 M2", "led red 3-3", "display \"TAMPER ALARM M2\""] {
            assert!(ev.contains(&want.into()), "{want}: {ev:?}");
        }
        let rec = b.c.nv.queue.back().copied().unwrap();
        assert_eq!(
            (rec.kind, rec.compartment, rec.value),
            (UplinkKind::Tamper, 3, 7)
        );
        b.keys(&code);
        assert!(b.saw("code unavailable M2"), "out of service");
        b.hw.package[3] = true;
        b.sensors();
        assert!(b.saw("error-clear E33 M2"));
        b.hw.package[0] = true;
        b.sensors();
        assert!(b.saw("error E33 S1"), "slipped into an empty compartment");
    }

    /// A door forced open while locked: E31, its LED and display, and a
    /// fault record for the back office.
    #[test]
    fn a_forced_door_reaches_the_back_office() {
        let mut b = Bench::boot();
        b.hw.door_closed[1] = false;
        b.sensors();
        let ev = b.hw.take();
        for want in ["error E31 S2", "led red 3-1", "display \"DOOR ALARM S2\""] {
            assert!(ev.contains(&want.into()), "{want}: {ev:?}");
        }
        let rec = b.c.nv.queue.back().copied().unwrap();
        assert_eq!(
            (rec.kind, rec.compartment, rec.value),
            (UplinkKind::Fault, 1, 31)
        );
    }

    fn answer_probes(b: &mut Bench, primary: bool, secondary: bool) {
        for _ in 0..4 {
            let Some(Pending::Probe { link, .. }) = b.c.link.pending else {
                return;
            };
            let ok = if link == Link::Primary {
                primary
            } else {
                secondary
            };
            let now = b.now();
            b.c.handle(now, Input::LinkProbe { link, ok }, &mut b.hw);
        }
    }

    /// The hourly self-test probes both links whichever is in use.
    #[rstest::rstest]
    #[case::dead_secondary_behind_a_good_primary(true, false, "secondary", "primary", "amber 6-4")]
    #[case::dead_primary_in_use(false, true, "primary", "secondary", "amber 6-3")]
    #[case::both_dead(false, false, "primary", "none", "amber 6-1")]
    fn the_hourly_self_test_reports_a_dead_link(
        #[case] primary: bool,
        #[case] secondary: bool,
        #[case] dead: &str,
        #[case] active: &str,
        #[case] led: &str,
    ) {
        let mut b = Bench::boot();
        b.advance(3_600_000);
        answer_probes(&mut b, primary, secondary);
        let ev = b.hw.take();
        assert!(
            ev.contains(&std::format!("diag link {dead} fail")),
            "{ev:?}"
        );
        let code = if dead == "primary" { "E63" } else { "E64" };
        assert!(ev.contains(&std::format!("error {code}")), "{ev:?}");
        assert_eq!(
            b.c.link.active.map_or("none", Link::as_str),
            active,
            "{ev:?}"
        );
        assert!(ev.contains(&std::format!("led {led}")), "{ev:?}");
    }

    /// Running on the secondary, a dead secondary is found within the hour.
    #[test]
    fn a_dead_secondary_in_use_is_reported() {
        let mut b = Bench::boot();
        let now = b.now();
        b.c.on_sent(now, Link::Primary, 0, false, &mut b.hw);
        answer_probes(&mut b, false, true);
        assert_eq!(b.c.link.active, Some(Link::Secondary));
        b.hw.take();
        b.advance(3_600_000);
        answer_probes(&mut b, false, false);
        let ev = b.hw.take();
        for want in [
            "diag link secondary fail",
            "error E64",
            "error E61",
            "link-active none",
        ] {
            assert!(ev.contains(&want.into()), "{want}: {ev:?}");
        }
        // Found alive again: the error clears.
        b.advance(3_600_000);
        answer_probes(&mut b, true, true);
        assert!(b.saw("error-clear E64"));
    }

    /// A clock that ran fast expired a parcel early; set right, the parcel
    /// waits for its customer again and the code opens.
    #[test]
    fn a_corrected_clock_undoes_an_early_expiry() {
        let mut b = Bench::boot();
        let code = b.stock(4);
        b.shift_clock(3 * 86_400);
        b.advance(10_000);
        assert!(b.saw("expired L1 7"));
        assert!(matches!(b.c.nv.slots[4], Slot::Expired { .. }));
        b.shift_clock(-3 * 86_400);
        b.keys(&code);
        let ev = b.hw.take();
        assert!(ev.contains(&"reinstated L1 7".into()), "{ev:?}");
        assert!(ev.contains(&"code accepted L1".into()), "{ev:?}");
        let kinds: Vec<_> = b.c.nv.queue.iter().map(|r| r.kind).collect();
        assert!(
            kinds.ends_with(&[UplinkKind::Expired, UplinkKind::Reinstated]),
            "{kinds:?}"
        );
    }

    /// Set right with nobody at the keypad: the next sample gives it back.
    #[test]
    fn a_corrected_clock_reinstates_at_the_next_sample() {
        let mut b = Bench::boot();
        b.stock(4);
        b.shift_clock(3 * 86_400);
        b.advance(10_000);
        b.shift_clock(-3 * 86_400);
        b.advance(10_000);
        assert!(b.saw("reinstated L1 7"));
        assert!(matches!(b.c.nv.slots[4], Slot::Occupied { .. }));
    }

    /// The record of a transaction goes to memory in the same write as the
    /// state it reports: no image has the pickup queued while the slot is
    /// still open (a cut there would have it done, and queued, twice).
    #[test]
    fn a_transaction_and_its_record_are_written_together() {
        let mut b = Bench::boot();
        let code = b.stock(1);
        b.keys(&code);
        release(&mut b, 1);
        b.hw.door_closed[1] = false;
        b.sensors();
        b.hw.package[1] = false;
        b.hw.bolt_extended[1] = true;
        b.hw.door_closed[1] = true;
        b.hw.writes.clear();
        b.sensors();
        assert!(b.saw("pickup S2 7"));
        assert!(!b.hw.writes.is_empty());
        for image in &b.hw.writes {
            let (nv, _) = Nv::decode(image);
            let queued = nv.queue.iter().any(|r| r.kind == UplinkKind::Pickup);
            let open = matches!(nv.slots[1], Slot::Open { .. });
            assert!(
                !(queued && open),
                "a pickup queued with its door still open"
            );
        }
    }

    /// A compartment out of service (its parcel stolen) does not stand in
    /// the way of the courier collecting the others.
    #[test]
    fn collection_passes_over_a_compartment_out_of_service() {
        let mut b = Bench::boot();
        for i in [0, 3] {
            b.c.nv.slots[i] = Slot::Returned { id: i as u32 + 1 };
            b.hw.package[i] = true;
            b.c.comps[i].package = true;
        }
        b.hw.package[0] = false;
        b.sensors();
        assert!(b.saw("error E33 S1"));
        let w = codes::window_of(b.rtc);
        let mac = codes::service_mac(&KEY, STATION, codes::SERVICE_COLLECT, 0, w);
        b.keys(&std::format!("30{}#", core::str::from_utf8(&mac).unwrap()));
        assert!(b.saw("code accepted M2"));
    }

    /// A code minted on the back office's next day (its clock past midnight,
    /// this one not yet) is valid a day longer than the slot's own day says:
    /// the code's day decides the expiry too, so no `expired` is announced
    /// for a parcel whose code still opens.
    #[test]
    fn the_codes_own_day_decides_the_expiry() {
        let mut b = Bench::boot();
        b.stock(2);
        let w = codes::window_of(b.rtc);
        let code = codes::pickup_code(&KEY, STATION, 2, 7, w + 1);
        let code: String = code.iter().map(|&c| c as char).chain(['#']).collect();
        // Past the slot's third day (and its 5 minutes), inside the code's.
        let at = (w + 3) * 86_400 + 600;
        b.shift_clock((at - b.rtc) as i64);
        b.keys(&code);
        let ev = b.hw.take();
        assert!(ev.contains(&"code accepted M1".into()), "{ev:?}");
        assert!(!ev.iter().any(|e| e.starts_with("expired")), "{ev:?}");
    }

    /// A parcel left behind has spent its code, whatever the clock says.
    #[test]
    fn a_parcel_left_behind_keeps_its_code_spent() {
        let mut b = Bench::boot();
        let code = b.stock(0);
        b.keys(&code);
        release(&mut b, 0);
        b.hw.door_closed[0] = false;
        b.sensors();
        b.hw.bolt_extended[0] = true;
        b.hw.door_closed[0] = true;
        b.sensors();
        assert!(matches!(
            b.c.nv.slots[0],
            Slot::LeftBehind { parcel: 7, .. }
        ));
        b.advance(10_000);
        b.keys(&code);
        assert!(b.saw("code used S1"));
    }
}
