//! Issue 16: codes from the firmware team's own issuer. A rig names a
//! command; each code is asked of it as JSON on its standard input and read
//! as JSON from its standard output. Here the command is the harness's own
//! reference issuer (`harness rig issue-code`), so the reference firmware
//! accepts what it mints; a command that hangs or talks nonsense is a rig
//! error within its timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use std::process::Command;
use std::time::{Duration, Instant};

/// The sim rig with `issuer` (YAML) under its controller.
fn rig_with_issuer(dir: &std::path::Path, issuer: &str) -> std::path::PathBuf {
    let sim = std::fs::read_to_string(repo().join("rigs/sim.yaml")).unwrap();
    let text = sim
        .replace(
            "controller:\n",
            &format!("controller:\n  issuer: {issuer}\n"),
        )
        .replace(
            "../firmware/core",
            repo().join("firmware/core").to_str().unwrap(),
        );
    let rig = dir.join("rig.yaml");
    std::fs::write(&rig, text).unwrap();
    rig
}

fn run(rig: &std::path::Path, dir: &std::path::Path, filter: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["run", "--filter", filter, "--rig"])
        .arg(rig)
        .arg("--junit")
        .arg(dir.join("j.xml"))
        .arg("--html")
        .arg(dir.join("r.html"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn a_command_issuer_mints_every_code_of_the_bundled_code_flow_and_lockout_suites() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = format!(
        "{{ command: [\"{}\", rig, issue-code, --rig, \"{}\"], timeout: 10s }}",
        env!("CARGO_BIN_EXE_harness"),
        repo().join("rigs/sim.yaml").display()
    );
    let rig = rig_with_issuer(dir.path(), &issuer);
    let (code, text) = run(
        &rig,
        dir.path(),
        "suite:code-entry | suite:flows | suite:lockouts",
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("40 cases: 40 passed"), "{text}");
    // Every issued code is scrubbed like the reference's: none in the report.
    let xml = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    assert!(xml.contains("$pickup"), "codes are named, not shown");
}

#[test]
fn the_reference_issuer_command_answers_a_request_with_the_reference_code() {
    let req = r#"{"kind":"pickup","station":4711,"compartment":"M1","compartment_index":2,"parcel":17,"window":20514,"unix_time":1772442000}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["rig", "issue-code", "--rig", "rigs/sim.yaml"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), req.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = *b"locker-hil-test-";
    let want = locker_hil::run::backoffice::pickup(&key, 4711, 2, 17, 20514);
    assert_eq!(answer["code"], want.as_str());
}

#[rstest::rstest]
#[case::hangs(
    "{ command: [sleep, \"30\"], timeout: 1s }",
    "no answer within 1s; it was stopped"
)]
#[case::talks_nonsense(
    "{ command: [echo, \"hello\"] }",
    "its answer `hello` is not `{\"code\": \"DIGITS\"}`"
)]
#[case::not_digits(
    "{ command: [echo, '{\"code\":\"12ab\"}'] }",
    "its code `12ab` is not 4 to 16 digits"
)]
#[case::fails(
    "{ command: [sh, -c, \"echo no key >&2; exit 3\"] }",
    "it failed (exit status: 3): no key"
)]
#[case::missing("{ command: [/nonexistent/mint] }", "cannot start")]
fn a_broken_issuer_is_a_rig_error_within_its_timeout(#[case] issuer: &str, #[case] says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_with_issuer(dir.path(), issuer);
    let t = Instant::now();
    let (code, text) = run(&rig, dir.path(), "name:\"valid code opens\"");
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("ERROR"), "{text}");
    assert!(text.contains(says), "{says}\n{text}");
    assert!(text.contains("controller.issuer in"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn a_wrong_issuer_is_refused_by_check_at_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_with_issuer(dir.path(), "{ command: [], timeout: 5m }");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["check", "--rig"])
        .arg(&rig)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("controller.issuer.command: empty"), "{err}");
    assert!(
        err.contains("controller.issuer.timeout: expected above 0 and at most 60s"),
        "{err}"
    );
    assert!(err.contains("rig.yaml:6:22"), "{err}");
}
