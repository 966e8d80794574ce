//! What a person reading a run sees (issue 13): the step that failed is the
//! one marked, whatever ran after it; rig time in the units of the page;
//! what the suite file says a case is about reaches JUnit and the page; an
//! expectation that missed a match because it came before its window says
//! so; a filter with a space says how to quote; and a rig error that stops
//! every case is said once, not once per case.

mod common;

use common::repo;

use quick_junit::{Report, TestCase, TestCaseStatus};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Run {
    _dir: tempfile::TempDir,
    out: Output,
    stdout: String,
    junit: Report,
    html: String,
}

/// Run `suite` (YAML text) on `rig` (the default sim rig when `None`), with
/// `args`, writing both reports into a temporary folder.
fn run(suite: &str, rig: Option<&Path>, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suite.yaml");
    std::fs::write(&file, suite).expect("suite written");
    let (junit, html) = (dir.path().join("junit.xml"), dir.path().join("index.html"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.current_dir(repo()).arg("run").arg(&file).args(args);
    if let Some(rig) = rig {
        cmd.arg("--rig").arg(rig);
    }
    let out = cmd
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| {
        panic!(
            "no JUnit ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Run {
        junit: Report::deserialize_from_str(&xml).expect("the report parses"),
        html: std::fs::read_to_string(&html).expect("the page is written"),
        _dir: dir,
        out,
        stdout,
    }
}

fn cases(report: &Report) -> impl Iterator<Item = &TestCase> {
    report.test_suites.iter().flat_map(|s| &s.test_cases)
}

/// The message of a failure or error; empty for a pass or a skip.
fn message(c: &TestCase) -> String {
    match &c.status {
        TestCaseStatus::NonSuccess { message, .. } => {
            message.as_ref().map(|m| m.to_string()).unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn property<'a>(props: &'a [quick_junit::Property], name: &str) -> Option<&'a str> {
    (props.iter())
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
}

/// The step list items of the page, as (class, text).
fn step_items(html: &str) -> Vec<(String, String)> {
    html.match_indices("<li class=\"")
        .filter_map(|(i, _)| {
            let rest = &html[i + 11..];
            let (class, rest) = rest.split_once('"')?;
            let text = rest.split_once("</span> ")?.1.split_once("</li>")?.0;
            Some((class.to_owned(), text.to_owned()))
        })
        .collect()
}

/// The page marked the last teardown step as failing and the failed step
/// as passed.
#[test]
fn the_page_marks_the_step_that_failed_not_the_last_teardown_step() {
    let r = run(
        r#"name: demo
cases:
  - name: fails then tears down
    steps:
      - keys: "1#"
      - expect: { display: "OPEN", within: 1s }
      - wait: 5s
    teardown:
      - wait: 1s
      - wait: 2s
"#,
        None,
        &[],
    );
    let items = step_items(&r.html);
    let failing: Vec<&str> = (items.iter())
        .filter(|(c, _)| c == "failing-step")
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        failing,
        ["expect display &quot;OPEN&quot; within 1s"],
        "{items:?}"
    );
    assert!(
        items.iter().any(|(c, t)| c == "passed" && t == "wait 2s"),
        "the teardown ran and passed: {items:?}"
    );
    assert!(
        r.html
            .contains("✗ expect display &quot;OPEN&quot; within 1s")
    );
    assert!(!r.html.contains("✗ wait"));
}

/// A case line said `[259207130ms rig time]`.
#[test]
fn case_lines_say_rig_time_as_the_page_does() {
    let r = run(
        "name: long\ncases:\n  - name: three days\n    steps:\n      - wait: 3d\n      - wait: 7s\n",
        None,
        &[],
    );
    let line = (r.stdout.lines())
        .find(|l| l.starts_with("PASS  long::three days"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.contains("[3d 0h 0m 7s rig time"), "{line}");
    assert!(r.html.contains("3d 0h 0m 7s"));
}

/// Neither JUnit nor the page carried what a suite file says a case is about.
#[test]
fn descriptions_and_tags_reach_junit_and_the_page() {
    let r = run(
        r#"name: described
description: Suites say what they are for.
tags: [readers, nightly]
cases:
  - name: tagged
    description: A wrong code is refused.
    tags: [smoke]
    steps:
      - keys: "1#"
      - expect: { code: wrong }
"#,
        None,
        &[],
    );
    let suite = &r.junit.test_suites[0];
    assert_eq!(
        property(&suite.properties, "description"),
        Some("Suites say what they are for.")
    );
    assert_eq!(
        property(&suite.properties, "tags"),
        Some("readers, nightly")
    );
    let case = cases(&r.junit).next().expect("a case");
    assert_eq!(
        property(&case.properties, "description"),
        Some("A wrong code is refused.")
    );
    assert_eq!(property(&case.properties, "tags"), Some("smoke"));
    assert!(
        r.html
            .contains("<p class=\"description\">A wrong code is refused.</p>")
    );
    assert!(
        r.html
            .contains("Suite described: Suites say what they are for.")
    );
    assert!(r.html.contains("<span class=\"tag\">smoke</span>"));
    assert!(
        r.html
            .contains("<span class=\"tag suite-tag\">nightly</span>")
    );
}

/// The first expectation could not see what the controller said while
/// booting, and its failure said "nothing since +0.000s".
#[test]
fn the_first_window_opens_after_the_self_test_and_a_miss_says_so() {
    let r = run(
        r#"name: window
cases:
  - name: the idle display is seen
    steps:
      - expect: { display: "ENTER CODE", within: 100ms }
      - expect: { led: green, within: 100ms }
  - name: the boot sweep is before it
    steps:
      - expect: { lock: locked, compartment: L1, within: 500ms }
"#,
        None,
        &[],
    );
    let case = |name: &str| {
        cases(&r.junit)
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    };
    assert!(matches!(
        case("the idle display is seen").status,
        TestCaseStatus::Success { .. }
    ));
    let missed = case("the boot sweep is before it");
    let message = message(missed);
    assert!(
        message.contains(
            "in the case's first window, which opens when the controller finishes its boot self-test (at +0.200s)"
        ),
        "{message}"
    );
    assert!(
        message.contains("a match came before the window opened: `lock L1 locked` at +0.050s"),
        "{message}"
    );
    assert!(!message.contains("since +0.000s"), "{message}");
}

/// `--filter 'name:valid code'` said only "unexpected `code`".
#[test]
fn a_filter_with_a_space_says_how_to_quote_it() {
    let list = |filter: &str| {
        Command::new(env!("CARGO_BIN_EXE_harness"))
            .current_dir(repo())
            .args(["list", "--filter", filter])
            .output()
            .expect("harness runs")
    };
    let bad = list("name:valid code");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains(r#"--filter 'name:"valid code"'"#), "{err}");
    let good = list(r#"name:"valid code""#);
    assert!(good.status.success());
    let listed = String::from_utf8_lossy(&good.stdout);
    assert!(
        listed.contains("code-entry::valid code opens its compartment"),
        "{listed}"
    );
}

/// A target no toolchain here has, for a board crate that cannot build.
fn a_missing_target() -> Option<&'static str> {
    [
        "thumbv6m-none-eabi",
        "riscv32imc-unknown-none-elf",
        "thumbv8m.base-none-eabi",
        "armebv7r-none-eabihf",
    ]
    .into_iter()
    .find(|t| {
        Command::new("rustc")
            .args(["--print", "target-libdir", "--target", t])
            .output()
            .is_ok_and(|o| {
                let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
                o.status.success() && !dir.is_dir()
            })
    })
}

/// With the thumb target missing, every qemu case quoted cargo's
/// `can't find crate for core` several times: 86 cargo dumps.
#[test]
fn a_missing_target_is_one_clear_rig_error_for_the_run() {
    let Some(target) = a_missing_target() else {
        eprintln!("skipped: every candidate target is installed here");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let board = dir.path().join("board");
    std::fs::create_dir_all(board.join(".cargo")).expect("board dir");
    std::fs::write(
        board.join("Cargo.toml"),
        "[package]\nname = \"their-board\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .expect("manifest");
    std::fs::write(
        board.join(".cargo/config.toml"),
        format!("[build]\ntarget = \"{target}\"\n"),
    )
    .expect("config");
    let rig = dir.path().join("qemu.yaml");
    let qemu = std::fs::read_to_string(repo().join("rigs/qemu.yaml")).expect("qemu rig");
    let rig_text = qemu
        .replace("../firmware/boards/qemu-mps2-an386", "board")
        // The build is refused before the emulator is started: any program
        // that answers `--version` stands in for QEMU.
        .replace("executable: qemu-system-arm", "executable: \"true\"");
    std::fs::write(&rig, rig_text).expect("rig written");
    let suite = "name: few\ncases:\n  - name: one\n    steps: [ { wait: 1s } ]\n  - name: two\n    steps: [ { wait: 1s } ]\n  - name: three\n    steps: [ { wait: 1s } ]\n";
    let r = run(suite, Some(&rig), &["--jobs", "2"]);
    assert_eq!(r.out.status.code(), Some(3), "{}", r.stdout);
    let install = format!("rustup target add {target}");
    assert_eq!(
        r.stdout.matches(install.as_str()).count(),
        2,
        "once when the rigs break, once in the summary:\n{}",
        r.stdout
    );
    assert_eq!(r.stdout.matches("RIG ERROR").count(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("3 cases, all at flash:"), "{}", r.stdout);
    assert!(!r.stdout.contains("E0463"), "{}", r.stdout);
    for c in cases(&r.junit) {
        let message = message(c);
        assert!(message.contains(&install), "{message}");
        assert_eq!(message.matches(&install).count(), 1, "{message}");
    }
}
