//! Differentiable rollouts of a [`crate::World`]: a forward pass that keeps a
//! checkpoint of the state every K substeps, and a backward pass that
//! replays each segment forward (storing its K states and, memory
//! permitting, each substep's replay cache) and then runs the world's
//! substep adjoints in reverse ([`crate::world`]), seeding the loss terms
//! ([`crate::loss`]) at the steps they are active. A stored state is every
//! solver's stored bytes at fixed offsets; the tape never names a solver's
//! fields.
//!
//! Memory: (⌈T/K⌉ checkpoints + K segment states) × (the world's stored
//! bytes: 25 Reals per MPM particle), plus the fixed adjoint buffers. K defaults to ⌈√T⌉ (memory ∝ √T); with a
//! budget, the smallest K that fits is used (K = 1 stores every state and
//! replays nothing). Checkpoints stay on the GPU up to a limit
//! ([`TapeOptions::gpu_checkpoint_bytes`]) and spill to host memory beyond it.

mod plan;

use plan::binomial_split;
pub use plan::{binomial_capacity, human_bytes, MemoryPlan, Schedule, TapeOptions};

use crate::error::SimError;
use crate::loss::{LossBindings, LossSet, LossTerms};
use crate::mpm::adjoint::MpmAdjoint;
pub use crate::mpm::solver::{elastic_constants, BodyGradients, STORED_REALS};
use crate::mpm::state::{field_to_gpu, StateHost};
use crate::simulation::{Simulation, SimulationOptions};
use crate::world::SolverGradients;
use ductile_gpu::{
    read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext,
    GpuTimer, Precision,
};
use ductile_scene::{LoadedScene, Material};

/// Gradients of the loss from one backward pass.
#[derive(Clone, Debug, Default)]
pub struct Gradients {
    /// The loss L.
    pub loss: f64,
    /// Each term's weighted value.
    pub terms: Vec<f64>,
    /// ∂L/∂x_0 [1/m], 3 per MPM particle.
    pub x0: Vec<f64>,
    /// ∂L/∂v_0 [s/m], 3 per MPM particle.
    pub v0: Vec<f64>,
    /// ∂L/∂C_0 [s], 9 per MPM particle (column-major).
    pub c0: Vec<f64>,
    /// ∂L/∂F_0, 9 per MPM particle (column-major).
    pub f0: Vec<f64>,
    /// ∂L/∂aux_0 (J for fluids, J_p for snow), 1 per MPM particle.
    pub aux0: Vec<f64>,
    /// ∂L/∂control, 16 per (substep, tool) as the Control buffer: position,
    /// quaternion (raw x, y, z, w components), linear velocity, angular velocity.
    pub control: Vec<f64>,
    /// ∂L/∂friction per tool.
    pub tool_friction: Vec<f64>,
    /// ∂L/∂softness [1/m] per tool.
    pub tool_softness: Vec<f64>,
    /// Per MPM body.
    pub bodies: Vec<BodyGradients>,
    /// Every solver's readout (MPM's included), in world order.
    pub solvers: Vec<SolverGradients>,
    /// The readouts of the couplings with parameters of their own, in world order.
    pub couplings: Vec<SolverGradients>,
}

enum Slot {
    Gpu(wgpu::Buffer),
    Host(Vec<u8>),
}

/// A scene set up for gradients: forward with checkpoints, backward with adjoints.
pub struct Rollout {
    /// The simulation (deterministic gather P2G); its world holds every solver.
    pub sim: Simulation,
    /// The loss: sets of terms, the first the scene's `loss` on the MPM
    /// particles, then those added by [`Rollout::add_loss`] (on any
    /// solver's points) and [`Rollout::add_loss_terms`] (a solver's own).
    pub losses: Vec<Box<dyn LossTerms>>,
    /// The schedule and its memory.
    pub plan: MemoryPlan,
    steps: usize,
    /// The initial state of the whole world (each solver's stored bytes at its offset).
    initial: wgpu::Buffer,
    initial_host: StateHost,
    checkpoints: Vec<Slot>,
    segment: Vec<wgpu::Buffer>,
    /// The replay cache of each stored segment state (empty when recomputed).
    caches: Vec<wgpu::Buffer>,
    transfer: wgpu::Buffer,
    step_table: wgpu::Buffer,
    timer: GpuTimer,
    tool_params: Vec<[f64; 2]>,
    forward_done: bool,
}

impl Rollout {
    /// Builds a differentiable rollout of the scene's `frames × substeps`
    /// substeps (or `steps` when given). Refuses budgets too small before
    /// allocating the tape.
    pub fn new(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        precision: Option<Precision>,
        steps: Option<usize>,
        tape: &TapeOptions,
    ) -> Result<Self, SimError> {
        let scene = &loaded.scene;
        let steps = steps
            .unwrap_or(scene.time.frames as usize * scene.time.substeps as usize)
            .max(1);
        let sim = Simulation::new(
            ctx,
            loaded,
            &SimulationOptions {
                precision,
                force_cas_atomics: false,
                control_steps: Some(steps),
                deterministic: true,
            },
        )?;
        if sim.mpm().p2g.gather_buffers().is_none() {
            return Err(SimError::Other("gradients need the gather P2G".into()));
        }
        Self::from_simulation(ctx, loaded, sim, steps, tape)
    }

    /// Builds a differentiable rollout of `steps` substeps of `sim`'s world
    /// (a scene's simulation, possibly with more solvers and couplings added
    /// to its world), with `loaded`'s loss on the MPM particles. The memory
    /// plan is made, and a budget too small refused, before the adjoint and
    /// the tape are allocated.
    pub fn from_simulation(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        mut sim: Simulation,
        steps: usize,
        tape: &TapeOptions,
    ) -> Result<Self, SimError> {
        let steps = steps.max(1);
        if sim.control().steps < steps {
            return Err(SimError::Other(format!(
                "the simulation holds controls for {} substeps, the rollout needs {steps}",
                sim.control().steps
            )));
        }
        let world = &sim.world;
        let state_bytes = world.stored_bytes();
        let fixed = world.solvers.iter().map(|s| s.adjoint_bytes()).sum::<u64>()
            + world.control.buffer.size();
        let cache_bytes = world.cache_bytes();
        let plan = MemoryPlan::new(steps, state_bytes, cache_bytes, fixed, tape)?;
        ctx.check_buffer("stored state", state_bytes)?;
        sim.world.enable_adjoint(ctx)?;

        // The scene's terms split by the solver whose bodies they measure:
        // each becomes a loss set on that solver's points, below.
        let (mpm_terms, other_terms) = split_loss_terms(&sim, &loaded.scene.loss)?;
        let initial_host = sim.state(ctx)?;
        let initial = storage_buffer_zeroed(ctx, "initial state", state_bytes, BufferUse::Storage)?;
        {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            sim.world.encode_save(&mut enc, sim.parity(), &initial);
            ctx.queue.submit([enc.finish()]);
        }
        let mut checkpoints = Vec::with_capacity(plan.checkpoints);
        // (the binomial schedule has no checkpoints: its snapshots are the segment states)
        for i in 0..plan.checkpoints {
            if i < plan.checkpoints - plan.host_checkpoints {
                checkpoints.push(Slot::Gpu(storage_buffer_zeroed(
                    ctx,
                    "checkpoint",
                    state_bytes,
                    BufferUse::Storage,
                )?));
            } else {
                checkpoints.push(Slot::Host(Vec::new()));
            }
        }
        let segment = (0..plan.segment_states)
            .map(|_| storage_buffer_zeroed(ctx, "segment state", state_bytes, BufferUse::Storage))
            .collect::<Result<Vec<_>, _>>()?;
        let caches = (0..plan.stored_grids)
            .map(|_| {
                storage_buffer_zeroed(ctx, "segment replay cache", cache_bytes, BufferUse::Storage)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let transfer =
            storage_buffer_zeroed(ctx, "checkpoint transfer", state_bytes, BufferUse::Storage)?;
        let table: Vec<u32> = (0..=steps as u32).collect();
        let step_table = storage_buffer(
            ctx,
            "step table",
            bytemuck::cast_slice(&table),
            BufferUse::Storage,
        )?;
        let mut rollout = Rollout {
            timer: GpuTimer::disabled(),
            tool_params: loaded
                .scene
                .tools
                .iter()
                .map(|t| [t.friction, t.softness])
                .collect(),
            sim,
            losses: Vec::new(),
            plan,
            steps,
            initial,
            initial_host,
            checkpoints,
            segment,
            caches,
            transfer,
            step_table,
            forward_done: false,
        };
        // The scene's terms on MPM bodies first (their values lead
        // `Gradients::terms`), then each other solver's.
        rollout.add_loss(ctx, loaded, Simulation::MPM, &mpm_terms)?;
        for (solver, terms) in other_terms {
            // A sensor's force terms are the FEM solver's own; the rest
            // measure its points.
            let (force, points): (Vec<_>, Vec<_>) = terms
                .into_iter()
                .partition(|t| matches!(t.kind, ductile_scene::LossKind::ContactForce { .. }));
            if !points.is_empty() {
                rollout.add_loss(ctx, loaded, solver, &points)?;
            }
            for t in force {
                let ductile_scene::LossKind::ContactForce { target, axes } = t.kind else {
                    continue;
                };
                let term = crate::fem::sensor_loss::ForceTarget::new(
                    ctx,
                    &rollout.sim,
                    solver,
                    crate::loss::step_factors(std::slice::from_ref(&t), steps),
                    target,
                    [axes.0, axes.1, axes.2],
                    t.weight,
                )?;
                rollout.add_loss_terms(Box::new(term));
            }
        }
        Ok(rollout)
    }

    /// Substeps T of the rollout.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The MPM adjoint (kernels and buffers).
    pub fn adjoint(&self) -> &MpmAdjoint {
        self.sim
            .mpm()
            .adjoint
            .as_ref()
            .expect("a rollout enables the MPM adjoint when it is built")
    }

    /// The initial state (host copy).
    pub fn initial_state(&self) -> &StateHost {
        &self.initial_host
    }

    /// Replaces the initial state (x, v, C, F, aux; same particle count).
    pub fn set_initial_state(
        &mut self,
        ctx: &GpuContext,
        host: &StateHost,
    ) -> Result<(), SimError> {
        let n = self.sim.particle_count() as usize;
        if host.x.len() != 3 * n
            || host.v.len() != 3 * n
            || host.c.len() != 9 * n
            || host.f.len() != 9 * n
            || host.aux.len() != n
        {
            return Err(SimError::Other(format!(
                "initial state sizes do not match {n} particles"
            )));
        }
        let bytes = pack_state(host, self.sim.config().precision);
        self.set_initial_bytes(ctx, Simulation::MPM, &bytes)?;
        self.initial_host = host.clone();
        Ok(())
    }

    /// Replaces solver `solver`'s part of the initial state with `bytes`,
    /// laid out as the solver stores a state ([`crate::Solver::encode_save`]).
    pub fn set_initial_bytes(
        &mut self,
        ctx: &GpuContext,
        solver: usize,
        bytes: &[u8],
    ) -> Result<(), SimError> {
        let world = &self.sim.world;
        let want = world
            .solvers
            .get(solver)
            .map(|s| s.stored_bytes())
            .ok_or_else(|| SimError::Other(format!("no solver {solver}")))?;
        if bytes.len() as u64 != want {
            return Err(SimError::Other(format!(
                "solver {solver} ({}) stores {want} bytes of state, got {}",
                world.solvers[solver].name(),
                bytes.len()
            )));
        }
        ctx.queue
            .write_buffer(&self.initial, world.stored_offset(solver), bytes);
        self.forward_done = false;
        Ok(())
    }

    /// Solver `solver`'s part of the initial state, as it stores a state (blocking readback).
    pub fn initial_bytes(&self, ctx: &GpuContext, solver: usize) -> Result<Vec<u8>, SimError> {
        let world = &self.sim.world;
        let len = world
            .solvers
            .get(solver)
            .map(|s| s.stored_bytes())
            .ok_or_else(|| SimError::Other(format!("no solver {solver}")))?;
        let all = read_buffer(ctx, &self.initial, world.stored_bytes())?;
        let off = world.stored_offset(solver) as usize;
        Ok(all[off..off + len as usize].to_vec())
    }

    /// The control values (16 per substep and tool; see [`crate::Control`]).
    pub fn control_values(&self) -> &[f64] {
        &self.sim.control().values
    }

    /// Replaces the control values.
    pub fn set_control_values(&mut self, ctx: &GpuContext, values: &[f64]) -> Result<(), SimError> {
        let precision = self.sim.config().precision;
        let control = &mut self.sim.world.control;
        if values.len() != control.values.len() {
            return Err(SimError::Other(format!(
                "control has {} values, got {}",
                control.values.len(),
                values.len()
            )));
        }
        ctx.queue
            .write_buffer(&control.buffer, 0, &reals_to_bytes(values, precision));
        control.values = values.to_vec();
        // Keep the host poses (used to draw the tools) in step with the values.
        let tools = control.tools;
        for (n, row) in control.poses.iter_mut().enumerate() {
            for (t, pose) in row.iter_mut().enumerate() {
                let o = crate::control::control_offset(n, t, tools);
                let v = |a: usize| {
                    glam::DVec3::new(values[o + a], values[o + a + 1], values[o + a + 2])
                };
                pose.position = v(0);
                pose.rotation = glam::DQuat::from_xyzw(
                    values[o + 4],
                    values[o + 5],
                    values[o + 6],
                    values[o + 7],
                );
                pose.linear = v(8);
                pose.angular = v(12);
            }
        }
        self.forward_done = false;
        Ok(())
    }

    /// The material of each body.
    pub fn materials(&self) -> &[Material] {
        self.sim.materials()
    }

    /// Replaces body `body`'s material parameters (same model kind).
    pub fn set_material(
        &mut self,
        ctx: &GpuContext,
        body: usize,
        m: &Material,
    ) -> Result<(), SimError> {
        self.sim.set_material(ctx, body, m)?;
        self.forward_done = false;
        Ok(())
    }

    /// Restricts the loss to substeps `0..=end` (None: the whole rollout);
    /// see [`crate::loss::LossSet::set_window`]. The rollout still runs all
    /// its substeps.
    pub fn set_loss_window(&mut self, ctx: &GpuContext, end: Option<usize>) {
        for l in &mut self.losses {
            l.set_window(ctx, end);
        }
        self.forward_done = false;
    }

    /// Adds loss `terms` on solver `solver`'s points (their `body` indexes
    /// the solver's point-set bodies). Every loss kind works on any solver;
    /// grid-density terms need a solver that bins its points. Terms whose
    /// targets are sampled shapes are sampled like the scene body of the same index.
    pub fn add_loss(
        &mut self,
        ctx: &GpuContext,
        loaded: &LoadedScene,
        solver: usize,
        terms: &[ductile_scene::LossTerm],
    ) -> Result<(), SimError> {
        let world = &self.sim.world;
        let points = world
            .solvers
            .get(solver)
            .ok_or_else(|| SimError::Other(format!("no solver {solver}")))?
            .points(solver);
        let adj = points.adj.ok_or_else(|| {
            SimError::Other(format!("solver {solver} has no adjoint for its points"))
        })?;
        let set = LossSet::new(
            ctx,
            loaded,
            terms,
            self.sim.info(),
            self.steps,
            &LossBindings {
                points: &points,
                adj,
                clock: &world.clock,
                bins: points.bins,
                control: &world.control,
                control_grad: &world.shared_adjoint()?.control_grad,
            },
            world.config,
        )?;
        self.losses.push(Box::new(set));
        self.forward_done = false;
        Ok(())
    }

    /// Adds loss terms that a solver evaluates itself (on its output
    /// buffers: a sensor's forces, markers or image), seeded into its adjoint.
    pub fn add_loss_terms(&mut self, terms: Box<dyn LossTerms>) {
        self.losses.push(terms);
        self.forward_done = false;
    }

    fn loss_active_at(&self, t: usize) -> bool {
        self.losses.iter().any(|l| l.active_at(t))
    }

    /// Every term's value, loss set after loss set (blocking readback).
    fn loss_values(&self, ctx: &GpuContext) -> Result<Vec<f64>, SimError> {
        let p = self.sim.config().precision;
        let mut out = Vec::new();
        for l in &self.losses {
            out.extend(l.values(ctx, p)?);
        }
        Ok(out)
    }

    /// Records the seeds of every term active at the clock's step on state
    /// `parity` into adjoint buffer `cur` (binning the state first when needed).
    fn encode_loss_seed(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        t: usize,
        parity: usize,
        cur: usize,
    ) {
        if !self.loss_active_at(t) {
            return;
        }
        self.bin_for_loss(enc, parity);
        for l in &self.losses {
            if l.active_at(t) {
                l.encode_seed(enc, parity, cur);
            }
        }
    }

    /// Friction and softness [m] of each tool.
    pub fn tool_params(&self) -> &[[f64; 2]] {
        &self.tool_params
    }

    /// Replaces tool `t`'s friction coefficient and softness [m].
    pub fn set_tool_params(
        &mut self,
        ctx: &GpuContext,
        t: usize,
        friction: f64,
        softness: f64,
    ) -> Result<(), SimError> {
        if t >= self.tool_params.len() {
            return Err(SimError::Other(format!("no tool {t}")));
        }
        self.sim.set_tool_contact(ctx, t, friction, softness)?;
        self.tool_params[t] = [friction, softness];
        self.forward_done = false;
        Ok(())
    }

    /// Marks the stored forward pass stale (after a change the rollout does
    /// not see, such as a parameter written into another solver's buffers).
    pub fn invalidate(&mut self) {
        self.forward_done = false;
    }

    fn set_clock(&self, enc: &mut wgpu::CommandEncoder, step: usize) {
        enc.copy_buffer_to_buffer(
            &self.step_table,
            4 * step as u64,
            &self.sim.world.clock,
            0,
            4,
        );
    }

    /// Records the loss terms active at `t` on state `parity` (binning it first when needed).
    fn encode_loss_eval(&mut self, enc: &mut wgpu::CommandEncoder, t: usize, parity: usize) {
        if !self.loss_active_at(t) {
            return;
        }
        self.bin_for_loss(enc, parity);
        for l in &self.losses {
            if l.active_at(t) {
                l.encode_eval(enc, parity);
            }
        }
    }

    fn bin_for_loss(&mut self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        if self.losses.iter().any(|l| l.needs_bins()) {
            if let Some((bins, _)) = self.sim.mpm().p2g.gather_buffers() {
                bins.encode(enc, parity, &mut self.timer);
            }
        }
    }

    fn encode_substep(&mut self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        self.sim
            .world
            .encode_substep_with(enc, parity, &mut self.timer);
    }

    /// Records the backward step of substep `t`: restores state_t into
    /// parity 0 (from `state`, or leaves the one there), sets the clock,
    /// brings the replay inputs back (the couplings' forward, then each
    /// solver's cache from `cache`, or recomputed), runs the world's adjoint
    /// of the substep (∂L/∂state_{t+1} in `cur` → ∂L/∂state_t) and seeds the
    /// loss terms active at t.
    fn encode_reverse_step(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        t: usize,
        state: Option<&wgpu::Buffer>,
        cache: Option<&wgpu::Buffer>,
        cur: &mut usize,
    ) {
        if let Some(src) = state {
            self.sim.world.encode_restore(enc, src, 0);
        }
        self.set_clock(enc, t);
        self.sim
            .world
            .encode_replay_inputs(enc, 0, cache, &mut self.timer);
        self.sim.world.encode_adjoint_substep(enc, *cur);
        *cur = 1 - *cur;
        self.encode_loss_seed(enc, t, 0, *cur);
    }

    /// Runs the rollout from the initial state, keeping checkpoints, and
    /// returns the loss. Stops with [`SimError::Unstable`] if the state blows up.
    pub fn forward(&mut self, ctx: &GpuContext) -> Result<f64, SimError> {
        let k = self.plan.checkpoint_every;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.sim.reset_status(ctx);
        self.sim.world.encode_restore(&mut enc, &self.initial, 0);
        self.set_clock(&mut enc, 0);
        for l in &self.losses {
            l.clear(&mut enc);
        }
        let mut parity = 0;
        self.encode_loss_eval(&mut enc, 0, parity);
        for t in 0..self.steps {
            // (the binomial schedule keeps no checkpoints in the forward pass: k = 0)
            if k > 0 && t % k == 0 {
                let i = t / k;
                match &self.checkpoints[i] {
                    Slot::Gpu(b) => self.sim.world.encode_save(&mut enc, parity, b),
                    Slot::Host(_) => {
                        self.sim.world.encode_save(&mut enc, parity, &self.transfer);
                        ctx.queue.submit([enc.finish()]);
                        let bytes = read_buffer(ctx, &self.transfer, self.plan.state_bytes)?;
                        self.checkpoints[i] = Slot::Host(bytes);
                        enc = ctx.device.create_command_encoder(&Default::default());
                    }
                }
            }
            self.encode_substep(&mut enc, parity);
            parity = 1 - parity;
            self.encode_loss_eval(&mut enc, t + 1, parity);
            if t % 64 == 63 {
                ctx.queue.submit([enc.finish()]);
                enc = ctx.device.create_command_encoder(&Default::default());
            }
        }
        ctx.queue.submit([enc.finish()]);
        self.sim.world.parity = parity;
        self.sim.world.step = self.steps as u64;
        self.sim.check(ctx)?;
        self.forward_done = true;
        Ok(self.loss_values(ctx)?.iter().sum())
    }

    /// Replays the rollout for pictures: resets the simulation to the initial
    /// state at substep 0 (as [`Rollout::forward`] does), runs the same
    /// substeps, and calls `visit(sim, step)` with the state after substep
    /// `step` for each entry of `at` (ascending, in `0..=steps()`; 0 is the
    /// initial state), stopping after the last. Nothing is read back between
    /// visits; before each visit the simulation's health is checked, so a
    /// blow-up is returned as [`SimError::Unstable`] instead of visited.
    /// Keeps no checkpoints and evaluates no loss (a later
    /// [`Rollout::backward`] runs the forward pass again).
    pub fn replay<E: From<SimError>>(
        &mut self,
        ctx: &GpuContext,
        at: &[usize],
        mut visit: impl FnMut(&Simulation, usize) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(&s) = at.iter().find(|&&s| s > self.steps) {
            return Err(SimError::Other(format!(
                "replay: substep {s} is beyond the rollout's {} substeps",
                self.steps
            ))
            .into());
        }
        if at.windows(2).any(|w| w[1] <= w[0]) {
            return Err(SimError::Other("replay: the substeps to visit must ascend".into()).into());
        }
        self.forward_done = false;
        self.sim.reset_status(ctx);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.sim.world.encode_restore(&mut enc, &self.initial, 0);
        self.set_clock(&mut enc, 0);
        let mut parity = 0;
        let mut t = 0;
        for &stop in at {
            while t < stop {
                self.encode_substep(&mut enc, parity);
                parity = 1 - parity;
                t += 1;
                if t % 64 == 0 {
                    ctx.queue.submit([enc.finish()]);
                    enc = ctx.device.create_command_encoder(&Default::default());
                }
            }
            ctx.queue.submit([enc.finish()]);
            enc = ctx.device.create_command_encoder(&Default::default());
            self.sim.world.parity = parity;
            self.sim.world.step = t as u64;
            self.sim.check(ctx)?;
            visit(&self.sim, t)?;
        }
        ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    /// Zeroes every adjoint and seeds the terms on the final state.
    fn encode_backward_start(&mut self, enc: &mut wgpu::CommandEncoder) {
        self.sim.world.encode_clear_adjoint(enc);
        let t_end = self.steps;
        if self.loss_active_at(t_end) {
            self.set_clock(enc, t_end);
            let parity = self.sim.parity();
            self.encode_loss_seed(enc, t_end, parity, 0);
        }
    }

    /// Runs the backward pass after [`Rollout::forward`] and returns every gradient.
    pub fn backward(&mut self, ctx: &GpuContext) -> Result<Gradients, SimError> {
        if !self.forward_done {
            self.forward(ctx)?;
        }
        let terms = self.loss_values(ctx)?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        self.encode_backward_start(&mut enc);
        let mut cur = 0;
        if self.plan.schedule == Schedule::Binomial {
            ctx.queue.submit([enc.finish()]);
            // Slot `None` is the initial state; Some(i) a snapshot.
            self.reverse(ctx, 0, self.steps, None, 0, &mut cur)?;
            enc = ctx.device.create_command_encoder(&Default::default());
        } else {
            enc = self.backward_uniform(ctx, enc, &mut cur)?;
        }
        // State 0 is in parity 0: what follows the last reversed substep.
        self.sim.world.encode_adjoint_initial(&mut enc, cur);
        ctx.queue.submit([enc.finish()]);
        self.read_gradients(ctx, cur, terms)
    }

    /// The uniform schedule: each segment restored from its checkpoint,
    /// replayed once (storing its states and replay caches), then reversed.
    fn backward_uniform(
        &mut self,
        ctx: &GpuContext,
        mut enc: wgpu::CommandEncoder,
        cur: &mut usize,
    ) -> Result<wgpu::CommandEncoder, SimError> {
        let k = self.plan.checkpoint_every;
        let t_end = self.steps;
        let keep = !self.caches.is_empty();
        for seg in (0..t_end.div_ceil(k)).rev() {
            let s0 = seg * k;
            let s1 = (s0 + k).min(t_end);
            // Restore the checkpoint and replay the segment, storing its states.
            match &self.checkpoints[seg] {
                Slot::Gpu(b) => self.sim.world.encode_restore(&mut enc, b, 0),
                Slot::Host(bytes) => {
                    ctx.queue.submit([enc.finish()]);
                    ctx.queue.write_buffer(&self.transfer, 0, bytes);
                    enc = ctx.device.create_command_encoder(&Default::default());
                    self.sim.world.encode_restore(&mut enc, &self.transfer, 0);
                }
            }
            self.set_clock(&mut enc, s0);
            let mut parity = 0;
            for t in s0..s1 {
                self.sim
                    .world
                    .encode_save(&mut enc, parity, &self.segment[t - s0]);
                if t + 1 < s1 {
                    self.encode_substep(&mut enc, parity);
                    parity = 1 - parity;
                } else if keep {
                    self.sim
                        .world
                        .encode_replay_inputs(&mut enc, parity, None, &mut self.timer);
                }
                if keep {
                    // (a substep leaves its replay cache in place)
                    self.sim
                        .world
                        .encode_save_cache(&mut enc, &self.caches[t - s0]);
                }
            }
            // Adjoints in reverse.
            for t in (s0..s1).rev() {
                let state = self.segment[t - s0].clone();
                let cache = keep.then(|| self.caches[t - s0].clone());
                self.encode_reverse_step(&mut enc, t, Some(&state), cache.as_ref(), cur);
            }
            ctx.queue.submit([enc.finish()]);
            enc = ctx.device.create_command_encoder(&Default::default());
        }
        Ok(enc)
    }

    fn slot_buffer(&self, slot: Option<usize>) -> &wgpu::Buffer {
        match slot {
            None => &self.initial,
            Some(i) => &self.segment[i],
        }
    }

    /// Reverses substeps [a, b) given state_a in `slot`, with snapshot slots
    /// `next..` free (binomial recursion).
    fn reverse(
        &mut self,
        ctx: &GpuContext,
        a: usize,
        b: usize,
        slot: Option<usize>,
        next: usize,
        cur: &mut usize,
    ) -> Result<(), SimError> {
        if b <= a {
            return Ok(());
        }
        let free = self.segment.len() - next;
        if b - a == 1 || free == 0 {
            // Reverse each substep, replaying from state_a (quadratic when no slot is free).
            for t in (a..b).rev() {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                let src = self.slot_buffer(slot).clone();
                self.sim.world.encode_restore(&mut enc, &src, 0);
                self.set_clock(&mut enc, a);
                let mut parity = 0;
                for _ in a..t {
                    self.encode_substep(&mut enc, parity);
                    parity = 1 - parity;
                }
                let state = if parity != 0 {
                    self.sim.world.encode_save(&mut enc, parity, &self.transfer);
                    Some(self.transfer.clone())
                } else {
                    None
                };
                self.encode_reverse_step(&mut enc, t, state.as_ref(), None, cur);
                ctx.queue.submit([enc.finish()]);
            }
            return Ok(());
        }
        let m = binomial_split(a, b, free);
        // Advance a → m and store state_m in slot `next`.
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let src = self.slot_buffer(slot).clone();
        self.sim.world.encode_restore(&mut enc, &src, 0);
        self.set_clock(&mut enc, a);
        let mut parity = 0;
        for _ in a..m {
            self.encode_substep(&mut enc, parity);
            parity = 1 - parity;
        }
        self.sim
            .world
            .encode_save(&mut enc, parity, &self.segment[next]);
        ctx.queue.submit([enc.finish()]);
        self.reverse(ctx, m, b, Some(next), next + 1, cur)?;
        self.reverse(ctx, a, m, slot, next, cur)
    }

    /// Wall time [s] of each stage of one backward substep, averaged over
    /// `reps` repetitions, each stage submitted and waited for on its own
    /// (for profiling; needs a forward pass first).
    pub fn profile_backward_step(
        &mut self,
        ctx: &GpuContext,
        reps: u32,
    ) -> Result<Vec<(&'static str, f64)>, SimError> {
        let keep = !self.caches.is_empty();
        let mut out = vec![
            ("restore", 0.0),
            (
                if keep {
                    "p2g result restore"
                } else {
                    "p2g recompute"
                },
                0.0,
            ),
            ("g2p_adj + g2p_grid_adj", 0.0),
            ("grid_update_adj", 0.0),
            ("p2g_adj", 0.0),
            ("forward substep", 0.0),
        ];
        for _ in 0..reps {
            for (i, slot) in out.iter_mut().enumerate() {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                let t0 = std::time::Instant::now();
                match i {
                    0 => self.sim.world.encode_restore(&mut enc, &self.segment[0], 0),
                    1 => {
                        let cache = keep.then(|| self.caches[0].clone());
                        self.sim.world.encode_replay_inputs(
                            &mut enc,
                            0,
                            cache.as_ref(),
                            &mut self.timer,
                        )
                    }
                    2 => self.adjoint().encode_part(&mut enc, 0, 0),
                    3 => self.adjoint().encode_part(&mut enc, 0, 1),
                    4 => self.adjoint().encode_part(&mut enc, 0, 2),
                    _ => self.encode_substep(&mut enc, 0),
                }
                ctx.queue.submit([enc.finish()]);
                ctx.wait()?;
                slot.1 += t0.elapsed().as_secs_f64() / reps as f64;
            }
        }
        Ok(out)
    }

    fn read_gradients(
        &self,
        ctx: &GpuContext,
        cur: usize,
        terms: Vec<f64>,
    ) -> Result<Gradients, SimError> {
        let p = self.sim.config().precision;
        let get = |b: &wgpu::Buffer, len: usize| -> Result<Vec<f64>, SimError> {
            Ok(ductile_gpu::bytes_to_reals(
                &read_buffer(ctx, b, len as u64 * p.bytes())?,
                p,
            ))
        };
        let shared = self.sim.world.shared_adjoint()?;
        let control = get(&shared.control_grad, self.sim.control().values.len())?;
        let nt = self.tool_params.len();
        let tp = get(&shared.tool_param_grad, 2 * nt.max(1))?;
        let mpm = self.sim.mpm().read_typed_gradients(ctx, cur)?;
        let solvers = self
            .sim
            .world
            .solvers
            .iter()
            .map(|s| s.read_gradients(ctx, cur))
            .collect::<Result<Vec<_>, _>>()?;
        let mut couplings = Vec::new();
        for c in &self.sim.world.couplings {
            couplings.extend(c.read_gradients(ctx)?);
        }
        Ok(Gradients {
            loss: terms.iter().sum(),
            terms,
            x0: mpm.x0,
            v0: mpm.v0,
            c0: mpm.c0,
            f0: mpm.f0,
            aux0: mpm.aux0,
            control,
            tool_friction: (0..nt).map(|t| tp[2 * t]).collect(),
            tool_softness: (0..nt).map(|t| tp[2 * t + 1]).collect(),
            bodies: mpm.bodies,
            solvers,
            couplings,
        })
    }
}

/// A scene's loss terms split by solver: those on MPM bodies, then per
/// other solver (its world index) those on its bodies.
pub type SplitTerms = (
    Vec<ductile_scene::LossTerm>,
    Vec<(usize, Vec<ductile_scene::LossTerm>)>,
);

/// Splits a scene's loss terms into those on MPM bodies and, per other
/// solver, those on its bodies (renumbered within its point set), in order.
pub fn split_loss_terms(
    sim: &Simulation,
    terms: &[ductile_scene::LossTerm],
) -> Result<SplitTerms, SimError> {
    let mut mpm = Vec::new();
    let mut others: Vec<(usize, Vec<ductile_scene::LossTerm>)> = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        let (solver, body) = sim
            .body_solver(t.body)
            .ok_or_else(|| SimError::Other(format!("loss[{i}].body {} names no body", t.body)))?;
        if solver == Simulation::MPM {
            mpm.push(t.clone());
            continue;
        }
        let term = ductile_scene::LossTerm { body, ..t.clone() };
        match others.iter_mut().find(|(s, _)| *s == solver) {
            Some((_, list)) => list.push(term),
            None => others.push((solver, vec![term])),
        }
    }
    Ok((mpm, others))
}

/// Packs x, v, C, F, aux into one stored-state byte buffer.
fn pack_state(h: &StateHost, p: Precision) -> Vec<u8> {
    let mut all = Vec::with_capacity(h.x.len() * 25 / 3);
    for (part, k) in [(&h.x, 3), (&h.v, 3), (&h.c, 9), (&h.f, 9), (&h.aux, 1)] {
        all.extend_from_slice(&field_to_gpu(part, k));
    }
    reals_to_bytes(&all, p)
}
