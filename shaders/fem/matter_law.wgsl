// Penalty contact between an FEM body's surface and MPM particles
// (`ductile_sim::fem::matter`): the pair law, its vector–Jacobian product,
// the bindings and the neighbour search shared by `fem/matter.wgsl`
// (forward) and `fem/matter_adj.wgsl` (adjoint).
//
// Pair (particle p, boundary triangle t = (a, b, c), outward), from state_t:
//   u = x_b − x_a, v = x_c − x_a, w = x_p − x_a, N = u × v, n̂ = N/|N|,
//   s = w·n̂ (how far the particle lies outside the gel),
//   β_b = ((w × v)·N)/N·N, β_c = ((u × w)·N)/N·N, β_a = 1 − β_b − β_c
//   (the barycentric coordinates of its projection on the triangle's plane),
//   v_r = v_p − Σ_i β_i v_i, u_n = v_r·n̂, w_t = v_r − u_n n̂;
// where −R < s < R (R [m]: the contact radius) and the projection lies
// in front of the triangle or less than w = R/4 beside it:
//   δ_i = β_i |N| / L_i (the in-plane distance to the edge opposite corner
//   i, L_i its length), τ = Π_i S(δ_i/w), S(x) = 1/2 + x (3 − x²)/4 on
//   [−1, 1] (0 below, 1 above),
//   f_n = max(τ (k (R − s) − c u_n), 0)              (spring, damper)
//   f = f_n n̂ − μ f_n w_t / S,  S = (|w_t|¹⁶ + c_s¹⁶ + ε¹⁶)^(1/16),
//   c_s = μ f_n σ,  σ = 2 dt (1/m_t + 1/m_p)
// acts on the particle, −β_i f on the triangle's node i; k [N/m],
// c [N·s/m], μ, ε [m/s] per pair, m_t the mean of the triangle's node
// masses and m_p the particle's [kg] (as built: σ is a regularisation, held
// fixed under parameter changes), dt [s].
// Why triangles: the particles make a bumpy surface (a lattice at spacing
// dx/2). Against a node, a pair force along the line between the two
// interlocks a pressed pad with it, and even along the node's normal its
// size rises and falls as the node slides over the lattice, shaking a
// sliding pad (its friction fell well below μ f_n). Against the gel's
// faces each particle's gap is its distance to a plane: a pad slides over
// a flat lattice with a flat normal force. The taper τ makes the force
// continuous where a particle passes from one triangle to the next, or
// past the gel's edge: S(x) + S(−x) = 1, so two coplanar neighbours' shares
// sum to one across their shared edge (exactly, away from the corners),
// and at a convex edge the force fades out over w instead of stopping.
// The friction is smooth Coulomb with a stick–slip transition set by the
// masses and the step: c_s is twice the relative slip a force μ f_n takes
// out of the pair in one step, so while |w_t| < c_s friction is the damper
// m*/(2 dt) (m* the pair's reduced mass), which halves the slip each step,
// and from |w_t| > c_s on it is μ f_n: the tools' velocity projection
// (`fem/contact.wgsl`) written as a force, since the particle's side
// reaches MPM through its grid. ε only smooths where f_n is small.
//
// Broad phase: particles and triangle centroids are binned by MPM grid
// cell (`mpm/bin*.wgsl`, sorted within each cell); with
// √(R² + (ρ + 2w)²) ≤ dx for the triangles' largest centroid–corner
// distance ρ (checked when the coupling is built) every pair in contact
// lies in the 3×3×3 cells around either point's base cell.

#import common/index
#import common/real
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> mints: array<u32>;     // FEM nodes, triangles
@group(0) @binding(2) var<storage, read> mreals: array<Real>;   // k, c, μ, ε, R, planted
@group(0) @binding(3) var<storage, read> mx: array<Real>;       // MPM x
@group(0) @binding(4) var<storage, read> mv: array<Real>;       // MPM v
@group(0) @binding(5) var<storage, read> fx: array<Real>;       // FEM x
@group(0) @binding(6) var<storage, read> fv: array<Real>;       // FEM v
@group(0) @binding(7) var<storage, read> p_start: array<u32>;   // particle bins
@group(0) @binding(8) var<storage, read> p_sorted: array<u32>;
@group(0) @binding(9) var<storage, read> t_start: array<u32>;   // triangle bins
@group(0) @binding(10) var<storage, read> t_sorted: array<u32>;
@group(0) @binding(20) var<storage, read> fmass: array<Real>;   // FEM node masses
@group(0) @binding(21) var<storage, read> body_of: array<u32>;  // MPM tags
@group(0) @binding(22) var<storage, read> pmass: array<Real>;   // per MPM body
// The triangles' centroids (3 Reals each), written by `matter_centroids`.
@group(0) @binding(23) var<storage, read_write> tcent: array<Real>;
// The boundary triangles (3 nodes each, outward) and, per node, the ones
// it belongs to (CSR: fstart[j] .. fstart[j + 1] into fentry).
@group(0) @binding(24) var<storage, read> ffaces: array<u32>;
@group(0) @binding(25) var<storage, read> fstart: array<u32>;
@group(0) @binding(26) var<storage, read> fentry: array<u32>;
// Per particle: 1 when some triangle touches it this substep (written by
// the particle kernels, read by the node kernels to skip the others).
@group(0) @binding(28) var<storage, read_write> ptouch: array<u32>;

fn n_fem() -> u32 { return mints[0]; }
fn n_tris() -> u32 { return mints[1]; }
fn m_k() -> Real { return mreals[0]; }
fn m_c() -> Real { return mreals[1]; }
fn m_mu() -> Real { return mreals[2]; }
fn m_eps() -> Real { return mreals[3]; }
fn m_radius() -> Real { return mreals[4]; }
fn m_planted() -> Real { return mreals[5]; }
// The taper's half-width w [m] about a triangle's edges: R/4.
fn m_taper() -> Real { return 0.25 * mreals[4]; }

// S(x) = 1/2 + x (3 − x²)/4 on [−1, 1] (0 below, 1 above): S(x) + S(−x) = 1,
// so two coplanar triangles' tapers sum to one across their shared edge.
fn taper(x: Real) -> Real {
    let c = clamp(x, -1.0, 1.0);
    return 0.5 + 0.25 * c * (3.0 - c * c);
}

fn taper_d(x: Real) -> Real {
    return select(0.0, 0.75 * (1.0 - x * x), abs(x) < 1.0);
}

fn m_xp(p: u32) -> vec3r { return vec3r(mx[3u * p], mx[3u * p + 1u], mx[3u * p + 2u]); }
fn m_vp(p: u32) -> vec3r { return vec3r(mv[3u * p], mv[3u * p + 1u], mv[3u * p + 2u]); }
fn m_xj(j: u32) -> vec3r { return vec3r(fx[3u * j], fx[3u * j + 1u], fx[3u * j + 2u]); }
fn m_vj(j: u32) -> vec3r { return vec3r(fv[3u * j], fv[3u * j + 1u], fv[3u * j + 2u]); }
fn m_cent(t: u32) -> vec3r { return vec3r(tcent[3u * t], tcent[3u * t + 1u], tcent[3u * t + 2u]); }

// Base cell of a point at x [m], as the binning computes it.
fn m_cell(x: vec3r) -> vec3<i32> {
    return vec3<i32>(particle_cell((x - p_origin()) * p_inv_dx()));
}

// Segment [start, end) of the sorted list covering cells (c.x − 1 ..= c.x + 1, y, z)
// (contiguous in binned order), or an empty one when the row is outside.
fn m_row(starts_are_particles: bool, c: vec3<i32>, dy: i32, dz: i32) -> vec2<u32> {
    let cells = vec3<i32>(p_cells());
    let cy = c.y + dy;
    let cz = c.z + dz;
    if (cy < 0 || cy >= cells.y || cz < 0 || cz >= cells.z) {
        return vec2<u32>(0u, 0u);
    }
    let lo = clamp(c.x - 1, 0, cells.x - 1);
    let hi = clamp(c.x + 1, 0, cells.x - 1);
    let row = u32(cells.x * (cy + cells.y * cz));
    if (starts_are_particles) {
        return vec2<u32>(p_start[row + u32(lo)], p_start[row + u32(hi) + 1u]);
    }
    return vec2<u32>(t_start[row + u32(lo)], t_start[row + u32(hi) + 1u]);
}

// One pair's inputs: the particle, the triangle's three nodes, σ [s/kg].
struct TriPair {
    xp: vec3r,
    xa: vec3r,
    xb: vec3r,
    xc: vec3r,
    vp: vec3r,
    va: vec3r,
    vb: vec3r,
    vc: vec3r,
    sigma: Real,
}

// Which corner (0, 1, 2) of triangle t node j is.
fn tri_corner(t: u32, j: u32) -> u32 {
    return select(select(2u, 1u, ffaces[3u * t + 1u] == j), 0u, ffaces[3u * t] == j);
}

// Particle p against triangle t, from the bound states.
fn tri_pair(p: u32, t: u32) -> TriPair {
    var q: TriPair;
    let a = ffaces[3u * t];
    let b = ffaces[3u * t + 1u];
    let c = ffaces[3u * t + 2u];
    q.xp = m_xp(p);
    q.vp = m_vp(p);
    q.xa = m_xj(a);
    q.xb = m_xj(b);
    q.xc = m_xj(c);
    q.va = m_vj(a);
    q.vb = m_vj(b);
    q.vc = m_vj(c);
    let mt = (fmass[a] + fmass[b] + fmass[c]) / 3.0;
    q.sigma = 2.0 * p_dt() * (1.0 / mt + 1.0 / pmass[tag_body(body_of[p])]);
    return q;
}

// A pair's force on the particle [N] (xyz) and its barycentric
// coordinates (β_a, β_b, β_c); all zero when it is not in contact.
struct TriForce {
    f: vec3r,
    beta: vec3r,
    // s [m], the particle's distance outside the triangle's plane (negative:
    // its centre is inside the gel), where the pair is in contact.
    s: Real,
}

// The geometry and the law's intermediate values.
struct TriGeom {
    on: bool,
    u: vec3r,
    v: vec3r,
    w: vec3r,
    nn: vec3r,   // N
    dd: Real,    // N·N
    n: vec3r,    // n̂
    s: Real,
    beta: vec3r,
    lens: vec3r, // L_i, the length of the edge opposite corner i
    xs: vec3r,   // x_i = β_i |N| / (L_i w), the signed distance to that edge over w
    tau: Real,   // τ = Π_i S(x_i)
    vr: vec3r,
    un: Real,
    wt: vec3r,
    fn_raw: Real,
    cs: Real,
    sn: Real,    // S
}

fn tri_geom(q: TriPair) -> TriGeom {
    var g: TriGeom;
    g.on = false;
    g.u = q.xb - q.xa;
    g.v = q.xc - q.xa;
    g.w = q.xp - q.xa;
    g.nn = cross(g.u, g.v);
    g.dd = dot(g.nn, g.nn);
    if (!(g.dd > 0.0)) {
        return g;
    }
    g.n = g.nn / sqrt(g.dd);
    g.s = dot(g.w, g.n);
    if (!(g.s < m_radius()) || !(g.s > -m_radius())) {
        return g;
    }
    let bb = dot(cross(g.w, g.v), g.nn) / g.dd;
    let bc = dot(cross(g.u, g.w), g.nn) / g.dd;
    g.beta = vec3r(1.0 - bb - bc, bb, bc);
    g.lens = vec3r(length(g.v - g.u), length(g.v), length(g.u));
    g.xs = g.beta * sqrt(g.dd) / (g.lens * m_taper());
    if (any(g.xs <= vec3r(-1.0))) {
        return g;
    }
    g.tau = taper(g.xs.x) * taper(g.xs.y) * taper(g.xs.z);
    g.vr = q.vp - (g.beta.x * q.va + g.beta.y * q.vb + g.beta.z * q.vc);
    g.un = dot(g.vr, g.n);
    g.fn_raw = g.tau * (m_k() * (m_radius() - g.s) - m_c() * g.un);
    if (!(g.fn_raw > 0.0)) {
        return g;
    }
    g.wt = g.vr - g.un * g.n;
    g.cs = m_mu() * g.fn_raw * q.sigma;
    g.sn = norm16(length(g.wt), g.cs, m_eps());
    g.on = true;
    return g;
}

fn tri_force(q: TriPair) -> TriForce {
    var out: TriForce; // (zero-initialised)
    let g = tri_geom(q);
    if (!g.on) {
        return out;
    }
    out.f = g.fn_raw * (g.n - m_mu() * g.wt / g.sn);
    out.beta = g.beta;
    out.s = g.s;
    return out;
}

// The contact force [N] on particle p from every triangle near it (xyz),
// and 1 in w when some pair is in contact (0 otherwise).
fn particle_contact(p: u32) -> vec4r {
    let c = m_cell(m_xp(p));
    var f = vec3r(0.0);
    var touched: Real = 0.0;
    for (var dz = -1; dz <= 1; dz = dz + 1) {
        for (var dy = -1; dy <= 1; dy = dy + 1) {
            let seg = m_row(false, c, dy, dz);
            for (var s = seg.x; s < seg.y; s = s + 1u) {
                let r = tri_force(tri_pair(p, t_sorted[s]));
                if (any(r.f != vec3r(0.0))) {
                    touched = 1.0;
                }
                f = f + r.f;
            }
        }
    }
    return vec4r(f, touched);
}

// Cotangents of one pair's inputs (and of the law's k, c, μ).
struct TriAdj {
    xp: vec3r,
    xa: vec3r,
    xb: vec3r,
    xc: vec3r,
    vp: vec3r,
    va: vec3r,
    vb: vec3r,
    vc: vec3r,
    params: vec3r,
}

// Vector–Jacobian product of the pair's forces (f on the particle, −β_i f
// on node i) with their cotangents gp (particle) and ga, gb, gc (nodes),
// scaled by the planted factor (1 except in the tests that plant a wrong
// adjoint). With G = gp − Σ β_i g_i, T = μ f_n/S, r_w = |w_t|/S,
// r_c = c_s/S:
//   S̄ = (G·w_t) T/S,  w̄_t = −T G + S̄ r_w¹⁴ w_t/S,  c̄_s = S̄ r_c¹⁵,
//   ∂L/∂f_n = G·n̂ − μ (G·w_t)/S + c̄_s μ σ,  μ̄ = −f_n (G·w_t)/S + c̄_s f_n σ,
//   s̄ = −k ∂L/∂f_n,  v̄_r = −c ∂L/∂f_n n̂ + w̄_t − (w̄_t·n̂) n̂,
//   n̂̄ = f_n G − c ∂L/∂f_n v_r − (w̄_t·n̂) v_r − u_n w̄_t + s̄ w,
//   β̄_i = −g_i·f − v̄_r·v_i,  v̄_p = v̄_r,  v̄_i = −β_i v̄_r;
// then through β_b = X_b/D, β_c = X_c/D (X_b = (w × v)·N, X_c = (u × w)·N,
// D = N·N, β_a = 1 − β_b − β_c), s = w·n̂, n̂ = N/|N| and N = u × v, the
// cross products' rules (∂((w × v)·N)/∂w = v × N, ∂/∂v = N × w,
// ∂/∂N = w × v) give w̄, ū, v̄, and x̄_p = w̄, x̄_b = ū, x̄_c = v̄,
// x̄_a = −(ū + v̄ + w̄).
fn tri_vjp(q: TriPair, gp0: vec3r, ga0: vec3r, gb0: vec3r, gc0: vec3r) -> TriAdj {
    var out: TriAdj; // (zero-initialised)
    let g = tri_geom(q);
    if (!g.on) {
        return out;
    }
    let pl = m_planted();
    let gp = pl * gp0;
    let ga = pl * ga0;
    let gb = pl * gb0;
    let gc = pl * gc0;
    let k = m_k();
    let c = m_c();
    let mu = m_mu();
    let f = g.fn_raw * (g.n - mu * g.wt / g.sn);
    let gg = gp - (g.beta.x * ga + g.beta.y * gb + g.beta.z * gc);
    // The law, as a function of s, v_r and n̂.
    let s = g.sn;
    let t = mu * g.fn_raw / s;
    let rw2 = dot(g.wt, g.wt) / (s * s);
    let rw4 = rw2 * rw2;
    let rw14 = rw4 * rw4 * rw4 * rw2;
    let rc = g.cs / s;
    let rc2 = rc * rc;
    let rc4 = rc2 * rc2;
    let rc15 = (rc4 * rc4) * (rc4 * rc2) * rc;
    let gw = dot(gg, g.wt);
    let sbar = gw * t / s;
    let wtbar = -t * gg + sbar * rw14 / s * g.wt;
    let csbar = sbar * rc15;
    let gfn = dot(gg, g.n) - mu * gw / s + csbar * mu * q.sigma;
    let wm = dot(wtbar, g.n);
    let s_bar = -k * g.tau * gfn;
    let vrbar = -c * g.tau * gfn * g.n + wtbar - wm * g.n;
    var nbar = g.fn_raw * gg - c * g.tau * gfn * g.vr - wm * g.vr - g.un * wtbar + s_bar * g.w;
    out.params = vec3r(
        gfn * g.tau * (m_radius() - g.s),
        -gfn * g.tau * g.un,
        -g.fn_raw * gw / s + csbar * g.fn_raw * q.sigma,
    );
    // The taper τ = Π S(x_i), x_i = β_i |N| / (L_i w): τ̄ = ∂L/∂f_n a.
    let taubar = gfn * (k * (m_radius() - g.s) - c * g.un);
    let sx = vec3r(taper(g.xs.x), taper(g.xs.y), taper(g.xs.z));
    let xbar = taubar * vec3r(
        taper_d(g.xs.x) * sx.y * sx.z,
        sx.x * taper_d(g.xs.y) * sx.z,
        sx.x * sx.y * taper_d(g.xs.z),
    );
    let dbar = xbar / m_taper();
    let nl = sqrt(g.dd);
    let beta_taper = dbar * nl / g.lens;
    let nlbar = dot(dbar, g.beta / g.lens);
    let lbar = -dbar * g.beta * nl / (g.lens * g.lens);
    // Velocities.
    out.vp = vrbar;
    out.va = -g.beta.x * vrbar;
    out.vb = -g.beta.y * vrbar;
    out.vc = -g.beta.z * vrbar;
    // Barycentric coordinates.
    let beta_bar = vec3r(
        -dot(ga, f) - dot(vrbar, q.va),
        -dot(gb, f) - dot(vrbar, q.vb),
        -dot(gc, f) - dot(vrbar, q.vc),
    ) + beta_taper;
    let bb = beta_bar.y - beta_bar.x;
    let bc = beta_bar.z - beta_bar.x;
    let xbb = bb / g.dd;
    let xcb = bc / g.dd;
    let ddbar = -(bb * g.beta.y + bc * g.beta.z) / g.dd;
    var wbar = s_bar * g.n + xbb * cross(g.v, g.nn) + xcb * cross(g.nn, g.u);
    var ubar = xcb * cross(g.w, g.nn);
    var vbar = xbb * cross(g.nn, g.w);
    var nnbar = xbb * cross(g.w, g.v) + xcb * cross(g.u, g.w) + 2.0 * ddbar * g.nn + nlbar * g.n;
    // The edge lengths: L_a = |v − u|, L_b = |v|, L_c = |u|.
    let ea = (g.v - g.u) / g.lens.x;
    ubar = ubar - lbar.x * ea + lbar.z * g.u / g.lens.z;
    vbar = vbar + lbar.x * ea + lbar.y * g.v / g.lens.y;
    // n̂ = N/|N|.
    nnbar = nnbar + (nbar - dot(nbar, g.n) * g.n) / sqrt(g.dd);
    // N = u × v.
    ubar = ubar + cross(g.v, nnbar);
    vbar = vbar + cross(nnbar, g.u);
    out.xp = wbar;
    out.xb = ubar;
    out.xc = vbar;
    out.xa = -(ubar + vbar + wbar);
    return out;
}
