//! `harness run --format json`: the run as one JSON object per line on
//! standard output, for tools that follow a run without parsing JUnit
//! (dashboards, flaky-test trackers). Documented in the README
//! ("Machine-readable output"); `"format": 1` is in every object, and a
//! change that could break a consumer gets a new number.
//!
//! Events, in the order a run makes them:
//!
//! - `run-started`: `cases`, `jobs`, `rig`
//! - `rig-ready`: `rig`, `image`, `build` (one per rig, once flashed)
//! - `rig-broken`: `rig`, `error` (a rig that could not be made or flashed)
//! - `case-started`: `index`, `suite`, `case`, `rig`, `attempt` (from 1)
//! - `step`: `index`, `suite`, `case`, `step` (its position among the
//!   case's steps that started), `text`, `at_ms` (rig time), `outcome`
//!   (`passed`, `failed` or `not-run`); a case's steps come when it has
//!   finished, just before its `case-finished`
//! - `case-finished`: `index`, `suite`, `case`, `file`, `line` (of the
//!   failing step, or the case), `rig`, `outcome` (`passed`, `failed`,
//!   `error`, `skipped`), `step` and `reason` (when not passed), `wall_ms`,
//!   `rig_time_ms`, `attempts` (earlier runs that a retry followed),
//!   `flaky`
//! - `run-finished`: `passed`, `failed`, `errors`, `skipped`, `wall_ms`,
//!   `state` (`complete`, or `interrupted by ...`), `junit`, `html`

use crate::run::runner::{CaseReport, Outcome, Planned, RunEvent};
use serde_json::{Value, json};

/// The format's version, in every object.
pub const FORMAT: u32 = 1;

fn object(event: &str, mut fields: Value) -> Value {
    if let Value::Object(m) = &mut fields {
        m.insert("event".into(), json!(event));
        m.insert("format".into(), json!(FORMAT));
    }
    fields
}

/// The objects one run event is written as (a finished case: its steps,
/// then itself).
pub fn of_event(ev: &RunEvent, plan: &[Planned], rig: &str) -> Vec<Value> {
    match ev {
        RunEvent::Started { cases, jobs } => vec![object(
            "run-started",
            json!({ "cases": cases, "jobs": jobs, "rig": rig }),
        )],
        RunEvent::RigReady { rig, flash } => vec![object(
            "rig-ready",
            json!({ "rig": rig, "image": flash.image, "build": flash.build() }),
        )],
        RunEvent::RigBroken { rig, error } => vec![object(
            "rig-broken",
            json!({ "rig": rig, "error": error.to_string() }),
        )],
        RunEvent::CaseStarted {
            index,
            rig,
            case,
            attempt,
        } => vec![object(
            "case-started",
            json!({
                "index": index,
                "suite": plan.get(*index).map(|p| p.suite.as_str()),
                "case": case,
                "rig": rig,
                "attempt": attempt,
            }),
        )],
        RunEvent::CaseFinished(r) => {
            let mut out = steps(r);
            out.push(finished(r, plan));
            out
        }
    }
}

fn steps(r: &CaseReport) -> Vec<Value> {
    let started = r.trace.steps.iter().enumerate().map(|(i, s)| {
        let outcome = if r.trace.failed_step == Some(i) {
            "failed"
        } else {
            "passed"
        };
        (i, s.text.as_str(), Some(s.at), outcome)
    });
    let never = (r.trace.not_run.iter())
        .enumerate()
        .map(|(i, t)| (r.trace.steps.len() + i, t.as_str(), None, "not-run"));
    started
        .chain(never)
        .map(|(i, text, at, outcome)| {
            object(
                "step",
                json!({
                    "index": r.index,
                    "suite": r.suite,
                    "case": r.name,
                    "step": i,
                    "text": text,
                    "at_ms": at.map(|d| d.as_millis() as u64),
                    "outcome": outcome,
                }),
            )
        })
        .collect()
}

fn finished(r: &CaseReport, plan: &[Planned]) -> Value {
    let (outcome, step, reason) = match &r.outcome {
        Outcome::Passed => ("passed", None, None),
        Outcome::Failed { step, message } => ("failed", Some(step), Some(message)),
        Outcome::Error { step, message } => ("error", Some(step), Some(message)),
        Outcome::Skipped { reason } => ("skipped", None, Some(reason)),
    };
    let line = (r.planned(plan))
        .and_then(|p| p.place_of(step.map_or("", |s| s.as_str())))
        .map(|(l, _)| l);
    object(
        "case-finished",
        json!({
            "index": r.index,
            "suite": r.suite,
            "case": r.name,
            "file": r.suite_file.display().to_string(),
            "line": line,
            "rig": r.rig,
            "outcome": outcome,
            "step": step,
            "reason": reason,
            "wall_ms": r.wall.as_millis() as u64,
            "rig_time_ms": r.rig_time.as_millis() as u64,
            "attempts": r.attempts.len(),
            "flaky": matches!(r.outcome, Outcome::Passed) && !r.attempts.is_empty(),
        }),
    )
}

/// The run's last object.
pub fn run_finished(
    reports: &[CaseReport],
    wall: std::time::Duration,
    state: &str,
    junit: &std::path::Path,
    html: &std::path::Path,
) -> Value {
    let t = crate::report::Tally::of(reports);
    object(
        "run-finished",
        json!({
            "passed": t.passed,
            "failed": t.failed,
            "errors": t.errors,
            "skipped": t.skipped,
            "wall_ms": wall.as_millis() as u64,
            "state": state,
            "junit": junit.display().to_string(),
            "html": html.display().to_string(),
        }),
    )
}
