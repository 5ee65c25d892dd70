//! References to bodies, tools and grippers written by name or by index:
//! `body: "water"` or `body: 0`. A scene's (or a task's scene's) names are
//! read first by a lenient pass over the same text ([`probe_names`]); the
//! strict parse then resolves each name through them ([`with_names`]), and
//! an unknown name is a located parse error that lists the names there are.
//! Resolved references are plain indices: nothing downstream sees names.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::cell::RefCell;

/// The names a reference may use, in index order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    /// `bodies[i].name`, then `fem[j].name` (FEM bodies are numbered after
    /// the MPM bodies).
    pub bodies: Vec<String>,
    /// Tools as the simulation orders them: the written tools, then each
    /// gripper's fingers `NAME.left` and `NAME.right`.
    pub tools: Vec<String>,
    /// `grippers[i].name`.
    pub grippers: Vec<String>,
}

thread_local! {
    static NAMES: RefCell<Option<Names>> = const { RefCell::new(None) };
}

/// Runs `f` (a parse) with `names` available to the reference fields.
pub fn with_names<T>(names: Option<Names>, f: impl FnOnce() -> T) -> T {
    let before = NAMES.with(|n| n.replace(names));
    let out = f();
    NAMES.with(|n| *n.borrow_mut() = before);
    out
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename = "Scene")]
struct ScenePeek {
    #[serde(default)]
    bodies: Vec<Named>,
    #[serde(default)]
    fem: Vec<Named>,
    #[serde(default)]
    tools: Vec<Named>,
    #[serde(default)]
    grippers: Vec<Named>,
}

/// The names in scene text `src`, or `None` when it does not parse even
/// leniently (the strict parse then reports why).
pub fn probe_names(src: &str) -> Option<Names> {
    let peek: ScenePeek = ron::Options::default().from_str(src).ok()?;
    let mut tools: Vec<String> = peek.tools.into_iter().map(|t| t.name).collect();
    for g in &peek.grippers {
        tools.push(format!("{}.left", g.name));
        tools.push(format!("{}.right", g.name));
    }
    Some(Names {
        bodies: peek
            .bodies
            .into_iter()
            .chain(peek.fem)
            .map(|b| b.name)
            .collect(),
        tools,
        grippers: peek.grippers.into_iter().map(|g| g.name).collect(),
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Body,
    Tool,
    Gripper,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Body => "body",
            Kind::Tool => "tool",
            Kind::Gripper => "gripper",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Kind::Body => "bodies",
            Kind::Tool => "tools",
            Kind::Gripper => "grippers",
        }
    }
    fn list(self, n: &Names) -> &[String] {
        match self {
            Kind::Body => &n.bodies,
            Kind::Tool => &n.tools,
            Kind::Gripper => &n.grippers,
        }
    }
}

struct RefVisitor(Kind);

impl<'de> Visitor<'de> for RefVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a {} index or name", self.0.word())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        usize::try_from(v).map_err(|_| E::custom(format!("{v} is not a {} index", self.0.word())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
        usize::try_from(v).map_err(|_| {
            E::custom(format!(
                "{v}: a {} index is at least 0 (or give its name)",
                self.0.word()
            ))
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        let kind = self.0;
        NAMES.with(|n| match &*n.borrow() {
            Some(names) => {
                let list = kind.list(names);
                list.iter().position(|x| x == v).ok_or_else(|| {
                    let known = if list.is_empty() {
                        format!("the scene has no {}", kind.plural())
                    } else {
                        format!(
                            "the scene's {} are {}",
                            kind.plural(),
                            list.iter()
                                .map(|x| format!("\"{x}\""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    E::custom(format!(
                        "\"{v}\" names no {}: {known} (or give an index)",
                        kind.word()
                    ))
                })
            }
            None => Err(E::custom(format!(
                "\"{v}\": a {} name needs the scene's names, which could not be read; give an index",
                kind.word()
            ))),
        })
    }
}

/// Deserializes a body reference (index or name) to its index.
pub fn body<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_any(RefVisitor(Kind::Body))
}

/// Deserializes a tool reference (index or name; a gripper's fingers are
/// `NAME.left` and `NAME.right`) to its index.
pub fn tool<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_any(RefVisitor(Kind::Tool))
}

/// Deserializes an optional tool reference (`Some("probe")`, `Some(0)` or `None`).
pub fn opt_tool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "Some(a tool index or name) or None")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<usize>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
            tool(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Deserializes a gripper reference (index or name) to its index.
pub fn gripper<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_any(RefVisitor(Kind::Gripper))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENE: &str = r#"Scene(
        name: "s",
        bodies: [(name: "water", shape: Sphere(center: (0.5, 0.5, 0.5), radius: 0.1)), (name: "cup", shape: Sphere(center: (0.5, 0.2, 0.5), radius: 0.1))],
        tools: [(name: "spoon", shape: Sphere(radius: 0.1))],
        grippers: [(name: "hand", finger: Sphere(radius: 0.01))],
    )"#;

    #[derive(Deserialize, Debug)]
    struct Refs {
        #[serde(deserialize_with = "body")]
        b: usize,
        #[serde(deserialize_with = "tool")]
        t: usize,
        #[serde(deserialize_with = "gripper")]
        g: usize,
    }

    fn parse(text: &str) -> Result<Refs, ron::error::SpannedError> {
        with_names(probe_names(SCENE), || {
            ron::Options::default().from_str(text)
        })
    }

    #[test]
    fn names_and_indices_resolve_to_the_same_index() {
        let names = probe_names(SCENE).unwrap();
        assert_eq!(names.bodies, ["water", "cup"]);
        assert_eq!(names.tools, ["spoon", "hand.left", "hand.right"]);
        let r = parse(r#"(b: "cup", t: "hand.right", g: "hand")"#).unwrap();
        assert_eq!((r.b, r.t, r.g), (1, 2, 0));
        let r = parse("(b: 1, t: 2, g: 0)").unwrap();
        assert_eq!((r.b, r.t, r.g), (1, 2, 0));
    }

    #[test]
    fn an_unknown_name_lists_the_names_there_are() {
        let e = parse(r#"(b: "watr", t: 0, g: 0)"#).unwrap_err().to_string();
        assert!(e.contains(r#""watr" names no body"#), "{e}");
        assert!(e.contains(r#""water", "cup""#), "{e}");
        let e = parse(r#"(b: -1, t: 0, g: 0)"#).unwrap_err().to_string();
        assert!(e.contains("at least 0"), "{e}");
    }
}
