//! The MPM Model: everything that stays fixed during a rollout — grid and
//! run parameters, per-body materials, each particle's body (and handles to
//! the world's tool buffers, [`crate::tools`]).

use crate::material::pack_material;
use ductile_gpu::{reals_to_bytes, storage_buffer, BufferUse, GpuContext, GpuError, Precision};
use ductile_scene::{Boundary, Scene};

/// Static GPU buffers of an MPM scene.
pub struct MpmModel {
    /// `Params` of `shaders/mpm/params.wgsl` (a uniform buffer).
    pub params: wgpu::Buffer,
    /// The bytes `params` was built with (gravity and wall friction as the
    /// scene gave them; later `Simulation::set_*` calls write only the GPU copy).
    pub params_host: Vec<u8>,
    /// 16 Reals per body (see `shaders/mpm/material.wgsl`).
    pub materials: wgpu::Buffer,
    /// Tag of each particle (u32): body index in the low 8 bits, the
    /// substep at which an emitter releases it in the high 24 (0 for
    /// particles present from the start). See `tag_body` and
    /// `tag_release` in `shaders/mpm/params.wgsl`.
    pub body_of: wgpu::Buffer,
    /// The world's tool records ([`crate::tools::ToolSet::records`], the same buffer).
    pub tools: wgpu::Buffer,
    /// The world's mesh-tool signed distances ([`crate::tools::ToolSet::sdf_values`]).
    pub sdf_values: wgpu::Buffer,
    /// Per rigid body (u32 × 4): first particle, particle count, body index, 0
    /// (`shaders/mpm/rigid.wgsl`; one dummy row when there is none).
    pub rigid_table: wgpu::Buffer,
    /// Host copies of what the host needs.
    pub info: ModelInfo,
}

/// Host-side description of the model.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// Kernel precision.
    pub precision: Precision,
    /// Cells per axis.
    pub cells: [u32; 3],
    /// Grid spacing [m].
    pub dx: f64,
    /// Domain origin [m].
    pub origin: [f64; 3],
    /// Substep [s].
    pub dt: f64,
    /// Number of particles.
    pub particles: u32,
    /// Number of tools.
    pub tools: u32,
    /// Per body: name and particle index range.
    pub bodies: Vec<(String, std::ops::Range<u32>)>,
    /// Per body: particle mass [kg].
    pub particle_mass: Vec<f64>,
    /// Node blocks (4³ nodes) per axis.
    pub node_blocks: [u32; 3],
    /// Cell blocks (4³ cells) per axis.
    pub cell_blocks: [u32; 3],
    /// Control substeps uploaded.
    pub control_steps: u32,
    /// Indices of the bodies made of `Rigid` material.
    pub rigid_bodies: Vec<u32>,
    /// Per particle: the substep its emitter releases it at (0 for particles
    /// present from the start).
    pub release_steps: Vec<u32>,
    /// Indices of the bodies with an emitter.
    pub emitter_bodies: Vec<u32>,
}

impl ModelInfo {
    /// Total number of cells.
    pub fn num_cells(&self) -> u32 {
        self.cells.iter().product()
    }
    /// Total number of grid nodes.
    pub fn num_nodes(&self) -> u32 {
        self.cells.iter().map(|c| c + 1).product()
    }
    /// Total node blocks.
    pub fn num_node_blocks(&self) -> u32 {
        self.node_blocks.iter().product()
    }
    /// Total cell blocks.
    pub fn num_cell_blocks(&self) -> u32 {
        self.cell_blocks.iter().product()
    }
    /// Name of the body owning particle `p`.
    pub fn body_of_particle(&self, p: u32) -> &str {
        self.bodies
            .iter()
            .find(|(_, r)| r.contains(&p))
            .map(|(n, _)| n.as_str())
            .unwrap_or("?")
    }
}

/// Host data for building a model.
pub struct ModelDesc<'a> {
    /// The scene.
    pub scene: &'a Scene,
    /// Per body: particle count.
    pub body_counts: &'a [u32],
    /// Per particle: the substep an emitter releases it at (0: present from the start).
    pub release_steps: &'a [u32],
    /// Per body: particle volume [m³].
    pub particle_volumes: &'a [f64],
    /// The world's tools (the model binds their buffers).
    pub tools: &'a crate::tools::ToolSet,
    /// Number of control substeps uploaded.
    pub control_steps: u32,
}

/// Bytes of the `Params` uniform's integers, which precede its Reals.
pub const PARAMS_INTS_BYTES: u64 = 24 * 4;
/// Reals of the `Params` uniform, after its integers.
pub const PARAMS_REALS: u64 = 16;
/// Index of gravity's x component [m/s²] among the `Params` Reals.
pub(crate) const PARAMS_GRAVITY: u64 = 4;
/// Index of the walls' friction coefficient among the `Params` Reals.
pub(crate) const PARAMS_WALL_FRICTION: u64 = 8;
/// Index of the planted adjoint error δ among the `Params` Reals (0 in
/// every run; tests set it to show that a gradient check fails).
pub const PARAMS_ADJOINT_ERROR: u64 = 12;

/// Byte offset of the external-force flag in `Params` (`i[3].z`).
pub const PARAMS_EXTERNAL_FORCE_BYTE: usize = 3 * 16 + 8;
/// Byte offset of the particle count in `Params` (`i[2].x`).
pub const PARAMS_PARTICLES_BYTE: usize = 2 * 16;

fn params_bytes(info: &ModelInfo, scene: &Scene) -> Vec<u8> {
    let d = &scene.domain;
    let c = info.cells;
    let nb = info.node_blocks;
    let cb = info.cell_blocks;
    let boundary = match d.boundary {
        Boundary::Separate => 0,
        Boundary::Slip => 1,
        Boundary::Sticky => 2,
    };
    let ints: [u32; 24] = [
        c[0],
        c[1],
        c[2],
        info.num_cells(),
        nb[0],
        nb[1],
        nb[2],
        info.num_node_blocks(),
        info.particles,
        info.tools,
        d.boundary_cells,
        boundary,
        scene.bodies.len() as u32,
        info.control_steps,
        0,
        0,
        cb[0],
        cb[1],
        cb[2],
        info.num_cell_blocks(),
        0,
        0,
        0,
        0,
    ];
    let g = scene.gravity;
    let reals: [f64; PARAMS_REALS as usize] = [
        d.origin[0],
        d.origin[1],
        d.origin[2],
        d.dx,
        g[0],
        g[1],
        g[2],
        scene.time.dt,
        d.wall_friction,
        1.0 / d.dx,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    debug_assert_eq!(reals[PARAMS_GRAVITY as usize + 1], g[1]);
    debug_assert_eq!(reals[PARAMS_WALL_FRICTION as usize], d.wall_friction);
    let mut out = bytemuck::cast_slice(&ints).to_vec();
    debug_assert_eq!(out.len() as u64, PARAMS_INTS_BYTES);
    out.extend(reals_to_bytes(&reals, info.precision));
    out
}

impl MpmModel {
    /// Uploads the model. Refuses buffers beyond the adapter's limits before allocating.
    pub fn build(
        ctx: &GpuContext,
        desc: &ModelDesc,
        precision: Precision,
    ) -> Result<MpmModel, GpuError> {
        let scene = desc.scene;
        let d = &scene.domain;
        let cells = d.cells;
        let node_blocks = [0, 1, 2].map(|i| (cells[i] + 1).div_ceil(4));
        let cell_blocks = [0, 1, 2].map(|i| cells[i].div_ceil(4));
        let mut bodies = Vec::new();
        let mut start = 0u32;
        let mut particle_mass = Vec::new();
        let mut mats = Vec::new();
        for (i, b) in scene.bodies.iter().enumerate() {
            let n = desc.body_counts[i];
            bodies.push((b.name.clone(), start..start + n));
            start += n;
            let rec = pack_material(&b.material, desc.particle_volumes[i]);
            particle_mass.push(rec[1]);
            mats.extend_from_slice(&rec);
        }
        let info = ModelInfo {
            precision,
            cells,
            dx: d.dx,
            origin: d.origin,
            dt: scene.time.dt,
            particles: start,
            tools: scene.tools.len() as u32,
            bodies,
            particle_mass,
            node_blocks,
            cell_blocks,
            control_steps: desc.control_steps.max(1),
            rigid_bodies: scene
                .bodies
                .iter()
                .enumerate()
                .filter(|(_, b)| matches!(b.material, ductile_scene::Material::Rigid { .. }))
                .map(|(i, _)| i as u32)
                .collect(),
            release_steps: desc.release_steps.to_vec(),
            emitter_bodies: scene
                .bodies
                .iter()
                .enumerate()
                .filter(|(_, b)| b.emitter.is_some())
                .map(|(i, _)| i as u32)
                .collect(),
        };
        let mut rigid_table: Vec<u32> = info
            .rigid_bodies
            .iter()
            .flat_map(|&b| {
                let r = &info.bodies[b as usize].1;
                [r.start, r.end - r.start, b, 0]
            })
            .collect();
        if rigid_table.is_empty() {
            rigid_table.resize(4, 0);
        }
        let mut body_of = Vec::with_capacity(start as usize);
        for (i, n) in desc.body_counts.iter().enumerate() {
            body_of.extend(std::iter::repeat_n(i as u32, *n as usize));
        }
        for (tag, release) in body_of.iter_mut().zip(desc.release_steps) {
            *tag |= release << 8;
        }
        let params_host = params_bytes(&info, scene);
        Ok(MpmModel {
            params: ductile_gpu::uniform_buffer(ctx, "params", &params_host),
            params_host,
            materials: storage_buffer(
                ctx,
                "materials",
                &reals_to_bytes(&mats, precision),
                BufferUse::Storage,
            )?,
            body_of: storage_buffer(
                ctx,
                "body index per particle",
                bytemuck::cast_slice(&body_of),
                BufferUse::Storage,
            )?,
            tools: desc.tools.records.clone(),
            sdf_values: desc.tools.sdf_values.clone(),
            rigid_table: storage_buffer(
                ctx,
                "rigid bodies",
                bytemuck::cast_slice(&rigid_table),
                BufferUse::Storage,
            )?,
            info,
        })
    }
}
