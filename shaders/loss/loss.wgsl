// Scalar losses on particle state, evaluated on the GPU, and their adjoint
// seeds. A loss is a weighted sum of terms; each term (16 Reals, written by
// `ductile_sim::loss::LossSet`) is
//   0 kind   1 body   2 first particle   3 particle count   4 weight
//   5..8 target (position [m] or velocity [m/s])   8..11 region min [m]
//   11..14 region max [m]   14 region softness [m]
// Kinds: 0 |COM position − target|², 1 |COM velocity − target|²,
// 2 mass fraction of the body outside a box region (soft edges of width
// `softness`). `factors[step · terms + term]` is the term's weight factor at
// each step (0 where inactive; 1 for a final-step term at the last step;
// 1/n over an n-step window for a running term).
//
// `loss_eval`: one workgroup per term; reduces the body's particles, writes
// the term's statistics (COM position, COM velocity, fraction inside) to
// `stats` and adds its value at this step to `value[term]`.
// `loss_stats`: the same statistics without adding a value (backward pass).
// `loss_seed`: one invocation per particle; adds ∂(term)/∂x_p and ∂/∂v_p of
// the active terms to the adjoint state (34 Reals per particle, x at 0, v at 3).

#import common/index
#import common/real
#import mpm/params

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> terms: array<Real>;
@group(0) @binding(2) var<storage, read> factors: array<Real>;
@group(0) @binding(3) var<storage, read> clock: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<Real>;
@group(0) @binding(5) var<storage, read> v: array<Real>;
@group(0) @binding(6) var<storage, read_write> stats: array<Real>;
@group(0) @binding(7) var<storage, read_write> value: array<Real>;
@group(0) @binding(8) var<storage, read_write> adj: array<Real>;

const ADJ_STRIDE: u32 = 34u;

var<workgroup> red_x: array<vec3r, 64>;
var<workgroup> red_v: array<vec3r, 64>;
var<workgroup> red_s: array<Real, 64>;

fn num_terms() -> u32 {
    return u32(arrayLength(&terms) / 16u);
}

fn sigmoid(z: Real) -> Real {
    return 1.0 / (1.0 + real_exp(-z));
}

// Soft indicator of the region box and its gradient [1/m].
fn region_weight(t: u32, p: vec3r) -> vec4r {
    let o = 16u * t;
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
    let o = 16u * t;
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
        let comv = red_v[0] / n;
        stats[8u * t] = com.x;
        stats[8u * t + 1u] = com.y;
        stats[8u * t + 2u] = com.z;
        stats[8u * t + 3u] = comv.x;
        stats[8u * t + 4u] = comv.y;
        stats[8u * t + 5u] = comv.z;
        stats[8u * t + 6u] = red_s[0] / n;
    }
}

fn term_value(t: u32) -> Real {
    let o = 16u * t;
    let kind = u32(terms[o]);
    let target_v = vec3r(terms[o + 5u], terms[o + 6u], terms[o + 7u]);
    let com = vec3r(stats[8u * t], stats[8u * t + 1u], stats[8u * t + 2u]);
    let comv = vec3r(stats[8u * t + 3u], stats[8u * t + 4u], stats[8u * t + 5u]);
    switch kind {
        case 0u: { return dot(com - target_v, com - target_v); }
        case 1u: { return dot(comv - target_v, comv - target_v); }
        default: { return 1.0 - stats[8u * t + 6u]; }
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
        value[t] = value[t] + factor(t) * terms[16u * t + 4u] * term_value(t);
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
    var xbar = vec3r(0.0);
    var vbar = vec3r(0.0);
    for (var t = 0u; t < num_terms(); t = t + 1u) {
        let o = 16u * t;
        let first = u32(terms[o + 2u]);
        let count = u32(terms[o + 3u]);
        let f = factor(t);
        if (f == 0.0 || p < first || p >= first + count) {
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
            default: {
                let xp = vec3r(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
                xbar = xbar - k * region_weight(t, xp).yzw;
            }
        }
    }
    let q = ADJ_STRIDE * p;
    for (var i = 0u; i < 3u; i = i + 1u) {
        adj[q + i] = adj[q + i] + xbar[i];
        adj[q + 3u + i] = adj[q + 3u + i] + vbar[i];
    }
}
