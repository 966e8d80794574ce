//! Every bundled suite runs on the sim rig and passes; each case's
//! normalised trace (relative times, no build id, no codes) is pinned.

mod common;

use common::repo;

use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::sim::SimRig;
use locker_hil::run::runner::{self, Outcome};
use rstest::rstest;
use std::path::PathBuf;
use std::sync::Arc;

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[rstest]
fn bundled_suite_passes_on_sim(#[files("../suites/*.yaml")] path: PathBuf) {
    let suites = locker_hil::model::load_suites(std::slice::from_ref(&path))
        .unwrap_or_else(|e| panic!("{}", e[0]));
    let rig = RigDescription::load(&repo().join("rigs/sim.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let plan = runner::plan(&suites, |_, _| true);
    assert!(plan.len() >= 3, "a suite holds several cases");
    let desc = Arc::new(rig);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let d = desc.clone();
    let reports = rt.block_on(runner::run(
        plan,
        1,
        desc,
        move |_| Ok(SimRig::new((*d).clone())),
        |_| {},
    ));
    let mut failures = Vec::new();
    for r in &reports {
        match &r.outcome {
            Outcome::Passed | Outcome::Skipped { .. } => {}
            other => failures.push(format!("{}::{}: {other:?}", r.suite, r.name)),
        }
        insta::assert_snapshot!(
            format!("{}__{}", slug(&r.suite), slug(&r.name)),
            r.trace.lines().join("\n")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
