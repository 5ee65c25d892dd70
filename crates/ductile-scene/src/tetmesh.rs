//! Tetrahedral meshes read from files for FEM bodies: TetGen's `.node` +
//! `.ele` pair and Gmsh's ASCII `.msh` (format 2.2 and 4.1; 4-node
//! tetrahedra, element type 4). Errors name the file and line. Element
//! orientation is made consistent: a mesh whose elements are all negatively
//! oriented (a convention difference) is flipped; the FEM solver refuses a
//! mixed one, naming the element.

use std::path::Path;

/// A tetrahedral mesh: node positions [m] and 4 node indices per element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TetMesh {
    /// Node positions [m].
    pub nodes: Vec<[f64; 3]>,
    /// Elements, 0-based node indices.
    pub tets: Vec<[u32; 4]>,
}

impl TetMesh {
    /// The mesh scaled about the origin, then translated [m].
    pub fn transformed(mut self, scale: f64, translation: [f64; 3]) -> TetMesh {
        for p in &mut self.nodes {
            for k in 0..3 {
                p[k] = p[k] * scale + translation[k];
            }
        }
        self
    }

    /// Flips every element when all are negatively oriented.
    fn orient(mut self) -> TetMesh {
        let vol = |t: &[u32; 4]| {
            let p = t.map(|i| self.nodes[i as usize]);
            let d = |a: usize| [0, 1, 2].map(|k| p[a][k] - p[0][k]);
            let (a, b, c) = (d(1), d(2), d(3));
            a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0])
        };
        if !self.tets.is_empty() && self.tets.iter().all(|t| vol(t) < 0.0) {
            for t in &mut self.tets {
                t.swap(1, 2);
            }
        }
        self
    }

    /// Axis-aligned bounds (min, max) [m].
    pub fn aabb(&self) -> ([f64; 3], [f64; 3]) {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for p in &self.nodes {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        (lo, hi)
    }
}

/// Meaningful lines of `text` (comments after `#` and blank lines dropped),
/// with their 1-based line numbers.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("");
        let words: Vec<&str> = l.split_whitespace().collect();
        (!words.is_empty()).then_some((i + 1, words))
    })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn num<T: std::str::FromStr>(path: &Path, line: usize, w: &str, what: &str) -> Result<T, String> {
    w.parse()
        .map_err(|_| format!("{}:{line}: {what} `{w}` is not a number", path.display()))
}

/// Reads TetGen's `NAME.node` and `NAME.ele` (`base` is `NAME`, with or
/// without either extension). Node numbering may start at 0 or 1.
pub fn load_tetgen(base: &Path) -> Result<TetMesh, String> {
    let stem = match base.extension().and_then(|e| e.to_str()) {
        Some("node") | Some("ele") => base.with_extension(""),
        _ => base.to_path_buf(),
    };
    let node_path = stem.with_extension("node");
    let ele_path = stem.with_extension("ele");
    let text = read(&node_path)?;
    let mut lines = data_lines(&text);
    let (l, head) = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", node_path.display()))?;
    let n: usize = num(&node_path, l, head[0], "node count")?;
    let dim: usize = num(
        &node_path,
        l,
        head.get(1).copied().unwrap_or("3"),
        "dimension",
    )?;
    if dim != 3 {
        return Err(format!(
            "{}:{l}: dimension {dim}, expected 3",
            node_path.display()
        ));
    }
    let mut ids = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        let (l, w) = lines.next().ok_or_else(|| {
            format!(
                "{}: {} nodes announced, fewer given",
                node_path.display(),
                n
            )
        })?;
        if w.len() < 4 {
            return Err(format!(
                "{}:{l}: a node needs an index and 3 coordinates",
                node_path.display()
            ));
        }
        ids.push(num::<i64>(&node_path, l, w[0], "node index")?);
        nodes.push([
            num(&node_path, l, w[1], "x")?,
            num(&node_path, l, w[2], "y")?,
            num(&node_path, l, w[3], "z")?,
        ]);
    }
    let first = ids.first().copied().unwrap_or(0);
    let text = read(&ele_path)?;
    let mut lines = data_lines(&text);
    let (l, head) = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", ele_path.display()))?;
    let m: usize = num(&ele_path, l, head[0], "element count")?;
    let per: usize = num(
        &ele_path,
        l,
        head.get(1).copied().unwrap_or("4"),
        "nodes per element",
    )?;
    if per != 4 {
        return Err(format!(
            "{}:{l}: {per} nodes per element; only linear tetrahedra (4) are supported",
            ele_path.display()
        ));
    }
    let mut tets = Vec::with_capacity(m);
    for _ in 0..m {
        let (l, w) = lines.next().ok_or_else(|| {
            format!(
                "{}: {m} elements announced, fewer given",
                ele_path.display()
            )
        })?;
        if w.len() < 5 {
            return Err(format!(
                "{}:{l}: an element needs an index and 4 nodes",
                ele_path.display()
            ));
        }
        let mut t = [0u32; 4];
        for (k, c) in t.iter_mut().enumerate() {
            let id: i64 = num(&ele_path, l, w[k + 1], "node")?;
            let i = id - first;
            if i < 0 || i as usize >= n {
                return Err(format!(
                    "{}:{l}: node {id} does not exist (nodes are numbered {first}..{})",
                    ele_path.display(),
                    first + n as i64 - 1
                ));
            }
            *c = i as u32;
        }
        tets.push(t);
    }
    Ok(TetMesh { nodes, tets }.orient())
}

/// Reads a Gmsh ASCII mesh (format 2.2 or 4.1): its nodes and its 4-node
/// tetrahedra (other elements, such as boundary triangles, are skipped).
pub fn load_gmsh(path: &Path) -> Result<TetMesh, String> {
    let text = read(path)?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .collect();
    let err = |l: usize, m: &str| format!("{}:{l}: {m}", path.display());
    let section = |name: &str| lines.iter().position(|(_, l)| *l == name);
    let fmt = section("$MeshFormat").ok_or_else(|| err(1, "no $MeshFormat section"))?;
    let (fl, version_line) = lines
        .get(fmt + 1)
        .copied()
        .ok_or_else(|| err(1, "truncated $MeshFormat"))?;
    let words: Vec<&str> = version_line.split_whitespace().collect();
    let version: f64 = words
        .first()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| err(fl, "no format version"))?;
    if words.get(1) != Some(&"0") {
        return Err(err(fl, "binary .msh files are not read: save as ASCII"));
    }
    let v4 = version >= 4.0;
    if !(version == 2.2 || (4.0..5.0).contains(&version)) {
        return Err(err(
            fl,
            &format!("format {version}: versions 2.2 and 4.1 are read"),
        ));
    }
    let nodes_at = section("$Nodes").ok_or_else(|| err(fl, "no $Nodes section"))?;
    let elems_at = section("$Elements").ok_or_else(|| err(fl, "no $Elements section"))?;
    let mut it = lines[nodes_at + 1..].iter().copied();
    let mut next = |what: &str| -> Result<(usize, Vec<&str>), String> {
        let (l, s) = it
            .next()
            .ok_or_else(|| err(nodes_at + 1, &format!("truncated $Nodes ({what})")))?;
        Ok((l, s.split_whitespace().collect()))
    };
    let mut ids: Vec<u64> = Vec::new();
    let mut nodes = Vec::new();
    if v4 {
        let (l, h) = next("header")?;
        let blocks: usize = num(path, l, h.first().copied().unwrap_or(""), "block count")?;
        for _ in 0..blocks {
            let (l, b) = next("block")?;
            let count: usize = num(path, l, b.get(3).copied().unwrap_or(""), "node count")?;
            let mut tags = Vec::with_capacity(count);
            for _ in 0..count {
                let (l, w) = next("tag")?;
                tags.push(num::<u64>(
                    path,
                    l,
                    w.first().copied().unwrap_or(""),
                    "node tag",
                )?);
            }
            for tag in tags {
                let (l, w) = next("coordinates")?;
                if w.len() < 3 {
                    return Err(err(l, "a node needs 3 coordinates"));
                }
                ids.push(tag);
                nodes.push([
                    num(path, l, w[0], "x")?,
                    num(path, l, w[1], "y")?,
                    num(path, l, w[2], "z")?,
                ]);
            }
        }
    } else {
        let (l, h) = next("count")?;
        let count: usize = num(path, l, h.first().copied().unwrap_or(""), "node count")?;
        for _ in 0..count {
            let (l, w) = next("node")?;
            if w.len() < 4 {
                return Err(err(l, "a node needs a tag and 3 coordinates"));
            }
            ids.push(num(path, l, w[0], "node tag")?);
            nodes.push([
                num(path, l, w[1], "x")?,
                num(path, l, w[2], "y")?,
                num(path, l, w[3], "z")?,
            ]);
        }
    }
    let index: std::collections::HashMap<u64, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let node = |l: usize, w: &str| -> Result<u32, String> {
        let tag: u64 = num(path, l, w, "node tag")?;
        index
            .get(&tag)
            .copied()
            .ok_or_else(|| err(l, &format!("node {tag} is not in $Nodes")))
    };
    let mut tets = Vec::new();
    let mut it = lines[elems_at + 1..].iter().copied();
    let mut next = |what: &str| -> Result<(usize, Vec<&str>), String> {
        let (l, s) = it
            .next()
            .ok_or_else(|| err(elems_at + 1, &format!("truncated $Elements ({what})")))?;
        Ok((l, s.split_whitespace().collect()))
    };
    if v4 {
        let (l, h) = next("header")?;
        let blocks: usize = num(path, l, h.first().copied().unwrap_or(""), "block count")?;
        for _ in 0..blocks {
            let (l, b) = next("block")?;
            let kind: u32 = num(path, l, b.get(2).copied().unwrap_or(""), "element type")?;
            let count: usize = num(path, l, b.get(3).copied().unwrap_or(""), "element count")?;
            for _ in 0..count {
                let (l, w) = next("element")?;
                if kind == 4 {
                    if w.len() < 5 {
                        return Err(err(l, "a tetrahedron needs a tag and 4 nodes"));
                    }
                    tets.push([
                        node(l, w[1])?,
                        node(l, w[2])?,
                        node(l, w[3])?,
                        node(l, w[4])?,
                    ]);
                }
            }
        }
    } else {
        let (l, h) = next("count")?;
        let count: usize = num(path, l, h.first().copied().unwrap_or(""), "element count")?;
        for _ in 0..count {
            let (l, w) = next("element")?;
            let kind: u32 = num(path, l, w.get(1).copied().unwrap_or(""), "element type")?;
            if kind == 4 {
                let ntags: usize = num(path, l, w.get(2).copied().unwrap_or(""), "tag count")?;
                let c = &w[(3 + ntags).min(w.len())..];
                if c.len() < 4 {
                    return Err(err(l, "a tetrahedron needs 4 nodes"));
                }
                tets.push([
                    node(l, c[0])?,
                    node(l, c[1])?,
                    node(l, c[2])?,
                    node(l, c[3])?,
                ]);
            }
        }
    }
    if tets.is_empty() {
        return Err(err(elems_at + 1, "no 4-node tetrahedra (element type 4)"));
    }
    Ok(TetMesh { nodes, tets }.orient())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit cube as 5 tetrahedra, node numbering from 1.
    const NODE: &str =
        "# cube\n8 3 0 0\n1 0 0 0\n2 1 0 0\n3 0 1 0\n4 1 1 0\n5 0 0 1\n6 1 0 1\n7 0 1 1\n8 1 1 1\n";
    const ELE: &str = "5 4 0\n1 1 2 3 5\n2 2 4 3 8\n3 2 3 5 8\n4 2 8 5 6\n5 3 5 8 7\n";

    fn signed(m: &TetMesh, t: [u32; 4]) -> f64 {
        let p = t.map(|i| m.nodes[i as usize]);
        let d = |a: usize| [0, 1, 2].map(|k| p[a][k] - p[0][k]);
        let (a, b, c) = (d(1), d(2), d(3));
        (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
            + a[2] * (b[0] * c[1] - b[1] * c[0]))
            / 6.0
    }

    #[test]
    fn tetgen_and_gmsh_read_the_same_cube() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cube.node"), NODE).unwrap();
        std::fs::write(dir.path().join("cube.ele"), ELE).unwrap();
        let t = load_tetgen(&dir.path().join("cube")).unwrap();
        assert_eq!((t.nodes.len(), t.tets.len()), (8, 5));
        // The 5 elements fill the cube, whatever their written orientation.
        let vol: f64 = t.tets.iter().map(|&e| signed(&t, e).abs()).sum();
        assert!((vol - 1.0).abs() < 1e-12, "{vol}");
        let mut msh = String::from("$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n8\n");
        for (i, l) in NODE.lines().skip(2).enumerate() {
            let w: Vec<&str> = l.split_whitespace().collect();
            msh += &format!("{} {} {} {}\n", i + 1, w[1], w[2], w[3]);
        }
        msh += "$EndNodes\n$Elements\n6\n1 2 2 0 1 1 2 3\n";
        for (i, l) in ELE.lines().skip(1).enumerate() {
            let w: Vec<&str> = l.split_whitespace().collect();
            msh += &format!("{} 4 2 0 1 {} {} {} {}\n", i + 2, w[1], w[2], w[3], w[4]);
        }
        msh += "$EndElements\n";
        std::fs::write(dir.path().join("cube.msh"), &msh).unwrap();
        let g = load_gmsh(&dir.path().join("cube.msh")).unwrap();
        assert_eq!(g, t);
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.node"),
            NODE.replace("2 1 0 0", "2 1 zero 0"),
        )
        .unwrap();
        std::fs::write(dir.path().join("bad.ele"), ELE).unwrap();
        let e = load_tetgen(&dir.path().join("bad.node")).unwrap_err();
        assert!(e.contains("bad.node:4:") && e.contains("`zero`"), "{e}");
        std::fs::write(dir.path().join("bad.node"), NODE).unwrap();
        std::fs::write(
            dir.path().join("bad.ele"),
            ELE.replace("5 3 5 8 7", "5 3 5 8 9"),
        )
        .unwrap();
        let e = load_tetgen(&dir.path().join("bad")).unwrap_err();
        assert!(
            e.contains("bad.ele:6:") && e.contains("node 9 does not exist"),
            "{e}"
        );
        std::fs::write(
            dir.path().join("b.msh"),
            "$MeshFormat\n2.2 1 8\n$EndMeshFormat\n",
        )
        .unwrap();
        let e = load_gmsh(&dir.path().join("b.msh")).unwrap_err();
        assert!(e.contains("b.msh:2:") && e.contains("ASCII"), "{e}");
    }
}
