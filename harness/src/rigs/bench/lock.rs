//! One run per bench: an advisory lock on every piece of hardware a rig
//! uses (probe, console port, instrument ports), so two runs on one host
//! never share a bench, even through two rig files that name the same
//! hardware. The second run is told who holds it.
//!
//! Locks are `flock`s on files under the user's runtime directory
//! (`$XDG_RUNTIME_DIR/locker-hil`, else `locker-hil-<uid>` in the temp
//! directory, made private to the user and refused if anyone else owns or
//! could write it, so no other account can pre-empt a bench): the kernel
//! drops them when the holder exits, however it exits, so a crashed run
//! never leaves a bench locked.
//!
//! A resource is locked by what it resolves to, not by how a rig file
//! spells it: a serial port by its device (a `/dev/serial/by-id/...` link
//! and `/dev/ttyACM0` are one port), an instrument on the network by every
//! address its name resolves to (`localhost:5025` and `127.0.0.1:5025`).

use crate::model::rigfile::bench::{BenchSettings, FlashMethod, PortRef};
use crate::rigs::RigError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held locks; dropping it releases the bench.
#[derive(Debug)]
pub struct RigLock {
    _files: Vec<File>,
}

/// The directory lock files live in: the user's own.
pub fn lock_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
    {
        Some(d) => d.join("locker-hil"),
        None => std::env::temp_dir().join(format!("locker-hil-{}", uid())),
    }
}

/// This process's user: the owner of its `/proc/self`.
fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// Make `dir` (mode 0700) or check that it is the user's alone: a folder
/// (not a link), owned by this user, writable by nobody else.
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = uid();
    if !m.is_dir() || m.uid() != me || m.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not this user's own folder (it must be a folder owned by uid {me} that no one else can write); \
             remove it, or set XDG_RUNTIME_DIR",
            dir.display()
        ));
    }
    Ok(())
}

/// A serial port as the device it is (links resolved); as spelt when it
/// is not there to resolve.
fn device(path: &str) -> String {
    std::fs::canonicalize(path).map_or_else(|_| path.to_owned(), |p| p.display().to_string())
}

/// Every address `addr` (`host:port`) resolves to; as spelt when it does
/// not resolve here.
fn addresses(addr: &str) -> Vec<String> {
    use std::net::ToSocketAddrs;
    let mut all: Vec<String> = addr
        .to_socket_addrs()
        .map(|a| a.map(|a| a.to_string()).collect())
        .unwrap_or_default();
    all.sort();
    all.dedup();
    if all.is_empty() {
        all.push(addr.to_owned());
    }
    all
}

/// What a bench is made of, as lockable names (resolved, see the module doc).
pub fn resources(bench: &BenchSettings) -> Vec<String> {
    let mut r: Vec<String> = match &bench.flash {
        FlashMethod::Probe(p) => vec![format!("probe {}", p.selector)],
        FlashMethod::ByHand | FlashMethod::Command(_) => Vec::new(),
    };
    let mut port = |p: &PortRef| match p {
        PortRef::Serial { path, .. } => r.push(format!("port {}", device(path))),
        PortRef::UsbSerial { serial_number, .. } => r.push(format!("usb {serial_number}")),
        PortRef::Tcp { addr } => r.extend(addresses(addr).into_iter().map(|a| format!("tcp {a}"))),
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
    // Modules on one line are locked once.
    let mut lines = std::collections::BTreeSet::new();
    for m in &bench.io.modules {
        use crate::model::rigfile::io::ModuleDriver;
        let p = match &m.driver {
            ModuleDriver::ModbusTcp { addr, .. } => PortRef::Tcp { addr: addr.clone() },
            ModuleDriver::ModbusRtu { path, baud, .. } => PortRef::Serial {
                path: path.clone(),
                baud: *baud,
            },
            ModuleDriver::Scpi { port, .. } => port.clone(),
            ModuleDriver::Command { .. } => continue,
        };
        if lines.insert(p.to_string()) {
            port(&p);
        }
    }
    // One lock a resource, however many parts share it.
    let mut seen = std::collections::BTreeSet::new();
    r.retain(|x| seen.insert(x.clone()));
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
    pub fn acquire_in(dir: &Path, rig: &str, resources: &[String]) -> Result<Self, RigError> {
        if let Some(parent) = dir.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        private_dir(dir).map_err(|e| RigError::Unsupported(format!("lock bench `{rig}`: {e}")))?;
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

    /// Issue 14: a port by its link and by its device, and an instrument
    /// by name and by address, were two benches to the lock.
    #[test]
    fn a_resource_is_locked_by_what_it_resolves_to() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = dir.path().join("ttyACM9");
        std::fs::write(&port, "").unwrap_or_else(|e| panic!("{e}"));
        let link = dir.path().join("usb-STLINK-if02");
        std::os::unix::fs::symlink(&port, &link).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            device(&link.to_string_lossy()),
            device(&port.to_string_lossy())
        );
        let by_name = addresses("localhost:5025");
        assert!(by_name.iter().any(|a| a == "127.0.0.1:5025"), "{by_name:?}");
        assert_eq!(addresses("127.0.0.1:5025"), ["127.0.0.1:5025"]);
        assert_eq!(addresses("chamber.invalid:5025"), ["chamber.invalid:5025"]);
        let locks = dir.path().join("locks");
        let first = RigLock::acquire_in(&locks, "a", &[format!("tcp {}", by_name[0])]);
        assert!(first.is_ok());
        let resolved: Vec<String> = addresses("localhost:5025")
            .into_iter()
            .map(|a| format!("tcp {a}"))
            .collect();
        let second = RigLock::acquire_in(&locks, "b", &resolved);
        assert!(matches!(second, Err(RigError::Busy(_))), "{second:?}");
    }

    /// Issue 14: without XDG_RUNTIME_DIR the locks were in a shared
    /// `/tmp/locker-hil` anyone could pre-empt.
    #[test]
    fn the_lock_folder_is_the_users_own() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = dir.path().join("locks");
        assert_eq!(private_dir(&locks), Ok(()));
        let mode = std::fs::metadata(&locks).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = private_dir(&open).unwrap_err();
        assert!(e.contains("is not this user's own folder"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&locks, &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(private_dir(&link).is_err(), "a link is not the folder");
    }
}
