// Adjoint of `fem/elastic.wgsl`'s substep, in three kernels run after the
// forward elements of state_t are known (everything is recomputed from
// state_t, parity 0):
//   `fem_adj_nodes` (per node): from x' = x + dt v', v' = friction(v_p)
//     and v_p = v(1 − c dt) + dt f/m: ḡ = v̄' + dt x̄' is pulled back through
//     each tool's friction projection in reverse (`friction_vjp`: into x̄,
//     v̄, the contact parameters and the tool's per-node partials) to
//     ∂L/∂v_p, then x̄ = x̄' + …, v̄ = (1 − c dt) ∂L/∂v_p + …,
//     f̄ = dt/m ∂L/∂v_p, also ∂L/∂(couplings' force) (with a seed on the
//     node's reported contact force, `force_seed`, added); pinned nodes pass x̄'
//     through and stop the rest; mounted ones stop everything (their tool's
//     pose takes it, in `fem_adj_contact`).
//   `fem_adj_elements` (per element): with G = [f̄1 − f̄0, f̄2 − f̄0, f̄3 − f̄0]
//     and B = G Dm⁻¹, the forces' pull-back is S = −W P(F) : B, so
//     F̄ = −W dP[B] (dP the symmetric second derivative of Ψ), D̄s = F̄ Dm⁻ᵀ,
//     x̄1..3 = columns of D̄s, x̄0 = −their sum; and μ̄ += −W (F − cof F) : B,
//     λ̄ += −W (J − 1) cof F : B, per element.
//   `fem_adj_contact` (per node, after `fem_adj_nodes`): the tools' normal
//     forces pulled back from f̄ into x̄, v̄ (added), the contact parameters'
//     gradients per node, and each tool's pose and velocity gradients added
//     to the per-node partials (16 Reals, the Control record's layout);
//   `fem_adj_tools` (one workgroup per tool and record entry): sums those
//     partials over the nodes in a fixed order into ∂L/∂control of the substep.
//   `fem_adj_gather` (per node): adds the elements' x̄ in CSR order.
// Adjoint states are 6 Reals per node, entry-major (∂L/∂x at entries 0–2,
// ∂L/∂v at 3–5), the layout of every solver's point set.

#import fem/elastic
#import common/tools_adj

@group(0) @binding(15) var<storage, read> adj_in: array<Real>;
@group(0) @binding(16) var<storage, read_write> adj_out: array<Real>;
@group(0) @binding(17) var<storage, read_write> fbar: array<Real>;
@group(0) @binding(18) var<storage, read_write> elem_bar: array<Real>;
@group(0) @binding(19) var<storage, read_write> pgrad: array<Real>;
@group(0) @binding(20) var<storage, read_write> ext_bar: array<Real>;
@group(0) @binding(27) var<storage, read_write> tool_partial: array<Real>;
@group(0) @binding(28) var<storage, read_write> cgrad: array<Real>;
@group(0) @binding(29) var<storage, read_write> control_grad: array<Real>;
// ∂L/∂(contact force of this substep) per node, added by the sensor's
// force loss before the substep's adjoint and zeroed here after use.
@group(0) @binding(34) var<storage, read_write> force_seed: array<Real>;

var<workgroup> red: array<Real, 64>;

// 1 normally; a test sets it to 1 + δ to plant an error in the adjoint.
fn planted() -> Real { return reals[7]; }

fn adj_index(p: u32, e: u32) -> u32 { return e * n_nodes() + p; }

fn fbar3(i: u32) -> vec3r { return vec3r(fbar[3u * i], fbar[3u * i + 1u], fbar[3u * i + 2u]); }

fn ddot(a: mat3r, b: mat3r) -> Real {
    return dot(a[0], b[0]) + dot(a[1], b[1]) + dot(a[2], b[2]);
}

// The derivative of the cofactor matrix along δ.
fn cofactor_diff(f: mat3r, d: mat3r) -> mat3r {
    return mat3r(
        cross(d[1], f[2]) + cross(f[1], d[2]),
        cross(d[2], f[0]) + cross(f[2], d[0]),
        cross(d[0], f[1]) + cross(f[0], d[1]),
    );
}

// The corotated model's dP/dF applied to δ: with F = R S and M = Rᵀ δ,
// the rotation's change is dR = R [w]× where (tr S · I − S) w is the
// axial vector of M − Mᵀ (as W S + S W = [(tr S · I − S) w]× for skew W,
// symmetric S), and
//   dP = 2μ (δ − dR) + λ (R : δ) R + λ tr(S − I) dR.
fn piola_diff_corotated(f: mat3r, d: mat3r) -> mat3r {
    let r = polar_r(svd3(f));
    let s = transpose(r) * f;
    let tr = s[0][0] + s[1][1] + s[2][2];
    let m = transpose(r) * d;
    let k = vec3r(m[1][2] - m[2][1], m[2][0] - m[0][2], m[0][1] - m[1][0]);
    let a = tr * mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0) - s;
    let ca = mat3r(cross(a[1], a[2]), cross(a[2], a[0]), cross(a[0], a[1]));
    let det = dot(a[0], ca[0]);
    let w = (transpose(ca) * k) / select(det, 1e-30, abs(det) < 1e-30);
    let wx = mat3r(0.0, w.z, -w.y, -w.z, 0.0, w.x, w.y, -w.x, 0.0);
    let dr = r * wx;
    return 2.0 * mu() * (d - dr) + (lambda() * ddot(r, d)) * r + (lambda() * (tr - 3.0)) * dr;
}

// dP/dF applied to δ.
fn piola_diff(f: mat3r, d: mat3r) -> mat3r {
    if (corotated()) {
        return piola_diff_corotated(f, d);
    }
    let c = cofactor(f);
    let j = determinant(f);
    return mu() * d + (lambda() * ddot(c, d)) * c + (lambda() * (j - alpha())) * cofactor_diff(f, d);
}

@compute @workgroup_size(64)
fn fem_adj_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    let free = pinned[i] == 0u;
    // A mounted node's position and velocity come from its tool only.
    let mounted = !free && ints[4] != 0u;
    let nt = contact_tools();
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        xb[k] = select(adj_in[adj_index(i, k)], 0.0, mounted);
        vb[k] = adj_in[adj_index(i, 3u + k)];
    }
    // The contact force the node reports, f_c = m (v' − v)/dt − f − m g
    // + c m v (f the elements' forces), seeded with s = ∂L/∂f_c: s m/dt
    // joins ∂L/∂v', the rest is added below.
    var seed = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        seed[k] = select(0.0, force_seed[3u * i + k], free);
        force_seed[3u * i + k] = 0.0;
    }
    var g = vb + dt() * xb + mass[i] / dt() * seed;
    var xacc = vec3r(0.0);
    var vacc = vec3r(0.0);
    var pacc = vec3r(0.0);
    for (var tt = 0u; tt < nt; tt = tt + 1u) {
        // Tools in reverse; every partial starts here, `fem_adj_contact` adds.
        let t = nt - 1u - tt;
        var a: FrictionAdj;
        a.c = zero_contact_adj();
        a.vp = g;
        if (free) {
            let x = xin(i);
            let v = vin(i);
            let m = mass[i];
            let f = gathered_force(i) + m * gravity() + ext3(i) + contact_total(x, v);
            let vp0 = v + dt() * (f / m - damping() * v);
            let vpt = friction_all(x, v, vp0, m, t);
            a = friction_vjp(contact_frame(t), x, v, vpt, m, g);
            g = a.vp;
            xacc = xacc + a.c.x;
            vacc = vacc + a.c.v;
            pacc = pacc + a.c.params;
        }
        write_tool_partial(i, t, a.c);
    }
    var fb = vec3r(0.0);
    var vout = vec3r(0.0);
    if (free) {
        fb = dt() / mass[i] * g;
        vout = (1.0 - damping() * dt()) * g + vacc + mass[i] * (damping() - 1.0 / dt()) * seed;
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        adj_out[adj_index(i, k)] = xb[k] + xacc[k];
        adj_out[adj_index(i, 3u + k)] = vout[k];
        // The elements' forces enter f_c directly too (−f).
        fbar[3u * i + k] = fb[k] - seed[k];
        ext_bar[3u * i + k] = fb[k];
        cgrad[3u * i + k] = cgrad[3u * i + k] + pacc[k];
    }
}

@compute @workgroup_size(64)
fn fem_adj_elements(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * 64u;
    if (e >= n_elements()) {
        return;
    }
    let c0 = fbar3(tets[4u * e]);
    let g = mat3r(fbar3(tets[4u * e + 1u]) - c0, fbar3(tets[4u * e + 2u]) - c0, fbar3(tets[4u * e + 3u]) - c0);
    let dmi = rest_inverse(e);
    let b = g * dmi;
    let f = deformation(e);
    let w = volume[e];
    let fbar_m = -w * planted() * piola_diff(f, b);
    let dsbar = fbar_m * transpose(dmi);
    let o = 12u * e;
    let x0b = -(dsbar[0] + dsbar[1] + dsbar[2]);
    for (var k = 0u; k < 3u; k = k + 1u) {
        elem_bar[o + k] = x0b[k];
        elem_bar[o + 3u + k] = dsbar[0][k];
        elem_bar[o + 6u + k] = dsbar[1][k];
        elem_bar[o + 9u + k] = dsbar[2][k];
    }
    if (corotated()) {
        // ∂P/∂μ = 2 (F − R), ∂P/∂λ = tr(S − I) R.
        let r = polar_r(svd3(f));
        let s = transpose(r) * f;
        pgrad[2u * e] = pgrad[2u * e] - w * 2.0 * ddot(f - r, b);
        pgrad[2u * e + 1u] = pgrad[2u * e + 1u] - w * (s[0][0] + s[1][1] + s[2][2] - 3.0) * ddot(r, b);
    } else {
        let cof = cofactor(f);
        pgrad[2u * e] = pgrad[2u * e] - w * ddot(f - cof, b);
        pgrad[2u * e + 1u] = pgrad[2u * e + 1u] - w * (determinant(f) - 1.0) * ddot(cof, b);
    }
}

@compute @workgroup_size(64)
fn fem_adj_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    var xb = vec3r(0.0);
    for (var a = adj_start[i]; a < adj_start[i + 1u]; a = a + 1u) {
        let o = 3u * adj_entry[a];
        xb = xb + vec3r(elem_bar[o], elem_bar[o + 1u], elem_bar[o + 2u]);
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        adj_out[adj_index(i, k)] = adj_out[adj_index(i, k)] + xb[k];
    }
}

struct ContactAdj {
    x: vec3r,
    v: vec3r,
    pos: vec3r,
    q: vec4r,
    lin: vec3r,
    ang: vec3r,
    // ∂L/∂(k, c, μ)
    params: vec3r,
}

fn zero_contact_adj() -> ContactAdj {
    var out: ContactAdj;
    out.x = vec3r(0.0);
    out.v = vec3r(0.0);
    out.pos = vec3r(0.0);
    out.q = vec4r(0.0);
    out.lin = vec3r(0.0);
    out.ang = vec3r(0.0);
    out.params = vec3r(0.0);
    return out;
}

fn ext3(i: u32) -> vec3r { return vec3r(ext[3u * i], ext[3u * i + 1u], ext[3u * i + 2u]); }

// Pulls back, for a contact `g` of tool `tf` with a node at x, the
// gradients of its normal force's magnitude (gfn = ∂L/∂f_n), unit normal
// (nhbar) and relative velocity (vrelbar), and of the tool's velocity at
// the node (vtbar, beyond its share in v − v_t), into the node's x and v,
// the tool's pose and velocity, and (k, c).
fn contact_pullback(tf: ToolFrame, g: ContactGeom, gfn: Real, nhbar_in: vec3r, vrelbar_in: vec3r, vtbar_in: vec3r) -> ContactAdj {
    var out = zero_contact_adj();
    let k = contact_k();
    let c = contact_c();
    let nh = g.nh;
    // f_n = k (−φ) − c v_n, v_n = v_rel·n̂.
    out.params = vec3r(gfn * (-g.phi), -gfn * g.vn, 0.0);
    let phibar = -k * gfn;
    let vnbar = -c * gfn;
    let vrelbar = vrelbar_in + vnbar * nh;
    let nhbar = nhbar_in + vnbar * g.vrel;
    // v_rel = v − v_t, v_t = lin + ang × d.
    out.v = vrelbar;
    let vtbar = vtbar_in - vrelbar;
    out.lin = vtbar;
    out.ang = cross(g.d, vtbar);
    var dbar = cross(vtbar, tf.ang);
    // n̂ = n / |n|, n = R(q) n_l.
    let qc = quat_conj(tf.q);
    let nbar = (nhbar - nh * dot(nh, nhbar)) / g.s;
    var qbar = quat_rotate_vjp_q(tf.q, g.nl, nbar);
    let plbar = tool_normal_vjp(g.pl, tf.shape, tf.h, quat_rotate(qc, nbar))
        + phibar * tool_sdf_grad(g.pl, tf.shape);
    // pl = R(q̄) d with q̄ the conjugate.
    dbar = dbar + quat_rotate(tf.q, plbar);
    let qcbar = quat_rotate_vjp_q(qc, g.d, plbar);
    qbar = qbar + vec4r(-qcbar.xyz, qcbar.w);
    out.q = qbar;
    out.x = dbar;
    out.pos = -dbar;
    return out;
}

// Adjoint of `contact_force(tf, x, v)` (f = f_n n̂) for ∂L/∂f = fbar.
fn contact_vjp(tf: ToolFrame, x: vec3r, v: vec3r, fbar: vec3r) -> ContactAdj {
    let g = contact_geom(tf, x, v);
    if (!g.on) {
        return zero_contact_adj();
    }
    return contact_pullback(tf, g, dot(fbar, g.nh), g.fn_raw * fbar, vec3r(0.0), vec3r(0.0));
}

struct FrictionAdj {
    c: ContactAdj,
    // ∂L/∂v_p before the projection.
    vp: vec3r,
}

// Adjoint of `friction_project(tf, x, v, vp, m)` for ∂L/∂(its result) =
// gbar. With u = v_p − v_t, u_n = u·n̂, w = P u, c = μ f_n dt/m,
// s = (|w|¹⁶ + c¹⁶ + ε¹⁶)^(1/16) and h = c/s (result v_p − h w), with
// r_w = |w|/s and r_c = c/s:
//   w̄ = −(h ḡ − (ḡ·w) c r_w¹⁴/s³ w),  c̄ = −(ḡ·w)(1 − r_c¹⁶)/s,
//   ū = P w̄,  n̂̄ = −(u_n w̄ + (n̂·w̄) u),  v̄_p = ḡ + ū,  v̄_t = −ū,
//   ∂L/∂f_n = c̄ μ dt/m,  μ̄ = c̄ f_n dt/m.
fn friction_vjp(tf: ToolFrame, x: vec3r, v: vec3r, vp: vec3r, m: Real, gbar0: vec3r) -> FrictionAdj {
    var out: FrictionAdj;
    out.c = zero_contact_adj();
    out.vp = gbar0;
    let g = contact_geom(tf, x, v);
    if (!g.on) {
        return out;
    }
    let gbar = planted() * gbar0;
    let mu = contact_mu();
    let cc = mu * g.fn_raw * dt() / m;
    let u = vp - g.vt;
    let un = dot(u, g.nh);
    let w = u - un * g.nh;
    let s = friction_scale(w, cc);
    let rw2 = dot(w, w) / (s * s);
    let rc2 = cc * cc / (s * s);
    let gw = dot(gbar, w);
    let rw4 = rw2 * rw2;
    let rw14 = rw4 * rw4 * rw4 * rw2;
    let rc4 = rc2 * rc2;
    let rc16 = (rc4 * rc4) * (rc4 * rc4);
    let wbar = -((cc / s) * gbar - gw * cc * rw14 / (s * s * s) * w);
    let ccbar = -gw * (1.0 - rc16) / s;
    let ubar = wbar - dot(g.nh, wbar) * g.nh;
    let nhbar = -(un * wbar + dot(g.nh, wbar) * u);
    out.vp = gbar0 + ubar;
    out.c = contact_pullback(tf, g, ccbar * mu * dt() / m, nhbar, vec3r(0.0), -ubar);
    out.c.params.z = ccbar * g.fn_raw * dt() / m;
    return out;
}

// Node i's partials for tool t's control record (16 Reals).
fn write_tool_partial(i: u32, t: u32, a: ContactAdj) {
    let o = 16u * (i * contact_tools() + t);
    for (var k = 0u; k < 3u; k = k + 1u) {
        tool_partial[o + k] = a.pos[k];
        tool_partial[o + 8u + k] = a.lin[k];
        tool_partial[o + 12u + k] = a.ang[k];
    }
    for (var k = 0u; k < 4u; k = k + 1u) {
        tool_partial[o + 4u + k] = a.q[k];
    }
}

// Adjoint of a mounted node's x' = p + a + dt (lin + ang × a) and
// v' = lin + ang × a, a = R(q) r, for the tool's pose and velocity.
fn mount_vjp(tf: ToolFrame, i: u32) -> ContactAdj {
    var out: ContactAdj;
    let r = vec3r(mount_offset[3u * i], mount_offset[3u * i + 1u], mount_offset[3u * i + 2u]);
    let a = quat_rotate(tf.q, r);
    var yb = vec3r(0.0);
    var zb = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        yb[k] = adj_in[adj_index(i, k)];
        zb[k] = adj_in[adj_index(i, 3u + k)];
    }
    let g = dt() * yb + zb;
    out.pos = yb;
    out.lin = g;
    out.ang = cross(a, g);
    let abar = yb + cross(g, tf.ang);
    out.q = quat_rotate_vjp_q(tf.q, r, abar);
    return out;
}

@compute @workgroup_size(64)
fn fem_adj_contact(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    let nt = contact_tools();
    // ∂L/∂(the tools' normal forces): that of the couplings' force.
    let fb = vec3r(ext_bar[3u * i], ext_bar[3u * i + 1u], ext_bar[3u * i + 2u]);
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    var pb = vec3r(0.0);
    for (var t = 0u; t < nt; t = t + 1u) {
        var a: ContactAdj;
        a.pos = vec3r(0.0);
        a.q = vec4r(0.0);
        a.lin = vec3r(0.0);
        a.ang = vec3r(0.0);
        if (pinned[i] == 0u) {
            a = contact_vjp(contact_frame(t), xin(i), vin(i), planted() * fb);
            xb = xb + a.x;
            vb = vb + a.v;
            pb = pb + a.params;
        }
        if (pinned[i] != 0u && ints[4] == t + 1u) {
            let m = mount_vjp(contact_frame(t), i);
            a.pos = a.pos + m.pos;
            a.q = a.q + m.q;
            a.lin = a.lin + m.lin;
            a.ang = a.ang + m.ang;
        }
        let o = 16u * (i * nt + t);
        for (var k = 0u; k < 3u; k = k + 1u) {
            tool_partial[o + k] = tool_partial[o + k] + a.pos[k];
            tool_partial[o + 8u + k] = tool_partial[o + 8u + k] + a.lin[k];
            tool_partial[o + 12u + k] = tool_partial[o + 12u + k] + a.ang[k];
        }
        for (var k = 0u; k < 4u; k = k + 1u) {
            tool_partial[o + 4u + k] = tool_partial[o + 4u + k] + a.q[k];
        }
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        adj_out[adj_index(i, k)] = adj_out[adj_index(i, k)] + xb[k];
        adj_out[adj_index(i, 3u + k)] = adj_out[adj_index(i, 3u + k)] + vb[k];
        cgrad[3u * i + k] = cgrad[3u * i + k] + pb[k];
    }
}

// One workgroup per (tool, record entry): the nodes' partials summed in a
// fixed order and added to ∂L/∂control of the clock's substep.
@compute @workgroup_size(64)
fn fem_adj_tools(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let nt = contact_tools();
    let t = wid.x / 16u;
    let k = wid.x % 16u;
    if (t >= nt) {
        return;
    }
    var sum: Real = 0.0;
    for (var i = li; i < n_nodes(); i = i + 64u) {
        sum = sum + tool_partial[16u * (i * nt + t) + k];
    }
    red[li] = sum;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (li < w) {
            red[li] = red[li] + red[li + w];
        }
        workgroupBarrier();
    }
    if (li == 0u && k != 3u && k != 11u && k != 15u) {
        let co = tool_control_offset(clock[0], t, nt, ints[3]);
        control_grad[co + k] = control_grad[co + k] + red[0];
    }
}
