//! Errors that point into an input file, and the one place they are rendered.

use std::fmt;
use std::path::{Path, PathBuf};

/// Inputs larger than this are refused before parsing.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;
/// Flow collections (`[...]`, `{...}`) nested deeper than this are refused
/// before parsing: no suite needs it, and the parser's time grows with it.
pub const MAX_FLOW_DEPTH: usize = 64;
/// Lines plus flow-collection items beyond which a file is refused before
/// parsing: the parser holds every node in memory at once, and no test plan
/// is this long (the bundled suites have a few hundred lines).
pub const MAX_ITEMS: usize = 100_000;
/// How much of a long source line an error shows on each side of its column.
const SHOW_AROUND: usize = 60;

/// A problem with a suite or rig file: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The offending line (or the part of a long one around the column).
    pub source_line: Option<String>,
    /// Characters of the line left out before `source_line`.
    shown_from: usize,
}

impl InputError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            at: None,
            message: message.into(),
            source_line: None,
            shown_from: 0,
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
        let (line, column, src) = match lines.get(line.saturating_sub(1)) {
            Some(l) => (line, column, Some(*l)),
            None => match lines.last() {
                Some(l) => (lines.len(), l.chars().count() + 1, Some(*l)),
                None => (line, column, None),
            },
        };
        // Show a window of a long line around the column, not all of it.
        let shown_from = column.saturating_sub(1 + SHOW_AROUND);
        let source_line = src.map(|l| {
            let mut shown: String = l.chars().skip(shown_from).take(2 * SHOW_AROUND).collect();
            if shown_from > 0 {
                shown.insert(0, '…');
            }
            if l.chars().count() > shown_from + 2 * SHOW_AROUND {
                shown.push('…');
            }
            shown
        });
        Self {
            file: file.to_owned(),
            at: Some((line, column)),
            message: message.into(),
            source_line,
            shown_from,
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
                "expected a rig: a mapping with `name`, `labels`, `controller` and `plant`, `qemu` or `fixtures`",
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
                    let skipped = if self.shown_from > 0 {
                        self.shown_from - 1
                    } else {
                        0
                    };
                    let caret = " ".repeat(col.saturating_sub(1).saturating_sub(skipped));
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
    let bytes = crate::model::input::read(path, MAX_INPUT_BYTES as u64, "suite and rig files")
        .map_err(|e| InputError::new(path, format!("cannot read file: {e}")))?;
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
    if let Some((i, c)) = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        let (line, col) = line_col(text, i);
        return Err(InputError::at(
            path,
            text,
            line,
            col,
            format!(
                "control character U+{:04X}: suite and rig files are text",
                u32::from(c)
            ),
        ));
    }
    if let Some((i, why)) = too_big(text) {
        let (line, col) = line_col(text, i);
        return Err(InputError::at(path, text, line, col, why));
    }
    yaml_serde::from_str(text).map_err(|e| {
        let mut err = InputError::from_yaml(path, text, &e);
        // The parser places a duplicate key at its map; point at the second key.
        if let Some(key) = duplicate_key(&err.message)
            && let Some(i) = second_key(text, &key)
        {
            let (line, col) = line_col(text, i);
            err = InputError::at(
                path,
                text,
                line,
                col,
                format!("{}: `{key}` appears twice in one mapping", err.message),
            );
        }
        err
    })
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |n| n + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Where, and why, the text is too deep or too long to hand to the parser.
fn too_big(text: &str) -> Option<(usize, String)> {
    let mut depth = 0usize;
    let mut items = 0usize;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if comment {
            comment = c != '\n';
        } else if let Some(q) = quote {
            if q == '"' && c == '\\' {
                chars.next();
            } else if c == q {
                // `''` inside single quotes is an escaped quote.
                if q == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
        } else {
            match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if matches!(prev, ' ' | '\n' | '[' | '{' | ',' | ':') => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((
                            i,
                            format!(
                                "`[`/`{{` nested more than {MAX_FLOW_DEPTH} deep: refused before parsing"
                            ),
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                ',' | '\n' => {
                    items += 1;
                    if items > MAX_ITEMS {
                        return Some((
                            i,
                            format!(
                                "more than {MAX_ITEMS} lines and items: refused before parsing (split the suite)"
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        prev = c;
    }
    None
}

/// The key of a "duplicate field" / "duplicate entry" parser error.
fn duplicate_key(message: &str) -> Option<String> {
    let rest = message
        .split("duplicate field `")
        .nth(1)
        .or_else(|| message.split("duplicate entry with key \"").nth(1))?;
    let end = rest.find(['`', '"'])?;
    Some(rest[..end].to_owned())
}

/// Byte offset of the second place `key:` is written as a key.
fn second_key(text: &str, key: &str) -> Option<usize> {
    let pat = format!("{key}:");
    text.match_indices(&pat)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            before.is_none_or(|c| matches!(c, ' ' | '\n' | '{' | ','))
        })
        .nth(1)
        .map(|(i, _)| i)
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
