//! A bench without the fixture board: bundled cases run from the command
//! line through `rigs/bench-relays.yaml`'s I/O map (keys on a Modbus RTU
//! relay module, doors, package flags and a link on Modbus TCP modules, the
//! primary modem on the SCPI supply's second channel, solenoids read back
//! from discrete inputs), against `harness rig serve --as`, which plays the
//! modules with tokio-modbus's own servers around the simulated controller.
#![cfg(all(unix, feature = "serial", feature = "modbus"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `rigs/bench-relays.yaml` served on this machine, stopped when dropped.
struct Served {
    child: Child,
    rig: PathBuf,
    dir: tempfile::TempDir,
    /// What the served rig said while it ran (one line per fixture command).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The example bench with its ports moved onto this machine and flashed by
/// hand: the wiring (`fixtures.modules`, `io:`) is the example's own.
fn served_copy(dir: &Path) -> String {
    let text = std::fs::read_to_string(repo().join("rigs/bench-relays.yaml")).unwrap();
    let d = dir.display();
    let mut out = String::new();
    for line in text.lines() {
        let line = if line.trim_start().starts_with("flash:") {
            "  flash: none".to_owned()
        } else if line.trim_start().starts_with("console:") {
            format!("  console: {{ port: {d}/console, baud: 115200 }}")
        } else if line.contains("tcp://chamber-3.lab:5025") {
            line.replace("\"tcp://chamber-3.lab:5025\"", &format!("{d}/chamber"))
        } else if line.contains("tcp://psu-3.lab:5025") {
            line.replace("\"tcp://psu-3.lab:5025\"", &format!("{d}/supply"))
        } else if line.contains("usb-FTDI") {
            format!("    keypad: {{ driver: modbus-rtu, port: {d}/keypad, baud: 9600, unit: 1 }}")
        } else if line.contains("relay-3.lab:502") {
            line.replace("relay-3.lab:502", &format!("127.0.0.1:{}", free_port()))
        } else if line.contains("relay-4.lab:502") {
            line.replace("relay-4.lab:502", &format!("127.0.0.1:{}", free_port()))
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(out.matches("127.0.0.1:").count(), 2, "{out}");
    out
}

fn serve() -> Served {
    serve_with(|text, _| text.to_owned())
}

/// [`serve`] of the served copy as `change` leaves it.
fn serve_with(change: impl Fn(&str, &Path) -> String) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("bench-relays.yaml");
    std::fs::write(&rig, change(&served_copy(dir.path()), dir.path())).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "serve", "--pty", "--as"])
        .arg(&rig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = child.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut errors, &mut std::io::stderr()));
    // Stopped when dropped, whatever is asserted next.
    let served = Served {
        child,
        rig,
        dir,
        log: Default::default(),
    };
    let mut said = Vec::new();
    loop {
        let l = lines.next().expect("rig serve said it serves").unwrap();
        let ready = l.starts_with("serving rig");
        said.push(l);
        if ready {
            break;
        }
    }
    // The wiring it announced: the modules where the file puts them.
    let said = said.join("\n");
    let text = std::fs::read_to_string(&served.rig).unwrap();
    if text.contains("keypad: { driver") {
        for module in ["Modbus RTU on", "keypad (unit 1)", "doors (unit 1)"] {
            assert!(said.contains(module), "{said}");
        }
    }
    let log = served.log.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            log.lock().unwrap().push(l);
        }
    });
    served
}

/// `harness run --rig` on the served bench: exit code and output.
fn run(served: &Served, args: &[&str]) -> (Option<i32>, String) {
    let junit = served.dir.path().join("junit.xml");
    let html = served.dir.path().join("index.html");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "--rig"])
        .arg(&served.rig)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn bundled_cases_pass_through_modbus_relays_and_a_supply_channel() {
    let served = serve();
    let (code, out) = run(
        &served,
        &[
            "suites/code-entry.yaml",
            "suites/jams.yaml",
            "suites/network.yaml",
            "--filter",
            "name:\"valid code opens its compartment\" | name:\"door held during unlock is a jam\" | name:\"both links down raises E61 and codes still work\"",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 cases: 3 passed"), "{out}");
    // The preflight has every module answer; a unit that is not on the
    // line is said, and the bench is not ready.
    let rig = served.rig.to_str().unwrap();
    let out = common::harness(&["rig", "check", "--rig", rig]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("io modules  ok    module `doors` (Modbus TCP"),
        "{said}"
    );
    let text = std::fs::read_to_string(&served.rig).unwrap();
    let wrong = served.dir.path().join("wrong-unit.yaml");
    let doors = text
        .lines()
        .find(|l| l.contains("doors: { driver: modbus-tcp"))
        .unwrap();
    std::fs::write(
        &wrong,
        text.replace(doors, &doors.replace("unit: 1", "unit: 7")),
    )
    .unwrap();
    let out = common::harness(&["rig", "check", "--rig", wrong.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("unit 7): refused to read coil 0"), "{said}");
}

#[test]
fn a_solenoid_pulse_is_measured_through_discrete_inputs() {
    let served = serve();
    // The reference firmware's unlock pulse at 20C is 230 ms; a bench reads
    // it by polling its input every 5 ms, so it is held to a bench's
    // precision here, not to the sim's exact figure.
    let suite = served.dir.path().join("pulse.yaml");
    std::fs::write(
        &suite,
        "name: pulse\ncases:\n  - name: an unlock is one pulse of the documented length\n    setup:\n      - parcel: { compartment: M1, code: $pickup }\n    steps:\n      - keys: \"$pickup#\"\n      - expect: { pulse: { min: 200ms, max: 260ms }, compartment: M1, within: 2s }\n      - expect: { lock: released, compartment: M1, within: 1s }\n",
    )
    .unwrap();
    let (code, out) = run(&served, &[suite.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    // A pulse the solenoid never gives is not seen either.
    std::fs::write(
        &suite,
        "name: pulse\ncases:\n  - name: no pulse of half a second\n    setup:\n      - parcel: { compartment: M1, code: $pickup }\n    steps:\n      - keys: \"$pickup#\"\n      - expect: { pulse: { min: 450ms, max: 550ms }, compartment: M1, within: 2s }\n",
    )
    .unwrap();
    let (code, out) = run(&served, &[suite.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn check_refuses_what_the_map_cannot_do_at_the_step_and_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let text = served_copy(dir.path())
        .replace("    \"5\": keypad/5\n", "")
        .replace("  help: keypad/12\n", "");
    let rig = dir.path().join("bench.yaml");
    std::fs::write(&rig, text).unwrap();
    let suite = dir.path().join("s.yaml");
    std::fs::write(
        &suite,
        "name: s\ncases:\n  - name: five\n    steps:\n      - keys: \"15#\"\n      - help: 3\n",
    )
    .unwrap();
    let out = common::harness(&[
        "check",
        "--rig",
        rig.to_str().unwrap(),
        suite.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("press keys 5"), "{err}");
    assert!(err.contains("press the help button"), "{err}");
    assert!(err.contains("s.yaml:5"), "the step's line: {err}");
    assert!(err.contains("bench.yaml:"), "the rig's line: {err}");
}

/// One mistake in the example's wiring: refused at its node, saying what
/// was expected.
#[rstest::rstest]
#[case(
    "\"5\": keypad/5",
    "\"5\": keypda/5",
    "io.keys.5: `keypda` is not a module of `fixtures.modules`; did you mean `keypad`?"
)]
#[case(
    "\"7\": keypad/7",
    "\"7\": keypad/1",
    "io.keys.7: `keypad/1` is already io.keys.1"
)]
#[case(
    "help: keypad/12",
    "help: keypad12",
    "io.help: `keypad12` is not an output; expected MODULE/N"
)]
#[case("    M2: { push", "    M9: { push", "io.doors.M9: no compartment `M9`")]
#[case("\"#\": keypad/11", "\"+\": keypad/11", "io.keys.+: not a keypad key")]
#[case(
    "baud: 9600, unit: 1",
    "baud: 9600, unit: 0",
    "fixtures.modules.keypad.unit: expected a Modbus unit (slave) id from 1 to 247, found 0"
)]
#[case("channel: 1, ", "", "`!supply/2`: the bench supply has no channels")]
#[case(
    "\"tcp://relay-4.lab:502\"",
    "\"relay-4.lab:502\"",
    "fixtures.modules.flags.port: a Modbus TCP module needs `port: \"tcp://HOST:PORT\"`"
)]
#[case(
    "solenoids: { S1: doors/0",
    "solenoids: { S1: supply/3",
    "`supply/3`: the supply's channels are outputs, not inputs"
)]
#[case(
    "\"tcp://relay-4.lab:502\", unit: 1",
    "\"tcp://relay-4.lab:502\", baud: 9600, unit: 1",
    "fixtures.modules.flags.baud: `baud` does not go with this driver"
)]
#[case(
    "primary: \"!supply/2\"",
    "primary: \"!supply/1\"",
    "`!supply/1`: channel 1 powers the controller (`fixtures.supply.channel`)"
)]
fn a_wrong_wiring_is_refused_at_its_node(#[case] was: &str, #[case] now: &str, #[case] said: &str) {
    use locker_hil::model::rigfile::RigDescription;
    let path = repo().join("rigs/bench-relays.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(was), "{was}");
    let bad = text.replacen(was, now, 1);
    let line = bad
        .lines()
        .position(|l| l.contains(now.trim()) && !now.trim().is_empty())
        .map(|i| i + 1);
    let e = RigDescription::from_text(&path, &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains(said), "{e}");
    if let Some(line) = line {
        assert!(
            e.contains(&format!("bench-relays.yaml:{line}:")),
            "line {line}: {e}"
        );
    }
}

/// Days of a code's window on a bench: the clocks move instead, the cases
/// have their sim verdicts, and the report says the waits were not waited.
/// The first case ends as its door is let go: the bench's rest waits for
/// the door to spring open before it pushes it shut, so the second does
/// not boot with a door open (E31).
#[test]
fn a_calendar_wait_is_taken_by_moving_the_clocks_and_said() {
    let served = serve();
    let started = std::time::Instant::now();
    let (code, out) = run(
        &served,
        &[
            "suites/code-entry.yaml",
            "--filter",
            "name:\"code is still good on its last day\" | name:\"code has expired after three days\"",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("2 cases: 2 passed"), "{out}");
    // Both cases first wait until 10:00 (true time): a wait under ten
    // minutes is waited for real, so a run started in the ten minutes
    // before 10:00 UTC may take that much longer.
    let day_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    let real_wait = if (36_000 - 660..36_000).contains(&day_secs) {
        std::time::Duration::from_secs(2 * 660)
    } else {
        std::time::Duration::ZERO
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(180) + real_wait);
    assert!(
        out.contains("long waits (from 10m) were taken by moving the controller's and the back office's clocks forward"),
        "{out}"
    );
    let junit = std::fs::read_to_string(served.dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"caveat.clock\""), "{junit}");
    assert!(
        junit.contains("wait 72h taken by moving the clocks 72h forward"),
        "the transcript says which wait: {junit}"
    );
}

/// Every bundled rig file, the relay bench and its served twin too, takes
/// every bundled suite: what a rig cannot do, its cases skip with a reason.
#[test]
fn every_bundled_rig_checks_with_every_bundled_suite() {
    let mut rigs: Vec<_> = std::fs::read_dir(repo().join("rigs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    rigs.sort();
    assert!(rigs.len() >= 7, "{rigs:?}");
    for rig in rigs {
        let out = common::harness(&["check", "--rig", rig.to_str().unwrap()]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {said}{}",
            rig.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("9 suites, 124 cases"), "{said}");
    }
}

/// Modules on one line: one speed, each unit once; said at the module that
/// clashes with one before it (modules are read in name order).
#[test]
fn units_on_one_line_must_agree() {
    use locker_hil::model::rigfile::RigDescription;
    let path = repo().join("rigs/bench-relays.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let flags = text
        .lines()
        .find(|l| l.contains("flags: { driver"))
        .unwrap();
    let keypad = text
        .lines()
        .find(|l| l.contains("keypad: { driver"))
        .unwrap();
    let keypad_line = text.lines().position(|l| l == keypad).unwrap() + 1;
    let rtu = keypad
        .split("port: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    for (flags_now, said) in [
        (
            format!("    flags: {{ driver: modbus-rtu, port: {rtu}, baud: 19200, unit: 2 }}"),
            "fixtures.modules.keypad.baud: 9600 baud, but module `flags` on the same line",
        ),
        (
            format!("    flags: {{ driver: modbus-rtu, port: {rtu}, baud: 9600, unit: 1 }}"),
            "fixtures.modules.keypad.unit: unit 1 is module `flags` on the same line",
        ),
    ] {
        let bad = text.replace(flags, &flags_now);
        let e = RigDescription::from_text(&path, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains(said), "{e}");
        assert!(
            e.contains(&format!("bench-relays.yaml:{keypad_line}:")),
            "{e}"
        );
    }
    let doors = text
        .lines()
        .find(|l| l.contains("doors: { driver"))
        .unwrap();
    let bad = text.replace(flags, &doors.replace("doors:", "flags:"));
    let e = RigDescription::from_text(&path, &bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unit 1 at relay-3.lab:502 is module `doors` too"),
        "{e}"
    );
    // Two units on one line, each its own: fine.
    let ok = text.replace(
        flags,
        &format!("    flags: {{ driver: modbus-rtu, port: {rtu}, baud: 9600, unit: 2 }}"),
    );
    RigDescription::from_text(&path, &ok).unwrap();
}

/// Two relay modules on one RS-485 line, as labs chain them: the keypad's
/// unit 1 and the package flags' unit 2 share the served line.
#[test]
fn two_units_share_one_rtu_line() {
    let served = serve_with(|text, dir| {
        let flags = text
            .lines()
            .find(|l| l.contains("flags: { driver"))
            .unwrap()
            .to_owned();
        text.replace(
            &flags,
            &format!(
                "    flags: {{ driver: modbus-rtu, port: {}/keypad, baud: 9600, unit: 2 }}",
                dir.display()
            ),
        )
    });
    let (code, out) = run(
        &served,
        &[
            "suites/code-entry.yaml",
            "--filter",
            "name:\"valid code opens its compartment\"",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
}

/// `serve --as` a bench whose compartments are not the served rig's: its
/// coils would act on doors the plant does not have.
#[test]
fn serve_as_refuses_a_bench_that_is_not_the_served_controller() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("bench.yaml");
    let text = served_copy(dir.path()).replace("    - { name: L1, size: L }\n", "");
    let text = text.replace(
        "    L1: { push: doors/12, pull: doors/13, hold: doors/14 }\n",
        "",
    );
    let text = text
        .replace(", L1: flags/4", "")
        .replace(", L1: doors/4", "");
    std::fs::write(&rig, text).unwrap();
    let out = common::harness(&["rig", "serve", "--pty", "--as", rig.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("its compartments and station must be those of the served rig `sim`"),
        "{err}"
    );
}

/// A fixture board and a map together: the primary modem on the supply's
/// second channel is the map's (a map of the supply's channels alone, no
/// module), the doors the board's; a door the board holds is let go by the
/// board, not by the map that has no hold for it.
#[test]
fn a_board_and_a_map_share_a_bench() {
    let served = serve_with(|_, dir| {
        let d = dir.display();
        format!(
            "name: board-and-map
controller:
  firmware: fw.elf
  flash: none
  console: {{ port: {d}/console, baud: 115200 }}
  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}
  compartments:
    - {{ name: S1, size: S }}
    - {{ name: S2, size: S }}
    - {{ name: M1, size: M }}
    - {{ name: M2, size: M }}
    - {{ name: L1, size: L }}
fixtures:
  board: {{ driver: fixture-board, port: {d}/board }}
  supply: {{ driver: scpi, port: {d}/supply, channel: 1, limits: {{ max: 15V }} }}
  modules:
    aux: {{ driver: modbus-tcp, port: \"tcp://127.0.0.1:{port}\", unit: 1 }}
io:
  help: aux/0
  links: {{ primary: \"!supply/2\" }}
",
            port = free_port()
        )
    });
    let (code, out) = run(
        &served,
        &[
            "suites/network.yaml",
            "suites/jams.yaml",
            "--filter",
            "name:\"fails back to the primary when it returns\" | name:\"hold released between retries unlocks on the next attempt\"",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("2 cases: 2 passed"), "{out}");
    let log = served.log.lock().unwrap().join("\n");
    assert!(
        log.contains("! supply: OUTP OFF,(@2)"),
        "the primary cut through the supply's channel: {log}"
    );
    assert!(
        log.contains("! board: DOOR 2 FREE"),
        "let go by the board: {log}"
    );
}
