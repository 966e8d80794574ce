//! Benchmark of the qemu rig: boot to banner, and wall time per case.
//!
//! ```text
//! cargo bench -p locker-hil --bench qemu            # all bundled suites
//! cargo bench -p locker-hil --bench qemu -- 40      # 40 boots instead of 20
//! ```
//!
//! Boot to banner is measured from the moment the harness asks for power to
//! the moment the firmware's `HELLO` line is in hand: starting QEMU, both
//! sockets connecting, the board's `READY` with its build id, provisioning,
//! the EEPROM image, and the boot instant itself. Results and the machine
//! they came from are kept in `benches/RESULTS.md`.

mod common;

use common::{repo, stats};
use locker_hil::model::rigfile::RigDescription;
use locker_hil::run::runner;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let boots: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let desc = RigDescription::load(&repo().join("rigs/qemu.yaml"))?;

    // Boot to banner.
    let (flash, times) = common::boot_to_banner(&rt, &desc, boots)?;
    println!("image: {} ({})", flash.image, flash.build());
    println!("boot to banner: {}", stats(times));

    // Every bundled case, one rig, then two.
    let files: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    let suites = locker_hil::model::load_suites(&files).map_err(|e| e[0].to_string())?;
    for (label, file, jobs) in [
        ("sim, 1 rig", "rigs/sim.yaml", 1),
        ("qemu, 1 rig", "rigs/qemu.yaml", 1),
        ("qemu, 2 rigs", "rigs/qemu.yaml", 2),
    ] {
        let desc = Arc::new(RigDescription::load(&repo().join(file))?);
        let plan = runner::plan(&suites, |_, _| true);
        let t = Instant::now();
        let reports = rt
            .block_on(locker_hil::run::run_plan(
                plan,
                jobs,
                desc,
                |_| {},
                std::future::pending(),
            ))
            .ok_or("the run was stopped")?;
        let wall = t.elapsed();
        let passed = reports
            .iter()
            .filter(|r| matches!(r.outcome, runner::Outcome::Passed))
            .count();
        let rig_days: f64 = reports
            .iter()
            .map(|r| r.rig_time.as_secs_f64())
            .sum::<f64>()
            / 86_400.0;
        println!(
            "{label}: {} cases ({passed} passed, {rig_days:.1} rig-days) in {:.1}s; per case {}",
            reports.len(),
            wall.as_secs_f64(),
            stats(reports.iter().map(|r| r.wall).collect())
        );
    }
    Ok(())
}
