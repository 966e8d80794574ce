//! `harness run --snapshots check|update`: behaviour pinned per case in
//! insta's format, a change fails with a diff and is left pending for
//! `cargo insta review`.

mod common;

use common::repo;

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, mode: &str) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .arg("run")
        .arg(dir.join("jams.yaml"))
        .args(["--snapshots", mode, "--snapshot-dir"])
        .arg(dir.join("snapshots"))
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .arg("--html")
        .arg(dir.join("index.html"))
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

#[test]
fn snapshots_are_stored_checked_and_a_change_is_a_failure_with_a_diff() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        repo().join("suites/jams.yaml"),
        dir.path().join("jams.yaml"),
    )
    .expect("suite");
    let snaps = dir.path().join("snapshots/sim");

    // Nothing stored yet: every case fails and leaves its snapshot pending.
    let (out, stdout) = run(dir.path(), "check");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no snapshot stored at"), "{stdout}");
    let held = snaps.join("jams__door_held_during_unlock_is_a_jam.snap");
    assert!(held.with_extension("snap.new").is_file());

    // Stored, then checked: all pass and nothing is left pending.
    let (out, stdout) = run(dir.path(), "update");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let (out, stdout) = run(dir.path(), "check");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!held.with_extension("snap.new").exists());

    // insta reads what the harness writes.
    let stored = insta::Snapshot::from_file(&held).expect("insta reads the snapshot");
    let text = stored
        .contents()
        .as_text()
        .expect("a text snapshot")
        .to_string();
    assert!(text.starts_with("# power on\n  hello proto 1\n"), "{text}");
    assert!(text.contains("> door M1 hold"), "{text}");
    assert_eq!(
        stored.metadata().expression(),
        Some("jams::door held during unlock is a jam")
    );

    // A release that behaves differently: the stored snapshot says the
    // display read something else. The case fails with a diff, and the new
    // behaviour is pending for review.
    let file = std::fs::read_to_string(&held).expect("snapshot");
    let changed = file.replacen("display \"DOOR JAMMED\"", "display \"JAMMED\"", 1);
    assert_ne!(changed, file, "the snapshot shows the jam on the display");
    std::fs::write(&held, changed).expect("snapshot edited");
    let (out, stdout) = run(dir.path(), "check");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  jams::door held during unlock is a jam"),
        "{stdout}"
    );
    assert!(stdout.contains("at snapshot"), "{stdout}");
    assert!(stdout.contains("-  display \"JAMMED\""), "{stdout}");
    assert!(stdout.contains("+  display \"DOOR JAMMED\""), "{stdout}");
    assert!(stdout.contains("cargo insta review"), "{stdout}");
    let pending = insta::Snapshot::from_file(&held.with_extension("snap.new")).expect("pending");
    let pending = pending.contents().as_text().expect("text").to_string();
    assert!(pending.contains("display \"DOOR JAMMED\""));
    // The other cases are unaffected.
    assert!(stdout.contains("10 passed, 1 failed"), "{stdout}");
}
