//! `harness list` and `harness check`.

use crate::cli::{CheckArgs, Exit, Format, ListArgs, report_errors, rig_for, select};
use crate::model::diag::InputError;
use crate::model::rigfile::RigDescription;
use crate::model::{cost, fit, load_suites, units};
use crate::report;

pub(super) fn list(a: ListArgs) -> Exit {
    let (suites, plan) = match select(&a.sel) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let rig = match a.rig.as_deref().map(RigDescription::load).transpose() {
        Ok(r) => r,
        Err(e) => return report_errors(&e),
    };
    let mut totals = Totals::default();
    for p in &plan {
        let suite = suites
            .iter()
            .find(|(_, s)| s.name == p.suite)
            .map(|(_, s)| s);
        let mut tags = p.case.tags.clone();
        for t in suite.map(|s| s.tags.as_slice()).unwrap_or_default() {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let on_rig = rig.as_ref().map(|r| OnRig::of(r, &p.case));
        if let Some(o) = &on_rig {
            totals.add(o);
        }
        if a.json {
            let mut obj = serde_json::json!({
                "suite": p.suite,
                "name": p.case.name,
                "tags": tags,
                "file": p.suite_file.display().to_string(),
                "skip": p.case.skip,
                "skip-on": p.case.skip_on,
                "retries": p.retries,
                "quarantine": p.quarantine.as_ref().map(|q| serde_json::json!({
                    "reason": q.reason,
                    "link": q.link,
                })),
            });
            if let (Some(o), Some(r)) = (&on_rig, &rig) {
                obj["rig"] = o.json(r);
            }
            out!("{obj}");
        } else {
            let quarantined = if p.quarantine.is_some() {
                "  (quarantined)"
            } else {
                ""
            };
            let verdict = on_rig
                .as_ref()
                .map_or_else(String::new, |o| format!("  {}", o.line()));
            out!(
                "{}  [{}]{quarantined}{}",
                report::terminal::printable(&p.id()),
                report::terminal::printable(&tags.join(", ")),
                report::terminal::printable(&verdict)
            );
        }
    }
    if let (Some(r), false) = (&rig, a.json) {
        out!("{}", totals.line(r));
    }
    Exit::Ok
}

/// What becomes of a case on a rig: run (and what it costs), skipped, or
/// refused.
enum OnRig {
    Run {
        wall: std::time::Duration,
        waits: Vec<(std::time::Duration, String)>,
    },
    Skip(String),
    Refuse(Vec<String>),
}

impl OnRig {
    fn of(rig: &RigDescription, case: &crate::model::suite::Case) -> Self {
        if let Some(why) = fit::skipped(rig, case) {
            return Self::Skip(why.to_owned());
        }
        let unfit = fit::unfit_steps(rig, case);
        if !unfit.is_empty() {
            return Self::Refuse(
                (unfit.into_iter())
                    .map(|(_, step, u)| format!("{step}: {}", u.why))
                    .collect(),
            );
        }
        Self::Run {
            wall: cost::wall(case, cost::moves_clocks(rig, case)),
            waits: cost::longest_waits(case, cost::moves_clocks(rig, case), 2),
        }
    }

    fn line(&self) -> String {
        match self {
            Self::Run { wall, waits } => {
                let mut s = format!("run, ~{}", units::fmt_span(*wall));
                if !waits.is_empty() {
                    let w: Vec<String> = waits.iter().map(|(_, w)| w.clone()).collect();
                    s.push_str(&format!(" ({})", w.join(", ")));
                }
                s
            }
            Self::Skip(why) => format!("skip: {why}"),
            Self::Refuse(why) => format!("refused: {}", why.join("; ")),
        }
    }

    fn json(&self, rig: &RigDescription) -> serde_json::Value {
        let wall_clock = rig.kind_name() == "bench";
        match self {
            Self::Run { wall, .. } => serde_json::json!({
                "name": rig.name,
                "verdict": "run",
                // What the case waits on purpose, in the rig's time; on a
                // bench that is wall time, a model rig skips through it.
                "rig_time_s": wall.as_secs_f64(),
                "wall_s": wall_clock.then_some(wall.as_secs_f64()),
            }),
            Self::Skip(why) => {
                serde_json::json!({ "name": rig.name, "verdict": "skip", "why": [why] })
            }
            Self::Refuse(why) => {
                serde_json::json!({ "name": rig.name, "verdict": "refused", "why": why })
            }
        }
    }
}

#[derive(Default)]
struct Totals {
    run: usize,
    skip: usize,
    refuse: usize,
    wall: std::time::Duration,
}

impl Totals {
    fn add(&mut self, o: &OnRig) {
        match o {
            OnRig::Run { wall, .. } => {
                self.run += 1;
                self.wall += *wall;
            }
            OnRig::Skip(_) => self.skip += 1,
            OnRig::Refuse(_) => self.refuse += 1,
        }
    }

    fn line(&self, rig: &RigDescription) -> String {
        let time = if rig.kind_name() == "bench" {
            format!("about {} of wall time", units::fmt_span(self.wall))
        } else {
            format!(
                "{} of rig time, which a {} rig runs faster than the wall clock",
                units::fmt_span(self.wall),
                rig.kind_name()
            )
        };
        format!(
            "rig {}: {} to run ({time}), {} skipped, {} refused",
            rig.name, self.run, self.skip, self.refuse
        )
    }
}

pub(super) fn check(a: CheckArgs) -> Exit {
    let checked = problems(&a);
    if let Err(problems) = &checked
        && a.annotations.github(|k| std::env::var(k).ok())
    {
        let notes = report::annotate::of_problems(problems);
        for line in
            report::annotate::github_lines(&notes, "the job summary and `harness check` list")
        {
            // Standard output carries JSON alone when asked for it.
            match a.format {
                Format::Text => out!("{line}"),
                Format::Json => eprintln!("{line}"),
            }
        }
        report::annotate::append_summary(&report::annotate::problems_summary(&notes));
    }
    match (checked, a.format) {
        (Ok((suites, cases, rig)), Format::Text) => {
            out!("ok: {suites} suites, {cases} cases, rig {rig}");
            Exit::Ok
        }
        (Ok((suites, cases, rig)), Format::Json) => {
            out!(
                "{}",
                serde_json::json!({ "ok": true, "suites": suites, "cases": cases, "rig": rig })
            );
            Exit::Ok
        }
        (Err(problems), Format::Text) => report_errors(&problems),
        (Err(problems), Format::Json) => {
            // Each file's places once, however many problems it has.
            let mut places = std::collections::HashMap::new();
            for e in &problems {
                out!("{}", problem_json(e, &mut places));
            }
            Exit::BadInput
        }
    }
}

/// Suites, cases and the rig's name when the input is sound; else every
/// problem found.
fn problems(a: &CheckArgs) -> Result<(usize, usize, String), Vec<InputError>> {
    let suites = load_suites(&a.suites)?;
    let rig = rig_for(&suites, &a.rig, |_, _| true)?;
    let cases: usize = suites.iter().map(|(_, s)| s.cases.len()).sum();
    Ok((suites.len(), cases, rig.name))
}

/// One problem for `--format json`: where, under which key, and what.
fn problem_json(
    e: &InputError,
    places: &mut std::collections::HashMap<std::path::PathBuf, crate::model::places::Places>,
) -> serde_json::Value {
    let key = e.at.and_then(|at| {
        let of_file = places.entry(e.file.clone()).or_insert_with(|| {
            std::fs::read_to_string(&e.file)
                .map(|text| crate::model::places::Places::of(&text))
                .unwrap_or_default()
        });
        let path = of_file.path_at(at);
        (!path.is_empty()).then_some(path)
    });
    serde_json::json!({
        "file": e.file.display().to_string(),
        "line": e.at.map(|(l, _)| l),
        "column": e.at.map(|(_, c)| c),
        "key": key,
        "message": e.message,
    })
}
