// Adjoint of G2P (`mpm/g2p.wgsl`), particle side. One invocation per particle,
// in binned order s (particle p = sorted[s]). It recomputes the particle's
// forward G2P from state_t and the updated grid, then pulls the adjoint of
// state_{t+1} back through stress, plasticity, the deformation update and the
// position update. It writes:
//   - adj_out (adjoint of state_t): x̄ from the stencil weights and x_{t+1},
//     F̄ and aux̄; v̄, C̄ and τ̄ are written later by `p2g_adj`;
//   - payload (binned order): x [m], ∂L/∂v_p and ∂L/∂B_p, which `grid_adj`
//     gathers per node into ∂L/∂v_i = Σ_p w_ip (∂L/∂v_p + ∂L/∂B_p · dpos_ip);
//   - pgrad: per-particle adjoints of μ, λ and a, accumulated over steps.
// Adjoint state layout (34 Reals per particle): x 0..3, v 3..6, C 6..15,
// F 15..24, aux 24, τ 25..34 (matrices column-major).
//
// A particle still waiting in its emitter was carried over unchanged (and
// P2G gave it no mass): its adjoint is carried back unchanged, τ̄ = 0, and it
// sends nothing to the grid; `p2g_adj` skips it.
//
// `stress_init_adj` is the adjoint of `mpm/stress_init.wgsl`: it folds ∂L/∂τ_0
// into F̄_0, C̄_0, aux̄_0 and the parameter adjoints.

#import common/index
#import common/bspline
#import mpm/params
#import mpm/material_adj

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> sorted: array<u32>;
@group(0) @binding(4) var<storage, read> grid: array<vec4r>;
@group(0) @binding(5) var<storage, read> x_in: array<Real>;
@group(0) @binding(6) var<storage, read> c_in: array<Real>;
@group(0) @binding(7) var<storage, read> f_in: array<Real>;
@group(0) @binding(8) var<storage, read> aux_in: array<Real>;
@group(0) @binding(9) var<storage, read> adj_next: array<Real>;
@group(0) @binding(10) var<storage, read_write> adj_out: array<Real>;
@group(0) @binding(11) var<storage, read_write> payload: array<Real>;
@group(0) @binding(12) var<storage, read_write> pgrad: array<Real>;
@group(0) @binding(13) var<storage, read> clock: array<u32>;

// Particle p's F (which = 0) or C (which = 1).
fn load_mat(p: u32, which: u32) -> mat3r {
    var m = mat3r();
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            if (which == 0u) {
                m[j][i] = f_in[mat_index(p, 3u * j + i)];
            } else {
                m[j][i] = c_in[mat_index(p, 3u * j + i)];
            }
        }
    }
    return m;
}

fn adj_next_mat(p: u32, e: u32) -> mat3r {
    return mat3r(adj_next[adj_index(p, e)], adj_next[adj_index(p, e + 1u)], adj_next[adj_index(p, e + 2u)],
                 adj_next[adj_index(p, e + 3u)], adj_next[adj_index(p, e + 4u)], adj_next[adj_index(p, e + 5u)],
                 adj_next[adj_index(p, e + 6u)], adj_next[adj_index(p, e + 7u)], adj_next[adj_index(p, e + 8u)]);
}

fn adj_next_vec(p: u32, e: u32) -> vec3r {
    return vec3r(adj_next[adj_index(p, e)], adj_next[adj_index(p, e + 1u)], adj_next[adj_index(p, e + 2u)]);
}

fn adj_out_mat(p: u32, e: u32) -> mat3r {
    return mat3r(adj_out[adj_index(p, e)], adj_out[adj_index(p, e + 1u)], adj_out[adj_index(p, e + 2u)],
                 adj_out[adj_index(p, e + 3u)], adj_out[adj_index(p, e + 4u)], adj_out[adj_index(p, e + 5u)],
                 adj_out[adj_index(p, e + 6u)], adj_out[adj_index(p, e + 7u)], adj_out[adj_index(p, e + 8u)]);
}

fn store_adj_mat(p: u32, e: u32, m: mat3r) {
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            adj_out[adj_index(p, e + 3u * j + i)] = m[j][i];
        }
    }
}

fn add_param_grads(p: u32, g: MatGrad) {
    pgrad[8u * p] = pgrad[8u * p] + g.mu;
    pgrad[8u * p + 1u] = pgrad[8u * p + 1u] + g.lambda;
    pgrad[8u * p + 2u] = pgrad[8u * p + 2u] + g.a;
    pgrad[8u * p + 5u] = pgrad[8u * p + 5u] + g.b;
    pgrad[8u * p + 6u] = pgrad[8u * p + 6u] + g.c;
}

@compute @workgroup_size(64)
fn g2p_adj(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let s = flat_index(gid, nwg);
    if (s >= p_num_particles()) {
        return;
    }
    let p = sorted[s];
    if (tag_waiting(body_of[p], clock[0])) {
        for (var i = 0u; i < 25u; i = i + 1u) {
            adj_out[adj_index(p, i)] = adj_next[adj_index(p, i)];
        }
        for (var i = 25u; i < 34u; i = i + 1u) {
            adj_out[adj_index(p, i)] = 0.0;
        }
        // Its own position (the gather weighs by it) with nothing to carry.
        for (var i = 0u; i < 3u; i = i + 1u) {
            payload[16u * s + i] = x_in[3u * p + i];
        }
        for (var i = 3u; i < 16u; i = i + 1u) {
            payload[16u * s + i] = 0.0;
        }
        return;
    }
    let dt = p_dt();
    let dx = p_dx();
    let inv_dx = p_inv_dx();

    // Forward recomputation (as in g2p.wgsl).
    let xp = vec3r(x_in[3u * p], x_in[3u * p + 1u], x_in[3u * p + 2u]);
    let xg = (xp - p_origin()) * inv_dx;
    let base = particle_cell(xg);
    let fx = xg - vec3r(base);
    let w = stencil_weights(fx);
    let dw = stencil_weight_grads(fx);
    let nodes = p_nodes();
    let base_index = node_index(base);
    var bmat = mat3r();
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var j = 0u; j < 3u; j = j + 1u) {
            let row = base_index + nodes.x * (j + nodes.y * k);
            for (var i = 0u; i < 3u; i = i + 1u) {
                let weight = stencil_axis(w, i, 0u) * stencil_axis(w, j, 1u) * stencil_axis(w, k, 2u);
                let gv = grid[row + i].xyz;
                let dpos = (vec3r(Real(i), Real(j), Real(k)) - fx) * dx;
                bmat = bmat + weight * mat3r(gv * dpos.x, gv * dpos.y, gv * dpos.z);
            }
        }
    }
    let cmat = 4.0 * inv_dx * inv_dx * bmat;
    let m = load_material(tag_body(body_of[p]));
    let f0 = load_mat(p, 0u);
    let aux0 = aux_in[p];

    // Adjoint of state_{t+1}.
    let xbar1 = adj_next_vec(p, 0u);
    let vbar1 = adj_next_vec(p, 3u);
    var cbar = adj_next_mat(p, 6u);
    let fbar1 = adj_next_mat(p, 15u);
    let auxbar1 = adj_next[adj_index(p, 24u)];
    let taubar1 = adj_next_mat(p, 25u);

    var fbar0 = fbar1;
    var auxbar0 = auxbar1;
    var g = mat_grad_zero();
    if (is_fluid(m.kind)) {
        let aux1 = aux0 * (1.0 + dt * mat_trace(cmat));
        let sa = kirchhoff_stress_vjp(m, f0, cmat, aux1, taubar1);
        g = sa.g;
        cbar = cbar + sa.c;
        let a1 = auxbar1 + sa.aux;
        auxbar0 = a1 * (1.0 + dt * mat_trace(cmat));
        cbar = cbar + a1 * aux0 * dt * identity3();
    } else {
        let f1 = (identity3() + dt * cmat) * f0;
        let pl = plastic_projection(m, f1, aux0, dt);
        let sa = kirchhoff_stress_vjp(m, pl.f, cmat, pl.aux, taubar1);
        cbar = cbar + sa.c;
        let pa = plastic_projection_vjp(m, f1, aux0, dt, fbar1 + sa.f, auxbar1 + sa.aux);
        g = mat_grad_add(sa.g, pa.g);
        auxbar0 = pa.aux;
        cbar = cbar + dt * pa.f * transpose(f0);
        fbar0 = transpose(identity3() + dt * cmat) * pa.f;
    }
    add_param_grads(p, g);

    // x_{t+1} = x_t + dt·v_{t+1};  C = 4/dx²·B. For a rigid body,
    // `rigid_project_adj` already turned x̄_{t+1} into the projection's
    // direct ∂L/∂x_t, which must not reach v.
    let velbar = vbar1 + select(dt, 0.0, m.kind == MAT_RIGID) * xbar1;
    let bbar = 4.0 * inv_dx * inv_dx * cbar;
    var xbar = xbar1;
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var j = 0u; j < 3u; j = j + 1u) {
            let row = base_index + nodes.x * (j + nodes.y * k);
            for (var i = 0u; i < 3u; i = i + 1u) {
                let wx = stencil_axis(w, i, 0u);
                let wy = stencil_axis(w, j, 1u);
                let wz = stencil_axis(w, k, 2u);
                let weight = wx * wy * wz;
                let gradw = vec3r(stencil_axis(dw, i, 0u) * wy * wz, wx * stencil_axis(dw, j, 1u) * wz, wx * wy * stencil_axis(dw, k, 2u)) * inv_dx;
                let gv = grid[row + i].xyz;
                let dpos = (vec3r(Real(i), Real(j), Real(k)) - fx) * dx;
                let sw = dot(velbar, gv) + dot(gv, bbar * dpos);
                // ∂dpos/∂x = −I.
                xbar = xbar + sw * gradw - weight * (transpose(bbar) * gv);
            }
        }
    }

    adj_out[adj_index(p, 0u)] = xbar.x;
    adj_out[adj_index(p, 1u)] = xbar.y;
    adj_out[adj_index(p, 2u)] = xbar.z;
    store_adj_mat(p, 15u, fbar0);
    adj_out[adj_index(p, 24u)] = auxbar0;

    // Same layout as the P2G payload (x, mass, momentum, A), so that `grid_adj`
    // gathers with the same code: mass 0, "momentum" ∂L/∂v_p, "A" ∂L/∂B_p.
    let q = 16u * s;
    payload[q] = xp.x;
    payload[q + 1u] = xp.y;
    payload[q + 2u] = xp.z;
    payload[q + 3u] = 0.0;
    payload[q + 4u] = velbar.x;
    payload[q + 5u] = velbar.y;
    payload[q + 6u] = velbar.z;
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            payload[q + 7u + 3u * j + i] = bbar[j][i];
        }
    }
}

// Adjoint of `stress_init`: τ_0 = τ(F_0, C_0, aux_0). Reads τ̄_0 from adj_out
// and adds into its F̄, C̄ and aux̄ (state 0) and into the parameter adjoints. One invocation per particle.
@compute @workgroup_size(64)
fn stress_init_adj(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let m = load_material(tag_body(body_of[p]));
    let taubar = adj_out_mat(p, 25u);
    let sa = kirchhoff_stress_vjp(m, load_mat(p, 0u), load_mat(p, 1u), aux_in[p], taubar);
    store_adj_mat(p, 6u, adj_out_mat(p, 6u) + sa.c);
    store_adj_mat(p, 15u, adj_out_mat(p, 15u) + sa.f);
    adj_out[adj_index(p, 24u)] = adj_out[adj_index(p, 24u)] + sa.aux;
    add_param_grads(p, sa.g);
}
