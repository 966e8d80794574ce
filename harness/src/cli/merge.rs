//! `harness report merge`: shards' reports into one.

use crate::cli::{Exit, check_outputs};
use crate::report;
use std::path::{Path, PathBuf};

/// `harness report merge`: exit 0, or 2 when an input is unreadable or the
/// inputs overlap.
pub(super) fn report_merge(files: &[PathBuf], output: &Path, html: Option<&Path>) -> Exit {
    let (pages, junits): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|f| f.extension().is_some_and(|x| x == "html" || x == "htm"));
    match (pages.is_empty(), html) {
        (false, None) => {
            eprintln!("error: HTML pages to merge, but no --html to write them to");
            return Exit::BadInput;
        }
        (true, Some(_)) => {
            eprintln!("error: --html given, but no .html pages among the inputs");
            return Exit::BadInput;
        }
        _ => {}
    }
    if junits.is_empty() {
        eprintln!("error: no JUnit files among the inputs");
        return Exit::BadInput;
    }
    let outputs: Vec<(&str, &Path)> = [("-o", Some(output)), ("--html", html)]
        .into_iter()
        .filter_map(|(flag, p)| Some((flag, p?)))
        .collect();
    let inputs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    if let Err(e) = check_outputs(&outputs, &inputs) {
        return e;
    }
    let merged = match report::merge::merge(&junits) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let page = match html {
        None => None,
        Some(out) => {
            let mut texts = Vec::new();
            for p in &pages {
                match crate::model::input::read_string(
                    p,
                    crate::model::input::REPORT_LIMIT,
                    "HTML pages",
                ) {
                    Ok(t) => texts.push((p.display().to_string(), t)),
                    Err(e) => {
                        eprintln!("error: {}: cannot read: {e}", p.display());
                        return Exit::BadInput;
                    }
                }
            }
            match report::html::merge(&texts) {
                Ok(page) => Some((out, page)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::BadInput;
                }
            }
        }
    };
    if let Err(e) = report::write_report(output, &merged) {
        eprintln!("error: {e}");
        return Exit::RigError;
    }
    if let Some((out, page)) = page
        && let Err(e) = report::write_atomic(out, page.as_bytes())
    {
        eprintln!("error: cannot write {}: {e}", out.display());
        return Exit::RigError;
    }
    let cases: usize = merged.test_suites.iter().map(|s| s.test_cases.len()).sum();
    out!(
        "merged {} report(s): {} suites, {cases} cases ({} failures, {} errors) into {}{}",
        junits.len(),
        merged.test_suites.len(),
        merged.failures,
        merged.errors,
        output.display(),
        html.map(|h| format!(" and {} page(s) into {}", pages.len(), h.display()))
            .unwrap_or_default()
    );
    Exit::Ok
}
