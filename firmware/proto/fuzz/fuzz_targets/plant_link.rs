//! Bytes on the plant link, both directions: never a panic, and a message
//! that parses re-encodes to one that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use locker_proto::plant::{ToBoard, ToPlant};
use locker_proto::{LineDecoder, MAX_LINE, encode_frame, parse_frame};

fuzz_target!(|data: &[u8]| {
    let mut dec = LineDecoder::new();
    for &b in data {
        let Some(line) = dec.push(b) else { continue };
        if let Ok(text) = line
            && let Ok((seq, body)) = parse_frame(text)
        {
            if let Ok(m) = ToBoard::parse(body) {
                let mut again = heapless::String::<{ MAX_LINE + 2 }>::new();
                if encode_frame(seq, &m, &mut again).is_ok() {
                    let (_, b2) = parse_frame(again.trim_end()).expect("re-encoded frame parses");
                    assert_eq!(ToBoard::parse(b2), Ok(m));
                }
            }
            if let Ok(m) = ToPlant::parse(body) {
                let mut again = heapless::String::<{ MAX_LINE + 2 }>::new();
                if encode_frame(seq, &m, &mut again).is_ok() {
                    let (_, b2) = parse_frame(again.trim_end()).expect("re-encoded frame parses");
                    assert_eq!(ToPlant::parse(b2), Ok(m));
                }
            }
        }
        dec.clear_line();
    }
});
