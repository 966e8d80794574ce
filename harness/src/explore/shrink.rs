//! A failing scenario made small: fewer steps, shorter waits, simpler
//! values, fewer parcels, for as long as it still fails the same way.
//!
//! Delta debugging over the steps (halves, quarters, ... single steps
//! removed while the failure stays), then each step made simpler in turn,
//! round after round until a round changes nothing or the runs allowed are
//! spent. Every candidate is a whole case run on the rig: nothing is
//! assumed about which steps matter.

use crate::explore::scenario::{Act, Scenario};
use crate::model::suite::{KeyText, UpDown};

/// Durations a shorter wait or cut is tried at, shortest first.
const NICE_MS: [u64; 22] = [
    10,
    100,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_200_000,
    1_800_000,
    2_700_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
];
/// Clock offsets a smaller drift is tried at (seconds), smallest first.
const NICE_DRIFT_S: [i64; 6] = [30, 240, 360, 3_600, 86_400, 259_200];

/// What shrinking came to.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// Cases run to get there.
    pub runs: u32,
}

/// Shrink `failing` while `still_fails` says a candidate fails the same
/// way, in at most `limit` runs.
pub async fn shrink(
    failing: Scenario,
    limit: u32,
    mut still_fails: impl AsyncFnMut(&Scenario) -> bool,
) -> Shrunk {
    let mut best = failing;
    let mut runs = 0u32;
    let mut attempt = async |cand: &Scenario, runs: &mut u32| -> bool {
        if *runs >= limit {
            return false;
        }
        *runs += 1;
        still_fails(cand).await
    };
    loop {
        let before = best.clone();
        // Steps, by halves down to one at a time.
        let mut size = best.steps.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            while i < best.steps.len() {
                let mut cand = best.clone();
                let end = (i + size).min(cand.steps.len());
                cand.steps.drain(i..end);
                if attempt(&cand, &mut runs).await {
                    best = cand;
                } else {
                    i += size;
                }
            }
            if size == 1 {
                break;
            }
            size = size.div_ceil(2);
        }
        // Neighbours together, at every offset (a code issued and typed).
        let mut i = 0;
        while i + 1 < best.steps.len() {
            let mut cand = best.clone();
            cand.steps.drain(i..i + 2);
            if attempt(&cand, &mut runs).await {
                best = cand;
            } else {
                i += 1;
            }
        }
        // Parcels stocked at the start, one at a time.
        let mut i = 0;
        while i < best.setup.len() {
            let mut cand = best.clone();
            cand.setup.remove(i);
            if attempt(&cand, &mut runs).await {
                best = cand;
            } else {
                i += 1;
            }
        }
        // What the tail restores, where the failure does not need it (the
        // last wait, which gives the controller time, stays).
        let mut i = 0;
        while i + 1 < best.tail.len() {
            let mut cand = best.clone();
            cand.tail.remove(i);
            if attempt(&cand, &mut runs).await {
                best = cand;
            } else {
                i += 1;
            }
        }
        // Each step made simpler, the simplest form that still fails.
        for i in 0..best.steps.len() {
            for simpler in simpler(&best.steps[i]) {
                let mut cand = best.clone();
                cand.steps[i] = simpler;
                if attempt(&cand, &mut runs).await {
                    best = cand;
                    break;
                }
            }
        }
        if best == before || runs >= limit {
            return Shrunk {
                scenario: best,
                runs,
            };
        }
    }
}

/// `keys` with each `$variable` as the digits of a code of its kind that
/// nobody issued: 8 for pickup codes (`$p`, `$x`), 10 for service codes.
fn plain(keys: &str) -> String {
    let digits = |var: &str| {
        let len = match var.chars().next() {
            Some('p' | 'x') => 8,
            _ => 10,
        };
        Some("1".repeat(len))
    };
    (KeyText::parse(keys).and_then(|k| k.expand(digits))).unwrap_or_else(|_| keys.to_owned())
}

/// Simpler forms of a step, simplest first.
fn simpler(act: &Act) -> Vec<Act> {
    let shorter = |ms: u64| NICE_MS.into_iter().filter(move |n| *n < ms);
    match act {
        Act::Wait { ms } => shorter(*ms).map(|ms| Act::Wait { ms }).collect(),
        Act::PowerCycle { off_ms } => shorter(*off_ms)
            .map(|off_ms| Act::PowerCycle { off_ms })
            .collect(),
        Act::Brownout { decivolts, ms } => shorter(*ms)
            .map(|ms| Act::Brownout {
                decivolts: *decivolts,
                ms,
            })
            .collect(),
        Act::Drift { s } => (NICE_DRIFT_S.into_iter())
            .filter(|n| *n < s.abs())
            .map(|n| Act::Drift { s: n * s.signum() })
            .collect(),
        Act::Chamber {
            centi,
            ramp_per_h: Some(_),
        } => vec![Act::Chamber {
            centi: *centi,
            ramp_per_h: None,
        }],
        Act::Help(n) if *n > 1 => (1..*n).map(Act::Help).collect(),
        // A code typed: as plain digits of its length (a code issued only
        // to be refused is then not needed).
        Act::Keys(k) if k.contains('$') => vec![Act::Keys(plain(k))],
        Act::Link {
            primary: Some(p),
            secondary: Some(s),
        } => vec![
            Act::Link {
                primary: Some(*p),
                secondary: None,
            },
            Act::Link {
                primary: None,
                secondary: Some(*s),
            },
        ],
        Act::Link {
            primary: None,
            secondary: Some(UpDown::Down),
        } => vec![Act::Link {
            primary: Some(UpDown::Down),
            secondary: None,
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(steps: Vec<Act>) -> Scenario {
        Scenario {
            seed: 1,
            setup: vec![
                Act::Parcel {
                    c: 0,
                    var: "p1".into(),
                },
                Act::Parcel {
                    c: 1,
                    var: "p2".into(),
                },
            ],
            steps,
            tail: vec![Act::Wait { ms: 120_000 }],
        }
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A failure that needs five wrong codes and then a power cut of at
    /// least a second, in that order, with nothing else: what is left is
    /// exactly that.
    #[test]
    fn only_what_the_failure_needs_is_left() {
        let mut steps = Vec::new();
        for i in 0..12 {
            steps.push(Act::Wait { ms: 40_000 });
            steps.push(Act::Keys(format!("1234567{}#", i % 10)));
            steps.push(Act::Help(3));
        }
        steps.push(Act::PowerCycle { off_ms: 240_000 });
        steps.push(Act::Keys("$p1#".into()));
        let fails = async |s: &Scenario| {
            let wrong = (s.steps.iter())
                .position(|a| matches!(a, Act::PowerCycle { off_ms } if *off_ms >= 1_000))
                .map(|cut| {
                    (s.steps[..cut].iter())
                        .filter(|a| matches!(a, Act::Keys(k) if !k.starts_with('$')))
                        .count()
                });
            wrong.is_some_and(|n| n >= 5)
        };
        let out = block_on(shrink(scenario(steps), 10_000, fails));
        let s = &out.scenario;
        assert!(s.setup.is_empty(), "{s:?}");
        assert_eq!(s.steps.len(), 6, "{s:?}");
        assert_eq!(s.steps[5], Act::PowerCycle { off_ms: 1_000 });
        assert!(out.runs < 1_000, "{} runs", out.runs);
    }

    #[test]
    fn a_typed_code_becomes_digits_of_its_length() {
        assert_eq!(plain("*$p1#"), "*11111111#");
        assert_eq!(plain("$x12#"), "11111111#");
        assert_eq!(plain("$d3#"), "1111111111#");
        assert_eq!(plain("12#"), "12#");
    }

    #[test]
    fn shrinking_stops_at_its_limit() {
        let steps = vec![Act::Wait { ms: 10_000 }; 40];
        let out = block_on(shrink(scenario(steps), 7, async |_| false));
        assert_eq!(out.runs, 7);
        assert_eq!(out.scenario.steps.len(), 40);
    }
}
