//! Where a node of a YAML file is, by its path (`cases[2].name`), as the
//! YAML parser itself places it: never by searching the text for a name,
//! which finds the first case of that name, not the one meant.
//!
//! The parser gives a position only with an error, so a node is located by
//! walking the document to it (everything else skipped) and failing there;
//! the same walk deserializes one part of a file on its own ([`part`]),
//! which is how every problem of a file is found in one run.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;
use std::marker::PhantomData;

/// One step of a path into a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// The value under a mapping's key.
    Key(&'a str),
    /// A sequence's item.
    Index(usize),
    /// A mapping's key itself (as the last step: `retries:` rather than its value).
    KeyItself(&'a str),
    /// The second time a mapping has this key (as the last step).
    KeyAgain(&'a str),
}

impl fmt::Display for Seg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(k) | Self::KeyItself(k) | Self::KeyAgain(k) => write!(f, ".{k}"),
            Self::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// The error text a located walk stops with: no input can contain it.
const HERE: &str = "\u{0}locate\u{0}";

/// 1-based line and column of the node at `path` in `text`; `None` when the
/// file has no such node.
pub fn position(text: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    let de = yaml_serde::Deserializer::from_str(text);
    match (Walk { path, seed: Here }).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The position of the deepest node of `path` that is in `text`: a name
/// given in a step's short form has no `compartment:` key, and is placed at
/// its step.
pub fn nearest(text: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    (0..=path.len())
        .rev()
        .find_map(|n| position(text, &path[..n]))
}

/// The node at `path` deserialized on its own, the rest of the file only
/// read past: `Ok(None)` when there is no such node. An error's location
/// and path are the file's, as in a whole-file parse.
pub fn part<T: DeserializeOwned>(
    text: &str,
    path: &[Seg<'_>],
) -> Result<Option<T>, yaml_serde::Error> {
    let de = yaml_serde::Deserializer::from_str(text);
    (Walk {
        path,
        seed: PhantomData::<T>,
    })
    .deserialize(de)
}

/// Stops with [`HERE`] at the node it is given.
struct Here;

impl<'de> DeserializeSeed<'de> for Here {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // Stopped inside the parser's own call, so that it places the node.
        d.deserialize_any(Stop)
    }
}

struct Stop;

impl<'de> Visitor<'de> for Stop {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HERE))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(HERE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HERE))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HERE))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HERE))
    }
}

/// Down `path` to the node `seed` takes; all else is skipped.
struct Walk<'p, S> {
    path: &'p [Seg<'p>],
    seed: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Walk<'_, S> {
    type Value = Option<S::Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.path.split_first() {
            None => self.seed.deserialize(d).map(Some),
            Some((&seg, rest)) => d.deserialize_any(Down {
                seg,
                rest,
                seed: Some(self.seed),
            }),
        }
    }
}

struct Down<'p, S> {
    seg: Seg<'p>,
    rest: &'p [Seg<'p>],
    seed: Option<S>,
}

/// A mapping key: compared, or stopped at when it is `0`.
struct Key<'a>(Option<&'a str>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        // Stopped inside the parser's own call, so that it places the key.
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if self.0 == Some(key) {
            return Err(E::custom(HERE));
        }
        Ok(key.to_owned())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Down<'_, S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a node with {}", self.seg)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        // The key to stop at now, and one to stop at when it comes again.
        let (mut stop_at, again) = match self.seg {
            Seg::KeyItself(k) if self.rest.is_empty() => (Some(k), None),
            Seg::KeyAgain(k) if self.rest.is_empty() => (None, Some(k)),
            _ => (None, None),
        };
        let mut found = None;
        while let Some(key) = map.next_key_seed(Key(stop_at))? {
            if again == Some(key.as_str()) {
                stop_at = again;
            }
            match (self.seg, self.seed.take()) {
                (Seg::Key(k), Some(seed)) if k == key => {
                    found = map.next_value_seed(Walk {
                        path: self.rest,
                        seed,
                    })?;
                }
                (_, seed) => {
                    self.seed = seed;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        loop {
            let more = match (self.seg, self.seed.take()) {
                (Seg::Index(n), Some(seed)) if n == i => seq
                    .next_element_seed(Walk {
                        path: self.rest,
                        seed,
                    })?
                    .map(|f| found = f),
                (_, seed) => {
                    self.seed = seed;
                    seq.next_element::<IgnoredAny>()?.map(|_| ())
                }
            };
            if more.is_none() {
                return Ok(found);
            }
            i += 1;
        }
    }

    // A scalar has no child: the path is not in this file.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::Seg::{Index, Key, KeyAgain, KeyItself};
    use super::*;

    const SUITE: &str = "name: demo\nretries: 2\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n  - name: one\n    steps:\n      - door: { compartment: Z9, action: hold }\n      - keys: \"1#\"\n";

    #[test]
    fn a_node_is_where_the_parser_puts_it_not_where_its_text_first_appears() {
        assert_eq!(
            position(SUITE, &[Key("cases"), Index(1), Key("name")]),
            Some((7, 11))
        );
        assert_eq!(
            position(SUITE, &[Key("cases"), Index(0), Key("name")]),
            Some((4, 11))
        );
        let door = [
            Key("cases"),
            Index(1),
            Key("steps"),
            Index(0),
            Key("door"),
            Key("compartment"),
        ];
        assert_eq!(position(SUITE, &door), Some((9, 30)));
        assert_eq!(position(SUITE, &[KeyItself("retries")]), Some((2, 1)));
        assert_eq!(position(SUITE, &[Key("retries")]), Some((2, 10)));
    }

    #[test]
    fn a_key_written_twice_is_placed_at_its_second() {
        let text =
            "name: a\ncases:\n  - name: one\n    steps: []\n  - name: two\n    name: three\n";
        assert_eq!(
            position(text, &[Key("cases"), Index(1), KeyAgain("name")]),
            Some((6, 5))
        );
        assert_eq!(
            position(text, &[Key("cases"), Index(0), KeyAgain("name")]),
            None
        );
    }

    #[test]
    fn a_path_the_file_does_not_have_is_none_and_nearest_falls_back() {
        let keys = [
            Key("cases"),
            Index(1),
            Key("steps"),
            Index(1),
            Key("keys"),
            Key("compartment"),
        ];
        assert_eq!(position(SUITE, &keys), None);
        assert_eq!(nearest(SUITE, &keys), Some((10, 15)));
        assert_eq!(position(SUITE, &[Key("cases"), Index(9)]), None);
    }

    #[test]
    fn a_part_is_read_on_its_own() {
        let name: Option<String> = part(SUITE, &[Key("cases"), Index(1), Key("name")]).unwrap();
        assert_eq!(name.as_deref(), Some("one"));
        let bad = part::<u32>(SUITE, &[Key("cases"), Index(1), Key("name")]).unwrap_err();
        assert_eq!(bad.location().map(|l| l.line()), Some(7));
        assert!(bad.to_string().starts_with("cases[1].name"), "{bad}");
    }
}
