//! The list of node blocks that particles reach, rebuilt each substep from
//! the cell blocks that hold particles (`shaders/mpm/mark_blocks.wgsl`), and
//! the indirect dispatch over it that every per-node kernel uses (P2G's grid
//! update and the grid adjoint). Only reached blocks run: on CPU drivers such
//! as lavapipe a workgroup that exits at once still costs its whole masked
//! body, so a dispatch over the whole grid made the grid update cost grow with
//! the domain's volume instead of with the matter in it.

use super::model::MpmModel;
use ductile_gpu::{storage_buffer_zeroed, BufferUse, GpuContext, Kernel, ShaderConfig};

/// The reached-block list of one cell-block flag buffer, and its two kernels.
pub struct ActiveBlocks {
    /// Layout of `shaders/mpm/active_blocks.wgsl`: the count, the list, then
    /// one flag per node block (u32 each).
    pub buffer: wgpu::Buffer,
    /// The indirect dispatch's workgroup counts (3 u32) for one workgroup per listed block.
    pub args: wgpu::Buffer,
    mark: Kernel,
    make_args: Kernel,
    bg: wgpu::BindGroup,
    bg_args: wgpu::BindGroup,
    node_blocks: u32,
}

impl ActiveBlocks {
    /// Builds the list for the cell-block flags in `cell_block_active`
    /// (1 per 4³ cell block holding a particle, as the binning and the scatter P2G write them).
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        cell_block_active: &wgpu::Buffer,
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        let node_blocks = model.info.num_node_blocks();
        let buffer = storage_buffer_zeroed(
            ctx,
            "reached node blocks",
            4 * (1 + 2 * node_blocks as u64),
            BufferUse::Storage,
        )?;
        let args = storage_buffer_zeroed(
            ctx,
            "reached node blocks: workgroups",
            16,
            BufferUse::Indirect,
        )?;
        let mark = Kernel::new(ctx, "mpm/mark_blocks", "mark_node_blocks", config)?;
        let make_args = Kernel::new(ctx, "mpm/mark_blocks", "active_block_args", config)?;
        let bg = mark.bind_at(
            ctx,
            0,
            &[(0, &model.params), (1, cell_block_active), (2, &buffer)],
        );
        let bg_args = make_args.bind_at(ctx, 0, &[(2, &buffer), (3, &args)]);
        Ok(ActiveBlocks {
            buffer,
            args,
            mark,
            make_args,
            bg_args,
            bg,
            node_blocks,
        })
    }

    /// Records the rebuild of the list (after the cell-block flags are written).
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.buffer, 0, Some(4));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("mark reached node blocks"),
            timestamp_writes: None,
        });
        self.mark
            .dispatch_1d(&mut pass, &[&self.bg], self.node_blocks);
        self.make_args
            .dispatch(&mut pass, &[&self.bg_args], [1, 1, 1]);
    }

    /// Records `kernel` with one workgroup per listed block.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        pass: &mut wgpu::ComputePass<'_>,
        bind_groups: &[&wgpu::BindGroup],
    ) {
        kernel.dispatch_indirect(pass, bind_groups, &self.args, 0);
    }
}
