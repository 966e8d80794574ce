//! Rig faults on demand: a [`Rig`] wrapper that breaks the transport the
//! ways real benches break (console cut, garbage, bad checksums, silence,
//! slow answers, a fixture that stops answering), so tests can show that
//! each becomes a JUnit error for its case, that the run goes on, and that
//! nothing waits without a bound.

use crate::rigs::{FixtureAction, FlashReport, Rig, RigError, RigOutput};
use std::time::Duration;

/// One way to break a rig, from the `after`-th console read of a case on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The console vanishes; `recovers`: a reset (the next prepare) brings it back.
    Cut { recovers: bool },
    /// Line noise between the controller's lines.
    Garbage,
    /// Every line arrives with one byte flipped (its checksum no longer matches).
    BadChecksums,
    /// The controller says nothing more (time still passes).
    Silent,
    /// Every read takes this long in wall time.
    Slow(Duration),
    /// Fixture actions fail as if the instrument stopped answering.
    FixtureGone,
    /// Every line is a sound frame, but its sequence number jumps (a
    /// console that is not the protocol's stream, or resets without saying).
    JumpingSequence,
    /// The controller talks as fast as its line allows (about 115200 baud):
    /// a sound temperature report every few milliseconds of rig time, in
    /// sequence, between its own lines.
    Chatter,
}

/// Rig time between two bursts of chatter, and the lines in each burst:
/// 300 lines of about 36 bytes a second is 10.8 kB/s, a saturated 115200
/// baud line.
const CHATTER_SLICE: Duration = Duration::from_millis(100);
const CHATTER_LINES: u16 = 30;

/// A rig with a fault injected.
#[derive(Debug)]
pub struct Faulty<R> {
    inner: R,
    fault: Fault,
    after: u32,
    reads: u32,
    /// Cases prepared so far; the fault hits the first case only unless it
    /// is a cut that does not recover, or chatter (every case).
    cases: u32,
    dead: bool,
    /// The sequence number of the next frame, for faults that add frames.
    seq: Option<u16>,
}

impl<R: Rig> Faulty<R> {
    pub fn new(inner: R, fault: Fault, after: u32) -> Self {
        Self {
            inner,
            fault,
            after,
            reads: 0,
            cases: 0,
            dead: false,
            seq: None,
        }
    }

    fn active(&self) -> bool {
        // A chattering controller is its nature, not an accident: every case.
        (self.cases == 1 || self.fault == Fault::Chatter) && self.reads >= self.after
    }
}

impl<R: Rig> Rig for Faulty<R> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn now(&self) -> Duration {
        self.inner.now()
    }
    fn wall_clock(&self) -> bool {
        self.inner.wall_clock()
    }
    fn true_unix_ms(&self) -> u64 {
        self.inner.true_unix_ms()
    }
    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        self.inner.flash().await
    }
    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        if self.dead {
            return Err(RigError::Console(
                "console port gone: the device did not come back".into(),
            ));
        }
        self.cases += 1;
        self.reads = 0;
        self.seq = None;
        self.inner.prepare(seed).await
    }
    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        if self.active() && matches!(self.fault, Fault::Cut { .. }) {
            return Err(RigError::Console("console port vanished (write)".into()));
        }
        self.inner.send(bytes).await
    }
    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        self.reads += 1;
        if !self.active() {
            return self.inner.recv(until).await;
        }
        match self.fault {
            Fault::Cut { recovers } => {
                self.dead = !recovers;
                Err(RigError::Console("console port vanished (read)".into()))
            }
            Fault::Garbage => match self.inner.recv(until).await? {
                RigOutput::Console(mut b) => {
                    let mut noisy = b"\x00\xff~#*\x1b[2J garbage 9 EV 1 nonsense*ZZZZ\n".to_vec();
                    noisy.append(&mut b);
                    Ok(RigOutput::Console(noisy))
                }
                other => Ok(other),
            },
            Fault::BadChecksums => match self.inner.recv(until).await? {
                RigOutput::Console(mut b) => {
                    for (i, byte) in b.iter_mut().enumerate() {
                        if i % 7 == 3 && byte.is_ascii_alphanumeric() {
                            *byte ^= 0x01;
                        }
                    }
                    Ok(RigOutput::Console(b))
                }
                other => Ok(other),
            },
            // Whatever the controller says is lost; time goes on.
            Fault::Silent => loop {
                match self.inner.recv(until).await? {
                    RigOutput::Console(_) => {}
                    other => break Ok(other),
                }
            },
            Fault::Slow(d) => {
                tokio::time::sleep(d).await;
                self.inner.recv(until).await
            }
            Fault::FixtureGone => self.inner.recv(until).await,
            Fault::Chatter => {
                let slice = (self.inner.now() + CHATTER_SLICE).min(until);
                let said = match self.inner.recv(slice).await? {
                    RigOutput::Console(b) => String::from_utf8_lossy(&b).into_owned(),
                    RigOutput::Idle => String::new(),
                    other => return Ok(other),
                };
                let mut out = String::new();
                let frame =
                    |out: &mut String, seq: &mut Option<u16>, body: &dyn std::fmt::Display| {
                        let n = seq.unwrap_or(0);
                        *seq = Some(n.wrapping_add(1));
                        let mut framed = heapless::String::<{ locker_proto::MAX_LINE + 2 }>::new();
                        if locker_proto::encode_frame(n, body, &mut framed).is_ok() {
                            out.push_str(&framed);
                        }
                    };
                // The controller's own lines, renumbered into the stream.
                for line in said.split_inclusive('\n') {
                    match locker_proto::parse_frame(line.trim_end()) {
                        Ok((seq, body)) => {
                            self.seq.get_or_insert(seq);
                            frame(&mut out, &mut self.seq, &body);
                        }
                        Err(_) => out.push_str(line),
                    }
                }
                let t_ms = self.inner.now().as_millis() as u64;
                for i in 0..CHATTER_LINES {
                    let chat = locker_proto::ToHarness::Event {
                        t_ms,
                        event: locker_proto::Event::Temp {
                            centi: 2150 + i32::from(i),
                        },
                    };
                    frame(&mut out, &mut self.seq, &chat);
                }
                Ok(RigOutput::Console(out.into_bytes()))
            }
            Fault::JumpingSequence => match self.inner.recv(until).await? {
                RigOutput::Console(b) => {
                    let text = String::from_utf8_lossy(&b).into_owned();
                    let mut out = String::new();
                    for line in text.split_inclusive('\n') {
                        match locker_proto::parse_frame(line.trim_end()) {
                            Ok((seq, body)) => {
                                let mut framed =
                                    heapless::String::<{ locker_proto::MAX_LINE + 2 }>::new();
                                let jumped = seq.wrapping_add(1000).wrapping_mul(7);
                                if locker_proto::encode_frame(jumped, &body, &mut framed).is_ok() {
                                    out.push_str(&framed);
                                } else {
                                    out.push_str(line);
                                }
                            }
                            Err(_) => out.push_str(line),
                        }
                    }
                    Ok(RigOutput::Console(out.into_bytes()))
                }
                other => Ok(other),
            },
        }
    }
    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        if self.active() && self.fault == Fault::FixtureGone {
            return Err(RigError::Fixture {
                fixture: "board",
                message: "no answer within 2000 ms".into(),
            });
        }
        self.inner.act(action).await
    }
    fn release(&mut self) {
        self.inner.release();
    }
}
