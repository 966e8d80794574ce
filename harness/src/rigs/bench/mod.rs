//! The bench rig: a real controller, its console port, its probe and its
//! instruments, in wall-clock time.
//!
//! Per case: fixtures to rest (doors free, packages out, links up, supply
//! on), the controller's clock set to true time, the controller reset to
//! factory state (`FACTORY`); what it prints from its new banner on is the
//! case's. Every action goes to the instrument that performs it; one that
//! this bench has no instrument for is a rig error that says so.

pub mod console;
pub mod fixtures;
pub mod flash;
pub mod lock;
pub mod preflight;

use crate::model::dialect::Dialect;
use crate::model::rigfile::bench::{BenchSettings, FlashMethod};
use crate::model::rigfile::{RigDescription, RigKind};
use crate::model::suite::{DoorAction, MemoryAction, PowerAction};
use crate::rigs::bench::console::{ConsolePort, Read};
use crate::rigs::bench::fixtures::board::FixtureBoard;
use crate::rigs::bench::fixtures::io::{self as io_map, Shared, Solenoids, Wiring};
use crate::rigs::bench::fixtures::scpi::{Chamber, Supply};
use crate::rigs::bench::lock::RigLock;
use crate::rigs::{FixtureAction, FlashReport, Rig, RigError, RigOutput, blocking};
use locker_proto::{Command, Link, MAX_LINE, Response, encode_frame};
use std::time::{Duration, Instant, SystemTime};

/// How long instruments may take to answer.
const ANSWER: Duration = Duration::from_secs(2);
/// How long the console may be gone across a reset.
const REOPEN: Duration = Duration::from_secs(10);
/// How long a factory reset may take to be acknowledged.
const FACTORY_ACK: Duration = Duration::from_secs(5);
/// Sequence numbers of the harness's own preparation commands.
const SEQ_CLOCK: u16 = 65_000;
const SEQ_FACTORY: u16 = 65_001;

fn fixture(name: &'static str) -> impl Fn(String) -> RigError {
    move |message| RigError::Fixture {
        fixture: name,
        message,
    }
}

/// A real bench.
pub struct BenchRig {
    desc: RigDescription,
    bench: BenchSettings,
    /// Overrides the probe (a test's, or a bench flashed by other means).
    flasher: Option<Box<dyn flash::Flasher + Send>>,
    lock: Option<RigLock>,
    console: Option<ConsolePort>,
    chamber: Option<Chamber>,
    supply: Option<Supply>,
    board: Option<FixtureBoard>,
    /// The lab's own modules, through the rig file's I/O map.
    wiring: Option<Shared>,
    /// Solenoid inputs read on the side while a case runs.
    solenoids: Option<Solenoids>,
    started: Instant,
    /// Console bytes read while preparing, from the banner on.
    pending: Vec<u8>,
}

impl std::fmt::Debug for BenchRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchRig")
            .field("name", &self.desc.name)
            .finish_non_exhaustive()
    }
}

impl BenchRig {
    pub fn new(desc: RigDescription) -> Result<Self, RigError> {
        let RigKind::Bench(bench) = desc.kind.clone() else {
            return Err(RigError::Unsupported(format!(
                "run rig `{}` as a bench: it has no `flash`/`console`/`fixtures`",
                desc.name
            )));
        };
        let dir = desc.file.parent().unwrap_or(std::path::Path::new("."));
        // A map of the supply's channels alone is a wiring too.
        let wiring = (!bench.io.modules.is_empty() || !bench.io.outputs().is_empty())
            .then(|| Shared::new(Wiring::new(bench.io.clone(), dir, ANSWER).into()));
        Ok(Self {
            desc,
            bench: *bench,
            flasher: None,
            lock: None,
            console: None,
            chamber: None,
            supply: None,
            board: None,
            wiring,
            solenoids: None,
            started: Instant::now(),
            pending: Vec::new(),
        })
    }

    /// This bench, flashed through `flasher` instead of its probe.
    pub fn with_flasher(
        desc: RigDescription,
        flasher: Box<dyn flash::Flasher + Send>,
    ) -> Result<Self, RigError> {
        let mut rig = Self::new(desc)?;
        rig.flasher = Some(flasher);
        Ok(rig)
    }

    fn lock(&mut self) -> Result<(), RigError> {
        if self.lock.is_none() {
            self.lock = Some(RigLock::acquire(
                &self.desc.name,
                &lock::resources(&self.bench),
            )?);
        }
        Ok(())
    }

    fn open_parts(&mut self) -> Result<(), RigError> {
        if self.console.is_none() {
            self.console = Some(
                ConsolePort::open(self.bench.console.clone(), REOPEN).map_err(RigError::Console)?,
            );
        }
        if let (None, Some(c)) = (&self.chamber, &self.bench.chamber) {
            self.chamber = Some(Chamber::open(c, ANSWER).map_err(fixture("chamber"))?.0);
        }
        if let (None, Some(s)) = (&self.supply, &self.bench.supply) {
            self.supply = Some(Supply::open(s, ANSWER).map_err(fixture("supply"))?.0);
        }
        if let (None, Some(b)) = (&self.board, &self.bench.board) {
            self.board = Some(FixtureBoard::open(b, ANSWER).map_err(fixture("board"))?.0);
        }
        Ok(())
    }

    fn console(&mut self) -> Result<&mut ConsolePort, RigError> {
        self.console
            .as_mut()
            .ok_or_else(|| RigError::Console("the console is not open".into()))
    }

    /// `cmd` as a frame with sequence number `seq`.
    fn frame(seq: u16, cmd: &Command) -> Result<Vec<u8>, RigError> {
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(seq, cmd, &mut line)
            .map_err(|_| RigError::Console(format!("cannot encode `{cmd}`")))?;
        Ok(line.into_bytes().to_vec())
    }

    /// Write `send()` to the console, again every second, until a whole
    /// line that `is_answer` takes comes back, by `deadline`; what the
    /// controller printed after it. A controller still booting (or a line
    /// that lost bytes) may miss a command; every one sent here is harmless
    /// to repeat.
    fn until_answered(
        &mut self,
        send: impl Fn() -> Result<Vec<u8>, RigError>,
        is_answer: impl Fn(&str) -> bool,
        deadline: Instant,
        what: &str,
    ) -> Result<Vec<u8>, RigError> {
        let mut text = Vec::new();
        let mut next_try = Instant::now();
        loop {
            if Instant::now() >= next_try {
                let bytes = send()?;
                self.console()?.write(&bytes).map_err(RigError::Console)?;
                next_try = Instant::now() + Duration::from_secs(1);
            }
            if let Some(at) = answered(&text, &is_answer) {
                return Ok(text.split_off(at));
            }
            if Instant::now() > deadline {
                return Err(RigError::Console(format!(
                    "the controller did not acknowledge {what} within {} s",
                    FACTORY_ACK.as_secs()
                )));
            }
            match self
                .console()?
                .read(Duration::from_millis(50))
                .map_err(RigError::Console)?
            {
                Read::Bytes(b) => text.extend_from_slice(&b),
                Read::Reopened | Read::Idle => {}
            }
        }
    }

    /// Fixtures at rest, clock set, controller back to factory state; keep
    /// what it prints after acknowledging the reset (its new banner on).
    fn reset_controller(&mut self) -> Result<(), RigError> {
        let compartments = self.desc.compartments.len();
        if let Some(b) = self.board.as_mut() {
            b.rest(compartments).map_err(fixture("board"))?;
        }
        if let Some(s) = self.supply.as_mut() {
            s.output(true).map_err(fixture("supply"))?;
        }
        Ok(())
    }

    /// The controller's clock set, and the controller back to factory
    /// state; keep what it prints after acknowledging the reset.
    fn reset_to_factory(&mut self) -> Result<(), RigError> {
        if let Some(d) = self.desc.dialect.clone() {
            return self.reset_through(&d);
        }
        // The clock goes before the reset, in one write.
        let send = || {
            let unix = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut bytes = Self::frame(SEQ_CLOCK, &Command::ClockSet(unix))?;
            bytes.extend(Self::frame(SEQ_FACTORY, &Command::FactoryReset)?);
            Ok(bytes)
        };
        let acked = |l: &str| locker_proto::response_to(l, SEQ_FACTORY) == Some(Response::Ok);
        let deadline = Instant::now() + FACTORY_ACK;
        self.pending = self.until_answered(send, acked, deadline, "FACTORY")?;
        Ok(())
    }
}

impl BenchRig {
    /// [`Self::reset_controller`]'s commands as a plain-text console takes
    /// them: the clock set (when the dialect can), then the factory reset,
    /// each answered before the next, each sent again every second until it
    /// is.
    fn reset_through(&mut self, d: &Dialect) -> Result<(), RigError> {
        if d.commands.factory.is_none() {
            return Err(RigError::Unsupported(format!(
                "bring the controller to factory state before a case: dialect `{}` has no `commands.factory` ({})",
                d.name,
                d.file.display()
            )));
        }
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |x| x.as_secs());
        let clock = d
            .commands
            .clock
            .is_some()
            .then_some(Command::ClockSet(unix));
        let deadline = Instant::now() + FACTORY_ACK;
        for cmd in clock.into_iter().chain([Command::FactoryReset]) {
            let line = d.command_line(&cmd).map_err(RigError::Unsupported)?;
            let what = format!("`{line}` (dialect `{}`)", d.name);
            let send = || Ok(format!("{line}\r\n").into_bytes());
            let after =
                self.until_answered(send, |l| d.answer(&cmd, l).is_some(), deadline, &what)?;
            if cmd == Command::FactoryReset {
                self.pending = after;
            }
        }
        Ok(())
    }
}

/// Where the output after the first whole line that `is_answer` starts.
fn answered(text: &[u8], is_answer: impl Fn(&str) -> bool) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if !line.ends_with(b"\n") {
            return None;
        }
        if is_answer(String::from_utf8_lossy(line).trim_end()) {
            return Some(at);
        }
    }
    None
}

impl Rig for BenchRig {
    fn name(&self) -> &str {
        &self.desc.name
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn wall_clock(&self) -> bool {
        true
    }

    fn true_unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        self.lock()?;
        if self.flasher.is_none() && self.bench.flash == FlashMethod::ByHand {
            // Flashed by hand: what it runs is what it says it is, checked
            // against `expect-build` when the rig file gives one.
            return Ok(FlashReport {
                expect: self.desc.expect_build.clone(),
                image: "flashed by hand (`flash: none`)".into(),
                skipped: true,
                output: Vec::new(),
            });
        }
        let desc = self.desc.clone();
        let (elf, expect) = tokio::task::spawn_blocking(move || flash::image(&desc, None))
            .await
            .map_err(|e| RigError::Flash(format!("build task: {e}")))??;
        let (own, desc, bench) = (&mut self.flasher, &self.desc, &self.bench);
        blocking(true, || match own {
            Some(f) => flash::write(f.as_mut(), &elf, expect, &mut |_| {}),
            // A probe's flasher stays on the thread that opened it.
            None => match flash::for_bench(desc, bench)? {
                Some(mut f) => flash::write(f.as_mut(), &elf, expect, &mut |_| {}),
                None => Err(RigError::Flash("flashed by hand".into())),
            },
        })
    }

    async fn prepare(&mut self, _seed: u64) -> Result<(), RigError> {
        self.solenoids = None;
        blocking(true, || {
            self.lock()?;
            self.open_parts()?;
            self.reset_controller()
        })?;
        if let Some(w) = &self.wiring {
            let ops = io_map::rest(&self.bench.io);
            io_map::run(w, &ops, self.supply.as_mut())
                .await
                .map_err(fixture("io"))?;
        }
        blocking(true, || self.reset_to_factory())?;
        let map = &self.bench.io;
        if let Some(w) = &self.wiring
            && !map.solenoids.is_empty()
        {
            let pins = map.solenoids.clone();
            self.solenoids = Some(Solenoids::start(w.clone(), pins, map.poll));
        }
        self.started = Instant::now();
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.console()?.write(bytes).map_err(RigError::Console)
    }

    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        if let Some(s) = self.solenoids.as_mut() {
            match s.measured() {
                Ok(Some(m)) => return Ok(RigOutput::Measurement(m)),
                Ok(None) => {}
                Err(e) => return Err(fixture("io")(e)),
            }
        }
        if !self.pending.is_empty() {
            return Ok(RigOutput::Console(std::mem::take(&mut self.pending)));
        }
        let wait = until
            .saturating_sub(self.now())
            .min(Duration::from_millis(50));
        let read = blocking(true, || {
            self.console()?.read(wait).map_err(RigError::Console)
        })?;
        Ok(match read {
            Read::Bytes(b) => RigOutput::Console(b),
            Read::Reopened | Read::Idle => RigOutput::Idle,
        })
    }

    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        // The I/O map first, where it has the outputs; else the fixture
        // board, as `harness check` judged it.
        let planned = self
            .wiring
            .as_ref()
            .map(|w| (w, io_map::plan(&self.bench.io, action)));
        let unmapped = match planned {
            Some((w, Ok(ops))) => {
                return io_map::run(w, &ops, self.supply.as_mut())
                    .await
                    .map_err(fixture("io"));
            }
            // What the map lacks, for the kinds of action a map can do.
            Some((_, Err(why)))
                if matches!(
                    action,
                    FixtureAction::Key(_)
                        | FixtureAction::HelpButton
                        | FixtureAction::Door { .. }
                        | FixtureAction::Package { .. }
                        | FixtureAction::Link { .. }
                ) =>
            {
                Some(why)
            }
            _ => None,
        };
        let (name, no_board) = (&self.desc.name, self.board.is_none());
        let missing = |what: &str, fixture: &str| {
            RigError::Unsupported(match &unmapped {
                Some(why) if no_board => format!("{what}: {why}"),
                _ => format!("{what}: bench `{name}` has no {fixture} fixture"),
            })
        };
        match action {
            FixtureAction::Key(k) => {
                let b = self.board.as_mut().ok_or_else(|| missing("press a key", "board"))?;
                blocking(true, || b.key(*k)).map_err(fixture("board"))
            }
            FixtureAction::HelpButton => {
                let b = self.board.as_mut().ok_or_else(|| missing("press help", "board"))?;
                blocking(true, || b.help()).map_err(fixture("board"))
            }
            // Nothing on this bench can hold a door, so none is held.
            FixtureAction::Door {
                action: DoorAction::Release,
                ..
            } if self.board.is_none() => Ok(()),
            FixtureAction::Door {
                compartment,
                action,
            } => {
                let b = self.board.as_mut().ok_or_else(|| missing("move a door", "board"))?;
                blocking(true, || b.door(*compartment, *action)).map_err(fixture("board"))
            }
            FixtureAction::Package {
                compartment,
                action,
            } => {
                let b = self.board.as_mut().ok_or_else(|| missing("place a package", "board"))?;
                blocking(true, || b.package(*compartment, *action)).map_err(fixture("board"))
            }
            FixtureAction::Link { primary, secondary } => {
                let b = self.board.as_mut().ok_or_else(|| missing("switch a link", "board"))?;
                for (link, state) in [(Link::Primary, primary), (Link::Secondary, secondary)] {
                    if let Some(s) = state {
                        blocking(true, || b.link(link, *s)).map_err(fixture("board"))?;
                    }
                }
                Ok(())
            }
            FixtureAction::Chamber { set, ramp } => {
                let c = self.chamber.as_mut().ok_or_else(|| missing("set the temperature", "chamber"))?;
                blocking(true, || c.set(set.0, ramp.map(|r| r.0 * 60.0))).map_err(fixture("chamber"))
            }
            FixtureAction::Power(p) => {
                let s = self.supply.as_mut().ok_or_else(|| missing("switch power", "supply"))?;
                let f = fixture("supply");
                match *p {
                    PowerAction::Off => blocking(true, || s.output(false)).map_err(f),
                    PowerAction::On => blocking(true, || s.output(true)).map_err(f),
                    PowerAction::Volts(v) => blocking(true, || s.set_volts(v)).map_err(f),
                    PowerAction::Cycle { off_for } => {
                        blocking(true, || s.output(false)).map_err(&f)?;
                        tokio::time::sleep(off_for).await;
                        let s = self.supply.as_mut().ok_or_else(|| missing("switch power", "supply"))?;
                        blocking(true, || s.output(true)).map_err(f)
                    }
                    PowerAction::Brownout { volts, for_ } => {
                        let before = blocking(true, || s.read()).map_err(&f)?;
                        blocking(true, || s.set_volts(volts)).map_err(&f)?;
                        tokio::time::sleep(for_).await;
                        let s = self.supply.as_mut().ok_or_else(|| missing("switch power", "supply"))?;
                        blocking(true, || s.set_volts(before)).map_err(f)
                    }
                }
            }
            FixtureAction::Fault { .. } => Err(RigError::Unsupported(
                "hold a sensor stuck: that needs a fault-injection fixture this bench does not describe".into(),
            )),
            FixtureAction::Memory(MemoryAction::Corrupt) => Err(RigError::Unsupported(
                "corrupt non-volatile memory: writing flash through the probe mid-run is not built yet".into(),
            )),
        }
    }

    fn release(&mut self) {
        // Fixtures stay open between cases; the bench lock stays held for the run.
        self.pending.clear();
        self.solenoids = None;
    }
}
