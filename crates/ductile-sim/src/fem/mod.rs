//! FEM on linear tetrahedra: an elastic solid (the tactile pad's elastomer)
//! as a solver of the world. This file owns the host side of a mesh: the
//! description a solver is built from, the generated box mesh, the checks
//! that refuse inverted, degenerate or unreferenced elements by index, and
//! the precomputed rest data (Dm⁻¹, volumes, lumped masses, the node →
//! element CSR list the kernels gather through). [`solver::FemSolver`] owns
//! the GPU side.
//!
//! | stage | shader |
//! |---|---|
//! | per-element forces: stable neo-Hookean or corotated linear (polar decomposition by `common/svd.wgsl`) | `fem/elastic.wgsl` (`fem_forces`) |
//! | per-node gather, gravity, couplings' force, damping, symplectic Euler | `fem/elastic.wgsl` (`fem_integrate`) |
//! | penalty contact with the tools (spring, damper; friction as a smooth Coulomb projection of the predicted velocity) | `fem/contact.wgsl` (in `fem_integrate`) |
//! | tactile sensor: markers through a pinhole or fisheye camera in the frame of three base nodes, the marker-track and contact-force losses and their adjoints (the force's seed enters the node adjoint through `force_seed`) | `fem/camera.wgsl`, `fem/sensor.wgsl`, `fem/sensor_adj.wgsl` ([`sensor`], [`sensor_loss`]; host readouts in [`sensor_image`]) |
//! | adjoint: nodes (through friction), contact (with tool-control gradients), elements (with μ and λ gradients), gather | `fem/elastic_adj.wgsl` |
//! | two-way penalty contact with MPM matter, a coupling ([`matter`]): particles against the boundary triangles, and the adjoint | `fem/matter_law.wgsl`, `fem/matter.wgsl`, `fem/matter_adj.wgsl` |

pub mod matter;
pub mod sensor;
pub mod sensor_image;
pub mod sensor_loss;
pub mod solver;

use crate::error::SimError;

/// What an FEM body is built from (SI units).
#[derive(Clone, Debug)]
pub struct FemDesc {
    /// Name used in errors and outputs.
    pub name: String,
    /// Rest positions of the nodes [m].
    pub nodes: Vec<[f64; 3]>,
    /// Elements: 4 node indices each, positively oriented
    /// ((x1 − x0)·((x2 − x0) × (x3 − x0)) > 0).
    pub tets: Vec<[u32; 4]>,
    /// Density [kg/m³].
    pub density: f64,
    /// Young's modulus E [Pa].
    pub youngs_modulus: f64,
    /// Poisson ratio ν.
    pub poisson_ratio: f64,
    /// Mass-proportional damping c [1/s] (force −c m v per node).
    pub damping: f64,
    /// Nodes held at their rest position (a pad's base).
    pub pinned: Vec<bool>,
    /// Initial velocity of every free node [m/s].
    pub velocity: [f64; 3],
    /// Penalty contact with the tools.
    pub contact: FemContact,
    /// The tool the pinned nodes are mounted on (they follow its pose), if any.
    pub mount: Option<usize>,
    /// A tactile sensor reading the body, if any.
    pub sensor: Option<sensor::SensorDesc>,
    /// The element model.
    pub model: FemModel,
}

/// Penalty contact of an FEM body's nodes with the tools (`fem/contact.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FemContact {
    /// Normal spring stiffness k [N/m] per node.
    pub stiffness: f64,
    /// Normal damping c [N·s/m] per node.
    pub damping: f64,
    /// Coulomb friction coefficient μ.
    pub friction: f64,
    /// Stick speed ε [m/s] of the smooth stick–slip transition.
    pub stick_speed: f64,
}

impl FemContact {
    /// The default for a body of Young's modulus `e` [Pa] and shortest
    /// element edge `h` [m]: stiffness E·h (a node's share of an element
    /// compressed by its own size), no damping, μ = 0.5, ε = 1 mm/s.
    pub fn default_for(e: f64, h: f64) -> Self {
        FemContact {
            stiffness: e * h,
            damping: 0.0,
            friction: 0.5,
            stick_speed: 1e-3,
        }
    }
}

/// The default tool-contact stiffness [N/m] of body `d` (rest data `rest`)
/// stepped at `dt` [s]: 10 E·h for its smallest element altitude h, so that
/// a node pressed by its share of an element strained by ε sinks about
/// ε/10 of the element, capped at a quarter of the stiffest spring its
/// lightest node m takes beside the elastic waves (speed c):
/// k ≤ ¼ m (4/dt² − (2c/h)²). E·h when the step leaves no room (the
/// time-step advice then warns).
pub fn default_contact_stiffness(d: &FemDesc, rest: &FemRest, dt: f64) -> f64 {
    let h = smallest_altitude(&d.nodes, &d.tets);
    let (mu, la) = crate::material::lame(d.youngs_modulus, d.poisson_ratio);
    let c = ((la + 2.0 * mu) / d.density).sqrt();
    let m = rest.mass.iter().copied().fold(f64::INFINITY, f64::min);
    let room = 0.25 * m * (4.0 / (dt * dt) - (2.0 * c / h).powi(2));
    let eh = d.youngs_modulus * h;
    if room > eh {
        (10.0 * eh).min(room)
    } else {
        eh
    }
}

impl FemContact {
    /// `self` with the default stiffness for `d` at step `dt` when the
    /// scene left it out (see [`default_contact_stiffness`]).
    pub fn with_default_stiffness(mut self, d: &FemDesc, rest: &FemRest, dt: f64) -> Self {
        self.stiffness = default_contact_stiffness(d, rest, dt);
        self
    }
}

/// The sensor a scene's `fem[k].sensor` describes.
pub fn sensor_from_scene(s: &ductile_scene::SensorSpec) -> sensor::SensorDesc {
    let c = &s.camera;
    sensor::SensorDesc {
        camera: sensor::CameraDesc {
            model: match c.model {
                ductile_scene::CameraModelSpec::Pinhole => sensor::CameraModel::Pinhole,
                ductile_scene::CameraModelSpec::Fisheye => sensor::CameraModel::Fisheye,
            },
            position: c.position,
            look_at: c.look_at,
            up: c.up,
            width: c.size[0],
            height: c.size[1],
            focal: c.focal,
            principal: c
                .principal
                .unwrap_or([0.5 * f64::from(c.size[0]), 0.5 * f64::from(c.size[1])]),
        },
        rows: s.markers.rows,
        cols: s.markers.cols,
        margin: s.markers.margin,
        shading: match &s.shading {
            Some(sh) => sensor_image::Shading {
                ambient: sh.ambient,
                lights: sh
                    .lights
                    .iter()
                    .map(|l| sensor_image::Light {
                        direction: l.direction,
                        color: l.color,
                    })
                    .collect(),
                polynomial: sh.polynomial,
            },
            None => sensor_image::Shading::default(),
        },
    }
}

/// Whether each node of a generated mesh lies on its base (a `Pad`'s
/// bottom face, a `Dome`'s inner surface; a `Box`'s bottom face): the
/// nodes of the first layer of the unit-cube grid the generators map.
pub fn base_nodes(mesh: &ductile_scene::FemMesh, count: usize) -> Vec<bool> {
    let (nx, nz) = match mesh {
        ductile_scene::FemMesh::Box { cells, .. } => (cells[0] + 1, cells[2] + 1),
        ductile_scene::FemMesh::Pad { cells, .. } => (cells[0] + 1, cells[1] + 1),
        ductile_scene::FemMesh::Dome { cells, .. } => (cells + 1, cells + 1),
        _ => return vec![false; count],
    };
    // Nodes are x fastest, then y (the layers), then z.
    (0..count)
        .map(|i| (i as u32 / nx).is_multiple_of(((count as u32 / nx) / nz).max(1)))
        .collect()
}

/// A pad of `size` (x, z) and `thickness` standing on its base centred at
/// `center`, `cells` elements across and `layers` through, its top raised
/// by crown·(1 − (2x/w)²)(1 − (2z/d)²) [m]: the box mesh of the unit cube
/// mapped (y stretched, so every element keeps its orientation).
pub fn pad_mesh(
    center: [f64; 3],
    size: [f64; 2],
    thickness: f64,
    cells: [u32; 2],
    layers: u32,
    crown: f64,
) -> (Vec<[f64; 3]>, Vec<[u32; 4]>) {
    let (unit, tets) = box_mesh([0.0; 3], [1.0; 3], [cells[0], layers, cells[1]]);
    let nodes = unit
        .iter()
        .map(|&[u, t, w]| {
            let (a, b) = (2.0 * u - 1.0, 2.0 * w - 1.0);
            let h = thickness + crown * (1.0 - a * a) * (1.0 - b * b);
            [
                center[0] + 0.5 * a * size[0],
                center[1] + t * h,
                center[2] + 0.5 * b * size[1],
            ]
        })
        .collect();
    (nodes, tets)
}

/// A spherical shell around `center` of outer `radius` and `thickness`,
/// over the spherical square within `angle_deg` of +y along x and along z:
/// the box mesh of [−1, 1] × [0, 1] × [−1, 1] with each (x, z) mapped onto
/// the sphere by the gnomonic (central) projection of the plane y = 1,
/// x, z ∈ [−tan θ, tan θ] (smooth, so every hexahedron stays nearly affine
/// and its tetrahedra well shaped, as in cubed-sphere grids), and y onto
/// the radius (inner surface first).
pub fn dome_mesh(
    center: [f64; 3],
    radius: f64,
    thickness: f64,
    angle_deg: f64,
    cells: u32,
    layers: u32,
) -> (Vec<[f64; 3]>, Vec<[u32; 4]>) {
    let (unit, tets) = box_mesh([-1.0, 0.0, -1.0], [1.0; 3], [cells, layers, cells]);
    let tan = angle_deg.to_radians().tan();
    let nodes = unit
        .iter()
        .map(|&[a, t, b]| {
            let d = glam::DVec3::new(a * tan, 1.0, b * tan).normalize();
            let r = radius - thickness + t * thickness;
            (glam::DVec3::from_array(center) + r * d).to_array()
        })
        .collect();
    (nodes, tets)
}

/// The smallest element altitude [m] of a mesh (3 V / its largest face
/// area, per element): the length the fastest elastic wave crosses in one
/// explicit step's stability limit, which a flat element's shortest edge
/// overstates.
pub fn smallest_altitude(nodes: &[[f64; 3]], tets: &[[u32; 4]]) -> f64 {
    let p = |i: u32| glam::DVec3::from_array(nodes[i as usize]);
    let mut h = f64::INFINITY;
    for &t in tets {
        let v = signed_volume(nodes, t).abs();
        let mut a_max: f64 = 0.0;
        for f in [[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]] {
            let [a, b, c] = f.map(|k| p(t[k]));
            a_max = a_max.max(0.5 * (b - a).cross(c - a).length());
        }
        if a_max > 0.0 {
            h = h.min(3.0 * v / a_max);
        }
    }
    h
}

/// The shortest element edge [m] of a mesh.
pub fn shortest_edge(nodes: &[[f64; 3]], tets: &[[u32; 4]]) -> f64 {
    let mut h = f64::INFINITY;
    for t in tets {
        for a in 0..4 {
            for b in a + 1..4 {
                let (p, q) = (nodes[t[a] as usize], nodes[t[b] as usize]);
                let l =
                    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                h = h.min(l);
            }
        }
    }
    h
}

/// The description of a scene's `fem` body; `loaded` is its mesh read from
/// a file (`LoadedScene::fem_meshes`), for the `TetGen` and `Gmsh` meshes.
pub fn desc_from_scene(
    b: &ductile_scene::FemBody,
    loaded: Option<&ductile_scene::tetmesh::TetMesh>,
) -> FemDesc {
    let (nodes, tets) = match (&b.mesh, loaded) {
        (ductile_scene::FemMesh::Box { min, max, cells }, _) => box_mesh(*min, *max, *cells),
        (
            ductile_scene::FemMesh::Pad {
                center,
                size,
                thickness,
                cells,
                layers,
                crown,
            },
            _,
        ) => pad_mesh(*center, *size, *thickness, *cells, *layers, *crown),
        (
            ductile_scene::FemMesh::Dome {
                center,
                radius,
                thickness,
                angle_deg,
                cells,
                layers,
            },
            _,
        ) => dome_mesh(*center, *radius, *thickness, *angle_deg, *cells, *layers),
        (_, Some(m)) => (m.nodes.clone(), m.tets.clone()),
        (_, None) => (Vec::new(), Vec::new()),
    };
    let base = base_nodes(&b.mesh, nodes.len());
    let pinned = nodes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (b.pin_base && base[i])
                || b.pin_below.is_some_and(|y| p[1] <= y)
                || b.pin_inside
                    .is_some_and(|[lo, hi]| (0..3).all(|k| lo[k] <= p[k] && p[k] <= hi[k]))
        })
        .collect();
    let h = shortest_edge(&nodes, &tets);
    let contact = match &b.contact {
        Some(c) => FemContact {
            stiffness: c.stiffness,
            damping: c.damping,
            friction: c.friction,
            stick_speed: c.stick_speed,
        },
        None => FemContact::default_for(b.youngs_modulus, h),
    };
    FemDesc {
        name: b.name.clone(),
        nodes,
        tets,
        density: b.density,
        youngs_modulus: b.youngs_modulus,
        poisson_ratio: b.poisson_ratio,
        damping: b.damping,
        pinned,
        velocity: b.velocity,
        contact,
        mount: b.mount,
        sensor: b.sensor.as_ref().map(sensor_from_scene),
        model: match b.model {
            ductile_scene::FemModelSpec::StableNeoHookean => FemModel::StableNeoHookean,
            ductile_scene::FemModelSpec::CorotatedLinear => FemModel::CorotatedLinear,
        },
    }
}

/// Rest data derived from a [`FemDesc`], as the kernels read it.
#[derive(Clone, Debug, Default)]
pub struct FemRest {
    /// Dm⁻¹ per element, 9 Reals column-major.
    pub dm_inv: Vec<f64>,
    /// Rest volume per element [m³].
    pub volume: Vec<f64>,
    /// Lumped mass per node [kg] (a quarter of each element's mass).
    pub mass: Vec<f64>,
    /// CSR start per node (nodes + 1 entries) into `entries`.
    pub adj_start: Vec<u32>,
    /// Per incidence: element · 4 + corner.
    pub adj_entry: Vec<u32>,
}

/// The element models of `fem/elastic.wgsl`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FemModel {
    /// Stable neo-Hookean (Smith et al. 2018, without its log term).
    #[default]
    StableNeoHookean,
    /// Corotated linear elasticity (linear about the element's rotation).
    CorotatedLinear,
}

/// The energy parameters (μ, λ) of `model` for Young's modulus `e` [Pa]
/// and Poisson ratio `nu`, so that it linearises to the material's (E, ν):
/// the Lamé parameters (μ_L, λ_L) for the corotated model, (μ_L, λ_L + μ_L)
/// for the stable neo-Hookean one.
pub fn energy_parameters(model: FemModel, e: f64, nu: f64) -> (f64, f64) {
    let (mu, la) = crate::material::lame(e, nu);
    match model {
        FemModel::StableNeoHookean => (mu, la + mu),
        FemModel::CorotatedLinear => (mu, la),
    }
}

/// A box [lo, hi] of `cells` hexahedra, each split into 6 tetrahedra
/// around its main diagonal (Kuhn's subdivision: conforming across cells),
/// all positively oriented. Nodes are x fastest.
pub fn box_mesh(lo: [f64; 3], hi: [f64; 3], cells: [u32; 3]) -> (Vec<[f64; 3]>, Vec<[u32; 4]>) {
    let [nx, ny, nz] = cells.map(|c| c as usize);
    let node = |i: usize, j: usize, k: usize| (i + (nx + 1) * (j + (ny + 1) * k)) as u32;
    let mut nodes = Vec::with_capacity((nx + 1) * (ny + 1) * (nz + 1));
    for k in 0..=nz {
        for j in 0..=ny {
            for i in 0..=nx {
                let t = [
                    i as f64 / nx as f64,
                    j as f64 / ny as f64,
                    k as f64 / nz as f64,
                ];
                nodes.push(std::array::from_fn(|a| lo[a] + t[a] * (hi[a] - lo[a])));
            }
        }
    }
    const PERMS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut tets = Vec::with_capacity(6 * nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                for p in PERMS {
                    let mut c = [i, j, k];
                    let mut t = [node(c[0], c[1], c[2]); 4];
                    for (s, &a) in p.iter().enumerate() {
                        c[a] += 1;
                        t[s + 1] = node(c[0], c[1], c[2]);
                    }
                    if signed_volume(&nodes, t) < 0.0 {
                        t.swap(1, 2);
                    }
                    tets.push(t);
                }
            }
        }
    }
    (nodes, tets)
}

/// (x1 − x0)·((x2 − x0) × (x3 − x0)) / 6 [m³].
pub fn signed_volume(nodes: &[[f64; 3]], t: [u32; 4]) -> f64 {
    let p = t.map(|i| nodes[i as usize]);
    let d = |a: usize| [0, 1, 2].map(|k| p[a][k] - p[0][k]);
    let (a, b, c) = (d(1), d(2), d(3));
    let cross = [
        b[1] * c[2] - b[2] * c[1],
        b[2] * c[0] - b[0] * c[2],
        b[0] * c[1] - b[1] * c[0],
    ];
    (a[0] * cross[0] + a[1] * cross[1] + a[2] * cross[2]) / 6.0
}

/// Checks `d` and computes its rest data. Errors name the body and the
/// offending element or node: a corner out of range, an inverted or
/// degenerate element (volume at most 1e-12 of the mesh's mean), a node
/// that no element references, or a non-physical material.
pub fn prepare(d: &FemDesc) -> Result<FemRest, SimError> {
    let err = |what: String| SimError::Other(format!("FEM body `{}`: {what}", d.name));
    let n = d.nodes.len();
    if d.tets.is_empty() || n < 4 {
        return Err(err("needs at least one element and four nodes".into()));
    }
    if d.pinned.len() != n {
        return Err(err(format!(
            "{} pinned flags for {n} nodes",
            d.pinned.len()
        )));
    }
    let physical = d.density > 0.0
        && d.youngs_modulus > 0.0
        && d.damping >= 0.0
        && d.poisson_ratio > -1.0
        && d.poisson_ratio < 0.5;
    if !physical {
        return Err(err(format!(
            "density {} kg/m³, Young's modulus {} Pa, Poisson ratio {}, damping {} 1/s: need density > 0, E > 0, -1 < ν < 0.5, damping >= 0",
            d.density, d.youngs_modulus, d.poisson_ratio, d.damping
        )));
    }
    for (e, t) in d.tets.iter().enumerate() {
        if let Some(&c) = t.iter().find(|&&c| c as usize >= n) {
            return Err(err(format!(
                "element {e} names node {c}, but there are {n} nodes"
            )));
        }
    }
    let volumes: Vec<f64> = d.tets.iter().map(|&t| signed_volume(&d.nodes, t)).collect();
    let mean = volumes.iter().map(|v| v.abs()).sum::<f64>() / volumes.len() as f64;
    for (e, &v) in volumes.iter().enumerate() {
        let positive = v > 1e-12 * mean;
        if !positive {
            let kind = if v < 0.0 { "inverted" } else { "degenerate" };
            return Err(err(format!(
                "element {e} {:?} is {kind} (signed volume {v:e} m³; corners must be ordered so that (x1 − x0)·((x2 − x0) × (x3 − x0)) > 0)",
                d.tets[e]
            )));
        }
    }
    let mut rest = FemRest {
        mass: vec![0.0; n],
        ..Default::default()
    };
    let mut count = vec![0u32; n];
    for (e, t) in d.tets.iter().enumerate() {
        let p = t.map(|i| d.nodes[i as usize]);
        // Dm = [x1 − x0, x2 − x0, x3 − x0] (columns), inverted.
        let col = |a: usize| [0, 1, 2].map(|k| p[a][k] - p[0][k]);
        let m = glam::DMat3::from_cols(
            glam::DVec3::from_array(col(1)),
            glam::DVec3::from_array(col(2)),
            glam::DVec3::from_array(col(3)),
        );
        rest.dm_inv.extend_from_slice(&m.inverse().to_cols_array());
        rest.volume.push(volumes[e]);
        for &c in t {
            rest.mass[c as usize] += 0.25 * d.density * volumes[e];
            count[c as usize] += 1;
        }
    }
    if let Some(i) = count.iter().position(|&c| c == 0) {
        return Err(err(format!("node {i} belongs to no element")));
    }
    rest.adj_start = Vec::with_capacity(n + 1);
    rest.adj_start.push(0);
    for c in &count {
        let last = *rest.adj_start.last().unwrap_or(&0);
        rest.adj_start.push(last + c);
    }
    let mut fill = rest.adj_start[..n].to_vec();
    rest.adj_entry = vec![0; rest.adj_start[n] as usize];
    for (e, t) in d.tets.iter().enumerate() {
        for (corner, &c) in t.iter().enumerate() {
            let slot = &mut fill[c as usize];
            rest.adj_entry[*slot as usize] = (4 * e + corner) as u32;
            *slot += 1;
        }
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(nodes: Vec<[f64; 3]>, tets: Vec<[u32; 4]>) -> FemDesc {
        FemDesc {
            name: "pad".into(),
            pinned: vec![false; nodes.len()],
            nodes,
            tets,
            density: 1000.0,
            youngs_modulus: 1e5,
            poisson_ratio: 0.3,
            damping: 0.0,
            velocity: [0.0; 3],
            contact: FemContact::default_for(1e5, 0.1),
            mount: None,
            sensor: None,
            model: FemModel::StableNeoHookean,
        }
    }

    /// The box mesh fills its box: element volumes sum to the box's, all
    /// positive; its mass is ρ times that; the CSR list holds every corner once.
    fn mesh_volume(nodes: &[[f64; 3]], tets: &[[u32; 4]]) -> f64 {
        tets.iter().map(|&t| signed_volume(nodes, t)).sum()
    }

    /// Generated pads and domes. References: a crowned pad's volume is
    /// w·d·(T + 4c/9) (measured −1.4e-3 at 19 × 14 cells, the linear
    /// elements under the curved top; bound 1e-2); a dome's is the shell
    /// over a spherical square of half-angle θ, Ω (R³ − r³)/3 with solid
    /// angle Ω = 4 asin(sin² θ) (measured 1.4e-2, 3.7e-3, 9.2e-4 at 8, 16,
    /// 32 cells across: second order; each bound 5e-2 and below the coarser
    /// one). Every element is positively oriented and well shaped (smallest
    /// altitude above a tenth of the shortest edge: a disk map with kinks
    /// or squeezed corners, tried first, made 28 µm slivers of 0.8 mm
    /// edges), and the base nodes are the pad's bottom face and the dome's
    /// inner surface.
    #[test]
    fn pads_and_domes_are_valid_meshes_of_their_volume() {
        let (size, t, c) = ([0.019, 0.016], 0.004, 0.002);
        let (nodes, tets) = pad_mesh([0.1, 0.2, 0.3], size, t, [19, 14], 4, c);
        assert!(prepare(&desc(nodes.clone(), tets.clone())).is_ok());
        let want = size[0] * size[1] * (t + 4.0 * c / 9.0);
        let got = mesh_volume(&nodes, &tets);
        assert!(
            (got / want - 1.0).abs() < 1e-2,
            "pad volume {got} vs {want}"
        );
        let mesh = ductile_scene::FemMesh::Pad {
            center: [0.1, 0.2, 0.3],
            size,
            thickness: t,
            cells: [19, 14],
            layers: 4,
            crown: c,
        };
        let base = base_nodes(&mesh, nodes.len());
        assert_eq!(base.iter().filter(|&&b| b).count(), 20 * 15);
        assert!(nodes.iter().zip(&base).all(|(p, &b)| !b || p[1] == 0.2));
        // A dome: the shell over a spherical square of half-angle θ, whose
        // solid angle is 4 asin(sin² θ): volume Ω (R³ − r³)/3; the error
        // falls as the mesh refines.
        let (r, th, ang) = (0.012f64, 0.003f64, 40.0f64);
        let omega = 4.0 * (ang.to_radians().sin().powi(2)).asin();
        let want = omega * (r.powi(3) - (r - th).powi(3)) / 3.0;
        let mut last = f64::INFINITY;
        for cells in [8, 16, 32] {
            let (nodes, tets) = dome_mesh([0.0; 3], r, th, ang, cells, 3);
            let p = prepare(&desc(nodes.clone(), tets.clone()));
            assert!(p.is_ok(), "dome {cells}: {:?}", p.err());
            // Well shaped: the smallest altitude at least a tenth of the
            // shortest edge (a cube's Kuhn tetrahedra: 0.71).
            let (h, e) = (
                smallest_altitude(&nodes, &tets),
                shortest_edge(&nodes, &tets),
            );
            assert!(h > 0.1 * e, "dome {cells}: altitude {h} against edge {e}");
            let err = (mesh_volume(&nodes, &tets) / want - 1.0).abs();
            assert!(err < last && err < 0.05, "dome {cells}: error {err}");
            last = err;
            if cells == 8 {
                let mesh = ductile_scene::FemMesh::Dome {
                    center: [0.0; 3],
                    radius: r,
                    thickness: th,
                    angle_deg: ang,
                    cells,
                    layers: 3,
                };
                let base = base_nodes(&mesh, nodes.len());
                for (p, &b) in nodes.iter().zip(&base) {
                    let rr = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                    assert_eq!(b, (rr - (r - th)).abs() < 1e-12, "{p:?}");
                }
            }
        }
    }

    #[test]
    fn box_mesh_fills_its_box() {
        let (nodes, tets) = box_mesh([0.0; 3], [0.2, 0.1, 0.3], [2, 1, 3]);
        assert_eq!(nodes.len(), 3 * 2 * 4);
        assert_eq!(tets.len(), 6 * 2 * 3);
        let d = desc(nodes, tets);
        let r = prepare(&d).unwrap();
        let total: f64 = r.volume.iter().sum();
        assert!((total - 0.006).abs() < 1e-15, "{total}");
        assert!(r.volume.iter().all(|&v| v > 0.0));
        let mass: f64 = r.mass.iter().sum();
        assert!((mass - 6.0).abs() < 1e-12, "{mass}");
        assert_eq!(r.adj_entry.len(), 4 * d.tets.len());
        let mut seen = r.adj_entry.clone();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(i, &e)| i as u32 == e));
    }

    /// Inverted, degenerate and out-of-range elements, and unreferenced
    /// nodes, are refused with the element or node named.
    #[test]
    fn bad_meshes_name_the_element() {
        let (nodes, mut tets) = box_mesh([0.0; 3], [1.0; 3], [1, 1, 1]);
        tets[3].swap(0, 1);
        let e = prepare(&desc(nodes.clone(), tets)).unwrap_err().to_string();
        assert!(e.contains("element 3") && e.contains("inverted"), "{e}");
        let (_, mut tets) = box_mesh([0.0; 3], [1.0; 3], [1, 1, 1]);
        tets[2] = [0, 1, 2, 2];
        let e = prepare(&desc(nodes.clone(), tets)).unwrap_err().to_string();
        assert!(e.contains("element 2") && e.contains("degenerate"), "{e}");
        let (_, mut tets) = box_mesh([0.0; 3], [1.0; 3], [1, 1, 1]);
        tets[1][3] = 99;
        let e = prepare(&desc(nodes.clone(), tets)).unwrap_err().to_string();
        assert!(e.contains("element 1 names node 99"), "{e}");
        let (mut nodes2, tets) = box_mesh([0.0; 3], [1.0; 3], [1, 1, 1]);
        nodes2.push([2.0; 3]);
        let e = prepare(&desc(nodes2, tets)).unwrap_err().to_string();
        assert!(e.contains("node 8 belongs to no element"), "{e}");
    }
}
