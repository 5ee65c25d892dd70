// FEM–MPM penalty contact, forward (`fem/matter_law.wgsl` has the law).
// Reads state_t of both solvers and their bins; adds the contact force into
// the FEM body's coupling input and, through quadratic B-spline weights,
// into MPM's external force per grid node (Σ_i f_i = Σ_p f_p: momentum is
// exchanged exactly). Every sum runs in binned order: deterministic.
//   `matter_centroids` (per boundary triangle, first, before the triangles
//     are binned): its centroid into `tcent`;
//   `matter_particles` (per particle): f_p = Σ_t f(p, t) into `fp`, and
//     whether any pair touches it into `ptouch`;
//   `matter_grid` (per grid node): ext_i += Σ_p w_ip f_p;
//   `matter_nodes` (per FEM node): ext_j −= Σ_t Σ_p β_j f(p, t) over its
//     triangles t and the touched particles binned around each one's
//     centroid (an untouched particle has no pair in contact: exact), and
//     into `mdepth` the largest −s of a particle in contact with one of its
//     triangles, over the triangle, since the coupling was built (−R at first; a diagnostic:
//     positive where a particle's centre went behind the gel's surface).

#import fem/matter_law
#import common/bspline

@group(0) @binding(11) var<storage, read_write> fp: array<Real>;
@group(0) @binding(12) var<storage, read_write> ext_grid: array<vec4r>;
@group(0) @binding(13) var<storage, read_write> ext_fem: array<Real>;
@group(0) @binding(29) var<storage, read_write> mdepth: array<Real>;

@compute @workgroup_size(64)
fn matter_centroids(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat_index(gid, nwg);
    if (t >= n_tris()) {
        return;
    }
    let c = (m_xj(ffaces[3u * t]) + m_xj(ffaces[3u * t + 1u]) + m_xj(ffaces[3u * t + 2u])) / 3.0;
    tcent[3u * t] = c.x;
    tcent[3u * t + 1u] = c.y;
    tcent[3u * t + 2u] = c.z;
}

@compute @workgroup_size(64)
fn matter_particles(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let contact = particle_contact(p);
    let f = contact.xyz;
    ptouch[p] = u32(contact.w != 0.0);
    fp[3u * p] = f.x;
    fp[3u * p + 1u] = f.y;
    fp[3u * p + 2u] = f.z;
}

@compute @workgroup_size(64)
fn matter_grid(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let nn = p_nodes();
    if (i >= nn.x * nn.y * nn.z) {
        return;
    }
    let node = vec3<i32>(i32(i % nn.x), i32((i / nn.x) % nn.y), i32(i / (nn.x * nn.y)));
    let nf = vec3r(node);
    // Particles whose stencil (base cell b .. b + 2) reaches this node: base
    // cells node − 2 ..= node, i.e. the 3×3×3 cells around node − 1.
    let c = node - vec3<i32>(1);
    var f = vec3r(0.0);
    for (var dz = -1; dz <= 1; dz = dz + 1) {
        for (var dy = -1; dy <= 1; dy = dy + 1) {
            let seg = m_row(true, c, dy, dz);
            for (var s = seg.x; s < seg.y; s = s + 1u) {
                let p = p_sorted[s];
                let fpp = vec3r(fp[3u * p], fp[3u * p + 1u], fp[3u * p + 2u]);
                if (all(fpp == vec3r(0.0))) {
                    continue;
                }
                let w = bspline_node_weight((m_xp(p) - p_origin()) * p_inv_dx(), nf);
                f = f + w * fpp;
            }
        }
    }
    if (any(f != vec3r(0.0))) {
        ext_grid[i] = ext_grid[i] + vec4r(f, 0.0);
    }
}

@compute @workgroup_size(64)
fn matter_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = flat_index(gid, nwg);
    if (j >= n_fem()) {
        return;
    }
    var f = vec3r(0.0);
    var depth = mdepth[j];
    for (var e = fstart[j]; e < fstart[j + 1u]; e = e + 1u) {
        let t = fentry[e];
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
                    let r = tri_force(tri_pair(p, t));
                    f = f - r.beta[corner] * r.f;
                    // (only over the face: beside a convex edge, the
                    // plane says nothing of the gel's inside)
                    if (any(r.f != vec3r(0.0)) && all(r.beta >= vec3r(0.0))) {
                        depth = max(depth, -r.s);
                    }
                }
            }
        }
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        ext_fem[3u * j + k] = ext_fem[3u * j + k] + f[k];
    }
    mdepth[j] = depth;
}
