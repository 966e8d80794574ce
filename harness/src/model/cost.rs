//! What a case costs in wall time on a rig whose time is the wall clock (a
//! bench): every wait it makes on purpose is spent for real, where a sim
//! or qemu rig skips through it. `harness list --rig` shows the estimate
//! for each case, and `harness run` on a bench warns before it starts when
//! the plan would take longer than `--max-wall`, naming the longest cases.
//!
//! The estimate is what the case waits by design: `wait:`, the whole
//! `for` of every `absent:`, key presses at their interval, power off
//! times, a typical `within` spent by each expectation, `wait-until`
//! (at most a day), and the controller's boot before each case. An
//! expectation met early and a controller slower than the reference make
//! the real figure differ, but never by days.

use crate::model::rigfile::{RigDescription, RigKind};
use crate::model::suite::{Case, PowerAction, Step, Waits};
use std::time::Duration;

/// The shortest wait a bench takes by moving the clocks rather than
/// waiting (in a case whose waits mean calendar time).
pub const SHORTEN_FROM: Duration = Duration::from_secs(10 * 60);
/// After the clocks move, the controller is given this long for its
/// periodic work to see the new date (the reference firmware looks at its
/// parcels' expiry every 10 s of uptime) before the case goes on.
pub const CLOCK_SETTLE: Duration = Duration::from_secs(15);
/// What a wait taken by moving the clocks costs: the clock set, answered,
/// and the controller's time to see it.
pub const SHORTENED: Duration = Duration::from_secs(16);

/// Whether `rig` takes `case`'s long waits by moving the clocks: a
/// wall-clock rig whose controller can be told the time (the framed
/// protocol's `CLOCK`, a dialect's `commands.clock`), in a case whose
/// waits mean calendar time.
pub fn moves_clocks(rig: &RigDescription, case: &Case) -> bool {
    let told = rig
        .dialect
        .as_ref()
        .is_none_or(|d| d.commands.clock.is_some());
    matches!(rig.kind, RigKind::Bench(_)) && told && case.waits != Some(Waits::Real)
}

/// A bench controller's factory reset, boot and self-test before each case
/// (the reference firmware: about 3 s).
pub const BOOT: Duration = Duration::from_secs(3);
/// What an expectation that is met typically costs: the controller's
/// reaction (a door, a display) takes well under a second.
pub const EXPECTATION: Duration = Duration::from_millis(500);
/// A courier's drop-off: its code typed, the door opened, the package in
/// and the door pushed shut.
pub const PARCEL: Duration = Duration::from_secs(4);
/// The digits of a code typed from a variable.
const CODE_DIGITS: usize = 8;

/// The wall time `case` takes on a wall-clock rig; `moves` when the rig
/// takes its long waits by moving the clocks ([`moves_clocks`]).
pub fn wall(case: &Case, moves: bool) -> Duration {
    BOOT + case
        .sections()
        .iter()
        .map(|(_, steps)| steps_wall(steps, moves))
        .sum::<Duration>()
}

fn steps_wall(steps: &[Step], moves: bool) -> Duration {
    steps.iter().map(|s| step_wall(s, moves)).sum()
}

fn step_wall(step: &Step, moves: bool) -> Duration {
    let waited = |d: Duration| {
        if moves && d >= SHORTEN_FROM {
            SHORTENED
        } else {
            d
        }
    };
    match step {
        Step::Wait(d) => waited(*d),
        // Until that second of the day comes round: at most a day; half
        // of one on average, but a bench run is planned for the worst.
        // Moving the clocks, one shorter than SHORTEN_FROM is still waited.
        Step::WaitUntil { .. } if moves => SHORTEN_FROM.max(SHORTENED),
        Step::WaitUntil { .. } => Duration::from_secs(86_400),
        Step::Keys { text, interval } => {
            *interval * u32::try_from(text.presses(CODE_DIGITS)).unwrap_or(u32::MAX)
        }
        Step::Help { presses } => crate::model::suite::DEFAULT_KEY_INTERVAL * *presses,
        Step::Power(PowerAction::Cycle { off_for }) => *off_for + BOOT,
        Step::Power(PowerAction::Brownout { for_, .. }) => *for_ + BOOT,
        Step::Power(PowerAction::On) => BOOT,
        Step::Parcel { .. } => PARCEL,
        Step::Expect(e) => e.within.min(EXPECTATION),
        Step::Absent(a) => a.for_,
        Step::State(h) => match h.how {
            crate::model::suite::HoldsHow::Within(w) => w.min(EXPECTATION),
            crate::model::suite::HoldsHow::For(d) => d,
        },
        Step::Repeat { times, steps } => steps_wall(steps, moves) * *times,
        _ => Duration::ZERO,
    }
}

/// The waits in `case` that take longest, longest first: what makes it
/// long (`wait 3d`, `absent ... for 1h`).
pub fn longest_waits(case: &Case, moves: bool, n: usize) -> Vec<(Duration, String)> {
    let mut waits = Vec::new();
    for (_, steps) in case.sections() {
        collect(steps, 1, moves, &mut waits);
    }
    waits.sort_by_key(|w| std::cmp::Reverse(w.0));
    waits.truncate(n);
    waits
}

fn collect(steps: &[Step], times: u32, moves: bool, out: &mut Vec<(Duration, String)>) {
    for s in steps {
        match s {
            Step::Repeat { times: t, steps } => {
                collect(steps, times.saturating_mul(*t), moves, out)
            }
            s => {
                let d = step_wall(s, moves) * times;
                if d >= Duration::from_secs(60) {
                    let shown = if times > 1 {
                        format!("`{s}` x{times}")
                    } else {
                        format!("`{s}`")
                    };
                    out.push((d, shown));
                }
            }
        }
    }
}
