//! `--filter` expressions: choose cases by tag, suite and name.
//!
//! ```text
//! expr  := or
//! or    := and ("|" and)*
//! and   := unary ("&" unary)*
//! unary := "!" unary | "(" or ")" | atom
//! atom  := tag:NAME | suite:NAME | name:TEXT | TEXT
//! ```
//! `tag:` matches a case's tags and its suite's; `suite:` the suite name
//! exactly; `name:` and a bare word are substrings of `suite::case`.
//!
//! Spaces separate terms, so text with spaces is quoted, in the value
//! (`name:"valid code"`) or whole (`"valid code"`); in a shell the whole
//! filter goes in single quotes: `--filter 'name:"valid code" & tag:smoke'`.

use crate::model::suite::{Case, Suite};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Tag(String),
    Suite(String),
    Name(String),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    pub fn matches(&self, suite: &Suite, case: &Case) -> bool {
        match self {
            Self::Tag(t) => case.tags.iter().chain(&suite.tags).any(|x| x == t),
            Self::Suite(s) => &suite.name == s,
            Self::Name(n) => format!("{}::{}", suite.name, case.name).contains(n.as_str()),
            Self::Not(f) => !f.matches(suite, case),
            Self::And(a, b) => a.matches(suite, case) && b.matches(suite, case),
            Self::Or(a, b) => a.matches(suite, case) || b.matches(suite, case),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            text,
        };
        let f = p.or()?;
        match p.peek() {
            None => Ok(f),
            Some(_) => Err(p.unexpected("`&`, `|` or the end")),
        }
    }
}

/// A term, as opposed to an operator or a parenthesis.
fn is_word(t: &str) -> bool {
    !["&", "|", "!", "(", ")"].contains(&t)
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '&' | '|' | '!' | '(' | ')' => {
                out.push(c.to_string());
                chars.next();
            }
            '"' => {
                chars.next();
                let mut s = String::from("\"");
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => s.push(ch),
                        None => return Err(format!("--filter `{text}`: unterminated quote")),
                    }
                }
                out.push(s);
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.peek() {
                    if matches!(ch, ' ' | '\t' | '&' | '|' | '!' | '(' | ')') {
                        break;
                    }
                    if ch == '"' {
                        chars.next();
                        loop {
                            match chars.next() {
                                Some('"') => break,
                                Some(q) => s.push(q),
                                None => {
                                    return Err(format!("--filter `{text}`: unterminated quote"));
                                }
                            }
                        }
                        continue;
                    }
                    s.push(ch);
                    chars.next();
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<String>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    /// The token at the cursor was not what the grammar wanted (`expected`).
    /// Two terms side by side are most often a name with a space in it
    /// (`name:valid code`): say how to quote it.
    fn unexpected(&self, expected: &str) -> String {
        let text = self.text;
        let t = self.peek().unwrap_or_default();
        let prev = self.pos.checked_sub(1).and_then(|i| self.tokens.get(i));
        match prev {
            Some(p) if is_word(p) && is_word(t) => {
                let p = p.trim_start_matches('"');
                let quoted = match p.split_once(':') {
                    Some((k, v)) if ["tag", "suite", "name"].contains(&k) => {
                        format!("{k}:\"{v} {t}\"")
                    }
                    _ => format!("\"{p} {t}\""),
                };
                format!(
                    "--filter `{text}`: unexpected `{t}` after `{p}`; text with spaces must be quoted \
                     ({quoted}, and in a shell the whole filter in single quotes: \
                     --filter '{quoted}'), and terms are joined with `&` or `|`"
                )
            }
            _ => format!("--filter `{text}`: unexpected `{t}`; expected {expected}"),
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut f = self.and()?;
        while self.peek() == Some("|") {
            self.pos += 1;
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut f = self.unary()?;
        while self.peek() == Some("&") {
            self.pos += 1;
            f = Filter::And(Box::new(f), Box::new(self.unary()?));
        }
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        let text = self.text;
        match self.peek() {
            Some("!") => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some("(") => {
                self.pos += 1;
                let f = self.or()?;
                match self.peek() {
                    Some(")") => {}
                    Some(_) => return Err(self.unexpected("`&`, `|` or `)`")),
                    None => return Err(format!("--filter `{text}`: missing `)`")),
                }
                self.pos += 1;
                Ok(f)
            }
            Some(t) if ["&", "|", ")"].contains(&t) => Err(format!(
                "--filter `{text}`: unexpected `{t}`; expected a term like tag:smoke"
            )),
            Some(t) => {
                let t = t.trim_start_matches('"').to_owned();
                self.pos += 1;
                let atom = if let Some(v) = t.strip_prefix("tag:") {
                    Filter::Tag(v.into())
                } else if let Some(v) = t.strip_prefix("suite:") {
                    Filter::Suite(v.into())
                } else if let Some(v) = t.strip_prefix("name:") {
                    Filter::Name(v.into())
                } else if let Some((k, _)) = t
                    .split_once(':')
                    .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphabetic()))
                {
                    return Err(format!(
                        "--filter `{text}`: unknown key `{k}:`; expected tag:, suite: or name:"
                    ));
                } else {
                    Filter::Name(t)
                };
                if matches!(&atom, Filter::Tag(v) | Filter::Suite(v) | Filter::Name(v) if v.is_empty())
                {
                    return Err(format!("--filter `{text}`: empty term"));
                }
                Ok(atom)
            }
            None => Err(format!(
                "--filter `{text}`: expected a term like tag:smoke, suite:lockouts or a name"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_errors() {
        let f = Filter::parse("tag:smoke | suite:jams & !name:hold").unwrap();
        assert_eq!(
            f,
            Filter::Or(
                Box::new(Filter::Tag("smoke".into())),
                Box::new(Filter::And(
                    Box::new(Filter::Suite("jams".into())),
                    Box::new(Filter::Not(Box::new(Filter::Name("hold".into()))))
                )),
            )
        );
        assert!(Filter::parse("tga:smoke").is_err());
        assert!(Filter::parse("(tag:a").is_err());
        assert!(Filter::parse("tag:a &").is_err());
        assert_eq!(
            Filter::parse("\"wrong code\"").unwrap(),
            Filter::Name("wrong code".into())
        );
    }

    /// Issue 13: `name:valid code` failed with a bare "unexpected `code`".
    #[test]
    fn a_name_with_a_space_is_quoted_and_the_error_says_how() {
        assert_eq!(
            Filter::parse("name:\"valid code\" & tag:smoke").unwrap(),
            Filter::And(
                Box::new(Filter::Name("valid code".into())),
                Box::new(Filter::Tag("smoke".into()))
            )
        );
        insta::assert_snapshot!(Filter::parse("name:valid code").unwrap_err(), @r#"--filter `name:valid code`: unexpected `code` after `name:valid`; text with spaces must be quoted (name:"valid code", and in a shell the whole filter in single quotes: --filter 'name:"valid code"'), and terms are joined with `&` or `|`"#);
        insta::assert_snapshot!(Filter::parse("(suite:jams | valid code)").unwrap_err(), @r#"--filter `(suite:jams | valid code)`: unexpected `code` after `valid`; text with spaces must be quoted ("valid code", and in a shell the whole filter in single quotes: --filter '"valid code"'), and terms are joined with `&` or `|`"#);
        insta::assert_snapshot!(Filter::parse("name:\"valid code").unwrap_err(), @r#"--filter `name:"valid code`: unterminated quote"#);
        insta::assert_snapshot!(Filter::parse("tag:a )").unwrap_err(), @r"--filter `tag:a )`: unexpected `)`; expected `&`, `|` or the end");
    }
}
