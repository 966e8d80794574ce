//! The board's end of the console: stamps and frames what the controller
//! emits, and turns incoming lines into commands. Shared by every board so
//! the sim rig, the QEMU image and a real board speak byte-identical frames.

use locker_proto::{Command, Event, Ident, LineDecoder, MAX_LINE, ResetCause, Response, ToHarness};

/// One encoded line, newline included.
pub type Line = heapless::String<{ MAX_LINE + 2 }>;

/// What arrived from the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Command {
        seq: u16,
        command: Command,
    },
    /// A line that is not a valid command; answered with `ERR` so the
    /// harness never waits on a command the controller did not understand.
    Bad {
        seq: u16,
        why: &'static str,
    },
}

#[derive(Debug, Default)]
pub struct Console {
    tx_seq: u16,
    rx: LineDecoder,
}

impl Console {
    pub const fn new() -> Self {
        Self {
            tx_seq: 0,
            rx: LineDecoder::new(),
        }
    }

    fn frame(&mut self, msg: &ToHarness) -> Line {
        let mut line = Line::new();
        if locker_proto::encode_frame(self.tx_seq, msg, &mut line).is_err() {
            line.clear();
        }
        self.tx_seq = self.tx_seq.wrapping_add(1);
        line
    }

    pub fn hello(&mut self, build: &str, board: &str, reset: ResetCause) -> Line {
        let msg = ToHarness::Hello {
            proto: locker_proto::PROTOCOL_VERSION,
            build: Ident::try_from(build).unwrap_or_default(),
            board: Ident::try_from(board).unwrap_or_default(),
            reset,
        };
        self.frame(&msg)
    }

    pub fn event(&mut self, t_ms: u64, event: Event) -> Line {
        self.frame(&ToHarness::Event { t_ms, event })
    }

    pub fn response(&mut self, to: u16, response: Response) -> Line {
        self.frame(&ToHarness::Response { to, response })
    }

    /// Feed one received byte.
    pub fn feed(&mut self, byte: u8) -> Option<Incoming> {
        let result = match self.rx.push(byte)? {
            Err(_) => Incoming::Bad {
                seq: 0,
                why: "unreadable line",
            },
            Ok(line) => match locker_proto::parse_frame(line) {
                Err(_) => Incoming::Bad {
                    seq: 0,
                    why: "bad frame",
                },
                Ok((seq, body)) => match Command::parse(body) {
                    Ok(command) => Incoming::Command { seq, command },
                    Err(_) => Incoming::Bad {
                        seq,
                        why: "unknown command",
                    },
                },
            },
        };
        self.rx.clear_line();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_noise() {
        let mut con = Console::new();
        let mut got = std::vec::Vec::new();
        let mut frame = heapless::String::<64>::new();
        locker_proto::encode_frame(3, &Command::Status, &mut frame).unwrap();
        for b in b"garbage\n".iter().chain(frame.as_bytes()) {
            if let Some(i) = con.feed(*b) {
                got.push(i);
            }
        }
        assert_eq!(
            got,
            [
                Incoming::Bad {
                    seq: 0,
                    why: "bad frame"
                },
                Incoming::Command {
                    seq: 3,
                    command: Command::Status
                }
            ]
        );
    }
}
