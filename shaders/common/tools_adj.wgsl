// Adjoints of the shared tool contact of `common/tools.wgsl`: the Coulomb
// projection and a tool's velocity operation. Each recomputes its forward
// locals from its inputs. Tool adjoints cover the tool's position,
// orientation (raw quaternion components), linear and angular velocity,
// friction and softness.

#import common/tools

struct CoulombAdj {
    rel: vec3r,
    n: vec3r,
    mu: Real,
}

// Adjoint of `coulomb(rel, n, mu)` for ∂L/∂out = gbar.
fn coulomb_vjp(rel: vec3r, n: vec3r, mu: Real, gbar: vec3r) -> CoulombAdj {
    var out = CoulombAdj(gbar, vec3r(0.0), 0.0);
    let vn = dot(rel, n);
    if (vn >= 0.0) {
        return out;
    }
    out.rel = vec3r(0.0);
    let vt = rel - vn * n;
    let lt = length(vt);
    if (!(lt > 1e-30)) {
        return out;
    }
    let s = 1.0 + mu * vn / lt;
    if (s <= 0.0) {
        return out;
    }
    // out = vt·s, s = 1 + μ vn / |vt|.
    let th = vt / lt;
    let tg = dot(th, gbar);
    let vtbar = s * gbar - mu * vn * tg * th / lt;
    var vnbar = mu * tg;
    out.mu = vn * tg;
    // vt = rel − vn·n, vn = rel·n.
    out.rel = vtbar;
    vnbar = vnbar - dot(n, vtbar);
    out.n = -vn * vtbar + vnbar * rel;
    out.rel = out.rel + vnbar * n;
    return out;
}

struct ToolAdj {
    v: vec3r,
    pos: vec3r,
    q: vec4r,
    lin: vec3r,
    ang: vec3r,
    mu: Real,
    soft: Real,
}

// Adjoint of `tool_op(tf, xw, v)` for ∂L/∂v_out = gbar.
fn tool_op_vjp(tf: ToolFrame, xw: vec3r, v: vec3r, gbar: vec3r) -> ToolAdj {
    var out = ToolAdj(gbar, vec3r(0.0), vec4r(0.0), vec3r(0.0), vec3r(0.0), 0.0, 0.0);
    let d = xw - tf.pos;
    let pl = quat_rotate(quat_conj(tf.q), d);
    let phi = tool_sdf(pl, tf.shape);
    if (!tool_in_contact(phi, tf.soft)) {
        return out;
    }
    let nl = tool_normal(pl, tf.shape, tf.h);
    let n = quat_rotate(tf.q, nl);
    let s = length(n);
    let nh = n / max(s, 1e-30);
    let vt = tf.lin + cross(tf.ang, d);
    let rel = v - vt;
    let c = coulomb(rel, nh, tf.mu);
    let projected = vt + s * s * c;
    let sm = max(tf.soft, 1e-30);
    let ratio = select(Real(1.0), 1.0 - phi / sm, phi > 0.0);
    let weight = select(ratio * ratio, 1.0, phi <= 0.0);
    // v_out = v + weight·(projected − v).
    let pbar = weight * gbar;
    let wbar = dot(gbar, projected - v);
    // projected = vt + s²·coulomb(rel, n̂), s = |n|, n̂ = n/s.
    let ca = coulomb_vjp(rel, nh, tf.mu, s * s * pbar);
    let sbar = 2.0 * s * dot(pbar, c);
    var nbar = vec3r(0.0);
    if (s > 1e-30) {
        nbar = sbar * nh + (ca.n - nh * dot(nh, ca.n)) / s;
    }
    out.v = (1.0 - weight) * gbar + ca.rel;
    let vtbar = pbar - ca.rel;
    out.mu = ca.mu;
    out.lin = vtbar;
    out.ang = cross(d, vtbar);
    var dbar = cross(vtbar, tf.ang);
    // n = R(q)·n_l: both the local normal and q carry the adjoint.
    var plbar = tool_normal_vjp(pl, tf.shape, tf.h, quat_rotate(quat_conj(tf.q), nbar));
    var qbar = quat_rotate_vjp_q(tf.q, nl, nbar);
    if (phi > 0.0) {
        let rbar = 2.0 * ratio * wbar;
        plbar = plbar - rbar / sm * tool_sdf_grad(pl, tf.shape);
        out.soft = select(Real(0.0), rbar * phi / (sm * sm), tf.soft > 1e-30);
    }
    // pl = R(q̄)·d with q̄ the conjugate.
    dbar = dbar + quat_rotate(tf.q, plbar);
    let qcbar = quat_rotate_vjp_q(quat_conj(tf.q), d, plbar);
    qbar = qbar + vec4r(-qcbar.xyz, qcbar.w);
    out.q = qbar;
    out.pos = -dbar;
    return out;
}
