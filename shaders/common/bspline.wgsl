// Quadratic B-spline interpolation weights (MLS-MPM, Hu et al. 2018).
//
// For a particle at grid coordinate `xg = x / dx` the stencil base node is
// `floor(xg - 0.5)` and `fx = xg - base` lies in [0.5, 1.5).

struct Bspline {
    base: vec3<i32>,
    fx: vec3r,
    w0: vec3r,
    w1: vec3r,
    w2: vec3r,
}

fn bspline_weights(xg: vec3r) -> Bspline {
    var b: Bspline;
    let basef = floor(xg - vec3r(0.5));
    b.base = vec3<i32>(basef);
    b.fx = xg - basef;
    let a = vec3r(1.5) - b.fx;
    let c = b.fx - vec3r(1.0);
    let d = b.fx - vec3r(0.5);
    b.w0 = 0.5 * a * a;
    b.w1 = vec3r(0.75) - c * c;
    b.w2 = 0.5 * d * d;
    return b;
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
