//! Turns a simulation's current state into a picture: tool shapes tessellated
//! at their current poses, the domain outline, the particles packed on the
//! GPU, and every solver's deforming surface drawn from its own buffers (no
//! host copy of particle or vertex data), and its rods as tubes.

use crate::{
    shapes, Camera, ColorMode, Frame, GpuMeshView, GpuTubeView, MeshInstance, ParticleView,
    RenderError, Renderer,
};
use ductile_gpu::GpuContext;
use ductile_scene::{ColorBy, LoadedScene, ToolShape};
use ductile_sim::control::ToolPose;
use ductile_sim::{PackColor, Simulation};
use glam::{Mat4, Quat, Vec3};

/// The camera described by the scene, or one framing the domain.
pub fn scene_camera(loaded: &LoadedScene) -> Camera {
    let s = &loaded.scene;
    let d = &s.domain;
    let lo = Vec3::from_array(d.origin.map(|v| v as f32));
    let hi = lo + Vec3::new(d.cells[0] as f32, d.cells[1] as f32, d.cells[2] as f32) * d.dx as f32;
    let c = &s.output.camera;
    let mut cam = Camera::framing(lo, hi, c.width, c.height);
    if let Some(e) = c.eye {
        cam.eye = Vec3::from_array(e.map(|v| v as f32));
    }
    if let Some(t) = c.target {
        cam.target = Vec3::from_array(t.map(|v| v as f32));
    }
    cam.up = Vec3::from_array(c.up.map(|v| v as f32));
    cam.fov_y_deg = c.fov_deg as f32;
    cam
}

/// Tool meshes at the simulation's current poses, plus the domain outline.
pub fn scene_meshes(loaded: &LoadedScene, sim: &Simulation) -> Vec<MeshInstance> {
    scene_meshes_at(loaded, &sim.tool_poses())
}

/// Tool meshes at `poses` (one per tool; tools without one are drawn in
/// their own frame), plus the domain outline.
pub fn scene_meshes_at(loaded: &LoadedScene, poses: &[ToolPose]) -> Vec<MeshInstance> {
    let s = &loaded.scene;
    let d = &s.domain;
    let extent = d.cells.iter().map(|&c| c as f64 * d.dx).fold(0.0, f64::max) as f32;
    let mut out = Vec::new();
    for (i, tool) in s.tools.iter().enumerate() {
        let (mut positions, indices) = match &tool.shape {
            ToolShape::Box { half_extents } => shapes::box_mesh(half_extents.map(|v| v as f32)),
            ToolShape::Sphere { radius } => shapes::sphere_mesh(*radius as f32, 32),
            ToolShape::Capsule {
                radius,
                half_height,
            } => shapes::capsule_mesh(*radius as f32, *half_height as f32, 32),
            ToolShape::Cylinder {
                radius,
                half_height,
            } => shapes::cylinder_mesh(*radius as f32, *half_height as f32, 48),
            ToolShape::Plane => shapes::plane_mesh(extent),
            ToolShape::Mesh { .. } => match loaded.tool_meshes.get(i).and_then(Option::as_ref) {
                Some(m) => (
                    m.vertices.iter().map(|v| v.map(|x| x as f32)).collect(),
                    m.triangles.iter().flat_map(|t| t.iter().copied()).collect(),
                ),
                None => continue,
            },
        };
        if let Some(p) = poses.get(i) {
            let m = Mat4::from_rotation_translation(
                Quat::from_array(p.rotation.to_array().map(|v| v as f32)),
                Vec3::from_array(p.position.to_array().map(|v| v as f32)),
            );
            shapes::transform(&mut positions, m);
        }
        let color = if matches!(tool.shape, ToolShape::Mesh { .. }) {
            [0.75, 0.78, 0.85, 0.45]
        } else {
            [0.55, 0.57, 0.62, 1.0]
        };
        out.push(MeshInstance {
            positions,
            indices,
            color,
        });
    }
    let lo = d.origin.map(|v| v as f32);
    let hi = [0, 1, 2].map(|k| lo[k] + d.cells[k] as f32 * d.dx as f32);
    let (positions, indices) = shapes::box_wireframe(lo, hi, extent * 0.002);
    out.push(MeshInstance {
        positions,
        indices,
        color: [0.25, 0.25, 0.3, 1.0],
    });
    out
}

/// Renders the simulation's current state to an image.
pub fn render_frame(
    ctx: &GpuContext,
    renderer: &mut Renderer,
    loaded: &LoadedScene,
    sim: &Simulation,
) -> Result<image::RgbaImage, RenderError> {
    let view = particle_view(ctx, loaded, sim, loaded.scene.output.color_by);
    let cam = scene_camera(loaded);
    let meshes = scene_meshes(loaded, sim);
    let color = match loaded.scene.output.color_by {
        ColorBy::Body => PackColor::Body,
        ColorBy::Speed => PackColor::Speed(speed_scale(loaded)),
    };
    let (surfaces, tubes) = solver_views(ctx, sim, color);
    let frame = Frame {
        particles: &[view],
        meshes: &meshes,
        gpu_meshes: &surfaces,
        tubes: &tubes,
    };
    renderer.render_frame(&ctx.device, &ctx.queue, &frame, &cam)
}

/// Colour of solver `i`'s surface (linear RGB): a light gel tone, varied by solver.
pub fn surface_color(i: usize) -> [f32; 4] {
    const TONES: [[f32; 3]; 4] = [
        [0.80, 0.72, 0.55],
        [0.55, 0.70, 0.80],
        [0.75, 0.60, 0.75],
        [0.60, 0.78, 0.60],
    ];
    let c = TONES[i % TONES.len()];
    [c[0], c[1], c[2], 1.0]
}

/// Packs every solver's surface and tubes for the current state on the GPU
/// (one submission, no readback) and describes them for the renderer,
/// coloured as `color` asks where the solver has that quantity (speed for
/// FEM), else in its own colour.
pub fn solver_views<'a>(
    ctx: &GpuContext,
    sim: &'a Simulation,
    color: PackColor,
) -> (Vec<GpuMeshView<'a>>, Vec<GpuTubeView<'a>>) {
    let world = &sim.world;
    let drawn: Vec<usize> = (0..world.solvers.len())
        .filter(|&i| world.solvers[i].surface().is_some() || world.solvers[i].tubes().is_some())
        .collect();
    if drawn.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    for &i in &drawn {
        world.solvers[i].encode_render_pack(ctx, &mut enc, world.parity, color);
    }
    ctx.queue.submit([enc.finish()]);
    let (mut surfaces, mut tubes) = (Vec::new(), Vec::new());
    for i in drawn {
        let s = &world.solvers[i];
        if let Some(v) = s.surface() {
            surfaces.push(GpuMeshView {
                vertices: v.vertices,
                indices: v.indices,
                triangles: v.triangles,
                color: surface_color(i),
                color_mode: if s.render_scalar(color) {
                    ColorMode::Scalar
                } else {
                    ColorMode::Categorical
                },
            });
        }
        if let Some(t) = s.tubes() {
            tubes.push(GpuTubeView {
                vertices: t.vertices,
                segments: t.segments,
                count: t.count,
                color: surface_color(i),
            });
        }
    }
    (surfaces, tubes)
}

/// Packs the simulation's particles on the GPU and describes them for the
/// renderer, coloured by body or by speed.
pub fn particle_view<'a>(
    ctx: &GpuContext,
    loaded: &LoadedScene,
    sim: &'a Simulation,
    color_by: ColorBy,
) -> ParticleView<'a> {
    let color = match color_by {
        ColorBy::Body => PackColor::Body,
        ColorBy::Speed => PackColor::Speed(speed_scale(loaded)),
    };
    particle_view_colored(ctx, loaded, sim, color)
}

/// As [`particle_view`], with any packed colour: body, speed, or the
/// per-particle values uploaded by [`Simulation::set_particle_values`].
pub fn particle_view_colored<'a>(
    ctx: &GpuContext,
    loaded: &LoadedScene,
    sim: &'a Simulation,
    color: PackColor,
) -> ParticleView<'a> {
    let mode = match color {
        PackColor::Body => ColorMode::Categorical,
        _ => ColorMode::Scalar,
    };
    let buffer = sim.pack_for_render(ctx, color);
    ParticleView {
        buffer,
        count: sim.particle_count(),
        radius: particle_radius(loaded),
        stride: 1,
        color_mode: mode,
        palette: Vec::new(),
    }
}

/// Drawn particle radius [m]: 0.6 of the spacing at the densest seeding.
pub fn particle_radius(loaded: &LoadedScene) -> f32 {
    let s = &loaded.scene;
    let ppc_max = s
        .bodies
        .iter()
        .map(|b| b.particles_per_cell)
        .max()
        .unwrap_or(8);
    (0.6 * s.domain.dx / (ppc_max as f64).cbrt()) as f32
}

/// Speed that maps to the top of the colour scale [m/s]: the free-fall speed
/// over the domain height, at least 1 m/s.
pub fn speed_scale(loaded: &LoadedScene) -> f64 {
    let s = &loaded.scene;
    let h = s.domain.cells[1] as f64 * s.domain.dx;
    let g = (s.gravity[0].powi(2) + s.gravity[1].powi(2) + s.gravity[2].powi(2)).sqrt();
    (2.0 * g * h).sqrt().max(1.0)
}
