//! A line with the codes a case bound replaced by their `$name`: the one
//! scrub the report pass and the spill file both use. A leaf.

use std::collections::BTreeSet;

/// The digits of a bound value that is a code a report must never show
/// (typed with its `#` or not): every code an issuer gives, 4 digits or more.
pub fn code_digits(value: &str) -> Option<&str> {
    let digits = value.trim_end_matches('#');
    (digits.len() >= MIN_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The fewest digits of a code (an issuer's codes have 4 to 16).
const MIN_DIGITS: usize = 4;

/// Digits from which a code seen anywhere on the console is a leak. A
/// shorter one is scrubbed all the same, but in a log line it is as likely
/// an uptime or a counter as the code, so only the controller's display
/// showing it counts as a leak.
pub const LEAK_DIGITS: usize = 8;

/// Whether a code with these digits leaks when a console line shows it.
pub fn leaks_in_lines(digits: &str) -> bool {
    digits.len() >= LEAK_DIGITS
}

/// `text` with every whole number (a run of digits not inside a longer one,
/// such as a timestamp) that is one of the `(digits, name)` codes replaced by
/// `$name`; `None` when there is none. One pass over the line, whatever the
/// number of codes.
pub fn redact_line<'c>(
    text: &str,
    codes: &[(&str, &'c str)],
    leaked: &mut BTreeSet<&'c str>,
) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &text[start..i];
        if let Some(&(_, name)) = codes.iter().find(|(digits, _)| *digits == run) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push('$');
            o.push_str(name);
            copied = i;
            leaked.insert(name);
        }
    }
    let mut out = out?;
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
mod redaction {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::alone("12345678", Some("$p"))]
    #[case::in_text("code 12345678 ok", Some("code $p ok"))]
    #[case::with_hash("KEY 12345678#", Some("KEY $p#"))]
    #[case::inside_a_longer_number("EV 912345678 x", None)]
    #[case::prefix_of_a_longer_number("t=123456789", None)]
    #[case::twice_and_two_codes("12345678,87654321 12345678", Some("$p,$q $p"))]
    #[case::no_digits("door A1 open", None)]
    fn redaction_replaces_whole_numbers_only(#[case] text: &str, #[case] want: Option<&str>) {
        let codes = [("12345678", "p"), ("87654321", "q")];
        let mut leaked = BTreeSet::new();
        assert_eq!(redact_line(text, &codes, &mut leaked).as_deref(), want);
        assert_eq!(leaked.is_empty(), want.is_none());
    }

    proptest::proptest! {
        /// Whatever the line, no code is left standing as a whole number,
        /// and a line without one comes back untouched.
        #[test]
        fn redaction_leaves_no_whole_code(parts in proptest::collection::vec(
            proptest::prop_oneof!["12345678", "87654321", "[0-9]{1,9}", "[ a-z#:,.+]{1,4}"], 0..12)
        ) {
            let text: String = parts.concat();
            let codes = [("12345678", "p"), ("87654321", "q")];
            let out = redact_line(&text, &codes, &mut BTreeSet::new());
            let clean = out.clone().unwrap_or_else(|| text.clone());
            let is_code = |r: &str| codes.iter().any(|(d, _)| *d == r);
            proptest::prop_assert!(!clean.split(|c: char| !c.is_ascii_digit()).any(is_code));
            let had = text.split(|c: char| !c.is_ascii_digit()).any(is_code);
            proptest::prop_assert_eq!(out.is_some(), had);
        }
    }
}
