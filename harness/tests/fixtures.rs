//! Fixture drivers against emulated instruments: on loopback TCP and on a
//! pseudo-terminal, well behaved and not (late, garbage, gone).

use locker_hil::model::rigfile::bench::{ChamberLimits, PortRef, SupplyLimits};
use locker_hil::model::suite::DoorAction;
use locker_hil::model::units::{Celsius, Ramp, Volts};
use locker_hil::rigs::bench::fixtures::board::FixtureBoard;
use locker_hil::rigs::bench::fixtures::emulated::{Behaviour, Emulated, Kind};
use locker_hil::rigs::bench::fixtures::link::{LineLink, open};
use locker_hil::rigs::bench::fixtures::scpi::{Chamber, Scpi, Settle, Supply};
use std::time::Duration;

fn link(e: &Emulated, name: &str, timeout_ms: u64) -> LineLink {
    let port = PortRef::Tcp {
        addr: e.addr.to_string(),
    };
    let io = open(&port, Duration::from_secs(1)).expect("connects");
    LineLink::new(name, io, Duration::from_millis(timeout_ms))
}

fn limits() -> ChamberLimits {
    ChamberLimits {
        min: Celsius(-40.0),
        max: Celsius(85.0),
        ramp: Some(Ramp(5.0 / 60.0)),
    }
}

fn settle() -> Settle {
    Settle {
        tolerance: 0.5,
        dwell: Duration::from_millis(100),
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn chamber_ramps_within_its_limits_and_settles() {
    let e = Emulated::spawn(Kind::Chamber, Behaviour::Good).unwrap();
    let mut c = Chamber::new(Scpi::new(link(&e, "chamber", 500)), limits());
    assert!(c.identify().unwrap().contains("EMU-CHAMBER"));
    c.set(-20.0, None).unwrap();
    let t = c.settle(settle()).unwrap();
    assert!((t + 20.0).abs() <= 0.5, "{t}");
    let sent = e.state.lock().unwrap().lines.clone();
    // The rig's ramp limit is used when the suite names none.
    assert!(sent.contains(&"SOUR:TEMP:RAMP 5".to_owned()), "{sent:?}");
    assert!(sent.contains(&"SOUR:TEMP -20".to_owned()), "{sent:?}");
}

#[test]
fn chamber_limits_are_enforced_before_anything_is_sent() {
    let e = Emulated::spawn(Kind::Chamber, Behaviour::Good).unwrap();
    let mut c = Chamber::new(Scpi::new(link(&e, "chamber", 500)), limits());
    let err = c.set(95.0, None).unwrap_err();
    assert!(err.contains("limits are -40C to 85C"), "{err}");
    let err = c.set(0.0, Some(10.0)).unwrap_err();
    assert!(err.contains("limit is 5C/min"), "{err}");
    assert!(
        e.state.lock().unwrap().lines.is_empty(),
        "nothing reached the chamber"
    );
}

#[test]
fn chamber_that_never_gets_there_is_a_timeout_naming_the_reading() {
    let e = Emulated::spawn(Kind::Chamber, Behaviour::Good).unwrap();
    let mut c = Chamber::new(Scpi::new(link(&e, "chamber", 500)), limits());
    c.set(80.0, Some(0.01)).unwrap();
    let err = c
        .settle(Settle {
            timeout: Duration::from_millis(200),
            ..settle()
        })
        .unwrap_err();
    assert!(err.contains("not settled at 80C"), "{err}");
}

#[test]
fn supply_obeys_its_limit() {
    let e = Emulated::spawn(Kind::Supply, Behaviour::Good).unwrap();
    let mut s = Supply::new(
        Scpi::new(link(&e, "supply", 500)),
        SupplyLimits {
            max: Volts(15.0),
            channel: None,
        },
    );
    assert!(s.identify().unwrap().contains("EMU-SUPPLY"));
    let err = s.set_volts(16.0).unwrap_err();
    assert!(err.contains("limit is 15V"), "{err}");
    s.set_volts(9.5).unwrap();
    s.output(true).unwrap();
    assert!((s.read().unwrap() - 9.5).abs() < 1e-6);
}

#[test]
fn an_instrument_that_answers_late_is_a_timeout() {
    let e = Emulated::spawn(Kind::Chamber, Behaviour::Late(Duration::from_millis(400))).unwrap();
    let mut c = Chamber::new(Scpi::new(link(&e, "chamber", 100)), limits());
    let err = c.identify().unwrap_err();
    assert!(
        err.contains("chamber: no answer to `*IDN?` within 100 ms"),
        "{err}"
    );
}

#[test]
fn an_instrument_that_answers_garbage_is_an_error_showing_it() {
    let e = Emulated::spawn(Kind::Supply, Behaviour::Garbage).unwrap();
    let mut s = Supply::new(
        Scpi::new(link(&e, "supply", 500)),
        SupplyLimits {
            max: Volts(15.0),
            channel: None,
        },
    );
    let err = s.identify().unwrap_err();
    assert!(
        err.contains("supply: answered `*IDN?` with garbage"),
        "{err}"
    );
}

#[test]
fn an_instrument_that_disappears_is_an_error_not_a_hang() {
    let e = Emulated::spawn(Kind::Supply, Behaviour::Vanish { after: 1 }).unwrap();
    let mut s = Supply::new(
        Scpi::new(link(&e, "supply", 2000)),
        SupplyLimits {
            max: Volts(15.0),
            channel: None,
        },
    );
    s.identify().unwrap();
    let err = s.set_volts(12.0).unwrap_err();
    assert!(
        err.contains("supply") && (err.contains("closed") || err.contains("lost")),
        "{err}"
    );
}

#[test]
fn fixture_board_drives_keys_doors_and_reports_refusals() {
    let e = Emulated::spawn(Kind::FixtureBoard { compartments: 5 }, Behaviour::Good).unwrap();
    let mut b = FixtureBoard::new(link(&e, "fixture board", 500));
    assert_eq!(b.identify().unwrap().compartments, 5);
    b.key('5').unwrap();
    b.door(2, DoorAction::Hold).unwrap();
    let err = b.door(7, DoorAction::Push).unwrap_err();
    assert!(
        err.contains("refused `DOOR 7 PUSH`: no such compartment"),
        "{err}"
    );
    let sent = e.state.lock().unwrap().lines.clone();
    assert_eq!(sent, ["ID?", "KEY 5", "DOOR 2 HOLD", "DOOR 7 PUSH"]);
}

/// Issue 16: every fixture at rest in one word; a board from before `REST`
/// is brought there one fixture at a time.
#[rstest::rstest]
#[case::rest(Kind::FixtureBoard { compartments: 2 }, &["REST"])]
#[case::one_at_a_time(
    Kind::FixtureBoardWithoutRest { compartments: 2 },
    &["REST", "DOOR 0 FREE", "DOOR 0 PUSH", "PKG 0 OUT", "DOOR 1 FREE", "DOOR 1 PUSH", "PKG 1 OUT", "LINK 1 UP", "LINK 2 UP"]
)]
fn fixture_board_comes_to_rest(#[case] kind: Kind, #[case] sent: &[&str]) {
    let e = Emulated::spawn(kind, Behaviour::Good).unwrap();
    let mut b = FixtureBoard::new(link(&e, "fixture board", 500));
    b.rest(2).unwrap();
    assert_eq!(e.state.lock().unwrap().lines, sent);
}

#[cfg(all(unix, feature = "serial"))]
#[test]
fn fixture_board_over_a_pseudo_terminal() {
    use serialport::SerialPort;
    use std::io::{BufRead, BufReader, Write};
    let (master, slave) = serialport::TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("pty has a path");
    // The pty's slave end must stay open for the path to be usable: keep it.
    let board = std::thread::spawn(move || {
        let mut out = master.try_clone_native().expect("clone");
        let mut lines = BufReader::new(master);
        let mut line = String::new();
        // Answer as the board does until the harness side closes.
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let answer = if line.trim() == "ID?" {
                "ID locker-fixture-board 1.0 5"
            } else {
                "OK"
            };
            if out.write_all(format!("{answer}\r\n").as_bytes()).is_err() {
                break;
            }
        }
    });
    let port = PortRef::Serial {
        path,
        baud: 115_200,
    };
    let io = open(&port, Duration::from_secs(1)).expect("pty opens");
    let mut b = FixtureBoard::new(LineLink::new("fixture board", io, Duration::from_secs(2)));
    assert_eq!(b.identify().unwrap().compartments, 5);
    b.key('#').unwrap();
    drop(b);
    drop(slave);
    board.join().unwrap();
}

/// `harness rig check` on a bench whose instruments are emulated and whose
/// console is a pty with an emulated controller behind it: each part is
/// reported, the missing probe by its selector.
#[cfg(all(unix, feature = "serial"))]
#[test]
fn rig_check_reports_every_part_of_a_bench() {
    use locker_proto::{Ident, Response, ToHarness, encode_frame};
    use serialport::SerialPort;
    use std::io::{BufRead, BufReader, Write};

    let chamber = Emulated::spawn(Kind::Chamber, Behaviour::Good).unwrap();
    let supply = Emulated::spawn(Kind::Supply, Behaviour::Good).unwrap();
    let board = Emulated::spawn(Kind::FixtureBoard { compartments: 5 }, Behaviour::Good).unwrap();
    let (master, slave) = serialport::TTYPort::pair().expect("pty pair");
    let console = slave.name().expect("pty path");
    let controller = std::thread::spawn(move || {
        let mut out = master.try_clone_native().expect("clone");
        let mut lines = BufReader::new(master);
        let mut line = String::new();
        while matches!(lines.read_line(&mut line), Ok(n) if n > 0) {
            // Some chatter first, as a running controller has.
            let mut reply = heapless::String::<200>::new();
            let _ = encode_frame(7, &"EV 100 heater off", &mut reply);
            let _ = out.write_all(reply.as_bytes());
            let msg = ToHarness::Response {
                to: 1,
                response: Response::Ident {
                    proto: 1,
                    build: Ident::try_from("locker-nucleo-0.1.0+00ff").unwrap(),
                    board: Ident::try_from("nucleo-f446re").unwrap(),
                },
            };
            let _ = encode_frame(8, &msg, &mut reply);
            let _ = out.write_all(reply.as_bytes());
            line.clear();
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("bench.yaml");
    std::fs::write(
        &rig,
        format!(
            "name: bench-emu\ncontroller:\n  firmware: missing.elf\n  flash: {{ probe: \"0483:374b:0000EMU\", chip: STM32F446RETx }}\n  console: {{ port: {console}, baud: 115200 }}\n  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments: [{{ name: M1, size: M }}]\nfixtures:\n  chamber: {{ driver: scpi, port: \"{}\", limits: {{ min: -40C, max: 85C }} }}\n  supply: {{ driver: scpi, port: \"{}\", limits: {{ max: 15V }} }}\n  board: {{ driver: fixture-board, port: \"{}\" }}\n",
            chamber.url(),
            supply.url(),
            board.url()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .args(["rig", "check", "--rig"])
        .arg(&rig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let has = |part: &str, verdict: &str, text: &str| {
        stdout.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(part) && l.contains(verdict) && l.contains(text)
        })
    };
    assert!(has("lock", "ok", "no other run"), "{stdout}");
    assert!(has("flash", "FAIL", "0483:374b:0000EMU"), "{stdout}");
    assert!(has("console", "ok", &console), "{stdout}");
    assert!(
        has(
            "controller",
            "ok",
            "build locker-nucleo-0.1.0+00ff on nucleo-f446re"
        ),
        "{stdout}"
    );
    assert!(has("chamber", "ok", "EMU-CHAMBER"), "{stdout}");
    assert!(has("supply", "ok", "EMU-SUPPLY"), "{stdout}");
    assert!(has("board", "ok", "5 compartments"), "{stdout}");
    assert!(stdout.contains("1 of 7 parts not ready"), "{stdout}");
    drop(slave);
    let _ = controller.join();

    // A port that is not there is named, with the reason.
    let text = std::fs::read_to_string(&rig)
        .unwrap()
        .replace(&console, "/dev/tty-not-here");
    std::fs::write(&rig, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .env("XDG_RUNTIME_DIR", dir.path())
        .args(["rig", "check", "--rig"])
        .arg(&rig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        has_line(&stdout, "console", "FAIL", "/dev/tty-not-here"),
        "{stdout}"
    );
    assert!(
        has_line(&stdout, "controller", "skip", "console did not open"),
        "{stdout}"
    );
}

#[cfg(all(unix, feature = "serial"))]
fn has_line(out: &str, part: &str, verdict: &str, text: &str) -> bool {
    out.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(part) && l.contains(verdict) && l.contains(text)
    })
}

/// The console survives a board reset that takes the port away: the
/// reader opens the same (by-id style) path again and the banner printed
/// meanwhile is not lost. A port that never comes back is an error in time.
#[cfg(all(unix, feature = "serial"))]
#[test]
fn console_port_reopens_after_a_reset_and_keeps_the_banner() {
    use locker_hil::rigs::bench::console::{ConsolePort, Read};
    use serialport::SerialPort;
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-locker-if02");
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    let port = PortRef::Serial {
        path: link.display().to_string(),
        baud: 115_200,
    };
    let mut console = ConsolePort::open(port, Duration::from_secs(2)).unwrap();
    master.write_all(b"before reset\n").unwrap();
    let mut seen = Vec::new();
    let read_until = |console: &mut ConsolePort, seen: &mut Vec<u8>, want: &[u8]| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut reopened = false;
        while !seen.windows(want.len()).any(|w| w == want) {
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {want:?}: {seen:?}"
            );
            match console.read(Duration::from_millis(100)).unwrap() {
                Read::Bytes(b) => seen.extend_from_slice(&b),
                Read::Reopened => reopened = true,
                Read::Idle => {}
            }
        }
        reopened
    };
    read_until(&mut console, &mut seen, b"before reset");

    // The board resets: its USB port vanishes, and a new one appears under
    // the same by-id name, already holding the banner.
    drop(master);
    drop(slave);
    let (mut master, slave) = serialport::TTYPort::pair().unwrap();
    master.write_all(b"0 HELLO banner\n").unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    let reopened = read_until(&mut console, &mut seen, b"HELLO banner");
    assert!(reopened, "the reopen is reported");
    console.write(b"ID\n").unwrap();

    // Gone for good: an error within the reopen window, not a hang.
    drop(master);
    drop(slave);
    std::fs::remove_file(&link).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let err = loop {
        match console.read(Duration::from_millis(100)) {
            Err(e) => break e,
            Ok(_) => assert!(std::time::Instant::now() < deadline, "no error"),
        }
    };
    assert!(err.contains("not back within 2000 ms"), "{err}");
}

/// Every driver, against every way an instrument misbehaves: an error that
/// names the instrument and what went wrong, in bounded time.
#[rstest::rstest]
fn every_driver_reports_a_misbehaving_instrument(
    #[values(Kind::Chamber, Kind::Supply, Kind::FixtureBoard { compartments: 5 })] kind: Kind,
    #[values(
        Behaviour::Late(Duration::from_millis(300)),
        Behaviour::Garbage,
        Behaviour::Vanish { after: 0 }
    )]
    behaviour: Behaviour,
) {
    let e = Emulated::spawn(kind, behaviour).unwrap();
    let started = std::time::Instant::now();
    let l = link(&e, "instrument", 100);
    let err = match kind {
        Kind::Chamber => Chamber::new(Scpi::new(l), limits()).identify().unwrap_err(),
        Kind::Supply => Supply::new(
            Scpi::new(l),
            SupplyLimits {
                max: Volts(15.0),
                channel: None,
            },
        )
        .identify()
        .unwrap_err(),
        Kind::FixtureBoard { .. } | Kind::FixtureBoardWithoutRest { .. } => {
            FixtureBoard::new(l).identify().map(|_| ()).unwrap_err()
        }
    };
    assert!(err.starts_with("instrument: "), "{err}");
    let expected = match behaviour {
        Behaviour::Late(_) => "no answer",
        Behaviour::Garbage => "garbage",
        _ => "closed",
    };
    assert!(err.contains(expected), "{behaviour:?}: {err}");
    assert!(started.elapsed() < Duration::from_secs(2), "bounded: {err}");
}
