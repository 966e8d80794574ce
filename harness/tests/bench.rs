//! The bench rig end to end, with no lab: the real reference firmware
//! (`locker_core::board::Firmware`) runs behind a pseudo-terminal in wall
//! time, the instruments are emulated on loopback, and "flashing" goes
//! through a stand-in flasher. The runner prepares the bench (fixtures at
//! rest, clock, factory reset), waits for the new banner and the self-test,
//! and every action reaches the instrument that performs it.
#![cfg(all(unix, feature = "serial"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use locker_core::board::{Board, Firmware, Identity};
use locker_core::nv::NV_SIZE;
use locker_core::{Config, Input, Now, Record};
use locker_hil::rigs::bench::fixtures::emulated::{Behaviour, Emulated, Kind};
use locker_hil::run::runner::{self, Outcome};
use locker_proto::{Link, ResetCause};
use serialport::SerialPort;
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime};

const BUILD: &str = "locker-nucleo-0.1.0+emulated";

/// A board whose switches say "all shut, all locked, all empty", and whose
/// modem answers every exchange after 100 ms.
struct Desk {
    out: Box<dyn SerialPort>,
    nv: [u8; NV_SIZE],
    rtc_offset_ms: i64,
    answers: Vec<(Instant, Input)>,
}

impl Board for Desk {
    fn door_closed(&self, _: usize) -> bool {
        true
    }
    fn bolt_extended(&self, _: usize) -> bool {
        true
    }
    fn package_present(&self, _: usize) -> bool {
        false
    }
    fn read_temp_centi(&mut self) -> i32 {
        2000
    }
    fn set_solenoid(&mut self, _: usize, _: bool) {}
    fn set_heater(&mut self, _: bool) {}
    fn link_probe(&mut self, link: Link) {
        self.answers.push((
            Instant::now() + Duration::from_millis(100),
            Input::LinkProbe { link, ok: true },
        ));
    }
    fn uplink(&mut self, link: Link, r: &Record) {
        self.answers.push((
            Instant::now() + Duration::from_millis(100),
            Input::UplinkResult {
                link,
                seq: r.seq,
                ok: true,
            },
        ));
    }
    fn nv_write(&mut self, image: &[u8; NV_SIZE]) {
        self.nv = *image;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
    }
    fn set_rtc(&mut self, unix_s: u64) {
        self.rtc_offset_ms = (unix_s * 1000) as i64 - unix_now_ms();
    }
    fn reset_peripherals(&mut self) {
        self.answers.clear();
    }
}

fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Run the firmware behind the pty master until the harness side closes.
fn controller(master: serialport::TTYPort) {
    let mut input = master.try_clone_native().unwrap();
    input.set_timeout(Duration::from_millis(5)).unwrap();
    let mut desk = Desk {
        out: Box::new(master),
        nv: [0xFF; NV_SIZE],
        rtc_offset_ms: 0,
        answers: Vec::new(),
    };
    let booted = Instant::now();
    let mut boot_at = booted;
    let now = |boot_at: Instant, desk: &Desk| Now {
        ms: boot_at.elapsed().as_millis() as u64,
        rtc: ((unix_now_ms() + desk.rtc_offset_ms).max(0) / 1000) as u64,
    };
    let id = Identity {
        build: BUILD,
        board: "nucleo-f446re",
        console: locker_core::console::Style::Framed,
    };
    let nv = desk.nv;
    let mut fw = Firmware::boot(
        Config::reference(4711, *b"locker-hil-test-"),
        id,
        &nv,
        now(boot_at, &desk),
        ResetCause::PowerOn,
        &mut desk,
    );
    let mut buf = [0u8; 256];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                for &b in &buf[..n] {
                    if fw.console_rx(b, now(boot_at, &desk), &mut desk) {
                        boot_at = Instant::now();
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        let due: Vec<Input> = {
            let t = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) =
                desk.answers.drain(..).partition(|(at, _)| *at <= t);
            desk.answers = later;
            due.into_iter().map(|(_, i)| i).collect()
        };
        for i in due {
            fw.handle(now(boot_at, &desk), i, &mut desk);
        }
        if fw.next_deadline() <= now(boot_at, &desk).ms {
            fw.tick(now(boot_at, &desk), &mut desk);
        }
    }
}

/// The emulated instruments of a desk bench, kept to read what they were told.
struct Instruments {
    chamber: Emulated,
    supply: Emulated,
    board: Emulated,
}

/// Run `suite` (YAML text) on a desk bench: the firmware behind a pty,
/// emulated instruments, an image already "flashed".
fn on_desk(name: &str, suite: &str) -> (Vec<runner::CaseReport>, Instruments) {
    let chamber = Emulated::spawn(Kind::Chamber, Behaviour::Good).unwrap();
    let supply = Emulated::spawn(Kind::Supply, Behaviour::Good).unwrap();
    let board = Emulated::spawn(Kind::FixtureBoard { compartments: 5 }, Behaviour::Good).unwrap();
    let (master, slave) = serialport::TTYPort::pair().unwrap();
    let console = slave.name().unwrap();
    let desk = std::thread::spawn(move || controller(master));

    let dir = tempfile::tempdir().unwrap();
    // The image the stand-in "flashes": a file with the desk's identity.
    let elf = dir.path().join("image.elf");
    std::fs::write(
        &elf,
        format!("\x7fELF...LOCKER-IMAGE build={BUILD} board=nucleo-f446re\0"),
    )
    .unwrap();
    let rig = dir.path().join("bench.yaml");
    let fixtures = format!(
        "  chamber: {{ driver: scpi, port: \"{}\", limits: {{ min: -40C, max: 85C }} }}\n  supply: {{ driver: scpi, port: \"{}\", limits: {{ max: 15V }} }}\n  board: {{ driver: fixture-board, port: \"{}\" }}\n",
        chamber.url(),
        supply.url(),
        board.url()
    );
    std::fs::write(&rig, common::bench_rig(name, &console, &fixtures)).unwrap();
    let file = dir.path().join("suite.yaml");
    std::fs::write(&file, suite).unwrap();
    let suites = locker_hil::model::load_suites(&[file]).unwrap_or_else(|e| panic!("{}", e[0]));
    let plan = runner::plan(&suites, |_, _| true);
    let reports = common::run_preloaded(&rig, plan);
    drop(slave);
    let _ = desk.join();
    (
        reports,
        Instruments {
            chamber,
            supply,
            board,
        },
    )
}

/// Issue 14: the per-case wall limit never fired on a bench (a 6-minute
/// case ran 361 s), because a bench's reads block the case's future.
#[test]
fn a_bench_case_is_cut_at_its_wall_time_limit() {
    let started = Instant::now();
    let (reports, _) = on_desk(
        "desk-long",
        "name: long\ntimeout: 2s\ncases:\n  - name: waits longer than it may\n    steps:\n      - wait: 30s\n",
    );
    let r = &reports[0];
    let Outcome::Error { step, message } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(step, "steps[0] `wait 30s`");
    assert!(
        message.starts_with("the case ran longer than its wall-time limit of 2s"),
        "{message}"
    );
    assert!(r.wall < Duration::from_secs(8), "cut at {:?}", r.wall);
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn a_case_runs_on_a_bench_of_emulated_parts() {
    let (
        reports,
        Instruments {
            chamber,
            supply,
            board,
        },
    ) = on_desk(
        "desk",
        "name: smoke\ndescription: a bench answers\ncases:\n  - name: keys, door, chamber and power reach their instruments\n    steps:\n      - keys: \"12#\"\n      - door: { compartment: M1, action: hold }\n      - chamber: { set: 5C }\n      - power: cycle\n      - expect: { status: { failed: 0, locked-out: false } }\n",
    );
    let r = &reports[0];
    assert!(
        matches!(r.outcome, Outcome::Passed),
        "{:?}\n{}",
        r.outcome,
        r.trace.lines().join("\n")
    );
    assert_eq!(r.build.as_deref(), Some(BUILD));

    let board_lines = board.state.lock().unwrap().lines.clone();
    for want in [
        "KEY 1",
        "KEY 2",
        "KEY #",
        "DOOR 2 HOLD",
        // Every fixture at rest before the case.
        "REST",
    ] {
        assert!(
            board_lines.iter().any(|l| l == want),
            "{want} not in {board_lines:?}"
        );
    }
    let chamber_lines = chamber.state.lock().unwrap().lines.clone();
    assert!(
        chamber_lines.iter().any(|l| l == "SOUR:TEMP 5"),
        "{chamber_lines:?}"
    );
    let supply_lines = supply.state.lock().unwrap().lines.clone();
    let off = supply_lines
        .iter()
        .position(|l| l == "OUTP OFF")
        .expect("power cut");
    assert!(
        supply_lines[off..].iter().any(|l| l == "OUTP ON"),
        "power back: {supply_lines:?}"
    );
}
