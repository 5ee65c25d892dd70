// Packs particles for the renderer: (x, y, z, c) as f32, where c is the body
// index (colour by body), |v| / scale (colour by speed), the von Mises
// equivalent √(3/2)·|dev τ| of the Kirchhoff stress / scale (colour by
// stress), or value / scale for a
// per-particle value the host uploaded once (colour by value, e.g. the
// magnitude of a loss gradient). Runs only when a picture is rendered; the
// particle state never leaves the GPU.

#import common/index
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> body_of: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<Real>;
@group(0) @binding(3) var<storage, read> v: array<Real>;
@group(0) @binding(4) var<storage, read> pack_opts: array<f32>; // [mode (0 body, 1 speed, 2 value, 3 stress), scale]
@group(0) @binding(5) var<storage, read_write> packed: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> particle_value: array<f32>;
@group(0) @binding(7) var<storage, read> tau: array<Real>;

@compute @workgroup_size(64)
fn pack_render(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let xp = vec3<f32>(f32(x[3u * p]), f32(x[3u * p + 1u]), f32(x[3u * p + 2u]));
    var c = f32(tag_body(body_of[p]));
    if (pack_opts[0] > 2.5) {
        let t = mat3x3<f32>(f32(tau[mat_index(p, 0u)]), f32(tau[mat_index(p, 1u)]), f32(tau[mat_index(p, 2u)]),
                            f32(tau[mat_index(p, 3u)]), f32(tau[mat_index(p, 4u)]), f32(tau[mat_index(p, 5u)]),
                            f32(tau[mat_index(p, 6u)]), f32(tau[mat_index(p, 7u)]), f32(tau[mat_index(p, 8u)]));
        let mean = (t[0][0] + t[1][1] + t[2][2]) / 3.0;
        let d = t - mat3x3<f32>(mean, 0.0, 0.0, 0.0, mean, 0.0, 0.0, 0.0, mean);
        let dd = dot(d[0], d[0]) + dot(d[1], d[1]) + dot(d[2], d[2]);
        c = clamp(sqrt(1.5 * dd) / max(pack_opts[1], 1e-30), 0.0, 1.0);
    } else if (pack_opts[0] > 1.5) {
        c = clamp(particle_value[p] / max(pack_opts[1], 1e-30), 0.0, 1.0);
    } else if (pack_opts[0] > 0.5) {
        let vp = vec3<f32>(f32(v[3u * p]), f32(v[3u * p + 1u]), f32(v[3u * p + 2u]));
        c = clamp(length(vp) / max(pack_opts[1], 1e-12), 0.0, 1.0);
    }
    packed[p] = vec4<f32>(xp, c);
}
