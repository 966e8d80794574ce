//! The `harness` binary; see [`locker_hil::cli`].

fn main() -> std::process::ExitCode {
    locker_hil::cli::main().into()
}
