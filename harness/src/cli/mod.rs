//! The `harness` command line.
//!
//! ```text
//! $ harness run                          # every suites/*.yaml on rigs/sim.yaml
//! PASS  code-entry::valid code opens its compartment  [4.6s rig time, 0.4ms]
//! ...
//! 86 cases: 86 passed, 0 failed, 0 errors, 0 skipped in 0.09s
//! JUnit: reports/junit.xml
//! HTML:  reports/index.html
//! $ harness list --filter tag:smoke
//! code-entry::valid code opens its compartment  [smoke, code-entry, security]
//! $ harness run --shard 2/3 --durations last.xml --retries 1
//! $ harness report merge shard-*.xml -o reports/junit.xml
//! $ harness report recover reports/junit.xml   # after a kill, from its journal
//! $ harness check
//! ok: 9 suites, 86 cases, rig sim
//! ```

pub mod exit;
pub mod stop;

use crate::cli::exit::Exit;
use crate::model::diag::InputError;
use crate::model::filter::Filter;
use crate::model::rigfile::RigDescription;
use crate::model::rigfile::RigKind;
use crate::report::terminal::{Terminal, Verbosity};
use crate::report::{self, RunState, Tally};
use crate::rigs::qemu::QemuRig;
use crate::rigs::sim::SimRig;
use crate::run::runner::{self, RunEvent};
use clap::{Args, Parser, Subcommand};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// A line on standard output. A reader that went away (`harness list |
/// head`) is no reason to die half-way through a run: the line is dropped.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($t)*);
    }};
}

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Hardware-in-the-loop test harness for parcel-locker controllers"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run suites on a rig and write JUnit and HTML reports.
    Run(RunArgs),
    /// List the cases the suites hold.
    List(ListArgs),
    /// Validate suites and a rig description without running anything.
    Check(CheckArgs),
    /// Put the firmware on a bench's controller through its debug probe.
    Flash(FlashArgs),
    /// Work with a rig itself.
    #[command(subcommand)]
    Rig(RigCmd),
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCmd),
}

#[derive(Debug, Subcommand)]
enum ReportCmd {
    /// Merge the reports of shards (or of several rigs) into one, in plan
    /// order: JUnit files into `-o`, and their HTML pages (`.html`) into
    /// `--html`; a case in two files is an error (the shards overlap).
    Merge {
        /// The JUnit files to merge, and the HTML pages of the same runs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write the merged JUnit report.
        #[arg(long, short = 'o', default_value = "reports/junit.xml")]
        output: PathBuf,
        /// Where to write the merged HTML page (from the `.html` inputs).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Rebuild the JUnit report of a run that was killed from the journal
    /// it left beside it (`<junit>.journal`): every case it finished. The
    /// report still says the run did not finish.
    Recover {
        /// The run's JUnit report.
        #[arg(default_value = "reports/junit.xml")]
        junit: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RigCmd {
    /// Preflight: open every part of the rig and report each as ready or not, with why.
    Check {
        /// Rig description.
        #[arg(long, default_value = "rigs/sim.yaml")]
        rig: PathBuf,
    },
    /// Expose a sim rig as serial devices (console and fixture board) in real time.
    Serve {
        /// A sim rig description.
        #[arg(long, default_value = "rigs/sim.yaml")]
        rig: PathBuf,
        /// Serve on pseudo-terminals (the only transport so far).
        #[arg(long)]
        pty: bool,
        /// Plant time per wall time (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
}

#[derive(Debug, Args)]
struct FlashArgs {
    /// Rig description of a bench (with `controller.flash`).
    #[arg(long)]
    rig: PathBuf,
    /// A prebuilt image instead of building the rig's board crate.
    #[arg(long)]
    elf: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct Selection {
    /// Suite files (default: every suites/*.yaml).
    suites: Vec<PathBuf>,
    /// Choose cases: `tag:smoke`, `suite:lockouts`, `name:TEXT`, with `&`, `|`, `!`, parentheses.
    #[arg(long)]
    filter: Option<String>,
    /// Only the K-th of N parts of the chosen cases (`2/3`), for N CI jobs
    /// that together run every case once; merge their reports with
    /// `harness report merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<crate::run::shard::Shard>,
    /// Balance the shards by the case times in this earlier JUnit report
    /// (else cases are dealt round-robin).
    #[arg(long, value_name = "JUNIT", requires = "shard")]
    durations: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    sel: Selection,
    /// Rig description.
    #[arg(long, default_value = "rigs/sim.yaml")]
    rig: PathBuf,
    /// Choose the rig by its labels instead (repeatable: every one must
    /// match): the first rig file in `--rigs-dir` with them whose bench is
    /// free. A CI runner labelled for a rig kind runs `--rig-label KIND`.
    #[arg(long, value_name = "LABEL", conflicts_with = "rig")]
    rig_label: Vec<String>,
    /// Where `--rig-label` looks for rig files.
    #[arg(long, default_value = "rigs")]
    rigs_dir: PathBuf,
    /// Rigs to run in parallel. By default what is fastest for the kind of
    /// rig: one emulator per core on qemu, one sim rig (a whole regression
    /// takes a tenth of a second), and a bench is always one.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where to write the JUnit report.
    #[arg(long, default_value = "reports/junit.xml")]
    junit: PathBuf,
    /// Where to write the HTML report (one self-contained page).
    #[arg(long, default_value = "reports/index.html")]
    html: PathBuf,
    /// Compare each passing case's behaviour with its stored snapshot
    /// (`check`: a difference fails the case, with a diff, and leaves a
    /// `.snap.new` for `cargo insta review`), or store it (`update`).
    #[arg(long, value_enum, value_name = "check|update")]
    snapshots: Option<report::snapshots::Mode>,
    /// Where snapshots live, a folder per kind of rig. The default is in
    /// the harness package, where `cargo insta review` finds pending ones.
    #[arg(long, default_value = "harness/snapshots")]
    snapshot_dir: PathBuf,
    /// Print only the summary (no line per case, no progress bar).
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    quiet: bool,
    /// Also print each case as it starts and every retry, and a failure's
    /// reason in full with the end of its transcript.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Runs after a failure before it counts, for cases whose suite does
    /// not say (`retries:` in a suite or case wins). A case that passes on
    /// a retry is reported flaky.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=crate::model::suite::MAX_RETRIES as i64))]
    retries: u32,
    /// Wall time a case may take before it is cut short as an error, for
    /// cases whose suite does not say (`timeout:` in a suite or case wins).
    /// Default: 5m on a bench, none on sim and qemu rigs (virtual time).
    #[arg(long, value_name = "DURATION", value_parser = crate::model::units::parse_duration)]
    case_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    sel: Selection,
    /// One JSON object per case.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Suite files (default: every suites/*.yaml).
    suites: Vec<PathBuf>,
    /// Rig description to check the suites against.
    #[arg(long, default_value = "rigs/sim.yaml")]
    rig: PathBuf,
}

/// Entry point of the binary.
pub fn main() -> Exit {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::List(a) => list(a),
        Cmd::Check(a) => check(a),
        Cmd::Flash(a) => flash(a),
        Cmd::Rig(RigCmd::Check { rig }) => rig_check(&rig),
        Cmd::Rig(RigCmd::Serve { rig, pty, speed }) => rig_serve(&rig, pty, speed),
        Cmd::Report(ReportCmd::Merge {
            files,
            output,
            html,
        }) => report_merge(&files, &output, html.as_deref()),
        Cmd::Report(ReportCmd::Recover { junit }) => {
            let journal = report::writer::journal_path(&junit);
            if let Err(e) = check_outputs(&[("the report", &junit)], &[&journal]) {
                return e;
            }
            match report::writer::recover(&junit) {
                Ok(n) => {
                    out!(
                        "{}: {n} finished case(s) from {}",
                        junit.display(),
                        journal.display()
                    );
                    Exit::Ok
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Exit::BadInput
                }
            }
        }
    }
}

/// [`report::outputs::check`], said on standard error with its exit code.
fn check_outputs(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<(), Exit> {
    use report::outputs::Refused;
    report::outputs::check(outputs, inputs).map_err(|e| {
        eprintln!("error: {e}");
        match e {
            Refused::Wrong(_) => Exit::BadInput,
            Refused::Unwritable(_) => Exit::RigError,
        }
    })
}

/// The run's last JUnit write holds every case: its journal is done with.
fn forget_journal(junit: &Path) {
    let _ = std::fs::remove_file(report::writer::journal_path(junit));
}

/// `harness report merge`: exit 0, or 2 when an input is unreadable or the
/// inputs overlap.
fn report_merge(files: &[PathBuf], output: &Path, html: Option<&Path>) -> Exit {
    let (pages, junits): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|f| f.extension().is_some_and(|x| x == "html" || x == "htm"));
    match (pages.is_empty(), html) {
        (false, None) => {
            eprintln!("error: HTML pages to merge, but no --html to write them to");
            return Exit::BadInput;
        }
        (true, Some(_)) => {
            eprintln!("error: --html given, but no .html pages among the inputs");
            return Exit::BadInput;
        }
        _ => {}
    }
    if junits.is_empty() {
        eprintln!("error: no JUnit files among the inputs");
        return Exit::BadInput;
    }
    let outputs: Vec<(&str, &Path)> = [("-o", Some(output)), ("--html", html)]
        .into_iter()
        .filter_map(|(flag, p)| Some((flag, p?)))
        .collect();
    let inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    if let Err(e) = check_outputs(&outputs, &inputs) {
        return e;
    }
    let merged = match report::merge::merge(&junits) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let page = match html {
        None => None,
        Some(out) => {
            let mut texts = Vec::new();
            for p in &pages {
                match crate::model::input::read_string(
                    p,
                    crate::model::input::REPORT_LIMIT,
                    "HTML pages",
                ) {
                    Ok(t) => texts.push((p.display().to_string(), t)),
                    Err(e) => {
                        eprintln!("error: {}: cannot read: {e}", p.display());
                        return Exit::BadInput;
                    }
                }
            }
            match report::html::merge(&texts) {
                Ok(page) => Some((out, page)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::BadInput;
                }
            }
        }
    };
    if let Err(e) = report::write_report(output, &merged) {
        eprintln!("error: {e}");
        return Exit::RigError;
    }
    if let Some((out, page)) = page
        && let Err(e) = report::write_atomic(out, page.as_bytes())
    {
        eprintln!("error: cannot write {}: {e}", out.display());
        return Exit::RigError;
    }
    let cases: usize = merged.test_suites.iter().map(|s| s.test_cases.len()).sum();
    out!(
        "merged {} report(s): {} suites, {cases} cases ({} failures, {} errors) into {}{}",
        junits.len(),
        merged.test_suites.len(),
        merged.failures,
        merged.errors,
        output.display(),
        html.map(|h| format!(" and {} page(s) into {}", pages.len(), h.display()))
            .unwrap_or_default()
    );
    Exit::Ok
}

/// `harness rig serve --pty`: runs until stopped.
fn rig_serve(path: &Path, pty: bool, speed: f64) -> Exit {
    let rig = match RigDescription::load(path) {
        Ok(r) => r,
        Err(e) => return report_errors(&[e]),
    };
    if !pty {
        eprintln!("error: say how to serve the rig: `--pty` (pseudo-terminals)");
        return Exit::BadInput;
    }
    if !(speed > 0.0 && speed <= 1000.0) {
        eprintln!("error: --speed must be above 0 and at most 1000");
        return Exit::BadInput;
    }
    if !matches!(rig.kind, RigKind::Sim(_)) {
        eprintln!(
            "error: rig `{}` is a {} rig; only sim rigs can be served",
            rig.name,
            rig.kind_name()
        );
        return Exit::BadInput;
    }
    let result = crate::rigs::sim::serve::serve(
        &rig,
        speed,
        |s| {
            use std::io::Write;
            out!("console: {}", s.console);
            out!("board:   {}", s.board);
            out!("chamber: {}", s.chamber);
            out!("supply:  {}", s.supply);
            out!(
                "serving rig `{}` in real time (x{speed}); Ctrl-C stops it. As a bench rig file:\n  console: {{ port: {}, baud: 115200 }}\nfixtures:\n{}",
                rig.name,
                s.console,
                s.fixtures_yaml()
            );
            let _ = std::io::stdout().flush();
        },
        |line| out!("{line}"),
    );
    match result {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::RigError
        }
    }
}

/// `harness rig check`: exit 0 when every part is ready, 3 when one is not.
fn rig_check(path: &Path) -> Exit {
    let rig = match RigDescription::load(path) {
        Ok(r) => r,
        Err(e) => return report_errors(&[e]),
    };
    let parts = crate::rigs::bench::preflight::check(&rig);
    out!(
        "{}",
        crate::rigs::bench::preflight::render(&rig, &parts).trim_end()
    );
    if parts
        .iter()
        .all(|p| matches!(p.verdict, crate::rigs::bench::preflight::Verdict::Ok(_)))
    {
        Exit::Ok
    } else {
        Exit::RigError
    }
}

/// `harness flash`: probe first (cheap, and the usual problem), then the
/// image, then the write.
fn flash(a: FlashArgs) -> Exit {
    let rig = match RigDescription::load(&a.rig) {
        Ok(r) => r,
        Err(e) => return report_errors(&[e]),
    };
    let RigKind::Bench(bench) = &rig.kind else {
        eprintln!(
            "error: rig `{}` is a {} rig; `harness flash` is for benches with a debug probe (a {} rig loads its firmware for every case)",
            rig.name,
            rig.kind_name(),
            rig.kind_name()
        );
        return Exit::BadInput;
    };
    let fail = |e: crate::rigs::RigError| {
        eprintln!("error: rig `{}`: {e}", rig.name);
        Exit::RigError
    };
    let _lock = match crate::rigs::bench::lock::RigLock::acquire(
        &rig.name,
        &crate::rigs::bench::lock::resources(bench),
    ) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let mut flasher = match crate::rigs::bench::flash::for_bench(&bench.probe) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    match flasher.check() {
        Ok(found) => out!("{found}"),
        Err(e) => return fail(e),
    }
    let elf = match a
        .elf
        .clone()
        .map_or_else(|| crate::rigs::image::locate(&rig.firmware), Ok)
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(e) = std::fs::metadata(&elf) {
        return fail(crate::rigs::RigError::Flash(format!(
            "cannot read {}: {e}",
            elf.display()
        )));
    }
    // A firmware team's own image may carry no identity; it is flashed all the same.
    let build = crate::rigs::image::identify(&elf)
        .map_or_else(|_| "(no LOCKER-IMAGE identity)".to_owned(), |id| id.build);
    // A bar on a terminal; nothing when stderr is a file or a CI log.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut progress = |step: crate::rigs::bench::flash::FlashStep| match step {
        crate::rigs::bench::flash::FlashStep::Programming { done, total } => {
            bar.set_message("programming");
            bar.set_length(total);
            bar.set_position(done);
        }
        other => bar.set_message(format!("{other:?}").to_lowercase()),
    };
    let result = flasher.flash(&elf, &build, &mut progress);
    bar.finish_and_clear();
    match result {
        Ok(r) if r.skipped => {
            out!(
                "{}: already holds {} ({}); not written",
                rig.name,
                r.build_id,
                r.image
            );
            Exit::Ok
        }
        Ok(r) => {
            out!(
                "{}: wrote and verified {} ({})",
                rig.name,
                r.build_id,
                r.image
            );
            Exit::Ok
        }
        Err(e) => fail(e),
    }
}

fn report_errors(errors: &[InputError]) -> Exit {
    for e in errors {
        eprintln!("{e}\n");
    }
    eprintln!("{} problem(s) in the input; nothing was run", errors.len());
    Exit::BadInput
}

use crate::model::{Suites, check_against_rig, load_suites};

/// The suites, and the cases chosen by the filter and the shard, in plan order.
fn select(sel: &Selection) -> Result<(Suites, Vec<runner::Planned>), Exit> {
    let filter = match sel.filter.as_deref().map(Filter::parse).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(Exit::BadInput);
        }
    };
    let suites = load_suites(&sel.suites).map_err(|e| report_errors(&e))?;
    let plan = runner::plan(&suites, |s, c| {
        filter.as_ref().is_none_or(|f| f.matches(s, c))
    });
    let Some(shard) = sel.shard else {
        return Ok((suites, plan));
    };
    let durations = match &sel.durations {
        None => None,
        Some(path) => {
            let known = crate::model::input::read_string(
                path,
                crate::model::input::REPORT_LIMIT,
                "JUnit reports",
            )
            .map_err(|e| e.to_string())
            .and_then(|xml| crate::run::shard::durations_from_junit(&xml));
            match known {
                Ok(d) => Some(d),
                Err(e) => {
                    eprintln!(
                        "error: --durations {}: {e}; expected the JUnit report of an earlier run",
                        path.display()
                    );
                    return Err(Exit::BadInput);
                }
            }
        }
    };
    Ok((
        suites,
        crate::run::shard::select(plan, shard, durations.as_ref()),
    ))
}

fn list(a: ListArgs) -> Exit {
    let (suites, plan) = match select(&a.sel) {
        Ok(x) => x,
        Err(e) => return e,
    };
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
        if a.json {
            let obj = serde_json::json!({
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
            out!("{obj}");
        } else {
            let quarantined = if p.quarantine.is_some() {
                "  (quarantined)"
            } else {
                ""
            };
            out!(
                "{}  [{}]{quarantined}",
                report::terminal::printable(&p.id()),
                report::terminal::printable(&tags.join(", "))
            );
        }
    }
    Exit::Ok
}

/// Load a rig description and check the suites against it.
fn load_rig_for(suites: &Suites, path: &Path) -> Result<RigDescription, Exit> {
    let rig = RigDescription::load(path).map_err(|e| report_errors(&[e]))?;
    let errors = check_against_rig(suites, &rig);
    if errors.is_empty() {
        Ok(rig)
    } else {
        Err(report_errors(&errors))
    }
}

fn check(a: CheckArgs) -> Exit {
    let suites = match load_suites(&a.suites) {
        Ok(s) => s,
        Err(e) => return report_errors(&e),
    };
    let rig = match load_rig_for(&suites, &a.rig) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let cases: usize = suites.iter().map(|(_, s)| s.cases.len()).sum();
    out!(
        "ok: {} suites, {cases} cases, rig {}",
        suites.len(),
        rig.name
    );
    Exit::Ok
}

fn run(a: RunArgs) -> Exit {
    let (suites, mut plan) = match select(&a.sel) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let path = match a.rig_label.is_empty() {
        true => a.rig.clone(),
        false => match rig_by_labels(&a.rigs_dir, &a.rig_label) {
            Ok(p) => p,
            Err(e) => return e,
        },
    };
    let rig = match load_rig_for(&suites, &path) {
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
    let jobs = match (a.jobs, &rig.kind) {
        (Some(0), _) => {
            eprintln!("error: --jobs must be at least 1");
            return Exit::BadInput;
        }
        (Some(n), _) => n,
        (None, RigKind::Qemu { .. }) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        (None, _) => 1,
    };
    if plan.is_empty() {
        match a.sel.shard {
            // A shard can be empty when there are fewer cases than shards:
            // nothing to do is not an error for that CI job.
            Some(shard) => {
                out!("shard {shard} has no cases (there are fewer cases than shards)");
                if let Err(e) = report::write_junit(&a.junit, &[], &RunState::Complete) {
                    eprintln!("error: {e}");
                    return Exit::RigError;
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

/// The rig file in `dir` whose labels include every one of `labels`; of
/// several, the first (by file name) whose bench is not in use.
fn rig_by_labels(dir: &Path, labels: &[String]) -> Result<PathBuf, Exit> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(e) => {
            eprintln!("error: --rigs-dir {}: {e}", dir.display());
            return Err(Exit::BadInput);
        }
    };
    files.sort();
    let mut seen = Vec::new();
    let mut matching = Vec::new();
    for f in files {
        match RigDescription::load(&f) {
            Ok(r) => {
                if labels.iter().all(|l| r.labels.contains(l)) {
                    matching.push((f, r));
                } else {
                    seen.push(format!("{} [{}]", f.display(), r.labels.join(", ")));
                }
            }
            Err(e) => seen.push(format!("{} (unreadable: {e})", f.display())),
        }
    }
    if matching.is_empty() {
        eprintln!(
            "error: no rig file in {} has the labels [{}]; there are:\n  {}",
            dir.display(),
            labels.join(", "),
            seen.join("\n  ")
        );
        return Err(Exit::BadInput);
    }
    let free = matching.iter().position(|(_, r)| match &r.kind {
        RigKind::Bench(b) => crate::rigs::bench::lock::RigLock::acquire(
            &r.name,
            &crate::rigs::bench::lock::resources(b),
        )
        .is_ok(),
        _ => true,
    });
    let (path, _) = matching.swap_remove(free.unwrap_or(0));
    Ok(path)
}

/// Run `plan` on `jobs` rigs of the kind `desc` describes (see [`runner::run_until`]).
pub async fn run_plan(
    plan: Vec<runner::Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    on_event: impl FnMut(&RunEvent),
    stop: impl Future<Output = ()>,
) -> Option<Vec<runner::CaseReport>> {
    let d = desc.clone();
    // Several rigs from one file are told apart: `sim-0`, `sim-1`, ...
    let workers = jobs.min(plan.len());
    let name = move |j: usize| match workers {
        0 | 1 => d.name.clone(),
        _ => format!("{}-{j}", d.name),
    };
    let d = desc.clone();
    match &desc.kind {
        RigKind::Sim(_) => {
            let make = move |j| Ok(SimRig::new((*d).clone()).named(name(j)));
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
        RigKind::Qemu { .. } => {
            let make = move |j| Ok(QemuRig::for_worker((*d).clone(), j)?.named(name(j)));
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
        RigKind::Bench(_) => {
            // One controller, one rig: cases run one after another.
            let jobs = 1;
            let make = move |_| crate::rigs::bench::BenchRig::new((*d).clone());
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
    }
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
    let mut terminal = Terminal::new(verbosity);
    let snapshots = a.snapshots.map(|mode| report::snapshots::Snapshots {
        mode,
        kind: desc.kind_name().to_owned(),
        dir: a.snapshot_dir.clone(),
    });
    // Cases a rig has taken and not finished, by plan index, with the rig:
    // what a stop interrupts.
    let mut running: HashMap<usize, String> = HashMap::new();
    let mut stopped_by = None;
    let outcome = runtime.block_on(async {
        let stop = async {
            stopped_by = Some(stop::signalled().await);
        };
        let on_event = |ev: &RunEvent| match ev {
            RunEvent::CaseStarted { index, rig, .. } => {
                running.insert(*index, rig.clone());
                terminal.event(ev);
            }
            RunEvent::CaseFinished(r) => {
                let mut r = (**r).clone();
                if let Some(s) = &snapshots {
                    s.apply(&mut r);
                }
                running.remove(&r.index);
                let ev = RunEvent::CaseFinished(Box::new(r));
                terminal.event(&ev);
                // On disk shortly: a run killed half-way keeps what it finished.
                if let RunEvent::CaseFinished(r) = ev {
                    writer.add(*r);
                }
            }
            ev => terminal.event(ev),
        };
        run_plan(plan, jobs, desc, on_event, stop).await
    });
    terminal.finish();
    let Some(_) = outcome else {
        let by = stopped_by.unwrap_or(stop::Stop::Interrupt);
        // Unfinished cases stay visible: the ones a rig was running are
        // errors (their verdict is lost), the others skipped with why.
        let mut done = writer.finish().reports;
        let finished = done.len();
        let mut cut = 0;
        for (i, p) in planned.iter().enumerate() {
            if done.iter().any(|r| r.index == i) {
                continue;
            }
            let outcome = match running.get(&i) {
                Some(rig) => {
                    cut += 1;
                    runner::Outcome::Error {
                        step: "interrupted".into(),
                        message: format!(
                            "the run was stopped by {} while this case ran on rig {rig}: it has no verdict",
                            by.name()
                        ),
                    }
                }
                None => runner::Outcome::Skipped {
                    reason: format!(
                        "not run: the run was stopped by {} before this case started",
                        by.name()
                    ),
                },
            };
            let rig = running.get(&i).map_or(rig_name.as_str(), String::as_str);
            done.push(runner::not_run(i, p, rig, outcome));
        }
        done.sort_by_key(|r| r.index);
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
    terminal.summary(&reports, started.elapsed());
    // A write that failed while the run went on is healed by a last one
    // that worked; only the last writes decide.
    let errors: Vec<String> = [junit_error, html_error].into_iter().flatten().collect();
    if !errors.is_empty() {
        for e in errors {
            eprintln!("error: {e}");
        }
        return Exit::RigError;
    }
    out!("JUnit: {}", a.junit.display());
    out!("HTML:  {}", a.html.display());
    Exit::from_tally(Tally::of(&reports))
}
