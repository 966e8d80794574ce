//! The flasher seam: put an image on a controller and prove it is there.
//!
//! On a real bench that is probe-rs (the library, behind the `probe`
//! feature): the probe is chosen by the rig file's selector, the chip by
//! name, the flash is read back first so an image already there is not
//! written again, written and verified otherwise, and the core reset to run.
//! Which probes exist is a [`probe_rs::probe::list::Lister`], so tests can
//! put a lister with no probe, or a fake one, behind the real logic.

use crate::model::rigfile::RigDescription;
use crate::model::rigfile::bench::{BenchSettings, ProbeSettings};
use crate::rigs::bench::lock::{self, RigLock};
use crate::rigs::{FlashReport, RigError};
use std::path::{Path, PathBuf};

/// What happened while flashing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashStep {
    Checking,
    Erasing,
    Programming { done: u64, total: u64 },
    Verifying,
    Resetting,
}

/// Puts an image on a controller.
pub trait Flasher {
    /// Find the probe and attach to the chip without writing anything;
    /// says what was found.
    fn check(&mut self) -> Result<String, RigError>;

    fn flash(
        &mut self,
        elf: &Path,
        build_id: &str,
        progress: &mut dyn FnMut(FlashStep),
    ) -> Result<FlashReport, RigError>;
}

/// The simulated flasher: a controller that already holds the image (a
/// served sim rig, a bench flashed by other means). It writes nothing and
/// reports the image's own build id, which the banner check then verifies.
#[derive(Debug, Default, Clone, Copy)]
pub struct Preloaded;

impl Flasher for Preloaded {
    fn check(&mut self) -> Result<String, RigError> {
        Ok("image preloaded; nothing to flash".into())
    }

    fn flash(
        &mut self,
        elf: &Path,
        build_id: &str,
        _progress: &mut dyn FnMut(FlashStep),
    ) -> Result<FlashReport, RigError> {
        Ok(FlashReport {
            build_id: build_id.to_owned(),
            image: elf.display().to_string(),
            skipped: true,
        })
    }
}

#[cfg(feature = "probe")]
pub use probe::ProbeRsFlasher;

#[cfg(feature = "probe")]
mod probe {
    use super::{FlashStep, Flasher};
    use crate::model::rigfile::bench::ProbeSettings;
    use crate::rigs::{FlashReport, RigError};
    use probe_rs::flashing::{
        DownloadOptions, ElfLoader, ElfOptions, FlashProgress, ProgressEvent, ProgressOperation,
        build_loader,
    };
    use probe_rs::probe::DebugProbeSelector;
    use probe_rs::probe::list::Lister;
    use probe_rs::{Permissions, Session};
    use std::path::Path;

    /// Flashing through a debug probe with probe-rs.
    pub struct ProbeRsFlasher {
        settings: ProbeSettings,
        lister: Lister,
    }

    impl std::fmt::Debug for ProbeRsFlasher {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ProbeRsFlasher")
                .field("settings", &self.settings)
                .finish_non_exhaustive()
        }
    }

    fn flash_err(e: impl std::fmt::Display) -> RigError {
        RigError::Flash(e.to_string())
    }

    impl ProbeRsFlasher {
        /// Probes as the host sees them (USB).
        pub fn new(settings: ProbeSettings) -> Self {
            Self::with_lister(settings, Lister::new())
        }

        /// Probes from `lister`: a test's fake, or none at all.
        pub fn with_lister(settings: ProbeSettings, lister: Lister) -> Self {
            Self { settings, lister }
        }

        fn open(&self) -> Result<Session, RigError> {
            let sel = &self.settings.selector;
            let selector: DebugProbeSelector = sel
                .parse()
                .map_err(|e| flash_err(format!("probe selector `{sel}`: {e}")))?;
            let probe = self.lister.open(selector).map_err(|e| {
                let found: Vec<String> = self
                    .lister
                    .list_all()
                    .iter()
                    .map(|p| format!("{} ({})", DebugProbeSelector::from(p), p.identifier))
                    .collect();
                flash_err(format!(
                    "no debug probe matches `{sel}` ({e}); probes found: {}",
                    if found.is_empty() {
                        "none (is it plugged in, and may this user open it?)".to_owned()
                    } else {
                        found.join(", ")
                    }
                ))
            })?;
            probe
                .attach(self.settings.chip.as_str(), Permissions::default())
                .map_err(|e| {
                    flash_err(format!(
                        "probe `{sel}` cannot attach to a {}: {e}",
                        self.settings.chip
                    ))
                })
        }
    }

    impl Flasher for ProbeRsFlasher {
        fn check(&mut self) -> Result<String, RigError> {
            let session = self.open()?;
            Ok(format!(
                "probe `{}` attached to {} ({} core(s))",
                self.settings.selector,
                session.target().name,
                session.target().cores.len()
            ))
        }

        fn flash(
            &mut self,
            elf: &Path,
            build_id: &str,
            progress: &mut dyn FnMut(FlashStep),
        ) -> Result<FlashReport, RigError> {
            let mut session = self.open()?;
            let loader = build_loader(&mut session, elf, ElfLoader(ElfOptions::default()), None)
                .map_err(|e| flash_err(format!("{}: {e}", elf.display())))?;

            progress(FlashStep::Checking);
            let already = loader
                .verify(&mut session, &mut FlashProgress::empty())
                .is_ok();
            if !already {
                let mut total = 0;
                let mut done = 0;
                let mut report = |ev: ProgressEvent| match ev {
                    ProgressEvent::Started(ProgressOperation::Erase) => {
                        progress(FlashStep::Erasing)
                    }
                    ProgressEvent::Started(ProgressOperation::Verify) => {
                        progress(FlashStep::Verifying)
                    }
                    ProgressEvent::AddProgressBar {
                        operation: ProgressOperation::Program,
                        total: Some(t),
                    } => total += t,
                    ProgressEvent::Progress {
                        operation: ProgressOperation::Program,
                        size,
                        ..
                    } => {
                        done += size;
                        progress(FlashStep::Programming { done, total });
                    }
                    _ => {}
                };
                let mut options = DownloadOptions::default();
                options.verify = true;
                options.progress = FlashProgress::new(&mut report);
                loader
                    .commit(&mut session, options)
                    .map_err(|e| flash_err(format!("writing {}: {e}", elf.display())))?;
            }
            progress(FlashStep::Resetting);
            session
                .core(0)
                .and_then(|mut core| core.reset())
                .map_err(|e| flash_err(format!("reset after flashing: {e}")))?;
            Ok(FlashReport {
                build_id: build_id.to_owned(),
                image: elf.display().to_string(),
                skipped: already,
            })
        }
    }
}

/// The flasher a bench uses, or why there is none in this build.
pub fn for_bench(settings: &ProbeSettings) -> Result<Box<dyn Flasher>, RigError> {
    #[cfg(feature = "probe")]
    {
        Ok(Box::new(ProbeRsFlasher::new(settings.clone())))
    }
    #[cfg(not(feature = "probe"))]
    {
        let _ = settings;
        Err(RigError::Unsupported(
            "flash through a debug probe: this harness was built without the `probe` feature"
                .into(),
        ))
    }
}

/// What `harness flash` does on a bench, in the order that finds the
/// usual problem first: the bench locked against other runs, the probe
/// found (`found` is told what answered), the image (`elf`, else the one the
/// rig's firmware builds to) read and identified, then written and verified
/// unless the chip already holds it.
pub fn flash_bench(
    rig: &RigDescription,
    bench: &BenchSettings,
    elf: Option<PathBuf>,
    found: impl FnOnce(&str),
    progress: &mut dyn FnMut(FlashStep),
) -> Result<FlashReport, RigError> {
    let _lock = RigLock::acquire(&rig.name, &lock::resources(bench))?;
    let Some(probe) = &bench.probe else {
        return Err(RigError::Unsupported(format!(
            "flash rig `{}`: its rig file says `flash: none` (the controller is flashed by hand)",
            rig.name
        )));
    };
    let mut flasher = for_bench(probe)?;
    found(&flasher.check()?);
    let elf = elf.map_or_else(
        || crate::rigs::image::locate(&rig.firmware, &rig.features),
        Ok,
    )?;
    std::fs::metadata(&elf)
        .map_err(|e| RigError::Flash(format!("cannot read {}: {e}", elf.display())))?;
    // A firmware team's own image may carry no identity; it is flashed all the same.
    let build = crate::rigs::image::identify(&elf)
        .map_or_else(|_| "(no LOCKER-IMAGE identity)".to_owned(), |id| id.build);
    flasher.flash(&elf, &build, progress)
}

#[cfg(all(test, feature = "probe"))]
mod tests {
    use super::*;
    use probe_rs::probe::list::{Lister, ProbeListItem, ProbeLister};
    use probe_rs::probe::{DebugProbeError, DebugProbeSelector, Probe};

    /// A host with no probe plugged in.
    #[derive(Debug)]
    struct NoProbes;

    impl ProbeLister for NoProbes {
        fn open(&self, _selector: &DebugProbeSelector) -> Result<Probe, DebugProbeError> {
            Err(DebugProbeError::ProbeCouldNotBeCreated(
                probe_rs::probe::ProbeCreationError::NotFound,
            ))
        }
        fn list_with_access(&self, _selector: Option<&DebugProbeSelector>) -> Vec<ProbeListItem> {
            Vec::new()
        }
    }

    #[test]
    fn no_probe_is_a_flash_error_naming_the_selector() {
        let settings = ProbeSettings {
            selector: "0483:374b:066DFF535155878281123456".into(),
            chip: "STM32F446RETx".into(),
        };
        let mut f = ProbeRsFlasher::with_lister(settings, Lister::with_lister(Box::new(NoProbes)));
        let err = f
            .flash(Path::new("/nonexistent.elf"), "b", &mut |_| {})
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("0483:374b:066DFF535155878281123456"), "{msg}");
        assert!(msg.contains("probes found: none"), "{msg}");
    }
}
