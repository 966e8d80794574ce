//! The reference parcel-locker firmware on QEMU's `mps2-an386` board.
//!
//! UART0 is the console (the protocol in `firmware/proto/PROTOCOL.md`); the
//! plant link (`locker_proto::plant`) runs over semihosting (see
//! [`semihost`]), and over it the harness's plant model plays every wire the
//! emulator cannot: door, bolt and package switches, solenoids, heater,
//! thermistor, modem, EEPROM, and the timebase.
//! The firmware itself is `locker_core::board::Firmware`, the same code the
//! sim rig runs; this crate is only the board around it.
//!
//! The CPU sleeps until the harness sends something (QEMU parks it inside
//! the semihosting read) or, while it waits for console bytes, in WFI until
//! a UART receive interrupt; nothing polls.
#![no_std]
#![no_main]

mod semihost;
mod uart;

use core::cell::RefCell;
use core::fmt::Write as _;
use core::sync::atomic::AtomicU32;
use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use critical_section::Mutex;
use heapless::Deque;
use locker_core::board::{Board, Firmware, Identity};
use locker_core::nv::NV_SIZE;
use locker_core::{Compartment, Config, Input, Now, Record, Size};
use locker_proto::plant::{NV_CHUNK, Stimulus, ToBoard, ToPlant};
use locker_proto::{LineDecoder, Link, MAX_LINE, encode_frame, parse_frame};
use uart::Uart;

// BUILD_ID, BOARD and the LOCKER_IMAGE marker, from the build script.
include!(concat!(env!("OUT_DIR"), "/image.rs"));

/// External interrupts of the AN386 image that this firmware uses.
#[derive(Clone, Copy)]
#[repr(u16)]
enum Irq {
    Uart0Rx = 0,
}

// SAFETY: the number is the AN386 receive interrupt of UART0.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

static CONSOLE_RX: uart::RxQueue = Mutex::new(RefCell::new(Deque::new()));
static CONSOLE_LOST: AtomicU32 = AtomicU32::new(0);
// SAFETY: the console UART's register block, driven only here.
static CONSOLE: Uart = unsafe { Uart::new(0x4000_4000, &CONSOLE_RX, &CONSOLE_LOST) };

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == Irq::Uart0Rx as i16 {
        CONSOLE.on_rx_interrupt();
    }
}

/// Sleep until an interrupt has queued input on `uart`.
fn wait_for(uart: &Uart) {
    // Interrupts are masked while the queue is checked, so one that arrives
    // between the check and WFI still wakes WFI; its handler runs as soon as
    // the critical section ends.
    while !critical_section::with(|cs| {
        let ready = uart.has_input(cs);
        if !ready {
            cortex_m::asm::wfi();
        }
        ready
    }) {}
}

/// The plant end of the board: frames out, frames in, and the pin levels.
struct PlantLink {
    out: semihost::Outbox,
    inbox: semihost::Inbox,
    tx_seq: u16,
    rx: LineDecoder,
    door: u32,
    bolt: u32,
    package: u32,
    /// Console bytes sent and received since reset.
    console_tx: u32,
    console_rx: u32,
    /// The real-time clock, unix ms, at uptime zero (a battery-backed RTC
    /// keeps running through resets; `CLOCK` moves it).
    rtc_base_ms: i64,
    /// Uptime of the instant being run.
    now_ms: u64,
    /// Messages that act on the plant, sent since reset.
    effects: u32,
}

impl PlantLink {
    fn send(&mut self, msg: &ToPlant) {
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        if encode_frame(self.tx_seq, msg, &mut line).is_ok() {
            self.out.push(line.as_bytes());
        }
        self.tx_seq = self.tx_seq.wrapping_add(1);
    }

    /// Block until the harness sends a well-formed message. Lines that fail
    /// their checksum or do not parse are answered by nothing: the harness
    /// times out and reports the link, which is the honest outcome.
    fn recv(&mut self) -> ToBoard {
        // Whatever this instant said goes out before the board waits.
        self.out.flush();
        loop {
            let Some(line) = self.rx.push(self.inbox.read_byte()) else {
                continue;
            };
            let msg = line
                .ok()
                .and_then(|l| parse_frame(l).ok())
                .and_then(|(_, body)| ToBoard::parse(body).ok());
            self.rx.clear_line();
            if let Some(msg) = msg {
                return msg;
            }
        }
    }
}

impl PlantLink {
    /// The firmware's view of `ms` of uptime.
    fn now(&mut self, ms: u64) -> Now {
        self.now_ms = ms;
        let rtc_ms = (self.rtc_base_ms + ms as i64).max(0);
        Now {
            ms,
            rtc: (rtc_ms / 1000) as u64,
        }
    }

    fn effect(&mut self, msg: &ToPlant) {
        self.effects = self.effects.wrapping_add(1);
        self.send(msg);
    }
}

fn bit(mask: u32, c: usize) -> bool {
    c < 32 && mask & (1 << c) != 0
}

impl Board for PlantLink {
    fn door_closed(&self, c: usize) -> bool {
        bit(self.door, c)
    }
    fn bolt_extended(&self, c: usize) -> bool {
        bit(self.bolt, c)
    }
    fn package_present(&self, c: usize) -> bool {
        bit(self.package, c)
    }
    fn read_temp_centi(&mut self) -> i32 {
        self.send(&ToPlant::TempRequest);
        loop {
            if let ToBoard::Temp(centi) = self.recv() {
                return centi;
            }
        }
    }
    fn set_solenoid(&mut self, c: usize, on: bool) {
        self.effect(&ToPlant::Solenoid { c: c as u8, on });
    }
    fn set_heater(&mut self, on: bool) {
        self.effect(&ToPlant::Heater(on));
    }
    fn link_probe(&mut self, link: Link) {
        self.effect(&ToPlant::Probe(link));
    }
    fn uplink(&mut self, link: Link, r: &Record) {
        self.effect(&ToPlant::Uplink {
            link,
            seq: r.seq,
            kind: r.kind,
            compartment: r.compartment,
            value: r.value,
        });
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        for (i, chunk) in image.chunks(NV_CHUNK).enumerate() {
            let data = heapless::Vec::from_slice(chunk).unwrap_or_default();
            self.effect(&ToPlant::NvWrite {
                offset: (i * NV_CHUNK) as u16,
                data,
            });
        }
    }
    fn console_write(&mut self, bytes: &[u8]) {
        CONSOLE.write(bytes);
        self.console_tx = self.console_tx.wrapping_add(bytes.len() as u32);
    }
    fn set_rtc(&mut self, unix_s: u64) {
        self.rtc_base_ms = (unix_s * 1000) as i64 - self.now_ms as i64;
        self.effect(&ToPlant::Rtc(unix_s));
    }
    fn reset_peripherals(&mut self) {
        // Uptime restarts; the battery-backed clock does not.
        self.rtc_base_ms += self.now_ms as i64;
        self.now_ms = 0;
        self.effect(&ToPlant::Reset);
    }
}

#[entry]
fn main() -> ! {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    CONSOLE.enable();
    uart::start_kick_timer(&mut core.SYST);
    // SAFETY: the handler only touches the console UART and its queue.
    unsafe { NVIC::unmask(Irq::Uart0Rx) };

    let id = Identity {
        build: BUILD_ID,
        board: BOARD,
        // `--features plain-console`: logs the way vendor firmware prints
        // them, for the harness's console dialects.
        console: if cfg!(feature = "plain-console") {
            locker_core::console::Style::Plain
        } else {
            locker_core::console::Style::Framed
        },
    };
    let mut link = PlantLink {
        out: semihost::Outbox::new(),
        inbox: semihost::Inbox::new(),
        tx_seq: 0,
        rx: LineDecoder::new(),
        door: 0,
        bolt: 0,
        package: 0,
        console_tx: 0,
        console_rx: 0,
        rtc_base_ms: 0,
        now_ms: 0,
        effects: 0,
    };
    link.send(&ToPlant::Ready {
        build: id.build.try_into().unwrap_or_default(),
        board: id.board.try_into().unwrap_or_default(),
    });

    let mut cfg = Config {
        station: 0,
        key: [0; 16],
        compartments: heapless::Vec::new(),
    };
    let mut nv = [0xFFu8; NV_SIZE];
    let mut fw: Option<Firmware> = None;
    loop {
        match link.recv() {
            ToBoard::Station { id, key } => {
                cfg.station = id;
                cfg.key = key;
            }
            ToBoard::Compartment { name, size } => {
                let size = match size {
                    'S' => Size::S,
                    'M' => Size::M,
                    _ => Size::L,
                };
                let _ = cfg.compartments.push(Compartment { name, size });
            }
            ToBoard::Nv { offset, data } => {
                let at = usize::from(offset);
                if let Some(dst) = nv.get_mut(at..at + data.len()) {
                    dst.copy_from_slice(&data);
                }
            }
            ToBoard::Pins {
                door,
                bolt,
                package,
            } => {
                link.door = door;
                link.bolt = bolt;
                link.package = package;
            }
            ToBoard::Boot { cause, rtc_ms } => {
                link.rtc_base_ms = rtc_ms as i64;
                let now = link.now(0);
                fw = Some(Firmware::boot(cfg.clone(), id, &nv, now, cause, &mut link));
                done(&mut link, fw.as_ref());
            }
            ToBoard::Step { ms, what } => {
                if let Some(f) = fw.as_mut() {
                    let now = link.now(ms);
                    step(f, now, what, &mut link);
                }
                done(&mut link, fw.as_ref());
            }
            ToBoard::Run { from, until } => {
                if let Some(f) = fw.as_mut() {
                    run(f, from, until, &mut link);
                }
                done(&mut link, fw.as_ref());
            }
            // An answer nobody asked for: ignore it.
            ToBoard::Temp(_) => {}
        }
    }
}

fn step(fw: &mut Firmware, now: Now, what: Stimulus, link: &mut PlantLink) {
    let input = match what {
        Stimulus::Tick => return fw.tick(now, link),
        Stimulus::Key(k) => Input::Key(k),
        Stimulus::Help => Input::Help,
        Stimulus::Sensors => Input::Sensors,
        Stimulus::Probe { link, ok } => Input::LinkProbe { link, ok },
        Stimulus::Ack { link, seq, ok } => Input::UplinkResult { link, seq, ok },
        Stimulus::Console { upto } => {
            // Only the bytes the harness says it sent before this instant.
            let mut now = now;
            while link.console_rx != upto {
                let Some(b) = CONSOLE.pop() else {
                    wait_for(&CONSOLE);
                    continue;
                };
                link.console_rx = link.console_rx.wrapping_add(1);
                if fw.console_rx(b, now, link) {
                    // The firmware restarted (reset_peripherals rebased the clock).
                    now = link.now(0);
                }
            }
            return;
        }
    };
    fw.handle(now, input, link);
}

/// Run the firmware's own deadlines up to `until`, stopping after the first
/// instant that did something the harness must see before time moves on.
fn run(fw: &mut Firmware, from: u64, until: u64, link: &mut PlantLink) {
    loop {
        let at = fw.next_deadline().max(from);
        if at > until {
            return;
        }
        link.send(&ToPlant::At(at));
        let before = (link.effects, link.console_tx);
        let now = link.now(at);
        fw.tick(now, link);
        if (link.effects, link.console_tx) != before {
            return;
        }
    }
}

fn done(link: &mut PlantLink, fw: Option<&Firmware>) {
    let deadline = fw.map_or(u64::MAX, Firmware::next_deadline);
    let console = link.console_tx;
    link.send(&ToPlant::Done { deadline, console });
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Unframed on purpose: the harness reports it as an unreadable plant
    // line, with this text in the error.
    let mut s = semihost::Outbox::new();
    let mut text = heapless::String::<{ MAX_LINE }>::new();
    let _ = write!(
        text,
        "\nPANIC {}\n",
        info.location().map_or("", |l| l.file())
    );
    s.push(text.as_bytes());
    s.flush();
    loop {
        cortex_m::asm::wfi();
    }
}
