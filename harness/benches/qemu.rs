//! Benchmark of the qemu rig: each figure issue 21 set, beside its target,
//! and the profile of where a case's wall time goes.
//!
//! ```text
//! cargo bench -p locker-hil --bench qemu          # 30 minimal cases, 3 quiet days
//! cargo bench -p locker-hil --bench qemu -- 100   # 100 minimal cases
//! ```
//!
//! All on 2 worker threads, as on the project's 2-core CI machine. The
//! targets are for that machine; results and the machine they came from are
//! kept in `benches/RESULTS.md`.

mod common;

use common::{repo, stats};
use locker_hil::model::rigfile::RigDescription;
use locker_hil::run::runner::{self, CaseReport, Outcome, Planned};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let reps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let qemu = Arc::new(RigDescription::load(&repo().join("rigs/qemu.yaml"))?);
    let sim = Arc::new(RigDescription::load(&repo().join("rigs/sim.yaml"))?);
    let dir = tempfile::tempdir()?;

    // Where a case's time goes: a power-on with a new QEMU process, and one
    // that resets the rig's warm emulator.
    let mut cold = Vec::new();
    for _ in 0..10 {
        let (_, t) = common::boot_to_banner(&rt, &qemu, 1)?;
        cold.extend(t);
    }
    let (flash, mut warm) = common::boot_to_banner(&rt, &qemu, reps + 1)?;
    warm.remove(0);
    println!("image: {} ({})", flash.image, flash.build());
    println!("profile: boot to banner, new QEMU process: {}", stats(cold));
    println!(
        "profile: boot to banner, warm emulator reset in place: {}",
        stats(warm)
    );
    let first = "      - state: { display: \"ENTER CODE\", within: 2s }\n";
    let minimal = suite(
        &dir,
        "minimal",
        (0..reps).map(|i| format!("  - name: minimal {i}\n    steps:\n{first}")),
    )?;
    // The same, then 40 key presses.
    let presses = "      - keys: \"1\"\n      - keys: \"*\"\n".repeat(20);
    let keys = suite(
        &dir,
        "keys",
        (0..reps).map(|i| format!("  - name: keys {i}\n    steps:\n{first}{presses}")),
    )?;
    let (mins, _) = run(&rt, &qemu, &minimal, 1)?;
    let (keyed, _) = run(&rt, &qemu, &keys, 1)?;
    for r in mins.iter().chain(&keyed) {
        if !matches!(r.outcome, Outcome::Passed) {
            return Err(format!("{} failed: {:?}", r.name, r.outcome).into());
        }
    }
    let per_key = median(&keyed).saturating_sub(median(&mins)) / 40;
    println!(
        "profile: minimal case {}, the same with 40 key presses {}",
        show(median(&mins)),
        show(median(&keyed))
    );
    println!(
        "profile: one key press (an exchange: PINS and STEP out, the instant's lines and DONE back, its console echo): {:.0} us",
        per_key.as_secs_f64() * 1e6
    );

    let mut rows = Vec::new();
    rows.push((
        "minimal case (power on, self-test, one expectation), 1 rig, median".to_owned(),
        median(&mins),
        Duration::from_millis(15),
    ));

    // The short bundled cases (under ten simulated minutes on sim), and all.
    let bundled = bundled()?;
    let (sim_reports, sim_wall) = run(&rt, &sim, &bundled, 1)?;
    let short: Vec<Planned> = bundled
        .iter()
        .zip(&sim_reports)
        .filter(|(_, r)| r.rig_time < Duration::from_secs(600))
        .map(|(p, _)| p.clone())
        .collect();
    let (short_reports, short_wall) = run(&rt, &qemu, &short, 2)?;
    rows.push((
        format!(
            "the {} short bundled cases (under 10 simulated minutes), --jobs 2 ({} passed)",
            short.len(),
            passed(&short_reports)
        ),
        short_wall,
        Duration::from_secs(2),
    ));
    let (all, all_wall) = run(&rt, &qemu, &bundled, 2)?;
    let days: f64 = all.iter().map(|r| r.rig_time.as_secs_f64()).sum::<f64>() / 86_400.0;
    rows.push((
        format!(
            "whole bundled regression on qemu, {} cases ({} passed, {days:.1} simulated days), --jobs 2",
            all.len(),
            passed(&all)
        ),
        all_wall,
        Duration::from_secs(15),
    ));
    println!(
        "for comparison: the same regression on sim, 1 rig: {:.2} s",
        sim_wall.as_secs_f64()
    );
    println!(
        "per case on qemu, --jobs 2: {}",
        stats(all.iter().map(|r| r.wall).collect())
    );

    // A quiet simulated day: 8,640 temperature samples and 24 self-tests.
    let quiet = suite(
        &dir,
        "quiet",
        (0..3).map(|i| format!("  - name: day {i}\n    steps:\n      - wait: 24h\n      - expect: {{ status: {{ failed: 0 }} }}\n")),
    )?;
    let (days, _) = run(&rt, &qemu, &quiet, 1)?;
    if passed(&days) != days.len() {
        return Err(format!("a quiet day failed: {:?}", days[0].outcome).into());
    }
    rows.push((
        "a quiet simulated day (wait: 24h), 1 rig, median of 3".to_owned(),
        median(&days),
        Duration::from_secs(1),
    ));

    println!();
    println!("| figure | measured | target |");
    println!("|---|---|---|");
    for (what, got, target) in rows {
        let verdict = if got <= target { "met" } else { "NOT MET" };
        println!(
            "| {what} | {} | <= {} ({verdict}) |",
            show(got),
            show(target)
        );
    }
    Ok(())
}

fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn median(reports: &[CaseReport]) -> Duration {
    let mut v: Vec<Duration> = reports.iter().map(|r| r.wall).collect();
    v.sort();
    v[v.len() / 2]
}

fn passed(reports: &[CaseReport]) -> usize {
    reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed))
        .count()
}

/// A suite of `cases` (YAML list items) written to `dir`, planned.
fn suite(
    dir: &tempfile::TempDir,
    name: &str,
    cases: impl Iterator<Item = String>,
) -> Result<Vec<Planned>, Error> {
    let file = dir.path().join(format!("{name}.yaml"));
    let body: String = cases.collect();
    std::fs::write(&file, format!("name: {name}\ncases:\n{body}"))?;
    let suites = locker_hil::model::load_suites(&[file]).map_err(|e| e[0].to_string())?;
    Ok(runner::plan(&suites, |_, _| true))
}

/// Every bundled case, planned.
fn bundled() -> Result<Vec<Planned>, Error> {
    let files: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    let suites = locker_hil::model::load_suites(&files).map_err(|e| e[0].to_string())?;
    Ok(runner::plan(&suites, |_, _| true))
}

/// Run `plan` on `jobs` rigs of `desc`: the reports and the wall time.
fn run(
    rt: &tokio::runtime::Runtime,
    desc: &Arc<RigDescription>,
    plan: &[Planned],
    jobs: usize,
) -> Result<(Vec<CaseReport>, Duration), Error> {
    let t = Instant::now();
    let reports = rt
        .block_on(locker_hil::run::run_plan(
            plan.to_vec(),
            jobs,
            desc.clone(),
            |_| {},
            std::future::pending(),
        ))
        .ok_or("the run was stopped")?;
    Ok((reports, t.elapsed()))
}
