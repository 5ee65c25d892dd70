// Marks the 4³ node blocks that particles reach: node block b is reached by
// particles whose stencil base cell lies in cell blocks b − 1 or b (per axis).
// One invocation per node block, so the grid update reads one flag per node
// instead of testing eight cell blocks.

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> block_active: array<u32>;
@group(0) @binding(2) var<storage, read_write> node_block_active: array<u32>;

fn cell_block_on(b: vec3<i32>) -> bool {
    let nb = vec3<i32>(p_cell_blocks());
    if (any(b < vec3<i32>(0)) || any(b >= nb)) {
        return false;
    }
    return block_active[u32(b.x + nb.x * (b.y + nb.y * b.z))] != 0u;
}

@compute @workgroup_size(64)
fn mark_node_blocks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let blk = flat_index(gid, nwg);
    if (blk >= p_num_node_blocks()) {
        return;
    }
    let b = vec3<i32>(node_block_coords(blk));
    var on = false;
    for (var k = 0; k < 8; k = k + 1) {
        let o = vec3<i32>(k & 1, (k >> 1u) & 1, (k >> 2u) & 1);
        on = on || cell_block_on(b - o);
    }
    node_block_active[blk] = select(0u, 1u, on);
}
