//! Performance of the harness and the sim rig, every figure in one run:
//!
//! ```text
//! cargo bench -p locker-hil --bench perf
//! ```
//!
//! - the bundled regression on the sim rig: wall time, cases/s, steps/s;
//! - harness time per step in-process (per case: wall / steps; median, p99);
//! - simulated time per wall second in an idle 24-hour soak;
//! - harness overhead per step: case wall time minus the time spent inside
//!   the rig (simulated controller and plant), over the case's steps;
//! - `--jobs` 1 .. 64 sim rigs on 20 copies of the regression (best of 3),
//!   each in a fresh process: throughput and that process's peak resident
//!   memory (`VmHWM`);
//! - one console command's round trip over the served rig's pseudo-terminal;
//! - `harness list` and `harness run` (the README's main command) from
//!   start to exit;
//! - peak memory over many simulated days: 20 one-year idle cases, a year
//!   of chamber cycles, a saturated console for an hour
//!   (`cargo bench -p locker-hil --bench perf -- memory` runs only this);
//! - how long a finished case waits to be in the JUnit file while the file
//!   grows to 400 MB (`cargo bench -p locker-hil --bench perf -- writer`
//!   runs only this).
//!
//! - on the qemu rig: boot to banner, and time per case over the cases that
//!   span under ten simulated minutes (`--bench qemu` runs every case).
//!
//! Results, with the machine, are kept in `benches/RESULTS.md` and the README.

mod common;

use common::{repo, stats};
use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::sim::SimRig;
use locker_hil::rigs::{FixtureAction, FlashReport, Rig, RigError, RigOutput};
use locker_hil::run::runner::{self, CaseReport, Planned};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn run(plan: Vec<Planned>, jobs: usize, desc: &Arc<RigDescription>) -> (Vec<CaseReport>, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.min(2))
        .enable_time()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let reports = rt
        .block_on(locker_hil::run::run_plan(
            plan,
            jobs,
            desc.clone(),
            |_| {},
            std::future::pending(),
        ))
        .unwrap_or_default();
    (reports, t.elapsed())
}

/// A rig that adds up the wall time spent inside it. One clock pair and
/// one relaxed atomic per call: the measurement must not be what it measures.
struct Timed {
    inner: SimRig,
    nanos: Arc<AtomicU64>,
}

impl Timed {
    async fn timed<T>(&mut self, f: impl AsyncFnOnce(&mut SimRig) -> T) -> T {
        let t = Instant::now();
        let r = f(&mut self.inner).await;
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
}

impl Rig for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn now(&self) -> Duration {
        self.inner.now()
    }
    fn true_unix_ms(&self) -> u64 {
        self.inner.true_unix_ms()
    }
    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        self.inner.flash().await
    }
    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        self.timed(async move |r| r.prepare(seed).await).await
    }
    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.timed(async move |r| r.send(bytes).await).await
    }
    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        self.timed(async move |r| r.recv(until).await).await
    }
    async fn act(&mut self, a: &FixtureAction) -> Result<(), RigError> {
        self.timed(async move |r| r.act(a).await).await
    }
    fn release(&mut self) {
        self.inner.release();
    }
}

/// The harness's own time per step: case wall time minus the time spent
/// inside the rig (the simulated controller and plant), over the steps.
fn harness_overhead(plan: &[Planned], desc: &Arc<RigDescription>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut samples = Vec::new();
    for _ in 0..20 {
        for (index, p) in plan.iter().enumerate() {
            let nanos = Arc::new(AtomicU64::new(0));
            let mut rig = Timed {
                inner: SimRig::new((**desc).clone()),
                nanos: nanos.clone(),
            };
            let r = rt.block_on(async {
                let flash = rig.flash().await.expect("sim flash");
                runner::run_case(&mut rig, desc, &flash, p, index).await
            });
            if r.steps_run > 0 {
                let in_rig = Duration::from_nanos(nanos.load(Ordering::Relaxed));
                let own = r.wall.saturating_sub(in_rig);
                samples.push(own.as_secs_f64() * 1e6 / r.steps_run as f64);
            }
        }
    }
    println!(
        "harness overhead per step in-process (case wall minus time inside the rig, / steps; {} case runs): median {:.1} µs, p99 {:.1} µs",
        samples.len(),
        pct(&mut samples, 0.5),
        pct(&mut samples, 0.99)
    );
}

/// First argument of the process that measures one `--jobs` figure.
const SCALING_CHILD: &str = "--scaling-child";

/// Peak resident memory of this process so far, KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One `--jobs` figure (best of three), printed as `cases wall_ms peak_kib`.
fn scaling_child(jobs: usize, plan: &[Planned], desc: &Arc<RigDescription>) {
    let big: Vec<Planned> = (0..20).flat_map(|_| plan.to_vec()).collect();
    let (r, w) = (0..3)
        .map(|_| run(big.clone(), jobs, desc))
        .min_by_key(|(_, w)| *w)
        .unwrap_or_default();
    println!(
        "{} {:.3} {}",
        r.len(),
        w.as_secs_f64() * 1e3,
        peak_rss_kib()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let files: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    let suites = locker_hil::model::load_suites(&files).map_err(|e| e[0].to_string())?;
    let desc = Arc::new(RigDescription::load(&repo().join("rigs/sim.yaml"))?);
    let plan = runner::plan(&suites, |_, _| true);
    if let [_, flag, jobs, ..] = &args[..]
        && flag == SCALING_CHILD
    {
        scaling_child(jobs.parse()?, &plan, &desc);
        return Ok(());
    }

    if let [_, flag, ..] = &args[..]
        && flag == CHATTER_CHILD
    {
        return chatter_child(&desc);
    }
    if args.iter().any(|a| a == "memory") {
        return memory();
    }
    if args.iter().any(|a| a == "writer") {
        let (reports, _) = run(plan.clone(), 1, &desc);
        return report_writer(&reports);
    }
    // Warm-up, then the regression itself (best of 5).
    let _ = run(plan.clone(), 1, &desc);
    let mut best: Option<(Vec<CaseReport>, Duration)> = None;
    for _ in 0..5 {
        let r = run(plan.clone(), 1, &desc);
        if best.as_ref().is_none_or(|b| r.1 < b.1) {
            best = Some(r);
        }
    }
    let (reports, wall) = best.ok_or("no run")?;
    let steps: u64 = reports.iter().map(|r| r.steps_run).sum();
    let passed = reports
        .iter()
        .filter(|r| matches!(r.outcome, runner::Outcome::Passed))
        .count();
    println!(
        "sim regression: {} cases ({passed} passed), {steps} steps in {:.1} ms: {:.0} cases/s, {:.0} steps/s",
        reports.len(),
        wall.as_secs_f64() * 1e3,
        reports.len() as f64 / wall.as_secs_f64(),
        steps as f64 / wall.as_secs_f64()
    );
    let mut per_step: Vec<f64> = reports
        .iter()
        .filter(|r| r.steps_run > 0)
        .map(|r| r.wall.as_secs_f64() * 1e6 / r.steps_run as f64)
        .collect();
    println!(
        "time per step, all in (case wall / its steps, over {} cases): median {:.1} µs, p99 {:.1} µs",
        per_step.len(),
        pct(&mut per_step, 0.5),
        pct(&mut per_step, 0.99)
    );
    harness_overhead(&plan, &desc);

    // An idle day with its periodic diagnostics.
    let dir = tempfile::tempdir()?;
    let soak = dir.path().join("soak.yaml");
    std::fs::write(
        &soak,
        "name: soak\ndescription: an idle day\ncases:\n  - name: 24 hours idle\n    steps:\n      - wait: 24h\n      - expect: { status: { failed: 0, locked-out: false } }\n",
    )?;
    let soak_suites = locker_hil::model::load_suites(&[soak]).map_err(|e| e[0].to_string())?;
    let mut soak_walls = Vec::new();
    for _ in 0..5 {
        let (r, w) = run(runner::plan(&soak_suites, |_, _| true), 1, &desc);
        if !matches!(r[0].outcome, runner::Outcome::Passed) {
            return Err(format!("soak: {:?}", r[0].outcome).into());
        }
        soak_walls.push(w.as_secs_f64());
    }
    let soak_ms = pct(&mut soak_walls, 0.5) * 1e3;
    println!(
        "24-hour idle soak: {soak_ms:.1} ms wall (median of 5): {:.0} simulated hours per wall second",
        24.0 / (soak_ms / 1e3)
    );

    // Scaling: 20 copies of the regression on 1 .. 64 rigs, each in a
    // process of its own so that its peak memory is its own.
    let mut one = 0.0;
    for jobs in [1usize, 2, 4, 8, 16, 32, 64] {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args([SCALING_CHILD, &jobs.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Vec<f64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [cases, wall_ms, peak_kib] = figures[..] else {
            return Err(format!(
                "--jobs {jobs}: the measuring process said {text:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        };
        let rate = cases / (wall_ms / 1e3);
        if jobs == 1 {
            one = rate;
        }
        println!(
            "--jobs {jobs:>2}: {cases} cases in {wall_ms:.0} ms, {rate:.0} cases/s ({:.2}x of 1 job), peak RSS {:.1} MiB",
            rate / one,
            peak_kib / 1024.0
        );
    }

    // One command over the served rig's pseudo-terminal.
    // The `harness` binary cargo built for this benchmark (bench profile:
    // optimised like a release build).
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_harness"));
    {
        pty_round_trip(&harness)?;
        let mut list = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let out = std::process::Command::new(&harness)
                .current_dir(repo())
                .arg("list")
                .output()?;
            if !out.status.success() {
                return Err("harness list failed".into());
            }
            list.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "harness list: median {:.1} ms, max {:.1} ms (n=20, start to exit)",
            pct(&mut list, 0.5),
            pct(&mut list, 1.0)
        );
        // The main command as a user types it: every bundled suite on the
        // sim rig, JUnit written.
        let out_dir = tempfile::tempdir()?;
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = std::process::Command::new(&harness)
                .current_dir(repo())
                .args(["run", "--quiet", "--junit"])
                .arg(out_dir.path().join("junit.xml"))
                .output()?;
            if !out.status.success() {
                return Err("harness run failed".into());
            }
            runs.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "harness run (all bundled suites on sim, JUnit written): median {:.0} ms, max {:.0} ms (n=5, start to exit)",
            pct(&mut runs, 0.5),
            pct(&mut runs, 1.0)
        );
    }
    report_writer(&reports)?;
    qemu_figures(&plan, &reports)?;
    Ok(())
}

/// Boot to banner and time per case on the qemu rig (the short cases;
/// `--bench qemu` runs every one). Skipped, saying so, without QEMU.
fn qemu_figures(
    sim_plan: &[Planned],
    sim_reports: &[CaseReport],
) -> Result<(), Box<dyn std::error::Error>> {
    let desc = RigDescription::load(&repo().join("rigs/qemu.yaml"))?;
    let locker_hil::model::rigfile::RigKind::Qemu { qemu, .. } = &desc.kind else {
        return Err("rigs/qemu.yaml is not a qemu rig".into());
    };
    if std::process::Command::new(&qemu.executable)
        .arg("--version")
        .output()
        .is_err()
    {
        println!(
            "qemu rig: skipped, `{}` is not installed (.ci/run installs it)",
            qemu.executable
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let (_, boots) = common::boot_to_banner(&rt, &desc, 10)?;
    println!("qemu rig, boot to banner: {}", stats(boots));
    // The cases that span under ten simulated minutes (from the sim's run):
    // the multi-day ones take minutes on QEMU, and `--bench qemu` has them.
    let short: std::collections::HashSet<String> = sim_reports
        .iter()
        .filter(|r| r.rig_time < Duration::from_secs(600))
        .map(|r| format!("{}::{}", r.suite, r.name))
        .collect();
    let plan: Vec<Planned> = sim_plan
        .iter()
        .filter(|p| short.contains(&p.id()))
        .cloned()
        .collect();
    let t = Instant::now();
    let reports = rt
        .block_on(locker_hil::run::run_plan(
            plan,
            2,
            Arc::new(desc),
            |_| {},
            std::future::pending(),
        ))
        .ok_or("the run was stopped")?;
    let passed = reports
        .iter()
        .filter(|r| matches!(r.outcome, runner::Outcome::Passed))
        .count();
    println!(
        "qemu rig, the {} cases under 10 simulated minutes on 2 rigs: {passed} passed in {:.1} s; per case {}",
        reports.len(),
        t.elapsed().as_secs_f64(),
        stats(reports.iter().map(|r| r.wall).collect())
    );
    Ok(())
}

/// How long a finished case waits to be in the JUnit file while the file
/// grows: 400 cases of about 1 MB of transcript each (400 MB in all),
/// First argument of the process that measures a chattering console.
const CHATTER_CHILD: &str = "--chatter-child";

/// One case on a sim whose console is saturated (about 115200 baud) for a
/// simulated hour, in this process: lines, wall time, peak memory.
fn chatter_child(desc: &Arc<RigDescription>) -> Result<(), Box<dyn std::error::Error>> {
    use locker_hil::rigs::faults::{Fault, Faulty};
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("chatter.yaml");
    std::fs::write(
        &file,
        "name: chatter\ncases:\n  - name: an hour\n    steps:\n      - wait: 1h\n",
    )?;
    let suites = locker_hil::model::load_suites(&[file]).map_err(|e| e[0].to_string())?;
    let mut plan = runner::plan(&suites, |_, _| true);
    plan[0].transcripts = Some(dir.path().join("junit.transcripts"));
    let t = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let d = desc.clone();
    let reports = rt.block_on(runner::run(
        plan,
        1,
        desc.clone(),
        move |_| Ok(Faulty::new(SimRig::new((*d).clone()), Fault::Chatter, 0)),
        |_| {},
    ));
    let file = reports[0]
        .transcript
        .file
        .as_ref()
        .ok_or("no transcript file")?;
    println!(
        "{} {:.3} {} {}",
        reports[0].transcript.total(),
        t.elapsed().as_secs_f64(),
        peak_rss_kib(),
        std::fs::metadata(file)?.len()
    );
    Ok(())
}

/// Peak memory of a run over many simulated days: the README's `harness
/// run` on 20 one-year idle cases, and on a year of chamber cycling, each
/// in a process of its own (`wait4`'s peak resident set), and a saturated
/// console for a simulated hour.
fn memory() -> Result<(), Box<dyn std::error::Error>> {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_harness"));
    let dir = tempfile::tempdir()?;
    let years: String = (0..20)
        .map(|i| format!("  - name: year {i}\n    steps:\n      - wait: 365d\n"))
        .collect();
    let cycling = "  - name: a year of chamber cycles\n    steps:\n      - repeat:\n          times: 365\n          steps:\n            - chamber: { set: 35C }\n            - wait: 12h\n            - chamber: { set: -15C }\n            - wait: 12h\n";
    for (what, cases, days) in [
        ("20 one-year idle cases", years, 20 * 365),
        ("one year of daily chamber cycles", cycling.to_owned(), 365),
    ] {
        let suite = dir.path().join("memory.yaml");
        std::fs::write(&suite, format!("name: memory\ncases:\n{cases}"))?;
        let t = Instant::now();
        let child = std::process::Command::new(&harness)
            .current_dir(repo())
            .arg("run")
            .arg(&suite)
            .arg("--junit")
            .arg(dir.path().join("junit.xml"))
            .arg("--html")
            .arg(dir.path().join("index.html"))
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let (status, peak_kib) = wait_peak(child)?;
        let wall = t.elapsed();
        if status != 0 {
            return Err(format!("{what}: harness exited {status}").into());
        }
        let spilled: u64 = std::fs::read_dir(dir.path().join("junit.transcripts"))?
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        println!(
            "memory, {what} ({days} simulated days): peak {:.1} MiB, {:.1} s; transcripts on disk {:.1} MiB, JUnit {:.1} MiB",
            peak_kib as f64 / 1024.0,
            wall.as_secs_f64(),
            spilled as f64 / (1 << 20) as f64,
            std::fs::metadata(dir.path().join("junit.xml"))?.len() as f64 / (1 << 20) as f64,
        );
    }
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg(CHATTER_CHILD)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if let [lines, secs, kib, bytes] = f[..] {
        println!(
            "memory, saturated console for a simulated hour: {lines:.0} lines ({:.1} MiB) in {secs:.1} s, peak {:.1} MiB",
            bytes / (1 << 20) as f64,
            kib / 1024.0
        );
    } else {
        return Err(format!("chatter child: {text}").into());
    }
    Ok(())
}

/// Wait for `child`; its exit code and peak resident memory in KiB.
#[allow(unsafe_code)]
fn wait_peak(child: std::process::Child) -> Result<(i32, u64), Box<dyn std::error::Error>> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data that `wait4` fills in; `pid` is our
    // own child, not yet waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(std::io::Error::last_os_error().into());
    }
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss as u64))
}

/// handed to the writer as fast as it takes them, then at a bench's pace.
fn report_writer(reports: &[CaseReport]) -> Result<(), Box<dyn std::error::Error>> {
    use locker_hil::report::writer::Writer;
    let dir = tempfile::tempdir()?;
    let big: Vec<CaseReport> = (0..400)
        .map(|i| {
            let mut r = reports[i % reports.len()].clone();
            r.index = i;
            let lines = r.transcript.lines.clone();
            while (r.transcript.lines.iter())
                .map(|t| t.text.len() + 16)
                .sum::<usize>()
                < 1 << 20
            {
                r.transcript.lines.extend(lines.iter().cloned());
            }
            r
        })
        .collect();
    for (what, gap) in [
        ("burst", Duration::ZERO),
        ("one per 50 ms", Duration::from_millis(50)),
    ] {
        let w = Writer::spawn(dir.path().join("junit.xml"))?;
        let t = Instant::now();
        for r in &big {
            w.add(r.clone());
            std::thread::sleep(gap);
        }
        let done = w.finish();
        let size = std::fs::metadata(dir.path().join("junit.xml"))?.len();
        println!(
            "report writer, 400 cases of 1 MB ({what}): slowest case in the journal after {:.0} ms, {} rewrites of the JUnit file, file {} MB, {:.1} s in all",
            done.slowest.as_secs_f64() * 1e3,
            done.rewrites,
            size >> 20,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(all(unix, feature = "serial"))]
fn pty_round_trip(harness: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use locker_proto::{Command, MAX_LINE, encode_frame};
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(harness)
        .current_dir(repo())
        .args(["rig", "serve", "--rig", "rigs/sim.yaml", "--pty"])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let console = lines
        .next()
        .ok_or("no console line")??
        .trim_start_matches("console:")
        .trim()
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    let mut port = serialport::new(&console, 115_200)
        .timeout(Duration::from_millis(500))
        .open()?;
    // Let the controller boot and finish its self-test.
    std::thread::sleep(Duration::from_millis(3500));
    let _ = port.clear(serialport::ClearBuffer::Input);
    let mut rtts = Vec::new();
    let mut buf = [0u8; 4096];
    let mut pending = Vec::new();
    for seq in 0..2000u16 {
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(seq, &Command::Ping, &mut line).map_err(|_| "encode")?;
        let want = format!(" RE {seq} OK*");
        let t = Instant::now();
        port.write_all(line.as_bytes())?;
        loop {
            if let Some(i) = pending
                .windows(want.len())
                .position(|w| w == want.as_bytes())
            {
                pending.drain(..i + want.len());
                break;
            }
            let n = port.read(&mut buf)?;
            pending.extend_from_slice(&buf[..n]);
        }
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "PING round trip over the served rig's pty: median {:.0} µs, p99 {:.0} µs (n={})",
        pct(&mut rtts, 0.5),
        pct(&mut rtts, 0.99),
        rtts.len()
    );
    Ok(())
}

#[cfg(not(all(unix, feature = "serial")))]
fn pty_round_trip(_: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("(pseudo-terminal round trip needs unix and the `serial` feature)");
    Ok(())
}
