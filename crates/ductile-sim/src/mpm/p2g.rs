//! P2G (`shaders/mpm/p2g_prepare.wgsl`, `shaders/mpm/p2g.wgsl`): per-particle
//! payloads in binned order, then a per-node gather fused with the grid
//! update (`shaders/mpm/grid_update.wgsl`). Output: `grid`, 4 Reals per node
//! (velocity [m/s] after gravity, walls and tools; mass [kg]).

use super::bin::Binning;
use super::model::MpmModel;
use super::state::MpmState;
use crate::control::Control;
use ductile_gpu::{storage_buffer_zeroed, BufferUse, GpuContext, GpuTimer, Kernel, ShaderConfig};

/// P2G kernels and the grid.
pub struct P2g {
    prepare: Kernel,
    gather: Kernel,
    /// 16 Reals per binned particle.
    pub payload: wgpu::Buffer,
    /// 4 Reals per node: velocity [m/s], mass [kg].
    pub grid: wgpu::Buffer,
    /// Per tool: contact force [N] summed over substeps since the last clear (4 f32).
    pub tool_force: wgpu::Buffer,
    bg_prepare: [wgpu::BindGroup; 2],
    bg_gather: wgpu::BindGroup,
    particles: u32,
    node_blocks: u32,
}

impl P2g {
    /// Builds the kernels and buffers.
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        states: [&MpmState; 2],
        bins: &Binning,
        control: &Control,
        clock: &wgpu::Buffer,
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        let info = &model.info;
        let r = config.precision.bytes();
        let payload = storage_buffer_zeroed(ctx, "p2g payload", 16 * r * info.particles as u64, BufferUse::Storage)?;
        let grid = storage_buffer_zeroed(ctx, "grid", 4 * r * info.num_nodes() as u64, BufferUse::Storage)?;
        let tool_force = storage_buffer_zeroed(ctx, "tool forces", 16 * (info.tools.max(1) as u64), BufferUse::Storage)?;
        let prepare = Kernel::new(ctx, "mpm/p2g_prepare", "p2g_prepare", config)?;
        let gather = Kernel::new(ctx, "mpm/p2g", "p2g", config)?;
        let bg_prepare = states.map(|s| {
            prepare.bind(
                ctx,
                0,
                &[&model.params, &model.materials, &model.body_of, &bins.sorted, &s.x, &s.v, &s.c, &s.tau, &payload],
            )
        });
        let bg_gather = gather.bind(
            ctx,
            0,
            &[
                &model.params,
                &bins.cell_start,
                &bins.block_active,
                &payload,
                &model.tools,
                &control.buffer,
                &model.sdf_values,
                clock,
                &grid,
                &tool_force,
            ],
        );
        ctx.check_dispatch("P2G node blocks", info.num_node_blocks() as u64 / 32768 + 1)?;
        Ok(P2g {
            prepare,
            gather,
            payload,
            grid,
            tool_force,
            bg_prepare,
            bg_gather,
            particles: info.particles,
            node_blocks: info.num_node_blocks(),
        })
    }

    /// Records P2G and the grid update for state `parity`.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, parity: usize, timer: &mut GpuTimer) {
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("p2g_prepare"),
                timestamp_writes: timer.pass("p2g_prepare"),
            });
            self.prepare.dispatch_1d(&mut pass, &[&self.bg_prepare[parity]], self.particles);
        }
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("p2g_grid"),
            timestamp_writes: timer.pass("p2g_grid"),
        });
        self.gather.dispatch(&mut pass, &[&self.bg_gather], ductile_gpu::groups_1d(self.node_blocks * 64));
    }
}
