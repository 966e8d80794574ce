//! What a person at a terminal sees while a run goes on: a line per case,
//! a live progress bar with the rig each case is on, and at the end the
//! failures with their step and reason.
//!
//! ```text
//! PASS  code-entry::valid code opens its compartment  [14s rig time, 0.4ms]
//! FAIL  jams::door held shut raises E31  [35s rig time, 1.1ms]
//!       at steps[2] `expect error E31 on M1 within 5s`
//!       expected error E31 on M1 within 5s, not seen; ...
//! ⠙ [00:00:03] [###########>-------------]  41/86  1 failed, 0 errors, 1 flaky  9d 4h simulated
//!   sim-0  lockouts::three wrong codes lock the keypad
//!   sim-1  power::brownout resets the controller and keeps its parcels (attempt 2)
//! ```
//!
//! The bar is drawn on standard error and only when it is a terminal; case
//! lines and the summary go to standard output, in colour only when it is a
//! terminal (and `NO_COLOR` is not set; `CLICOLOR_FORCE` forces it), so a
//! CI log or a pipe gets plain text.

use crate::model::rigfile::RigDescription;
use crate::report::{self, Tally};
use crate::rigs::{Part, Verdict};
use crate::run::runner::{CaseReport, NO_RIG_STEP, Outcome, RunEvent};
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::time::Duration;

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// The summary only.
    Quiet,
    /// A line per case; failures with their step and first line of reason.
    Normal,
    /// Also each case as it starts, every retry, and a failure's reason in
    /// full with the end of its transcript.
    Verbose,
}

/// Rigs shown a line each under the bar; more are summed up.
const RIG_LINES: usize = 8;
/// Names listed under a group of cases that ended alike.
const GROUP_NAMES: usize = 5;
/// Transcript lines shown under a failure when verbose.
const TAIL: usize = 15;

const PASS: Style = AnsiColor::Green.on_default();
const FAIL: Style = AnsiColor::Red.on_default().bold();
const ERROR: Style = AnsiColor::Magenta.on_default().bold();
const SKIP: Style = AnsiColor::Yellow.on_default();
const DIM: Style = Style::new().dimmed();

/// Text from a suite or a console made safe for a log: control characters
/// (a newline or a carriage return that would forge a line, an ANSI escape
/// that would recolour or erase one) are shown escaped, `\n`, `\u{1b}`.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A case as the terminal names it: `suite::case`, printable.
fn id(r: &CaseReport) -> String {
    format!("{}::{}", printable(&r.suite), printable(&r.name))
}

/// The tag a case line starts with, and its colour.
pub fn tag(r: &CaseReport) -> (&'static str, Style) {
    match r.outcome {
        Outcome::Passed if r.is_flaky() => ("FLAKY", SKIP),
        Outcome::Passed => ("PASS ", PASS),
        Outcome::Failed { .. } => ("FAIL ", FAIL),
        Outcome::Error { .. } => ("ERROR", ERROR),
        Outcome::Skipped { .. } => ("SKIP ", SKIP),
    }
}

/// A bar that is only its message: a rig's line under the progress bar.
fn text_line() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The live view of a run.
#[derive(Debug)]
pub struct Terminal {
    verbosity: Verbosity,
    bars: Option<Bars>,
    tally: Tally,
    flaky: usize,
    simulated: Duration,
    /// Rig errors already said: rigs that broke alike are said once.
    broken: Vec<String>,
}

#[derive(Debug)]
struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
    rigs: BTreeMap<String, ProgressBar>,
    /// Rigs busy beyond the ones with a line.
    more: ProgressBar,
}

impl Terminal {
    /// A view on standard output and error; the bar is drawn only when
    /// standard error is a terminal.
    pub fn new(verbosity: Verbosity) -> Self {
        Self::with_target(verbosity, ProgressDrawTarget::stderr())
    }

    /// A view whose bar goes to `target` (hidden in tests).
    pub fn with_target(verbosity: Verbosity, target: ProgressDrawTarget) -> Self {
        let bars = (verbosity != Verbosity::Quiet && !target.is_hidden()).then(|| {
            let multi = MultiProgress::with_draw_target(target);
            let main = multi.add(ProgressBar::new(0));
            main.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] [{bar:30}] {pos:>4}/{len:4} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-"),
            );
            main.enable_steady_tick(Duration::from_millis(120));
            let more = multi.add(ProgressBar::hidden());
            more.set_style(text_line());
            Bars {
                multi,
                main,
                rigs: BTreeMap::new(),
                more,
            }
        });
        Self {
            verbosity,
            bars,
            tally: Tally::default(),
            flaky: 0,
            simulated: Duration::ZERO,
            broken: Vec::new(),
        }
    }

    /// Print a line to standard output, keeping the bar intact.
    /// A reader that went away (`| head`) costs the line, not the run.
    fn say(&self, line: &str) {
        use std::io::Write;
        let write = || {
            let _ = writeln!(anstream::stdout(), "{line}");
        };
        match &self.bars {
            Some(b) => b.multi.suspend(write),
            None => write(),
        }
    }

    fn status(&self) -> String {
        format!(
            "{} failed, {} errors, {} flaky  {} simulated",
            self.tally.failed,
            self.tally.errors,
            self.flaky,
            crate::model::units::fmt_span(self.simulated)
        )
    }

    pub fn event(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::Started { cases, jobs } => {
                if let Some(b) = &self.bars {
                    b.main.set_length(*cases as u64);
                    b.main.set_message(self.status());
                }
                if self.verbosity != Verbosity::Quiet {
                    self.say(&format!("running {cases} cases on {jobs} rig(s)"));
                }
            }
            RunEvent::RigReady { rig, flash } => {
                if self.verbosity != Verbosity::Quiet {
                    self.say(&format!(
                        "rig {rig}: firmware {} from {}",
                        flash.build(),
                        flash.image
                    ));
                }
            }
            RunEvent::RigBroken { rig, error } => {
                let error = error.to_string();
                if self.broken.contains(&error) {
                    return;
                }
                if self.verbosity != Verbosity::Quiet {
                    let mut text = format!("{ERROR}RIG ERROR{ERROR:#} {rig}: takes no case:");
                    for l in error.lines() {
                        text.push_str(&format!("\n      {}", printable(l)));
                    }
                    self.say(&text);
                }
                self.broken.push(error);
            }
            RunEvent::CaseStarted {
                rig, case, attempt, ..
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                if self.verbosity == Verbosity::Verbose {
                    let case = printable(case);
                    self.say(&format!("{DIM}START {rig}: {case}{again}{DIM:#}"));
                }
                if let Some(b) = &mut self.bars {
                    let line = format!("  {rig}  {}{again}", printable(case));
                    if let Some(bar) = b.rigs.get(rig) {
                        bar.set_message(line);
                    } else if b.rigs.len() < RIG_LINES {
                        let bar = b.multi.insert_before(&b.more, ProgressBar::new_spinner());
                        bar.set_style(text_line());
                        bar.set_message(line);
                        b.rigs.insert(rig.clone(), bar);
                    } else {
                        b.more.set_message(format!(
                            "  ... and more rigs (one line each for the first {RIG_LINES})"
                        ));
                    }
                }
            }
            RunEvent::CaseFinished(r) => {
                self.simulated += r.rig_time;
                self.flaky += usize::from(r.is_flaky());
                self.tally.add(&r.outcome);
                if let Some(b) = &self.bars {
                    b.main.inc(1);
                    b.main.set_message(self.status());
                }
                match self.verbosity {
                    Verbosity::Quiet => {}
                    Verbosity::Normal => self.say(&case_line(r, 1, 0)),
                    Verbosity::Verbose => self.say(&case_line(r, usize::MAX, TAIL)),
                }
            }
        }
    }

    /// Take the bar down before the summary.
    pub fn finish(&mut self) {
        if let Some(b) = self.bars.take() {
            for bar in b.rigs.values() {
                bar.finish_and_clear();
            }
            b.more.finish_and_clear();
            b.main.finish_and_clear();
            let _ = b.multi.clear();
        }
    }

    /// The closing summary, coloured where standard output takes colour.
    pub fn summary(&mut self, reports: &[CaseReport], wall: Duration) {
        self.finish();
        use std::io::Write;
        let _ = write!(anstream::stdout(), "{}", summary(reports, wall));
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One case: its tag, its name, rig time and wall time; for a failure the
/// step and `lines` lines of the reason, and the last `tail` transcript
/// lines.
pub fn case_line(r: &CaseReport, lines: usize, tail: usize) -> String {
    let (tag, style) = tag(r);
    let mut out = format!(
        "{style}{tag}{style:#} {}  {DIM}[{} rig time, {:.1}ms]{DIM:#}",
        id(r),
        crate::model::units::fmt_elapsed(r.rig_time),
        r.wall.as_secs_f64() * 1e3
    );
    match &r.outcome {
        // The rig's error was said once when the rig broke.
        Outcome::Error { step, .. } if step == NO_RIG_STEP => {
            out.push_str("  (not run: no healthy rig; the rig error is said above)");
        }
        Outcome::Failed { step, message } | Outcome::Error { step, message } => {
            out.push_str(&format!("\n      at {}", printable(step)));
            for l in message.lines().take(lines) {
                out.push_str(&format!("\n      {}", printable(l)));
            }
            for t in r.transcript.last(tail) {
                out.push_str(&format!("\n      {DIM}{}{DIM:#}", t.render()));
            }
        }
        Outcome::Skipped { reason } => out.push_str(&format!("  ({reason})")),
        Outcome::Passed if r.is_flaky() => out.push_str(&format!(
            "  (passed after {} failed run(s))",
            r.attempts.len()
        )),
        Outcome::Passed => {}
    }
    out
}

/// The closing summary: failures and errors in full (step and reason),
/// flaky cases, then the counts.
pub fn summary(reports: &[CaseReport], wall: Duration) -> String {
    let t = Tally::of(reports);
    let mut out = String::new();
    let bad: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. } | Outcome::Error { .. }))
        .collect();
    if !bad.is_empty() {
        out.push_str("\nFailures and errors:\n");
        // Cases that ended alike (every case of a rig whose firmware does
        // not build) are said once, with their names.
        let mut groups: Vec<(&Outcome, Vec<&CaseReport>)> = Vec::new();
        for r in bad {
            match groups.iter_mut().find(|(o, _)| **o == r.outcome) {
                Some((_, cases)) => cases.push(r),
                None => groups.push((&r.outcome, vec![r])),
            }
        }
        for (outcome, cases) in groups {
            let (Outcome::Failed { step, message } | Outcome::Error { step, message }) = outcome
            else {
                continue;
            };
            let (tag, style) = tag(cases[0]);
            let tag = tag.trim_end();
            if let [r] = cases[..] {
                out.push_str(&format!(
                    "\n{style}{tag}{style:#} {}\n  at {}\n",
                    id(r),
                    printable(step)
                ));
            } else {
                out.push_str(&format!(
                    "\n{style}{tag}{style:#} {} cases, all at {}:\n",
                    cases.len(),
                    printable(step)
                ));
                for r in cases.iter().take(GROUP_NAMES) {
                    out.push_str(&format!("  {}\n", id(r)));
                }
                if cases.len() > GROUP_NAMES {
                    out.push_str(&format!("  ... and {} more\n", cases.len() - GROUP_NAMES));
                }
            }
            for l in message.lines() {
                out.push_str(&format!("  {}\n", printable(l)));
            }
            let earlier: usize = cases.iter().map(|r| r.attempts.len()).sum();
            if earlier > 0 {
                out.push_str(&format!("  (failed in {earlier} earlier run(s) too)\n"));
            }
        }
    }
    let flaky: Vec<_> = reports.iter().filter(|r| r.is_flaky()).collect();
    if !flaky.is_empty() {
        out.push_str("\nFlaky (passed after failing):\n");
        for r in &flaky {
            out.push_str(&format!("  {}", id(r)));
            for a in &r.attempts {
                if let Outcome::Failed { step, message } | Outcome::Error { step, message } =
                    &a.outcome
                {
                    out.push_str(&format!(
                        "\n    seed {}: at {}: {}",
                        a.seed,
                        printable(step),
                        printable(report::first_line(message))
                    ));
                }
            }
            out.push('\n');
        }
    }
    let caveats: std::collections::BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| &r.caveats)
        .map(|c| c.text.as_str())
        .collect();
    if !caveats.is_empty() {
        out.push_str("\nNot checked on this rig:\n");
        for c in caveats {
            out.push_str(&format!("  {}\n", printable(c)));
        }
    }
    let style = if t.failed + t.errors > 0 { FAIL } else { PASS };
    out.push_str(&format!(
        "\n{style}{} cases: {} passed, {} failed, {} errors, {} skipped{style:#}{} in {:.2}s\n",
        reports.len(),
        t.passed,
        t.failed,
        t.errors,
        t.skipped,
        if flaky.is_empty() {
            String::new()
        } else {
            format!(" ({} flaky)", flaky.len())
        },
        wall.as_secs_f64()
    ));
    out
}

/// `harness rig check`'s report as printed, one part a line.
pub fn preflight(desc: &RigDescription, parts: &[Part]) -> String {
    let mut out = format!("rig {} ({})\n", desc.name, desc.file.display());
    let mut bad = 0;
    for p in parts {
        let (tag, text) = match &p.verdict {
            Verdict::Ok(t) => ("ok", t),
            Verdict::Fail(t) => {
                bad += 1;
                ("FAIL", t)
            }
            Verdict::Skipped(t) => {
                bad += 1;
                ("skip", t)
            }
        };
        out.push_str(&format!("  {:<11} {tag:<5} {text}\n", p.name));
    }
    if bad == 0 {
        out.push_str(&format!("all {} parts ready\n", parts.len()));
    } else {
        out.push_str(&format!("{bad} of {} parts not ready\n", parts.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::runner::{Attempt, Planned, not_run};
    use std::time::SystemTime;

    fn planned(name: &str) -> Planned {
        let suites = crate::model::load_suites(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/jams.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let mut p = crate::run::runner::plan(&suites, |_, _| true).remove(0);
        p.case.name = name.into();
        p
    }

    fn report(i: usize, name: &str, outcome: Outcome) -> CaseReport {
        let mut r = not_run(i, &planned(name), "sim", outcome);
        r.rig_time = Duration::from_secs(35);
        r
    }

    fn plain(s: &str) -> String {
        anstream::adapter::strip_str(s).to_string()
    }

    /// Issue 14: a newline or an ANSI escape in a case name forged lines
    /// in a CI log.
    #[test]
    fn names_cannot_forge_or_recolour_log_lines() {
        let r = report(
            0,
            "evil\nPASS  jams::forged\u{1b}[2K",
            Outcome::Failed {
                step: "steps[0] `expect display \"\r\"`".into(),
                message: "seen \u{1b}[31mred".into(),
            },
        );
        // The only escapes left are the harness's own colours: as many as
        // a harmless case gets.
        let mut benign = r.clone();
        benign.name = "benign".into();
        benign.outcome = Outcome::Failed {
            step: "steps[0]".into(),
            message: "seen red".into(),
        };
        let escapes = |s: &str| s.matches('\u{1b}').count();
        let line = case_line(&r, 1, 0);
        assert_eq!(line.lines().count(), 3, "{line}");
        assert_eq!(
            escapes(&line),
            escapes(&case_line(&benign, 1, 0)),
            "{line:?}"
        );
        assert!(
            plain(&line).contains("evil\\nPASS  jams::forged\\u{1b}[2K"),
            "{line}"
        );
        let said = summary(std::slice::from_ref(&r), Duration::ZERO);
        let benign = summary(std::slice::from_ref(&benign), Duration::ZERO);
        assert_eq!(escapes(&said), escapes(&benign), "{said:?}");
        assert!(!said.contains('\r'), "{said:?}");
        assert!(
            !plain(&said).lines().any(|l| l.starts_with("PASS")),
            "{said}"
        );
    }

    /// Issue 13: a firmware that does not build was said 86 times.
    #[test]
    fn cases_that_ended_alike_are_said_once_under_their_reason() {
        let no_rig = || {
            Outcome::Error {
            step: NO_RIG_STEP.into(),
            message: "no healthy rig could run this case: flashing failed: the Rust target `thumbv7em-none-eabihf` is not installed".into(),
        }
        };
        let reports: Vec<CaseReport> = (0..8)
            .map(|i| report(i, &format!("case {i}"), no_rig()))
            .chain([report(
                8,
                "alone",
                Outcome::Failed {
                    step: "steps[0] `expect code wrong`".into(),
                    message: "expected code wrong within 1s, not seen".into(),
                },
            )])
            .collect();
        insta::assert_snapshot!(plain(&summary(&reports, Duration::from_millis(40))), @r"

            Failures and errors:

            ERROR 8 cases, all at flash:
              jams::case 0
              jams::case 1
              jams::case 2
              jams::case 3
              jams::case 4
              ... and 3 more
              no healthy rig could run this case: flashing failed: the Rust target `thumbv7em-none-eabihf` is not installed

            FAIL jams::alone
              at steps[0] `expect code wrong`
              expected code wrong within 1s, not seen

            9 cases: 0 passed, 1 failed, 8 errors, 0 skipped in 0.04s
            ");
        insta::assert_snapshot!(plain(&case_line(&reports[0], 1, 0)), @r"ERROR jams::case 0  [35s rig time, 0.0ms]  (not run: no healthy rig; the rig error is said above)");
    }

    #[test]
    fn the_summary_lists_failures_with_step_and_reason_then_flaky_then_counts() {
        let failed = Outcome::Failed {
            step: "steps[2] `expect error E31 on M1 within 5s`".into(),
            message: "expected error E31 on M1 within 5s, not seen\nseen instead: jam M1".into(),
        };
        let mut flaky = report(2, "sometimes slow", Outcome::Passed);
        flaky.attempts.push(Attempt {
            outcome: Outcome::Failed {
                step: "steps[0] `expect lock released`".into(),
                message: "expected lock released within 1s, not seen".into(),
            },
            rig: "sim".into(),
            seed: 41,
            started: SystemTime::UNIX_EPOCH,
            wall: Duration::ZERO,
            transcript: String::new(),
        });
        let reports = [
            report(0, "door held shut raises E31", failed),
            report(1, "fine", Outcome::Passed),
            flaky,
            report(
                3,
                "later",
                Outcome::Skipped {
                    reason: "quarantined: LOCK-9".into(),
                },
            ),
        ];
        insta::assert_snapshot!(plain(&summary(&reports, Duration::from_millis(1234))), @r"

        Failures and errors:

        FAIL jams::door held shut raises E31
          at steps[2] `expect error E31 on M1 within 5s`
          expected error E31 on M1 within 5s, not seen
          seen instead: jam M1

        Flaky (passed after failing):
          jams::sometimes slow
            seed 41: at steps[0] `expect lock released`: expected lock released within 1s, not seen

        4 cases: 2 passed, 1 failed, 0 errors, 1 skipped (1 flaky) in 1.23s
        ");
        insta::assert_snapshot!(plain(&case_line(&reports[2], 1, 0)), @"FLAKY jams::sometimes slow  [35s rig time, 0.0ms]  (passed after 1 failed run(s))");
        insta::assert_snapshot!(plain(&case_line(&reports[0], 1, 0)), @r"
        FAIL  jams::door held shut raises E31  [35s rig time, 0.0ms]
              at steps[2] `expect error E31 on M1 within 5s`
              expected error E31 on M1 within 5s, not seen
        ");
    }
}
