//! One part of a YAML file deserialized on its own (`cases[2]`), the rest
//! of the file only read past: how every problem of a file is found in one
//! run when the whole does not deserialize. An error's location and path
//! are the file's, as in a whole-file parse, because it is the same parser
//! reading the same text.

use crate::model::places::Seg;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;
use std::marker::PhantomData;

/// The node at `path` deserialized on its own: `Ok(None)` when there is no
/// such node.
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

/// A mapping key, as text.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
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
        let mut found = None;
        while let Some(key) = map.next_key_seed(Key)? {
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
    use super::*;
    use crate::model::places::Seg::{Index, Key};

    const SUITE: &str = "name: demo\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n  - name: one\n    steps:\n      - keys: \"1#\"\n";

    #[test]
    fn a_part_is_read_on_its_own() {
        let name: Option<String> = part(SUITE, &[Key("cases"), Index(1), Key("name")]).unwrap();
        assert_eq!(name.as_deref(), Some("one"));
        let bad = part::<u32>(SUITE, &[Key("cases"), Index(1), Key("name")]).unwrap_err();
        assert_eq!(bad.location().map(|l| l.line()), Some(6));
        assert!(bad.to_string().starts_with("cases[1].name"), "{bad}");
        assert!(
            part::<u32>(SUITE, &[Key("cases"), Index(7)])
                .unwrap()
                .is_none()
        );
    }
}
