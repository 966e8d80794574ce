//! Issue 22: the checked-in JSON Schemas (`schemas/`) accept every bundled
//! suite, rig and dialect file, refuse wrong ones at the right path, and
//! every bundled suite and rig file names its schema for the YAML language
//! server. Validated by Python's `jsonschema` (the reference validator,
//! draft 2020-12), which `.ci/run` installs.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Validate `docs` (a name and the YAML text) against the schema in
/// `schemas/<kind>.schema.json`: each document's errors, as `path: message`.
/// `None` when Python's `jsonschema` is missing outside CI.
fn validate(kind: &str, docs: &[(String, String)]) -> Option<Vec<(String, Vec<String>)>> {
    if !common::python_with("jsonschema") {
        return None;
    }
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(format!("schemas/{kind}.schema.json")))
            .expect("the schema is checked in"),
    )
    .expect("the schema is JSON");
    let instances: Vec<serde_json::Value> = docs
        .iter()
        .map(|(name, text)| {
            let doc: serde_json::Value =
                yaml_serde::from_str(text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
            serde_json::json!({ "name": name, "doc": doc })
        })
        .collect();
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
job = json.load(sys.stdin)
Draft202012Validator.check_schema(job["schema"])
v = Draft202012Validator(job["schema"])
out = []
for inst in job["instances"]:
    errs = sorted(v.iter_errors(inst["doc"]), key=lambda e: list(e.absolute_path))
    out.append([inst["name"], ["/".join(str(p) for p in e.absolute_path) + ": " + e.message for e in errs]])
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let job = serde_json::json!({ "schema": schema, "instances": instances });
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(job.to_string().as_bytes())
            .expect("the job is written");
    }
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("python answers JSON"))
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .expect("the folder exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(files: &[PathBuf]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|p| {
            let name = p.strip_prefix(repo()).unwrap_or(p).display().to_string();
            (name, std::fs::read_to_string(p).expect("readable"))
        })
        .collect()
}

#[test]
fn every_bundled_file_is_valid_under_its_schema() {
    for (kind, dir) in [
        ("suite", "suites"),
        ("suite", "suites/examples"),
        ("rig", "rigs"),
        ("dialect", "dialects"),
    ] {
        let docs = read(&yaml_files(dir));
        assert!(!docs.is_empty(), "no {kind} files in {dir}/");
        let Some(results) = validate(kind, &docs) else {
            return;
        };
        let bad: Vec<String> = results
            .into_iter()
            .filter(|(_, errs)| !errs.is_empty())
            .map(|(name, errs)| format!("{name}:\n  {}", errs.join("\n  ")))
            .collect();
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}

#[test]
fn wrong_files_fail_at_the_wrong_key() {
    // The default rig, sound but for one misspelt key.
    let sim_rig_with_a_typo = std::fs::read_to_string(repo().join("rigs/sim.yaml"))
        .expect("readable")
        .replacen("compartments:", "compartmets:", 1);
    let cases: [(&str, &str, &str); 5] = [
        (
            "suite",
            "name: x\nretries: many\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n",
            "retries: ",
        ),
        (
            "suite",
            "name: x\ncases:\n  - name: one\n    stpes:\n      - wait: 1s\n",
            "cases/0: ",
        ),
        (
            "suite",
            "name: x\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n      - kyes: \"1#\"\n",
            "cases/0/steps/1: ",
        ),
        (
            "suite",
            "name: x\ncases:\n  - name: one\n    steps:\n      - wait: soon\n",
            "cases/0/steps/0",
        ),
        (
            "rig",
            &sim_rig_with_a_typo,
            "controller: Additional properties are not allowed ('compartmets'",
        ),
    ];
    let docs: Vec<(String, String)> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, text, _))| (format!("wrong {i}"), (*text).to_owned()))
        .collect();
    for (i, (kind, _, at)) in cases.iter().enumerate() {
        let Some(results) = validate(kind, &docs[i..=i]) else {
            return;
        };
        let errs = &results[0].1;
        assert!(!errs.is_empty(), "{kind} file {i} passed its schema");
        assert!(
            errs.iter().any(|e| e.starts_with(at)),
            "{kind} file {i}: no error at `{at}`:\n{}",
            errs.join("\n")
        );
    }
}

/// Each bundled suite and rig file starts by naming its schema, so an
/// editor with the YAML language server completes and checks it as it is.
#[test]
fn bundled_files_name_their_schema() {
    for (dir, up, schema) in [
        ("suites", "..", "suite"),
        ("suites/examples", "../..", "suite"),
        ("rigs", "..", "rig"),
        ("dialects", "..", "dialect"),
    ] {
        for file in yaml_files(dir) {
            let text = std::fs::read_to_string(&file).expect("readable");
            let first = text.lines().next().unwrap_or("");
            let target = format!("{up}/schemas/{schema}.schema.json");
            assert_eq!(
                first,
                format!("# yaml-language-server: $schema={target}"),
                "{}",
                file.display()
            );
            assert!(Path::new(&repo().join(dir)).join(&target).exists());
        }
    }
}

/// A plain scalar is text to the harness (`name: 42`, `display: 404`), so
/// it is to the schema: an editor flags nothing the harness reads.
#[test]
fn numbers_where_text_goes_are_valid_as_the_harness_reads_them() {
    let suite =
        "name: 42\ncases:\n  - name: 7\n    steps:\n      - expect: { display: 404, within: 1s }\n";
    let Some(results) = validate("suite", &[("numbers".into(), suite.into())]) else {
        return;
    };
    assert!(results[0].1.is_empty(), "{:?}", results[0].1);
    // And the harness reads it.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("numbers.yaml");
    std::fs::write(&file, suite).expect("written");
    let out = common::harness(&["check", file.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
