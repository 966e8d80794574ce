//! Bytes off a console, as the harness and the board read them: the line
//! decoder, frame check and message parsers must never panic, and whatever
//! parses must encode back to something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use locker_proto::{Command, LineDecoder, MAX_LINE, ToHarness, encode_frame, parse_frame};

fuzz_target!(|data: &[u8]| {
    let mut dec = LineDecoder::new();
    for &b in data {
        let Some(line) = dec.push(b) else { continue };
        if let Ok(text) = line
            && let Ok((seq, body)) = parse_frame(text)
        {
            if let Ok(msg) = ToHarness::parse(body) {
                let mut again = heapless::String::<{ MAX_LINE + 2 }>::new();
                if encode_frame(seq, &msg, &mut again).is_ok() {
                    let (_, b2) = parse_frame(again.trim_end()).expect("re-encoded frame parses");
                    assert_eq!(ToHarness::parse(b2), Ok(msg));
                }
            }
            if let Ok(cmd) = Command::parse(body) {
                let mut again = heapless::String::<{ MAX_LINE + 2 }>::new();
                if encode_frame(seq, &cmd, &mut again).is_ok() {
                    let (_, b2) = parse_frame(again.trim_end()).expect("re-encoded frame parses");
                    assert_eq!(Command::parse(b2), Ok(cmd));
                }
            }
        }
        dec.clear_line();
    }
});
