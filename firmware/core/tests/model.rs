//! The controller against an independent reference model of its rules.
//!
//! Random sequences of keypad entries (good, wrong, malformed), waits, power
//! cycles, clock jumps, temperature changes and soft resets run on the real
//! controller (with an idealised board: bolts and doors obey at once) and on
//! a model written from the rules in DESIGN.md and PROTOCOL.md (the
//! `locker-rules` crate), not from the controller's code. After every action the two must agree on the verdict,
//! the lockout and the failed-attempt count. proptest shrinks a disagreement
//! to the shortest sequence that shows it.

use core::hash::Hasher;
use locker_core::nv::NV_SIZE;
use locker_core::{Config, Controller, Hw, Input, Now, Record};
use locker_proto::{CodeResult, Event, Key, Link, ResetCause};
use proptest::prelude::*;
use siphasher::sip::SipHasher24;

const KEY: [u8; 16] = *b"model-test-key!!";
const STATION: u32 = 321;
/// 23:50 UTC: sequences cross midnight, where windows and drift matter.
const START_UNIX: u64 = 1_772_495_400;
const N: usize = 5;

// ------------------------------------------------------------ the rules

/// The rules, as the documents state them: shared with the harness's check
/// of every case (`harness/src/run/rules.rs`), written from PROTOCOL.md and
/// never from the controller's code.
use locker_rules::{self as rules, Attempts, Refusal, Validity};

fn mac8(bytes: &[u8]) -> u64 {
    let mut h = SipHasher24::new_with_key(&KEY);
    h.write(bytes);
    h.finish() % 100_000_000
}

fn pickup_code(c: usize, parcel: u32, window: u64) -> String {
    let mut b = vec![b'P'];
    b.extend_from_slice(&STATION.to_le_bytes());
    b.push(c as u8);
    b.extend_from_slice(&parcel.to_le_bytes());
    b.extend_from_slice(&window.to_le_bytes());
    format!("{:08}", mac8(&b))
}

fn dropoff_code(c: usize, window: u64) -> String {
    let mut b = vec![b'S'];
    b.extend_from_slice(&STATION.to_le_bytes());
    b.extend_from_slice(&[1, c as u8]);
    b.extend_from_slice(&window.to_le_bytes());
    format!("1{c}{:08}", mac8(&b))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Code(CodeResult),
    LockedOut,
    Nothing,
}

#[derive(Debug, Clone, Copy)]
struct Parcel {
    number: u32,
    /// Day by the controller's clock at drop-off, and by the back office's.
    drop_window: u64,
    code_window: u64,
}

#[derive(Debug)]
struct Model {
    attempts: Attempts,
    /// Lockout: mono ms when it (re)started and how long it runs from there.
    lockout: Option<(u64, u64)>,
    parcels: [Option<Parcel>; N],
    refusal: Refusal,
}

impl Model {
    fn locked(&self, ms: u64) -> bool {
        self.lockout.is_some_and(|(start, len)| ms < start + len)
    }

    fn settle(&mut self, ms: u64) {
        if !self.locked(ms) {
            self.lockout = None;
        }
    }

    fn wrong(&mut self, ms: u64) {
        if let Some(len) = self.attempts.wrong() {
            self.lockout = Some((ms, len.as_millis() as u64));
        }
    }

    /// What the controller must say to a pickup code for compartment `c`.
    fn pickup(&mut self, ms: u64, rtc: u64, c: usize, code_of: Option<Parcel>) -> Verdict {
        self.settle(ms);
        if self.locked(ms) {
            return Verdict::LockedOut;
        }
        let held = self.parcels[c];
        let same = matches!((held, code_of), (Some(h), Some(p)) if h.number == p.number);
        // A code is found only near its drop-off day by the controller's clock.
        let Some(p) = held.filter(|p| same && p.code_window.abs_diff(p.drop_window) <= 1) else {
            self.wrong(ms);
            return Verdict::Code(CodeResult::Wrong);
        };
        let verdict = match rules::validity(p.code_window, rules::PICKUP_VALID_DAYS, rtc) {
            Validity::Early => CodeResult::Early,
            Validity::Expired => CodeResult::Expired,
            Validity::Valid if self.refusal != Refusal::None => CodeResult::Refused,
            Validity::Valid => CodeResult::Accepted,
        };
        if verdict == CodeResult::Accepted {
            // Taken: the code is spent and earlier mistakes are forgiven.
            self.parcels[c] = None;
            self.attempts.forgive();
        }
        Verdict::Code(verdict)
    }

    fn garbage(&mut self, ms: u64) -> Verdict {
        self.settle(ms);
        if self.locked(ms) {
            return Verdict::LockedOut;
        }
        self.wrong(ms);
        Verdict::Code(CodeResult::Wrong)
    }

    /// Power returns: the lockout resumes from what was last saved (at its
    /// start and every 5 s since), so time without power never counts.
    fn reboot(&mut self, ms: u64, temp: i32) {
        self.settle(ms);
        if let Some((start, len)) = self.lockout {
            let every = rules::LOCKOUT_SAVED_EVERY.as_millis() as u64;
            let saved = len - (ms - start) / every * every;
            self.lockout = Some((0, saved));
        }
        self.refusal = rules::refusal(Refusal::None, temp);
    }
}

// ------------------------------------------------------------ the board

#[derive(Default)]
struct Board {
    solenoid: [bool; N],
    door_open: [bool; N],
    package: [bool; N],
    temp: i32,
    events: Vec<Event>,
    nv: Vec<u8>,
    link_requests: Vec<Input>,
}

impl Hw for Board {
    fn door_closed(&self, c: usize) -> bool {
        !self.door_open[c]
    }
    fn bolt_extended(&self, c: usize) -> bool {
        !self.solenoid[c]
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
    fn set_heater(&mut self, _on: bool) {}
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn link_probe(&mut self, link: Link) {
        self.link_requests.push(Input::LinkProbe { link, ok: true });
    }
    fn uplink(&mut self, link: Link, record: &Record) {
        self.link_requests.push(Input::UplinkResult {
            link,
            seq: record.seq,
            ok: true,
        });
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        self.nv = image.to_vec();
    }
}

struct Rig {
    ctrl: Controller,
    board: Board,
    /// Controller monotonic time since its last boot.
    ms: u64,
    /// True time since the start, in ms; the RTC is this plus `offset_s`.
    true_ms: u64,
    offset_s: i64,
}

impl Rig {
    fn rtc(&self) -> u64 {
        (START_UNIX as i64 + (self.true_ms / 1000) as i64 + self.offset_s) as u64
    }
    fn now(&self) -> Now {
        Now {
            ms: self.ms,
            rtc: self.rtc(),
        }
    }
    fn answer_links(&mut self) {
        while !self.board.link_requests.is_empty() {
            for input in std::mem::take(&mut self.board.link_requests) {
                let now = self.now();
                self.ctrl.handle(now, input, &mut self.board);
            }
        }
    }
    fn boot() -> Self {
        let mut board = Board {
            temp: 2000,
            nv: vec![0xFF; NV_SIZE],
            ..Board::default()
        };
        let now = Now {
            ms: 0,
            rtc: START_UNIX,
        };
        let ctrl = Controller::boot(
            Config::reference(STATION, KEY),
            &board.nv.clone(),
            now,
            ResetCause::PowerOn,
            &mut board,
        );
        let mut rig = Self {
            ctrl,
            board,
            ms: 0,
            true_ms: 0,
            offset_s: 0,
        };
        rig.answer_links();
        rig
    }
    fn advance(&mut self, ms: u64) {
        let end = self.ms + ms;
        loop {
            let d = self.ctrl.next_deadline();
            if d > end {
                break;
            }
            self.true_ms += d.saturating_sub(self.ms);
            self.ms = self.ms.max(d);
            let now = self.now();
            self.ctrl.tick(now, &mut self.board);
            self.answer_links();
        }
        self.true_ms += end - self.ms;
        self.ms = end;
    }
    fn input(&mut self, input: Input) {
        let now = self.now();
        self.ctrl.handle(now, input, &mut self.board);
        self.answer_links();
    }
    fn keys(&mut self, s: &str) -> Verdict {
        self.board.events.clear();
        for ch in s.chars() {
            let key = Key::from_char(ch).unwrap_or(Key::Clear);
            self.input(Input::Key(key));
        }
        let verdict = self.board.events.iter().find_map(|e| match e {
            Event::Code { result, .. } => Some(Verdict::Code(*result)),
            _ => None,
        });
        let locked = self
            .board
            .events
            .iter()
            .any(|e| matches!(e, Event::Display(t) if t.as_str() == "LOCKED OUT"));
        verdict.unwrap_or(if locked {
            Verdict::LockedOut
        } else {
            Verdict::Nothing
        })
    }
    /// After an accepted code: the door springs open, the parcel is taken
    /// (or placed), the door is shut.
    fn open_and_close(&mut self, c: usize, package_after: bool) {
        self.advance(450); // the pulse (at most 400ms) ends with the bolt back
        self.board.door_open[c] = true;
        self.input(Input::Sensors);
        self.board.package[c] = package_after;
        self.input(Input::Sensors);
        self.board.door_open[c] = false;
        self.input(Input::Sensors);
    }
    fn reboot(&mut self, off_ms: u64) {
        self.true_ms += off_ms;
        let nv = self.board.nv.clone();
        self.board.solenoid = [false; N];
        self.ms = 0;
        let now = self.now();
        self.ctrl = Controller::boot(
            Config::reference(STATION, KEY),
            &nv,
            now,
            ResetCause::PowerOn,
            &mut self.board,
        );
        self.answer_links();
    }
}

// ------------------------------------------------------------ actions

#[derive(Debug, Clone)]
enum Action {
    Pickup(usize),
    /// A wrong 8-digit code.
    Wrong(u32),
    /// A code of the wrong length.
    Garbage(u8),
    Wait(u64),
    PowerCycle(u64),
    /// Controller clock offset from true time, seconds.
    Clock(i64),
    Temp(i32),
    SoftReset,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..N).prop_map(Action::Pickup),
        4 => (0u32..100_000_000).prop_map(Action::Wrong),
        1 => (1u8..12).prop_filter("not a code length", |n| *n != 8 && *n != 10).prop_map(Action::Garbage),
        3 => prop_oneof![1_000u64..20_000, 20_000u64..200_000].prop_map(Action::Wait),
        1 => (100u64..60_000).prop_map(Action::PowerCycle),
        1 => prop::sample::select(vec![-7_200i64, -600, -180, 0, 180, 600, 7_200]).prop_map(Action::Clock),
        1 => prop::sample::select(vec![-2_500, -2_100, -1_900, -1_600, 2_000, 5_800, 6_100]).prop_map(Action::Temp),
        1 => Just(Action::SoftReset),
    ]
}

fn run(actions: &[Action]) -> Result<(), TestCaseError> {
    let mut rig = Rig::boot();
    let mut model = Model {
        attempts: Attempts::default(),
        lockout: None,
        parcels: [None; N],
        refusal: Refusal::None,
    };
    // Stock every compartment through the courier's front-panel flow.
    let mut codes: [Option<Parcel>; N] = [None; N];
    for (c, slot) in codes.iter_mut().enumerate() {
        let window = rig.rtc() / rules::DAY_S;
        let v = rig.keys(&format!("{}#", dropoff_code(c, window)));
        prop_assert_eq!(v, Verdict::Code(CodeResult::Accepted));
        rig.open_and_close(c, true);
        let number = rig.board.events.iter().find_map(|e| match e {
            Event::Dropoff { parcel, .. } => Some(*parcel),
            _ => None,
        });
        let number = number
            .ok_or_else(|| TestCaseError::fail(format!("no drop-off event for compartment {c}")))?;
        let code_window = (START_UNIX * 1000 + rig.true_ms) / 1000 / rules::DAY_S;
        *slot = Some(Parcel {
            number,
            drop_window: rig.rtc() / rules::DAY_S,
            code_window,
        });
    }
    model.parcels = codes;
    for (step, a) in actions.iter().enumerate() {
        let (got, want) = match a {
            Action::Pickup(c) => {
                let Some(p) = codes[*c] else { continue };
                let want = model.pickup(rig.ms, rig.rtc(), *c, Some(p));
                let got = rig.keys(&format!("{}#", pickup_code(*c, p.number, p.code_window)));
                if got == Verdict::Code(CodeResult::Accepted) {
                    rig.open_and_close(*c, false);
                }
                (got, want)
            }
            Action::Wrong(n) => {
                let want = model.garbage(rig.ms);
                (rig.keys(&format!("{n:08}#")), want)
            }
            Action::Garbage(len) => {
                let want = model.garbage(rig.ms);
                (
                    rig.keys(&format!("{}#", "7".repeat(usize::from(*len)))),
                    want,
                )
            }
            Action::Wait(ms) => {
                rig.advance(*ms);
                (Verdict::Nothing, Verdict::Nothing)
            }
            Action::PowerCycle(off) => {
                model.reboot(rig.ms, rig.board.temp);
                rig.reboot(*off);
                (Verdict::Nothing, Verdict::Nothing)
            }
            Action::Clock(offset) => {
                rig.offset_s = *offset;
                (Verdict::Nothing, Verdict::Nothing)
            }
            Action::Temp(t) => {
                rig.board.temp = *t;
                // Two sampling periods: from too hot to too cold takes two
                // samples (hot -> none -> cold), so let the state settle.
                rig.advance(20_000);
                model.refusal = rules::refusal(rules::refusal(model.refusal, *t), *t);
                (Verdict::Nothing, Verdict::Nothing)
            }
            Action::SoftReset => {
                for _ in 0..3 {
                    rig.input(Input::Help);
                }
                (Verdict::Nothing, Verdict::Nothing)
            }
        };
        let ctx = || format!("after action {step} {a:?} at {}ms", rig.ms);
        prop_assert_eq!(got, want, "verdict {}", ctx());
        model.settle(rig.ms);
        prop_assert_eq!(
            rig.ctrl.status(rig.now()).lockout_s > 0,
            model.locked(rig.ms),
            "lockout {}",
            ctx()
        );
        prop_assert_eq!(
            rig.ctrl.nv().failed,
            model.attempts.wrong,
            "failed attempts {}",
            ctx()
        );
    }
    Ok(())
}

proptest! {
    // 256 sequences by default; PROPTEST_CASES=10000 for a long search.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn controller_agrees_with_the_reference_model(actions in prop::collection::vec(action(), 1..60)) {
        run(&actions)?;
    }
}

/// Found by the property test (in the model, not the firmware): from too hot
/// straight to too cold the refusal passes through "none" first, one sample
/// each; a soft reset's extra sample exposed a model that took one step.
#[test]
fn hot_to_cold_takes_two_samples_regression() {
    run(&[
        Action::Temp(6100),
        Action::Temp(-2500),
        Action::SoftReset,
        Action::Pickup(0),
    ])
    .unwrap();
}

/// Five wrong codes, a power cut, and the lockout must still hold with its
/// saved remainder.
#[test]
fn lockout_across_power_cut_regression() {
    let seq = [
        Action::Wrong(1),
        Action::Wrong(2),
        Action::Wrong(3),
        Action::Wrong(4),
        Action::Wrong(5),
        Action::Wait(12_000),
        Action::PowerCycle(30_000),
        Action::Pickup(0),
        Action::Wait(20_000),
        Action::Pickup(0),
    ];
    run(&seq).unwrap();
}
