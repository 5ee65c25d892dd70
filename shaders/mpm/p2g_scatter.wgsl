// P2G by scatter (the default f32 path): each particle adds its mass [kg] and
// momentum [kg·m/s] — m·v plus the APIC/MLS affine term (m·C − dt·V·(4/dx²)·τ)
// applied to the node offset — to the 27 nodes of its stencil with float
// atomics (`common/atomics.wgsl`: native `atomic<f32>` or a compare-and-swap
// loop), and marks its 4³ cell block active for the grid update.
// Summation order varies from run to run; `mpm/p2g.wgsl` is the deterministic
// (binned gather) alternative, and the only one in f64.

#import common/index
#import common/bspline
#import common/atomics
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<Real>;
@group(0) @binding(4) var<storage, read> v: array<Real>;
@group(0) @binding(5) var<storage, read> c: array<Real>;
@group(0) @binding(6) var<storage, read> tau: array<Real>;
@group(0) @binding(7) var<storage, read_write> block_active: array<u32>;
#if FLOAT_ATOMICS
@group(0) @binding(8) var<storage, read_write> accum_buf: array<atomic<f32>>;
#else
@group(0) @binding(8) var<storage, read_write> accum_buf: array<atomic<u32>>;
#endif
@group(0) @binding(9) var<storage, read> clock: array<u32>;

@compute @workgroup_size(64)
fn p2g_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let tag = body_of[p];
    if (tag_waiting(tag, clock[0])) {
        return;
    }
    let b = tag_body(tag);
    let mass = materials[16u * b + 1u];
    let vol = materials[16u * b + 2u];
    let dx = p_dx();
    let inv_dx = p_inv_dx();
    let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
    let xg = (xp - p_origin()) * inv_dx;
    let base = particle_cell(xg);
    let fx = xg - vec3r(base);
    let w = stencil_weights(fx);
    let k = -p_dt() * vol * 4.0 * inv_dx * inv_dx;
    let o9 = 9u * p;
    let a = mass * mat3r(c[o9], c[o9 + 1u], c[o9 + 2u], c[o9 + 3u], c[o9 + 4u], c[o9 + 5u], c[o9 + 6u], c[o9 + 7u], c[o9 + 8u])
        + k * mat3r(tau[o9], tau[o9 + 1u], tau[o9 + 2u], tau[o9 + 3u], tau[o9 + 4u], tau[o9 + 5u], tau[o9 + 6u], tau[o9 + 7u], tau[o9 + 8u]);
    let mv = mass * vec3r(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
    let nodes = p_nodes();
    let base_index = node_index(base);
    for (var kz = 0u; kz < 3u; kz = kz + 1u) {
        let wz = stencil_axis(w, kz, 2u);
        for (var ky = 0u; ky < 3u; ky = ky + 1u) {
            let wy = stencil_axis(w, ky, 1u);
            let row = base_index + nodes.x * (ky + nodes.y * kz);
            for (var kx = 0u; kx < 3u; kx = kx + 1u) {
                let wx = stencil_axis(w, kx, 0u);
                let weight = wx * wy * wz;
                let dpos = (vec3r(Real(kx), Real(ky), Real(kz)) - fx) * dx;
                let mom = weight * (mv + a * dpos);
                let gi = 4u * (row + kx);
                accum_add(gi, f32(mom.x));
                accum_add(gi + 1u, f32(mom.y));
                accum_add(gi + 2u, f32(mom.z));
                accum_add(gi + 3u, f32(weight * mass));
            }
        }
    }
    block_active[cell_block_index(base)] = 1u;
}
