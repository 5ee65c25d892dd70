// P2G, stage 1: for each particle in binned order, the payload that the
// per-node gather needs: position [m], mass [kg], momentum m·v [kg·m/s] and
// the APIC/MLS affine matrix A = m·C − dt·V·(4/dx²)·τ [kg/s].
// Reading particles once in cell order here keeps the gather's reads contiguous.
// A particle still waiting in its emitter gets an all-zero payload.

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> sorted: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<Real>;
@group(0) @binding(5) var<storage, read> v: array<Real>;
@group(0) @binding(6) var<storage, read> c: array<Real>;
@group(0) @binding(7) var<storage, read> tau: array<Real>;
@group(0) @binding(8) var<storage, read_write> payload: array<Real>;
@group(0) @binding(9) var<storage, read> clock: array<u32>;

@compute @workgroup_size(64)
fn p2g_prepare(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let s = flat_index(gid, nwg);
    if (s >= p_num_particles()) {
        return;
    }
    let p = sorted[s];
    let tag = body_of[p];
    let b = tag_body(tag);
    // A particle waiting in its emitter puts nothing on the grid.
    let mass = select(materials[16u * b + 1u], 0.0, tag_waiting(tag, clock[0]));
    let vol = materials[16u * b + 2u];
    let k = select(-p_dt() * vol * 4.0 * p_inv_dx() * p_inv_dx(), 0.0, mass == 0.0);
    let o = 16u * s;
    payload[o] = x[3u * p];
    payload[o + 1u] = x[3u * p + 1u];
    payload[o + 2u] = x[3u * p + 2u];
    payload[o + 3u] = mass;
    payload[o + 4u] = mass * v[3u * p];
    payload[o + 5u] = mass * v[3u * p + 1u];
    payload[o + 6u] = mass * v[3u * p + 2u];
    for (var i = 0u; i < 9u; i = i + 1u) {
        payload[o + 7u + i] = mass * c[mat_index(p, i)] + k * tau[mat_index(p, i)];
    }
}
