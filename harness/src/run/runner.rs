//! Runs cases on a pool of rigs and reports what happened.
//!
//! ```text
//! runner                     rig (sim / qemu / bench)            controller
//!   | prepare(seed) -------->  factory memory, fixtures at rest, power on
//!   |                    <---------------------------- HELLO proto build board
//!   |                    <---------------------------- EV ... diag done ok
//!   | act(key '1') ------->  keypad injector ---------> key press
//!   |                    <---------------------------- EV t keypad 1
//!   | expect: scan observations since the last action, pump until `within`
//! ```
//!
//! A case ends in one of four outcomes. `Failed` means the controller did
//! something wrong (a JUnit failure); `Error` means the rig or the harness
//! could not do its part (a JUnit error); the two are never mixed.

use crate::model::rigfile::RigDescription;
use crate::rigs::{FlashReport, Rig, RigError};
pub use crate::run::case::{BENCH_CASE_TIMEOUT, READY_TIMEOUT, run_case};
pub use crate::run::plan::{About, Planned, plan};
pub use crate::run::verdict::{Attempt, CaseReport, Outcome, not_run};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The step a case that no rig could take fails at: the rigs' flashing
/// (or making) failed, which the run reports once as [`RunEvent::RigBroken`].
pub const NO_RIG_STEP: &str = "flash";
/// Something the run reports as it goes; reporters listen, never steer.
#[derive(Debug)]
pub enum RunEvent {
    Started {
        cases: usize,
        jobs: usize,
    },
    RigReady {
        rig: String,
        flash: FlashReport,
    },
    /// A rig could not be made or flashed, so it takes no case: said once
    /// here, while the cases no rig could take say only that.
    RigBroken {
        rig: String,
        error: RigError,
    },
    /// A rig took a case (again, for a retry: `attempt` counts from 1).
    CaseStarted {
        index: usize,
        rig: String,
        case: String,
        attempt: u32,
    },
    CaseFinished(Box<CaseReport>),
}

/// Run `plan` on `jobs` rigs made by `make_rig`, reporting through `on_event`.
pub async fn run<R, F>(
    plan: Vec<Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    make_rig: F,
    on_event: impl FnMut(&RunEvent),
) -> Vec<CaseReport>
where
    R: Rig + 'static,
    F: Fn(usize) -> Result<R, RigError> + Send + Sync + 'static,
{
    run_until(plan, jobs, desc, make_rig, on_event, std::future::pending())
        .await
        .unwrap_or_default()
}

/// [`run`], stopped early when `stop` completes (Ctrl-C): cases in progress
/// are abandoned and their rigs dropped before this returns `None`, so no
/// emulator or port outlives the run. Finished cases were already reported.
pub async fn run_until<R, F>(
    plan: Vec<Planned>,
    jobs: usize,
    desc: Arc<RigDescription>,
    make_rig: F,
    mut on_event: impl FnMut(&RunEvent),
    stop: impl Future<Output = ()>,
) -> Option<Vec<CaseReport>>
where
    R: Rig + 'static,
    F: Fn(usize) -> Result<R, RigError> + Send + Sync + 'static,
{
    let jobs = jobs.clamp(1, plan.len().max(1));
    on_event(&RunEvent::Started {
        cases: plan.len(),
        jobs,
    });
    let pool = Arc::new(Pool {
        queue: Mutex::new(plan.into_iter().enumerate().collect()),
        requeued: Mutex::new(HashMap::new()),
        make_rig,
        desc,
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let workers: Vec<_> = (0..jobs)
        .map(|j| tokio::spawn(pool.clone().worker(j, tx.clone())))
        .collect();
    // The events end when the last worker is gone.
    drop(tx);
    let mut reports = Vec::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                // Reporters look; the run keeps the report.
                on_event(&ev);
                if let RunEvent::CaseFinished(r) = ev {
                    reports.push(*r);
                }
            }
            () = &mut stop => {
                // A flashing tool or an issuer in its own process group
                // did not get the terminal's signal: stop it here.
                crate::rigs::tool::stop_all();
                for w in &workers {
                    w.abort();
                }
                // Wait until every worker, and the rig it owned, is gone.
                for w in workers {
                    let _ = w.await;
                }
                return None;
            }
        }
    }
    // Cases no healthy rig could take are errors, never silently dropped;
    // rigs that broke the same way (a firmware that does not build) are
    // one reason, not one per rig.
    let mut why: Vec<String> = Vec::new();
    for w in workers {
        let reason = match w.await {
            Ok(Some(e)) => e.to_string(),
            Ok(None) => continue,
            Err(e) => format!("rig worker stopped: {e}"),
        };
        if !why.contains(&reason) {
            why.push(reason);
        }
    }
    let left: Vec<_> = (pool.queue.lock())
        .map(|mut q| q.drain(..).collect())
        .unwrap_or_default();
    for (i, p) in left {
        let message = format!("no healthy rig could run this case: {}", why.join("; "));
        let outcome = Outcome::Error {
            step: NO_RIG_STEP.into(),
            message,
        };
        let report = not_run(i, &p, &pool.desc.name, outcome);
        reports.push(report.clone());
        on_event(&RunEvent::CaseFinished(Box::new(report)));
    }
    reports.sort_by_key(|r| r.index);
    Some(reports)
}

/// What a run's rig workers share: the cases not yet taken, and those a
/// rig that broke under them sent back, with that first run.
struct Pool<F> {
    queue: Mutex<VecDeque<(usize, Planned)>>,
    requeued: Mutex<HashMap<usize, Attempt>>,
    make_rig: F,
    desc: Arc<RigDescription>,
}

type Events = tokio::sync::mpsc::UnboundedSender<RunEvent>;

impl<F> Pool<F> {
    fn take(&self) -> Option<(usize, Planned)> {
        self.queue.lock().map(|mut q| q.pop_front()).unwrap_or(None)
    }

    /// Rig `j`: made and flashed, then cases taken until none are left or
    /// the rig breaks. Why it left the pool, when it did.
    async fn worker<R>(self: Arc<Self>, j: usize, tx: Events) -> Option<RigError>
    where
        R: Rig,
        F: Fn(usize) -> Result<R, RigError>,
    {
        let broken = |rig: String, error: RigError| {
            let _ = tx.send(RunEvent::RigBroken {
                rig,
                error: error.clone(),
            });
            Some(error)
        };
        let (mut rig, mut flash) = match (self.make_rig)(j) {
            Ok(mut rig) => match rig.flash().await {
                Ok(f) => {
                    let _ = tx.send(RunEvent::RigReady {
                        rig: rig.name().to_owned(),
                        flash: f.clone(),
                    });
                    (rig, f)
                }
                Err(e) => return broken(rig.name().to_owned(), e),
            },
            Err(e) => return broken(format!("{}-{j}", self.desc.name), e),
        };
        let mut told = false;
        while let Some((i, p)) = self.take() {
            let mut report = self.with_retries(&mut rig, &flash, i, &p, &tx).await;
            // The flashing tool's output is told once, in the first case.
            if !flash.output.is_empty() && !told {
                told = true;
                flash.output = vec![format!(
                    "the flash command's output is in the transcript of {}::{}",
                    report.suite, report.name
                )];
            }
            // A rig that cannot even be brought to a known state is
            // unhealthy: it leaves the pool, and its case goes back once
            // for a healthy rig to take; its report says so.
            let sent_back = self.requeued.lock().ok().and_then(|mut r| r.remove(&i));
            if let Outcome::Error { step, message } = &report.outcome
                && step == "prepare"
            {
                let why = RigError::Console(format!(
                    "rig `{}` taken out of the pool: {message}",
                    rig.name()
                ));
                match sent_back {
                    None => {
                        if let Ok(mut r) = self.requeued.lock() {
                            r.insert(i, Attempt::of(&report));
                        }
                        if let Ok(mut q) = self.queue.lock() {
                            q.push_front((i, p));
                        }
                    }
                    Some(first) => {
                        report.attempts.insert(0, first);
                        let _ = tx.send(RunEvent::CaseFinished(Box::new(report)));
                    }
                }
                return Some(why);
            }
            if let Some(first) = sent_back {
                report.attempts.insert(0, first);
            }
            if tx.send(RunEvent::CaseFinished(Box::new(report))).is_err() {
                break;
            }
        }
        None
    }

    /// Case `i` run, and run again after a failure as often as it may be.
    /// A failure may be the controller's flakiness: each run has another
    /// seed (the sim's noise, a bench's timing differ anyway), and every
    /// failed run is kept in the report. Rig errors are not retried here:
    /// they are the rig's, not the case's, and a flaky pass must not hide
    /// them.
    async fn with_retries<R: Rig>(
        &self,
        rig: &mut R,
        flash: &FlashReport,
        i: usize,
        p: &Planned,
        tx: &Events,
    ) -> CaseReport {
        let rig_name = rig.name().to_owned();
        let started = |attempt: u32| RunEvent::CaseStarted {
            index: i,
            rig: rig_name.clone(),
            case: p.id(),
            attempt,
        };
        let _ = tx.send(started(1));
        let mut report = run_case(rig, &self.desc, flash, p, i).await;
        let mut attempts = Vec::new();
        while matches!(report.outcome, Outcome::Failed { .. })
            && attempts.len() < p.retries.unwrap_or(0) as usize
        {
            attempts.push(Attempt::of(&report));
            let _ = tx.send(started(attempts.len() as u32 + 1));
            let again = Planned {
                seed: p.seed.wrapping_add(attempts.len() as u64),
                ..p.clone()
            };
            report = run_case(rig, &self.desc, flash, &again, i).await;
        }
        report.attempts = attempts;
        report
    }
}
