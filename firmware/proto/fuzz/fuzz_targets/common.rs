//! Shared by the targets: feed bytes through the line decoder and frame
//! check, and hold every message that parses to a round trip.
//!
//! A mutated line almost never keeps a valid checksum, so on its own the
//! fuzzer would stop at the frame check and never reach the message
//! parsers. Each line is therefore tried twice: as it came (the frame check
//! itself is fuzzed), and with its checksum fixed up (everything before the
//! last `*`, or the whole line, framed with the CRC it should have).

use locker_proto::{LineDecoder, MAX_LINE, crc16, encode_frame, parse_frame};
use std::fmt::{Debug, Display};

/// For every complete line of `data` whose frame checks, parse its body
/// with each of `parsers`; what parses must re-encode and parse the same.
pub fn round_trips(data: &[u8], parsers: &[&dyn Fn(u16, &str)]) {
    let mut dec = LineDecoder::new();
    for &b in data {
        let Some(line) = dec.push(b) else { continue };
        if let Ok(text) = line {
            if let Ok((seq, body)) = parse_frame(text) {
                for p in parsers {
                    p(seq, body);
                }
            }
            let payload = text.rsplit_once('*').map_or(text, |(p, _)| p);
            let fixed = format!("{payload}*{:04X}", crc16(payload.as_bytes()));
            if let Ok((seq, body)) = parse_frame(&fixed) {
                for p in parsers {
                    p(seq, body);
                }
            }
        }
        dec.clear_line();
    }
}

/// If `parse` reads `body`, its message must survive encode and parse.
pub fn check<T: Display + Debug + PartialEq, E: Debug + PartialEq>(
    seq: u16,
    body: &str,
    parse: fn(&str) -> Result<T, E>,
) {
    if let Ok(msg) = parse(body) {
        let mut again = heapless::String::<{ MAX_LINE + 2 }>::new();
        if encode_frame(seq, &msg, &mut again).is_ok() {
            let (_, b2) = parse_frame(again.trim_end()).expect("re-encoded frame parses");
            assert_eq!(parse(b2), Ok(msg));
        }
    }
}
