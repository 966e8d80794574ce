//! Every problem of a file in one run, each at the node it is about, in
//! the order a reader meets them, with the name meant for a near miss
//! (issue 15). Locations come from the YAML parser, never from searching
//! the text for a name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use std::process::Command;

/// `harness check` of `suite` on the sim rig: exit code and standard error.
fn check(suite: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), suite).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(dir.path())
        .args(["check", "bad.yaml", "--rig"])
        .arg(repo().join("rigs/sim.yaml"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `file:line:col` of each error, in the order given.
fn places(err: &str) -> Vec<&str> {
    err.lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> bad.yaml:"))
        .collect()
}

#[test]
fn a_repeated_name_is_placed_at_the_repeat_not_at_text_that_contains_it() {
    let (code, err) = check(
        "name: demo\ncases:\n  - name: one\n    steps: [ { wait: 1s } ]\n  - name: someone\n    steps: [ { wait: 1s } ]\n  - name: one\n    steps: [ { wait: 1s } ]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cases[2].name: `one` is used twice"), "{err}");
    assert_eq!(places(&err), ["7:11"], "{err}");
}

#[test]
fn six_mistakes_are_six_errors_in_one_run_each_at_its_node() {
    let suite = "\
name: demo
retires: 1
cases:
  - name: a
    stpes:
      - wait: 1s
  - name: b
    steps:
      - kyes: \"1#\"
      - wait: forever
  - name: c
    steps:
      - expect: { display: \"HI\", withn: 1s }
  - name: d
    steps:
      - door: { compartment: M1 }
";
    let (code, err) = check(suite);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("6 problem(s) in the input"), "{err}");
    assert_eq!(
        places(&err),
        ["2:1", "5:5", "9:9", "10:9", "13:34", "16:15"],
        "{err}"
    );
    for says in [
        "unknown field `retires`",
        "did you mean `retries`?",
        "unknown field `stpes`",
        "did you mean `steps`?",
        "did you mean `keys`?",
        "`forever`",
        "did you mean `within`?",
        "missing field `action`",
    ] {
        assert!(err.contains(says), "no `{says}` in\n{err}");
    }
}

#[test]
fn the_checks_across_fields_report_every_problem_at_once() {
    let (code, err) = check(
        "name: demo\nretries: 50\nquarantine:\n  - { case: tow, reason: flaky }\ncases:\n  - name: one\n    steps: [ { wait: 1s } ]\n  - name: two\n    steps: [ { wait: 1s } ]\n  - name: one\n    steps: [ { wait: 1s } ]\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("3 problem(s)"), "{err}");
    assert_eq!(places(&err), ["2:1", "4:13", "10:11"], "{err}");
    assert!(err.contains("`tow` is not a case of this suite; expected one of `one`, `two`, `one`; did you mean `two`?"), "{err}");
}

#[test]
fn every_compartment_the_rig_lacks_is_named_where_the_suite_names_it() {
    let (code, err) = check(
        "name: demo\ncases:\n  - name: one\n    steps:\n      - door: { compartment: m1, action: hold }\n      - repeat:\n          times: 2\n          steps:\n            - expect: { door: open, compartment: Z9 }\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(places(&err), ["5:30", "9:50"], "{err}");
    assert!(
        err.contains(
            "compartment `m1` is not on rig `sim` (it has S1, S2, M1, M2, L1); did you mean `M1`?"
        ),
        "{err}"
    );
    assert!(
        err.contains("compartment `Z9` is not on rig `sim`"),
        "{err}"
    );
}

#[test]
fn a_key_written_twice_is_placed_at_its_second_in_its_own_mapping() {
    // `name:` is written in every case: the second `name:` of the file is
    // not the duplicate.
    let (code, err) = check(
        "name: demo\ncases:\n  - name: one\n    steps: [ { wait: 1s } ]\n  - name: two\n    steps: [ { wait: 1s } ]\n    name: again\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`name` appears twice in one mapping"), "{err}");
    assert_eq!(places(&err), ["7:5"], "{err}");
}
