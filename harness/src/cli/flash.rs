//! `harness flash`.

use crate::cli::{Exit, FlashArgs, report_errors};
use crate::model::rigfile::{RigDescription, RigKind};

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
    let fail = |e: crate::rigs::RigError| {
        eprintln!("error: rig `{}`: {e}", rig.name);
        Exit::RigError
    };
    let _lock = match crate::rigs::bench::lock::RigLock::acquire(
        &rig.name,
        &crate::rigs::bench::lock::resources(bench),
    ) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let mut flasher = match crate::rigs::bench::flash::for_bench(&bench.probe) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    match flasher.check() {
        Ok(found) => out!("{found}"),
        Err(e) => return fail(e),
    }
    let elf = match a
        .elf
        .clone()
        .map_or_else(|| crate::rigs::image::locate(&rig.firmware), Ok)
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if let Err(e) = std::fs::metadata(&elf) {
        return fail(crate::rigs::RigError::Flash(format!(
            "cannot read {}: {e}",
            elf.display()
        )));
    }
    // A firmware team's own image may carry no identity; it is flashed all the same.
    let build = crate::rigs::image::identify(&elf)
        .map_or_else(|_| "(no LOCKER-IMAGE identity)".to_owned(), |id| id.build);
    // A bar on a terminal; nothing when stderr is a file or a CI log.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut progress = |step: crate::rigs::bench::flash::FlashStep| match step {
        crate::rigs::bench::flash::FlashStep::Programming { done, total } => {
            bar.set_message("programming");
            bar.set_length(total);
            bar.set_position(done);
        }
        other => bar.set_message(format!("{other:?}").to_lowercase()),
    };
    let result = flasher.flash(&elf, &build, &mut progress);
    bar.finish_and_clear();
    match result {
        Ok(r) if r.skipped => {
            out!(
                "{}: already holds {} ({}); not written",
                rig.name,
                r.build_id,
                r.image
            );
            Exit::Ok
        }
        Ok(r) => {
            out!(
                "{}: wrote and verified {} ({})",
                rig.name,
                r.build_id,
                r.image
            );
            Exit::Ok
        }
        Err(e) => fail(e),
    }
}
