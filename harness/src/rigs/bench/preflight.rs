//! A bench's part of `harness rig check` (see [`crate::rigs::preflight`]):
//! the lock, the probe (or the flash tool), the console and the controller on it, and every
//! instrument, each opened and asked who it is.
//!
//! Nothing is written to the controller and no instrument setting changes:
//! a preflight only asks.

use crate::model::dialect::Dialect;
use crate::model::rigfile::bench::BenchSettings;
use crate::model::rigfile::{ExpectBuild, RigDescription};
use crate::rigs::bench::fixtures::board::FixtureBoard;
use crate::rigs::bench::fixtures::link::{LineLink, open};
use crate::rigs::bench::fixtures::scpi::{Chamber, Supply};
use crate::rigs::{Part, Verdict, verdict};
use locker_proto::{Command, MAX_LINE, Response, encode_frame};
use std::time::{Duration, Instant};

/// How long an instrument or the controller may take to answer.
const ANSWER: Duration = Duration::from_secs(2);

/// What the controller must say it runs, as far as is known without
/// building: the identity of the rig's image when it is at hand, else the
/// rig's `expect-build`.
fn expected_build(desc: &RigDescription) -> Result<ExpectBuild, String> {
    let elf = if desc.firmware.is_file() {
        Some(desc.firmware.clone())
    } else {
        crate::rigs::image::built_path(&desc.firmware, &desc.features)
    };
    let build =
        (elf.as_deref()).and_then(|e| crate::rigs::image::identify(e).ok().map(|id| id.build));
    match (&elf, build) {
        (Some(elf), Some(b)) => {
            crate::rigs::image::expected_build(desc, elf, Some(&b)).map_err(|e| e.to_string())
        }
        _ => Ok(desc.expect_build.clone()),
    }
}

/// How long a controller may take to answer `ID`: a board that was just
/// powered is still in its self-test and does not answer until it is done.
const CONTROLLER_ANSWER: Duration = Duration::from_secs(6);

/// Ask the controller who it is over its console (the framed `ID`, or the
/// dialect's `identify`), again every second until it answers (a question
/// sent during the boot self-test goes unanswered).
fn identify(link: &mut LineLink, dialect: Option<&Dialect>) -> Result<(String, String), String> {
    let deadline = Instant::now() + CONTROLLER_ANSWER;
    let mut seq = 1;
    let what = match dialect {
        None => "ID".to_owned(),
        Some(d) => format!("`identify` of dialect `{}`", d.name),
    };
    while Instant::now() < deadline {
        let line = match dialect {
            None => {
                let mut line = heapless::String::<{ MAX_LINE + 2 }>::new();
                encode_frame(seq, &Command::Identify, &mut line)
                    .map_err(|_| "cannot encode ID".to_owned())?;
                line.trim_end().to_owned()
            }
            Some(d) => d.command_line(&Command::Identify)?,
        };
        link.send(&line)?;
        // The controller may be printing events: skip lines until the answer.
        let again = (Instant::now() + Duration::from_secs(1)).min(deadline);
        while Instant::now() < again {
            let text = match link.recv_within(&what, again - Instant::now()) {
                Ok(Some(t)) => t,
                Ok(None) => break,
                Err(e) => return Err(e),
            };
            let answer = match dialect {
                // An answer to any ID sent so far will do.
                None => locker_proto::response(&text)
                    .filter(|(to, _)| (1..=seq).contains(to))
                    .map(|(_, r)| r),
                Some(d) => d.answer(&Command::Identify, &text),
            };
            if let Some(Response::Ident { build, board, .. }) = answer {
                return Ok((build.to_string(), board.to_string()));
            }
        }
        seq += 1;
    }
    Err(format!(
        "{}: no answer to {what} within {} s",
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
    let flasher = match crate::rigs::bench::flash::for_bench(desc, bench) {
        Ok(None) => Ok("none: the controller is flashed by hand (`flash: none`)".to_owned()),
        Ok(Some(mut f)) => f.check(),
        Err(e) => Err(e),
    };
    parts.push(Part {
        name: "flash",
        verdict: verdict(flasher.map_err(|e| e.to_string()), |s| s),
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
            let dialect = desc.dialect.as_deref();
            let can_ask = dialect.is_none_or(|d| d.command_line(&Command::Identify).is_ok());
            let verdict = match expected_build(desc) {
                // The image and the rig file disagree: no need to ask.
                Err(e) => Verdict::Fail(e),
                Ok(_) if !can_ask => Verdict::Skipped(
                    "its dialect has no `commands.identify` to ask it who it is".into(),
                ),
                Ok(expected) => {
                    let id = identify(&mut link, dialect).and_then(|(build, board)| match expected {
                        ExpectBuild::Unstated => Ok(format!(
                            "build {build} on {board} (not compared: the rig's image is not built and it names no `expect-build`)"
                        )),
                        e => e.check(&build).map(|()| format!("build {build} on {board}, as expected")).map_err(|why| {
                            format!("announces build `{build}` on {board}, but {why}: flash it (`harness flash`)")
                        }),
                    });
                    verdict(id, |s| s)
                }
            };
            parts.push(Part {
                name: "controller",
                verdict,
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
    if !bench.io.modules.is_empty() {
        parts.push(Part {
            name: "io modules",
            verdict: verdict(modules(desc, bench), |s| s),
        });
    }
    parts
}

/// Every module of the I/O map connected (a SCPI one asked who it is) and
/// every input it reads read once; no output is switched.
fn modules(desc: &RigDescription, bench: &BenchSettings) -> Result<String, String> {
    use crate::rigs::bench::fixtures::io::Wiring;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let dir = desc.file.parent().unwrap_or(std::path::Path::new("."));
    rt.block_on(async {
        let mut w = Wiring::new(bench.io.clone(), dir, ANSWER);
        let found = w.connect_all().await?;
        let inputs: Vec<_> = bench.io.solenoids.values().cloned().collect();
        w.read_all(&inputs).await?;
        Ok((found.into_iter())
            .map(|(_, shown)| shown)
            .collect::<Vec<_>>()
            .join("; "))
    })
}
