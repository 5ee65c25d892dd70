// Constitutive models of MPM matter: Kirchhoff stress from the deformation
// gradient (or J and the velocity gradient for fluids), plastic return
// mappings, and stored-energy densities for diagnostics.
//
// Per-body parameters live in `materials: array<Real>` (bound by the importer),
// 16 entries per body, written by `ductile_sim::mpm::material::pack_material`:
//   0 kind   1 particle mass [kg]   2 particle volume [m³]   3 μ [Pa] (fluids: viscosity [Pa·s])
//   4 λ [Pa] (fluids: bulk modulus K [Pa])   5..8 model parameters a, b, c, d   9 density [kg/m³]
//   10 model parameter e. Fluids: a = Tait γ. Herschel–Bulkley: μ = G, λ = K − 2G/3,
//   a = yield stress τ_y [Pa], b = consistency k [Pa·sⁿ], c = flow index n. von Mises: a = σ_Y [Pa].
//   Drucker–Prager: a = α, b = ε_c. Snow: a = θ_c, b = θ_s, c = ξ.
// Per-particle scalar `aux`: J for fluids, plastic J_p for snow, the log-volume
// correction for Drucker–Prager sand, unused otherwise.

#import common/real
#import common/svd

const MAT_FLUID: u32 = 0u;
const MAT_FIXED_COROTATED: u32 = 1u;
const MAT_NEO_HOOKEAN: u32 = 2u;
const MAT_VON_MISES: u32 = 3u;
const MAT_DRUCKER_PRAGER: u32 = 4u;
const MAT_SNOW: u32 = 5u;
const MAT_HERSCHEL_BULKLEY: u32 = 6u;
const MAT_RIGID: u32 = 7u;

struct Material {
    kind: u32,
    mass: Real,
    vol: Real,
    mu: Real,
    lambda: Real,
    a: Real,
    b: Real,
    c: Real,
    d: Real,
    density: Real,
    e: Real,
}

fn load_material(body: u32) -> Material {
    let o = 16u * body;
    var m: Material;
    m.kind = u32(materials[o]);
    m.mass = materials[o + 1u];
    m.vol = materials[o + 2u];
    m.mu = materials[o + 3u];
    m.lambda = materials[o + 4u];
    m.a = materials[o + 5u];
    m.b = materials[o + 6u];
    m.c = materials[o + 7u];
    m.d = materials[o + 8u];
    m.density = materials[o + 9u];
    m.e = materials[o + 10u];
    return m;
}

fn is_fluid(kind: u32) -> bool {
    return kind == MAT_FLUID;
}

fn identity3() -> mat3r {
    return mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
}

fn diag3(d: vec3r) -> mat3r {
    return mat3r(d.x, 0.0, 0.0, 0.0, d.y, 0.0, 0.0, 0.0, d.z);
}

// Tait pressure p = K/γ (J^-γ − 1) [Pa]; γ = m.a.
fn tait_pressure(m: Material, j: Real) -> Real {
    let jj = max(j, 1e-6);
    return m.lambda / m.a * (real_exp(-m.a * real_log(jj)) - 1.0);
}

// Kirchhoff stress τ = J σ [Pa] of a particle.
//   f: deformation gradient (elastic part), c: APIC velocity gradient [1/s],
//   aux: J (fluids) or J_p (snow).
fn kirchhoff_stress(m: Material, f: mat3r, c: mat3r, aux: Real) -> mat3r {
    let eye = identity3();
    switch m.kind {
        case 0u: {
            // Newtonian fluid: τ = J(−p I + 2μ D'), D' the deviatoric strain rate.
            let j = aux;
            let d = 0.5 * (c + transpose(c));
            let dd = d - (d[0][0] + d[1][1] + d[2][2]) / 3.0 * eye;
            let p = tait_pressure(m, j);
            return j * (2.0 * m.mu * dd - p * eye);
        }
        case 1u: {
            // Fixed-corotated: τ = 2μ (F − R) Fᵀ + λ (J − 1) J I.
            let svd = svd3(f);
            let r = polar_r(svd);
            let j = svd.s.x * svd.s.y * svd.s.z;
            return 2.0 * m.mu * (f - r) * transpose(f) + m.lambda * (j - 1.0) * j * eye;
        }
        case 2u: {
            // Neo-Hookean: τ = μ (F Fᵀ − I) + λ log(J) I.
            let j = determinant(f);
            return m.mu * (f * transpose(f) - eye) + m.lambda * real_log(max(j, 1e-6)) * eye;
        }
        case 3u, 4u, 6u: {
            // St. Venant–Kirchhoff in Hencky strain: τ = U (2μ ε + λ tr(ε) 1) Uᵀ.
            let svd = svd3(f);
            let eps = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let tr = eps.x + eps.y + eps.z;
            let t = 2.0 * m.mu * eps + vec3r(m.lambda * tr);
            return svd.u * diag3(t) * transpose(svd.u);
        }
        case 5u: {
            // Snow: fixed-corotated with moduli hardened by exp(ξ (1 − J_p)).
            let h = clamp(real_exp(m.c * (1.0 - aux)), 0.1, 5.0);
            let svd = svd3(f);
            let r = polar_r(svd);
            let j = svd.s.x * svd.s.y * svd.s.z;
            return 2.0 * m.mu * h * (f - r) * transpose(f) + m.lambda * h * (j - 1.0) * j * eye;
        }
        default: {
            return mat3r();
        }
    }
}

struct Plastic {
    f: mat3r,
    aux: Real,
}

// Herschel–Bulkley flow increment: the norm Δ of the deviatoric Hencky strain
// moved to plastic in one step of dt, solving
//   (q − 2GΔ)/√2 = τ_y + k (√2 Δ / dt)ⁿ,   q = ‖dev τ_trial‖,
// i.e. the simple-shear stress left after the step equals the HB stress at the
// step's plastic shear rate. Closed form for n = 1; otherwise safeguarded
// Newton iterations inside the bracket [0, (q − √2 τ_y)/(2G)], run until
// the iterate stops changing (at most 48).
fn hb_increment(m: Material, q: Real, dt: Real) -> Real {
    let s2: Real = 1.4142135623730951;
    let g2 = 2.0 * m.mu;
    let hi0 = (q - s2 * m.a) / g2;
    if (hi0 <= 0.0) {
        return 0.0;
    }
    if (abs(m.c - 1.0) < 1e-12) {
        return (q / s2 - m.a) / (g2 / s2 + m.b * s2 / dt);
    }
    var lo: Real = 0.0;
    var hi = hi0;
    var x = 0.5 * hi0;
    for (var it = 0; it < 48; it = it + 1) {
        let rate = max(s2 * x / dt, 1e-30);
        let pw = real_pow(rate, m.c);
        let f = (q - g2 * x) / s2 - m.a - m.b * pw;
        if (f > 0.0) {
            lo = x;
        } else {
            hi = x;
        }
        let df = -g2 / s2 - m.b * m.c * pw / max(x, 1e-30);
        var xn = x - f / df;
        if (!(xn >= lo && xn <= hi)) {
            xn = 0.5 * (lo + hi);
        }
        // Converged to the last bit: the adjoint's implicit derivatives need the root itself.
        if (xn == x) {
            break;
        }
        x = xn;
    }
    return x;
}

// Plastic return mapping applied after F ← (I + dt C) F (or J ← (1 + dt tr C) J); dt [s].
fn plastic_projection(m: Material, f: mat3r, aux: Real, dt: Real) -> Plastic {
    var out: Plastic;
    out.f = f;
    out.aux = aux;
    switch m.kind {
        case 3u: {
            // von Mises on the Hencky strain: ‖dev τ‖ ≤ √(2/3) σ_Y, i.e. ‖ε̂‖ ≤ √(2/3) σ_Y / (2μ).
            let svd = svd3(f);
            let eps = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let mean = (eps.x + eps.y + eps.z) / 3.0;
            let dev = eps - vec3r(mean);
            let n = length(dev);
            let dg = n - 0.816496580927726 * m.a / (2.0 * m.mu);
            if (dg > 0.0) {
                let e = eps - dg / max(n, 1e-30) * dev;
                out.f = svd.u * diag3(vec3r(real_exp(e.x), real_exp(e.y), real_exp(e.z))) * transpose(svd.v);
            }
        }
        case 4u: {
            // Drucker–Prager (Klár et al. 2016) on the Hencky strain with the volume correction of
            // Tampubolon et al. (2017): aux accumulates the log-volume a particle gained while
            // separating (stress-free), and it carries no pressure until that volume is closed again.
            // m.a = α = √(2/3)·2 sin φ/(3 − sin φ); m.b = ε_c, the volumetric strain at the
            // tensile limit set by cohesion.
            let svd = svd3(f);
            let eps0 = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let shift = m.b / 3.0;
            let eps = eps0 + vec3r(aux / 3.0 - shift);
            let tr = eps.x + eps.y + eps.z;
            let dev = eps - vec3r(tr / 3.0);
            let n = length(dev);
            var e = eps;
            if (tr >= 0.0) {
                // Tension beyond the cone's apex: the material separates (zero strain).
                e = vec3r(0.0);
            } else {
                let dg = n + (3.0 * m.lambda + 2.0 * m.mu) / (2.0 * m.mu) * tr * m.a;
                if (dg > 0.0) {
                    e = eps - dg / max(n, 1e-30) * dev;
                }
            }
            // Volume removed by the projection goes into the correction.
            out.aux = tr - (e.x + e.y + e.z);
            e = e + vec3r(shift);
            out.f = svd.u * diag3(vec3r(real_exp(e.x), real_exp(e.y), real_exp(e.z))) * transpose(svd.v);
        }
        case 6u: {
            // Herschel–Bulkley: move Δ of the deviatoric Hencky strain to plastic flow.
            let svd = svd3(f);
            let eps = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let mean = (eps.x + eps.y + eps.z) / 3.0;
            let dev = eps - vec3r(mean);
            let n = length(dev);
            let delta = hb_increment(m, 2.0 * m.mu * n, dt);
            if (delta > 0.0) {
                let e = eps - delta / max(n, 1e-30) * dev;
                out.f = svd.u * diag3(vec3r(real_exp(e.x), real_exp(e.y), real_exp(e.z))) * transpose(svd.v);
            }
        }
        case 5u: {
            // Snow: clamp singular values to [1 − θ_c, 1 + θ_s], move the excess into J_p.
            let svd = svd3(f);
            let s = clamp(svd.s, vec3r(1.0 - m.a), vec3r(1.0 + m.b));
            let jold = svd.s.x * svd.s.y * svd.s.z;
            let jnew = s.x * s.y * s.z;
            out.aux = aux * jold / jnew;
            out.f = svd.u * diag3(s) * transpose(svd.v);
        }
        default: {}
    }
    return out;
}

// Stored energy per reference volume [J/m³], for energy diagnostics.
fn energy_density(m: Material, f: mat3r, aux: Real) -> Real {
    switch m.kind {
        case 0u: {
            let j = max(aux, 1e-6);
            if (abs(m.a - 1.0) < 1e-9) {
                return m.lambda * (j - 1.0 - real_log(j));
            }
            return m.lambda / m.a * (real_exp((1.0 - m.a) * real_log(j)) / (m.a - 1.0) + j) - m.lambda / (m.a - 1.0);
        }
        case 1u, 5u: {
            var h: Real = 1.0;
            if (m.kind == MAT_SNOW) {
                h = clamp(real_exp(m.c * (1.0 - aux)), 0.1, 5.0);
            }
            let svd = svd3(f);
            let d = svd.s - vec3r(1.0);
            let j = svd.s.x * svd.s.y * svd.s.z;
            return h * (m.mu * dot(d, d) + 0.5 * m.lambda * (j - 1.0) * (j - 1.0));
        }
        case 2u: {
            let j = max(determinant(f), 1e-6);
            let lj = real_log(j);
            let i1 = dot(f[0], f[0]) + dot(f[1], f[1]) + dot(f[2], f[2]);
            return 0.5 * m.mu * (i1 - 3.0) - m.mu * lj + 0.5 * m.lambda * lj * lj;
        }
        case 3u, 4u, 6u: {
            let svd = svd3(f);
            let eps = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let tr = eps.x + eps.y + eps.z;
            return m.mu * dot(eps, eps) + 0.5 * m.lambda * tr * tr;
        }
        default: {
            return 0.0;
        }
    }
}
