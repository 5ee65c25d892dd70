//! The scene error type.
//!
//! This module owns [`SceneError`], the one error every fallible function of
//! this crate returns, and the wording of syntax errors. Every variant prints
//! as a single line that starts with `file:line:col:` where a position is
//! known, names the offending field path, and says what is allowed, e.g.
//!
//! ```text
//! scenes/foo.ron:12:27: bodies[1].material.youngs_modulus = -5: must be > 0 (Pa)
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::locate::{self, Pos};

/// Everything that can go wrong while reading a scene.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The scene file could not be read.
    #[error("{file}: cannot read scene file: {source}")]
    Io {
        /// The scene file.
        file: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The text is not a valid scene: bad RON, an unknown or missing field,
    /// a value of the wrong type, an unknown enum variant.
    #[error("{file}:{line}:{col}: {message}")]
    Syntax {
        /// The scene file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        col: usize,
        /// What is wrong, with the field path where known.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("{file}:{line}:{col}: {path} = {value}: must be {allowed}")]
    Invalid {
        /// The scene file.
        file: String,
        /// 1-based line of the value (or of the enclosing value if it was defaulted).
        line: usize,
        /// 1-based column (characters).
        col: usize,
        /// Field path, e.g. `bodies[1].material.youngs_modulus`.
        path: String,
        /// The offending value as written back, e.g. `-5` or `NaN`.
        value: String,
        /// What is allowed, e.g. `> 0 (Pa)`.
        allowed: String,
    },
    /// A mesh referenced by the scene could not be loaded or is unusable.
    #[error("{}", MeshDisplay(self))]
    Mesh {
        /// The scene file (empty if unknown).
        file: String,
        /// 1-based line of the mesh path in the scene (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        col: usize,
        /// Field path of the mesh reference, e.g. `bodies[0].shape.path`.
        path: String,
        /// The mesh file, resolved against the scene's directory.
        mesh_file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Sampling a body would produce an unusable particle set.
    #[error("body `{body}`: {message}")]
    Sampling {
        /// The body's name.
        body: String,
        /// What is wrong.
        message: String,
    },
}

/// Formats [`SceneError::Mesh`], leaving out the position when it is unknown.
struct MeshDisplay<'a>(&'a SceneError);

impl fmt::Display for MeshDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SceneError::Mesh {
            file,
            line,
            col,
            path,
            mesh_file,
            message,
        } = self.0
        else {
            return Ok(());
        };
        if !file.is_empty() {
            if *line > 0 {
                write!(f, "{file}:{line}:{col}: ")?;
            } else {
                write!(f, "{file}: ")?;
            }
        }
        write!(f, "{path}: mesh {}: {message}", mesh_file.display())
    }
}

impl SceneError {
    /// Builds an [`SceneError::Invalid`] for `path`, locating it in `src`.
    pub fn invalid(
        src: &str,
        file: &str,
        path: impl Into<String>,
        value: impl Into<String>,
        allowed: impl Into<String>,
    ) -> SceneError {
        let path = path.into();
        let at = locate::locate(src, &path).pos;
        SceneError::Invalid {
            file: file.to_string(),
            line: at.line,
            col: at.col,
            path,
            value: value.into(),
            allowed: allowed.into(),
        }
    }

    /// Builds a [`SceneError::Syntax`] from a `ron` parse error, rewording the
    /// message and naming the field path where the position allows it.
    pub fn from_ron(src: &str, file: &str, err: &ron::error::SpannedError) -> SceneError {
        let start = Pos {
            line: err.span.start.line.max(1),
            col: err.span.start.col.max(1),
        };
        let end = Pos {
            line: err.span.end.line.max(1),
            col: err.span.end.col.max(1),
        };
        let pos = skip_whitespace(src, start, end);
        let mut message = describe_ron_error(&err.code, src, pos);
        if let Some(mut path) = locate::path_at(src, pos).filter(|p| !p.is_empty()) {
            // For an unknown or repeated field, name the struct it is in.
            if let ron::Error::NoSuchStructField { found: field, .. } = &err.code {
                strip_last_field(&mut path, field);
            } else if let ron::Error::DuplicateStructField { field, .. } = &err.code {
                strip_last_field(&mut path, field);
            }
            if !path.is_empty() {
                message = format!("{path}: {message}");
            }
        }
        SceneError::Syntax {
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            message,
        }
    }

    /// The 1-based (line, column) this error points at, if any.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            SceneError::Syntax { line, col, .. } | SceneError::Invalid { line, col, .. } => {
                Some((*line, *col))
            }
            SceneError::Mesh { line, col, .. } if *line > 0 => Some((*line, *col)),
            _ => None,
        }
    }
}

/// Removes a trailing `.field` (or a lone `field`) from `path`.
fn strip_last_field(path: &mut String, field: &str) {
    if path == field {
        path.clear();
    } else if let Some(rest) = path.strip_suffix(field).and_then(|p| p.strip_suffix('.')) {
        let n = rest.len();
        path.truncate(n);
    }
}

/// Moves `pos` forward over whitespace, but not past `end`: `ron` sometimes
/// starts a span at the blank before the offending token.
fn skip_whitespace(src: &str, pos: Pos, end: Pos) -> Pos {
    let mut p = pos;
    while p < end {
        match char_at(src, p) {
            Some(c) if c.is_whitespace() => p.col += 1,
            None if p.line < end.line => {
                p.line += 1;
                p.col = 1;
            }
            _ => break,
        }
    }
    p
}

/// `a`, `a or b`, `a, b or c`, each in backticks.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => "none".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// The character at `pos` in `src`, if any.
fn char_at(src: &str, pos: Pos) -> Option<char> {
    src.lines()
        .nth(pos.line.checked_sub(1)?)?
        .chars()
        .nth(pos.col.checked_sub(1)?)
}

/// A readable, one-line description of a `ron` error.
fn describe_ron_error(code: &ron::Error, src: &str, pos: Pos) -> String {
    use ron::Error as E;
    let outer = |o: &Option<String>| o.as_ref().map_or(String::new(), |o| format!(" in `{o}`"));
    match code {
        E::NoSuchStructField {
            expected,
            found,
            outer: o,
        } => format!(
            "unknown field `{found}`{}; allowed fields: {}",
            outer(o),
            one_of(expected)
        ),
        E::MissingStructField { field, outer: o } => {
            format!("missing required field `{field}`{}", outer(o))
        }
        E::DuplicateStructField { field, outer: o } => {
            format!("field `{field}` given twice{}", outer(o))
        }
        E::NoSuchEnumVariant {
            expected,
            found,
            outer: o,
        } => format!(
            "unknown variant `{found}`{}; allowed: {}",
            outer(o),
            one_of(expected)
        ),
        E::ExpectedStructLike | E::ExpectedNamedStructLike(_) if char_at(src, pos) == Some('[') => {
            "expected `(`: vectors and fixed-size triples are tuples `(x, y, z)`, not lists `[x, y, z]`"
                .to_string()
        }
        E::ExpectedFloat => "expected a number".to_string(),
        E::ExpectedInteger => "expected a whole number".to_string(),
        E::IntegerOutOfBounds => {
            "integer out of range for this field (negative, or too large)".to_string()
        }
        E::Eof => "unexpected end of file (a bracket is not closed?)".to_string(),
        E::TrailingCharacters => {
            "unexpected text after the end of the scene (an extra closing bracket?)".to_string()
        }
        other => {
            // ron's own wording starts with a capital letter; keep it otherwise.
            let s = other.to_string();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_lists() {
        assert_eq!(one_of(&[]), "none");
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn invalid_display_is_one_line() {
        let e = SceneError::Invalid {
            file: "scenes/foo.ron".into(),
            line: 12,
            col: 27,
            path: "bodies[1].material.youngs_modulus".into(),
            value: "-5".into(),
            allowed: "> 0 (Pa)".into(),
        };
        assert_eq!(
            e.to_string(),
            "scenes/foo.ron:12:27: bodies[1].material.youngs_modulus = -5: must be > 0 (Pa)"
        );
    }

    #[test]
    fn mesh_display_with_and_without_position() {
        let mut e = SceneError::Mesh {
            file: "s.ron".into(),
            line: 3,
            col: 9,
            path: "bodies[0].shape.path".into(),
            mesh_file: "a/b.obj".into(),
            message: "not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "s.ron:3:9: bodies[0].shape.path: mesh a/b.obj: not found"
        );
        if let SceneError::Mesh { file, line, .. } = &mut e {
            file.clear();
            *line = 0;
        }
        assert_eq!(
            e.to_string(),
            "bodies[0].shape.path: mesh a/b.obj: not found"
        );
    }
}
