//! The rig a rig file describes, whatever its kind: what a run makes its
//! workers' rigs with, so that nothing outside `rigs/` chooses between the
//! sim, the qemu rig and a bench.

use crate::model::rigfile::{RigDescription, RigKind};
use crate::rigs::bench::BenchRig;
use crate::rigs::bench::lock;
use crate::rigs::qemu::QemuRig;
use crate::rigs::sim::SimRig;
use crate::rigs::{FixtureAction, FlashReport, Rig, RigError, RigOutput};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One of the rigs a rig file can describe.
pub enum AnyRig {
    Sim(Box<SimRig>),
    Qemu(Box<QemuRig>),
    Bench(Box<BenchRig>),
}

impl AnyRig {
    /// How many rigs `desc` can give a run at once: a bench is one
    /// controller, so its cases run one after another; a model rig is as
    /// many as asked for.
    pub fn at_most(desc: &RigDescription) -> usize {
        match desc.kind {
            RigKind::Bench(_) => 1,
            RigKind::Sim(_) | RigKind::Qemu { .. } => usize::MAX,
        }
    }

    /// How many rigs a run makes from `desc` when not told: one per core
    /// for the qemu rig (each emulator is a process of its own), else one
    /// (the sim runs a whole suite in well under a second).
    pub fn default_jobs(desc: &RigDescription) -> usize {
        match desc.kind {
            RigKind::Qemu { .. } => std::thread::available_parallelism().map_or(1, |n| n.get()),
            RigKind::Sim(_) | RigKind::Bench(_) => 1,
        }
    }

    /// The rig file in `dir` whose labels include every one of `labels`; of
    /// several, the first (by file name) whose bench is not in use.
    pub fn by_labels(dir: &Path, labels: &[String]) -> Result<PathBuf, String> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect(),
            Err(e) => return Err(format!("--rigs-dir {}: {e}", dir.display())),
        };
        files.sort();
        let mut seen = Vec::new();
        let mut matching = Vec::new();
        for f in files {
            match RigDescription::load(&f) {
                Ok(r) => {
                    if labels.iter().all(|l| r.labels.contains(l)) {
                        matching.push((f, r));
                    } else {
                        seen.push(format!("{} [{}]", f.display(), r.labels.join(", ")));
                    }
                }
                Err(e) => seen.push(format!("{} (unreadable: {e})", f.display())),
            }
        }
        if matching.is_empty() {
            return Err(format!(
                "no rig file in {} has the labels [{}]; there are:\n  {}",
                dir.display(),
                labels.join(", "),
                seen.join("\n  ")
            ));
        }
        let free = matching.iter().position(|(_, r)| match &r.kind {
            RigKind::Bench(b) => lock::RigLock::acquire(&r.name, &lock::resources(b)).is_ok(),
            _ => true,
        });
        let (path, _) = matching.swap_remove(free.unwrap_or(0));
        Ok(path)
    }

    /// Rig `worker` of the `of` a run makes from `desc`. Several from one
    /// file are told apart: `sim-0`, `sim-1`, ...
    pub fn for_worker(desc: &RigDescription, worker: usize, of: usize) -> Result<Self, RigError> {
        let name = match of {
            0 | 1 => desc.name.clone(),
            _ => format!("{}-{worker}", desc.name),
        };
        Ok(match desc.kind {
            RigKind::Sim(_) => Self::Sim(Box::new(SimRig::new(desc.clone()).named(name))),
            RigKind::Qemu { .. } => Self::Qemu(Box::new(
                QemuRig::for_worker(desc.clone(), worker)?.named(name),
            )),
            RigKind::Bench(_) => Self::Bench(Box::new(BenchRig::new(desc.clone())?)),
        })
    }
}

/// The same call on whichever rig this is.
macro_rules! each {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            AnyRig::Sim($r) => $e,
            AnyRig::Qemu($r) => $e,
            AnyRig::Bench($r) => $e,
        }
    };
}

impl Rig for AnyRig {
    fn name(&self) -> &str {
        each!(self, r => r.name())
    }
    fn now(&self) -> Duration {
        each!(self, r => r.now())
    }
    fn wall_clock(&self) -> bool {
        each!(self, r => r.wall_clock())
    }
    fn true_unix_ms(&self) -> u64 {
        each!(self, r => r.true_unix_ms())
    }
    async fn flash(&mut self) -> Result<FlashReport, RigError> {
        each!(self, r => r.flash().await)
    }
    async fn prepare(&mut self, seed: u64) -> Result<(), RigError> {
        each!(self, r => r.prepare(seed).await)
    }
    async fn send(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        each!(self, r => r.send(bytes).await)
    }
    async fn recv(&mut self, until: Duration) -> Result<RigOutput, RigError> {
        each!(self, r => r.recv(until).await)
    }
    async fn act(&mut self, action: &FixtureAction) -> Result<(), RigError> {
        each!(self, r => r.act(action).await)
    }
    fn release(&mut self) {
        each!(self, r => r.release())
    }
}

impl std::fmt::Debug for AnyRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Sim(_) => "sim",
            Self::Qemu(_) => "qemu",
            Self::Bench(_) => "bench",
        };
        f.debug_struct("AnyRig")
            .field("kind", &kind)
            .field("name", &self.name())
            .finish()
    }
}
