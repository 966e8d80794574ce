//! Report paths, tried as careless users and odd machines give them
//! (issue 14): a device node, a link, a folder, a FIFO, an input of the run,
//! the other report, a folder that cannot be written. Each is refused
//! before any case runs (exit 2 for a path that cannot be right, 3 for one
//! that cannot be written), nothing is written through or over it, and no
//! temporary file is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{harness, repo};

use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::Command;

const SUITE: &str = "name: one\ncases:\n  - name: wrong code\n    steps:\n      - keys: \"1#\"\n      - expect: { code: wrong }\n";

/// Everything in `dir`, recursively, that looks like a temporary file.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(temporaries(&p));
        } else if p.to_string_lossy().ends_with(".tmp") {
            out.push(p);
        }
    }
    out
}

/// How a bad path is made in `dir`; the flag it is given to, and what
/// the refusal says.
#[rstest]
#[case::device_node("--junit", "/dev/null", 2, "is a character device")]
#[case::symlink("--junit", "link", 2, "is a symbolic link")]
#[case::folder("--html", "folder", 2, "is a folder")]
#[case::fifo("--junit", "fifo", 2, "is a FIFO")]
#[case::the_suite("--junit", "suite", 2, "an input of this run")]
#[case::the_rig_file("--html", "rig", 2, "an input of this run")]
#[case::the_other_report("--html", "same", 2, "--junit and --html both name")]
#[case::unwritable_folder("--junit", "/sys/j.xml", 3, "cannot write there")]
fn a_report_path_that_cannot_be_right_is_refused_before_the_run(
    #[case] flag: &str,
    #[case] made: &str,
    #[case] exit: i32,
    #[case] says: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let rig = dir.path().join("sim.yaml");
    let sim = std::fs::read_to_string(repo().join("rigs/sim.yaml")).unwrap();
    let rig_text = sim.replace(
        "../firmware/core",
        &repo().join("firmware/core").to_string_lossy(),
    );
    std::fs::write(&rig, &rig_text).unwrap();
    let target = dir.path().join("kept.xml");
    std::fs::write(&target, "the previous report").unwrap();
    let junit = dir.path().join("junit.xml");
    let html = dir.path().join("index.html");
    let bad: PathBuf = match made {
        "link" => {
            let l = dir.path().join("link.xml");
            std::os::unix::fs::symlink(&target, &l).unwrap();
            l
        }
        "folder" => {
            std::fs::create_dir(dir.path().join("folder")).unwrap();
            dir.path().join("folder")
        }
        "fifo" => {
            let f = dir.path().join("fifo.xml");
            if !Command::new("mkfifo")
                .arg(&f)
                .status()
                .is_ok_and(|s| s.success())
            {
                eprintln!("skipped: mkfifo is not available");
                return;
            }
            f
        }
        "suite" => suite.clone(),
        "rig" => rig.clone(),
        "same" => junit.clone(),
        other => PathBuf::from(other),
    };
    let (junit, html) = match flag {
        "--junit" => (bad.clone(), html),
        _ => (junit, bad.clone()),
    };
    let out = harness(&[
        "run",
        suite.to_str().unwrap(),
        "--rig",
        rig.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(exit), "{stderr}{stdout}");
    assert!(stderr.contains(says), "{stderr}");
    assert!(stderr.contains(flag), "the error names the flag: {stderr}");
    assert!(!stdout.contains("PASS"), "nothing ran: {stdout}");
    // Nothing was written through or over anything.
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "the previous report"
    );
    assert_eq!(std::fs::read_to_string(&suite).unwrap(), SUITE);
    assert_eq!(std::fs::read_to_string(&rig).unwrap(), rig_text);
    assert!(Path::new("/dev/null").metadata().is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_char_device()
    }));
    assert!(
        temporaries(dir.path()).is_empty(),
        "{:?}",
        temporaries(dir.path())
    );
}

/// `report merge -o` over one of the files it merges.
#[test]
fn report_merge_refuses_an_output_that_is_one_of_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("a.xml");
    let out = harness(&[
        "run",
        "-q",
        "suites/jams.yaml",
        "--junit",
        junit.to_str().unwrap(),
        "--html",
        dir.path().join("a.html").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let before = std::fs::read_to_string(&junit).unwrap();
    let out = harness(&[
        "report",
        "merge",
        junit.to_str().unwrap(),
        "-o",
        junit.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("an input of this run"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&junit).unwrap(), before);
}
