// Adjoint of the FEM–MPM penalty contact (`fem/matter.wgsl`), run after
// both solvers' adjoints of the substep, on state_t (parity 0) and its bins
// (`matter_centroids` runs first, on state_t, before the triangles are
// binned). Reads ∂L/∂ext_i (MPM grid) and ∂L/∂ext_j (FEM node), adds into
// both solvers' ∂L/∂(x, v)_t; a pair's forces enter L as f̄_p·f − Σ_i β_i ē_i·f.
//   `matter_adj_particles` (per particle): f̄_p = Σ_i w_ip ē_i (kept in
//     `fpbar`); x̄_p += Σ_i (ē_i·f_p) ∇w_ip + Σ_t x̄_p(t), v̄_p += Σ_t v̄_p(t)
//     (`tri_vjp` over the triangles near it), and whether any pair touches
//     it into `ptouch`;
//   `matter_adj_nodes` (per FEM node, after it): over its triangles t and
//     the touched particles near each, its corner's share of `tri_vjp` into x̄_j,
//     v̄_j, and (once per pair, at corner 0) the (k, c, μ) partials into
//     `ppartial` (3 per node, summed on the host).

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
                    let t = t_sorted[s];
                    let a = tri_vjp(
                        tri_pair(p, t),
                        fb,
                        ebar_j(ffaces[3u * t]),
                        ebar_j(ffaces[3u * t + 1u]),
                        ebar_j(ffaces[3u * t + 2u]),
                    );
                    xb = xb + a.xp;
                    vb = vb + a.vp;
                }
            }
        }
    }
    ptouch[p] = u32(touched);
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
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    var pb = vec3r(0.0);
    for (var e = fstart[j]; e < fstart[j + 1u]; e = e + 1u) {
        let t = fentry[e];
        let ia = ffaces[3u * t];
        let ib = ffaces[3u * t + 1u];
        let ic = ffaces[3u * t + 2u];
        let corner = tri_corner(t, j);
        let c = m_cell(m_cent(t));
        for (var dz = -1; dz <= 1; dz = dz + 1) {
            for (var dy = -1; dy <= 1; dy = dy + 1) {
                let seg = m_row(true, c, dy, dz);
                for (var s = seg.x; s < seg.y; s = s + 1u) {
                    let p = p_sorted[s];
                    if (ptouch[p] == 0u) {
                        continue;
                    }
                    let fb = vec3r(fpbar[3u * p], fpbar[3u * p + 1u], fpbar[3u * p + 2u]);
                    let a = tri_vjp(tri_pair(p, t), fb, ebar_j(ia), ebar_j(ib), ebar_j(ic));
                    if (corner == 0u) {
                        xb = xb + a.xa;
                        vb = vb + a.va;
                        pb = pb + a.params;
                    } else if (corner == 1u) {
                        xb = xb + a.xb;
                        vb = vb + a.vb;
                    } else {
                        xb = xb + a.xc;
                        vb = vb + a.vc;
                    }
                }
            }
        }
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        fadj[k * n + j] = fadj[k * n + j] + xb[k];
        fadj[(k + 3u) * n + j] = fadj[(k + 3u) * n + j] + vb[k];
        ppartial[3u * j + k] = ppartial[3u * j + k] + pb[k];
    }
}
