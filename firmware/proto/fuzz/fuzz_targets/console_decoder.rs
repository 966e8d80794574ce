//! Bytes off a console, as the harness and the board read them: the line
//! decoder, frame check and message parsers must never panic, and whatever
//! parses must encode back to something that parses the same.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use locker_proto::{Command, ToHarness};

fuzz_target!(|data: &[u8]| {
    common::round_trips(
        data,
        &[
            &|seq, body| common::check(seq, body, ToHarness::parse),
            &|seq, body| common::check(seq, body, Command::parse),
        ],
    );
});
