// Adjoints (vector–Jacobian products) of the constitutive models in
// `mpm/material.wgsl`: the Kirchhoff stress and the plastic return mappings.
// Each takes the forward inputs (recomputed from saved state, never read from
// what the forward pass overwrote) and the adjoint of the outputs, and
// returns the adjoint of the inputs plus the adjoints of the material
// parameters μ, λ and the model parameters a, b, c (fluids: a = Tait γ; snow: a = θ_c, b = θ_s, c = ξ; von Mises: a = σ_Y;
// Drucker–Prager: a = α, b = the cohesion's volumetric shift ε_c;
// Herschel–Bulkley: a = τ_y, b = consistency k, c = flow index n).
//
// Every model has an adjoint: Fluid, FixedCorotated, NeoHookean, VonMises,
// Drucker–Prager, Snow, Herschel–Bulkley.
//
// Isotropic maps of F are written as spectral maps P(F) = U diag(h(σ)) Vᵀ,
// whose adjoint (`spectral_vjp`) needs the divided differences
// (h_i − h_j)/(σ_i − σ_j); at (near-)repeated singular values the limit
// ∂h_i/∂σ_i − ∂h_i/∂σ_j is used instead, so no 1/(σ_i − σ_j) blows up.

#import mpm/material

// Adjoints of the per-body material parameters.
struct MatGrad {
    mu: Real,
    lambda: Real,
    a: Real,
    b: Real,
    c: Real,
}

fn mat_grad_zero() -> MatGrad {
    return MatGrad(0.0, 0.0, 0.0, 0.0, 0.0);
}

fn mat_grad_add(x: MatGrad, y: MatGrad) -> MatGrad {
    return MatGrad(x.mu + y.mu, x.lambda + y.lambda, x.a + y.a, x.b + y.b, x.c + y.c);
}

#if REAL_F64
const SPECTRAL_GAP: Real = 1e-6;
#else
const SPECTRAL_GAP: Real = 1e-3;
#endif

fn mat_inner(a: mat3r, b: mat3r) -> Real {
    return dot(a[0], b[0]) + dot(a[1], b[1]) + dot(a[2], b[2]);
}

fn mat_trace(a: mat3r) -> Real {
    return a[0][0] + a[1][1] + a[2][2];
}

// Inverse of a 3×3 matrix by cofactors (det guarded away from zero).
fn inverse3(a: mat3r) -> mat3r {
    let c0 = cross(a[1], a[2]);
    let c1 = cross(a[2], a[0]);
    let c2 = cross(a[0], a[1]);
    let det = dot(a[0], c0);
    let d = select(det, 1e-30, abs(det) < 1e-30);
    return transpose(mat3r(c0, c1, c2)) * (1.0 / d);
}

// Divided difference (h_i − h_j)/(σ_i − σ_j), or its limit `lim` when σ_i ≈ σ_j.
fn divided_difference(hi: Real, hj: Real, si: Real, sj: Real, lim: Real) -> Real {
    let d = si - sj;
    if (abs(d) > SPECTRAL_GAP * max(1.0, max(abs(si), abs(sj)))) {
        return (hi - hj) / d;
    }
    return lim;
}

// (h_i + h_j)/(σ_i + σ_j) with the denominator kept away from zero (sign kept).
fn sum_quotient(hi: Real, hj: Real, si: Real, sj: Real) -> Real {
    let d = si + sj;
    let g = SPECTRAL_GAP * 1e-3;
    return (hi + hj) / select(d, select(-g, g, d >= 0.0), abs(d) < g);
}

// Adjoint of the spectral map P = U diag(h(σ)) Vᵀ of F = U diag(σ) Vᵀ.
//   dh[k][i] = ∂h_i/∂σ_k; pbar = ∂L/∂P; sbar: an extra ∂L/∂σ (for outputs that
//   depend on the singular values directly). Returns ∂L/∂F.
fn spectral_vjp(svd: Svd3, h: vec3r, dh: mat3r, pbar: mat3r, sbar: vec3r) -> mat3r {
    let a = transpose(svd.u) * pbar * svd.v;
    let da = vec3r(a[0][0], a[1][1], a[2][2]);
    let s = svd.s;
    var x = mat3r();
    x[0][0] = dot(da, dh[0]) + sbar.x;
    x[1][1] = dot(da, dh[1]) + sbar.y;
    x[2][2] = dot(da, dh[2]) + sbar.z;
    for (var k = 0u; k < 3u; k = k + 1u) {
        let i = select(0u, 1u, k == 2u);
        let j = select(1u, 2u, k > 0u);
        let aij = a[j][i];
        let aji = a[i][j];
        let dd = divided_difference(h[i], h[j], s[i], s[j], dh[i][i] - dh[j][i]);
        let sq = sum_quotient(h[i], h[j], s[i], s[j]);
        x[j][i] = 0.5 * dd * (aij + aji) + 0.5 * sq * (aij - aji);
        x[i][j] = 0.5 * dd * (aij + aji) + 0.5 * sq * (aji - aij);
    }
    return svd.u * x * transpose(svd.v);
}

// First Piola–Kirchhoff stress of fixed-corotated elasticity as a spectral map:
// h_i = 2μ(σ_i − 1) + λ(J − 1)·J/σ_i, and its Jacobian (τ = P Fᵀ).
struct Spectral {
    h: vec3r,
    dh: mat3r,
}

fn fixed_corotated_spectral(mu: Real, lambda: Real, s: vec3r) -> Spectral {
    let j = s.x * s.y * s.z;
    let c = vec3r(s.y * s.z, s.x * s.z, s.x * s.y); // J/σ_i without dividing
    var out: Spectral;
    out.h = 2.0 * mu * (s - vec3r(1.0)) + lambda * (j - 1.0) * c;
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            if (i == k) {
                out.dh[k][i] = 2.0 * mu + lambda * c[i] * c[i];
            } else {
                // ∂c_i/∂σ_k is the third singular value.
                let m = 3u - i - k;
                out.dh[k][i] = lambda * (c[k] * c[i] + (j - 1.0) * s[m]);
            }
        }
    }
    return out;
}

// Adjoint of the Hencky-strain stress τ = U diag(t) Uᵀ, t_i = 2μ ε_i + λ tr ε,
// ε_i = log max(σ_i, 1e-6), with U the left singular vectors of F.
// With X = Uᵀ δF V: (Uᵀ δτ U)_ii = Σ_k ∂t_i/∂σ_k X_kk and, for i ≠ j,
// (Uᵀ δτ U)_ij = D_ij (σ_j X_ij + σ_i X_ji), D_ij = (t_i − t_j)/(σ_i² − σ_j²)
// = 2μ (ε_i − ε_j)/(σ_i² − σ_j²) (limit μ/σ² at repeated σ). τ is never
// divided by σ, so inverted or collapsed particles (σ clamped) stay finite.
fn hencky_stress_vjp(svd: Svd3, mu: Real, lambda: Real, tbar: mat3r) -> mat3r {
    let s = svd.s;
    let sc = max(s, vec3r(1e-6));
    let eps = vec3r(real_log(sc.x), real_log(sc.y), real_log(sc.z));
    // dε_k/dσ_k (0 where the forward clamps).
    let de = vec3r(select(Real(0.0), 1.0 / sc.x, s.x > 1e-6),
                   select(Real(0.0), 1.0 / sc.y, s.y > 1e-6),
                   select(Real(0.0), 1.0 / sc.z, s.z > 1e-6));
    let ts = 0.5 * (tbar + transpose(tbar));
    let a = transpose(svd.u) * ts * svd.u;
    let da = vec3r(a[0][0], a[1][1], a[2][2]);
    var x = mat3r();
    // X̄_kk = Σ_i A_ii ∂t_i/∂σ_k = (2μ A_kk + λ tr A) dε_k/dσ_k.
    let tra = da.x + da.y + da.z;
    x[0][0] = (2.0 * mu * da.x + lambda * tra) * de.x;
    x[1][1] = (2.0 * mu * da.y + lambda * tra) * de.y;
    x[2][2] = (2.0 * mu * da.z + lambda * tra) * de.z;
    for (var k = 0u; k < 3u; k = k + 1u) {
        let i = select(0u, 1u, k == 2u);
        let j = select(1u, 2u, k > 0u);
        let d2 = s[i] * s[i] - s[j] * s[j];
        var dij: Real;
        if (abs(s[i] - s[j]) > SPECTRAL_GAP * max(abs(s[i]), abs(s[j]))) {
            dij = 2.0 * mu * (eps[i] - eps[j]) / d2;
        } else {
            dij = mu / max(sc[i] * sc[j], 1e-12);
        }
        let aij = a[j][i] + a[i][j];
        // X̄_ij = D σ_j (A_ij + A_ji), X̄_ji = D σ_i (A_ij + A_ji).
        x[j][i] = dij * s[j] * aij;
        x[i][j] = dij * s[i] * aij;
    }
    return svd.u * x * transpose(svd.v);
}

struct StressAdj {
    f: mat3r,
    c: mat3r,
    aux: Real,
    g: MatGrad,
}

// Adjoint of `kirchhoff_stress(m, f, c, aux)` for ∂L/∂τ = tbar_in (times
// 1 + δ, where tests plant an error δ = `p_adjoint_error()`; exactly 1 else).
fn kirchhoff_stress_vjp(m: Material, f: mat3r, c: mat3r, aux: Real, tbar_in: mat3r) -> StressAdj {
    let tbar = (1.0 + p_adjoint_error()) * tbar_in;
    var out: StressAdj;
    out.g = mat_grad_zero();
    out.aux = 0.0;
    let eye = identity3();
    switch m.kind {
        case 0u: {
            let j = aux;
            let d = 0.5 * (c + transpose(c));
            let dd = d - mat_trace(d) / 3.0 * eye;
            let p = tait_pressure(m, j);
            let tb = 0.5 * (tbar + transpose(tbar));
            let tbd = tb - mat_trace(tb) / 3.0 * eye;
            out.c = 2.0 * m.mu * j * tbd;
            var dp: Real = 0.0;
            if (j > 1e-6) {
                dp = -m.lambda * real_exp((-m.a - 1.0) * real_log(j));
            }
            let tr = mat_trace(tbar);
            out.aux = 2.0 * m.mu * mat_inner(tbar, dd) - p * tr - j * tr * dp;
            out.g.mu = 2.0 * j * mat_inner(tbar, dd);
            // ∂p/∂K = p/K.
            out.g.lambda = -j * tr * p / m.lambda;
            // p = K/γ (J^-γ − 1): ∂p/∂γ = −p/γ − (K/γ) J^-γ ln J.
            let jj = max(j, 1e-6);
            let lj = real_log(jj);
            let dpdg = -p / m.a - m.lambda / m.a * real_exp(-m.a * lj) * lj;
            out.g.a = -j * tr * dpdg;
        }
        case 1u, 5u: {
            var hs: Real = 1.0;
            var dhs: Real = 0.0;
            // ∂h/∂ξ of the hardening factor h = exp(ξ (1 − J_p)).
            var dhxi: Real = 0.0;
            if (m.kind == MAT_SNOW) {
                let e = real_exp(m.c * (1.0 - aux));
                hs = clamp(e, 0.1, 5.0);
                let unclamped = e > 0.1 && e < 5.0;
                dhs = select(Real(0.0), -m.c * e, unclamped);
                dhxi = select(Real(0.0), (1.0 - aux) * e, unclamped);
            }
            let svd = svd3(f);
            let sp = fixed_corotated_spectral(m.mu, m.lambda, svd.s);
            let pk = svd.u * diag3(sp.h) * transpose(svd.v);
            let tb = hs * tbar;
            out.f = transpose(tb) * pk + spectral_vjp(svd, sp.h, sp.dh, tb * f, vec3r(0.0));
            out.c = mat3r();
            let r = polar_r(svd);
            let j = svd.s.x * svd.s.y * svd.s.z;
            let dmu = 2.0 * (f - r) * transpose(f);
            let dl = (j - 1.0) * j;
            out.g.mu = mat_inner(tb, dmu);
            out.g.lambda = mat_trace(tb) * dl;
            // ∂L/∂J_p and ∂L/∂ξ through the hardening factor.
            let unhardened = mat_inner(tbar, m.mu * dmu + m.lambda * dl * eye);
            out.aux = dhs * unhardened;
            out.g.c = dhxi * unhardened;
        }
        case 2u: {
            let j = determinant(f);
            let finv_t = transpose(inverse3(f));
            let tr = mat_trace(tbar);
            out.f = m.mu * (tbar + transpose(tbar)) * f + select(Real(0.0), m.lambda * tr, j > 1e-6) * finv_t;
            out.c = mat3r();
            out.g.mu = mat_inner(tbar, f * transpose(f) - eye);
            out.g.lambda = tr * real_log(max(j, 1e-6));
        }
        case 3u, 4u, 6u: {
            let svd = svd3(f);
            out.f = hencky_stress_vjp(svd, m.mu, m.lambda, tbar);
            out.c = mat3r();
            let s = max(svd.s, vec3r(1e-6));
            let eps = vec3r(real_log(s.x), real_log(s.y), real_log(s.z));
            let tu = transpose(svd.u) * tbar * svd.u;
            out.g.mu = 2.0 * (eps.x * tu[0][0] + eps.y * tu[1][1] + eps.z * tu[2][2]);
            out.g.lambda = mat_trace(tbar) * (eps.x + eps.y + eps.z);
        }
        default: {
            out.f = mat3r();
            out.c = mat3r();
        }
    }
    return out;
}

struct PlasticAdj {
    f: mat3r,
    aux: Real,
    g: MatGrad,
}

// The Hencky strain of F (singular values clamped at 1e-6, as the forward
// return mappings do), split into its mean and deviator of norm n.
struct HenckyDev {
    svd: Svd3,
    s: vec3r,
    mean: Real,
    dev: vec3r,
    n: Real,
}

fn hencky_dev(f: mat3r) -> HenckyDev {
    var h: HenckyDev;
    h.svd = svd3(f);
    h.s = max(h.svd.s, vec3r(1e-6));
    let eps = vec3r(real_log(h.s.x), real_log(h.s.y), real_log(h.s.z));
    h.mean = (eps.x + eps.y + eps.z) / 3.0;
    h.dev = eps - vec3r(h.mean);
    h.n = length(h.dev);
    return h;
}

struct RadialAdj {
    f: mat3r,
    rbar: Real,
}

// Adjoint of a radial return F_out = U exp(mean + r·n̂) Vᵀ, n̂ = dev/n, whose
// radius r depends on n with dr/dn = rp (von Mises: r constant; Herschel–
// Bulkley: r = n − Δ(n)), for ∂L/∂F_out = fbar: ∂L/∂F_in and ∂L/∂r.
fn radial_return_vjp(hd: HenckyDev, r: Real, rp: Real, fbar: mat3r) -> RadialAdj {
    let nh = hd.dev / hd.n;
    let e = vec3r(hd.mean) + r * nh;
    let h = vec3r(real_exp(e.x), real_exp(e.y), real_exp(e.z));
    var dh = mat3r();
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            let de = 1.0 / 3.0 + r / hd.n * (select(Real(0.0), Real(1.0), i == k) - 1.0 / 3.0 - nh[i] * nh[k])
                + rp * nh[i] * nh[k];
            // dε_k/dσ_k = 1/σ_k, and 0 where the forward clamps σ_k.
            dh[k][i] = select(Real(0.0), h[i] * de / hd.s[k], hd.svd.s[k] > 1e-6);
        }
    }
    var out: RadialAdj;
    out.f = spectral_vjp(hd.svd, h, dh, fbar, vec3r(0.0));
    let a = transpose(hd.svd.u) * fbar * hd.svd.v;
    out.rbar = a[0][0] * h.x * nh.x + a[1][1] * h.y * nh.y + a[2][2] * h.z * nh.z;
    return out;
}

// Adjoint of `plastic_projection(m, f, aux, dt)` for ∂L/∂F_out = fbar and ∂L/∂aux_out = auxbar.
fn plastic_projection_vjp(m: Material, f: mat3r, aux: Real, dt: Real, fbar: mat3r, auxbar: Real) -> PlasticAdj {
    var out: PlasticAdj;
    out.f = fbar;
    out.aux = auxbar;
    out.g = mat_grad_zero();
    switch m.kind {
        case 3u: {
            let hd = hencky_dev(f);
            let radius = 0.816496580927726 * m.a / (2.0 * m.mu);
            if (hd.n - radius > 0.0) {
                // e = mean + radius·n̂ with a constant radius.
                let ra = radial_return_vjp(hd, radius, 0.0, fbar);
                out.f = ra.f;
                out.g.a = ra.rbar * 0.816496580927726 / (2.0 * m.mu);
                out.g.mu = -ra.rbar * radius / m.mu;
            }
        }
        case 4u: {
            // Drucker–Prager (see `plastic_projection`): e = eps (inside the cone),
            // e = (tr/3)·1 − cα·tr·n̂ (projected to the cone), or e = 0 (tension);
            // F_out = U exp(e + shift) Vᵀ, aux_out = tr − Σe.
            let svd = svd3(f);
            let sc = max(svd.s, vec3r(1e-6));
            let eps0 = vec3r(real_log(sc.x), real_log(sc.y), real_log(sc.z));
            let shift = m.b / 3.0;
            let eps = eps0 + vec3r(aux / 3.0 - shift);
            let tr = eps.x + eps.y + eps.z;
            let dev = eps - vec3r(tr / 3.0);
            let n = length(dev);
            let cc = (3.0 * m.lambda + 2.0 * m.mu) / (2.0 * m.mu);
            // J[k][i] = ∂e_i/∂eps_k; daux[k] = ∂aux_out/∂eps_k.
            var jac = identity3();
            var daux = vec3r(0.0);
            var e = eps;
            var projected = false;
            var nh = vec3r(0.0);
            if (tr >= 0.0) {
                jac = mat3r();
                daux = vec3r(1.0);
                e = vec3r(0.0);
            } else {
                let dg = n + cc * tr * m.a;
                if (dg > 0.0) {
                    projected = true;
                    nh = dev / max(n, 1e-30);
                    e = vec3r(tr / 3.0) - cc * m.a * tr * nh;
                    for (var k = 0u; k < 3u; k = k + 1u) {
                        for (var i = 0u; i < 3u; i = i + 1u) {
                            let pdev = select(Real(0.0), Real(1.0), i == k) - 1.0 / 3.0;
                            jac[k][i] = 1.0 / 3.0 - cc * m.a * (nh[i] + tr * (pdev - nh[i] * nh[k]) / max(n, 1e-30));
                        }
                    }
                }
            }
            let h = vec3r(real_exp(e.x + shift), real_exp(e.y + shift), real_exp(e.z + shift));
            let de = vec3r(select(Real(0.0), 1.0 / sc.x, svd.s.x > 1e-6),
                           select(Real(0.0), 1.0 / sc.y, svd.s.y > 1e-6),
                           select(Real(0.0), 1.0 / sc.z, svd.s.z > 1e-6));
            var dh = mat3r();
            for (var k = 0u; k < 3u; k = k + 1u) {
                for (var i = 0u; i < 3u; i = i + 1u) {
                    dh[k][i] = h[i] * jac[k][i] * de[k];
                }
            }
            let sbar = auxbar * daux * de;
            out.f = spectral_vjp(svd, h, dh, fbar, sbar);
            // ∂L/∂e_i = Ā_ii h_i; eps depends on aux_in through (aux/3)·1.
            let a = transpose(svd.u) * fbar * svd.v;
            let ebar = vec3r(a[0][0] * h.x, a[1][1] * h.y, a[2][2] * h.z);
            let epsbar = transpose(jac) * ebar + auxbar * daux;
            out.aux = (epsbar.x + epsbar.y + epsbar.z) / 3.0;
            // The shift ε_c enters as eps = eps0 + (aux − ε_c)/3 and h = exp(e + ε_c/3).
            out.g.b = (ebar.x + ebar.y + ebar.z) / 3.0 - out.aux;
            if (projected) {
                // ∂e/∂α = −c·tr·n̂, ∂e/∂c = −α·tr·n̂, c = (3λ + 2μ)/(2μ).
                let en = dot(ebar, nh);
                out.g.a = -cc * tr * en;
                let cbar = -m.a * tr * en;
                out.g.lambda = cbar * 3.0 / (2.0 * m.mu);
                out.g.mu = -cbar * 3.0 * m.lambda / (2.0 * m.mu * m.mu);
            }
        }
        case 6u: {
            // Herschel–Bulkley: e = mean + r·n̂ with r = n − Δ(q), q = 2μn, where Δ solves
            // F(Δ) = (q − 2μΔ)/√2 − τ_y − k (√2Δ/dt)ⁿ = 0 (`hb_increment`); its derivatives
            // follow from the implicit function theorem with D = −∂F/∂Δ = 2μ/√2 + k n rateⁿ/Δ.
            let hd = hencky_dev(f);
            let n = hd.n;
            let delta = hb_increment(m, 2.0 * m.mu * n, dt);
            if (delta > 0.0) {
                let s2: Real = 1.4142135623730951;
                let rate = max(s2 * delta / dt, 1e-30);
                let pw = real_pow(rate, m.c);
                let dd = 2.0 * m.mu / s2 + m.b * m.c * pw / delta;
                let ddelta_dq = 1.0 / (s2 * dd);
                let ra = radial_return_vjp(hd, n - delta, 1.0 - 2.0 * m.mu * ddelta_dq, fbar);
                out.f = ra.f;
                let rbar = ra.rbar;
                // r̄ times −∂Δ/∂(μ through q and directly), −∂Δ/∂τ_y, −∂Δ/∂k, −∂Δ/∂n.
                out.g.mu = -rbar * (2.0 * n * ddelta_dq - s2 * delta / dd);
                out.g.a = rbar / dd;
                out.g.b = rbar * pw / dd;
                out.g.c = rbar * m.b * pw * real_log(rate) / dd;
            }
        }
        case 5u: {
            let svd = svd3(f);
            let lo = 1.0 - m.a;
            let hi = 1.0 + m.b;
            let s = clamp(svd.s, vec3r(lo), vec3r(hi));
            let inside = vec3r(select(Real(0.0), Real(1.0), svd.s.x > lo && svd.s.x < hi),
                               select(Real(0.0), Real(1.0), svd.s.y > lo && svd.s.y < hi),
                               select(Real(0.0), Real(1.0), svd.s.z > lo && svd.s.z < hi));
            let jold = svd.s.x * svd.s.y * svd.s.z;
            let jnew = s.x * s.y * s.z;
            // aux_out = aux · jold / jnew.
            out.aux = auxbar * jold / jnew;
            let cold = vec3r(svd.s.y * svd.s.z, svd.s.x * svd.s.z, svd.s.x * svd.s.y);
            let cnew = vec3r(s.y * s.z, s.x * s.z, s.x * s.y);
            let sbar = auxbar * aux * (cold / jnew - jold / (jnew * jnew) * cnew * inside);
            out.f = spectral_vjp(svd, s, diag3(inside), fbar, sbar);
            // θ_c and θ_s move the clamped singular values: ∂s_i/∂θ_c = −1 where
            // σ_i <= 1 − θ_c, ∂s_i/∂θ_s = 1 where σ_i >= 1 + θ_s.
            let fh = transpose(svd.u) * fbar * svd.v;
            let clamped_bar = vec3r(fh[0][0], fh[1][1], fh[2][2]) - auxbar * aux * jold / (jnew * jnew) * cnew;
            let below = vec3r(select(Real(0.0), Real(1.0), svd.s.x <= lo),
                              select(Real(0.0), Real(1.0), svd.s.y <= lo),
                              select(Real(0.0), Real(1.0), svd.s.z <= lo));
            let above = vec3r(select(Real(0.0), Real(1.0), svd.s.x >= hi),
                              select(Real(0.0), Real(1.0), svd.s.y >= hi),
                              select(Real(0.0), Real(1.0), svd.s.z >= hi));
            out.g.a = -dot(below, clamped_bar);
            out.g.b = dot(above, clamped_bar);
        }
        default: {}
    }
    return out;
}
