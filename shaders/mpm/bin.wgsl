// Particle binning by stencil base cell, so that P2G can gather per node
// without float atomics: `bin_count` counts particles per cell, the scan in
// `common/scan.wgsl` turns counts into cell starts, `bin_place` writes each
// particle's index into its cell's segment, and `bin_sort_cells` sorts each
// segment by particle index (making every later sum order deterministic) and
// marks the 4³ cell blocks that hold particles.
//
// Adjoint: none needed — binning is a permutation that depends only on
// positions through `floor`, whose derivative is zero almost everywhere.

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> x: array<Real>;
@group(0) @binding(2) var<storage, read_write> cell_count: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> particle_cell_rank: array<vec2<u32>>;

@compute @workgroup_size(64)
fn bin_count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
    let c = cell_index(particle_cell((xp - p_origin()) * p_inv_dx()));
    let rank = atomicAdd(&cell_count[c], 1u);
    particle_cell_rank[p] = vec2<u32>(c, rank);
}
