//! One run per bench: an advisory lock on every piece of hardware a rig
//! uses (probe, console port, instrument ports), so two runs on one host
//! never share a bench, even through two rig files that name the same
//! hardware. The second run is told who holds it.
//!
//! Locks are `flock`s on files under the runtime directory
//! (`$XDG_RUNTIME_DIR/locker-hil`, else the temp directory): the kernel drops
//! them when the holder exits, however it exits, so a crashed run never
//! leaves a bench locked.

use crate::bench::{BenchSettings, PortRef};
use crate::rig::RigError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// Held locks; dropping it releases the bench.
#[derive(Debug)]
pub struct RigLock {
    _files: Vec<File>,
}

/// The directory lock files live in.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
        .join("locker-hil")
}

/// What a bench is made of, as lockable names.
pub fn resources(bench: &BenchSettings) -> Vec<String> {
    let mut r = vec![format!("probe {}", bench.probe.selector)];
    let mut port = |p: &PortRef| {
        r.push(match p {
            PortRef::Serial { path, .. } => format!("port {path}"),
            PortRef::UsbSerial { serial_number, .. } => format!("usb {serial_number}"),
            PortRef::Tcp { addr } => format!("tcp {addr}"),
        });
    };
    port(&bench.console);
    if let Some(c) = &bench.chamber {
        port(&c.port);
    }
    if let Some(s) = &bench.supply {
        port(&s.port);
    }
    if let Some(b) = &bench.board {
        port(b);
    }
    r
}

fn file_name(resource: &str) -> String {
    resource
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        + ".lock"
}

impl RigLock {
    /// Lock every resource of rig `rig`, or say who holds the first one taken.
    pub fn acquire(rig: &str, resources: &[String]) -> Result<Self, RigError> {
        Self::acquire_in(&lock_dir(), rig, resources)
    }

    /// [`RigLock::acquire`] with the lock files in `dir`.
    pub fn acquire_in(
        dir: &std::path::Path,
        rig: &str,
        resources: &[String],
    ) -> Result<Self, RigError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            RigError::Unsupported(format!("lock bench `{rig}`: {}: {e}", dir.display()))
        })?;
        let me = format!(
            "pid {} (rig `{rig}`: {}), since {}",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" "),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        let mut files = Vec::new();
        for res in resources {
            let path = dir.join(file_name(res));
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| RigError::Unsupported(format!("lock {}: {e}", path.display())))?;
            match f.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = f.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(RigError::Busy(format!(
                        "bench `{rig}` is in use: {res} is held by {}",
                        if holder.is_empty() {
                            "another process"
                        } else {
                            holder
                        }
                    )));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(RigError::Unsupported(format!(
                        "lock {}: {e}",
                        path.display()
                    )));
                }
            }
            // Only the holder writes: who holds it, for the next one to read.
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = writeln!(f, "{me}");
            files.push(f);
        }
        Ok(Self { _files: files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let res = vec![format!("port /dev/test-lock-{}", std::process::id())];
        let first = RigLock::acquire("bench-a", &res).unwrap();
        let err = RigLock::acquire("bench-b", &res).unwrap_err().to_string();
        assert!(err.contains("bench `bench-b` is in use"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("rig `bench-a`"), "{err}");
        drop(first);
        assert!(
            RigLock::acquire("bench-b", &res).is_ok(),
            "released on drop"
        );
    }
}
