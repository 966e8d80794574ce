//! The controller wired to the plant, a virtual clock, and the rig around them.

use super::{self as plant, BOOT_MS, MCU_MIN_VOLTS, Plant, PlantEvent};
use crate::model::rigfile::{RigDescription, SimSettings};
use crate::model::suite::{MemoryAction, PowerAction, Sensor, Stuck, UpDown};
use crate::rigs::{FixtureAction, FlashReport, Measurement, Rig, RigError, RigOutput, Truth};
use locker_core::board::Board;
use locker_core::nv::NV_SIZE;
use locker_core::{Input, Now, Record};
use locker_proto::{Key, Link, ResetCause};
use std::time::Duration;

/// Scheduled events one `recv` handles at most before returning.
const EVENT_BUDGET: u32 = 20_000;

/// The sim board: the plant is what the firmware's pins and UART reach.
impl Board for Plant {
    fn door_closed(&self, c: usize) -> bool {
        Plant::door_closed(self, c)
    }
    fn bolt_extended(&self, c: usize) -> bool {
        Plant::bolt_extended(self, c)
    }
    fn package_present(&self, c: usize) -> bool {
        Plant::package_present(self, c)
    }
    fn read_temp_centi(&mut self) -> i32 {
        self.temp_centi()
    }
    fn set_solenoid(&mut self, c: usize, on: bool) {
        Plant::set_solenoid(self, c, on);
    }
    fn set_heater(&mut self, on: bool) {
        Plant::set_heater(self, on);
    }
    fn link_probe(&mut self, link: Link) {
        Plant::link_probe(self, link);
    }
    fn uplink(&mut self, link: Link, record: &Record) {
        Plant::uplink(self, link, *record);
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        self.nv = *image;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.console_out.extend_from_slice(bytes);
    }
    fn set_rtc(&mut self, unix_s: u64) {
        self.rtc_offset_ms = (unix_s * 1000) as i64 - self.true_unix_ms() as i64;
    }
    fn reset_peripherals(&mut self) {
        self.all_off();
    }
}

/// The controller end of the world: what runs the firmware, powered by the plant.
///
/// The sim rig runs [`locker_core::board::Firmware`] in this process (`sim::LocalMcu`); the qemu rig
/// runs the firmware image in an emulator across the plant link. Either way
/// the `World` decides when time moves, so both are deterministic.
pub trait Mcu: Send {
    fn is_on(&self) -> bool;
    /// Plant time (ms) at which the firmware's next tick is due, when powered.
    fn deadline(&self) -> Option<u64>;
    /// Power reached the MCU: boot from the plant's non-volatile memory.
    fn boot(&mut self, plant: &mut Plant, cause: ResetCause) -> Result<(), RigError>;
    /// Power is gone: the MCU stops where it is.
    fn power_off(&mut self);
    fn input(&mut self, plant: &mut Plant, input: Input) -> Result<(), RigError>;
    fn tick(&mut self, plant: &mut Plant) -> Result<(), RigError>;
    /// Nothing reaches the MCU before plant time `horizon`: run its own
    /// deadlines from now up to it, stopping after the first that acted on
    /// anything. One tick is always a correct answer (the world asks again).
    fn run(&mut self, plant: &mut Plant, horizon: u64) -> Result<(), RigError> {
        let _ = horizon;
        self.tick(plant)
    }
    /// Bytes from the harness on the console UART.
    fn console_write(&mut self, plant: &mut Plant, bytes: &[u8]) -> Result<(), RigError>;
}

/// The firmware's view of the time: since its boot, and the plant's RTC.
pub(crate) fn mcu_now(plant: &Plant, boot_at: u64) -> Now {
    Now {
        ms: plant.now - boot_at,
        rtc: plant.rtc(),
    }
}

/// Controller plus plant, advancing together in virtual time.
pub(crate) struct World<M> {
    pub(crate) plant: Plant,
    mcu: M,
    /// The supply's normal output, restored after cuts and brownouts.
    nominal_volts: f64,
    /// Whether the last loss of power was a dip above zero (a brownout).
    last_dip_was_brownout: bool,
    /// The truth last reported (`None` before the first report).
    told: Option<Told>,
}

/// The plant's truth as last reported to the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Told {
    comps: Vec<(bool, bool, bool)>,
    power: bool,
    links: bool,
}

impl Told {
    fn of(plant: &Plant) -> Self {
        Self {
            comps: (plant.comps.iter())
                .map(|c| (c.bolt_retracted, c.door_open, c.package))
                .collect(),
            power: plant.volts >= MCU_MIN_VOLTS,
            links: plant.links.iter().any(|up| *up),
        }
    }
}

impl<M: Mcu> World<M> {
    pub(crate) fn new(mcu: M, compartments: usize, s: &SimSettings, seed: u64) -> Self {
        let plant = Plant::new(s.start_unix, s.ambient.0, s.supply.0, compartments, seed);
        let mut w = Self {
            plant,
            mcu,
            nominal_volts: s.supply.0,
            last_dip_was_brownout: false,
            told: None,
        };
        if w.plant.volts >= MCU_MIN_VOLTS {
            w.plant.schedule(
                BOOT_MS,
                PlantEvent::Boot {
                    epoch: 0,
                    brownout: false,
                },
            );
        }
        w
    }

    fn input(&mut self, input: Input) -> Result<(), RigError> {
        self.mcu.input(&mut self.plant, input)
    }

    fn set_volts(&mut self, volts: f64) {
        let was_on = self.plant.volts >= MCU_MIN_VOLTS;
        self.plant.volts = volts;
        let on = volts >= MCU_MIN_VOLTS;
        if was_on && !on {
            self.mcu.power_off();
            self.plant.power_epoch += 1;
            self.plant.all_off();
        } else if !was_on && on {
            self.plant.power_epoch += 1;
            let epoch = self.plant.power_epoch;
            // A dip that never reached zero is a brownout, as the reset cause says.
            let brownout = self.last_dip_was_brownout;
            self.plant
                .schedule(BOOT_MS, PlantEvent::Boot { epoch, brownout });
        }
    }

    /// Bytes from the harness to the controller console.
    pub(crate) fn console_write(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.mcu.console_write(&mut self.plant, bytes)
    }

    fn has_output(&self) -> bool {
        !self.plant.console_out.is_empty() || !self.plant.measurements.is_empty()
    }

    /// Report what changed on the plant since the last report (everything,
    /// the first time), as truth measurements. Runs at every step of
    /// virtual time: it compares in place and allocates nothing.
    fn tell_truth(&mut self) {
        let first = self.told.is_none();
        let plant = &mut self.plant;
        let told = self.told.get_or_insert_with(|| Told::of(plant));
        let m = &mut plant.measurements;
        let mut tell = |t| m.push_back(Measurement::Truth(t));
        for (compartment, (c, was)) in plant.comps.iter().zip(&mut told.comps).enumerate() {
            if first || was.0 != c.bolt_retracted {
                tell(Truth::Bolt {
                    compartment,
                    retracted: c.bolt_retracted,
                });
            }
            if first || was.1 != c.door_open {
                tell(Truth::Door {
                    compartment,
                    open: c.door_open,
                });
            }
            if first || was.2 != c.package {
                tell(Truth::Package {
                    compartment,
                    present: c.package,
                });
            }
            *was = (c.bolt_retracted, c.door_open, c.package);
        }
        let power = plant.volts >= MCU_MIN_VOLTS;
        if first || told.power != power {
            tell(Truth::Power { on: power });
            told.power = power;
        }
        let links = plant.links.iter().any(|up| *up);
        if first || told.links != links {
            tell(Truth::Links { up: links });
            told.links = links;
        }
    }

    /// Run until something is observable, virtual time reaches `until` (ms),
    /// or `budget` scheduled events have been handled. The budget keeps one
    /// call short, so the runner's wall-clock bounds can always fire.
    pub(crate) fn advance(&mut self, until: u64, mut budget: u32) -> Result<(), RigError> {
        loop {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return Ok(());
            }
            self.flush_inputs()?;
            self.tell_truth();
            if self.has_output() {
                return Ok(());
            }
            let next = match (self.plant.next_event_time(), self.mcu.deadline()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(u64::MAX),
            };
            if next > until {
                self.plant.now = self.plant.now.max(until);
                return Ok(());
            }
            self.plant.now = self.plant.now.max(next);
            while let Some(ev) = self.plant.pop_due() {
                self.plant_event(ev)?;
                self.flush_inputs()?;
            }
            if self.mcu.deadline().is_some_and(|d| d <= self.plant.now) {
                // Plant events at the same instant go first, as above.
                let horizon = self
                    .plant
                    .next_event_time()
                    .map_or(until, |t| t.saturating_sub(1).min(until))
                    .max(self.plant.now);
                self.mcu.run(&mut self.plant, horizon)?;
            }
        }
    }

    fn flush_inputs(&mut self) -> Result<(), RigError> {
        if std::mem::take(&mut self.plant.sensors_changed) {
            self.input(Input::Sensors)?;
        }
        for input in std::mem::take(&mut self.plant.link_inputs) {
            self.input(input)?;
        }
        Ok(())
    }

    fn plant_event(&mut self, ev: PlantEvent) -> Result<(), RigError> {
        match ev {
            PlantEvent::Boot { epoch, brownout } => {
                if epoch == self.plant.power_epoch
                    && self.plant.volts >= MCU_MIN_VOLTS
                    && !self.mcu.is_on()
                {
                    let cause = if brownout {
                        ResetCause::Brownout
                    } else {
                        ResetCause::PowerOn
                    };
                    self.mcu.boot(&mut self.plant, cause)?;
                }
            }
            PlantEvent::PowerRestore { epoch, centivolts } => {
                if epoch == self.plant.power_epoch {
                    self.set_volts(f64::from(centivolts) / 100.0);
                }
            }
            other => self.plant.mechanics(other),
        }
        Ok(())
    }

    pub(crate) fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        match action {
            FixtureAction::Key(ch) => {
                let key = Key::from_char(*ch).ok_or_else(|| RigError::Fixture {
                    fixture: "keypad",
                    message: format!("no key `{ch}`"),
                })?;
                self.input(Input::Key(key))?;
            }
            FixtureAction::HelpButton => self.input(Input::Help)?,
            FixtureAction::Door {
                compartment,
                action,
            } => self.plant.door(*compartment, *action),
            FixtureAction::Package {
                compartment,
                action,
            } if action.through_the_door() => {
                self.plant
                    .package(*compartment, action.leaves_present())
                    .map_err(|message| RigError::Fixture {
                        fixture: "package",
                        message,
                    })?;
            }
            // Past the door (tamper): the sensor sees it come or go, shut or not.
            FixtureAction::Package {
                compartment,
                action,
            } => self
                .plant
                .flag_package(*compartment, action.leaves_present()),
            FixtureAction::Chamber { set, ramp } => {
                self.plant
                    .thermal
                    .set_chamber(self.plant.now, set.0, ramp.map(|r| r.0))
            }
            FixtureAction::Power(p) => self.power(*p),
            FixtureAction::Link { primary, secondary } => {
                for (link, state) in [(Link::Primary, primary), (Link::Secondary, secondary)] {
                    if let Some(s) = state {
                        self.plant.links[plant::idx(link)] = *s == UpDown::Up;
                    }
                }
            }
            FixtureAction::Memory(MemoryAction::Corrupt) => {
                // A few flipped bits in the middle of the image: what a worn
                // flash cell or a write torn by a power cut leaves behind.
                let mid = self.plant.nv.len() / 2;
                for b in &mut self.plant.nv[mid..mid + 4] {
                    *b ^= 0x5A;
                }
            }
            FixtureAction::Fault {
                compartment,
                sensor,
                stuck,
            } => {
                let comp = &mut self.plant.comps[*compartment];
                let value = match stuck {
                    Stuck::None => None,
                    Stuck::Closed | Stuck::Extended | Stuck::Present => Some(true),
                    Stuck::Open | Stuck::Retracted | Stuck::Absent => Some(false),
                };
                match sensor {
                    Sensor::Door => comp.stuck_door = value,
                    Sensor::Bolt => comp.stuck_bolt = value,
                    Sensor::Package => comp.stuck_package = value,
                }
                self.plant.sensors_changed = true;
            }
        }
        Ok(())
    }

    fn power(&mut self, p: PowerAction) {
        let nominal = if self.plant.volts >= MCU_MIN_VOLTS {
            self.plant.volts
        } else {
            self.nominal_volts
        };
        match p {
            PowerAction::Off => {
                self.last_dip_was_brownout = false;
                self.set_volts(0.0);
            }
            PowerAction::On => self.set_volts(nominal),
            PowerAction::Volts(v) => {
                self.last_dip_was_brownout = v > 0.0;
                self.set_volts(v);
            }
            PowerAction::Cycle { off_for } => {
                self.last_dip_was_brownout = false;
                self.set_volts(0.0);
                self.restore_after(off_for, nominal);
            }
            PowerAction::Brownout { volts, for_ } => {
                self.last_dip_was_brownout = volts > 0.0;
                self.set_volts(volts);
                self.restore_after(for_, nominal);
            }
        }
    }

    fn restore_after(&mut self, d: Duration, volts: f64) {
        let epoch = self.plant.power_epoch;
        let centivolts = (volts * 100.0).round() as u32;
        self.plant.schedule(
            d.as_millis() as u64,
            PlantEvent::PowerRestore { epoch, centivolts },
        );
    }
}

/// What runs the firmware on a model rig, and how it proves which firmware that is.
pub trait McuKind: Send + 'static {
    type Mcu: Mcu;
    /// Whether driving the MCU blocks on I/O (an emulator across a socket),
    /// so the rig must step off the async worker while it waits.
    const BLOCKING: bool = false;
    /// Build or load the image and prove it is the one the rig file names.
    fn flash(
        &mut self,
        desc: &RigDescription,
    ) -> impl Future<Output = Result<FlashReport, RigError>> + Send;
    /// A fresh, unpowered MCU for one case.
    fn mcu(&mut self, desc: &RigDescription) -> Result<Self::Mcu, RigError>;
}

/// A rig whose world is the plant model: a fresh `World` per case, the
/// firmware run by `K`.
pub struct ModelRig<K: McuKind> {
    name: String,
    desc: RigDescription,
    settings: SimSettings,
    kind: K,
    world: Option<World<K::Mcu>>,
}

impl<K: McuKind> std::fmt::Debug for ModelRig<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRig")
            .field("name", &self.desc.name)
            .finish_non_exhaustive()
    }
}

impl<K: McuKind> ModelRig<K> {
    /// The same rig under another name: one of several made from one rig
    /// file (`sim-0`, `sim-1`), told apart in progress and reports.
    pub fn named(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    pub(crate) fn with_kind(desc: RigDescription, kind: K) -> Self {
        let settings = desc.model_settings().cloned().unwrap_or_default();
        Self {
            name: desc.name.clone(),
            desc,
            settings,
            kind,
            world: None,
        }
    }

    fn world(&mut self) -> Result<&mut World<K::Mcu>, RigError> {
        self.world
            .as_mut()
            .ok_or_else(|| RigError::Console("rig used before a case prepared it".into()))
    }
}

impl<K: McuKind> Rig for ModelRig<K> {
    fn name(&self) -> &str {
        &self.name
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.world.as_ref().map_or(0, |w| w.plant.now))
    }

    fn true_unix_ms(&self) -> u64 {
        self.world
            .as_ref()
            .map_or(self.settings.start_unix * 1000, |w| w.plant.true_unix_ms())
    }

    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        self.kind.flash(&self.desc).await
    }

    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        // The last case's MCU goes first: never two emulators for one rig.
        self.world = None;
        let mcu = self.kind.mcu(&self.desc)?;
        self.world = Some(World::new(
            mcu,
            self.desc.compartments.len(),
            &self.settings,
            seed ^ self.settings.seed,
        ));
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        let w = self.world()?;
        crate::rigs::blocking(K::BLOCKING, || w.console_write(bytes))
    }

    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        // Virtual time is CPU work: let other tasks and timers in between calls.
        tokio::task::yield_now().await;
        let w = self.world()?;
        crate::rigs::blocking(K::BLOCKING, || {
            w.advance(until.as_millis() as u64, EVENT_BUDGET)
        })?;
        if let Some(m) = w.plant.measurements.pop_front() {
            return Ok(RigOutput::Measurement(m));
        }
        if !w.plant.console_out.is_empty() {
            return Ok(RigOutput::Console(std::mem::take(&mut w.plant.console_out)));
        }
        Ok(RigOutput::Idle)
    }

    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        let w = self.world()?;
        crate::rigs::blocking(K::BLOCKING, || w.act(action))
    }

    fn release(&mut self) {
        // Power goes with the world: an emulator stops with its case.
        self.world = None;
    }
}
