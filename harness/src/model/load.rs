//! Suite files from disk to checked suites: every file of a run read and
//! checked, and every problem in every file collected.

use crate::model::diag::{InputError, parse_yaml, read_text};
use crate::model::rigfile::RigDescription;
use crate::model::suite::{Step, Suite};
use std::path::{Path, PathBuf};

/// Suite files with their checked contents, in the order given.
pub type Suites = Vec<(PathBuf, Suite)>;

fn default_suites() -> Result<Vec<PathBuf>, InputError> {
    let dir = Path::new("suites");
    let entries = std::fs::read_dir(dir).map_err(|e| {
        InputError::new(
            dir,
            format!("cannot list suites: {e} (run from the repository root, or name suite files)"),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(InputError::new(dir, "no *.yaml suite files here"));
    }
    Ok(files)
}

/// Load and check suite files; every problem in every file is collected.
pub fn load_suites(paths: &[PathBuf]) -> Result<Suites, Vec<InputError>> {
    let paths = if paths.is_empty() {
        default_suites().map_err(|e| vec![e])?
    } else {
        paths.to_vec()
    };
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match read_text(&p).and_then(|text| {
            let s: Suite = parse_yaml(&p, &text)?;
            check_suite(&p, &text, &s)?;
            Ok(s)
        }) {
            Ok(s) => suites.push((p, s)),
            Err(e) => errors.push(e),
        }
    }
    for (i, (p, s)) in suites.iter().enumerate() {
        if let Some((q, _)) = suites[..i].iter().find(|(_, t)| t.name == s.name) {
            errors.push(InputError::new(
                p,
                format!(
                    "suite name `{}` is also used by {}; suite names must be unique",
                    s.name,
                    q.display()
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(suites)
    } else {
        Err(errors)
    }
}

fn line_of(text: &str, needle: &str, after: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .skip(after)
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
}

fn check_suite(path: &Path, text: &str, s: &Suite) -> Result<(), InputError> {
    if s.cases.is_empty() {
        return Err(InputError::new(
            path,
            "cases: empty; a suite needs at least one case",
        ));
    }
    for (i, c) in s.cases.iter().enumerate() {
        if s.cases[..i].iter().any(|d| d.name == c.name) {
            let first = line_of(text, &c.name, 0).map_or(0, |(l, _)| l);
            let (l, col) = line_of(text, &c.name, first).unwrap_or((1, 1));
            return Err(InputError::at(
                path,
                text,
                l,
                col,
                format!(
                    "cases[{i}].name: `{}` is used twice in this suite; case names must be unique",
                    c.name
                ),
            ));
        }
    }
    for (i, c) in s.cases.iter().enumerate() {
        let n = [&c.setup, &c.steps, &c.teardown]
            .into_iter()
            .map(|steps| crate::model::suite::expanded_steps(steps))
            .fold(0u64, u64::saturating_add);
        if n > crate::model::suite::MAX_CASE_STEPS {
            let (l, col) = line_of(text, &c.name, 0).unwrap_or((1, 1));
            return Err(InputError::at(
                path,
                text,
                l,
                col,
                format!(
                    "cases[{i}] `{}`: runs {n} steps with its repeats multiplied out; a case runs at most {} \
                     (split it into cases, or repeat fewer times)",
                    c.name,
                    crate::model::suite::MAX_CASE_STEPS
                ),
            ));
        }
    }
    if let Some(n) = s.retries.filter(|n| *n > crate::model::suite::MAX_RETRIES) {
        let (l, col) = line_of(text, "retries:", 0).unwrap_or((1, 1));
        return Err(InputError::at(
            path,
            text,
            l,
            col,
            format!(
                "retries: {n} is too many; at most {} (a case that fails that often is broken, not flaky)",
                crate::model::suite::MAX_RETRIES
            ),
        ));
    }
    for (i, q) in s.quarantine.iter().enumerate() {
        if !s.cases.iter().any(|c| c.name == q.case) {
            let (l, col) = line_of(text, "quarantine:", 0)
                .and_then(|(at, _)| line_of(text, &q.case, at))
                .unwrap_or((1, 1));
            let names: Vec<_> = s.cases.iter().map(|c| format!("`{}`", c.name)).collect();
            return Err(InputError::at(
                path,
                text,
                l,
                col,
                format!(
                    "quarantine[{i}].case: `{}` is not a case of this suite; expected one of {}",
                    q.case,
                    names.join(", ")
                ),
            ));
        }
        if s.quarantine[..i].iter().any(|p| p.case == q.case) {
            return Err(InputError::new(
                path,
                format!("quarantine[{i}].case: `{}` is quarantined twice", q.case),
            ));
        }
    }
    Ok(())
}

fn step_compartments<'a>(steps: &'a [Step], out: &mut Vec<&'a str>) {
    for s in steps {
        match s {
            Step::Door { compartment, .. }
            | Step::Package { compartment, .. }
            | Step::Fault { compartment, .. }
            | Step::Parcel { compartment, .. } => out.push(compartment),
            Step::Issue {
                compartment: Some(c),
                ..
            } => out.push(c),
            Step::Expect(e) => out.extend(e.compartment.as_deref()),
            Step::Absent(a) => out.extend(a.compartment.as_deref()),
            Step::Repeat { steps, .. } => step_compartments(steps, out),
            _ => {}
        }
    }
}

/// Every compartment a suite names must be on the rig.
pub fn check_against_rig(suites: &[(PathBuf, Suite)], rig: &RigDescription) -> Vec<InputError> {
    let mut errors = Vec::new();
    for (path, s) in suites {
        for (i, c) in s.cases.iter().enumerate() {
            let mut names = Vec::new();
            for steps in [&c.setup, &c.steps, &c.teardown] {
                step_compartments(steps, &mut names);
            }
            if let Some(bad) = names.into_iter().find(|n| !rig.has_compartment(n)) {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let case_line = line_of(&text, &c.name, 0).map_or(0, |(l, _)| l);
                let have: Vec<_> = rig.compartments.iter().map(|(n, _)| n.as_str()).collect();
                let msg = format!(
                    "cases[{i}] `{}`: compartment `{bad}` is not on rig `{}` (it has {})",
                    c.name,
                    rig.name,
                    have.join(", ")
                );
                errors.push(match line_of(&text, bad, case_line) {
                    Some((l, col)) => InputError::at(path, &text, l, col, msg),
                    None => InputError::new(path, msg),
                });
            }
        }
    }
    errors
}
