//! The rig seam: one controller with its console, its flasher and its fixtures.
//!
//! The runner drives every kind of rig through [`Rig`]: it never knows
//! whether time is virtual (sim) or the wall clock (a bench). A rig owns its
//! parts exclusively for the length of a run.

pub mod any;
pub mod bench;
pub mod faults;
pub mod image;
pub mod instruments;
pub mod plant;
pub mod preflight;
pub mod qemu;
pub mod sim;
pub mod tool;

use crate::model::suite::{
    DoorAction, MemoryAction, PackageAction, PowerAction, Sensor, Stuck, UpDown,
};
use crate::model::units::{Celsius, Ramp};
use locker_proto::UplinkKind;
use std::time::Duration;

/// The rig broke (as opposed to the controller misbehaving): a JUnit error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RigError {
    #[error("flashing failed: {0}")]
    Flash(String),
    #[error("console: {0}")]
    Console(String),
    #[error("fixture `{fixture}`: {message}")]
    Fixture {
        fixture: &'static str,
        message: String,
    },
    #[error("this rig cannot {0}")]
    Unsupported(String),
    /// Another run holds the bench.
    #[error("{0}")]
    Busy(String),
    /// The case used up its wall-time budget (not a verdict on the rig's
    /// health: a rig that stops answering says so itself).
    #[error(
        "the case ran longer than its wall-time limit of {}; a longer case sets `timeout:` in its suite or case, or the run `--case-timeout`",
        crate::model::units::fmt_duration(*.0)
    )]
    WallLimit(Duration),
}

/// Proof of what was put on the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    /// What the controller must then say it runs.
    pub expect: crate::model::rigfile::ExpectBuild,
    pub image: String,
    /// The write was skipped because the controller already held this image.
    pub skipped: bool,
    /// What a flashing command printed (`flash: { command: ... }`), kept
    /// for the transcripts of the cases run on what it flashed.
    pub output: Vec<String>,
}

impl FlashReport {
    /// The build as reports name it before the controller says it.
    pub fn build(&self) -> String {
        self.expect.describe()
    }
}

/// One physical influence on the rig, as the fixture drivers receive it.
#[derive(Debug, Clone, PartialEq)]
pub enum FixtureAction {
    /// Keypad injector: one key (`0`-`9`, `*`, `#`).
    Key(char),
    HelpButton,
    Door {
        compartment: usize,
        action: DoorAction,
    },
    Package {
        compartment: usize,
        action: PackageAction,
    },
    Chamber {
        set: Celsius,
        ramp: Option<Ramp>,
    },
    Power(PowerAction),
    Link {
        primary: Option<UpDown>,
        secondary: Option<UpDown>,
    },
    Fault {
        compartment: usize,
        sensor: Sensor,
        stuck: Stuck,
    },
    /// Act on the controller's non-volatile memory (through the debug probe on a bench).
    Memory(MemoryAction),
}

/// What instruments on the rig measured (not what the controller said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measurement {
    /// How long a solenoid was energised.
    Pulse { compartment: usize, on: Duration },
    /// A record arrived at the back office; `duplicate` if it already had it.
    Backoffice {
        seq: u32,
        kind: UplinkKind,
        compartment: u8,
        value: u32,
        duplicate: bool,
    },
    /// What really happened on a model rig's plant, for the invariants the
    /// runner checks in every case ([`crate::run::invariants`]). A bench's
    /// instruments do not see it; the sim and qemu rigs report every change.
    Truth(Truth),
}

/// One change on a model rig's plant, as it really is (not as a sensor,
/// which a case may have stuck, reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    Bolt {
        compartment: usize,
        retracted: bool,
    },
    Door {
        compartment: usize,
        open: bool,
    },
    Package {
        compartment: usize,
        present: bool,
    },
    /// The controller has power.
    Power {
        on: bool,
    },
    /// Some link reaches the back office.
    Links {
        up: bool,
    },
}

impl std::fmt::Display for Truth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = |b, yes, no| if b { yes } else { no };
        match *self {
            Self::Bolt {
                compartment,
                retracted,
            } => {
                write!(
                    f,
                    "bolt #{compartment} {}",
                    on(retracted, "retracted", "extended")
                )
            }
            Self::Door { compartment, open } => {
                write!(f, "door #{compartment} {}", on(open, "open", "closed"))
            }
            Self::Package {
                compartment,
                present,
            } => {
                write!(
                    f,
                    "package #{compartment} {}",
                    on(present, "present", "absent")
                )
            }
            Self::Power { on: p } => write!(f, "power {}", on(p, "on", "off")),
            Self::Links { up } => write!(f, "links {}", on(up, "up", "down")),
        }
    }
}

/// What a rig produced while the runner waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RigOutput {
    Console(Vec<u8>),
    Measurement(Measurement),
    /// Nothing to report yet: the deadline passed, or the rig is handing
    /// control back before it (the runner asks again).
    Idle,
}

/// A rig the runner can drive.
pub trait Rig: Send {
    /// Name for reports.
    fn name(&self) -> &str;
    /// Rig clock since the case started: virtual on sim, wall on a bench.
    fn now(&self) -> Duration;
    /// Whether the rig clock is the wall clock (a bench): then `recv` may
    /// block in wall time until its deadline.
    fn wall_clock(&self) -> bool {
        false
    }
    /// True wall-clock unix time in milliseconds as the rig sees it (the
    /// back office's clock, which minted codes are bound to).
    fn true_unix_ms(&self) -> u64;
    /// Put the firmware on the controller and prove it is there.
    fn flash(&mut self) -> impl Future<Output = Result<FlashReport, RigError>> + Send;
    /// Bring the rig to a known state (factory memory, fixtures at rest,
    /// controller freshly powered) for one case.
    fn prepare(&mut self, seed: u64) -> impl Future<Output = Result<(), RigError>> + Send;
    /// Write bytes to the controller console.
    fn send(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), RigError>> + Send;
    /// Wait until the rig has something to say or the rig clock reaches `until`.
    fn recv(&mut self, until: Duration)
    -> impl Future<Output = Result<RigOutput, RigError>> + Send;
    /// Apply a fixture action.
    fn act(&mut self, action: &FixtureAction) -> impl Future<Output = Result<(), RigError>> + Send;
    /// The case is over: power down what only a case needs (an emulator).
    fn release(&mut self) {}
}

// What `harness rig check` says of each part of a rig (see [`preflight`]).

/// The verdict on one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Fail(String),
    /// Not checked, because a part it needs failed.
    Skipped(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub verdict: Verdict,
}

pub(crate) fn verdict<T>(r: Result<T, String>, ok: impl FnOnce(T) -> String) -> Verdict {
    match r {
        Ok(v) => Verdict::Ok(ok(v)),
        Err(e) => Verdict::Fail(e),
    }
}

/// Run `f`, which may block on I/O, without starving other tasks of a
/// multi-threaded runtime (a current-thread runtime simply waits).
pub(crate) fn blocking<T>(blocks: bool, f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if blocks && h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
