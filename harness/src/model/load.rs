//! Suite files from disk to checked suites: every file of a run read and
//! checked, and every problem in every file collected.

use crate::model::diag::{
    InputError, did_you_mean, in_reading_order, parse_yaml, precheck, read_text,
};
use crate::model::locate::part;
use crate::model::places::{Origin, Places, Seg};
use crate::model::rigfile::RigDescription;
use crate::model::suite::{Case, SECTIONS, Step, Suite};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Problems reported of one file at most: past this, the rest of the file
/// is not read for more.
const MAX_PROBLEMS: usize = 50;
/// Text a file's problems may re-read in all, in parts (see [`every_problem`]).
const REREAD_BYTES: usize = 8 * 1024 * 1024;

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

/// Load and check suite files: every problem in every file is collected,
/// each at the node it is about, sorted by file and position.
pub fn load_suites(paths: &[PathBuf]) -> Result<Suites, Vec<InputError>> {
    let paths = if paths.is_empty() {
        default_suites().map_err(|e| vec![e])?
    } else {
        paths.to_vec()
    };
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let text = match read_text(&p) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match checked(&p, text) {
            Ok(s) => suites.push((p, s)),
            Err(found) => errors.extend(found),
        }
    }
    for (i, (p, s)) in suites.iter().enumerate() {
        if let Some((q, _)) = suites[..i].iter().find(|(_, t)| t.name == s.name) {
            errors.push(InputError::placed(
                p,
                &s.origin.text,
                s.origin.at(&[Seg::Key("name")]),
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

/// A suite's text, as a file at `path` would hold it, to a checked suite:
/// what `harness explore` runs its scenarios through, so that what it runs
/// is exactly what it writes.
pub fn suite_from_text(path: &Path, text: String) -> Result<Suite, Vec<InputError>> {
    checked(path, text)
}

/// One suite file's text to a checked suite, or every problem found in it,
/// in the order a reader meets them.
fn checked(path: &Path, text: String) -> Result<Suite, Vec<InputError>> {
    // What is refused unread has nothing more to find in it.
    precheck(path, &text).map_err(|e| vec![e])?;
    let mut found = match parse_yaml::<Suite>(path, &text) {
        Ok(mut s) => {
            s.origin = Arc::new(Origin::new(text));
            for c in &mut s.cases {
                c.waits = c.waits.or(s.waits);
            }
            let found = check_suite(path, &s);
            if found.is_empty() {
                return Ok(s);
            }
            found
        }
        Err(first) => every_problem(path, &text, first),
    };
    in_reading_order(&mut found);
    Err(found)
}

/// A file that does not parse as a suite: its first problem, and those of
/// every case (and, in a case that has one, of every step) read on its own,
/// so that a file with six mistakes takes one run, not six. A file that is
/// not even YAML has only its first.
fn every_problem(path: &Path, text: &str, first: InputError) -> Vec<InputError> {
    let mut found = vec![first];
    // Each part is a parse of the whole file: bounded, so that a huge or
    // hostile file costs a few whole-file parses, not one per item.
    let mut parses = REREAD_BYTES / text.len().max(1);
    let mut budget = || {
        parses = parses.checked_sub(1)?;
        Some(())
    };
    // The file is YAML (the parse that failed read it as such): how many
    // cases and steps there are is known without parsing it again.
    let places = Places::of(text);
    let cases = places.len(&[Seg::Key("cases")]);
    let problem = |e: yaml_serde::Error| InputError::from_yaml(path, text, &e);
    'cases: for i in 0..cases {
        let case = [Seg::Key("cases"), Seg::Index(i)];
        if budget().is_none() || found.len() >= MAX_PROBLEMS {
            found.push(stopped(path, i, cases));
            break;
        }
        let Err(e) = part::<Case>(text, &case) else {
            continue;
        };
        // The whole file's first problem is its first bad case's.
        let first = problem(e);
        if !found.contains(&first) {
            found.push(first.clone());
        }
        for section in SECTIONS {
            let at = [case[0], case[1], Seg::Key(section)];
            for j in 0..places.len(&at) {
                if budget().is_none() || found.len() >= MAX_PROBLEMS {
                    found.push(stopped(path, i, cases));
                    break 'cases;
                }
                let step = [at[0], at[1], at[2], Seg::Index(j)];
                if let Err(e) = part::<Step>(text, &step) {
                    // The case's own error is often its first bad step's.
                    let e = problem(e);
                    if e != first {
                        found.push(e);
                    }
                }
            }
        }
    }
    found
}

/// The last of a file's problems when the search for them stopped in
/// case `at` of `of`: a reader must know that more may follow.
fn stopped(path: &Path, at: usize, of: usize) -> InputError {
    InputError::new(
        path,
        format!(
            "not looked for more problems from cases[{at}] on ({of} cases): the search stops after \
             {MAX_PROBLEMS} problems, or when a large file has been re-read enough; fix these and check again"
        ),
    )
}

/// The checks across a suite's fields, each problem at its node.
fn check_suite(path: &Path, s: &Suite) -> Vec<InputError> {
    let mut found = Vec::new();
    let mut problem = |at: &[Seg], msg: String| {
        let o = &s.origin;
        found.push(InputError::placed(path, &o.text, o.nearest(at), msg));
    };
    if s.cases.is_empty() {
        problem(
            &[Seg::Key("cases")],
            "cases: empty; a suite needs at least one case".into(),
        );
    }
    for (i, c) in s.cases.iter().enumerate() {
        let name = [Seg::Key("cases"), Seg::Index(i), Seg::Key("name")];
        if s.cases[..i].iter().any(|d| d.name == c.name) {
            problem(
                &name,
                format!(
                    "cases[{i}].name: `{}` is used twice in this suite; case names must be unique",
                    c.name
                ),
            );
        }
        let n = (c.sections().into_iter())
            .map(|(_, steps)| crate::model::suite::expanded_steps(steps))
            .fold(0u64, u64::saturating_add);
        if n > crate::model::suite::MAX_CASE_STEPS {
            problem(
                &name,
                format!(
                    "cases[{i}] `{}`: runs {n} steps with its repeats multiplied out; a case runs at most {} \
                     (split it into cases, or repeat fewer times)",
                    c.name,
                    crate::model::suite::MAX_CASE_STEPS
                ),
            );
        }
    }
    for (i, c) in s.cases.iter().enumerate() {
        let mut set = Vec::new();
        for (section, steps) in c.sections() {
            let at = [Seg::Key("cases"), Seg::Index(i), Seg::Key(section)];
            unset_marks(steps, &at, &mut set, &mut |at, m| {
                problem(
                    at,
                    format!(
                        "cases[{i}] `{}`: `from: {m}` looks from a mark no earlier step sets (set it with `mark: {m}` before)",
                        c.name
                    ),
                )
            });
        }
    }
    if let Some(n) = s.retries.filter(|n| *n > crate::model::suite::MAX_RETRIES) {
        problem(
            &[Seg::KeyItself("retries")],
            format!(
                "retries: {n} is too many; at most {} (a case that fails that often is broken, not flaky)",
                crate::model::suite::MAX_RETRIES
            ),
        );
    }
    for (i, q) in s.quarantine.iter().enumerate() {
        let at = [Seg::Key("quarantine"), Seg::Index(i), Seg::Key("case")];
        if !s.cases.iter().any(|c| c.name == q.case) {
            let names: Vec<_> = s.cases.iter().map(|c| format!("`{}`", c.name)).collect();
            problem(
                &at,
                format!(
                    "quarantine[{i}].case: `{}` is not a case of this suite; expected one of {}{}",
                    q.case,
                    names.join(", "),
                    did_you_mean(&q.case, s.cases.iter().map(|c| c.name.as_str()))
                ),
            );
        }
        if s.quarantine[..i].iter().any(|p| p.case == q.case) {
            problem(
                &at,
                format!("quarantine[{i}].case: `{}` is quarantined twice", q.case),
            );
        }
    }
    found
}

/// Each `from:` of `steps` that names a mark no step before it set, at its node.
fn unset_marks<'a>(
    steps: &'a [Step],
    at: &[Seg<'static>],
    set: &mut Vec<&'a str>,
    found: &mut impl FnMut(&[Seg], &str),
) {
    use crate::model::suite::Since;
    for (j, s) in steps.iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Seg::Index(j));
        let (key, from) = match s {
            Step::Mark(m) => {
                set.push(m);
                continue;
            }
            Step::Repeat { steps, .. } => {
                here.extend([Seg::Key("repeat"), Seg::Key("steps")]);
                unset_marks(steps, &here, set, found);
                continue;
            }
            Step::Expect(e) => ("expect", &e.from),
            Step::Absent(a) => ("absent", &a.from),
            _ => continue,
        };
        if let Since::Mark(m) = from
            && !set.contains(&m.as_str())
        {
            here.extend([Seg::Key(key), Seg::Key("from")]);
            found(&here, m);
        }
    }
}

/// Every compartment a step names, with the path of the node that names it.
fn step_compartments<'a>(
    steps: &'a [Step],
    at: &[Seg<'static>],
    out: &mut Vec<(&'a str, Vec<Seg<'static>>)>,
) {
    for (j, s) in steps.iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Seg::Index(j));
        let named = |kind: &'static str| {
            let mut p = here.clone();
            p.extend([Seg::Key(kind), Seg::Key("compartment")]);
            p
        };
        match s {
            Step::Door { compartment, .. } => out.push((compartment, named("door"))),
            Step::Package { compartment, .. } => out.push((compartment, named("package"))),
            Step::Fault { compartment, .. } => out.push((compartment, named("fault"))),
            Step::Parcel { compartment, .. } => out.push((compartment, named("parcel"))),
            Step::Issue {
                compartment: Some(c),
                ..
            } => out.push((c, named("issue"))),
            Step::Expect(e) => look_compartments(&e.look, &here, "expect", out),
            Step::Absent(a) => look_compartments(&a.look, &here, "absent", out),
            Step::State(h) => {
                out.extend(h.check.compartment.as_deref().map(|c| (c, named("state"))))
            }
            Step::Repeat { steps, .. } => {
                here.extend([Seg::Key("repeat"), Seg::Key("steps")]);
                step_compartments(steps, &here, out);
            }
            _ => {}
        }
    }
}

/// The compartments an `expect` or `absent` (under `key`, at `at`) names,
/// with where: beside what it looks for, on each item of a list, on each
/// record of a back-office order.
fn look_compartments<'a>(
    look: &'a crate::model::suite::Look,
    at: &[Seg<'static>],
    key: &'static str,
    out: &mut Vec<(&'a str, Vec<Seg<'static>>)>,
) {
    use crate::model::suite::{Look, Matcher, Records};
    let (list, checks): (Option<&'static str>, Vec<_>) = match look {
        Look::One(c) => (None, vec![c]),
        Look::InOrder(cs) => (Some("in-order"), cs.iter().collect()),
        Look::AnyOf(cs) => (Some("any-of"), cs.iter().collect()),
    };
    for (i, c) in checks.into_iter().enumerate() {
        let mut here = at.to_vec();
        here.push(Seg::Key(key));
        if let Some(list) = list {
            here.extend([Seg::Key(list), Seg::Index(i)]);
        }
        if let Some(name) = c.compartment.as_deref() {
            let mut p = here.clone();
            p.push(Seg::Key("compartment"));
            out.push((name, p));
        }
        if let Matcher::Backoffice(Records::Count {
            compartment: Some(name),
            ..
        }) = &c.matcher
        {
            let mut p = here.clone();
            p.extend([Seg::Key("backoffice"), Seg::Key("compartment")]);
            out.push((name, p));
        }
        if let Matcher::Backoffice(Records::Order(items)) = &c.matcher {
            for (j, (_, name)) in items.iter().enumerate() {
                if let Some(name) = name.as_deref() {
                    let mut p = here.clone();
                    p.extend([
                        Seg::Key("backoffice"),
                        Seg::Key("order"),
                        Seg::Index(j),
                        Seg::Key("compartment"),
                    ]);
                    out.push((name, p));
                }
            }
        }
    }
}

/// Every compartment a suite names must be on the rig: each one that is
/// not, at the node that names it; and every step of the `chosen` cases
/// must be one the rig can do ([`check_fit`]).
pub fn check_against_rig(
    suites: &[(PathBuf, Suite)],
    rig: &RigDescription,
    chosen: impl Fn(&str, &str) -> bool,
) -> Vec<InputError> {
    let mut errors = Vec::new();
    let have: Vec<&str> = rig.compartments.iter().map(|(n, _)| n.as_str()).collect();
    for (path, s) in suites {
        for (i, c) in s.cases.iter().enumerate() {
            let mut names = Vec::new();
            for (section, steps) in c.sections() {
                let at = [Seg::Key("cases"), Seg::Index(i), Seg::Key(section)];
                step_compartments(steps, &at, &mut names);
            }
            for (bad, at) in names.into_iter().filter(|(n, _)| !rig.has_compartment(n)) {
                let msg = format!(
                    "cases[{i}] `{}`: compartment `{bad}` is not on rig `{}` (it has {}){}",
                    c.name,
                    rig.name,
                    have.join(", "),
                    did_you_mean(bad, have.iter().copied())
                );
                let o = &s.origin;
                errors.push(InputError::placed(path, &o.text, o.nearest(&at), msg));
            }
        }
    }
    errors.extend(check_fit(suites, rig, chosen));
    errors
}

/// Every step of the `chosen` cases (by suite and case name) that `rig`
/// cannot do (see [`crate::model::fit`]), at the step, naming the rig
/// file's line that says why. Cases the rig skips are not looked at.
pub fn check_fit(
    suites: &[(PathBuf, Suite)],
    rig: &RigDescription,
    chosen: impl Fn(&str, &str) -> bool,
) -> Vec<InputError> {
    let mut errors = Vec::new();
    for (path, s) in suites {
        for (i, c) in s.cases.iter().enumerate() {
            if !chosen(&s.name, &c.name) || crate::model::fit::skipped(rig, c).is_some() {
                continue;
            }
            for (at, step, unfit) in crate::model::fit::unfit_steps(rig, c) {
                let at = [vec![Seg::Key("cases"), Seg::Index(i)], at].concat();
                let key = (unfit.rig_at.iter())
                    .map(|s| match s {
                        Seg::Key(k) => (*k).to_owned(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                let rig_line = if key.is_empty() {
                    rig.place(&[])
                } else {
                    format!("`{key}` at {}", rig.place(&unfit.rig_at))
                };
                let msg = format!(
                    "cases[{i}] `{}`: {step}: rig `{}` cannot: {} ({rig_line})",
                    c.name, rig.name, unfit.why
                );
                let o = &s.origin;
                errors.push(InputError::placed(path, &o.text, o.nearest(&at), msg));
            }
        }
    }
    errors
}
