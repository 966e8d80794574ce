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
        ["2:1", "5:5", "9:9", "10:15", "13:34", "16:15"],
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

/// `harness rig check` of a rig file `rig` (written as `bad.yaml`): exit
/// code and standard error.
fn check_rig(rig: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), rig).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(dir.path())
        .args(["rig", "check", "--rig", "bad.yaml"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SIM_RIG_HEAD: &str = "name: sim\ncontroller:\n  firmware: .\n";

#[test]
fn every_check_of_a_rig_file_is_reported_at_once_each_at_its_node() {
    let rig = format!(
        "{SIM_RIG_HEAD}  station: {{ id: 1, key: \"abc\" }}\n  compartments:\n    - {{ name: S1, size: S }}\n    - {{ name: \"S 2\", size: S }}\n    - {{ name: S1, size: M }}\nplant:\n  start: \"yesterday\"\n  ambient: 20C\n  supply: 12V\nqemu: {{ machine: virt }}\n"
    );
    let (code, err) = check_rig(&rig);
    assert_eq!(code, Some(2), "{err}");
    for said in [
        "controller.station.key: expected 32 hex digits",
        "controller.compartments[1].name: `S 2` is not a compartment name",
        "controller.compartments[2].name: `S1` appears twice",
        "plant.start:",
        "qemu.machine: expected `mps2-an386`",
    ] {
        assert!(err.contains(said), "{said}\n{err}");
    }
    // Each compartment's name is placed at that compartment, not at the
    // first `name:` of the file (the rig's own).
    assert_eq!(
        places(&err),
        ["4:26", "7:15", "8:15", "10:10", "13:18"],
        "{err}"
    );
    assert!(err.contains("5 problem(s)"), "{err}");
}

#[test]
fn a_rig_file_that_does_not_deserialize_reports_each_sections_first_problem() {
    let rig = format!(
        "{SIM_RIG_HEAD}  station: {{ id: one, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments:\n    - {{ name: S1, size: XL }}\n    - {{ name: S2, szie: S }}\nplant:\n  start: \"2026-03-02T09:00:00Z\"\n  ambient: warm\n  supply: 12V\n"
    );
    let (code, err) = check_rig(&rig);
    assert_eq!(code, Some(2), "{err}");
    for said in [
        "controller.station.id:",
        "controller.compartments[0].size: unknown variant `XL`",
        "controller.compartments[1]: unknown field `szie`",
        "did you mean `size`?",
        "plant.ambient:",
    ] {
        assert!(err.contains(said), "{said}\n{err}");
    }
    let at = places(&err);
    assert_eq!(at.len(), 4, "{err}");
    assert!(at.iter().all(|p| !p.starts_with("1:")), "{err}");
}

#[test]
fn a_search_for_problems_that_stops_early_says_so() {
    let mut suite = String::from("name: many\ncases:\n");
    for i in 0..60 {
        suite += &format!("  - name: c{i}\n    steps:\n      - wiat: 1s\n");
    }
    let (code, err) = check(&suite);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("unknown variant `wiat`").count(), 50, "{err}");
    assert!(
        err.contains("not looked for more problems from cases[49] on (60 cases)"),
        "{err}"
    );
}

/// What can never be true is refused at check, at its step, for an `absent`
/// as for an `expect` (an absence that cannot be seen would pass without
/// checking anything).
#[rstest::rstest]
#[case(
    "expect: { display: \"PLEASE ENTER YOUR PICKUP CODE\" }",
    "longer than the display's 24 characters"
)]
#[case(
    "absent: { display: \"A*B\", for: 1s }",
    "has `*`, which a display text never holds"
)]
#[case(
    "expect: { temperature: { min: 10C, max: 5C } }",
    "`min` (10C) is above `max` (5C): nothing is ever in this range"
)]
#[case(
    "absent: { pulse: { min: 300ms, max: 200ms }, for: 1s }",
    "`min` (300ms) is above `max` (200ms)"
)]
#[case(
    "expect: { lockout: { min: 2m, max: 30s } }",
    "`min` (2m) is above `max` (30s)"
)]
#[case(
    "expect: { unlock: { pulse: { min: 1s, max: 10ms } } }",
    "`min` (1s) is above `max` (10ms)"
)]
#[case(
    "absent: { uplink: dropoff, compartment: M1, for: 2s }",
    "`compartment` does not go with `uplink`"
)]
#[case(
    "expect: { led: green, compartment: M1 }",
    "`compartment` does not go with `led`"
)]
#[case(
    "expect: { event: keypad, compartment: M1 }",
    "`compartment` does not go with `event`"
)]
#[case(
    "expect: { error: E99 }",
    "`E99` is not an error code the protocol defines"
)]
#[case("absent: { error: E21x, for: 1s }", "`E21x` is not an error code")]
#[case("expect: { led: \"red 9-9\" }", "`red 9-9` is never shown")]
#[case(
    "absent: { led: \"red 7-1\", for: 1s }",
    "`red 7-1` is never shown: a blink code is an error's"
)]
#[case("expect: { event: daig }", "`daig` is not an event kind")]
#[case(
    "absent: { event: { kind: diag, reslt: fail }, for: 1s }",
    "`reslt` is not a field of `diag` events"
)]
#[case(
    "expect: { event: { kind: diag, result: broken } }",
    "`broken` is never the result of a `diag` event"
)]
#[case(
    "expect: { event: { kind: lockout-end, seconds: 3 } }",
    "`lockout-end` events have no fields"
)]
#[case(
    "expect: { event: { kind: unlock, pulse-ms: { min: 400, max: 300 } } }",
    "`min` (400) is above `max` (300)"
)]
#[case(
    "expect: { event: { kind: diag, item: door, link: primary } }",
    "a `diag door` event never names a link"
)]
#[case(
    "expect: { event: { kind: temp, celsius: { min: 9C, max: 1C } } }",
    "`min` (9C) is above `max` (1C)"
)]
#[case(
    "expect: { event: { kind: display, text: \"PLEASE ENTER YOUR PICKUP CODE\" } }",
    "longer than the display's 24 characters"
)]
#[case(
    "expect: { event: { kind: error, code: E99 } }",
    "`E99` is not an error code the protocol defines"
)]
#[case(
    "absent: { in-order: [ { code: accepted }, { error: E99 } ], for: 1s }",
    "in-order[1]: error: `E99`"
)]
#[case("expect: { any-of: [ { code: accepted } ] }", "it needs at least two")]
#[case(
    "expect: { any-of: [ { code: accepted }, { status: { failed: 1 } } ] }",
    "has no place in an order or a choice"
)]
#[case(
    "expect: { status: { queued: { min: 3, max: 1 } } }",
    "queued: `min` (3) is above `max` (1)"
)]
#[case(
    "expect: { status: { locked-out: false, lockout: { min: 10s } } }",
    "can never both hold"
)]
#[case(
    "expect: { backoffice: { kind: dropoff, count: 1, sent: 0 } }",
    "sent at least once"
)]
#[case(
    "expect: { backoffice: { order: [ { kind: dropof } ] } }",
    "`dropof` is not a record kind"
)]
#[case(
    "expect: { code: accepted, from: nowhere }",
    "looks from a mark no earlier step sets"
)]
#[case("mark: start", "names where every window can open already")]
#[case(
    "expect: { status: { clock: { min: 2s, max: -2s } } }",
    "clock: `min` (2000ms) is above `max` (-2000ms)"
)]
#[case(
    "absent: { status: { failed: 3 }, for: 5s }",
    "`absent` does not ask `STATUS`"
)]
#[case(
    "expect: { event: { kind: keypad, digits: 3, cleared: clear } }",
    "never both"
)]
#[case(
    "absent: { event: { kind: diag, item: link }, compartment: M1, for: 1s }",
    "`compartment` does not go with `item: link`"
)]
#[case(
    "expect: { status: { locked-out: true, lockout: { max: 0s } } }",
    "`locked-out: true` and a `lockout` of no time left"
)]
#[case(
    "expect: { backoffice: { kind: dropoff, count: 1 }, compartment: M1 }",
    "a record's `compartment` goes inside `backoffice`"
)]
#[case("state: { code: accepted }", "is not a state the controller reports")]
#[case(
    "state: { led: green, within: 1s, for: 2s }",
    "`within` (holds now or comes to) or `for`"
)]
fn what_can_never_be_true_is_refused_at_its_step(#[case] step: &str, #[case] said: &str) {
    let (code, err) = check(&format!(
        "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n      - {step}\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(said), "{err}");
    assert_eq!(
        places(&err).first().map(|p| p.split(':').next()),
        Some(Some("6")),
        "{err}"
    );
}

#[test]
fn what_can_be_true_is_not_refused() {
    for step in [
        "expect: { display: \"ENTER CODE\" }",
        "expect: { temperature: { min: 5C, max: 5C } }",
        "expect: { event: diag, compartment: M1 }",
        "expect: { error: E31, compartment: M1 }",
        "absent: { lock: released, compartment: M1, for: 1s }",
        "expect: { event: { kind: diag, item: link, link: secondary, result: ok } }",
        "expect: { event: { kind: keypad, cleared: timeout } }",
        "expect: { event: { kind: unlock, attempt: 3, pulse-ms: { min: 380, max: 420 } }, compartment: M1 }",
        "expect: { in-order: [ { code: accepted }, { lock: released, compartment: M1 } ], within: 2s, from: start }",
        "absent: { any-of: [ { error: E21 }, { error: E31, compartment: S1 } ], for: 1s }",
        "expect: { status: { failed: { min: 1 }, lockout: { max: 60s } } }",
        "expect: { backoffice: { kind: dropoff, compartment: M1, count: 1, sent: 2 } }",
        "expect: { backoffice: { order: [ { kind: dropoff, compartment: M1 }, { kind: pickup } ] } }",
        "state: { lock: locked, compartment: M1, for: 5s }",
        "expect: { status: { clock: { min: -2s, max: 2s }, uptime: { min: 1s } } }",
        "state: { event: { kind: link, link: primary, state: up } }",
        "expect: { led: \"amber 7-1\" }",
    ] {
        let (code, err) = check(&format!(
            "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n      - {step}\n"
        ));
        assert_eq!(code, Some(0), "{step}: {err}");
    }
}
