// The test suite's second solver: damped mass-spring points, symplectic
// Euler, with hand-written adjoints. It exists to prove that the world, the
// tape, the losses and the gradient checks are not MPM-shaped
// (`tests/suite/world/mod.rs`).
//
// Point i: mass m_i [kg], position x_i [m], velocity v_i [m/s] (3 Reals
// each, point-major). Spring s joins a = springs[2s], b = springs[2s + 1]
// with rest length L_s [m]; with d = x_b − x_a, l = |d|, n = d/l and
// u = v_b − v_a, the force on a is
//   F_s = k (l − L_s) n + c (u·n) n      (−F_s on b),
// k [N/m] the stiffness and c [N·s/m] the damping of every spring.
// A substep: f_i = m_i g + e_i + Σ_s ±F_s (e_i: the couplings' force),
// v' = v + dt f/m, x' = x + dt v'.
//
// Adjoint states are 6 Reals per point, entry-major (entry e of point p at
// e·N + p): ∂L/∂x at entries 0–2, ∂L/∂v at 3–5, the layout every solver's
// point set shares.

@group(0) @binding(0) var<storage, read> ints: array<u32>;          // N, S
@group(0) @binding(1) var<storage, read> reals: array<Real>;        // dt, g (3), k, c, planted error
@group(0) @binding(2) var<storage, read> springs: array<u32>;
@group(0) @binding(3) var<storage, read> rest: array<Real>;
@group(0) @binding(4) var<storage, read> mass: array<Real>;
@group(0) @binding(5) var<storage, read> x_in: array<Real>;
@group(0) @binding(6) var<storage, read> v_in: array<Real>;
@group(0) @binding(7) var<storage, read_write> x_out: array<Real>;
@group(0) @binding(8) var<storage, read_write> v_out: array<Real>;
@group(0) @binding(9) var<storage, read> ext: array<Real>;
@group(0) @binding(10) var<storage, read> adj_in: array<Real>;
@group(0) @binding(11) var<storage, read_write> adj_out: array<Real>;
@group(0) @binding(12) var<storage, read_write> fbar: array<Real>;
@group(0) @binding(13) var<storage, read_write> ext_bar: array<Real>;
@group(0) @binding(14) var<storage, read_write> pgrad: array<Real>;

fn n_points() -> u32 { return ints[0]; }
fn n_springs() -> u32 { return ints[1]; }
fn dt() -> Real { return reals[0]; }
fn gravity() -> vec3r { return vec3r(reals[1], reals[2], reals[3]); }
fn stiffness() -> Real { return reals[4]; }
fn damping() -> Real { return reals[5]; }
// 1 normally; a test sets it to 1 + δ to plant an error in the adjoint.
fn planted() -> Real { return reals[6]; }

fn xin(i: u32) -> vec3r { return vec3r(x_in[3u * i], x_in[3u * i + 1u], x_in[3u * i + 2u]); }
fn vin(i: u32) -> vec3r { return vec3r(v_in[3u * i], v_in[3u * i + 1u], v_in[3u * i + 2u]); }
fn ext3(i: u32) -> vec3r { return vec3r(ext[3u * i], ext[3u * i + 1u], ext[3u * i + 2u]); }
fn fbar3(i: u32) -> vec3r { return vec3r(fbar[3u * i], fbar[3u * i + 1u], fbar[3u * i + 2u]); }

fn adj_index(p: u32, e: u32) -> u32 { return e * n_points() + p; }

struct Spring {
    n: vec3r,
    l: Real,
    u: vec3r,
    len0: Real,
}

fn spring_geometry(s: u32) -> Spring {
    let a = springs[2u * s];
    let b = springs[2u * s + 1u];
    let d = xin(b) - xin(a);
    var g: Spring;
    g.l = max(length(d), 1e-12);
    g.n = d / g.l;
    g.u = vin(b) - vin(a);
    g.len0 = rest[s];
    return g;
}

// Force of spring s on its first point a.
fn spring_force(s: u32) -> vec3r {
    let g = spring_geometry(s);
    return stiffness() * (g.l - g.len0) * g.n + damping() * dot(g.u, g.n) * g.n;
}

@compute @workgroup_size(64)
fn spring_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= n_points()) {
        return;
    }
    let m = mass[i];
    var f = m * gravity() + ext3(i);
    for (var s = 0u; s < n_springs(); s = s + 1u) {
        if (springs[2u * s] == i) {
            f = f + spring_force(s);
        } else if (springs[2u * s + 1u] == i) {
            f = f - spring_force(s);
        }
    }
    let v = vin(i) + dt() * f / m;
    let x = xin(i) + dt() * v;
    for (var k = 0u; k < 3u; k = k + 1u) {
        x_out[3u * i + k] = x[k];
        v_out[3u * i + k] = v[k];
    }
}

// Adjoint, per point: from x' = x + dt v' and v' = v + dt f/m,
// ∂L/∂x = x̄', ∂L/∂v = v̄' + dt x̄', and f̄ = dt/m (v̄' + dt x̄'), which is
// also ∂L/∂e (the couplings' force). Springs follow in `spring_adj_springs`.
@compute @workgroup_size(64)
fn spring_adj_points(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= n_points()) {
        return;
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        let xb = adj_in[adj_index(i, k)];
        let vb = adj_in[adj_index(i, 3u + k)] + dt() * xb;
        let fb = dt() / mass[i] * vb;
        adj_out[adj_index(i, k)] = xb;
        adj_out[adj_index(i, 3u + k)] = vb;
        fbar[3u * i + k] = fb;
        ext_bar[3u * i + k] = fb;
    }
}

// ∂(w·F_s)/∂d and ∂(w·F_s)/∂u for w = f̄_a − f̄_b (F_s acts on a, −F_s on b).
struct SpringAdj {
    dbar: vec3r,
    ubar: vec3r,
}

fn spring_vjp(s: u32) -> SpringAdj {
    let g = spring_geometry(s);
    let w = fbar3(springs[2u * s]) - fbar3(springs[2u * s + 1u]);
    let nw = dot(g.n, w);
    let un = dot(g.u, g.n);
    let k = stiffness();
    let c = damping();
    var r: SpringAdj;
    let wt = w - g.n * nw;
    r.dbar = planted() * k * (g.n * nw + (g.l - g.len0) / g.l * wt)
        + c / g.l * ((g.u - g.n * un) * nw + un * wt);
    r.ubar = c * g.n * nw;
    return r;
}

// Adjoint, per point: the springs' share of ∂L/∂x and ∂L/∂v (d = x_b − x_a,
// u = v_b − v_a), gathered over the springs that touch the point.
@compute @workgroup_size(64)
fn spring_adj_springs(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= n_points()) {
        return;
    }
    var xb = vec3r(0.0);
    var vb = vec3r(0.0);
    for (var s = 0u; s < n_springs(); s = s + 1u) {
        let a = springs[2u * s];
        let b = springs[2u * s + 1u];
        if (a == i || b == i) {
            let r = spring_vjp(s);
            let sign = select(Real(-1.0), Real(1.0), b == i);
            xb = xb + sign * r.dbar;
            vb = vb + sign * r.ubar;
        }
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        adj_out[adj_index(i, k)] = adj_out[adj_index(i, k)] + xb[k];
        adj_out[adj_index(i, 3u + k)] = adj_out[adj_index(i, 3u + k)] + vb[k];
    }
}

// Adjoint, per spring: ∂L/∂k += w·(l − L)n and ∂L/∂c += w·(u·n)n, summed
// over the backward pass in `pgrad` (2 Reals per spring).
@compute @workgroup_size(64)
fn spring_adj_params(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if (s >= n_springs()) {
        return;
    }
    let g = spring_geometry(s);
    let w = fbar3(springs[2u * s]) - fbar3(springs[2u * s + 1u]);
    pgrad[2u * s] = pgrad[2u * s] + dot(w, (g.l - g.len0) * g.n);
    pgrad[2u * s + 1u] = pgrad[2u * s + 1u] + dot(w, dot(g.u, g.n) * g.n);
}

// Drawing: each point's position as f32 (x, y, z, 0) for the renderer.
@group(0) @binding(15) var<storage, read_write> packed: array<vec4<f32>>;

@compute @workgroup_size(64)
fn spring_pack(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= n_points()) {
        return;
    }
    packed[i] = vec4<f32>(vec3<f32>(xin(i)), 0.0);
}
