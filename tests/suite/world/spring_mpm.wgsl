// The test suite's coupling between the spring points (`springs.wgsl`) and
// MPM, through MPM's external-force hook: spring point j repels MPM
// particle p within radius R [m] with the penalty force
//   f_pj = κ (R − r)² d/r,   d = x_p − x_j, r = |d| < R   (κ [N/m²]),
// and feels −f_pj. The force on particle p reaches the grid as
// f_i = Σ_p w_ip f_p (quadratic B-spline weights, so Σ_i f_i = Σ_p f_p and
// momentum is exchanged exactly). Everything reads state_t only; the
// adjoint runs after both solvers' adjoints and adds into their ∂L/∂x_t.
// Brute force over all pairs: a test coupling, not a broad phase.

#import mpm/params
#import common/bspline

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> cints: array<u32>;          // spring points
@group(0) @binding(2) var<storage, read> creals: array<Real>;        // κ, R, planted error
@group(0) @binding(3) var<storage, read> mx: array<Real>;
@group(0) @binding(4) var<storage, read> sx: array<Real>;
@group(0) @binding(5) var<storage, read_write> fp: array<Real>;
@group(0) @binding(6) var<storage, read_write> ext_grid: array<vec4r>;
@group(0) @binding(7) var<storage, read_write> ext_spring: array<Real>;
@group(0) @binding(8) var<storage, read> ext_grid_bar: array<vec4r>;
@group(0) @binding(9) var<storage, read> ext_spring_bar: array<Real>;
@group(0) @binding(10) var<storage, read_write> madj: array<Real>;
@group(0) @binding(11) var<storage, read_write> sadj: array<Real>;
@group(0) @binding(12) var<storage, read_write> fpbar: array<Real>;

fn n_spring() -> u32 { return cints[0]; }
fn kappa() -> Real { return creals[0]; }
fn radius() -> Real { return creals[1]; }
fn planted() -> Real { return creals[2]; }

fn mpos(p: u32) -> vec3r { return vec3r(mx[3u * p], mx[3u * p + 1u], mx[3u * p + 2u]); }
fn spos(j: u32) -> vec3r { return vec3r(sx[3u * j], sx[3u * j + 1u], sx[3u * j + 2u]); }
fn sbar(j: u32) -> vec3r {
    return vec3r(ext_spring_bar[3u * j], ext_spring_bar[3u * j + 1u], ext_spring_bar[3u * j + 2u]);
}
fn grid_coords(x: vec3r) -> vec3r { return (x - p_origin()) * p_inv_dx(); }

// Force on MPM particle p from spring point j.
fn pair_force(p: u32, j: u32) -> vec3r {
    let d = mpos(p) - spos(j);
    let r = length(d);
    if (!(r < radius()) || r <= 0.0) {
        return vec3r(0.0);
    }
    let t = radius() - r;
    return kappa() * t * t * d / r;
}

// Jᵀw for J = ∂f_pj/∂d (symmetric).
fn pair_vjp(p: u32, j: u32, w: vec3r) -> vec3r {
    let d = mpos(p) - spos(j);
    let r = length(d);
    if (!(r < radius()) || r <= 0.0) {
        return vec3r(0.0);
    }
    let n = d / r;
    let t = radius() - r;
    let nw = dot(n, w);
    return planted() * kappa() * (t * t / r * (w - n * nw) - 2.0 * t * n * nw);
}

@compute @workgroup_size(64)
fn couple_particles(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    if (p >= p_num_particles()) {
        return;
    }
    var f = vec3r(0.0);
    for (var j = 0u; j < n_spring(); j = j + 1u) {
        f = f + pair_force(p, j);
    }
    fp[3u * p] = f.x;
    fp[3u * p + 1u] = f.y;
    fp[3u * p + 2u] = f.z;
}

@compute @workgroup_size(64)
fn couple_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let nn = p_nodes();
    if (i >= nn.x * nn.y * nn.z) {
        return;
    }
    let node = vec3r(Real(i % nn.x), Real((i / nn.x) % nn.y), Real(i / (nn.x * nn.y)));
    var f = vec3r(0.0);
    for (var p = 0u; p < p_num_particles(); p = p + 1u) {
        let w = bspline_node_weight(grid_coords(mpos(p)), node);
        if (w != 0.0) {
            f = f + w * vec3r(fp[3u * p], fp[3u * p + 1u], fp[3u * p + 2u]);
        }
    }
    ext_grid[i] = ext_grid[i] + vec4r(f, 0.0);
}

@compute @workgroup_size(64)
fn couple_springs(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= n_spring()) {
        return;
    }
    var f = vec3r(0.0);
    for (var p = 0u; p < p_num_particles(); p = p + 1u) {
        f = f - pair_force(p, j);
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        ext_spring[3u * j + k] = ext_spring[3u * j + k] + f[k];
    }
}

// Adjoint, per MPM particle: f̄_p = Σ_i w_ip ∂L/∂f_i over its 27 stencil
// nodes; ∂L/∂x_p += Σ_i (∂L/∂f_i · f_p) ∇w_ip + Σ_j Jᵀ(f̄_p − ∂L/∂e_j).
@compute @workgroup_size(64)
fn couple_adj_particles(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    if (p >= p_num_particles()) {
        return;
    }
    let xg = grid_coords(mpos(p));
    let base = floor(xg - vec3r(0.5));
    let nn = p_nodes();
    var f = vec3r(0.0);
    for (var j = 0u; j < n_spring(); j = j + 1u) {
        f = f + pair_force(p, j);
    }
    var fb = vec3r(0.0);
    var xb = vec3r(0.0);
    for (var s = 0u; s < 27u; s = s + 1u) {
        let node = base + stencil_offset(s);
        if (any(node < vec3r(0.0)) || any(node >= vec3r(nn))) {
            continue;
        }
        let i = u32(node.x) + nn.x * (u32(node.y) + nn.y * u32(node.z));
        let g = ext_grid_bar[i].xyz;
        fb = fb + bspline_node_weight(xg, node) * g;
        xb = xb + dot(g, f) * p_inv_dx() * bspline_node_weight_grad(xg, node);
    }
    for (var j = 0u; j < n_spring(); j = j + 1u) {
        xb = xb + pair_vjp(p, j, fb - sbar(j));
    }
    fpbar[3u * p] = fb.x;
    fpbar[3u * p + 1u] = fb.y;
    fpbar[3u * p + 2u] = fb.z;
    for (var k = 0u; k < 3u; k = k + 1u) {
        madj[adj_index(p, k)] = madj[adj_index(p, k)] + xb[k];
    }
}

// Adjoint, per spring point: ∂L/∂x_j −= Σ_p Jᵀ(f̄_p − ∂L/∂e_j).
@compute @workgroup_size(64)
fn couple_adj_springs(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let n = n_spring();
    if (j >= n) {
        return;
    }
    var xb = vec3r(0.0);
    for (var p = 0u; p < p_num_particles(); p = p + 1u) {
        let fb = vec3r(fpbar[3u * p], fpbar[3u * p + 1u], fpbar[3u * p + 2u]);
        xb = xb - pair_vjp(p, j, fb - sbar(j));
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        sadj[k * n + j] = sadj[k * n + j] + xb[k];
    }
}
