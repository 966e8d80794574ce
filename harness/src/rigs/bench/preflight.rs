//! `harness rig check`: open every part of a rig and say, part by part,
//! whether it is ready, and why not.
//!
//! ```text
//! $ harness rig check --rig rigs/bench-example.yaml
//! rig bench-3 (rigs/bench-example.yaml)
//!   lock        ok    no other run holds this bench
//!   probe       FAIL  no debug probe matches `0483:374b:066D...`; probes found: none
//!   console     ok    /dev/ttyACM0 at 115200 baud
//!   controller  ok    build locker-nucleo-0.1.0+1f2e... on nucleo-f446re, as flashed
//!   chamber     ok    locker-hil,EMU-CHAMBER,0001,1.0; air 20.00C
//!   supply      ok    locker-hil,EMU-SUPPLY,0002,1.0; output 0.000V
//!   board       ok    locker-fixture-board 1.0, 5 compartments
//! 1 of 7 parts not ready
//! ```
//!
//! Nothing is written to the controller and no instrument setting changes:
//! a preflight only asks.

use crate::model::rigfile::bench::BenchSettings;
use crate::model::rigfile::{RigDescription, RigKind};
use crate::rigs::bench::fixtures::board::FixtureBoard;
use crate::rigs::bench::fixtures::link::{LineLink, open};
use crate::rigs::bench::fixtures::scpi::{Chamber, Supply};
use locker_proto::{Command, MAX_LINE, Response, encode_frame};
use std::time::{Duration, Instant};

/// How long an instrument or the controller may take to answer.
const ANSWER: Duration = Duration::from_secs(2);

/// The verdict on one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Fail(String),
    /// Not checked, because a part it needs failed.
    Skipped(String),
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub verdict: Verdict,
}

fn verdict<T>(r: Result<T, String>, ok: impl FnOnce(T) -> String) -> Verdict {
    match r {
        Ok(v) => Verdict::Ok(ok(v)),
        Err(e) => Verdict::Fail(e),
    }
}

/// The build id the rig's image carries, when it is at hand without building.
fn expected_build(desc: &RigDescription) -> Option<String> {
    let elf = if desc.firmware.is_file() {
        desc.firmware.clone()
    } else {
        crate::rigs::image::built_path(&desc.firmware)?
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

fn bench_parts(desc: &RigDescription, bench: &BenchSettings) -> Vec<Part> {
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
    let probe = crate::rigs::bench::flash::for_bench(&bench.probe).and_then(|mut f| f.check());
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

/// Check every part of the rig.
pub fn check(desc: &RigDescription) -> Vec<Part> {
    match &desc.kind {
        RigKind::Bench(bench) => bench_parts(desc, bench),
        RigKind::Sim(_) => vec![Part {
            name: "sim",
            verdict: Verdict::Ok(
                "firmware and plant run inside the harness; nothing to open".into(),
            ),
        }],
        RigKind::Qemu { qemu, .. } => {
            let r = std::process::Command::new(&qemu.executable)
                .arg("--version")
                .output()
                .map_err(|e| format!("cannot run `{}`: {e}; apt-get install -y --no-install-recommends qemu-system-arm", qemu.executable))
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_owned());
            vec![Part {
                name: "qemu",
                verdict: verdict(r, |s| s),
            }]
        }
    }
}

/// The report as printed, one part a line.
pub fn render(desc: &RigDescription, parts: &[Part]) -> String {
    let mut out = format!("rig {} ({})\n", desc.name, desc.file.display());
    let mut bad = 0;
    for p in parts {
        let (tag, text) = match &p.verdict {
            Verdict::Ok(t) => ("ok", t),
            Verdict::Fail(t) => {
                bad += 1;
                ("FAIL", t)
            }
            Verdict::Skipped(t) => {
                bad += 1;
                ("skip", t)
            }
        };
        out.push_str(&format!("  {:<11} {tag:<5} {text}\n", p.name));
    }
    if bad == 0 {
        out.push_str(&format!("all {} parts ready\n", parts.len()));
    } else {
        out.push_str(&format!("{bad} of {} parts not ready\n", parts.len()));
    }
    out
}
