//! Packing of scene materials into the 16-Real per-body records that
//! `shaders/mpm/material.wgsl` reads (see its header for the layout).

use ductile_scene::Material;

/// Lamé parameters (μ, λ) [Pa] from Young's modulus E [Pa] and Poisson ratio ν.
pub fn lame(youngs_modulus: f64, poisson_ratio: f64) -> (f64, f64) {
    let e = youngs_modulus;
    let nu = poisson_ratio;
    (
        e / (2.0 * (1.0 + nu)),
        e * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)),
    )
}

/// Density [kg/m³] of a material.
pub fn density(m: &Material) -> f64 {
    match m {
        Material::Fluid { density, .. }
        | Material::FixedCorotated { density, .. }
        | Material::NeoHookean { density, .. }
        | Material::VonMises { density, .. }
        | Material::DruckerPrager { density, .. }
        | Material::Snow { density, .. }
        | Material::HerschelBulkley { density, .. }
        | Material::Rigid { density } => *density,
    }
}

/// Short name of the constitutive model.
pub fn model_name(m: &Material) -> &'static str {
    match m {
        Material::Fluid { .. } => "Fluid",
        Material::FixedCorotated { .. } => "FixedCorotated",
        Material::NeoHookean { .. } => "NeoHookean",
        Material::VonMises { .. } => "VonMises",
        Material::DruckerPrager { .. } => "DruckerPrager",
        Material::Snow { .. } => "Snow",
        Material::HerschelBulkley { .. } => "HerschelBulkley",
        Material::Rigid { .. } => "Rigid",
    }
}

/// Largest viscosity [Pa·s] an explicit step of `dt` [s] on a grid of spacing `dx` [m]
/// carries stably for density `rho` [kg/m³]: ρ dx² / (6 dt).
pub fn max_stable_viscosity(rho: f64, dx: f64, dt: f64) -> f64 {
    rho * dx * dx / (6.0 * dt)
}

/// The 16-Real record of one body: kind, particle mass [kg], particle volume [m³], …
pub fn pack_material(m: &Material, particle_volume: f64) -> [f64; 16] {
    let mut r = [0.0; 16];
    let rho = density(m);
    r[1] = rho * particle_volume;
    r[2] = particle_volume;
    r[9] = rho;
    match *m {
        Material::Fluid {
            bulk_modulus,
            gamma,
            viscosity,
            ..
        } => {
            r[0] = 0.0;
            r[3] = viscosity;
            r[4] = bulk_modulus;
            r[5] = gamma;
        }
        Material::FixedCorotated {
            youngs_modulus,
            poisson_ratio,
            ..
        } => {
            let (mu, la) = lame(youngs_modulus, poisson_ratio);
            r[0] = 1.0;
            r[3] = mu;
            r[4] = la;
        }
        Material::NeoHookean {
            youngs_modulus,
            poisson_ratio,
            ..
        } => {
            let (mu, la) = lame(youngs_modulus, poisson_ratio);
            r[0] = 2.0;
            r[3] = mu;
            r[4] = la;
        }
        Material::VonMises {
            youngs_modulus,
            poisson_ratio,
            yield_stress,
            ..
        } => {
            let (mu, la) = lame(youngs_modulus, poisson_ratio);
            r[0] = 3.0;
            r[3] = mu;
            r[4] = la;
            r[5] = yield_stress;
        }
        Material::DruckerPrager {
            youngs_modulus,
            poisson_ratio,
            friction_angle_deg,
            cohesion,
            ..
        } => {
            let (mu, la) = lame(youngs_modulus, poisson_ratio);
            let s = friction_angle_deg.to_radians().sin();
            r[0] = 4.0;
            r[3] = mu;
            r[4] = la;
            r[5] = (2.0f64 / 3.0).sqrt() * 2.0 * s / (3.0 - s);
            // Volumetric strain at which the cohesive material reaches its tensile limit:
            // a hydrostatic tension of `cohesion` Pa over the bulk modulus K = λ + 2μ/3.
            r[6] = cohesion / (la + 2.0 * mu / 3.0);
        }
        Material::Snow {
            youngs_modulus,
            poisson_ratio,
            critical_compression,
            critical_stretch,
            hardening,
            ..
        } => {
            let (mu, la) = lame(youngs_modulus, poisson_ratio);
            r[0] = 5.0;
            r[3] = mu;
            r[4] = la;
            r[5] = critical_compression;
            r[6] = critical_stretch;
            r[7] = hardening;
        }
        Material::HerschelBulkley {
            bulk_modulus,
            shear_modulus,
            yield_stress,
            consistency,
            flow_index,
            ..
        } => {
            r[0] = 6.0;
            r[3] = shear_modulus;
            r[4] = bulk_modulus - 2.0 * shear_modulus / 3.0;
            r[5] = yield_stress;
            r[6] = consistency;
            r[7] = flow_index;
        }
        // Stress-free: `mpm/rigid.wgsl` projects its particles to a rigid motion.
        Material::Rigid { .. } => r[0] = 7.0,
    }
    r
}

/// Initial value of the per-particle scalar: J = 1 for fluids, J_p = 1 for
/// snow, a zero volume correction for sand.
pub fn initial_aux(m: &Material) -> f64 {
    match m {
        Material::DruckerPrager { .. } => 0.0,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lame_of_known_values() {
        // E = 1e4, ν = 0.2: μ = 1e4/2.4, λ = 2e3/(1.2·0.6).
        let (mu, la) = lame(1e4, 0.2);
        assert!((mu - 4_166.666_666_666_667).abs() < 1e-9);
        assert!((la - 2_777.777_777_777_778).abs() < 1e-9);
    }
}
