// P2G by scatter (the default f32 path): particles add their mass [kg] and
// momentum [kg·m/s] — m·v plus the APIC/MLS affine term (m·C − dt·V·(4/dx²)·τ)
// applied to the node offset — to the 27 nodes of their stencil with float
// atomics (`common/atomics.wgsl`: native `atomic<f32>` or a compare-and-swap
// loop), and mark their 4³ cell block active for the grid update.
//
// Each invocation takes RUN consecutive particles. Particles that share a
// cell share a stencil, so the invocation sums a run of same-cell particles
// in registers and issues the 27 × 4 atomic adds once per run instead of once
// per particle. Particles are generated ordered by stencil base cell
// (`ductile_sim::simulation`), so a lattice body with 8 particles per cell
// needs about 8× fewer atomics; any order is correct, an order with no
// same-cell neighbours just costs one flush per particle.
// The stencil loops are written out with `#unroll` (see `ductile_gpu::shaders`):
// with a loop index, llvmpipe keeps `acc` in memory and indexes it lane by lane.
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

// Particles per invocation; must match `P2G_RUN` in `crates/ductile-sim/src/mpm/p2g.rs`.
const RUN: u32 = 8u;

// Adds one node's momentum and mass `s` at accumulator index `gi`.
fn accum_add_node(gi: u32, s: vec4<f32>) {
    accum_add(gi, s.x);
    accum_add(gi + 1u, s.y);
    accum_add(gi + 2u, s.z);
    accum_add(gi + 3u, s.w);
}

// Stencil node `s`'s share (weight × momentum `mom`, weight × `mass`).
fn stencil_node_sum(w: StencilWeights, s: u32, mass: Real, mom: vec3r) -> vec4<f32> {
    let weight = stencil_node_weight(w, s);
    return vec4<f32>(vec3<f32>(weight * mom), f32(weight * mass));
}

// Adds the run's sums `acc` (momentum, mass per stencil node) at `base`.
fn flush(base: vec3<u32>, acc: ptr<function, array<vec4<f32>, 27>>) {
    let nodes = p_nodes();
    let base_index = node_index(base);
#unroll 27 S
    accum_add_node(4u * stencil_node_index(base_index, nodes, S), (*acc)[S]);
#endunroll
    block_active[cell_block_index(base)] = 1u;
}

@compute @workgroup_size(64)
fn p2g_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let first = RUN * flat_index(gid, nwg);
    let n = p_num_particles();
    if (first >= n) {
        return;
    }
    let last = min(first + RUN, n);
    let now = clock[0];
    let dx = p_dx();
    let inv_dx = p_inv_dx();
    let k = -p_dt() * 4.0 * inv_dx * inv_dx;
    var acc: array<vec4<f32>, 27>;
    var run_base = vec3<u32>(0u);
    var open = false;
    // One pass more than the run's particles: the last one only flushes, so
    // the 27 × 4 atomic adds appear once in the compiled kernel.
    for (var p = first; p <= last; p = p + 1u) {
        var live = false;
        var xg = vec3r(0.0);
        var base = vec3<u32>(0u);
        var tag = 0u;
        if (p < last) {
            tag = body_of[p];
            live = !tag_waiting(tag, now);
            let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
            xg = (xp - p_origin()) * inv_dx;
            base = particle_cell(xg);
        }
        if (open && (p == last || (live && any(base != run_base)))) {
            flush(run_base, &acc);
            open = false;
        }
        if (!live) {
            continue;
        }
        if (!open) {
            acc = array<vec4<f32>, 27>();
            run_base = base;
            open = true;
        }
        let b = tag_body(tag);
        let mass = materials[16u * b + 1u];
        let vol = materials[16u * b + 2u];
        let fx = xg - vec3r(base);
        let w = stencil_weights(fx);
        let a = mass * mat3r(c[mat_index(p, 0u)], c[mat_index(p, 1u)], c[mat_index(p, 2u)],
                             c[mat_index(p, 3u)], c[mat_index(p, 4u)], c[mat_index(p, 5u)],
                             c[mat_index(p, 6u)], c[mat_index(p, 7u)], c[mat_index(p, 8u)])
            + (k * vol) * mat3r(tau[mat_index(p, 0u)], tau[mat_index(p, 1u)], tau[mat_index(p, 2u)],
                                tau[mat_index(p, 3u)], tau[mat_index(p, 4u)], tau[mat_index(p, 5u)],
                                tau[mat_index(p, 6u)], tau[mat_index(p, 7u)], tau[mat_index(p, 8u)]);
        // Momentum at the stencil's corner node; each node adds A·(node offset).
        let q0 = mass * vec3r(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]) - a * (fx * dx);
#unroll 27 S
        acc[S] = acc[S] + stencil_node_sum(w, S, mass, q0 + a * (stencil_offset(S) * dx));
#endunroll
    }
}
