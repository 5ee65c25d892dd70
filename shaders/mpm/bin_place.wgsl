// Second and third stages of particle binning (see `mpm/bin.wgsl`).

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> particle_cell_rank: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> cell_start: array<u32>;
@group(0) @binding(3) var<storage, read_write> sorted: array<u32>;
@group(0) @binding(4) var<storage, read_write> block_active: array<u32>;

@compute @workgroup_size(64)
fn bin_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let cr = particle_cell_rank[p];
    sorted[cell_start[cr.x] + cr.y] = p;
}

// One invocation per cell: insertion-sort the cell's segment by particle index
// and mark the cell's 4³ block as holding particles.
@compute @workgroup_size(64)
fn bin_sort_cells(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = flat_index(gid, nwg);
    if (c >= p_num_cells()) {
        return;
    }
    let start = cell_start[c];
    let end = cell_start[c + 1u];
    if (end == start) {
        return;
    }
    for (var i = start + 1u; i < end; i = i + 1u) {
        let key = sorted[i];
        var j = i;
        loop {
            if (j <= start) {
                break;
            }
            let prev = sorted[j - 1u];
            if (prev <= key) {
                break;
            }
            sorted[j] = prev;
            j = j - 1u;
        }
        sorted[j] = key;
    }
    let n = p_cells();
    let cz = c / (n.x * n.y);
    let rem = c - cz * n.x * n.y;
    let cy = rem / n.x;
    let cx = rem - cy * n.x;
    block_active[cell_block_index(vec3<u32>(cx, cy, cz))] = 1u;
}
