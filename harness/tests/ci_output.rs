//! Issue 22: what CI systems and other tools read from a run: GitHub
//! Actions annotations at the failing step's line, the job summary, and the
//! JSON event stream of `run` and problem list of `check`.

mod common;

use common::repo;
use std::path::Path;
use std::process::{Command, Output};

/// A suite whose only case fails at its second step, on line 6.
const FAILING: &str = "\
name: gh
cases:
  - name: fails at its second step
    steps:
      - wait: 1s
      - expect: { display: \"NO SUCH TEXT\", within: 1s }
  - name: passes
    steps:
      - wait: 1s
";
const FAILING_LINE: usize = 6;

fn harness(args: &[&str], env: &[(&str, &Path)], github: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.args(args)
        .current_dir(repo())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    if github {
        cmd.env("GITHUB_ACTIONS", "true");
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("harness runs")
}

/// Standard output as JSON objects, one a line: every line must be one.
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}` is not JSON: {e}")))
        .collect()
}

/// The failing suite written into `dir`, and the run's arguments.
fn failing_run(dir: &Path) -> (String, Vec<String>) {
    let suite = dir.join("gh.yaml");
    std::fs::write(&suite, FAILING).expect("suite written");
    let suite = suite.display().to_string();
    let args = vec![
        "run".to_owned(),
        suite.clone(),
        "--junit".into(),
        dir.join("junit.xml").display().to_string(),
        "--html".into(),
        dir.join("index.html").display().to_string(),
    ];
    (suite, args)
}

#[test]
fn a_failing_case_under_github_actions_is_annotated_at_its_failing_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (suite, args) = failing_run(dir.path());
    let summary = dir.path().join("summary.md");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&args, &[("GITHUB_STEP_SUMMARY", &summary)], true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one annotation, for the one failure:\n{stdout}"
    );
    assert!(
        errors[0].starts_with(&format!(
            "::error file={suite},line={FAILING_LINE},col=9,title=gh%3A%3Afails at its second step failed::steps[1] `expect display"
        )),
        "{}",
        errors[0]
    );
    let md = std::fs::read_to_string(&summary).expect("the job summary is written");
    assert!(md.contains("| 1 | 1 | 0 | 0 |"), "{md}");
    assert!(md.contains(&format!("`{suite}:{FAILING_LINE}`")), "{md}");

    // GitLab: the failed case links the run's page among the artifacts.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit");
    let page = format!("[[ATTACHMENT|{}]]", dir.path().join("index.html").display());
    assert_eq!(junit.matches(&page).count(), 1, "{junit}");

    // Outside GitHub Actions, nothing of the kind.
    let out = harness(&args, &[], false);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));
    // And asked for by name, without the environment.
    let mut named = args.clone();
    named.extend(["--annotations", "github"]);
    let out = harness(&named, &[], false);
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error file="));
}

#[test]
fn check_problems_are_annotated_and_listed_as_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let suite = dir.path().join("bad.yaml");
    std::fs::write(
        &suite,
        "name: bad\ncases:\n  - name: one\n    steps:\n      - expect: { display: \"X\", withn: 2s }\n",
    )
    .expect("suite written");
    let file = suite.display().to_string();
    let summary = dir.path().join("summary.md");
    let out = harness(
        &["check", &file, "--format", "json"],
        &[("GITHUB_STEP_SUMMARY", &summary)],
        true,
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // With JSON on standard output, the annotation goes to standard error
    // (which GitHub's runner reads too).
    let annotation = stderr
        .lines()
        .find(|l| l.starts_with("::error"))
        .expect("an annotation");
    assert!(
        annotation.starts_with(&format!("::error file={file},line=5,")),
        "{annotation}"
    );
    let problems = json_lines(&out.stdout);
    assert_eq!(problems.len(), 1, "{stdout}");
    let p = &problems[0];
    assert_eq!(p["file"], file.as_str());
    assert_eq!(p["line"], 5);
    assert!(p["column"].as_u64().is_some_and(|c| c > 1));
    assert_eq!(p["key"], "cases[0].steps[0].expect.withn");
    assert!(p["message"].as_str().is_some_and(|m| m.contains("withn")));
    let md = std::fs::read_to_string(&summary).expect("the job summary is written");
    assert!(
        md.contains("1 problem(s)") && md.contains(&format!("`{file}:5:")),
        "{md}"
    );

    // A sound input says so, as one object.
    let out = harness(&["check", "--format", "json"], &[], false);
    assert_eq!(out.status.code(), Some(0));
    let ok: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["rig"], "sim");
}

#[test]
fn run_format_json_is_one_event_per_line_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (suite, mut args) = failing_run(dir.path());
    args.extend(["--format".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&args, &[], false);
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out.stdout);
    assert!(events.iter().all(|e| e["format"] == 1));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run-started"));
    assert_eq!(kinds.last(), Some(&"run-finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "case-started").count(), 2);
    let finished: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "case-finished")
        .collect();
    assert_eq!(finished.len(), 2);
    let failed = finished
        .iter()
        .find(|e| e["outcome"] == "failed")
        .expect("the failed case");
    assert_eq!(failed["case"], "fails at its second step");
    assert_eq!(failed["file"], suite.as_str());
    assert_eq!(failed["line"], FAILING_LINE);
    assert!(
        failed["step"]
            .as_str()
            .is_some_and(|s| s.starts_with("steps[1]"))
    );
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("NO SUCH TEXT"))
    );
    // Its steps came before it: the first passed, the second failed.
    let steps: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "step" && e["case"] == "fails at its second step")
        .collect();
    let outcomes: Vec<&str> = steps.iter().filter_map(|s| s["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["passed", "failed"]);
    let last = events.last().expect("events");
    assert_eq!(
        (last["passed"].as_u64(), last["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(last["state"], "complete");
}

/// A shard with no cases keeps standard output JSON: a run of nothing,
/// complete, and the note for people on standard error.
#[test]
fn an_empty_shard_in_json_is_still_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, mut args) = failing_run(dir.path());
    args.extend([
        "--shard".into(),
        "5/5".into(),
        "--format".into(),
        "json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = harness(&args, &[], false);
    assert_eq!(out.status.code(), Some(0));
    let events = json_lines(&out.stdout);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["run-started", "run-finished"]);
    assert_eq!(events[1]["state"], "complete");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no cases"));
}
