//! The multi-solver runtime: the [`Solver`] and [`Coupling`] interfaces and
//! the [`World`] that holds what solvers share.
//!
//! A world holds the substep clock, the status word, the tools (their
//! shapes in [`ToolSet`], their per-substep poses in [`Control`]),
//! its solvers (MPM first; FEM, shells and rods plug in the same way) and the
//! couplings between them. One substep is a fixed sequence:
//!
//! 1. each solver clears the inputs couplings add into (only when the world has couplings);
//! 2. each coupling's forward, in order: reads state_t of the solvers it
//!    joins and adds forces into their coupling inputs (for MPM: the
//!    external force per grid node);
//! 3. each solver's substep, in order: state_t (plus its coupling inputs) → state_{t+1};
//! 4. the clock advances.
//!
//! The adjoint of a substep walks the same sequence backwards: solvers in
//! reverse order, each reading ∂L/∂state_{t+1} from its adjoint buffer `cur`
//! and writing ∂L/∂state_t (and ∂L/∂ of its coupling inputs) into `1 − cur`;
//! then couplings in reverse order, adding into the solvers' ∂L/∂state_t.
//! Every solver and coupling adds its control and tool-parameter gradients
//! into the one [`SharedAdjoint`].
//!
//! Nothing here reads back or polls: every method that takes an encoder only
//! records commands. The checkpointed tape ([`crate::tape`]) drives a world
//! through these calls and never names a solver's fields.

use crate::control::Control;
use crate::error::SimError;
use crate::tools::ToolSet;
use ductile_gpu::{
    storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext, GpuTimer, Kernel, ShaderConfig,
};
use std::any::Any;
use std::ops::Range;

/// Status word written by any kernel that detects a failure (u32 × 4): the
/// first failing substep (`u32::MAX` while healthy), the failing item
/// (particle, node, vertex), flags (bit 0: non-finite; else: left the
/// domain), and the index of the solver that wrote it.
pub const STATUS_HEALTHY: [u32; 4] = [u32::MAX, u32::MAX, 0, 0];

/// Copies `fields` (each `bytes` long, from its start) one after another
/// into `dst` from byte `offset`: the body of [`Solver::encode_save`] for a
/// solver whose stored state is a few whole buffers (positions and
/// velocities, say).
pub fn encode_save_fields(
    enc: &mut wgpu::CommandEncoder,
    fields: &[&wgpu::Buffer],
    bytes: u64,
    dst: &wgpu::Buffer,
    offset: u64,
) {
    for (k, f) in fields.iter().enumerate() {
        enc.copy_buffer_to_buffer(f, 0, dst, offset + k as u64 * bytes, bytes);
    }
}

/// The inverse of [`encode_save_fields`]: copies `bytes` per field from
/// `src` at byte `offset` back into `fields`, in the same order.
pub fn encode_restore_fields(
    enc: &mut wgpu::CommandEncoder,
    src: &wgpu::Buffer,
    offset: u64,
    fields: &[&wgpu::Buffer],
    bytes: u64,
) {
    for (k, f) in fields.iter().enumerate() {
        enc.copy_buffer_to_buffer(src, offset + k as u64 * bytes, f, 0, bytes);
    }
}

/// One body of a point set: its name, its points' index range and their mass.
#[derive(Clone, Debug)]
pub struct PointBody {
    /// The body's name in the scene.
    pub name: String,
    /// Indices of its points in the set.
    pub range: Range<u32>,
    /// Mass of each of its points [kg].
    pub point_mass: f64,
}

/// A solver's points as losses, rendering, outputs and couplings see them.
///
/// Layout contract (shared by every solver, so that the loss kernels of
/// `shaders/loss/loss.wgsl` run on any of them):
/// - `x[parity]`, `v[parity]`: 3 Reals per point, point-major (x₀ y₀ z₀ x₁ …),
///   positions [m] and velocities [m/s];
/// - `adj[cur]` (gradients only): ∂L/∂x at entries 0–2 and ∂L/∂v at
///   entries 3–5, stored entry-major (entry e of point p at e·count + p);
/// - `tags`: u32 per point, body index in the low 8 bits (see `tag_body`
///   in `shaders/mpm/params.wgsl`), a release substep in the high 24 (0 for
///   solvers without emitters);
/// - `params`: a `Params` uniform (`shaders/mpm/params.wgsl`: domain grid,
///   dt, gravity, tools, control steps) whose particle count is `count`.
pub struct PointSet<'a> {
    /// Index of the solver in its world.
    pub solver: usize,
    /// Number of points.
    pub count: u32,
    /// Positions per state parity.
    pub x: [&'a wgpu::Buffer; 2],
    /// Velocities per state parity.
    pub v: [&'a wgpu::Buffer; 2],
    /// Adjoint states (ping-pong), once gradients are enabled.
    pub adj: Option<[&'a wgpu::Buffer; 2]>,
    /// Per-point tags (body index in the low 8 bits).
    pub tags: &'a wgpu::Buffer,
    /// The scene uniform with this set's count.
    pub params: &'a wgpu::Buffer,
    /// Bodies, in index order.
    pub bodies: Vec<PointBody>,
    /// A binning of the points by grid cell, when the solver keeps one
    /// (needed by grid-density loss terms; MPM's gather P2G has it).
    pub bins: Option<&'a crate::mpm::bin::Binning>,
}

/// A solver's deforming triangle surface, packed for drawing and output:
/// `vertices` holds `[f32; 4]` per vertex (x, y, z [m], unused), written by
/// [`Solver::encode_render_pack`]; `indices` 3 `u32` per triangle.
pub struct SurfaceView<'a> {
    /// Packed vertex positions.
    pub vertices: &'a wgpu::Buffer,
    /// Triangle corners.
    pub indices: &'a wgpu::Buffer,
    /// Number of vertices.
    pub vertex_count: u32,
    /// Number of triangles.
    pub triangles: u32,
}

/// A solver's polylines (rod centrelines), packed for drawing: `vertices`
/// holds `[f32; 4]` per vertex (x, y, z [m], tube radius [m]), written by
/// [`Solver::encode_render_pack`]; `segments` 2 `u32` per segment.
pub struct TubesView<'a> {
    /// Packed vertices.
    pub vertices: &'a wgpu::Buffer,
    /// Segment ends.
    pub segments: &'a wgpu::Buffer,
    /// Number of segments.
    pub count: u32,
}

/// Gradients a solver reads out after a backward pass, as named groups of
/// values (the solver's own typed readout may say more; MPM's fills
/// [`crate::Gradients`]' particle fields).
#[derive(Clone, Debug, Default)]
pub struct SolverGradients {
    /// The solver's name.
    pub solver: String,
    /// (group name, values): for example `("x0", 3 per point)`.
    pub groups: Vec<(String, Vec<f64>)>,
}

impl SolverGradients {
    /// The values of group `name`, if the solver reported it.
    pub fn group(&self, name: &str) -> Option<&[f64]> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Gradient buffers every solver and coupling adds into.
pub struct SharedAdjoint {
    /// ∂L/∂control, laid out as the Control buffer (16 Reals per substep and tool).
    pub control_grad: wgpu::Buffer,
    /// ∂L/∂(friction, softness) per tool (2 Reals each).
    pub tool_param_grad: wgpu::Buffer,
}

impl SharedAdjoint {
    fn new(
        ctx: &GpuContext,
        control: &Control,
        tools: usize,
        config: ShaderConfig,
    ) -> Result<Self, SimError> {
        let r = config.precision.bytes();
        Ok(SharedAdjoint {
            control_grad: storage_buffer_zeroed(
                ctx,
                "control adjoint",
                control.buffer.size(),
                BufferUse::Storage,
            )?,
            tool_param_grad: storage_buffer_zeroed(
                ctx,
                "tool parameter adjoint",
                2 * tools.max(1) as u64 * r,
                BufferUse::Storage,
            )?,
        })
    }

    /// Records the zeroing of both buffers.
    pub fn encode_clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.control_grad, 0, None);
        enc.clear_buffer(&self.tool_param_grad, 0, None);
    }
}

/// What a solver may bind from the world when it builds its kernels.
pub struct WorldBuffers<'a> {
    /// Substep counter (u32), advanced once per substep by the world.
    pub clock: &'a wgpu::Buffer,
    /// The status word ([`STATUS_HEALTHY`] while healthy).
    pub status: &'a wgpu::Buffer,
    /// The tools' per-substep poses and velocities.
    pub control: &'a Control,
    /// The tools' shape records and signed-distance grids.
    pub tools: &'a ToolSet,
    /// Precision and atomics of every kernel.
    pub config: ShaderConfig,
    /// The shared gradient buffers (when gradients are enabled).
    pub adjoint: Option<&'a SharedAdjoint>,
}

/// A solver of the world: owns its model and state buffers (two states,
/// ping-pong by parity) and records its kernels into the encoders the world
/// gives it. See `ARCHITECTURE.md`, "Adding a solver".
pub trait Solver: Any {
    /// A short name for reports (`"mpm"`).
    fn name(&self) -> &str;

    /// Records one substep: reads state `parity` (and the coupling inputs),
    /// writes state `1 − parity`. No readback, no allocation.
    fn encode_substep(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        timer: &mut GpuTimer,
    );

    /// Zeroes the buffers couplings add into (called once per substep,
    /// before the couplings' forward, only when the world has couplings).
    fn encode_clear_coupling_inputs(&self, _enc: &mut wgpu::CommandEncoder) {}

    /// Allocates the buffers couplings add into and makes the substep read
    /// them (a solver without couplings reads none: no cost). Called through
    /// [`World::enable_coupling_inputs`] before a coupling binds them, and
    /// before gradients are enabled.
    fn enable_coupling_inputs(&mut self, _ctx: &GpuContext) -> Result<(), SimError> {
        Ok(())
    }

    /// Bytes of one stored state (what a checkpoint keeps of this solver).
    fn stored_bytes(&self) -> u64;

    /// Copies state `parity`'s stored fields into `dst` at byte `offset`.
    fn encode_save(
        &self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        dst: &wgpu::Buffer,
        offset: u64,
    );

    /// Copies stored fields from `src` at `offset` into state `parity`, and
    /// recomputes what the state derives from them (MPM: the stress τ).
    fn encode_restore(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
        parity: usize,
    );

    /// Bytes of the replay cache: what the backward pass keeps per substep
    /// of a segment instead of recomputing it (MPM: the P2G result). 0: none.
    fn cache_bytes(&self) -> u64 {
        0
    }

    /// Copies the replay cache of the substep just run (or just recomputed)
    /// into `dst` at `offset`: a substep must leave its cache in place.
    fn encode_save_cache(
        &self,
        _enc: &mut wgpu::CommandEncoder,
        _dst: &wgpu::Buffer,
        _offset: u64,
    ) {
    }

    /// Copies a saved replay cache back.
    fn encode_restore_cache(
        &self,
        _enc: &mut wgpu::CommandEncoder,
        _src: &wgpu::Buffer,
        _offset: u64,
    ) {
    }

    /// Recomputes the replay cache from state `parity` (after the couplings'
    /// forward of the same substep), without writing state `1 − parity`.
    fn encode_recompute_cache(
        &mut self,
        _enc: &mut wgpu::CommandEncoder,
        _parity: usize,
        _timer: &mut GpuTimer,
    ) {
    }

    /// Bytes [`Solver::enable_adjoint`] will allocate (for the tape's memory
    /// plan, made before anything is allocated).
    fn adjoint_bytes(&self) -> u64;

    /// Builds the adjoint kernels and buffers (once, before the first
    /// backward pass); returns the bytes allocated.
    fn enable_adjoint(&mut self, ctx: &GpuContext, world: &WorldBuffers) -> Result<u64, SimError>;

    /// Zeroes the adjoint states and the solver's parameter adjoints.
    fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder);

    /// Records the adjoint of one substep whose state_t is in parity 0:
    /// reads ∂L/∂state_{t+1} from adjoint buffer `cur`, writes ∂L/∂state_t
    /// into `1 − cur` (and ∂L/∂ of its coupling inputs), adds to its
    /// parameter adjoints and to the shared adjoint.
    fn encode_adjoint_substep(&self, enc: &mut wgpu::CommandEncoder, cur: usize);

    /// Records what follows the last reversed substep, on ∂L/∂state_0 in
    /// `cur` (MPM: the adjoint of the initial stress).
    fn encode_adjoint_initial(&self, _enc: &mut wgpu::CommandEncoder, _cur: usize) {}

    /// Reads back the gradients of the initial state (adjoint buffer `cur`
    /// after the backward pass) and of the solver's parameters.
    fn read_gradients(&self, ctx: &GpuContext, cur: usize) -> Result<SolverGradients, SimError>;

    /// The solver's points (for losses, rendering, outputs and couplings).
    fn points(&self, solver: usize) -> PointSet<'_>;

    /// Records the packing of state `parity` for drawing ([`Solver::surface`]'s
    /// and [`Solver::tubes`]' vertices), with each vertex's fourth component
    /// as `color` asks (a solver without the quantity writes 0 and reports
    /// [`Solver::render_scalar`] false); solvers with neither record nothing.
    /// Outside the step loop: it may write a small uniform through `ctx`.
    fn encode_render_pack(
        &self,
        _ctx: &GpuContext,
        _enc: &mut wgpu::CommandEncoder,
        _parity: usize,
        _color: crate::PackColor,
    ) {
    }

    /// Whether the last packing wrote a scalar in [0, 1] per vertex (drawn
    /// through the colormap) rather than nothing (drawn in the solver's colour).
    fn render_scalar(&self, _color: crate::PackColor) -> bool {
        false
    }

    /// The solver's deforming surface, if it has one (FEM pads, shells); the
    /// renderer draws it straight from these buffers and `ductile run`
    /// writes it as PLY. MPM draws its particles instead.
    fn surface(&self) -> Option<SurfaceView<'_>> {
        None
    }

    /// The solver's polylines drawn as tubes (rods), if it has any.
    fn tubes(&self) -> Option<TubesView<'_>> {
        None
    }

    /// Names the item of a failure reported in the status word (`what` of
    /// item `index`, for example "particle 12 of body `water`").
    fn describe_item(&self, index: u32) -> String;

    /// For downcasting to the concrete solver.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete solver.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A coupling between solvers (or a solver and the tools): forces computed
/// from state_t and added into the coupling inputs of the solvers it joins,
/// with their adjoint.
pub trait Coupling: Any {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Records the forward: reads state `parity` of the joined solvers and
    /// adds into their coupling inputs.
    fn encode_forward(&self, enc: &mut wgpu::CommandEncoder, parity: usize);

    /// Builds the adjoint kernels once every solver's adjoint exists.
    fn enable_adjoint(
        &mut self,
        ctx: &GpuContext,
        solvers: &[Box<dyn Solver>],
        world: &WorldBuffers,
    ) -> Result<(), SimError>;

    /// Records the adjoint after the solvers' adjoints of the same substep:
    /// reads ∂L/∂(coupling inputs) and state_t (parity 0), adds into the
    /// joined solvers' ∂L/∂state_t (adjoint buffers `1 − cur`).
    fn encode_adjoint(&self, enc: &mut wgpu::CommandEncoder, cur: usize);

    /// Zeroes the coupling's own parameter adjoints (if it has any).
    fn encode_clear_adjoint(&self, _enc: &mut wgpu::CommandEncoder) {}

    /// Reads back the gradients of the coupling's own parameters (contact
    /// stiffness, say) as named groups; `None` when it has none.
    fn read_gradients(&self, _ctx: &GpuContext) -> Result<Option<SolverGradients>, SimError> {
        Ok(None)
    }

    /// For downcasting to the concrete coupling.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting to the concrete coupling.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Solvers, couplings and what they share.
pub struct World {
    /// The solvers, in substep order.
    pub solvers: Vec<Box<dyn Solver>>,
    /// The couplings, in substep order (all run before the solvers).
    pub couplings: Vec<Box<dyn Coupling>>,
    /// Per-substep tool controls.
    pub control: Control,
    /// The tools every solver collides with (`shaders/common/tools.wgsl`).
    pub tools: ToolSet,
    /// Substep counter read by the kernels (u32).
    pub clock: wgpu::Buffer,
    /// The status word (see [`STATUS_HEALTHY`]).
    pub status: wgpu::Buffer,
    /// Precision and atomics in use.
    pub config: ShaderConfig,
    /// Index of the current state of every solver.
    pub parity: usize,
    /// Substeps taken.
    pub step: u64,
    /// Substep length [s].
    pub dt: f64,
    /// Per-pass GPU times.
    pub timer: GpuTimer,
    /// The shared gradient buffers, once gradients are enabled.
    pub adjoint: Option<SharedAdjoint>,
    clock_kernel: Kernel,
    bg_clock: wgpu::BindGroup,
}

impl World {
    /// An empty world with its clock, status and control.
    pub fn new(
        ctx: &GpuContext,
        control: Control,
        tools: ToolSet,
        dt: f64,
        config: ShaderConfig,
        timer: GpuTimer,
    ) -> Result<Self, SimError> {
        let clock = storage_buffer(
            ctx,
            "clock",
            bytemuck::cast_slice(&[0u32; 4]),
            BufferUse::Storage,
        )?;
        let status = storage_buffer(
            ctx,
            "status",
            bytemuck::cast_slice(&STATUS_HEALTHY),
            BufferUse::Storage,
        )?;
        let clock_kernel = Kernel::new(ctx, "common/clock", "advance_clock", config)?;
        let bg_clock = clock_kernel.bind(ctx, 0, &[&clock]);
        Ok(World {
            solvers: Vec::new(),
            couplings: Vec::new(),
            control,
            tools,
            clock,
            status,
            config,
            parity: 0,
            step: 0,
            dt,
            timer,
            adjoint: None,
            clock_kernel,
            bg_clock,
        })
    }

    /// What solvers may bind.
    pub fn buffers(&self) -> WorldBuffers<'_> {
        WorldBuffers {
            clock: &self.clock,
            status: &self.status,
            control: &self.control,
            tools: &self.tools,
            config: self.config,
            adjoint: self.adjoint.as_ref(),
        }
    }

    /// Adds a solver after the existing ones; returns its index.
    pub fn add_solver(&mut self, s: Box<dyn Solver>) -> usize {
        self.solvers.push(s);
        self.solvers.len() - 1
    }

    /// Makes solver `i` allocate and read its coupling inputs (see
    /// [`Solver::enable_coupling_inputs`]); a coupling calls this for each
    /// solver it joins before it binds their buffers.
    pub fn enable_coupling_inputs(&mut self, ctx: &GpuContext, i: usize) -> Result<(), SimError> {
        if self.adjoint.is_some() {
            return Err(SimError::Other(
                "couplings must be added before gradients are enabled".into(),
            ));
        }
        self.solvers
            .get_mut(i)
            .ok_or_else(|| SimError::Other(format!("no solver {i}")))?
            .enable_coupling_inputs(ctx)
    }

    /// Adds a coupling after the existing ones.
    pub fn add_coupling(&mut self, c: Box<dyn Coupling>) {
        self.couplings.push(c);
    }

    /// Solver `i` as its concrete type, if it is one.
    pub fn solver<S: Solver>(&self, i: usize) -> Option<&S> {
        self.solvers.get(i)?.as_any().downcast_ref::<S>()
    }

    /// Solver `i` as its concrete type, if it is one.
    pub fn solver_mut<S: Solver>(&mut self, i: usize) -> Option<&mut S> {
        self.solvers.get_mut(i)?.as_any_mut().downcast_mut::<S>()
    }

    /// Index of the first solver of type `S`.
    pub fn find<S: Solver>(&self) -> Option<usize> {
        self.solvers.iter().position(|s| s.as_any().is::<S>())
    }

    /// Bytes of one stored state of the whole world.
    pub fn stored_bytes(&self) -> u64 {
        self.solvers.iter().map(|s| s.stored_bytes()).sum()
    }

    /// Byte offset of solver `i`'s part of a stored world state.
    pub fn stored_offset(&self, i: usize) -> u64 {
        self.solvers[..i].iter().map(|s| s.stored_bytes()).sum()
    }

    /// Bytes of one substep's replay cache of the whole world.
    pub fn cache_bytes(&self) -> u64 {
        self.solvers.iter().map(|s| s.cache_bytes()).sum()
    }

    /// Records couplings' forward for state `parity` (clearing their targets first).
    pub fn encode_couplings(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        if self.couplings.is_empty() {
            return;
        }
        for s in &self.solvers {
            s.encode_clear_coupling_inputs(enc);
        }
        for c in &self.couplings {
            c.encode_forward(enc, parity);
        }
    }

    /// Records one substep from state `parity`, using `timer` for pass
    /// times (the world's own, or a tape's), and advances the clock.
    pub fn encode_substep_with(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        timer: &mut GpuTimer,
    ) {
        self.encode_couplings(enc, parity);
        for s in &mut self.solvers {
            s.encode_substep(enc, parity, timer);
        }
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("clock"),
            timestamp_writes: None,
        });
        self.clock_kernel
            .dispatch(&mut pass, &[&self.bg_clock], [1, 1, 1]);
    }

    /// Records `substeps` substeps from the current state (no readback, no allocation).
    pub fn encode_substeps(&mut self, enc: &mut wgpu::CommandEncoder, substeps: u32) {
        let mut timer = std::mem::replace(&mut self.timer, GpuTimer::disabled());
        for _ in 0..substeps {
            self.encode_substep_with(enc, self.parity, &mut timer);
            self.parity = 1 - self.parity;
            self.step += 1;
        }
        self.timer = timer;
    }

    /// Copies every solver's stored state `parity` into `dst` (from byte 0).
    pub fn encode_save(&self, enc: &mut wgpu::CommandEncoder, parity: usize, dst: &wgpu::Buffer) {
        let mut off = 0;
        for s in &self.solvers {
            s.encode_save(enc, parity, dst, off);
            off += s.stored_bytes();
        }
    }

    /// Copies a stored world state from `src` into state `parity`.
    pub fn encode_restore(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        parity: usize,
    ) {
        let mut off = 0;
        for s in &self.solvers {
            s.encode_restore(enc, src, off, parity);
            off += s.stored_bytes();
        }
    }

    /// Saves every solver's replay cache into `dst`.
    pub fn encode_save_cache(&self, enc: &mut wgpu::CommandEncoder, dst: &wgpu::Buffer) {
        let mut off = 0;
        for s in &self.solvers {
            s.encode_save_cache(enc, dst, off);
            off += s.cache_bytes();
        }
    }

    /// Prepares the backward step of a substep whose state_t is in `parity`
    /// and whose clock is set: the couplings' forward, then each solver's
    /// replay cache, restored from `cache` when given, else recomputed.
    pub fn encode_replay_inputs(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        cache: Option<&wgpu::Buffer>,
        timer: &mut GpuTimer,
    ) {
        self.encode_couplings(enc, parity);
        let mut off = 0;
        for s in &mut self.solvers {
            match cache {
                Some(c) => s.encode_restore_cache(enc, c, off),
                None => s.encode_recompute_cache(enc, parity, timer),
            }
            off += s.cache_bytes();
        }
    }

    /// Builds every solver's and coupling's adjoint and the shared adjoint
    /// (once); returns the bytes the solvers allocated.
    pub fn enable_adjoint(&mut self, ctx: &GpuContext) -> Result<u64, SimError> {
        if self.adjoint.is_some() {
            return Ok(0);
        }
        let tools = self.control.tools;
        self.adjoint = Some(SharedAdjoint::new(ctx, &self.control, tools, self.config)?);
        let mut bytes = 0;
        let mut solvers = std::mem::take(&mut self.solvers);
        let mut couplings = std::mem::take(&mut self.couplings);
        let result = (|| {
            for s in &mut solvers {
                bytes += s.enable_adjoint(ctx, &self.buffers())?;
            }
            for c in &mut couplings {
                c.enable_adjoint(ctx, &solvers, &self.buffers())?;
            }
            Ok::<(), SimError>(())
        })();
        self.solvers = solvers;
        self.couplings = couplings;
        result?;
        Ok(bytes)
    }

    /// The shared adjoint, or an error when gradients were not enabled.
    pub fn shared_adjoint(&self) -> Result<&SharedAdjoint, SimError> {
        self.adjoint
            .as_ref()
            .ok_or_else(|| SimError::Other("gradients are not enabled on this world".into()))
    }

    /// Zeroes every adjoint buffer.
    pub fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(a) = &self.adjoint {
            a.encode_clear(enc);
        }
        for s in &self.solvers {
            s.encode_clear_adjoint(enc);
        }
        for c in &self.couplings {
            c.encode_clear_adjoint(enc);
        }
    }

    /// Records the adjoint of one substep (state_t in parity 0, its replay
    /// inputs in place): solvers in reverse, then couplings in reverse.
    pub fn encode_adjoint_substep(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        for s in self.solvers.iter().rev() {
            s.encode_adjoint_substep(enc, cur);
        }
        for c in self.couplings.iter().rev() {
            c.encode_adjoint(enc, cur);
        }
    }

    /// Records what follows the last reversed substep (∂L/∂state_0 in `cur`).
    pub fn encode_adjoint_initial(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        for s in &self.solvers {
            s.encode_adjoint_initial(enc, cur);
        }
    }
}
