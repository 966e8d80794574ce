//! Where every node of a YAML file is, recorded in one pass over the YAML
//! parser's events: a tree shaped like the document, each node with its
//! position and, in a mapping, its key's. A check of the checked model asks
//! for a node by its path (`cases[2].name`) and gets where the file has it:
//! never by searching the text for a name, which finds the first case of
//! that name, not the one meant.
//!
//! The tree is flat (one `Vec`, children linked by index), so that neither
//! building it nor dropping it recurses however deep a document nests, and
//! it costs one parse whatever number of nodes are asked for. Aliases are
//! leaves where they are written: nothing is expanded.

use saphyr_parser::{Event, Parser};
use std::fmt;

/// 1-based line and column.
pub type Pos = (usize, usize);

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

/// No node: the end of a list of children.
const NONE: u32 = u32::MAX;

/// The positions of a document's nodes.
#[derive(Debug, Default)]
pub struct Places {
    /// `nodes[0]` is the document's root, when it has one.
    nodes: Vec<Node>,
}

/// A mapping key as written, and where it is.
type Keyed = (Box<str>, (u32, u32));

#[derive(Debug)]
struct Node {
    at: (u32, u32),
    /// The key this node is the value of.
    key: Option<Keyed>,
    seq: bool,
    first: u32,
    last: u32,
    next: u32,
}

/// A collection being read: its node, and the key its next value is under.
struct Open {
    node: u32,
    map: bool,
    key: Option<Keyed>,
}

fn pos(at: (u32, u32)) -> Pos {
    (at.0 as usize, at.1 as usize)
}

impl Places {
    /// The places of `text`'s first document. A text the parser stops on
    /// keeps what was read before the stop.
    pub fn of(text: &str) -> Self {
        let mut places = Self::default();
        let mut open: Vec<Open> = Vec::new();
        // Inside a key that is itself a collection (`? [a, b]: c`): its
        // nesting, and where it began.
        let mut in_key = (0usize, (0, 0));
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let to = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            let at = (to(span.start.line()), to(span.start.col() + 1));
            let (collection, map) = match &event {
                Event::SequenceStart(..) => (true, false),
                Event::MappingStart(..) => (true, true),
                Event::Scalar(..) | Event::Alias(_) => (false, false),
                Event::SequenceEnd | Event::MappingEnd => {
                    if in_key.0 > 0 {
                        in_key.0 -= 1;
                        if in_key.0 == 0
                            && let Some(top) = open.last_mut()
                        {
                            top.key = Some(("".into(), in_key.1));
                        }
                    } else {
                        open.pop();
                    }
                    continue;
                }
                Event::DocumentEnd => break,
                _ => continue,
            };
            if in_key.0 > 0 {
                in_key.0 += usize::from(collection);
                continue;
            }
            if let Some(top) = open.last_mut()
                && top.map
                && top.key.is_none()
            {
                match event {
                    Event::Scalar(v, ..) => top.key = Some((v.as_ref().into(), at)),
                    Event::Alias(_) => top.key = Some(("".into(), at)),
                    _ => in_key = (1, at),
                }
                continue;
            }
            let parent = open.last_mut().map(|top| (top.node, top.key.take()));
            let Some(node) = places.add(parent, at, !map) else {
                break;
            };
            if collection {
                open.push(Open {
                    node,
                    map,
                    key: None,
                });
            }
        }
        places
    }

    /// A new node under `parent` (with the key it is the value of); `None`
    /// when the tree is full.
    fn add(
        &mut self,
        parent: Option<(u32, Option<Keyed>)>,
        at: (u32, u32),
        seq: bool,
    ) -> Option<u32> {
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != NONE)?;
        let key = match parent {
            Some((p, key)) => {
                let p = p as usize;
                match self.nodes[p].last {
                    NONE => self.nodes[p].first = id,
                    last => self.nodes[last as usize].next = id,
                }
                self.nodes[p].last = id;
                key
            }
            None if self.nodes.is_empty() => None,
            // A second root: not this document's.
            None => return None,
        };
        self.nodes.push(Node {
            at,
            key,
            seq,
            first: NONE,
            last: NONE,
            next: NONE,
        });
        Some(id)
    }

    fn children(&self, n: u32) -> impl Iterator<Item = u32> + '_ {
        let mut c = self.nodes[n as usize].first;
        std::iter::from_fn(move || {
            let this = c;
            (this != NONE).then(|| {
                c = self.nodes[this as usize].next;
                this
            })
        })
    }

    fn keyed<'a>(&'a self, n: u32, k: &'a str) -> impl Iterator<Item = u32> + 'a {
        self.children(n).filter(move |&c| {
            self.nodes[c as usize]
                .key
                .as_ref()
                .is_some_and(|(key, _)| **key == *k)
        })
    }

    /// Where the node at `path` is; `None` when the file has no such node.
    pub fn at(&self, path: &[Seg<'_>]) -> Option<Pos> {
        let (last, parent) = match path.split_last() {
            Some((&Seg::KeyItself(k), parent)) => (Some((k, 0)), parent),
            Some((&Seg::KeyAgain(k), parent)) => (Some((k, 1)), parent),
            _ => (None, path),
        };
        let n = self.node(parent)?;
        match last {
            None => Some(pos(self.nodes[n as usize].at)),
            Some((k, nth)) => {
                let node = &self.nodes[n as usize];
                let entry = (!node.seq).then(|| self.keyed(n, k).nth(nth))??;
                self.nodes[entry as usize]
                    .key
                    .as_ref()
                    .map(|(_, at)| pos(*at))
            }
        }
    }

    /// The path (`cases[2].steps[0].expect`) of the deepest node that
    /// starts at or before `at` and encloses it as far as the document's
    /// shape tells: what a located problem is under. Empty at the root.
    pub fn path_at(&self, at: Pos) -> String {
        let mut path = String::new();
        let Some(root) = (!self.nodes.is_empty()).then_some(0u32) else {
            return path;
        };
        let mut n = root;
        loop {
            let node = &self.nodes[n as usize];
            let mut inside = None;
            for (i, c) in self.children(n).enumerate() {
                let child = &self.nodes[c as usize];
                let starts = child.key.as_ref().map_or(child.at, |(_, k)| *k);
                if pos(starts) <= at {
                    inside = Some((i, c));
                } else {
                    break;
                }
            }
            let Some((i, c)) = inside else {
                return path;
            };
            if node.seq {
                path.push_str(&format!("[{i}]"));
            } else if let Some((k, _)) = &self.nodes[c as usize].key {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            n = c;
        }
    }

    /// How many items (or entries) the node at `path` has: 0 for a
    /// scalar or no such node.
    pub fn len(&self, path: &[Seg<'_>]) -> usize {
        self.node(path).map_or(0, |n| self.children(n).count())
    }

    fn node(&self, path: &[Seg<'_>]) -> Option<u32> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut n = 0u32;
        for seg in path {
            let node = &self.nodes[n as usize];
            n = match *seg {
                Seg::Key(k) if !node.seq => self.keyed(n, k).next()?,
                Seg::Index(j) if node.seq => self.children(n).nth(j)?,
                _ => return None,
            };
        }
        Some(n)
    }

    /// Where the deepest node of `path` that the file has is: a name given
    /// in a step's short form has no `compartment:` key, and is placed at
    /// its step.
    pub fn nearest(&self, path: &[Seg<'_>]) -> Option<Pos> {
        (0..=path.len()).rev().find_map(|n| self.at(&path[..n]))
    }
}

/// The text a checked model was read from, and where each of its nodes is:
/// what lets a check made after reading point at the node it is about.
#[derive(Debug, Default)]
pub struct Origin {
    pub text: String,
    pub places: Places,
}

impl Origin {
    /// `text` with its places recorded (one parse).
    pub fn new(text: String) -> Self {
        let places = Places::of(&text);
        Self { text, places }
    }

    /// See [`Places::at`].
    pub fn at(&self, path: &[Seg<'_>]) -> Option<Pos> {
        self.places.at(path)
    }

    /// See [`Places::nearest`].
    pub fn nearest(&self, path: &[Seg<'_>]) -> Option<Pos> {
        self.places.nearest(path)
    }
}

#[cfg(test)]
mod tests {
    use super::Seg::{Index, Key, KeyAgain, KeyItself};
    use super::*;
    use crate::model::locate::part;

    const SUITE: &str = "name: demo\nretries: 2\ncases:\n  - name: one\n    steps:\n      - wait: 1s\n  - name: one\n    steps:\n      - door: { compartment: Z9, action: hold }\n      - keys: \"1#\"\n";

    #[rstest::rstest]
    #[case::a_top_key((2, 10), "retries")]
    #[case::a_value_in_a_flow_map((9, 30), "cases[1].steps[0].door.compartment")]
    #[case::a_step_key((10, 9), "cases[1].steps[1].keys")]
    #[case::the_start((1, 1), "name")]
    fn a_place_has_the_path_of_what_is_there(#[case] at: Pos, #[case] path: &str) {
        assert_eq!(Places::of(SUITE).path_at(at), path);
    }

    #[test]
    fn a_node_is_where_the_parser_puts_it_not_where_its_text_first_appears() {
        let p = Places::of(SUITE);
        assert_eq!(p.at(&[Key("cases"), Index(1), Key("name")]), Some((7, 11)));
        assert_eq!(p.at(&[Key("cases"), Index(0), Key("name")]), Some((4, 11)));
        let door = [
            Key("cases"),
            Index(1),
            Key("steps"),
            Index(0),
            Key("door"),
            Key("compartment"),
        ];
        assert_eq!(p.at(&door), Some((9, 30)));
        assert_eq!(p.at(&[KeyItself("retries")]), Some((2, 1)));
        assert_eq!(p.at(&[Key("retries")]), Some((2, 10)));
    }

    #[test]
    fn a_key_written_twice_is_placed_at_its_second() {
        let text =
            "name: a\ncases:\n  - name: one\n    steps: []\n  - name: two\n    name: three\n";
        let p = Places::of(text);
        assert_eq!(
            p.at(&[Key("cases"), Index(1), KeyAgain("name")]),
            Some((6, 5))
        );
        assert_eq!(p.at(&[Key("cases"), Index(0), KeyAgain("name")]), None);
    }

    #[test]
    fn a_path_the_file_does_not_have_is_none_and_nearest_falls_back() {
        let p = Places::of(SUITE);
        let keys = [
            Key("cases"),
            Index(1),
            Key("steps"),
            Index(1),
            Key("keys"),
            Key("compartment"),
        ];
        assert_eq!(p.at(&keys), None);
        assert_eq!(p.nearest(&keys), Some((10, 15)));
        assert_eq!(p.at(&[Key("cases"), Index(9)]), None);
        // An index into a mapping, a key into a sequence: no such node.
        assert_eq!(p.at(&[Index(0)]), None);
        assert_eq!(p.at(&[Key("cases"), Key("name")]), None);
    }

    #[test]
    fn keys_that_are_collections_or_aliases_do_not_shift_the_rest() {
        let text = "a: &x 1\n? [k, l]\n: 2\n*x : 3\nb: 4\n";
        let p = Places::of(text);
        assert_eq!(p.at(&[Key("b")]), Some((5, 4)));
        assert_eq!(p.at(&[KeyItself("b")]), Some((5, 1)));
    }

    #[test]
    fn an_alias_is_a_leaf_where_it_is_written_nothing_is_expanded() {
        let mut text = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..40 {
            let items = vec![format!("*a{}", i - 1); 9].join(", ");
            text += &format!("k{i}: &a{i} [{items}]\n");
        }
        let p = Places::of(&text);
        assert_eq!(p.nodes.len(), 1 + 1 + 10 + 39 * 10);
        assert_eq!(p.at(&[Key("k39"), Index(8)]), Some((40, 60)));
    }

    #[test]
    fn nesting_deeper_than_any_stack_is_built_and_dropped_without_recursion() {
        let depth = 100_000;
        let text = format!("{}x\n", "- ".repeat(depth));
        let p = Places::of(&text);
        assert_eq!(p.at(&[Index(0); 3]), Some((1, 7)));
        assert_eq!(p.nodes.len(), depth + 1);
    }

    #[test]
    fn a_text_the_parser_stops_on_keeps_what_came_before() {
        let p = Places::of("name: a\ncases:\n  - name: one\n  - name: [\n");
        assert_eq!(p.at(&[Key("cases"), Index(0), Key("name")]), Some((3, 11)));
    }

    /// The positions are the ones the parser that reads the model reports:
    /// every case and step of every bundled suite, compared with where
    /// yaml_serde places an error at that node.
    #[test]
    fn places_agree_with_the_parser_that_reads_the_suites() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
        let mut compared = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|x| x != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            let p = Places::of(&text);
            let serde_at = |path: &[Seg]| {
                let e = part::<bool>(&text, path).unwrap_err();
                e.location().map(|l| (l.line(), l.column()))
            };
            for i in 0.. {
                let case = [Key("cases"), Index(i)];
                if p.at(&case).is_none() {
                    break;
                }
                let name = [case[0], case[1], Key("name")];
                assert_eq!(p.at(&name), serde_at(&name), "{name:?}");
                for j in 0.. {
                    let step = [case[0], case[1], Key("steps"), Index(j)];
                    let Some(at) = p.at(&step) else { break };
                    assert_eq!(Some(at), serde_at(&step), "{step:?}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 300, "{compared} steps compared");
    }
}
