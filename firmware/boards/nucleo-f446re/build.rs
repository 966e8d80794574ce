//! Links the image (embassy-stm32's `memory-x` feature supplies the memory
//! map) and stamps it with a build id derived from every source file.

include!("../build_id.rs");

fn main() {
    // Link arguments from a build script survive a RUSTFLAGS set by the caller.
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    stamp_build_id("nucleo-f446re");
}
