//! The FEM solver's GPU side ([`crate::world::Solver`]): model buffers
//! (elements, rest data, masses, pins, the CSR gather list), two states
//! (x, v per node), the couplings' force per node, the forward kernels of
//! `shaders/fem/elastic.wgsl` and the adjoint of `fem/elastic_adj.wgsl`.
//!
//! - Stored state: x and v, 6 Reals per node; no replay cache (the element
//!   forces are recomputed from state_t in the adjoint).
//! - Gradient readout: ∂L/∂x_0, ∂L/∂v_0 and ∂L/∂(E, ν) through the energy
//!   parameters (μ, λ) of [`super::energy_parameters`].
//! - Surface: the mesh's boundary triangles, drawn and written from the GPU.

use super::{energy_parameters, prepare, FemDesc};
use crate::error::SimError;
use crate::world::{
    encode_restore_fields, encode_save_fields, PointBody, PointSet, Solver, SolverGradients,
    SurfaceView, WorldBuffers,
};
use crate::Simulation;
use ductile_gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, GpuTimer, Kernel, Precision, ShaderConfig,
};
use std::any::Any;

struct FemAdjoint {
    adj: [wgpu::Buffer; 2],
    pgrad: wgpu::Buffer,
    /// ∂L/∂(contact k, c, μ) per node.
    cgrad: wgpu::Buffer,
    /// ∂L/∂(each node's contact force in the substep being reversed), 3
    /// Reals per node: added by the sensor's force loss, zeroed by
    /// `fem_adj_nodes` once used.
    force_seed: wgpu::Buffer,
    /// Per (node, tool): the contact's tool-control adjoint (16 Reals),
    /// summed by `fem_adj_tools` (held here; read through the bind groups).
    _tool_partial: wgpu::Buffer,
    k_contact: Kernel,
    k_tools: Kernel,
    bg_contact: [wgpu::BindGroup; 2],
    bg_tools: wgpu::BindGroup,
    k_nodes: Kernel,
    k_elements: Kernel,
    k_gather: Kernel,
    bg_nodes: [wgpu::BindGroup; 2],
    bg_elements: wgpu::BindGroup,
    bg_gather: [wgpu::BindGroup; 2],
}

/// The prefix of [`FemSolver::new`]'s errors about the body's sensor (so
/// that the scene loader locates them at `fem[k].sensor`).
pub const SENSOR_ERROR: &str = "sensor: ";

/// A linear-tetrahedron elastic body.
pub struct FemSolver {
    name: String,
    nodes: u32,
    elements: u32,
    precision: Precision,
    config: ShaderConfig,
    /// (E [Pa], ν) as last set.
    material: (f64, f64),
    /// The element model.
    model: super::FemModel,
    /// Tools it collides with.
    tools: u32,
    /// Mean node mass [kg] (what a point set reports per point).
    mean_mass: f64,
    reals_host: Vec<f64>,
    reals: wgpu::Buffer,
    /// Every model and scratch buffer the kernels bind, by binding number.
    bound: Vec<(u32, wgpu::Buffer)>,
    /// Lumped node masses [kg] (binding 5).
    mass: wgpu::Buffer,
    /// Positions per parity, 3 Reals per node [m].
    pub x: [wgpu::Buffer; 2],
    /// Velocities per parity [m/s].
    pub v: [wgpu::Buffer; 2],
    /// The couplings' force on each node [N], 3 Reals per node.
    pub ext: wgpu::Buffer,
    /// ∂L/∂(couplings' force), 3 Reals per node.
    pub ext_bar: wgpu::Buffer,
    fbar: wgpu::Buffer,
    elem_bar: wgpu::Buffer,
    tags: wgpu::Buffer,
    params: wgpu::Buffer,
    k_forces: Kernel,
    k_integrate: Kernel,
    bg_forces: [wgpu::BindGroup; 2],
    bg_integrate: [wgpu::BindGroup; 2],
    packed: wgpu::Buffer,
    faces: wgpu::Buffer,
    /// The boundary triangles, outward (host copy of `faces`).
    faces_host: Vec<[u32; 3]>,
    triangles: u32,
    k_pack: Kernel,
    bg_pack: [wgpu::BindGroup; 2],
    /// (mode: 1 speed, else none; scale [m/s]) as f32, for the packing.
    pack_params: wgpu::Buffer,
    adjoint: Option<FemAdjoint>,
    sensor: Option<super::sensor::Sensor>,
    contact_force: wgpu::Buffer,
    depth: wgpu::Buffer,
    /// Shortest element edge [m].
    shortest_edge: f64,
}

/// The mesh's boundary triangles (faces of one element only), oriented
/// outwards, as 3 node indices each.
pub fn boundary_faces(tets: &[[u32; 4]]) -> Vec<[u32; 3]> {
    use std::collections::HashMap;
    // Faces opposite corners 0..3, ordered so that the normal points away
    // from the opposite corner for a positively oriented element.
    const FACES: [[usize; 3]; 4] = [[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]];
    let mut seen: HashMap<[u32; 3], (usize, [u32; 3])> = HashMap::new();
    for t in tets {
        for f in FACES {
            let face = f.map(|c| t[c]);
            let mut key = face;
            key.sort_unstable();
            seen.entry(key)
                .and_modify(|e| e.0 += 1)
                .or_insert((1, face));
        }
    }
    let mut out: Vec<[u32; 3]> = seen
        .into_values()
        .filter(|(n, _)| *n == 1)
        .map(|(_, f)| f)
        .collect();
    out.sort_unstable();
    out
}

impl FemSolver {
    /// Builds the body `d` in `sim`'s world (its dt, gravity and precision).
    /// Every buffer is checked against the adapter's limits first.
    pub fn new(ctx: &GpuContext, sim: &Simulation, d: &FemDesc) -> Result<Self, SimError> {
        let rest = prepare(d)?;
        let config = sim.config();
        let p = config.precision;
        let r = p.bytes();
        let (n, m) = (d.nodes.len() as u64, d.tets.len() as u64);
        for (what, bytes) in [
            ("FEM node state", 3 * n * r),
            ("FEM element forces", 12 * m * r),
            ("FEM rest shapes", 9 * m * r),
        ] {
            ctx.check_buffer(what, bytes)?;
        }
        let info = sim.info();
        let gravity = {
            let reals = bytes_to_reals(
                &sim.model().params_host[crate::mpm::model::PARAMS_INTS_BYTES as usize..],
                p,
            );
            [reals[4], reals[5], reals[6]]
        };
        let (mu, la) = energy_parameters(d.model, d.youngs_modulus, d.poisson_ratio);
        let c = d.contact;
        let reals_host = vec![
            info.dt,
            gravity[0],
            gravity[1],
            gravity[2],
            mu,
            la,
            d.damping,
            1.0,
            c.stiffness,
            c.damping,
            c.friction,
            c.stick_speed,
            // The analytic tools' normal step, as MPM's: dx/4.
            0.25 * info.dx,
        ];
        let tools = sim.world.tools.count;
        // Mounted nodes: their offsets in the tool's frame at its first pose.
        let mut mount_offset = vec![0.0; 3 * d.nodes.len()];
        if let Some(t) = d.mount {
            let pose = sim
                .control()
                .poses
                .first()
                .and_then(|row| row.get(t))
                .ok_or_else(|| {
                    SimError::Other(format!(
                        "FEM body `{}`: mount tool {t} does not exist (the scene has {tools})",
                        d.name
                    ))
                })?;
            let inv = pose.rotation.conjugate();
            for (i, x) in d.nodes.iter().enumerate() {
                if d.pinned[i] {
                    let r = inv * (glam::DVec3::from_array(*x) - pose.position);
                    mount_offset[3 * i..3 * i + 3].copy_from_slice(&r.to_array());
                }
            }
        }
        let real_buf = |label: &str, v: &[f64]| {
            let mut v = v.to_vec();
            v.resize(v.len().max(2), 0.0);
            storage_buffer(ctx, label, &reals_to_bytes(&v, p), BufferUse::Storage)
        };
        let u32_buf = |label: &str, v: &[u32]| {
            let mut v = v.to_vec();
            v.resize(v.len().max(1), 0);
            storage_buffer(ctx, label, bytemuck::cast_slice(&v), BufferUse::Storage)
        };
        let zeros = |label: &str, reals: u64| {
            storage_buffer_zeroed(ctx, label, reals.max(2) * r, BufferUse::Storage)
        };
        let flat: Vec<f64> = d.nodes.iter().flatten().copied().collect();
        let x = [real_buf("fem.x0", &flat)?, zeros("fem.x1", 3 * n)?];
        let v0: Vec<f64> = d
            .pinned
            .iter()
            .flat_map(|&p| if p { [0.0; 3] } else { d.velocity })
            .collect();
        let v = [real_buf("fem.v0", &v0)?, zeros("fem.v1", 3 * n)?];
        let reals = real_buf("fem.reals", &reals_host)?;
        let tets: Vec<u32> = d.tets.iter().flatten().copied().collect();
        let pinned: Vec<u32> = d.pinned.iter().map(|&b| u32::from(b)).collect();
        let contact_force = zeros("fem.contact_force", 3 * n)?;
        let mass = real_buf("fem.mass", &rest.mass)?;
        let depth = zeros("fem.contact_depth", n)?;
        let bound: Vec<(u32, wgpu::Buffer)> = vec![
            (
                0,
                u32_buf(
                    "fem.ints",
                    &[
                        n as u32,
                        m as u32,
                        tools,
                        sim.control().steps as u32,
                        d.mount.map_or(0, |t| t as u32 + 1),
                        // The index this solver will have in the world.
                        sim.world.solvers.len() as u32,
                        match d.model {
                            super::FemModel::StableNeoHookean => 0,
                            super::FemModel::CorotatedLinear => 1,
                        },
                        0,
                    ],
                )?,
            ),
            (1, reals.clone()),
            (2, u32_buf("fem.tets", &tets)?),
            (3, real_buf("fem.dm_inv", &rest.dm_inv)?),
            (4, real_buf("fem.volume", &rest.volume)?),
            (5, mass.clone()),
            (6, u32_buf("fem.pinned", &pinned)?),
            (7, u32_buf("fem.adj_start", &rest.adj_start)?),
            (8, u32_buf("fem.adj_entry", &rest.adj_entry)?),
            (13, zeros("fem.elem_force", 12 * m)?),
            (23, sim.world.tools.records.clone()),
            (24, sim.control().buffer.clone()),
            (25, sim.world.tools.sdf_values.clone()),
            (26, sim.clock().clone()),
            (30, real_buf("fem.mount_offset", &mount_offset)?),
            (31, contact_force.clone()),
            (32, sim.world.status.clone()),
            (33, depth.clone()),
        ];
        let ext = zeros("fem.ext", 3 * n)?;
        let k = |module: &str, e: &str| Kernel::new(ctx, module, e, config);
        let k_forces = k("fem/elastic", "fem_forces")?;
        let k_integrate = k("fem/elastic", "fem_integrate")?;
        let with = |extra: Vec<(u32, &wgpu::Buffer)>| -> Vec<(u32, wgpu::Buffer)> {
            let mut all = bound.clone();
            all.extend(extra.into_iter().map(|(i, b)| (i, b.clone())));
            all
        };
        let bind = |kern: &Kernel, list: &[(u32, wgpu::Buffer)]| {
            let refs: Vec<(u32, &wgpu::Buffer)> = list.iter().map(|(i, b)| (*i, b)).collect();
            kern.bind_used(ctx, &refs)
        };
        let step_list = |par: usize| {
            with(vec![
                (9, &x[par]),
                (10, &v[par]),
                (11, &x[1 - par]),
                (12, &v[1 - par]),
                (14, &ext),
            ])
        };
        let bg_forces = [0, 1].map(|par| bind(&k_forces, &step_list(par)));
        let bg_integrate = [0, 1].map(|par| bind(&k_integrate, &step_list(par)));
        let faces = boundary_faces(&d.tets);
        let face_idx: Vec<u32> = faces.iter().flatten().copied().collect();
        let faces_buf = u32_buf("fem.faces", &face_idx)?;
        let packed = storage_buffer_zeroed(ctx, "fem.packed", 16 * n.max(1), BufferUse::Storage)?;
        let k_pack = k("fem/pack", "fem_pack")?;
        let pack_params = storage_buffer(
            ctx,
            "fem.pack_params",
            bytemuck::cast_slice(&[0.0f32; 4]),
            BufferUse::Storage,
        )?;
        let bg_pack = [0usize, 1].map(|par| {
            k_pack.bind_used(
                ctx,
                &[
                    (0, &bound[0].1),
                    (9, &x[par]),
                    (10, &v[par]),
                    (21, &packed),
                    (22, &pack_params),
                ],
            )
        });
        let sensor = match &d.sensor {
            Some(sd) => Some(
                super::sensor::Sensor::new(
                    ctx,
                    config,
                    sd,
                    &d.nodes,
                    &faces,
                    &d.pinned,
                    [&x[0], &x[1]],
                )
                .map_err(|e| SimError::Other(format!("{SENSOR_ERROR}{e}")))?,
            ),
            None => None,
        };
        Ok(FemSolver {
            name: d.name.clone(),
            nodes: n as u32,
            elements: m as u32,
            precision: p,
            config,
            material: (d.youngs_modulus, d.poisson_ratio),
            model: d.model,
            tools,
            mean_mass: rest.mass.iter().sum::<f64>() / n as f64,
            reals_host,
            reals,
            bound,
            mass,
            x,
            v,
            ext,
            ext_bar: zeros("fem.ext_bar", 3 * n)?,
            fbar: zeros("fem.fbar", 3 * n)?,
            elem_bar: zeros("fem.elem_bar", 12 * m)?,
            tags: storage_buffer_zeroed(ctx, "fem.tags", 4 * n.max(1), BufferUse::Storage)?,
            params: sim.mpm().point_params(ctx, n as u32),
            k_forces,
            k_integrate,
            bg_forces,
            bg_integrate,
            packed,
            faces: faces_buf,
            triangles: faces.len() as u32,
            faces_host: faces,
            k_pack,
            bg_pack,
            pack_params,
            adjoint: None,
            sensor,
            contact_force,
            depth,
            shortest_edge: super::shortest_edge(&d.nodes, &d.tets),
        })
    }

    /// The adjoint states (∂L/∂x at entries 0–2, ∂L/∂v at 3–5, entry-major),
    /// once gradients are enabled.
    pub fn adjoint_states(&self) -> Option<[&wgpu::Buffer; 2]> {
        self.adjoint.as_ref().map(|a| [&a.adj[0], &a.adj[1]])
    }

    /// The seed ∂L/∂(each node's contact force) of the substep whose
    /// adjoint runs next (3 Reals per node), when the adjoint is enabled.
    pub fn force_seed(&self) -> Option<&wgpu::Buffer> {
        self.adjoint.as_ref().map(|a| &a.force_seed)
    }

    /// The contact force [N] on each free node in the last substep (tools'
    /// penalty contact plus couplings; 0 on pinned nodes), 3 Reals per node.
    pub fn contact_force(&self) -> &wgpu::Buffer {
        &self.contact_force
    }

    /// Reads the body's sensor in state `parity` (markers, forces,
    /// pressure, shear, depth), if it has one: readbacks, for outputs.
    pub fn read_sensor(
        &self,
        ctx: &GpuContext,
        parity: usize,
    ) -> Result<Option<super::sensor_image::SensorReadout>, SimError> {
        let Some(s) = &self.sensor else {
            return Ok(None);
        };
        let p = self.precision;
        let bytes = 3 * self.nodes as u64 * p.bytes();
        let x = bytes_to_reals(&read_buffer(ctx, &self.x[parity], bytes)?, p);
        let fc = bytes_to_reals(&read_buffer(ctx, &self.contact_force, bytes)?, p);
        let markers = s.read_markers(ctx, parity)?;
        Ok(Some(super::sensor_image::readout(
            s, &s.rest, &x, &fc, markers,
        )))
    }

    /// The deepest penetration [m] of a free node into a tool over every
    /// substep run so far (readback, for outputs), and the shortest element
    /// edge [m] to compare it with.
    pub fn deepest_penetration(&self, ctx: &GpuContext) -> Result<(f64, f64), SimError> {
        let p = self.precision;
        let d = bytes_to_reals(
            &read_buffer(ctx, &self.depth, self.nodes as u64 * p.bytes())?,
            p,
        );
        Ok((d.iter().copied().fold(0.0, f64::max), self.shortest_edge))
    }

    /// The deepest penetration [m] of each node into a tool since the body
    /// was built (1 Real per node; 0 for nodes that never touched one).
    pub fn depth_buffer(&self) -> &wgpu::Buffer {
        &self.depth
    }

    /// The body's tactile sensor, if it has one.
    pub fn sensor(&self) -> Option<&super::sensor::Sensor> {
        self.sensor.as_ref()
    }

    /// Number of tools its nodes collide with.
    pub fn tool_count(&self) -> u32 {
        self.tools
    }

    /// The lumped node masses [kg] (one Real per node).
    pub fn mass_buffer(&self) -> &wgpu::Buffer {
        &self.mass
    }

    /// The boundary triangles, oriented outwards (3 node indices each).
    pub fn surface_faces(&self) -> &[[u32; 3]] {
        &self.faces_host
    }

    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.nodes
    }

    /// Number of elements.
    pub fn element_count(&self) -> u32 {
        self.elements
    }

    /// (Young's modulus [Pa], Poisson ratio).
    pub fn material(&self) -> (f64, f64) {
        self.material
    }

    /// Replaces Young's modulus [Pa] and the Poisson ratio from the next
    /// substep on (the caller marks a rollout stale).
    pub fn set_material(&mut self, ctx: &GpuContext, e: f64, nu: f64) -> Result<(), SimError> {
        if !(e > 0.0 && nu > -1.0 && nu < 0.5) {
            return Err(SimError::Other(format!(
                "FEM body `{}`: Young's modulus {e} Pa and Poisson ratio {nu}: need E > 0 and -1 < ν < 0.5",
                self.name
            )));
        }
        let (mu, la) = energy_parameters(self.model, e, nu);
        self.reals_host[4] = mu;
        self.reals_host[5] = la;
        self.material = (e, nu);
        self.write_reals(ctx);
        Ok(())
    }

    /// Contact (stiffness [N/m], damping [N·s/m], friction).
    pub fn contact(&self) -> [f64; 3] {
        [self.reals_host[8], self.reals_host[9], self.reals_host[10]]
    }

    /// Replaces the contact stiffness [N/m], damping [N·s/m] and friction
    /// from the next substep on (the caller marks a rollout stale).
    pub fn set_contact(&mut self, ctx: &GpuContext, k: f64, c: f64, mu: f64) {
        self.reals_host[8] = k;
        self.reals_host[9] = c;
        self.reals_host[10] = mu;
        self.write_reals(ctx);
    }

    /// Scales the adjoint's element pull-back by `factor` (1: exact; else a
    /// planted error, for tests that show a gradient check fails).
    pub fn plant_adjoint_error(&mut self, ctx: &GpuContext, factor: f64) {
        self.reals_host[7] = factor;
        self.write_reals(ctx);
    }

    fn write_reals(&self, ctx: &GpuContext) {
        ctx.queue.write_buffer(
            &self.reals,
            0,
            &reals_to_bytes(&self.reals_host, self.precision),
        );
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }
}

impl Solver for FemSolver {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode_substep(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        timer: &mut GpuTimer,
    ) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("fem"),
            timestamp_writes: timer.pass("fem"),
        });
        self.k_forces
            .dispatch_1d(&mut pass, &[&self.bg_forces[parity]], self.elements);
        self.k_integrate
            .dispatch_1d(&mut pass, &[&self.bg_integrate[parity]], self.nodes);
    }

    fn encode_clear_coupling_inputs(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.ext, 0, None);
    }

    fn stored_bytes(&self) -> u64 {
        6 * self.nodes as u64 * self.precision.bytes()
    }

    fn encode_save(
        &self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        dst: &wgpu::Buffer,
        offset: u64,
    ) {
        let fields = [&self.x[parity], &self.v[parity]];
        encode_save_fields(
            enc,
            &fields,
            3 * self.nodes as u64 * self.precision.bytes(),
            dst,
            offset,
        );
    }

    fn encode_restore(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
        parity: usize,
    ) {
        let fields = [&self.x[parity], &self.v[parity]];
        encode_restore_fields(
            enc,
            src,
            offset,
            &fields,
            3 * self.nodes as u64 * self.precision.bytes(),
        );
    }

    fn adjoint_bytes(&self) -> u64 {
        let r = self.precision.bytes();
        let n = self.nodes as u64;
        (12 + 3 + 3 + 16 * self.tools.max(1) as u64) * n * r + 2 * self.elements as u64 * r
    }

    fn enable_adjoint(&mut self, ctx: &GpuContext, world: &WorldBuffers) -> Result<u64, SimError> {
        if self.adjoint.is_some() {
            return Ok(0);
        }
        let r = self.precision.bytes();
        let z = |label: &str, reals: u64| {
            storage_buffer_zeroed(ctx, label, reals.max(2) * r, BufferUse::Storage)
        };
        let n = self.nodes as u64;
        let adj = [z("fem.adj0", 6 * n)?, z("fem.adj1", 6 * n)?];
        let pgrad = z("fem.pgrad", 2 * self.elements as u64)?;
        let cgrad = z("fem.cgrad", 3 * n)?;
        let force_seed = z("fem.force_seed", 3 * n)?;
        let tool_partial = z("fem.tool_partial", 16 * self.tools.max(1) as u64 * n)?;
        let control_grad = &world
            .adjoint
            .ok_or_else(|| SimError::Other("the world's shared adjoint comes first".into()))?
            .control_grad;
        let k = |e: &str| Kernel::new(ctx, "fem/elastic_adj", e, self.config);
        let (k_nodes, k_elements, k_gather) = (
            k("fem_adj_nodes")?,
            k("fem_adj_elements")?,
            k("fem_adj_gather")?,
        );
        let (k_contact, k_tools) = (k("fem_adj_contact")?, k("fem_adj_tools")?);
        let list = |cur: usize| -> Vec<(u32, &wgpu::Buffer)> {
            let mut l: Vec<(u32, &wgpu::Buffer)> =
                self.bound.iter().map(|(i, b)| (*i, b)).collect();
            l.extend([
                (9, &self.x[0]),
                (10, &self.v[0]),
                (14, &self.ext),
                (15, &adj[cur]),
                (16, &adj[1 - cur]),
                (17, &self.fbar),
                (18, &self.elem_bar),
                (19, &pgrad),
                (20, &self.ext_bar),
                (27, &tool_partial),
                (28, &cgrad),
                (29, control_grad),
                (34, &force_seed),
            ]);
            l
        };
        let bg_nodes = [0, 1].map(|c| k_nodes.bind_used(ctx, &list(c)));
        let bg_elements = k_elements.bind_used(ctx, &list(0));
        let bg_gather = [0, 1].map(|c| k_gather.bind_used(ctx, &list(c)));
        let bg_contact = [0, 1].map(|c| k_contact.bind_used(ctx, &list(c)));
        let bg_tools = k_tools.bind_used(ctx, &list(0));
        self.adjoint = Some(FemAdjoint {
            adj,
            pgrad,
            cgrad,
            force_seed,
            _tool_partial: tool_partial,
            k_contact,
            k_tools,
            bg_contact,
            bg_tools,
            k_nodes,
            k_elements,
            k_gather,
            bg_nodes,
            bg_elements,
            bg_gather,
        });
        Ok(self.adjoint_bytes())
    }

    fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(a) = &self.adjoint {
            for b in [
                &a.adj[0],
                &a.adj[1],
                &a.pgrad,
                &a.cgrad,
                &a.force_seed,
                &self.fbar,
                &self.elem_bar,
                &self.ext_bar,
            ] {
                enc.clear_buffer(b, 0, None);
            }
        }
    }

    fn encode_adjoint_substep(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let Some(a) = &self.adjoint else { return };
        let mut pass = Self::pass(enc, "fem adjoint");
        // The elements' forces of state_t (the friction's pull-back reads
        // the velocity the step predicted from them).
        self.k_forces
            .dispatch_1d(&mut pass, &[&self.bg_forces[0]], self.elements);
        a.k_nodes
            .dispatch_1d(&mut pass, &[&a.bg_nodes[cur]], self.nodes);
        if self.tools > 0 {
            a.k_contact
                .dispatch_1d(&mut pass, &[&a.bg_contact[cur]], self.nodes);
            a.k_tools
                .dispatch(&mut pass, &[&a.bg_tools], [16 * self.tools, 1, 1]);
        }
        a.k_elements
            .dispatch_1d(&mut pass, &[&a.bg_elements], self.elements);
        a.k_gather
            .dispatch_1d(&mut pass, &[&a.bg_gather[cur]], self.nodes);
    }

    fn read_gradients(&self, ctx: &GpuContext, cur: usize) -> Result<SolverGradients, SimError> {
        let a = self
            .adjoint
            .as_ref()
            .ok_or_else(|| SimError::Other("FEM gradients are not enabled".into()))?;
        let p = self.precision;
        let n = self.nodes as usize;
        let adj = bytes_to_reals(&read_buffer(ctx, &a.adj[cur], 6 * n as u64 * p.bytes())?, p);
        let point_major = |e0: usize| -> Vec<f64> {
            (0..n)
                .flat_map(|i| (0..3).map(move |k| (i, k)))
                .map(|(i, k)| adj[(e0 + k) * n + i])
                .collect()
        };
        let pg = bytes_to_reals(
            &read_buffer(ctx, &a.pgrad, 2 * self.elements as u64 * p.bytes())?,
            p,
        );
        let (mut dmu, mut dla) = (0.0, 0.0);
        for e in 0..self.elements as usize {
            dmu += pg[2 * e];
            dla += pg[2 * e + 1];
        }
        let cg = bytes_to_reals(&read_buffer(ctx, &a.cgrad, 3 * n as u64 * p.bytes())?, p);
        let mut dcontact = [0.0; 3];
        for i in 0..n {
            for k in 0..3 {
                dcontact[k] += cg[3 * i + k];
            }
        }
        // μ = E/(2(1 + ν)), λ = Eν/((1 + ν)(1 − 2ν)) (+ μ for the stable
        // neo-Hookean model).
        let (e, nu) = self.material;
        let dmu_de = 1.0 / (2.0 * (1.0 + nu));
        let dmu_dnu = -e / (2.0 * (1.0 + nu) * (1.0 + nu));
        let d = (1.0 + nu) * (1.0 - 2.0 * nu);
        let plus_mu = f64::from(u8::from(self.model == super::FemModel::StableNeoHookean));
        let dla_de = nu / d + plus_mu * dmu_de;
        let dla_dnu = e * (1.0 + 2.0 * nu * nu) / (d * d) + plus_mu * dmu_dnu;
        Ok(SolverGradients {
            solver: self.name.clone(),
            groups: vec![
                ("x0".into(), point_major(0)),
                ("v0".into(), point_major(3)),
                ("mu_lambda".into(), vec![dmu, dla]),
                (
                    "youngs_modulus_poisson_ratio".into(),
                    vec![dmu * dmu_de + dla * dla_de, dmu * dmu_dnu + dla * dla_dnu],
                ),
                (
                    "contact_stiffness_damping_friction".into(),
                    dcontact.to_vec(),
                ),
            ],
        })
    }

    fn points(&self, solver: usize) -> PointSet<'_> {
        PointSet {
            solver,
            count: self.nodes,
            x: [&self.x[0], &self.x[1]],
            v: [&self.v[0], &self.v[1]],
            adj: self.adjoint.as_ref().map(|a| [&a.adj[0], &a.adj[1]]),
            tags: &self.tags,
            params: &self.params,
            bodies: vec![PointBody {
                name: self.name.clone(),
                range: 0..self.nodes,
                point_mass: self.mean_mass,
            }],
            bins: None,
        }
    }

    fn encode_render_pack(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        color: crate::PackColor,
    ) {
        let params = match color {
            crate::PackColor::Speed(scale) => [1.0, scale as f32, 0.0, 0.0],
            _ => [0.0f32; 4],
        };
        ctx.queue
            .write_buffer(&self.pack_params, 0, bytemuck::cast_slice(&params));
        let mut pass = Self::pass(enc, "fem pack");
        self.k_pack
            .dispatch_1d(&mut pass, &[&self.bg_pack[parity]], self.nodes);
    }

    fn render_scalar(&self, color: crate::PackColor) -> bool {
        matches!(color, crate::PackColor::Speed(_))
    }

    fn surface(&self) -> Option<SurfaceView<'_>> {
        Some(SurfaceView {
            vertices: &self.packed,
            indices: &self.faces,
            vertex_count: self.nodes,
            triangles: self.triangles,
        })
    }

    fn describe_item(&self, index: u32) -> String {
        format!("node {index} of FEM body `{}`", self.name)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
