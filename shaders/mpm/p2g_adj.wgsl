// Adjoint of P2G (`mpm/p2g_prepare.wgsl` + the gather of `mpm/p2g.wgsl`),
// particle side: one invocation per particle gathers (∂L/∂P_i, ∂L/∂m_i) of
// its 27 nodes from `grid_bar` (written by `mpm/grid_adj.wgsl`) and, with
//   m_i = Σ w_ip m_p,   P_i = Σ w_ip (m_p v_p + A_p·(x_i − x_p)),
//   A_p = m_p C_p − dt·V_p·(4/dx²)·τ_p,
// writes ∂L/∂v_p, ∂L/∂C_p and ∂L/∂τ_p into `adj_out` (the adjoint of state_t)
// and adds ∂L/∂x_p to what `mpm/g2p_adj.wgsl` left there. The adjoints of
// the body's particle mass and volume go to `pgrad` slots 3 and 4.

#import common/index
#import common/bspline
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<Real>;
@group(0) @binding(4) var<storage, read> v: array<Real>;
@group(0) @binding(5) var<storage, read> c: array<Real>;
@group(0) @binding(6) var<storage, read> tau: array<Real>;
@group(0) @binding(7) var<storage, read> grid_bar: array<vec4r>;
@group(0) @binding(8) var<storage, read_write> adj_out: array<Real>;
@group(0) @binding(9) var<storage, read_write> pgrad: array<Real>;
@group(0) @binding(10) var<storage, read> clock: array<u32>;


// Particle p's C (which = 0) or τ (which = 1).
fn load9(p: u32, which: u32) -> mat3r {
    var m = mat3r();
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            m[j][i] = select(tau[mat_index(p, 3u * j + i)], c[mat_index(p, 3u * j + i)], which == 0u);
        }
    }
    return m;
}

@compute @workgroup_size(64)
fn p2g_adj(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let tag = body_of[p];
    // A particle waiting in its emitter: `g2p_adj` wrote its whole adjoint.
    if (tag_waiting(tag, clock[0])) {
        return;
    }
    let b = tag_body(tag);
    let mass = materials[16u * b + 1u];
    let vol = materials[16u * b + 2u];
    let dx = p_dx();
    let inv_dx = p_inv_dx();
    let kv = -p_dt() * 4.0 * inv_dx * inv_dx;
    let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
    let vp = vec3r(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
    let cp = load9(p, 0u);
    let tp = load9(p, 1u);
    let a = mass * cp + kv * vol * tp;
    let xg = (xp - p_origin()) * inv_dx;
    let base = particle_cell(xg);
    var vbar = vec3r(0.0);
    var abar = mat3r();
    var xbar = vec3r(0.0);
    var mbar: Real = 0.0;
    var volbar: Real = 0.0;
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var j = 0u; j < 3u; j = j + 1u) {
            for (var i = 0u; i < 3u; i = i + 1u) {
                let node = base + vec3<u32>(i, j, k);
                let nf = vec3r(node);
                let w = bspline_node_weight(xg, nf);
                let gw = bspline_node_weight_grad(xg, nf) * inv_dx;
                let gb = grid_bar[node_index(node)];
                let pbar = gb.xyz;
                let dpos = (nf - xg) * dx;
                vbar = vbar + w * mass * pbar;
                abar = abar + w * mat3r(pbar * dpos.x, pbar * dpos.y, pbar * dpos.z);
                let q = mass * vp + a * dpos;
                xbar = xbar + (gb.w * mass + dot(pbar, q)) * gw - w * (transpose(a) * pbar);
                mbar = mbar + w * (gb.w + dot(pbar, vp + cp * dpos));
                volbar = volbar + w * dot(pbar, kv * (tp * dpos));
            }
        }
    }
    adj_out[adj_index(p, 0u)] = adj_out[adj_index(p, 0u)] + xbar.x;
    adj_out[adj_index(p, 1u)] = adj_out[adj_index(p, 1u)] + xbar.y;
    adj_out[adj_index(p, 2u)] = adj_out[adj_index(p, 2u)] + xbar.z;
    adj_out[adj_index(p, 3u)] = vbar.x;
    adj_out[adj_index(p, 4u)] = vbar.y;
    adj_out[adj_index(p, 5u)] = vbar.z;
    let cbar = mass * abar;
    let taubar = kv * vol * abar;
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            adj_out[adj_index(p, 6u + 3u * j + i)] = cbar[j][i];
            adj_out[adj_index(p, 25u + 3u * j + i)] = taubar[j][i];
        }
    }
    pgrad[8u * p + 3u] = pgrad[8u * p + 3u] + mbar;
    pgrad[8u * p + 4u] = pgrad[8u * p + 4u] + volbar;
}
