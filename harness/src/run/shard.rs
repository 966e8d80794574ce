//! Splitting a run over CI runners: `--shard K/N` picks the K-th of N
//! disjoint parts of the plan, deterministically, so N jobs on N runners
//! (the CI system's own matrix, each runner with its rig) together run
//! every case exactly once; `harness report merge` puts their reports back
//! together.
//!
//! Without history the cases are dealt round-robin in plan order, which
//! keeps the parts within one case of each other. With a previous report
//! (`--durations reports/junit.xml`) they are balanced by time: longest
//! first, each to the part with the least time so far (the LPT rule, within
//! 4/3 of the best split); a case the report does not know is counted at the
//! median of the ones it does.

use crate::run::plan::Planned;
use std::collections::HashMap;
use std::time::Duration;

/// The K-th (1-based) of N parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected K/N with 1 <= K <= N, such as 2/3");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Self { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Which part each case of `plan` goes to (0-based), by plan position.
pub fn assign(
    plan: &[Planned],
    n: usize,
    durations: Option<&HashMap<String, Duration>>,
) -> Vec<usize> {
    let n = n.max(1);
    let Some(known) = durations.filter(|d| !d.is_empty()) else {
        return (0..plan.len()).map(|i| i % n).collect();
    };
    let recorded: Vec<Option<Duration>> =
        plan.iter().map(|p| known.get(&p.id()).copied()).collect();
    let mut times: Vec<Duration> = recorded.iter().flatten().copied().collect();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    let cost: Vec<Duration> = recorded.iter().map(|t| t.unwrap_or(median)).collect();
    // Longest first; ties in plan order, so the split never depends on
    // anything but the plan and the report.
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by(|&a, &b| cost[b].cmp(&cost[a]).then(a.cmp(&b)));
    let mut load = vec![(Duration::ZERO, 0usize); n];
    let mut part = vec![0; plan.len()];
    for i in order {
        // Least time so far; then fewest cases; then the lowest part.
        let best = (0..n)
            .min_by_key(|&s| (load[s].0, load[s].1, s))
            .unwrap_or(0);
        load[best].0 += cost[i];
        load[best].1 += 1;
        part[i] = best;
    }
    part
}

/// The cases of `plan` in `shard`, in plan order.
pub fn select(
    plan: Vec<Planned>,
    shard: Shard,
    durations: Option<&HashMap<String, Duration>>,
) -> Vec<Planned> {
    let part = assign(&plan, shard.n, durations);
    plan.into_iter()
        .zip(part)
        .filter(|(_, s)| *s == shard.k - 1)
        .map(|(p, _)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn plan(n: usize) -> Vec<Planned> {
        let suites = crate::model::load_suites(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/code-entry.yaml")
        ])
        .unwrap_or_else(|e| panic!("{}", e[0]));
        let one = crate::run::plan::plan(&suites, |_, _| true).remove(0);
        (0..n)
            .map(|i| {
                let mut p = one.clone();
                p.case.name = format!("case {i}");
                p
            })
            .collect()
    }

    #[rstest]
    #[case("1/3", Ok(Shard { k: 1, n: 3 }))]
    #[case(" 3 / 3 ", Ok(Shard { k: 3, n: 3 }))]
    #[case("0/3", Err(()))]
    #[case("4/3", Err(()))]
    #[case("2", Err(()))]
    #[case("a/b", Err(()))]
    fn shards_parse(#[case] text: &str, #[case] want: Result<Shard, ()>) {
        assert_eq!(text.parse::<Shard>().map_err(|_| ()), want);
    }

    proptest! {
        /// Every case lands in exactly one part, whatever the plan size,
        /// the number of parts and the recorded durations; without
        /// durations the parts differ by at most one case.
        #[test]
        fn parts_cover_the_plan_exactly_once(
            cases in 0usize..60,
            n in 1usize..9,
            times in proptest::collection::vec(proptest::option::of(0u64..100_000), 60),
        ) {
            let plan = plan(cases);
            let known: HashMap<String, Duration> = (plan.iter().zip(&times))
                .filter_map(|(p, t)| t.map(|t| (p.id(), Duration::from_millis(t))))
                .collect();
            for durations in [None, Some(&known)] {
                let mut seen = vec![0; cases];
                let mut sizes = Vec::new();
                for k in 1..=n {
                    let part = select(plan.clone(), Shard { k, n }, durations);
                    sizes.push(part.len());
                    for p in part {
                        let i = plan.iter().position(|q| q.id() == p.id()).unwrap_or(usize::MAX);
                        seen[i] += 1;
                    }
                }
                prop_assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
                if durations.is_none() {
                    let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
                    prop_assert!(hi.zip(lo).is_none_or(|(h, l)| h - l <= 1), "{sizes:?}");
                }
            }
        }
    }

    #[test]
    fn durations_balance_the_parts() {
        // One long case and many short ones: the long one gets a part to itself.
        let plan = plan(7);
        let mut known = HashMap::new();
        known.insert(plan[3].id(), Duration::from_secs(60));
        for p in plan.iter().filter(|p| p.id() != plan[3].id()) {
            known.insert(p.id(), Duration::from_secs(10));
        }
        let part = assign(&plan, 2, Some(&known));
        let alone: Vec<_> = (0..7).filter(|&i| part[i] == part[3]).collect();
        assert_eq!(alone, [3]);
    }

    #[test]
    fn the_split_is_the_same_every_time() {
        let plan = plan(20);
        let a = assign(&plan, 3, None);
        assert_eq!(a, assign(&plan, 3, None));
        assert_eq!(&a[..6], &[0, 1, 2, 0, 1, 2]);
    }
}
