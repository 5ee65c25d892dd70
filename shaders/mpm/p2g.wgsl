// P2G, stage 2, fused with the grid update: one invocation per grid node
// gathers mass and momentum from the particles of the 27 cells whose stencils
// reach it (`mpm/gather.wgsl`: no float atomics and a fixed summation order),
// then adds the external force that couplings put on the node (`ext_force`
// [N], read only when the scene has couplings) and applies gravity, walls and tools
// (`mpm/grid_update.wgsl`). Writes the
// node's updated velocity and mass to `grid`, and the gathered momentum and
// mass (before the update) to `grid_raw`, which the adjoint pass reads.
//
// Workgroups are 4×4×4 node blocks, dispatched indirectly over the blocks
// that particles reach (listed by `mpm/mark_blocks.wgsl`).

#import common/index
#import mpm/params
#import mpm/gather
#import mpm/grid_update
#import mpm/active_blocks

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> cell_start: array<u32>;
@group(0) @binding(3) var<storage, read> payload: array<Real>;
@group(0) @binding(4) var<storage, read> tools: array<Real>;
@group(0) @binding(5) var<storage, read> control: array<Real>;
@group(0) @binding(6) var<storage, read> sdf_values: array<f32>;
@group(0) @binding(7) var<storage, read> clock: array<u32>;
@group(0) @binding(8) var<storage, read_write> grid: array<Real>;
#if FLOAT_ATOMICS
@group(0) @binding(9) var<storage, read_write> accum_buf: array<atomic<f32>>;
#else
@group(0) @binding(9) var<storage, read_write> accum_buf: array<atomic<u32>>;
#endif
@group(0) @binding(10) var<storage, read_write> grid_raw: array<vec4r>;
@group(0) @binding(11) var<storage, read> active_blocks: array<u32>;
@group(0) @binding(12) var<storage, read> ext_force: array<vec4r>;

@compute @workgroup_size(64)
fn p2g(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let blk = listed_block(wid, nwg);
    if (blk == NO_BLOCK) {
        return;
    }
    let node = block_node(blk, li);
    if (any(node >= p_nodes())) {
        return;
    }
    let sums = gather_node(node);
    var momentum = sums.xyz;
    if (p_has_external_force()) {
        momentum = momentum + p_dt() * ext_force[node_index(node)].xyz;
    }
    let vnew = grid_update_node(node, sums.w, momentum, clock[0]);
    let gi = 4u * node_index(node);
    grid[gi] = vnew.x;
    grid[gi + 1u] = vnew.y;
    grid[gi + 2u] = vnew.z;
    grid[gi + 3u] = sums.w;
    grid_raw[node_index(node)] = sums;
}
