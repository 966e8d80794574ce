//! A run: cases planned and dealt to a pool of rigs ([`runner`]), one case's
//! conversation with its rig ([`session`]), what it keeps of it in bounded
//! memory ([`trace`], [`transcript`]), the codes it must never show
//! ([`privacy`], with the code scheme in [`backoffice`]), and how cases are
//! split between CI jobs ([`shard`]).

pub mod backoffice;
pub mod privacy;
pub mod runner;
pub mod session;
pub mod shard;
pub mod trace;
pub mod transcript;

use crate::model::rigfile::{RigDescription, RigKind};
use crate::rigs::qemu::QemuRig;
use crate::rigs::sim::SimRig;
use runner::RunEvent;
use std::sync::Arc;

/// Run `plan` on `jobs` rigs of the kind `desc` describes (see [`runner::run_until`]).
pub async fn run_plan(
    plan: Vec<runner::Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    on_event: impl FnMut(&RunEvent),
    stop: impl Future<Output = ()>,
) -> Option<Vec<runner::CaseReport>> {
    let d = desc.clone();
    // Several rigs from one file are told apart: `sim-0`, `sim-1`, ...
    let workers = jobs.min(plan.len());
    let name = move |j: usize| match workers {
        0 | 1 => d.name.clone(),
        _ => format!("{}-{j}", d.name),
    };
    let d = desc.clone();
    match &desc.kind {
        RigKind::Sim(_) => {
            let make = move |j| Ok(SimRig::new((*d).clone()).named(name(j)));
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
        RigKind::Qemu { .. } => {
            let make = move |j| Ok(QemuRig::for_worker((*d).clone(), j)?.named(name(j)));
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
        RigKind::Bench(_) => {
            // One controller, one rig: cases run one after another.
            let jobs = 1;
            let make = move |_| crate::rigs::bench::BenchRig::new((*d).clone());
            runner::run_until(plan, jobs, desc, make, on_event, stop).await
        }
    }
}
