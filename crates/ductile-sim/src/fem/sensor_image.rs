//! What a tactile sensor reads in one state, on the host (for outputs,
//! outside the step loop): net contact force and torque and per-node
//! pressure and shear in the camera's axes, the depth map of the gel's far
//! surface rasterised through the camera, and the tactile RGB image shaded
//! from it (GelSight-style: coloured directional lights on the surface's
//! normals).
//!
//! Not differentiable yet: losses on these go through [`super::sensor_loss`]
//! (markers) only.

use super::sensor::{CameraDesc, Sensor};
use glam::{DMat3, DVec3};

/// A directional light of the tactile shading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Light {
    /// Direction towards the light, in camera axes (normalised on use).
    pub direction: [f64; 3],
    /// Colour (linear RGB, each in [0, 1] or more).
    pub color: [f64; 3],
}

/// GelSight-style shading: I = ambient + Σ_l color_l · max(0, n̂·ℓ̂_l), or,
/// calibrated to a recorded image ([`calibrate`]), a quadratic polynomial
/// of the normal per channel (Taxim's approach, with a polynomial in place
/// of its lookup table).
#[derive(Clone, Debug, PartialEq)]
pub struct Shading {
    /// Ambient colour.
    pub ambient: [f64; 3],
    /// The lights.
    pub lights: Vec<Light>,
    /// When set, replaces the lights: per channel (r, g, b) the
    /// coefficients of [`normal_features`].
    pub polynomial: Option<[[f64; NORMAL_FEATURES]; 3]>,
}

/// Number of [`normal_features`].
pub const NORMAL_FEATURES: usize = 10;

/// The quadratic monomials of a unit normal n (camera axes):
/// 1, n_x, n_y, n_z, n_x², n_y², n_z², n_x n_y, n_x n_z, n_y n_z.
pub fn normal_features(n: DVec3) -> [f64; NORMAL_FEATURES] {
    [
        1.0,
        n.x,
        n.y,
        n.z,
        n.x * n.x,
        n.y * n.y,
        n.z * n.z,
        n.x * n.y,
        n.x * n.z,
        n.y * n.z,
    ]
}

impl Shading {
    /// The colour (unclamped) of a surface with unit normal `n`.
    pub fn shade(&self, n: DVec3) -> [f64; 3] {
        if let Some(p) = &self.polynomial {
            let f = normal_features(n);
            return p.map(|row| row.iter().zip(&f).map(|(a, b)| a * b).sum());
        }
        let mut c = DVec3::from_array(self.ambient);
        for l in &self.lights {
            let dir = DVec3::from_array(l.direction).normalize_or_zero();
            c += DVec3::from_array(l.color) * n.dot(dir).max(0.0);
        }
        c.to_array()
    }
}

impl Default for Shading {
    /// Red, green and blue lights 120° apart around the optical axis, 45°
    /// off it (the layout of GelSight sensors), over a dark ambient.
    fn default() -> Self {
        let light = |deg: f64, color: [f64; 3]| {
            let a = deg.to_radians();
            Light {
                direction: [
                    a.cos() * std::f64::consts::FRAC_1_SQRT_2,
                    a.sin() * std::f64::consts::FRAC_1_SQRT_2,
                    -std::f64::consts::FRAC_1_SQRT_2,
                ],
                color,
            }
        };
        Shading {
            ambient: [0.1, 0.1, 0.1],
            lights: vec![
                light(90.0, [0.6, 0.0, 0.0]),
                light(210.0, [0.0, 0.6, 0.0]),
                light(330.0, [0.0, 0.0, 0.6]),
            ],
            polynomial: None,
        }
    }
}

/// A sensor's readout in one state.
#[derive(Clone, Debug, Default)]
pub struct SensorReadout {
    /// Marker pixels.
    pub markers: Vec<[f64; 2]>,
    /// Net contact force on the pad [N], in the camera's axes now.
    pub force: [f64; 3],
    /// Net contact torque about the camera's centre [N·m], in its axes.
    pub torque: [f64; 3],
    /// Per node: contact pressure [Pa], positive pressing into the gel (0 off the surface).
    pub pressure: Vec<f64>,
    /// Per node: shear traction [Pa] in the camera's axes (0 off the surface).
    pub shear: Vec<[f64; 3]>,
    /// Depth map [m], `height × width` row-major: camera z of the gel's
    /// far surface, 0 where the camera sees no gel.
    pub depth: Vec<f32>,
    /// Image size [px].
    pub size: [u32; 2],
}

/// The map from world positions now to camera coordinates (the camera
/// moves with the base nodes: q = a₀ + M₀ M⁻¹ (p − a), X = R (q − c₀)).
pub struct CameraMap {
    a: DVec3,
    minv: DMat3,
    a0: DVec3,
    m0: DMat3,
    rot: DMat3,
    center: DVec3,
    /// The rotation carrying the rest frame to the current one (M M₀⁻¹).
    pub turn: DMat3,
}

impl CameraMap {
    /// The map for node positions `x` (3 per node).
    pub fn new(s: &Sensor, rest: &[[f64; 3]], x: &[f64]) -> Self {
        let at = |i: u32| {
            DVec3::new(
                x[3 * i as usize],
                x[3 * i as usize + 1],
                x[3 * i as usize + 2],
            )
        };
        let rest_at = |i: u32| DVec3::from_array(rest[i as usize]);
        let frame = |a: DVec3, b: DVec3, c: DVec3| {
            let (u, w) = (b - a, c - a);
            DMat3::from_cols(u, w, u.cross(w))
        };
        let [fa, fb, fc] = s.frame;
        let m = frame(at(fa), at(fb), at(fc));
        let m0 = frame(rest_at(fa), rest_at(fb), rest_at(fc));
        let axes = s
            .desc
            .camera
            .axes()
            .unwrap_or([DVec3::X, DVec3::Y, DVec3::Z]);
        CameraMap {
            a: at(fa),
            minv: m.inverse(),
            a0: rest_at(fa),
            m0,
            rot: DMat3::from_cols(axes[0], axes[1], axes[2]).transpose(),
            center: DVec3::from_array(s.desc.camera.position),
            turn: m * m0.inverse(),
        }
    }

    /// Camera coordinates [m] of a world point now.
    pub fn camera(&self, p: DVec3) -> DVec3 {
        let q = self.a0 + self.m0 * (self.minv * (p - self.a));
        self.rot * (q - self.center)
    }

    /// A world vector now (a force) in camera axes.
    pub fn vector(&self, v: DVec3) -> DVec3 {
        self.rot * (self.turn.transpose() * v)
    }

    /// The camera's centre in the world now.
    pub fn center_now(&self) -> DVec3 {
        self.a + self.turn * (self.center - self.a0)
    }
}

/// Reads the sensor from node positions `x` and contact forces `fc` (3 per
/// node, world axes) and the marker pixels already projected.
pub fn readout(
    s: &Sensor,
    rest: &[[f64; 3]],
    x: &[f64],
    fc: &[f64],
    markers: Vec<[f64; 2]>,
) -> SensorReadout {
    let map = CameraMap::new(s, rest, x);
    let n = rest.len();
    let at = |i: usize| DVec3::new(x[3 * i], x[3 * i + 1], x[3 * i + 2]);
    let f_at = |i: usize| DVec3::new(fc[3 * i], fc[3 * i + 1], fc[3 * i + 2]);
    let c = map.center_now();
    let (mut force, mut torque) = (DVec3::ZERO, DVec3::ZERO);
    for i in 0..n {
        force += f_at(i);
        torque += (at(i) - c).cross(f_at(i));
    }
    // Area-weighted outward normals and areas of the surface nodes.
    let mut normal = vec![DVec3::ZERO; n];
    let mut area = vec![0.0; n];
    for f in &s.faces {
        let [p0, p1, p2] = f.map(|i| at(i as usize));
        let nn = 0.5 * (p1 - p0).cross(p2 - p0);
        for &i in f {
            normal[i as usize] += nn;
            area[i as usize] += nn.length() / 3.0;
        }
    }
    let mut pressure = vec![0.0; n];
    let mut shear = vec![[0.0; 3]; n];
    for i in 0..n {
        if area[i] > 0.0 {
            let nh = normal[i].normalize_or_zero();
            let t = f_at(i) / area[i];
            pressure[i] = -t.dot(nh);
            shear[i] = map.vector(t - t.dot(nh) * nh).to_array();
        }
    }
    let cam = &s.desc.camera;
    SensorReadout {
        markers,
        force: map.vector(force).to_array(),
        torque: map.vector(torque).to_array(),
        pressure,
        shear,
        depth: depth_map(
            cam,
            &s.faces,
            &(0..n).map(|i| map.camera(at(i))).collect::<Vec<_>>(),
        ),
        size: [cam.width, cam.height],
    }
}

/// Rasterises `faces` (vertices in camera coordinates) through `cam`,
/// keeping per pixel the largest depth (the gel's far side); 0 where no
/// triangle covers the pixel centre. Depth is interpolated as 1/Z across a
/// triangle, exact for a planar triangle seen through a pinhole.
pub fn depth_map(cam: &CameraDesc, faces: &[[u32; 3]], xc: &[DVec3]) -> Vec<f32> {
    let (w, h) = (cam.width as usize, cam.height as usize);
    let mut depth = vec![0.0f32; w * h];
    for f in faces {
        let v = f.map(|i| xc[i as usize]);
        if v.iter().any(|p| p.z.is_nan() || p.z <= 0.0) {
            continue;
        }
        let px = v.map(|p| cam.project(p));
        let (lo, hi) = px.iter().fold(
            ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
            |(lo, hi), p| {
                (
                    [lo[0].min(p[0]), lo[1].min(p[1])],
                    [hi[0].max(p[0]), hi[1].max(p[1])],
                )
            },
        );
        let x0 = (lo[0] - 0.5).ceil().max(0.0) as usize;
        let y0 = (lo[1] - 0.5).ceil().max(0.0) as usize;
        let x1 = ((hi[0] - 0.5).floor() as i64).min(w as i64 - 1);
        let y1 = ((hi[1] - 0.5).floor() as i64).min(h as i64 - 1);
        let area = (px[1][0] - px[0][0]) * (px[2][1] - px[0][1])
            - (px[2][0] - px[0][0]) * (px[1][1] - px[0][1]);
        if area.abs() < 1e-12 || x1 < 0 || y1 < 0 {
            continue;
        }
        for yi in y0..=y1 as usize {
            for xi in x0..=x1 as usize {
                let (u, vv) = (xi as f64 + 0.5, yi as f64 + 0.5);
                let edge = |a: [f64; 2], b: [f64; 2]| {
                    (b[0] - a[0]) * (vv - a[1]) - (b[1] - a[1]) * (u - a[0])
                };
                let b0 = edge(px[1], px[2]) / area;
                let b1 = edge(px[2], px[0]) / area;
                let b2 = edge(px[0], px[1]) / area;
                if b0 < 0.0 || b1 < 0.0 || b2 < 0.0 {
                    continue;
                }
                let inv_z = b0 / v[0].z + b1 / v[1].z + b2 / v[2].z;
                let z = (1.0 / inv_z) as f32;
                let d = &mut depth[yi * w + xi];
                if z > *d {
                    *d = z;
                }
            }
        }
    }
    depth
}

/// The tactile RGB image (`height × width` pixels, linear RGB clamped to
/// [0, 1]) shaded from a depth map: each pixel's surface normal
/// ([`pixel_normals`]) lit by `shading`. Pixels without gel are black.
pub fn tactile_image(cam: &CameraDesc, depth: &[f32], shading: &Shading) -> Vec<[f32; 3]> {
    pixel_normals(cam, depth)
        .into_iter()
        .map(|n| match n {
            Some(n) => shading.shade(n).map(|v| v.clamp(0.0, 1.0) as f32),
            None => [0.0; 3],
        })
        .collect()
}

/// Fits the polynomial shading ([`Shading::polynomial`]) to a recorded
/// image `reference` (linear RGB in [0, 1], `height × width`) of the state
/// whose depth map is `depth`: least squares per channel over the pixels
/// that see gel. Returns the coefficients and the fit's RMS residual; an
/// error when fewer pixels than features see gel or the normals are too
/// uniform to determine them.
pub fn calibrate(
    cam: &CameraDesc,
    depth: &[f32],
    reference: &[[f32; 3]],
) -> Result<([[f64; NORMAL_FEATURES]; 3], f64), crate::SimError> {
    let normals = pixel_normals(cam, depth);
    if reference.len() != normals.len() {
        return Err(crate::SimError::Other(format!(
            "reference image has {} pixels; the camera has {} ({} × {})",
            reference.len(),
            normals.len(),
            cam.width,
            cam.height
        )));
    }
    const K: usize = NORMAL_FEATURES;
    let mut ata = [[0.0f64; K]; K];
    let mut atb = [[0.0f64; K]; 3];
    let mut count = 0usize;
    for (n, r) in normals.iter().zip(reference) {
        let Some(n) = n else { continue };
        let f = normal_features(*n);
        for i in 0..K {
            for j in 0..K {
                ata[i][j] += f[i] * f[j];
            }
            for c in 0..3 {
                atb[c][i] += f[i] * f64::from(r[c]);
            }
        }
        count += 1;
    }
    if count < K {
        return Err(crate::SimError::Other(format!(
            "only {count} pixels see gel: too few to fit {K} coefficients"
        )));
    }
    // A small ridge term: the features are dependent on the unit sphere
    // (n_x² + n_y² + n_z² = 1), so the plain normal equations are singular.
    let scale = (0..K).map(|i| ata[i][i]).fold(0.0, f64::max);
    for (i, row) in ata.iter_mut().enumerate() {
        row[i] += 1e-9 * scale;
    }
    let m = nalgebra::SMatrix::<f64, K, K>::from_fn(|i, j| ata[i][j]);
    let chol = m.cholesky().ok_or_else(|| {
        crate::SimError::Other("the gel's normals are too uniform to calibrate the shading".into())
    })?;
    let mut coef = [[0.0; K]; 3];
    for c in 0..3 {
        let b = nalgebra::SVector::<f64, K>::from_fn(|i, _| atb[c][i]);
        let x = chol.solve(&b);
        for i in 0..K {
            coef[c][i] = x[i];
        }
    }
    let fit = Shading {
        ambient: [0.0; 3],
        lights: Vec::new(),
        polynomial: Some(coef),
    };
    let mut ss = 0.0;
    for (n, r) in normals.iter().zip(reference) {
        let Some(n) = n else { continue };
        let s = fit.shade(*n);
        for c in 0..3 {
            ss += (s[c] - f64::from(r[c])).powi(2);
        }
    }
    Ok((coef, (ss / (3 * count) as f64).sqrt()))
}

/// Each pixel's surface normal (unit, camera axes, facing the camera) from
/// a depth map: the pixel's point back-projected along its ray, the normal
/// from its neighbours' points; `None` where the camera sees no gel.
pub fn pixel_normals(cam: &CameraDesc, depth: &[f32]) -> Vec<Option<DVec3>> {
    let (w, h) = (cam.width as usize, cam.height as usize);
    let point = |x: usize, y: usize| -> Option<DVec3> {
        let z = f64::from(depth[y * w + x]);
        if z <= 0.0 {
            return None;
        }
        let r = cam.ray(x as f64 + 0.5, y as f64 + 0.5);
        (r.z > 1e-12).then(|| r * (z / r.z))
    };
    let mut out = vec![None; w * h];
    for y in 0..h {
        for x in 0..w {
            let Some(p) = point(x, y) else { continue };
            let pick = |a: Option<DVec3>, b: Option<DVec3>| match (a, b) {
                (Some(a), Some(b)) => b - a,
                (Some(a), None) => p - a,
                (None, Some(b)) => b - p,
                (None, None) => DVec3::ZERO,
            };
            let du = pick(
                (x > 0).then(|| point(x - 1, y)).flatten(),
                (x + 1 < w).then(|| point(x + 1, y)).flatten(),
            );
            let dv = pick(
                (y > 0).then(|| point(x, y - 1)).flatten(),
                (y + 1 < h).then(|| point(x, y + 1)).flatten(),
            );
            let mut nrm = du.cross(dv).normalize_or_zero();
            if nrm.dot(p) > 0.0 {
                nrm = -nrm;
            }
            if nrm != DVec3::ZERO {
                out[y * w + x] = Some(nrm);
            }
        }
    }
    out
}
