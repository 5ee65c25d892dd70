// Penalty contact of FEM nodes against the shared kinematic tools
// (`common/tools.wgsl`), with its adjoint. For node x with velocity v and
// tool t at the substep's pose (p, q) and velocity (lin, ang):
//   d = x − p, φ = sdf(R(q)ᵀ d), n̂ the unit outward normal,
//   v_rel = v − (lin + ang × d), v_n = v_rel·n̂, w = v_rel − v_n n̂,
// and, where φ < 0 (inside the tool),
//   f_n = max(k (−φ) − c v_n, 0)                       (spring, damper)
//   f = f_n n̂ − μ f_n w / √(|w|² + ε²)                 (smooth Coulomb)
// with k [N/m], c [N·s/m], μ and the stick speed ε [m/s] of the FEM body.
// The importer binds `ints`, `reals`, `clock`, `tools`, `control` and
// `sdf_values`; `ints[2]` is the number of tools, `ints[3]` the control
// substeps, `reals[8..13]` k, c, μ, ε and the analytic normal step h [m].

#import common/tools

@group(0) @binding(23) var<storage, read> tools: array<Real>;
@group(0) @binding(24) var<storage, read> control: array<Real>;
@group(0) @binding(25) var<storage, read> sdf_values: array<f32>;
@group(0) @binding(26) var<storage, read> clock: array<u32>;

fn contact_tools() -> u32 { return ints[2]; }
fn contact_frame(t: u32) -> ToolFrame {
    return tool_frame(t, clock[0], ints[2], ints[3], reals[12]);
}
fn contact_k() -> Real { return reals[8]; }
fn contact_c() -> Real { return reals[9]; }
fn contact_mu() -> Real { return reals[10]; }
fn contact_eps() -> Real { return reals[11]; }

// Force [N] of tool frame `tf` on a node at x with velocity v.
fn contact_force(tf: ToolFrame, x: vec3r, v: vec3r) -> vec3r {
    let d = x - tf.pos;
    let pl = quat_rotate(quat_conj(tf.q), d);
    let phi = tool_sdf(pl, tf.shape);
    if (!(phi < 0.0)) {
        return vec3r(0.0);
    }
    let n = quat_rotate(tf.q, tool_normal(pl, tf.shape, tf.h));
    let s = length(n);
    if (!(s > 1e-30)) {
        return vec3r(0.0);
    }
    let nh = n / s;
    let vrel = v - (tf.lin + cross(tf.ang, d));
    let vn = dot(vrel, nh);
    let fn_raw = contact_k() * (-phi) - contact_c() * vn;
    if (!(fn_raw > 0.0)) {
        return vec3r(0.0);
    }
    let w = vrel - vn * nh;
    let r = sqrt(dot(w, w) + contact_eps() * contact_eps());
    return fn_raw * nh - contact_mu() * fn_raw * w / r;
}

// The sum over every tool at this substep.
fn contact_total(x: vec3r, v: vec3r) -> vec3r {
    var f = vec3r(0.0);
    for (var t = 0u; t < contact_tools(); t = t + 1u) {
        f = f + contact_force(contact_frame(t), x, v);
    }
    return f;
}
