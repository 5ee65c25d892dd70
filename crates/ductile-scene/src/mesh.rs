//! Triangle meshes: OBJ loading, inside tests and signed-distance grids.
//!
//! This module owns [`TriMesh`] (vertices and triangles in f64), its loading
//! from OBJ files through `tobj`, the point-in-mesh test, and
//! [`signed_distance_grid`], which turns a closed mesh into an [`SdfGrid`]
//! (negative inside) for kinematic mesh tools.
//!
//! Inside/outside is decided by the signed number of crossings of a ray along
//! +x (a winding number), with a consistent symbolic tie-break for rays that
//! hit edges or vertices exactly, so grid-aligned meshes such as boxes are
//! classified correctly. Meshes should be closed; orientation does not matter
//! for the inside test (any non-zero winding is inside).

use std::path::Path;

use glam::DVec3;

/// Errors from loading or using a mesh.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeshError {
    /// The OBJ file could not be read or parsed.
    #[error("cannot load OBJ: {0}")]
    Load(String),
    /// The file holds no triangles.
    #[error("the mesh has no triangles")]
    Empty,
    /// A vertex coordinate is NaN or infinite.
    #[error("vertex {0} has a non-finite coordinate")]
    NonFinite(usize),
    /// A triangle refers to a vertex that does not exist.
    #[error("triangle {0} refers to a missing vertex")]
    BadIndex(usize),
    /// Invalid grid parameters (spacing not positive, or grid too large).
    #[error("{0}")]
    Grid(String),
}

/// An indexed triangle mesh in f64. Triangles are counter-clockwise seen from
/// outside for an outward-oriented mesh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions.
    pub vertices: Vec<[f64; 3]>,
    /// Vertex indices of each triangle.
    pub triangles: Vec<[u32; 3]>,
}

/// Largest SDF grid [`try_signed_distance_grid`] builds, in nodes per axis.
pub const MAX_SDF_NODES_PER_AXIS: u32 = 1024;
/// Largest SDF grid [`try_signed_distance_grid`] builds, in nodes in total.
pub const MAX_SDF_NODES: u64 = 1 << 26;

impl TriMesh {
    /// Loads all models of an OBJ file into one mesh (faces triangulated;
    /// normals, texture coordinates and materials ignored).
    pub fn load_obj(path: &Path) -> Result<TriMesh, MeshError> {
        #[allow(clippy::needless_update)] // other fields exist behind tobj features
        let opts = tobj::LoadOptions {
            triangulate: true,
            single_index: false,
            ignore_points: true,
            ignore_lines: true,
            ..Default::default()
        };
        let (models, _materials) = tobj::load_obj(path, &opts).map_err(|e| match e {
            // tobj drops the operating system's reason; ask again for it.
            tobj::LoadError::OpenFileFailed => match std::fs::File::open(path) {
                Err(io) => MeshError::Load(io.to_string()),
                Ok(_) => MeshError::Load(e.to_string()),
            },
            e => MeshError::Load(e.to_string()),
        })?;
        let mut mesh = TriMesh::default();
        for m in &models {
            let base = mesh.vertices.len();
            let pos = &m.mesh.positions;
            for v in pos.chunks_exact(3) {
                mesh.vertices
                    .push([f64::from(v[0]), f64::from(v[1]), f64::from(v[2])]);
            }
            let count = pos.len() / 3;
            for (t, tri) in m.mesh.indices.chunks_exact(3).enumerate() {
                if tri.iter().any(|&i| i as usize >= count) {
                    return Err(MeshError::BadIndex(mesh.triangles.len() + t));
                }
                let off = |i: u32| -> Result<u32, MeshError> {
                    u32::try_from(base + i as usize).map_err(|_| MeshError::BadIndex(t))
                };
                mesh.triangles
                    .push([off(tri[0])?, off(tri[1])?, off(tri[2])?]);
            }
        }
        mesh.check()?;
        Ok(mesh)
    }

    /// Checks that the mesh has triangles, finite vertices and valid indices.
    pub fn check(&self) -> Result<(), MeshError> {
        if self.triangles.is_empty() {
            return Err(MeshError::Empty);
        }
        if let Some(i) = self
            .vertices
            .iter()
            .position(|v| v.iter().any(|x| !x.is_finite()))
        {
            return Err(MeshError::NonFinite(i));
        }
        let n = self.vertices.len();
        if let Some(t) = self
            .triangles
            .iter()
            .position(|t| t.iter().any(|&i| i as usize >= n))
        {
            return Err(MeshError::BadIndex(t));
        }
        Ok(())
    }

    /// Axis-aligned bounding box `(min, max)` of the vertices. For a mesh
    /// without vertices both corners are the origin.
    pub fn aabb(&self) -> ([f64; 3], [f64; 3]) {
        if self.vertices.is_empty() {
            return ([0.0; 3], [0.0; 3]);
        }
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for v in &self.vertices {
            for k in 0..3 {
                lo[k] = lo[k].min(v[k]);
                hi[k] = hi[k].max(v[k]);
            }
        }
        (lo, hi)
    }

    /// A copy with every vertex multiplied by `s` (about the origin).
    pub fn scaled(&self, s: f64) -> TriMesh {
        TriMesh {
            vertices: self
                .vertices
                .iter()
                .map(|v| [v[0] * s, v[1] * s, v[2] * s])
                .collect(),
            triangles: self.triangles.clone(),
        }
    }

    /// A copy with `t` added to every vertex.
    pub fn translated(&self, t: [f64; 3]) -> TriMesh {
        TriMesh {
            vertices: self
                .vertices
                .iter()
                .map(|v| [v[0] + t[0], v[1] + t[1], v[2] + t[2]])
                .collect(),
            triangles: self.triangles.clone(),
        }
    }

    fn tri(&self, t: &[u32; 3]) -> [DVec3; 3] {
        [
            DVec3::from(self.vertices[t[0] as usize]),
            DVec3::from(self.vertices[t[1] as usize]),
            DVec3::from(self.vertices[t[2] as usize]),
        ]
    }

    /// Signed volume [m³]; positive for an outward-oriented closed mesh.
    pub fn signed_volume(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = self.tri(t);
                a.dot(b.cross(c)) / 6.0
            })
            .sum()
    }

    /// `true` if every edge is shared by exactly two triangles that traverse
    /// it in opposite directions (closed, consistently oriented, manifold edges).
    pub fn is_watertight(&self) -> bool {
        let mut edges = std::collections::HashMap::<(u32, u32), i32>::new();
        for t in &self.triangles {
            for k in 0..3 {
                let (a, b) = (t[k], t[(k + 1) % 3]);
                *edges.entry((a, b)).or_insert(0) += 1;
            }
        }
        edges
            .iter()
            .all(|(&(a, b), &n)| n == 1 && edges.get(&(b, a)) == Some(&1))
    }

    /// Winding number of the mesh around `p`, counted as the signed number of
    /// crossings of the ray from `p` along +x (+1 inside an outward mesh).
    pub fn winding_number(&self, p: [f64; 3]) -> i32 {
        let crossings = RowCrossings::new(self, p[1], p[2]);
        crossings.winding_at(p[0])
    }

    /// `true` if `p` is inside the mesh (non-zero winding number).
    pub fn contains(&self, p: [f64; 3]) -> bool {
        self.winding_number(p) != 0
    }

    /// Unsigned distance from `p` to the surface [m] (`inf` for an empty mesh).
    pub fn distance(&self, p: [f64; 3]) -> f64 {
        let p = DVec3::from(p);
        self.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = self.tri(t);
                (closest_point_on_triangle(p, a, b, c) - p).length_squared()
            })
            .fold(f64::INFINITY, f64::min)
            .sqrt()
    }
}

// ---------------------------------------------------------------------------
// Ray crossings

/// The crossings of the line `{(x, y, z) : x ∈ ℝ}` with a mesh: sorted
/// x-coordinates and, for each, +1 or −1 by the facing of the triangle.
pub(crate) struct RowCrossings {
    /// Sorted crossing x-coordinates.
    xs: Vec<f64>,
    /// `suffix[i]` = sum of the signs of crossings `i..`.
    suffix: Vec<i32>,
}

impl RowCrossings {
    /// Intersects the x-parallel line through `(y, z)` with every triangle.
    pub(crate) fn new(mesh: &TriMesh, y: f64, z: f64) -> RowCrossings {
        let p = [y, z];
        let mut hits: Vec<(f64, i32)> = Vec::new();
        for t in &mesh.triangles {
            let [a, b, c] = mesh.tri(t);
            let (a2, b2, c2) = ([a.y, a.z], [b.y, b.z], [c.y, c.z]);
            // Quick reject on the projected bounding box.
            if y < a.y.min(b.y).min(c.y)
                || y > a.y.max(b.y).max(c.y)
                || z < a.z.min(b.z).min(c.z)
                || z > a.z.max(b.z).max(c.z)
            {
                continue;
            }
            let s1 = edge_side(a2, b2, p);
            let s2 = edge_side(b2, c2, p);
            let s3 = edge_side(c2, a2, p);
            if s1 != s2 || s2 != s3 {
                continue;
            }
            // Barycentric weights from the sub-triangle areas.
            let wa = cross2(sub2(b2, p), sub2(c2, p));
            let wb = cross2(sub2(c2, p), sub2(a2, p));
            let wc = cross2(sub2(a2, p), sub2(b2, p));
            let sum = wa + wb + wc;
            let x = if sum != 0.0 && sum.is_finite() {
                (wa * a.x + wb * b.x + wc * c.x) / sum
            } else {
                (a.x + b.x + c.x) / 3.0
            };
            hits.push((x, if s1 { 1 } else { -1 }));
        }
        hits.sort_by(|l, r| l.0.total_cmp(&r.0));
        let mut suffix = vec![0; hits.len() + 1];
        for i in (0..hits.len()).rev() {
            suffix[i] = suffix[i + 1] + hits[i].1;
        }
        RowCrossings {
            xs: hits.iter().map(|h| h.0).collect(),
            suffix,
        }
    }

    /// Signed count of crossings with x-coordinate greater than `x`.
    pub(crate) fn winding_at(&self, x: f64) -> i32 {
        let i = self.xs.partition_point(|&c| c <= x);
        self.suffix[i]
    }
}

fn sub2(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn cross2(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

/// Which side of the directed 2-D edge `a → b` the point `p` lies on (`true`
/// = left), with `p` symbolically perturbed by `(ε, ε²)` so that the answer is
/// never "on the edge". The edge is evaluated in a canonical vertex order, so
/// `edge_side(a, b, p) == !edge_side(b, a, p)` exactly: two triangles sharing
/// an edge always agree, and a ray through a shared edge or vertex is counted
/// exactly once.
fn edge_side(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    let swap = (b[0], b[1]) < (a[0], a[1]);
    let (s, e) = if swap { (b, a) } else { (a, b) };
    let d = (e[0] - s[0]) * (p[1] - s[1]) - (e[1] - s[1]) * (p[0] - s[0]);
    let left = if d != 0.0 {
        d > 0.0
    } else {
        // d(p + (ε, ε²)) = d + ε·∂d/∂u + ε²·∂d/∂v.
        let du = -(e[1] - s[1]);
        if du != 0.0 {
            du > 0.0
        } else {
            e[0] - s[0] > 0.0
        }
    };
    left != swap
}

// ---------------------------------------------------------------------------
// Distances

/// Closest point to `p` on triangle `abc` (Ericson, Real-Time Collision Detection, 5.1.5).
fn closest_point_on_triangle(p: DVec3, a: DVec3, b: DVec3, c: DVec3) -> DVec3 {
    let ab = b - a;
    let ac = c - a;
    if ab.cross(ac).length_squared() <= 1e-30 * (ab.length_squared() + ac.length_squared()).powi(2)
    {
        // Degenerate triangle: the nearest of its edges.
        let cands = [
            closest_point_on_segment(p, a, b),
            closest_point_on_segment(p, b, c),
            closest_point_on_segment(p, c, a),
        ];
        return cands
            .into_iter()
            .min_by(|x, y| {
                (*x - p)
                    .length_squared()
                    .total_cmp(&(*y - p).length_squared())
            })
            .unwrap_or(a);
    }
    let ap = p - a;
    let d1 = ab.dot(ap);
    let d2 = ac.dot(ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = p - b;
    let d3 = ab.dot(bp);
    let d4 = ac.dot(bp);
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return a + ab * (d1 / (d1 - d3));
    }
    let cp = p - c;
    let d5 = ab.dot(cp);
    let d6 = ac.dot(cp);
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return a + ac * (d2 / (d2 - d6));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        return b + (c - b) * ((d4 - d3) / ((d4 - d3) + (d5 - d6)));
    }
    let denom = 1.0 / (va + vb + vc);
    a + ab * (vb * denom) + ac * (vc * denom)
}

fn closest_point_on_segment(p: DVec3, a: DVec3, b: DVec3) -> DVec3 {
    let ab = b - a;
    let len2 = ab.length_squared();
    if len2 == 0.0 {
        return a;
    }
    a + ab * ((p - a).dot(ab) / len2).clamp(0.0, 1.0)
}

/// Squared distance from `p` to the box `[lo, hi]`.
fn box_distance_squared(p: DVec3, lo: DVec3, hi: DVec3) -> f64 {
    let d = (lo - p).max(p - hi).max(DVec3::ZERO);
    d.length_squared()
}

// ---------------------------------------------------------------------------
// Signed-distance grid

/// Signed distances to a mesh sampled on a regular grid of nodes
/// `origin + (i, j, k)·dx`; negative inside.
#[derive(Clone, Debug, PartialEq)]
pub struct SdfGrid {
    /// Position of node (0, 0, 0) [m].
    pub origin: [f64; 3],
    /// Node spacing [m].
    pub dx: f64,
    /// Number of nodes along x, y, z.
    pub dims: [u32; 3],
    /// Signed distances [m], x fastest: `index = x + dims[0]·(y + dims[1]·z)`.
    pub values: Vec<f32>,
}

impl SdfGrid {
    /// Flat index of node `(x, y, z)`.
    pub fn index(&self, x: u32, y: u32, z: u32) -> usize {
        x as usize + self.dims[0] as usize * (y as usize + self.dims[1] as usize * z as usize)
    }

    /// Value at node `(x, y, z)`, or `None` outside the grid.
    pub fn value(&self, x: u32, y: u32, z: u32) -> Option<f32> {
        if x < self.dims[0] && y < self.dims[1] && z < self.dims[2] {
            self.values.get(self.index(x, y, z)).copied()
        } else {
            None
        }
    }

    /// Position of node `(x, y, z)` [m].
    pub fn node_position(&self, x: u32, y: u32, z: u32) -> [f64; 3] {
        [
            self.origin[0] + f64::from(x) * self.dx,
            self.origin[1] + f64::from(y) * self.dx,
            self.origin[2] + f64::from(z) * self.dx,
        ]
    }

    /// Trilinear interpolation at `p`, clamped to the grid's box. `None` for
    /// an empty grid.
    pub fn sample(&self, p: [f64; 3]) -> Option<f64> {
        if self.dims.contains(&0) || self.values.is_empty() {
            return None;
        }
        let mut i0 = [0u32; 3];
        let mut f = [0.0f64; 3];
        for k in 0..3 {
            let n = self.dims[k];
            let g = ((p[k] - self.origin[k]) / self.dx).clamp(0.0, f64::from(n - 1));
            let i = (g.floor() as u32).min(n.saturating_sub(2));
            i0[k] = i;
            f[k] = if n == 1 { 0.0 } else { g - f64::from(i) };
        }
        let mut acc = 0.0;
        for corner in 0..8u32 {
            let o = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let mut w = 1.0;
            let mut idx = [0u32; 3];
            for k in 0..3 {
                idx[k] = (i0[k] + o[k]).min(self.dims[k] - 1);
                w *= if o[k] == 1 { f[k] } else { 1.0 - f[k] };
            }
            if w != 0.0 {
                acc += w * f64::from(self.value(idx[0], idx[1], idx[2])?);
            }
        }
        Some(acc)
    }
}

/// Node counts along x, y, z of the grid [`signed_distance_grid`] would build:
/// the mesh's bounding box plus `padding_cells` cells on every side.
/// `None` if `dx` is not positive and finite, the mesh has no vertices, or a
/// count does not fit in `u32`.
pub fn sdf_grid_dims(mesh: &TriMesh, dx: f64, padding_cells: u32) -> Option<[u32; 3]> {
    if !(dx > 0.0 && dx.is_finite()) || mesh.vertices.is_empty() {
        return None;
    }
    let (lo, hi) = mesh.aabb();
    let mut dims = [0u32; 3];
    for k in 0..3 {
        let n = ((hi[k] - lo[k]) / dx).ceil() + 1.0 + 2.0 * f64::from(padding_cells);
        if !(n.is_finite() && n <= f64::from(u32::MAX)) {
            return None;
        }
        dims[k] = n as u32;
    }
    Some(dims)
}

/// Builds the signed-distance grid of `mesh` with node spacing `dx`, covering
/// the mesh's bounding box plus `padding_cells` cells on each side.
///
/// Distances are exact point–triangle distances; the sign comes from the
/// winding number (negative inside). Cost is about O(nodes × triangles), with
/// far triangles skipped by a bounding-box test: fine for grids of ~40³
/// nodes and a few thousand triangles.
///
/// # Panics
///
/// If the mesh is empty or invalid, `dx` is not positive and finite, or the
/// grid would exceed [`MAX_SDF_NODES_PER_AXIS`] / [`MAX_SDF_NODES`]. Use
/// [`try_signed_distance_grid`] for unchecked input; scenes loaded with
/// `load_scene` have already been checked.
pub fn signed_distance_grid(mesh: &TriMesh, dx: f64, padding_cells: u32) -> SdfGrid {
    match try_signed_distance_grid(mesh, dx, padding_cells) {
        Ok(g) => g,
        Err(e) => panic!("signed_distance_grid: {e}"),
    }
}

/// [`signed_distance_grid`], returning an error instead of panicking.
pub fn try_signed_distance_grid(
    mesh: &TriMesh,
    dx: f64,
    padding_cells: u32,
) -> Result<SdfGrid, MeshError> {
    mesh.check()?;
    let dims = sdf_grid_dims(mesh, dx, padding_cells)
        .ok_or_else(|| MeshError::Grid(format!("invalid SDF spacing {dx}")))?;
    let total: u64 = dims.iter().map(|&n| u64::from(n)).product();
    if dims.iter().any(|&n| n > MAX_SDF_NODES_PER_AXIS) || total > MAX_SDF_NODES {
        return Err(MeshError::Grid(format!(
            "SDF grid of {}×{}×{} nodes is too large (at most {MAX_SDF_NODES_PER_AXIS} per axis \
             and {MAX_SDF_NODES} in total); use a larger spacing",
            dims[0], dims[1], dims[2]
        )));
    }
    let (lo, _) = mesh.aabb();
    let pad = f64::from(padding_cells) * dx;
    let origin = [lo[0] - pad, lo[1] - pad, lo[2] - pad];

    let tris: Vec<[DVec3; 3]> = mesh.triangles.iter().map(|t| mesh.tri(t)).collect();
    let boxes: Vec<(DVec3, DVec3)> = tris
        .iter()
        .map(|[a, b, c]| (a.min(*b).min(*c), a.max(*b).max(*c)))
        .collect();

    let mut values = Vec::with_capacity(total as usize);
    let mut hint = 0usize;
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            let py = origin[1] + f64::from(y) * dx;
            let pz = origin[2] + f64::from(z) * dx;
            let row = RowCrossings::new(mesh, py, pz);
            for x in 0..dims[0] {
                let p = DVec3::new(origin[0] + f64::from(x) * dx, py, pz);
                // Start from the previous node's nearest triangle: a tight bound.
                let [a, b, c] = tris[hint];
                let mut best = (closest_point_on_triangle(p, a, b, c) - p).length_squared();
                for (i, ([a, b, c], (blo, bhi))) in tris.iter().zip(&boxes).enumerate() {
                    if box_distance_squared(p, *blo, *bhi) >= best {
                        continue;
                    }
                    let d = (closest_point_on_triangle(p, *a, *b, *c) - p).length_squared();
                    if d < best {
                        best = d;
                        hint = i;
                    }
                }
                let dist = best.sqrt();
                let inside = row.winding_at(p.x) != 0;
                values.push(if inside { -dist } else { dist } as f32);
            }
        }
    }
    Ok(SdfGrid {
        origin,
        dx,
        dims,
        values,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The unit cube [0, 1]³, outward-oriented.
    pub(crate) fn unit_cube() -> TriMesh {
        let vertices = (0..8)
            .map(|i| {
                [
                    f64::from(i & 1),
                    f64::from((i >> 1) & 1),
                    f64::from((i >> 2) & 1),
                ]
            })
            .collect();
        // Quads (counter-clockwise from outside) split into triangles.
        let quads: [[u32; 4]; 6] = [
            [0, 2, 3, 1], // z = 0, normal -z
            [4, 5, 7, 6], // z = 1, normal +z
            [0, 1, 5, 4], // y = 0, normal -y
            [2, 6, 7, 3], // y = 1, normal +y
            [0, 4, 6, 2], // x = 0, normal -x
            [1, 3, 7, 5], // x = 1, normal +x
        ];
        let triangles = quads
            .iter()
            .flat_map(|q| [[q[0], q[1], q[2]], [q[0], q[2], q[3]]])
            .collect();
        TriMesh {
            vertices,
            triangles,
        }
    }

    #[test]
    fn cube_is_closed_and_outward() {
        let m = unit_cube();
        assert!(m.is_watertight());
        assert!((m.signed_volume() - 1.0).abs() < 1e-12);
        assert_eq!(m.aabb(), ([0.0; 3], [1.0; 3]));
    }

    #[test]
    fn cube_contains_including_degenerate_rays() {
        let m = unit_cube();
        assert!(m.contains([0.5, 0.5, 0.5]));
        assert!(!m.contains([1.5, 0.5, 0.5]));
        assert!(!m.contains([-0.5, 0.5, 0.5]));
        assert!(!m.contains([0.5, 1.5, 0.5]));
        // Rays through the diagonal edge shared by two triangles of a face,
        // and through vertices and edges of the cube: counted exactly once.
        assert!(m.contains([0.5, 0.25, 0.25]));
        assert!(m.contains([0.5, 0.5, 0.5]));
        assert_eq!(m.winding_number([-1.0, 0.3, 0.3]), 0);
        assert_eq!(m.winding_number([0.2, 0.3, 0.3]), 1);
        for &(y, z) in &[(0.0, 0.0), (1.0, 1.0), (0.0, 0.5), (0.5, 1.0), (0.75, 0.75)] {
            assert_eq!(m.winding_number([-1.0, y, z]), 0, "ray at ({y}, {z})");
        }
        // Inverted orientation: still inside.
        let mut inv = m.clone();
        for t in &mut inv.triangles {
            t.swap(1, 2);
        }
        assert_eq!(inv.winding_number([0.5, 0.5, 0.5]), -1);
        assert!(inv.contains([0.5, 0.5, 0.5]));
    }

    #[test]
    fn cube_distances() {
        let m = unit_cube();
        assert!((m.distance([0.5, 0.5, 0.5]) - 0.5).abs() < 1e-12);
        assert!((m.distance([2.0, 0.5, 0.5]) - 1.0).abs() < 1e-12);
        assert!((m.distance([2.0, 2.0, 0.5]) - 2f64.sqrt()).abs() < 1e-12);
        assert!((m.distance([2.0, 2.0, 2.0]) - 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn cube_sdf() {
        let m = unit_cube();
        let g = signed_distance_grid(&m, 0.1, 3);
        assert_eq!(g.dims, [17, 17, 17]);
        assert_eq!(g.values.len(), 17 * 17 * 17);
        assert!((g.origin[0] + 0.3).abs() < 1e-12);
        // Node (8, 8, 8) is the centre (0.5, 0.5, 0.5).
        let c = g.value(8, 8, 8).unwrap();
        assert!((c + 0.5).abs() < 1e-6, "centre {c}");
        let s = g.sample([0.5, 0.5, 0.5]).unwrap();
        assert!((s + 0.5).abs() < 1e-6);
        // Outside: distance to the nearest face.
        let o = g.sample([1.2, 0.5, 0.5]).unwrap();
        assert!((o - 0.2).abs() < 1e-6, "outside {o}");
        let corner = g.value(0, 0, 0).unwrap();
        assert!((f64::from(corner) - (3.0 * 0.09f64).sqrt()).abs() < 1e-6);
        // Every node's sign agrees with the inside test and |value| with distance.
        for z in 0..g.dims[2] {
            for y in 0..g.dims[1] {
                for x in 0..g.dims[0] {
                    let p = g.node_position(x, y, z);
                    let v = f64::from(g.value(x, y, z).unwrap());
                    let d = m.distance(p);
                    assert!((v.abs() - d).abs() < 1e-6);
                    let strictly_inside = p.iter().all(|&q| q > 1e-9 && q < 1.0 - 1e-9);
                    if d > 1e-9 {
                        assert_eq!(v < 0.0, strictly_inside, "node {p:?} value {v}");
                    }
                }
            }
        }
        // X-fastest layout.
        assert_eq!(g.index(1, 0, 0), 1);
        assert_eq!(g.index(0, 1, 0), 17);
        assert_eq!(g.index(0, 0, 1), 17 * 17);
    }

    #[test]
    fn bad_grids_are_errors() {
        let m = unit_cube();
        assert!(try_signed_distance_grid(&m, 0.0, 1).is_err());
        assert!(try_signed_distance_grid(&m, f64::NAN, 1).is_err());
        assert!(try_signed_distance_grid(&m, 1e-6, 1).is_err());
        assert!(try_signed_distance_grid(&TriMesh::default(), 0.1, 1).is_err());
    }

    #[test]
    fn transforms() {
        let m = unit_cube().scaled(2.0).translated([1.0, 0.0, -1.0]);
        assert_eq!(m.aabb(), ([1.0, 0.0, -1.0], [3.0, 2.0, 1.0]));
        assert!((m.signed_volume() - 8.0).abs() < 1e-12);
        assert!(m.contains([2.0, 1.0, 0.0]));
    }

    #[test]
    fn degenerate_triangle_distance() {
        let a = DVec3::ZERO;
        let b = DVec3::X;
        let p = DVec3::new(0.5, 1.0, 0.0);
        let q = closest_point_on_triangle(p, a, a, b);
        assert!((q - DVec3::new(0.5, 0.0, 0.0)).length() < 1e-12);
        let q = closest_point_on_triangle(p, a, a, a);
        assert_eq!(q, a);
    }
}
