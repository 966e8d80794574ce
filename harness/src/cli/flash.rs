//! `harness flash`.

use crate::cli::{Exit, FlashArgs, report_errors};
use crate::model::rigfile::{RigDescription, RigKind};
use crate::rigs::bench::flash::{FlashStep, flash_bench};

/// `harness flash`: probe first (cheap, and the usual problem), then the
/// image, then the write.
pub(super) fn flash(a: FlashArgs) -> Exit {
    let rig = match RigDescription::load(&a.rig) {
        Ok(r) => r,
        Err(e) => return report_errors(&e),
    };
    let RigKind::Bench(bench) = &rig.kind else {
        eprintln!(
            "error: rig `{}` is a {} rig; `harness flash` is for benches with a debug probe (a {} rig loads its firmware for every case)",
            rig.name,
            rig.kind_name(),
            rig.kind_name()
        );
        return Exit::BadInput;
    };
    // A bar on a terminal; nothing when stderr is a file or a CI log.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut progress = |step: FlashStep| match step {
        FlashStep::Programming { done, total } => {
            bar.set_message("programming");
            bar.set_length(total);
            bar.set_position(done);
        }
        other => bar.set_message(format!("{other:?}").to_lowercase()),
    };
    let result = flash_bench(&rig, bench, a.elf, |found| out!("{found}"), &mut progress);
    bar.finish_and_clear();
    match result {
        Ok(r) if r.skipped => {
            out!(
                "{}: already holds {} ({}); not written",
                rig.name,
                r.build(),
                r.image
            );
            Exit::Ok
        }
        Ok(r) => {
            out!(
                "{}: wrote and verified {} ({})",
                rig.name,
                r.build(),
                r.image
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: rig `{}`: {e}", rig.name);
            Exit::RigError
        }
    }
}
