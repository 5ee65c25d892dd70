//! The test suite's coupling between the spring points and MPM
//! (`spring_mpm.wgsl`): a penalty repulsion computed from state_t, pushed
//! onto MPM's grid through its external-force hook and onto the spring
//! points through theirs, with its adjoint. Implements [`Coupling`] from
//! outside the library.

use super::springs::SpringSolver;
use ductile::gpu::{
    reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext, Kernel,
    Precision, ShaderConfig,
};
use ductile::sim::error::SimError;
use ductile::sim::world::{Coupling, Solver, WorldBuffers};
use ductile::sim::{MpmSolver, Simulation};

const SRC: &str = include_str!("spring_mpm.wgsl");
const MODULE: &str = "test/spring_mpm";

/// Buffers the coupling binds (cloned handles of the solvers' buffers).
struct Bound {
    params: wgpu::Buffer,
    cints: wgpu::Buffer,
    creals: wgpu::Buffer,
    mx: [wgpu::Buffer; 2],
    sx: [wgpu::Buffer; 2],
    fp: wgpu::Buffer,
    fpbar: wgpu::Buffer,
    ext_grid: wgpu::Buffer,
    ext_spring: wgpu::Buffer,
    ext_spring_bar: wgpu::Buffer,
}

struct AdjointParts {
    k_particles: Kernel,
    k_springs: Kernel,
    bg_particles: [wgpu::BindGroup; 2],
    bg_springs: [wgpu::BindGroup; 2],
}

/// Spring points repelling MPM particles.
pub struct SpringMpmCoupling {
    mpm: usize,
    springs: usize,
    particles: u32,
    nodes: u32,
    points: u32,
    precision: Precision,
    config: ShaderConfig,
    creals_host: Vec<f64>,
    b: Bound,
    k_particles: Kernel,
    k_nodes: Kernel,
    k_springs: Kernel,
    bg_particles: [wgpu::BindGroup; 2],
    bg_nodes: [wgpu::BindGroup; 2],
    bg_springs: [wgpu::BindGroup; 2],
    adjoint: Option<AdjointParts>,
}

impl SpringMpmCoupling {
    /// Couples the spring solver `springs` of `sim`'s world to its MPM
    /// solver (enabling MPM's external-force input), with penalty stiffness
    /// `kappa` [N/m²] and radius `radius` [m].
    pub fn new(
        ctx: &GpuContext,
        sim: &mut Simulation,
        springs: usize,
        kappa: f64,
        radius: f64,
    ) -> Result<Self, SimError> {
        sim.world.enable_coupling_inputs(ctx, Simulation::MPM)?;
        sim.world.enable_coupling_inputs(ctx, springs)?;
        let sim = &*sim;
        let config = sim.config();
        let p = config.precision;
        let mpm = sim.mpm();
        let sp = sim
            .world
            .solver::<SpringSolver>(springs)
            .ok_or_else(|| SimError::Other(format!("solver {springs} is not the spring solver")))?;
        let particles = mpm.particle_count();
        let nodes = mpm.model.info.num_nodes();
        let creals_host = vec![kappa, radius, 1.0, 0.0];
        let b = Bound {
            params: mpm.model.params.clone(),
            cints: storage_buffer(
                ctx,
                "coupling.ints",
                bytemuck::cast_slice(&[sp.count(), 0, 0, 0]),
                BufferUse::Storage,
            )?,
            creals: storage_buffer(
                ctx,
                "coupling.reals",
                &reals_to_bytes(&creals_host, p),
                BufferUse::Storage,
            )?,
            mx: [mpm.states[0].x.clone(), mpm.states[1].x.clone()],
            sx: [sp.x[0].clone(), sp.x[1].clone()],
            fp: storage_buffer_zeroed(
                ctx,
                "coupling.fp",
                3 * particles as u64 * p.bytes(),
                BufferUse::Storage,
            )?,
            fpbar: storage_buffer_zeroed(
                ctx,
                "coupling.fpbar",
                3 * particles as u64 * p.bytes(),
                BufferUse::Storage,
            )?,
            ext_grid: mpm.ext_force.clone(),
            ext_spring: sp.ext.clone(),
            ext_spring_bar: sp.ext_bar.clone(),
        };
        let k = |e: &str| Kernel::from_source(ctx, MODULE, SRC, e, config);
        let (k_particles, k_nodes, k_springs) = (
            k("couple_particles")?,
            k("couple_nodes")?,
            k("couple_springs")?,
        );
        let fwd = |kern: &Kernel, par: usize| {
            kern.bind_used(
                ctx,
                &[
                    (0, &b.params),
                    (1, &b.cints),
                    (2, &b.creals),
                    (3, &b.mx[par]),
                    (4, &b.sx[par]),
                    (5, &b.fp),
                    (6, &b.ext_grid),
                    (7, &b.ext_spring),
                ],
            )
        };
        let bg_particles = [0, 1].map(|par| fwd(&k_particles, par));
        let bg_nodes = [0, 1].map(|par| fwd(&k_nodes, par));
        let bg_springs = [0, 1].map(|par| fwd(&k_springs, par));
        Ok(SpringMpmCoupling {
            mpm: Simulation::MPM,
            springs,
            particles,
            nodes,
            points: sp.count(),
            precision: p,
            config,
            creals_host,
            b,
            k_particles,
            k_nodes,
            k_springs,
            bg_particles,
            bg_nodes,
            bg_springs,
            adjoint: None,
        })
    }

    /// Scales the adjoint's pair-force pullback by `factor` (1: exact; else a planted error).
    pub fn plant_adjoint_error(&mut self, ctx: &GpuContext, factor: f64) {
        self.creals_host[2] = factor;
        ctx.queue.write_buffer(
            &self.b.creals,
            0,
            &reals_to_bytes(&self.creals_host, self.precision),
        );
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }
}

impl Coupling for SpringMpmCoupling {
    fn name(&self) -> &str {
        "springs-mpm penalty"
    }

    fn encode_forward(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = Self::pass(enc, "springs-mpm coupling");
        self.k_particles
            .dispatch_1d(&mut pass, &[&self.bg_particles[parity]], self.particles);
        self.k_nodes
            .dispatch_1d(&mut pass, &[&self.bg_nodes[parity]], self.nodes);
        self.k_springs
            .dispatch_1d(&mut pass, &[&self.bg_springs[parity]], self.points);
    }

    fn enable_adjoint(
        &mut self,
        ctx: &GpuContext,
        solvers: &[Box<dyn Solver>],
        _world: &WorldBuffers,
    ) -> Result<(), SimError> {
        let mpm = solvers[self.mpm]
            .as_any()
            .downcast_ref::<MpmSolver>()
            .ok_or_else(|| SimError::Other("coupling: solver 0 is not MPM".into()))?;
        let sp = solvers[self.springs]
            .as_any()
            .downcast_ref::<SpringSolver>()
            .ok_or_else(|| SimError::Other("coupling: not the spring solver".into()))?;
        let madj = &mpm.adjoint()?.adj;
        let ext_grid_bar = &mpm.adjoint()?.ext_force_bar;
        let sadj = sp
            .adjoint_states()
            .ok_or_else(|| SimError::Other("coupling: spring adjoint not enabled".into()))?;
        let k = |e: &str| Kernel::from_source(ctx, MODULE, SRC, e, self.config);
        let (k_particles, k_springs) = (k("couple_adj_particles")?, k("couple_adj_springs")?);
        let b = &self.b;
        let bind = |kern: &Kernel, cur: usize| {
            kern.bind_used(
                ctx,
                &[
                    (0, &b.params),
                    (1, &b.cints),
                    (2, &b.creals),
                    (3, &b.mx[0]),
                    (4, &b.sx[0]),
                    (8, ext_grid_bar),
                    (9, &b.ext_spring_bar),
                    (10, &madj[1 - cur]),
                    (11, sadj[1 - cur]),
                    (12, &b.fpbar),
                ],
            )
        };
        let bg_particles = [0, 1].map(|c| bind(&k_particles, c));
        let bg_springs = [0, 1].map(|c| bind(&k_springs, c));
        self.adjoint = Some(AdjointParts {
            k_particles,
            k_springs,
            bg_particles,
            bg_springs,
        });
        Ok(())
    }

    fn encode_adjoint(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let Some(a) = &self.adjoint else { return };
        let mut pass = Self::pass(enc, "springs-mpm coupling adjoint");
        a.k_particles
            .dispatch_1d(&mut pass, &[&a.bg_particles[cur]], self.particles);
        a.k_springs
            .dispatch_1d(&mut pass, &[&a.bg_springs[cur]], self.points);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
