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

use crate::suite::{Case, Suite};

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
        match p.tokens.get(p.pos) {
            None => Ok(f),
            Some(t) => Err(format!(
                "--filter `{text}`: unexpected `{t}`; expected `&`, `|` or the end"
            )),
        }
    }
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
                        for q in chars.by_ref() {
                            if q == '"' {
                                break;
                            }
                            s.push(q);
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
                if self.peek() != Some(")") {
                    return Err(format!("--filter `{text}`: missing `)`"));
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
}
