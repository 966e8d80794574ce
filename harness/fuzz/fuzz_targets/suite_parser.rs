//! Suite text, as a user (or a hostile file) writes it: parsing and checking
//! never panic, and every error renders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match locker_hil::model::diag::parse_yaml::<locker_hil::model::suite::Suite>(Path::new("fuzz.yaml"), text) {
        Ok(suite) => {
            let _ = format!("{suite:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
