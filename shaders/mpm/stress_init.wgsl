// Kirchhoff stress τ [Pa] of the initial state, so that the first P2G sees
// the same stress that G2P stores for every later step.

#import common/index
#import mpm/params
#import mpm/material

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> c_in: array<Real>;
@group(0) @binding(4) var<storage, read> f_in: array<Real>;
@group(0) @binding(5) var<storage, read> aux_in: array<Real>;
@group(0) @binding(6) var<storage, read_write> tau_out: array<Real>;

fn load_f(p: u32) -> mat3r {
    return mat3r(f_in[mat_index(p, 0u)], f_in[mat_index(p, 1u)], f_in[mat_index(p, 2u)],
                 f_in[mat_index(p, 3u)], f_in[mat_index(p, 4u)], f_in[mat_index(p, 5u)],
                 f_in[mat_index(p, 6u)], f_in[mat_index(p, 7u)], f_in[mat_index(p, 8u)]);
}

fn load_c(p: u32) -> mat3r {
    return mat3r(c_in[mat_index(p, 0u)], c_in[mat_index(p, 1u)], c_in[mat_index(p, 2u)],
                 c_in[mat_index(p, 3u)], c_in[mat_index(p, 4u)], c_in[mat_index(p, 5u)],
                 c_in[mat_index(p, 6u)], c_in[mat_index(p, 7u)], c_in[mat_index(p, 8u)]);
}

@compute @workgroup_size(64)
fn stress_init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let m = load_material(tag_body(body_of[p]));
    let tau = kirchhoff_stress(m, load_f(p), load_c(p), aux_in[p]);
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            tau_out[mat_index(p, 3u * j + i)] = tau[j][i];
        }
    }
}
