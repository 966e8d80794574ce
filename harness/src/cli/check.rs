//! `harness list` and `harness check`.

use crate::cli::{CheckArgs, Exit, ListArgs, load_rig_for, report_errors, select};
use crate::model::load_suites;
use crate::report;

pub(super) fn list(a: ListArgs) -> Exit {
    let (suites, plan) = match select(&a.sel) {
        Ok(x) => x,
        Err(e) => return e,
    };
    for p in &plan {
        let suite = suites
            .iter()
            .find(|(_, s)| s.name == p.suite)
            .map(|(_, s)| s);
        let mut tags = p.case.tags.clone();
        for t in suite.map(|s| s.tags.as_slice()).unwrap_or_default() {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        if a.json {
            let obj = serde_json::json!({
                "suite": p.suite,
                "name": p.case.name,
                "tags": tags,
                "file": p.suite_file.display().to_string(),
                "skip": p.case.skip,
                "skip-on": p.case.skip_on,
                "retries": p.retries,
                "quarantine": p.quarantine.as_ref().map(|q| serde_json::json!({
                    "reason": q.reason,
                    "link": q.link,
                })),
            });
            out!("{obj}");
        } else {
            let quarantined = if p.quarantine.is_some() {
                "  (quarantined)"
            } else {
                ""
            };
            out!(
                "{}  [{}]{quarantined}",
                report::terminal::printable(&p.id()),
                report::terminal::printable(&tags.join(", "))
            );
        }
    }
    Exit::Ok
}

pub(super) fn check(a: CheckArgs) -> Exit {
    let suites = match load_suites(&a.suites) {
        Ok(s) => s,
        Err(e) => return report_errors(&e),
    };
    let rig = match load_rig_for(&suites, &a.rig) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let cases: usize = suites.iter().map(|(_, s)| s.cases.len()).sum();
    out!(
        "ok: {} suites, {cases} cases, rig {}",
        suites.len(),
        rig.name
    );
    Exit::Ok
}
