//! The suite language's expectations run for real, on sim and on qemu:
//! states, orders, choices, marks and windows, event fields, the back
//! office's records and `STATUS` fields each pass where the firmware keeps
//! its promise and fail, saying why, where it cannot (issue 18).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use locker_hil::model::rigfile::RigDescription;
use locker_hil::run::runner::{self, CaseReport, Outcome};
use rstest::rstest;
use std::sync::Arc;

const SUITE: &str = r#"
name: expectations
cases:
  - name: every kind of expectation holds of a pickup
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - state: { display: "ENTER CODE", within: 5s }
      - state: { led: green }
      - state: { lock: locked, for: 2s }
      - state: { event: { kind: link, link: primary, state: up } }
      - mark: before-pickup
      - keys: "$pickup#"
      - expect:
          in-order:
            - { code: accepted, compartment: M1 }
            - { event: { kind: unlock, attempt: 1, pulse-ms: { min: 1 } }, compartment: M1 }
            - { lock: released, compartment: M1 }
            - { door: open, compartment: M1 }
          within: 3s
      - package: { compartment: M1, action: out }
      - door: { compartment: M1, action: push }
      - expect: { event: { kind: pickup }, compartment: M1, within: 2s }
      - state: { lock: locked, compartment: M1, within: 2s }
      - expect:
          any-of:
            - { error: E21 }
            - { event: { kind: code, result: accepted }, compartment: M1 }
          from: before-pickup
      - expect: { event: { kind: diag, item: done, result: ok }, from: start }
      - expect:
          backoffice:
            order: [ { kind: dropoff, compartment: M1 }, { kind: pickup, compartment: M1 } ]
          within: 5s
      - expect: { backoffice: { kind: pickup, compartment: M1, count: 1, sent: 1 } }
      - expect: { status: { failed: 0, queued: { max: 0 }, lockout: { max: 0s } } }
      - absent: { in-order: [ { lock: released }, { code: accepted } ], for: 1s, from: before-pickup }

  - name: an order that did not happen
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup#"
      - expect: { in-order: [ { lock: released, compartment: M1 }, { code: accepted, compartment: M1 } ], within: 2s }

  - name: a state that does not stay
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup#"
      - state: { lock: locked, compartment: M1, for: 3s }

  - name: a state that is not so
    steps:
      - state: { display: "WRONG CODE" }

  - name: a choice of which none came
    steps:
      - keys: "1#"
      - expect: { any-of: [ { error: E21 }, { error: E31 } ], within: 500ms }

  - name: a record sent once is not sent twice
    steps:
      - parcel: { compartment: M1, code: $pickup }
      - expect: { backoffice: { kind: dropoff, compartment: M1, count: 1, sent: 2 }, within: 2s }

  - name: no lockout has no time left
    steps:
      - expect: { status: { lockout: { min: 1s } }, within: 300ms }

  - name: the self-test is before the first window
    steps:
      - expect: { event: { kind: diag, item: done } }

  - name: an order seen where it must not be
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - mark: typed
      - keys: "$pickup#"
      - wait: 2s
      - absent: { in-order: [ { code: accepted }, { lock: released } ], for: 1s, from: typed }

  - name: a dead controller's last words are not its state
    steps:
      - power: off
      - state: { lock: locked, compartment: M1 }
    teardown:
      - power: on
      - wait: 1s

  - name: a count the back office went past was held
    steps:
      - parcel: { compartment: M1, code: $first }
      - parcel: { compartment: M2, code: $second }
      - wait: 2s
      - absent: { backoffice: { kind: dropoff, count: 1 }, for: 1s }

  - name: a field that is not what it must be
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup#"
      - expect: { event: { kind: unlock, attempt: 2 }, compartment: M1, within: 2s }
"#;

/// What each failing case must say (the first case passes).
const FAILS: &[(&str, &str)] = &[
    ("an order that did not happen", "the order broke at item 2"),
    (
        "a state that does not stay",
        "but the controller reported `lock M1 released`",
    ),
    (
        "a state that is not so",
        "the controller last reported `display \"ENTER CODE\"`",
    ),
    (
        "a choice of which none came",
        "expected any of: error E21 or error E31",
    ),
    (
        "a record sent once is not sent twice",
        "it holds 1: dropoff M1 (seq",
    ),
    ("no lockout has no time left", "lockout=0s"),
    (
        "the self-test is before the first window",
        "a match came before the window opened",
    ),
    (
        "an order seen where it must not be",
        "expected no in order: code accepted, then lock released",
    ),
    (
        "a field that is not what it must be",
        "seen instead: unlock M1 1",
    ),
    (
        "a dead controller's last words are not its state",
        "has not reported it since it last started",
    ),
    (
        "a count the back office went past was held",
        "expected the back office never to be back office holding 1 dropoff record(s)",
    ),
];

fn run(rig: &str) -> Vec<CaseReport> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expectations.yaml");
    std::fs::write(&path, SUITE).unwrap();
    let suites = locker_hil::model::load_suites(&[path]).unwrap_or_else(|e| panic!("{}", e[0]));
    let desc = Arc::new(RigDescription::load(&repo().join(rig)).unwrap_or_else(|e| panic!("{e}")));
    let plan = runner::plan(&suites, |_, _| true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(locker_hil::run::run_plan(
        plan,
        2,
        desc,
        |_| {},
        std::future::pending(),
    ))
    .unwrap()
}

#[rstest]
#[case::sim("rigs/sim.yaml")]
#[case::qemu("rigs/qemu.yaml")]
fn each_expectation_passes_when_kept_and_fails_saying_why(#[case] rig: &str) {
    if rig.contains("qemu") && !common::qemu_available() {
        return;
    }
    let reports = run(rig);
    assert_eq!(reports.len(), 1 + FAILS.len());
    let first = &reports[0];
    assert_eq!(
        first.outcome,
        Outcome::Passed,
        "{}: {:?}",
        first.name,
        first.outcome
    );
    for (name, says) in FAILS {
        let r = reports.iter().find(|r| r.name == *name).unwrap();
        match &r.outcome {
            Outcome::Failed { message, .. } => {
                assert!(message.contains(says), "{name}: {message}")
            }
            other => panic!("{name}: expected a failure saying {says:?}, got {other:?}"),
        }
    }
}

/// What an order that broke says, as a tester reads it.
#[test]
fn a_broken_order_lists_what_came_in_what_order() {
    let reports = run("rigs/sim.yaml");
    let r = reports.iter().find(|r| r.name == FAILS[0].0).unwrap();
    let Outcome::Failed { message, .. } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    let head = message.split("\nlast transcript lines").next().unwrap();
    insta::assert_snapshot!(head);
}
