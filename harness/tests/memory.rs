//! A case's memory is bounded whatever its length or its console's rate
//! (issue 14): a report keeps the first 1,000 and the last 4,000 lines of a
//! transcript and of its observations, the whole transcript is in a file
//! beside the report, linked from the JUnit file and the HTML page, and an
//! expectation over a window that overflowed says so instead of guessing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::faults::{Fault, Faulty};
use locker_hil::rigs::sim::SimRig;
use locker_hil::run::runner::{self, CaseReport, Outcome};
use std::path::Path;

/// The documented figures: lines and observations a report keeps.
const HEAD: usize = 1_000;
const TAIL: usize = 4_000;

/// Run `suite` on a sim whose console chatters at a saturated 115200 baud,
/// long transcripts going to `dir`.
fn chatter(suite: &str, dir: &Path) -> Vec<CaseReport> {
    let file = dir.join("chatter.yaml");
    std::fs::write(&file, suite).unwrap();
    let suites = locker_hil::model::load_suites(&[file]).unwrap();
    let mut plan = runner::plan(&suites, |_, _| true);
    for p in &mut plan {
        p.transcripts = Some(dir.join("junit.transcripts"));
    }
    let desc = RigDescription::load(&repo().join("rigs/sim.yaml")).unwrap();
    common::run_on(plan, desc, |d| {
        Ok(Faulty::new(SimRig::new(d), Fault::Chatter, 0))
    })
}

#[test]
fn a_flooded_console_keeps_the_ends_in_memory_and_everything_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let reports = chatter(
        "name: chatter\ncases:\n  - name: twenty minutes\n    steps:\n      - wait: 20m\n",
        dir.path(),
    );
    let r = &reports[0];
    assert_eq!(r.outcome, Outcome::Passed);
    // 300 lines a second for 20 minutes, and the controller's own.
    let total = r.transcript.total();
    assert!(total > 360_000, "{total} lines");
    assert_eq!(r.transcript.lines.len(), HEAD + TAIL);
    assert_eq!(r.transcript.omitted, total - (HEAD + TAIL) as u64);
    assert_eq!(r.trace.obs.len(), HEAD + TAIL);
    let omitted = r.trace.omitted.as_ref().unwrap();
    assert_eq!(omitted.head, HEAD);
    assert!(omitted.count > 350_000, "{omitted:?}");
    let file = r.transcript.file.as_ref().unwrap();
    assert!(file.starts_with(dir.path().join("junit.transcripts")));
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(text.lines().count() as u64, total);
    // The first and last lines kept are the file's first and last.
    let first = r.transcript.lines[0].render();
    let last = r.transcript.lines.last().unwrap().render();
    assert_eq!(text.lines().next(), Some(first.as_str()));
    assert_eq!(text.lines().last(), Some(last.as_str()));
}

#[test]
fn an_expectation_over_a_window_that_lost_observations_is_an_error_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let reports = chatter(
        "name: chatter\ncases:\n  - name: not seen, in a flood\n    steps:\n      - wait: 20m\n      - expect: { display: \"TAKE PARCEL\" }\n  - name: absent, in a flood\n    steps:\n      - wait: 20m\n      - absent: { display: \"TAKE PARCEL\", for: 1s }\n  - name: a fresh window after an action\n    steps:\n      - wait: 20m\n      - keys: \"12345678#\"\n      - expect: { code: wrong, within: 500ms }\n",
        dir.path(),
    );
    // Neither "not seen" nor "not there" can be said of what was not kept.
    for r in &reports[..2] {
        match &r.outcome {
            Outcome::Error { message, .. } => assert!(
                message.contains("more observations than the 200000 a window keeps"),
                "{message}"
            ),
            other => panic!("{}: {other:?}", r.name),
        }
    }
    assert_eq!(
        reports[2].outcome,
        Outcome::Passed,
        "{:?}",
        reports[2].outcome
    );
}

/// `harness run` of `suite` (written to `dir/soak.yaml`) with its reports
/// in `dir/out/`, to its end; its exit code.
fn run_soak(dir: &Path, suite: &str) -> Option<i32> {
    let file = dir.join("soak.yaml");
    std::fs::write(&file, suite).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(&file)
        .arg("--junit")
        .arg(dir.join("out/junit.xml"))
        .arg("--html")
        .arg(dir.join("out/index.html"))
        .output()
        .unwrap();
    out.status.code()
}

#[test]
fn a_year_long_case_links_its_whole_transcript_from_both_reports() {
    let dir = tempfile::tempdir().unwrap();
    let year = "name: soak\ncases:\n  - name: a quiet year\n    steps:\n      - wait: 365d\n";
    assert_eq!(run_soak(dir.path(), year), Some(0));
    let out = dir.path().join("out");
    let log = out.join("junit.transcripts/0000-soak-a-quiet-year.log");
    let lines = std::fs::read_to_string(&log).unwrap().lines().count();
    // An idle controller reports its doors every hour: 5 a hour, a year.
    assert!(lines > 5 * 24 * 365, "{lines} lines");
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        xml.contains(&format!(
            "{} lines not kept in this report",
            lines - HEAD - TAIL
        )),
        "{xml:.2000}"
    );
    assert!(xml.contains(&format!("[[ATTACHMENT|{}]]", log.display())));
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        page.contains(r#"<a href="junit.transcripts/0000-soak-a-quiet-year.log">"#),
        "the page links the file relative to itself"
    );
    // The next run starts with none of this run's files.
    let day = "name: soak\ncases:\n  - name: a day\n    steps:\n      - wait: 1d\n";
    assert_eq!(run_soak(dir.path(), day), Some(0));
    assert!(
        !log.exists(),
        "a stale transcript is left for the new report"
    );
}

#[test]
fn a_long_case_killed_mid_run_leaves_its_transcript_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("soak.yaml");
    // Longer than any test waits: the case is killed while it runs.
    std::fs::write(
        &suite,
        "name: soak\ncases:\n  - name: forever\n    steps:\n      - repeat:\n          times: 1000\n          steps:\n            - wait: 365d\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(&suite)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(dir.path().join("index.html"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = dir.path().join("junit.transcripts/0000-soak-forever.log");
    let lines = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while lines(&log) < 2 * (HEAD + TAIL) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let before = lines(&log);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let during = lines(&log);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(before >= 2 * (HEAD + TAIL), "the file has {before} lines");
    assert!(during > before, "the file grows as the case runs");
    let text = std::fs::read_to_string(&log).unwrap();
    let complete: Vec<&str> = text.split_inclusive('\n').collect();
    // Every line the file has but perhaps the last is whole.
    for l in &complete[..complete.len() - 1] {
        assert!(l.starts_with('[') && l.ends_with('\n'), "{l:?}");
    }
}
