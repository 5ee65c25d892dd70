//! A vision-based tactile sensor on an FEM pad: the camera (pinhole or
//! equidistant fisheye, OpenCV axes), the markers printed on the gel
//! surface, the sensor frame carried by three base nodes, and the GPU
//! kernels that project the markers (`shaders/fem/camera.wgsl`,
//! `fem/sensor.wgsl`). The marker-track loss and its adjoint live in
//! [`super::sensor_loss`].
//!
//! Markers are placed at rest: a grid of pixels, each cast as a ray from
//! the camera through the gel to the far side of the mesh (the membrane the
//! camera looks at through the transparent elastomer); the hit triangle
//! and its barycentric weights carry the marker from then on.

use crate::error::SimError;
use ductile_gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, Kernel, ShaderConfig,
};
use glam::DVec3;

/// Camera projection models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraModel {
    /// (u, v) = (fx X/Z + cx, fy Y/Z + cy).
    Pinhole,
    /// Equidistant fisheye: radius in the image fx θ for a ray θ off the axis.
    Fisheye,
}

/// A camera placed in the world at rest (it then moves with the sensor frame).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraDesc {
    /// Projection model.
    pub model: CameraModel,
    /// Optical centre [m].
    pub position: [f64; 3],
    /// A point on the optical axis [m].
    pub look_at: [f64; 3],
    /// A direction that appears upwards in the image (−y in pixels).
    pub up: [f64; 3],
    /// Image size [px].
    pub width: u32,
    /// Image size [px].
    pub height: u32,
    /// Focal lengths [px].
    pub focal: [f64; 2],
    /// Principal point [px].
    pub principal: [f64; 2],
}

impl CameraDesc {
    /// World → camera rotation, as the camera's x (right), y (down) and z
    /// (forward) axes in world coordinates; `None` when the axis is
    /// degenerate or parallel to `up`.
    pub fn axes(&self) -> Option<[DVec3; 3]> {
        let z =
            (DVec3::from_array(self.look_at) - DVec3::from_array(self.position)).try_normalize()?;
        let x = z.cross(DVec3::from_array(self.up)).try_normalize()?;
        Some([x, z.cross(x), z])
    }

    /// Pixel coordinates of a point in camera coordinates [m].
    pub fn project(&self, p: DVec3) -> [f64; 2] {
        let g = match self.model {
            CameraModel::Pinhole => 1.0 / p.z,
            CameraModel::Fisheye => {
                let r = (p.x * p.x + p.y * p.y).sqrt();
                if r > 1e-12 * p.z.abs() {
                    r.atan2(p.z) / r
                } else {
                    1.0 / p.z
                }
            }
        };
        [
            self.focal[0] * g * p.x + self.principal[0],
            self.focal[1] * g * p.y + self.principal[1],
        ]
    }

    /// The unit ray through pixel (u, v), in camera coordinates.
    pub fn ray(&self, u: f64, v: f64) -> DVec3 {
        let a = (u - self.principal[0]) / self.focal[0];
        let b = (v - self.principal[1]) / self.focal[1];
        match self.model {
            CameraModel::Pinhole => DVec3::new(a, b, 1.0).normalize(),
            CameraModel::Fisheye => {
                let th = (a * a + b * b).sqrt();
                if th < 1e-15 {
                    DVec3::Z
                } else {
                    DVec3::new(th.sin() * a / th, th.sin() * b / th, th.cos())
                }
            }
        }
    }
}

/// A sensor: its camera and a `rows × cols` marker grid spread over the
/// image inside a margin (a fraction of the image size on each side).
#[derive(Clone, Debug, PartialEq)]
pub struct SensorDesc {
    /// The camera.
    pub camera: CameraDesc,
    /// Marker rows.
    pub rows: u32,
    /// Marker columns.
    pub cols: u32,
    /// Margin, as a fraction of the image width and height, in [0, 0.5).
    pub margin: f64,
    /// The tactile image's shading.
    pub shading: super::sensor_image::Shading,
}

/// Markers on the gel surface: per marker a boundary triangle and the
/// barycentric weights of the point on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Markers {
    /// The triangle's corners (node indices).
    pub tri: Vec<[u32; 3]>,
    /// Barycentric weights (summing to one).
    pub bary: Vec<[f64; 3]>,
}

/// Ray–triangle intersection (Möller–Trumbore): the ray parameter and the
/// barycentric weights of the hit, if the ray meets the triangle ahead.
fn ray_triangle(o: DVec3, d: DVec3, t: [DVec3; 3]) -> Option<(f64, [f64; 3])> {
    let e1 = t[1] - t[0];
    let e2 = t[2] - t[0];
    let p = d.cross(e2);
    let det = e1.dot(p);
    if det.abs() < 1e-300 {
        return None;
    }
    let s = o - t[0];
    let b1 = s.dot(p) / det;
    let q = s.cross(e1);
    let b2 = d.dot(q) / det;
    let tol = 1e-12;
    if b1 < -tol || b2 < -tol || b1 + b2 > 1.0 + tol {
        return None;
    }
    let s_ray = e2.dot(q) / det;
    (s_ray > 0.0).then_some((s_ray, [1.0 - b1 - b2, b1, b2]))
}

/// Places the marker grid of `d` on the mesh's boundary `faces`: each grid
/// pixel's ray meets the surface last on the gel's far side. Pixels whose
/// ray misses the mesh get no marker; a camera that sees no surface at all,
/// or a degenerate camera, is an error.
pub fn place_markers(
    nodes: &[[f64; 3]],
    faces: &[[u32; 3]],
    d: &SensorDesc,
) -> Result<Markers, SimError> {
    let cam = &d.camera;
    let axes = cam.axes().ok_or_else(|| {
        SimError::Other(
            "sensor camera: look_at must differ from position and not be along up".into(),
        )
    })?;
    let o = DVec3::from_array(cam.position);
    let node = |i: u32| DVec3::from_array(nodes[i as usize]);
    let mut out = Markers::default();
    for r in 0..d.rows {
        for c in 0..d.cols {
            let frac = |k: u32, n: u32| {
                if n == 1 {
                    0.5
                } else {
                    d.margin + (1.0 - 2.0 * d.margin) * f64::from(k) / f64::from(n - 1)
                }
            };
            let u = frac(c, d.cols) * f64::from(cam.width);
            let v = frac(r, d.rows) * f64::from(cam.height);
            let dc = cam.ray(u, v);
            let dir = axes[0] * dc.x + axes[1] * dc.y + axes[2] * dc.z;
            let mut best: Option<(f64, usize, [f64; 3])> = None;
            for (k, f) in faces.iter().enumerate() {
                if let Some((s, b)) = ray_triangle(o, dir, f.map(node)) {
                    if best.is_none_or(|(bs, _, _)| s > bs) {
                        best = Some((s, k, b));
                    }
                }
            }
            if let Some((_, k, b)) = best {
                out.tri.push(faces[k]);
                out.bary.push(b);
            }
        }
    }
    if out.tri.is_empty() {
        return Err(SimError::Other(format!(
            "sensor camera at {:?} looking at {:?} sees no part of the pad: no marker could be placed",
            cam.position, cam.look_at
        )));
    }
    Ok(out)
}

/// Three pinned nodes spanning the sensor frame: the first pinned node, the
/// pinned node farthest from it, and the pinned node making the largest
/// triangle with them. An error when fewer than three non-collinear nodes
/// are pinned.
pub fn frame_nodes(nodes: &[[f64; 3]], pinned: &[bool]) -> Result<[u32; 3], SimError> {
    let p = |i: usize| DVec3::from_array(nodes[i]);
    let pins: Vec<usize> = (0..nodes.len()).filter(|&i| pinned[i]).collect();
    let err = || {
        SimError::Other(
            "a sensor needs a pinned base (pin_below or pin_inside) with three nodes not on one line"
                .into(),
        )
    };
    let a = *pins.first().ok_or_else(err)?;
    let b = *pins
        .iter()
        .max_by(|&&i, &&j| p(i).distance(p(a)).total_cmp(&p(j).distance(p(a))))
        .ok_or_else(err)?;
    let area = |i: usize| (p(b) - p(a)).cross(p(i) - p(a)).length();
    let c = *pins
        .iter()
        .max_by(|&&i, &&j| area(i).total_cmp(&area(j)))
        .ok_or_else(err)?;
    let scale = p(b).distance(p(a));
    if area(c).is_nan() || area(c) <= 1e-9 * scale * scale {
        return Err(err());
    }
    Ok([a as u32, b as u32, c as u32])
}

/// The sensor's GPU side: camera and frame constants, the markers, and the
/// kernel writing their pixel coordinates.
pub struct Sensor {
    /// The description it was built from.
    pub desc: SensorDesc,
    /// The markers.
    pub markers: Markers,
    /// The frame's base nodes.
    pub frame: [u32; 3],
    /// The pad's boundary triangles.
    pub faces: Vec<[u32; 3]>,
    /// The pad's rest positions [m].
    pub rest: Vec<[f64; 3]>,
    /// (markers, a, b, c, model, nodes), u32.
    pub ints: wgpu::Buffer,
    /// Camera rows (9), centre, focal lengths, principal point, a₀, M₀ (columns), loss weight.
    pub reals: wgpu::Buffer,
    /// The host copy of `reals` (loss terms copy it with their weight).
    pub reals_host: Vec<f64>,
    /// Marker triangles (3 u32 each).
    pub tri: wgpu::Buffer,
    /// Marker barycentric weights (3 Reals each).
    pub bary: wgpu::Buffer,
    /// Marker pixels (2 Reals each), written by [`Sensor::encode_markers`].
    pub uv: wgpu::Buffer,
    k_markers: Kernel,
    bg_markers: [wgpu::BindGroup; 2],
    precision: ductile_gpu::Precision,
}

impl Sensor {
    /// Builds the sensor of a pad with rest `nodes`, boundary `faces` and
    /// `pinned` base, reading positions from `x` (per parity).
    pub fn new(
        ctx: &GpuContext,
        config: ShaderConfig,
        desc: &SensorDesc,
        nodes: &[[f64; 3]],
        faces: &[[u32; 3]],
        pinned: &[bool],
        x: [&wgpu::Buffer; 2],
    ) -> Result<Self, SimError> {
        let markers = place_markers(nodes, faces, desc)?;
        let frame = frame_nodes(nodes, pinned)?;
        let p = config.precision;
        let cam = &desc.camera;
        let axes = cam
            .axes()
            .ok_or_else(|| SimError::Other("degenerate camera".into()))?;
        let v = |i: u32| DVec3::from_array(nodes[i as usize]);
        let (a, b, c) = (v(frame[0]), v(frame[1]), v(frame[2]));
        let (u, w) = (b - a, c - a);
        let mut reals = Vec::with_capacity(29);
        for ax in axes {
            reals.extend(ax.to_array());
        }
        reals.extend(cam.position);
        reals.extend(cam.focal);
        reals.extend(cam.principal);
        reals.extend(a.to_array());
        for col in [u, w, u.cross(w)] {
            reals.extend(col.to_array());
        }
        reals.push(1.0);
        let n = markers.tri.len() as u32;
        let model = match cam.model {
            CameraModel::Pinhole => 0,
            CameraModel::Fisheye => 1,
        };
        let ints = storage_buffer(
            ctx,
            "sensor.ints",
            bytemuck::cast_slice(&[n, frame[0], frame[1], frame[2], model, nodes.len() as u32]),
            BufferUse::Storage,
        )?;
        let reals_buf = storage_buffer(
            ctx,
            "sensor.reals",
            &reals_to_bytes(&reals, p),
            BufferUse::Storage,
        )?;
        let tri_flat: Vec<u32> = markers.tri.iter().flatten().copied().collect();
        let tri = storage_buffer(
            ctx,
            "sensor.tri",
            bytemuck::cast_slice(&tri_flat),
            BufferUse::Storage,
        )?;
        let bary_flat: Vec<f64> = markers.bary.iter().flatten().copied().collect();
        let bary = storage_buffer(
            ctx,
            "sensor.bary",
            &reals_to_bytes(&bary_flat, p),
            BufferUse::Storage,
        )?;
        let uv = storage_buffer_zeroed(
            ctx,
            "sensor.uv",
            2 * u64::from(n) * p.bytes(),
            BufferUse::Storage,
        )?;
        let k_markers = Kernel::new(ctx, "fem/sensor", "sensor_markers", config)?;
        let bg_markers = x.map(|xb| {
            k_markers.bind_used(
                ctx,
                &[
                    (0, &ints),
                    (1, &reals_buf),
                    (2, xb),
                    (3, &tri),
                    (4, &bary),
                    (5, &uv),
                ],
            )
        });
        Ok(Sensor {
            desc: desc.clone(),
            markers,
            frame,
            faces: faces.to_vec(),
            rest: nodes.to_vec(),
            ints,
            reals: reals_buf,
            reals_host: reals,
            tri,
            bary,
            uv,
            k_markers,
            bg_markers,
            precision: p,
        })
    }

    /// Number of markers.
    pub fn marker_count(&self) -> u32 {
        self.markers.tri.len() as u32
    }

    /// Records the projection of the markers of state `parity` into [`Sensor::uv`].
    pub fn encode_markers(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("sensor markers"),
            timestamp_writes: None,
        });
        self.k_markers.dispatch(
            &mut pass,
            &[&self.bg_markers[parity]],
            [self.marker_count().div_ceil(64), 1, 1],
        );
    }

    /// The markers' pixel coordinates in state `parity` (runs the kernel and
    /// reads back: for outputs, outside the step loop).
    pub fn read_markers(&self, ctx: &GpuContext, parity: usize) -> Result<Vec<[f64; 2]>, SimError> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.encode_markers(&mut enc, parity);
        ctx.queue.submit([enc.finish()]);
        let n = self.marker_count() as u64;
        let v = bytes_to_reals(
            &read_buffer(ctx, &self.uv, 2 * n * self.precision.bytes())?,
            self.precision,
        );
        Ok(v.chunks(2).map(|c| [c[0], c[1]]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(model: CameraModel) -> CameraDesc {
        CameraDesc {
            model,
            position: [0.0, -0.02, 0.0],
            look_at: [0.0, 0.0, 0.0],
            up: [0.0, 0.0, 1.0],
            width: 64,
            height: 48,
            focal: [60.0, 60.0],
            principal: [32.0, 24.0],
        }
    }

    /// A pixel's ray, projected back, lands on that pixel (both models).
    #[test]
    fn rays_project_back_to_their_pixels() {
        for model in [CameraModel::Pinhole, CameraModel::Fisheye] {
            let c = cam(model);
            for (u, v) in [(32.0, 24.0), (5.0, 40.0), (60.0, 3.0)] {
                let p = c.project(c.ray(u, v) * 0.37);
                assert!(
                    (p[0] - u).abs() < 1e-9 && (p[1] - v).abs() < 1e-9,
                    "{model:?}: {p:?} for ({u}, {v})"
                );
            }
        }
    }

    /// Markers land on the far face of a box seen from below, and the frame
    /// is spanned by three base nodes.
    #[test]
    fn markers_sit_on_the_far_face() {
        let (nodes, tets) =
            super::super::box_mesh([-0.01, 0.0, -0.01], [0.01, 0.005, 0.01], [4, 1, 4]);
        let faces = super::super::solver::boundary_faces(&tets);
        let d = SensorDesc {
            camera: cam(CameraModel::Pinhole),
            rows: 3,
            cols: 4,
            margin: 0.2,
            shading: Default::default(),
        };
        let m = place_markers(&nodes, &faces, &d).unwrap();
        assert_eq!(m.tri.len(), 12);
        for (t, b) in m.tri.iter().zip(&m.bary) {
            let y: f64 = (0..3).map(|k| b[k] * nodes[t[k] as usize][1]).sum();
            assert!((y - 0.005).abs() < 1e-12, "marker at y = {y}");
        }
        let pinned: Vec<bool> = nodes.iter().map(|p| p[1] <= 0.0).collect();
        let f = frame_nodes(&nodes, &pinned).unwrap();
        assert!(f.iter().all(|&i| pinned[i as usize]));
        assert!(frame_nodes(&nodes, &vec![false; nodes.len()]).is_err());
    }
}
