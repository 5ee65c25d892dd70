//! Source positions for field paths.
//!
//! This module owns a small, forgiving RON tokenizer and tree builder that
//! remembers where every value starts and ends. It answers two questions:
//!
//! * [`locate`]: where in the text is the value at a field path such as
//!   `bodies[2].material.youngs_modulus`, `tools[0].motion[1].time` or
//!   `domain.cells[1]`? Used to put a line and column on validation errors.
//! * [`path_at`]: which field path encloses a given line and column? Used to
//!   name the field in syntax errors reported by `ron`.
//!
//! Paths step through enum variants and `Some(..)` transparently: a path
//! `material.youngs_modulus` finds field `material`, whose value is
//! `VonMises(youngs_modulus: ..)`, and then `youngs_modulus` inside the
//! variant's parentheses. Likewise a parenthesised body with exactly one item
//! (`Keyframes([..])`, `PerStep([..])`, `Some((..))`, `Jittered(3)`) is
//! looked through, so `tools[0].motion[2]` is the third element of the list
//! inside `Keyframes(..)`.
//!
//! Lines and columns are 1-based and count characters, as `ron` does.

/// A 1-based position in the source text (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl Pos {
    /// The first character of the text.
    pub const START: Pos = Pos { line: 1, col: 1 };
}

/// Where a path was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Position of the value (or of the nearest enclosing value that exists).
    pub pos: Pos,
    /// `true` if the whole path was found; `false` if `pos` is the start of
    /// the deepest enclosing value that exists (e.g. the field was omitted
    /// and defaulted).
    pub exact: bool,
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// `.name`: a named field of a struct (or struct-like enum variant).
    Field(String),
    /// `[i]`: an element of a list or tuple.
    Index(usize),
}

/// Splits a path like `bodies[2].material.youngs_modulus` into segments.
///
/// Malformed pieces (e.g. a non-numeric index) are kept as field names, so
/// they simply fail to match.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !name.is_empty() {
                    out.push(Segment::Field(std::mem::take(&mut name)));
                }
            }
            '[' => {
                if !name.is_empty() {
                    out.push(Segment::Field(std::mem::take(&mut name)));
                }
                let mut idx = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    idx.push(d);
                }
                match idx.trim().parse::<usize>() {
                    Ok(i) => out.push(Segment::Index(i)),
                    Err(_) => out.push(Segment::Field(format!("[{idx}]"))),
                }
            }
            c => name.push(c),
        }
    }
    if !name.is_empty() {
        out.push(Segment::Field(name));
    }
    out
}

/// Finds the position of the value at `path` in the RON text `src`.
///
/// If the path does not exist in the text (for example because the field was
/// left out and took its default), the position of the deepest enclosing value
/// that does exist is returned with `exact: false`. If the text cannot be read
/// at all, the result is line 1, column 1.
pub fn locate(src: &str, path: &str) -> Location {
    let Some(root) = parse_tree(src) else {
        return Location {
            pos: Pos::START,
            exact: false,
        };
    };
    let mut cur = &root;
    for seg in parse_path(path) {
        match step(cur, &seg) {
            Some(next) => cur = next,
            None => {
                return Location {
                    pos: cur.start,
                    exact: false,
                }
            }
        }
    }
    Location {
        pos: cur.start,
        exact: true,
    }
}

/// Returns the field path of the innermost value that contains `pos`,
/// e.g. `bodies[0].material` for a position inside `VonMises(...)`.
///
/// Returns `None` if the text has no readable value there, and `Some("")` for
/// a position inside the top-level value but in none of its fields.
pub fn path_at(src: &str, pos: Pos) -> Option<String> {
    let root = parse_tree(src)?;
    if !root.contains(pos) {
        return None;
    }
    let mut path = String::new();
    let mut cur = &root;
    'descend: loop {
        match &cur.kind {
            Kind::Struct { fields, .. } => {
                for f in fields {
                    if f.key <= pos && pos <= f.value.end {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(&f.name);
                        if f.value.contains(pos) {
                            cur = &f.value;
                            continue 'descend;
                        }
                        break 'descend;
                    }
                }
                break;
            }
            Kind::Tuple { items, .. } if items.len() == 1 => {
                if items[0].contains(pos) {
                    cur = &items[0];
                    continue;
                }
                break;
            }
            Kind::Tuple { items, .. } | Kind::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.contains(pos) {
                        path.push_str(&format!("[{i}]"));
                        cur = item;
                        continue 'descend;
                    }
                }
                break;
            }
            Kind::Map(_) | Kind::Atom(_) => break,
        }
    }
    Some(path)
}

// ---------------------------------------------------------------------------
// Tree

/// A value in the text with its extent.
#[derive(Debug)]
struct Node {
    /// First character of the value (the name, for `Name(..)`).
    start: Pos,
    /// Last character of the value (the closing bracket for compounds).
    end: Pos,
    kind: Kind,
}

#[derive(Debug)]
struct Field {
    name: String,
    key: Pos,
    value: Node,
}

#[derive(Debug)]
enum Kind {
    /// `Name(a: .., b: ..)` or `(a: .., b: ..)`.
    #[allow(dead_code)]
    Struct {
        name: Option<String>,
        fields: Vec<Field>,
    },
    /// `Name(x, y)`, `(x, y)`, `Some(x)`, `Name` with no parentheses is an atom.
    #[allow(dead_code)]
    Tuple {
        name: Option<String>,
        items: Vec<Node>,
    },
    /// `[x, y]`.
    List(Vec<Node>),
    /// `{k: v}`.
    Map(Vec<(Node, Node)>),
    /// Number, string, identifier, char, bool.
    Atom(String),
}

impl Node {
    fn contains(&self, pos: Pos) -> bool {
        self.start <= pos && pos <= self.end
    }
}

fn step<'a>(node: &'a Node, seg: &Segment) -> Option<&'a Node> {
    match (seg, &node.kind) {
        (Segment::Field(name), Kind::Struct { fields, .. }) => {
            fields.iter().find(|f| &f.name == name).map(|f| &f.value)
        }
        (Segment::Field(name), Kind::Map(entries)) => entries
            .iter()
            .find(|(k, _)| matches!(&k.kind, Kind::Atom(t) if t.trim_matches('"') == name))
            .map(|(_, v)| v),
        // Look through newtype-like wrappers: `Some(x)`, `Variant(x)`.
        (Segment::Field(_), Kind::Tuple { items, .. }) if items.len() == 1 => step(&items[0], seg),
        (Segment::Index(i), Kind::Tuple { items, .. }) => {
            if items.len() == 1 && matches!(items[0].kind, Kind::List(_) | Kind::Tuple { .. }) {
                step(&items[0], seg)
            } else {
                items.get(*i)
            }
        }
        (Segment::Index(i), Kind::List(items)) => items.get(*i),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Colon,
    Comma,
    /// Identifier, number, `true`, `NaN`, ... (any run of word characters).
    Word(String),
    /// A string or char literal (text kept with its quotes).
    Str(String),
    /// Any other single character (e.g. `#`, `!` of an attribute).
    Other(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: Pos,
    end: Pos,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
    /// Position of the last character consumed.
    last: Pos,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            chars: src.chars().peekable(),
            pos: Pos::START,
            last: Pos::START,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// Looks `n` characters ahead (0 = next) without consuming.
    fn peek_nth(&self, n: usize) -> Option<char> {
        self.chars.clone().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        self.last = self.pos;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }

    fn skip_trivia(&mut self) {
        loop {
            match (self.peek(), self.peek_nth(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    let mut depth = 1usize;
                    while depth > 0 {
                        match (self.bump(), self.peek()) {
                            (None, _) => return,
                            (Some('*'), Some('/')) => {
                                self.bump();
                                depth -= 1;
                            }
                            (Some('/'), Some('*')) => {
                                self.bump();
                                depth += 1;
                            }
                            _ => {}
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// Consumes a quoted literal whose opening quote is next.
    fn quoted(&mut self, text: &mut String) {
        let Some(q) = self.bump() else { return };
        text.push(q);
        while let Some(c) = self.bump() {
            text.push(c);
            if c == '\\' {
                if let Some(e) = self.bump() {
                    text.push(e);
                }
            } else if c == q {
                break;
            }
        }
    }

    /// Consumes a raw string `r#*"..."#*` whose `r` is next.
    fn raw_string(&mut self, text: &mut String) {
        if let Some(r) = self.bump() {
            text.push(r);
        }
        let mut hashes = 0usize;
        while self.peek() == Some('#') {
            self.bump();
            text.push('#');
            hashes += 1;
        }
        if self.peek() == Some('"') {
            self.bump();
            text.push('"');
        }
        while let Some(c) = self.bump() {
            text.push(c);
            if c == '"' {
                let mut n = 0;
                while n < hashes && self.peek() == Some('#') {
                    self.bump();
                    text.push('#');
                    n += 1;
                }
                if n == hashes {
                    break;
                }
            }
        }
    }

    fn is_word_char(c: char) -> bool {
        c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
    }

    /// Is the `r` at the cursor the start of a raw string (`r"` or `r#..#"`)?
    fn at_raw_string(&self) -> bool {
        let mut n = 1;
        while self.peek_nth(n) == Some('#') {
            n += 1;
        }
        self.peek_nth(n) == Some('"')
    }

    fn next_token(&mut self) -> Option<Token> {
        self.skip_trivia();
        let c = self.peek()?;
        let start = self.pos;
        let tok = match c {
            '(' | '[' | '{' => {
                self.bump();
                Tok::Open(c)
            }
            ')' | ']' | '}' => {
                self.bump();
                Tok::Close(c)
            }
            ':' => {
                self.bump();
                Tok::Colon
            }
            ',' => {
                self.bump();
                Tok::Comma
            }
            '"' | '\'' => {
                let mut text = String::new();
                self.quoted(&mut text);
                Tok::Str(text)
            }
            'b' if matches!(self.peek_nth(1), Some('"') | Some('\'')) => {
                let mut text = String::new();
                if let Some(b) = self.bump() {
                    text.push(b);
                }
                self.quoted(&mut text);
                Tok::Str(text)
            }
            'b' if self.peek_nth(1) == Some('r') && {
                let mut n = 2;
                while self.peek_nth(n) == Some('#') {
                    n += 1;
                }
                self.peek_nth(n) == Some('"')
            } =>
            {
                let mut text = String::new();
                if let Some(b) = self.bump() {
                    text.push(b);
                }
                self.raw_string(&mut text);
                Tok::Str(text)
            }
            'r' if self.at_raw_string() => {
                let mut text = String::new();
                self.raw_string(&mut text);
                Tok::Str(text)
            }
            'r' if self.peek_nth(1) == Some('#') => {
                // Raw identifier `r#name`.
                let mut text = String::new();
                for _ in 0..2 {
                    if let Some(ch) = self.bump() {
                        text.push(ch);
                    }
                }
                while let Some(ch) = self.peek() {
                    if !Self::is_word_char(ch) {
                        break;
                    }
                    self.bump();
                    text.push(ch);
                }
                Tok::Word(text)
            }
            c if Self::is_word_char(c) => {
                let mut text = String::new();
                while let Some(ch) = self.peek() {
                    if !Self::is_word_char(ch) {
                        break;
                    }
                    self.bump();
                    text.push(ch);
                }
                Tok::Word(text)
            }
            other => {
                self.bump();
                Tok::Other(other)
            }
        };
        Some(Token {
            tok,
            start,
            end: self.last,
        })
    }
}

fn tokenize(src: &str) -> Vec<Token> {
    let mut lexer = Lexer::new(src);
    let mut out = Vec::new();
    while let Some(t) = lexer.next_token() {
        out.push(t);
    }
    out
}

// ---------------------------------------------------------------------------
// Parser

/// Nesting deeper than this is not followed (the text is then cut off there).
const MAX_DEPTH: usize = 256;

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Set on the first unexpected token; everything after it is ignored.
    failed: bool,
}

fn parse_tree(src: &str) -> Option<Node> {
    let mut p = Parser {
        toks: tokenize(src),
        i: 0,
        failed: false,
    };
    p.skip_attributes();
    p.value(0)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    /// End position of the last consumed token (or the start of the text).
    fn last_end(&self) -> Pos {
        self.i
            .checked_sub(1)
            .and_then(|j| self.toks.get(j))
            .map_or(Pos::START, |t| t.end)
    }

    /// Skips `#![enable(...)]` attributes at the top of the file.
    fn skip_attributes(&mut self) {
        while self.peek() == Some(&Tok::Other('#')) {
            self.i += 1;
            if self.peek() == Some(&Tok::Other('!')) {
                self.i += 1;
            }
            if self.peek() != Some(&Tok::Open('[')) {
                return;
            }
            let mut depth = 0usize;
            while let Some(t) = self.peek() {
                match t {
                    Tok::Open(_) => depth += 1,
                    Tok::Close(_) => depth = depth.saturating_sub(1),
                    _ => {}
                }
                self.i += 1;
                if depth == 0 {
                    break;
                }
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            self.failed = true;
            return None;
        }
        let tok = self.toks.get(self.i)?.clone();
        match tok.tok {
            Tok::Word(w) => {
                self.i += 1;
                if self.peek() == Some(&Tok::Open('(')) {
                    Some(self.paren(tok.start, Some(w), depth))
                } else {
                    Some(Node {
                        start: tok.start,
                        end: tok.end,
                        kind: Kind::Atom(w),
                    })
                }
            }
            Tok::Str(s) => {
                self.i += 1;
                Some(Node {
                    start: tok.start,
                    end: tok.end,
                    kind: Kind::Atom(s),
                })
            }
            Tok::Open('(') => Some(self.paren(tok.start, None, depth)),
            Tok::Open('[') => Some(self.list(tok.start, depth)),
            Tok::Open('{') => Some(self.map(tok.start, depth)),
            _ => {
                self.failed = true;
                None
            }
        }
    }

    /// Consumes a `,` or the expected closing bracket. Returns `true` when the
    /// compound is finished (closed, or broken).
    fn separator(&mut self, close: char) -> bool {
        match self.peek() {
            Some(Tok::Comma) => {
                self.i += 1;
                if self.peek() == Some(&Tok::Close(close)) {
                    self.i += 1;
                    return true;
                }
                false
            }
            Some(Tok::Close(c)) if *c == close => {
                self.i += 1;
                true
            }
            _ => {
                self.failed = true;
                true
            }
        }
    }

    /// Parses `( ... )`; the cursor is on the `(`.
    fn paren(&mut self, start: Pos, name: Option<String>, depth: usize) -> Node {
        self.i += 1; // '('
        let is_struct = matches!(
            (self.peek(), self.peek_at(1)),
            (Some(Tok::Word(_)), Some(Tok::Colon))
        );
        if self.peek() == Some(&Tok::Close(')')) {
            self.i += 1;
            return Node {
                start,
                end: self.last_end(),
                kind: Kind::Tuple {
                    name,
                    items: Vec::new(),
                },
            };
        }
        if is_struct {
            let mut fields = Vec::new();
            while !self.failed {
                let (key, fname) = match self.toks.get(self.i) {
                    Some(Token {
                        tok: Tok::Word(w),
                        start,
                        ..
                    }) => (*start, w.clone()),
                    _ => {
                        self.failed = true;
                        break;
                    }
                };
                self.i += 1;
                if self.peek() != Some(&Tok::Colon) {
                    self.failed = true;
                    break;
                }
                self.i += 1;
                let Some(value) = self.value(depth + 1) else {
                    break;
                };
                fields.push(Field {
                    name: fname.trim_start_matches("r#").to_string(),
                    key,
                    value,
                });
                if self.failed || self.separator(')') {
                    break;
                }
            }
            Node {
                start,
                end: self.last_end(),
                kind: Kind::Struct { name, fields },
            }
        } else {
            let mut items = Vec::new();
            while !self.failed {
                let Some(v) = self.value(depth + 1) else {
                    break;
                };
                items.push(v);
                if self.failed || self.separator(')') {
                    break;
                }
            }
            Node {
                start,
                end: self.last_end(),
                kind: Kind::Tuple { name, items },
            }
        }
    }

    /// Parses `[ ... ]`; the cursor is on the `[`.
    fn list(&mut self, start: Pos, depth: usize) -> Node {
        self.i += 1;
        let mut items = Vec::new();
        if self.peek() == Some(&Tok::Close(']')) {
            self.i += 1;
        } else {
            while !self.failed {
                let Some(v) = self.value(depth + 1) else {
                    break;
                };
                items.push(v);
                if self.failed || self.separator(']') {
                    break;
                }
            }
        }
        Node {
            start,
            end: self.last_end(),
            kind: Kind::List(items),
        }
    }

    /// Parses `{ k: v, ... }`; the cursor is on the `{`.
    fn map(&mut self, start: Pos, depth: usize) -> Node {
        self.i += 1;
        let mut entries = Vec::new();
        if self.peek() == Some(&Tok::Close('}')) {
            self.i += 1;
        } else {
            while !self.failed {
                let Some(k) = self.value(depth + 1) else {
                    break;
                };
                if self.peek() != Some(&Tok::Colon) {
                    self.failed = true;
                    break;
                }
                self.i += 1;
                let Some(v) = self.value(depth + 1) else {
                    break;
                };
                entries.push((k, v));
                if self.failed || self.separator('}') {
                    break;
                }
            }
        }
        Node {
            start,
            end: self.last_end(),
            kind: Kind::Map(entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(src: &str, path: &str) -> (usize, usize, bool) {
        let l = locate(src, path);
        (l.pos.line, l.pos.col, l.exact)
    }

    const SRC: &str = r#"// a scene
Scene(
    name: "demo, (with) [brackets] // not a comment",
    domain: (cells: (16, 32, 8), dx: 0.1), /* block /* nested */ comment ( */
    time: (dt: 1e-4, substeps: 10, frames: 2),
    bodies: [
        (
            name: "a",
            shape: Box(min: (0.1, 0.1, 0.1), max: (0.5, 0.5, 0.5)),
            sampling: Jittered(3),
            material: VonMises(
                density: 1000,
                youngs_modulus: -5,
                poisson_ratio: 0.3,
                yield_stress: 1e3,
            ),
        ),
        (name: 'b', shape: Sphere(center: (1, 1, 1), radius: 0.2), material: Fluid(density: 1, bulk_modulus: 2)),
    ],
    tools: [
        (name: "t", shape: Plane, motion: Keyframes([
            (time: 0, position: (0, 0, 0)),
            (time: 1, position: (0, 1, 0)),
        ])),
        (name: "p", shape: Plane, motion: PerStep([(0, 0, 0), (1, -2, 3)])),
    ],
    output: (camera: (eye: Some((1, 2, 3)))),
)
"#;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse_path("bodies[2].material.youngs_modulus"),
            vec![
                Segment::Field("bodies".into()),
                Segment::Index(2),
                Segment::Field("material".into()),
                Segment::Field("youngs_modulus".into()),
            ]
        );
        assert_eq!(
            parse_path("domain.cells[1]"),
            vec![
                Segment::Field("domain".into()),
                Segment::Field("cells".into()),
                Segment::Index(1)
            ]
        );
        assert!(parse_path("").is_empty());
    }

    /// 1-based (line, col) of the first occurrence of `needle` (+ `skip` chars).
    fn find(src: &str, needle: &str, skip: usize) -> (usize, usize) {
        let byte = src.find(needle).expect("needle present");
        let before = &src[..byte];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1 + skip;
        (line, col)
    }

    fn exact(src: &str, needle: &str, skip: usize) -> (usize, usize, bool) {
        let (l, c) = find(src, needle, skip);
        (l, c, true)
    }

    fn inexact(src: &str, needle: &str, skip: usize) -> (usize, usize, bool) {
        let (l, c) = find(src, needle, skip);
        (l, c, false)
    }

    #[test]
    fn finds_plain_fields() {
        assert_eq!(at(SRC, ""), exact(SRC, "Scene(", 0));
        assert_eq!(at(SRC, "name"), exact(SRC, "\"demo", 0));
        assert_eq!(at(SRC, "domain"), exact(SRC, "(cells", 0));
        assert_eq!(at(SRC, "domain.cells"), exact(SRC, "(16, 32", 0));
        assert_eq!(at(SRC, "domain.cells[1]"), exact(SRC, "32, 8", 0));
        assert_eq!(at(SRC, "domain.dx"), exact(SRC, "0.1), /*", 0));
        assert_eq!(at(SRC, "time.frames"), exact(SRC, "2),\n    bodies", 0));
    }

    #[test]
    fn steps_into_variants() {
        assert_eq!(at(SRC, "bodies[0].material"), exact(SRC, "VonMises", 0));
        assert_eq!(
            at(SRC, "bodies[0].material.youngs_modulus"),
            exact(SRC, "-5,", 0)
        );
        assert_eq!(at(SRC, "bodies[0].shape.max[2]"), exact(SRC, "0.5)),", 0));
        assert_eq!(at(SRC, "bodies[0].sampling"), exact(SRC, "Jittered", 0));
        assert_eq!(at(SRC, "bodies[1].name"), exact(SRC, "'b'", 0));
        assert_eq!(at(SRC, "bodies[1].shape.radius"), exact(SRC, "0.2)", 0));
        assert_eq!(
            at(SRC, "bodies[1].material.bulk_modulus"),
            exact(SRC, "2)),", 0)
        );
    }

    #[test]
    fn steps_into_newtype_lists() {
        assert_eq!(at(SRC, "tools[0].motion"), exact(SRC, "Keyframes", 0));
        assert_eq!(at(SRC, "tools[0].motion[1]"), exact(SRC, "(time: 1", 0));
        assert_eq!(
            at(SRC, "tools[0].motion[1].time"),
            exact(SRC, "1, position", 0)
        );
        assert_eq!(at(SRC, "tools[1].motion[1][1]"), exact(SRC, "-2, 3", 0));
        assert_eq!(at(SRC, "output.camera.eye[2]"), exact(SRC, "3)))", 0));
    }

    #[test]
    fn falls_back_to_enclosing_value() {
        // `velocity` was omitted: point at the body.
        assert_eq!(
            at(SRC, "bodies[0].velocity"),
            inexact(SRC, "(\n            name: \"a\"", 0)
        );
        // `gamma` was defaulted inside `Fluid(..)`.
        assert_eq!(
            at(SRC, "bodies[1].material.gamma"),
            inexact(SRC, "Fluid", 0)
        );
        // Out-of-range index.
        assert_eq!(at(SRC, "bodies[5].name"), inexact(SRC, "[\n        (", 0));
        // `precision` is absent from the top level.
        assert_eq!(at(SRC, "precision"), inexact(SRC, "Scene(", 0));
    }

    #[test]
    fn unnamed_root_and_garbage() {
        assert_eq!(at("(a: 1, b: (c: 2))", "b.c"), (1, 15, true));
        assert_eq!(at("", "a"), (1, 1, false));
        assert_eq!(at(")))", "a"), (1, 1, false));
        // Broken text: what was read before the break is still found.
        assert_eq!(at("(a: 1, b: (c: 2 d: 3))", "b.c"), (1, 15, true));
        assert_eq!(at("#![enable(implicit_some)]\n(a: 1)", "a"), (2, 5, true));
        let deep = "[".repeat(10_000);
        assert_eq!(at(&deep, "x"), (1, 1, false));
    }

    #[test]
    fn raw_strings_and_chars() {
        let src = "(a: r#\"x)\" \"#, b: '(', c: r\"(\", d: b\"))\", é: 1, e: 2)";
        assert_eq!(at(src, "e"), exact(src, "2)", 0));
        assert_eq!(at(src, "é"), exact(src, "1, e", 0));
    }

    #[test]
    fn path_at_names_innermost_field() {
        let p = |(line, col): (usize, usize)| path_at(SRC, Pos { line, col });
        assert_eq!(
            p(find(SRC, "-5,", 1)).as_deref(),
            Some("bodies[0].material.youngs_modulus")
        );
        assert_eq!(
            p(find(SRC, "youngs_modulus", 0)).as_deref(),
            Some("bodies[0].material.youngs_modulus")
        );
        // The closing parenthesis of `VonMises(..)`.
        assert_eq!(
            p(find(SRC, "),\n        ),", 0)).as_deref(),
            Some("bodies[0].material")
        );
        assert_eq!(p(find(SRC, "32, 8", 1)).as_deref(), Some("domain.cells[1]"));
        assert_eq!(
            p(find(SRC, "1, position", 0)).as_deref(),
            Some("tools[0].motion[1].time")
        );
        assert_eq!(p((2, 1)).as_deref(), Some(""));
        assert_eq!(p((1, 1)), None);
    }
}
