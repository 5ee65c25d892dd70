// Penalty contact between FEM nodes and MPM particles (`ductile_sim::fem::
// matter`): the pair law, its vector–Jacobian product, the bindings and the
// neighbour search shared by `fem/matter.wgsl` (forward) and
// `fem/matter_adj.wgsl` (adjoint).
//
// Pair (FEM node j, particle p), from state_t:
//   d = x_j − x_p, r = |d|, n̂ = d/r, u = v_j − v_p, u_n = u·n̂, w = u − u_n n̂;
// where r < R (a particle is a ball of radius R [m] to the nodes):
//   f_n = max(k (R − r) − c u_n, 0)                  (spring, damper)
//   f = f_n (n̂ − μ w / √(|w|² + ε²))                 (smooth Coulomb)
// acts on the node, −f on the particle; k [N/m], c [N·s/m], μ, ε [m/s] per pair.
// The friction is an explicit force: below the stick speed it is a damper
// μ f_n/ε, stable only while dt μ f_n/(m ε) < 2 for the node's and the
// particle's masses m. (The tools' friction, `fem/contact.wgsl`, is a
// velocity projection instead, which sticks at any step; the pair law's
// force reaches MPM through its grid, where no such projection exists yet.)
//
// Broad phase: both sides are binned by MPM grid cell (`mpm/bin*.wgsl`,
// sorted within each cell); with R ≤ dx every pair in range lies in the
// 3×3×3 cells around either point's base cell, so no search is brute force.

#import common/index
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

fn n_fem() -> u32 { return mints[0]; }
fn m_k() -> Real { return mreals[0]; }
fn m_c() -> Real { return mreals[1]; }
fn m_mu() -> Real { return mreals[2]; }
fn m_eps() -> Real { return mreals[3]; }
fn m_radius() -> Real { return mreals[4]; }
fn m_planted() -> Real { return mreals[5]; }

fn m_xp(p: u32) -> vec3r { return vec3r(mx[3u * p], mx[3u * p + 1u], mx[3u * p + 2u]); }
fn m_vp(p: u32) -> vec3r { return vec3r(mv[3u * p], mv[3u * p + 1u], mv[3u * p + 2u]); }
fn m_xj(j: u32) -> vec3r { return vec3r(fx[3u * j], fx[3u * j + 1u], fx[3u * j + 2u]); }
fn m_vj(j: u32) -> vec3r { return vec3r(fv[3u * j], fv[3u * j + 1u], fv[3u * j + 2u]); }

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

// Force [N] on the node of a pair with offset d = x_j − x_p and relative velocity u.
fn pair_force(d: vec3r, u: vec3r) -> vec3r {
    let r = length(d);
    if (!(r < m_radius()) || !(r > 0.0)) {
        return vec3r(0.0);
    }
    let n = d / r;
    let un = dot(u, n);
    let fn_raw = m_k() * (m_radius() - r) - m_c() * un;
    if (!(fn_raw > 0.0)) {
        return vec3r(0.0);
    }
    let w = u - un * n;
    let s = sqrt(dot(w, w) + m_eps() * m_eps());
    return fn_raw * (n - m_mu() * w / s);
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
                let fj = pair_force(m_xj(j) - xp, m_vj(j) - vp);
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
    params: vec3r,  // gᵀ ∂f/∂(k, c, μ)
}

// Vector–Jacobian product of `pair_force` with g = ∂L/∂f (scaled by the
// planted factor, 1 except in the tests that plant a wrong adjoint). With
// P = I − n̂n̂ᵀ (so ∂n̂/∂d = P/r, ∂w/∂u = P) and h = g/s − (g·w) w/s³:
//   ∂L/∂f_n = g·n̂ − μ g·w/s
//   d̄ = ∂L/∂f_n (−k n̂ − c P u / r) + f_n P (g + μ ((h·n̂) u + u_n h)) / r
//   ū = −c ∂L/∂f_n n̂ − μ f_n P h
fn pair_vjp(d: vec3r, u: vec3r, g0: vec3r) -> PairAdj {
    var out: PairAdj;
    out.d = vec3r(0.0);
    out.u = vec3r(0.0);
    out.params = vec3r(0.0);
    let r = length(d);
    if (!(r < m_radius()) || !(r > 0.0)) {
        return out;
    }
    let g = m_planted() * g0;
    let k = m_k();
    let c = m_c();
    let mu = m_mu();
    let n = d / r;
    let un = dot(u, n);
    let fn_raw = k * (m_radius() - r) - c * un;
    if (!(fn_raw > 0.0)) {
        return out;
    }
    let w = u - un * n;
    let s = sqrt(dot(w, w) + m_eps() * m_eps());
    let gw = dot(g, w);
    let gfn = dot(g, n) - mu * gw / s;
    let h = g / s - gw * w / (s * s * s);
    let pu = u - un * n;
    let q = g + mu * (dot(h, n) * u + un * h);
    let pq = q - dot(q, n) * n;
    let ph = h - dot(h, n) * n;
    out.d = gfn * (-k * n - c * pu / r) + fn_raw * pq / r;
    out.u = -c * gfn * n - mu * fn_raw * ph;
    out.params = vec3r(gfn * (m_radius() - r), -gfn * un, -fn_raw * gw / s);
    return out;
}
