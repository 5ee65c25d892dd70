// Shared by `mpm/rigid.wgsl` and `mpm/rigid_adj.wgsl`: a 64-wide workgroup
// sum of three vectors, the inertia tensor from Σ r rᵀ, a guarded solve with
// it, and the cross-product matrix.

#import common/real

var<workgroup> red_a: array<vec3r, 64>;
var<workgroup> red_b: array<vec3r, 64>;
var<workgroup> red_c: array<vec3r, 64>;

// Sums a, b and c over the workgroup's 64 invocations (in a fixed order);
// every invocation gets the sums. Call from uniform control flow.
fn reduce3(li: u32, a: vec3r, b: vec3r, c: vec3r) -> array<vec3r, 3> {
    red_a[li] = a;
    red_b[li] = b;
    red_c[li] = c;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (li < w) {
            red_a[li] = red_a[li] + red_a[li + w];
            red_b[li] = red_b[li] + red_b[li + w];
            red_c[li] = red_c[li] + red_c[li + w];
        }
        workgroupBarrier();
    }
    let out = array<vec3r, 3>(red_a[0], red_b[0], red_c[0]);
    workgroupBarrier();
    return out;
}

// I = tr(S) 1 − S for S = Σ r rᵀ given as its diagonal (xx, yy, zz) and
// off-diagonal (xy, xz, yz) entries.
fn inertia_of(d: vec3r, o: vec3r) -> mat3r {
    let t = d.x + d.y + d.z;
    return mat3r(
        t - d.x, -o.x, -o.y,
        -o.x, t - d.y, -o.z,
        -o.y, -o.z, t - d.z,
    );
}

// I⁻¹ b for a symmetric I; zero when I is (nearly) singular, as for a body
// of fewer than three non-collinear particles, which then only translates.
fn solve_sym3(m: mat3r, b: vec3r) -> vec3r {
    let det = determinant(m);
    let scale = (m[0][0] + m[1][1] + m[2][2]) / 3.0;
    if (!(abs(det) > 1e-9 * scale * scale * scale)) {
        return vec3r(0.0);
    }
    // Inverse by cofactors: rows of the inverse are cross products of columns.
    let c0 = m[0];
    let c1 = m[1];
    let c2 = m[2];
    let inv = transpose(mat3r(cross(c1, c2), cross(c2, c0), cross(c0, c1))) * (1.0 / det);
    return inv * b;
}

// [w]×: the matrix with [w]× r = w × r.
fn skew(w: vec3r) -> mat3r {
    return mat3r(0.0, w.z, -w.y, -w.z, 0.0, w.x, w.y, -w.x, 0.0);
}
