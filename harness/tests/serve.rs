//! `harness rig serve --pty`: the sim rig as serial devices. A real bundled
//! case runs against it through the harness's own bench path (console port,
//! fixture-board driver, pseudo-terminals), as it would against hardware.
#![cfg(all(unix, feature = "serial"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use locker_hil::run::runner::{self, Outcome};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A served sim rig, stopped when dropped, and a bench rig file for it.
struct Served {
    child: std::process::Child,
    rig: PathBuf,
    chamber: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `harness rig serve --pty` of `rig`, and the devices it serves on:
/// console, board, chamber, supply.
fn spawn(rig: &str) -> (std::process::Child, [String; 4]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "serve", "--rig", rig, "--pty"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let devices = ["console:", "board:", "chamber:", "supply:"].map(|prefix| {
        let l = lines.next().unwrap().unwrap();
        l.strip_prefix(prefix).unwrap().trim().to_owned()
    });
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, devices)
}

/// Each served rig is its own bench, with a probe selector (and so a lock) of its own.
fn serve(name: &str) -> Served {
    let (child, [console, board, chamber, supply]) = spawn("rigs/sim.yaml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("image.elf"),
        format!("LOCKER-IMAGE build={} board=sim\0", locker_core::BUILD_ID),
    )
    .unwrap();
    let rig = dir.path().join("served.yaml");
    let fixtures = format!(
        "  board: {{ driver: fixture-board, port: {board} }}\n  chamber: {{ driver: scpi, port: {chamber}, limits: {{ min: -40C, max: 85C }} }}\n  supply: {{ driver: scpi, port: {supply}, limits: {{ max: 15V }} }}\n"
    );
    std::fs::write(&rig, common::bench_rig(name, &console, &fixtures)).unwrap();
    Served {
        child,
        rig,
        chamber,
        _dir: dir,
    }
}

fn run_bundled(served: &Served, suite: &str, case: &str) {
    let suites = locker_hil::model::load_suites(&[repo().join("suites").join(suite)]).unwrap();
    let plan: Vec<_> = runner::plan(&suites, |_, c| c.name == case);
    assert_eq!(plan.len(), 1, "{case}");
    let reports = common::run_preloaded(&served.rig, plan);
    let r = &reports[0];
    assert!(
        matches!(r.outcome, Outcome::Passed),
        "{:?}\n{}",
        r.outcome,
        r.trace.lines().join("\n")
    );
}

#[test]
fn a_bundled_case_passes_against_the_served_sim_over_ptys() {
    run_bundled(
        &serve("served-code"),
        "code-entry.yaml",
        "valid code opens its compartment",
    );
}

#[test]
fn a_brownout_through_the_served_supply_resets_the_controller() {
    run_bundled(
        &serve("served-power"),
        "power.yaml",
        "brownout resets the controller and keeps its parcels",
    );
}

#[test]
fn the_served_rig_passes_its_preflight_and_its_chamber_moves_the_air() {
    let served = serve("served-check");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["rig", "check", "--rig"])
        .arg(&served.rig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["console", "controller", "chamber", "supply", "board"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(part))
            .unwrap_or("");
        assert!(line.contains(" ok "), "{part}: {text}");
    }
    assert!(
        text.contains("SIM-CHAMBER") && text.contains("SIM-SUPPLY"),
        "{text}"
    );

    // The harness's own chamber driver, against the served plant's air.
    let desc = locker_hil::model::rigfile::RigDescription::load(&served.rig).unwrap();
    let locker_hil::model::rigfile::RigKind::Bench(bench) = &desc.kind else {
        panic!("not a bench rig");
    };
    let instrument = bench.chamber.as_ref().unwrap();
    assert!(instrument.port.to_string().starts_with(&served.chamber));
    let (mut chamber, _) = locker_hil::rigs::bench::fixtures::scpi::Chamber::open(
        instrument,
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    chamber.set(-20.0, None).unwrap();
    assert_eq!(chamber.read().unwrap(), -20.0);
    let refused = chamber.set(-60.0, None).unwrap_err();
    assert!(refused.contains("limits"), "{refused}");
}

/// Issue 16, from the command line: a bench whose controller prints
/// plain-text logs (the served sim with its plain console), flashed by hand
/// (`flash: none`), its console read through the bundled dialect, runs a
/// bundled suite end to end with `harness run`.
#[test]
fn a_plain_text_bench_flashed_by_hand_runs_a_suite_from_the_command_line() {
    let (mut child, [console, board, _, _]) = spawn("rigs/sim-plain.yaml");
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("plain-bench.yaml");
    let dialect = repo().join("dialects/locker-plain.yaml");
    std::fs::write(
        &rig,
        format!(
            "name: plain-bench\ncontroller:\n  firmware: image.elf\n  flash: none\n  expect-build: {}\n  dialect: {}\n  console: {{ port: {console}, baud: 115200 }}\n  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments:\n    - {{ name: S1, size: S }}\n    - {{ name: S2, size: S }}\n    - {{ name: M1, size: M }}\n    - {{ name: M2, size: M }}\n    - {{ name: L1, size: L }}\nfixtures:\n  board: {{ driver: fixture-board, port: {board} }}\n",
            locker_core::BUILD_ID,
            dialect.display()
        ),
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "suites/code-entry.yaml", "--filter"])
        .arg("name:\"valid code opens\" | name:\"wrong code\"")
        .arg("--rig")
        .arg(&rig)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(dir.path().join("index.html"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed, 0 errors"), "{stdout}");
    assert!(stdout.contains("2 cases: 2 passed"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("I ("), "the transcript is the plain log");
    assert!(
        xml.contains("lost lines cannot be detected"),
        "the report says so"
    );
}
