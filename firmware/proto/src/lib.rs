//! The console protocol between a parcel-locker controller and the harness.
//!
//! Every line on the console is one frame:
//!
//! ```text
//! <seq> <body>*<crc>\n
//! 17 EV 120450 lock M1 released*945E
//! ```
//!
//! `seq` is a decimal counter per direction (wrapping at 65535 to 0), so the
//! reader notices lost lines; `crc` is CRC-16/CCITT-FALSE (IBM-3740) of the
//! bytes before `*`, as four upper-case hex digits, so noise is detected and
//! never misread. The body is readable ASCII so a transcript needs no decoder.
//! `PROTOCOL.md` beside this crate is the specification a firmware team
//! implements from; this crate is the reference implementation of both ends.
//!
//! The crate is `no_std` and allocation-free: the firmware encodes into a
//! fixed buffer and the harness decodes with the same code.
#![no_std]

#[cfg(test)]
#[macro_use]
extern crate std;

mod frame;
mod message;
pub mod plant;

pub use frame::{FrameError, LineDecoder, LineError, MAX_LINE, crc16, encode_frame, parse_frame};
pub use message::{
    BoltState, CodeResult, Command, DecodeError, DiagItem, DiagResult, DoorState, ErrorCode, Event,
    Ident, Key, LedColour, LedPattern, Link, LockState, Name, ResetCause, Response, Status, Text,
    ToHarness, UplinkKind,
};

/// Version announced in the boot banner; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;
