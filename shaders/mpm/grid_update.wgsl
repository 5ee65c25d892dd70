// Grid update of one node after P2G: momentum to velocity, gravity, domain
// walls, then every tool as a kinematic signed-distance collider with Coulomb
// friction and an optional soft falloff. The importer binds `params`, `tools`
// (16 Reals per tool, see `ductile_sim::mpm::tools`), `control` (16 Reals per
// step and tool: position, quaternion, linear and angular velocity),
// `sdf_values`, and `accum_buf` (per-tool contact force, 4 f32 each).

#import common/sdf
#import common/atomics

fn load_tool_shape(t: u32) -> ToolShape {
    let o = 16u * t;
    var s: ToolShape;
    s.kind = u32(tools[o]);
    s.dims = vec3r(tools[o + 1u], tools[o + 2u], tools[o + 3u]);
    s.sdf_offset = u32(tools[o + 6u]);
    s.sdf_dims = vec3<u32>(u32(tools[o + 7u]), u32(tools[o + 8u]), u32(tools[o + 9u]));
    s.sdf_dx = tools[o + 10u];
    s.sdf_origin = vec3r(tools[o + 11u], tools[o + 12u], tools[o + 13u]);
    return s;
}

// Coulomb projection of relative velocity `rel` against surface normal `n`
// with friction `mu`: removes the approaching normal part and reduces the
// tangential part by μ times it. Separating velocities are returned unchanged.
fn coulomb(rel: vec3r, n: vec3r, mu: Real) -> vec3r {
    let vn = dot(rel, n);
    if (vn >= 0.0) {
        return rel;
    }
    let vt = rel - vn * n;
    let lt = length(vt);
    let scale = max(0.0, 1.0 + mu * vn / max(lt, 1e-30));
    return select(vec3r(0.0), vt * scale, lt > 1e-30);
}

fn wall_axis(v: vec3r, axis: u32, normal_sign: Real, kind: u32, mu: Real) -> vec3r {
    var n = vec3r(0.0);
    n[axis] = normal_sign;
    if (kind == 2u) {
        return vec3r(0.0);
    }
    if (kind == 1u) {
        return v - dot(v, n) * n;
    }
    return coulomb(v, n, mu);
}

fn grid_update_node(node: vec3<u32>, mass: Real, momentum: vec3r, step: u32) -> vec3r {
    if (mass <= 0.0) {
        return vec3r(0.0);
    }
    let dt = p_dt();
    var v = momentum / mass + dt * p_gravity();
    let b = p_boundary_cells();
    let nmax = p_cells();
    let kind = p_boundary_kind();
    let mu_w = p_wall_friction();
    for (var a = 0u; a < 3u; a = a + 1u) {
        if (node[a] < b) {
            v = wall_axis(v, a, 1.0, kind, mu_w);
        }
        if (node[a] > nmax[a] - b) {
            v = wall_axis(v, a, -1.0, kind, mu_w);
        }
    }
    let xw = p_origin() + vec3r(node) * p_dx();
    let cstep = min(step, p_control_steps() - 1u);
    for (var t = 0u; t < p_num_tools(); t = t + 1u) {
        let s = load_tool_shape(t);
        let o = 16u * t;
        let mu = tools[o + 4u];
        let soft = tools[o + 5u];
        let co = 16u * (cstep * p_num_tools() + t);
        let pos = vec3r(control[co], control[co + 1u], control[co + 2u]);
        let q = vec4r(control[co + 4u], control[co + 5u], control[co + 6u], control[co + 7u]);
        let lin = vec3r(control[co + 8u], control[co + 9u], control[co + 10u]);
        let ang = vec3r(control[co + 12u], control[co + 13u], control[co + 14u]);
        let pl = quat_rotate(quat_conj(q), xw - pos);
        let phi = tool_sdf(pl, s);
        if (phi < soft || phi <= 0.0) {
            let h = select(0.25 * p_dx(), 0.5 * s.sdf_dx, s.kind == SHAPE_MESH);
            let n = quat_rotate(q, tool_normal(pl, s, h));
            let vt = lin + cross(ang, xw - pos);
            let projected = vt + coulomb(v - vt, n, mu);
            let ratio = select(1.0, 1.0 - phi / max(soft, 1e-30), phi > 0.0);
            let weight = select(ratio * ratio, 1.0, phi <= 0.0);
            let vnew = v + weight * (projected - v);
            // Force on the tool [N] = −(impulse on the matter) / dt.
            let f = -mass * (vnew - v) / dt;
            accum_add(4u * t, f32(f.x));
            accum_add(4u * t + 1u, f32(f.y));
            accum_add(4u * t + 2u, f32(f.z));
            v = vnew;
        }
    }
    return v;
}
