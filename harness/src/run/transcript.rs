//! A case's transcript in bounded memory, whatever the case's length or
//! its console's rate: the first [`HEAD_LINES`] and the last [`TAIL_LINES`]
//! stay in memory for the reports; the whole transcript streams to a file
//! beside the report once the case is long (more lines than memory keeps,
//! or [`STREAM_AFTER`] of wall time), flushed every [`FLUSH_EVERY`], so a
//! soak killed on day 29 leaves its 29 days on disk.
//!
//! Codes never reach the file in clear: each line is scrubbed of the codes
//! bound so far as it is written, and a code bound after the file began
//! sends the file through one more pass when the case ends. A code the
//! controller showed in a line that memory does not keep is still found,
//! and fails the case for privacy like any other ([`Transcript::leaked`]).

use crate::run::obs::{Dir, TranscriptLine};
use crate::run::privacy::redact::{code_digits, leaks_in_lines, redact_line};
use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Lines a report keeps from a transcript's beginning.
pub const HEAD_LINES: usize = 1_000;
/// Lines a report keeps from a transcript's end.
pub const TAIL_LINES: usize = 4_000;
/// Wall time after which a case's transcript streams to disk even when
/// memory could still hold it: a bench soak is on disk as it runs.
pub const STREAM_AFTER: Duration = Duration::from_secs(5);
/// Longest a streamed line waits in a buffer before it is in the file.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where a case's transcript goes when it is long: a folder beside the
/// report and the case's file name in it (without `.log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillTo {
    pub dir: PathBuf,
    pub stem: String,
}

/// A finished case's transcript as its report keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The lines kept: all of a short case's; of a long one the first
    /// [`HEAD_LINES`], then the last [`TAIL_LINES`].
    pub lines: Vec<TranscriptLine>,
    /// Lines not kept, between `lines[..HEAD_LINES]` and the rest.
    pub omitted: u64,
    /// The file holding the whole transcript, when the case was long.
    pub file: Option<PathBuf>,
    /// Why the transcript could not be written to its file.
    pub file_error: Option<String>,
    /// Codes (their names) the controller showed in lines not kept here.
    pub leaked: BTreeSet<String>,
}

impl Transcript {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many lines the case's transcript had.
    pub fn total(&self) -> u64 {
        self.lines.len() as u64 + self.omitted
    }

    /// The lines kept, as text, with one line standing for those not kept
    /// that says where they are.
    pub fn rendered(&self) -> impl Iterator<Item = String> + '_ {
        let split = if self.omitted > 0 {
            HEAD_LINES.min(self.lines.len())
        } else {
            self.lines.len()
        };
        let gap = (self.omitted > 0).then(|| self.gap());
        (self.lines[..split].iter().map(TranscriptLine::render))
            .chain(gap)
            .chain(self.lines[split..].iter().map(TranscriptLine::render))
    }

    /// The line that stands for the lines not kept.
    pub fn gap(&self) -> String {
        let mut s = format!(
            "[       ...] # {} lines not kept in this report",
            self.omitted
        );
        match (&self.file, &self.file_error) {
            (Some(f), _) => s.push_str(&format!("; the whole transcript is in {}", f.display())),
            (None, Some(e)) => s.push_str(&format!("; they could not be saved: {e}")),
            (None, None) => s.push_str(" (no report folder to save them in)"),
        }
        s
    }

    /// The last `n` lines kept.
    pub fn last(&self, n: usize) -> &[TranscriptLine] {
        &self.lines[self.lines.len().saturating_sub(n)..]
    }
}

/// The folder beside a JUnit report for its long cases' transcripts:
/// `reports/junit.xml` has `reports/junit.transcripts/`.
pub fn folder_for(junit: &Path) -> PathBuf {
    junit.with_extension("transcripts")
}

/// Make `dir` ready for a run: a folder (or nothing yet), with the previous
/// run's transcripts gone so that no report links a stale one.
pub fn prepare(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "{} is {}, but long cases' transcripts go in a folder there",
                dir.display(),
                crate::model::input::kind(m.file_type())
            ));
        }
        Ok(_) => {}
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let path = e.path();
        let ours = path.extension().is_some_and(|x| x == "log" || x == "tmp");
        if ours && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The file a long case's transcript streams to.
#[derive(Debug)]
enum Spill {
    /// No report folder: lines memory does not keep are dropped.
    Nowhere,
    /// Not long yet.
    Waiting(SpillTo),
    Open {
        path: PathBuf,
        out: BufWriter<File>,
        flushed: Instant,
        /// How many codes were bound when the file began.
        codes_then: usize,
    },
    Failed {
        error: String,
    },
}

/// A running case's transcript.
#[derive(Debug)]
pub struct Live {
    head: Vec<TranscriptLine>,
    tail: VecDeque<TranscriptLine>,
    omitted: u64,
    started: Instant,
    spill: Spill,
    /// The codes bound so far, `(digits, name)`.
    codes: Vec<(String, String)>,
    leaked: BTreeSet<String>,
}

impl Live {
    pub fn new(spill: Option<SpillTo>) -> Self {
        Self {
            head: Vec::new(),
            tail: VecDeque::new(),
            omitted: 0,
            started: Instant::now(),
            spill: spill.map_or(Spill::Nowhere, Spill::Waiting),
            codes: Vec::new(),
            leaked: BTreeSet::new(),
        }
    }

    /// A code the case bound (`digits`, as `$name`): from now on it is
    /// scrubbed from what goes to the file.
    pub fn bind(&mut self, code: &str, name: &str) {
        if let Some(digits) = code_digits(code)
            && !self.codes.iter().any(|(d, _)| d == digits)
        {
            self.codes.push((digits.to_owned(), name.to_owned()));
        }
    }

    pub fn push(&mut self, line: TranscriptLine) {
        let full = self.head.len() >= HEAD_LINES && self.tail.len() >= TAIL_LINES;
        if let Spill::Waiting(_) = self.spill
            && (full || self.started.elapsed() >= STREAM_AFTER)
        {
            self.open();
        }
        self.write(&line);
        if self.head.len() < HEAD_LINES {
            self.head.push(line);
            return;
        }
        self.tail.push_back(line);
        if self.tail.len() > TAIL_LINES
            && let Some(old) = self.tail.pop_front()
        {
            self.omitted += 1;
            // In the file already when there is one; either way, a code
            // the controller showed there is a leak the report must tell.
            if !matches!(self.spill, Spill::Open { .. }) {
                let _ = self.scrub(&old);
            }
        }
    }

    /// `line`'s text without codes, `None` when it had none; a code in a
    /// console line is remembered as leaked.
    fn scrub(&mut self, line: &TranscriptLine) -> Option<String> {
        // Most cases bind no code: no line of theirs needs looking at.
        if self.codes.is_empty() {
            return None;
        }
        let codes: Vec<(&str, &str)> = (self.codes.iter())
            .map(|(d, n)| (d.as_str(), n.as_str()))
            .collect();
        let mut found = BTreeSet::new();
        let clean = redact_line(&line.text, &codes, &mut found);
        if line.dir == Dir::Rx {
            let loud: Vec<String> = (found.into_iter())
                .filter(|n| loud(&codes, n))
                .map(str::to_owned)
                .collect();
            self.leaked.extend(loud);
        }
        clean
    }

    fn open(&mut self) {
        let Spill::Waiting(to) = &self.spill else {
            return;
        };
        let (path, file) = match create(to) {
            Ok(f) => f,
            Err(error) => {
                self.spill = Spill::Failed { error };
                return;
            }
        };
        self.spill = Spill::Open {
            path,
            out: BufWriter::with_capacity(64 * 1024, file),
            flushed: Instant::now(),
            codes_then: self.codes.len(),
        };
        let kept: Vec<TranscriptLine> = self.head.iter().chain(&self.tail).cloned().collect();
        for l in &kept {
            self.write(l);
        }
    }

    fn write(&mut self, line: &TranscriptLine) {
        if !matches!(self.spill, Spill::Open { .. }) {
            return;
        }
        let clean = self.scrub(line);
        let Spill::Open {
            path, out, flushed, ..
        } = &mut self.spill
        else {
            return;
        };
        let text = match &clean {
            Some(c) => TranscriptLine {
                text: c.clone(),
                ..line.clone()
            }
            .render(),
            None => line.render(),
        };
        let mut r = writeln!(out, "{text}");
        if r.is_ok() && flushed.elapsed() >= FLUSH_EVERY {
            r = out.flush();
            *flushed = Instant::now();
        }
        if let Err(e) = r {
            self.spill = Spill::Failed {
                error: format!("{}: {e}", path.display()),
            };
        }
    }

    /// The lines kept, latest last: the `n` most recent.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &TranscriptLine> {
        let from_tail = n.min(self.tail.len());
        let from_head = (n - from_tail).min(self.head.len());
        (self.head[self.head.len() - from_head..].iter())
            .chain(self.tail.iter().skip(self.tail.len() - from_tail))
    }

    /// The finished transcript: the file completed (and scrubbed of codes
    /// bound after it began), the lines kept for the report.
    pub fn finish(mut self) -> Transcript {
        let (file, file_error) = match std::mem::replace(&mut self.spill, Spill::Nowhere) {
            Spill::Open {
                path,
                mut out,
                codes_then,
                ..
            } => match out.flush() {
                Err(e) => (None, Some(format!("{}: {e}", path.display()))),
                Ok(()) if codes_then < self.codes.len() => {
                    drop(out);
                    match rescrub(&path, &self.codes, &mut self.leaked) {
                        Ok(()) => (Some(path), None),
                        Err(e) => (None, Some(format!("{}: {e}", path.display()))),
                    }
                }
                Ok(()) => (Some(path), None),
            },
            Spill::Failed { error } => (None, Some(error)),
            Spill::Nowhere | Spill::Waiting(_) => (None, None),
        };
        let mut lines = self.head;
        lines.extend(self.tail);
        Transcript {
            lines,
            omitted: self.omitted,
            file,
            file_error,
            leaked: self.leaked,
        }
    }
}

/// The case's file, new: `<stem>.log`, or `<stem>-2.log` and so on when a
/// retry of the case wrote one already.
fn create(to: &SpillTo) -> Result<(PathBuf, File), String> {
    std::fs::create_dir_all(&to.dir).map_err(|e| format!("{}: {e}", to.dir.display()))?;
    for n in 1..1000 {
        let name = match n {
            1 => format!("{}.log", to.stem),
            n => format!("{}-{n}.log", to.stem),
        };
        let path = to.dir.join(name);
        match File::options().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{}: a thousand transcripts of this case already",
        to.dir.display()
    ))
}

/// Scrub the file at `path` of `codes`, line by line, through a temporary
/// file beside it; codes found in console lines (`<`) are leaks.
/// Whether the code named `name` leaks when a console line shows it: a
/// short code in a line may be a timestamp (see `LEAK_DIGITS`).
fn loud(codes: &[(&str, &str)], name: &str) -> bool {
    codes.iter().any(|(d, n)| *n == name && leaks_in_lines(d))
}

fn rescrub(
    path: &Path,
    codes: &[(String, String)],
    leaked: &mut BTreeSet<String>,
) -> std::io::Result<()> {
    let codes: Vec<(&str, &str)> = codes
        .iter()
        .map(|(d, n)| (d.as_str(), n.as_str()))
        .collect();
    let tmp = path.with_extension("log.tmp");
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        for line in BufReader::new(File::open(path)?).lines() {
            let line = line?;
            let mut found = BTreeSet::new();
            let clean = redact_line(&line, &codes, &mut found);
            // `[    +1.000s] < ...`: the mark after the time says who wrote it.
            if line
                .split_once("] ")
                .is_some_and(|(_, rest)| rest.starts_with('<'))
            {
                leaked.extend(
                    found
                        .into_iter()
                        .filter(|n| loud(&codes, n))
                        .map(str::to_owned),
                );
            }
            writeln!(out, "{}", clean.as_deref().unwrap_or(&line))?;
        }
        out.flush()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A case's file name: its place in the plan and its name, in characters
/// every file system takes.
pub fn stem(order: usize, suite: &str, case: &str) -> String {
    let slug = |s: &str| -> String {
        let mut out = String::new();
        for c in s.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_matches('-').chars().take(60).collect()
    };
    format!("{order:04}-{}-{}", slug(suite), slug(case))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, dir: Dir, text: &str) -> TranscriptLine {
        TranscriptLine {
            at: Duration::from_millis(n),
            dir,
            text: text.into(),
        }
    }

    fn fill(live: &mut Live, n: u64) {
        for i in 0..n {
            live.push(line(i, Dir::Rx, &format!("line {i}")));
        }
    }

    #[test]
    fn a_short_transcript_is_kept_whole_and_written_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::new(Some(SpillTo {
            dir: dir.path().join("t"),
            stem: "case".into(),
        }));
        fill(&mut live, 10);
        let t = live.finish();
        assert_eq!((t.lines.len(), t.omitted, &t.file), (10, 0, &None));
        assert!(!dir.path().join("t").exists());
        assert_eq!(t.rendered().count(), 10);
    }

    #[test]
    fn a_long_transcript_keeps_its_ends_and_the_file_has_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::new(Some(SpillTo {
            dir: dir.path().to_owned(),
            stem: "case".into(),
        }));
        let n = 20_000;
        fill(&mut live, n);
        let t = live.finish();
        assert_eq!(t.lines.len(), 5_000, "1,000 first and 4,000 last lines");
        assert_eq!(t.omitted, n - 5_000);
        assert_eq!(t.lines[999].text, "line 999");
        assert_eq!(t.lines[1000].text, format!("line {}", n - 4_000));
        let file = t.file.clone().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count() as u64, n);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .ends_with(&format!("line {}", n - 1))
        );
        let shown: Vec<String> = t.rendered().collect();
        assert_eq!(shown.len(), 5_001);
        assert!(shown[1000].contains(&format!("{} lines not kept", n - 5_000)));
        assert!(shown[1000].contains(&file.display().to_string()));
    }

    #[test]
    fn a_case_that_runs_long_streams_to_disk_however_few_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::new(Some(SpillTo {
            dir: dir.path().to_owned(),
            stem: "soak".into(),
        }));
        fill(&mut live, 3);
        live.started -= STREAM_AFTER;
        live.push(line(3, Dir::Rx, "line 3"));
        let file = dir.path().join("soak.log");
        // Four lines are in the file's buffer: the next flush is due within
        // FLUSH_EVERY, and a line pushed after that finds them on disk.
        if let Spill::Open { flushed, .. } = &mut live.spill {
            *flushed -= FLUSH_EVERY;
        }
        live.push(line(4, Dir::Rx, "line 4"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        let t = live.finish();
        assert_eq!((t.lines.len(), t.omitted), (5, 0), "all still in memory");
        assert_eq!(t.file.as_deref(), Some(file.as_path()));
    }

    #[test]
    fn without_a_folder_the_middle_is_counted_and_said() {
        let mut live = Live::new(None);
        fill(&mut live, 6_000);
        let t = live.finish();
        assert_eq!((t.lines.len(), t.omitted), (5_000, 1_000));
        assert!(t.gap().contains("no report folder"), "{}", t.gap());
    }

    #[test]
    fn a_code_bound_after_the_file_began_is_scrubbed_from_it_and_its_echo_is_a_leak() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::new(Some(SpillTo {
            dir: dir.path().to_owned(),
            stem: "case".into(),
        }));
        live.push(line(0, Dir::Rx, "EV 1 display \"CODE 12345678\""));
        fill(&mut live, 6_000);
        live.bind("12345678", "pickup");
        live.push(line(7, Dir::Tx, "KEY 12345678#"));
        let t = live.finish();
        let text = std::fs::read_to_string(t.file.as_ref().unwrap()).unwrap();
        assert!(!text.contains("12345678"), "{text}");
        assert!(text.contains("CODE $pickup") && text.contains("KEY $pickup#"));
        assert_eq!(t.leaked.iter().collect::<Vec<_>>(), ["pickup"]);
        assert!(!dir.path().join("case.log.tmp").exists());
    }

    /// A short code (a team's issuer's) bound after the file began: the
    /// pass over the file scrubbed it and called its digits in a console
    /// line (here an uptime) a leak, which only the display showing it is.
    #[test]
    fn a_short_code_in_a_console_line_of_the_file_is_scrubbed_but_no_leak() {
        let dir = tempfile::tempdir().unwrap();
        let mut live = Live::new(Some(SpillTo {
            dir: dir.path().to_owned(),
            stem: "case".into(),
        }));
        live.push(line(0, Dir::Rx, "I (4821) door: S1 is OPEN"));
        fill(&mut live, 6_000);
        live.bind("4821", "pickup");
        live.push(line(7, Dir::Rx, "I (4821) door: S1 is CLOSED"));
        let t = live.finish();
        let text = std::fs::read_to_string(t.file.as_ref().unwrap()).unwrap();
        assert!(!text.contains("4821"), "{text}");
        assert!(t.leaked.is_empty(), "{:?}", t.leaked);
    }

    #[test]
    fn a_code_shown_in_a_dropped_line_is_a_leak() {
        let mut live = Live::new(None);
        live.bind("12345678", "pickup");
        for _ in 0..HEAD_LINES {
            live.push(line(0, Dir::Rx, "idle"));
        }
        live.push(line(1, Dir::Rx, "EV 1 display \"CODE 12345678\""));
        fill(&mut live, TAIL_LINES as u64);
        let t = live.finish();
        assert_eq!(t.omitted, 1);
        assert_eq!(t.leaked.iter().collect::<Vec<_>>(), ["pickup"]);
    }

    #[test]
    fn retries_get_files_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let to = SpillTo {
            dir: dir.path().to_owned(),
            stem: "case".into(),
        };
        let files: Vec<PathBuf> = (0..2)
            .map(|_| {
                let mut live = Live::new(Some(to.clone()));
                fill(&mut live, 6_000);
                live.finish().file.unwrap()
            })
            .collect();
        assert_eq!(files[0].file_name().unwrap(), "case.log");
        assert_eq!(files[1].file_name().unwrap(), "case-2.log");
    }

    #[test]
    fn recent_lines_span_head_and_tail() {
        let mut live = Live::new(None);
        fill(&mut live, (HEAD_LINES + 3) as u64);
        let texts: Vec<&str> = live.recent(5).map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "line 998",
                "line 999",
                "line 1000",
                "line 1001",
                "line 1002"
            ]
        );
    }

    #[test]
    fn stems_are_safe_file_names() {
        assert_eq!(
            stem(7, "power", "A year/idle: \"quiet\""),
            "0007-power-a-year-idle-quiet"
        );
    }
}
