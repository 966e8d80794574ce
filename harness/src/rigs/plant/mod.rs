//! The plant model the sim and qemu rigs share: the locker's physics
//! (bolts, doors, springs, packages, heat, links, power) and, in [`world`],
//! the controller wired to it on a virtual clock. Only the MCU differs
//! between the two rigs: the firmware's logic in process, or its image in
//! QEMU across the plant link.

pub mod world;

use crate::rigs::Measurement;
use locker_core::Record;
use locker_core::nv::NV_SIZE;
use locker_proto::Link;
use std::collections::BTreeMap;
use std::time::Duration;

/// The controller runs at or above this supply voltage.
pub const MCU_MIN_VOLTS: f64 = 7.0;
/// Below this the solenoid cannot pull the bolt at all.
pub const SOLENOID_MIN_VOLTS: f64 = 9.0;
pub const BOOT_MS: u64 = 50;
const BOLT_TRAVEL_MS: u64 = 30;
/// After the bolt clears the strike, the door spring pops the door open.
const DOOR_POP_MS: u64 = 80;
const DOOR_CLOSE_MS: u64 = 100;
const PROBE_RTT_MS: u64 = 150;
const DELIVER_MS: u64 = 100;
const ACK_MS: u64 = 200;
/// Thermal time constant of the locker body.
const TAU_S: f64 = 900.0;
/// How far above ambient the heater alone holds the body.
const HEATER_RISE_C: f64 = 15.0;

/// On-time the solenoid needs to retract the bolt: longer in the cold
/// (stiff grease, weaker coil) and at low voltage (force goes with V^2).
pub fn retract_ms(temp_c: f64, volts: f64) -> Option<u64> {
    if volts < SOLENOID_MIN_VOLTS {
        return None;
    }
    let base = 120.0 + (10.0 - temp_c).max(0.0) * 6.0;
    Some((base * (12.0 / volts).powi(2)).round() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantEvent {
    Boot { epoch: u64, brownout: bool },
    PowerRestore { epoch: u64, centivolts: u32 },
    BoltRetracted { c: usize, epoch: u64 },
    BoltExtended { c: usize, epoch: u64 },
    DoorOpen { c: usize, epoch: u64 },
    DoorClosed { c: usize, epoch: u64 },
    ProbeAnswer { link: Link },
    Deliver { link: Link, record: Record },
    Ack { link: Link, seq: u32 },
}

#[derive(Debug, Clone, Default)]
pub struct Comp {
    pub solenoid: bool,
    on_since: u64,
    pub bolt_retracted: bool,
    bolt_epoch: u64,
    pub door_open: bool,
    door_epoch: u64,
    pub hold: bool,
    pub package: bool,
    pub stuck_door: Option<bool>,
    pub stuck_bolt: Option<bool>,
    pub stuck_package: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Thermal {
    pub body: f64,
    at_ms: u64,
    pub ambient: f64,
    pub set_point: f64,
    /// Degrees per second toward the set point; 0 jumps at once.
    rate: f64,
    pub heater: bool,
}

impl Thermal {
    fn new(ambient: f64) -> Self {
        Self {
            body: ambient,
            at_ms: 0,
            ambient,
            set_point: ambient,
            rate: 0.0,
            heater: false,
        }
    }

    /// Exact solution of dT/dt = (A(t) + H - T) / tau for piecewise-linear A.
    pub fn advance(&mut self, now_ms: u64) {
        let mut dt = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.at_ms = self.at_ms.max(now_ms);
        while dt > 0.0 {
            let gap = self.set_point - self.ambient;
            let (seg, r) = if gap.abs() > 1e-9 && self.rate > 0.0 {
                ((gap.abs() / self.rate).min(dt), self.rate * gap.signum())
            } else {
                (dt, 0.0)
            };
            let g0 = self.ambient + if self.heater { HEATER_RISE_C } else { 0.0 };
            let decay = (-seg / TAU_S).exp();
            self.body = g0 + r * seg - r * TAU_S + (self.body - g0 + r * TAU_S) * decay;
            self.ambient += r * seg;
            // Snap onto the set point when the ramp reaches (or rounding passes) it.
            let gap_now = self.set_point - self.ambient;
            if r != 0.0 && (gap_now.abs() < 1e-6 || gap_now.signum() != gap.signum()) {
                self.ambient = self.set_point;
            }
            dt -= seg;
        }
    }

    pub fn set_chamber(&mut self, now_ms: u64, set: f64, rate: Option<f64>) {
        self.advance(now_ms);
        self.set_point = set;
        match rate {
            Some(r) => self.rate = r,
            None => {
                self.rate = 0.0;
                self.ambient = set;
            }
        }
    }
}

/// Everything physical on the sim rig except the controller itself.
#[derive(Debug)]
pub struct Plant {
    pub now: u64,
    pub start_unix: u64,
    pub rtc_offset_ms: i64,
    pub volts: f64,
    pub power_epoch: u64,
    pub comps: Vec<Comp>,
    pub thermal: Thermal,
    pub links: [bool; 2],
    /// What the back office accepted, by sequence number.
    pub backoffice: BTreeMap<u32, Record>,
    pub nv: [u8; NV_SIZE],
    rng: u64,
    queue: Vec<(u64, u64, PlantEvent)>,
    order: u64,
    pub console_out: Vec<u8>,
    pub measurements: std::collections::VecDeque<Measurement>,
    pub sensors_changed: bool,
    pub link_inputs: Vec<locker_core::Input>,
}

impl Plant {
    pub fn new(start_unix: u64, ambient: f64, volts: f64, compartments: usize, seed: u64) -> Self {
        Self {
            now: 0,
            start_unix,
            rtc_offset_ms: 0,
            volts,
            power_epoch: 0,
            comps: vec![Comp::default(); compartments],
            thermal: Thermal::new(ambient),
            links: [true, true],
            backoffice: BTreeMap::new(),
            nv: [0xFF; NV_SIZE],
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            queue: Vec::new(),
            order: 0,
            console_out: Vec::new(),
            measurements: Default::default(),
            sensors_changed: false,
            link_inputs: Vec::new(),
        }
    }

    /// splitmix64: small, fast, and plenty for sensor noise.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn schedule(&mut self, after_ms: u64, ev: PlantEvent) {
        self.order += 1;
        self.queue.push((self.now + after_ms, self.order, ev));
    }

    pub fn next_event_time(&self) -> Option<u64> {
        self.queue.iter().map(|e| e.0).min()
    }

    /// Take the earliest event due at or before `now`, in scheduling order.
    pub fn pop_due(&mut self) -> Option<PlantEvent> {
        let i = self
            .queue
            .iter()
            .enumerate()
            .filter(|(_, e)| e.0 <= self.now)
            .min_by_key(|(_, e)| (e.0, e.1))
            .map(|(i, _)| i)?;
        Some(self.queue.swap_remove(i).2)
    }

    pub fn true_unix_ms(&self) -> u64 {
        self.start_unix * 1000 + self.now
    }

    /// The controller's battery-backed clock, unix milliseconds (may be
    /// set before 1970 by a test; the clock itself then reads zero).
    pub fn rtc_ms(&self) -> i64 {
        self.true_unix_ms() as i64 + self.rtc_offset_ms
    }

    pub fn rtc(&self) -> u64 {
        (self.rtc_ms().max(0) / 1000) as u64
    }

    pub fn temp_centi(&mut self) -> i32 {
        self.thermal.advance(self.now);
        let noise = (self.random() % 5) as i32 - 2;
        (self.thermal.body * 100.0).round() as i32 + noise
    }

    pub fn set_heater(&mut self, on: bool) {
        self.thermal.advance(self.now);
        self.thermal.heater = on;
    }

    pub fn door_closed(&self, c: usize) -> bool {
        let comp = &self.comps[c];
        comp.stuck_door.unwrap_or(!comp.door_open)
    }

    pub fn bolt_extended(&self, c: usize) -> bool {
        let comp = &self.comps[c];
        comp.stuck_bolt.unwrap_or(!comp.bolt_retracted)
    }

    pub fn package_present(&self, c: usize) -> bool {
        let comp = &self.comps[c];
        comp.stuck_package.unwrap_or(comp.package)
    }

    fn schedule_retraction(&mut self, c: usize) {
        let comp = &self.comps[c];
        if !comp.solenoid || comp.bolt_retracted || comp.hold {
            return;
        }
        self.thermal.advance(self.now);
        if let Some(ms) = retract_ms(self.thermal.body, self.volts) {
            let epoch = comp.bolt_epoch;
            self.schedule(ms + BOLT_TRAVEL_MS, PlantEvent::BoltRetracted { c, epoch });
        }
    }

    pub fn set_solenoid(&mut self, c: usize, on: bool) {
        let now = self.now;
        let comp = &mut self.comps[c];
        if comp.solenoid == on {
            return;
        }
        comp.solenoid = on;
        comp.bolt_epoch += 1;
        if on {
            comp.on_since = now;
            self.schedule_retraction(c);
        } else {
            let on = Duration::from_millis(now - comp.on_since);
            let (retracted, epoch) = (comp.bolt_retracted, comp.bolt_epoch);
            self.measurements
                .push_back(Measurement::Pulse { compartment: c, on });
            if retracted {
                self.schedule(BOLT_TRAVEL_MS, PlantEvent::BoltExtended { c, epoch });
            }
        }
    }

    /// Power is gone: coils drop, the heater stops.
    pub fn all_off(&mut self) {
        for c in 0..self.comps.len() {
            self.set_solenoid(c, false);
        }
        self.set_heater(false);
        self.queue
            .retain(|e| !matches!(e.2, PlantEvent::ProbeAnswer { .. } | PlantEvent::Ack { .. }));
    }

    /// Handle a mechanical or link event.
    pub fn mechanics(&mut self, ev: PlantEvent) {
        match ev {
            PlantEvent::BoltRetracted { c, epoch } if epoch == self.comps[c].bolt_epoch => {
                let comp = &mut self.comps[c];
                comp.bolt_retracted = true;
                self.sensors_changed = true;
                if !comp.door_open && !comp.hold {
                    let epoch = comp.door_epoch;
                    self.schedule(DOOR_POP_MS, PlantEvent::DoorOpen { c, epoch });
                }
            }
            PlantEvent::BoltExtended { c, epoch } if epoch == self.comps[c].bolt_epoch => {
                self.comps[c].bolt_retracted = false;
                self.sensors_changed = true;
            }
            PlantEvent::DoorOpen { c, epoch } if epoch == self.comps[c].door_epoch => {
                let comp = &mut self.comps[c];
                if comp.bolt_retracted && !comp.hold && !comp.door_open {
                    comp.door_open = true;
                    self.sensors_changed = true;
                }
            }
            PlantEvent::DoorClosed { c, epoch } if epoch == self.comps[c].door_epoch => {
                self.comps[c].door_open = false;
                self.sensors_changed = true;
            }
            PlantEvent::ProbeAnswer { link } if self.links[idx(link)] => {
                self.link_inputs
                    .push(locker_core::Input::LinkProbe { link, ok: true });
            }
            PlantEvent::Deliver { link, record } if self.links[idx(link)] => {
                let duplicate = self.backoffice.insert(record.seq, record).is_some();
                self.measurements.push_back(Measurement::Backoffice {
                    seq: record.seq,
                    kind: record.kind,
                    compartment: record.compartment,
                    value: record.value,
                    duplicate,
                });
                self.schedule(
                    ACK_MS - DELIVER_MS,
                    PlantEvent::Ack {
                        link,
                        seq: record.seq,
                    },
                );
            }
            PlantEvent::Ack { link, seq } if self.links[idx(link)] => {
                self.link_inputs.push(locker_core::Input::UplinkResult {
                    link,
                    seq,
                    ok: true,
                });
            }
            _ => {}
        }
    }

    pub fn link_probe(&mut self, link: Link) {
        self.schedule(PROBE_RTT_MS, PlantEvent::ProbeAnswer { link });
    }

    pub fn uplink(&mut self, link: Link, record: Record) {
        self.schedule(DELIVER_MS, PlantEvent::Deliver { link, record });
    }

    pub fn door(&mut self, c: usize, action: crate::model::suite::DoorAction) {
        use crate::model::suite::DoorAction;
        let comp = &mut self.comps[c];
        match action {
            DoorAction::Push => {
                if comp.door_open {
                    comp.door_epoch += 1;
                    let epoch = comp.door_epoch;
                    self.schedule(DOOR_CLOSE_MS, PlantEvent::DoorClosed { c, epoch });
                }
            }
            DoorAction::Pull => {
                if !comp.door_open && comp.bolt_retracted && !comp.hold {
                    comp.door_epoch += 1;
                    comp.door_open = true;
                    self.sensors_changed = true;
                }
            }
            DoorAction::Hold => {
                comp.hold = true;
                comp.door_epoch += 1;
                if comp.door_open {
                    comp.door_open = false;
                    self.sensors_changed = true;
                }
                if comp.solenoid && !comp.bolt_retracted {
                    // Side load on the bolt: it cannot move while held.
                    comp.bolt_epoch += 1;
                }
            }
            DoorAction::Force => {
                // The strike gives way: open, whatever the bolt does. A
                // hold is let go first, so a pulse under way moves the bolt.
                let held = std::mem::replace(&mut comp.hold, false);
                if !comp.door_open {
                    comp.door_epoch += 1;
                    comp.door_open = true;
                    self.sensors_changed = true;
                }
                if held && !self.comps[c].bolt_retracted {
                    self.schedule_retraction(c);
                }
            }
            DoorAction::Release => {
                if !comp.hold {
                    return;
                }
                comp.hold = false;
                if comp.bolt_retracted && !comp.door_open {
                    let epoch = comp.door_epoch;
                    self.schedule(DOOR_POP_MS, PlantEvent::DoorOpen { c, epoch });
                } else {
                    self.schedule_retraction(c);
                }
            }
        }
    }

    /// Every fixture at rest, as a case starts on a fresh plant: doors shut
    /// and latched, actuators free, package sensors clear, both links up (a
    /// served bench brought back between cases; the fixture board's `REST`).
    pub fn rest(&mut self) {
        for comp in &mut self.comps {
            // Events already scheduled for the door or the bolt are stale.
            *comp = Comp {
                solenoid: comp.solenoid,
                on_since: comp.on_since,
                bolt_epoch: comp.bolt_epoch + 1,
                door_epoch: comp.door_epoch + 1,
                ..Comp::default()
            };
        }
        self.links = [true, true];
        self.sensors_changed = true;
    }

    /// A fixture's flag in front of the package sensor (a bench's relay
    /// rather than a parcel): the sensor reads `present`, door or not.
    pub fn flag_package(&mut self, c: usize, present: bool) {
        let comp = &mut self.comps[c];
        if comp.package != present {
            comp.package = present;
            self.sensors_changed = true;
        }
    }

    pub fn package(&mut self, c: usize, present: bool) -> Result<(), String> {
        let comp = &mut self.comps[c];
        // Already so: nothing moves (a fixture brought to rest, for one).
        if comp.package == present {
            return Ok(());
        }
        if !comp.door_open {
            return Err(format!(
                "the door is closed: a package can only be {} through an open door",
                if present { "placed" } else { "taken out" }
            ));
        }
        comp.package = present;
        self.sensors_changed = true;
        Ok(())
    }
}

pub fn idx(link: Link) -> usize {
    match link {
        Link::Primary => 0,
        Link::Secondary => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a served bench whose last case left a parcel behind a
    /// locked door could not be brought to rest (`PKG OUT` is refused
    /// through a closed door), so its next case never started.
    #[test]
    fn rest_brings_every_compartment_back_to_how_a_case_starts() {
        use crate::model::suite::DoorAction;
        let mut p = Plant::new(0, 20.0, 12.0, 2, 0);
        let settle = |p: &mut Plant| {
            p.now += 10_000;
            while let Some(e) = p.pop_due() {
                p.mechanics(e);
            }
        };
        // A parcel left behind a closed door; another door held open.
        p.comps[0].bolt_retracted = true;
        p.comps[1].bolt_retracted = true;
        p.door(0, DoorAction::Pull);
        p.door(1, DoorAction::Pull);
        p.package(0, true).unwrap();
        p.door(0, DoorAction::Push);
        p.door(1, DoorAction::Hold);
        settle(&mut p);
        p.links = [false, true];
        assert!(p.package(0, false).is_err(), "{:?}", p.comps[0]);
        // A close scheduled before the rest changes nothing after it.
        p.door(1, DoorAction::Push);
        p.rest();
        settle(&mut p);
        for c in 0..2 {
            assert!(p.door_closed(c) && p.bolt_extended(c) && !p.package_present(c));
            assert!(!p.comps[c].hold);
        }
        assert_eq!(p.links, [true, true]);
    }

    #[test]
    fn body_follows_ambient_with_time_constant() {
        let mut t = Thermal::new(20.0);
        t.set_chamber(0, -20.0, None);
        t.advance((TAU_S * 1000.0) as u64);
        // One time constant: 63% of the way.
        assert!((t.body - (20.0 - 40.0 * 0.632)).abs() < 0.1, "{}", t.body);
    }

    #[test]
    fn ramp_reaches_set_point_and_stops() {
        let mut t = Thermal::new(20.0);
        t.set_chamber(0, 0.0, Some(1.0 / 60.0)); // 1C/min
        t.advance(10 * 60_000);
        assert!((t.ambient - 10.0).abs() < 1e-6);
        t.advance(60 * 60_000);
        assert_eq!(t.ambient, 0.0);
    }

    #[test]
    fn heater_lifts_equilibrium() {
        let mut t = Thermal::new(-10.0);
        t.heater = true;
        t.advance(20 * 3_600_000);
        assert!((t.body - 5.0).abs() < 0.01);
    }

    #[test]
    fn taking_out_a_package_that_is_not_there_is_a_no_op() {
        // A bench brings fixtures to rest before each case; the served sim
        // must accept that with its doors shut.
        let mut p = Plant::new(0, 20.0, 12.0, 2, 0);
        assert_eq!(p.package(1, false), Ok(()));
        assert!(
            p.package(1, true).is_err(),
            "placing still needs an open door"
        );
    }

    /// Tamper: a latched door forced open opens with its bolt still out,
    /// and shuts again when pushed; a package goes through a shut door.
    #[test]
    fn a_forced_door_opens_past_its_bolt_and_a_package_passes_a_shut_door() {
        use crate::model::suite::DoorAction;
        let mut p = Plant::new(0, 20.0, 12.0, 2, 0);
        let settle = |p: &mut Plant| {
            p.now += 10_000;
            while let Some(e) = p.pop_due() {
                p.mechanics(e);
            }
        };
        p.door(0, DoorAction::Pull);
        assert!(p.door_closed(0), "a latched door does not pull open");
        p.door(0, DoorAction::Hold);
        p.door(0, DoorAction::Force);
        assert!(
            !p.door_closed(0) && p.bolt_extended(0),
            "forced past its bolt"
        );
        assert!(!p.comps[0].hold, "forcing it lets go of the hold");
        p.door(0, DoorAction::Push);
        settle(&mut p);
        assert!(p.door_closed(0) && p.bolt_extended(0));
        p.flag_package(1, true);
        assert!(p.package_present(1) && p.door_closed(1));
        p.flag_package(1, false);
        assert!(!p.package_present(1));
    }

    #[test]
    fn cold_and_low_voltage_need_longer_pulses() {
        assert_eq!(retract_ms(20.0, 12.0), Some(120));
        assert!(retract_ms(-10.0, 12.0) > Some(200));
        assert!(retract_ms(-10.0, 12.0) < Some(400));
        assert!(retract_ms(20.0, 10.0) > retract_ms(20.0, 12.0));
        assert_eq!(retract_ms(20.0, 8.0), None);
    }
}
