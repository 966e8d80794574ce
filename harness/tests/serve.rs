//! `harness rig serve --pty`: the sim rig as serial devices. A real bundled
//! case runs against it through the harness's own bench path (console port,
//! fixture-board driver, pseudo-terminals), as it would against hardware.
#![cfg(all(unix, feature = "serial"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use locker_hil::run::runner::{self, Outcome};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A served sim rig, stopped when dropped, and a bench rig file for it.
struct Served {
    child: std::process::Child,
    rig: PathBuf,
    chamber: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `harness rig serve --pty` of `rig`, and the devices it serves on:
/// console, board, chamber, supply.
fn spawn(rig: &str) -> (std::process::Child, [String; 4]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "serve", "--rig", rig, "--pty"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let devices = ["console:", "board:", "chamber:", "supply:"].map(|prefix| {
        let l = lines.next().unwrap().unwrap();
        l.strip_prefix(prefix).unwrap().trim().to_owned()
    });
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, devices)
}

/// Each served rig is its own bench, with a probe selector (and so a lock) of its own.
fn serve(name: &str) -> Served {
    let (child, [console, board, chamber, supply]) = spawn("rigs/sim.yaml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("image.elf"),
        format!("LOCKER-IMAGE build={} board=sim\0", locker_core::BUILD_ID),
    )
    .unwrap();
    let rig = dir.path().join("served.yaml");
    let fixtures = format!(
        "  board: {{ driver: fixture-board, port: {board} }}\n  chamber: {{ driver: scpi, port: {chamber}, limits: {{ min: -40C, max: 85C }} }}\n  supply: {{ driver: scpi, port: {supply}, limits: {{ max: 15V }} }}\n"
    );
    std::fs::write(&rig, common::bench_rig(name, &console, &fixtures)).unwrap();
    Served {
        child,
        rig,
        chamber,
        _dir: dir,
    }
}

fn run_bundled(served: &Served, suite: &str, case: &str) {
    let suites = locker_hil::model::load_suites(&[repo().join("suites").join(suite)]).unwrap();
    let plan: Vec<_> = runner::plan(&suites, |_, c| c.name == case);
    assert_eq!(plan.len(), 1, "{case}");
    let reports = common::run_preloaded(&served.rig, plan);
    let r = &reports[0];
    assert!(
        matches!(r.outcome, Outcome::Passed),
        "{:?}\n{}",
        r.outcome,
        r.trace.lines().join("\n")
    );
}

#[test]
fn a_bundled_case_passes_against_the_served_sim_over_ptys() {
    run_bundled(
        &serve("served-code"),
        "code-entry.yaml",
        "valid code opens its compartment",
    );
}

#[test]
fn a_brownout_through_the_served_supply_resets_the_controller() {
    run_bundled(
        &serve("served-power"),
        "power.yaml",
        "brownout resets the controller and keeps its parcels",
    );
}

#[test]
fn the_served_rig_passes_its_preflight_and_its_chamber_moves_the_air() {
    let served = serve("served-check");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["rig", "check", "--rig"])
        .arg(&served.rig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["console", "controller", "chamber", "supply", "board"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(part))
            .unwrap_or("");
        assert!(line.contains(" ok "), "{part}: {text}");
    }
    assert!(
        text.contains("SIM-CHAMBER") && text.contains("SIM-SUPPLY"),
        "{text}"
    );

    // The harness's own chamber driver, against the served plant's air.
    let desc = locker_hil::model::rigfile::RigDescription::load(&served.rig).unwrap();
    let locker_hil::model::rigfile::RigKind::Bench(bench) = &desc.kind else {
        panic!("not a bench rig");
    };
    let instrument = bench.chamber.as_ref().unwrap();
    assert!(instrument.port.to_string().starts_with(&served.chamber));
    let (mut chamber, _) = locker_hil::rigs::bench::fixtures::scpi::Chamber::open(
        instrument,
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    chamber.set(-20.0, None).unwrap();
    assert_eq!(chamber.read().unwrap(), -20.0);
    let refused = chamber.set(-60.0, None).unwrap_err();
    assert!(refused.contains("limits"), "{refused}");
}

/// A bench rig file for a controller that prints plain-text logs, its
/// console and board at these devices, with `controller` lines of its own
/// (flash, issuer, identity), in `dir`.
fn plain_bench(dir: &std::path::Path, console: &str, board: &str, controller: &str) -> PathBuf {
    let rig = dir.join("plain-bench.yaml");
    let dialect = repo().join("dialects/locker-plain.yaml");
    std::fs::write(
        &rig,
        format!(
            "name: plain-bench\ncontroller:\n  firmware: image.elf\n{controller}  dialect: {}\n  console: {{ port: {console}, baud: 115200 }}\n  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments:\n    - {{ name: S1, size: S }}\n    - {{ name: S2, size: S }}\n    - {{ name: M1, size: M }}\n    - {{ name: M2, size: M }}\n    - {{ name: L1, size: L }}\nfixtures:\n  board: {{ driver: fixture-board, port: {board} }}\n",
            dialect.display()
        ),
    )
    .unwrap();
    rig
}

/// An executable shell script `name` in `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let mut mode = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(&path, mode).unwrap();
}

/// `harness run` of one bundled case (`valid code opens`) on `rig`.
fn run_one(rig: &std::path::Path) -> (Option<i32>, String, String) {
    harness(&[
        "run".as_ref(),
        "suites/code-entry.yaml".as_ref(),
        "--filter".as_ref(),
        "name:\"valid code opens\"".as_ref(),
        "--rig".as_ref(),
        rig.as_os_str(),
    ])
}

/// `harness` with `args`, from the repository: exit code, stdout, stderr.
fn harness(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 16, from the command line: the lab's own flashing tool (a
/// command with `{elf}`, and a verify command), an image without a
/// `LOCKER-IMAGE` identity checked by a version pattern against what the
/// controller's banner says, a plain-text console through the bundled
/// dialect and a command issuer: a bundled suite runs end to end against
/// `harness rig serve --pty`, and the tool's output is in the transcript.
#[test]
fn a_bench_flashed_by_the_labs_command_with_its_own_issuer_runs_a_suite() {
    let (mut child, [console, board, _, _]) = spawn("rigs/sim-plain.yaml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("image.elf"), b"\x7fELF their own image").unwrap();
    script(
        dir.path(),
        "flash.sh",
        "echo \"writing $1\"; cp \"$1\" flashed.bin; echo 'wrote 21 bytes' >&2",
    );
    script(
        dir.path(),
        "verify.sh",
        "cmp \"$1\" flashed.bin && echo verified",
    );
    let issuer = format!(
        "  issuer: {{ command: [\"{}\", rig, issue-code, --rig, \"{}\"], timeout: 10s }}\n",
        env!("CARGO_BIN_EXE_harness"),
        repo().join("rigs/sim-plain.yaml").display()
    );
    let controller = format!(
        "  flash: {{ command: [./flash.sh, \"{{elf}}\"], verify: [./verify.sh, \"{{elf}}\"], timeout: 10s }}\n  expect-build: {{ matches: '^locker-core-\\d+\\.\\d+\\.\\d+$' }}\n{issuer}"
    );
    let rig = plain_bench(dir.path(), &console, &board, &controller);
    let junit = dir.path().join("junit.xml");
    let (code, stdout, stderr) = harness(&[
        "run".as_ref(),
        "suites/code-entry.yaml".as_ref(),
        "--filter".as_ref(),
        "name:\"valid code opens\" | name:\"wrong code\"".as_ref(),
        "--rig".as_ref(),
        rig.as_os_str(),
        "--junit".as_ref(),
        junit.as_os_str(),
        "--html".as_ref(),
        dir.path().join("index.html").as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 cases: 2 passed"), "{stdout}");
    assert!(
        stdout.contains("Not checked on this rig:\n  lost console lines cannot be detected"),
        "{stdout}"
    );
    assert!(
        std::fs::read(dir.path().join("flashed.bin"))
            .unwrap()
            .starts_with(b"\x7fELF")
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let elf = dir.path().join("image.elf");
    assert!(
        xml.contains(&format!("flash| $ ./flash.sh {}", elf.display())),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("flash| writing {}", elf.display())),
        "{xml}"
    );
    assert!(xml.contains("flash| wrote 21 bytes"), "stderr too: {xml}");
    assert!(xml.contains("flash| verified"), "{xml}");
    assert_eq!(
        xml.matches("flash| $ ./flash.sh").count(),
        1,
        "told once: {xml}"
    );
    assert!(
        xml.contains("the flash command&apos;s output is in the transcript of")
            || xml.contains("the flash command's output is in the transcript of"),
        "{xml}"
    );
    // The build the banner said, matched by the pattern: verified, no caveat.
    assert!(
        xml.contains(&format!(
            "name=\"firmware.build\" value=\"{}\"",
            locker_core::BUILD_ID
        )),
        "{xml}"
    );
    assert!(!xml.contains("caveat.build"), "{xml}");
    assert!(xml.contains("name=\"caveat.loss\""), "{xml}");
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(
        html.contains("Not checked on this rig:"),
        "the HTML says so too"
    );

    // `harness flash` runs the same tool.
    let (code, stdout, stderr) = harness(&["flash".as_ref(), "--rig".as_ref(), rig.as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("flash command `./flash.sh`"), "{stdout}");
    assert!(
        stdout.contains("plain-bench: wrote and verified"),
        "{stdout}"
    );

    // A build the pattern does not match is a rig error before any step
    // (the served bench brought to rest first, though its last case left a
    // parcel behind a locked door: issue 16 found that refused).
    let wrong = controller.replace("^locker-core-", "^acme-");
    let rig = plain_bench(dir.path(), &console, &board, &wrong);
    let (code, stdout, _) = run_one(&rig);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, Some(3), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "controller announced build `{}`, but the rig expects a build matching `^acme-",
            locker_core::BUILD_ID
        )),
        "{stdout}"
    );
}

/// A flashing tool that fails, whose verify fails, or that hangs: every
/// case is a rig error that quotes the tool, within its timeout.
#[rstest::rstest]
#[case::fails(
    "[sh, -c, \"echo no probe found >&2; exit 2\", \"{elf}\"]",
    "",
    "the flash command `sh -c echo no probe found >&2; exit 2"
)]
#[case::verify_fails(
    "[cp, \"{elf}\", flashed.bin]",
    ", verify: [sh, -c, \"echo mismatch at 0x08000000; exit 1\"]",
    "the image was written, but the verify command `sh -c echo mismatch at 0x08000000; exit 1` (controller.flash.verify in"
)]
#[case::hangs(
    "[sh, -c, \"sleep 30\", \"{elf}\"]",
    ", timeout: 1s",
    "the flash command `sh -c sleep 30 "
)]
fn a_broken_flash_command_is_a_rig_error(
    #[case] command: &str,
    #[case] more: &str,
    #[case] says: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("image.elf"), b"\x7fELF").unwrap();
    let controller = format!("  flash: {{ command: {command}{more} }}\n");
    // Flashing comes first: the console and board are never opened.
    let (console, board) = (dir.path().join("console"), dir.path().join("board"));
    let rig = plain_bench(
        dir.path(),
        console.to_str().unwrap(),
        board.to_str().unwrap(),
        &controller,
    );
    let t = std::time::Instant::now();
    let (code, stdout, stderr) = run_one(&rig);
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains(says), "{says}\n{stdout}");
    assert!(
        stdout.contains("(controller.flash."),
        "names the key: {stdout}"
    );
    // The tool's own words, quoted under the error.
    let quoted = stdout.split("its last lines:").nth(1).unwrap_or("");
    let said = ["no probe found", "mismatch at 0x08000000"];
    assert!(
        more.contains("timeout") || quoted.lines().any(|l| said.contains(&l.trim())),
        "{stdout}"
    );
    if more.contains("timeout") {
        assert!(
            stdout.contains("no answer within 1s; it was stopped"),
            "{stdout}"
        );
    }
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
}

/// Issue 16, from the command line: a bench whose controller prints
/// plain-text logs (the served sim with its plain console), flashed by hand
/// (`flash: none`), its console read through the bundled dialect, runs a
/// bundled suite end to end with `harness run`.
#[test]
fn a_plain_text_bench_flashed_by_hand_runs_a_suite_from_the_command_line() {
    let (mut child, [console, board, _, _]) = spawn("rigs/sim-plain.yaml");
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("plain-bench.yaml");
    let dialect = repo().join("dialects/locker-plain.yaml");
    std::fs::write(
        &rig,
        format!(
            "name: plain-bench\ncontroller:\n  firmware: image.elf\n  flash: none\n  expect-build: {}\n  dialect: {}\n  console: {{ port: {console}, baud: 115200 }}\n  station: {{ id: 4711, key: \"6c6f636b65722d68696c2d746573742d\" }}\n  compartments:\n    - {{ name: S1, size: S }}\n    - {{ name: S2, size: S }}\n    - {{ name: M1, size: M }}\n    - {{ name: M2, size: M }}\n    - {{ name: L1, size: L }}\nfixtures:\n  board: {{ driver: fixture-board, port: {board} }}\n",
            locker_core::BUILD_ID,
            dialect.display()
        ),
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "suites/code-entry.yaml", "--filter"])
        .arg("name:\"valid code opens\" | name:\"wrong code\"")
        .arg("--rig")
        .arg(&rig)
        .arg("--junit")
        .arg(&junit)
        .arg("--html")
        .arg(dir.path().join("index.html"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed, 0 errors"), "{stdout}");
    assert!(stdout.contains("2 cases: 2 passed"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("I ("), "the transcript is the plain log");
    assert!(
        xml.contains("lost lines cannot be detected"),
        "the report says so"
    );
}
