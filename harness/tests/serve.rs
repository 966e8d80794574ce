//! `harness rig serve --pty`: the sim rig as serial devices. A real bundled
//! case runs against it through the harness's own bench path (console port,
//! fixture-board driver, pseudo-terminals), as it would against hardware.
#![cfg(all(unix, feature = "serial"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use locker_hil::runner::{self, Outcome};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn a_bundled_case_passes_against_the_served_sim_over_ptys() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "serve", "--rig", "rigs/sim.yaml", "--pty"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut path = |prefix: &str| {
        let l = lines.next().unwrap().unwrap();
        l.strip_prefix(prefix).unwrap().trim().to_owned()
    };
    let console = path("console:");
    let board = path("board:");
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("image.elf"),
        format!("LOCKER-IMAGE build={} board=sim\0", locker_core::BUILD_ID),
    )
    .unwrap();
    let rig = dir.path().join("served.yaml");
    let fixtures = format!("  board: {{ driver: fixture-board, port: {board} }}\n");
    std::fs::write(&rig, common::bench_rig("served", &console, &fixtures)).unwrap();
    let suites = locker_hil::cli::load_suites(&[repo().join("suites/code-entry.yaml")]).unwrap();
    let plan: Vec<_> = runner::plan(&suites, |_, c| c.name == "valid code opens its compartment");
    assert_eq!(plan.len(), 1);
    let reports = common::run_preloaded(&rig, plan);
    let _ = child.kill();
    let _ = child.wait();
    let r = &reports[0];
    assert!(
        matches!(r.outcome, Outcome::Passed),
        "{:?}\n{}",
        r.outcome,
        r.trace.lines().join("\n")
    );
}
