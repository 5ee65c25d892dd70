//! A running simulation built from a scene: a [`World`] whose first solver
//! is MPM (the scene's `bodies`), with the scene's tools as its Control.
//! [`Simulation::step`] records substeps into one command buffer with no
//! readback; outputs read back only when asked.

use crate::control::Control;
use crate::error::{SimError, Unstable};
use crate::material::{initial_aux, max_stable_viscosity};
use crate::mpm::diagnostics::{Diagnostics as DiagKernels, PackColor, Sums};
use crate::mpm::g2p::G2p;
use crate::mpm::model::{
    ModelDesc, ModelInfo, PARAMS_ADJOINT_ERROR, PARAMS_GRAVITY, PARAMS_INTS_BYTES,
    PARAMS_WALL_FRICTION,
};
use crate::mpm::p2g::{P2g, P2gMode};
use crate::mpm::solver::MpmSolver;
use crate::mpm::state::{matrices_from_gpu, matrices_to_gpu, StateHost};
use crate::mpm::{MpmModel, MpmState};
use crate::tools::{ToolSet, TOOL_FRICTION, TOOL_RECORD_REALS};
use crate::world::{World, STATUS_HEALTHY};
use ductile_gpu::{read_buffer, AtomicsMode, GpuContext, GpuTimer, Precision, ShaderConfig};
use ductile_scene::{LoadedScene, Material, SceneError};

/// Options that are not part of the scene.
#[derive(Clone, Debug, Default)]
pub struct SimulationOptions {
    /// Override the scene's precision.
    pub precision: Option<Precision>,
    /// Use the compare-and-swap float accumulation even if native float atomics exist.
    pub force_cas_atomics: bool,
    /// Number of substeps to upload controls for (default: the scene's whole rollout).
    pub control_steps: Option<usize>,
    /// Use the deterministic binned-gather P2G (always used in f64).
    pub deterministic: bool,
}

/// Particle data read back for output.
#[derive(Clone, Debug, Default)]
pub struct ParticlesHost {
    /// Positions [m], 3 per particle.
    pub x: Vec<f64>,
    /// Velocities [m/s], 3 per particle.
    pub v: Vec<f64>,
    /// Body index per particle.
    pub body: Vec<u32>,
}

/// Per-frame diagnostics.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    /// Sums over particles.
    pub sums: Sums,
    /// Per tool: mean contact force on the tool over the last frame [N].
    pub tool_forces: Vec<[f64; 3]>,
}

/// A scene on the GPU.
pub struct Simulation {
    /// The solvers (MPM is solver [`Simulation::MPM`]), their couplings,
    /// the clock, the status and the Control.
    pub world: World,
    substeps_since_force_clear: u64,
    /// World indices of the scene's FEM bodies, in `fem` order.
    fem: Vec<usize>,
    /// The first body whose stable step is shorter than dt, as a sentence
    /// (`material::time_step_advice`): the hint a blow-up then gives.
    step_advice: Option<String>,
}

/// Refuses non-finite values of a parameter set at run time, naming it.
fn finite(what: &str, values: &[f64]) -> Result<(), SimError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(SimError::Other(format!(
            "{what} = {values:?}: must be finite"
        )))
    }
}

fn located(scene: &LoadedScene, path: String, value: String, allowed: String) -> SimError {
    SimError::Scene(SceneError::invalid(
        &scene.source,
        &scene.file_label(),
        path,
        value,
        allowed,
    ))
}

/// The particle binning of the gather P2G, read back.
#[derive(Clone, Debug)]
pub struct BinnedParticles {
    /// Per cell, the start of its particles in `sorted` (cells + 1 values).
    pub cell_start: Vec<u32>,
    /// Particle indices in binned order (cell by cell, ascending within a cell).
    pub sorted: Vec<u32>,
}

/// The kernel precision that a scene's or task's `precision` field names.
pub fn kernel_precision(p: ductile_scene::Precision) -> Precision {
    match p {
        ductile_scene::Precision::F32 => Precision::F32,
        ductile_scene::Precision::F64 => Precision::F64,
    }
}

impl Simulation {
    /// Samples the bodies, uploads Model, State and Control, and builds the kernels.
    /// Every buffer is checked against the adapter's limits before any is allocated.
    pub fn new(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        opts: &SimulationOptions,
    ) -> Result<Self, SimError> {
        let scene = &loaded.scene;
        let precision = opts.precision.unwrap_or(kernel_precision(scene.precision));
        if precision == Precision::F64 && !ctx.has_f64 {
            return Err(located(
                loaded,
                "precision".into(),
                "F64".into(),
                format!("F32 on this adapter ({} has no SHADER_F64)", ctx.info.name),
            ));
        }
        let atomics = if ctx.float_atomics && !opts.force_cas_atomics {
            AtomicsMode::Native
        } else {
            AtomicsMode::CompareSwap
        };
        let config = ShaderConfig { precision, atomics };
        let dx = scene.domain.dx;
        let dt = scene.time.dt;

        // Explicit-step stability of viscous fluids.
        for (i, b) in scene.bodies.iter().enumerate() {
            if let Material::Fluid {
                density, viscosity, ..
            } = b.material
            {
                let limit = max_stable_viscosity(density, dx, dt);
                if viscosity > limit {
                    return Err(located(
                        loaded,
                        format!("bodies[{i}].material.viscosity"),
                        format!("{viscosity}"),
                        format!(
                            "<= {limit:.4e} Pa·s for dt = {dt:e} s and dx = {dx:e} m (explicit viscous limit ρ dx²/(6 dt)); lower dt or the viscosity"
                        ),
                    ));
                }
            }
        }

        // Refuse before allocating, on the host too: sampling stores a few
        // hundred bytes per particle, so count each body's particles first.
        // The largest per-particle buffer is 16 Reals (payload), the largest
        // per-node one 4 Reals.
        let nodes: u64 = scene.domain.cells.iter().map(|&c| c as u64 + 1).product();
        ctx.check_buffer("grid (4 Reals per node)", 4 * nodes * precision.bytes())?;
        let mut planned = 0u64;
        for i in 0..scene.bodies.len() {
            planned += loaded.count_body(i)?;
        }
        ctx.check_buffer(
            "particle payload (16 Reals per particle)",
            16 * planned * precision.bytes(),
        )?;
        ctx.check_dispatch("particle kernels", planned.div_ceil(64).div_ceil(32768))?;

        // Sample particles.
        let mut host = StateHost::default();
        let mut body_counts = Vec::new();
        let mut volumes = Vec::new();
        let mut body_index = Vec::new();
        let mut release_steps = Vec::new();
        for (i, b) in scene.bodies.iter().enumerate() {
            let pts = loaded.sample_body(i)?;
            if pts.is_empty() {
                return Err(located(
                    loaded,
                    format!("bodies[{i}].shape"),
                    "a shape holding no particle".into(),
                    "a shape at least one particle spacing wide".into(),
                ));
            }
            let ppc = b.particles_per_cell;
            volumes.push(ductile_scene::sampling::body_volume_per_particle(dx, ppc));
            body_counts.push(pts.len() as u32);
            let (mut pts, release) = match &b.emitter {
                None => (pts.clone(), vec![0; pts.len()]),
                Some(e) => emitter_schedule(&pts, b.velocity, e.start, dt).ok_or_else(|| {
                    located(
                        loaded,
                        format!("bodies[{i}].emitter.start"),
                        format!("{}", e.start),
                        format!(
                            "a stream that has left the nozzle by substep {} (start + length / |velocity| <= {:.4e} s)",
                            ductile_scene::validate::MAX_RELEASE_STEP,
                            ductile_scene::validate::MAX_RELEASE_STEP as f64 * dt
                        ),
                    )
                })?,
            };
            // Each particle's velocity [m/s]: the body's, plus, for an
            // emitter, the nozzle's own velocity over its release substep.
            let mut vels = vec![b.velocity; pts.len()];
            if let Some(e) = &b.emitter {
                // A moving nozzle: each particle waits where the nozzle will
                // be when it leaves, and leaves with the nozzle's velocity
                // added to the stream's.
                for ((p, v), &n) in pts.iter_mut().zip(&mut vels).zip(&release) {
                    let t = f64::from(n) * dt;
                    let d = e.motion.displacement_at(t, dt);
                    let d_next = e.motion.displacement_at(t + dt, dt);
                    for a in 0..3 {
                        p[a] += d[a];
                        v[a] += (d_next[a] - d[a]) / dt;
                    }
                }
                let (lo, hi) = ductile_scene::validate::domain_bounds(&scene.domain);
                if let Some(p) = pts
                    .iter()
                    .find(|p| (0..3).any(|k| p[k] < lo[k] || p[k] > hi[k]))
                {
                    return Err(located(
                        loaded,
                        format!("bodies[{i}].shape"),
                        format!("a nozzle exit reaching ({:.4}, {:.4}, {:.4}) m", p[0], p[1], p[2]),
                        format!(
                            "an emitter whose downstream face (the nozzle exit) lies inside the domain [{lo:?}, {hi:?}] m"
                        ),
                    ));
                }
            }
            release_steps.extend_from_slice(&release);
            for (p, v) in pts.iter().zip(&vels) {
                host.x.extend_from_slice(p);
                host.v.extend_from_slice(v);
                host.c.extend_from_slice(&[0.0; 9]);
                host.f
                    .extend_from_slice(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
                host.aux.push(initial_aux(&b.material));
                body_index.push(i as u32);
            }
        }
        let n = body_index.len() as u64;
        debug_assert_eq!(n, planned);

        let total_steps = scene.time.frames as usize * scene.time.substeps as usize;
        let control_steps = opts.control_steps.unwrap_or(total_steps).max(1);
        let tool_sdfs: Vec<_> = (0..scene.tools.len())
            .map(|i| loaded.tool_sdf(i, 2))
            .collect::<Result<_, _>>()?;
        let tools = ToolSet::new(ctx, &scene.tools, &tool_sdfs, precision)?;
        let model = MpmModel::build(
            ctx,
            &ModelDesc {
                scene,
                body_counts: &body_counts,
                release_steps: &release_steps,
                particle_volumes: &volumes,
                tools: &tools,
                control_steps: control_steps as u32,
            },
            precision,
        )?;
        let control = Control::build(ctx, &scene.tools, dt, control_steps, precision)?;
        let ext_force = MpmSolver::external_force_placeholder(ctx, &model)?;
        let s0 = MpmState::upload(ctx, &host, precision, "state0")?;
        let s1 = MpmState::zeroed(ctx, n as u32, precision, "state1")?;
        let passes_per_step = 6;
        // (scatter mode times 3 passes per substep, gather mode 6)
        let timer = GpuTimer::new(ctx, passes_per_step * scene.time.substeps.max(1));
        let mut world = World::new(ctx, control, tools, dt, config, timer)?;
        let states = [&s0, &s1];
        let mode = if opts.deterministic || precision == Precision::F64 {
            P2gMode::Gather
        } else {
            P2gMode::Scatter
        };
        let p2g = P2g::new(
            ctx,
            &model,
            states,
            &world.control,
            &world.clock,
            &ext_force,
            config,
            mode,
        )?;
        let g2p = G2p::new(
            ctx,
            &model,
            states,
            &p2g.grid,
            &world.clock,
            &world.status,
            config,
        )?;
        let diag = DiagKernels::new(ctx, &model, states, config)?;
        let mpm = MpmSolver::from_parts(
            model,
            [s0, s1],
            p2g,
            g2p,
            diag,
            ext_force,
            body_index,
            scene.bodies.iter().map(|b| b.material.clone()).collect(),
            volumes,
        );
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        mpm.g2p.encode_stress_init(&mut enc, 0);
        ctx.queue.submit([enc.finish()]);
        let index = world.add_solver(Box::new(mpm));
        debug_assert_eq!(index, Self::MPM);
        let mut sim = Simulation {
            world,
            substeps_since_force_clear: 0,
            fem: Vec::new(),
            step_advice: crate::material::time_step_advice(scene)
                .first()
                .map(|a| a.to_string()),
        };
        // The scene's FEM bodies, one solver each, after MPM.
        for (k, b) in scene.fem.iter().enumerate() {
            let mut desc =
                crate::fem::desc_from_scene(b, loaded.fem_meshes.get(k).and_then(Option::as_ref));
            // The matter contact's default is E·h (h the shortest edge),
            // whatever the tools' contact says; the tools' default is set
            // from the step.
            let matter_default =
                b.youngs_modulus * crate::fem::shortest_edge(&desc.nodes, &desc.tets);
            if b.contact.is_none() {
                if let Ok(rest) = crate::fem::prepare(&desc) {
                    desc.contact = desc
                        .contact
                        .with_default_stiffness(&desc, &rest, scene.time.dt);
                }
            }
            let solver =
                crate::fem::solver::FemSolver::new(ctx, &sim, &desc).map_err(|e| match e {
                    SimError::Other(msg) => {
                        match msg.strip_prefix(crate::fem::solver::SENSOR_ERROR) {
                            Some(m) => located(
                                loaded,
                                format!("fem[{k}].sensor"),
                                "Some(..)".into(),
                                m.to_string(),
                            ),
                            None => located(
                                loaded,
                                format!("fem[{k}].mesh"),
                                format!("{:?}", b.name),
                                msg,
                            ),
                        }
                    }
                    other => other,
                })?;
            let i = sim.world.add_solver(Box::new(solver));
            sim.fem.push(i);
            // Two-way contact with the MPM matter, unless switched off.
            let spec = b.matter.clone().unwrap_or_default();
            if spec.enabled && sim.info().particles > 0 {
                let m = crate::fem::matter::FemMatter {
                    stiffness: spec.stiffness.unwrap_or(matter_default),
                    damping: spec.damping,
                    friction: spec.friction,
                    stick_speed: spec.stick_speed,
                    radius: spec.radius.unwrap_or(0.5 * sim.info().dx),
                };
                let c = crate::fem::matter::FemMatterCoupling::new(ctx, &mut sim, i, m).map_err(
                    |e| match e {
                        SimError::Other(msg) => located(
                            loaded,
                            format!("fem[{k}].matter"),
                            format!("{:?}", b.name),
                            msg,
                        ),
                        other => other,
                    },
                )?;
                sim.world.add_coupling(Box::new(c));
            }
        }
        Ok(sim)
    }

    /// The world index of the scene's FEM body `k` (`fem[k]`).
    pub fn fem_solver(&self, k: usize) -> Option<usize> {
        self.fem.get(k).copied()
    }

    /// The solver, and the body within its point set, that scene body index
    /// `body` names: MPM bodies first, then each FEM body (its only body).
    pub fn body_solver(&self, body: usize) -> Option<(usize, usize)> {
        let mpm_bodies = self.info().bodies.len();
        if body < mpm_bodies {
            Some((Self::MPM, body))
        } else {
            self.fem_solver(body - mpm_bodies).map(|s| (s, 0))
        }
    }

    /// Index of the MPM solver in [`Simulation::world`].
    pub const MPM: usize = 0;

    /// The MPM solver.
    pub fn mpm(&self) -> &MpmSolver {
        self.world
            .solver::<MpmSolver>(Self::MPM)
            .expect("a simulation's solver 0 is MPM")
    }

    /// The MPM solver, mutably.
    pub fn mpm_mut(&mut self) -> &mut MpmSolver {
        self.world
            .solver_mut::<MpmSolver>(Self::MPM)
            .expect("a simulation's solver 0 is MPM")
    }

    /// The MPM model (static buffers).
    pub fn model(&self) -> &MpmModel {
        &self.mpm().model
    }

    /// The MPM state `parity` (0 or 1).
    pub fn mpm_state(&self, parity: usize) -> &MpmState {
        &self.mpm().states[parity]
    }

    /// Per-substep tool controls.
    pub fn control(&self) -> &Control {
        &self.world.control
    }

    /// Index of the current state (0 or 1) of every solver.
    pub fn parity(&self) -> usize {
        self.world.parity
    }

    /// Substeps taken.
    pub fn step_count(&self) -> u64 {
        self.world.step
    }

    /// Precision and atomics in use.
    pub fn config(&self) -> ShaderConfig {
        self.world.config
    }

    /// The substep clock buffer (u32) the kernels read.
    pub fn clock(&self) -> &wgpu::Buffer {
        &self.world.clock
    }

    /// Per-pass GPU times of the forward substeps.
    pub fn timer(&self) -> &GpuTimer {
        &self.world.timer
    }

    /// Each body's material (the scene's, or as last set by [`Self::set_material`]).
    pub fn materials(&self) -> &[ductile_scene::Material] {
        &self.mpm().materials
    }

    /// Replaces body `body`'s material parameters (same model kind) from the
    /// next substep on; the particles' state is kept.
    pub fn set_material(
        &mut self,
        ctx: &GpuContext,
        body: usize,
        m: &ductile_scene::Material,
    ) -> Result<(), SimError> {
        let mpm = self.mpm_mut();
        let old = mpm
            .materials
            .get(body)
            .ok_or_else(|| SimError::Other(format!("no body {body}")))?;
        if std::mem::discriminant(old) != std::mem::discriminant(m) {
            return Err(SimError::Other(
                "set_material cannot change the model kind".into(),
            ));
        }
        let rec = crate::material::pack_material(m, mpm.particle_volumes[body]);
        let p = mpm.model.info.precision;
        ctx.queue.write_buffer(
            &mpm.model.materials,
            16 * body as u64 * p.bytes(),
            &ductile_gpu::reals_to_bytes(&rec, p),
        );
        mpm.materials[body] = m.clone();
        Ok(())
    }

    /// Replaces the gravitational acceleration [m/s²] from the next substep
    /// on. Only non-finite values are refused here: check the others as the
    /// scene format does (`ductile_scene::validate`) first.
    pub fn set_gravity(&self, ctx: &GpuContext, gravity: [f64; 3]) -> Result<(), SimError> {
        finite("gravity", &gravity)?;
        self.write_params_reals(ctx, PARAMS_GRAVITY, &gravity);
        Ok(())
    }

    /// Replaces the domain walls' Coulomb friction coefficient from the next
    /// substep on (checked as [`Self::set_gravity`]).
    pub fn set_wall_friction(&self, ctx: &GpuContext, friction: f64) -> Result<(), SimError> {
        finite("wall friction", &[friction])?;
        self.write_params_reals(ctx, PARAMS_WALL_FRICTION, &[friction]);
        Ok(())
    }

    /// Scales the MPM stress adjoint (∂L/∂τ, in `kirchhoff_stress_vjp`) by
    /// `factor` from the next backward substep on: 1 is exact; any other
    /// value plants an error, for tests that show a gradient check fails on
    /// a wrong adjoint. The forward pass is unchanged.
    pub fn plant_adjoint_error(&self, ctx: &GpuContext, factor: f64) {
        self.write_params_reals(ctx, PARAMS_ADJOINT_ERROR, &[factor - 1.0]);
    }

    /// Replaces tool `t`'s friction coefficient and contact softness [m]
    /// from the next substep on (checked as [`Self::set_gravity`]; finite
    /// differences step across zero softness, so negative values pass).
    pub fn set_tool_contact(
        &self,
        ctx: &GpuContext,
        t: usize,
        friction: f64,
        softness: f64,
    ) -> Result<(), SimError> {
        if t >= self.model().info.tools as usize {
            return Err(SimError::Other(format!("no tool {t}")));
        }
        finite(
            &format!("tool {t}'s friction and softness"),
            &[friction, softness],
        )?;
        let p = self.config().precision;
        ctx.queue.write_buffer(
            &self.model().tools,
            ((TOOL_RECORD_REALS * t + TOOL_FRICTION) as u64) * p.bytes(),
            &ductile_gpu::reals_to_bytes(&[friction, softness], p),
        );
        Ok(())
    }

    /// Writes `values` into the Reals of the `Params` uniform from index `first`.
    fn write_params_reals(&self, ctx: &GpuContext, first: u64, values: &[f64]) {
        let p = self.config().precision;
        ctx.queue.write_buffer(
            &self.model().params,
            PARAMS_INTS_BYTES + first * p.bytes(),
            &ductile_gpu::reals_to_bytes(values, p),
        );
    }

    /// Host description of the model.
    pub fn info(&self) -> &ModelInfo {
        &self.model().info
    }

    /// Number of particles.
    pub fn particle_count(&self) -> u32 {
        self.model().info.particles
    }

    /// Records `substeps` substeps into `enc` (no readback, no allocation).
    pub fn encode_substeps(&mut self, enc: &mut wgpu::CommandEncoder, substeps: u32) {
        self.world.encode_substeps(enc, substeps);
        self.substeps_since_force_clear += substeps as u64;
    }

    /// Runs `substeps` substeps in one submission. Does not wait.
    pub fn step(&mut self, ctx: &GpuContext, substeps: u32) {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("substeps"),
            });
        self.encode_substeps(&mut enc, substeps);
        self.world.timer.resolve(&mut enc);
        ctx.queue.submit([enc.finish()]);
    }

    /// Waits for the GPU, reads the health status, and turns a failure into [`Unstable`].
    pub fn check(&mut self, ctx: &GpuContext) -> Result<(), SimError> {
        let bytes = read_buffer(ctx, &self.world.status, 16)?;
        let s: &[u32] = bytemuck::cast_slice(&bytes);
        if s[0] != u32::MAX {
            let particle = s[1];
            let solver = s[3] as usize;
            let what = if s[2] & 1 != 0 {
                "became non-finite (NaN or inf)"
            } else {
                "left the domain (its stencil would leave the grid)"
            };
            let hint = match (&self.step_advice, s[2] & 1 != 0) {
                // A step above a body's stable step explains either failure.
                (Some(advice), _) => format!("; dt = {:e} s is too long: {advice}", self.world.dt),
                (None, true) => "; try a smaller dt, softer material or more substeps".into(),
                (None, false) => {
                    "; add walls (domain.boundary_cells >= 1), enlarge the domain or lower the speeds"
                        .into()
                }
            };
            let (body, item) = match self.world.solver::<MpmSolver>(solver) {
                Some(m) => {
                    let b = m.model.info.body_of_particle(particle).to_string();
                    let item = format!("particle {particle} of body `{b}`");
                    (b, item)
                }
                None => match self.world.solvers.get(solver) {
                    Some(other) => (other.name().to_string(), other.describe_item(particle)),
                    None => (
                        format!("solver {solver}"),
                        format!("item {particle} of solver {solver}"),
                    ),
                },
            };
            return Err(SimError::Unstable(Box::new(Unstable {
                item,
                step: s[0] as u64,
                time: s[0] as f64 * self.world.dt,
                body,
                particle,
                what: what.into(),
                hint,
            })));
        }
        Ok(())
    }

    /// Clears the health status (before re-running from a new initial state).
    pub fn reset_status(&self, ctx: &GpuContext) {
        ctx.queue
            .write_buffer(&self.world.status, 0, bytemuck::cast_slice(&STATUS_HEALTHY));
    }

    /// Collects the GPU pass timings recorded since the last call (blocking).
    pub fn collect_timings(&mut self, ctx: &GpuContext) -> Result<(), SimError> {
        self.world.timer.collect(ctx)?;
        Ok(())
    }

    /// Current particle positions, velocities and body indices (blocking readback).
    pub fn particles(&self, ctx: &GpuContext) -> Result<ParticlesHost, SimError> {
        let (x, v) = self.mpm_state(self.parity()).download_xv(
            ctx,
            self.particle_count(),
            self.config().precision,
        )?;
        Ok(ParticlesHost {
            x,
            v,
            body: self.mpm().body_index.clone(),
        })
    }

    /// Full current state (blocking readback).
    pub fn state(&self, ctx: &GpuContext) -> Result<StateHost, SimError> {
        Ok(self.mpm_state(self.parity()).download(
            ctx,
            self.particle_count(),
            self.config().precision,
        )?)
    }

    /// Gather mode: the binning the last P2G made (blocking readback, for
    /// checks). `None` with the atomic scatter.
    pub fn binned_particles(&self, ctx: &GpuContext) -> Result<Option<BinnedParticles>, SimError> {
        let Some((bins, _)) = self.mpm().p2g.gather_buffers() else {
            return Ok(None);
        };
        let cells = self.model().info.num_cells() as u64;
        let n = self.particle_count() as u64;
        let start = read_buffer(ctx, &bins.cell_start, 4 * (cells + 1))?;
        let sorted = read_buffer(ctx, &bins.sorted, 4 * n)?;
        Ok(Some(BinnedParticles {
            cell_start: bytemuck::cast_slice(&start)[..cells as usize + 1].to_vec(),
            sorted: bytemuck::cast_slice(&sorted)[..n as usize].to_vec(),
        }))
    }

    /// Sums over particles, and mean tool forces since the last call (blocking readback).
    pub fn diagnostics(&mut self, ctx: &GpuContext) -> Result<Diagnostics, SimError> {
        let sums = self.mpm().diag.sums(ctx, self.parity())?;
        let nt = self.model().info.tools as usize;
        let bytes = read_buffer(ctx, &self.mpm().p2g.tool_force, 16 * nt.max(1) as u64)?;
        let f: &[f32] = bytemuck::cast_slice(&bytes);
        let k = self.substeps_since_force_clear.max(1) as f64;
        let tool_forces = (0..nt)
            .map(|t| {
                [
                    f[4 * t] as f64 / k,
                    f[4 * t + 1] as f64 / k,
                    f[4 * t + 2] as f64 / k,
                ]
            })
            .collect();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.clear_buffer(&self.mpm().p2g.tool_force, 0, None);
        ctx.queue.submit([enc.finish()]);
        self.substeps_since_force_clear = 0;
        Ok(Diagnostics { sums, tool_forces })
    }

    /// Packs the current particles for the renderer and returns the packed
    /// buffer ((x, y, z, c) f32 per particle), c as `color` says.
    pub fn pack_for_render(&self, ctx: &GpuContext, color: PackColor) -> &wgpu::Buffer {
        self.mpm().diag.pack(ctx, self.parity(), color);
        &self.mpm().diag.packed
    }

    /// Uploads one value per particle for [`PackColor::Value`] (for example
    /// the magnitude of a loss gradient with respect to each particle).
    pub fn set_particle_values(&self, ctx: &GpuContext, values: &[f64]) -> Result<(), SimError> {
        let n = self.particle_count() as usize;
        if values.len() != n {
            return Err(SimError::Other(format!(
                "set_particle_values: {} values for {n} particles",
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(SimError::Other(format!(
                "set_particle_values: particle {i} has the non-finite value {}",
                values[i]
            )));
        }
        let v: Vec<f32> = values.iter().map(|x| *x as f32).collect();
        self.mpm().diag.set_particle_values(ctx, &v);
        Ok(())
    }

    /// Replaces the current state with `host` (x, v, C, F, aux; same particle
    /// count) and recomputes the stress τ from it.
    pub fn set_state(&mut self, ctx: &GpuContext, host: &StateHost) -> Result<(), SimError> {
        let n = self.particle_count() as usize;
        let lens = [
            ("x", host.x.len(), 3 * n),
            ("v", host.v.len(), 3 * n),
            ("C", host.c.len(), 9 * n),
            ("F", host.f.len(), 9 * n),
            ("aux", host.aux.len(), n),
        ];
        for (what, got, want) in lens {
            if got != want {
                return Err(SimError::Other(format!(
                    "set_state: {what} has {got} values, the simulation needs {want}"
                )));
            }
        }
        let p = self.config().precision;
        let st = self.mpm_state(self.parity());
        let put = |b: &wgpu::Buffer, d: &[f64]| {
            ctx.queue
                .write_buffer(b, 0, &ductile_gpu::reals_to_bytes(d, p))
        };
        put(&st.x, &host.x);
        put(&st.v, &host.v);
        put(&st.c, &matrices_to_gpu(&host.c));
        put(&st.f, &matrices_to_gpu(&host.f));
        put(&st.aux, &host.aux);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.mpm().g2p.encode_stress_init(&mut enc, self.parity());
        ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    /// Kirchhoff stress τ [Pa] of every particle, 9 per particle column-major (blocking readback).
    pub fn stress(&self, ctx: &GpuContext) -> Result<Vec<f64>, SimError> {
        let p = self.config().precision;
        let n = self.particle_count() as u64;
        Ok(matrices_from_gpu(&ductile_gpu::bytes_to_reals(
            &read_buffer(ctx, &self.mpm_state(self.parity()).tau, 9 * n * p.bytes())?,
            p,
        )))
    }

    /// The grid after the last substep's update: per node velocity [m/s] and
    /// mass [kg], 4 values per node, x fastest (blocking readback). Nodes
    /// far from all particles are not written by the update and hold stale values;
    /// their mass is meaningful only where particles were near.
    pub fn grid(&self, ctx: &GpuContext) -> Result<Vec<f64>, SimError> {
        let p = self.config().precision;
        let nodes = self.model().info.num_nodes() as u64;
        Ok(ductile_gpu::bytes_to_reals(
            &read_buffer(ctx, &self.mpm().p2g.grid, 4 * nodes * p.bytes())?,
            p,
        ))
    }

    /// The P2G mode in use.
    pub fn p2g_mode(&self) -> P2gMode {
        self.mpm().p2g.mode
    }

    /// Moves tool `t` by `delta` [m] from the current substep on: every
    /// later substep's position shifts by the same amount (the scene's
    /// motion continues from the new place). For interactive dragging; the
    /// tool's velocity is left as the scene gives it. A gripper's finger
    /// moves the whole gripper (both fingers). Writes the control buffer
    /// from the current substep to the end.
    pub fn translate_tool(
        &mut self,
        ctx: &GpuContext,
        t: usize,
        delta: [f64; 3],
    ) -> Result<(), SimError> {
        let step = self.world.step as usize;
        let precision = self.world.config.precision;
        let c = &mut self.world.control;
        if t >= c.tools {
            return Err(SimError::Other(format!(
                "no tool {t}: the scene has {}",
                c.tools
            )));
        }
        if delta.iter().any(|d| !d.is_finite()) {
            return Err(SimError::Other(format!(
                "tool displacement {delta:?} is not finite"
            )));
        }
        // A gripper finger moves its whole gripper.
        let moved: Vec<usize> = match c.gripper_of[t] {
            Some(g) => (0..c.tools)
                .filter(|&u| c.gripper_of[u] == Some(g))
                .collect(),
            None => vec![t],
        };
        let first = step.min(c.steps - 1);
        for n in first..c.steps {
            for &u in &moved {
                let o = crate::control::control_offset(n, u, c.tools);
                for (k, d) in delta.iter().enumerate() {
                    c.values[o + k] += d;
                }
                let p = &mut c.poses[n][u].position;
                *p += glam::DVec3::from_array(delta);
            }
        }
        let start = 16 * first * c.tools;
        let r = precision.bytes();
        ctx.queue.write_buffer(
            &c.buffer,
            start as u64 * r,
            &ductile_gpu::reals_to_bytes(&c.values[start..], precision),
        );
        Ok(())
    }

    /// Pose of each tool at the current substep.
    pub fn tool_poses(&self) -> Vec<crate::control::ToolPose> {
        let c = &self.world.control;
        let i = (self.world.step as usize).min(c.steps - 1);
        c.poses.get(i).cloned().unwrap_or_default()
    }
}

/// The release schedule of an emitter body sampled at `pts` with stream
/// velocity `v` [m/s]: each particle moved downstream onto the nozzle exit
/// plane (the plane normal to v through the most downstream particle), and
/// the substep at which it leaves, start + d/|v| for a particle d upstream
/// of the exit, rounded to the nearest substep of length `dt` [s]. `None`
/// when a release falls beyond the 24-bit substep range.
pub fn emitter_schedule(
    pts: &[[f64; 3]],
    v: [f64; 3],
    start: f64,
    dt: f64,
) -> Option<(Vec<[f64; 3]>, Vec<u32>)> {
    let speed = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let dir = [v[0] / speed, v[1] / speed, v[2] / speed];
    let along = |p: &[f64; 3]| p[0] * dir[0] + p[1] * dir[1] + p[2] * dir[2];
    let exit = pts.iter().map(along).fold(f64::NEG_INFINITY, f64::max);
    let mut out = Vec::with_capacity(pts.len());
    let mut steps = Vec::with_capacity(pts.len());
    for p in pts {
        let d = exit - along(p);
        out.push([p[0] + d * dir[0], p[1] + d * dir[1], p[2] + d * dir[2]]);
        let step = ((start + d / speed) / dt).round();
        if step.is_nan() || step > ductile_scene::validate::MAX_RELEASE_STEP as f64 {
            return None;
        }
        steps.push(step as u32);
    }
    Some((out, steps))
}
