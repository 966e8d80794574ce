//! The flasher seam: put an image on a controller and prove it is there.
//!
//! On a real bench that is probe-rs (the library, behind the `probe`
//! feature): the probe is chosen by the rig file's selector, the chip by
//! name, the flash is read back first so an image already there is not
//! written again, written and verified otherwise, and the core reset to run.
//! Which probes exist is a [`probe_rs::probe::list::Lister`], so tests can
//! put a lister with no probe, or a fake one, behind the real logic.

use crate::model::rigfile::bench::{BenchSettings, ELF, FlashCommand, FlashMethod, ProbeSettings};
use crate::model::rigfile::{ExpectBuild, RigDescription};
use crate::rigs::bench::lock::{self, RigLock};
use crate::rigs::tool;
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

/// What writing an image did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Nothing was written: the controller already held the image.
    pub skipped: bool,
    /// What the flashing tool printed, for the transcript.
    pub output: Vec<String>,
}

/// Puts an image on a controller.
pub trait Flasher {
    /// Find the probe (or the tool) without writing anything; says what
    /// was found.
    fn check(&mut self) -> Result<String, RigError>;

    fn flash(
        &mut self,
        elf: &Path,
        progress: &mut dyn FnMut(FlashStep),
    ) -> Result<Written, RigError>;
}

/// The simulated flasher: a controller that already holds the image (a
/// served sim rig, a bench flashed by other means). It writes nothing; the
/// banner check then verifies the image's build.
#[derive(Debug, Default, Clone, Copy)]
pub struct Preloaded;

impl Flasher for Preloaded {
    fn check(&mut self) -> Result<String, RigError> {
        Ok("image preloaded; nothing to flash".into())
    }

    fn flash(
        &mut self,
        _elf: &Path,
        _progress: &mut dyn FnMut(FlashStep),
    ) -> Result<Written, RigError> {
        Ok(Written {
            skipped: true,
            output: Vec::new(),
        })
    }
}

/// The most of a flash command's output (each stream) that is kept.
const KEEP_OUTPUT: usize = 64 * 1024;
/// Lines of a failed flash command's output quoted in its error.
const QUOTED: usize = 20;

/// Flashing with the lab's own tool (`flash: { command: ..., verify: ... }`),
/// run in the rig file's folder with `{elf}` replaced by the image's path.
#[derive(Debug, Clone)]
pub struct CommandFlasher {
    command: FlashCommand,
    /// The rig file, which errors name; the tool runs in its folder.
    rig: PathBuf,
}

impl CommandFlasher {
    /// The tool of `command`, as the rig file `rig` names it.
    pub fn new(command: FlashCommand, rig: &Path) -> Self {
        Self {
            command,
            rig: rig.to_owned(),
        }
    }

    fn dir(&self) -> &Path {
        self.rig.parent().unwrap_or(Path::new("."))
    }

    /// Run `controller.flash.<key>`; its output goes to `output`.
    fn step(
        &self,
        key: &str,
        argv: &[String],
        elf: &Path,
        output: &mut Vec<String>,
    ) -> Result<(), RigError> {
        // The tool runs elsewhere than the harness: the image by its full path.
        let elf = std::path::absolute(elf).unwrap_or_else(|_| elf.to_owned());
        let elf = elf.display().to_string();
        let argv: Vec<String> = argv.iter().map(|a| a.replace(ELF, &elf)).collect();
        let shown = argv.join(" ");
        output.push(format!("$ {shown}"));
        let what = if key == "verify" {
            "the image was written, but the verify command"
        } else {
            "the flash command"
        };
        let fail = |why: String| {
            RigError::Flash(format!(
                "{what} `{shown}` (controller.flash.{key} in {}): {why}",
                self.rig.display()
            ))
        };
        let ran = tool::run(&argv, self.dir(), b"", self.command.timeout, KEEP_OUTPUT)
            .map_err(|e| fail(e.to_string()))?;
        output.extend(ran.lines());
        output.push(format!(
            "({}, after {:.1}s)",
            ran.status,
            ran.took.as_secs_f64()
        ));
        if ran.status.success() {
            Ok(())
        } else {
            Err(fail(format!(
                "it failed ({}); its last lines:\n{}",
                ran.status,
                ran.tail(QUOTED)
            )))
        }
    }
}

impl Flasher for CommandFlasher {
    fn check(&mut self) -> Result<String, RigError> {
        let mut found = Vec::new();
        let commands = [
            ("command", Some(&self.command.write)),
            ("verify", self.command.verify.as_ref()),
        ];
        for (key, argv) in commands {
            let Some(argv) = argv else { continue };
            let program = argv.first().map_or("", String::as_str);
            let at = find_program(program, self.dir()).ok_or_else(|| {
                RigError::Flash(format!(
                    "controller.flash.{key} in {}: its program `{program}` is not on PATH, nor a runnable file at that path (from {})",
                    self.rig.display(),
                    self.dir().display()
                ))
            })?;
            found.push(format!("`{program}` ({})", at.display()));
        }
        Ok(format!("flash command {}", found.join(", verify ")))
    }

    fn flash(
        &mut self,
        elf: &Path,
        progress: &mut dyn FnMut(FlashStep),
    ) -> Result<Written, RigError> {
        let mut output = Vec::new();
        progress(FlashStep::Programming { done: 0, total: 0 });
        self.step("command", &self.command.write, elf, &mut output)?;
        if let Some(verify) = &self.command.verify {
            progress(FlashStep::Verifying);
            self.step("verify", verify, elf, &mut output)?;
        }
        Ok(Written {
            skipped: false,
            output,
        })
    }
}

/// Where `program` is: a path (relative to `dir`) or a name on PATH.
fn find_program(program: &str, dir: &Path) -> Option<PathBuf> {
    let runnable = |p: &Path| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        p.is_file()
    };
    if program.contains('/') {
        let p = dir.join(program);
        return runnable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| runnable(p))
}

#[cfg(feature = "probe")]
pub use probe::ProbeRsFlasher;

#[cfg(feature = "probe")]
mod probe {
    use super::{FlashStep, Flasher, Written};
    use crate::model::rigfile::bench::ProbeSettings;
    use crate::rigs::RigError;
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
            progress: &mut dyn FnMut(FlashStep),
        ) -> Result<Written, RigError> {
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
            Ok(Written {
                skipped: already,
                output: Vec::new(),
            })
        }
    }
}

/// The flasher of a probe, or why there is none in this build.
fn probe_flasher(settings: &ProbeSettings) -> Result<Box<dyn Flasher>, RigError> {
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

/// The flasher `rig`'s bench flashes with; `None` when it is flashed by hand.
pub fn for_bench(
    rig: &RigDescription,
    bench: &BenchSettings,
) -> Result<Option<Box<dyn Flasher>>, RigError> {
    match &bench.flash {
        FlashMethod::ByHand => Ok(None),
        FlashMethod::Probe(p) => probe_flasher(p).map(Some),
        FlashMethod::Command(c) => Ok(Some(Box::new(CommandFlasher::new(c.clone(), &rig.file)))),
    }
}

/// The image `rig` flashes (`elf`, else the one its firmware builds to),
/// and what the controller must say it runs once it is on.
pub fn image(
    rig: &RigDescription,
    elf: Option<PathBuf>,
) -> Result<(PathBuf, ExpectBuild), RigError> {
    let elf = elf.map_or_else(
        || crate::rigs::image::locate(&rig.firmware, &rig.features),
        Ok,
    )?;
    std::fs::metadata(&elf)
        .map_err(|e| RigError::Flash(format!("cannot read {}: {e}", elf.display())))?;
    // A firmware team's own image may carry no identity: it is flashed all
    // the same, and the rig's `expect-build` (if any) is what is checked.
    let build = crate::rigs::image::identify(&elf).ok().map(|id| id.build);
    let expect = crate::rigs::image::expected_build(rig, &elf, build.as_deref())?;
    Ok((elf, expect))
}

/// Write `elf` with `flasher`: the report of what is on the controller.
pub fn write(
    flasher: &mut dyn Flasher,
    elf: &Path,
    expect: ExpectBuild,
    progress: &mut dyn FnMut(FlashStep),
) -> Result<FlashReport, RigError> {
    let written = flasher.flash(elf, progress)?;
    Ok(FlashReport {
        expect,
        image: elf.display().to_string(),
        skipped: written.skipped,
        output: written.output,
    })
}

/// What `harness flash` does on a bench, in the order that finds the
/// usual problem first: the bench locked against other runs, the probe or
/// the tool found (`found` is told what answered), the image (`elf`, else
/// the one the rig's firmware builds to) read and identified, then written
/// and verified unless the chip already holds it.
pub fn flash_bench(
    rig: &RigDescription,
    bench: &BenchSettings,
    elf: Option<PathBuf>,
    found: impl FnOnce(&str),
    progress: &mut dyn FnMut(FlashStep),
) -> Result<FlashReport, RigError> {
    let _lock = RigLock::acquire(&rig.name, &lock::resources(bench))?;
    let Some(mut flasher) = for_bench(rig, bench)? else {
        return Err(RigError::Unsupported(format!(
            "flash rig `{}`: its rig file says `flash: none` (the controller is flashed by hand)",
            rig.name
        )));
    };
    found(&flasher.check()?);
    let (elf, expect) = image(rig, elf)?;
    write(flasher.as_mut(), &elf, expect, progress)
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
            .flash(Path::new("/nonexistent.elf"), &mut |_| {})
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("0483:374b:066DFF535155878281123456"), "{msg}");
        assert!(msg.contains("probes found: none"), "{msg}");
    }
}
