//! `reports/index.html`: one self-contained page (no network, no files
//! beside it) for people to read a run.
//!
//! The top holds the counts, filters (all, failed and errors, flaky,
//! skipped) and a table of cases. Each case has a section: its outcome with
//! the failing step and reason, a timeline, the steps as they ran, earlier
//! runs of a flaky case, and the transcript.
//!
//! The timeline puts everything on the rig's one clock: a lane for each of
//! door, bolt, lock and package of every compartment that moved, the LED,
//! the display, errors, temperature (measured, and the chamber's set point,
//! with the heater), power (what the supply was made to do, and resets),
//! the links, and the steps. The failing step is a red line through all of
//! it. It is SVG drawn here; hovering shows each mark's time and value.

use crate::model::suite::{DoorAction, PowerAction};
use crate::rigs::FixtureAction;
use crate::run::obs::{Obs, ObsKind, fmt_at};
use crate::run::runner::{CaseReport, Outcome};
use locker_proto::{BoltState, DoorState, Event, LedColour, Link, LockState};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// What the page says about the run as a whole.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub rig: String,
    pub started: SystemTime,
    pub wall: Duration,
    /// Whether the run ended, was stopped, or is still going.
    pub state: super::RunState,
    /// Where the page is written: files beside it are linked relative to it.
    pub page: Option<std::path::PathBuf>,
}

/// A link from the page at `page` to `file`: relative when the file is in
/// the page's folder or below (the folder can be published as it is),
/// else a `file:` URL.
fn href(page: Option<&std::path::Path>, file: &std::path::Path) -> String {
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let file = abs(file);
    let dir = page
        .map(abs)
        .and_then(|p| p.parent().map(std::path::Path::to_owned));
    match dir.as_deref().and_then(|d| file.strip_prefix(d).ok()) {
        Some(rel) => rel.display().to_string(),
        None => format!("file://{}", file.display()),
    }
}

fn esc(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Write the page atomically.
pub fn write(path: &std::path::Path, reports: &[CaseReport], info: &RunInfo) -> Result<(), String> {
    super::write_atomic(path, render(reports, info).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What the page's header says, kept in the page too (a comment) so that
/// the pages of a sharded run can be merged into one.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Header {
    rigs: Vec<String>,
    builds: Vec<String>,
    /// Unix milliseconds.
    started_ms: u64,
    wall_ms: u64,
    interrupted: bool,
    /// Written before the run ended: a run killed leaves this page.
    #[serde(default)]
    in_progress: bool,
    /// What the verdicts could not check, once each (see [`Caveat`]).
    #[serde(default)]
    caveats: Vec<String>,
}

/// One case's row and section, with its plan order, outcome class and
/// name (`suite::case`).
struct Part {
    order: usize,
    class: String,
    id: String,
    row: String,
    section: String,
}

const META: &str = "<!--locker-hil-report ";

/// The whole page.
pub fn render(reports: &[CaseReport], info: &RunInfo) -> String {
    let builds: std::collections::BTreeSet<&str> =
        reports.iter().filter_map(|r| r.build.as_deref()).collect();
    let header = Header {
        rigs: vec![info.rig.clone()],
        builds: builds.into_iter().map(str::to_owned).collect(),
        started_ms: info
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        wall_ms: info.wall.as_millis() as u64,
        interrupted: matches!(info.state, super::RunState::Interrupted(_)),
        in_progress: info.state == super::RunState::InProgress,
        caveats: reports
            .iter()
            .flat_map(|r| &r.caveats)
            .map(|c| c.text.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let parts: Vec<Part> = reports
        .iter()
        .map(|r| {
            let (label, class) = outcome_class(r);
            let row = format!(
                r#"<tr data-outcome="{class}"><td><span class="badge {class}">{label}</span></td><td><a href="{href}">{suite}::{name}</a></td><td>{rig_time}</td><td>{wall:.1} ms</td><td>{rig}</td></tr>"#,
                href = anchor(r),
                suite = esc(&r.suite),
                name = esc(&r.name),
                rig_time = crate::model::units::fmt_elapsed(r.rig_time),
                wall = r.wall.as_secs_f64() * 1e3,
                rig = esc(&r.rig),
            );
            let mut section = String::new();
            case_section(&mut section, r, info.page.as_deref());
            Part {
                order: r.order,
                class: class.to_owned(),
                id: format!("{}::{}", r.suite, r.name),
                row,
                section,
            }
        })
        .collect();
    page(&header, &parts)
}

fn page(h: &Header, parts: &[Part]) -> String {
    let count = |c: &str| parts.iter().filter(|p| p.class == c).count();
    let (flaky, failed, errors, skipped) = (
        count("flaky"),
        count("failed"),
        count("error"),
        count("skipped"),
    );
    let passed = count("passed") + flaky;
    let started = chrono::DateTime::<chrono::Utc>::from(
        SystemTime::UNIX_EPOCH + Duration::from_millis(h.started_ms),
    )
    .format("%Y-%m-%d %H:%M:%S UTC");
    let rig = h.rigs.join(", ");
    let mut page = String::with_capacity(64 * 1024 + parts.len() * 8 * 1024);
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{META}{meta}-->
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>locker-hil: {passed}/{total} passed on {rig}</title>
<style>{CSS}</style></head>
<body>
<header>
<h1>locker-hil report</h1>
<p class="run">rig <b>{rig}</b> · firmware {builds} · started {started} · {wall:.2}s wall{interrupted}</p>
<p class="counts"><span class="badge passed">{passed} passed</span> <span class="badge failed">{failed} failed</span> <span class="badge error">{errors} errors</span> <span class="badge skipped">{skipped} skipped</span> <span class="badge flaky">{flaky} flaky</span></p>
{caveats}<p class="filters">Show: <button data-show="all" class="on">all</button> <button data-show="bad">failed and errors</button> <button data-show="flaky">flaky</button> <button data-show="skipped">skipped</button></p>
</header>
<main>
<table class="cases"><thead><tr><th>outcome</th><th>case</th><th>rig time</th><th>wall</th><th>rig</th></tr></thead><tbody>
"#,
        meta = comment_json(h),
        rig = esc(&rig),
        builds = esc(&h.builds.join(", ")),
        caveats = caveats(&h.caveats),
        wall = h.wall_ms as f64 / 1e3,
        interrupted = if h.interrupted {
            " · <b>interrupted</b>: cases that were running are errors, cases never started are skipped"
        } else if h.in_progress {
            " · <b>in progress</b>: the run had not ended when this page was written (a run that ends rewrites it)"
        } else {
            ""
        },
        total = parts.len(),
    );
    for p in parts {
        let _ = writeln!(
            page,
            "<!--row {} {} {}-->{}<!--/row-->",
            p.order,
            p.class,
            comment_json(&p.id),
            p.row
        );
    }
    page.push_str("</tbody></table>\n");
    for p in parts {
        let _ = writeln!(page, "<!--case {}-->{}<!--/case-->", p.order, p.section);
    }
    let _ = write!(page, "</main>\n<script>{SCRIPT}</script>\n</body></html>\n");
    page
}

/// JSON to put inside an HTML comment: `--` cannot occur in it unescaped
/// (a case named `a --> b` must not end the comment).
fn comment_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace("--", "\\u002d\\u002d")
}

/// The pages of a sharded run (each written by `harness run`) as one, in
/// plan order; a case on two pages means the shards overlapped.
pub fn merge(pages: &[(String, String)]) -> Result<String, String> {
    let mut header: Option<Header> = None;
    let mut parts: Vec<Part> = Vec::new();
    let mut from: std::collections::HashMap<usize, &str> = std::collections::HashMap::new();
    let mut names: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for (name, text) in pages {
        let not_ours = || format!("{name}: not a page `harness run` wrote");
        let meta = text
            .split_once(META)
            .and_then(|(_, rest)| rest.split_once("-->"))
            .map(|(json, _)| json)
            .ok_or_else(not_ours)?;
        let h: Header = serde_json::from_str(meta).map_err(|_| not_ours())?;
        header = Some(match header.take() {
            None => h,
            Some(mut acc) => {
                for r in h.rigs {
                    if !acc.rigs.contains(&r) {
                        acc.rigs.push(r);
                    }
                }
                for b in h.builds {
                    if !acc.builds.contains(&b) {
                        acc.builds.push(b);
                    }
                }
                for c in h.caveats {
                    if !acc.caveats.contains(&c) {
                        acc.caveats.push(c);
                    }
                }
                acc.started_ms = acc.started_ms.min(h.started_ms);
                acc.wall_ms = acc.wall_ms.max(h.wall_ms);
                acc.interrupted |= h.interrupted;
                acc.in_progress |= h.in_progress;
                acc
            }
        });
        let pieces = |open: &str, close: &str| -> Result<Vec<(String, String)>, String> {
            let mut out = Vec::new();
            let mut rest = text.as_str();
            while let Some((_, after)) = rest.split_once(open) {
                let (tag, body) = after.split_once("-->").ok_or_else(not_ours)?;
                let (body, next) = body.split_once(close).ok_or_else(not_ours)?;
                out.push((tag.to_owned(), body.to_owned()));
                rest = next;
            }
            Ok(out)
        };
        let rows = pieces("<!--row ", "<!--/row-->")?;
        let sections = pieces("<!--case ", "<!--/case-->")?;
        if rows.len() != sections.len() {
            return Err(not_ours());
        }
        for ((tag, row), (_, section)) in rows.into_iter().zip(sections) {
            let mut fields = tag.splitn(3, ' ');
            let (Some(order), Some(class), Some(id)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(not_ours());
            };
            let order: usize = order.parse().map_err(|_| not_ours())?;
            let id: String = serde_json::from_str(id).map_err(|_| not_ours())?;
            // The same case twice, whether by its plan position or its name
            // (two runs with different filters): name it and both pages.
            let by_order = from.insert(order, name);
            let by_name = names.insert(id.clone(), name);
            if let Some(first) = by_order.or(by_name) {
                return Err(format!(
                    "case `{id}` is on both {first} and {name}: the shards overlap"
                ));
            }
            parts.push(Part {
                order,
                class: class.to_owned(),
                id,
                row,
                section,
            });
        }
    }
    parts.sort_by_key(|p| p.order);
    Ok(page(&header.unwrap_or_default(), &parts))
}

fn anchor(r: &CaseReport) -> String {
    format!("#case-{}", r.order)
}

fn outcome_class(r: &CaseReport) -> (&'static str, &'static str) {
    match r.outcome {
        Outcome::Passed if r.is_flaky() => ("FLAKY", "flaky"),
        Outcome::Passed => ("PASS", "passed"),
        Outcome::Failed { .. } => ("FAIL", "failed"),
        Outcome::Error { .. } => ("ERROR", "error"),
        Outcome::Skipped { .. } => ("SKIP", "skipped"),
    }
}

fn case_section(page: &mut String, r: &CaseReport, at: Option<&std::path::Path>) {
    let (label, class) = outcome_class(r);
    let bad = matches!(r.outcome, Outcome::Failed { .. } | Outcome::Error { .. });
    let _ = write!(
        page,
        r#"<section class="case" id="case-{order}" data-outcome="{class}">
<details{open}><summary><span class="badge {class}">{label}</span> <b>{suite}::{name}</b> <span class="meta">{rig_time} rig time · {wall:.1} ms · rig {rig} · seed {seed}</span></summary>
"#,
        order = r.order,
        open = if bad || r.is_flaky() { " open" } else { "" },
        suite = esc(&r.suite),
        name = esc(&r.name),
        rig_time = crate::model::units::fmt_elapsed(r.rig_time),
        wall = r.wall.as_secs_f64() * 1e3,
        rig = esc(&r.rig),
        seed = r.seed,
    );
    about(page, r);
    let texts: Vec<String> = r.caveats.iter().map(|c| c.text.clone()).collect();
    page.push_str(&caveats(&texts));
    match &r.outcome {
        Outcome::Failed { step, message } | Outcome::Error { step, message } => {
            let _ = writeln!(
                page,
                r#"<div class="reason {class}"><p>{what} at <code>{step}</code></p><pre>{message}</pre></div>"#,
                what = if class == "failed" {
                    "The controller failed"
                } else {
                    "The rig or harness could not do its part"
                },
                step = esc(step),
                message = esc(message),
            );
        }
        Outcome::Skipped { reason } => {
            let _ = writeln!(
                page,
                r#"<div class="reason skipped"><p>Skipped: {}</p></div>"#,
                esc(reason)
            );
        }
        Outcome::Passed => {}
    }
    if !r.trace.obs.is_empty() || !r.trace.steps.is_empty() {
        page.push_str(&timelines(r));
    }
    if !r.trace.steps.is_empty() || !r.trace.not_run.is_empty() {
        steps(page, r);
    }
    for (i, a) in r.attempts.iter().enumerate() {
        if let Outcome::Failed { step, message } | Outcome::Error { step, message } = &a.outcome {
            let _ = writeln!(
                page,
                r#"<details class="attempt"><summary>Earlier run {n} on rig {rig}, seed {seed}: {kind} at <code>{step}</code></summary><pre>{message}</pre><pre class="transcript">{transcript}</pre></details>"#,
                n = i + 1,
                rig = esc(&a.rig),
                seed = a.seed,
                kind = if matches!(a.outcome, Outcome::Failed { .. }) {
                    "failed"
                } else {
                    "rig error"
                },
                step = esc(step),
                message = esc(message),
                transcript = esc(&a.transcript),
            );
        }
    }
    if !r.transcript.is_empty() {
        let _ = write!(
            page,
            r#"<details class="transcript"><summary>Transcript ({} lines: &lt; console, &gt; commands, ! actions, ~ measurements, # harness notes)</summary><pre class="transcript">"#,
            r.transcript.total()
        );
        if let Some(f) = &r.transcript.file {
            let _ = write!(
                page,
                r#"<p class="spill">The whole transcript ({} lines) is in <a href="{}">{}</a>.</p>"#,
                r.transcript.total(),
                esc(&href(at, f)),
                esc(&f.display().to_string())
            );
        }
        for t in r.transcript.rendered() {
            let _ = writeln!(page, "{}", esc(&t));
        }
        page.push_str("</pre></details>\n");
    }
    page.push_str("</details></section>\n");
}

/// What the verdicts could not check, as a list (nothing when all was).
fn caveats(texts: &[String]) -> String {
    if texts.is_empty() {
        return String::new();
    }
    let items: String = texts
        .iter()
        .map(|t| format!("<li>{}</li>", esc(t)))
        .collect();
    format!("<div class=\"caveats\"><p>Not checked on this rig:</p><ul>{items}</ul></div>\n")
}

/// The case's header: what the suite file says the case (and its suite)
/// is about, and their tags.
fn about(page: &mut String, r: &CaseReport) {
    let case = r.about.description.trim();
    let suite = r.suite_about.description.trim();
    if case.is_empty()
        && suite.is_empty()
        && r.about.tags.is_empty()
        && r.suite_about.tags.is_empty()
    {
        return;
    }
    page.push_str("<div class=\"about\">");
    if !case.is_empty() {
        let _ = write!(page, "<p class=\"description\">{}</p>", esc(case));
    }
    if !suite.is_empty() {
        let _ = write!(
            page,
            "<p class=\"suite-description\">Suite {}: {}</p>",
            esc(&r.suite),
            esc(suite)
        );
    }
    let tags: Vec<String> = (r.about.tags.iter().map(|t| (t, "tag")))
        .chain(r.suite_about.tags.iter().map(|t| (t, "tag suite-tag")))
        .map(|(t, class)| format!("<span class=\"{class}\">{}</span>", esc(t)))
        .collect();
    if !tags.is_empty() {
        let _ = write!(page, "<p class=\"tags\">tags: {}</p>", tags.join(" "));
    }
    page.push_str("</div>\n");
}

/// The index of the step that failed, as the run recorded it (never the
/// last one to start: a teardown runs after it).
fn failing_step(r: &CaseReport) -> Option<usize> {
    matches!(r.outcome, Outcome::Failed { .. } | Outcome::Error { .. })
        .then_some(r.trace.failed_step)
        .flatten()
        .filter(|&i| i < r.trace.steps.len())
}

fn steps(page: &mut String, r: &CaseReport) {
    let failing = failing_step(r);
    page.push_str("<ol class=\"steps\">\n");
    for (i, s) in r.trace.steps.iter().enumerate() {
        let class = if Some(i) == failing {
            "failing-step"
        } else {
            "passed"
        };
        let _ = writeln!(
            page,
            r#"<li class="{class}"><span class="at">{at}</span> {text}</li>"#,
            at = fmt_at(s.at),
            text = esc(&s.text),
        );
    }
    page.push_str("</ol>\n");
    if !r.trace.not_run.is_empty() {
        page.push_str("<p class=\"note\">Not run:</p><ul class=\"not-run\">\n");
        for s in &r.trace.not_run {
            let _ = writeln!(page, "<li>{}</li>", esc(s));
        }
        page.push_str("</ul>\n");
    }
}

/// A stretch of time a lane spends in one state.
struct Segment {
    from: Duration,
    to: Duration,
    label: String,
    class: &'static str,
}

/// A lane of state segments, built from changes.
#[derive(Default)]
struct Band {
    segments: Vec<Segment>,
    open: Option<(Duration, String, &'static str)>,
}

impl Band {
    /// The state from `at` on; `None` is the resting state (drawn as a line).
    fn set(&mut self, at: Duration, state: Option<(String, &'static str)>) {
        if let Some((from, label, class)) = self.open.take() {
            if state
                .as_ref()
                .is_some_and(|(l, c)| *l == label && *c == class)
            {
                self.open = Some((from, label, class));
                return;
            }
            self.segments.push(Segment {
                from,
                to: at,
                label,
                class,
            });
        }
        self.open = state.map(|(l, c)| (at, l, c));
    }

    fn close(mut self, end: Duration) -> Vec<Segment> {
        self.set(end, None);
        self.segments
    }
}

/// Everything the timeline draws, sorted into lanes, up to the case's end.
struct Lanes {
    /// State lanes in drawing order, by name (sorted by a leading key).
    bands: BTreeMap<String, Vec<Segment>>,
    temps: Vec<(Duration, f64)>,
    set_points: Vec<(Duration, f64)>,
    heater: Vec<Segment>,
    /// Instants worth a mark: errors, resets.
    ticks: Vec<(Duration, String, &'static str)>,
}

fn led_class(c: LedColour) -> &'static str {
    match c {
        LedColour::Off => "led-off",
        LedColour::Green => "led-green",
        LedColour::Amber => "led-amber",
        LedColour::Red => "led-red",
    }
}

fn lanes(r: &CaseReport, end: Duration) -> Lanes {
    let mut l = Lanes {
        bands: BTreeMap::new(),
        temps: Vec::new(),
        set_points: Vec::new(),
        heater: Vec::new(),
        ticks: Vec::new(),
    };
    let mut bands: BTreeMap<String, Band> = BTreeMap::new();
    let mut heater = Band::default();
    // Lane names sort into their drawing order by a leading key.
    fn band(bands: &mut BTreeMap<String, Band>, key: String) -> &mut Band {
        bands.entry(key).or_default()
    }
    for Obs { at, kind } in &r.trace.obs {
        let at = *at;
        let ObsKind::Event { event, .. } = kind else {
            continue;
        };
        match event {
            Event::Door { c, state } => band(&mut bands, format!("1 {c} door")).set(
                at,
                (*state == DoorState::Open).then(|| ("open".into(), "active")),
            ),
            Event::Bolt { c, state } => band(&mut bands, format!("1 {c} bolt")).set(
                at,
                (*state == BoltState::Retracted).then(|| ("retracted".into(), "active")),
            ),
            Event::Lock { c, state } => band(&mut bands, format!("1 {c} lock")).set(
                at,
                (*state == LockState::Released).then(|| ("released".into(), "released")),
            ),
            Event::Package { c, present } => band(&mut bands, format!("1 {c} package"))
                .set(at, present.then(|| ("present".into(), "package"))),
            Event::Led(p) => {
                band(&mut bands, "2 LED".into()).set(at, Some((p.to_string(), led_class(p.colour))))
            }
            Event::Display(text) => {
                band(&mut bands, "3 display".into()).set(at, Some((text.to_string(), "display")))
            }
            Event::Temp { centi } => l.temps.push((at, f64::from(*centi) / 100.0)),
            Event::Heater(on) => heater.set(at, on.then(|| ("heater on".into(), "heater"))),
            Event::LinkState { link, up } => band(&mut bands, format!("6 link {link}")).set(
                at,
                Some(if *up {
                    ("up".into(), "up")
                } else {
                    ("down".into(), "down")
                }),
            ),
            Event::LinkActive(active) => band(&mut bands, "6 link used".into()).set(
                at,
                Some(match active {
                    Some(Link::Primary) => ("primary".into(), "up"),
                    Some(Link::Secondary) => ("secondary".into(), "up-2"),
                    None => ("offline".into(), "down"),
                }),
            ),
            Event::Error { code, c } => l.ticks.push((
                at,
                match c {
                    Some(c) => format!("{code} on {c}"),
                    None => code.to_string(),
                },
                "error",
            )),
            Event::Reset(cause) => l.ticks.push((at, format!("reset: {cause}"), "reset")),
            Event::Lockout { seconds } => band(&mut bands, "4 lockout".into())
                .set(at, Some((format!("locked out {seconds}s"), "lockout"))),
            Event::LockoutEnd => band(&mut bands, "4 lockout".into()).set(at, None),
            _ => {}
        }
    }
    // What the fixtures were made to do, on the same clock.
    for (at, a) in &r.trace.actions {
        let at = *at;
        match a {
            FixtureAction::Chamber { set, .. } => l.set_points.push((at, set.0)),
            FixtureAction::Power(p) => {
                let power = band(&mut bands, "5 power".into());
                match *p {
                    PowerAction::Off => power.set(at, Some(("off".into(), "down"))),
                    PowerAction::On => power.set(at, None),
                    PowerAction::Volts(v) => power.set(at, Some((format!("{v}V"), "low"))),
                    PowerAction::Cycle { off_for } => {
                        power.set(at, Some(("off".into(), "down")));
                        power.set(at + off_for, None);
                    }
                    PowerAction::Brownout { volts, for_ } => {
                        power.set(at, Some((format!("{volts}V"), "low")));
                        power.set(at + for_, None);
                    }
                }
            }
            FixtureAction::Link { primary, secondary } => {
                for (link, state) in [("primary", primary), ("secondary", secondary)] {
                    if let Some(s) = state {
                        let cut = *s == crate::model::suite::UpDown::Down;
                        band(&mut bands, format!("6 {link} line"))
                            .set(at, cut.then(|| ("cut".into(), "down")));
                    }
                }
            }
            FixtureAction::Door {
                compartment,
                action,
            } => {
                let c = (r.trace.compartments.get(*compartment).cloned())
                    .unwrap_or_else(|| format!("#{compartment}"));
                let held = band(&mut bands, format!("1 {c} door held"));
                match action {
                    DoorAction::Hold => held.set(at, Some(("held".into(), "held"))),
                    DoorAction::Release => held.set(at, None),
                    DoorAction::Push | DoorAction::Pull | DoorAction::Force => {
                        if *action == DoorAction::Force {
                            held.set(at, None);
                        }
                        let what = match action {
                            DoorAction::Push => "pushed",
                            DoorAction::Pull => "pulled",
                            _ => "forced",
                        };
                        l.ticks.push((at, format!("{c} door {what}"), "action"));
                    }
                }
            }
            _ => {}
        }
    }
    l.bands = (bands.into_iter())
        .map(|(name, band)| (name, band.close(end)))
        .collect();
    l.heater = heater.close(end);
    l
}

/// A round step for axis ticks, about `span / 6`.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 6.0).max(1e-3);
    let mag = 10f64.powf(raw.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // Whole minutes, hours, days when the span is that long.
    match nice {
        n if n >= 86_400.0 => (n / 86_400.0).ceil() * 86_400.0,
        n if n >= 3_600.0 => (n / 3_600.0).ceil() * 3_600.0,
        n if n >= 60.0 => (n / 60.0).ceil() * 60.0,
        n => n,
    }
}

/// A time on the axis, as precise as the tick step needs: `45.5s`,
/// `12m 30s`, `7h 10m 20s`, `2d 7h 10m`.
fn axis_label(at: Duration, step: f64) -> String {
    let s = at.as_secs_f64();
    if at.is_zero() {
        return "0".into();
    }
    if s < 60.0 {
        return if step < 1.0 {
            format!("{s:.1}s")
        } else {
            format!("{s:.0}s")
        };
    }
    let total = at.as_secs();
    let parts = [
        (total / 86_400, "d"),
        (total / 3600 % 24, "h"),
        (total / 60 % 60, "m"),
        (total % 60, "s"),
    ];
    // From the largest unit present down to the step's, zero parts left out.
    let finest = match step {
        st if st >= 86_400.0 && st % 86_400.0 == 0.0 => 0,
        st if st >= 3_600.0 && st % 3_600.0 == 0.0 => 1,
        st if st >= 60.0 && st % 60.0 == 0.0 => 2,
        _ => 3,
    };
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    let words: Vec<String> = parts[first..=finest.max(first)]
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    words.join(" ")
}

const LEFT: f64 = 150.0;
const WIDTH: f64 = 1100.0;
const PLOT: f64 = WIDTH - LEFT - 20.0;
const ROW: f64 = 18.0;
const TEMP_H: f64 = 70.0;

/// When the case ends on the timeline.
fn case_end(r: &CaseReport) -> Duration {
    let last_obs = r.trace.obs.last().map(|o| o.at).unwrap_or_default();
    let last_step = r.trace.steps.last().map(|s| s.at).unwrap_or_default();
    r.rig_time
        .max(last_obs)
        .max(last_step)
        .max(Duration::from_millis(1))
}

/// The case's timelines: the whole case, and for a failure in a long case
/// the last minute before the failing step, where the detail is.
fn timelines(r: &CaseReport) -> String {
    let end = case_end(r);
    let l = lanes(r, end);
    let mut out = timeline(r, &l, Duration::ZERO, end, "the whole case");
    if let Some(i) = failing_step(r) {
        let at = r.trace.steps[i].at;
        let from = at.saturating_sub(Duration::from_secs(60));
        if from > Duration::ZERO && end - from < end / 2 {
            out.push_str(&timeline(
                r,
                &l,
                from,
                end,
                "the last minute before the failing step",
            ));
        }
    }
    out
}

/// One timeline being drawn: the case, its lanes, and the stretch of rig
/// time shown (`from` to `end`, `span` seconds), each part a band of rows
/// from a height down.
struct Timeline<'a> {
    r: &'a CaseReport,
    l: &'a Lanes,
    from: Duration,
    end: Duration,
    span: f64,
}

impl Timeline<'_> {
    /// Where rig time `t` is across the plot (clamped to the window).
    fn x(&self, t: Duration) -> f64 {
        LEFT + (t.max(self.from).min(self.end) - self.from).as_secs_f64() / self.span * PLOT
    }

    fn inside(&self, t: Duration) -> bool {
        t >= self.from && t <= self.end
    }

    /// A row per part that changed state: locks, doors, bolts, packages, the LED, the links.
    fn states(&self, mut y: f64) -> (String, f64) {
        let mut rows = String::new();
        // State lanes.
        for (key, band) in &self.l.bands {
            let name = key
                .split_once(' ')
                .map_or(key.as_str(), |(_, n)| n)
                .to_owned();
            let segments: Vec<&Segment> = (band.iter())
                .filter(|s| s.to >= self.from && s.from <= self.end)
                .collect();
            // A compartment part that stayed at rest says nothing.
            if segments.is_empty() && key.starts_with('1') {
                continue;
            }
            let _ = write!(
                rows,
                r#"<text class="lane" x="{lx}" y="{ty}">{name}</text><line class="rest" x1="{LEFT}" x2="{x2}" y1="{my}" y2="{my}"/>"#,
                lx = LEFT - 6.0,
                ty = y + 12.0,
                name = esc(&name),
                x2 = LEFT + PLOT,
                my = y + ROW / 2.0,
            );
            for s in segments {
                let (x1, x2) = (self.x(s.from), self.x(s.to));
                let w = (x2 - x1).max(1.0);
                let _ = write!(
                    rows,
                    r#"<g class="seg {class}"><rect x="{x1:.1}" y="{ry}" width="{w:.1}" height="{h}"><title>{name} {label}: {from} to {to}</title></rect>"#,
                    class = s.class,
                    ry = y + 2.0,
                    h = ROW - 4.0,
                    name = esc(&name),
                    label = esc(&s.label),
                    from = fmt_at(s.from),
                    to = fmt_at(s.to),
                );
                if w > 7.0 * s.label.len() as f64 {
                    let _ = write!(
                        rows,
                        r#"<text x="{tx:.1}" y="{ty}">{label}</text>"#,
                        tx = x1 + 3.0,
                        ty = y + 12.5,
                        label = esc(&s.label)
                    );
                }
                rows.push_str("</g>");
            }
            y += ROW;
        }
        (rows, y)
    }

    /// Temperature: measured and set point, heater shaded.
    fn temperature(&self, mut y: f64) -> (String, f64) {
        let mut rows = String::new();
        // Temperature: measured and set point, heater shaded.
        // The readings in the window, after the one it opens on (a reading
        // holds until the next).
        let before = (self.l.temps.iter().rev())
            .find(|(t, _)| *t < self.from)
            .map(|(_, v)| (self.from, *v));
        let temps: Vec<(Duration, f64)> = (before.into_iter())
            .chain(
                self.l
                    .temps
                    .iter()
                    .copied()
                    .filter(|(t, _)| self.inside(*t)),
            )
            .collect();
        if !temps.is_empty() || !self.l.set_points.is_empty() {
            let values = temps.iter().chain(&self.l.set_points).map(|(_, v)| *v);
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let (lo, hi) = (lo.floor() - 1.0, hi.ceil() + 1.0);
            let ty = |v: f64| y + TEMP_H - (v - lo) / (hi - lo) * TEMP_H;
            let _ = write!(
                rows,
                r#"<text class="lane" x="{lx}" y="{t1}">temperature</text><text class="scale" x="{lx}" y="{t2}">{hi}C … {lo}C</text><rect class="temp-bg" x="{LEFT}" y="{y}" width="{PLOT}" height="{TEMP_H}"/>"#,
                lx = LEFT - 6.0,
                t1 = y + TEMP_H / 2.0,
                t2 = y + TEMP_H / 2.0 + 12.0,
            );
            for s in (self.l.heater.iter()).filter(|s| s.to >= self.from && s.from <= self.end) {
                let _ = write!(
                    rows,
                    r#"<rect class="heater" x="{x1:.1}" y="{hy}" width="{w:.1}" height="5"><title>heater on: {from} to {to}</title></rect>"#,
                    x1 = self.x(s.from),
                    hy = y + TEMP_H - 5.0,
                    w = (self.x(s.to) - self.x(s.from)).max(1.0),
                    from = fmt_at(s.from),
                    to = fmt_at(s.to),
                );
            }
            if !self.l.set_points.is_empty() {
                let mut pts = String::new();
                for (i, (at, v)) in self.l.set_points.iter().enumerate() {
                    if i > 0 {
                        let _ = write!(
                            pts,
                            "{:.1},{:.1} ",
                            self.x(*at),
                            ty(self.l.set_points[i - 1].1)
                        );
                    }
                    let _ = write!(pts, "{:.1},{:.1} ", self.x(*at), ty(*v));
                }
                if let Some((_, v)) = self.l.set_points.last() {
                    let _ = write!(pts, "{:.1},{:.1}", self.x(self.end), ty(*v));
                }
                let _ = write!(
                    rows,
                    r#"<polyline class="set-point" points="{pts}"><title>chamber set point</title></polyline>"#
                );
            }
            if !temps.is_empty() {
                let mut pts = String::new();
                for (at, v) in &temps {
                    let _ = write!(pts, "{:.1},{:.1} ", self.x(*at), ty(*v));
                }
                // The controller reports a reading only when it changes: the
                // last one holds until the self.end.
                if let Some((_, v)) = temps.last() {
                    let _ = write!(pts, "{:.1},{:.1}", self.x(self.end), ty(*v));
                }
                let _ = write!(rows, r#"<polyline class="measured" points="{pts}"/>"#);
                for (at, v) in &temps {
                    let _ = write!(
                        rows,
                        r#"<circle class="measured" cx="{:.1}" cy="{:.1}" r="1.5"><title>{v:.2}C at {}</title></circle>"#,
                        self.x(*at),
                        ty(*v),
                        fmt_at(*at)
                    );
                }
            }
            y += TEMP_H + 6.0;
        }
        (rows, y)
    }

    /// Instants: errors, resets, door actions.
    fn ticks(&self, mut y: f64) -> (String, f64) {
        let mut rows = String::new();
        // Instants: errors, resets, door actions.
        let ticks: Vec<_> = self
            .l
            .ticks
            .iter()
            .filter(|(t, _, _)| self.inside(*t))
            .collect();
        if !ticks.is_empty() {
            let _ = write!(
                rows,
                r#"<text class="lane" x="{lx}" y="{ty}">events</text>"#,
                lx = LEFT - 6.0,
                ty = y + 12.0
            );
            for (at, what, class) in ticks {
                let _ = write!(
                    rows,
                    r#"<g class="tick {class}"><line x1="{tx:.1}" x2="{tx:.1}" y1="{y1}" y2="{y2}"/><title>{what} at {at}</title></g>"#,
                    tx = self.x(*at),
                    y1 = y + 2.0,
                    y2 = y + ROW - 2.0,
                    what = esc(what),
                    at = fmt_at(*at),
                );
            }
            y += ROW;
        }
        (rows, y)
    }

    /// The steps, and a line through everything at the failing one.
    fn steps(&self, mut y: f64) -> (String, f64) {
        let mut rows = String::new();
        // Steps, and the failing one through everything.
        let failing = failing_step(self.r);
        let _ = write!(
            rows,
            r#"<text class="lane" x="{lx}" y="{ty}">steps</text>"#,
            lx = LEFT - 6.0,
            ty = y + 12.0
        );
        for (i, s) in self.r.trace.steps.iter().enumerate() {
            if !self.inside(s.at) {
                continue;
            }
            let class = if Some(i) == failing {
                "step failing-step"
            } else {
                "step"
            };
            let _ = write!(
                rows,
                r#"<g class="{class}"><circle cx="{cx:.1}" cy="{cy}" r="4"/><title>{at} {text}</title></g>"#,
                cx = self.x(s.at),
                cy = y + ROW / 2.0,
                at = fmt_at(s.at),
                text = esc(&s.text),
            );
        }
        y += ROW;
        if let Some(s) = failing
            .map(|i| &self.r.trace.steps[i])
            .filter(|s| self.inside(s.at))
        {
            let fx = self.x(s.at);
            let _ = write!(
                rows,
                r#"<g class="failing-step-line"><line x1="{fx:.1}" x2="{fx:.1}" y1="14" y2="{y}"/><text x="{tx:.1}" y="12" text-anchor="{anchor}">✗ {text}</text></g>"#,
                // Beside the line, on the side with room.
                tx = if fx > LEFT + PLOT / 2.0 {
                    fx - 4.0
                } else {
                    fx + 4.0
                },
                anchor = if fx > LEFT + PLOT / 2.0 {
                    "end"
                } else {
                    "start"
                },
                text = esc(&s.text),
            );
        }
        (rows, y)
    }

    /// The time axis under the rows, at round times of the rig clock, also
    /// in a window; `y` is where the rows end.
    fn axis(&self, y: f64) -> String {
        // Time axis.
        // Ticks at round times of the rig clock, also in a window.
        let step = tick_step(self.span);
        let mut t = (self.from.as_secs_f64() / step).ceil() * step - self.from.as_secs_f64();
        let mut axis = String::new();
        while t <= self.span + 1e-9 {
            let tx = LEFT + t / self.span * PLOT;
            let at = self.from + Duration::from_secs_f64(t);
            let _ = write!(
                axis,
                r#"<line class="grid" x1="{tx:.1}" x2="{tx:.1}" y1="16" y2="{y}"/><text class="axis" x="{tx:.1}" y="{ay}">{label}</text>"#,
                ay = y + 14.0,
                label = axis_label(at, step),
            );
            t += step;
        }
        axis
    }
}

/// The case's timeline from `from` to `end` as inline SVG.
fn timeline(r: &CaseReport, l: &Lanes, from: Duration, end: Duration, what: &str) -> String {
    let t = Timeline {
        r,
        l,
        from,
        end,
        span: (end - from).as_secs_f64(),
    };
    let mut rows = String::new();
    let mut y = 20.0;
    for lane in [
        Timeline::states,
        Timeline::temperature,
        Timeline::ticks,
        Timeline::steps,
    ] {
        let (drawn, below) = lane(&t, y);
        rows.push_str(&drawn);
        y = below;
    }
    let axis = t.axis(y);
    let height = y + 22.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<figure><figcaption>Timeline: {what} ({from} to {to})</figcaption><svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="timeline of {name}: {what}">{axis}{rows}</svg></figure>"#,
        name = esc(&r.name),
        from = fmt_at(from),
        to = fmt_at(end),
    );
    svg
}

const CSS: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:12px 20px}
header h1{margin:0 0 4px;font-size:20px}
header p{margin:4px 0}
main{padding:12px 20px}
button{font:inherit;border:1px solid #888;background:#fff;border-radius:3px;padding:1px 8px;cursor:pointer}
button.on{background:#ffd54a}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-weight:600;font-size:12px;color:#fff}
.badge.passed{background:#2e7d32}.badge.failed{background:#c62828}.badge.error{background:#8e24aa}
.badge.skipped{background:#9e9e9e}.badge.flaky{background:#ef6c00}
table.cases{border-collapse:collapse;background:#fff;margin-bottom:16px}
table.cases td,table.cases th{padding:2px 8px;border-bottom:1px solid #e4e6ea;text-align:left}
section.case{background:#fff;border:1px solid #dde0e5;border-radius:4px;margin:8px 0;padding:4px 10px}
section.case summary{cursor:pointer;padding:4px 0}
.meta{color:#667;font-size:12px}
.reason{border-left:4px solid #c62828;background:#fdecea;padding:2px 10px;margin:6px 0}
.reason.error{border-color:#8e24aa;background:#f6e9f8}.reason.skipped{border-color:#9e9e9e;background:#f1f1f1}
.caveats{border-left:4px solid #ef6c00;background:#fff3e0;padding:2px 10px;margin:6px 0}.caveats ul{margin:2px 0}
pre{white-space:pre-wrap;margin:4px 0;font:12px/1.35 ui-monospace,monospace}
pre.transcript{max-height:420px;overflow:auto;background:#fafbfc;border:1px solid #eee;padding:4px}
ol.steps{font:12px/1.5 ui-monospace,monospace;padding-left:28px}
ol.steps li.passed::marker{color:#2e7d32}
ol.steps li.failing-step{color:#c62828;font-weight:700}
.about p{margin:.2em 0}.about .suite-description{color:#555}
.tag{display:inline-block;padding:0 .4em;margin-right:.2em;border-radius:3px;background:#e3eaf3;font-size:.85em}
.tag.suite-tag{background:#eee}
.at{color:#667}
.note{color:#667;font-size:12px;margin:2px 0}
ul.not-run{font:12px/1.5 ui-monospace,monospace;color:#889;margin:0}
figure{margin:8px 0}figcaption{font-size:12px;color:#445}
svg.timeline{display:block;background:#fff;margin:6px 0;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}
svg text.lane{text-anchor:end;fill:#445}
svg text.scale{text-anchor:end;fill:#889;font-size:9px}
svg text.axis{text-anchor:middle;fill:#667;font-size:10px}
svg line.grid{stroke:#eceef1}
svg line.rest{stroke:#c9ccd3}
.seg rect{fill:#90a4ae}.seg text{font-size:10px;fill:#fff;pointer-events:none}
.seg.active rect{fill:#ef6c00}.seg.released rect{fill:#2e7d32}.seg.package rect{fill:#1565c0}
.seg.display rect{fill:#37474f;stroke:#fff;stroke-width:.5}
.seg.led-green rect{fill:#43a047}.seg.led-amber rect{fill:#ffb300}.seg.led-red rect{fill:#e53935}.seg.led-off rect{fill:#cfd8dc}
.seg.up rect{fill:#66bb6a}.seg.up-2 rect{fill:#26a69a}.seg.down rect{fill:#e53935}.seg.low rect{fill:#ffb300}
.seg.lockout rect{fill:#6a1b9a}.seg.held rect{fill:#b71c1c}
rect.temp-bg{fill:#fafbfc;stroke:#e4e6ea}
polyline.measured{fill:none;stroke:#d84315;stroke-width:1.5}
circle.measured{fill:#d84315}
polyline.set-point{fill:none;stroke:#1565c0;stroke-width:1.5;stroke-dasharray:5 3}
rect.heater{fill:#ff8a65}
.tick line{stroke:#455a64;stroke-width:2}.tick.error line{stroke:#c62828}.tick.reset line{stroke:#6a1b9a}
.step circle{fill:#2e7d32}
.step.failing-step circle{fill:#c62828;r:6}
.failing-step-line line{stroke:#c62828;stroke-width:2;stroke-dasharray:4 2}
.failing-step-line text{fill:#c62828;font-weight:700}
"#;

const SCRIPT: &str = r#"
(function(){
  var rows=document.querySelectorAll('[data-outcome]');
  var show=function(which){
    rows.forEach(function(el){
      var o=el.getAttribute('data-outcome');
      var on=which==='all'||(which==='bad'&&(o==='failed'||o==='error'))||o===which;
      el.style.display=on?'':'none';
    });
    document.querySelectorAll('button[data-show]').forEach(function(b){
      b.className=b.getAttribute('data-show')===which?'on':'';
    });
  };
  document.querySelectorAll('button[data-show]').forEach(function(b){
    b.addEventListener('click',function(){show(b.getAttribute('data-show'));});
  });
  document.body.setAttribute('data-timelines',String(document.querySelectorAll('svg.timeline').length));
  document.body.setAttribute('data-ready','1');
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, 1.0, "0")]
    #[case(12_500, 0.5, "12.5s")]
    #[case(45_000, 5.0, "45s")]
    #[case(720_000, 60.0, "12m")]
    #[case(750_000, 30.0, "12m 30s")]
    #[case(25_820_000, 10.0, "7h 10m 20s")]
    #[case(25_800_000, 600.0, "7h 10m")]
    #[case(198_000_000, 3600.0, "2d 7h")]
    #[case(172_800_000, 86_400.0, "2d")]
    fn axis_labels_are_as_precise_as_the_ticks(
        #[case] ms: u64,
        #[case] step: f64,
        #[case] want: &str,
    ) {
        assert_eq!(axis_label(Duration::from_millis(ms), step), want);
    }

    fn reports(orders: &[usize]) -> Vec<CaseReport> {
        let suites = crate::model::load_suites(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/jams.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let plan = crate::run::runner::plan(&suites, |_, _| true);
        orders
            .iter()
            .map(|&o| crate::run::runner::not_run(o, &plan[o], "sim", Outcome::Passed))
            .collect()
    }

    fn info(rig: &str, started_s: u64) -> RunInfo {
        RunInfo {
            rig: rig.into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(started_s),
            wall: Duration::from_millis(1500),
            state: crate::report::RunState::Complete,
            page: None,
        }
    }

    fn b_again() -> String {
        render(&reports(&[0, 3]), &info("bench-2", 1_000))
    }

    #[test]
    fn pages_of_shards_merge_in_plan_order_and_overlaps_are_refused() {
        let a = render(&reports(&[0, 2, 4]), &info("bench-1", 2_000));
        let b = render(&reports(&[1, 3]), &info("bench-2", 1_000));
        let merged = merge(&[("a.html".into(), a.clone()), ("b.html".into(), b)])
            .unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<&str> = merged
            .match_indices("<!--case ")
            .map(|(i, _)| merged[i + 9..].split("-->").next().unwrap_or(""))
            .collect();
        assert_eq!(order, ["0", "1", "2", "3", "4"]);
        assert!(merged.contains("rig <b>bench-1, bench-2</b>"));
        assert!(
            merged.contains("started 1970-01-01 00:16:40 UTC"),
            "the earliest start"
        );
        assert!(merged.contains(">5 passed<"));
        // Issue 13: the overlap named neither the case nor both files.
        let first = &reports(&[0])[0];
        let e = merge(&[("a.html".into(), a.clone()), ("again.html".into(), a)]).unwrap_err();
        assert_eq!(
            e,
            format!(
                "case `{}::{}` is on both a.html and again.html: the shards overlap",
                first.suite, first.name
            )
        );
        // The same case at another plan position (a differently filtered
        // run) is the same case.
        let mut moved = reports(&[0]);
        moved[0].order = 7;
        let c = render(&moved, &info("bench-3", 3_000));
        let e = merge(&[("b.html".into(), b_again()), ("c.html".into(), c)]).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "case `{}::{}` is on both b.html and c.html",
                first.suite, first.name
            )),
            "{e}"
        );
        let e = merge(&[("notes.html".into(), "<html>hi</html>".into())]).unwrap_err();
        assert_eq!(e, "notes.html: not a page `harness run` wrote");
    }

    #[rstest]
    #[case(10.0, 2.0)]
    #[case(100.0, 20.0)]
    #[case(25_861.0, 7_200.0)]
    #[case(60.0, 10.0)]
    fn ticks_are_round(#[case] span: f64, #[case] want: f64) {
        assert_eq!(tick_step(span), want);
    }
}
