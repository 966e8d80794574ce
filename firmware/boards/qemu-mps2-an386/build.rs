//! Links the image for the board's memory map and stamps it with a build id
//! derived from every source file that goes into it, so the harness can tell
//! two different images apart even when their version numbers agree.

use std::fs;
use std::path::{Path, PathBuf};

/// FNV-1a, 64 bit: stable across Rust releases (unlike `DefaultHasher`).
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "rs" || x == "x" || x == "toml")
        {
            out.push(p);
        }
    }
}

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));

    fs::copy(here.join("memory.x"), out.join("memory.x")).expect("memory.x beside Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    // Link arguments from a build script survive a RUSTFLAGS set by the caller.
    println!("cargo:rustc-link-arg=-Tlink.x");

    let mut files = Vec::new();
    let inputs = [
        here.join("src"),
        here.join("memory.x"),
        here.join("Cargo.toml"),
        here.join("Cargo.lock"),
        here.join("../../core/src"),
        here.join("../../core/Cargo.toml"),
        here.join("../../proto/src"),
        here.join("../../proto/Cargo.toml"),
    ];
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
        if input.is_dir() {
            sources(input, &mut files);
        } else if input.exists() {
            files.push(input.clone());
        }
    }
    files.sort();
    let mut hash = 0xCBF2_9CE4_8422_2325u64;
    for f in &files {
        let rel = f.strip_prefix(&here).unwrap_or(f);
        fnv1a(&mut hash, rel.to_string_lossy().as_bytes());
        fnv1a(&mut hash, &fs::read(f).unwrap_or_default());
    }
    let profile = std::env::var("PROFILE").unwrap_or_default();
    fnv1a(&mut hash, profile.as_bytes());

    let build = format!(
        "{}-{}+{:016x}",
        std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        hash
    );
    fs::write(out.join("build_id.txt"), &build).expect("OUT_DIR is writable");
    println!("cargo:rustc-env=LOCKER_BUILD_ID={build}");
}
