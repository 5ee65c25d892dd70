// Grid update after the scatter P2G (`mpm/p2g_scatter.wgsl`): per node of a
// reached 4³ node block (listed by `mpm/mark_blocks.wgsl`, dispatched
// indirectly, one workgroup per block), momentum and mass from the f32 accumulators, then
// the couplings' external force (`ext_force` [N]), gravity, walls and tools (`mpm/grid_update.wgsl`); writes velocity [m/s]
// and mass [kg] per node, as the gather P2G does.

#import common/index
#import mpm/params
#import mpm/grid_update
#import mpm/active_blocks

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> active_blocks: array<u32>;
@group(0) @binding(2) var<storage, read> grid_sum: array<f32>;
@group(0) @binding(3) var<storage, read> tools: array<Real>;
@group(0) @binding(4) var<storage, read> control: array<Real>;
@group(0) @binding(5) var<storage, read> sdf_values: array<f32>;
@group(0) @binding(6) var<storage, read> clock: array<u32>;
@group(0) @binding(7) var<storage, read_write> grid: array<Real>;
#if FLOAT_ATOMICS
@group(0) @binding(8) var<storage, read_write> accum_buf: array<atomic<f32>>;
#else
@group(0) @binding(8) var<storage, read_write> accum_buf: array<atomic<u32>>;
#endif
@group(0) @binding(9) var<storage, read> ext_force: array<vec4r>;

@compute @workgroup_size(64)
fn grid_update_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let blk = listed_block(wid, nwg);
    if (blk == NO_BLOCK) {
        return;
    }
    let node = block_node(blk, li);
    if (any(node >= p_nodes())) {
        return;
    }
    let gi = 4u * node_index(node);
    var mom = vec3r(Real(grid_sum[gi]), Real(grid_sum[gi + 1u]), Real(grid_sum[gi + 2u]));
    if (p_has_external_force()) {
        mom = mom + p_dt() * ext_force[node_index(node)].xyz;
    }
    let mass = Real(grid_sum[gi + 3u]);
    let vnew = grid_update_node(node, mass, mom, clock[0]);
    grid[gi] = vnew.x;
    grid[gi + 1u] = vnew.y;
    grid[gi + 2u] = vnew.z;
    grid[gi + 3u] = mass;
}
