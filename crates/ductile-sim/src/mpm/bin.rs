//! Particle binning (`shaders/mpm/bin.wgsl`, `shaders/common/scan.wgsl`,
//! `shaders/mpm/bin_place.wgsl`): after it, `sorted` lists particle indices
//! grouped by stencil base cell (ascending within a cell), `cell_start[c]..
//! cell_start[c + 1]` is cell c's segment, and `block_active` marks 4³ cell
//! blocks holding particles.

use super::active::ActiveBlocks;
use super::model::MpmModel;
use super::state::MpmState;
use ductile_gpu::{
    storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext, GpuTimer, Kernel, ShaderConfig,
};

/// Tile size of `common/scan.wgsl`.
pub const SCAN_TILE: u32 = 16384;

/// Binning kernels and their buffers.
pub struct Binning {
    count: Kernel,
    scan_local: Kernel,
    scan_tiles: Kernel,
    scan_add: Kernel,
    place: Kernel,
    sort_cells: Kernel,
    /// Particles per cell (u32), the scan's input.
    pub cell_count: wgpu::Buffer,
    /// Exclusive prefix sum of `cell_count`, one longer (u32).
    pub cell_start: wgpu::Buffer,
    /// Particle indices in cell order (u32).
    pub sorted: wgpu::Buffer,
    /// Non-zero for cell blocks holding particles (u32).
    pub block_active: wgpu::Buffer,
    /// The node blocks these particles reach, for the gather and its adjoint.
    pub active: ActiveBlocks,
    bg_count: [wgpu::BindGroup; 2],
    bg_scan: [wgpu::BindGroup; 3],
    bg_place: wgpu::BindGroup,
    bg_sort: wgpu::BindGroup,
    cells: u32,
    particles: u32,
}

impl Binning {
    /// Builds the kernels and buffers for `model`, binding both state parities.
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        states: [&MpmState; 2],
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        Self::for_points(
            ctx,
            model,
            &model.params,
            states.map(|s| &s.x),
            model.info.particles,
            config,
        )
    }

    /// Bins any `count` points with positions `x` (per parity, 3 Reals per
    /// point) into `model`'s grid cells; `params` is a copy of the model's
    /// `Params` whose particle count is `count` (couplings bin other
    /// solvers' nodes this way).
    pub fn for_points(
        ctx: &GpuContext,
        model: &MpmModel,
        params: &wgpu::Buffer,
        x: [&wgpu::Buffer; 2],
        count: u32,
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        let info = &model.info;
        let cells = info.num_cells();
        let n = count;
        let tiles = cells.div_ceil(SCAN_TILE);
        let cell_count =
            storage_buffer_zeroed(ctx, "cell_count", 4 * cells as u64, BufferUse::Storage)?;
        let cell_start = storage_buffer_zeroed(
            ctx,
            "cell_start",
            4 * (cells as u64 + 1),
            BufferUse::Storage,
        )?;
        let tile_sums =
            storage_buffer_zeroed(ctx, "scan tile sums", 4 * tiles as u64, BufferUse::Storage)?;
        let scan_len = storage_buffer(
            ctx,
            "scan length",
            bytemuck::cast_slice(&[cells, 0, 0, 0]),
            BufferUse::Storage,
        )?;
        let pcr = storage_buffer_zeroed(
            ctx,
            "particle cell and rank",
            8 * n as u64,
            BufferUse::Storage,
        )?;
        let sorted =
            storage_buffer_zeroed(ctx, "sorted particles", 4 * n as u64, BufferUse::Storage)?;
        let block_active = storage_buffer_zeroed(
            ctx,
            "block_active",
            4 * info.num_cell_blocks() as u64,
            BufferUse::Storage,
        )?;

        let count = Kernel::new(ctx, "mpm/bin", "bin_count", config)?;
        let scan_local = Kernel::new(ctx, "common/scan", "scan_local", config)?;
        let scan_tiles = Kernel::new(ctx, "common/scan", "scan_tiles", config)?;
        let scan_add = Kernel::new(ctx, "common/scan", "scan_add", config)?;
        let place = Kernel::new(ctx, "mpm/bin_place", "bin_place", config)?;
        let sort_cells = Kernel::new(ctx, "mpm/bin_place", "bin_sort_cells", config)?;

        let bg_count = x.map(|x| count.bind(ctx, 0, &[params, x, &cell_count, &pcr]));
        let scan_rest = [(1, &cell_start), (2, &tile_sums), (3, &scan_len)];
        let bg_scan = [
            scan_local.bind(ctx, 0, &[&cell_count, &cell_start, &tile_sums, &scan_len]),
            scan_tiles.bind_at(ctx, 0, &scan_rest),
            scan_add.bind_at(ctx, 0, &scan_rest),
        ];
        let bg_place = place.bind_at(
            ctx,
            0,
            &[(0, params), (1, &pcr), (2, &cell_start), (3, &sorted)],
        );
        let bg_sort = sort_cells.bind_at(
            ctx,
            0,
            &[
                (0, params),
                (2, &cell_start),
                (3, &sorted),
                (4, &block_active),
            ],
        );
        let active = ActiveBlocks::new(ctx, model, &block_active, config)?;
        Ok(Binning {
            active,
            count,
            scan_local,
            scan_tiles,
            scan_add,
            place,
            sort_cells,
            cell_count,
            cell_start,
            sorted,
            block_active,
            bg_count,
            bg_scan,
            bg_place,
            bg_sort,
            cells,
            particles: n,
        })
    }

    /// Records the binning of state `parity` into `enc`.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, parity: usize, timer: &mut GpuTimer) {
        enc.clear_buffer(&self.cell_count, 0, None);
        enc.clear_buffer(&self.block_active, 0, None);
        let tiles = self.cells.div_ceil(SCAN_TILE);
        let tile_groups = ductile_gpu::groups_1d(tiles * 64);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bin_count"),
                timestamp_writes: timer.pass("bin_count"),
            });
            self.count
                .dispatch_1d(&mut pass, &[&self.bg_count[parity]], self.particles);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("scan"),
                timestamp_writes: timer.pass("scan"),
            });
            self.scan_local
                .dispatch(&mut pass, &[&self.bg_scan[0]], tile_groups);
            self.scan_tiles
                .dispatch(&mut pass, &[&self.bg_scan[1]], [1, 1, 1]);
            self.scan_add
                .dispatch(&mut pass, &[&self.bg_scan[2]], tile_groups);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bin_place"),
                timestamp_writes: timer.pass("bin_place"),
            });
            self.place
                .dispatch_1d(&mut pass, &[&self.bg_place], self.particles);
            self.sort_cells
                .dispatch_1d(&mut pass, &[&self.bg_sort], self.cells);
        }
        self.active.encode(enc);
    }
}
