//! The controller wired to the plant, a virtual clock, and the rig around them.

use super::plant::{self, BOOT_MS, MCU_MIN_VOLTS, Plant, PlantEvent};
use crate::rig::{FixtureAction, FlashReport, Rig, RigError, RigOutput};
use crate::rigfile::{RigDescription, RigKind, SimSettings};
use crate::suite::{MemoryAction, PackageAction, PowerAction, Sensor, Stuck, UpDown};
use locker_core::console::{Console, Incoming};
use locker_core::nv::NV_SIZE;
use locker_core::{Config, Controller, Hw, Input, Now, Record};
use locker_proto::{Command, Event, Key, Link, ResetCause, Response};
use std::time::Duration;

/// Scheduled events one `recv` handles at most before returning.
const EVENT_BUDGET: u32 = 20_000;

/// Board name the sim controller announces.
pub const SIM_BOARD: &str = "sim";

/// The sim board: what the firmware's `Hw` calls land on.
struct Board<'a> {
    plant: &'a mut Plant,
    console: &'a mut Console,
    mono_ms: u64,
}

impl Hw for Board<'_> {
    fn door_closed(&self, c: usize) -> bool {
        self.plant.door_closed(c)
    }
    fn bolt_extended(&self, c: usize) -> bool {
        self.plant.bolt_extended(c)
    }
    fn package_present(&self, c: usize) -> bool {
        self.plant.package_present(c)
    }
    fn read_temp_centi(&mut self) -> i32 {
        self.plant.temp_centi()
    }
    fn set_solenoid(&mut self, c: usize, on: bool) {
        self.plant.set_solenoid(c, on);
    }
    fn set_heater(&mut self, on: bool) {
        self.plant.set_heater(on);
    }
    fn emit(&mut self, event: Event) {
        let line = self.console.event(self.mono_ms, event);
        self.plant.console_out.extend_from_slice(line.as_bytes());
    }
    fn link_probe(&mut self, link: Link) {
        self.plant.link_probe(link);
    }
    fn uplink(&mut self, link: Link, record: &Record) {
        self.plant.uplink(link, *record);
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        self.plant.nv = *image;
    }
}

struct Mcu {
    ctrl: Controller,
    console: Console,
    boot_at: u64,
}

/// Controller plus plant, advancing together in virtual time.
pub(crate) struct World {
    cfg: Config,
    plant: Plant,
    mcu: Option<Mcu>,
    /// The supply's normal output, restored after cuts and brownouts.
    nominal_volts: f64,
    /// Whether the last loss of power was a dip above zero (a brownout).
    last_dip_was_brownout: bool,
}

impl World {
    fn new(cfg: Config, s: &SimSettings, seed: u64) -> Self {
        let plant = Plant::new(
            s.start_unix,
            s.ambient.0,
            s.supply.0,
            cfg.compartments.len(),
            seed,
        );
        let mut w = Self {
            cfg,
            plant,
            mcu: None,
            nominal_volts: s.supply.0,
            last_dip_was_brownout: false,
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

    fn with_mcu(&mut self, f: impl FnOnce(&mut Controller, Now, &mut Board<'_>)) {
        let Some(mcu) = self.mcu.as_mut() else { return };
        let now = Now {
            ms: self.plant.now - mcu.boot_at,
            rtc: self.plant.rtc(),
        };
        let mut board = Board {
            plant: &mut self.plant,
            console: &mut mcu.console,
            mono_ms: now.ms,
        };
        f(&mut mcu.ctrl, now, &mut board);
    }

    fn input(&mut self, input: Input) {
        self.with_mcu(|c, now, hw| c.handle(now, input, hw));
    }

    fn boot(&mut self, cause: ResetCause) {
        let mut console = Console::new();
        let hello = console.hello(locker_core::BUILD_ID, SIM_BOARD, cause);
        self.plant.console_out.extend_from_slice(hello.as_bytes());
        let rtc = self.plant.rtc();
        let mut board = Board {
            plant: &mut self.plant,
            console: &mut console,
            mono_ms: 0,
        };
        let ctrl = Controller::boot(
            self.cfg.clone(),
            &board.plant.nv.clone(),
            Now { ms: 0, rtc },
            cause,
            &mut board,
        );
        self.mcu = Some(Mcu {
            ctrl,
            console,
            boot_at: self.plant.now,
        });
    }

    fn set_volts(&mut self, volts: f64) {
        let was_on = self.plant.volts >= MCU_MIN_VOLTS;
        self.plant.volts = volts;
        let on = volts >= MCU_MIN_VOLTS;
        if was_on && !on {
            self.mcu = None;
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
    fn console_write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let Some(mcu) = self.mcu.as_mut() else { return };
            let Some(incoming) = mcu.console.feed(b) else {
                continue;
            };
            let (seq, response) = match incoming {
                Incoming::Bad { seq, why } => (
                    seq,
                    Response::Err(locker_proto::Text::try_from(why).unwrap_or_default()),
                ),
                Incoming::Command { seq, command } => match command {
                    Command::Identify => (
                        seq,
                        Response::Ident {
                            proto: locker_proto::PROTOCOL_VERSION,
                            build: locker_proto::Ident::try_from(locker_core::BUILD_ID)
                                .unwrap_or_default(),
                            board: locker_proto::Ident::try_from(SIM_BOARD).unwrap_or_default(),
                        },
                    ),
                    Command::Status => {
                        let now = Now {
                            ms: self.plant.now - mcu.boot_at,
                            rtc: self.plant.rtc(),
                        };
                        (seq, Response::Status(mcu.ctrl.status(now)))
                    }
                    Command::Ping => (seq, Response::Ok),
                    Command::ClockSet(unix) => {
                        self.plant.rtc_offset_ms =
                            (unix * 1000) as i64 - self.plant.true_unix_ms() as i64;
                        (seq, Response::Ok)
                    }
                    Command::FactoryReset => {
                        let line = mcu.console.response(seq, Response::Ok);
                        self.plant.console_out.extend_from_slice(line.as_bytes());
                        self.plant.nv = [0xFF; NV_SIZE];
                        self.plant.all_off();
                        self.boot(ResetCause::Factory);
                        continue;
                    }
                },
            };
            if let Some(mcu) = self.mcu.as_mut() {
                let line = mcu.console.response(seq, response);
                self.plant.console_out.extend_from_slice(line.as_bytes());
            }
        }
    }

    fn has_output(&self) -> bool {
        !self.plant.console_out.is_empty() || !self.plant.measurements.is_empty()
    }

    /// Run until something is observable, virtual time reaches `until` (ms),
    /// or `budget` scheduled events have been handled. The budget keeps one
    /// call short, so the runner's wall-clock bounds can always fire.
    fn advance(&mut self, until: u64, mut budget: u32) {
        loop {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return;
            }
            self.flush_inputs();
            if self.has_output() {
                return;
            }
            let plant_next = self.plant.next_event_time();
            let mcu_next = self
                .mcu
                .as_ref()
                .map(|m| m.boot_at + m.ctrl.next_deadline());
            let next = match (plant_next, mcu_next) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(u64::MAX),
            };
            if next > until {
                self.plant.now = self.plant.now.max(until);
                return;
            }
            self.plant.now = self.plant.now.max(next);
            while let Some(ev) = self.plant.pop_due() {
                self.plant_event(ev);
                self.flush_inputs();
            }
            if self
                .mcu
                .as_ref()
                .is_some_and(|m| m.boot_at + m.ctrl.next_deadline() <= self.plant.now)
            {
                self.with_mcu(|c, now, hw| c.tick(now, hw));
            }
        }
    }

    fn flush_inputs(&mut self) {
        if std::mem::take(&mut self.plant.sensors_changed) {
            self.input(Input::Sensors);
        }
        for input in std::mem::take(&mut self.plant.link_inputs) {
            self.input(input);
        }
    }

    fn plant_event(&mut self, ev: PlantEvent) {
        match ev {
            PlantEvent::Boot { epoch, brownout } => {
                if epoch == self.plant.power_epoch
                    && self.plant.volts >= MCU_MIN_VOLTS
                    && self.mcu.is_none()
                {
                    self.boot(if brownout {
                        ResetCause::Brownout
                    } else {
                        ResetCause::PowerOn
                    });
                }
            }
            PlantEvent::PowerRestore { epoch, centivolts } => {
                if epoch == self.plant.power_epoch {
                    self.set_volts(f64::from(centivolts) / 100.0);
                }
            }
            other => self.plant.mechanics(other),
        }
    }

    fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        match action {
            FixtureAction::Key(ch) => {
                let key = Key::from_char(*ch).ok_or_else(|| RigError::Fixture {
                    fixture: "keypad",
                    message: format!("no key `{ch}`"),
                })?;
                self.input(Input::Key(key));
            }
            FixtureAction::HelpButton => self.input(Input::Help),
            FixtureAction::Door {
                compartment,
                action,
            } => self.plant.door(*compartment, *action),
            FixtureAction::Package {
                compartment,
                action,
            } => {
                self.plant
                    .package(*compartment, *action == PackageAction::In)
                    .map_err(|message| RigError::Fixture {
                        fixture: "package",
                        message,
                    })?;
            }
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

/// The sim rig: a fresh [`World`] per case.
pub struct SimRig {
    desc: RigDescription,
    settings: SimSettings,
    world: Option<World>,
}

impl std::fmt::Debug for SimRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRig")
            .field("name", &self.desc.name)
            .finish_non_exhaustive()
    }
}

impl SimRig {
    pub fn new(desc: RigDescription) -> Self {
        let RigKind::Sim(settings) = desc.kind.clone();
        Self {
            desc,
            settings,
            world: None,
        }
    }

    fn world(&mut self) -> Result<&mut World, RigError> {
        self.world
            .as_mut()
            .ok_or_else(|| RigError::Console("rig used before a case prepared it".into()))
    }
}

impl Rig for SimRig {
    fn name(&self) -> &str {
        &self.desc.name
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
        // The sim "image" is the firmware core linked into this binary; prove
        // it is the one the rig file names by comparing package identities.
        let manifest = self.desc.firmware.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| {
            RigError::Flash(format!(
                "cannot read firmware manifest {}: {e}",
                manifest.display()
            ))
        })?;
        let field = |key: &str| {
            text.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(key)
                    .and_then(|r| r.trim().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_owned())
            })
        };
        let expected = format!(
            "{}-{}",
            field("name").unwrap_or_default(),
            field("version").unwrap_or_default()
        );
        if expected != locker_core::BUILD_ID {
            return Err(RigError::Flash(format!(
                "{} describes build `{expected}`, but the linked firmware is `{}`",
                manifest.display(),
                locker_core::BUILD_ID
            )));
        }
        Ok(FlashReport {
            build_id: locker_core::BUILD_ID.to_owned(),
            image: self.desc.firmware.display().to_string(),
            skipped: false,
        })
    }

    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        self.world = Some(World::new(
            self.desc.controller_config(),
            &self.settings,
            seed ^ self.settings.seed,
        ));
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.world()?.console_write(bytes);
        Ok(())
    }

    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        // Virtual time is CPU work: let other tasks and timers in between calls.
        tokio::task::yield_now().await;
        let w = self.world()?;
        w.advance(until.as_millis() as u64, EVENT_BUDGET);
        if let Some(m) = w.plant.measurements.pop_front() {
            return Ok(RigOutput::Measurement(m));
        }
        if !w.plant.console_out.is_empty() {
            return Ok(RigOutput::Console(std::mem::take(&mut w.plant.console_out)));
        }
        Ok(RigOutput::Idle)
    }

    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        self.world()?.act(action)
    }
}
