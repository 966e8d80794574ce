//! Report paths, checked before anything runs: a report only ever replaces
//! a regular file (never a device node, a link, a folder or a FIFO), never
//! one of the run's own inputs, and two reports never share a file. A path
//! that cannot be right is bad input (exit 2); one that is right but cannot
//! be written here (a read-only folder, `/sys`) is the machine's problem
//! (exit 3). Either way nothing has run yet, so no result is lost.

use std::path::{Path, PathBuf};

/// Why a report path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The path names something a report must not replace: exit 2.
    Wrong(String),
    /// The path is fine but cannot be written: exit 3.
    Unwritable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wrong(m) | Self::Unwritable(m) => f.write_str(m),
        }
    }
}

/// Whether a report may replace what is at `path`: nothing there yet, or a
/// regular file. Checked again by [`super::write_atomic`] at every write.
pub fn replaceable(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(format!(
            "{} is {}; reports are written only to regular files, never through or over anything else",
            path.display(),
            crate::model::input::kind(m.file_type())
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A path as the file system resolves it: its folder made canonical (the
/// file itself may not exist yet, and a link to it is refused anyway).
fn resolved(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// Check `outputs` (`(flag, path)`) against each other and against the
/// run's `inputs`, and make sure each can be written, creating its folder.
pub fn check(outputs: &[(&str, &Path)], inputs: &[&Path]) -> Result<(), Refused> {
    for (flag, path) in outputs {
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            return Err(Refused::Wrong(format!(
                "{flag} `{}` names no file",
                path.display()
            )));
        }
        replaceable(path).map_err(|e| Refused::Wrong(format!("{flag} {e}")))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Refused::Unwritable(format!(
                    "{flag} {}: cannot create its folder {}: {e}",
                    path.display(),
                    dir.display()
                ))
            })?;
        }
    }
    let inputs: Vec<(PathBuf, &Path)> = (inputs.iter())
        .filter_map(|p| Some((p.canonicalize().ok()?, *p)))
        .collect();
    let mut seen: Vec<(PathBuf, &str)> = Vec::new();
    for (flag, path) in outputs {
        let at = resolved(path).ok_or_else(|| {
            Refused::Unwritable(format!(
                "{flag} {}: its folder cannot be read",
                path.display()
            ))
        })?;
        if let Some((_, other)) = seen.iter().find(|(p, _)| *p == at) {
            return Err(Refused::Wrong(format!(
                "{other} and {flag} both name {}: each report needs a file of its own",
                path.display()
            )));
        }
        if let Some((_, input)) = inputs.iter().find(|(p, _)| *p == at) {
            return Err(Refused::Wrong(format!(
                "{flag} {} is {}, an input of this run: a report never overwrites an input",
                path.display(),
                input.display()
            )));
        }
        seen.push((at, flag));
        probe(flag, path)?;
    }
    Ok(())
}

/// Write and remove a file beside `path`: the report's own write would do
/// exactly this (a temporary file, then a rename), so it will succeed.
fn probe(flag: &str, path: &Path) -> Result<(), Refused> {
    let tmp = super::temp_beside(path);
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp);
    match made {
        Ok(_) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
        Err(e) => Err(Refused::Unwritable(format!(
            "{flag} {}: cannot write there: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong(r: Result<(), Refused>) -> String {
        match r {
            Err(Refused::Wrong(m)) => m,
            other => panic!("not refused as wrong: {other:?}"),
        }
    }

    #[test]
    fn devices_links_folders_and_fifos_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let m = wrong(check(&[("--junit", Path::new("/dev/null"))], &[]));
        assert_eq!(
            m,
            "--junit /dev/null is a character device; reports are written only to regular files, never through or over anything else"
        );
        let target = dir.path().join("elsewhere.xml");
        std::fs::write(&target, "keep").unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("link.xml");
        std::os::unix::fs::symlink(&target, &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(wrong(check(&[("--junit", &link)], &[])).contains("is a symbolic link"));
        assert!(wrong(check(&[("--html", dir.path())], &[])).contains("is a folder"));
        let fifo = dir.path().join("fifo.xml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(wrong(check(&[("--junit", &fifo)], &[])).contains("is a FIFO"));
        }
        assert_eq!(
            std::fs::read_to_string(&target).ok().as_deref(),
            Some("keep")
        );
    }

    #[test]
    fn reports_never_share_a_file_or_name_an_input() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let suite = dir.path().join("suite.yaml");
        std::fs::write(&suite, "name: x").unwrap_or_else(|e| panic!("{e}"));
        let same = dir.path().join("r.xml");
        let also = dir.path().join("sub/../r.xml");
        std::fs::create_dir(dir.path().join("sub")).unwrap_or_else(|e| panic!("{e}"));
        let m = wrong(check(&[("--junit", &same), ("--html", &also)], &[]));
        assert!(m.starts_with("--junit and --html both name"), "{m}");
        let m = wrong(check(&[("--junit", &suite)], &[&suite]));
        assert!(m.contains("an input of this run"), "{m}");
        assert_eq!(
            std::fs::read_to_string(&suite).ok().as_deref(),
            Some("name: x")
        );
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_unwritable_and_leaves_nothing() {
        match check(&[("--junit", Path::new("/sys/j.xml"))], &[]) {
            Err(Refused::Unwritable(m)) => assert!(
                m.starts_with("--junit /sys/j.xml: cannot write there"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fine = dir.path().join("new/junit.xml");
        assert_eq!(check(&[("--junit", &fine)], &[]), Ok(()));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("new"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }
}
