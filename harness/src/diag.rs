//! Errors that point into an input file, and the one place they are rendered.

use std::fmt;
use std::path::{Path, PathBuf};

/// Inputs larger than this are refused before parsing.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// A problem with a suite or rig file: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The offending line, to show under the message.
    pub source_line: Option<String>,
}

impl InputError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            at: None,
            message: message.into(),
            source_line: None,
        }
    }

    pub fn at(
        file: &Path,
        text: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        // A location just past the end (unterminated input) shows the last line.
        let lines: Vec<&str> = text.lines().collect();
        let (line, column, source_line) = match lines.get(line.saturating_sub(1)) {
            Some(l) => (line, column, Some(l.chars().take(200).collect())),
            None => match lines.last() {
                Some(l) => (
                    lines.len(),
                    l.chars().count() + 1,
                    Some(l.chars().take(200).collect()),
                ),
                None => (line, column, None),
            },
        };
        Self {
            file: file.to_owned(),
            at: Some((line, column)),
            message: message.into(),
            source_line,
        }
    }

    /// Turn a yaml_serde error into a located one. Its text is `path: what
    /// at line L column C`; the location is kept apart so it is rendered once.
    pub fn from_yaml(file: &Path, text: &str, err: &yaml_serde::Error) -> Self {
        let msg = strip_location(&err.to_string())
            .replace(
                "expected struct Suite",
                "expected a suite: a mapping with `name`, `description`, `tags` and `cases`",
            )
            .replace(
                "expected struct RawRig",
                "expected a rig: a mapping with `name`, `labels`, `controller` and `sim`",
            );
        match err.location() {
            Some(loc) => Self::at(file, text, loc.line(), loc.column(), msg),
            None => Self::new(file, msg),
        }
    }
}

impl fmt::Display for InputError {
    /// ```text
    /// error: cases[0].steps[1]: unknown variant `kyes`, expected one of `keys`, ...
    ///   --> suites/code-entry.yaml:6:9
    ///    |
    ///  6 |       - kyes: "2"
    ///    |         ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        match self.at {
            Some((line, col)) => {
                write!(f, "  --> {}:{line}:{col}", self.file.display())?;
                if let Some(src) = &self.source_line {
                    let w = line.to_string().len();
                    let pad = " ".repeat(w);
                    let caret = " ".repeat(col.saturating_sub(1));
                    write!(f, "\n {pad} |\n {line} | {src}\n {pad} | {caret}^")?;
                }
                Ok(())
            }
            None => write!(f, "  --> {}", self.file.display()),
        }
    }
}

impl std::error::Error for InputError {}

/// Drop the parser's own ` at line L column C`: the location is rendered apart.
fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else {
        return msg.to_owned();
    };
    let rest = &msg[i + " at line ".len()..];
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = digits(rest);
    let Some(after_col) = rest[n..].strip_prefix(" column ") else {
        return msg.to_owned();
    };
    let m = digits(after_col);
    format!("{}{}", &msg[..i], &after_col[m..])
}

/// Read an input file as UTF-8 text, refusing what cannot be a suite or rig.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| InputError::new(path, format!("cannot read file: {e}")))?;
    if meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(InputError::new(
            path,
            format!(
                "file is {} bytes; suite and rig files are limited to {} MiB",
                meta.len(),
                MAX_INPUT_BYTES >> 20
            ),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| InputError::new(path, format!("cannot read file: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        InputError::at(
            path,
            &text,
            line,
            col,
            "file is not valid UTF-8: expected YAML text",
        )
    })
}

/// Parse YAML text into `T`, locating any error.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(
            path,
            "file is empty: expected a YAML mapping",
        ));
    }
    if let Some((i, line)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start_matches(' ').starts_with('\t'))
    {
        let col = line.len() - line.trim_start_matches(' ').len() + 1;
        return Err(InputError::at(
            path,
            text,
            i + 1,
            col,
            "tab used for indentation: YAML indents with spaces",
        ));
    }
    yaml_serde::from_str(text).map_err(|e| InputError::from_yaml(path, text, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_caret() {
        let e = InputError::at(
            Path::new("s.yaml"),
            "a: 1\nbad: [\n",
            2,
            6,
            "unexpected end",
        );
        insta::assert_snapshot!(e.to_string(), @r"
        error: unexpected end
          --> s.yaml:2:6
           |
         2 | bad: [
           |      ^
        ");
    }
}
