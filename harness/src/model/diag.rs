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

/// A file's problems in the order a reader meets them (unplaced ones
/// last), each once.
pub fn in_reading_order(errors: &mut Vec<InputError>) {
    errors.sort_by_key(|e| e.at.unwrap_or((usize::MAX, 0)));
    errors.dedup_by(|a, b| a.at == b.at && a.message == b.message);
}

/// Every problem found in an input file (or in every file of a run), in
/// the order a reader meets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<InputError>);

impl std::ops::Deref for Problems {
    type Target = [InputError];

    fn deref(&self) -> &[InputError] {
        &self.0
    }
}

impl From<InputError> for Problems {
    fn from(e: InputError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

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

    /// An error at `at` (line, column), or about the whole file when the
    /// place is not known.
    pub fn placed(
        file: &Path,
        text: &str,
        at: Option<(usize, usize)>,
        message: impl Into<String>,
    ) -> Self {
        match at {
            Some((line, column)) => Self::at(file, text, line, column, message),
            None => Self::new(file, message),
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
        // The parser places a duplicate key at its map; point at the second key.
        if let Some(key) = duplicate_key(&msg)
            && let Some((line, col)) = second_key(text, &msg, &key)
        {
            let msg = format!("{msg}: `{key}` appears twice in one mapping");
            return Self::at(file, text, line, col, msg);
        }
        let msg = format!("{msg}{}", near_miss(&msg));
        let at = err.location().map(|l| (l.line(), l.column()));
        Self::placed(file, text, at, msg)
    }
}

/// For serde's "unknown field `withn`, expected one of `within`, ..." (and
/// its variants' and `expected `a` or `b``), the name meant.
fn near_miss(msg: &str) -> String {
    let Some(rest) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| msg.split_once(p).map(|(_, r)| r))
    else {
        return String::new();
    };
    let Some((word, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let names = expected.split('`').skip(1).step_by(2);
    did_you_mean(word, names)
}

/// `; did you mean `x`?` when one of `names` is a near miss of `word` (a
/// typo: a few letters wrong, missing, extra or swapped), else nothing.
pub fn did_you_mean<'a>(word: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let most = (word.chars().count() / 3).max(1);
    let best = names
        .into_iter()
        .filter(|n| *n != word)
        .map(|n| (edit_distance(&word.to_lowercase(), &n.to_lowercase()), n))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d);
    best.map(|(_, n)| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours, one each.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
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

/// What is refused before any parsing: an empty file, tabs, control
/// characters, and sizes and depths no test plan has.
pub fn precheck(path: &Path, text: &str) -> Result<(), InputError> {
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
    Ok(())
}

/// Parse YAML text into `T`, locating any error.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, InputError> {
    precheck(path, text)?;
    yaml_serde::from_str(text).map_err(|e| InputError::from_yaml(path, text, &e))
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

/// Where the mapping a "duplicate" error is about (its path leads the
/// message: `cases[2].steps[0]: duplicate field ...`) has `key` a second
/// time, as the parser places it.
fn second_key(text: &str, message: &str, key: &str) -> Option<(usize, usize)> {
    use crate::model::places::{Places, Seg};
    let path = message.split_once(": duplicate").map_or("", |(p, _)| p);
    let path = if path.starts_with("duplicate") {
        ""
    } else {
        path
    };
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            segs.push(Seg::Key(name));
        }
        for i in pieces {
            segs.push(Seg::Index(i.trim_end_matches(']').parse().ok()?));
        }
    }
    segs.push(Seg::KeyAgain(key));
    Places::of(text).at(&segs)
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

#[cfg(test)]
mod near_misses {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::swapped_letters("compartmnet", &["compartment", "action"], "; did you mean `compartment`?")]
    #[case::missing_letter("withn", &["within", "for"], "; did you mean `within`?")]
    #[case::case_differs("m1", &["S1", "M1"], "; did you mean `M1`?")]
    #[case::too_far("colour", &["within", "for"], "")]
    #[case::short_words_need_near_exact("Z9", &["S1", "M1"], "")]
    fn a_near_miss_is_named(#[case] word: &str, #[case] names: &[&str], #[case] want: &str) {
        assert_eq!(did_you_mean(word, names.iter().copied()), want);
    }

    #[test]
    fn serde_unknown_names_get_a_suggestion() {
        let msg = "cases[0].steps[1].expect: unknown field `withn`, expected one of `display`, `within`, `compartment`";
        assert_eq!(near_miss(msg), "; did you mean `within`?");
        assert_eq!(
            near_miss("unknown variant `kyes`, expected `keys` or `help`"),
            "; did you mean `keys`?"
        );
        assert_eq!(near_miss("missing field `name`"), "");
    }
}
