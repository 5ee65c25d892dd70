// Marks the 4³ node blocks that particles reach and lists them for an
// indirect dispatch: node block b is reached by particles whose stencil base
// cell lies in cell blocks b − 1 or b (per axis). One invocation per node
// block; reached blocks are appended to `active_blocks`, whose layout is
// `mpm/active_blocks.wgsl`'s. `active_block_args` then turns the count into
// workgroup counts in `block_args` (a separate buffer: wgpu does not let one
// dispatch read a buffer both as indirect arguments and as storage), so the node kernels run over reached blocks only (on
// lavapipe an early exit still costs a whole workgroup's masked execution).

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> block_active: array<u32>;
@group(0) @binding(2) var<storage, read_write> active_blocks: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> block_args: array<u32>;

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
    if (on) {
        let slot = atomicAdd(&active_blocks[0], 1u);
        atomicStore(&active_blocks[1u + slot], blk);
    }
    atomicStore(&active_blocks[1u + p_num_node_blocks() + blk], select(0u, 1u, on));
}

// Workgroup counts (x, y, 1) for one workgroup per listed block, x at most
// 32768 (consumers recover the slot with `flat_workgroup`).
@compute @workgroup_size(1)
fn active_block_args() {
    let n = atomicLoad(&active_blocks[0]);
    block_args[0] = min(n, 32768u);
    block_args[1] = (n + 32767u) / 32768u;
    block_args[2] = 1u;
}
