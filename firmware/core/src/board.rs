//! The firmware as every board runs it: the controller behind its console.
//!
//! A board crate (the QEMU image, a real board) and the sim rig's model all
//! run this same [`Firmware`]: it prints the banner, answers console commands
//! (`ID`, `STATUS`, `PING`, `CLOCK`, `FACTORY`), stamps and frames events,
//! and hands everything else to the [`Controller`]. What differs between
//! boards is only [`Board`]: where pins, the clock and the UART really are.

use crate::console::{Console, Incoming};
use crate::nv::NV_SIZE;
use crate::{Config, Controller, Hw, Input, Now, Record};
use locker_proto::{Command, Event, Ident, Link, ResetCause, Response, Text};

/// The hardware of one board, as the firmware around the controller uses it.
pub trait Board {
    fn door_closed(&self, c: usize) -> bool;
    fn bolt_extended(&self, c: usize) -> bool;
    fn package_present(&self, c: usize) -> bool;
    /// One thermistor conversion, hundredths of a degree Celsius.
    fn read_temp_centi(&mut self) -> i32;
    fn set_solenoid(&mut self, c: usize, on: bool);
    fn set_heater(&mut self, on: bool);
    fn link_probe(&mut self, link: Link);
    fn uplink(&mut self, link: Link, record: &Record);
    fn nv_write(&mut self, image: &[u8; NV_SIZE]);
    /// Bytes out of the console UART.
    fn console_write(&mut self, bytes: &[u8]);
    /// Set the real-time clock (the `CLOCK` test hook).
    fn set_rtc(&mut self, unix_s: u64);
    /// The MCU is about to restart itself: outputs drop and exchanges in
    /// flight with the modem are abandoned, as on any reset.
    fn reset_peripherals(&mut self);
}

/// What the image is, as the banner and `ID` announce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub build: &'static str,
    pub board: &'static str,
    /// How the console speaks: framed, or plain-text logs.
    pub console: crate::console::Style,
}

/// The controller, its console and its configuration: one running image.
#[derive(Debug)]
pub struct Firmware {
    ctrl: Controller,
    console: Console,
    cfg: Config,
    id: Identity,
}

/// The [`Hw`] the controller sees: the board, with events framed onto the console.
struct Wired<'a, B: Board> {
    board: &'a mut B,
    console: &'a mut Console,
    ms: u64,
}

impl<B: Board> Hw for Wired<'_, B> {
    fn door_closed(&self, c: usize) -> bool {
        self.board.door_closed(c)
    }
    fn bolt_extended(&self, c: usize) -> bool {
        self.board.bolt_extended(c)
    }
    fn package_present(&self, c: usize) -> bool {
        self.board.package_present(c)
    }
    fn read_temp_centi(&mut self) -> i32 {
        self.board.read_temp_centi()
    }
    fn set_solenoid(&mut self, c: usize, on: bool) {
        self.board.set_solenoid(c, on);
    }
    fn set_heater(&mut self, on: bool) {
        self.board.set_heater(on);
    }
    fn emit(&mut self, event: Event) {
        let line = self.console.event(self.ms, event);
        self.board.console_write(line.as_bytes());
    }
    fn link_probe(&mut self, link: Link) {
        self.board.link_probe(link);
    }
    fn uplink(&mut self, link: Link, record: &Record) {
        self.board.uplink(link, record);
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        self.board.nv_write(image);
    }
}

impl Firmware {
    /// Power-on: print the banner, then boot the controller from `nv`.
    pub fn boot(
        cfg: Config,
        id: Identity,
        nv: &[u8; NV_SIZE],
        now: Now,
        cause: ResetCause,
        board: &mut impl Board,
    ) -> Self {
        let mut console = Console::with_style(id.console);
        board.console_write(console.hello(id.build, id.board, cause).as_bytes());
        let mut hw = Wired {
            board,
            console: &mut console,
            ms: now.ms,
        };
        let ctrl = Controller::boot(cfg.clone(), nv, now, cause, &mut hw);
        Self {
            ctrl,
            console,
            cfg,
            id,
        }
    }

    pub fn identity(&self) -> Identity {
        self.id
    }

    /// Milliseconds since boot at which [`Firmware::tick`] is next due.
    pub fn next_deadline(&self) -> u64 {
        self.ctrl.next_deadline()
    }

    pub fn handle(&mut self, now: Now, input: Input, board: &mut impl Board) {
        let mut hw = Wired {
            board,
            console: &mut self.console,
            ms: now.ms,
        };
        self.ctrl.handle(now, input, &mut hw);
    }

    pub fn tick(&mut self, now: Now, board: &mut impl Board) {
        let mut hw = Wired {
            board,
            console: &mut self.console,
            ms: now.ms,
        };
        self.ctrl.tick(now, &mut hw);
    }

    /// One byte received on the console UART; a complete line is answered at
    /// once. Returns true when the command restarted the firmware, so the
    /// board's uptime starts again from zero.
    pub fn console_rx(&mut self, byte: u8, now: Now, board: &mut impl Board) -> bool {
        let Some(incoming) = self.console.feed(byte) else {
            return false;
        };
        let (seq, response) = match incoming {
            Incoming::Bad { seq, why } => {
                (seq, Response::Err(Text::try_from(why).unwrap_or_default()))
            }
            Incoming::Command { seq, command } => match command {
                Command::Identify => (
                    seq,
                    Response::Ident {
                        proto: locker_proto::PROTOCOL_VERSION,
                        build: Ident::try_from(self.id.build).unwrap_or_default(),
                        board: Ident::try_from(self.id.board).unwrap_or_default(),
                    },
                ),
                Command::Status => (seq, Response::Status(self.ctrl.status(now))),
                Command::Ping => (seq, Response::Ok),
                Command::ClockSet(unix) => {
                    board.set_rtc(unix);
                    (seq, Response::Ok)
                }
                Command::FactoryReset => {
                    // Answer first: after the restart the harness sees a new banner.
                    let line = self.console.response(seq, Response::Ok);
                    board.console_write(line.as_bytes());
                    let erased = [0xFF; NV_SIZE];
                    board.nv_write(&erased);
                    board.reset_peripherals();
                    let restarted = Now {
                        ms: 0,
                        rtc: now.rtc,
                    };
                    *self = Self::boot(
                        self.cfg.clone(),
                        self.id,
                        &erased,
                        restarted,
                        ResetCause::Factory,
                        board,
                    );
                    return true;
                }
            },
        };
        let line = self.console.response(seq, response);
        board.console_write(line.as_bytes());
        false
    }
}
