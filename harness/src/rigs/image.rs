//! Firmware images: building a board crate for the Cortex-M target, and
//! reading the identity its build script stamps into the ELF.

use crate::model::rigfile::{ExpectBuild, RigDescription};
use crate::rigs::RigError;
use std::collections::HashMap;
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

/// The target a board crate builds for when its `.cargo/config.toml` says
/// nothing (the one every bundled board uses).
const DEFAULT_TARGET: &str = "thumbv7em-none-eabihf";

/// The target a board crate builds for: `[build] target` of its
/// `.cargo/config.toml`.
pub fn board_target(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".cargo/config.toml"))
        .ok()
        .and_then(|t| toml_field(&t, "target"))
        .unwrap_or_else(|| DEFAULT_TARGET.to_owned())
}

/// A command run in a board's directory with the environment its build
/// gets: a caller's target directory or host flags must not leak into the
/// firmware build (and sharing the harness's target dir would deadlock on
/// its lock when the harness runs under `cargo test`).
fn in_board(program: std::ffi::OsString, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What to tell a user whose toolchain lacks the board's target. rustup
/// does not add the targets `rust-toolchain.toml` lists to a toolchain that
/// was installed before, so a fresh machine with `stable` lacks them.
fn target_missing(target: &str, dir: &Path) -> RigError {
    RigError::Flash(format!(
        "the Rust target `{target}`, which {} is built for, is not installed; \
         install it with `rustup target add {target}` (rustup does not add the \
         targets rust-toolchain.toml lists to a toolchain that is already installed)",
        dir.display()
    ))
}

/// Whether the toolchain that will build `dir` has the standard library
/// for `target`. `None` when that cannot be told (no rustc to ask): the
/// build itself then says.
fn target_installed(dir: &Path, target: &str) -> Option<bool> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = in_board(rustc, dir)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    Some(std::fs::read_dir(&libdir).is_ok_and(|mut d| d.next().is_some()))
}

/// Refuse, with how to install it, a board whose target the toolchain that
/// would build it lacks; pass when that cannot be told (the build then says).
pub fn check_target(dir: &Path) -> Result<(), RigError> {
    let target = board_target(dir);
    match target_installed(dir, &target) {
        Some(false) => Err(target_missing(&target, dir)),
        _ => Ok(()),
    }
}

/// Whether cargo's output says the target's `core` is missing.
fn says_core_missing(log: &str) -> bool {
    log.contains("E0463") && log.contains("can't find crate for `core`")
}

/// Build the board crate for its target and return the ELF's path. A
/// process builds each board once: every rig of a run shares the result,
/// so a board that does not build is one error, not one per rig.
/// `features` are the board crate's cargo features to build with (each set
/// its own target folder, so two builds never overwrite each other).
pub fn build_image(dir: &Path, features: &[String]) -> Result<PathBuf, RigError> {
    type Built = Result<PathBuf, RigError>;
    type Key = (PathBuf, Vec<String>);
    static BUILT: std::sync::OnceLock<std::sync::Mutex<HashMap<Key, Built>>> =
        std::sync::OnceLock::new();
    let key = (
        dir.canonicalize().unwrap_or_else(|_| dir.to_owned()),
        features.to_vec(),
    );
    // Held while cargo runs: a second rig waits for the first build.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(done) = built.get(&key) {
        return done.clone();
    }
    let result = build_once(dir, features);
    built.insert(key, result.clone());
    result
}

fn build_once(dir: &Path, features: &[String]) -> Result<PathBuf, RigError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(RigError::Flash(format!(
            "{} is not a board crate (no Cargo.toml)",
            dir.display()
        )));
    }
    check_target(dir)?;
    let target = board_target(dir);
    let started = Instant::now();
    // The board's own directory, so its .cargo/config.toml (target) and the
    // repository's rust-toolchain.toml apply.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = in_board(cargo, dir);
    build.args(["build", "--release", "--quiet", "--message-format=short"]);
    if !features.is_empty() {
        build
            .arg("--features")
            .arg(features.join(","))
            // Relative to the board's folder, where cargo runs.
            .arg("--target-dir")
            .arg(target_dir(Path::new(""), features));
    }
    let out = build.output().map_err(|e| {
        RigError::Flash(format!("cannot run cargo to build {}: {e}", dir.display()))
    })?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        if says_core_missing(&log) {
            return Err(target_missing(&target, dir));
        }
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
    built_path(dir, features)
        .ok_or_else(|| RigError::Flash(format!("{} names no package", manifest.display())))
}

/// Where a board crate built with `features` is put: its own `target/`
/// without features, a folder of it per set of features.
fn target_dir(dir: &Path, features: &[String]) -> PathBuf {
    match features {
        [] => dir.join("target"),
        f => dir.join("target").join(format!("with-{}", f.join("+"))),
    }
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
pub fn built_path(dir: &Path, features: &[String]) -> Option<PathBuf> {
    let name = manifest_field(dir, "name")?;
    Some(
        target_dir(dir, features)
            .join(board_target(dir))
            .join("release")
            .join(name),
    )
}

/// The image a rig's `firmware:` names: a prebuilt ELF as it is, a board
/// crate built first. Blocks while cargo runs.
pub fn locate(firmware: &Path, features: &[String]) -> Result<PathBuf, RigError> {
    match std::fs::metadata(firmware) {
        Ok(m) if m.is_file() => Ok(firmware.to_owned()),
        Ok(m) if m.is_dir() => build_image(firmware, features),
        Ok(m) => Err(RigError::Flash(format!(
            "firmware {} is {}: expected a board crate's folder or an ELF file",
            firmware.display(),
            crate::model::input::kind(m.file_type())
        ))),
        Err(e) => Err(RigError::Flash(format!(
            "firmware {}: {e}",
            firmware.display()
        ))),
    }
}

/// Read an image's identity, or say why it has none.
pub fn identify(elf: &Path) -> Result<ImageId, RigError> {
    let bytes =
        crate::model::input::read(elf, crate::model::input::FIRMWARE_LIMIT, "firmware images")
            .map_err(|e| RigError::Flash(format!("cannot read {}: {e}", elf.display())))?;
    image_id(&bytes).ok_or_else(|| {
        RigError::Flash(format!(
            "{} carries no image identity (`LOCKER-IMAGE`); is it a locker-hil board image?",
            elf.display()
        ))
    })
}

/// What the controller must say it runs once `image` is on it: the
/// build in the image's identity (`build`, when it has one), which must
/// agree with the rig's `expect-build`; for an image without one, the
/// rig's `expect-build` alone.
pub fn expected_build(
    desc: &RigDescription,
    image: &Path,
    build: Option<&str>,
) -> Result<ExpectBuild, RigError> {
    let Some(build) = build else {
        return Ok(desc.expect_build.clone());
    };
    desc.expect_build.check(build).map_err(|why| {
        RigError::Flash(format!(
            "{} is build `{build}`, but {why} (controller.expect-build in {})",
            image.display(),
            desc.file.display()
        ))
    })?;
    Ok(ExpectBuild::Exact(build.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_saying_core_is_missing_is_read_as_a_missing_target() {
        let log = "error[E0463]: can't find crate for `core`\n  = note: the `thumbv7em-none-eabihf` target may not be installed";
        assert!(says_core_missing(log));
        assert!(!says_core_missing("error[E0425]: cannot find value `x`"));
        let e = target_missing("thumbv7em-none-eabihf", Path::new("boards/q"));
        assert!(
            e.to_string()
                .contains("install it with `rustup target add thumbv7em-none-eabihf`"),
            "{e}"
        );
    }

    #[test]
    fn a_board_says_its_target_in_its_cargo_config() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(board_target(dir.path()), "thumbv7em-none-eabihf");
        std::fs::create_dir(dir.path().join(".cargo")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join(".cargo/config.toml"),
            "[build]\ntarget = \"thumbv6m-none-eabi\"\n\n[target.thumbv6m-none-eabi]\nrunner = \"x\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(board_target(dir.path()), "thumbv6m-none-eabi");
    }

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
