//! `harness rig serve --as BENCH`: the served sim wired the way a bench rig
//! file says, so that the file runs against it unchanged.
//!
//! Every serial port the file names (the console, the fixture board, the
//! chamber and supply, Modbus RTU modules) becomes a link to a
//! pseudo-terminal, made where the file says the device is, as
//! `/dev/serial/by-id/` links are; every Modbus TCP module is served on the
//! loopback address and port it names. The relay modules are played with
//! `tokio-modbus`'s own servers, so the harness's Modbus clients meet a
//! real implementation of the protocol, and what a coil does is what the
//! file's I/O map says: key `5` pressed while its coil is on, a door pushed
//! when its push coil comes on, a package in while its coil is, a link cut.
//! Discrete inputs read the plant (a solenoid is on while it is energised).

use crate::model::rigfile::io::{IoMap, Pin, Role};
#[cfg(feature = "modbus")]
use crate::model::rigfile::io::{Module, ModuleDriver};
use crate::model::suite::{DoorAction, PackageAction, UpDown};
use crate::rigs::FixtureAction;
use std::collections::BTreeMap;

/// The served side of an I/O map: what each output switching does to the
/// plant, and what each input reads.
#[derive(Debug, Default)]
pub struct Wired {
    roles: BTreeMap<(String, u16), (Pin, Role)>,
    /// The levels written to each module's coils.
    coils: BTreeMap<(String, u16), bool>,
    /// Inputs: the compartment whose solenoid each one reads.
    solenoids: BTreeMap<(String, u16), (Pin, usize)>,
}

impl Wired {
    pub fn new(map: &IoMap) -> Self {
        let key = |p: &Pin| (p.module.clone(), p.n);
        Self {
            roles: (map.roles().into_iter())
                .map(|(p, r)| (key(&p), (p, r)))
                .collect(),
            coils: BTreeMap::new(),
            solenoids: (map.solenoids.iter())
                .map(|(&c, p)| (key(p), (p.clone(), c)))
                .collect(),
        }
    }

    /// Output `n` of `module` driven to `level`: what it does to the plant
    /// (nothing, for an output the map does not use or a level it already had).
    pub fn write(&mut self, module: &str, n: u16, level: bool) -> Option<FixtureAction> {
        let key = (module.to_owned(), n);
        let before = self.coils.insert(key.clone(), level);
        let (pin, role) = self.roles.get(&key)?;
        let was = before.map(|l| l != pin.inverted);
        let active = level != pin.inverted;
        if was == Some(active) {
            return None;
        }
        // Past the check above, an active level is a new one.
        let rising = active;
        let door = |c: usize, action| FixtureAction::Door {
            compartment: c,
            action,
        };
        match *role {
            Role::Key(k) => rising.then_some(FixtureAction::Key(k)),
            Role::Help => rising.then_some(FixtureAction::HelpButton),
            Role::Push(c) => rising.then(|| door(c, DoorAction::Push)),
            Role::Pull(c) => rising.then(|| door(c, DoorAction::Pull)),
            Role::Force(c) => rising.then(|| door(c, DoorAction::Force)),
            Role::Hold(c) if active => Some(door(c, DoorAction::Hold)),
            // Let go of a door never held is nothing.
            Role::Hold(c) => was.is_some().then(|| door(c, DoorAction::Release)),
            Role::Package(c) => Some(FixtureAction::Package {
                compartment: c,
                action: if active {
                    PackageAction::In
                } else {
                    PackageAction::Out
                },
            }),
            Role::Cut(link) => {
                let state = Some(if active { UpDown::Down } else { UpDown::Up });
                Some(match link {
                    locker_proto::Link::Primary => FixtureAction::Link {
                        primary: state,
                        secondary: None,
                    },
                    locker_proto::Link::Secondary => FixtureAction::Link {
                        primary: None,
                        secondary: state,
                    },
                })
            }
        }
    }

    /// The level of coil `n` of `module`, as last written.
    pub fn coil(&self, module: &str, n: u16) -> bool {
        self.coils
            .get(&(module.to_owned(), n))
            .copied()
            .unwrap_or(false)
    }

    /// The level of input `n` of `module`, given whether each
    /// compartment's solenoid is energised.
    pub fn input(&self, module: &str, n: u16, energised: impl Fn(usize) -> bool) -> bool {
        match self.solenoids.get(&(module.to_owned(), n)) {
            Some((pin, c)) => energised(*c) != pin.inverted,
            None => false,
        }
    }
}

/// A Modbus request for a served module, and where its answer goes.
#[cfg(feature = "modbus")]
#[derive(Debug)]
pub struct Call {
    pub module: String,
    pub request: tokio_modbus::Request<'static>,
    pub reply:
        tokio::sync::oneshot::Sender<Result<tokio_modbus::Response, tokio_modbus::ExceptionCode>>,
}

/// The answer to `request` for `module`, from the wiring and the plant;
/// `act` performs an action a coil's switching makes.
#[cfg(feature = "modbus")]
pub fn answer(
    wired: &mut Wired,
    module: &str,
    request: &tokio_modbus::Request<'static>,
    energised: impl Fn(usize) -> bool,
    mut act: impl FnMut(FixtureAction) -> Result<(), String>,
) -> Result<tokio_modbus::Response, tokio_modbus::ExceptionCode> {
    use tokio_modbus::{ExceptionCode, Request, Response};
    // A 16-channel relay module with 16 inputs, as labs buy them.
    const CHANNELS: u16 = 16;
    let range = |addr: u16, count: u16| {
        let end = u32::from(addr) + u32::from(count);
        if count == 0 || end > u32::from(CHANNELS) {
            Err(ExceptionCode::IllegalDataAddress)
        } else {
            Ok(addr..addr + count)
        }
    };
    let mut write = |n: u16, level: bool| match wired.write(module, n, level) {
        Some(a) => act(a).map_err(|_| ExceptionCode::ServerDeviceFailure),
        None => Ok(()),
    };
    match request {
        Request::WriteSingleCoil(addr, level) => {
            range(*addr, 1)?;
            write(*addr, *level)?;
            Ok(Response::WriteSingleCoil(*addr, *level))
        }
        Request::WriteMultipleCoils(addr, levels) => {
            let count = u16::try_from(levels.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
            for (n, level) in range(*addr, count)?.zip(levels.iter()) {
                write(n, *level)?;
            }
            Ok(Response::WriteMultipleCoils(*addr, count))
        }
        Request::ReadCoils(addr, count) => Ok(Response::ReadCoils(
            range(*addr, *count)?
                .map(|n| wired.coil(module, n))
                .collect(),
        )),
        Request::ReadDiscreteInputs(addr, count) => Ok(Response::ReadDiscreteInputs(
            (range(*addr, *count)?)
                .map(|n| wired.input(module, n, &energised))
                .collect(),
        )),
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

/// A served Modbus line's service: each request for one of its units
/// handed to the serve loop as that unit's module's.
#[cfg(feature = "modbus")]
#[derive(Debug, Clone)]
struct Line {
    /// Unit id to module name.
    units: BTreeMap<u8, String>,
    /// RTU: a request for another unit on the line is not ours to answer.
    rtu: bool,
    tx: std::sync::mpsc::Sender<Call>,
}

#[cfg(feature = "modbus")]
impl tokio_modbus::server::Service for Line {
    type Request = tokio_modbus::SlaveRequest<'static>;
    type Response = Option<tokio_modbus::Response>;
    type Exception = tokio_modbus::ExceptionCode;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Exception>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        use tokio_modbus::ExceptionCode;
        let Some(module) = self.units.get(&req.slave).cloned() else {
            // No such unit: silence on a serial line, a gateway's answer on TCP.
            let rtu = self.rtu;
            return Box::pin(async move {
                if rtu {
                    Ok(None)
                } else {
                    Err(ExceptionCode::GatewayTargetDevice)
                }
            });
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Call {
            module,
            request: req.request,
            reply,
        });
        Box::pin(async move {
            sent.map_err(|_| ExceptionCode::ServerDeviceFailure)?;
            match answer.await {
                Ok(r) => r.map(Some),
                Err(_) => Err(ExceptionCode::ServerDeviceFailure),
            }
        })
    }
}

/// The Modbus modules of a bench rig file, served: each TCP address the
/// file names on loopback, each RTU line on a pseudo-terminal linked where
/// the file names it, with every unit the file puts there. Kept alive
/// while this lives.
#[cfg(feature = "modbus")]
#[derive(Debug)]
pub struct ModbusServers {
    _runtime: tokio::runtime::Runtime,
    /// Where each line is served, for the operator.
    pub served: Vec<String>,
}

#[cfg(feature = "modbus")]
pub fn serve_modbus(
    modules: &[Module],
    tx: &std::sync::mpsc::Sender<Call>,
) -> Result<ModbusServers, String> {
    use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the Modbus servers: {e}"))?;
    // Modules by line: (TCP address or RTU path) -> units.
    let mut lines: BTreeMap<(bool, String), BTreeMap<u8, String>> = BTreeMap::new();
    for m in modules {
        let (rtu, at, unit) = match &m.driver {
            ModuleDriver::ModbusTcp { addr, unit } => (false, addr.clone(), *unit),
            ModuleDriver::ModbusRtu { path, unit, .. } => (true, path.clone(), *unit),
            ModuleDriver::Scpi { .. } | ModuleDriver::Command { .. } => {
                return Err(format!(
                    "module `{}`: `rig serve` plays Modbus modules and the supply's channels; not SCPI or command modules",
                    m.name
                ));
            }
        };
        lines
            .entry((rtu, at))
            .or_default()
            .insert(unit, m.name.clone());
    }
    let mut served = Vec::new();
    for ((rtu, at), units) in lines {
        let names: Vec<String> = (units.iter())
            .map(|(u, m)| format!("{m} (unit {u})"))
            .collect();
        let line = Line {
            units,
            rtu,
            tx: tx.clone(),
        };
        if rtu {
            let (master, slave) = {
                let _guard = runtime.enter();
                tokio_serial::SerialStream::pair()
                    .map_err(|e| format!("cannot make a pseudo-terminal: {e}"))?
            };
            let name =
                tokio_serial::SerialPort::name(&slave).ok_or("a pseudo-terminal without a name")?;
            link(&at, &name)?;
            runtime.spawn(async move {
                // The slave end stays open here too, so a client that
                // closes its end never leaves the master without a peer.
                let _slave = slave;
                let server = tokio_modbus::server::rtu::Server::new(master);
                let _ = server.serve_forever(line).await;
            });
            served.push(format!(
                "Modbus RTU on {at} -> {name}: {}",
                names.join(", ")
            ));
        } else {
            let sock: std::net::SocketAddr = at
                .parse()
                .ok()
                .filter(|s: &std::net::SocketAddr| s.ip().is_loopback())
                .ok_or_else(|| {
                    format!(
                        "tcp://{at} ({}) is not a loopback address with a port (127.0.0.1:PORT); only those can be served here",
                        names.join(", ")
                    )
                })?;
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(sock))
                .map_err(|e| format!("cannot listen on {at}: {e}"))?;
            runtime.spawn(async move {
                let server = Server::new(listener);
                let new_service = move |_| Ok(Some(line.clone()));
                let on_connected = |stream, addr| {
                    let made = accept_tcp_connection(stream, addr, &new_service);
                    async move { made }
                };
                let _ = server.serve(&on_connected, |_| {}).await;
            });
            served.push(format!("Modbus TCP on {at}: {}", names.join(", ")));
        }
    }
    Ok(ModbusServers {
        _runtime: runtime,
        served,
    })
}

/// Make `path` a link to the device `target`, as udev's by-id links are; a
/// link left there before is replaced, anything else is not touched.
pub fn link(path: &str, target: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(p).map_err(|e| format!("{path}: cannot replace the link: {e}"))?
        }
        Ok(_) => {
            return Err(format!(
                "{path} exists and is not a link: serving the bench there would hide it"
            ));
        }
        Err(_) => {}
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(target, p)
            .map_err(|e| format!("{path}: cannot link it to {target}: {e}"))
    }
    #[cfg(not(unix))]
    {
        Err(format!("{path}: links to pseudo-terminals need unix"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rigfile::io::DoorPins;

    fn pin(n: u16, inverted: bool) -> Pin {
        Pin {
            module: "r".into(),
            n,
            inverted,
        }
    }

    #[test]
    fn a_coil_does_what_the_map_says_on_its_edges() {
        let mut m = IoMap::default();
        m.keys.insert('5', pin(0, false));
        m.doors.insert(
            1,
            DoorPins {
                push: Some(pin(1, false)),
                pull: None,
                hold: Some(pin(2, false)),
                force: Some(pin(4, false)),
            },
        );
        m.primary = Some(pin(3, true));
        m.solenoids.insert(1, pin(0, false));
        let mut w = Wired::new(&m);
        assert_eq!(w.write("r", 0, true), Some(FixtureAction::Key('5')));
        assert_eq!(w.write("r", 0, true), None, "no new press while held");
        assert_eq!(w.write("r", 0, false), None);
        assert_eq!(
            w.write("r", 2, false),
            None,
            "never held, nothing to let go"
        );
        assert_eq!(
            w.write("r", 2, true),
            Some(FixtureAction::Door {
                compartment: 1,
                action: DoorAction::Hold
            })
        );
        assert_eq!(
            w.write("r", 2, false),
            Some(FixtureAction::Door {
                compartment: 1,
                action: DoorAction::Release
            })
        );
        assert_eq!(
            w.write("r", 4, true),
            Some(FixtureAction::Door {
                compartment: 1,
                action: DoorAction::Force
            })
        );
        assert_eq!(w.write("r", 4, false), None, "a stroke ends as nothing");
        // Normally closed: the coil off cuts the link.
        assert_eq!(
            w.write("r", 3, false),
            Some(FixtureAction::Link {
                primary: Some(UpDown::Down),
                secondary: None
            })
        );
        assert_eq!(w.write("r", 9, true), None, "a coil the map does not use");
        assert!(w.coil("r", 9));
        assert!(w.input("r", 0, |c| c == 1));
        assert!(!w.input("r", 0, |_| false));
        assert!(!w.input("r", 5, |_| true));
    }
}
