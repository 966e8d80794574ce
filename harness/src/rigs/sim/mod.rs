//! The sim rig: the reference firmware's logic compiled for the host, wired
//! to the plant model ([`crate::rigs::plant`]), in virtual time.
//!
//! Time jumps from one scheduled event to the next (a plant event or the
//! controller's next deadline), so `wait: 2h` costs what its events cost.
//! All noise comes from a seeded generator: a case replays exactly.
//!
//! [`serve`] puts a sim behind real device files, as a bench: a console
//! pseudo-terminal and emulated instruments.

#[cfg(test)]
pub(crate) mod planted;
pub mod serve;
pub mod wired;

use crate::model::rigfile::RigDescription;
use crate::rigs::plant::Plant;
use crate::rigs::plant::world::{Mcu, McuKind, mcu_now};
use crate::rigs::{FlashReport, RigError};
use locker_core::board::{Firmware, Identity};
use locker_core::console::Style;
use locker_core::{Config, Input};
use locker_proto::ResetCause;

pub use crate::rigs::plant::world::ModelRig;

/// Board name the sim controller announces.
pub const SIM_BOARD: &str = "sim";

/// The sim rig: firmware logic in this process, plant in virtual time.
pub type SimRig = ModelRig<InProcess>;

impl SimRig {
    pub fn new(desc: RigDescription) -> Self {
        Self::with_kind(desc, InProcess)
    }
}

/// The firmware compiled into the harness.
#[derive(Debug)]
pub struct LocalMcu {
    cfg: Config,
    console: Style,
    running: Option<(Firmware, u64)>,
}

impl LocalMcu {
    /// The reference firmware, provisioned with `cfg`, its console framed
    /// or, for a rig that reads it through a dialect, plain text.
    pub(crate) fn new(cfg: Config, console: Style) -> Self {
        Self {
            cfg,
            console,
            running: None,
        }
    }
}

impl Mcu for LocalMcu {
    fn is_on(&self) -> bool {
        self.running.is_some()
    }
    fn deadline(&self) -> Option<u64> {
        self.running
            .as_ref()
            .map(|(fw, boot_at)| boot_at + fw.next_deadline())
    }
    fn boot(&mut self, plant: &mut Plant, cause: ResetCause) -> Result<(), RigError> {
        let id = Identity {
            build: locker_core::BUILD_ID,
            board: SIM_BOARD,
            console: self.console,
        };
        let nv = plant.nv;
        let fw = Firmware::boot(
            self.cfg.clone(),
            id,
            &nv,
            mcu_now(plant, plant.now),
            cause,
            plant,
        );
        self.running = Some((fw, plant.now));
        Ok(())
    }
    fn power_off(&mut self) {
        self.running = None;
    }
    fn input(&mut self, plant: &mut Plant, input: Input) -> Result<(), RigError> {
        if let Some((fw, boot_at)) = self.running.as_mut() {
            fw.handle(mcu_now(plant, *boot_at), input, plant);
        }
        Ok(())
    }
    fn tick(&mut self, plant: &mut Plant) -> Result<(), RigError> {
        if let Some((fw, boot_at)) = self.running.as_mut() {
            fw.tick(mcu_now(plant, *boot_at), plant);
        }
        Ok(())
    }
    fn console_write(&mut self, plant: &mut Plant, bytes: &[u8]) -> Result<(), RigError> {
        for &b in bytes {
            let Some((fw, boot_at)) = self.running.as_mut() else {
                break;
            };
            if fw.console_rx(b, mcu_now(plant, *boot_at), plant) {
                *boot_at = plant.now;
            }
        }
        Ok(())
    }
}

/// The firmware's logic linked into this binary.
#[derive(Debug, Default)]
pub struct InProcess;

impl McuKind for InProcess {
    type Mcu = LocalMcu;

    async fn flash(&mut self, desc: &RigDescription) -> Result<FlashReport, RigError> {
        // The sim "image" is the firmware core linked into this binary; prove
        // it is the one the rig file names by comparing package identities.
        let manifest = desc.firmware.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| {
            RigError::Flash(format!(
                "cannot read firmware manifest {}: {e}",
                manifest.display()
            ))
        })?;
        let field = |key: &str| crate::rigs::image::toml_field(&text, key);
        let expected = format!(
            "{}-{}",
            field("name").unwrap_or_default(),
            field("version").unwrap_or_default()
        );
        if expected != locker_core::BUILD_ID {
            return Err(RigError::Flash(format!(
                "{} describes build `{expected}`, but the linked firmware is `{}`",
                manifest.display(),
                locker_core::BUILD_ID
            )));
        }
        let expect =
            crate::rigs::image::expected_build(desc, &manifest, Some(locker_core::BUILD_ID))?;
        Ok(FlashReport {
            expect,
            image: desc.firmware.display().to_string(),
            skipped: false,
            output: Vec::new(),
        })
    }

    fn mcu(&mut self, desc: &RigDescription) -> Result<LocalMcu, RigError> {
        Ok(LocalMcu::new(desc.controller_config(), console_style(desc)))
    }
}

/// The reference firmware's console for `desc`: plain text when the rig
/// reads its console through a dialect, else framed.
pub(crate) fn console_style(desc: &RigDescription) -> Style {
    match desc.dialect {
        Some(_) => Style::Plain,
        None => Style::Framed,
    }
}

#[cfg(test)]
mod tests {
    //! The runner's invariants against boards that break them: what a
    //! suite does not look for still fails the case, saying what and when.
    use super::*;
    use crate::rigs::sim::planted::{Fault, PlantedKind};
    use crate::run::runner::{self, Outcome};
    use std::sync::Arc;

    const SUITE: &str = r#"
name: unaware
cases:
  - name: a pickup that looks right
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - keys: "$pickup#"
      - expect: { door: open, compartment: M1, within: 2s }
      - package: { compartment: M1, action: out }
      - door: { compartment: M1, action: push }
      - expect: { event: pickup, compartment: M1, within: 2s }
  - name: a parcel goes missing behind a shut door
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - package: { compartment: M1, action: steal }
      - wait: 3s
"#;

    fn run(fault: Fault) -> Vec<Outcome> {
        run_suite(fault, SUITE)
    }

    fn run_suite(fault: Fault, suite: &str) -> Vec<Outcome> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unaware.yaml");
        std::fs::write(&path, suite).unwrap();
        let suites = crate::model::load_suites(&[path]).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let desc = RigDescription::load(&root.join("rigs/sim.yaml")).unwrap();
        let plan = runner::plan(&suites, |_, _| true);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let d = desc.clone();
        let reports = rt.block_on(runner::run(
            plan,
            1,
            Arc::new(desc),
            move |_| Ok(ModelRig::with_kind(d.clone(), PlantedKind(fault))),
            |_| {},
        ));
        reports.into_iter().map(|r| r.outcome).collect()
    }

    /// The promise the case broke: at the step that was running, or at
    /// the end for what only the whole case shows.
    fn broken(o: &Outcome) -> &str {
        match o {
            Outcome::Failed { message, .. }
                if crate::run::invariants::promise_of(message).is_some() =>
            {
                message
            }
            other => panic!("not failed at its invariants: {other:?}"),
        }
    }

    /// A promise broken while an expectation waited (and then failed) is
    /// the case's failure: it came first. The expectation's own message
    /// used to win, and `harness explore` took the case for one that
    /// merely went another way.
    #[test]
    fn a_broken_promise_outranks_the_expectation_that_was_waiting() {
        // The courier's Enter works, the customer's is dead: the valid
        // code gets no verdict (broken 2 s after `#`) while the next step
        // waits 3 s for the door.
        let suite = r#"
name: waiting
cases:
  - name: a dead Enter key
    setup:
      - parcel: { compartment: M1, code: $pickup }
    steps:
      - wait: 6s
      - keys: "$pickup#"
      - expect: { door: open, compartment: M1, within: 3s }
"#;
        let outcomes = run_suite(Fault::DeadEnter(1), suite);
        let m = broken(&outcomes[0]);
        assert!(m.contains("valid pickup code for M1"), "{m}");
        assert!(m.contains("got no verdict at all"), "{m}");
    }

    #[test]
    fn one_code_that_releases_two_compartments_fails_the_case() {
        // M1 (index 2) drags M2 (index 3) with it.
        let outcomes = run(Fault::SharedPin { from: 2, to: 3 });
        let m = broken(&outcomes[0]);
        assert!(
            m.contains("the bolt of M2 left its strike with no code accepted for it"),
            "{m}"
        );
        assert!(
            m.starts_with("invariant `no-unlock-without-code` broken at +"),
            "{m}"
        );
    }

    #[test]
    fn a_parcel_gone_without_a_word_fails_the_case() {
        // A frozen package sensor: the theft raises nothing.
        let outcomes = run(Fault::FrozenPackage(2));
        let m = broken(&outcomes[1]);
        assert!(
            m.contains("M1 is empty, but the controller's account says it holds parcel"),
            "{m}"
        );
    }
}
