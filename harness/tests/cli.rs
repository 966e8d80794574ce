//! The `harness` binary as a user meets it: exit codes, reports, and what it
//! says about bad input (pinned, since people read it).

mod common;

use common::repo;

use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("harness runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run the harness on the bundled suites with `args`, writing JUnit into a
/// temporary folder; returns the folder (kept alive), the report's path and
/// the report, after checking the run exited 0.
fn run_to_junit(args: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("out/junit.xml");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--junit", junit.to_str().unwrap_or_default()]);
    let out = harness(&repo(), &all);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    (dir, junit, xml)
}

const GOOD_CASE: &str = "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n";

#[rstest]
#[case::too_many_retries(
    "too_many_retries",
    "name: demo\nretries: 50\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n"
)]
#[case::quarantine_without_reason(
    "quarantine_without_reason",
    "name: demo\nquarantine:\n  - case: one\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n"
)]
#[case::typo_in_step_kind(
    "typo_in_step_kind",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - kyes: \"1234#\"\n"
)]
#[case::typo_in_case_key(
    "typo_in_case_key",
    "name: demo\ncases:\n  - name: one\n    stpes:\n      - wait: 1s\n"
)]
#[case::unknown_key_in_step(
    "unknown_key_in_step",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - door: { compartment: M1, action: hold, force: 3 }\n"
)]
#[case::bad_duration(
    "bad_duration",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 5 parsecs\n"
)]
#[case::duration_without_unit(
    "duration_without_unit",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 5\n"
)]
#[case::temperature_without_unit(
    "temperature_without_unit",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - chamber: { set: -25 }\n"
)]
#[case::two_kinds_in_one_step(
    "two_kinds_in_one_step",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n        keys: \"1#\"\n"
)]
#[case::two_matchers(
    "two_matchers",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - expect: { display: \"X\", led: green }\n"
)]
#[case::unknown_event_kind(
    "unknown_event_kind",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - expect: { event: teleport }\n"
)]
#[case::variable_before_binding(
    "variable_before_binding",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - keys: \"$pickup#\"\n"
)]
#[case::not_a_key(
    "not_a_key",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - keys: \"12a4#\"\n"
)]
#[case::unterminated_flow(
    "unterminated_flow",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - door: { compartment: M1\n"
)]
#[case::tab_indent("tab_indent", "name: demo\ncases:\n\t- name: one\n")]
#[case::empty_file("empty_file", "")]
#[case::wrong_top_level("wrong_top_level", "- just\n- a list\n")]
#[case::duplicate_case_names(
    "duplicate_case_names",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n  - name: one\n    steps:\n      - wait: 1s\n"
)]
#[case::unknown_compartment(
    "unknown_compartment",
    "name: demo\ncases:\n  - name: one\n    steps:\n      - door: { compartment: Z9, action: hold }\n"
)]
fn bad_suite_is_refused_with_location(#[case] name: &str, #[case] suite: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bad.yaml"), suite).expect("write suite");
    let rig = repo().join("rigs/sim.yaml");
    let out = harness(
        dir.path(),
        &[
            "check",
            "bad.yaml",
            "--rig",
            rig.to_str().unwrap_or_default(),
        ],
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml"), "names the file: {err}");
    assert!(!err.contains("panicked"), "{err}");
    insta::assert_snapshot!(format!("bad_suite__{name}"), err);
}

#[test]
fn non_utf8_suite_names_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bin.yaml"),
        b"name: demo\ncases:\n  - name: \xff\xfe\n",
    )
    .expect("write");
    let out = harness(dir.path(), &["check", "bin.yaml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bin.yaml:3:11") && err.contains("UTF-8"),
        "{err}"
    );
}

const RIG_HEAD: &str = "name: r\ncontroller:\n  firmware: fw\n  station: { id: 1, key: \"00112233445566778899aabbccddeeff\" }\n  compartments: [{ name: M1, size: M }]\n";
const PLANT: &str = "plant: { start: \"2026-03-02T09:00:00Z\", ambient: 20C, supply: 12V }\n";

#[rstest]
#[case::short_key(
    RIG_HEAD.replace("00112233445566778899aabbccddeeff", "abc") + PLANT,
    &["rig.yaml:4:", "32 hex digits"]
)]
#[case::no_plant(RIG_HEAD.to_owned(), &["rig.yaml:1:", "no `plant` section"])]
#[case::qemu_machine(
    format!("{RIG_HEAD}{PLANT}qemu:\n  machine: mps2-an385\n"),
    &["rig.yaml:8:", "qemu.machine: expected `mps2-an386`", "found `mps2-an385`"]
)]
#[case::qemu_unknown_key(
    format!("{RIG_HEAD}{PLANT}qemu:\n  binary: qemu-system-arm\n"),
    &["rig.yaml:8:", "unknown field `binary`", "executable"]
)]
fn bad_rig_file_is_refused(#[case] rig: String, #[case] expect: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("s.yaml"), GOOD_CASE).expect("write");
    std::fs::write(dir.path().join("rig.yaml"), rig).expect("write");
    let out = harness(dir.path(), &["check", "s.yaml", "--rig", "rig.yaml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
}

#[test]
fn bad_filter_and_usage_exit_2() {
    let out = harness(&repo(), &["run", "--filter", "tga:smoke"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("unknown key `tga:`"));
    let out = harness(&repo(), &["run", "--jobz", "2"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_input_does_not_touch_a_previous_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    std::fs::write(&junit, "previous").expect("write");
    std::fs::write(dir.path().join("bad.yaml"), "name: x\ncases: [").expect("write");
    let rig = repo().join("rigs/sim.yaml");
    let out = harness(
        dir.path(),
        &[
            "run",
            "bad.yaml",
            "--rig",
            rig.to_str().unwrap_or_default(),
            "--junit",
            "junit.xml",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&junit).ok().as_deref(),
        Some("previous")
    );
}

#[test]
fn list_json_has_one_object_per_case() {
    let out = harness(&repo(), &["list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = text(&out);
    let mut suites = std::collections::BTreeSet::new();
    let mut n = 0;
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(v["name"].is_string() && v["tags"].is_array());
        suites.insert(v["suite"].as_str().unwrap_or_default().to_owned());
        n += 1;
    }
    assert!(n >= 20 && suites.len() >= 4, "{n} cases in {suites:?}");
    let smoke = harness(&repo(), &["list", "--json", "--filter", "tag:smoke"]);
    assert!(text(&smoke).0.lines().count() < n);
}

/// The README's main job, end to end: exit 0 and a JUnit file a parser accepts.
#[test]
fn main_job_writes_parsable_junit() {
    let (_dir, junit, xml) = run_to_junit(&["-j", "2"]);
    let journal = locker_hil::report::writer::journal_path(&junit);
    assert!(!journal.exists(), "a finished run removes its journal");
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
    assert!(report.test_suites.len() >= 4);
    let cases: usize = report.test_suites.iter().map(|s| s.test_cases.len()).sum();
    assert!(cases >= 20);
    assert_eq!(report.failures + report.errors, 0);
    let tc = &report.test_suites[0].test_cases[0];
    let props: Vec<_> = tc.properties.iter().map(|p| p.name.as_str()).collect();
    for want in ["rig", "firmware.build", "protocol.version", "seed"] {
        assert!(props.contains(&want), "{props:?}");
    }
}

/// A broken firmware rule shows up as a failure exit, not an error.
#[test]
fn failure_and_error_exit_codes_differ() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The controller never displays this, so the case fails (exit 1)...
    std::fs::write(
        dir.path().join("f.yaml"),
        "name: f\ncases:\n  - name: impossible\n    steps:\n      - keys: \"1#\"\n      - expect: { display: \"FREE PARCELS\" }\n",
    )
    .expect("write");
    let rig = repo().join("rigs/sim.yaml");
    let rig = rig.to_str().unwrap_or_default();
    let out = harness(
        dir.path(),
        &["run", "f.yaml", "--rig", rig, "--junit", "j.xml"],
    );
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("steps[1]")
            && stdout.contains("FREE PARCELS")
            && stdout.contains("seen instead"),
        "{stdout}"
    );
    // ...while a rig whose firmware cannot be proven is an error (exit 3).
    let bad_rig = std::fs::read_to_string(rig)
        .expect("rig")
        .replace("../firmware/core", "/nonexistent");
    std::fs::write(dir.path().join("rig.yaml"), bad_rig).expect("write");
    let out = harness(
        dir.path(),
        &["run", "f.yaml", "--rig", "rig.yaml", "--junit", "j.xml"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).0);
    let xml = std::fs::read_to_string(dir.path().join("j.xml")).expect("junit");
    assert!(
        xml.contains("<error") && xml.contains("firmware manifest"),
        "{xml}"
    );
}

/// CI tools read the report with their own parsers; Python's junitparser is
/// the one named by the people who check this. Skipped with a note when it
/// is not installed, except in CI, where `.ci/run` installs it.
#[test]
fn junit_is_read_by_python_junitparser() {
    if !common::python_with("junitparser") {
        return;
    }
    let (_dir, junit, _) = run_to_junit(&["-q", "--filter", "tag:smoke"]);
    let script = "import sys, junitparser\nx = junitparser.JUnitXml.fromfile(sys.argv[1])\nprint(sum(1 for s in x for c in s))";
    let py = Command::new("python3")
        .args(["-c", script, junit.to_str().unwrap_or_default()])
        .output()
        .expect("python runs");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let n: usize = String::from_utf8_lossy(&py.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(n >= 3, "junitparser read {n} cases");
}

/// Codes are bound to `$names` and must never reach a report or a snapshot:
/// every keypad action is written with its variables, not their digits.
#[test]
fn no_code_in_reports_or_snapshots() {
    let (_dir, _, xml) = run_to_junit(&["-q", "-j", "2"]);
    // Digits a suite types literally (deliberately wrong codes) are no secret;
    // any other run of 8 or more digits in an action would be a minted code.
    let mut literal = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(repo().join("suites"))
        .expect("suites")
        .flatten()
    {
        let yaml = std::fs::read_to_string(e.path()).unwrap_or_default();
        literal.extend(
            yaml.split(|c: char| !c.is_ascii_digit())
                .filter(|r| r.len() >= 8)
                .map(str::to_owned),
        );
    }
    let has_code = |line: &str| {
        line.split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() >= 8 && !literal.contains(run))
    };
    let snaps = std::fs::read_dir(repo().join("harness/tests/snapshots")).expect("snapshots");
    let mut texts = vec![("junit".to_owned(), xml)];
    for e in snaps.flatten() {
        texts.push((
            e.path().display().to_string(),
            std::fs::read_to_string(e.path()).unwrap_or_default(),
        ));
    }
    let mut actions = 0;
    for (name, text) in &texts {
        for line in text
            .lines()
            .filter(|l| l.contains("! keys") || l.contains("s keys") || l.contains("parcel into"))
        {
            actions += 1;
            let typed = line.rsplit("keys").next().unwrap_or(line);
            assert!(!has_code(typed), "{name}: a code in clear: {line}");
        }
    }
    assert!(
        actions > 100,
        "only {actions} keypad actions found: is the scan looking at the right lines?"
    );
}

#[test]
fn skip_on_a_rig_kind_skips_visibly_there_and_runs_elsewhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("s.yaml"),
        "name: kinds\ncases:\n  - name: not on qemu\n    skip-on: { qemu: needs a debug probe }\n    steps:\n      - wait: 1s\n  - name: not on sim\n    skip-on: { sim: needs real copper }\n    steps:\n      - wait: 1s\n",
    )
    .expect("write");
    let rig = repo().join("rigs/sim.yaml");
    let junit = dir.path().join("junit.xml");
    let out = harness(
        dir.path(),
        &[
            "run",
            "s.yaml",
            "--rig",
            rig.to_str().unwrap_or_default(),
            "--junit",
        ]
        .into_iter()
        .chain([junit.to_str().unwrap_or_default()])
        .collect::<Vec<_>>(),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("PASS  kinds::not on qemu"), "{stdout}");
    assert!(
        stdout.contains("SKIP  kinds::not on sim")
            && stdout.contains("not on sim rigs: needs real copper"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("not on sim rigs: needs real copper"), "{xml}");

    // A kind of rig that does not exist is a typo, reported where it is.
    std::fs::write(
        dir.path().join("t.yaml"),
        "name: kinds\ncases:\n  - name: typo\n    skip-on: { qmeu: x }\n    steps:\n      - wait: 1s\n",
    )
    .expect("write");
    let out = harness(
        dir.path(),
        &["check", "t.yaml", "--rig", rig.to_str().unwrap_or_default()],
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("t.yaml:4:") && err.contains("unknown field `qmeu`"),
        "{err}"
    );
}

#[cfg(feature = "probe")]
#[test]
fn flash_without_a_probe_is_a_rig_error_naming_the_selector() {
    let out = harness(&repo(), &["flash", "--rig", "rigs/bench-example.yaml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("0483:374b:066DFF535155878281123456") && err.contains("probes found"),
        "{err}"
    );
    // Flashing is for benches; other rigs load their firmware per case.
    let out = harness(&repo(), &["flash", "--rig", "rigs/sim.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("is a sim rig"));
}

const BENCH_HEAD: &str = "name: b\ncontroller:\n  firmware: fw.elf\n  station: { id: 1, key: \"00112233445566778899aabbccddeeff\" }\n  compartments: [{ name: M1, size: M }]\n";

#[rstest]
#[case::bad_selector(
    "  flash: { probe: stlink, chip: STM32F446RETx }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.flash.probe", "VID:PID"]
)]
#[case::no_console(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RETx }\n",
    &["controller.console: a bench rig needs"]
)]
#[case::chamber_limits_upside_down(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RETx }\n  console: { port: /dev/ttyACM0, baud: 115200 }\nfixtures:\n  chamber: { driver: scpi, port: \"tcp://c:5025\", limits: { min: 85C, max: -40C } }\n",
    &["rig.yaml:9:", "`min` (85C) must be below `max` (-40C)"]
)]
// Located on the fixture's own line, not on the first `port:` in the file.
#[case::bad_board_port(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RETx }\n  console: { port: /dev/ttyACM0, baud: 115200 }\nfixtures:\n  board: { driver: fixture-board, port: \"tcp://h\" }\n",
    &["rig.yaml:9:", "fixtures.board.port: expected `tcp://HOST:PORT`"]
)]
#[case::unknown_driver(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RETx }\n  console: { port: /dev/ttyACM0, baud: 115200 }\nfixtures:\n  supply: { driver: visa, port: /dev/ttyUSB1, limits: { max: 15V } }\n",
    &["rig.yaml:9:", "unknown variant `visa`", "scpi"]
)]
// Issue 16: the lab's own flashing tool, and the build it must run.
#[case::flash_probe_and_command(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RETx, command: [openocd] }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.flash: expected `none`", "do not go together"]
)]
#[case::flash_command_without_the_image(
    "  flash: { command: [openocd, -f, board.cfg] }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.flash.command: no argument has `{elf}`"]
)]
#[case::flash_command_empty(
    "  flash: { command: [], verify: [] }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["controller.flash.command: empty", "controller.flash.verify: empty"]
)]
#[case::flash_timeout(
    "  flash: { command: [st-flash, write, \"{elf}\", \"0x8000000\"], timeout: 2h }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.flash.timeout: expected above 0 and at most 30m"]
)]
#[case::verify_alone(
    "  flash: { verify: [true] }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["controller.flash: `verify` and `timeout` go with a `command`"]
)]
#[case::build_pattern(
    "  expect-build: { matches: 'v(2' }\n  flash: none\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.expect-build.matches: not a regular expression: unclosed group"]
)]
#[case::build_unknown_key(
    "  expect-build: { regex: 'v2' }\n  flash: none\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "unknown field `regex`, expected `matches`"]
)]
#[cfg_attr(feature = "probe", case::unknown_chip(
    "  flash: { probe: \"0483:374b\", chip: STM32F446RTx }\n  console: { port: /dev/ttyACM0, baud: 115200 }\n",
    &["rig.yaml:6:", "controller.flash.chip", "probe-rs knows no chip `STM32F446RTx`", "STM32F446RE"]
))]
fn bad_bench_rig_file_is_refused(#[case] tail: &str, #[case] expect: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("s.yaml"), GOOD_CASE).expect("write");
    std::fs::write(dir.path().join("rig.yaml"), format!("{BENCH_HEAD}{tail}")).expect("write");
    let out = harness(dir.path(), &["check", "s.yaml", "--rig", "rig.yaml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for e in expect {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
}

#[test]
fn a_bench_in_use_is_refused_naming_the_holder() {
    let runtime = tempfile::tempdir().expect("temp dir");
    let rig =
        locker_hil::model::rigfile::RigDescription::load(&repo().join("rigs/bench-example.yaml"))
            .expect("example rig loads");
    let locker_hil::model::rigfile::RigKind::Bench(bench) = &rig.kind else {
        panic!("the example is a bench");
    };
    let _held = locker_hil::rigs::bench::lock::RigLock::acquire_in(
        &runtime.path().join("locker-hil"),
        "other-bench",
        &locker_hil::rigs::bench::lock::resources(bench),
    )
    .expect("free");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["flash", "--rig", "rigs/bench-example.yaml"])
        .output()
        .expect("harness runs");
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("bench `bench-3` is in use"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())) && err.contains("rig `other-bench`"),
        "{err}"
    );
}

#[test]
fn colour_only_on_terminals_unless_forced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let run = |force: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
        c.current_dir(repo())
            .args(["run", "suites/jams.yaml", "--junit"])
            .arg(&junit)
            .env_remove("CLICOLOR_FORCE")
            .env_remove("NO_COLOR");
        if force {
            c.env("CLICOLOR_FORCE", "1");
        }
        let out = c.output().expect("harness runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let piped = run(false);
    assert!(piped.contains("PASS  jams::"), "{piped}");
    assert!(
        !piped.contains('\u{1b}'),
        "escape codes in a pipe: {piped:?}"
    );
    let forced = run(true);
    assert!(forced.contains("\u{1b}[32mPASS"), "{forced:?}");
}

#[test]
fn quiet_prints_the_summary_only_and_verbose_each_start() {
    let (_dir, _, _) = run_to_junit(&["suites/jams.yaml", "--quiet"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let out = |flag: &str| {
        let o = harness(
            &repo(),
            &[
                "run",
                "suites/jams.yaml",
                flag,
                "--junit",
                junit.to_str().unwrap_or_default(),
            ],
        );
        text(&o).0
    };
    let quiet = out("--quiet");
    assert!(!quiet.contains("PASS"), "{quiet}");
    assert!(quiet.contains("11 cases: 11 passed"), "{quiet}");
    let verbose = out("--verbose");
    assert!(verbose.contains("START sim: jams::"), "{verbose}");
    assert!(verbose.contains("PASS  jams::"), "{verbose}");
}

#[test]
fn a_closed_pipe_does_not_kill_the_run() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("junit.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "--junit"])
        .arg(&junit)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("harness runs");
    // Read one byte, then hang up, as `harness run | head -c1` does.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut one = [0u8; 1];
    let _ = stdout.read(&mut one);
    drop(stdout);
    let out = child.wait_with_output().expect("harness ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let xml = std::fs::read_to_string(&junit).expect("report written");
    assert_eq!(xml.matches("<testcase ").count(), 124);
}

/// `harness explore` as a user meets it: nothing found on the reference
/// firmware exits 0 with a summary; a weights file with a mistake exits 2
/// naming the file, the line and the key; a repro it writes is a suite
/// `harness run` reads.
#[test]
fn explore_exits_0_when_nothing_is_found_and_says_what_it_tried() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("found");
    let out = harness(
        &repo(),
        &[
            "explore",
            "--cases",
            "300",
            "--seed",
            "5",
            "--out",
            out_dir.to_str().unwrap_or_default(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("explore on sim, seed 5: 300 scenarios in "),
        "{stdout}"
    );
    assert!(stdout.contains("nothing found"), "{stdout}");
    assert!(
        stderr.contains("explore: rig sim (sim), seed 5"),
        "{stderr}"
    );
    assert!(!out_dir.exists(), "nothing written when nothing is found");
}

#[test]
fn explore_refuses_a_bad_weights_file_at_its_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = dir.path().join("weights.yaml");
    std::fs::write(&w, "pickup: 3\npower-cut: 2\n").expect("write");
    let out = harness(
        &repo(),
        &[
            "explore",
            "--cases",
            "1",
            "--weights",
            w.to_str().unwrap_or_default(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("weights.yaml:2"), "{stderr}");
    assert!(stderr.contains("power-cut"), "{stderr}");
    let zero = dir.path().join("zero.yaml");
    let mut all: Vec<String> = "pickup wrong-code garbage used-code expired-code early-code foreign-code courier return collect door tamper chamber power link clock help wait"
        .split(' ')
        .map(|k| format!("{k}: 0"))
        .collect();
    all.push(String::new());
    std::fs::write(&zero, all.join("\n")).expect("write");
    let out = harness(
        &repo(),
        &[
            "explore",
            "--cases",
            "1",
            "--weights",
            zero.to_str().unwrap_or_default(),
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("every weight is 0"), "{stderr}");
    // Repros cannot go into a file: said before anything runs.
    let out = harness(
        &repo(),
        &[
            "explore",
            "--cases",
            "1",
            "--out",
            w.to_str().unwrap_or_default(),
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a folder"), "{stderr}");
}

/// Every bundled case means the same whatever the time of day a run
/// starts: a bench's day starts whenever the run does. Started at 23:55
/// (after the last day's 23:50) or at 00:02 (inside a new day's five
/// minutes of tolerance), six cases that count days failed before their
/// drop-off was pinned to a time of day; on the sim rig, whose start is
/// set, the same shows.
#[rstest::rstest]
#[case::late_evening("2026-03-02T23:55:00Z")]
#[case::just_after_midnight("2026-03-02T00:02:00Z")]
fn the_bundled_regression_holds_whenever_the_run_starts(#[case] start: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rig = std::fs::read_to_string(repo().join("rigs/sim.yaml"))
        .expect("readable")
        .replace("2026-03-02T09:00:00Z", start)
        .replace(
            "../firmware/core",
            repo().join("firmware/core").to_str().expect("utf-8"),
        )
        .replace("../schemas/", "");
    let rig_file = dir.path().join("late.yaml");
    std::fs::write(&rig_file, rig).expect("written");
    let rig_file = rig_file.display().to_string();
    let junit = dir.path().join("junit.xml").display().to_string();
    let html = dir.path().join("index.html").display().to_string();
    let out = harness(
        &repo(),
        &[
            "run", "--quiet", "--rig", &rig_file, "--junit", &junit, "--html", &html,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" passed, 0 failed, 0 errors, 0 skipped"),
        "{stdout}"
    );
}
