// 3x3 singular value decomposition F = U diag(s) V^T with U, V rotations
// (det = +1) and s sorted descending; s.z is negative when det F < 0.
//
// Method: cyclic Jacobi on the symmetric F^T F (fixed sweep count, no
// data-dependent loop exits), then U from F V with Gram–Schmidt and a cross
// product for the last column, so that tiny singular values never divide.

struct Svd3 {
    u: mat3r,
    s: vec3r,
    v: mat3r,
}

const SVD_SWEEPS: i32 = 5;

// Jacobi rotation G (identity except rows/columns p, q) such that Gᵀ a G has
// a zero at (p, q), for symmetric `a`.
fn jacobi_rotation(a: mat3r, p: u32, q: u32) -> mat3r {
    let apq = a[q][p];
    let app = a[p][p];
    let aqq = a[q][q];
    let small = abs(apq) <= 1e-30 * (abs(app) + abs(aqq)) || apq == 0.0;
    let tau = (aqq - app) / (2.0 * select(apq, 1.0, small));
    let t = select(sign(tau), 1.0, tau == 0.0) / (abs(tau) + sqrt(1.0 + tau * tau));
    let c0 = 1.0 / sqrt(1.0 + t * t);
    let c = select(c0, 1.0, small);
    let s = select(t * c0, 0.0, small);
    var g = mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
    g[p][p] = c;
    g[q][q] = c;
    g[q][p] = s; // column q, row p
    g[p][q] = -s; // column p, row q
    return g;
}

fn svd3(f: mat3r) -> Svd3 {
    var a = transpose(f) * f;
    var v = mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
    for (var sweep = 0; sweep < SVD_SWEEPS; sweep = sweep + 1) {
        for (var k = 0u; k < 3u; k = k + 1u) {
            let p = select(0u, 1u, k == 2u);
            let q = select(1u, 2u, k > 0u);
            let g = jacobi_rotation(a, p, q);
            a = transpose(g) * a * g;
            v = v * g;
        }
    }
    // Sort eigenvalues (descending) with their columns.
    var l = vec3r(a[0][0], a[1][1], a[2][2]);
    if (l.x < l.y) {
        l = l.yxz;
        v = mat3r(v[1], v[0], -v[2]);
    }
    if (l.x < l.z) {
        l = l.zyx;
        v = mat3r(v[2], -v[1], v[0]);
    }
    if (l.y < l.z) {
        l = l.xzy;
        v = mat3r(-v[0], v[2], v[1]);
    }
    // Make V a proper rotation.
    if (determinant(v) < 0.0) {
        v[2] = -v[2];
    }
    // U columns: u0 = F v0 / |F v0|, u1 orthogonalised, u2 = u0 x u1.
    let fv0 = f * v[0];
    let n0 = length(fv0);
    var u0 = select(vec3r(1.0, 0.0, 0.0), fv0 / max(n0, 1e-300), n0 > 1e-30);
    let fv1 = f * v[1];
    var u1 = fv1 - dot(fv1, u0) * u0;
    let n1 = length(u1);
    // Fallback: any unit vector orthogonal to u0.
    let alt = select(vec3r(0.0, 1.0, 0.0), vec3r(1.0, 0.0, 0.0), abs(u0.x) < 0.9);
    let alt1 = normalize(alt - dot(alt, u0) * u0);
    u1 = select(alt1, u1 / max(n1, 1e-300), n1 > 1e-30 * max(n0, 1e-30));
    let u2 = cross(u0, u1);
    var out: Svd3;
    out.u = mat3r(u0, u1, u2);
    out.v = v;
    out.s = vec3r(dot(u0, fv0), dot(u1, fv1), dot(u2, f * v[2]));
    return out;
}

// Rotation part R of the polar decomposition F = R S.
fn polar_r(svd: Svd3) -> mat3r {
    return svd.u * transpose(svd.v);
}
