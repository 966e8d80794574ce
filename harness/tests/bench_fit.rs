//! Issue 17: `harness check` and `harness run` know what a bench can do and
//! what it costs. A step outside an instrument's limits, an action the rig
//! has nothing for, an observation only a model rig makes, or an event its
//! console dialect never says is refused before anything runs, at the step
//! and at the rig file's line; `harness list --rig` says what would run,
//! skip or be refused and what each case costs in wall time; a bench run
//! that would take longer than `--max-wall` says so before it starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

/// `harness` from the repository: exit code, stdout, stderr.
fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::harness(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The three cases, and one the suite marks as not for benches.
const BEYOND: &str = "name: beyond
cases:
  - name: too cold too fast
    steps:
      - chamber: { set: -50C, ramp: 10C/min }
  - name: too many volts
    steps:
      - power: { volts: 24V }
  - name: corrupt memory
    steps:
      - memory: corrupt
  - name: not for benches
    skip-on: { bench: \"needs a fault fixture\" }
    steps:
      - fault: { compartment: M1, sensor: door, stuck: closed }
  - name: code window
    steps:
      - wait: 2d
  - name: fine
    waits: real
    steps:
      - chamber: { set: -20C, ramp: 2C/min }
      - wait: 2h
";

fn beyond() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("beyond.yaml");
    std::fs::write(&path, BEYOND).unwrap();
    let p = path.to_str().unwrap().to_owned();
    (dir, p)
}

#[test]
fn check_refuses_what_the_bench_cannot_do_at_the_step_and_the_rigs_line() {
    let (_dir, suite) = beyond();
    let (code, out, err) = harness(&["check", &suite, "--rig", "rigs/bench-example.yaml"]);
    assert_eq!(code, Some(2), "{out}{err}");
    for (what, step_line, rig_line) in [
        (
            "-50C is below the chamber's limit of -40C (`fixtures.chamber.limits.min` at rigs/bench-example.yaml:27)",
            "beyond.yaml:5:9",
            "",
        ),
        (
            "a ramp of 10C/min is faster than the chamber's limit of 5C/min (`fixtures.chamber.limits.ramp` at rigs/bench-example.yaml:27)",
            "beyond.yaml:5:9",
            "",
        ),
        (
            "24V is above the supply's limit of 15V (`fixtures.supply.limits.max` at rigs/bench-example.yaml:29)",
            "beyond.yaml:8:9",
            "",
        ),
        (
            "corrupt non-volatile memory: a bench cannot write the controller's flash mid-run",
            "beyond.yaml:11:9",
            "(rigs/bench-example.yaml)",
        ),
    ] {
        assert!(err.contains(what), "{what}\n{err}");
        assert!(err.contains(step_line), "{step_line}\n{err}");
        assert!(err.contains(rig_line), "{rig_line}\n{err}");
    }
    assert!(
        err.contains("4 problem(s)"),
        "the skipped and the fine case are not: {err}"
    );
    // The same suite on the sim rig: its plant takes all of it.
    let (code, out, err) = harness(&["check", &suite, "--rig", "rigs/sim.yaml"]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn a_run_refuses_only_what_it_would_run() {
    let (dir, suite) = beyond();
    let junit = dir.path().join("j.xml");
    let html = dir.path().join("i.html");
    let (code, _, err) = harness(&[
        "run",
        &suite,
        "--filter",
        "name:\"too many volts\"",
        "--rig",
        "rigs/bench-example.yaml",
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("24V is above the supply's limit"), "{err}");
    assert!(
        !err.contains("-50C"),
        "a case not chosen is not refused: {err}"
    );
    assert!(!junit.exists(), "nothing ran");
}

#[test]
fn list_says_what_would_run_skip_or_be_refused_and_what_it_costs() {
    let (_dir, suite) = beyond();
    let (code, out, err) = harness(&["list", &suite, "--rig", "rigs/bench-example.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        line("too many volts").contains("refused: steps[0] `power 24V`: 24V is above"),
        "{out}"
    );
    assert!(
        line("not for benches").contains("skip: needs a fault fixture"),
        "{out}"
    );
    // 3 s of boot before the case, and its 2 h of waiting: really
    // waited, since the case says its waits are real.
    assert!(line("fine").contains("run, ~2h (`wait 2h`)"), "{out}");
    // Two days of calendar: the clocks are moved, and the controller is
    // given 15 s to see the new date (3 s of boot + 16 s).
    assert!(line("code window").contains("run, ~19.0s"), "{out}");
    assert!(
        out.contains("rig bench-3: 2 to run (about 2h of wall time), 1 skipped, 3 refused"),
        "{out}"
    );
    let (_, json, _) = harness(&["list", &suite, "--json", "--rig", "rigs/bench-example.yaml"]);
    let fine: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(fine["rig"]["verdict"], "run");
    assert_eq!(fine["rig"]["wall_s"], 2.0 * 3600.0 + 3.0);
    let volts: serde_json::Value = serde_json::from_str(json.lines().nth(1).unwrap()).unwrap();
    assert_eq!(volts["rig"]["verdict"], "refused");
    // On a model rig the same waits are rig time, not wall time.
    let (_, json, _) = harness(&["list", &suite, "--json", "--rig", "rigs/sim.yaml"]);
    let fine: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(fine["rig"]["wall_s"], serde_json::Value::Null);
    assert_eq!(fine["rig"]["rig_time_s"], 2.0 * 3600.0 + 3.0);
}

/// The bundled regression on the example bench: every case that would
/// wait longer than the limit is named before anything runs.
#[test]
fn a_bench_run_longer_than_max_wall_says_so_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    // A bench that cannot be flashed: the run ends at once, after the warning.
    let rig = std::fs::read_to_string(repo().join("rigs/bench-example.yaml"))
        .unwrap()
        .replace(
            "../firmware/boards/nucleo-f446re",
            dir.path().join("missing.elf").to_str().unwrap(),
        );
    let rig_path = dir.path().join("bench.yaml");
    std::fs::write(&rig_path, rig).unwrap();
    let junit = dir.path().join("j.xml");
    let html = dir.path().join("i.html");
    let (_, _, err) = harness(&[
        "run",
        "--rig",
        rig_path.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let warning = err.split("running").next().unwrap_or("");
    // Calendar waits are taken by moving the clocks; what is left is
    // time that must really pass (thermal soaks, an hourly self-test).
    assert!(
        warning.starts_with("warning: this plan would take about 1d 15h"),
        "{err}"
    );
    assert!(warning.contains("(96 cases; --max-wall 4h)"), "{err}");
    assert!(
        warning.contains("~12h  temperature::heater stays on between 5C and 8C (`wait 6h`, `absent heater off for 6h`)"),
        "{err}"
    );
    assert!(!warning.contains("power::"), "{err}");
    // Within the limit, nothing is said.
    let (_, _, err) = harness(&[
        "run",
        "--rig",
        rig_path.to_str().unwrap(),
        "--filter",
        "name:\"valid code opens\"",
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(!err.contains("warning: this plan"), "{err}");
}

/// A console dialect without a `heater` rule can never show the heater,
/// and one without `commands.clock` cannot be told the time: a case that
/// needs either is refused on a rig that reads its console through it.
#[test]
fn check_refuses_what_the_rigs_console_dialect_cannot_say_or_be_told() {
    let dir = tempfile::tempdir().unwrap();
    let dialect = std::fs::read_to_string(repo().join("dialects/locker-plain.yaml")).unwrap();
    let heater = dialect.find("  - match: '^heater:").unwrap();
    let next = heater + dialect[heater + 1..].find("  - match:").unwrap() + 1;
    let dialect = format!("{}{}", &dialect[..heater], &dialect[next..]).replace(
        "  clock: { send: \"time {unix}\", answer: '^cmd: ok$' }\n",
        "",
    );
    std::fs::write(dir.path().join("less.yaml"), dialect).unwrap();
    let rig = std::fs::read_to_string(repo().join("rigs/sim-plain.yaml"))
        .unwrap()
        .replace("../dialects/locker-plain.yaml", "less.yaml")
        .replace(
            "../firmware/core",
            repo().join("firmware/core").to_str().unwrap(),
        );
    std::fs::write(dir.path().join("rig.yaml"), rig).unwrap();
    let rig = dir.path().join("rig.yaml");
    let (code, out, err) = harness(&[
        "check",
        "suites/temperature.yaml",
        "suites/code-entry.yaml",
        "--rig",
        rig.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(
            "rig `sim-plain` cannot: dialect `locker-plain` has no rule that makes `heater` events"
        ),
        "{err}"
    );
    assert!(
        err.contains("rig `sim-plain` cannot: its console cannot be told the time: dialect `locker-plain` has no `commands.clock`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("`controller.dialect` at {}:8", rig.display())),
        "{err}"
    );
}
