//! P2G and the grid update, in one of two modes. Output either way: `grid`,
//! 4 Reals per node (velocity [m/s] after gravity, walls and tools; mass [kg]).
//!
//! - [`P2gMode::Scatter`] (default in f32): `shaders/mpm/p2g_scatter.wgsl` adds
//!   each particle's contributions to its 27 nodes with float atomics, then
//!   `shaders/mpm/mark_blocks.wgsl` marks the node blocks particles reach and
//!   `shaders/mpm/grid_update_scatter.wgsl` updates them.
//! - [`P2gMode::Gather`] (deterministic; the only mode in f64): particles are
//!   binned by cell ([`Binning`]), `shaders/mpm/p2g_prepare.wgsl` writes
//!   payloads in binned order, and `shaders/mpm/p2g.wgsl` gathers per node in
//!   a fixed order, fused with the grid update.

use super::active::ActiveBlocks;
use super::bin::Binning;
use super::model::MpmModel;
use super::state::MpmState;
use crate::control::Control;
use ductile_gpu::{storage_buffer_zeroed, BufferUse, GpuContext, GpuTimer, Kernel, ShaderConfig};

/// How P2G accumulates particle contributions on the grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum P2gMode {
    /// Float-atomic scatter: fastest, summation order varies between runs. f32 only.
    #[default]
    Scatter,
    /// Binned per-node gather: bitwise deterministic; works in f64.
    Gather,
}

/// Consecutive particles each scatter invocation takes (`RUN` in
/// `shaders/mpm/p2g_scatter.wgsl`): runs of particles sharing a stencil base
/// cell are summed in registers and added to the grid once.
pub const P2G_RUN: u32 = 8;

/// Kernels and buffers of the scatter mode.
struct ScatterPath {
    scatter: Kernel,
    active: ActiveBlocks,
    update: Kernel,
    grid_sum: wgpu::Buffer,
    block_active: wgpu::Buffer,
    bg_scatter: [wgpu::BindGroup; 2],
    bg_update: wgpu::BindGroup,
    /// `bg_update`'s buffers, in binding order (the last is `ext_force`).
    update_buffers: Vec<wgpu::Buffer>,
}

/// Kernels and buffers of the gather mode.
struct GatherPath {
    bins: Binning,
    grid_raw: wgpu::Buffer,
    prepare: Kernel,
    gather: Kernel,
    payload: wgpu::Buffer,
    bg_prepare: [wgpu::BindGroup; 2],
    bg_gather: wgpu::BindGroup,
    /// `bg_gather`'s bindings (the last is `ext_force`).
    gather_buffers: Vec<(u32, wgpu::Buffer)>,
}

/// P2G kernels and the grid.
pub struct P2g {
    /// The mode in use.
    pub mode: P2gMode,
    scatter: Option<ScatterPath>,
    gather: Option<GatherPath>,
    /// 4 Reals per node: velocity [m/s], mass [kg].
    pub grid: wgpu::Buffer,
    /// Per tool: contact force [N] summed over substeps since the last clear (4 f32).
    pub tool_force: wgpu::Buffer,
    particles: u32,
}

impl P2g {
    /// Builds the kernels and buffers for `mode`. The grid update adds
    /// `ext_force` (4 Reals per node: the couplings' force [N], then unused).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        states: [&MpmState; 2],
        control: &Control,
        clock: &wgpu::Buffer,
        ext_force: &wgpu::Buffer,
        config: ShaderConfig,
        mode: P2gMode,
    ) -> Result<Self, crate::SimError> {
        let info = &model.info;
        let r = config.precision.bytes();
        let nodes = info.num_nodes() as u64;
        let grid = storage_buffer_zeroed(ctx, "grid", 4 * r * nodes, BufferUse::Storage)?;
        let tool_force = storage_buffer_zeroed(
            ctx,
            "tool forces",
            16 * (info.tools.max(1) as u64),
            BufferUse::Storage,
        )?;
        ctx.check_dispatch("P2G node blocks", info.num_node_blocks() as u64 / 32768 + 1)?;
        let (mut scatter, mut gather) = (None, None);
        match mode {
            P2gMode::Scatter => {
                let grid_sum = storage_buffer_zeroed(
                    ctx,
                    "grid momentum and mass sums (f32)",
                    16 * nodes,
                    BufferUse::Storage,
                )?;
                let block_active = storage_buffer_zeroed(
                    ctx,
                    "block_active",
                    4 * info.num_cell_blocks() as u64,
                    BufferUse::Storage,
                )?;
                let k_scatter = Kernel::new(ctx, "mpm/p2g_scatter", "p2g_scatter", config)?;
                let k_update = Kernel::new(
                    ctx,
                    "mpm/grid_update_scatter",
                    "grid_update_scatter",
                    config,
                )?;
                let active = ActiveBlocks::new(ctx, model, &block_active, config)?;
                let bg_scatter = states.map(|s| {
                    k_scatter.bind(
                        ctx,
                        0,
                        &[
                            &model.params,
                            &model.materials,
                            &model.body_of,
                            &s.x,
                            &s.v,
                            &s.c,
                            &s.tau,
                            &block_active,
                            &grid_sum,
                            clock,
                        ],
                    )
                });
                let update_buffers: Vec<wgpu::Buffer> = vec![
                    model.params.clone(),
                    active.buffer.clone(),
                    grid_sum.clone(),
                    model.tools.clone(),
                    control.buffer.clone(),
                    model.sdf_values.clone(),
                    clock.clone(),
                    grid.clone(),
                    tool_force.clone(),
                    ext_force.clone(),
                ];
                let refs: Vec<&wgpu::Buffer> = update_buffers.iter().collect();
                let bg_update = k_update.bind(ctx, 0, &refs);
                scatter = Some(ScatterPath {
                    scatter: k_scatter,
                    active,
                    update: k_update,
                    grid_sum,
                    block_active,
                    bg_scatter,
                    bg_update,
                    update_buffers,
                });
            }
            P2gMode::Gather => {
                let bins = Binning::new(ctx, model, states, config)?;
                let grid_raw = storage_buffer_zeroed(
                    ctx,
                    "grid momentum and mass before the update",
                    4 * r * nodes,
                    BufferUse::Storage,
                )?;
                let payload = storage_buffer_zeroed(
                    ctx,
                    "p2g payload",
                    16 * r * info.particles as u64,
                    BufferUse::Storage,
                )?;
                let prepare = Kernel::new(ctx, "mpm/p2g_prepare", "p2g_prepare", config)?;
                let k_gather = Kernel::new(ctx, "mpm/p2g", "p2g", config)?;
                let bg_prepare = states.map(|s| {
                    prepare.bind(
                        ctx,
                        0,
                        &[
                            &model.params,
                            &model.materials,
                            &model.body_of,
                            &bins.sorted,
                            &s.x,
                            &s.v,
                            &s.c,
                            &s.tau,
                            &payload,
                            clock,
                        ],
                    )
                });
                let gather_buffers: Vec<(u32, wgpu::Buffer)> = vec![
                    (0, model.params.clone()),
                    (1, bins.cell_start.clone()),
                    (3, payload.clone()),
                    (4, model.tools.clone()),
                    (5, control.buffer.clone()),
                    (6, model.sdf_values.clone()),
                    (7, clock.clone()),
                    (8, grid.clone()),
                    (9, tool_force.clone()),
                    (10, grid_raw.clone()),
                    (11, bins.active.buffer.clone()),
                    (12, ext_force.clone()),
                ];
                let refs: Vec<(u32, &wgpu::Buffer)> =
                    gather_buffers.iter().map(|(i, b)| (*i, b)).collect();
                let bg_gather = k_gather.bind_at(ctx, 0, &refs);
                gather = Some(GatherPath {
                    bins,
                    grid_raw,
                    prepare,
                    gather: k_gather,
                    payload,
                    bg_prepare,
                    bg_gather,
                    gather_buffers,
                });
            }
        }
        Ok(P2g {
            mode,
            scatter,
            gather,
            grid,
            tool_force,
            particles: info.particles,
        })
    }

    /// Records P2G and the grid update for state `parity`.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, parity: usize, timer: &mut GpuTimer) {
        if let Some(sp) = &self.scatter {
            enc.clear_buffer(&sp.grid_sum, 0, None);
            enc.clear_buffer(&sp.block_active, 0, None);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("p2g_scatter"),
                    timestamp_writes: timer.pass("p2g_scatter"),
                });
                sp.scatter.dispatch_1d(
                    &mut pass,
                    &[&sp.bg_scatter[parity]],
                    self.particles.div_ceil(P2G_RUN),
                );
            }
            sp.active.encode(enc);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("grid_update"),
                timestamp_writes: timer.pass("grid_update"),
            });
            sp.active.dispatch(&sp.update, &mut pass, &[&sp.bg_update]);
        }
        if let Some(gp) = &self.gather {
            gp.bins.encode(enc, parity, timer);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("p2g_prepare"),
                    timestamp_writes: timer.pass("p2g_prepare"),
                });
                gp.prepare
                    .dispatch_1d(&mut pass, &[&gp.bg_prepare[parity]], self.particles);
            }
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("p2g_gather_grid"),
                timestamp_writes: timer.pass("p2g_gather_grid"),
            });
            gp.bins
                .active
                .dispatch(&gp.gather, &mut pass, &[&gp.bg_gather]);
        }
    }

    /// Binds `ext_force` (4 Reals per node) in place of the external-force
    /// buffer given at construction (when a coupling first joins MPM).
    pub fn rebind_external_force(&mut self, ctx: &GpuContext, ext_force: &wgpu::Buffer) {
        if let Some(sp) = &mut self.scatter {
            if let Some(last) = sp.update_buffers.last_mut() {
                *last = ext_force.clone();
            }
            let refs: Vec<&wgpu::Buffer> = sp.update_buffers.iter().collect();
            sp.bg_update = sp.update.bind(ctx, 0, &refs);
        }
        if let Some(gp) = &mut self.gather {
            if let Some(last) = gp.gather_buffers.last_mut() {
                last.1 = ext_force.clone();
            }
            let refs: Vec<(u32, &wgpu::Buffer)> =
                gp.gather_buffers.iter().map(|(i, b)| (*i, b)).collect();
            gp.bg_gather = gp.gather.bind_at(ctx, 0, &refs);
        }
    }

    /// Gather mode only: the binning, and per node the gathered momentum
    /// [kg·m/s] and mass [kg] before the grid update (4 Reals), which the adjoint reads.
    pub fn gather_buffers(&self) -> Option<(&Binning, &wgpu::Buffer)> {
        self.gather.as_ref().map(|g| (&g.bins, &g.grid_raw))
    }

    /// Gather mode only: every buffer this P2G writes that the adjoint kernels
    /// read (the binning's sorted particles, cell starts, block flags and
    /// reached-block list, the gathered and the updated grid). Saving and restoring these replaces a
    /// P2G recomputation in the backward pass.
    pub fn adjoint_inputs(&self) -> Vec<&wgpu::Buffer> {
        match &self.gather {
            Some(g) => vec![
                &g.bins.sorted,
                &g.bins.cell_start,
                &g.bins.block_active,
                &g.bins.active.buffer,
                &g.bins.active.args,
                &g.grid_raw,
                &self.grid,
            ],
            None => vec![],
        }
    }

    /// Bytes of the payload buffer (gather mode), for memory reports.
    pub fn payload_bytes(&self) -> u64 {
        self.gather.as_ref().map(|g| g.payload.size()).unwrap_or(0)
    }
}
