//! Two-way penalty contact between an FEM body and MPM matter
//! ([`crate::world::Coupling`]): `shaders/fem/matter_law.wgsl` (the pair
//! law and its vector–Jacobian product), `fem/matter.wgsl` (forward) and
//! `fem/matter_adj.wgsl` (adjoint).
//!
//! Each MPM particle in front of one of the FEM body's boundary triangles
//! and closer than R to its plane feels a spring and damper along the
//! triangle's outward normal and smooth Coulomb friction; the triangle's
//! nodes take the opposite force, shared by the particle's barycentric
//! coordinates, and the particle's reaches MPM's grid through the
//! external-force hook with its B-spline weights. The broad phase bins the
//! particles and the triangles' centroids by MPM grid cell every substep
//! (forward and adjoint), so the cost is linear in particles, triangles and
//! grid nodes. (Why triangles, not nodes: `shaders/fem/matter_law.wgsl`.)
//!
//! Gradient readout ([`crate::tape::Gradients::couplings`], named
//! `"<body> matter"`): group `"matter (k, c, mu)"`, ∂L/∂ of the pair
//! stiffness, damping and friction coefficient.

use crate::error::SimError;
use crate::mpm::bin::Binning;
use crate::world::{Coupling, Solver, SolverGradients, WorldBuffers};
use crate::{MpmSolver, Simulation};
use ductile_gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, GpuTimer, Kernel, Precision, ShaderConfig,
};

use super::solver::FemSolver;

/// The pair law's parameters (per particle–triangle pair, SI units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FemMatter {
    /// Normal stiffness per pair [N/m].
    pub stiffness: f64,
    /// Normal damping per pair [N·s/m].
    pub damping: f64,
    /// Coulomb friction coefficient.
    pub friction: f64,
    /// Stick speed of the smooth stick–slip transition [m/s].
    pub stick_speed: f64,
    /// Contact radius R [m]: a particle pushes on the gel within R of its
    /// surface; in (0, dx], with R² + (ρ + R/2)² ≤ dx² for the triangles'
    /// largest centroid–corner distance ρ.
    pub radius: f64,
}

/// Every buffer both directions bind: `bound` (0–2, 7–13, 20–26, 28), the two solvers' states of
/// `parity` (bindings 3–6) and `extra`.
fn bindings<'a>(
    bound: &'a [(u32, wgpu::Buffer)],
    mstate: &'a [[wgpu::Buffer; 2]; 2],
    fstate: &'a [[wgpu::Buffer; 2]; 2],
    parity: usize,
    extra: &[(u32, &'a wgpu::Buffer)],
) -> Vec<(u32, &'a wgpu::Buffer)> {
    let mut l: Vec<(u32, &wgpu::Buffer)> = bound.iter().map(|(i, b)| (*i, b)).collect();
    l.extend([
        (3, &mstate[parity][0]),
        (4, &mstate[parity][1]),
        (5, &fstate[parity][0]),
        (6, &fstate[parity][1]),
    ]);
    l.extend_from_slice(extra);
    l
}

/// The boundary triangles flattened (3 node indices each), and per node the
/// triangles it belongs to, as CSR (`start` has `nodes + 1` entries).
pub fn face_lists(faces: &[[u32; 3]], nodes: usize) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut count = vec![0u32; nodes + 1];
    for f in faces {
        for &j in f {
            count[j as usize + 1] += 1;
        }
    }
    for j in 0..nodes {
        count[j + 1] += count[j];
    }
    let mut fill = count.clone();
    let mut entry = vec![0u32; count[nodes] as usize];
    for (t, f) in faces.iter().enumerate() {
        for &j in f {
            entry[fill[j as usize] as usize] = t as u32;
            fill[j as usize] += 1;
        }
    }
    let mut flat: Vec<u32> = faces.iter().flatten().copied().collect();
    // (storage buffers may not be empty)
    for v in [&mut flat, &mut entry] {
        if v.is_empty() {
            v.push(0);
        }
    }
    (flat, count, entry)
}

struct MatterAdjoint {
    k_particles: Kernel,
    k_nodes: Kernel,
    bg_particles: [wgpu::BindGroup; 2],
    bg_nodes: [wgpu::BindGroup; 2],
    fpbar: wgpu::Buffer,
    ppartial: wgpu::Buffer,
}

/// Penalty contact between FEM body `fem` (its world index) and MPM matter.
pub struct FemMatterCoupling {
    name: String,
    fem: usize,
    particles: u32,
    grid_nodes: u32,
    fem_nodes: u32,
    precision: Precision,
    config: ShaderConfig,
    reals_host: Vec<f64>,
    /// Binding number → buffer, for every buffer both directions bind.
    bound: Vec<(u32, wgpu::Buffer)>,
    /// MPM positions and velocities per parity (bindings 3, 4).
    mstate: [[wgpu::Buffer; 2]; 2],
    /// FEM positions and velocities per parity (bindings 5, 6).
    fstate: [[wgpu::Buffer; 2]; 2],
    particle_bins: Binning,
    tris: u32,
    tri_bins: Binning,
    k_centroids: Kernel,
    k_particles: Kernel,
    k_grid: Kernel,
    k_nodes: Kernel,
    bg_centroids: [wgpu::BindGroup; 2],
    bg_particles: [wgpu::BindGroup; 2],
    bg_grid: [wgpu::BindGroup; 2],
    bg_nodes: [wgpu::BindGroup; 2],
    adjoint: Option<MatterAdjoint>,
}

impl FemMatterCoupling {
    /// Couples FEM solver `fem` (world index) of `sim` to its MPM matter
    /// with the pair law `m`, enabling MPM's external-force input.
    pub fn new(
        ctx: &GpuContext,
        sim: &mut Simulation,
        fem: usize,
        m: FemMatter,
    ) -> Result<Self, SimError> {
        let dx = sim.info().dx;
        if !(m.radius > 0.0 && m.radius <= dx) {
            return Err(SimError::Other(format!(
                "matter contact radius {} m is outside (0, dx = {dx} m]",
                m.radius
            )));
        }
        sim.world.enable_coupling_inputs(ctx, Simulation::MPM)?;
        sim.world.enable_coupling_inputs(ctx, fem)?;
        let sim = &*sim;
        let config = sim.config();
        let p = config.precision;
        let mpm = sim.mpm();
        let body = sim
            .world
            .solver::<FemSolver>(fem)
            .ok_or_else(|| SimError::Other(format!("solver {fem} is not an FEM body")))?;
        let particles = mpm.particle_count();
        let fem_nodes = body.node_count();
        let faces = body.surface_faces();
        let tris = faces.len() as u32;
        // Every pair in contact must lie within dx of its triangle's
        // centroid (the 3×3×3 cells the search visits):
        // √(R² + (ρ + 2w)²) ≤ dx, ρ the largest centroid–corner distance at
        // rest and w = R/4 the taper beyond the edges.
        let x0 = bytes_to_reals(
            &read_buffer(
                ctx,
                &body.x[0],
                3 * u64::from(fem_nodes) * config.precision.bytes(),
            )?,
            config.precision,
        );
        let node = |j: u32| -> [f64; 3] { std::array::from_fn(|k| x0[3 * j as usize + k]) };
        let reach = faces
            .iter()
            .map(|t| {
                let c: [f64; 3] =
                    std::array::from_fn(|k| t.iter().map(|&j| node(j)[k]).sum::<f64>() / 3.0);
                t.iter()
                    .map(|&j| {
                        (0..3)
                            .map(|k| (node(j)[k] - c[k]).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        let reach = reach + 0.5 * m.radius;
        if (m.radius * m.radius + reach * reach).sqrt() > dx {
            return Err(SimError::Other(format!(
                "a contact radius R (now {} m) with √(R² + (ρ + R/2)²) ≤ dx = {dx} m, the contact search's reach, where the surface triangles reach ρ = {:.3e} m from their centroids: lower the radius or refine the mesh",
                m.radius,
                reach - 0.5 * m.radius
            )));
        }
        let reals_host = vec![
            m.stiffness,
            m.damping,
            m.friction,
            m.stick_speed,
            m.radius,
            1.0,
        ];
        let model = &mpm.model;
        let tri_params = mpm.point_params(ctx, tris);
        let centroids = storage_buffer_zeroed(
            ctx,
            "matter.centroids",
            3 * u64::from(tris.max(1)) * p.bytes(),
            BufferUse::Storage,
        )?;
        let particle_bins = Binning::for_points(
            ctx,
            model,
            &model.params,
            [&mpm.states[0].x, &mpm.states[1].x],
            particles,
            config,
        )?;
        let tri_bins = Binning::for_points(
            ctx,
            model,
            &tri_params,
            [&centroids, &centroids],
            tris,
            config,
        )?;
        let r = p.bytes();
        let (face_idx, fstart, fentry) = face_lists(faces, fem_nodes as usize);
        let bound: Vec<(u32, wgpu::Buffer)> = vec![
            (0, model.params.clone()),
            (
                1,
                storage_buffer(
                    ctx,
                    "matter.ints",
                    bytemuck::cast_slice(&[fem_nodes, tris, 0, 0]),
                    BufferUse::Storage,
                )?,
            ),
            (
                2,
                storage_buffer(
                    ctx,
                    "matter.reals",
                    &reals_to_bytes(&reals_host, p),
                    BufferUse::Storage,
                )?,
            ),
            (7, particle_bins.cell_start.clone()),
            (8, particle_bins.sorted.clone()),
            (9, tri_bins.cell_start.clone()),
            (10, tri_bins.sorted.clone()),
            (
                11,
                storage_buffer_zeroed(
                    ctx,
                    "matter.fp",
                    3 * particles.max(1) as u64 * r,
                    BufferUse::Storage,
                )?,
            ),
            (12, mpm.ext_force.clone()),
            (13, body.ext.clone()),
            (20, body.mass_buffer().clone()),
            (23, centroids),
            (
                29,
                // −s of the closest particle in contact, from −R (none yet).
                storage_buffer(
                    ctx,
                    "matter.depth",
                    &reals_to_bytes(&vec![-m.radius; fem_nodes.max(1) as usize], p),
                    BufferUse::Storage,
                )?,
            ),
            (
                28,
                storage_buffer_zeroed(
                    ctx,
                    "matter.touched",
                    4 * u64::from(particles.max(1)),
                    BufferUse::Storage,
                )?,
            ),
            (
                24,
                storage_buffer(
                    ctx,
                    "matter.faces",
                    bytemuck::cast_slice(&face_idx),
                    BufferUse::Storage,
                )?,
            ),
            (
                25,
                storage_buffer(
                    ctx,
                    "matter.face_start",
                    bytemuck::cast_slice(&fstart),
                    BufferUse::Storage,
                )?,
            ),
            (
                26,
                storage_buffer(
                    ctx,
                    "matter.face_entry",
                    bytemuck::cast_slice(&fentry),
                    BufferUse::Storage,
                )?,
            ),
            (21, model.body_of.clone()),
            // Particle mass per body at build time: the stick–slip
            // transition is a fixed regularisation, not differentiated
            // (a density set later leaves it as it was).
            (
                22,
                storage_buffer(
                    ctx,
                    "matter.particle_mass",
                    &reals_to_bytes(&model.info.particle_mass, p),
                    BufferUse::Storage,
                )?,
            ),
        ];
        let mstate = [0, 1].map(|par| [mpm.states[par].x.clone(), mpm.states[par].v.clone()]);
        let fstate = [0, 1].map(|par| [body.x[par].clone(), body.v[par].clone()]);
        let k = |e: &str| Kernel::new(ctx, "fem/matter", e, config);
        let (k_centroids, k_particles, k_grid, k_nodes) = (
            k("matter_centroids")?,
            k("matter_particles")?,
            k("matter_grid")?,
            k("matter_nodes")?,
        );
        let lists = [0, 1].map(|par| bindings(&bound, &mstate, &fstate, par, &[]));
        let bg_centroids = [0, 1].map(|par| k_centroids.bind_used(ctx, &lists[par]));
        let bg_particles = [0, 1].map(|par| k_particles.bind_used(ctx, &lists[par]));
        let bg_grid = [0, 1].map(|par| k_grid.bind_used(ctx, &lists[par]));
        let bg_nodes = [0, 1].map(|par| k_nodes.bind_used(ctx, &lists[par]));
        drop(lists);
        Ok(FemMatterCoupling {
            name: format!("{} matter", body.name()),
            fem,
            particles,
            grid_nodes: model.info.num_nodes(),
            fem_nodes,
            precision: p,
            config,
            reals_host,
            bound,
            mstate,
            fstate,
            particle_bins,
            tris,
            tri_bins,
            k_centroids,
            k_particles,
            k_grid,
            k_nodes,
            bg_centroids,
            bg_particles,
            bg_grid,
            bg_nodes,
            adjoint: None,
        })
    }

    /// The pair law's (k [N/m], c [N·s/m], μ) as last set.
    pub fn params(&self) -> [f64; 3] {
        [self.reals_host[0], self.reals_host[1], self.reals_host[2]]
    }

    /// The contact radius R [m] of a particle.
    pub fn radius(&self) -> f64 {
        self.reals_host[4]
    }

    /// Sets the pair law's stiffness, damping and friction.
    pub fn set_params(&mut self, ctx: &GpuContext, k: f64, c: f64, mu: f64) {
        self.reals_host[..3].copy_from_slice(&[k, c, mu]);
        self.write_reals(ctx);
    }

    /// Scales the adjoint's pair pullback by `factor` (1: exact; anything
    /// else plants a wrong adjoint, for the tests that show a gradient
    /// check fails on one).
    pub fn plant_adjoint_error(&mut self, ctx: &GpuContext, factor: f64) {
        self.reals_host[5] = factor;
        self.write_reals(ctx);
    }

    fn write_reals(&self, ctx: &GpuContext) {
        ctx.queue.write_buffer(
            &self.bound[2].1,
            0,
            &reals_to_bytes(&self.reals_host, self.precision),
        );
    }

    /// The world index of the FEM body.
    pub fn fem_solver(&self) -> usize {
        self.fem
    }

    /// The closest approach [m] of a particle's centre in contact to the
    /// gel's surface over every substep run so far: the smallest s of a
    /// pair in contact (R when none touched; negative when a particle's
    /// centre went behind the surface, a penetration). Readback, for outputs.
    pub fn closest_approach(&self, ctx: &GpuContext) -> Result<f64, SimError> {
        let buf = self
            .bound
            .iter()
            .find(|(i, _)| *i == 29)
            .map(|(_, b)| b)
            .ok_or_else(|| SimError::Other("matter depth buffer missing".into()))?;
        let d = bytes_to_reals(
            &read_buffer(ctx, buf, u64::from(self.fem_nodes) * self.precision.bytes())?,
            self.precision,
        );
        Ok(-d.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }

    /// The triangles' centroids of state `parity`, then both sides' bins.
    fn encode_bins(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        {
            let mut pass = Self::pass(enc, "fem-matter centroids");
            self.k_centroids
                .dispatch_1d(&mut pass, &[&self.bg_centroids[parity]], self.tris);
        }
        let mut timer = GpuTimer::disabled();
        self.particle_bins.encode(enc, parity, &mut timer);
        // (one centroid buffer, whatever the parity)
        self.tri_bins.encode(enc, parity, &mut timer);
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }
}

impl Coupling for FemMatterCoupling {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode_forward(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        self.encode_bins(enc, parity);
        let mut pass = Self::pass(enc, "fem-matter contact");
        self.k_particles
            .dispatch_1d(&mut pass, &[&self.bg_particles[parity]], self.particles);
        self.k_grid
            .dispatch_1d(&mut pass, &[&self.bg_grid[parity]], self.grid_nodes);
        self.k_nodes
            .dispatch_1d(&mut pass, &[&self.bg_nodes[parity]], self.fem_nodes);
    }

    fn enable_adjoint(
        &mut self,
        ctx: &GpuContext,
        solvers: &[Box<dyn Solver>],
        _world: &WorldBuffers,
    ) -> Result<(), SimError> {
        let mpm = solvers[Simulation::MPM]
            .as_any()
            .downcast_ref::<MpmSolver>()
            .ok_or_else(|| SimError::Other("matter contact: solver 0 is not MPM".into()))?;
        let body = solvers[self.fem]
            .as_any()
            .downcast_ref::<FemSolver>()
            .ok_or_else(|| SimError::Other("matter contact: not an FEM body".into()))?;
        let madj = &mpm.adjoint()?.adj;
        let ext_grid_bar = &mpm.adjoint()?.ext_force_bar;
        let fadj = body
            .adjoint_states()
            .ok_or_else(|| SimError::Other("matter contact: FEM adjoint not enabled".into()))?;
        let r = self.precision.bytes();
        let fpbar = storage_buffer_zeroed(
            ctx,
            "matter.fpbar",
            3 * self.particles.max(1) as u64 * r,
            BufferUse::Storage,
        )?;
        let ppartial = storage_buffer_zeroed(
            ctx,
            "matter.ppartial",
            3 * self.fem_nodes.max(1) as u64 * r,
            BufferUse::Storage,
        )?;
        let k = |e: &str| Kernel::new(ctx, "fem/matter_adj", e, self.config);
        let (k_particles, k_nodes) = (k("matter_adj_particles")?, k("matter_adj_nodes")?);
        let bind = |kern: &Kernel, cur: usize| {
            kern.bind_used(
                ctx,
                &bindings(
                    &self.bound,
                    &self.mstate,
                    &self.fstate,
                    0,
                    &[
                        (14, ext_grid_bar),
                        (15, &body.ext_bar),
                        (16, &madj[1 - cur]),
                        (17, fadj[1 - cur]),
                        (18, &fpbar),
                        (19, &ppartial),
                    ],
                ),
            )
        };
        let bg_particles = [0, 1].map(|c| bind(&k_particles, c));
        let bg_nodes = [0, 1].map(|c| bind(&k_nodes, c));
        self.adjoint = Some(MatterAdjoint {
            k_particles,
            k_nodes,
            bg_particles,
            bg_nodes,
            fpbar,
            ppartial,
        });
        Ok(())
    }

    fn encode_adjoint(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let Some(a) = &self.adjoint else { return };
        self.encode_bins(enc, 0);
        let mut pass = Self::pass(enc, "fem-matter contact adjoint");
        a.k_particles
            .dispatch_1d(&mut pass, &[&a.bg_particles[cur]], self.particles);
        a.k_nodes
            .dispatch_1d(&mut pass, &[&a.bg_nodes[cur]], self.fem_nodes);
    }

    fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(a) = &self.adjoint {
            enc.clear_buffer(&a.fpbar, 0, None);
            enc.clear_buffer(&a.ppartial, 0, None);
        }
    }

    fn read_gradients(&self, ctx: &GpuContext) -> Result<Option<SolverGradients>, SimError> {
        let Some(a) = &self.adjoint else {
            return Ok(None);
        };
        let p = self.precision;
        let n = self.fem_nodes as usize;
        let part = bytes_to_reals(&read_buffer(ctx, &a.ppartial, 3 * n as u64 * p.bytes())?, p);
        // Summed on the host in node order: deterministic.
        let mut sum = [0.0; 3];
        for j in 0..n {
            for (k, s) in sum.iter_mut().enumerate() {
                *s += part[3 * j + k];
            }
        }
        Ok(Some(SolverGradients {
            solver: self.name.clone(),
            groups: vec![("matter (k, c, mu)".into(), sum.to_vec())],
        }))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
