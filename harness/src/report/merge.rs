//! `harness report merge`: the JUnit files of a sharded run (or of runs on
//! several rigs) as one report, in the order an unsharded run writes it.
//!
//! Test suites with the same name become one; their cases keep their
//! properties, reruns and output, and are put back in plan order (the
//! `order` property the harness writes); counts and times are summed anew.
//! A case found in two files means the shards overlapped: that is an error,
//! not something to resolve quietly.

use quick_junit::{Report, TestCase, TestSuite};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The property holding a case's position in the whole plan.
pub const ORDER: &str = "order";

fn order(c: &TestCase) -> Option<usize> {
    (c.properties.iter())
        .find(|p| p.name.as_str() == ORDER)
        .and_then(|p| p.value.as_str().parse().ok())
}

/// A case with its plan order (if it has one) and the order it came in.
type Placed = (Option<usize>, usize, TestCase);

/// Case durations (`suite::case` -> time) from a JUnit report: what
/// `--shard` balances by when `--durations` names an earlier run's report.
pub fn durations(xml: &str) -> Result<HashMap<String, Duration>, String> {
    let report = Report::deserialize_from_str(xml).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for s in &report.test_suites {
        for c in &s.test_cases {
            let suite = c.classname.as_ref().map_or(s.name.as_str(), |c| c.as_str());
            if let Some(t) = c.time {
                out.insert(format!("{suite}::{}", c.name.as_str()), t);
            }
        }
    }
    Ok(out)
}

/// Merge the reports in `files`; errors name the file.
pub fn merge(files: &[PathBuf]) -> Result<Report, String> {
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut cases: Vec<Vec<Placed>> = Vec::new();
    let mut from: HashMap<(String, String), &Path> = HashMap::new();
    let mut arrival = 0;
    let mut total = Duration::ZERO;
    let mut timestamp = None;
    for file in files {
        let xml = crate::model::input::read_string(
            file,
            crate::model::input::REPORT_LIMIT,
            "JUnit reports",
        )
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
        let report = Report::deserialize_from_str(&xml)
            .map_err(|e| format!("{}: not a JUnit report: {e}", file.display()))?;
        total += report.time.unwrap_or_default();
        timestamp = match (timestamp, report.timestamp) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
        for suite in report.test_suites {
            let pos = match suites.iter().position(|s| s.name == suite.name) {
                Some(p) => p,
                None => {
                    let mut s = TestSuite::new(suite.name.clone());
                    s.add_properties(suite.properties.iter().cloned());
                    s.timestamp = suite.timestamp;
                    suites.push(s);
                    cases.push(Vec::new());
                    suites.len() - 1
                }
            };
            if let (Some(a), Some(b)) = (suites[pos].timestamp, suite.timestamp) {
                suites[pos].timestamp = Some(a.min(b));
            }
            for mut case in suite.test_cases {
                // Each part that did not finish says so; all of them stay,
                // each naming its file.
                if suite.name.as_str() == super::RUN_SUITE {
                    case.name = format!("{} ({})", case.name.as_str(), file.display()).into();
                }
                let key = (suite.name.to_string(), case.name.to_string());
                if let Some(first) = from.insert(key, file) {
                    return Err(format!(
                        "case `{}::{}` is in both {} and {}: the shards overlap",
                        suite.name.as_str(),
                        case.name.as_str(),
                        first.display(),
                        file.display()
                    ));
                }
                cases[pos].push((order(&case), arrival, case));
                arrival += 1;
            }
        }
    }
    // Suites by their first case in plan order, cases by plan order; what
    // has no order keeps the order it came in.
    let first = |cs: &[Placed]| {
        cs.iter()
            .map(|(o, a, _)| (o.unwrap_or(usize::MAX), *a))
            .min()
    };
    let mut merged: Vec<(TestSuite, Vec<Placed>)> = suites.into_iter().zip(cases).collect();
    merged.sort_by_key(|(_, cs)| first(cs));
    let mut out = Report::new("locker-hil");
    for (mut suite, mut cs) in merged {
        cs.sort_by_key(|(o, a, _)| (o.unwrap_or(usize::MAX), *a));
        let time: Duration = cs.iter().filter_map(|(_, _, c)| c.time).sum();
        for (_, _, c) in cs {
            suite.add_test_case(c);
        }
        suite.set_time(time);
        out.add_test_suite(suite);
    }
    out.set_time(total);
    if let Some(t) = timestamp {
        out.set_timestamp(t);
    }
    Ok(out)
}
