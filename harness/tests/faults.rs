//! Rig faults injected at the transport: each becomes a JUnit error (not a
//! failure) for the case it hits, the rig is reset for the next case or taken
//! out of the pool, and the run always ends on its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::faults::{Fault, Faulty};
use locker_hil::rigs::sim::SimRig;
use locker_hil::run::runner::{self, CaseReport, Outcome};
use rstest::rstest;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn run(fault: Fault, after: u32, jobs: usize, faulty_workers: &'static [usize]) -> Vec<CaseReport> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let suites = locker_hil::model::load_suites(&[repo.join("suites/code-entry.yaml")]).unwrap();
    let plan: Vec<_> = runner::plan(&suites, |_, _| true)
        .into_iter()
        .take(6)
        .collect();
    let desc = Arc::new(RigDescription::load(&repo.join("rigs/sim.yaml")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let d = desc.clone();
    rt.block_on(runner::run(
        plan,
        jobs,
        desc,
        move |j| {
            let rig = SimRig::new((*d).clone()).named(format!("sim-{j}"));
            // Workers that are not faulty get a fault that never triggers.
            let after = if faulty_workers.contains(&j) {
                after
            } else {
                u32::MAX
            };
            Ok(Faulty::new(rig, fault, after))
        },
        |_| {},
    ))
}

#[rstest]
#[case::console_cut(Fault::Cut { recovers: true }, "vanished")]
#[case::garbage_on_the_line(Fault::Garbage, "")]
#[case::bad_checksums(Fault::BadChecksums, "corrupts every line")]
#[case::goes_silent(Fault::Silent, "stopped answering")]
#[case::fixture_stops_answering(Fault::FixtureGone, "no answer")]
#[case::sequence_numbers_jump(Fault::JumpingSequence, "sequence numbers jump on every line")]
fn a_broken_rig_is_an_error_for_its_case_and_the_next_case_runs(
    #[case] fault: Fault,
    #[case] says: &str,
) {
    let t = Instant::now();
    let reports = run(fault, 40, 1, &[0]);
    assert_eq!(reports.len(), 6, "no case is dropped");
    match &reports[0].outcome {
        Outcome::Error { message, .. } => {
            assert!(message.contains(says), "{fault:?}: {message}");
            assert!(!reports[0].transcript.is_empty(), "the transcript is kept");
        }
        // Noise the protocol filters out (a garbage line between good ones)
        // may leave the case intact; what it must never be is a failure.
        Outcome::Passed if fault == Fault::Garbage => {}
        other => panic!("{fault:?}: the first case must be a rig error, got {other:?}"),
    }
    for r in &reports[1..] {
        assert!(
            matches!(r.outcome, Outcome::Passed),
            "{}: {:?}",
            r.name,
            r.outcome
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "bounded: {:?}",
        t.elapsed()
    );
}

#[test]
fn slow_answers_only_cost_time() {
    let reports = run(Fault::Slow(Duration::from_millis(2)), 0, 1, &[0]);
    assert!(reports.iter().all(|r| matches!(r.outcome, Outcome::Passed)));
}

#[test]
fn a_rig_that_does_not_come_back_leaves_the_pool_and_the_run_ends_on_the_others() {
    let t = Instant::now();
    let reports = run(Fault::Cut { recovers: false }, 40, 2, &[0]);
    assert_eq!(reports.len(), 6, "no case is dropped");
    let all = || {
        reports
            .iter()
            .map(|r| (&r.name, &r.rig, &r.outcome, r.attempts.len()))
            .collect::<Vec<_>>()
    };
    // Where the cut lands depends on which cases the dead rig took (the
    // two rigs race for the queue): in the middle of a case, which is then
    // a rig error, or at the start of one, which the dead rig cannot
    // prepare. Either way it shows exactly where it happened, and only there.
    let errors: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error { .. }))
        .collect();
    assert!(errors.len() <= 1, "{:#?}", all());
    assert!(errors.iter().all(|r| r.rig == "sim-0"), "{:#?}", all());
    // A case the dead rig could not prepare went to the healthy rig, and
    // its report says so: a rig error is never retried silently.
    let sent_back: Vec<_> = reports.iter().filter(|r| !r.attempts.is_empty()).collect();
    assert!(sent_back.len() <= 1, "{:#?}", all());
    for r in &sent_back {
        let first = &r.attempts[0];
        assert!(
            matches!(&first.outcome, Outcome::Error { step, .. } if step == "prepare"),
            "{:?}",
            first.outcome
        );
        assert_eq!(first.rig, "sim-0");
        assert_eq!(r.rig, "sim-1", "it ran again on the healthy rig");
        assert_eq!(r.outcome, Outcome::Passed);
    }
    assert!(
        errors.len() + sent_back.len() >= 1,
        "the cut left no trace: {:#?}",
        all()
    );
    // Everything else passed, on whichever rig took it.
    let rest = reports
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Error { .. }))
        .all(|r| r.outcome == Outcome::Passed);
    assert!(rest, "{:#?}", all());
    assert!(t.elapsed() < Duration::from_secs(60));
}
