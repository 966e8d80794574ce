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

mod fields;
mod frame;
mod message;
pub mod plant;

pub use fields::{FieldType, FieldValue};
pub use frame::{FrameError, LineDecoder, LineError, MAX_LINE, crc16, encode_frame, parse_frame};
pub use message::{
    BoltState, CodeResult, Command, DecodeError, DiagItem, DiagResult, DoorState, ErrorCode, Event,
    Ident, Key, LedColour, LedPattern, Link, LockState, Name, ResetCause, Response, Status, Text,
    ToHarness, UplinkKind,
};

/// The answer in `line` (without its newline) and the sequence number of
/// the command it answers, if the line is a sound answer: for a tool that
/// sent a command and skips whatever else the controller prints meanwhile.
pub fn response(line: &str) -> Option<(u16, Response)> {
    let (_, body) = parse_frame(line).ok()?;
    match ToHarness::parse(body).ok()? {
        ToHarness::Response { to, response } => Some((to, response)),
        _ => None,
    }
}

/// The answer to the command sent with sequence number `seq`, if `line` is it.
pub fn response_to(line: &str, seq: u16) -> Option<Response> {
    response(line).filter(|(to, _)| *to == seq).map(|(_, r)| r)
}

/// Version announced in the boot banner; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    use std::string::{String, ToString};

    fn line(seq: u16, msg: &ToHarness) -> String {
        let mut out = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(seq, msg, &mut out).unwrap_or_else(|_| panic!("encodes"));
        out.trim_end().to_string()
    }

    #[test]
    fn a_response_is_found_by_the_command_it_answers() {
        let ok = line(
            7,
            &ToHarness::Response {
                to: 3,
                response: Response::Ok,
            },
        );
        assert_eq!(response(&ok), Some((3, Response::Ok)));
        assert_eq!(response_to(&ok, 3), Some(Response::Ok));
        assert_eq!(response_to(&ok, 4), None);
        // Events, damaged lines and noise are not answers.
        let ev = line(
            8,
            &ToHarness::Event {
                t_ms: 5,
                event: Event::LockoutEnd,
            },
        );
        assert_eq!(response(&ev), None);
        let damaged = ok.replace('3', "4");
        assert_eq!(response(&damaged), None);
        assert_eq!(response("garbage"), None);
    }
}
