//! Scaling over CI runners: `--shard K/N` splits the cases, the shards
//! together are exactly the whole list, and `harness report merge` gives
//! back the report of an unsharded run.

mod common;

use common::harness;

use quick_junit::{Report, TestCaseStatus};
use std::path::Path;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn list(extra: &[&str]) -> Vec<String> {
    let mut args = vec!["list"];
    args.extend_from_slice(extra);
    let out = harness(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_owned).collect()
}

/// Every case once: name, suite and outcome, in report order.
fn cases(path: &Path) -> Vec<(String, String, String)> {
    let xml = std::fs::read_to_string(path).expect("report written");
    let report = Report::deserialize_from_str(&xml).expect("report parses");
    let mut out = Vec::new();
    for s in &report.test_suites {
        for c in &s.test_cases {
            let status = match &c.status {
                TestCaseStatus::Success { .. } => "passed",
                TestCaseStatus::NonSuccess { .. } => "failed",
                TestCaseStatus::Skipped { .. } => "skipped",
            };
            out.push((s.name.to_string(), c.name.to_string(), status.to_owned()));
        }
    }
    out
}

#[test]
fn the_shards_are_exactly_the_full_list() {
    let all = list(&[]);
    for n in [2, 3, 7] {
        let mut union = Vec::new();
        for k in 1..=n {
            let part = list(&["--shard", &format!("{k}/{n}")]);
            assert!(
                part.len().abs_diff(all.len() / n) <= 1,
                "{k}/{n}: {} cases",
                part.len()
            );
            union.extend(part);
        }
        union.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(union, want, "--shard k/{n}");
    }
}

#[test]
fn merged_shard_reports_equal_an_unsharded_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let run = |extra: &[&str], junit: &str| {
        let html = junit.replace(".xml", ".html");
        let mut args = vec!["run", "--quiet", "--junit", junit, "--html", &html];
        args.extend_from_slice(extra);
        let out = harness(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    };
    run(&[], &path("all.xml"));
    // Balanced by the unsharded run's times, as a CI pipeline would from
    // its last report.
    let durations = path("all.xml");
    for k in 1..=3 {
        run(
            &["--shard", &format!("{k}/3"), "--durations", &durations],
            &path(&format!("s{k}.xml")),
        );
    }
    let out = harness(&[
        "report",
        "merge",
        &path("s3.xml"),
        &path("s1.xml"),
        &path("s2.xml"),
        &path("s2.html"),
        &path("s3.html"),
        &path("s1.html"),
        "-o",
        &path("merged.xml"),
        "--html",
        &path("merged.html"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("124 cases"), "{}", stdout(&out));
    let merged = cases(&dir.path().join("merged.xml"));
    assert_eq!(merged, cases(&dir.path().join("all.xml")));
    // The merged page has every case once, in the unsharded page's order,
    // with the same outcomes and counts.
    let markers = |name: &str| -> Vec<String> {
        let page = std::fs::read_to_string(dir.path().join(name)).expect("page");
        page.match_indices("<!--row ")
            .map(|(i, _)| page[i..].split("-->").next().unwrap_or("").to_owned())
            .collect()
    };
    let whole = markers("all.html");
    assert_eq!(whole.len(), 124);
    assert_eq!(markers("merged.html"), whole);
    let page = std::fs::read_to_string(dir.path().join("merged.html")).expect("page");
    assert!(
        page.contains(">124 passed<"),
        "the header counts all shards"
    );
    assert_eq!(page.matches("<section class=\"case\"").count(), 124);
}

#[test]
fn overlapping_reports_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("a.xml");
    let out = harness(&[
        "run",
        "-q",
        "suites/jams.yaml",
        "--junit",
        junit.to_str().unwrap_or(""),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let a = junit.to_string_lossy().into_owned();
    let merged = dir.path().join("m.xml").to_string_lossy().into_owned();
    let out = harness(&["report", "merge", &a, &a, "-o", &merged]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "case `jams::door held during unlock is a jam` is in both {a} and {a}: the shards overlap"
        )),
        "{stderr}"
    );
    assert!(!Path::new(&merged).exists());
}

/// Issue 13: overlapping pages said "a case is also on X.html" without
/// naming the case.
#[test]
fn overlapping_pages_name_the_case_and_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = |name: &str, filter: &str| {
        let html = dir.path().join(name).to_string_lossy().into_owned();
        let junit = dir.path().join(format!("{name}.xml"));
        let out = harness(&[
            "run",
            "-q",
            "suites/jams.yaml",
            "--filter",
            filter,
            "--junit",
            junit.to_str().unwrap_or(""),
            "--html",
            &html,
        ]);
        assert_eq!(out.status.code(), Some(0));
        html
    };
    let a = page("a.html", "name:hold");
    let b = page("b.html", "name:\"held during unlock\"");
    let xml = dir.path().join("m.xml").to_string_lossy().into_owned();
    let merged = dir.path().join("m.html").to_string_lossy().into_owned();
    let a_xml = format!("{}.xml", dir.path().join("a.html").display());
    let out = harness(&[
        "report", "merge", &a_xml, &a, &b, "-o", &xml, "--html", &merged,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "case `jams::door held during unlock is a jam` is on both {a} and {b}: the shards overlap"
        )),
        "{stderr}"
    );
}

#[test]
fn a_shard_with_no_cases_passes_with_an_empty_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("j.xml");
    let out = harness(&[
        "run",
        "--filter",
        "name:\"valid code opens its compartment\"",
        "--shard",
        "2/2",
        "--junit",
        junit.to_str().unwrap_or(""),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(cases(&junit).is_empty());
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let out = harness(&["list", "--shard", "4/3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected K/N with 1 <= K <= N"));
}

#[test]
fn a_rig_is_chosen_by_its_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("j.xml");
    let out = harness(&[
        "run",
        "suites/jams.yaml",
        "--rig-label",
        "sim",
        "--junit",
        junit.to_str().unwrap_or(""),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("rig sim:"), "{}", stdout(&out));
    let out = harness(&["run", "--rig-label", "no-such-label"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no rig file in rigs has the labels [no-such-label]"),
        "{stderr}"
    );
    assert!(stderr.contains("rigs/sim.yaml [sim, default]"), "{stderr}");
}

#[test]
fn merging_something_that_is_not_junit_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("notes.xml");
    std::fs::write(&bad, "<html>not a report</html>").expect("written");
    // Not /dev/null: run as root, a merge would have replaced the node.
    let merged = dir.path().join("merged.xml");
    let merged = merged.to_str().unwrap_or("");
    let out = harness(&["report", "merge", bad.to_str().unwrap_or(""), "-o", merged]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("notes.xml: not a JUnit report"), "{stderr}");
    let missing = dir.path().join("gone.xml");
    let out = harness(&[
        "report",
        "merge",
        missing.to_str().unwrap_or(""),
        "-o",
        merged,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone.xml: cannot read"));
}
