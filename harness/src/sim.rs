//! The sim rig: the reference firmware's logic compiled for the host, wired
//! to a physical plant model, in virtual time.
//!
//! Time jumps from one scheduled event to the next (a plant event or the
//! controller's next deadline), so `wait: 2h` costs what its events cost.
//! All noise comes from a seeded generator: a case replays exactly.
//!
//! The qemu rig ([`QemuRig`]) shares the plant and the clock; only the MCU
//! differs: the firmware image in an emulator across the plant link.

mod plant;
pub mod qemu;
pub mod serve;
mod world;

pub use world::{InProcess, ModelRig, SimRig};

/// The qemu rig: the firmware image in an emulator, the plant model around it.
pub type QemuRig = ModelRig<qemu::InQemu>;

impl QemuRig {
    /// A qemu rig for a description of kind `qemu`.
    pub fn new(desc: crate::rigfile::RigDescription) -> Result<Self, crate::rig::RigError> {
        Self::with_cpu(desc, None)
    }

    /// The qemu rig of run worker `worker`: its emulators are pinned to one
    /// core, a different one per worker while there are cores to go round.
    pub fn for_worker(
        desc: crate::rigfile::RigDescription,
        worker: usize,
    ) -> Result<Self, crate::rig::RigError> {
        Self::with_cpu(desc, Some(worker))
    }

    fn with_cpu(
        desc: crate::rigfile::RigDescription,
        cpu: Option<usize>,
    ) -> Result<Self, crate::rig::RigError> {
        match &desc.kind {
            crate::rigfile::RigKind::Qemu { qemu, .. } => {
                let kind = qemu::InQemu::new(qemu.clone(), cpu);
                Ok(Self::with_kind(desc, kind))
            }
            _ => Err(crate::rig::RigError::Unsupported(format!(
                "run rig `{}` under QEMU: its file has no `qemu` section",
                desc.name
            ))),
        }
    }
}
