//! Tessellation of simple shapes into `(positions, indices)` triangle lists,
//! in local coordinates, counter-clockwise seen from outside.
//!
//! Smooth surfaces share vertices (smooth normals in the renderer); flat faces
//! have their own vertices (hard edges). Place a shape in the world with [`transform`].

use glam::{Mat4, Vec3};

/// Positions and triangle-list indices.
pub type Mesh = (Vec<[f32; 3]>, Vec<u32>);

/// Appends the quad `center ± u ± v` (normal along `u × v`).
fn quad(mesh: &mut Mesh, center: Vec3, u: Vec3, v: Vec3) {
    let base = mesh.0.len() as u32;
    for p in [
        center - u - v,
        center + u - v,
        center + u + v,
        center - u + v,
    ] {
        mesh.0.push(p.to_array());
    }
    mesh.1.extend([0, 1, 2, 0, 2, 3].map(|i| base + i));
}

/// Surface of revolution about y through `rows` of (y, radius), top to bottom;
/// rows of radius 0 close the ends.
fn lathe(rows: &[(f32, f32)], segments: u32) -> Mesh {
    let n = segments.max(3);
    let mut mesh: Mesh = (Vec::new(), Vec::new());
    for &(y, r) in rows {
        for j in 0..n {
            let t = j as f32 / n as f32 * std::f32::consts::TAU;
            mesh.0.push([r * t.sin(), y, r * t.cos()]);
        }
    }
    for i in 0..rows.len().saturating_sub(1) as u32 {
        for j in 0..n {
            let k = (j + 1) % n;
            let (ul, ur, ll, lr) = (i * n + j, i * n + k, (i + 1) * n + j, (i + 1) * n + k);
            mesh.1.extend([ll, lr, ur, ll, ur, ul]);
        }
    }
    mesh
}

/// Rows of a hemisphere cap: from the pole at `y0 + sign * radius` to the equator at `y0`.
fn cap_rows(radius: f32, y0: f32, sign: f32, rings: u32) -> impl Iterator<Item = (f32, f32)> {
    (0..=rings).map(move |i| {
        let phi = i as f32 / rings as f32 * std::f32::consts::FRAC_PI_2;
        (y0 + sign * radius * phi.cos(), radius * phi.sin())
    })
}

/// An axis-aligned box centred on the origin (24 vertices: hard edges).
pub fn box_mesh(half_extents: [f32; 3]) -> Mesh {
    let h = Vec3::from(half_extents);
    let (x, y, z) = (Vec3::X * h.x, Vec3::Y * h.y, Vec3::Z * h.z);
    let mut mesh = (Vec::with_capacity(24), Vec::with_capacity(36));
    for (n, u, v) in [
        (x, y, z),
        (-x, z, y),
        (y, z, x),
        (-y, x, z),
        (z, x, y),
        (-z, y, x),
    ] {
        quad(&mut mesh, n, u, v);
    }
    mesh
}

/// A UV sphere centred on the origin with `segments` around and `segments / 2` rings.
pub fn sphere_mesh(radius: f32, segments: u32) -> Mesh {
    let rings = (segments / 2).max(2);
    let rows: Vec<_> = (0..=rings)
        .map(|i| {
            let phi = i as f32 / rings as f32 * std::f32::consts::PI;
            (radius * phi.cos(), radius * phi.sin())
        })
        .collect();
    lathe(&rows, segments)
}

/// A capsule along y: a cylinder of `radius` from `-half_height` to `half_height` with hemispherical ends.
pub fn capsule_mesh(radius: f32, half_height: f32, segments: u32) -> Mesh {
    let rings = (segments / 4).max(2);
    let top = cap_rows(radius, half_height, 1.0, rings);
    let bottom: Vec<_> = cap_rows(radius, -half_height, -1.0, rings).collect();
    let rows: Vec<_> = top.chain(bottom.into_iter().rev()).collect();
    lathe(&rows, segments)
}

/// A closed cylinder along y from `-half_height` to `half_height` (hard rim edges).
pub fn cylinder_mesh(radius: f32, half_height: f32, segments: u32) -> Mesh {
    let (h, r) = (half_height, radius);
    // Rim rows are doubled so caps and side do not share normals.
    lathe(
        &[(h, 0.0), (h, r), (h, r), (-h, r), (-h, r), (-h, 0.0)],
        segments,
    )
}

/// A square of side `2 * half_size` in the xz plane, normal +y.
pub fn plane_mesh(half_size: f32) -> Mesh {
    let mut mesh = (Vec::with_capacity(4), Vec::with_capacity(6));
    quad(
        &mut mesh,
        Vec3::ZERO,
        Vec3::Z * half_size,
        Vec3::X * half_size,
    );
    mesh
}

/// The 12 edges of the box `[min, max]` as thin square bars of side `thickness`
/// (world coordinates), e.g. to outline the simulation domain.
pub fn box_wireframe(min: [f32; 3], max: [f32; 3], thickness: f32) -> Mesh {
    let (min, max) = (Vec3::from(min), Vec3::from(max));
    let (center, half) = ((min + max) * 0.5, (max - min) * 0.5);
    let t = thickness * 0.5;
    let mut mesh: Mesh = (Vec::with_capacity(288), Vec::with_capacity(432));
    for axis in 0..3 {
        for corner in 0..4 {
            let mut offset = Vec3::ZERO;
            let mut extent = Vec3::splat(t);
            extent[axis] = half[axis] + t;
            let (a, b) = ((axis + 1) % 3, (axis + 2) % 3);
            offset[a] = if corner & 1 == 0 { -half[a] } else { half[a] };
            offset[b] = if corner & 2 == 0 { -half[b] } else { half[b] };
            let (mut p, i) = box_mesh(extent.to_array());
            transform(&mut p, Mat4::from_translation(center + offset));
            let base = mesh.0.len() as u32;
            mesh.0.extend(p);
            mesh.1.extend(i.into_iter().map(|i| i + base));
        }
    }
    mesh
}

/// Applies the affine transform `m` to every position in place.
pub fn transform(positions: &mut [[f32; 3]], m: Mat4) {
    for p in positions {
        *p = m.transform_point3(Vec3::from(*p)).to_array();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every triangle's normal points away from the origin (closed convex shapes).
    fn outward(mesh: &Mesh) {
        assert_eq!(mesh.1.len() % 3, 0);
        let mut area = 0.0;
        for t in mesh.1.chunks(3) {
            let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(mesh.0[t[k] as usize]));
            let n = (b - a).cross(c - a);
            area += n.length();
            assert!(n.dot(a + b + c) >= -1e-6, "inward triangle {a} {b} {c}");
        }
        assert!(area > 0.0);
    }

    #[test]
    fn shapes_are_closed_and_outward() {
        outward(&box_mesh([1.0, 2.0, 3.0]));
        outward(&sphere_mesh(1.0, 16));
        outward(&capsule_mesh(0.5, 1.0, 16));
        outward(&cylinder_mesh(0.5, 1.0, 12));
        let (p, i) = plane_mesh(2.0);
        let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(p[i[k] as usize]));
        assert!((b - a).cross(c - a).y > 0.0);
        let (p, i) = box_wireframe([0.0; 3], [1.0; 3], 0.01);
        assert_eq!((p.len(), i.len()), (288, 432));
        assert!(p
            .iter()
            .all(|q| q.iter().all(|&x| (-0.011..=1.011).contains(&x))));
    }

    #[test]
    fn transform_moves_points() {
        let mut p = vec![[1.0, 0.0, 0.0]];
        transform(&mut p, Mat4::from_translation(Vec3::new(0.0, 2.0, 0.0)));
        assert_eq!(p[0], [1.0, 2.0, 0.0]);
    }
}
