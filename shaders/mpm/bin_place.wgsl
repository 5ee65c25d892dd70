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

// Restores the max-heap property below `root` in the heap sorted[start .. start + n).
fn sift_down(start: u32, root0: u32, n: u32) {
    var root = root0;
    loop {
        var c = 2u * root + 1u;
        if (c >= n) {
            break;
        }
        if (c + 1u < n && sorted[start + c + 1u] > sorted[start + c]) {
            c = c + 1u;
        }
        let top = sorted[start + root];
        if (top >= sorted[start + c]) {
            break;
        }
        sorted[start + root] = sorted[start + c];
        sorted[start + c] = top;
        root = c;
    }
}

// One invocation per cell: sort the cell's segment by particle index
// (insertion sort for the usual few particles, heapsort, O(n log n), for a
// crowded cell; the keys are distinct, so both give the same order) and
// mark the cell's 4³ block as holding particles.
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
    let len = end - start;
    if (len <= 32u) {
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
    } else {
        var i = len / 2u;
        loop {
            if (i == 0u) {
                break;
            }
            i = i - 1u;
            sift_down(start, i, len);
        }
        var m = len;
        loop {
            if (m <= 1u) {
                break;
            }
            m = m - 1u;
            let top = sorted[start];
            sorted[start] = sorted[start + m];
            sorted[start + m] = top;
            sift_down(start, 0u, m);
        }
    }
    let n = p_cells();
    let cz = c / (n.x * n.y);
    let rem = c - cz * n.x * n.y;
    let cy = rem / n.x;
    let cx = rem - cy * n.x;
    block_active[cell_block_index(vec3<u32>(cx, cy, cz))] = 1u;
}
