// P2G, stage 2, fused with the grid update: one invocation per grid node
// gathers mass and momentum from the particles of the 27 cells whose stencils
// reach it (binned and sorted by `mpm/bin*.wgsl`, so no float atomics and a
// fixed summation order), then applies gravity, walls and tools
// (`mpm/grid_update.wgsl`) and writes the node's velocity and mass.
//
// Workgroups are 4×4×4 node blocks; blocks with no particles nearby exit at once.

#import common/index
#import common/bspline
#import mpm/params
#import mpm/grid_update

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cell_start: array<u32>;
@group(0) @binding(2) var<storage, read> block_active: array<u32>;
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

fn block_is_active(b: vec3<i32>) -> bool {
    let nb = vec3<i32>(p_cell_blocks());
    if (any(b < vec3<i32>(0)) || any(b >= nb)) {
        return false;
    }
    return block_active[u32(b.x + nb.x * (b.y + nb.y * b.z))] != 0u;
}

@compute @workgroup_size(64)
fn p2g(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let blk = flat_workgroup(wid, nwg);
    if (blk >= p_num_node_blocks()) {
        return;
    }
    let b = vec3<i32>(node_block_coords(blk));
    // Node block b is reached by particles whose base cell lies in cell blocks b−1 or b.
    var any_active = false;
    for (var k = 0; k < 8; k = k + 1) {
        let o = vec3<i32>(k & 1, (k >> 1u) & 1, (k >> 2u) & 1);
        any_active = any_active || block_is_active(b - o);
    }
    if (!any_active) {
        return;
    }
    let node = block_node(blk, li);
    let nodes = p_nodes();
    if (any(node >= nodes)) {
        return;
    }
    let cells = vec3<i32>(p_cells());
    let nf = vec3r(node);
    let inv_dx = p_inv_dx();
    let dx = p_dx();
    let origin = p_origin();
    var mass: Real = 0.0;
    var mom = vec3r(0.0);
    let ni = vec3<i32>(node);
    let x_lo = clamp(ni.x - 2, 0, cells.x - 1);
    let x_hi = clamp(ni.x, 0, cells.x - 1);
    for (var dz = 0; dz < 3; dz = dz + 1) {
        let cz = ni.z - dz;
        if (cz < 0 || cz >= cells.z) {
            continue;
        }
        for (var dy = 0; dy < 3; dy = dy + 1) {
            let cy = ni.y - dy;
            if (cy < 0 || cy >= cells.y) {
                continue;
            }
            // The three cells of this row are contiguous in binned order.
            let row = u32(cells.x * (cy + cells.y * cz));
            let s0 = cell_start[row + u32(x_lo)];
            let s1 = cell_start[row + u32(x_hi) + 1u];
            for (var s = s0; s < s1; s = s + 1u) {
                let o = 16u * s;
                let xg = (vec3r(payload[o], payload[o + 1u], payload[o + 2u]) - origin) * inv_dx;
                let w = bspline_node_weight(xg, nf);
                let dpos = (nf - xg) * dx;
                let a = mat3r(
                    payload[o + 7u], payload[o + 8u], payload[o + 9u],
                    payload[o + 10u], payload[o + 11u], payload[o + 12u],
                    payload[o + 13u], payload[o + 14u], payload[o + 15u],
                );
                mass = mass + w * payload[o + 3u];
                mom = mom + w * (vec3r(payload[o + 4u], payload[o + 5u], payload[o + 6u]) + a * dpos);
            }
        }
    }
    let vnew = grid_update_node(node, mass, mom, clock[0]);
    let gi = 4u * node_index(node);
    grid[gi] = vnew.x;
    grid[gi + 1u] = vnew.y;
    grid[gi + 2u] = vnew.z;
    grid[gi + 3u] = mass;
}
