//! Retries and quarantine as CI sees them: a flaky case is reported flaky
//! (JUnit `flakyFailure`), a case that keeps failing carries its earlier
//! runs (`rerunFailure`), a quarantined case is skipped with its reason and
//! link, and none of them disappears.

mod common;

use common::repo;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus};
use std::process::{Command, Output};

/// Run `suite` (YAML text) with `args`; the exit status, stdout and report.
fn run(suite: &str, args: &[&str]) -> (Output, String, Report) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suite.yaml");
    std::fs::write(&file, suite).expect("suite written");
    let junit = dir.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(&file)
        .args(args)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("harness runs");
    let xml = std::fs::read_to_string(&junit).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report = Report::deserialize_from_str(&xml).expect("the report parses");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout, report)
}

fn case<'r>(report: &'r Report, name: &str) -> &'r TestCase {
    report
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("no testcase `{name}`"))
}

fn property<'c>(c: &'c TestCase, name: &str) -> Option<&'c str> {
    (c.properties.iter())
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
}

/// The first warming report after the chamber steps up depends on the
/// temperature sensor's noise, which the seed decides: asserting it to the
/// hundredth of a degree is exactly the kind of test that is flaky.
fn noisy_case(seed: u64, retries: u32) -> String {
    format!(
        "name: noisy\nretries: {retries}\ncases:\n  - name: first warming report below 20.53C\n    seed: {seed}\n    steps:\n      - chamber: {{ set: 25C }}\n      - expect: {{ temperature: {{ max: 20.52C }}, within: 2m }}\n"
    )
}

#[test]
fn a_case_that_passes_on_a_retry_is_reported_flaky() {
    // Find a seed whose first run fails and whose retry (the next seed)
    // passes: the noise model decides, the test does not pin it.
    let mut found = None;
    for seed in 1..60 {
        let (out, stdout, report) = run(&noisy_case(seed, 1), &[]);
        let c = case(&report, "first warming report below 20.53C");
        if let TestCaseStatus::Success { flaky_runs } = &c.status
            && !flaky_runs.is_empty()
        {
            found = Some((seed, out, stdout, c.clone()));
            break;
        }
    }
    let (seed, out, stdout, c) = found.expect("no seed in 1..60 made the noisy case flaky");
    // Flaky passes: the run passes, and says so.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("FLAKY"), "{stdout}");
    assert!(stdout.contains("Flaky (passed after failing)"), "{stdout}");
    assert!(stdout.contains("(1 flaky)"), "{stdout}");
    let TestCaseStatus::Success { flaky_runs } = &c.status else {
        unreachable!()
    };
    assert_eq!(flaky_runs.len(), 1);
    let first = &flaky_runs[0];
    assert_eq!(first.kind, NonSuccessKind::Failure);
    let description = first.description.as_ref().map(|d| d.as_str()).unwrap_or("");
    assert!(
        description.contains(&format!("seed {seed}")),
        "{description}"
    );
    assert!(
        first
            .system_out
            .as_ref()
            .is_some_and(|t| t.as_str().contains("temp")),
        "the failed run's transcript is kept"
    );
    assert_eq!(property(&c, "flaky"), Some("passed after 1 failed run(s)"));
    assert_eq!(property(&c, "seed"), Some((seed + 1).to_string().as_str()));
}

#[test]
fn a_case_that_keeps_failing_fails_with_its_earlier_runs() {
    let suite = "name: broken\ncases:\n  - name: never\n    steps:\n      - expect: { display: \"NO SUCH TEXT\", within: 1s }\n";
    let (out, stdout, report) = run(suite, &["--retries", "2"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let c = case(&report, "never");
    let TestCaseStatus::NonSuccess { kind, reruns, .. } = &c.status else {
        panic!("not a failure: {:?}", c.status)
    };
    assert_eq!(*kind, NonSuccessKind::Failure);
    assert_eq!(reruns.runs.len(), 2, "two earlier runs, as rerunFailure");
    assert!(
        stdout.contains("failed in 2 earlier run(s) too"),
        "{stdout}"
    );
}

#[test]
fn a_suite_retries_value_beats_the_command_line() {
    let suite = "name: broken\nretries: 0\ncases:\n  - name: never\n    steps:\n      - expect: { display: \"NO SUCH TEXT\", within: 1s }\n";
    let (_, _, report) = run(suite, &["--retries", "3"]);
    let TestCaseStatus::NonSuccess { reruns, .. } = &case(&report, "never").status else {
        panic!("not a failure")
    };
    assert!(reruns.runs.is_empty());
}

#[test]
fn a_quarantined_case_is_skipped_with_its_reason_and_link() {
    let suite = "name: q\nquarantine:\n  - case: wobbly\n    reason: fails one run in ten on cold benches\n    link: https://tracker.example/LOCK-123\ncases:\n  - name: wobbly\n    steps:\n      - expect: { display: \"NO SUCH TEXT\", within: 1s }\n  - name: fine\n    steps:\n      - wait: 1s\n";
    let (out, stdout, report) = run(suite, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let c = case(&report, "wobbly");
    let TestCaseStatus::Skipped { message, .. } = &c.status else {
        panic!("not skipped: {:?}", c.status)
    };
    assert_eq!(
        message.as_ref().map(|m| m.as_str()),
        Some(
            "quarantined: fails one run in ten on cold benches (https://tracker.example/LOCK-123)"
        )
    );
    assert_eq!(
        property(c, "quarantine.link"),
        Some("https://tracker.example/LOCK-123")
    );
    assert!(matches!(
        case(&report, "fine").status,
        TestCaseStatus::Success { .. }
    ));
}

#[test]
fn quarantining_a_case_that_does_not_exist_is_a_located_error() {
    let suite = "name: q\nquarantine:\n  - case: wobly\n    reason: typo\ncases:\n  - name: wobbly\n    steps:\n      - wait: 1s\n";
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("suite.yaml");
    std::fs::write(&file, suite).expect("suite written");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("check")
        .arg(&file)
        .output()
        .expect("harness runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("suite.yaml:3:"), "{stderr}");
    assert!(
        stderr.contains(
            "quarantine[0].case: `wobly` is not a case of this suite; expected one of `wobbly`"
        ),
        "{stderr}"
    );
}

#[test]
fn the_example_suite_shows_a_flaky_case_and_a_quarantined_one() {
    let text = std::fs::read_to_string(repo().join("suites/examples/flaky-and-quarantined.yaml"))
        .expect("example suite");
    let (out, stdout, report) = run(&text, &[]);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let flaky = case(&report, "first warming report is below 20.53C");
    let TestCaseStatus::Success { flaky_runs } = &flaky.status else {
        panic!("not a pass: {:?}", flaky.status)
    };
    assert_eq!(
        flaky_runs.len(),
        1,
        "the example's comment says seed 1 fails and 2 passes"
    );
    let q = case(
        &report,
        "waits for a display text the controller never shows",
    );
    assert!(matches!(q.status, TestCaseStatus::Skipped { .. }));
    assert_eq!(
        property(q, "quarantine.link"),
        Some("https://tracker.example/LOCK-123")
    );
}
