//! A case's wall-time limit (issue 14): set by `timeout:` in a case or its
//! suite, or `--case-timeout`, the nearest winning; enforced on every rig
//! (the bench's is in `tests/bench.rs`), and reported as the limit, not as
//! a rig that stopped answering. Model rigs have none by default: their
//! time is virtual, and a 30-day wait on a healthy sim is no error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use rstest::rstest;
use std::process::Command;

const MONTH: &str = "  - name: a month\n    steps:\n      - wait: 30d\n";

fn run(suite: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limits.yaml");
    std::fs::write(&file, suite).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(&file)
        .args(args)
        .arg("--junit")
        .arg(dir.path().join("junit.xml"))
        .arg("--html")
        .arg(dir.path().join("index.html"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[rstest]
#[case::no_limit_on_a_model_rig("", &[], Some(0), "PASS  limits::a month")]
#[case::command_line("", &["--case-timeout", "20ms"], Some(3), "wall-time limit of 20ms")]
#[case::suite("timeout: 20ms\n", &[], Some(3), "wall-time limit of 20ms")]
#[case::suite_over_command_line("timeout: 1h\n", &["--case-timeout", "20ms"], Some(0), "PASS")]
fn the_nearest_wall_time_limit_holds(
    #[case] suite_key: &str,
    #[case] args: &[&str],
    #[case] exit: Option<i32>,
    #[case] says: &str,
) {
    let (code, text) = run(&format!("name: limits\n{suite_key}cases:\n{MONTH}"), args);
    assert_eq!(code, exit, "{text}");
    assert!(text.contains(says), "{text}");
    assert!(!text.contains("stopped answering"), "{text}");
}

#[test]
fn a_case_limit_wins_over_its_suite() {
    let (code, text) = run(
        &format!("name: limits\ntimeout: 20ms\ncases:\n{MONTH}    timeout: 1h\n"),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_limit_that_is_no_duration_is_refused_with_its_place() {
    let (code, text) = run(
        &format!("name: limits\ncases:\n{MONTH}    timeout: forever\n"),
        &[],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("limits.yaml:3"), "{text}");
    assert!(
        text.contains("case `a month`: timeout: `forever` is not a duration"),
        "{text}"
    );
}
