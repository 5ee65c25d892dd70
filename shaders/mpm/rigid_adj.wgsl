// Adjoint of the rigid projection (`mpm/rigid.wgsl`), run before `g2p_adj`.
// One workgroup per rigid body. It recomputes the forward quantities (the
// G2P velocities v_j from the kept grid, x_c, V, I, L, ω) and rewrites, for
// the body's particles, the adjoint of state_{t+1} in `adj` (stride 34: x,
// v, C, F, aux, τ) into the adjoint of G2P's own outputs:
//   x slot: ∂L/∂x_j through the projection only (x'_j = x_j + dt v'_j, r_j),
//           which `g2p_adj` adds to x̄_t without passing it to v;
//   v slot: ∂L/∂v_j (the gathered velocity);
//   C, F, τ slots: 0 (the projection replaces them by [ω]×, 1 and 0).
// With g_j = v̄'_j + dt x̄'_j:
//   V̄ = Σ g_j,  ω̄ = Σ r_j × g_j + Σ vee(C̄'_j),  L̄ = I⁻¹ ω̄,  Ī = −L̄ ωᵀ,
//   v̄_j = L̄ × r_j + V̄/n,
//   r̄_j = g_j × ω + v_j × L̄ + 2 tr(Ī) r_j − (Ī + Īᵀ) r_j,
//   x̄_j = x̄'_j + r̄_j − Σ_k r̄_k / n.

#import common/bspline
#import mpm/params
#import mpm/rigid_common

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> rigid_table: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> grid: array<vec4r>;
@group(0) @binding(3) var<storage, read> x_in: array<Real>;
@group(0) @binding(4) var<storage, read_write> adj: array<Real>;


fn x_at(p: u32) -> vec3r {
    return vec3r(x_in[3u * p], x_in[3u * p + 1u], x_in[3u * p + 2u]);
}

// The velocity G2P gathers at x from the updated grid.
fn gathered_velocity(xp: vec3r) -> vec3r {
    let xg = (xp - p_origin()) * p_inv_dx();
    let base = particle_cell(xg);
    let w = stencil_weights(xg - vec3r(base));
    let nodes = p_nodes();
    let base_index = node_index(base);
    var vel = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var j = 0u; j < 3u; j = j + 1u) {
            let row = base_index + nodes.x * (j + nodes.y * k);
            for (var i = 0u; i < 3u; i = i + 1u) {
                let weight = stencil_axis(w, i, 0u) * stencil_axis(w, j, 1u) * stencil_axis(w, k, 2u);
                vel = vel + weight * grid[row + i].xyz;
            }
        }
    }
    return vel;
}

// Entries e, e + 1, e + 2 of particle p's adjoint state.
fn adj_vec(p: u32, e: u32) -> vec3r {
    return vec3r(adj[adj_index(p, e)], adj[adj_index(p, e + 1u)], adj[adj_index(p, e + 2u)]);
}

@compute @workgroup_size(64)
fn rigid_project_adj(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let body = rigid_table[wid.x];
    let first = body.x;
    let count = body.y;
    let n = Real(count);
    let dt = p_dt();

    // Forward recomputation.
    var sx = vec3r(0.0);
    var sv = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        let xp = x_at(first + i);
        sx = sx + xp;
        sv = sv + gathered_velocity(xp);
    }
    let s1 = reduce3(li, sx, sv, vec3r(0.0));
    let xc = s1[0] / n;
    var sd = vec3r(0.0);
    var so = vec3r(0.0);
    var sl = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        let xp = x_at(first + i);
        let r = xp - xc;
        sd = sd + r * r;
        so = so + vec3r(r.x * r.y, r.x * r.z, r.y * r.z);
        sl = sl + cross(r, gathered_velocity(xp));
    }
    let s2 = reduce3(li, sd, so, sl);
    let inertia = inertia_of(s2[0], s2[1]);
    let omega = solve_sym3(inertia, s2[2]);

    // V̄ and ω̄.
    var svb = vec3r(0.0);
    var swb = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        let p = first + i;
        let g = adj_vec(p, 3u) + dt * adj_vec(p, 0u);
        let r = x_at(p) - xc;
        // vee(C̄) for C = [ω]× (column-major C̄[col][row] = adj entry 6 + 3 col + row).
        let cb = vec3r(
            adj[adj_index(p, 6u + 5u)] - adj[adj_index(p, 6u + 7u)],
            adj[adj_index(p, 6u + 6u)] - adj[adj_index(p, 6u + 2u)],
            adj[adj_index(p, 6u + 1u)] - adj[adj_index(p, 6u + 3u)],
        );
        svb = svb + g;
        swb = swb + cross(r, g) + cb;
    }
    let s3 = reduce3(li, svb, swb, vec3r(0.0));
    let vbar_c = s3[0];
    // ω = I⁻¹ L: L̄ = I⁻¹ ω̄ (I symmetric), Ī = −L̄ ωᵀ; a singular I gave ω = 0 for any L.
    let lbar = solve_sym3(inertia, s3[1]);
    let ibar = outer(-lbar, omega);
    let ibar_sym = ibar + transpose(ibar);
    let tr_ibar = ibar[0][0] + ibar[1][1] + ibar[2][2];

    // Per particle: v̄_j, r̄_j; keep x̄'_j + r̄_j in the x slot.
    var srb = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        let p = first + i;
        let xp = x_at(p);
        let r = xp - xc;
        let xbar1 = adj_vec(p, 0u);
        let g = adj_vec(p, 3u) + dt * xbar1;
        let v = gathered_velocity(xp);
        let vbar = cross(lbar, r) + vbar_c / n;
        let rbar = cross(g, omega) + cross(v, lbar) + 2.0 * tr_ibar * r - ibar_sym * r;
        srb = srb + rbar;
        let xs = xbar1 + rbar;
        for (var k = 0u; k < 3u; k = k + 1u) {
            adj[adj_index(p, k)] = xs[k];
            adj[adj_index(p, 3u + k)] = vbar[k];
        }
        for (var k = 6u; k < 24u; k = k + 1u) {
            adj[adj_index(p, k)] = 0.0;
        }
        for (var k = 25u; k < 34u; k = k + 1u) {
            adj[adj_index(p, k)] = 0.0;
        }
    }
    let s4 = reduce3(li, srb, vec3r(0.0), vec3r(0.0));
    let shift = s4[0] / n;
    for (var i = li; i < count; i = i + 64u) {
        let p = first + i;
        for (var k = 0u; k < 3u; k = k + 1u) {
            adj[adj_index(p, k)] = adj[adj_index(p, k)] - shift[k];
        }
    }
}

fn outer(a: vec3r, b: vec3r) -> mat3r {
    return mat3r(a * b.x, a * b.y, a * b.z);
}
