//! Shared by the integration tests: the repository they run in, a bench rig
//! file around given ports, and a run on it whose image is already there
//! (nothing to flash).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::bench::BenchRig;
use locker_hil::run::runner::{self, CaseReport, Planned};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The repository root: where `suites/`, `rigs/` and `reports/` are.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."))
        .to_path_buf()
}

/// The `harness` binary run in the repository with `args`, to its end.
pub fn harness(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("harness runs")
}

/// A bench with the reference station and compartments, its console on
/// `console`, and `fixtures` (YAML lines under `fixtures:`).
pub fn bench_rig(name: &str, console: &str, fixtures: &str) -> String {
    format!(
        "name: {name}\ncontroller:\n  firmware: image.elf\n  flash: {{ probe: \"0483:374b:EMU-{name}\", chip: STM32F446RETx }}\n  console: {{ port: {console}, baud: 115200 }}\n  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments:\n    - {{ name: S1, size: S }}\n    - {{ name: S2, size: S }}\n    - {{ name: M1, size: M }}\n    - {{ name: M2, size: M }}\n    - {{ name: L1, size: L }}\nfixtures:\n{fixtures}"
    )
}

/// Run `plan` on the bench described by `rig`, flashed by `Preloaded`.
pub fn run_preloaded(rig: &Path, plan: Vec<Planned>) -> Vec<CaseReport> {
    let desc = RigDescription::load(rig).unwrap_or_else(|e| panic!("{e}"));
    run_on(plan, desc, |d| {
        BenchRig::with_flasher(d, Box::new(locker_hil::rigs::bench::flash::Preloaded))
    })
}

/// Run `plan` on one rig that `make` builds from the rig file `desc`, on a
/// runtime of one worker.
pub fn run_on<R, F>(plan: Vec<Planned>, desc: RigDescription, make: F) -> Vec<CaseReport>
where
    R: locker_hil::rigs::Rig + 'static,
    F: Fn(RigDescription) -> Result<R, locker_hil::rigs::RigError> + Send + Sync + 'static,
{
    let desc = Arc::new(desc);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let d = desc.clone();
    rt.block_on(runner::run(
        plan,
        1,
        desc,
        move |_| make((*d).clone()),
        |_| {},
    ))
}

/// Whether QEMU and the thumb target are here to run the qemu rig: when
/// not, says so in one line and the caller skips; in CI it is a failure.
pub fn qemu_available() -> bool {
    let found = std::process::Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("qemu-system-arm is missing in CI: .ci/run must install it");
        }
        eprintln!(
            "skipped: qemu-system-arm not found (apt-get install -y --no-install-recommends qemu-system-arm)"
        );
    }
    found && have_target()
}

/// The thumb target the board crate builds for: rustup does not add it to a
/// `stable` that was installed before (`.ci/run` adds it).
fn have_target() -> bool {
    let board = repo().join("firmware/boards/qemu-mps2-an386");
    match locker_hil::rigs::image::check_target(&board) {
        Ok(()) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{e}: .ci/run must install it")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
}

/// Whether `python3` can import `module`: when not, says so in one line and
/// the caller skips; in CI (`CI` set) it is a failure.
pub fn python_with(module: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "python3 with {module} is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: python3 -m pip install {module} to run this test");
    }
    found
}
