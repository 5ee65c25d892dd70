// Whole-system diagnostics, run only when output is written: per workgroup,
// sums of mass [kg], momentum [kg·m/s], kinetic energy [J], gravitational
// potential energy −m g·x [J] and stored elastic energy ψ·V [J], written to
// `partials` (8 Reals per workgroup) and summed on the host in f64.

#import common/index
#import mpm/params
#import mpm/material

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<Real>;
@group(0) @binding(4) var<storage, read> v: array<Real>;
@group(0) @binding(5) var<storage, read> f_in: array<Real>;
@group(0) @binding(6) var<storage, read> aux_in: array<Real>;
@group(0) @binding(7) var<storage, read_write> partials: array<Real>;

var<workgroup> red: array<array<Real, 8>, 64>;

@compute @workgroup_size(64)
fn diagnostics(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let p = flat_index(gid, nwg);
    var vals: array<Real, 8>;
    for (var k = 0u; k < 8u; k = k + 1u) {
        vals[k] = 0.0;
    }
    if (p < p_num_particles()) {
        let m = load_material(tag_body(body_of[p]));
        let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        let vp = vec3r(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
        let f = mat3r(f_in[mat_index(p, 0u)], f_in[mat_index(p, 1u)], f_in[mat_index(p, 2u)],
                      f_in[mat_index(p, 3u)], f_in[mat_index(p, 4u)], f_in[mat_index(p, 5u)],
                      f_in[mat_index(p, 6u)], f_in[mat_index(p, 7u)], f_in[mat_index(p, 8u)]);
        vals[0] = m.mass;
        vals[1] = m.mass * vp.x;
        vals[2] = m.mass * vp.y;
        vals[3] = m.mass * vp.z;
        vals[4] = 0.5 * m.mass * dot(vp, vp);
        vals[5] = -m.mass * dot(p_gravity(), xp);
        vals[6] = m.vol * energy_density(m, f, aux_in[p]);
    }
    for (var k = 0u; k < 8u; k = k + 1u) {
        red[li][k] = vals[k];
    }
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride = stride / 2u) {
        if (li < stride) {
            for (var k = 0u; k < 8u; k = k + 1u) {
                red[li][k] = red[li][k] + red[li + stride][k];
            }
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        let g = flat_workgroup(wid, nwg);
        for (var k = 0u; k < 8u; k = k + 1u) {
            partials[8u * g + k] = red[0][k];
        }
    }
}
