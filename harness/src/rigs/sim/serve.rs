//! `harness rig serve --pty`: the sim rig as serial devices, in real time.
//!
//! Four pseudo-terminals come up, one for each part a bench has on a wire:
//! the controller's console (the console protocol, as a real board's USB
//! serial port speaks it), the fixture board (its line protocol: `KEY`,
//! `HELP`, `DOOR`, `PKG`, `LINK`, `ID?`), and the thermal chamber and the
//! bench supply (SCPI, see [`crate::rigs::bench::fixtures::scpi`]). Any serial tool can
//! drive them, and so can the harness's own bench path: the printed rig
//! snippet makes a bench of them. Plant time follows the wall clock (times
//! `speed`), so the controller behaves as on a desk.

use crate::model::rigfile::RigDescription;

/// The device paths a served rig listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub console: String,
    pub board: String,
    pub chamber: String,
    pub supply: String,
}

impl Served {
    /// The `fixtures:` section of a bench rig file that uses these devices.
    pub fn fixtures_yaml(&self) -> String {
        format!(
            "  board: {{ driver: fixture-board, port: {} }}\n  chamber: {{ driver: scpi, port: {}, limits: {{ min: -40C, max: 85C }} }}\n  supply: {{ driver: scpi, port: {}, limits: {{ max: 15V }} }}\n",
            self.board, self.chamber, self.supply
        )
    }
}

/// The instruments' side of the served rig: what each was told, applied to
/// the simulated plant.
#[cfg(all(unix, feature = "serial"))]
struct Instruments {
    /// Chamber set point and ramp (°C/min) as last told; applied when it runs.
    chamber: (f64, f64, bool),
    /// Supply volts as last told, and whether the output is on.
    supply: (f64, bool),
    /// Room temperature: where the air goes when the chamber stops.
    room: f64,
    last: [Result<crate::rigs::bench::fixtures::scpi::Received, String>; 2],
}

#[cfg(all(unix, feature = "serial"))]
impl Instruments {
    /// Answer one SCPI line to the chamber (`0`) or the supply (`1`).
    fn answer<M: crate::rigs::plant::world::Mcu>(
        &mut self,
        which: usize,
        line: &str,
        world: &mut crate::rigs::plant::world::World<M>,
        rig: &str,
    ) -> Result<Option<String>, String> {
        use crate::model::suite::PowerAction;
        use crate::model::units::{Celsius, Ramp};
        use crate::rigs::FixtureAction;
        use crate::rigs::bench::fixtures::scpi::{InstrumentKind, Received, error_answer};
        let to = [InstrumentKind::Chamber, InstrumentKind::Supply][which];
        let command = Received::parse_for(line, to);
        if let Ok(Received::NextError) = command {
            return Ok(Some(error_answer(&self.last[which])));
        }
        let chamber = |set: f64, ramp: f64| FixtureAction::Chamber {
            set: Celsius(set),
            ramp: (ramp > 0.0).then_some(Ramp(ramp / 60.0)),
        };
        let mut answer = None;
        let taken = match &command {
            Err(e) => Err(e.clone()),
            Ok(Received::NextError) => Ok(()),
            Ok(Received::Identify) => {
                let model = match to {
                    InstrumentKind::Chamber => "SIM-CHAMBER",
                    InstrumentKind::Supply => "SIM-SUPPLY",
                };
                answer = Some(format!("locker-hil,{model},{rig},1.0"));
                Ok(())
            }
            Ok(Received::Temp(t)) => {
                self.chamber.0 = *t;
                let (set, ramp, on) = self.chamber;
                if on {
                    world.act(&chamber(set, ramp))
                } else {
                    Ok(())
                }
                .map_err(|e| e.to_string())
            }
            Ok(Received::Ramp(r)) => {
                self.chamber.1 = *r;
                Ok(())
            }
            Ok(Received::Output(on)) if to == InstrumentKind::Chamber => {
                self.chamber.2 = *on;
                // Stopped, the chamber's air drifts back to the room.
                let (set, ramp) = if *on {
                    (self.chamber.0, self.chamber.1)
                } else {
                    (self.room, 1.0)
                };
                world.act(&chamber(set, ramp)).map_err(|e| e.to_string())
            }
            Ok(Received::MeasureTemp) => {
                world.plant.thermal.advance(world.plant.now);
                answer = Some(format!("{:.2}", world.plant.thermal.ambient));
                Ok(())
            }
            Ok(Received::Volts(v)) => {
                self.supply.0 = *v;
                if self.supply.1 {
                    world
                        .act(&FixtureAction::Power(PowerAction::Volts(*v)))
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                }
            }
            Ok(Received::Output(on)) => {
                self.supply.1 = *on;
                let p = if *on {
                    PowerAction::Volts(self.supply.0)
                } else {
                    PowerAction::Off
                };
                world
                    .act(&FixtureAction::Power(p))
                    .map_err(|e| e.to_string())
            }
            Ok(Received::MeasureVolts) => {
                answer = Some(format!("{:.3}", world.plant.volts));
                Ok(())
            }
        };
        self.last[which] = taken.clone().and(command);
        taken.map(|()| answer)
    }
}

/// Serve `desc` (a sim rig) until the process is stopped. `ready` is told
/// the device paths once they exist; `log` gets one line per event worth
/// telling (measurements, fixture commands).
#[cfg(all(unix, feature = "serial"))]
pub fn serve(
    desc: &RigDescription,
    speed: f64,
    ready: impl FnOnce(&Served),
    mut log: impl FnMut(String),
) -> Result<(), String> {
    use crate::rigs::plant::world::World;
    use crate::rigs::sim::LocalMcu;
    use serialport::{SerialPort, TTYPort};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let settings = desc
        .model_settings()
        .cloned()
        .ok_or_else(|| format!("rig `{}` is not a sim rig", desc.name))?;
    let compartments = desc.compartments.len();
    let mut world = World::new(
        LocalMcu::new(desc.controller_config()),
        compartments,
        &settings,
        settings.seed,
    );
    let mut instruments = Instruments {
        chamber: (settings.ambient.0, 0.0, false),
        supply: (world.plant.volts, true),
        room: settings.ambient.0,
        last: [
            Ok(crate::rigs::bench::fixtures::scpi::Received::Identify),
            Ok(crate::rigs::bench::fixtures::scpi::Received::Identify),
        ],
    };
    let pair = || TTYPort::pair().map_err(|e| format!("cannot make a pseudo-terminal: {e}"));
    // Console, fixture board, chamber, supply: the masters the plant
    // answers on, and the slave ends users open.
    let (mut masters, mut slaves) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let (master, slave) = pair()?;
        masters.push(master);
        // The slave ends stay open here too, so a client closing its end
        // never leaves a master without a peer.
        slaves.push(slave);
    }
    let names: Vec<String> = slaves
        .iter()
        .map(|s| s.name().unwrap_or_default())
        .collect();
    let served = Served {
        console: names[0].clone(),
        board: names[1].clone(),
        chamber: names[2].clone(),
        supply: names[3].clone(),
    };
    // One reader thread per device: a byte wakes the loop at once, instead
    // of waiting for the next poll.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
    for (device, port) in masters.iter().enumerate() {
        let mut reader = port.try_clone_native().map_err(|e| e.to_string())?;
        reader
            .set_timeout(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("serve-reader".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                loop {
                    match reader.read(&mut buf) {
                        Ok(n) if n > 0 => {
                            if tx.send((device, buf[..n].to_vec())).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        // No client on the other end yet: wait for one.
                        _ => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .map_err(|e| e.to_string())?;
    }
    drop(tx);
    ready(&served);
    let started = Instant::now();
    // Line devices (board, chamber, supply) collect a line before answering.
    let mut lines: [Vec<u8>; 4] = Default::default();
    loop {
        let now = (started.elapsed().as_secs_f64() * 1000.0 * speed) as u64;
        // Catch up to the wall clock, then hand over what the controller said.
        while world.plant.now < now {
            world.advance(now, 20_000).map_err(|e| e.to_string())?;
            if !world.plant.console_out.is_empty() {
                let out = std::mem::take(&mut world.plant.console_out);
                let _ = masters[0].write_all(&out);
            }
            for m in world.plant.measurements.drain(..) {
                log(format!("~ {m:?}"));
            }
        }
        let (device, bytes) = match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(i) => i,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the device readers stopped".into());
            }
        };
        if device == 0 {
            world.console_write(&bytes).map_err(|e| e.to_string())?;
            if !world.plant.console_out.is_empty() {
                let out = std::mem::take(&mut world.plant.console_out);
                let _ = masters[0].write_all(&out);
            }
            continue;
        }
        for b in bytes {
            let line = &mut lines[device];
            if b != b'\n' {
                if b != b'\r' && line.len() < 256 {
                    line.push(b);
                }
                continue;
            }
            let text = String::from_utf8_lossy(line).trim().to_owned();
            line.clear();
            let answer = if device == 1 {
                Some(
                    match crate::rigs::bench::fixtures::board::parse_command(&text, compartments) {
                        Ok(None) => format!("ID locker-fixture-board sim-1.0 {compartments}"),
                        Ok(Some(action)) => match world.act(&action) {
                            Ok(()) => {
                                log(format!("! board: {text}"));
                                "OK".into()
                            }
                            Err(e) => format!("ERR {e}"),
                        },
                        Err(e) => format!("ERR {e}"),
                    },
                )
            } else {
                let which = device - 2;
                match instruments.answer(which, &text, &mut world, &desc.name) {
                    Ok(answer) => {
                        if !text.ends_with('?') {
                            log(format!("! {}: {text}", ["chamber", "supply"][which]));
                        }
                        answer
                    }
                    // Instruments say nothing to a bad command; `SYST:ERR?` tells.
                    Err(e) => {
                        log(format!(
                            "! {}: `{text}` refused: {e}",
                            ["chamber", "supply"][which]
                        ));
                        None
                    }
                }
            };
            if let Some(a) = answer {
                let _ = masters[device].write_all(format!("{a}\r\n").as_bytes());
            }
        }
    }
}

#[cfg(not(all(unix, feature = "serial")))]
pub fn serve(
    _desc: &RigDescription,
    _speed: f64,
    _ready: impl FnOnce(&Served),
    _log: impl FnMut(String),
) -> Result<(), String> {
    Err("serving a rig needs pseudo-terminals (unix) and the `serial` feature".into())
}
