//! A run: cases planned and dealt to a pool of rigs ([`runner`]), one case's
//! conversation with its rig ([`session`]), the promises checked in every
//! case whatever it says ([`invariants`]), what it keeps of it in bounded
//! memory ([`trace`], [`transcript`]), the codes it must never show
//! ([`privacy`], with the code scheme in [`backoffice`]), and how cases are
//! split between CI jobs ([`shard`]).

pub mod backoffice;
pub mod case;
pub mod invariants;
pub mod issuer;
pub mod obs;
pub mod plan;
pub mod privacy;
pub mod rules;
pub mod runner;
pub mod session;
pub mod shard;
pub mod state;
pub mod trace;
pub mod transcript;
pub mod verdict;

use crate::model::rigfile::RigDescription;
use crate::rigs::any::AnyRig;
use runner::RunEvent;
use std::sync::Arc;

/// Run `plan` on up to `jobs` rigs made from `desc` (see [`runner::run_until`]).
pub async fn run_plan(
    plan: Vec<runner::Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    on_event: impl FnMut(&RunEvent),
    stop: impl Future<Output = ()>,
) -> Option<Vec<runner::CaseReport>> {
    let jobs = jobs.min(AnyRig::at_most(&desc));
    let workers = jobs.min(plan.len());
    let d = desc.clone();
    let make = move |j| AnyRig::for_worker(&d, j, workers);
    runner::run_until(plan, jobs, desc, make, on_event, stop).await
}
