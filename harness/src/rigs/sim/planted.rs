//! Faults planted between the reference firmware and the plant, for tests
//! that must see the harness catch what no suite looks for: the runner's
//! invariants in every case, and `harness explore` without any suite.

use crate::model::rigfile::RigDescription;
use crate::rigs::plant::Plant;
use crate::rigs::plant::world::{Mcu, McuKind, ModelRig};
use crate::rigs::sim::{InProcess, LocalMcu};
use crate::rigs::{FlashReport, RigError};
use locker_core::Input;
use locker_core::nv::NV_SIZE;
use locker_proto::ResetCause;

/// A fault of the board or of the firmware's use of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `from` and `to` drive their solenoids from one pin: releasing one
    /// releases both.
    SharedPin { from: usize, to: usize },
    /// The package sensor of this compartment freezes the first time it
    /// sees a package, and reads present from then on.
    FrozenPackage(usize),
    /// Nothing written to non-volatile memory survives a loss of power:
    /// every boot finds it blank (a persist forgotten).
    Amnesia,
    /// The keypad's Enter key goes dead after this many presses.
    DeadEnter(u32),
}

/// The reference firmware on a board with a fault.
pub(crate) struct Planted {
    mcu: LocalMcu,
    fault: Fault,
    enters: u32,
}

impl Planted {
    fn after(&self, plant: &mut Plant) {
        match self.fault {
            Fault::SharedPin { from, to } => {
                let on = plant.comps[from].solenoid;
                plant.set_solenoid(to, on);
            }
            Fault::FrozenPackage(c) => {
                let comp = &mut plant.comps[c];
                if comp.package {
                    comp.stuck_package = Some(true);
                }
            }
            Fault::Amnesia | Fault::DeadEnter(_) => {}
        }
    }
}

impl Mcu for Planted {
    fn is_on(&self) -> bool {
        self.mcu.is_on()
    }
    fn deadline(&self) -> Option<u64> {
        self.mcu.deadline()
    }
    fn boot(&mut self, plant: &mut Plant, cause: ResetCause) -> Result<(), RigError> {
        if self.fault == Fault::Amnesia {
            plant.nv = [0xFF; NV_SIZE];
        }
        self.after(plant);
        self.mcu.boot(plant, cause)
    }
    fn power_off(&mut self) {
        self.mcu.power_off();
    }
    fn input(&mut self, plant: &mut Plant, input: Input) -> Result<(), RigError> {
        if let (Fault::DeadEnter(n), Input::Key(locker_proto::Key::Enter)) = (self.fault, &input) {
            self.enters += 1;
            if self.enters > n {
                return Ok(());
            }
        }
        self.mcu.input(plant, input)?;
        self.after(plant);
        Ok(())
    }
    fn tick(&mut self, plant: &mut Plant) -> Result<(), RigError> {
        self.mcu.tick(plant)?;
        self.after(plant);
        Ok(())
    }
    fn console_write(&mut self, plant: &mut Plant, bytes: &[u8]) -> Result<(), RigError> {
        self.mcu.console_write(plant, bytes)
    }
}

/// Makes [`Planted`] MCUs: flashed as the sim is.
pub(crate) struct PlantedKind(pub Fault);

impl McuKind for PlantedKind {
    type Mcu = Planted;
    async fn flash(&mut self, desc: &RigDescription) -> Result<FlashReport, RigError> {
        InProcess.flash(desc).await
    }
    fn mcu(&mut self, desc: &RigDescription) -> Result<Planted, RigError> {
        Ok(Planted {
            mcu: InProcess.mcu(desc)?,
            fault: self.0,
            enters: 0,
        })
    }
}

/// A sim rig from `rigs/sim.yaml` with `fault` planted.
pub(crate) fn sim_with(fault: Fault) -> (RigDescription, ModelRig<PlantedKind>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let desc = RigDescription::load(&root.join("rigs/sim.yaml")).expect("rigs/sim.yaml loads");
    let rig = ModelRig::with_kind(desc.clone(), PlantedKind(fault));
    (desc, rig)
}
