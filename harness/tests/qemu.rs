//! The qemu rig: the reference firmware image, built for `mps2-an386` and run
//! in QEMU, passes every bundled suite with the very trace the sim rig
//! produces; the build id in the reports is the one in the ELF; no emulator
//! is left behind, not even after Ctrl-C.
//!
//! Needs `qemu-system-arm` and the thumb target (`.ci/run` installs both).
//! Outside CI a missing QEMU skips these tests with one line; in CI it fails.

// Helpers here are test code too; a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::image::image_id;
use locker_hil::rigs::qemu::QemuRig;
use locker_hil::run::runner::{self, CaseReport, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests here watch the process table; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Serialise the tests that watch the process table; `None` when QEMU is missing.
fn qemu_test() -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::qemu_available().then_some(guard)
}

fn assert_no_emulators(pid: u32, what: &str) {
    let left = emulators_of(pid);
    assert!(left.is_empty(), "{what}:\n{}", left.join("\n"));
}

/// Emulators whose sockets live under this harness process's temp dirs.
fn emulators_of(pid: u32) -> Vec<String> {
    let tag = format!("locker-hil-{pid}-");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("qemu-system-arm") && cmd.contains(&tag) {
            found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    found
}

fn run_all(rig: &str, jobs: usize) -> (Vec<CaseReport>, Arc<RigDescription>) {
    let files: Vec<PathBuf> = std::fs::read_dir(repo().join("suites"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    let suites = locker_hil::model::load_suites(&files).unwrap_or_else(|e| panic!("{}", e[0]));
    let desc = Arc::new(RigDescription::load(&repo().join(rig)).unwrap_or_else(|e| panic!("{e}")));
    let plan = runner::plan(&suites, |_, _| true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs)
        .enable_time()
        .build()
        .unwrap();
    let reports = rt
        .block_on(locker_hil::run::run_plan(
            plan,
            jobs,
            desc.clone(),
            |_| {},
            std::future::pending(),
        ))
        .unwrap();
    (reports, desc)
}

#[test]
fn bundled_suites_pass_on_qemu_with_the_sim_traces() {
    let Some(_one) = qemu_test() else { return };
    let (qemu, _) = run_all("rigs/qemu.yaml", 2);
    let (sim, _) = run_all("rigs/sim.yaml", 1);
    assert_eq!(qemu.len(), sim.len());

    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for (q, s) in qemu.iter().zip(&sim) {
        assert_eq!((&q.suite, &q.name), (&s.suite, &s.name));
        match &q.outcome {
            Outcome::Passed => {}
            Outcome::Skipped { reason } => {
                skipped.push(format!("{}::{}: {reason}", q.suite, q.name))
            }
            other => problems.push(format!("{}::{}: {other:?}", q.suite, q.name)),
        }
        // Same plant, same firmware logic, harness-driven time: the same
        // story, instant for instant. Only the board's name differs.
        let q_trace = q
            .trace
            .lines()
            .join("\n")
            .replace("board mps2-an386", "board sim");
        let s_trace = s.trace.lines();
        if matches!(q.outcome, Outcome::Passed) && q_trace != s_trace.join("\n") {
            let first = q_trace
                .lines()
                .zip(s_trace.iter())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("qemu: {a}\n  sim: {b}"))
                .unwrap_or_else(|| "traces differ in length".into());
            problems.push(format!(
                "{}::{}: trace differs from sim\n  {first}",
                q.suite, q.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(
        skipped.len() <= 3,
        "too many cases skipped on qemu:\n{}",
        skipped.join("\n")
    );

    // The reports carry the build id of the ELF that was loaded.
    let elf = repo()
        .join("firmware/boards/qemu-mps2-an386/target/thumbv7em-none-eabihf/release/locker-qemu");
    let id = image_id(&std::fs::read(&elf).unwrap()).expect("the image carries its identity");
    assert_eq!(id.board, "mps2-an386");
    assert!(
        qemu.iter()
            .all(|r| r.build.as_deref() == Some(id.build.as_str()))
    );

    assert_no_emulators(std::process::id(), "emulators left running");
}

/// Issue 16: the image built with its plain-text console, read through the
/// bundled dialect, gives every bundled case the verdict the framed
/// protocol gives it.
#[test]
fn bundled_suites_have_their_verdicts_on_qemu_through_the_plain_text_dialect() {
    let Some(_one) = qemu_test() else { return };
    let (plain, desc) = run_all("rigs/qemu-plain.yaml", 2);
    let (framed, _) = run_all("rigs/sim.yaml", 1);
    assert_eq!(plain.len(), framed.len());
    let verdict = |o: &Outcome| match o {
        Outcome::Passed => "passed",
        Outcome::Failed { .. } => "failed",
        Outcome::Error { .. } => "error",
        Outcome::Skipped { .. } => "skipped",
    };
    let differ: Vec<String> = (plain.iter().zip(&framed))
        .filter(|(p, f)| verdict(&p.outcome) != verdict(&f.outcome))
        .map(|(p, f)| {
            format!(
                "{}::{}: plain {:?}, framed {:?}",
                p.suite, p.name, p.outcome, f.outcome
            )
        })
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n\n"));
    // Another build than the framed image, and a console of vendor logs.
    let elf = locker_hil::rigs::image::built_path(&desc.firmware, &desc.features).unwrap();
    let id = image_id(&std::fs::read(&elf).unwrap()).expect("the image carries its identity");
    assert!(
        plain
            .iter()
            .all(|r| r.build.as_deref() == Some(id.build.as_str()))
    );
    let framed_elf = locker_hil::rigs::image::built_path(&desc.firmware, &[]).unwrap();
    if let Some(other) = std::fs::read(&framed_elf).ok().and_then(|b| image_id(&b)) {
        assert_ne!(
            other.build, id.build,
            "the plain image has its own build id"
        );
    }
    let t = &plain[0].transcript.lines;
    assert!(
        t.iter()
            .any(|l| l.text.starts_with("I (") && l.text.contains("boot: Locker controller"))
    );
    assert_no_emulators(std::process::id(), "emulators left running");
}

#[test]
fn an_image_whose_banner_disagrees_with_its_identity_is_refused() {
    let Some(_one) = qemu_test() else { return };
    // Build (or reuse) the real image through a normal flash first.
    let desc = RigDescription::load(&repo().join("rigs/qemu.yaml")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut rig = QemuRig::new(desc.clone()).unwrap();
    let flash = rt.block_on(locker_hil::rigs::Rig::flash(&mut rig)).unwrap();

    // A copy whose stamped identity names another build than the code inside.
    let dir = tempfile::tempdir().unwrap();
    let mut elf = std::fs::read(&flash.image).unwrap();
    let marker = b"LOCKER-IMAGE build=";
    let at = elf.windows(marker.len()).position(|w| w == marker).unwrap() + marker.len();
    elf[at] = if elf[at] == b'X' { b'Y' } else { b'X' };
    let forged = dir.path().join("forged.elf");
    std::fs::write(&forged, &elf).unwrap();
    let mut desc = desc;
    desc.firmware = forged;

    let plan_suites =
        locker_hil::model::load_suites(&[repo().join("suites/code-entry.yaml")]).unwrap();
    let plan: Vec<_> = runner::plan(&plan_suites, |_, c| {
        c.name == "valid code opens its compartment"
    });
    assert_eq!(plan.len(), 1);
    let desc = Arc::new(desc);
    let d = desc.clone();
    let reports = rt.block_on(runner::run(
        plan,
        1,
        desc,
        move |j| QemuRig::for_worker((*d).clone(), j),
        |_| {},
    ));
    match &reports[0].outcome {
        Outcome::Error { message, .. } => {
            assert!(message.contains("announced build"), "{message}");
        }
        other => panic!("a forged image must be a rig error, got {other:?}"),
    }
    assert_no_emulators(std::process::id(), "emulators left running");
}

/// `harness run` on the qemu rig in a child process, once its emulators run.
fn harness_with_emulators(junit: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args([
            "run",
            "--rig",
            "rigs/qemu.yaml",
            "--jobs",
            "2",
            "--quiet",
            "--junit",
        ])
        .arg(junit)
        .spawn()
        .unwrap();
    // The first run may build the image first.
    let deadline = Instant::now() + Duration::from_secs(300);
    while emulators_of(child.id()).is_empty() {
        assert!(Instant::now() < deadline, "no emulator ever started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Ctrl-C, a CI job's timeout (SIGTERM) and a closed terminal (SIGHUP)
/// stop a run alike: exit 128 + the signal, no emulator and no socket
/// folder left, every planned case in the report, the cases that were
/// running as errors, so a JUnit consumer sees a red run (issue 14: SIGTERM
/// and SIGHUP killed the harness with nothing written, and an interrupted
/// run read as green with skips).
#[rstest::rstest]
#[case::ctrl_c("INT", 130, "SIGINT (Ctrl-C)")]
#[case::ci_timeout("TERM", 143, "SIGTERM")]
#[case::terminal_closed("HUP", 129, "SIGHUP")]
fn a_stopping_signal_ends_the_run_red_with_every_case_and_no_emulator(
    #[case] signal: &str,
    #[case] exit: i32,
    #[case] named: &str,
) {
    let Some(_one) = qemu_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut child = harness_with_emulators(&junit);
    let pid = child.id();
    wait_for_finished_cases(&junit, 2);
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "the harness did not stop after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(exit), "SIG{signal} exits {exit}");
    assert_no_emulators(pid, "emulators outlived the harness");
    let tag = format!("locker-hil-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&tag))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "socket folders left behind: {left:?}");
    let report = read_report(&junit).expect("the report parses");
    let cases: Vec<_> = run_cases(&report).collect();
    assert_eq!(cases.len(), 124, "every planned case is in the report");
    let status = |c: &&quick_junit::TestCase| format!("{:?}", c.status);
    let cut = cases
        .iter()
        .filter(|c| status(c).contains(&format!("stopped by {named} while this case ran")))
        .count();
    let never = cases
        .iter()
        .filter(|c| status(c).contains(&format!("stopped by {named} before this case started")))
        .count();
    // Two rigs: at most two cases were running (none, if the signal came
    // as both were between cases).
    assert!(cut <= 2, "{cut} cases were running on 2 rigs");
    assert!(
        never >= 1 && cut + never <= 122,
        "{cut} cut, {never} never started"
    );
    assert!(
        report.test_suites.iter().all(|s| (s.properties.iter())
            .any(|p| p.name.as_str() == "run.state"
                && p.value.as_str() == format!("interrupted by {named}"))),
        "every suite says the run was interrupted"
    );
    assert_eq!(
        errors(&report),
        cut + 1,
        "the running cases and the run (`run interrupted`) are errors"
    );
}

/// Every case a run planned: all test suites but the one that says whether
/// the run finished.
fn run_cases(report: &quick_junit::Report) -> impl Iterator<Item = &quick_junit::TestCase> {
    (report.test_suites.iter())
        .filter(|s| s.name.as_str() != locker_hil::report::RUN_SUITE)
        .flat_map(|s| &s.test_cases)
}

/// Errors, counted as a JUnit consumer counts them.
fn errors(report: &quick_junit::Report) -> usize {
    (report.test_suites.iter())
        .flat_map(|s| &s.test_cases)
        .filter(|c| {
            matches!(
                c.status,
                quick_junit::TestCaseStatus::NonSuccess {
                    kind: quick_junit::NonSuccessKind::Error,
                    ..
                }
            )
        })
        .count()
}

/// The run's JUnit report, if it is there and parses.
fn read_report(junit: &Path) -> Option<quick_junit::Report> {
    let xml = std::fs::read_to_string(junit).ok()?;
    quick_junit::Report::deserialize_from_str(&xml).ok()
}

/// Wait until the run's report holds at least `n` cases; returns how many.
fn wait_for_finished_cases(junit: &Path, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let count = read_report(junit).map_or(0, |r| run_cases(&r).count());
        if count >= n {
            return count;
        }
        assert!(Instant::now() < deadline, "no case finished");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_harness_takes_its_emulators_with_it() {
    let Some(_one) = qemu_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut child = harness_with_emulators(&junit);
    let pid = child.id();
    let finished = wait_for_finished_cases(&junit, 2);
    // SIGKILL: no handler runs; the kernel's parent-death signal must do it.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !emulators_of(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "emulators outlived a killed harness:\n{}",
            emulators_of(pid).join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Rewritten atomically after each case: the report a killed run leaves
    // parses and holds every case finished before the kill.
    let report = read_report(&junit).expect("a killed run leaves a report that parses");
    let cases = run_cases(&report).count();
    assert!(
        cases >= finished,
        "{cases} in the report, {finished} seen finished"
    );
    // Issue 14: nothing said the run had not finished. Every write but the
    // last carries an error case, so a killed run is red in CI.
    assert!(
        (report.test_suites.iter())
            .flat_map(|s| &s.test_cases)
            .any(|c| c.name.as_str() == "run incomplete"),
        "a killed run's report says it is incomplete"
    );
    assert!(errors(&report) >= 1);
    // Issue 14: cases printed PASS that the file did not hold. Every case
    // finished before the kill is in the journal, and comes back.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["report", "recover"])
        .arg(&junit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recovered = read_report(&junit).expect("the recovered report parses");
    assert!(
        run_cases(&recovered).count() >= cases,
        "{} recovered, {cases} were in the report",
        run_cases(&recovered).count()
    );
}

#[test]
fn an_emulator_that_dies_mid_case_is_a_rig_error_and_the_run_goes_on() {
    let Some(_one) = qemu_test() else { return };
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("soak.yaml");
    std::fs::write(
        &suite,
        "name: soak\ndescription: a quiet month, a quiet day\ncases:\n  - name: a month\n    steps:\n      - wait: 30d\n  - name: a day\n    steps:\n      - wait: 1d\n",
    )
    .unwrap();
    let suites = locker_hil::model::load_suites(&[suite]).unwrap();
    let plan = runner::plan(&suites, |_, _| true);
    let desc = Arc::new(RigDescription::load(&repo().join("rigs/qemu.yaml")).unwrap());
    let d = desc.clone();
    let run = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(runner::run(
            plan,
            1,
            desc,
            move |j| QemuRig::for_worker((*d).clone(), j),
            |_| {},
        ))
    });
    // Kill the first case's emulator once it is running.
    let deadline = Instant::now() + Duration::from_secs(300);
    let victim = loop {
        if let Some(p) = emulators_of(std::process::id()).first() {
            break p.split(':').next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no emulator ever started");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-9", &victim])
            .status()
            .unwrap()
            .success()
    );

    let reports = run.join().expect("the run itself never panics");
    match &reports[0].outcome {
        Outcome::Error { message, .. } => assert!(message.contains("plant link"), "{message}"),
        other => panic!("a dead emulator is a rig error, got {other:?}"),
    }
    assert!(
        matches!(reports[1].outcome, Outcome::Passed),
        "the next case gets a fresh emulator: {:?}",
        reports[1].outcome
    );
    assert_no_emulators(std::process::id(), "emulators left running");
}

/// Power on the rig for a case and wait for the firmware's banner.
fn boot_to_banner(rt: &tokio::runtime::Runtime, rig: &mut QemuRig, seed: u64) {
    use locker_hil::rigs::{Rig, RigOutput};
    rt.block_on(async {
        rig.prepare(seed).await?;
        loop {
            if let RigOutput::Console(bytes) = rig.recv(Duration::from_secs(1)).await?
                && bytes.windows(5).any(|w| w == b"HELLO")
            {
                return Ok::<_, locker_hil::rigs::RigError>(());
            }
        }
    })
    .unwrap_or_else(|e| panic!("case {seed}: {e}"));
}

fn pids_of(pid: u32) -> Vec<String> {
    emulators_of(pid)
        .iter()
        .map(|e| e.split(':').next().unwrap().to_owned())
        .collect()
}

/// Issue 21: an emulator outlives its case and is reset in place for the
/// next; one that died or hangs between cases is replaced, and the case
/// still boots; none outlives the rig.
#[test]
fn a_warm_emulator_serves_case_after_case_and_a_broken_one_is_replaced() {
    let Some(_one) = qemu_test() else { return };
    let me = std::process::id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let desc = RigDescription::load(&repo().join("rigs/qemu.yaml")).unwrap();
    let mut rig = QemuRig::for_worker(desc, 0).unwrap();
    rt.block_on(locker_hil::rigs::Rig::flash(&mut rig)).unwrap();

    boot_to_banner(&rt, &mut rig, 1);
    let first = pids_of(me);
    assert_eq!(first.len(), 1, "one emulator for one rig: {first:?}");
    for seed in 2..5 {
        locker_hil::rigs::Rig::release(&mut rig);
        boot_to_banner(&rt, &mut rig, seed);
        assert_eq!(pids_of(me), first, "case {seed} reuses the emulator");
    }

    // Dead between cases: the next power-on starts another.
    locker_hil::rigs::Rig::release(&mut rig);
    let kill = |sig: &str, pid: &str| {
        assert!(
            Command::new("kill")
                .args([sig, pid])
                .status()
                .unwrap()
                .success()
        )
    };
    kill("-KILL", &first[0]);
    boot_to_banner(&rt, &mut rig, 5);
    let second = pids_of(me);
    assert!(
        second.len() == 1 && second != first,
        "{first:?} then {second:?}"
    );

    // Hung between cases (stopped): its reset times out, it is killed and
    // replaced.
    locker_hil::rigs::Rig::release(&mut rig);
    kill("-STOP", &second[0]);
    boot_to_banner(&rt, &mut rig, 6);
    let third = pids_of(me);
    assert!(
        third.len() == 1 && third != second,
        "{second:?} then {third:?}"
    );

    drop(rig);
    assert_no_emulators(me, "emulators outlived their rig");
}
