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

use crate::cli::exit::Exit;
use crate::model::diag::InputError;
use crate::model::filter::Filter;
use crate::model::rigfile::RigDescription;
use crate::report::{self};
use crate::run::runner::{self};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// A line on standard output. A reader that went away (`harness list |
/// head`) is no reason to die half-way through a run: the line is dropped.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(anstream::stdout(), $($t)*);
    }};
}

mod check;
pub mod exit;
mod explore;
mod flash;
mod merge;
mod rig;
mod run;
pub mod stop;

use check::{check, list};
use flash::flash;
use merge::report_merge;
use rig::{rig_check, rig_serve};
use run::run;

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
    /// Run random scenarios on a rig, judged by the promises every case
    /// keeps; a failure is shrunk and written as a suite file that fails
    /// the same way under `harness run`. Exits 0 when nothing was found,
    /// 1 when something was (and written), 2 on bad input, 3 when the rig
    /// broke.
    Explore(ExploreArgs),
    /// Work with a rig itself.
    #[command(subcommand)]
    Rig(RigCmd),
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Print the JSON Schema of suite, rig or dialect files (for editors
    /// that use the YAML language server; checked in under `schemas/`).
    Schema {
        #[arg(value_enum)]
        kind: SchemaKind,
    },
}

/// The input files there are schemas of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaKind {
    Suite,
    Rig,
    Dialect,
}

/// `harness schema KIND`: the schema generated from the model, in a
/// harness built with `--features schema`.
fn schema(kind: SchemaKind) -> Exit {
    #[cfg(feature = "schema")]
    {
        use crate::model::schema::{Kind, text};
        let kind = match kind {
            SchemaKind::Suite => Kind::Suite,
            SchemaKind::Rig => Kind::Rig,
            SchemaKind::Dialect => Kind::Dialect,
        };
        out!("{}", text(kind).trim_end());
        Exit::Ok
    }
    #[cfg(not(feature = "schema"))]
    {
        let file = match kind {
            SchemaKind::Suite => "suite",
            SchemaKind::Rig => "rig",
            SchemaKind::Dialect => "dialect",
        };
        eprintln!(
            "error: this harness was built without the `schema` feature; the schema is checked in as schemas/{file}.schema.json, or build with `cargo run -p locker-hil --features schema -- schema {file}`"
        );
        Exit::BadInput
    }
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
        /// Wire the served rig as this bench rig file says: its serial
        /// ports become links to the served devices, its Modbus modules
        /// are served where it names them (TCP on loopback), its I/O map
        /// says what each coil does; the file then runs unchanged.
        #[arg(long = "as", value_name = "BENCH")]
        as_bench: Option<PathBuf>,
    },
    /// Mint one code with the reference scheme and the rig's station key:
    /// a code issuer command (`controller.issuer`) for the reference
    /// firmware. Reads a request as JSON on standard input, prints
    /// `{"code": ...}`.
    IssueCode {
        /// Rig description (its station key).
        #[arg(long, default_value = "rigs/sim.yaml")]
        rig: PathBuf,
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
    /// The longest a run on a wall-clock rig (a bench) should take: above
    /// it, the run says so before it starts and names the longest cases.
    #[arg(long, value_name = "DURATION", default_value = "4h", value_parser = crate::model::units::parse_duration)]
    max_wall: std::time::Duration,
    /// Wall time a case may take before it is cut short as an error, for
    /// cases whose suite does not say (`timeout:` in a suite or case wins).
    /// Default: 5m on a bench, none on sim and qemu rigs (virtual time).
    #[arg(long, value_name = "DURATION", value_parser = crate::model::units::parse_duration)]
    case_timeout: Option<std::time::Duration>,
    /// Annotate failures for a CI: `auto` is GitHub Actions when
    /// `GITHUB_ACTIONS=true` (`::error` lines at each failing step, and a
    /// summary in `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_enum, default_value = "auto")]
    annotations: report::annotate::Annotations,
    /// `json`: one JSON object per event on standard output instead of
    /// lines for people (see the README's "Machine-readable output").
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// How a command prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct ExploreArgs {
    /// Rig description.
    #[arg(long, default_value = "rigs/sim.yaml")]
    rig: PathBuf,
    /// Wall time to spend drawing and running scenarios (shrinking a
    /// finding comes on top). Default: 60s.
    #[arg(long, value_name = "DURATION", value_parser = crate::model::units::parse_duration, conflicts_with = "cases")]
    budget: Option<std::time::Duration>,
    /// Run this many scenarios instead of a time budget.
    #[arg(long, value_name = "N")]
    cases: Option<u64>,
    /// Seed of the whole exploration: the same seed and `--cases` run the
    /// same scenarios. Default: from the clock, printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Steps a scenario has at least (a move of several steps is not cut).
    #[arg(long, value_name = "N", default_value_t = 24)]
    length: usize,
    /// How often each kind of move is drawn: a YAML map from kinds
    /// (`pickup`, `wrong-code`, `power`, `wait`, ...) to weights.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Where repro suite files are written.
    #[arg(long, value_name = "DIR", default_value = "reports/explore")]
    out: PathBuf,
    /// Cases one finding's shrinking may run.
    #[arg(long, value_name = "N", default_value_t = crate::explore::SHRINK_RUNS)]
    shrink_runs: u32,
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    sel: Selection,
    /// One JSON object per case.
    #[arg(long)]
    json: bool,
    /// Say for each case whether it would run on this rig, be skipped (and
    /// why) or be refused (and why), and what it would cost in wall time.
    #[arg(long)]
    rig: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Suite files (default: every suites/*.yaml).
    suites: Vec<PathBuf>,
    /// Rig description to check the suites against.
    #[arg(long, default_value = "rigs/sim.yaml")]
    rig: PathBuf,
    /// Annotate problems for a CI (see `run --annotations`).
    #[arg(long, value_enum, default_value = "auto")]
    annotations: report::annotate::Annotations,
    /// `json`: one JSON object per problem on standard output (`file`,
    /// `line`, `column`, `key`, `message`), or `{"ok": true, ...}`.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Entry point of the binary.
pub fn main() -> Exit {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(a) => run(a),
        Cmd::List(a) => list(a),
        Cmd::Check(a) => check(a),
        Cmd::Flash(a) => flash(a),
        Cmd::Explore(a) => explore::explore(a),
        Cmd::Rig(RigCmd::Check { rig }) => rig_check(&rig),
        Cmd::Rig(RigCmd::Serve {
            rig,
            pty,
            speed,
            as_bench,
        }) => rig_serve(&rig, pty, speed, as_bench.as_deref()),
        Cmd::Rig(RigCmd::IssueCode { rig }) => rig::issue_code(&rig),
        Cmd::Schema { kind } => schema(kind),
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
            .and_then(|xml| report::merge::durations(&xml));
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

/// Load a rig description and check the suites against it: the
/// compartments of every case, and what the rig can do for the `chosen`
/// cases (by suite and case name).
fn load_rig_for(
    suites: &Suites,
    path: &Path,
    chosen: impl Fn(&str, &str) -> bool,
) -> Result<RigDescription, Exit> {
    rig_for(suites, path, chosen).map_err(|e| report_errors(&e))
}

/// The rig file at `path`, if it and the chosen cases of `suites` hold
/// together; else every problem, in reading order.
fn rig_for(
    suites: &Suites,
    path: &Path,
    chosen: impl Fn(&str, &str) -> bool,
) -> Result<RigDescription, Vec<InputError>> {
    let rig = RigDescription::load(path).map_err(|e| e.0)?;
    let mut errors = check_against_rig(suites, &rig, chosen);
    errors.extend(crate::run::privacy::typed::typed_codes(suites, &rig));
    crate::model::diag::in_reading_order(&mut errors);
    if errors.is_empty() {
        Ok(rig)
    } else {
        Err(errors)
    }
}
