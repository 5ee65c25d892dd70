//! The adjoint of one MPM substep, as three kernels run in reverse order of
//! the forward stages (after the forward P2G of the same substep has been
//! recomputed in gather mode, so that the grid, `grid_raw` and the binning of
//! state_t are current):
//!
//! | stage | shader |
//! |---|---|
//! | rigid projection adjoint (rigid bodies only; rewrites ∂L/∂state_{t+1} in place) | `mpm/rigid_adj.wgsl` (`rigid_project_adj`) |
//! | G2P adjoint, particle side: stress, plasticity, F and x updates | `mpm/g2p_adj.wgsl` (`g2p_adj`) |
//! | G2P adjoint, grid side (per-node gather of ∂L/∂v_i) | `mpm/grid_adj.wgsl` (`g2p_grid_adj`) |
//! | grid-update adjoint: walls, tools, v = P/m | `mpm/grid_adj.wgsl` (`grid_update_adj`) |
//! | tool adjoints summed per node block, then per tool | `mpm/grid_adj.wgsl` (`tool_grad_blocks`, `tool_grad_reduce`) |
//! | P2G adjoint, particle side | `mpm/p2g_adj.wgsl` (`p2g_adj`) |
//! | initial stress τ_0 (once, after the last reversed substep) | `mpm/g2p_adj.wgsl` (`stress_init_adj`) |
//!
//! Adjoint states are 34 Reals per particle (x̄ 3, v̄ 3, C̄ 9, F̄ 9, aux̄ 1,
//! τ̄ 9), ping-ponged: `adj[cur]` holds ∂L/∂state_{t+1} and the substep's
//! adjoint writes ∂L/∂state_t into `adj[1 − cur]`. Parameter adjoints
//! accumulate over the whole backward pass; control and tool-parameter
//! adjoints go into the world's [`crate::world::SharedAdjoint`]. The grid
//! update's adjoint also writes ∂L/∂f_ext per node (`ext_force_bar`) for the
//! couplings that push grid nodes.

use super::model::MpmModel;
use super::p2g::P2g;
use super::state::MpmState;
use crate::control::Control;
use crate::world::SharedAdjoint;
use crate::SimError;
use ductile_gpu::{storage_buffer_zeroed, BufferUse, GpuContext, Kernel, ShaderConfig};

/// Reals per particle in an adjoint state: ∂L/∂ of x (entries 0–2), v
/// (3–5), C (6–14), F (15–23), aux (24) and τ (25–33). On the GPU they are
/// stored entry by entry (entry e of particle p at e·N + p, `adj_index` in
/// `shaders/mpm/params.wgsl`), like the state's matrices; host copies are
/// converted with [`super::state::entries_from_gpu`].
pub const ADJ_STRIDE: u64 = 34;
/// Per-particle parameter adjoint slots: μ, λ, a, particle mass, particle volume, 3 spare.
pub const PGRAD_STRIDE: u64 = 8;
/// Tools a differentiable scene may hold (`MAX_ADJ_TOOLS` in `mpm/grid_adj.wgsl`).
pub const MAX_ADJ_TOOLS: u32 = 8;
/// Reals per tool in the block partials of `mpm/grid_adj.wgsl`.
const TOOL_GRAD: u64 = 16;

/// Adjoint kernels and buffers of the MPM substep.
pub struct MpmAdjoint {
    g2p_adj: Kernel,
    stress_init_adj: Kernel,
    g2p_grid_adj: Kernel,
    grid_update_adj: Kernel,
    tool_blocks: Kernel,
    tool_reduce: Kernel,
    p2g_adj: Kernel,
    /// Adjoint states, ping-pong (34 Reals per particle).
    pub adj: [wgpu::Buffer; 2],
    /// Per-particle parameter adjoints (8 Reals each, see [`PGRAD_STRIDE`]).
    pub pgrad: wgpu::Buffer,
    payload: wgpu::Buffer,
    /// ∂L/∂(P_i, m_i) of the gathered grid (4 Reals per node), `grid_update_adj`'s output.
    pub grid_bar: wgpu::Buffer,
    tool_partial: wgpu::Buffer,
    /// ∂L/∂v_i of the updated grid (4 Reals per node, the last unused), `g2p_grid_adj`'s output.
    pub grid_vbar: wgpu::Buffer,
    /// ∂L/∂f_ext of the couplings' force per node (4 Reals, the last unused), `grid_update_adj`'s output.
    pub ext_force_bar: wgpu::Buffer,
    bg_g2p: [wgpu::BindGroup; 2],
    bg_stress: [wgpu::BindGroup; 2],
    bg_g2p_grid: wgpu::BindGroup,
    bg_grid_update: wgpu::BindGroup,
    bg_blocks: wgpu::BindGroup,
    bg_reduce: wgpu::BindGroup,
    bg_p2g: [wgpu::BindGroup; 2],
    /// Adjoint of the rigid projection and `bg[cur]` (rewrites `adj[cur]`), when a body is rigid.
    rigid: Option<(Kernel, [wgpu::BindGroup; 2])>,
    rigid_bodies: u32,
    particles: u32,
    /// The indirect workgroup counts over the binning's reached-block list
    /// (`mpm/active_blocks.wgsl`), for the grid adjoint.
    active_args: wgpu::Buffer,
    tool_slots: u32,
    /// Bytes allocated by this struct.
    pub bytes: u64,
}

impl MpmAdjoint {
    /// Builds the adjoint of the substep that reads `state` (the state a
    /// backward step restores state_t into) with `p2g` in gather mode and
    /// the couplings' force `ext_force` (read when `coupled`), adding control
    /// and tool-parameter adjoints into `shared`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        state: &MpmState,
        p2g: &P2g,
        control: &Control,
        clock: &wgpu::Buffer,
        ext_force: &wgpu::Buffer,
        coupled: bool,
        shared: &SharedAdjoint,
        config: ShaderConfig,
    ) -> Result<Self, SimError> {
        let info = &model.info;
        let (bins, grid_raw) = p2g.gather_buffers().ok_or_else(|| {
            SimError::Other("the adjoint needs the deterministic (gather) P2G".into())
        })?;
        if info.tools > MAX_ADJ_TOOLS {
            return Err(SimError::Other(format!(
                "gradients support at most {MAX_ADJ_TOOLS} tools; the scene has {}",
                info.tools
            )));
        }
        let r = config.precision.bytes();
        let n = info.particles as u64;
        let nodes = info.num_nodes() as u64;
        let nt = info.tools as u64;
        let blocks = info.num_node_blocks() as u64;
        let sizes = [
            ("adjoint state", ADJ_STRIDE * n * r),
            ("adjoint payload", 16 * n * r),
            ("parameter adjoints", PGRAD_STRIDE * n * r),
            ("grid adjoint", 4 * nodes * r),
            ("grid velocity adjoint", 4 * nodes * r),
            (
                "external force adjoint",
                if coupled { 4 * nodes * r } else { 4 * r },
            ),
            ("tool adjoint partials", blocks * nt.max(1) * TOOL_GRAD * r),
        ];
        for (what, bytes) in sizes {
            ctx.check_buffer(what, bytes)?;
        }
        let z =
            |label: &str, bytes: u64| storage_buffer_zeroed(ctx, label, bytes, BufferUse::Storage);
        let adj = [
            z("adjoint state a", ADJ_STRIDE * n * r)?,
            z("adjoint state b", ADJ_STRIDE * n * r)?,
        ];
        let payload = z("adjoint payload", 16 * n * r)?;
        let pgrad = z("parameter adjoints", PGRAD_STRIDE * n * r)?;
        let grid_bar = z("grid adjoint", 4 * nodes * r)?;
        let grid_vbar = z("grid velocity adjoint", 4 * nodes * r)?;
        let ext_force_bar = z(
            "external force adjoint",
            if coupled { 4 * nodes * r } else { 4 * r },
        )?;
        let tool_partial = z("tool adjoint partials", blocks * nt.max(1) * TOOL_GRAD * r)?;
        let (control_grad, tool_param_grad) = (&shared.control_grad, &shared.tool_param_grad);
        let bytes = 2 * ADJ_STRIDE * n * r
            + 16 * n * r
            + PGRAD_STRIDE * n * r
            + (if coupled { 12 } else { 8 }) * nodes * r
            + blocks * nt.max(1) * TOOL_GRAD * r;

        let g2p_adj = Kernel::new(ctx, "mpm/g2p_adj", "g2p_adj", config)?;
        let stress_init_adj = Kernel::new(ctx, "mpm/g2p_adj", "stress_init_adj", config)?;
        let g2p_grid_adj = Kernel::new(ctx, "mpm/grid_adj", "g2p_grid_adj", config)?;
        let grid_update_adj = Kernel::new(ctx, "mpm/grid_adj", "grid_update_adj", config)?;
        let tool_blocks = Kernel::new(ctx, "mpm/grid_adj", "tool_grad_blocks", config)?;
        let tool_reduce = Kernel::new(ctx, "mpm/grid_adj", "tool_grad_reduce", config)?;
        let p2g_adj = Kernel::new(ctx, "mpm/p2g_adj", "p2g_adj", config)?;

        let bg_g2p = [0usize, 1].map(|cur| {
            g2p_adj.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.materials,
                    &model.body_of,
                    &bins.sorted,
                    &p2g.grid,
                    &state.x,
                    &state.c,
                    &state.f,
                    &state.aux,
                    &adj[cur],
                    &adj[1 - cur],
                    &payload,
                    &pgrad,
                    clock,
                ],
            )
        });
        let bg_stress = [0usize, 1].map(|cur| {
            stress_init_adj.bind_at(
                ctx,
                0,
                &[
                    (0, &model.params),
                    (1, &model.materials),
                    (2, &model.body_of),
                    (6, &state.c),
                    (7, &state.f),
                    (8, &state.aux),
                    (10, &adj[cur]),
                    (12, &pgrad),
                ],
            )
        });
        let grid_bindings = [
            (0, &model.params),
            (1, &bins.cell_start),
            (3, &payload),
            (4, &model.tools),
            (5, &control.buffer),
            (6, &model.sdf_values),
            (7, clock),
            (8, grid_raw),
            (9, &grid_bar),
            (13, &grid_vbar),
            (14, &bins.active.buffer),
            (15, ext_force),
            (16, &ext_force_bar),
        ];
        let bg_g2p_grid = g2p_grid_adj.bind_used(ctx, &grid_bindings);
        let bg_grid_update = grid_update_adj.bind_used(ctx, &grid_bindings);
        let bg_blocks = tool_blocks.bind_at(
            ctx,
            0,
            &[
                (0, &model.params),
                (4, &model.tools),
                (5, &control.buffer),
                (6, &model.sdf_values),
                (7, clock),
                (8, grid_raw),
                (10, &tool_partial),
                (13, &grid_vbar),
                (14, &bins.active.buffer),
                (15, ext_force),
            ],
        );
        let bg_reduce = tool_reduce.bind_at(
            ctx,
            0,
            &[
                (0, &model.params),
                (7, clock),
                (10, &tool_partial),
                (11, control_grad),
                (12, tool_param_grad),
                (14, &bins.active.buffer),
            ],
        );
        let bg_p2g = [0usize, 1].map(|out| {
            p2g_adj.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.materials,
                    &model.body_of,
                    &state.x,
                    &state.v,
                    &state.c,
                    &state.tau,
                    &grid_bar,
                    &adj[out],
                    &pgrad,
                    clock,
                ],
            )
        });
        let rigid = if info.rigid_bodies.is_empty() {
            None
        } else {
            let k = Kernel::new(ctx, "mpm/rigid_adj", "rigid_project_adj", config)?;
            let bg = [0usize, 1].map(|cur| {
                k.bind(
                    ctx,
                    0,
                    &[
                        &model.params,
                        &model.rigid_table,
                        &p2g.grid,
                        &state.x,
                        &adj[cur],
                    ],
                )
            });
            Some((k, bg))
        };
        Ok(MpmAdjoint {
            g2p_adj,
            stress_init_adj,
            g2p_grid_adj,
            grid_update_adj,
            tool_blocks,
            tool_reduce,
            p2g_adj,
            adj,
            pgrad,
            payload,
            grid_bar,
            tool_partial,
            grid_vbar,
            ext_force_bar,
            bg_g2p,
            bg_stress,
            bg_g2p_grid,
            bg_grid_update,
            bg_blocks,
            bg_reduce,
            bg_p2g,
            rigid,
            rigid_bodies: info.rigid_bodies.len() as u32,
            particles: info.particles,
            active_args: bins.active.args.clone(),
            tool_slots: info.tools * TOOL_GRAD as u32,
            bytes,
        })
    }

    /// Zeroes both adjoint states and every parameter adjoint (the shared
    /// control and tool-parameter adjoints are the world's to clear).
    pub fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        for b in [&self.adj[0], &self.adj[1], &self.pgrad, &self.grid_bar] {
            enc.clear_buffer(b, 0, None);
        }
    }

    /// Records the adjoint of one substep: reads `adj[cur]` (∂L/∂state_{t+1}),
    /// writes `adj[1 − cur]` (∂L/∂state_t) and adds to the parameter adjoints.
    pub fn encode_step(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        for part in 0..3 {
            self.encode_part(enc, cur, part);
        }
    }

    /// Records stage `part` of [`MpmAdjoint::encode_step`]: 0 the rigid
    /// projection's adjoint and `g2p_adj`, 1 `g2p_grid_adj`, `grid_update_adj`
    /// and the tool reductions, 2 `p2g_adj` (separately for profiling).
    pub fn encode_part(&self, enc: &mut wgpu::CommandEncoder, cur: usize, part: usize) {
        match part {
            0 => {
                self.encode_g2p_particles(enc, cur);
                self.encode_g2p_grid(enc);
            }
            1 => self.encode_grid_update(enc),
            _ => self.encode_p2g(enc, 1 - cur),
        }
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }

    /// G2P's adjoint, particle side (after the rigid projection's adjoint):
    /// reads `adj[cur]`, writes x̄, F̄, aux̄ of `adj[1 − cur]`, the payload and
    /// the material adjoints.
    pub fn encode_g2p_particles(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let mut pass = Self::pass(enc, "g2p_adj");
        if let Some((k, bg)) = &self.rigid {
            k.dispatch(&mut pass, &[&bg[cur]], [self.rigid_bodies, 1, 1]);
        }
        self.g2p_adj
            .dispatch_1d(&mut pass, &[&self.bg_g2p[cur]], self.particles);
    }

    /// G2P's adjoint, grid side: gathers the payload into [`MpmAdjoint::grid_vbar`].
    pub fn encode_g2p_grid(&self, enc: &mut wgpu::CommandEncoder) {
        let mut pass = Self::pass(enc, "g2p_grid_adj");
        self.g2p_grid_adj
            .dispatch_indirect(&mut pass, &[&self.bg_g2p_grid], &self.active_args, 0);
    }

    /// The grid update's adjoint: [`MpmAdjoint::grid_vbar`] to
    /// [`MpmAdjoint::grid_bar`] and [`MpmAdjoint::ext_force_bar`], and the
    /// tools' adjoints added to the shared `control_grad` and `tool_param_grad`.
    pub fn encode_grid_update(&self, enc: &mut wgpu::CommandEncoder) {
        let mut pass = Self::pass(enc, "grid_update_adj");
        self.grid_update_adj.dispatch_indirect(
            &mut pass,
            &[&self.bg_grid_update],
            &self.active_args,
            0,
        );
        if self.tool_slots > 0 {
            self.tool_blocks
                .dispatch_indirect(&mut pass, &[&self.bg_blocks], &self.active_args, 0);
            self.tool_reduce
                .dispatch(&mut pass, &[&self.bg_reduce], [self.tool_slots, 1, 1]);
        }
    }

    /// P2G's adjoint, particle side: reads [`MpmAdjoint::grid_bar`], writes v̄,
    /// C̄ and τ̄ of `adj[out]`, adds to its x̄ and to the mass and volume adjoints.
    pub fn encode_p2g(&self, enc: &mut wgpu::CommandEncoder, out: usize) {
        let mut pass = Self::pass(enc, "p2g_adj");
        self.p2g_adj
            .dispatch_1d(&mut pass, &[&self.bg_p2g[out]], self.particles);
    }

    /// Records the adjoint of the initial stress on `adj[cur]` (∂L/∂state_0).
    pub fn encode_stress_init(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("stress_init adjoint"),
            timestamp_writes: None,
        });
        self.stress_init_adj
            .dispatch_1d(&mut pass, &[&self.bg_stress[cur]], self.particles);
    }

    /// The payload and grid-adjoint buffers (for memory reports).
    pub fn scratch_bytes(&self) -> u64 {
        self.payload.size()
            + self.grid_bar.size()
            + self.grid_vbar.size()
            + self.ext_force_bar.size()
            + self.tool_partial.size()
    }
}
