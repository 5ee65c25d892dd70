// Penalty contact of FEM nodes against the shared kinematic tools
// (`common/tools.wgsl`), with its adjoint. For node x with velocity v and
// tool t at the substep's pose (p, q) and velocity (lin, ang):
//   d = x − p, φ = sdf(R(q)ᵀ d), n̂ the unit outward normal,
//   v_t = lin + ang × d, v_n = (v − v_t)·n̂,
// and, where φ < 0 (inside the tool), the normal force (a spring and damper)
//   f_n = max(k (−φ) − c v_n, 0)
// enters the node's force. Friction is applied to the velocity the step
// predicts, v_p (all forces but friction), as a smooth Coulomb projection:
//   w = P (v_p − v_t),  P = I − n̂n̂ᵀ,  c = μ f_n dt / m,
//   v_p ← v_p − w c / s,  s = (|w|¹⁶ + c¹⁶ + ε¹⁶)^(1/16),
// a smooth min(|w|, c) along ŵ: it stops the slip (sticks) while |w| < c,
// the most Coulomb friction can take out in one step, and removes c (a
// force μ f_n) while slipping (at |w| = c it takes 0.96 c, at 1.2 c 0.99 c;
// a 2-norm would take 0.71 c and 0.77 c, friction weakened well past the
// threshold); the stick speed ε [m/s] smooths the transition where f_n is
// small. Applied
// to the predicted velocity, it holds stick against the elastic forces of
// the same step, which an explicit force μ f_n w/√(|w|² + ε²) cannot: below
// the stick speed that force is a damper μ f_n/ε, stable only for
// dt μ f_n/(m ε) < 2, and otherwise chatters to a fraction of μ f_n.
// k [N/m], c [N·s/m], μ, ε of the FEM body; m the node's mass [kg].
// The importer binds `ints`, `reals`, `clock`, `tools`, `control` and
// `sdf_values`; `ints[2]` is the number of tools, `ints[3]` the control
// substeps, `reals[0]` dt, `reals[8..13]` k, c, μ, ε and the analytic
// normal step h [m].

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

// The contact of tool frame `tf` with a node at x moving at v.
struct ContactGeom {
    // In contact with a positive normal force.
    on: bool,
    d: vec3r,
    pl: vec3r,
    phi: Real,
    // The normal in the tool's frame, its world length, and the unit normal.
    nl: vec3r,
    s: Real,
    nh: vec3r,
    // The tool's velocity at the node, the relative velocity v − v_t, v_n.
    vt: vec3r,
    vrel: vec3r,
    vn: Real,
    fn_raw: Real,
}

fn contact_geom(tf: ToolFrame, x: vec3r, v: vec3r) -> ContactGeom {
    var g: ContactGeom;
    g.on = false;
    g.d = x - tf.pos;
    g.pl = quat_rotate(quat_conj(tf.q), g.d);
    g.phi = tool_sdf(g.pl, tf.shape);
    if (!(g.phi < 0.0)) {
        return g;
    }
    g.nl = tool_normal(g.pl, tf.shape, tf.h);
    let n = quat_rotate(tf.q, g.nl);
    g.s = length(n);
    if (!(g.s > 1e-30)) {
        return g;
    }
    g.nh = n / g.s;
    g.vt = tf.lin + cross(tf.ang, g.d);
    g.vrel = v - g.vt;
    g.vn = dot(g.vrel, g.nh);
    g.fn_raw = contact_k() * (-g.phi) - contact_c() * g.vn;
    g.on = g.fn_raw > 0.0;
    return g;
}

// Normal force [N] of tool frame `tf` on a node at x with velocity v.
fn contact_force(tf: ToolFrame, x: vec3r, v: vec3r) -> vec3r {
    let g = contact_geom(tf, x, v);
    if (!g.on) {
        return vec3r(0.0);
    }
    return g.fn_raw * g.nh;
}

// The normal forces of every tool at this substep.
fn contact_total(x: vec3r, v: vec3r) -> vec3r {
    var f = vec3r(0.0);
    for (var t = 0u; t < contact_tools(); t = t + 1u) {
        f = f + contact_force(contact_frame(t), x, v);
    }
    return f;
}

// s = (|w|¹⁶ + c¹⁶ + ε¹⁶)^(1/16) of the friction projection.
fn friction_scale(w: vec3r, cc: Real) -> Real {
    return norm16(length(w), cc, contact_eps());
}

// How deep [m] a node at x sits inside the deepest tool (0 outside all).
fn contact_depth(x: vec3r) -> Real {
    var depth: Real = 0.0;
    for (var t = 0u; t < contact_tools(); t = t + 1u) {
        let tf = contact_frame(t);
        depth = max(depth, -tool_sdf(quat_rotate(quat_conj(tf.q), x - tf.pos), tf.shape));
    }
    return depth;
}

// Tool `tf`'s friction applied to the predicted velocity vp [m/s] of a
// node of mass m [kg] at x with velocity v.
fn friction_project(tf: ToolFrame, x: vec3r, v: vec3r, vp: vec3r, m: Real) -> vec3r {
    let g = contact_geom(tf, x, v);
    if (!g.on) {
        return vp;
    }
    let cc = contact_mu() * g.fn_raw * reals[0] / m;
    let u = vp - g.vt;
    let w = u - dot(u, g.nh) * g.nh;
    return vp - (cc / friction_scale(w, cc)) * w;
}

// The predicted velocity vp after every tool's friction, in tool order.
fn friction_all(x: vec3r, v: vec3r, vp: vec3r, m: Real, tools: u32) -> vec3r {
    var out = vp;
    for (var t = 0u; t < tools; t = t + 1u) {
        out = friction_project(contact_frame(t), x, v, out, m);
    }
    return out;
}
