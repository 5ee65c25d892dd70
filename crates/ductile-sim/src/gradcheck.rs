//! Gradient checking: the adjoint of a [`Rollout`] against central finite
//! differences, per parameter group, along random directions, over a sweep
//! of step sizes. Used by `ductile gradcheck` and the gradient tests.

use crate::error::SimError;
use crate::mpm::solver::BodyGradients;
use crate::tape::{elastic_constants, Gradients, Rollout};
use ductile_gpu::GpuContext;
use ductile_scene::Material;

/// Groups of parameters a loss can be differentiated by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamGroup {
    /// Initial particle positions [m].
    InitialPosition,
    /// Initial particle velocities [m/s].
    InitialVelocity,
    /// Initial deformation: F_0 and aux_0 (J of fluids, J_p of snow), and C_0.
    InitialDeformation,
    /// Per-substep tool positions, orientations (raw quaternions), linear and angular velocities.
    Control,
    /// Material parameters of one body (E, ν, yield stress, friction angle or
    /// viscosity, bulk modulus and Tait exponent, snow's critical compression,
    /// stretch and hardening, density), perturbed relative to their values.
    Material(usize),
    /// Tool friction coefficients and softness, relative to their values.
    ToolContact,
    /// Parameters outside the scene's groups (another solver's state or
    /// parameters), checked by [`check_values`] with the caller's accessors.
    Named(&'static str),
    /// FEM body k's (`fem[k]`) Young's modulus and Poisson ratio, relative.
    FemMaterial(usize),
    /// FEM body k's tool contact: stiffness, damping and friction, relative.
    FemContact(usize),
    /// FEM body k's contact with MPM matter: stiffness, damping and friction, relative.
    FemMatter(usize),
}

impl ParamGroup {
    /// Short name for reports.
    pub fn name(&self) -> String {
        match self {
            ParamGroup::InitialPosition => "initial positions".into(),
            ParamGroup::InitialVelocity => "initial velocities".into(),
            ParamGroup::InitialDeformation => "initial F, C and aux".into(),
            ParamGroup::Control => "tool controls".into(),
            ParamGroup::Material(b) => format!("material of body {b}"),
            ParamGroup::ToolContact => "tool friction and softness".into(),
            ParamGroup::Named(n) => (*n).into(),
            ParamGroup::FemMaterial(k) => format!("fem[{k}] E and ν"),
            ParamGroup::FemContact(k) => format!("fem[{k}] tool contact k, c, μ"),
            ParamGroup::FemMatter(k) => format!("fem[{k}] matter contact k, c, μ"),
        }
    }
}

/// One finite-difference evaluation.
#[derive(Clone, Debug)]
pub struct FdSample {
    /// Step size along the direction (in the group's scaled units).
    pub eps: f64,
    /// (L(θ + εd) − L(θ − εd)) / 2ε.
    pub fd: f64,
    /// |fd − adjoint| / max(|fd|, |adjoint|, 1e-12·|L|): relative, with a floor
    /// at round-off of the loss so that a group the loss does not depend on
    /// (both near zero) does not report a spurious error of 1.
    pub rel_error: f64,
}

/// Result of checking one group.
#[derive(Clone, Debug)]
pub struct GroupCheck {
    /// The group.
    pub group: ParamGroup,
    /// Directional derivative from the adjoint, ∇L·d.
    pub adjoint: f64,
    /// Finite differences over the step sweep.
    pub samples: Vec<FdSample>,
}

impl GroupCheck {
    /// The sample with the smallest relative error.
    pub fn best(&self) -> &FdSample {
        self.samples
            .iter()
            .min_by(|a, b| a.rel_error.total_cmp(&b.rel_error))
            .expect("at least one step size")
    }
}

/// Deterministic pseudo-random numbers (SplitMix64).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The generator's state: `Rng::new(r.state())` continues the same sequence.
    pub fn state(&self) -> u64 {
        self.0
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    /// A random unit vector of length n.
    pub fn direction(&mut self, n: usize) -> Vec<f64> {
        let mut d: Vec<f64> = (0..n).map(|_| self.normal()).collect();
        let l = d.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        d.iter_mut().for_each(|x| *x /= l);
        d
    }
}

/// The material parameters perturbed by the `Material` group, as (value, is-used).
fn material_params(m: &Material) -> Vec<f64> {
    match *m {
        Material::Fluid {
            density,
            bulk_modulus,
            viscosity,
            gamma,
        } => vec![density, bulk_modulus, viscosity, gamma],
        Material::VonMises {
            density,
            youngs_modulus,
            poisson_ratio,
            yield_stress,
        } => vec![density, youngs_modulus, poisson_ratio, yield_stress],
        Material::DruckerPrager {
            density,
            youngs_modulus,
            poisson_ratio,
            friction_angle_deg,
            cohesion,
        } => vec![
            density,
            youngs_modulus,
            poisson_ratio,
            friction_angle_deg,
            cohesion,
        ],
        Material::HerschelBulkley {
            density,
            bulk_modulus,
            shear_modulus,
            yield_stress,
            consistency,
            flow_index,
        } => vec![
            density,
            bulk_modulus,
            shear_modulus,
            yield_stress,
            consistency,
            flow_index,
        ],
        Material::Snow {
            density,
            youngs_modulus,
            poisson_ratio,
            critical_compression,
            critical_stretch,
            hardening,
        } => vec![
            density,
            youngs_modulus,
            poisson_ratio,
            critical_compression,
            critical_stretch,
            hardening,
        ],
        _ => {
            let (e, nu) = elastic_constants(m).unwrap_or((0.0, 0.0));
            vec![crate::material::density(m), e, nu]
        }
    }
}

fn with_material_params(m: &Material, p: &[f64]) -> Material {
    let mut m = m.clone();
    match &mut m {
        Material::Rigid { density } => *density = p[0],
        Material::Fluid {
            density,
            bulk_modulus,
            viscosity,
            gamma,
        } => {
            *density = p[0];
            *bulk_modulus = p[1];
            *viscosity = p[2];
            *gamma = p[3];
        }
        Material::VonMises {
            density,
            youngs_modulus,
            poisson_ratio,
            yield_stress,
        } => {
            *density = p[0];
            *youngs_modulus = p[1];
            *poisson_ratio = p[2];
            *yield_stress = p[3];
        }
        Material::FixedCorotated {
            density,
            youngs_modulus,
            poisson_ratio,
        }
        | Material::NeoHookean {
            density,
            youngs_modulus,
            poisson_ratio,
        } => {
            *density = p[0];
            *youngs_modulus = p[1];
            *poisson_ratio = p[2];
        }
        Material::Snow {
            density,
            youngs_modulus,
            poisson_ratio,
            critical_compression,
            critical_stretch,
            hardening,
        } => {
            *density = p[0];
            *youngs_modulus = p[1];
            *poisson_ratio = p[2];
            *critical_compression = p[3];
            *critical_stretch = p[4];
            *hardening = p[5];
        }
        Material::DruckerPrager {
            density,
            youngs_modulus,
            poisson_ratio,
            friction_angle_deg,
            cohesion,
        } => {
            *density = p[0];
            *youngs_modulus = p[1];
            *poisson_ratio = p[2];
            *friction_angle_deg = p[3];
            *cohesion = p[4];
        }
        Material::HerschelBulkley {
            density,
            bulk_modulus,
            shear_modulus,
            yield_stress,
            consistency,
            flow_index,
        } => {
            *density = p[0];
            *bulk_modulus = p[1];
            *shear_modulus = p[2];
            *yield_stress = p[3];
            *consistency = p[4];
            *flow_index = p[5];
        }
    }
    m
}

fn material_gradient(m: &Material, g: &BodyGradients) -> Vec<f64> {
    match m {
        Material::Fluid { .. } => vec![g.density, g.lambda, g.mu, g.a],
        Material::VonMises { .. } => vec![g.density, g.youngs_modulus, g.poisson_ratio, g.a],
        Material::DruckerPrager { .. } => vec![
            g.density,
            g.youngs_modulus,
            g.poisson_ratio,
            g.friction_angle_deg,
            g.cohesion,
        ],
        Material::HerschelBulkley { .. } => {
            vec![g.density, g.bulk_modulus, g.shear_modulus, g.a, g.b, g.c]
        }
        Material::Snow { .. } => vec![g.density, g.youngs_modulus, g.poisson_ratio, g.a, g.b, g.c],
        _ => vec![g.density, g.youngs_modulus, g.poisson_ratio],
    }
}

/// Indices of the control values (position, quaternion, linear and angular velocity).
fn control_indices(len: usize) -> Vec<usize> {
    (0..len)
        .filter(|i| {
            use crate::control::{
                CONTROL_ANGULAR as W, CONTROL_LINEAR as V, CONTROL_POSITION as X,
                CONTROL_QUATERNION as Q, CONTROL_RECORD_REALS,
            };
            let k = i % CONTROL_RECORD_REALS;
            [(X, 3), (Q, 4), (V, 3), (W, 3)]
                .iter()
                .any(|&(first, n)| (first..first + n).contains(&k))
        })
        .collect()
}

/// Current values of a group, the per-entry scale of a step, and the adjoint gradient.
fn group_values(r: &Rollout, g: &Gradients, group: ParamGroup) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    match group {
        ParamGroup::InitialPosition => {
            let x = r.initial_state().x.clone();
            (x.clone(), vec![1.0; x.len()], g.x0.clone())
        }
        ParamGroup::InitialVelocity => {
            let v = r.initial_state().v.clone();
            (v.clone(), vec![1.0; v.len()], g.v0.clone())
        }
        ParamGroup::InitialDeformation => {
            let s = r.initial_state();
            let vals: Vec<f64> = s.f.iter().chain(&s.c).chain(&s.aux).copied().collect();
            let grads = g.f0.iter().chain(&g.c0).chain(&g.aux0).copied().collect();
            (vals.clone(), vec![1.0; vals.len()], grads)
        }
        ParamGroup::Control => {
            let idx = control_indices(r.control_values().len());
            let vals: Vec<f64> = idx.iter().map(|&i| r.control_values()[i]).collect();
            let grads = idx.iter().map(|&i| g.control[i]).collect();
            (vals.clone(), vec![1.0; vals.len()], grads)
        }
        ParamGroup::Material(b) => {
            let m = &r.materials()[b];
            let p = material_params(m);
            let scale = p.iter().map(|v| v.abs().max(1e-12)).collect();
            (p, scale, material_gradient(m, &g.bodies[b]))
        }
        ParamGroup::ToolContact => {
            let mut vals = Vec::new();
            let mut grads = Vec::new();
            for (t, tp) in r.tool_params().iter().enumerate() {
                vals.extend_from_slice(tp);
                grads.push(g.tool_friction[t]);
                grads.push(g.tool_softness[t]);
            }
            let scale = vals.iter().map(|v| v.abs().max(1e-3)).collect();
            (vals, scale, grads)
        }
        // (named groups bring their own values: `check_values`)
        ParamGroup::Named(_) => (Vec::new(), Vec::new(), Vec::new()),
        ParamGroup::FemMaterial(k) | ParamGroup::FemContact(k) => {
            let Some((fi, f)) = fem_body(r, k) else {
                return (Vec::new(), Vec::new(), Vec::new());
            };
            let (vals, name) = match group {
                ParamGroup::FemMaterial(_) => {
                    let (e, nu) = f.material();
                    (vec![e, nu], "youngs_modulus_poisson_ratio")
                }
                _ => (f.contact().to_vec(), "contact_stiffness_damping_friction"),
            };
            let grads = g.solvers[fi].group(name).unwrap_or(&[]).to_vec();
            let scale = vals.iter().map(|v| v.abs().max(1e-12)).collect();
            (vals, scale, grads)
        }
        ParamGroup::FemMatter(k) => {
            let Some((_, c)) = fem_matter(r, k) else {
                return (Vec::new(), Vec::new(), Vec::new());
            };
            let vals = c.params().to_vec();
            let name = crate::world::Coupling::name(c).to_string();
            let grads = g
                .couplings
                .iter()
                .find(|s| s.solver == name)
                .and_then(|s| s.group("matter (k, c, mu)"))
                .unwrap_or(&[])
                .to_vec();
            let scale = vals.iter().map(|v| v.abs().max(1e-12)).collect();
            (vals, scale, grads)
        }
    }
}

/// FEM body k's world index and solver.
fn fem_body(r: &Rollout, k: usize) -> Option<(usize, &crate::fem::solver::FemSolver)> {
    let fi = r.sim.fem_solver(k)?;
    Some((fi, r.sim.world.solver::<crate::fem::solver::FemSolver>(fi)?))
}

/// FEM body k's matter contact: its index among the couplings, and it.
fn fem_matter(r: &Rollout, k: usize) -> Option<(usize, &crate::fem::matter::FemMatterCoupling)> {
    let fi = r.sim.fem_solver(k)?;
    r.sim.world.couplings.iter().enumerate().find_map(|(i, c)| {
        c.as_any()
            .downcast_ref::<crate::fem::matter::FemMatterCoupling>()
            .filter(|m| m.fem_solver() == fi)
            .map(|m| (i, m))
    })
}

fn set_group(
    ctx: &GpuContext,
    r: &mut Rollout,
    group: ParamGroup,
    vals: &[f64],
) -> Result<(), SimError> {
    match group {
        ParamGroup::InitialPosition => {
            let mut s = r.initial_state().clone();
            s.x = vals.to_vec();
            r.set_initial_state(ctx, &s)
        }
        ParamGroup::InitialVelocity => {
            let mut s = r.initial_state().clone();
            s.v = vals.to_vec();
            r.set_initial_state(ctx, &s)
        }
        ParamGroup::InitialDeformation => {
            let mut s = r.initial_state().clone();
            let (nf, nc) = (s.f.len(), s.c.len());
            s.f = vals[..nf].to_vec();
            s.c = vals[nf..nf + nc].to_vec();
            s.aux = vals[nf + nc..].to_vec();
            r.set_initial_state(ctx, &s)
        }
        ParamGroup::Control => {
            let mut c = r.control_values().to_vec();
            for (k, i) in control_indices(c.len()).into_iter().enumerate() {
                c[i] = vals[k];
            }
            r.set_control_values(ctx, &c)
        }
        ParamGroup::Material(b) => {
            let m = with_material_params(&r.materials()[b], vals);
            r.set_material(ctx, b, &m)
        }
        ParamGroup::ToolContact => {
            for t in 0..vals.len() / 2 {
                r.set_tool_params(ctx, t, vals[2 * t], vals[2 * t + 1])?;
            }
            Ok(())
        }
        ParamGroup::Named(n) => Err(SimError::Other(format!(
            "group `{n}` is set by its caller's accessor (check_values)"
        ))),
        ParamGroup::FemMaterial(k) | ParamGroup::FemContact(k) => {
            let fi = r
                .sim
                .fem_solver(k)
                .ok_or_else(|| SimError::Other(format!("no FEM body {k}")))?;
            let f = r
                .sim
                .world
                .solver_mut::<crate::fem::solver::FemSolver>(fi)
                .ok_or_else(|| SimError::Other(format!("solver {fi} is not FEM")))?;
            match group {
                ParamGroup::FemMaterial(_) => f.set_material(ctx, vals[0], vals[1])?,
                _ => f.set_contact(ctx, vals[0], vals[1], vals[2]),
            }
            r.invalidate();
            Ok(())
        }
        ParamGroup::FemMatter(k) => {
            let i = fem_matter(r, k)
                .map(|(i, _)| i)
                .ok_or_else(|| SimError::Other(format!("FEM body {k} has no matter contact")))?;
            if let Some(c) = r.sim.world.couplings[i]
                .as_any_mut()
                .downcast_mut::<crate::fem::matter::FemMatterCoupling>()
            {
                c.set_params(ctx, vals[0], vals[1], vals[2]);
            }
            r.invalidate();
            Ok(())
        }
    }
}

/// Checks `group` along a random direction (seeded by `seed`): the adjoint's
/// directional derivative against central differences at each step in `eps`
/// (in the group's units: metres, m/s and control units; relative for
/// material and contact parameters). `grads` are the adjoint gradients at the
/// current parameters.
pub fn check_group(
    ctx: &GpuContext,
    r: &mut Rollout,
    grads: &Gradients,
    group: ParamGroup,
    eps: &[f64],
    seed: u64,
) -> Result<GroupCheck, SimError> {
    let (vals, scale, g) = group_values(r, grads, group);
    check_values(
        ctx,
        r,
        grads.loss,
        GroupValues {
            group,
            values: &vals,
            scale: &scale,
            gradient: &g,
        },
        &mut |ctx, r, v| set_group(ctx, r, group, v),
        eps,
        seed,
    )
}

/// A group's current values, the per-entry scale of a step, and the
/// adjoint's gradient with respect to them.
pub struct GroupValues<'a> {
    /// The group (for reports).
    pub group: ParamGroup,
    /// Current values.
    pub values: &'a [f64],
    /// Per-entry scale of a step (1 for absolute steps; |value| for relative).
    pub scale: &'a [f64],
    /// ∂L/∂value from the adjoint, one per value.
    pub gradient: &'a [f64],
}

/// Writes a group's values into a rollout (for [`check_values`]).
pub type SetValues<'a> = dyn FnMut(&GpuContext, &mut Rollout, &[f64]) -> Result<(), SimError> + 'a;

/// Checks any group of values along a random direction (seeded by `seed`):
/// `set` writes values into the rollout (it must mark a stale forward pass
/// itself, as the `Rollout::set_*` methods do); the adjoint's directional
/// derivative is compared with central differences at each step in `eps`
/// (in units of `scale`). `loss` is the loss at the current values (its
/// round-off floors the relative error). The values are restored at the end.
pub fn check_values(
    ctx: &GpuContext,
    r: &mut Rollout,
    loss: f64,
    group: GroupValues<'_>,
    set: &mut SetValues<'_>,
    eps: &[f64],
    seed: u64,
) -> Result<GroupCheck, SimError> {
    let GroupValues {
        group,
        values: vals,
        scale,
        gradient: g,
    } = group;
    if vals.is_empty() {
        return Err(SimError::Other(format!(
            "{} has no parameters",
            group.name()
        )));
    }
    if scale.len() != vals.len() || g.len() != vals.len() {
        return Err(SimError::Other(format!(
            "{}: {} values, {} scales and {} gradients",
            group.name(),
            vals.len(),
            scale.len(),
            g.len()
        )));
    }
    let d = Rng::new(seed).direction(vals.len());
    let adjoint: f64 = (0..vals.len()).map(|i| g[i] * d[i] * scale[i]).sum();
    let base_loss = loss.abs();
    let mut samples = Vec::new();
    for &e in eps {
        let plus: Vec<f64> = (0..vals.len())
            .map(|i| vals[i] + e * scale[i] * d[i])
            .collect();
        let minus: Vec<f64> = (0..vals.len())
            .map(|i| vals[i] - e * scale[i] * d[i])
            .collect();
        set(ctx, r, &plus)?;
        let lp = r.forward(ctx)?;
        set(ctx, r, &minus)?;
        let lm = r.forward(ctx)?;
        let fd = (lp - lm) / (2.0 * e);
        let denom = fd
            .abs()
            .max(adjoint.abs())
            .max(1e-12 * base_loss)
            .max(1e-300);
        samples.push(FdSample {
            eps: e,
            fd,
            rel_error: (fd - adjoint).abs() / denom,
        });
    }
    set(ctx, r, vals)?;
    Ok(GroupCheck {
        group,
        adjoint,
        samples,
    })
}

/// Every group that applies to the rollout's scene.
pub fn groups(r: &Rollout) -> Vec<ParamGroup> {
    let mut g = Vec::new();
    if r.sim.particle_count() > 0 {
        g.extend([
            ParamGroup::InitialPosition,
            ParamGroup::InitialVelocity,
            ParamGroup::InitialDeformation,
        ]);
    }
    if !r.tool_params().is_empty() {
        g.push(ParamGroup::Control);
        g.push(ParamGroup::ToolContact);
    }
    for b in 0..r.materials().len() {
        g.push(ParamGroup::Material(b));
    }
    let mut k = 0;
    while let Some((_, f)) = fem_body(r, k) {
        g.push(ParamGroup::FemMaterial(k));
        if f.tool_count() > 0 {
            g.push(ParamGroup::FemContact(k));
        }
        if fem_matter(r, k).is_some() {
            g.push(ParamGroup::FemMatter(k));
        }
        k += 1;
    }
    g
}
