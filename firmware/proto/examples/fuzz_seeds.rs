//! Writes the fuzz targets' seed corpora from real frames, so that fuzzing
//! starts past the frame check and inside the message parsers:
//!
//! ```text
//! cargo run -p locker-proto --example fuzz_seeds -- reports/junit.xml
//! ```
//!
//! - `console_decoder`: every console line and command of a run's JUnit
//!   transcripts (`<` and `>` lines) whose frame and message parse, a file
//!   per kind of message;
//! - `plant_link`: a line of each plant-link message, both directions, as
//!   the qemu board and the harness exchange them.
//!
//! Only frames that parse are written: a seed is a real frame by
//! construction.

use locker_proto::plant::{ToBoard, ToPlant};
use locker_proto::{Command, MAX_LINE, ToHarness, encode_frame, parse_frame};
use std::collections::BTreeMap;
use std::path::Path;

/// One line of each plant-link message, harness to board and back.
const PLANT: &[&str] = &[
    "STATION 4711 6c6f636b65722d68696c2d746573742d",
    "COMP M1 M",
    "NV 0 ffffffffffffffffffffffffffffffff",
    "PINS 1f 1f 4",
    "BOOT power-on 1772442000000",
    "STEP 1500 key #",
    "STEP 1700 key 5",
    "RUN 0 60000",
    "TEMP 2001",
    "READY locker-qemu-0.1.0+00ff mps2-an386",
    "SOL 2 on",
    "HEAT off",
    "PROBE primary",
    "UP primary 3 pickup 2 1234",
    "NVW 16 00ff00ff",
    "RTC 1772442000",
    "AT 60000",
    "DONE 60000 812",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let junit = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds <a run's junit.xml>")?;
    let xml = std::fs::read_to_string(&junit)?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    // Console: lines as `[   +0.050s] < 0 HELLO ...*6595`, XML-escaped.
    let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in xml.lines() {
        let Some((_, frame)) = l.split_once("] &lt; ").or_else(|| l.split_once("] &gt; ")) else {
            continue;
        };
        let frame = frame.replace("&quot;", "\"").replace("&amp;", "&");
        let Ok((_, body)) = parse_frame(&frame) else {
            continue;
        };
        if ToHarness::parse(body).is_err() && Command::parse(body).is_err() {
            continue;
        }
        let kind: String = body
            .split_whitespace()
            .take(if body.starts_with("EV ") { 3 } else { 1 })
            .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("-");
        let lines = kinds.entry(kind).or_default();
        if lines.len() < 8 && !lines.contains(&frame) {
            lines.push(frame);
        }
    }
    let console = dir.join("console_decoder");
    std::fs::create_dir_all(&console)?;
    for (kind, lines) in &kinds {
        std::fs::write(console.join(kind), lines.join("\n") + "\n")?;
    }
    let plant = dir.join("plant_link");
    std::fs::create_dir_all(&plant)?;
    for (i, body) in PLANT.iter().enumerate() {
        if ToBoard::parse(body).is_err() && ToPlant::parse(body).is_err() {
            return Err(format!("`{body}` is no plant-link message").into());
        }
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(i as u16, body, &mut line).map_err(|_| "too long")?;
        let name = body.split_whitespace().next().unwrap_or("x").to_lowercase();
        std::fs::write(plant.join(format!("{i:02}-{name}")), line.as_bytes())?;
    }
    println!(
        "{} console seeds ({} kinds) and {} plant-link seeds in {}",
        kinds.values().map(Vec::len).sum::<usize>(),
        kinds.len(),
        PLANT.len(),
        dir.display()
    );
    Ok(())
}
