//! `harness rig serve --pty`: the sim rig as serial devices, in real time.
//!
//! Four pseudo-terminals come up, one for each part a bench has on a wire:
//! the controller's console (the console protocol, as a real board's USB
//! serial port speaks it), the fixture board (its line protocol: `KEY`,
//! `HELP`, `DOOR`, `PKG`, `LINK`, `ID?`), and the thermal chamber and the
//! bench supply (SCPI, see [`crate::rigs::bench::fixtures::scpi`]), each answering
//! as [`crate::rigs::instruments`] has the lab's instruments answer. Any serial tool can
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
    /// Served as a bench rig file says (`--as`): one line each.
    pub also: Vec<String>,
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

/// The served rig's plant as its chamber and supply act on it.
#[cfg(all(unix, feature = "serial"))]
struct SimBench<'w, M: crate::rigs::plant::world::Mcu> {
    world: &'w mut crate::rigs::plant::world::World<M>,
    /// Room temperature: where the air goes when the chamber stops.
    room: f64,
    /// What the supply's other channels are wired to (`--as`).
    wired: &'w mut super::wired::Wired,
}

/// `action` done to the plant by a bench's fixture. A relay's package is a
/// flag in front of the sensor, not a parcel: it needs no open door.
#[cfg(all(unix, feature = "serial"))]
fn apply<M: crate::rigs::plant::world::Mcu>(
    world: &mut crate::rigs::plant::world::World<M>,
    action: &crate::rigs::FixtureAction,
    flag: bool,
) -> Result<(), String> {
    use crate::rigs::FixtureAction;
    match (world.act(action), action) {
        (
            Err(_),
            FixtureAction::Package {
                compartment,
                action,
            },
        ) if flag => {
            let present = action.leaves_present();
            world.plant.flag_package(*compartment, present);
            Ok(())
        }
        (r, _) => r.map_err(|e| e.to_string()),
    }
}

#[cfg(all(unix, feature = "serial"))]
impl<M: crate::rigs::plant::world::Mcu> crate::rigs::instruments::scpi::Plant for SimBench<'_, M> {
    fn chamber(&mut self, run: Option<(f64, f64)>) -> Result<(), String> {
        use crate::model::units::{Celsius, Ramp};
        // Stopped, the chamber's air drifts back to the room.
        let (set, ramp) = run.unwrap_or((self.room, 1.0));
        let action = crate::rigs::FixtureAction::Chamber {
            set: Celsius(set),
            ramp: (ramp > 0.0).then_some(Ramp(ramp / 60.0)),
        };
        self.world.act(&action).map_err(|e| e.to_string())
    }
    fn air(&mut self) -> f64 {
        let plant = &mut self.world.plant;
        plant.thermal.advance(plant.now);
        plant.thermal.ambient
    }
    fn supply(&mut self, output: Option<f64>) -> Result<(), String> {
        use crate::model::suite::PowerAction;
        let p = output.map_or(PowerAction::Off, PowerAction::Volts);
        let action = crate::rigs::FixtureAction::Power(p);
        self.world.act(&action).map_err(|e| e.to_string())
    }
    fn volts(&mut self) -> f64 {
        self.world.plant.volts
    }
    fn channel(&mut self, n: u16, on: bool) -> Result<(), String> {
        use crate::model::rigfile::io::SUPPLY;
        match self.wired.write(SUPPLY, n, on) {
            Some(action) => apply(self.world, &action, true),
            None => Ok(()),
        }
    }
}

/// Serve `desc` (a sim rig) until the process is stopped. `ready` is told
/// the device paths once they exist; `log` gets one line per event worth
/// telling (measurements, fixture commands).
#[cfg(all(unix, feature = "serial"))]
pub fn serve(
    desc: &RigDescription,
    bench: Option<&RigDescription>,
    speed: f64,
    ready: impl FnOnce(&Served),
    mut log: impl FnMut(String),
) -> Result<(), String> {
    use crate::model::rigfile::RigKind;
    use crate::model::rigfile::bench::PortRef;
    use crate::rigs::instruments::scpi::{InstrumentKind, ScpiInstrument};
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
        LocalMcu::new(
            desc.controller_config(),
            crate::rigs::sim::console_style(desc),
        ),
        compartments,
        &settings,
        settings.seed,
    );
    let mut instruments = [
        ScpiInstrument::new(
            InstrumentKind::Chamber,
            format!("locker-hil,SIM-CHAMBER,{},1.0", desc.name),
            settings.ambient.0,
            0.0,
            false,
        ),
        ScpiInstrument::new(
            InstrumentKind::Supply,
            format!("locker-hil,SIM-SUPPLY,{},1.0", desc.name),
            0.0,
            world.plant.volts,
            true,
        ),
    ];
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
    let mut served = Served {
        console: names[0].clone(),
        board: names[1].clone(),
        chamber: names[2].clone(),
        supply: names[3].clone(),
        also: Vec::new(),
    };
    // Wired as a bench rig file says: its serial ports are links to these
    // devices, its Modbus modules served where it names them.
    let mut wired = super::wired::Wired::default();
    #[cfg(feature = "modbus")]
    let (calls_tx, calls) = std::sync::mpsc::channel::<super::wired::Call>();
    #[cfg(feature = "modbus")]
    let mut _modbus = None;
    if let Some(b) = bench {
        let RigKind::Bench(settings) = &b.kind else {
            return Err(format!("--as {}: not a bench rig file", b.file.display()));
        };
        // The bench's file must describe the controller served: its
        // compartments (what a coil's compartment is) and its station
        // (what its codes are minted for).
        if b.compartments != desc.compartments || b.station != desc.station || b.key != desc.key {
            return Err(format!(
                "--as {}: its compartments and station must be those of the served rig `{}` ({}), which its wiring and its codes are for",
                b.file.display(),
                desc.name,
                desc.file.display()
            ));
        }
        let serial = |what: &str, p: &PortRef| match p {
            PortRef::Serial { path, .. } => Ok(path.clone()),
            other => Err(format!(
                "{}: the {what} is on {other}; `rig serve --as` serves serial ports by path (and Modbus TCP modules on loopback)",
                b.file.display()
            )),
        };
        let mut parts = vec![("console", serial("console", &settings.console)?, &names[0])];
        if let Some(p) = &settings.board {
            parts.push(("board", serial("fixture board", p)?, &names[1]));
        }
        if let Some(c) = &settings.chamber {
            parts.push(("chamber", serial("chamber", &c.port)?, &names[2]));
        }
        if let Some(s) = &settings.supply {
            parts.push(("supply", serial("supply", &s.port)?, &names[3]));
            if let Some(ch) = s.limits.channel {
                instruments[1].main_channel = ch;
            }
        }
        for (what, path, device) in parts {
            super::wired::link(&path, device)?;
            served.also.push(format!("{what}: {path} -> {device}"));
        }
        wired = super::wired::Wired::new(&settings.io);
        #[cfg(feature = "modbus")]
        {
            let servers = super::wired::serve_modbus(&settings.io.modules, &calls_tx)?;
            served.also.extend(servers.served.iter().cloned());
            _modbus = Some(servers);
        }
        #[cfg(not(feature = "modbus"))]
        if !settings.io.modules.is_empty() {
            return Err("serving Modbus modules needs the `modbus` feature".into());
        }
    }
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
        #[cfg(feature = "modbus")]
        while let Ok(call) = calls.try_recv() {
            let super::wired::Call {
                module,
                request,
                reply,
            } = call;
            let comps = world
                .plant
                .comps
                .iter()
                .map(|c| c.solenoid)
                .collect::<Vec<_>>();
            let answer = super::wired::answer(
                &mut wired,
                &module,
                &request,
                |c| comps.get(c).copied().unwrap_or(false),
                |action| {
                    log(format!("! {module}: {action:?}"));
                    apply(&mut world, &action, true)
                },
            );
            let _ = reply.send(answer);
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
                use crate::rigs::instruments::board::Request;
                let act = |r: &Request| match r {
                    Request::Act(a) => world.act(a).map_err(|e| e.to_string()),
                    Request::Rest => {
                        world.plant.rest();
                        Ok(())
                    }
                    Request::Identify => Ok(()),
                };
                let answer =
                    crate::rigs::instruments::board::answer(&text, compartments, "sim-1.0", act);
                if answer == "OK" {
                    log(format!("! board: {text}"));
                }
                Some(answer)
            } else {
                let which = device - 2;
                let mut bench = SimBench {
                    world: &mut world,
                    room: settings.ambient.0,
                    wired: &mut wired,
                };
                match instruments[which].answer(&text, &mut bench) {
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
    _bench: Option<&RigDescription>,
    _speed: f64,
    _ready: impl FnOnce(&Served),
    _log: impl FnMut(String),
) -> Result<(), String> {
    Err("serving a rig needs pseudo-terminals (unix) and the `serial` feature".into())
}
