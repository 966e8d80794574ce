//! What a case sees of its rig, as everything after the console decoder
//! speaks of it: observations at rig times, transcript lines and who wrote
//! them, and the one format for a rig time. A leaf: it uses nothing else of
//! the run.

use crate::rigs::Measurement;
use locker_proto::Event;
use std::fmt::Write;
use std::time::Duration;

/// Something seen on the rig, at rig time `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Obs {
    pub at: Duration,
    pub kind: ObsKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObsKind {
    Hello {
        build: String,
        board: String,
        proto: u16,
    },
    Event {
        t_ms: u64,
        event: Event,
    },
    Measured(Measurement),
}

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// A line from the controller console.
    Rx,
    /// A line the harness sent to the console.
    Tx,
    /// An action on a fixture.
    Act,
    /// A measurement by an instrument.
    Measure,
    /// The harness's own remark (bad frames, step outcomes).
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub at: Duration,
    pub dir: Dir,
    pub text: String,
}

impl TranscriptLine {
    pub fn render(&self) -> String {
        let mark = match self.dir {
            Dir::Rx => "<",
            Dir::Tx => ">",
            Dir::Act => "!",
            Dir::Measure => "~",
            Dir::Note => "#",
        };
        format!("[{:>10}] {mark} {}", fmt_at(self.at), self.text)
    }
}

/// `+12.345s`, the one format for rig times in transcripts and messages.
/// Written straight into the message it is part of (no `String` of its own:
/// the harness writes one for every line it sees); padding such as `{:>10}`
/// applies to the whole.
pub fn fmt_at(at: Duration) -> At {
    At(at)
}

/// A rig time as `fmt_at` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At(pub Duration);

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Longest: "+18446744073709551615.999s", 27 bytes.
        let mut buf = heapless::String::<32>::new();
        let _ = write!(buf, "+{}.{:03}s", self.0.as_secs(), self.0.subsec_millis());
        f.pad(&buf)
    }
}
