//! Links the image for the board's memory map and stamps it with a build id
//! derived from every source file that goes into it.

include!("../build_id.rs");

fn main() {
    let here = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::copy(here.join("memory.x"), out.join("memory.x")).expect("memory.x beside Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    // Link arguments from a build script survive a RUSTFLAGS set by the caller.
    println!("cargo:rustc-link-arg=-Tlink.x");
    stamp_build_id("mps2-an386");
}
