//! Firmware images: building a board crate for the Cortex-M target, and
//! reading the identity its build script stamps into the ELF.

use crate::rig::RigError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall time a firmware build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// The marker the board crates put in their images.
const IMAGE_MARKER: &[u8] = b"LOCKER-IMAGE build=";

/// What an image says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageId {
    pub build: String,
    pub board: String,
}

/// Find the identity the board crate stamps into its image.
pub fn image_id(elf: &[u8]) -> Option<ImageId> {
    let at = elf
        .windows(IMAGE_MARKER.len())
        .position(|w| w == IMAGE_MARKER)?;
    let rest = &elf[at + IMAGE_MARKER.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let (build, board) = text.split_once(" board=")?;
    Some(ImageId {
        build: build.to_owned(),
        board: board.to_owned(),
    })
}

/// Build the board crate for the thumb target and return the ELF's path.
pub fn build_image(dir: &Path) -> Result<PathBuf, RigError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(RigError::Flash(format!(
            "{} is not a board crate (no Cargo.toml)",
            dir.display()
        )));
    }
    let started = Instant::now();
    // The board's own directory, so its .cargo/config.toml (target) and the
    // repository's rust-toolchain.toml (thumb target installed) apply.
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args(["build", "--release", "--quiet", "--message-format=short"])
        // A caller's target directory or host flags must not leak into the
        // firmware build (and sharing the harness's target dir would deadlock
        // on its lock when the harness runs under `cargo test`).
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().map_err(|e| {
        RigError::Flash(format!("cannot run cargo to build {}: {e}", dir.display()))
    })?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        return Err(RigError::Flash(format!(
            "building the firmware in {} failed ({}):\n{}",
            dir.display(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    if started.elapsed() > BUILD_TIMEOUT {
        return Err(RigError::Flash("the firmware build took too long".into()));
    }
    built_path(dir)
        .ok_or_else(|| RigError::Flash(format!("{} names no package", manifest.display())))
}

/// A `key = "value"` of a crate's Cargo.toml (the first, which for `name`
/// and `version` is the package's).
pub fn manifest_field(dir: &Path, key: &str) -> Option<String> {
    toml_field(&std::fs::read_to_string(dir.join("Cargo.toml")).ok()?, key)
}

/// [`manifest_field`] on manifest text already read.
pub fn toml_field(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|l| {
        l.trim()
            .strip_prefix(key)
            .and_then(|r| r.trim().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    })
}

/// Where cargo puts a board crate's release image (built or not).
pub fn built_path(dir: &Path) -> Option<PathBuf> {
    let name = manifest_field(dir, "name")?;
    Some(dir.join("target/thumbv7em-none-eabihf/release").join(name))
}

/// The image a rig's `firmware:` names: a prebuilt ELF as it is, a board
/// crate built first. Blocks while cargo runs.
pub fn locate(firmware: &Path) -> Result<PathBuf, RigError> {
    if firmware.is_file() {
        Ok(firmware.to_owned())
    } else {
        build_image(firmware)
    }
}

/// Read an image's identity, or say why it has none.
pub fn identify(elf: &Path) -> Result<ImageId, RigError> {
    let bytes = std::fs::read(elf)
        .map_err(|e| RigError::Flash(format!("cannot read {}: {e}", elf.display())))?;
    image_id(&bytes).ok_or_else(|| {
        RigError::Flash(format!(
            "{} carries no image identity (`LOCKER-IMAGE`); is it a locker-hil board image?",
            elf.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_identity_is_read_from_the_marker() {
        let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 2, 3];
        elf.extend_from_slice(b"LOCKER-IMAGE build=locker-qemu-0.1.0+00ff board=mps2-an386\0\0\0");
        assert_eq!(
            image_id(&elf),
            Some(ImageId {
                build: "locker-qemu-0.1.0+00ff".into(),
                board: "mps2-an386".into()
            })
        );
        assert_eq!(image_id(b"\x7fELF no marker here"), None);
    }
}
