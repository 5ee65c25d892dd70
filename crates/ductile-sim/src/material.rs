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

/// Speed [m/s] of the fastest elastic (pressure) wave in material `m`:
/// √((λ + 2μ)/ρ) for the solids, √(K/ρ) for the Tait fluid (dp/dρ at rest),
/// √((K + 4G/3)/ρ) for Herschel–Bulkley; `None` for rigid bodies (projected
/// each substep, they carry no wave).
pub fn wave_speed(m: &Material) -> Option<f64> {
    let rho = density(m);
    let modulus = match *m {
        Material::Fluid { bulk_modulus, .. } => bulk_modulus,
        Material::HerschelBulkley {
            bulk_modulus,
            shear_modulus,
            ..
        } => bulk_modulus + 4.0 * shear_modulus / 3.0,
        Material::Rigid { .. } => return None,
        _ => {
            let (e, nu) = crate::tape::elastic_constants(m)?;
            let (mu, la) = lame(e, nu);
            la + 2.0 * mu
        }
    };
    Some((modulus / rho).sqrt())
}

/// A body whose explicit step is too long for the scene's `dt`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepAdvice {
    /// The body's field path (`bodies[2]`, `fem[0]`).
    pub path: String,
    /// The body's name.
    pub body: String,
    /// The estimated stable step [s].
    pub limit: f64,
    /// What sets it (for messages).
    pub reason: String,
}

impl std::fmt::Display for StepAdvice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} `{}`: the stable step is about {:.3e} s ({}); lower time.dt or raise time.substeps",
            self.path, self.body, self.limit, self.reason
        )
    }
}

/// The bodies of `scene` whose stable explicit step is shorter than its `dt`:
/// the Courant limit h/c of the fastest elastic wave c across a grid cell
/// (MPM, h = dx) or the shortest element edge (FEM), and the step in which
/// a body's initial speed crosses a cell. The shipped scenes sit below these
/// limits; a scene above them blows up within a few substeps.
pub fn time_step_advice(scene: &ductile_scene::Scene) -> Vec<StepAdvice> {
    let dt = scene.time.dt;
    let dx = scene.domain.dx;
    let mut out = Vec::new();
    let mut check = |path: String, body: &str, limit: f64, reason: String| {
        if dt > limit {
            out.push(StepAdvice {
                path,
                body: body.to_string(),
                limit,
                reason,
            });
        }
    };
    for (i, b) in scene.bodies.iter().enumerate() {
        if let Some(c) = wave_speed(&b.material) {
            check(
                format!("bodies[{i}]"),
                &b.name,
                dx / c,
                format!("wave speed {c:.4e} m/s across dx = {dx:e} m"),
            );
        }
        let v = b.velocity;
        let speed = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if speed > 0.0 {
            check(
                format!("bodies[{i}]"),
                &b.name,
                dx / speed,
                format!("initial speed {speed:.4e} m/s across dx = {dx:e} m"),
            );
        }
    }
    for (i, f) in scene.fem.iter().enumerate() {
        let (mu, la) = lame(f.youngs_modulus, f.poisson_ratio);
        let c = ((la + 2.0 * mu) / f.density).sqrt();
        // The smallest element altitude (a flat element's shortest edge
        // overstates the length its fastest wave crosses).
        let h = match &f.mesh {
            ductile_scene::FemMesh::Box { .. }
            | ductile_scene::FemMesh::Pad { .. }
            | ductile_scene::FemMesh::Dome { .. } => {
                let d = crate::fem::desc_from_scene(f, None);
                crate::fem::smallest_altitude(&d.nodes, &d.tets)
            }
            // (file meshes: known once loaded; see the FEM solver)
            _ => continue,
        };
        check(
            format!("fem[{i}]"),
            &f.name,
            h / c,
            format!("wave speed {c:.4e} m/s across an element altitude of {h:.3e} m"),
        );
        // The contact spring k and damper c_n on the lightest node (a
        // corner, a few elements' share of mass), on top of the elastic
        // stiffness: symplectic Euler with a damper on the old velocity is
        // stable for dt < 2 / (c_n/m + √(k/m + (2c/h)²)).
        let desc = crate::fem::desc_from_scene(f, None);
        if let Ok(rest) = crate::fem::prepare(&desc) {
            let m_min = rest.mass.iter().copied().fold(f64::INFINITY, f64::min);
            let (k, cn) = match &f.contact {
                Some(c) => (c.stiffness, c.damping),
                None => (crate::fem::default_contact_stiffness(&desc, &rest, dt), 0.0),
            };
            if k > 0.0 && m_min > 0.0 {
                let w2 = k / m_min + (2.0 * c / h).powi(2);
                check(
                    format!("fem[{i}].contact"),
                    &f.name,
                    2.0 / (cn / m_min + w2.sqrt()),
                    format!(
                        "contact stiffness {k:.4e} N/m and damping {cn:.4e} N·s/m on its lightest node ({m_min:.3e} kg) beside wave speed {c:.4e} m/s across {h:.3e} m"
                    ),
                );
            }
            // The matter contact's pair spring and damper, on the lightest
            // node and on the lightest MPM particle: symplectic Euler with
            // a damper needs dt < 2 / (c_p/m + √(k_p/m + (2c/h)²)).
            let matter = f.matter.clone().unwrap_or_default();
            if matter.enabled && !scene.bodies.is_empty() {
                let kp = matter.stiffness.unwrap_or(
                    f.youngs_modulus * crate::fem::shortest_edge(&desc.nodes, &desc.tets),
                );
                let m_particle = scene
                    .bodies
                    .iter()
                    .map(|b| density(&b.material) * dx.powi(3) / f64::from(b.particles_per_cell))
                    .fold(f64::INFINITY, f64::min);
                let m = m_min.min(m_particle);
                let limit = 2.0 / (matter.damping / m + (kp / m + (2.0 * c / h).powi(2)).sqrt());
                if m > 0.0 && limit.is_finite() {
                    check(
                        format!("fem[{i}].matter"),
                        &f.name,
                        limit,
                        format!(
                            "matter contact stiffness {kp:.4e} N/m and damping {:.4e} N·s/m per pair on {m:.3e} kg (its lightest node or particle)",
                            matter.damping
                        ),
                    );
                }
            }
        }
    }
    out
}
