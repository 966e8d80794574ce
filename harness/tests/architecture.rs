//! The rooms of `harness/src` as `lib.rs` maps them, read from the code
//! itself: every `crate::` path a module names (outside its tests and
//! comments) is a use of the module it leads to. No room may use a room
//! below it (model <- rigs <- run <- explore <- report <- cli), and no modules may use
//! each other round in a circle (issue 15).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOMS: [&str; 6] = ["model", "rigs", "run", "explore", "report", "cli"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `rigs/bench/mod.rs` -> `rigs/bench`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let rel = rel.to_string_lossy().replace('\\', "/");
    rel.strip_suffix("/mod").unwrap_or(&rel).to_owned()
}

/// The code of a file without its line comments and its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module each module uses.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let me = module_of(&src, f);
        if me == "lib" || me == "main" {
            continue;
        }
        let text = code(&std::fs::read_to_string(f).unwrap());
        let mut used = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let path: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            // The longest prefix of the path that is a module.
            let target = (1..=parts.len())
                .rev()
                .map(|n| parts[..n].join("/"))
                .find(|m| modules.contains(m));
            if let Some(t) = target
                && t != me
                && !me.starts_with(&format!("{t}/"))
            {
                used.insert(t);
            }
        }
        graph.insert(me, used);
    }
    graph
}

fn room(module: &str) -> usize {
    let top = module.split('/').next().unwrap_or("");
    ROOMS.iter().position(|r| *r == top).unwrap_or(usize::MAX)
}

#[test]
fn no_room_uses_a_room_below_it() {
    let graph = uses();
    assert!(graph.len() > 40, "{} modules read", graph.len());
    let upward: Vec<String> = (graph.iter())
        .flat_map(|(m, used)| used.iter().map(move |u| (m, u)))
        .filter(|(m, u)| room(u) > room(m))
        .map(|(m, u)| format!("{m} uses {u}"))
        .collect();
    assert!(upward.is_empty(), "{upward:#?}");
}

#[test]
fn no_modules_use_each_other_round_in_a_circle() {
    let graph = uses();
    // Depth-first, with the path so far: a module met again on it closes a circle.
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<String>,
    ) {
        let here = path.last().cloned().unwrap_or_default();
        for next in graph.get(&here).into_iter().flatten() {
            if let Some(i) = path.iter().position(|m| m == next) {
                found.push(format!("{} -> {next}", path[i..].join(" -> ")));
            } else if !done.contains(next) {
                path.push(next.clone());
                walk(graph, path, done, found);
                path.pop();
            }
        }
        done.insert(here);
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if !done.contains(m) {
            walk(&graph, &mut vec![m.clone()], &mut done, &mut found);
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
