//! Framing: sequence number, checksum, and a line decoder that survives noise.

use core::fmt::{self, Write};

/// Longest line (without the newline) either side may send. Longer input is
/// discarded up to the next newline and reported as [`LineError::TooLong`].
pub const MAX_LINE: usize = 160;

const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// CRC-16/CCITT-FALSE, the checksum carried by every frame.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC.checksum(bytes)
}

/// Why a complete line is not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// No `*` followed by four hex digits at the end.
    MissingChecksum,
    /// The checksum does not match the bytes: noise on the line.
    BadChecksum { expected: u16, found: u16 },
    /// The sequence number is missing or not a decimal `u16`.
    BadSequence,
    /// A frame with an empty body.
    EmptyBody,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingChecksum => f.write_str("no `*XXXX` checksum at the end of the line"),
            Self::BadChecksum { expected, found } => {
                write!(
                    f,
                    "checksum mismatch: line says {found:04X}, bytes give {expected:04X}"
                )
            }
            Self::BadSequence => f.write_str("line does not start with a decimal sequence number"),
            Self::EmptyBody => f.write_str("frame has no body"),
        }
    }
}

/// Split a line (without its newline) into sequence number and body, checking the CRC.
pub fn parse_frame(line: &str) -> Result<(u16, &str), FrameError> {
    let star = line.rfind('*').ok_or(FrameError::MissingChecksum)?;
    let (payload, crc_text) = (&line[..star], &line[star + 1..]);
    if crc_text.len() != 4 || !crc_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FrameError::MissingChecksum);
    }
    let found = u16::from_str_radix(crc_text, 16).map_err(|_| FrameError::MissingChecksum)?;
    let expected = crc16(payload.as_bytes());
    if expected != found {
        return Err(FrameError::BadChecksum { expected, found });
    }
    let (seq, body) = payload.split_once(' ').ok_or(FrameError::EmptyBody)?;
    if seq.is_empty() || seq.len() > 5 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameError::BadSequence);
    }
    let seq = seq.parse::<u16>().map_err(|_| FrameError::BadSequence)?;
    if body.trim().is_empty() {
        return Err(FrameError::EmptyBody);
    }
    Ok((seq, body))
}

/// Encode one frame, newline included, into `out`.
///
/// Fails only when the body would make the line longer than [`MAX_LINE`].
pub fn encode_frame<const N: usize>(
    seq: u16,
    body: &dyn fmt::Display,
    out: &mut heapless::String<N>,
) -> fmt::Result {
    out.clear();
    write!(out, "{seq} {body}")?;
    if out.len() + 5 > MAX_LINE {
        return Err(fmt::Error);
    }
    let crc = crc16(out.as_bytes());
    writeln!(out, "*{crc:04X}")
}

/// What the line decoder found wrong with the raw bytes of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The line exceeded [`MAX_LINE`]; its bytes were dropped.
    TooLong,
    /// The line held bytes outside printable ASCII (noise, wrong baud rate).
    NotText,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            Self::NotText => f.write_str("line holds bytes that are not printable ASCII"),
        }
    }
}

/// Accumulates raw console bytes into lines.
///
/// Bad lines are reported once and the decoder resynchronises on the next
/// newline, so one burst of noise costs exactly the lines it touched.
#[derive(Debug, Default)]
pub struct LineDecoder {
    buf: heapless::Vec<u8, MAX_LINE>,
    overflow: bool,
    not_text: bool,
}

impl LineDecoder {
    pub const fn new() -> Self {
        Self {
            buf: heapless::Vec::new(),
            overflow: false,
            not_text: false,
        }
    }

    /// Feed one byte; returns a finished line (or why it was bad) on `\n`.
    pub fn push(&mut self, byte: u8) -> Option<Result<&str, LineError>> {
        match byte {
            b'\n' => {
                let (overflow, not_text) = (self.overflow, self.not_text);
                self.overflow = false;
                self.not_text = false;
                if overflow {
                    self.buf.clear();
                    return Some(Err(LineError::TooLong));
                }
                if not_text {
                    self.buf.clear();
                    return Some(Err(LineError::NotText));
                }
                if self.buf.is_empty() {
                    return None;
                }
                // Only printable ASCII is ever stored, so this cannot fail.
                let line = core::str::from_utf8(&self.buf).map_err(|_| LineError::NotText);
                Some(line)
            }
            b'\r' => None,
            _ => {
                if !(0x20..0x7f).contains(&byte) {
                    self.not_text = true;
                } else if self.buf.push(byte).is_err() {
                    self.overflow = true;
                }
                None
            }
        }
    }

    /// Forget the line in progress, after the caller has taken the last line.
    pub fn clear_line(&mut self) {
        self.buf.clear();
    }

    /// Bytes of an unfinished line (for transcripts when the link dies).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Drop everything, e.g. after the controller reset.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(
        dec: &mut LineDecoder,
        bytes: &[u8],
    ) -> heapless::Vec<Result<heapless::String<MAX_LINE>, LineError>, 8> {
        let mut out = heapless::Vec::new();
        for &b in bytes {
            if let Some(r) = dec.push(b) {
                let r = r.map(|s| heapless::String::try_from(s).unwrap_or_default());
                out.push(r).ok();
                dec.clear_line();
            }
        }
        out
    }

    #[test]
    fn frame_round_trips() {
        let mut s = heapless::String::<MAX_LINE>::new();
        encode_frame(42, &"EV 10 heater on", &mut s).unwrap();
        assert!(s.ends_with('\n'));
        let (seq, body) = parse_frame(s.trim_end()).unwrap();
        assert_eq!((seq, body), (42, "EV 10 heater on"));
    }

    #[test]
    fn corrupted_byte_is_detected() {
        let mut s = heapless::String::<MAX_LINE>::new();
        encode_frame(7, &"EV 10 lock M1 locked", &mut s).unwrap();
        let mut bytes: heapless::Vec<u8, MAX_LINE> =
            heapless::Vec::from_slice(s.trim_end().as_bytes()).unwrap();
        bytes[12] ^= 0x01; // one flipped bit inside the body
        let line = core::str::from_utf8(&bytes).unwrap();
        assert!(matches!(
            parse_frame(line),
            Err(FrameError::BadChecksum { .. })
        ));
    }

    #[test]
    fn decoder_resyncs_after_noise_and_overflow() {
        let mut dec = LineDecoder::new();
        let mut noisy = [0u8; 3 * MAX_LINE];
        noisy.fill(b'x');
        let got = feed(&mut dec, &noisy);
        assert!(got.is_empty());
        let got = feed(&mut dec, b"\n\x01\xffab\nok line\r\n");
        assert_eq!(got[0], Err(LineError::TooLong));
        assert_eq!(got[1], Err(LineError::NotText));
        assert_eq!(got[2].as_deref(), Ok("ok line"));
    }

    #[test]
    fn overlong_body_is_refused_by_encoder() {
        let mut s = heapless::String::<512>::new();
        let long = [b'a'; MAX_LINE];
        let long = core::str::from_utf8(&long).unwrap();
        assert!(encode_frame(1, &long, &mut s).is_err());
    }
}

#[cfg(test)]
mod spec_example {
    /// The example in PROTOCOL.md, so the document cannot drift from the code.
    #[test]
    fn protocol_md_example_checksum() {
        assert_eq!(
            super::parse_frame("17 EV 120450 lock M1 released*945E"),
            Ok((17, "EV 120450 lock M1 released"))
        );
    }
}
