//! `harness rig serve --pty`: the sim rig as serial devices, in real time.
//!
//! Two pseudo-terminals come up: the controller's console (the console
//! protocol, as a real board's USB serial port speaks it) and a fixture
//! board (its line protocol: `KEY`, `HELP`, `DOOR`, `PKG`, `LINK`, `ID?`).
//! Any serial tool can drive them, and so can the harness's own bench path:
//! the printed rig snippet makes a bench of them. Plant time follows the
//! wall clock (times `speed`), so the controller behaves as on a desk.

use crate::rigfile::RigDescription;

/// The device paths a served rig listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub console: String,
    pub board: String,
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
    use super::world::{LocalMcu, World};
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
    let pair = || TTYPort::pair().map_err(|e| format!("cannot make a pseudo-terminal: {e}"));
    let (mut con, con_slave) = pair()?;
    let (mut board, board_slave) = pair()?;
    let name = |p: &TTYPort| p.name().unwrap_or_default();
    let served = Served {
        console: name(&con_slave),
        board: name(&board_slave),
    };
    // One reader thread per device: a byte wakes the loop at once, instead
    // of waiting for the next poll.
    enum In {
        Console(Vec<u8>),
        Board(Vec<u8>),
    }
    let (tx, rx) = std::sync::mpsc::channel::<In>();
    for (port, console) in [(&con, true), (&board, false)] {
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
                            let bytes = buf[..n].to_vec();
                            let msg = if console {
                                In::Console(bytes)
                            } else {
                                In::Board(bytes)
                            };
                            if tx.send(msg).is_err() {
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
    let mut line = Vec::new();
    loop {
        let now = (started.elapsed().as_secs_f64() * 1000.0 * speed) as u64;
        // Catch up to the wall clock, then hand over what the controller said.
        while world.plant.now < now {
            world.advance(now, 20_000).map_err(|e| e.to_string())?;
            if !world.plant.console_out.is_empty() {
                let out = std::mem::take(&mut world.plant.console_out);
                let _ = con.write_all(&out);
            }
            for m in world.plant.measurements.drain(..) {
                log(format!("~ {m:?}"));
            }
        }
        let input = match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(i) => i,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the device readers stopped".into());
            }
        };
        match input {
            In::Console(bytes) => {
                world.console_write(&bytes).map_err(|e| e.to_string())?;
                if !world.plant.console_out.is_empty() {
                    let out = std::mem::take(&mut world.plant.console_out);
                    let _ = con.write_all(&out);
                }
            }
            In::Board(bytes) => {
                for b in bytes {
                    if b != b'\n' {
                        if b != b'\r' && line.len() < 256 {
                            line.push(b);
                        }
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line).trim().to_owned();
                    line.clear();
                    let answer = match crate::fixtures::board::parse_command(&text, compartments) {
                        Ok(None) => format!("ID locker-fixture-board sim-1.0 {compartments}"),
                        Ok(Some(action)) => match world.act(&action) {
                            Ok(()) => {
                                log(format!("! {text}"));
                                "OK".into()
                            }
                            Err(e) => format!("ERR {e}"),
                        },
                        Err(e) => format!("ERR {e}"),
                    };
                    let _ = board.write_all(format!("{answer}\r\n").as_bytes());
                }
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
