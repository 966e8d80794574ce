//! `harness run`: the plan checked, its outputs checked, the run with its
//! reporters, stopped by a signal or finished.

use crate::cli::{
    Exit, Format, RunArgs, check_outputs, forget_journal, load_rig_for, select, stop,
};
use crate::model::rigfile::RigDescription;
use crate::report::terminal::{Terminal, Verbosity};
use crate::report::{self, RunState, Tally};
use crate::rigs::any::AnyRig;
use crate::run::runner::{self, RunEvent};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub(super) fn run(a: RunArgs) -> Exit {
    let (suites, mut plan) = match select(&a.sel) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let path = match a.rig_label.is_empty() {
        true => a.rig.clone(),
        false => match AnyRig::by_labels(&a.rigs_dir, &a.rig_label) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInput;
            }
        },
    };
    // Only what this run will run must be in the rig's power.
    let chosen =
        |suite: &str, case: &str| plan.iter().any(|p| p.suite == suite && p.case.name == case);
    let rig = match load_rig_for(&suites, &path, chosen) {
        Ok(r) => r,
        Err(e) => return e,
    };
    // Before anything runs: a report path that cannot be right, or cannot
    // be written, must not cost a run's results. (`--durations` may name
    // the report it rewrites: it is read whole before the run.)
    let inputs: Vec<&Path> = (suites.iter().map(|(p, _)| p.as_path()))
        .chain([path.as_path()])
        .collect();
    let journal = report::writer::journal_path(&a.junit);
    if let Err(e) = check_outputs(
        &[
            ("--junit", &a.junit),
            ("--html", &a.html),
            ("--junit's journal", &journal),
        ],
        &inputs,
    ) {
        return e;
    }
    let jobs = match a.jobs {
        Some(0) => {
            eprintln!("error: --jobs must be at least 1");
            return Exit::BadInput;
        }
        Some(n) => n,
        None => AnyRig::default_jobs(&rig),
    };
    if plan.is_empty() {
        match a.sel.shard {
            // A shard can be empty when there are fewer cases than shards:
            // nothing to do is not an error for that CI job.
            Some(shard) => {
                let said =
                    format!("shard {shard} has no cases (there are fewer cases than shards)");
                if let Err(e) = report::write_junit(&a.junit, &[], &RunState::Complete) {
                    eprintln!("error: {e}");
                    return Exit::RigError;
                }
                if a.format == Format::Json {
                    // Standard output stays JSON: a run of nothing, complete.
                    eprintln!("{said}");
                    let started = RunEvent::Started { cases: 0, jobs: 0 };
                    for obj in report::json::of_event(&started, &[], &rig.name) {
                        out!("{obj}");
                    }
                    let last = report::json::run_finished(
                        &[],
                        std::time::Duration::ZERO,
                        "complete",
                        &a.junit,
                        &a.html,
                    );
                    out!("{last}");
                } else {
                    out!("{said}");
                }
                return Exit::Ok;
            }
            None => {
                eprintln!(
                    "error: no case matches the selection; `harness list` shows what there is"
                );
                return Exit::BadInput;
            }
        }
    }
    if let Some(warning) = wall_warning(&rig, &plan, jobs, a.max_wall) {
        eprintln!("{warning}");
    }
    let transcripts = crate::run::transcript::folder_for(&a.junit);
    if let Err(e) = crate::run::transcript::prepare(&transcripts) {
        eprintln!("error: {e}");
        return Exit::BadInput;
    }
    for p in &mut plan {
        p.retries.get_or_insert(a.retries);
        p.timeout = p.timeout.or(a.case_timeout);
        p.transcripts = Some(transcripts.clone());
    }
    execute(plan, &a, jobs, Arc::new(rig))
}

/// Cases named in a wall-time warning.
const LONGEST: usize = 5;

/// On a wall-clock rig (a bench), what the plan would cost when that is
/// more than `max`: the estimate and its longest cases, each with what
/// makes it long (see [`crate::model::cost`]). `None` when it fits.
fn wall_warning(
    rig: &RigDescription,
    plan: &[runner::Planned],
    jobs: usize,
    max: std::time::Duration,
) -> Option<String> {
    use crate::model::{cost, fit, units::fmt_span};
    if rig.kind_name() != "bench" {
        return None;
    }
    let mut cases: Vec<(std::time::Duration, &runner::Planned)> = (plan.iter())
        .filter(|p| fit::skipped(rig, &p.case).is_none())
        .map(|p| (cost::wall(&p.case, cost::moves_clocks(rig, &p.case)), p))
        .collect();
    let total: std::time::Duration = cases.iter().map(|(w, _)| *w).sum();
    let wall = total / u32::try_from(jobs.max(1)).unwrap_or(1);
    if wall <= max {
        return None;
    }
    cases.sort_by_key(|c| std::cmp::Reverse(c.0));
    let mut text = format!(
        "warning: this plan would take about {} of wall time on bench `{}` ({} cases; --max-wall {}), mostly waiting on purpose. The longest:",
        fmt_span(wall),
        rig.name,
        cases.len(),
        fmt_span(max)
    );
    for (w, p) in cases.iter().take(LONGEST) {
        let why: Vec<String> = (cost::longest_waits(&p.case, cost::moves_clocks(rig, &p.case), 2)
            .into_iter())
        .map(|(_, s)| s)
        .collect();
        text.push_str(&format!(
            "\n  ~{}  {}{}",
            fmt_span(*w),
            report::terminal::printable(&p.id()),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            }
        ));
    }
    text.push_str("\n  `harness list --rig` estimates every case; --filter or --shard K/N cut the plan, and `tag:slow` marks the long ones.");
    Some(text)
}

/// Run the plan, reporting as cases finish.
///
/// Ctrl-C, SIGTERM or SIGHUP stops the run: cases in progress are
/// abandoned (their rigs are dropped, which powers emulators down) and
/// reported as errors, cases never started as skipped, finished cases stay,
/// and the harness exits 128 + the signal (see [`crate::cli::stop`]).
fn execute(
    plan: Vec<runner::Planned>,
    a: &RunArgs,
    jobs: usize,
    desc: Arc<RigDescription>,
) -> Exit {
    let planned = plan.clone();
    let rig_name = desc.name.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 64))
        .enable_time()
        .enable_io()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Exit::RigError;
        }
    };
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let html = |reports: &[runner::CaseReport], state: &RunState| {
        let info = report::html::RunInfo {
            rig: rig_name.clone(),
            started: started_at,
            wall: started.elapsed(),
            state: state.clone(),
            page: Some(a.html.clone()),
        };
        report::html::write(&a.html, reports, &info)
    };
    // Before the first case: a run that dies early leaves a report that
    // says it did not finish, not the previous run's.
    let early: Vec<String> = [
        report::write_junit(&a.junit, &[], &RunState::InProgress).err(),
        html(&[], &RunState::InProgress).err(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !early.is_empty() {
        for e in early {
            eprintln!("error: {e}");
        }
        return Exit::RigError;
    }
    let writer = match report::writer::Writer::spawn(a.junit.clone()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot start the report writer: {e}");
            return Exit::RigError;
        }
    };
    let verbosity = match (a.quiet, a.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    // `--format json`: the events on standard output, nothing for people.
    let json = a.format == Format::Json;
    let mut terminal = (!json).then(|| Terminal::new(verbosity));
    let mut say = |ev: &RunEvent| {
        if let Some(t) = terminal.as_mut() {
            t.event(ev);
        } else {
            for obj in report::json::of_event(ev, &planned, &rig_name) {
                out!("{obj}");
            }
        }
    };
    let snapshots = a.snapshots.map(|mode| report::snapshots::Snapshots {
        mode,
        kind: desc.kind_name().to_owned(),
        dir: a.snapshot_dir.clone(),
    });
    // Cases a rig has taken and not finished, by plan index, with the rig:
    // what a stop interrupts.
    let mut running: HashMap<usize, String> = HashMap::new();
    // Cases whose end was reported, by plan index: a stop reports the rest.
    let mut reported: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut stopped_by = None;
    let outcome = runtime.block_on(async {
        let stop = async {
            stopped_by = Some(stop::signalled().await);
        };
        let on_event = |ev: &RunEvent| match ev {
            RunEvent::CaseStarted { index, rig, .. } => {
                running.insert(*index, rig.clone());
                say(ev);
            }
            RunEvent::CaseFinished(r) => {
                let mut r = (**r).clone();
                r.page = Some(a.html.clone());
                if let Some(s) = &snapshots {
                    s.apply(&mut r);
                }
                running.remove(&r.index);
                reported.insert(r.index);
                let ev = RunEvent::CaseFinished(Box::new(r));
                say(&ev);
                // On disk shortly: a run killed half-way keeps what it finished.
                if let RunEvent::CaseFinished(r) = ev {
                    writer.add(*r);
                }
            }
            ev => say(ev),
        };
        crate::run::run_plan(plan, jobs, desc, on_event, stop).await
    });
    if let Some(t) = terminal.as_mut() {
        t.finish();
    }
    let annotate = |reports: &[runner::CaseReport]| {
        if a.annotations.github(|k| std::env::var(k).ok()) {
            github(&planned, reports, json);
        }
    };
    let Some(_) = outcome else {
        let by = stopped_by.unwrap_or(stop::Stop::Interrupt);
        // Unfinished cases stay visible: the ones a rig was running are
        // errors (their verdict is lost), the others skipped with why.
        let done = writer.finish().reports;
        let finished = done.len();
        let (mut done, cut) =
            crate::run::verdict::after_stop(&planned, done, &running, by.name(), &rig_name);
        for r in &mut done {
            r.page = Some(a.html.clone());
        }
        // Each report on its own: one that cannot be written does not keep
        // the other from being written.
        let state = RunState::Interrupted(by.name().to_owned());
        match report::write_junit(&a.junit, &done, &state) {
            Ok(()) => forget_journal(&a.junit),
            Err(e) => eprintln!("error: {e}"),
        }
        if let Err(e) = html(&done, &state) {
            eprintln!("error: {e}");
        }
        annotate(&done);
        if json {
            // The cases the stop cut short or never started end here too.
            for r in done.iter().filter(|r| !reported.contains(&r.index)) {
                let ev = RunEvent::CaseFinished(Box::new(r.clone()));
                for obj in report::json::of_event(&ev, &planned, &rig_name) {
                    out!("{obj}");
                }
            }
            let state = format!("interrupted by {}", by.name());
            let last =
                report::json::run_finished(&done, started.elapsed(), &state, &a.junit, &a.html);
            out!("{last}");
        }
        eprintln!(
            "stopped by {}: {finished} case(s) finished, {cut} interrupted (errors), {} never started (skipped); reports in {} and {}",
            by.name(),
            done.len() - finished - cut,
            a.junit.display(),
            a.html.display()
        );
        return by.exit();
    };
    // The writer holds every case as reported (after snapshot checks).
    let written = writer.finish();
    if let Some(e) = &written.error {
        eprintln!("warning: while the run went on: {e}");
    }
    let reports = written.reports;
    // The run's last writes, each attempted whatever became of the other.
    let junit_error = report::write_junit(&a.junit, &reports, &RunState::Complete).err();
    if junit_error.is_none() {
        forget_journal(&a.junit);
    }
    let html_error = html(&reports, &RunState::Complete).err();
    annotate(&reports);
    match terminal.as_mut() {
        Some(t) => t.summary(&reports, started.elapsed()),
        None => out!(
            "{}",
            report::json::run_finished(&reports, started.elapsed(), "complete", &a.junit, &a.html)
        ),
    }
    // A write that failed while the run went on is healed by a last one
    // that worked; only the last writes decide.
    let errors: Vec<String> = [junit_error, html_error].into_iter().flatten().collect();
    if !errors.is_empty() {
        for e in errors {
            eprintln!("error: {e}");
        }
        return Exit::RigError;
    }
    if !json {
        out!("JUnit: {}", a.junit.display());
        out!("HTML:  {}", a.html.display());
    }
    Exit::from_tally(Tally::of(&reports))
}

/// GitHub Actions: an `::error` at each failing step (on standard error
/// when standard output carries JSON; the runner reads both), and the
/// run's summary in `$GITHUB_STEP_SUMMARY`.
fn github(plan: &[runner::Planned], reports: &[runner::CaseReport], json: bool) {
    use report::annotate;
    let notes = annotate::of_run(plan, reports);
    for line in annotate::github_lines(&notes, "the job summary and the JUnit report list") {
        if json {
            eprintln!("{line}");
        } else {
            out!("{line}");
        }
    }
    annotate::append_summary(&annotate::github_summary(&notes, reports));
}
