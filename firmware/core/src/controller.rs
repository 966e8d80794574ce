//! The controller state machine. See the crate docs for how a board drives it.

use crate::codes::{self, Validity};
use crate::config::{Config, MAX_COMPARTMENTS, Size};
use crate::nv::{Loaded, NV_SIZE, Nv, Purpose, Slot};
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
    purpose: Purpose,
    parcel: u32,
    /// Return code MAC to mark used once the door opens.
    return_mac: Option<u32>,
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
    queue_full_reported: bool,
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
                purpose: Purpose::Pickup,
                parcel: 0,
                return_mac: None,
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
            queue_full_reported: false,
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
        let mut found: Option<(usize, u32, u64, bool)> = None;
        for (i, slot) in self.nv.slots.iter().enumerate().take(self.comps.len()) {
            let (parcel, window, expired) = match *slot {
                Slot::Occupied { parcel, window } => (parcel, window, false),
                Slot::Expired { parcel, window } => (parcel, window, true),
                _ => continue,
            };
            let wd = u64::from(window);
            for w in wd.saturating_sub(1)..=wd + 1 {
                let code = codes::pickup_code(&self.cfg.key, self.cfg.station, i as u8, parcel, w);
                if codes::ct_eq(&code, entry) {
                    found = Some((i, parcel, w, expired));
                }
            }
        }
        let Some((i, parcel, w, expired)) = found else {
            return self.wrong(now, hw);
        };
        let validity = if expired {
            Validity::Expired
        } else {
            codes::validity(w, codes::VALID_WINDOWS, now.rtc)
        };
        match validity {
            Validity::Early => {
                self.verdict(now, CodeResult::Early, Some(i), "CODE NOT YET VALID", hw)
            }
            Validity::Expired => {
                self.verdict(now, CodeResult::Expired, Some(i), "CODE EXPIRED", hw)
            }
            Validity::Valid => self.unlock(now, i, Purpose::Pickup, parcel, None, hw),
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
                self.unlock(now, i, Purpose::Dropoff, 0, None, hw);
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
                    Some(i) => self.unlock(now, i, Purpose::Return, 0, Some(mac_value), hw),
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
                let waiting = (0..self.comps.len()).find(|&i| {
                    matches!(
                        self.nv.slots[i],
                        Slot::Expired { .. } | Slot::Returned { .. }
                    ) && self.comps[i].act == Act::Idle
                });
                match waiting {
                    Some(i) => {
                        let parcel = match self.nv.slots[i] {
                            Slot::Expired { parcel, .. } => parcel,
                            Slot::Returned { id } => id,
                            _ => 0,
                        };
                        self.unlock(now, i, Purpose::Collect, parcel, None, hw)
                    }
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

    fn unlock(
        &mut self,
        now: Now,
        i: usize,
        purpose: Purpose,
        parcel: u32,
        return_mac: Option<u32>,
        hw: &mut impl Hw,
    ) {
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
        let comp = &mut self.comps[i];
        comp.purpose = purpose;
        comp.parcel = parcel;
        comp.return_mac = return_mac;
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
        self.message(now, "DOOR JAMMED", hw);
    }

    fn door_opened(&mut self, now: Now, i: usize, hw: &mut impl Hw) {
        hw.set_solenoid(i, false);
        let comp = &mut self.comps[i];
        comp.act = Act::Open;
        let (purpose, parcel) = (comp.purpose, comp.parcel);
        if let Some(mac) = comp.return_mac.take() {
            self.nv.mark_return_used(mac);
        }
        self.nv.slots[i] = Slot::Open { purpose, parcel };
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
        let Slot::Open { purpose, parcel } = self.nv.slots[i] else {
            return;
        };
        let present = self.comps[i].package;
        let c = self.name(i);
        let window = codes::window_of(now.rtc) as u32;
        let (slot, msg) = match (purpose, present) {
            (Purpose::Pickup, false) => {
                hw.emit(Event::Pickup { c, parcel });
                self.enqueue(UplinkKind::Pickup, i as u8, parcel, hw);
                (Slot::Empty, "THANK YOU")
            }
            // Left behind: the code is spent, so it waits for the courier.
            (Purpose::Pickup, true) => (Slot::Expired { parcel, window }, "PARCEL LEFT BEHIND"),
            (Purpose::Dropoff, true) => {
                self.nv.parcel_counter = self.nv.parcel_counter.wrapping_add(1);
                let parcel = self.nv.parcel_counter;
                hw.emit(Event::Dropoff { c, parcel });
                self.enqueue(UplinkKind::Dropoff, i as u8, parcel, hw);
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
            (Purpose::Collect, true) => (Slot::Expired { parcel, window }, "PARCEL LEFT BEHIND"),
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
                        self.check_agreement(i, hw);
                    }
                }
                _ => {}
            }
        }
    }

    /// Fail-secure check of a compartment at rest: door, bolt and the
    /// controller's own intent must agree, or it goes out of service.
    fn check_agreement(&mut self, i: usize, hw: &mut impl Hw) -> bool {
        let comp = self.comps[i];
        let fault = if !comp.door_closed {
            Some(ErrorCode::DOOR_SENSOR)
        } else if !comp.bolt_extended {
            Some(ErrorCode::BOLT_SENSOR)
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
                self.enqueue(UplinkKind::Fault, i as u8, u32::from(new.0), hw);
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
            let ok = if matches!(self.nv.slots[i], Slot::Open { .. })
                || self.comps[i].act != Act::Idle
            {
                true
            } else {
                self.check_agreement(i, hw)
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
        if self.link.active != Some(Link::Primary) && self.link.pending.is_none() {
            self.probe(now, Link::Primary, hw);
        } else if self.selftest {
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
            if let Slot::Occupied { parcel, window } = self.nv.slots[i]
                && codes::validity(u64::from(window), codes::VALID_WINDOWS, now.rtc)
                    == Validity::Expired
            {
                self.nv.slots[i] = Slot::Expired { parcel, window };
                hw.emit(Event::Expired {
                    c: self.name(i),
                    parcel,
                });
                self.enqueue(UplinkKind::Expired, i as u8, parcel, hw);
                self.save(hw);
            }
        }
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
        if self.selftest {
            let result = if ok { DiagResult::Ok } else { DiagResult::Fail };
            hw.emit(Event::Diag {
                item: DiagItem::Link(link),
                result,
            });
        }
        match (link, ok) {
            (_, true) => self.set_active(now, Some(link), hw),
            (Link::Primary, false) if self.link.active == Some(Link::Secondary) => {
                // Failback attempt failed: stay on the secondary.
                self.link.next_primary_try = Some(now.ms + uplink::FAILBACK_PROBE_MS);
            }
            (Link::Primary, false) => return self.probe(now, Link::Secondary, hw),
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
                self.queue_full_reported = false;
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

    fn enqueue(&mut self, kind: UplinkKind, compartment: u8, value: u32, hw: &mut impl Hw) {
        let rec = Record {
            seq: self.nv.next_seq,
            kind,
            compartment,
            value,
        };
        if self.nv.queue.len() >= QUEUE_LEN || self.nv.queue.push_back(rec).is_err() {
            if !self.queue_full_reported {
                self.queue_full_reported = true;
                hw.emit(Event::Error {
                    code: ErrorCode::QUEUE_FULL,
                    c: None,
                });
            }
            return;
        }
        self.nv.next_seq = self.nv.next_seq.wrapping_add(1);
        self.save(hw);
    }

    fn pump(&mut self, now: Now, hw: &mut impl Hw) {
        if self.link.pending.is_some() || self.selftest {
            return;
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
        self.message_until = Some(now.ms + MESSAGE_MS);
        self.set_display(text(msg), hw, true);
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

    /// Steady green is normal. Red blinks the most severe fault, amber a
    /// degraded state (lockout before link loss), steady amber the self-test.
    fn update_led(&mut self, hw: &mut impl Hw) {
        let red = self.errors.iter().map(|e| e.0).filter(|c| c.0 < 60).min();
        let amber = self.errors.iter().map(|e| e.0).filter(|c| c.0 >= 60).max();
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
        }
    }

    struct Bench {
        c: Controller,
        hw: FakeHw,
        ms: u64,
        rtc: u64,
    }

    impl Bench {
        fn boot() -> Self {
            let mut hw = FakeHw::new();
            let nv = hw.nv.clone();
            let now = Now { ms: 0, rtc: T0 };
            let mut c = Controller::boot(
                Config::reference(STATION, KEY),
                &nv,
                now,
                ResetCause::PowerOn,
                &mut hw,
            );
            c.handle(
                now,
                Input::LinkProbe {
                    link: Link::Primary,
                    ok: true,
                },
                &mut hw,
            );
            let mut b = Self {
                c,
                hw,
                ms: 0,
                rtc: T0,
            };
            b.hw.take();
            b
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
                self.rtc = T0 + self.ms / 1000;
                let now = self.now();
                self.c.tick(now, &mut self.hw);
            }
            self.ms = end;
            self.rtc = T0 + self.ms / 1000;
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
        for n in 1..=LOCKOUT_THRESHOLD {
            b.keys("11111111#");
            assert_eq!(
                b.c.status(b.now()).lockout_s > 0,
                n == LOCKOUT_THRESHOLD,
                "after {n} wrong codes"
            );
        }
        assert!(b.hw.events.contains(&Event::Lockout { seconds: 30 }));
        b.keys(&code);
        assert!(!b.hw.solenoid[0], "locked out: no unlock");
        b.advance(30_000);
        assert!(!b.c.status(b.now()).lockout_s > 0);
        for _ in 0..LOCKOUT_THRESHOLD {
            b.keys("11111111#");
        }
        assert!(b.hw.events.contains(&Event::Lockout { seconds: 60 }));
    }

    #[test]
    fn lockout_survives_reboot_from_nv() {
        let mut b = Bench::boot();
        for _ in 0..LOCKOUT_THRESHOLD {
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
            b.advance(HELP_WINDOW_MS / 2 + 1);
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
}
