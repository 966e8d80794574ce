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
    assert!(text.contains("52 cases: 52 passed"), "{text}");
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
    assert!(err.contains("rig.yaml:7:22"), "{err}");
}

/// The requests a run asked of its issuer, with the codes it got: the
/// reference issuer behind a wrapper that writes both down.
fn recorded(filter: &str) -> Vec<(serde_json::Value, String)> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("record.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\nreq=$(cat)\nans=$(printf '%s\\n' \"$req\" | '{}' rig issue-code --rig '{}')\nprintf '%s\\t%s\\n' \"$req\" \"$ans\" >> '{}'\nprintf '%s\\n' \"$ans\"\n",
            env!("CARGO_BIN_EXE_harness"),
            repo().join("rigs/sim.yaml").display(),
            dir.path().join("log").display()
        ),
    )
    .unwrap();
    let mut mode = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(&script, mode).unwrap();
    let rig = rig_with_issuer(
        dir.path(),
        &format!("{{ command: [\"{}\"] }}", script.display()),
    );
    let (code, text) = run(&rig, dir.path(), filter);
    assert_eq!(code, Some(0), "{text}");
    std::fs::read_to_string(dir.path().join("log"))
        .unwrap()
        .lines()
        .map(|l| {
            let (req, ans) = l.split_once('\t').unwrap();
            let ans: serde_json::Value = serde_json::from_str(ans).unwrap();
            (
                serde_json::from_str(req).unwrap(),
                ans["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `table:` of these rows, as `rig_with_issuer` takes an issuer.
fn table(rows: &[String]) -> String {
    let rows: String = rows.iter().map(|r| format!("      - {r}\n")).collect();
    format!("\n    table:\n{}", rows.trim_end())
}

/// A table row (YAML flow map) for a recorded request and its code.
fn row(req: &serde_json::Value, code: &str) -> String {
    let mut row = format!("{{ kind: {}", req["kind"].as_str().unwrap());
    if let Some(c) = req["compartment"].as_str() {
        row.push_str(&format!(", compartment: {c}"));
    }
    if let Some(z) = req["size"].as_str() {
        row.push_str(&format!(", size: {z}"));
    }
    if let Some(p) = req["parcel"].as_u64() {
        row.push_str(&format!(", parcel: {p}"));
    }
    if req["station"] != 4711 {
        row.push_str(&format!(", station: {}", req["station"]));
    }
    row + &format!(", code: \"{code}\" }}")
}

/// Issue 16: codes provisioned into a test firmware, as a table in the rig
/// file. The table holds the codes the reference firmware of the sim rig
/// accepts for the requests these cases make (recorded from a run with the
/// reference issuer); with it the cases pass, and `parcel:` and `issue:`
/// (another station's code) work unchanged. Codes are scrubbed as any.
#[test]
fn a_provisioned_code_table_gives_every_code_of_the_cases() {
    let filter = "suite:code-entry & (name:\"valid code opens\" | name:\"wrong code is refused\" | name:\"another station\" | name:\"single-use\")";
    let mut rows: Vec<String> = recorded(filter).iter().map(|(r, c)| row(r, c)).collect();
    rows.sort();
    rows.dedup();
    for kind in ["kind: dropoff", "kind: pickup", "station: 4712"] {
        assert!(rows.iter().any(|r| r.contains(kind)), "{kind}: {rows:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_with_issuer(dir.path(), &table(&rows));
    let (code, text) = run(&rig, dir.path(), filter);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("4 cases: 4 passed"), "{text}");
    let xml = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    for r in &rows {
        let code = r.split("code: \"").nth(1).unwrap().trim_end_matches("\" }");
        assert!(!xml.contains(code), "{code} is scrubbed");
    }

    // A table without the pickup code: the case that needs it is a rig
    // error naming the table and the request; a wrong code is refused by
    // the controller, as any wrong code.
    let (pickup, without): (Vec<String>, Vec<String>) =
        (rows.iter().cloned()).partition(|r| r.contains("pickup") && !r.contains("station"));
    let rig = rig_with_issuer(dir.path(), &table(&without));
    let (code, text) = run(&rig, dir.path(), "name:\"valid code opens\"");
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("the code table (controller.issuer.table in")
            && text.contains("has no code for a pickup code for M1 (parcel "),
        "{text}"
    );
    let wrong = [without, vec![pickup[0].replace("code: \"", "code: \"9")]].concat();
    let rig = rig_with_issuer(dir.path(), &table(&wrong));
    let (code, text) = run(&rig, dir.path(), "name:\"valid code opens\"");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("code wrong"), "{text}");
}

#[rstest::rstest]
#[case::bad_code(
    "{ table: [{ kind: pickup, code: \"12ab\" }] }",
    "controller.issuer.table[0].code: `12ab` is not a code; expected 4 to 16 digits",
    "rig.yaml:7:"
)]
#[case::unknown_compartment(
    "{ table: [{ kind: dropoff, compartment: Q9, code: \"11112222\" }] }",
    "controller.issuer.table[0].compartment: `Q9` is not one of this rig's compartments (S1, S2, M1, M2, L1)",
    "rig.yaml:7:"
)]
#[case::size_on_a_pickup(
    "{ table: [{ kind: pickup, size: M, code: \"11112222\" }] }",
    "controller.issuer.table[0].size: a pickup request has no `size`",
    "rig.yaml:7:"
)]
#[case::twice(
    "{ table: [{ kind: collect, code: \"11112222\" }, { kind: collect, code: \"33334444\" }] }",
    "controller.issuer.table[1].kind: a request could match this entry and entry 0 alike",
    "rig.yaml:7:"
)]
#[case::ambiguous(
    "{ table: [{ kind: pickup, compartment: M1, code: \"11112222\" }, { kind: pickup, parcel: 3, code: \"33334444\" }] }",
    "controller.issuer.table[1].kind: a request could match this entry and entry 0 alike",
    "rig.yaml:7:"
)]
#[case::own_station(
    "{ table: [{ kind: collect, code: \"11112222\" }, { kind: collect, station: 4711, code: \"33334444\" }] }",
    "controller.issuer.table[1].kind: a request could match",
    "rig.yaml:7:"
)]
#[case::both(
    "{ table: [], command: [mint] }",
    "controller.issuer: expected one of `command`",
    "rig.yaml:7:"
)]
#[case::unknown_kind(
    "{ table: [{ kind: courier, code: \"11112222\" }] }",
    "unknown variant `courier`, expected one of `pickup`, `dropoff`, `return`, `collect`",
    "rig.yaml:7:"
)]
fn a_wrong_code_table_is_refused_by_check_at_its_node(
    #[case] issuer: &str,
    #[case] says: &str,
    #[case] at: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let rig = rig_with_issuer(dir.path(), issuer);
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["check", "--rig"])
        .arg(&rig)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(says), "{says}\n{err}");
    assert!(err.contains(at), "{at}\n{err}");
}
