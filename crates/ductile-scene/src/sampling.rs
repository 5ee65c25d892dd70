//! Particle placement inside body shapes.
//!
//! This module owns how a [`Body`]'s shape is filled with particles. Particles
//! sit on a world-anchored lattice of sub-cells of edge `h = dx / n`, where
//! `n³ = particles_per_cell`: with `Lattice` sampling at the sub-cell centres
//! `(i + ½)·h` (for integer `i`, independent of the domain origin), with
//! `Jittered(seed)` at a deterministic pseudo-random point of each sub-cell.
//! Only points inside the shape are kept, ordered z, then y, then x fastest;
//! [`order_by_stencil_cell`] reorders them by grid cell for the simulation.

use std::path::Path;

use crate::error::SceneError;
use crate::mesh::{RowCrossings, TriMesh};
use crate::schema::{Body, BodyShape, Sampling};
use crate::validate::{cube_root, MAX_PARTICLES_PER_BODY};

/// Volume each particle represents [m³]: `dx³ / ppc`.
pub fn body_volume_per_particle(dx: f64, ppc: u32) -> f64 {
    dx.powi(3) / f64::from(ppc)
}

/// Sub-cell edge length `h = dx / ∛ppc` [m], or `None` if `ppc` is not a
/// perfect cube.
pub fn sub_cell_size(dx: f64, ppc: u32) -> Option<f64> {
    cube_root(ppc).map(|n| dx / f64::from(n))
}

/// Orders particles [m] by the base cell of their quadratic B-spline stencil
/// on the grid with lower corner `origin` [m] and spacing `dx` [m]
/// (`floor((x − origin)/dx − ½)`), z slowest and x fastest like the grid,
/// keeping the sampling order within a cell. The simulation stores bodies in
/// this order: its scatter P2G (`shaders/mpm/p2g_scatter.wgsl`) sums
/// consecutive particles that share a stencil in registers, so the order
/// cuts its atomic adds by about the particles per cell, and it keeps
/// neighbours close in memory.
pub fn order_by_stencil_cell(pts: &mut [[f64; 3]], origin: [f64; 3], dx: f64) {
    pts.sort_by_cached_key(|p| {
        let cell = |k: usize| ((p[k] - origin[k]) / dx - 0.5).floor() as i64;
        (cell(2), cell(1), cell(0))
    });
}

/// Fills `body`'s shape with particle positions [m] for grid spacing `dx`.
///
/// Mesh shapes are loaded from `base_dir` (the scene file's directory) and
/// scaled and translated as the shape says. Use
/// [`LoadedScene::sample_body`](crate::LoadedScene::sample_body) to reuse the
/// meshes `load_scene` already read.
pub fn sample_body(body: &Body, dx: f64, base_dir: &Path) -> Result<Vec<[f64; 3]>, SceneError> {
    let mesh = match &body.shape {
        BodyShape::Mesh {
            path,
            scale,
            translation,
        } => {
            let file = base_dir.join(path);
            let m = TriMesh::load_obj(&file).map_err(|e| SceneError::Mesh {
                file: String::new(),
                line: 0,
                col: 0,
                path: format!("body `{}`: shape.path", body.name),
                mesh_file: file.clone(),
                message: e.to_string(),
            })?;
            Some(m.scaled(*scale).translated(*translation))
        }
        _ => None,
    };
    sample_body_with_mesh(body, dx, mesh.as_ref())
}

/// Like [`sample_body`], with a mesh body's mesh already loaded and placed in
/// world coordinates (scaled and translated). `mesh` is ignored for other shapes.
pub fn sample_body_with_mesh(
    body: &Body,
    dx: f64,
    mesh: Option<&TriMesh>,
) -> Result<Vec<[f64; 3]>, SceneError> {
    let (region, h) = body_region(body, dx, mesh)?;
    let mut out = Vec::new();
    visit_region(&region, h, body.sampling, |p| out.push(p))
        .map_err(|m| sampling_error(body, m))?;
    Ok(out)
}

/// The number of particles [`sample_body_with_mesh`] gives `body`, counted
/// without storing them (so that a scene too large for the adapter is
/// refused before its particles are allocated).
pub fn count_body_with_mesh(
    body: &Body,
    dx: f64,
    mesh: Option<&TriMesh>,
) -> Result<u64, SceneError> {
    let (region, h) = body_region(body, dx, mesh)?;
    visit_region(&region, h, body.sampling, |_| {}).map_err(|m| sampling_error(body, m))
}

fn sampling_error(body: &Body, message: String) -> SceneError {
    SceneError::Sampling {
        body: body.name.clone(),
        message,
    }
}

/// `body`'s shape as a region to fill, and its sub-cell edge [m].
fn body_region<'a>(
    body: &'a Body,
    dx: f64,
    mesh: Option<&'a TriMesh>,
) -> Result<(Region<'a>, f64), SceneError> {
    let fail = |message: String| sampling_error(body, message);
    if !(dx > 0.0 && dx.is_finite()) {
        return Err(fail(format!("grid spacing dx = {dx} must be > 0")));
    }
    let h = sub_cell_size(dx, body.particles_per_cell).ok_or_else(|| {
        fail(format!(
            "particles_per_cell = {} is not a perfect cube (1, 8, 27 or 64)",
            body.particles_per_cell
        ))
    })?;
    let region = match (&body.shape, mesh) {
        (BodyShape::Box { min, max }, _) => Region::Box {
            min: *min,
            max: *max,
        },
        (BodyShape::Sphere { center, radius }, _) => Region::Sphere {
            center: *center,
            radius: *radius,
        },
        (
            BodyShape::Cylinder {
                center,
                radius,
                half_height,
            },
            _,
        ) => Region::Cylinder {
            center: *center,
            radius: *radius,
            half_height: *half_height,
        },
        (BodyShape::Mesh { .. }, Some(m)) => {
            m.check().map_err(|e| fail(format!("mesh: {e}")))?;
            Region::Mesh(m)
        }
        (BodyShape::Mesh { .. }, None) => {
            return Err(fail("mesh shape given without its mesh".to_string()))
        }
    };
    Ok((region, h))
}

/// A region to fill.
enum Region<'a> {
    Box {
        min: [f64; 3],
        max: [f64; 3],
    },
    Sphere {
        center: [f64; 3],
        radius: f64,
    },
    Cylinder {
        center: [f64; 3],
        radius: f64,
        half_height: f64,
    },
    Mesh(&'a TriMesh),
}

impl Region<'_> {
    fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        match self {
            Region::Box { min, max } => (*min, *max),
            Region::Sphere {
                center: c,
                radius: r,
            } => (
                [c[0] - r, c[1] - r, c[2] - r],
                [c[0] + r, c[1] + r, c[2] + r],
            ),
            Region::Cylinder {
                center: c,
                radius: r,
                half_height: hh,
            } => (
                [c[0] - r, c[1] - hh, c[2] - r],
                [c[0] + r, c[1] + hh, c[2] + r],
            ),
            Region::Mesh(m) => m.aabb(),
        }
    }

    /// Inside test for analytic shapes (meshes use row crossings instead).
    /// Boxes are half-open `[min, max)` so that touching boxes share no particles.
    fn contains(&self, p: [f64; 3]) -> bool {
        match self {
            Region::Box { min, max } => (0..3).all(|k| p[k] >= min[k] && p[k] < max[k]),
            Region::Sphere {
                center: c,
                radius: r,
            } => {
                let d = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
                d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r * r
            }
            Region::Cylinder {
                center: c,
                radius: r,
                half_height: hh,
            } => {
                let (dx, dz) = (p[0] - c[0], p[2] - c[2]);
                dx * dx + dz * dz <= r * r && (p[1] - c[1]).abs() <= *hh
            }
            Region::Mesh(m) => m.contains(p),
        }
    }
}

/// Hands `keep` each particle position [m] that fills `region` on
/// sub-cells of edge `h`, in sampling order, and returns how many.
fn visit_region(
    region: &Region,
    h: f64,
    sampling: Sampling,
    mut keep: impl FnMut([f64; 3]),
) -> Result<u64, String> {
    let (lo, hi) = region.bounds();
    if lo.iter().chain(hi.iter()).any(|v| !v.is_finite()) {
        return Err("shape bounds are not finite".to_string());
    }
    // Sub-cell index ranges: every sub-cell whose centre (lattice) or extent
    // (jittered) may fall inside the bounds.
    let mut range = [(0i64, -1i64); 3];
    let mut count: f64 = 1.0;
    for k in 0..3 {
        let (a, b) = match sampling {
            Sampling::Lattice => ((lo[k] / h - 0.5).ceil(), (hi[k] / h - 0.5).floor()),
            Sampling::Jittered(_) => ((lo[k] / h).floor(), (hi[k] / h).floor()),
        };
        if !(a.abs() < 1e15 && b.abs() < 1e15) {
            return Err("shape is too far from the origin for its particle spacing".to_string());
        }
        range[k] = (a as i64, b as i64);
        // At least 1 per axis: the loops visit every row even if a row is empty.
        count *= (b - a + 1.0).max(1.0);
    }
    if count > 2.0 * MAX_PARTICLES_PER_BODY as f64 {
        return Err(format!(
            "about {count:.0} candidate particle positions; at most {MAX_PARTICLES_PER_BODY} \
             particles per body are allowed (use a coarser dx or fewer particles_per_cell)"
        ));
    }

    let mut kept = 0u64;
    for k in range[2].0..=range[2].1 {
        for j in range[1].0..=range[1].1 {
            // Lattice rows share y and z: intersect a mesh with the row once.
            let row = match (region, sampling) {
                (Region::Mesh(m), Sampling::Lattice) => Some(RowCrossings::new(
                    m,
                    (j as f64 + 0.5) * h,
                    (k as f64 + 0.5) * h,
                )),
                _ => None,
            };
            for i in range[0].0..=range[0].1 {
                let p = match sampling {
                    Sampling::Lattice => [
                        (i as f64 + 0.5) * h,
                        (j as f64 + 0.5) * h,
                        (k as f64 + 0.5) * h,
                    ],
                    Sampling::Jittered(seed) => {
                        let u = jitter(seed, i, j, k);
                        [
                            (i as f64 + u[0]) * h,
                            (j as f64 + u[1]) * h,
                            (k as f64 + u[2]) * h,
                        ]
                    }
                };
                let inside = match &row {
                    Some(row) => row.winding_at(p[0]) != 0,
                    None => region.contains(p),
                };
                if inside {
                    if kept >= MAX_PARTICLES_PER_BODY {
                        return Err(format!(
                            "more than {MAX_PARTICLES_PER_BODY} particles (use a coarser dx or \
                             fewer particles_per_cell)"
                        ));
                    }
                    kept += 1;
                    keep(p);
                }
            }
        }
    }
    Ok(kept)
}

/// SplitMix64 step: advances `state` and returns the next 64 random bits.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform float in [0, 1) from the top 53 bits.
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Deterministic offset in [0, 1)³ for sub-cell `(i, j, k)`: depends only on
/// the seed and the sub-cell, not on the shape or the iteration order.
fn jitter(seed: u64, i: i64, j: i64, k: i64) -> [f64; 3] {
    let mut s = seed;
    let mut h = splitmix64(&mut s);
    for c in [i, j, k] {
        s = h ^ (c as u64);
        h = splitmix64(&mut s);
    }
    let mut s = h;
    [
        unit_f64(splitmix64(&mut s)),
        unit_f64(splitmix64(&mut s)),
        unit_f64(splitmix64(&mut s)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Material;

    fn body(shape: BodyShape, ppc: u32, sampling: Sampling) -> Body {
        Body {
            name: "b".into(),
            shape,
            particles_per_cell: ppc,
            sampling,
            material: Material::Fluid {
                density: 1000.0,
                bulk_modulus: 1e5,
                gamma: 7.0,
                viscosity: 0.0,
            },
            velocity: [0.0; 3],
            emitter: None,
        }
    }

    fn cube(min: [f64; 3], size: f64) -> BodyShape {
        BodyShape::Box {
            min,
            max: [min[0] + size, min[1] + size, min[2] + size],
        }
    }

    #[test]
    fn box_count_is_exact() {
        let b = body(cube([0.0; 3], 0.1), 8, Sampling::Lattice);
        let ps = sample_body(&b, 0.01, Path::new(".")).unwrap();
        assert_eq!(ps.len(), 8000);
        // Sub-cell centres of the world lattice with h = 0.005.
        assert!((ps[0][0] - 0.0025).abs() < 1e-12);
        assert!(ps.iter().all(|p| p.iter().all(|&c| c > 0.0 && c < 0.1)));
        let b = body(cube([0.3, 0.2, 0.1], 0.1), 27, Sampling::Lattice);
        assert_eq!(sample_body(&b, 0.01, Path::new(".")).unwrap().len(), 27_000);
        let b = body(cube([0.3, 0.2, 0.1], 0.1), 1, Sampling::Lattice);
        assert_eq!(sample_body(&b, 0.01, Path::new(".")).unwrap().len(), 1000);
    }

    #[test]
    fn lattice_is_world_anchored() {
        // A box not aligned to the lattice keeps lattice positions.
        let b = body(cube([0.0012, 0.0, 0.0], 0.05), 8, Sampling::Lattice);
        let ps = sample_body(&b, 0.01, Path::new(".")).unwrap();
        for p in &ps {
            for &c in p {
                let i = c / 0.005 - 0.5;
                assert!((i - i.round()).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn sphere_and_cylinder_volumes() {
        let r: f64 = 0.1;
        let b = body(
            BodyShape::Sphere {
                center: [0.5; 3],
                radius: r,
            },
            8,
            Sampling::Lattice,
        );
        let n = sample_body(&b, 0.01, Path::new(".")).unwrap().len() as f64;
        let v = n * body_volume_per_particle(0.01, 8);
        let exact = 4.0 / 3.0 * std::f64::consts::PI * r.powi(3);
        assert!((v / exact - 1.0).abs() < 0.02, "{v} vs {exact}");

        let b = body(
            BodyShape::Cylinder {
                center: [0.5; 3],
                radius: r,
                half_height: 0.05,
            },
            8,
            Sampling::Jittered(7),
        );
        let n = sample_body(&b, 0.01, Path::new(".")).unwrap().len() as f64;
        let v = n * body_volume_per_particle(0.01, 8);
        let exact = std::f64::consts::PI * r * r * 0.1;
        assert!((v / exact - 1.0).abs() < 0.02, "{v} vs {exact}");
    }

    #[test]
    fn jitter_is_deterministic_and_inside_sub_cells() {
        let b = body(cube([0.0; 3], 0.1), 8, Sampling::Jittered(42));
        let a = sample_body(&b, 0.01, Path::new(".")).unwrap();
        let again = sample_body(&b, 0.01, Path::new(".")).unwrap();
        assert_eq!(a, again);
        assert_eq!(a.len(), 8000);
        let other = sample_body(
            &body(cube([0.0; 3], 0.1), 8, Sampling::Jittered(43)),
            0.01,
            Path::new("."),
        )
        .unwrap();
        assert_ne!(a, other);
        // Not on the lattice any more.
        let off = a
            .iter()
            .filter(|p| {
                let i = p[0] / 0.005 - 0.5;
                (i - i.round()).abs() > 1e-6
            })
            .count();
        assert!(off > 7900);
        let u = jitter(1, -3, 5, 7);
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn mesh_body_matches_box() {
        let m = crate::mesh::tests::unit_cube().scaled(0.1);
        let b = body(
            BodyShape::Mesh {
                path: "unused.obj".into(),
                scale: 1.0,
                translation: [0.0; 3],
            },
            8,
            Sampling::Lattice,
        );
        let ps = sample_body_with_mesh(&b, 0.01, Some(&m)).unwrap();
        assert_eq!(ps.len(), 8000);
        let b = Body {
            sampling: Sampling::Jittered(1),
            ..b
        };
        let ps = sample_body_with_mesh(&b, 0.01, Some(&m)).unwrap();
        assert_eq!(ps.len(), 8000);
    }

    #[test]
    fn bad_input_is_an_error() {
        let b = body(cube([0.0; 3], 0.1), 10, Sampling::Lattice);
        assert!(sample_body(&b, 0.01, Path::new(".")).is_err());
        let b = body(cube([0.0; 3], 0.1), 8, Sampling::Lattice);
        assert!(sample_body(&b, 0.0, Path::new(".")).is_err());
        assert!(sample_body(&b, 1e-6, Path::new(".")).is_err());
        let b = body(
            BodyShape::Mesh {
                path: "does/not/exist.obj".into(),
                scale: 1.0,
                translation: [0.0; 3],
            },
            8,
            Sampling::Lattice,
        );
        let e = sample_body(&b, 0.01, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("does/not/exist.obj"), "{e}");
    }

    #[test]
    fn stencil_cell_order_groups_particles_sharing_a_stencil() {
        // 8 per cell on a grid offset from the lattice: every run of equal
        // base cells is contiguous, the runs ascend z, y, x, nothing is lost.
        let dx = 0.1;
        let origin = [0.03, -0.07, 0.01];
        let b = body(cube([0.2, 0.2, 0.2], 0.4), 8, Sampling::Lattice);
        let mut ps = sample_body(&b, dx, Path::new(".")).unwrap();
        let mut sorted_before = ps.clone();
        order_by_stencil_cell(&mut ps, origin, dx);
        let key = |p: &[f64; 3]| {
            let c = |k: usize| ((p[k] - origin[k]) / dx - 0.5).floor() as i64;
            (c(2), c(1), c(0))
        };
        let keys: Vec<_> = ps.iter().map(key).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]));
        let runs = 1 + keys.windows(2).filter(|w| w[0] != w[1]).count();
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(runs, distinct.len());
        // Sub-cell centres 0.225..0.575 m: bases 1..4 (x) and 2..5 (y), two
        // each; in z (origin 0.01 m) bases 1..5 with one at each end.
        assert_eq!(runs, 4 * 4 * 5);
        let mut after = ps.clone();
        let cmp = |a: &[f64; 3], b: &[f64; 3]| a.partial_cmp(b).unwrap();
        sorted_before.sort_by(cmp);
        after.sort_by(cmp);
        assert_eq!(sorted_before, after);
    }

    #[test]
    fn volume_per_particle() {
        assert!((body_volume_per_particle(0.01, 8) - 1.25e-7).abs() < 1e-20);
        assert_eq!(sub_cell_size(0.01, 8), Some(0.005));
        assert_eq!(sub_cell_size(0.01, 9), None);
    }
}
