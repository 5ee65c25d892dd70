// Quadratic B-spline interpolation weights (MLS-MPM, Hu et al. 2018).
//
// For a particle at grid coordinate `xg = x / dx` the stencil base node is
// `floor(xg - 0.5)` and `fx = xg - base` lies in [0.5, 1.5). Scatter and
// G2P use the per-axis weights; the per-node gather uses `bspline_node_weight`.

// Per-axis weights of the three stencil nodes base + 0, 1, 2.
struct StencilWeights {
    w0: vec3r,
    w1: vec3r,
    w2: vec3r,
}

fn stencil_weights(fx: vec3r) -> StencilWeights {
    var w: StencilWeights;
    w.w0 = 0.5 * (vec3r(1.5) - fx) * (vec3r(1.5) - fx);
    w.w1 = vec3r(0.75) - (fx - vec3r(1.0)) * (fx - vec3r(1.0));
    w.w2 = 0.5 * (fx - vec3r(0.5)) * (fx - vec3r(0.5));
    return w;
}

// Weight of one axis' node k (0, 1 or 2), without indexing a local array.
fn stencil_axis(w: StencilWeights, k: u32, axis: u32) -> Real {
    return select(select(w.w2[axis], w.w1[axis], k == 1u), w.w0[axis], k == 0u);
}

// The 1-D quadratic B-spline N(r) for |r| < 1.5 (zero outside).
fn bspline_n(r: Real) -> Real {
    let a = abs(r);
    let inner = 0.75 - a * a;
    let t = max(1.5 - a, 0.0);
    let outer = 0.5 * t * t;
    return select(outer, inner, a < 0.5);
}

// Weight of the node at `node` (integer grid coordinates) for a particle at `xg`.
fn bspline_node_weight(xg: vec3r, node: vec3r) -> Real {
    let r = xg - node;
    return bspline_n(r.x) * bspline_n(r.y) * bspline_n(r.z);
}

// Derivatives of the per-axis weights with respect to fx (adjoints of the
// stencil form).
fn stencil_weight_grads(fx: vec3r) -> StencilWeights {
    var w: StencilWeights;
    w.w0 = fx - vec3r(1.5);
    w.w1 = -2.0 * (fx - vec3r(1.0));
    w.w2 = fx - vec3r(0.5);
    return w;
}

// dN/dr of `bspline_n`.
fn bspline_dn(r: Real) -> Real {
    let a = abs(r);
    let inner = -2.0 * r;
    let outer = -max(1.5 - a, 0.0) * select(Real(-1.0), Real(1.0), r >= 0.0);
    return select(outer, inner, a < 0.5);
}

// Gradient of `bspline_node_weight` with respect to xg.
fn bspline_node_weight_grad(xg: vec3r, node: vec3r) -> vec3r {
    let r = xg - node;
    let n = vec3r(bspline_n(r.x), bspline_n(r.y), bspline_n(r.z));
    let d = vec3r(bspline_dn(r.x), bspline_dn(r.y), bspline_dn(r.z));
    return vec3r(d.x * n.y * n.z, n.x * d.y * n.z, n.x * n.y * d.z);
}

// Stencil node `s` in 0..27 as offsets (s % 3, s / 3 % 3, s / 9) from the base node.
fn stencil_node(s: u32) -> vec3<u32> {
    return vec3<u32>(s % 3u, (s / 3u) % 3u, s / 9u);
}

// The offset of stencil node `s` from the base node, in cells.
fn stencil_offset(s: u32) -> vec3r {
    return vec3r(stencil_node(s));
}

// The weight w_x·w_y·w_z of stencil node `s`.
fn stencil_node_weight(w: StencilWeights, s: u32) -> Real {
    let k = stencil_node(s);
    return stencil_axis(w, k.x, 0u) * stencil_axis(w, k.y, 1u) * stencil_axis(w, k.z, 2u);
}

// Flat index of stencil node `s` on a grid of `nodes` nodes whose base node has flat index `base_index`.
fn stencil_node_index(base_index: u32, nodes: vec3<u32>, s: u32) -> u32 {
    let k = stencil_node(s);
    return base_index + k.x + nodes.x * (k.y + nodes.y * k.z);
}
