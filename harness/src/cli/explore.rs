//! `harness explore`: the rig made and flashed, scenarios run until the
//! budget is spent, progress on standard error, the summary on standard
//! output, and the exit code: 0 nothing found, 1 found and written, 2 bad
//! input, 3 the rig broke.

use crate::cli::{Exit, ExploreArgs, report_errors, stop};
use crate::explore::draw::Weights;
use crate::explore::{Budget, Explored, Explorer, Finding, Progress, Settings, Tally};
use crate::model::rigfile::RigDescription;
use crate::model::units::fmt_span;
use crate::rigs::Rig;
use crate::rigs::any::AnyRig;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Progress lines at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// The budget when neither `--budget` nor `--cases` is given.
const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

pub(super) fn explore(a: ExploreArgs) -> Exit {
    let desc = match RigDescription::load(&a.rig) {
        Ok(d) => d,
        Err(e) => return report_errors(&e),
    };
    let weights = match &a.weights {
        None => Weights::default(),
        Some(p) => match Weights::load(p) {
            Ok(w) => w,
            Err(e) => return report_errors(&[e]),
        },
    };
    if a.length == 0 {
        eprintln!("error: --length must be at least 1");
        return Exit::BadInput;
    }
    // Found before anything runs, not when the first finding is written.
    if a.out.exists() && !a.out.is_dir() {
        eprintln!(
            "error: --out {}: not a folder; expected a folder for the repro suite files (made if missing)",
            a.out.display()
        );
        return Exit::BadInput;
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            % 1_000_000_000
    });
    let budget = match (a.cases, a.budget) {
        (Some(n), _) => Budget::Cases(n),
        (None, b) => Budget::Wall(b.unwrap_or(DEFAULT_BUDGET)),
    };
    let settings = Settings {
        budget,
        seed,
        length: a.length,
        weights,
        out: a.out.clone(),
        rig_file: a.rig.display().to_string(),
        shrink_runs: a.shrink_runs,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Exit::RigError;
        }
    };
    let budget_text = match budget {
        Budget::Wall(w) => fmt_span(w),
        Budget::Cases(n) => format!("{n} scenarios"),
    };
    eprintln!(
        "explore: rig {} ({}), seed {seed}, budget {budget_text}, scenarios of {}+ steps; repros go to {}",
        desc.name,
        desc.kind_name(),
        a.length,
        a.out.display()
    );
    // What the run found so far, kept here so that a stop still reports it.
    let seen = RefCell::new(Explored::default());
    let mut last = Instant::now();
    let on = |p: Progress<'_>| match p {
        Progress::Tried(t, found) => {
            seen.borrow_mut().tally = t.clone();
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                eprintln!("  {}", progress_line(t, found));
            }
        }
        Progress::Found {
            signature,
            scenario,
            steps,
        } => eprintln!("  found: {signature} in scenario {scenario} ({steps} steps); shrinking..."),
        Progress::Shrinking { runs, steps } => {
            if last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                eprintln!("  shrinking: {runs} runs, down to {steps} steps so far");
            }
        }
        Progress::Shrunk(f) => {
            eprintln!(
                "  shrunk to {} steps in {} runs: {}",
                f.steps_after,
                f.shrink_runs,
                f.file.display()
            );
            seen.borrow_mut().findings.push(f.clone());
        }
        Progress::RigError(e) => eprintln!("  rig error: {e}"),
    };
    let mut stopped = None;
    let explored = runtime.block_on(async {
        let mut rig = match AnyRig::for_worker(&desc, 0, 1) {
            Ok(r) => r,
            Err(e) => return Err(e.to_string()),
        };
        let flash = match rig.flash().await {
            Ok(f) => f,
            Err(e) => return Err(e.to_string()),
        };
        let mut ex = Explorer::new(&mut rig, &desc, &flash);
        tokio::select! {
            r = ex.explore(&settings, on) => Ok(Some(r)),
            s = stop::signalled() => {
                stopped = Some(s);
                Ok(None)
            }
        }
    });
    let explored = match explored {
        Ok(Some(e)) => e,
        Ok(None) => seen.into_inner(),
        Err(e) => {
            eprintln!("error: rig {}: {e}", desc.name);
            return Exit::RigError;
        }
    };
    summary(&explored, &desc.name, seed);
    if let Some(s) = stopped {
        eprintln!(
            "stopped by {}: the findings above are written; a finding being shrunk was dropped",
            s.name()
        );
        return s.exit();
    }
    if let Some(why) = &explored.broken {
        eprintln!("error: {why}");
        return Exit::RigError;
    }
    if explored.findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

fn progress_line(t: &Tally, findings: usize) -> String {
    format!(
        "{} scenarios ({:.0}/s), {} steps, {} simulated, {} went another way, {} rig errors, {findings} finding(s)",
        t.scenarios,
        t.scenarios as f64 / t.wall.as_secs_f64().max(1e-3),
        t.steps,
        fmt_span(t.rig_time),
        t.diverged,
        t.rig_errors
    )
}

fn summary(e: &Explored, rig: &str, seed: u64) {
    let t = &e.tally;
    out!(
        "explore on {rig}, seed {seed}: {} scenarios in {} ({:.0}/s), {} steps, {} of rig time; {} went another way, {} rig errors, {} repeat(s) of a finding",
        t.scenarios,
        fmt_span(t.wall),
        t.scenarios as f64 / t.wall.as_secs_f64().max(1e-3),
        t.steps,
        fmt_span(t.rig_time),
        t.diverged,
        t.rig_errors,
        t.duplicates
    );
    for u in &e.unfit {
        out!("  left out (this rig cannot do it): {u}");
    }
    if e.findings.is_empty() {
        out!("nothing found");
        return;
    }
    for f in &e.findings {
        out!("{}", finding_line(f));
    }
    out!(
        "{} finding(s); `harness run --rig <rig> <file>` fails each again",
        e.findings.len()
    );
}

fn finding_line(f: &Finding) -> String {
    let replay = match &f.reproduced {
        Ok(()) => "reproduces from the file".to_owned(),
        Err(e) => format!("DOES NOT reproduce from the file: {e}"),
    };
    format!(
        "FOUND {}\n  after {} (scenario {}); {} steps shrunk to {} in {} runs; {replay}\n  {}\n  {}",
        f.signature,
        fmt_span(f.after),
        f.scenario,
        f.steps_before,
        f.steps_after,
        f.shrink_runs,
        f.file.display(),
        f.message.lines().next().unwrap_or("")
    )
}
