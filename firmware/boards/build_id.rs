// Shared by the board crates' build scripts (`include!`d, not a crate): a
// build id derived from every source file that goes into the image, so two
// different images never announce the same id even when versions agree.

/// FNV-1a, 64 bit: stable across Rust releases (unlike `DefaultHasher`).
fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
}

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
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

/// Hash the board crate, the firmware core and protocol, and the profile
/// into a build id (`<name>-<version>+<hash>`), and write `OUT_DIR/image.rs`
/// for the crate to `include!`: `BUILD_ID`, `BOARD`, and the `LOCKER_IMAGE`
/// marker the harness reads from the ELF before it trusts the image.
fn stamp_build_id(board: &str) {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let inputs = [
        here.join("src"),
        here.join("memory.x"),
        here.join("Cargo.toml"),
        here.join("Cargo.lock"),
        here.join("../build_id.rs"),
        here.join("../../core/src"),
        here.join("../../core/Cargo.toml"),
        here.join("../../proto/src"),
        here.join("../../proto/Cargo.toml"),
    ];
    let mut files = Vec::new();
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
        fnv1a(&mut hash, &std::fs::read(f).unwrap_or_default());
    }
    fnv1a(&mut hash, std::env::var("PROFILE").unwrap_or_default().as_bytes());
    // A build with other features (a plain-text console) is another image.
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .collect();
    features.sort();
    for f in &features {
        fnv1a(&mut hash, f.as_bytes());
    }
    let build = format!(
        "{}-{}+{:016x}",
        std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        hash
    );
    let marker = format!("LOCKER-IMAGE build={build} board={board}");
    assert!(marker.len() < 96, "image marker too long: {marker}");
    let padded: String = marker
        .bytes()
        .chain(std::iter::repeat_n(0, 96 - marker.len()))
        .map(|b| format!("\\x{b:02x}"))
        .collect();
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(
        out.join("image.rs"),
        format!(
            "/// This image's build id, as its banner announces it.\n\
             pub const BUILD_ID: &str = \"{build}\";\n\
             /// The board this image is for.\n\
             pub const BOARD: &str = \"{board}\";\n\
             /// What this image is, readable from the ELF without running it.\n\
             #[used]\n#[unsafe(no_mangle)]\n\
             pub static LOCKER_IMAGE: [u8; 96] = *b\"{padded}\";\n"
        ),
    )
    .expect("OUT_DIR is writable");
}
