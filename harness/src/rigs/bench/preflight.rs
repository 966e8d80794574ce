//! A bench's part of `harness rig check` (see [`crate::rigs::preflight`]):
//! the lock, the probe, the console and the controller on it, and every
//! instrument, each opened and asked who it is.
//!
//! Nothing is written to the controller and no instrument setting changes:
//! a preflight only asks.

use crate::model::rigfile::RigDescription;
use crate::model::rigfile::bench::BenchSettings;
use crate::rigs::bench::fixtures::board::FixtureBoard;
use crate::rigs::bench::fixtures::link::{LineLink, open};
use crate::rigs::bench::fixtures::scpi::{Chamber, Supply};
use crate::rigs::{Part, Verdict, verdict};
use locker_proto::{Command, MAX_LINE, Response, encode_frame};
use std::time::{Duration, Instant};

/// How long an instrument or the controller may take to answer.
const ANSWER: Duration = Duration::from_secs(2);

/// The build id the rig's image carries, when it is at hand without building.
fn expected_build(desc: &RigDescription) -> Option<String> {
    let elf = if desc.firmware.is_file() {
        desc.firmware.clone()
    } else {
        crate::rigs::image::built_path(&desc.firmware, &desc.features)?
    };
    crate::rigs::image::identify(&elf).ok().map(|id| id.build)
}

/// How long a controller may take to answer `ID`: a board that was just
/// powered is still in its self-test and does not answer until it is done.
const CONTROLLER_ANSWER: Duration = Duration::from_secs(6);

/// Ask the controller who it is over its console, again every second until
/// it answers (an `ID` sent during the boot self-test goes unanswered).
fn identify(link: &mut LineLink) -> Result<(String, String), String> {
    let deadline = Instant::now() + CONTROLLER_ANSWER;
    let mut seq = 1;
    while Instant::now() < deadline {
        let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
        encode_frame(seq, &Command::Identify, &mut line)
            .map_err(|_| "cannot encode ID".to_owned())?;
        link.send(line.trim_end())?;
        // The controller may be printing events: skip lines until the answer.
        let again = (Instant::now() + Duration::from_secs(1)).min(deadline);
        while Instant::now() < again {
            let text = match link.recv_within("ID", again - Instant::now()) {
                Ok(Some(t)) => t,
                Ok(None) => break,
                Err(e) => return Err(e),
            };
            // An answer to any ID sent so far will do.
            if let Some((to, Response::Ident { build, board, .. })) = locker_proto::response(&text)
                && (1..=seq).contains(&to)
            {
                return Ok((build.to_string(), board.to_string()));
            }
        }
        seq += 1;
    }
    Err(format!(
        "{}: no answer to ID within {} s",
        link.name(),
        CONTROLLER_ANSWER.as_secs()
    ))
}

pub(crate) fn bench_parts(desc: &RigDescription, bench: &BenchSettings) -> Vec<Part> {
    let mut parts = Vec::new();
    let lock = crate::rigs::bench::lock::RigLock::acquire(
        &desc.name,
        &crate::rigs::bench::lock::resources(bench),
    );
    parts.push(Part {
        name: "lock",
        verdict: verdict(lock.as_ref().map_err(|e| e.to_string()), |_| {
            "no other run holds this bench".into()
        }),
    });
    let probe = match &bench.probe {
        None => Ok("none: the controller is flashed by hand (`flash: none`)".to_owned()),
        Some(p) => crate::rigs::bench::flash::for_bench(p).and_then(|mut f| f.check()),
    };
    parts.push(Part {
        name: "probe",
        verdict: verdict(probe.map_err(|e| e.to_string()), |s| s),
    });
    let console = open(&bench.console, ANSWER)
        .map(|io| LineLink::new("console", io, ANSWER))
        .map_err(|e| format!("{}: {e}", bench.console));
    match console {
        Err(e) => {
            parts.push(Part {
                name: "console",
                verdict: Verdict::Fail(e),
            });
            parts.push(Part {
                name: "controller",
                verdict: Verdict::Skipped("the console did not open".into()),
            });
        }
        Ok(mut link) => {
            parts.push(Part {
                name: "console",
                verdict: Verdict::Ok(bench.console.to_string()),
            });
            let expected = expected_build(desc);
            let id = identify(&mut link).and_then(|(build, board)| match &expected {
                Some(e) if *e != build => Err(format!(
                    "announces build `{build}` on {board}, but the rig's image is `{e}`: flash it (`harness flash`)"
                )),
                Some(_) => Ok(format!("build {build} on {board}, as the rig's image")),
                None => Ok(format!("build {build} on {board} (the rig's image is not built, so not compared)")),
            });
            parts.push(Part {
                name: "controller",
                verdict: verdict(id, |s| s),
            });
        }
    }
    if let Some(c) = &bench.chamber {
        let r = Chamber::open(c, ANSWER)
            .and_then(|(mut ch, id)| Ok(format!("{id}; air {:.2}C", ch.read()?)));
        parts.push(Part {
            name: "chamber",
            verdict: verdict(r, |s| s),
        });
    }
    if let Some(s) = &bench.supply {
        let r = Supply::open(s, ANSWER)
            .and_then(|(mut su, id)| Ok(format!("{id}; output {:.3}V", su.read()?)));
        parts.push(Part {
            name: "supply",
            verdict: verdict(r, |s| s),
        });
    }
    if let Some(b) = &bench.board {
        let r = FixtureBoard::open(b, ANSWER).map(|(_, id)| id);
        let want = desc.compartments.len();
        let r = r.and_then(|id| {
            if id.compartments < want {
                Err(format!(
                    "locker-fixture-board {} drives {} compartments; the rig has {want}",
                    id.version, id.compartments
                ))
            } else {
                Ok(format!(
                    "locker-fixture-board {}, {} compartments",
                    id.version, id.compartments
                ))
            }
        });
        parts.push(Part {
            name: "board",
            verdict: verdict(r, |s| s),
        });
    }
    parts
}
