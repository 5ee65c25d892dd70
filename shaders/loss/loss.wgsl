// Scalar losses on particle state, evaluated on the GPU, and their adjoint
// seeds. A loss is a weighted sum of terms; each term (16 Reals, written by
// `ductile_sim::loss::LossSet`) is
//   0 kind   1 body   2 first particle   3 particle count   4 weight
//   5..8 target (position [m] or velocity [m/s])   8..11 region min [m]
//   11..14 region max [m]   14 region softness [m]
// Kinds: 0 |COM position − target|², 1 |COM velocity − target|²,
// 2 mass fraction of the body outside a box region (soft edges of width
// `softness`), 3 Chamfer distance to target points (8 first target point,
// 9 target points, 10 first particle slot), 4 grid-density distance to a
// target mass grid (8 first node slot, 10 norm: 0 L1, 1 L2, 11 particle
// mass [kg], 12 body mass [kg]), 5 |tool position − COM|² (8 tool),
// 6 mean |x_p − recorded x_p|² (8 first record point, 10 substeps between records).
// `factors[step · terms + term]` is the term's weight factor at
// each step (0 where inactive; 1 for a final-step term at the last step;
// 1/n over an n-step window for a running term).
//
// Before `loss_eval` or `loss_stats`, shape terms need `chamfer_particles`,
// `chamfer_targets` (nearest neighbours, brute force) and `density_nodes`
// (per-node mass by a gather over the particles binned by `mpm/bin*.wgsl`
// for the evaluated state).
//
// `loss_eval`: one workgroup per term; reduces the body's particles, writes
// the term's statistics (COM position, COM velocity, fraction inside) to
// `stats` and adds its value at this step to `value[term]`.
// `loss_stats`: the same statistics without adding a value (backward pass).
// `loss_seed`: one invocation per particle; adds ∂(term)/∂x_p and ∂/∂v_p of
// the active terms to the adjoint state (34 Reals per particle, x at 0, v at 3).

#import common/index
#import common/real
#import common/bspline
#import mpm/params

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> terms: array<Real>;
@group(0) @binding(2) var<storage, read> factors: array<Real>;
@group(0) @binding(3) var<storage, read> clock: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<Real>;
@group(0) @binding(5) var<storage, read> v: array<Real>;
@group(0) @binding(6) var<storage, read_write> stats: array<Real>;
@group(0) @binding(7) var<storage, read_write> value: array<Real>;
@group(0) @binding(8) var<storage, read_write> adj: array<Real>;
@group(0) @binding(9) var<storage, read> target_points: array<Real>;
@group(0) @binding(10) var<storage, read_write> chamfer_p: array<Real>;
@group(0) @binding(11) var<storage, read_write> chamfer_t: array<Real>;
@group(0) @binding(12) var<storage, read> cell_start: array<u32>;
@group(0) @binding(13) var<storage, read> sorted: array<u32>;
@group(0) @binding(14) var<storage, read> target_mass: array<Real>;
@group(0) @binding(15) var<storage, read_write> density_bar: array<Real>;
@group(0) @binding(16) var<storage, read_write> density_val: array<Real>;
@group(0) @binding(17) var<storage, read> control: array<Real>;
@group(0) @binding(18) var<storage, read_write> control_grad: array<Real>;
@group(0) @binding(19) var<storage, read> body_of: array<u32>;


// Reals per loss term (`ductile_sim::loss::LOSS_TERM_REALS`, compared by a test).
const LOSS_TERM: u32 = 16u;

var<workgroup> red_x: array<vec3r, 64>;
var<workgroup> red_v: array<vec3r, 64>;
var<workgroup> red_s: array<Real, 64>;

fn num_terms() -> u32 {
    return u32(arrayLength(&terms) / LOSS_TERM);
}

fn sigmoid(z: Real) -> Real {
    return 1.0 / (1.0 + real_exp(-z));
}

// Soft indicator of the region box and its gradient [1/m].
fn region_weight(t: u32, p: vec3r) -> vec4r {
    let o = LOSS_TERM * t;
    let lo = vec3r(terms[o + 8u], terms[o + 9u], terms[o + 10u]);
    let hi = vec3r(terms[o + 11u], terms[o + 12u], terms[o + 13u]);
    let h = terms[o + 14u];
    let a = vec3r(sigmoid((p.x - lo.x) / h), sigmoid((p.y - lo.y) / h), sigmoid((p.z - lo.z) / h));
    let b = vec3r(sigmoid((hi.x - p.x) / h), sigmoid((hi.y - p.y) / h), sigmoid((hi.z - p.z) / h));
    let f = a * b;
    // d/dp [σ((p − lo)/h) σ((hi − p)/h)] = f·((1 − a) − (1 − b))/h.
    let df = f * ((vec3r(1.0) - a) - (vec3r(1.0) - b)) / h;
    let s = f.x * f.y * f.z;
    return vec4r(s, df.x * f.y * f.z, f.x * df.y * f.z, f.x * f.y * df.z);
}

fn factor(t: u32) -> Real {
    return factors[clock[0] * num_terms() + t];
}

fn reduce_term(t: u32, li: u32) {
    let o = LOSS_TERM * t;
    let first = u32(terms[o + 2u]);
    // (never past the last particle)
    let count = min(u32(terms[o + 3u]), p_num_particles() - min(first, p_num_particles()));
    let kind = u32(terms[o]);
    var sx = vec3r(0.0);
    var sv = vec3r(0.0);
    var ss: Real = 0.0;
    for (var i = li; i < count; i = i + 64u) {
        let p = first + i;
        let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        sx = sx + xp;
        sv = sv + vec3r(v[3u * p], v[3u * p + 1u], v[3u * p + 2u]);
        if (kind == 2u) {
            ss = ss + region_weight(t, xp).x;
        }
        if (kind == 3u) {
            ss = ss + chamfer_p[2u * (u32(terms[o + 10u]) + i)] / Real(max(count, 1u));
        }
    }
    if (kind == 6u) {
        let base = recorded_base(t);
        for (var i = li; i < count; i = i + 64u) {
            let d = particle_x(first + i) - point(base + i);
            ss = ss + dot(d, d) / Real(max(count, 1u));
        }
    }
    if (kind == 3u) {
        let t0 = u32(terms[o + 8u]);
        let nt = u32(terms[o + 9u]);
        for (var q = li; q < nt; q = q + 64u) {
            ss = ss + chamfer_t[2u * (t0 + q)] / Real(max(nt, 1u));
        }
    }
    if (kind == 7u) {
        // The other body's positions, summed in place of the velocities.
        sv = vec3r(0.0);
        let first_b = u32(terms[o + 8u]);
        let count_b = u32(terms[o + 9u]);
        for (var i = li; i < count_b; i = i + 64u) {
            sv = sv + particle_x(first_b + i);
        }
    }
    if (kind == 4u) {
        let n0 = u32(terms[o + 8u]);
        let nn = p_nodes();
        for (var i = li; i < nn.x * nn.y * nn.z; i = i + 64u) {
            ss = ss + density_val[n0 + i];
        }
    }
    red_x[li] = sx;
    red_v[li] = sv;
    red_s[li] = ss;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (li < w) {
            red_x[li] = red_x[li] + red_x[li + w];
            red_v[li] = red_v[li] + red_v[li + w];
            red_s[li] = red_s[li] + red_s[li + w];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        let n = Real(max(count, 1u));
        let com = red_x[0] / n;
        // BodyDistance: the other body's centre of mass in the velocity slots.
        let comv = red_v[0] / select(n, Real(max(u32(terms[LOSS_TERM * t + 9u]), 1u)), kind == 7u);
        stats[8u * t] = com.x;
        stats[8u * t + 1u] = com.y;
        stats[8u * t + 2u] = com.z;
        stats[8u * t + 3u] = comv.x;
        stats[8u * t + 4u] = comv.y;
        stats[8u * t + 5u] = comv.z;
        stats[8u * t + 6u] = select(red_s[0] / n, red_s[0], kind >= 3u);
    }
}

// Position [m] of the term's tool at the current step.
fn tool_position(t: u32) -> vec3r {
    let tool = u32(terms[LOSS_TERM * t + 8u]);
    let cstep = min(clock[0], p_control_steps() - 1u);
    let co = 16u * (cstep * p_num_tools() + tool);
    return vec3r(control[co], control[co + 1u], control[co + 2u]);
}

// First target point of the record taken at the current step (kind 6).
fn recorded_base(t: u32) -> u32 {
    let o = LOSS_TERM * t;
    let rec = max(clock[0] / max(u32(terms[o + 10u]), 1u), 1u) - 1u;
    return u32(terms[o + 8u]) + rec * u32(terms[o + 3u]);
}

fn point(buf_index: u32) -> vec3r {
    return vec3r(target_points[3u * buf_index], target_points[3u * buf_index + 1u], target_points[3u * buf_index + 2u]);
}

fn particle_x(p: u32) -> vec3r {
    return vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
}

// Nearest target point of each particle of each active Chamfer term.
@compute @workgroup_size(64)
fn chamfer_particles(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    for (var t = 0u; t < num_terms(); t = t + 1u) {
        let o = LOSS_TERM * t;
        let first = u32(terms[o + 2u]);
        let count = u32(terms[o + 3u]);
        if (u32(terms[o]) != 3u || factor(t) == 0.0 || p < first || p >= first + count) {
            continue;
        }
        let xp = particle_x(p);
        let t0 = u32(terms[o + 8u]);
        var best: Real = 1e30;
        var arg = 0u;
        for (var q = 0u; q < u32(terms[o + 9u]); q = q + 1u) {
            let d = xp - point(t0 + q);
            let d2 = dot(d, d);
            if (d2 < best) {
                best = d2;
                arg = q;
            }
        }
        let slot = u32(terms[o + 10u]) + p - first;
        chamfer_p[2u * slot] = best;
        chamfer_p[2u * slot + 1u] = Real(arg);
    }
}

// Nearest particle of each target point of each active Chamfer term
// (one invocation per target point of all terms).
@compute @workgroup_size(64)
fn chamfer_targets(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = flat_index(gid, nwg);
    for (var t = 0u; t < num_terms(); t = t + 1u) {
        let o = LOSS_TERM * t;
        let t0 = u32(terms[o + 8u]);
        if (u32(terms[o]) != 3u || factor(t) == 0.0 || q < t0 || q >= t0 + u32(terms[o + 9u])) {
            continue;
        }
        let y = point(q);
        let first = u32(terms[o + 2u]);
        let count = min(u32(terms[o + 3u]), p_num_particles() - min(first, p_num_particles()));
        var best: Real = 1e30;
        var arg = first;
        for (var p = first; p < first + count; p = p + 1u) {
            let d = particle_x(p) - y;
            let d2 = dot(d, d);
            if (d2 < best) {
                best = d2;
                arg = p;
            }
        }
        chamfer_t[2u * q] = best;
        chamfer_t[2u * q + 1u] = Real(arg);
    }
}

// Per node and active density term: the body's mass m_i (gathered from the
// binned particles of the 27 cells around the node), the term's value at the
// node and its derivative with respect to m_i.
@compute @workgroup_size(64)
fn density_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let nn = p_nodes();
    if (i >= nn.x * nn.y * nn.z) {
        return;
    }
    let nz = i / (nn.x * nn.y);
    let ny = (i - nz * nn.x * nn.y) / nn.x;
    let node = vec3<u32>(i - nz * nn.x * nn.y - ny * nn.x, ny, nz);
    let nf = vec3r(node);
    let cells = vec3<i32>(p_cells());
    let ni = vec3<i32>(node);
    for (var t = 0u; t < num_terms(); t = t + 1u) {
        let o = LOSS_TERM * t;
        if (u32(terms[o]) != 4u || factor(t) == 0.0) {
            continue;
        }
        let body = u32(terms[o + 1u]);
        var m: Real = 0.0;
        for (var dz = 0; dz < 3; dz = dz + 1) {
            for (var dy = 0; dy < 3; dy = dy + 1) {
                for (var dxi = 0; dxi < 3; dxi = dxi + 1) {
                    let c = ni - vec3<i32>(dxi, dy, dz);
                    if (any(c < vec3<i32>(0)) || any(c >= cells)) {
                        continue;
                    }
                    let ci = u32(c.x + cells.x * (c.y + cells.y * c.z));
                    for (var s = cell_start[ci]; s < cell_start[ci + 1u]; s = s + 1u) {
                        let p = sorted[s];
                        if (tag_body(body_of[p]) == body) {
                            let xg = (particle_x(p) - p_origin()) * p_inv_dx();
                            m = m + bspline_node_weight(xg, nf);
                        }
                    }
                }
            }
        }
        m = m * terms[o + 11u];
        let big_m = terms[o + 12u];
        let slot = u32(terms[o + 8u]) + i;
        let diff = m - target_mass[slot];
        if (terms[o + 10u] == 0.0) {
            density_val[slot] = abs(diff) / big_m;
            density_bar[slot] = select(select(Real(-1.0), Real(1.0), diff > 0.0), Real(0.0), diff == 0.0) / big_m;
        } else {
            density_val[slot] = diff * diff / (big_m * big_m);
            density_bar[slot] = 2.0 * diff / (big_m * big_m);
        }
    }
}

fn term_value(t: u32) -> Real {
    let o = LOSS_TERM * t;
    let kind = u32(terms[o]);
    let target_v = vec3r(terms[o + 5u], terms[o + 6u], terms[o + 7u]);
    let com = vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u]);
    let comv = vec3r(stats[8u * t + 3u], stats[8u * t + 4u], stats[8u * t + 5u]);
    switch kind {
        case 0u: { return dot(com - target_v, com - target_v); }
        case 1u: { return dot(comv - target_v, comv - target_v); }
        case 2u: { return 1.0 - stats[8u * t + 6u]; }
        case 5u: {
            let d = com - tool_position(t);
            return dot(d, d);
        }
        case 7u: {
            let d = com - comv - target_v;
            return dot(d, d);
        }
        default: { return stats[8u * t + 6u]; }
    }
}

@compute @workgroup_size(64)
fn loss_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wid.x;
    if (t >= num_terms() || factor(t) == 0.0) {
        return;
    }
    reduce_term(t, li);
    if (li == 0u) {
        value[t] = value[t] + factor(t) * terms[LOSS_TERM * t + 4u] * term_value(t);
    }
}

@compute @workgroup_size(64)
fn loss_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = wid.x;
    if (t >= num_terms() || factor(t) == 0.0) {
        return;
    }
    reduce_term(t, li);
}

@compute @workgroup_size(64)
fn loss_seed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    // The tools' position adjoints of the ToolDistance terms, all from one
    // invocation, in term order. (Each term's first particle used to add
    // its own: two terms on one tool then added to the same control entry
    // from different workgroups, and one of the two updates was sometimes
    // lost.)
    if (p == 0u) {
        for (var t = 0u; t < num_terms(); t = t + 1u) {
            let o = LOSS_TERM * t;
            let f = factor(t);
            if (f == 0.0 || u32(terms[o]) != 5u) {
                continue;
            }
            let d = vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u]) - tool_position(t);
            let tool = u32(terms[o + 8u]);
            let cstep = min(clock[0], p_control_steps() - 1u);
            let co = 16u * (cstep * p_num_tools() + tool);
            let kf = f * terms[o + 4u];
            for (var a = 0u; a < 3u; a = a + 1u) {
                control_grad[co + a] = control_grad[co + a] - 2.0 * kf * d[a];
            }
        }
    }
    var xbar = vec3r(0.0);
    var vbar = vec3r(0.0);
    for (var t = 0u; t < num_terms(); t = t + 1u) {
        let o = LOSS_TERM * t;
        let first = u32(terms[o + 2u]);
        let count = u32(terms[o + 3u]);
        let f = factor(t);
        if (f == 0.0) {
            continue;
        }
        if (u32(terms[o]) == 7u) {
            // |c_a − c_b − offset|²: +2 d / N_a on body a, −2 d / N_b on body b.
            let first_b = u32(terms[o + 8u]);
            let count_b = u32(terms[o + 9u]);
            let d = vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u])
                - vec3r(stats[8u * t + 3u], stats[8u * t + 4u], stats[8u * t + 5u])
                - vec3r(terms[o + 5u], terms[o + 6u], terms[o + 7u]);
            let kf = 2.0 * f * terms[o + 4u];
            if (p >= first && p < first + count) {
                xbar = xbar + kf * d / Real(count);
            }
            if (p >= first_b && p < first_b + count_b) {
                xbar = xbar - kf * d / Real(count_b);
            }
            continue;
        }
        if (p < first || p >= first + count) {
            continue;
        }
        let k = f * terms[o + 4u] / Real(count);
        let target_v = vec3r(terms[o + 5u], terms[o + 6u], terms[o + 7u]);
        switch u32(terms[o]) {
            case 0u: {
                xbar = xbar + 2.0 * k * (vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u]) - target_v);
            }
            case 1u: {
                vbar = vbar + 2.0 * k * (vec3r(stats[8u * t + 3u], stats[8u * t + 4u], stats[8u * t + 5u]) - target_v);
            }
            case 2u: {
                let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
                xbar = xbar - k * region_weight(t, xp).yzw;
            }
            case 3u: {
                // (1/N) Σ_p |x_p − y_q*(p)|² + (1/M) Σ_q |x_p*(q) − y_q|².
                let kf = f * terms[o + 4u];
                let xp = particle_x(p);
                let t0 = u32(terms[o + 8u]);
                let nt = u32(terms[o + 9u]);
                let slot = u32(terms[o + 10u]) + p - first;
                let q = u32(chamfer_p[2u * slot + 1u]);
                xbar = xbar + kf * 2.0 * (xp - point(t0 + q)) / Real(count);
                for (var j = 0u; j < nt; j = j + 1u) {
                    if (u32(chamfer_t[2u * (t0 + j) + 1u]) == p) {
                        xbar = xbar + kf * 2.0 * (xp - point(t0 + j)) / Real(nt);
                    }
                }
            }
            case 4u: {
                let kf = f * terms[o + 4u] * terms[o + 11u];
                let n0 = u32(terms[o + 8u]);
                let xg = (particle_x(p) - p_origin()) * p_inv_dx();
                let base = particle_cell(xg);
                for (var c = 0u; c < 27u; c = c + 1u) {
                    let node = base + vec3<u32>(c % 3u, (c / 3u) % 3u, c / 9u);
                    let nf = vec3r(node);
                    xbar = xbar + kf * density_bar[n0 + node_index(node)] * bspline_node_weight_grad(xg, nf) * p_inv_dx();
                }
            }
            case 6u: {
                let d = particle_x(p) - point(recorded_base(t) + p - first);
                xbar = xbar + 2.0 * k * d;
            }
            default: {
                let d = vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u]) - tool_position(t);
                xbar = xbar + 2.0 * k * d;
            }
        }
    }
    for (var i = 0u; i < 3u; i = i + 1u) {
        adj[adj_index(p, i)] = adj[adj_index(p, i)] + xbar[i];
        adj[adj_index(p, 3u + i)] = adj[adj_index(p, 3u + i)] + vbar[i];
    }
}
