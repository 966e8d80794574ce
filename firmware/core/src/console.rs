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

/// How the console speaks: the framed protocol, or plain-text logs the
/// way vendor firmware prints them (see [`crate::plain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Framed,
    Plain,
}

#[derive(Debug, Default)]
pub struct Console {
    style: Style,
    tx_seq: u16,
    rx: LineDecoder,
    /// Uptime of the latest event, for the plain console's answers.
    last_ms: u64,
}

impl Console {
    pub const fn new() -> Self {
        Self::with_style(Style::Framed)
    }

    pub const fn with_style(style: Style) -> Self {
        Self {
            style,
            tx_seq: 0,
            rx: LineDecoder::new(),
            last_ms: 0,
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
        if self.style == Style::Plain {
            let mut line = Line::new();
            crate::plain::hello(&mut line, build, board, reset);
            return line;
        }
        let msg = ToHarness::Hello {
            proto: locker_proto::PROTOCOL_VERSION,
            build: Ident::try_from(build).unwrap_or_default(),
            board: Ident::try_from(board).unwrap_or_default(),
            reset,
        };
        self.frame(&msg)
    }

    pub fn event(&mut self, t_ms: u64, event: Event) -> Line {
        self.last_ms = t_ms;
        if self.style == Style::Plain {
            let mut line = Line::new();
            crate::plain::event(&mut line, t_ms, &event);
            return line;
        }
        self.frame(&ToHarness::Event { t_ms, event })
    }

    pub fn response(&mut self, to: u16, response: Response) -> Line {
        if self.style == Style::Plain {
            let mut line = Line::new();
            crate::plain::response(&mut line, self.last_ms, &response);
            return line;
        }
        self.frame(&ToHarness::Response { to, response })
    }

    /// Feed one received byte.
    pub fn feed(&mut self, byte: u8) -> Option<Incoming> {
        let result = match self.rx.push(byte)? {
            Err(_) => Incoming::Bad {
                seq: 0,
                why: "unreadable line",
            },
            Ok(line) if self.style == Style::Plain => match crate::plain::command(line) {
                Some(command) => Incoming::Command { seq: 0, command },
                None => Incoming::Bad {
                    seq: 0,
                    why: "unknown command",
                },
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
