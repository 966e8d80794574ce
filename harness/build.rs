//! The whole-suite test lists `suites/*.yaml` when it is compiled (rstest
//! `#[files]`); watching the folder makes a new suite file rebuild it.
fn main() {
    println!("cargo::rerun-if-changed=../suites");
}
