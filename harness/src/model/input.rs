//! The one way the harness reads a file someone named: only a regular file
//! (a FIFO, `/dev/stdin` or a device would block or never end), and never
//! more than a bound set per kind of input, checked before reading and
//! again while reading (a file may grow).

use std::io::Read;
use std::path::Path;

/// JUnit reports read back (`--durations`, `report merge`).
pub const REPORT_LIMIT: u64 = 512 << 20;
/// Firmware images: far above any microcontroller's flash.
pub const FIRMWARE_LIMIT: u64 = 64 << 20;

/// Why a file was not read; the message names no path (callers do).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("{0}")]
    Io(String),
    #[error("it is {0}, not a regular file; only regular files are read")]
    NotRegular(&'static str),
    #[error("it is {size} bytes; {what} are limited to {limit} MiB", limit = limit >> 20)]
    TooLarge {
        size: u64,
        limit: u64,
        what: &'static str,
    },
}

/// What a file that is not regular is, for messages.
pub fn kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Whether `path` (links followed) is a regular file, or why not.
pub fn regular(path: &Path) -> Result<u64, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(e.to_string()))?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    Ok(meta.len())
}

/// Read a regular file of at most `limit` bytes (`what` names the kind of
/// input in the message).
pub fn read(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let size = regular(path)?;
    let too_large = |size| ReadError::TooLarge { size, limit, what };
    if size > limit {
        return Err(too_large(size));
    }
    let file = std::fs::File::open(path).map_err(|e| ReadError::Io(e.to_string()))?;
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text (invalid sequences replaced).
pub fn read_string(path: &Path, limit: u64, what: &'static str) -> Result<String, ReadError> {
    read(path, limit, what).map(|b| {
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn devices_and_fifos_are_refused_at_once_and_sizes_are_bounded() {
        let started = Instant::now();
        assert_eq!(
            read(Path::new("/dev/zero"), 1 << 20, "suite files"),
            Err(ReadError::NotRegular("a character device"))
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let fifo = dir.path().join("fifo");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            assert_eq!(
                read(&fifo, 1 << 20, "suite files"),
                Err(ReadError::NotRegular("a FIFO"))
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "nothing blocked"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 3 << 20]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read(&big, 2 << 20, "firmware images").map_err(|e| e.to_string()),
            Err("it is 3145728 bytes; firmware images are limited to 2 MiB".into())
        );
        assert_eq!(read(&big, 4 << 20, "x").map(|b| b.len()), Ok(3 << 20));
    }
}
