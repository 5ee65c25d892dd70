// Constitutive models of MPM matter: Kirchhoff stress from the deformation
// gradient (or J and the velocity gradient for fluids), plastic return
// mappings, and stored-energy densities for diagnostics.
//
// Per-body parameters live in `materials: array<Real>` (bound by the importer),
// 16 entries per body, written by `ductile_sim::mpm::material::pack_material`:
//   0 kind   1 particle mass [kg]   2 particle volume [m³]   3 μ [Pa] (fluids: viscosity [Pa·s])
//   4 λ [Pa] (fluids: bulk modulus K [Pa])   5..8 model parameters a, b, c, d   9 density [kg/m³]
//   10 model parameter e. Fluids: a = Tait γ. Herschel–Bulkley: b = consistency k [Pa·sⁿ],
//   c = flow index n, d = η_max [Pa·s], e = yield stress τ_y [Pa]. von Mises: a = σ_Y [Pa].
//   Drucker–Prager: a = α, b = ε_c. Snow: a = θ_c, b = θ_s, c = ξ.
// Per-particle scalar `aux`: J for fluids, plastic J_p for snow, unused otherwise.

#import common/real
#import common/svd

const MAT_FLUID: u32 = 0u;
const MAT_FIXED_COROTATED: u32 = 1u;
const MAT_NEO_HOOKEAN: u32 = 2u;
const MAT_VON_MISES: u32 = 3u;
const MAT_DRUCKER_PRAGER: u32 = 4u;
const MAT_SNOW: u32 = 5u;
const MAT_HERSCHEL_BULKLEY: u32 = 6u;

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
    return kind == MAT_FLUID || kind == MAT_HERSCHEL_BULKLEY;
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
        case 0u, 6u: {
            // Fluids: τ = J(−p I + 2η D'), D' the deviatoric strain rate.
            let j = aux;
            let d = 0.5 * (c + transpose(c));
            let dd = d - (d[0][0] + d[1][1] + d[2][2]) / 3.0 * eye;
            var eta = m.mu;
            if (m.kind == MAT_HERSCHEL_BULKLEY) {
                // η = k γ̇^(n−1) + τ_y / γ̇, regularised by η ≤ η_max (m.d).
                let ddd = dd[0][0] * dd[0][0] + dd[1][1] * dd[1][1] + dd[2][2] * dd[2][2]
                    + 2.0 * (dd[1][0] * dd[1][0] + dd[2][0] * dd[2][0] + dd[2][1] * dd[2][1]);
                let rate = safe_sqrt(2.0 * ddd);
                let r = max(rate, 1e-12);
                eta = min(m.b * real_pow(r, m.c - 1.0) + m.e / r, m.d);
            }
            let p = tait_pressure(m, j);
            return j * (2.0 * eta * dd - p * eye);
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
        case 3u, 4u: {
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

// Plastic return mapping applied after F ← (I + dt C) F (or J ← (1 + dt tr C) J).
fn plastic_projection(m: Material, f: mat3r, aux: Real) -> Plastic {
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
            // Drucker–Prager (Klár et al. 2016) on the Hencky strain; m.a = α = √(2/3)·2 sin φ/(3 − sin φ),
            // m.b = ε_c, the volumetric strain at the tensile limit set by cohesion.
            let svd = svd3(f);
            var eps = vec3r(real_log(max(svd.s.x, 1e-6)), real_log(max(svd.s.y, 1e-6)), real_log(max(svd.s.z, 1e-6)));
            let shift = m.b / 3.0;
            eps = eps - vec3r(shift);
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
            e = e + vec3r(shift);
            out.f = svd.u * diag3(vec3r(real_exp(e.x), real_exp(e.y), real_exp(e.z))) * transpose(svd.v);
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
        case 0u, 6u: {
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
        case 3u, 4u: {
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
