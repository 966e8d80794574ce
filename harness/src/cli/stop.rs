//! The signals that stop a run: Ctrl-C (SIGINT), a CI job's timeout
//! (SIGTERM) and a closed terminal (SIGHUP). Each stops the run the same
//! way (cases in progress abandoned and reported as interrupted, rigs
//! powered down, reports written); the exit code says which it was.

use crate::cli::exit::Exit;

/// What stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    HangUp,
}

impl Stop {
    /// How the reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT (Ctrl-C)",
            Self::Terminate => "SIGTERM",
            Self::HangUp => "SIGHUP",
        }
    }

    pub fn exit(self) -> Exit {
        match self {
            Self::Interrupt => Exit::Interrupted,
            Self::Terminate => Exit::Terminated,
            Self::HangUp => Exit::HungUp,
        }
    }
}

/// Wait for the first of the stopping signals. Handlers are installed when
/// this is first polled; one that cannot be installed never fires.
pub async fn signalled() -> Stop {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let wait = |kind: SignalKind| async move {
            match signal(kind) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(SignalKind::interrupt()) => Stop::Interrupt,
            () = wait(SignalKind::terminate()) => Stop::Terminate,
            () = wait(SignalKind::hangup()) => Stop::HangUp,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented codes: 128 + SIGHUP (1), SIGINT (2), SIGTERM (15).
    #[test]
    fn each_stop_exits_128_plus_its_signal() {
        let code = |s: Stop| s.exit() as u8;
        assert_eq!(code(Stop::HangUp), 129);
        assert_eq!(code(Stop::Interrupt), 130);
        assert_eq!(code(Stop::Terminate), 143);
    }
}
