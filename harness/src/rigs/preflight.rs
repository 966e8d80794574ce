//! `harness rig check`: open every part of a rig and say, part by part,
//! whether it is ready, and why not. Each kind of rig checks its own parts
//! (a bench's are in [`crate::rigs::bench::preflight`]).
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

use crate::model::rigfile::{RigDescription, RigKind};
use crate::rigs::verdict;
use crate::rigs::{Part, Verdict};

/// Check every part of the rig.
pub fn check(desc: &RigDescription) -> Vec<Part> {
    match &desc.kind {
        RigKind::Bench(bench) => crate::rigs::bench::preflight::bench_parts(desc, bench),
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
