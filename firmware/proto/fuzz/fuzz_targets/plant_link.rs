//! Bytes on the plant link, both directions: never a panic, and a message
//! that parses re-encodes to one that parses the same.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use locker_proto::plant::{ToBoard, ToPlant};

fuzz_target!(|data: &[u8]| {
    common::round_trips(
        data,
        &[
            &|seq, body| common::check(seq, body, ToBoard::parse),
            &|seq, body| common::check(seq, body, ToPlant::parse),
        ],
    );
});
