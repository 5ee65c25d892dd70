// Adjoint of the FEM–MPM penalty contact (`fem/matter.wgsl`), run after
// both solvers' adjoints of the substep, on state_t (parity 0) and its bins.
// Reads ∂L/∂ext_i (MPM grid) and ∂L/∂ext_j (FEM node), adds into both
// solvers' ∂L/∂(x, v)_t; a pair's force f enters L as (ē_j − f̄_p)·f.
//   `matter_adj_particles` (per particle): f̄_p = Σ_i w_ip ē_i (kept in
//     `fpbar`); x̄_p += Σ_i (ē_i·f_p) ∇w_ip − Σ_j d̄(ē_j − f̄_p), v̄_p −= Σ_j ū;
//   `matter_adj_nodes` (per FEM node, after it): x̄_j += Σ_p d̄, v̄_j += Σ_p ū,
//     the pairs' (k, c, μ) partials into `ppartial` (3 per node, summed
//     on the host: each pair is counted once, by its node), and the
//     normal's cotangent N̄_j = P (−Σ_p m̄) / |N_j| into `nbar`;
//   `matter_adj_normals` (per FEM node, last): through N_j = Σ_t N_t, each
//     boundary triangle t = (a, b, c) takes N̄_t = N̄_a + N̄_b + N̄_c, and with
//     N_t = u × v (u = x_b − x_a, v = x_c − x_a): x̄_b += v × N̄_t,
//     x̄_c += N̄_t × u, x̄_a −= both. (`matter_normals` runs first, on state_t.)

#import fem/matter_law
#import common/bspline

@group(0) @binding(14) var<storage, read> ext_grid_bar: array<vec4r>;
@group(0) @binding(15) var<storage, read> ext_fem_bar: array<Real>;
@group(0) @binding(16) var<storage, read_write> madj: array<Real>;
@group(0) @binding(17) var<storage, read_write> fadj: array<Real>;
@group(0) @binding(18) var<storage, read_write> fpbar: array<Real>;
@group(0) @binding(19) var<storage, read_write> ppartial: array<Real>;

fn ebar_j(j: u32) -> vec3r {
    return vec3r(ext_fem_bar[3u * j], ext_fem_bar[3u * j + 1u], ext_fem_bar[3u * j + 2u]);
}

@compute @workgroup_size(64)
fn matter_adj_particles(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let xp = m_xp(p);
    let vp = m_vp(p);
    let c = m_cell(xp);
    let contact = particle_contact(p);
    let f = contact.xyz;
    let touched = contact.w != 0.0;
    var fb = vec3r(0.0);
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    if (touched) {
        let xg = (xp - p_origin()) * p_inv_dx();
        let base = floor(xg - vec3r(0.5));
        let nn = p_nodes();
        for (var s = 0u; s < 27u; s = s + 1u) {
            let node = base + stencil_offset(s);
            if (any(node < vec3r(0.0)) || any(node >= vec3r(nn))) {
                continue;
            }
            let i = u32(node.x) + nn.x * (u32(node.y) + nn.y * u32(node.z));
            let g = ext_grid_bar[i].xyz;
            fb = fb + bspline_node_weight(xg, node) * g;
            xb = xb + dot(g, f) * p_inv_dx() * bspline_node_weight_grad(xg, node);
        }
        for (var dz = -1; dz <= 1; dz = dz + 1) {
            for (var dy = -1; dy <= 1; dy = dy + 1) {
                let seg = m_row(false, c, dy, dz);
                for (var s = seg.x; s < seg.y; s = s + 1u) {
                    let j = n_sorted[s];
                    let a = pair_vjp(m_xj(j) - xp, m_vj(j) - vp, pair_sigma(j, p), m_dir(j), ebar_j(j) - fb);
                    xb = xb - a.d;
                    vb = vb - a.u;
                }
            }
        }
    }
    fpbar[3u * p] = fb.x;
    fpbar[3u * p + 1u] = fb.y;
    fpbar[3u * p + 2u] = fb.z;
    for (var k = 0u; k < 3u; k = k + 1u) {
        madj[adj_index(p, k)] = madj[adj_index(p, k)] + xb[k];
        madj[adj_index(p, k + 3u)] = madj[adj_index(p, k + 3u)] + vb[k];
    }
}

@compute @workgroup_size(64)
fn matter_adj_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = flat_index(gid, nwg);
    let n = n_fem();
    if (j >= n) {
        return;
    }
    let xj = m_xj(j);
    let vj = m_vj(j);
    let eb = ebar_j(j);
    let c = m_cell(xj);
    let m = m_dir(j);
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    var pb = vec3r(0.0);
    var mb = vec3r(0.0);
    for (var dz = -1; dz <= 1; dz = dz + 1) {
        for (var dy = -1; dy <= 1; dy = dy + 1) {
            let seg = m_row(true, c, dy, dz);
            for (var s = seg.x; s < seg.y; s = s + 1u) {
                let p = p_sorted[s];
                let fb = vec3r(fpbar[3u * p], fpbar[3u * p + 1u], fpbar[3u * p + 2u]);
                let a = pair_vjp(xj - m_xp(p), vj - m_vp(p), pair_sigma(j, p), m, eb - fb);
                xb = xb + a.d;
                vb = vb + a.u;
                pb = pb + a.params;
                mb = mb + a.m;
            }
        }
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        fadj[k * n + j] = fadj[k * n + j] + xb[k];
        fadj[(k + 3u) * n + j] = fadj[(k + 3u) * n + j] + vb[k];
        ppartial[3u * j + k] = ppartial[3u * j + k] + pb[k];
    }
    // m̂ = −N/|N|: N̄ = (I − n̂n̂ᵀ)(−m̄)/|N| (0 off the surface).
    let len = mnormal[4u * j + 3u];
    var nb = vec3r(0.0);
    if (len > 0.0) {
        nb = -(mb - dot(mb, m) * m) / len;
    }
    nbar[3u * j] = nb.x;
    nbar[3u * j + 1u] = nb.y;
    nbar[3u * j + 2u] = nb.z;
}

@compute @workgroup_size(64)
fn matter_adj_normals(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let n = n_fem();
    if (i >= n) {
        return;
    }
    let xb = normal_pullback(i);
    for (var k = 0u; k < 3u; k = k + 1u) {
        fadj[k * n + i] = fadj[k * n + i] + xb[k];
    }
}
