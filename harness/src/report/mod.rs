//! Reporters: JUnit for CI, a summary for people. They read finished cases
//! and never influence the run.

use crate::runner::{CaseReport, Outcome};
use crate::session::TranscriptLine;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub mod writer;

/// Build the JUnit report: one testsuite per suite file, one testcase per case.
pub fn junit(reports: &[CaseReport], rig_time_redacted: bool) -> Report {
    let mut report = Report::new("locker-hil");
    let mut suites: Vec<(String, TestSuite)> = Vec::new();
    let mut total = Duration::ZERO;
    for r in reports {
        total += r.wall;
        let pos = match suites.iter().position(|(n, _)| *n == r.suite) {
            Some(p) => p,
            None => {
                let mut s = TestSuite::new(r.suite.clone());
                s.add_property(Property::new("file", r.suite_file.display().to_string()));
                s.add_property(Property::new("rig", r.rig.clone()));
                suites.push((r.suite.clone(), s));
                suites.len() - 1
            }
        };
        suites[pos].1.add_test_case(testcase(r, rig_time_redacted));
    }
    for (_, mut s) in suites {
        let time: Duration = reports
            .iter()
            .filter(|r| r.suite == s.name.as_str())
            .map(|r| r.wall)
            .sum();
        if !rig_time_redacted {
            s.set_time(time);
        }
        report.add_test_suite(s);
    }
    if !rig_time_redacted {
        report.set_time(total);
    }
    report
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn testcase(r: &CaseReport, redact: bool) -> TestCase {
    let status = match &r.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed { step, message } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("failure");
            st.set_message(format!("{step}: {}", first_line(message)));
            st.set_description(format!("step {step}\n{message}"));
            st
        }
        Outcome::Error { step, message } => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type("rig-error");
            st.set_message(format!("{step}: {}", first_line(message)));
            st.set_description(format!("step {step}\n{message}"));
            st
        }
        Outcome::Skipped { reason } => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.clone());
            st
        }
    };
    let mut tc = TestCase::new(r.name.clone(), status);
    tc.set_classname(r.suite.clone());
    if !redact {
        tc.set_time(r.wall);
        tc.set_timestamp(chrono::DateTime::<chrono::Utc>::from(r.started).fixed_offset());
    }
    tc.add_property(Property::new("rig", r.rig.clone()));
    if let Some(b) = &r.build {
        tc.add_property(Property::new(
            "firmware.build",
            if redact { "<build>".into() } else { b.clone() },
        ));
    }
    if let Some(p) = r.proto {
        tc.add_property(Property::new("protocol.version", p.to_string()));
    }
    tc.add_property(Property::new("seed", r.seed.to_string()));
    tc.add_property(Property::new(
        "rig.time",
        crate::units::fmt_duration(Duration::from_millis(r.rig_time.as_millis() as u64)),
    ));
    if !r.transcript.is_empty() {
        let text: Vec<String> = r.transcript.iter().map(TranscriptLine::render).collect();
        tc.set_system_out(text.join("\n"));
    }
    tc
}

/// Write a file so that readers see the old or the new content, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub fn write_junit(path: &Path, reports: &[CaseReport]) -> Result<(), String> {
    let xml = junit(reports, false)
        .to_string()
        .map_err(|e| format!("cannot serialise JUnit: {e}"))?;
    write_atomic(path, xml.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn of(reports: &[CaseReport]) -> Self {
        let mut t = Self::default();
        for r in reports {
            match r.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed { .. } => t.failed += 1,
                Outcome::Error { .. } => t.errors += 1,
                Outcome::Skipped { .. } => t.skipped += 1,
            }
        }
        t
    }
}

/// One line per finished case.
pub fn case_line(r: &CaseReport) -> String {
    let (tag, extra) = match &r.outcome {
        Outcome::Passed => ("PASS ", String::new()),
        Outcome::Failed { step, message } => (
            "FAIL ",
            format!("\n      at {step}\n      {}", first_line(message)),
        ),
        Outcome::Error { step, message } => (
            "ERROR",
            format!("\n      at {step}\n      {}", first_line(message)),
        ),
        Outcome::Skipped { reason } => ("SKIP ", format!("  ({reason})")),
    };
    format!(
        "{tag} {}::{}  [{} rig time, {:.1}ms]{extra}",
        r.suite,
        r.name,
        crate::units::fmt_duration(Duration::from_millis(r.rig_time.as_millis() as u64)),
        r.wall.as_secs_f64() * 1e3
    )
}

/// The closing summary: failures in full, then the counts.
pub fn summary(reports: &[CaseReport], wall: Duration) -> String {
    let t = Tally::of(reports);
    let mut out = String::new();
    let bad: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. } | Outcome::Error { .. }))
        .collect();
    if !bad.is_empty() {
        out.push_str("\nFailures and errors:\n");
        for r in bad {
            let (kind, step, message) = match &r.outcome {
                Outcome::Failed { step, message } => ("FAIL", step, message),
                Outcome::Error { step, message } => ("ERROR", step, message),
                _ => continue,
            };
            out.push_str(&format!("\n{kind} {}::{}\n  at {step}\n", r.suite, r.name));
            for l in message.lines() {
                out.push_str(&format!("  {l}\n"));
            }
        }
    }
    out.push_str(&format!(
        "\n{} cases: {} passed, {} failed, {} errors, {} skipped in {:.2}s\n",
        reports.len(),
        t.passed,
        t.failed,
        t.errors,
        t.skipped,
        wall.as_secs_f64()
    ));
    out
}
