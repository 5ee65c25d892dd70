// Penalty contact between FEM nodes and MPM particles (`ductile_sim::fem::
// matter`): the pair law, its vector–Jacobian product, the bindings and the
// neighbour search shared by `fem/matter.wgsl` (forward) and
// `fem/matter_adj.wgsl` (adjoint).
//
// Pair (FEM node j, particle p), from state_t:
//   d = x_j − x_p, r = |d|, u = v_j − v_p,
//   m̂ = −n̂_j, n̂_j the node's outward surface normal (`matter_normals`: the
//   normalised sum N_j of its boundary triangles' area vectors), u_m = u·m̂,
//   w = u − u_m m̂;
// where r < R (a particle is a ball of radius R [m] to the nodes) and the
// node is on the surface (N_j ≠ 0):
//   f_n = max(k (R − r) − c u_m, 0)                  (spring, damper)
//   f = f_n m̂ − μ f_n w / S,  S = (|w|¹⁶ + c_s¹⁶ + ε¹⁶)^(1/16),
//   c_s = μ f_n σ,  σ = 2 dt (1/m_j + 1/m_p)
// acts on the node, −f on the particle; k [N/m], c [N·s/m], μ, ε [m/s] per
// pair, m_j and m_p the node's and the particle's masses [kg] (as built:
// σ is a regularisation, held fixed under parameter changes), dt [s].
// The normal force acts along the gel's surface normal, not along the
// line between the node and the particle: particles at spacing ~R make a
// bumpy surface of balls, and forces along d/r interlock a pad pressed
// into it (a cube lifted with μ = 0). Known limit: the size k (R − r)
// still rises and falls as a node slides over the particle lattice, so a
// sliding pad shakes and its friction averages below μ f_n (the grasp test,
// tests/suite/fem_matter.rs); a particle-against-triangle contact would
// remove it. The friction is smooth Coulomb with
// a stick–slip transition set by the masses and the step: c_s is twice the
// relative slip a force μ f_n takes out of the pair in one step, so while
// |w| < c_s friction is the damper m*/(2 dt) (m* the pair's reduced mass),
// which halves the slip each step (an isolated pair; the explicit limit is
// 2×), and from |w| > c_s on it is μ f_n. This is the tools' velocity
// projection (`fem/contact.wgsl`) written as a force, since the particle's
// side reaches MPM through its grid; a fixed stick speed instead
// (S = √(|w|² + ε²)) gives the damper μ f_n/ε, unstable for
// dt μ f_n/(m ε) > 2, and chatters. ε only smooths where f_n is small.
//
// Broad phase: both sides are binned by MPM grid cell (`mpm/bin*.wgsl`,
// sorted within each cell); with R ≤ dx every pair in range lies in the
// 3×3×3 cells around either point's base cell, so no search is brute force.

#import common/index
#import common/real
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> mints: array<u32>;     // FEM nodes
@group(0) @binding(2) var<storage, read> mreals: array<Real>;   // k, c, μ, ε, R, planted
@group(0) @binding(3) var<storage, read> mx: array<Real>;       // MPM x
@group(0) @binding(4) var<storage, read> mv: array<Real>;       // MPM v
@group(0) @binding(5) var<storage, read> fx: array<Real>;       // FEM x
@group(0) @binding(6) var<storage, read> fv: array<Real>;       // FEM v
@group(0) @binding(7) var<storage, read> p_start: array<u32>;   // particle bins
@group(0) @binding(8) var<storage, read> p_sorted: array<u32>;
@group(0) @binding(9) var<storage, read> n_start: array<u32>;   // FEM node bins
@group(0) @binding(10) var<storage, read> n_sorted: array<u32>;
@group(0) @binding(20) var<storage, read> fmass: array<Real>;   // FEM node masses
@group(0) @binding(21) var<storage, read> body_of: array<u32>;  // MPM tags
@group(0) @binding(22) var<storage, read> pmass: array<Real>;   // per MPM body
// Per FEM node: unit outward normal n̂ (xyz) and |N| (w; 0 off the surface),
// written by `matter_normals` each substep.
@group(0) @binding(23) var<storage, read_write> mnormal: array<Real>;
// The boundary triangles (3 nodes each, outward) and, per node, the ones
// it belongs to (CSR: fstart[j] .. fstart[j + 1] into fentry).
@group(0) @binding(24) var<storage, read> ffaces: array<u32>;
@group(0) @binding(25) var<storage, read> fstart: array<u32>;
@group(0) @binding(26) var<storage, read> fentry: array<u32>;
// Adjoint only: ∂L/∂N_j per node (3 Reals), from `matter_adj_nodes`.
@group(0) @binding(27) var<storage, read_write> nbar: array<Real>;

fn n_fem() -> u32 { return mints[0]; }
fn m_k() -> Real { return mreals[0]; }
fn m_c() -> Real { return mreals[1]; }
fn m_mu() -> Real { return mreals[2]; }
fn m_eps() -> Real { return mreals[3]; }
fn m_radius() -> Real { return mreals[4]; }
fn m_planted() -> Real { return mreals[5]; }

// σ = 2 dt (1/m_j + 1/m_p) [s/kg] of node j and particle p, with the
// particle masses of the coupling's build (a fixed regularisation: not
// differentiated, unchanged by a later density).
fn pair_sigma(j: u32, p: u32) -> Real {
    return 2.0 * p_dt() * (1.0 / fmass[j] + 1.0 / pmass[tag_body(body_of[p])]);
}

fn m_xp(p: u32) -> vec3r { return vec3r(mx[3u * p], mx[3u * p + 1u], mx[3u * p + 2u]); }
fn m_vp(p: u32) -> vec3r { return vec3r(mv[3u * p], mv[3u * p + 1u], mv[3u * p + 2u]); }
fn m_xj(j: u32) -> vec3r { return vec3r(fx[3u * j], fx[3u * j + 1u], fx[3u * j + 2u]); }
fn m_vj(j: u32) -> vec3r { return vec3r(fv[3u * j], fv[3u * j + 1u], fv[3u * j + 2u]); }

// m̂ = −n̂_j of node j (0 off the surface).
fn m_dir(j: u32) -> vec3r {
    return -vec3r(mnormal[4u * j], mnormal[4u * j + 1u], mnormal[4u * j + 2u]);
}

// Area vector N_t = (x_b − x_a) × (x_c − x_a) of boundary triangle t.
fn face_area_vector(t: u32) -> vec3r {
    let a = m_xj(ffaces[3u * t]);
    return cross(m_xj(ffaces[3u * t + 1u]) - a, m_xj(ffaces[3u * t + 2u]) - a);
}

// N_j = Σ_t N_t over node j's boundary triangles (0 for an interior node).
fn node_area_vector(j: u32) -> vec3r {
    var nsum = vec3r(0.0);
    for (var e = fstart[j]; e < fstart[j + 1u]; e = e + 1u) {
        nsum = nsum + face_area_vector(fentry[e]);
    }
    return nsum;
}

fn nbar3(j: u32) -> vec3r {
    return vec3r(nbar[3u * j], nbar[3u * j + 1u], nbar[3u * j + 2u]);
}

// ∂L/∂x_i through every N_j (`node_area_vector`), given N̄_j in `nbar`: each
// of node i's triangles t = (a, b, c) takes N̄_t = N̄_a + N̄_b + N̄_c, and
// with N_t = u × v (u = x_b − x_a, v = x_c − x_a): ū = v × N̄_t,
// v̄ = N̄_t × u; x̄_b = ū, x̄_c = v̄, x̄_a = −ū − v̄ (scaled by the planted
// factor).
fn normal_pullback(i: u32) -> vec3r {
    var xb = vec3r(0.0);
    for (var e = fstart[i]; e < fstart[i + 1u]; e = e + 1u) {
        let t = fentry[e];
        let a = ffaces[3u * t];
        let b = ffaces[3u * t + 1u];
        let c = ffaces[3u * t + 2u];
        let g = nbar3(a) + nbar3(b) + nbar3(c);
        let xa = m_xj(a);
        let ub = cross(m_xj(c) - xa, g);
        let vb = cross(g, m_xj(b) - xa);
        if (i == a) {
            xb = xb - ub - vb;
        } else if (i == b) {
            xb = xb + ub;
        } else {
            xb = xb + vb;
        }
    }
    return m_planted() * xb;
}

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
    return vec2<u32>(n_start[row + u32(lo)], n_start[row + u32(hi) + 1u]);
}

// Force [N] on the node of a pair with offset d = x_j − x_p, relative
// velocity u, σ [s/kg] (`pair_sigma`) and direction m (m̂ = −n̂_j; 0 off
// the surface: no force).
fn pair_force(d: vec3r, u: vec3r, sigma: Real, m: vec3r) -> vec3r {
    let r = length(d);
    if (!(r < m_radius()) || !(r > 0.0) || all(m == vec3r(0.0))) {
        return vec3r(0.0);
    }
    let um = dot(u, m);
    let fn_raw = m_k() * (m_radius() - r) - m_c() * um;
    if (!(fn_raw > 0.0)) {
        return vec3r(0.0);
    }
    let w = u - um * m;
    let s = norm16(length(w), m_mu() * fn_raw * sigma, m_eps());
    return fn_raw * (m - m_mu() * w / s);
}

// The contact force [N] on particle p from every FEM node near it
// (xyz), and 1 in w when some pair is in contact (0 otherwise).
fn particle_contact(p: u32) -> vec4r {
    let xp = m_xp(p);
    let vp = m_vp(p);
    let c = m_cell(xp);
    var f = vec3r(0.0);
    var touched: Real = 0.0;
    for (var dz = -1; dz <= 1; dz = dz + 1) {
        for (var dy = -1; dy <= 1; dy = dy + 1) {
            let seg = m_row(false, c, dy, dz);
            for (var s = seg.x; s < seg.y; s = s + 1u) {
                let j = n_sorted[s];
                let fj = pair_force(m_xj(j) - xp, m_vj(j) - vp, pair_sigma(j, p), m_dir(j));
                if (any(fj != vec3r(0.0))) {
                    touched = 1.0;
                }
                f = f - fj;
            }
        }
    }
    return vec4r(f, touched);
}

struct PairAdj {
    d: vec3r,       // gᵀ ∂f/∂d
    u: vec3r,       // gᵀ ∂f/∂u
    m: vec3r,       // gᵀ ∂f/∂m
    params: vec3r,  // gᵀ ∂f/∂(k, c, μ)
}

// Vector–Jacobian product of `pair_force` with g = ∂L/∂f (scaled by the
// planted factor, 1 except in the tests that plant a wrong adjoint). With
// T = μ f_n/S, r_w = |w|/S, r_c = c_s/S (∂S/∂w = r_w¹⁴ w/S,
// ∂S/∂c_s = r_c¹⁵) and L = f_n g·m − T g·w:
//   S̄ = (g·w) T/S,  w̄ = −T g + S̄ r_w¹⁴ w/S,  c̄_s = S̄ r_c¹⁵,
//   ∂L/∂f_n = g·m − μ (g·w)/S + c̄_s μ σ,  μ̄ = −f_n (g·w)/S + c̄_s f_n σ,
//   d̄ = −k ∂L/∂f_n d/r,  ū = −c ∂L/∂f_n m + w̄ − (w̄·m) m,
//   m̄ = f_n g − c ∂L/∂f_n u − (w̄·m) u − u_m w̄.
fn pair_vjp(d: vec3r, u: vec3r, sigma: Real, m: vec3r, g0: vec3r) -> PairAdj {
    var out: PairAdj;
    out.d = vec3r(0.0);
    out.u = vec3r(0.0);
    out.m = vec3r(0.0);
    out.params = vec3r(0.0);
    let r = length(d);
    if (!(r < m_radius()) || !(r > 0.0) || all(m == vec3r(0.0))) {
        return out;
    }
    let g = m_planted() * g0;
    let k = m_k();
    let c = m_c();
    let mu = m_mu();
    let um = dot(u, m);
    let fn_raw = k * (m_radius() - r) - c * um;
    if (!(fn_raw > 0.0)) {
        return out;
    }
    let w = u - um * m;
    let cs = mu * fn_raw * sigma;
    let s = norm16(length(w), cs, m_eps());
    let t = mu * fn_raw / s;
    let rw2 = dot(w, w) / (s * s);
    let rw4 = rw2 * rw2;
    let rw14 = rw4 * rw4 * rw4 * rw2;
    let rc = cs / s;
    let rc2 = rc * rc;
    let rc4 = rc2 * rc2;
    let rc15 = (rc4 * rc4) * (rc4 * rc2) * rc;
    let gw = dot(g, w);
    let sbar = gw * t / s;
    let wbar = -t * g + sbar * rw14 / s * w;
    let csbar = sbar * rc15;
    let gfn = dot(g, m) - mu * gw / s + csbar * mu * sigma;
    let wm = dot(wbar, m);
    out.d = -k * gfn * d / r;
    out.u = -c * gfn * m + wbar - wm * m;
    out.m = fn_raw * g - c * gfn * u - wm * u - um * wbar;
    out.params = vec3r(gfn * (m_radius() - r), -gfn * um, -fn_raw * gw / s + csbar * fn_raw * sigma);
    return out;
}
