//! One case's conversation with a rig: decoding console frames into
//! observations, the transcript, and the commands the harness sends.

use crate::model::dialect::{Dialect, Heard};
use crate::rigs::{Measurement, Rig, RigError, RigOutput};
use crate::run::invariants::Invariants;
use crate::run::obs::{Dir, Obs, ObsKind, TranscriptLine, fmt_at};
use crate::run::state::{Records, States};
use crate::run::trace::ObsLog;
use crate::run::transcript::{Live, SpillTo};
use locker_proto::{Command, LineDecoder, Response, ToHarness};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Idle answers in a row, with the rig clock standing still, that mean the
/// controller is stuck rather than busy.
const MAX_STALLS: u32 = 3;
/// Unreadable or corrupt lines in a row after which the console is broken.
const MAX_BAD_IN_ROW: u32 = 5;

/// How long a command may go unanswered before the console counts as broken.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A decoded frame, owned: what the session keeps of it.
enum Received {
    Obs(ObsKind),
    Response(u16, Response),
}

impl From<ToHarness> for Received {
    fn from(msg: ToHarness) -> Self {
        match msg {
            ToHarness::Hello {
                proto,
                build,
                board,
                ..
            } => Self::Obs(ObsKind::Hello {
                build: build.to_string(),
                board: board.to_string(),
                proto,
            }),
            ToHarness::Event { t_ms, event } => Self::Obs(ObsKind::Event { t_ms, event }),
            ToHarness::Response { to, response } => Self::Response(to, response),
        }
    }
}

pub struct Session<'r, R: Rig> {
    pub rig: &'r mut R,
    decoder: LineDecoder,
    /// The rules a plain-text console is read by; `None`: the framed protocol.
    dialect: Option<Arc<Dialect>>,
    /// A plain-text line being received.
    plain: Vec<u8>,
    /// What the command sent through the dialect waits for, and its answer.
    awaiting: Option<(Command, Option<Response>)>,
    /// A line the dialect matched but could not read: the dialect does not
    /// fit the firmware, which is the rig's problem.
    misread: Option<String>,
    rx_seq: Option<u16>,
    tx_seq: u16,
    /// What was said and done, in bounded memory (and on disk when long).
    pub transcript: Live,
    /// What was seen, numbered, in bounded memory.
    pub obs: ObsLog,
    /// The protocol version the controller announced first.
    pub proto: Option<u16>,
    /// What the back office received.
    pub records: Records,
    /// The last report of each state the controller reports.
    pub states: States,
    /// The promises checked whatever the case says.
    pub invariants: Invariants,
    responses: VecDeque<(u16, Response)>,
    pub compartments: Vec<String>,
    /// Consecutive idle answers without the rig clock moving.
    stalls: u32,
    /// Bad lines in a row; many means the console is broken, not the controller.
    bad_in_row: u32,
    /// Sound frames in a row whose sequence number jumped: many means the
    /// console is not the stream it should be (lines lost on every line).
    gaps_in_row: u32,
    /// Bad lines and lost lines in this case: a failure seen through a
    /// damaged console cannot be trusted.
    pub damaged: u32,
    /// The case's wall-time limit and the instant it runs out. Checked at
    /// every pump, and no rig is asked to wait past it, so it holds on a
    /// bench whose reads block as well as on a rig in the runtime.
    pub limit: Option<(Duration, std::time::Instant)>,
    /// How far the case has moved the calendar instead of waiting (a
    /// bench's long waits, see [`crate::model::cost::moves_clocks`]): true
    /// time for the case is the rig's plus this.
    pub moved: Duration,
    /// How far the case set the controller's clock from true time
    /// (`clock:`), in ms: kept when the clocks move.
    pub drift_ms: i64,
}

impl<R: Rig> std::fmt::Debug for Session<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("obs", &self.obs.len())
            .finish_non_exhaustive()
    }
}

impl<'r, R: Rig> Session<'r, R> {
    pub fn new(rig: &'r mut R, compartments: Vec<String>, spill: Option<SpillTo>) -> Self {
        Self {
            rig,
            decoder: LineDecoder::new(),
            dialect: None,
            plain: Vec::new(),
            awaiting: None,
            misread: None,
            rx_seq: None,
            tx_seq: 0,
            transcript: Live::new(spill),
            obs: ObsLog::default(),
            proto: None,
            records: Records::default(),
            invariants: Invariants::new(compartments.clone()),
            states: States::default(),
            responses: VecDeque::new(),
            compartments,
            stalls: 0,
            bad_in_row: 0,
            gaps_in_row: 0,
            damaged: 0,
            limit: None,
            moved: Duration::ZERO,
            drift_ms: 0,
        }
    }

    /// Read the console through `dialect` (a plain-text firmware) instead
    /// of as the framed protocol.
    pub fn read_through(mut self, dialect: Option<Arc<Dialect>>) -> Self {
        if let Some(d) = &dialect {
            self.note(
                Dir::Note,
                format!(
                    "console read through dialect `{}` ({}): plain text has no sequence numbers, so lost lines cannot be detected",
                    d.name,
                    d.file.display()
                ),
            );
        }
        self.dialect = dialect;
        self
    }

    /// The dialect the console is read through, if it is not the framed protocol.
    pub fn dialect(&self) -> Option<&Dialect> {
        self.dialect.as_deref()
    }

    pub fn now(&self) -> Duration {
        self.rig.now()
    }

    pub fn note(&mut self, dir: Dir, text: impl Into<String>) {
        let at = self.now();
        self.transcript.push(TranscriptLine {
            at,
            dir,
            text: text.into(),
        });
    }

    /// Wait for output until `until`; returns false when the time came with nothing.
    pub async fn pump(&mut self, until: Duration) -> Result<bool, RigError> {
        let before = self.now();
        let until = match self.limit {
            None => until,
            Some((limit, by)) => {
                let left = by.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(RigError::WallLimit(limit));
                }
                // On a bench rig time is wall time and a read may block
                // until `until`: never past the limit. A model rig answers
                // in bounded wall time whatever `until` is.
                if self.rig.wall_clock() {
                    until.min(before + left)
                } else {
                    until
                }
            }
        };
        match self.rig.recv(until).await? {
            RigOutput::Idle => {
                // Idle short of the deadline with the clock standing still,
                // again and again: the controller never lets time pass.
                if self.now() == before && before < until {
                    self.stalls += 1;
                    if self.stalls >= MAX_STALLS {
                        return Err(RigError::Console(format!(
                            "rig time stands still at {}: the controller never goes idle (a busy loop?)",
                            fmt_at(before)
                        )));
                    }
                } else {
                    self.stalls = 0;
                }
                Ok(false)
            }
            RigOutput::Console(bytes) if self.dialect.is_some() => {
                for b in bytes {
                    if b != b'\n' {
                        if self.plain.len() < MAX_PLAIN_LINE {
                            self.plain.push(b);
                        }
                        continue;
                    }
                    let raw = std::mem::take(&mut self.plain);
                    self.plain_line(&raw);
                }
                match self.broken() {
                    Some(e) => Err(e),
                    None => Ok(true),
                }
            }
            RigOutput::Console(bytes) => {
                for b in bytes {
                    if let Some(line) = self.decoder.push(b) {
                        // A copy on the stack: the line borrows the decoder.
                        let line = line.map(|l| {
                            let mut copy = heapless::String::<{ locker_proto::MAX_LINE }>::new();
                            let _ = copy.push_str(l);
                            copy
                        });
                        self.decoder.clear_line();
                        self.line(line.as_deref().map_err(|e| *e));
                    }
                }
                match self.broken() {
                    Some(e) => Err(e),
                    None => Ok(true),
                }
            }
            RigOutput::Measurement(m) => {
                let text = match &m {
                    // For the invariants alone: the plant's truth is not what
                    // any instrument of a bench would show, so it stays out of
                    // the transcript and the trace.
                    Measurement::Truth(t) => {
                        let at = self.now();
                        self.invariants.truth(*t, at);
                        return Ok(true);
                    }
                    Measurement::Pulse { compartment, on } => {
                        format!(
                            "solenoid {} on for {}ms",
                            self.compartment_name(*compartment),
                            on.as_millis()
                        )
                    }
                    Measurement::Backoffice {
                        seq,
                        kind,
                        duplicate,
                        ..
                    } => {
                        format!(
                            "back office received record {seq} ({kind}){}",
                            if *duplicate {
                                " again: duplicate dropped"
                            } else {
                                ""
                            }
                        )
                    }
                };
                self.note(Dir::Measure, text);
                if let Measurement::Backoffice {
                    seq,
                    kind,
                    compartment,
                    value,
                    duplicate,
                } = m
                {
                    (self.records).arrived(seq, kind, usize::from(compartment), duplicate);
                    (self.invariants).delivered(kind, compartment, value, duplicate);
                }
                let at = self.now();
                self.obs.push(Obs {
                    at,
                    kind: ObsKind::Measured(m),
                });
                Ok(true)
            }
        }
    }

    /// True time as the case sees it (unix ms): the back office's clock,
    /// moved forward by the waits the case took by moving the clocks.
    pub fn true_unix_ms(&self) -> u64 {
        self.rig.true_unix_ms() + self.moved.as_millis() as u64
    }

    /// Let rig time pass until `until`, taking in everything that happens.
    pub async fn wait_until(&mut self, until: Duration) -> Result<(), RigError> {
        while self.now() < until {
            let before = self.now();
            if !self.pump(until).await? && self.now() == before {
                // A rig whose clock stands still would spin us forever.
                return Err(RigError::Console(format!(
                    "rig clock stopped at {} (waiting for {})",
                    fmt_at(before),
                    fmt_at(until)
                )));
            }
        }
        Ok(())
    }

    /// Take in something seen: the log keeps it, and a state's report
    /// becomes what the case knows of that state.
    fn observe(&mut self, o: Obs) {
        match &o.kind {
            ObsKind::Event { event, .. } => {
                self.states.see(event, o.at);
                self.invariants.event(event, o.at);
            }
            ObsKind::Hello { .. } => self.states.forget(),
            ObsKind::Measured(_) => {}
        }
        self.obs.push(o);
    }

    pub fn compartment_name(&self, i: usize) -> String {
        self.compartments
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"))
    }

    /// A line that could not be read: noted, counted, and the console
    /// declared broken when they keep coming.
    fn bad(&mut self, what: String) {
        self.note(Dir::Note, what);
        self.bad_in_row += 1;
        self.damaged += 1;
    }

    /// One plain-text line, read through the dialect: what a rule makes of
    /// it is observed, the rest is only transcript.
    fn plain_line(&mut self, raw: &[u8]) {
        let Some(dialect) = self.dialect.clone() else {
            return;
        };
        let at = self.now();
        let text = printable(raw);
        self.transcript.push(TranscriptLine {
            at,
            dir: Dir::Rx,
            text: text.clone(),
        });
        if let Some((cmd, None)) = &self.awaiting
            && let Some(answer) = dialect.answer(cmd, &text)
        {
            self.awaiting = Some((*cmd, Some(answer)));
            return;
        }
        match dialect.read(&text) {
            Ok(Heard::Other) => {}
            Ok(Heard::Banner { build, board }) => self.observe(Obs {
                at,
                kind: ObsKind::Hello {
                    build,
                    board,
                    proto: 0,
                },
            }),
            Ok(Heard::Event { t_ms, event }) => self.observe(Obs {
                at,
                kind: ObsKind::Event {
                    t_ms: t_ms.unwrap_or(at.as_millis() as u64),
                    event,
                },
            }),
            Err(e) => {
                self.misread.get_or_insert(e);
            }
        }
    }

    /// The console is corrupting lines one after another.
    pub fn broken(&self) -> Option<RigError> {
        if let Some(e) = &self.misread {
            return Some(RigError::Console(e.clone()));
        }
        if self.gaps_in_row >= MAX_BAD_IN_ROW {
            return Some(RigError::Console(format!(
                "the console's sequence numbers jump on every line ({} in a row): lines are lost as fast as they come, or this is not the console protocol's stream",
                self.gaps_in_row
            )));
        }
        (self.bad_in_row >= MAX_BAD_IN_ROW).then(|| {
            RigError::Console(format!(
                "the console corrupts every line ({} bad in a row): line noise, a wrong baud rate or a failing cable",
                self.bad_in_row
            ))
        })
    }

    fn line(&mut self, line: Result<&str, locker_proto::LineError>) {
        let at = self.now();
        let line = match line {
            Ok(l) => l,
            Err(e) => return self.bad(format!("unreadable console line: {e}")),
        };
        // Decode from the borrowed line; the one copy is the transcript's.
        let decoded = locker_proto::parse_frame(line)
            .map_err(|e| format!("bad frame ignored: {e}"))
            .and_then(|(seq, body)| {
                let msg = ToHarness::parse(body)
                    .map_err(|e| format!("undecodable frame ignored: {e}"))?;
                Ok((seq, Received::from(msg)))
            });
        self.transcript.push(TranscriptLine {
            at,
            dir: Dir::Rx,
            text: line.to_owned(),
        });
        let (seq, msg) = match decoded {
            Ok(d) => d,
            Err(what) => return self.bad(what),
        };
        self.bad_in_row = 0;
        let expected = self.rx_seq.map(|s| s.wrapping_add(1));
        if let (Some(exp), false) = (
            expected,
            matches!(msg, Received::Obs(ObsKind::Hello { .. })),
        ) && seq != exp
        {
            self.damaged += 1;
            self.gaps_in_row += 1;
            self.transcript.push(TranscriptLine {
                at,
                dir: Dir::Note,
                text: format!(
                    "sequence gap: expected {exp}, got {seq}: {} line(s) lost",
                    seq.wrapping_sub(exp)
                ),
            });
        }
        if expected == Some(seq) {
            self.gaps_in_row = 0;
        }
        self.rx_seq = Some(seq);
        match msg {
            Received::Obs(kind) => {
                if let (None, ObsKind::Hello { proto, .. }) = (self.proto, &kind) {
                    self.proto = Some(*proto);
                }
                self.observe(Obs { at, kind });
            }
            Received::Response(to, response) => self.responses.push_back((to, response)),
        }
    }

    /// Send a command and wait for its answer.
    pub async fn command(&mut self, cmd: Command) -> Result<Response, RigError> {
        if let Some(d) = self.dialect.clone() {
            return self.plain_command(&d, cmd).await;
        }
        let seq = self.tx_seq;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        let mut line = heapless::String::<{ locker_proto::MAX_LINE + 2 }>::new();
        locker_proto::encode_frame(seq, &cmd, &mut line)
            .map_err(|_| RigError::Console("command too long".into()))?;
        self.note(Dir::Tx, line.trim_end());
        self.rig.send(line.as_bytes()).await?;
        let deadline = self.now() + COMMAND_TIMEOUT;
        loop {
            if let Some(pos) = self.responses.iter().position(|(to, _)| *to == seq) {
                let (_, r) = self.responses.remove(pos).unwrap_or((seq, Response::Ok));
                return Ok(r);
            }
            if self.now() >= deadline {
                return Err(RigError::Console(format!(
                    "no answer to `{cmd}` within {}s",
                    COMMAND_TIMEOUT.as_secs()
                )));
            }
            self.pump(deadline).await?;
        }
    }

    /// A command as the dialect has the firmware take it: its line sent,
    /// and the line its answer is read from awaited.
    async fn plain_command(&mut self, d: &Dialect, cmd: Command) -> Result<Response, RigError> {
        let line = d.command_line(&cmd).map_err(RigError::Unsupported)?;
        self.note(Dir::Tx, line.clone());
        self.awaiting = Some((cmd, None));
        self.rig.send(format!("{line}\r\n").as_bytes()).await?;
        let deadline = self.now() + COMMAND_TIMEOUT;
        loop {
            if let Some((_, Some(answer))) = &self.awaiting {
                let answer = answer.clone();
                self.awaiting = None;
                return Ok(answer);
            }
            if self.now() >= deadline {
                self.awaiting = None;
                return Err(RigError::Console(format!(
                    "no answer to `{line}` within {}s (dialect `{}`)",
                    COMMAND_TIMEOUT.as_secs(),
                    d.name
                )));
            }
            self.pump(deadline).await?;
        }
    }
}

/// The longest plain-text line kept whole; the rest of a longer one is cut.
const MAX_PLAIN_LINE: usize = 4096;

/// A plain-text console line as text: its `\r` and terminal colour codes
/// dropped, bytes that are not UTF-8 replaced.
fn printable(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // ESC [ ... final byte: a colour or cursor code.
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            '\r' => {}
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
