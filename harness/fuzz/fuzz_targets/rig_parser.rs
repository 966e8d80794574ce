//! Rig description text: parsing and checking never panic, every error renders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) =
        locker_hil::model::rigfile::RigDescription::from_text(Path::new("rigs/fuzz.yaml"), text)
    {
        let _ = e.to_string();
    }
});
