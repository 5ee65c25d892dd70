//! Gradient checks in f64: adjoints against central finite differences along
//! random directions, on small scenes in which contact and friction are
//! active during the window (a cube falling onto a rising sphere tool, or
//! onto the floor wall). Each test checks every parameter group: initial
//! positions, velocities and deformation (F_0 = I: three repeated singular
//! values), per-substep tool controls, tool friction and softness, and the
//! body's material parameters.
//!
//! Tolerance: relative error 1e-4 (the issue's bound for smooth scenes) at
//! one step size per group (`step_for`). The soft contact falloff keeps these
//! rollouts smooth; a wrong sign, factor or missing term in any adjoint
//! moves the directional derivative by far more than 1e-4.

use crate::common::{gpu, require_f64, scene};
use ductile::gpu::Precision;
use ductile::scene::Material;
use ductile::sim::gradcheck::{check_group, groups, ParamGroup};
use ductile::sim::tape::Schedule;
use ductile::sim::{BodyGradients, Gradients, Rollout, SimError, StateHost, TapeOptions};

/// Relative tolerance for smooth f64 rollouts.
const TOL: f64 = 1e-4;

/// Central-difference step per group (in the group's units; relative for
/// material and contact parameters): where truncation and round-off balance
/// for these scenes (the best of a 1e-3..1e-7 sweep in every test).
fn step_for(group: ParamGroup) -> f64 {
    match group {
        ParamGroup::InitialVelocity | ParamGroup::InitialDeformation | ParamGroup::Material(_) => {
            1e-4
        }
        _ => 1e-5,
    }
}

/// A small cube (bottom at `y0` m) falling onto a rising sphere tool and the
/// floor, with a loss on its final centre of mass, its running mean velocity
/// and the mass outside a box.
fn contact_scene(material: &str, steps: u32, y0: f64, boundary: &str) -> String {
    let y1 = y0 + 0.2;
    format!(
        r#"Scene(
    name: "gradcheck",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: {boundary}, wall_friction: 0.3),
    time: (dt: 1e-3, substeps: {steps}, frames: 1),
    bodies: [
        (
            name: "cube",
            shape: Box(min: (0.40, {y0}, 0.40), max: (0.60, {y1}, 0.60)),
            particles_per_cell: 8,
            material: {material},
            velocity: (0.3, -2.0, 0.1),
        ),
    ],
    tools: [
        (
            name: "ball",
            shape: Sphere(radius: 0.15),
            pose: (position: (0.47, {ball}, 0.5)),
            motion: Constant(linear: (0.2, 0.5, 0.0), angular_deg: (0.0, 0.0, 30.0)),
            friction: 0.4,
            softness: 0.02,
        ),
    ],
    loss: [
        (kind: CenterOfMass(target: (0.55, 0.5, 0.52)), body: 0),
        (kind: CenterOfMassVelocity(target: (0.0, 0.0, 0.0)), body: 0, weight: 0.1, when: Running(from: 10, to: {steps})),
        (kind: MassOutside(min: (0.3, 0.42, 0.3), max: (0.7, 0.8, 0.7), softness: 0.03), body: 0),
    ],
)"#,
        ball = y0 - 0.2
    )
}

/// The neo-Hookean contact scene ([`contact_scene`], 18 substeps, bottom
/// at 0.40 m, separating walls) as a rollout in precision `p`.
fn neo_hookean_contact_rollout(ctx: &ductile::gpu::GpuContext, p: Precision) -> Rollout {
    let loaded = scene(&contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        NEO_HOOKEAN_STEPS,
        0.40,
        "Separate",
    ));
    Rollout::new(
        ctx,
        &loaded,
        Some(p),
        Some(NEO_HOOKEAN_STEPS as usize),
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Substeps of [`neo_hookean_contact_rollout`].
const NEO_HOOKEAN_STEPS: u32 = 18;

/// Runs forward and backward once, checks every group, and returns the
/// rollout's gradients and final state for scene-specific assertions.
fn check_all(text: &str, steps: u32) -> Option<(Gradients, StateHost)> {
    check_groups(text, steps, |_| true)
}

/// As [`check_all`], for the groups that `include` accepts.
fn check_groups(
    text: &str,
    steps: u32,
    include: impl Fn(ParamGroup) -> bool,
) -> Option<(Gradients, StateHost)> {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let loaded = scene(text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        Some(steps as usize),
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    r.forward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        g.tool_friction[0] != 0.0,
        "the tool must touch the body in the window"
    );
    for (i, group) in groups(&r).into_iter().enumerate() {
        if include(group) {
            assert_group(ctx, &mut r, &g, group, &[step_for(group)], 11 + i as u64);
        }
    }
    r.forward(ctx).unwrap();
    let state = r.sim.state(ctx).unwrap();
    Some((g, state))
}

/// Checks one group along a random direction (seeded by `seed`) at the
/// step sizes `eps`: a nonzero adjoint within [`TOL`] of the best central
/// difference.
fn assert_group(
    ctx: &ductile::gpu::GpuContext,
    r: &mut Rollout,
    g: &Gradients,
    group: ParamGroup,
    eps: &[f64],
    seed: u64,
) {
    let c = check_group(ctx, r, g, group, eps, seed).unwrap();
    let best = c.best();
    eprintln!(
        "{:<28} adjoint {:+.6e}  fd {:+.6e}  rel {:.1e} (eps {:e})",
        group.name(),
        c.adjoint,
        best.fd,
        best.rel_error,
        best.eps
    );
    assert!(c.adjoint.abs() > 1e-12, "{}: zero gradient", group.name());
    assert!(best.rel_error < TOL, "{}: {:?}", group.name(), c);
}

#[test]
fn neo_hookean_gradients() {
    check_all(
        &contact_scene(
            "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
            18,
            0.40,
            "Separate",
        ),
        18,
    );
}

/// The rollout check is tied to the adjoint: with a 5 % error planted in
/// the stress adjoint (`Simulation::plant_adjoint_error`, ∂L/∂τ scaled by
/// 1.05 in every backward substep), the neo-Hookean contact scene above
/// fails the [`TOL`] = 1e-4 check in every group that reaches the stress
/// (measured: initial velocity 1.4e-3, deformation 4.2e-2, the material's
/// parameters 1.2e-2), and the exact adjoint passes again once the switch
/// is reset.
#[test]
fn a_planted_stress_adjoint_error_fails_the_rollout_check() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let mut r = neo_hookean_contact_rollout(ctx, Precision::F64);
    r.forward(ctx).unwrap();
    r.sim.plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let mut checked = 0;
    for (i, group) in groups(&r).into_iter().enumerate() {
        if !matches!(
            group,
            ParamGroup::InitialVelocity | ParamGroup::InitialDeformation | ParamGroup::Material(_)
        ) {
            continue;
        }
        let c = check_group(ctx, &mut r, &bad, group, &[step_for(group)], 11 + i as u64).unwrap();
        eprintln!("planted {:<22} {c:?}", group.name());
        assert!(
            c.best().rel_error > TOL,
            "{}: a planted 5 % error passed: {c:?}",
            group.name()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} groups reach the stress");
    r.sim.plant_adjoint_error(ctx, 1.0);
    r.forward(ctx).unwrap();
    let good = r.backward(ctx).unwrap();
    let group = ParamGroup::InitialVelocity;
    assert_group(ctx, &mut r, &good, group, &[step_for(group)], 7);
}

/// A rigid cube (projected onto a rigid motion every substep) hits the
/// rising, spinning ball off-centre, so it turns: the adjoint of the
/// projection (its centre of mass, inertia and angular momentum, all
/// functions of the positions) must match central differences in every
/// group, and the body must stay rigid.
#[test]
fn rigid_body_gradients() {
    // The ball rises fast, left of the cube's centre, spinning and with high
    // friction: the cube takes a strong spin, so the adjoint's terms in ω
    // (through the inertia and the angular momentum) carry weight.
    let text = contact_scene("Rigid(density: 800.0)", 18, 0.40, "Separate")
        .replace("pose: (position: (0.47,", "pose: (position: (0.40,")
        .replace(
            "Constant(linear: (0.2, 0.5, 0.0), angular_deg: (0.0, 0.0, 30.0))",
            "Constant(linear: (0.5, 2.0, 0.0), angular_deg: (0.0, 0.0, 400.0))",
        )
        .replace("friction: 0.4,", "friction: 0.9,");
    assert!(text.contains("400.0") && text.contains("(0.40,") && text.contains("0.9,"));
    // Alone against kinematic tools and walls, a rigid body's motion does
    // not depend on its density (every operation on it is a velocity
    // projection): its material group has no gradient to check here.
    let Some((_, state)) = check_groups(&text, 18, |g| !matches!(g, ParamGroup::Material(_)))
    else {
        return;
    };
    // Rigid: the projected motion keeps pairwise distances to first order
    // in dt (x += dt (V + ω × r) stretches by O(dt² |ω|²) per substep).
    let loaded = scene(&text);
    let x0 = &loaded.sample_body(0).unwrap();
    let n = x0.len();
    let mut worst: f64 = 0.0;
    for (a, b) in [(0, n - 1), (0, n / 2), (n / 3, 2 * n / 3)] {
        let d0 = (0..3)
            .map(|k| (x0[a][k] - x0[b][k]).powi(2))
            .sum::<f64>()
            .sqrt();
        let d1 = (0..3)
            .map(|k| (state.x[3 * a + k] - state.x[3 * b + k]).powi(2))
            .sum::<f64>()
            .sqrt();
        worst = worst.max((d1 - d0).abs() / d0);
    }
    eprintln!("largest relative change of a pairwise distance: {worst:e}");
    assert!(worst < 1e-3, "the rigid body deformed by {worst:e}");
}

/// An emitter: the cube becomes a stream released downward through its
/// lower face at 3 m/s. Lattice layers leave at substeps 0, 10 and 21 of 24,
/// the rest wait the whole window, and the first layers hit the rising
/// ball: the adjoint carries waiting particles back unchanged and must
/// still match central differences in every group.
#[test]
fn emitter_gradients() {
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        24,
        0.40,
        "Separate",
    )
    .replace(
        "velocity: (0.3, -2.0, 0.1),",
        "velocity: (0.0, -3.0, 0.0),\n            emitter: Some((start: 0.0)),",
    );
    assert!(text.contains("emitter"));
    let Some((_, state)) = check_all(&text, 24) else {
        return;
    };
    // Waiting particles are still on the exit plane (y = 0.40 + half a
    // sub-cell) with their stream velocity; released ones have moved.
    let n = state.v.len() / 3;
    let waiting = (0..n)
        .filter(|&p| state.v[3 * p + 1] == -3.0 && state.v[3 * p] == 0.0)
        .count();
    assert!(waiting > 0 && waiting < n, "{waiting} of {n} still waiting");
}

#[test]
fn fixed_corotated_gradients_with_floor_friction() {
    // A rotated, rotating box tool: its orientation gets a gradient too.
    let text = contact_scene(
        "FixedCorotated(density: 800.0, youngs_modulus: 8.0e3, poisson_ratio: 0.35)",
        18,
        0.15,
        "Separate",
    )
    .replace(
        "Sphere(radius: 0.15)",
        "Box(half_extents: (0.12, 0.1, 0.12))",
    )
    .replace(
        "0.5)),\n            motion",
        "0.5), rotation_deg: (0.0, 10.0, 20.0)),\n            motion",
    );
    assert!(text.contains("rotation_deg"));
    check_all(&text, 18);
}

#[test]
fn von_mises_gradients_while_yielding() {
    // σ_Y is low enough that the impact yields the block.
    let out = check_all(
        &contact_scene(
            "VonMises(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, yield_stress: 150.0)",
            24,
            0.40,
            "Slip",
        ),
        24,
    );
    if let Some((g, _)) = out {
        assert!(
            g.bodies[0].a.abs() > 0.0,
            "the block must yield in the window"
        );
    }
}

/// Drucker–Prager sand. Undeformed sand sits exactly at the apex of the
/// cone (tr ε = 0), where the return mapping switches between "separate"
/// (the strain goes into the volume correction) and "elastic": the rollout
/// has a kink there, and perturbing the initial velocities or deformation
/// moves resting particles across it, so their one-sided derivatives differ
/// from central differences whatever the step (measured: 1.7e-2 and 0.4,
/// constant from ε = 1e-3 to 1e-7). Those two groups are only required to be
/// finite. Positions, tool controls, contact and material parameters, which
/// drive the same adjoint kernels through the cone projection without
/// crossing the apex, must match to 1e-4 (measured 1e-7 to 1e-9).
#[test]
fn drucker_prager_gradients() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let text = contact_scene(
        "DruckerPrager(density: 1600.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, friction_angle_deg: 30.0)",
        18,
        0.15,
        "Separate",
    );
    let loaded = scene(&text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        Some(18),
        &TapeOptions::default(),
    )
    .unwrap();
    let g = r.backward(ctx).unwrap();
    assert!(
        g.bodies[0].friction_angle_deg != 0.0,
        "the sand must reach the cone"
    );
    for (i, group) in groups(&r).into_iter().enumerate() {
        let c = check_group(ctx, &mut r, &g, group, &[step_for(group)], 31 + i as u64).unwrap();
        let best = c.best();
        eprintln!(
            "{:<28} adjoint {:+.6e} fd {:+.6e} rel {:.1e}",
            group.name(),
            c.adjoint,
            best.fd,
            best.rel_error
        );
        assert!(c.adjoint.is_finite());
        if matches!(
            group,
            ParamGroup::InitialVelocity | ParamGroup::InitialDeformation
        ) {
            continue;
        }
        assert!(best.rel_error < TOL, "{}: {:?}", group.name(), c);
    }
}

/// Checks body 0's adjoint of each named material parameter on its own:
/// the best central difference of the loss under `set(material, value)`
/// over relative steps 1e-3, 1e-4 and 1e-5 against `adjoint(gradients)`.
#[allow(clippy::type_complexity)]
fn check_params(
    text: &str,
    steps: u32,
    params: &[(
        &str,
        fn(&Material) -> f64,
        fn(&Material, f64) -> Material,
        fn(&BodyGradients) -> f64,
    )],
) {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let loaded = scene(text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        Some(steps as usize),
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = r.backward(ctx).unwrap();
    let m0 = r.materials()[0].clone();
    for (name, get, set, adjoint) in params {
        let v = get(&m0);
        let adj = adjoint(&g.bodies[0]);
        let mut loss_at = |x: f64| {
            r.set_material(ctx, 0, &set(&m0, x)).unwrap();
            r.forward(ctx).unwrap()
        };
        let (mut fd, mut rel) = (f64::NAN, f64::INFINITY);
        for step in [1e-3, 1e-4, 1e-5] {
            let h = step * v.abs();
            let d = (loss_at(v + h) - loss_at(v - h)) / (2.0 * h);
            let e = (d - adj).abs() / adj.abs().max(1e-300);
            if e < rel {
                (fd, rel) = (d, e);
            }
        }
        eprintln!("{name:<14} adjoint {adj:+.6e}  fd {fd:+.6e}  rel {rel:.1e}");
        assert!(adj != 0.0 && rel < TOL, "{name}: adjoint {adj}, fd {fd}");
        r.set_material(ctx, 0, &m0).unwrap();
    }
}

/// Herschel–Bulkley (shear-thinning, n = 0.7) while flowing: the implicit
/// flow increment's derivatives (yield stress, consistency, flow index,
/// moduli) through the impact.
#[test]
fn herschel_bulkley_gradients_while_flowing() {
    let text = contact_scene(
        "HerschelBulkley(density: 1000.0, bulk_modulus: 5.0e3, shear_modulus: 2.0e3, yield_stress: 40.0, consistency: 2.0, flow_index: 0.7)",
        24,
        0.40,
        "Slip",
    );
    let out = check_all(&text, 24);
    if out.is_none() {
        return;
    }
    fn hb(m: &Material) -> (f64, f64, f64) {
        match *m {
            Material::HerschelBulkley {
                yield_stress,
                consistency,
                flow_index,
                ..
            } => (yield_stress, consistency, flow_index),
            _ => unreachable!(),
        }
    }
    fn with(m: &Material, k: usize, x: f64) -> Material {
        let mut m = m.clone();
        if let Material::HerschelBulkley {
            yield_stress,
            consistency,
            flow_index,
            ..
        } = &mut m
        {
            *[yield_stress, consistency, flow_index][k] = x;
        }
        m
    }
    check_params(
        &text,
        24,
        &[
            ("yield stress", |m| hb(m).0, |m, x| with(m, 0, x), |g| g.a),
            ("consistency", |m| hb(m).1, |m, x| with(m, 1, x), |g| g.b),
            ("flow index", |m| hb(m).2, |m, x| with(m, 2, x), |g| g.c),
        ],
    );
}

/// Cohesive Drucker–Prager sand: the cohesion shifts resting sand off the
/// cone's apex, so every group (initial state included) must match, and the
/// cohesion gets a gradient.
#[test]
fn cohesive_drucker_prager_gradients() {
    let text = contact_scene(
        "DruckerPrager(density: 1600.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, friction_angle_deg: 30.0, cohesion: 5.0)",
        18,
        0.15,
        "Separate",
    );
    if check_all(&text, 18).is_none() {
        return;
    }
    fn cohesion(m: &Material) -> f64 {
        match *m {
            Material::DruckerPrager { cohesion, .. } => cohesion,
            _ => unreachable!(),
        }
    }
    fn with(m: &Material, x: f64) -> Material {
        let mut m = m.clone();
        if let Material::DruckerPrager { cohesion, .. } = &mut m {
            *cohesion = x;
        }
        m
    }
    check_params(&text, 18, &[("cohesion", cohesion, with, |g| g.cohesion)]);
}

/// Two substeps from a random state, for each material: F = I + 0.15·R
/// (distinct singular values), random C and velocities, and a random J or
/// plastic J for models that carry one, with the sphere tool already inside
/// its softness band. Every kernel's adjoint (stress from the initial F,
/// P2G, grid update with contact, G2P with the return mapping) sees
/// arbitrary inputs rather than a cube at rest.
#[test]
fn random_state_gradients_for_every_material() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    for (k, material) in [
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        "FixedCorotated(density: 800.0, youngs_modulus: 8.0e3, poisson_ratio: 0.35)",
        "VonMises(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, yield_stress: 150.0)",
        "DruckerPrager(density: 1600.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, friction_angle_deg: 30.0, cohesion: 5.0)",
        "Snow(density: 400.0, youngs_modulus: 1.4e4, poisson_ratio: 0.2, critical_compression: 0.025, critical_stretch: 0.0075, hardening: 10.0)",
        "Fluid(density: 1000.0, bulk_modulus: 2.0e3, gamma: 7.0, viscosity: 0.5)",
        "HerschelBulkley(density: 1000.0, bulk_modulus: 5.0e3, shear_modulus: 2.0e3, yield_stress: 40.0, consistency: 2.0, flow_index: 0.7)",
    ]
    .iter()
    .enumerate()
    {
        // The ball's top 1 cm below the cube: contact from the first substep.
        let text = contact_scene(material, 2, 0.40, "Separate")
            .replace("position: (0.47, 0.2", "position: (0.47, 0.24")
            .replace("Running(from: 10, to: 2)", "Running(from: 1, to: 2)");
        assert!(text.contains("(0.47, 0.24"));
        let loaded = scene(&text);
        let mut r = Rollout::new(ctx, &loaded, Some(Precision::F64), Some(2), &TapeOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = ductile::sim::gradcheck::Rng::new(100 + k as u64);
        let mut s = r.initial_state().clone();
        let fluid = material.starts_with("Fluid");
        for p in 0..s.aux.len() {
            for j in 0..9 {
                let eye = if j % 4 == 0 { 1.0 } else { 0.0 };
                s.f[9 * p + j] = eye + 0.15 * (2.0 * rng.uniform() - 1.0);
                s.c[9 * p + j] = 2.0 * (2.0 * rng.uniform() - 1.0);
            }
            for a in 0..3 {
                s.v[3 * p + a] += 0.5 * (2.0 * rng.uniform() - 1.0);
            }
            if fluid || material.starts_with("Snow") {
                // J (fluid) or plastic J (snow).
                s.aux[p] = 1.0 + 0.05 * (2.0 * rng.uniform() - 1.0);
            }
        }
        r.set_initial_state(ctx, &s).unwrap();
        let g = r.backward(ctx).unwrap_or_else(|e| panic!("{material}: {e}"));
        assert!(g.tool_friction[0] != 0.0, "{material}: no contact");
        for (i, group) in groups(&r).into_iter().enumerate() {
            // Two substeps barely depend on the material: the fluid's material
            // derivative along a random direction is about 1e-8 of a loss of
            // order 0.1, so round-off of the f64 transcendental functions
            // (1e-15) dominates at the usual step (measured rel. error 2.7e-4 at
            // 1e-4, 2.5e-5 at 1e-3); the check takes the better of the two steps.
            let c = check_group(ctx, &mut r, &g, group, &[1e-3, step_for(group)], 51 + i as u64).unwrap();
            let best = c.best();
            eprintln!(
                "{:<16} {:<28} adjoint {:+.6e}  fd {:+.6e}  rel {:.1e}",
                material.split('(').next().unwrap(),
                group.name(),
                c.adjoint,
                best.fd,
                best.rel_error
            );
            assert!(c.adjoint.abs() > 1e-12, "{material} {}: zero gradient", group.name());
            assert!(best.rel_error < TOL, "{material} {}: {c:?}", group.name());
        }
    }
}

#[test]
fn snow_gradients_while_hardening() {
    let out = check_all(
        &contact_scene(
            "Snow(density: 400.0, youngs_modulus: 5.0e3, poisson_ratio: 0.2, critical_compression: 0.01, critical_stretch: 0.005, hardening: 10.0)",
            18,
            0.15,
            "Sticky",
        ),
        18,
    );
    if let Some((_, s)) = out {
        let moved = s.aux.iter().filter(|j| (**j - 1.0).abs() > 1e-6).count();
        assert!(
            moved > 0,
            "the snow must reach its plastic limits in the window"
        );
    }
}

#[test]
fn fluid_gradients() {
    check_all(
        &contact_scene(
            "Fluid(density: 1000.0, bulk_modulus: 2.0e3, gamma: 7.0, viscosity: 0.5)",
            18,
            0.40,
            "Separate",
        ),
        18,
    );
}

/// A mesh tool through a whole rollout: water falling into a moving,
/// turning cup (`assets/cup.obj` at 0.4 scale, a signed-distance grid of
/// 6 mm) with soft contact, every group checked. The scene is placed off
/// every symmetry on purpose: `scenes/tasks/fill_cup.ron` as shipped is
/// mirror-symmetric (streams and cup centred on z = 0.3 m, falling straight
/// down), and there contact kinks sit exactly at the checked point (a node
/// whose relative normal velocity is exactly zero), where central
/// differences average the two one-sided slopes (its tool-control check
/// failed by 64 % at 400 substeps in one run; the same scene nudged off
/// symmetry by millimetres passed to 1.5e-8). A kink within a step size of the point
/// shows up as an error that shrinks with the step, so each group takes the
/// best of a three-step sweep.
#[test]
fn mesh_tool_gradients_through_a_fluid() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let text = r#"Scene(
    name: "mesh_cup",
    domain: (cells: (16, 16, 16), dx: 0.025, boundary_cells: 2),
    time: (dt: 1e-3, substeps: 60, frames: 1),
    bodies: [
        (name: "water", shape: Box(min: (0.17, 0.12, 0.16), max: (0.25, 0.18, 0.23)), particles_per_cell: 8,
         material: Fluid(density: 1000.0, bulk_modulus: 1.0e4, viscosity: 0.01), velocity: (0.02, -1.5, 0.013)),
    ],
    tools: [
        (name: "cup", shape: Mesh(path: "../assets/cup.obj", scale: 0.4, sdf_dx: 0.006),
         pose: (position: (0.2013, 0.052, 0.1987), rotation_deg: (1.1, 0.7, 0.4)),
         motion: Constant(linear: (0.05, 0.0, -0.03), angular_deg: (0.0, 20.0, 0.0)),
         friction: 0.3, softness: 0.01),
    ],
    loss: [
        (kind: MassOutside(min: (0.15, 0.07, 0.15), max: (0.25, 0.2, 0.25), softness: 0.01), body: 0),
        (kind: ToolDistance(tool: 0), body: 0, weight: 0.3, when: Running(from: 5, to: 40)),
    ],
)"#;
    let loaded = scene(text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    r.forward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    assert!(g.tool_friction[0] != 0.0, "the water must touch the cup");
    for (i, group) in groups(&r).into_iter().enumerate() {
        assert_group(ctx, &mut r, &g, group, &[1e-4, 1e-5, 1e-6], 31 + i as u64);
    }
}

/// The shape losses (Chamfer distance and grid density, L1 and L2) and the
/// tool–object distance, whose gradient also reaches the tool's controls.
#[test]
fn shape_and_tool_distance_loss_gradients() {
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        16,
        0.40,
        "Separate",
    );
    let start = text.find("    loss: [").unwrap();
    let end = text.rfind(")").unwrap();
    let text = format!(
        "{}    loss: [
        (kind: ShapeChamfer(target: Box(min: (0.45, 0.3, 0.42), max: (0.62, 0.5, 0.6))), body: 0),
        (kind: ShapeDensity(target: Sphere(center: (0.52, 0.42, 0.5), radius: 0.12)), body: 0, weight: 0.5),
        (kind: ShapeDensity(target: Box(min: (0.45, 0.3, 0.42), max: (0.62, 0.5, 0.6)), norm: L2), body: 0, weight: 2.0),
        (kind: ToolDistance(tool: 0), body: 0, weight: 0.3, when: Running(from: 4, to: 16)),
    ],
{}",
        &text[..start],
        &text[end..]
    );
    check_all(&text, 16);
}

/// A floating rigid body's density: a rigid cube (500 kg/m³) dropped at
/// 1 m/s onto a pool of water. Alone against walls and tools a rigid body's
/// motion does not depend on its density (see `rigid_body_gradients`), but
/// here its momentum exchange with the water does, so the density's adjoint
/// (through the particle mass of the projection and of P2G) must match
/// central differences. The loss is the cube's final centre of mass.
#[test]
fn rigid_density_gradient_through_the_fluid() {
    let text = "Scene(
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 3),
    time: (dt: 1e-3, substeps: 20, frames: 1),
    bodies: [
        (name: \"cube\", shape: Box(min: (0.4, 0.46, 0.4), max: (0.6, 0.62, 0.6)),
         material: Rigid(density: 500.0), velocity: (0.0, -1.0, 0.0)),
        (name: \"pool\", shape: Box(min: (0.19, 0.19, 0.19), max: (0.81, 0.44, 0.81)),
         material: Fluid(density: 1000.0, bulk_modulus: 1.0e4, viscosity: 0.01)),
    ],
    loss: [(kind: CenterOfMass(target: (0.45, 0.3, 0.5)), body: 0)],
    output: (ply: false, npy: false, png: false),
)";
    check_params(
        text,
        20,
        &[(
            "density",
            |m| match m {
                Material::Rigid { density } => *density,
                _ => unreachable!("body 0 is rigid"),
            },
            |_, v| Material::Rigid { density: v },
            |g| g.density,
        )],
    );
}

/// The body–body distance: a second, softer cube beside the first (less
/// than a grid cell away, so they interact through the grid), with losses on their centre-of-mass distance (offset zero, and a given
/// offset over a running window); the seed reaches both bodies' particles.
#[test]
fn body_distance_loss_gradients() {
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        16,
        0.40,
        "Separate",
    );
    let start = text.find("    loss: [").unwrap();
    let end = text.rfind(")").unwrap();
    let text = format!(
        "{}    loss: [
        (kind: BodyDistance(other: 1), body: 0),
        (kind: BodyDistance(other: 0, offset: (0.1, 0.2, -0.05)), body: 1, weight: 0.5, when: Running(from: 6, to: 16)),
    ],
{}",
        &text[..start],
        &text[end..]
    )
    .replace(
        "    tools: [",
        "        (name: \"soft\", shape: Box(min: (0.61, 0.40, 0.42), max: (0.75, 0.55, 0.58)),
         material: NeoHookean(density: 800.0, youngs_modulus: 2.0e3, poisson_ratio: 0.3)),
    ],
    tools: [",
    )
    .replacen("    ],\n        (name: \"soft\"", "        (name: \"soft\"", 1);
    assert!(
        text.contains("\"soft\"") && text.contains("BodyDistance(other: 0"),
        "{text}"
    );
    check_all(&text, 16);
}

/// The loss monitor (the viewer's loss-over-time plot) evaluates the same
/// terms as a rollout: after the rollout's substeps, on a deterministic f64
/// simulation, its terms sum to the rollout's loss (every term `Final`,
/// including a binned grid density, a Chamfer distance and a tool
/// distance), to 1e-10 relative; at step 0 they differ.
#[test]
fn loss_monitor_matches_the_rollout_loss() {
    let (ctx, _g) = gpu();
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        16,
        0.40,
        "Separate",
    );
    let start = text.find("    loss: [").unwrap();
    let end = text.rfind(")").unwrap();
    let text = format!(
        "{}    loss: [
        (kind: CenterOfMass(target: (0.55, 0.5, 0.52)), body: 0),
        (kind: ShapeChamfer(target: Box(min: (0.45, 0.3, 0.42), max: (0.62, 0.5, 0.6))), body: 0, weight: 2.0),
        (kind: ShapeDensity(target: Box(min: (0.45, 0.3, 0.42), max: (0.62, 0.5, 0.6)), norm: L2), body: 0, weight: 0.5),
        (kind: ToolDistance(tool: 0), body: 0, weight: 0.3),
    ],
{}",
        &text[..start],
        &text[end..]
    );
    let loaded = scene(&text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        Some(16),
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rollout_loss = r.forward(ctx).unwrap();
    let opts = ductile::sim::SimulationOptions {
        precision: Some(Precision::F64),
        deterministic: true,
        ..Default::default()
    };
    let mut s = crate::common::sim(ctx, &loaded, opts);
    let m = ductile::sim::LossMonitor::new(ctx, &loaded, &s)
        .unwrap()
        .expect("the scene has a loss");
    let at0: f64 = m.values(ctx, &s).unwrap().iter().sum();
    crate::common::advance(ctx, &mut s, 16);
    let terms = m.values(ctx, &s).unwrap();
    let at16: f64 = terms.iter().sum();
    eprintln!("rollout loss {rollout_loss:.12e}; monitor {at16:.12e} (terms {terms:?}); at step 0 {at0:.6e}");
    assert_eq!(terms.len(), 4);
    assert!(terms.iter().all(|t| *t > 0.0));
    assert!(
        (at16 - rollout_loss).abs() <= 1e-10 * rollout_loss.abs(),
        "{at16} vs {rollout_loss}"
    );
    assert!(
        (at0 - at16).abs() > 1e-3 * at16.abs(),
        "the monitor did not follow the state"
    );
}

/// Every schedule gives the same gradients: uniform with the default K, a
/// budget small enough to force a larger K, every state stored (K = 1),
/// checkpoints spilled to host memory, and the binomial schedule.
#[test]
fn schedules_agree() {
    let (ctx, _g) = gpu();
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        20,
        0.40,
        "Separate",
    );
    let loaded = scene(&text);
    let run = |opts: TapeOptions| {
        let mut r = Rollout::new(ctx, &loaded, Some(Precision::F64), Some(20), &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        let g = r.backward(ctx).unwrap();
        eprintln!("{}", r.plan.describe());
        g
    };
    let reference = run(TapeOptions::default());
    let variants = [
        TapeOptions {
            checkpoint_every: Some(1),
            ..Default::default()
        },
        TapeOptions {
            checkpoint_every: Some(7),
            gpu_checkpoint_bytes: Some(1),
            ..Default::default()
        },
        TapeOptions {
            schedule: Schedule::Binomial,
            snapshots: Some(2),
            ..Default::default()
        },
        TapeOptions {
            schedule: Schedule::Binomial,
            ..Default::default()
        },
    ];
    for opts in variants {
        let g = run(opts.clone());
        assert_eq!(g.loss, reference.loss);
        // The same kernels in the same order on the same states: bitwise equal.
        assert_eq!(g.x0, reference.x0, "{opts:?}");
        assert_eq!(g.control, reference.control, "{opts:?}");
        assert_eq!(g.bodies, reference.bodies, "{opts:?}");
    }
}

/// `Rollout::replay` visits the states the forward pass computes: the
/// initial state, then the state after each requested substep (the last
/// bitwise the forward's final state), and leaves the gradients unchanged.
#[test]
fn replay_visits_the_forward_states() {
    let (ctx, _g) = gpu();
    let text = contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        20,
        0.40,
        "Separate",
    );
    let loaded = scene(&text);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        Some(20),
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    r.forward(ctx).unwrap();
    let end = r.sim.state(ctx).unwrap();
    let g0 = r.backward(ctx).unwrap();
    let mut seen = Vec::new();
    r.replay(ctx, &[0, 7, 20], |sim, step| -> Result<(), SimError> {
        assert_eq!(sim.step_count() as usize, step);
        seen.push(sim.state(ctx)?);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].x, r.initial_state().x);
    assert_ne!(seen[1].x, seen[0].x);
    assert_eq!(
        (&seen[2].x, &seen[2].v, &seen[2].f),
        (&end.x, &end.v, &end.f)
    );
    let g1 = r.backward(ctx).unwrap();
    assert_eq!(
        (g1.loss, &g1.x0, &g1.control),
        (g0.loss, &g0.x0, &g0.control)
    );
    let past_the_end = r.replay(ctx, &[21], |_, _| -> Result<(), SimError> { Ok(()) });
    assert!(past_the_end.is_err());
}

/// In f32, the backward pass through a plasticine block hitting a sticky
/// floor stays finite and agrees with f64. (Regression: nodes at the edge of
/// a stencil carry masses near 1e-23 kg, whose square underflowed in the
/// grid adjoint and turned every gradient into NaN.)
#[test]
fn f32_gradients_stay_finite_through_impact() {
    let (ctx, _g) = gpu();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenes/sysid_plasticine.ron"))
        .unwrap()
        .replace(
            "(kind: ParticlePositions(path: \"sysid_reference.npy\", every: 10), body: 0)",
            "(kind: CenterOfMass(target: (0.5, 0.1, 0.5)), body: 0), (kind: ShapeDensity(target: Box(min: (0.35, 0.12, 0.35), max: (0.65, 0.2, 0.65))), body: 0)",
        )
        .replace("youngs_modulus: 2.0e4, poisson_ratio: 0.3, yield_stress: 800.0", "youngs_modulus: 1.9e4, poisson_ratio: 0.3, yield_stress: 675.0");
    assert!(text.contains("ShapeDensity") && text.contains("675.0"));
    let loaded = scene(&text);
    let mut grads = Vec::new();
    for p in [Precision::F32, Precision::F64] {
        if p == Precision::F64 {
            require_f64(ctx);
        }
        let mut r = Rollout::new(ctx, &loaded, Some(p), Some(40), &TapeOptions::default()).unwrap();
        let g = r.backward(ctx).unwrap();
        let all = g.x0.iter().chain(&g.v0).chain(&g.f0);
        assert!(
            all.clone().all(|v| v.is_finite()),
            "{p:?}: non-finite gradient"
        );
        let b = &g.bodies[0];
        assert!(
            b.youngs_modulus.is_finite() && b.a.is_finite(),
            "{p:?}: {b:?}"
        );
        grads.push((b.youngs_modulus, b.a));
    }
    if grads.len() == 2 {
        let (e32, a32) = grads[0];
        let (e64, a64) = grads[1];
        eprintln!("dL/dE f32 {e32:e} f64 {e64:e}; dL/dσ_Y f32 {a32:e} f64 {a64:e}");
        assert!(
            (e32 - e64).abs() < 1e-2 * e64.abs(),
            "dL/dE f32 {e32} vs f64 {e64}"
        );
        assert!(
            (a32 - a64).abs() < 1e-2 * a64.abs(),
            "dL/dσ_Y f32 {a32} vs f64 {a64}"
        );
    }
}

/// The f32 adjoint, the path users run (atomic scatter P2G), against the f64
/// adjoint of the same rollout (the neo-Hookean contact scene above, 18
/// substeps, tool and floor contact active), group by group: the relative
/// error ‖g32 − g64‖/‖g64‖ of each group's whole gradient.
///
/// Tolerance from f32 round-off: each gradient entry is a sum that gathers,
/// per substep, the 27 stencil nodes in P2G's adjoint and again in G2P's,
/// so k = 2·27·T terms over the rollout, and the classic bound for a sum of
/// k terms in unit round-off u = 2⁻²⁴ is k·u (Higham, Accuracy and Stability
/// of Numerical Algorithms, §4.2): 972·u = 5.8e-5. Measured: loss 1.5e-7,
/// x0 2.2e-6, v0 4.6e-7, F0 3.4e-6, C0 1.1e-5, controls 5.5e-6, tool
/// friction and softness 4.4e-6, material (E, ν) 1.5e-5. With a 5 % error
/// planted in the f32 stress adjoint, every group that reaches the stress
/// fails it: x0 1.6e-4, v0 2.8e-4, F0 4.4e-2, C0 1.3e-2, material 5.0e-2.
#[test]
fn f32_adjoint_matches_f64_per_group() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let run = |p: Precision, factor: f64| {
        let mut r = neo_hookean_contact_rollout(ctx, p);
        r.sim.plant_adjoint_error(ctx, factor);
        r.backward(ctx).unwrap_or_else(|e| panic!("{e}"))
    };
    let tol = 2.0 * 27.0 * NEO_HOOKEAN_STEPS as f64 * 2f64.powi(-24);
    let g64 = run(Precision::F64, 1.0);
    let errors = |g32: &Gradients| -> Vec<(&'static str, f64)> {
        let body = |g: &Gradients| {
            let b = &g.bodies[0];
            vec![b.youngs_modulus, b.poisson_ratio]
        };
        let tool = |g: &Gradients| [g.tool_friction.clone(), g.tool_softness.clone()].concat();
        let groups: [(&str, Vec<f64>, Vec<f64>); 7] = [
            ("x0", g32.x0.clone(), g64.x0.clone()),
            ("v0", g32.v0.clone(), g64.v0.clone()),
            ("F0", g32.f0.clone(), g64.f0.clone()),
            ("C0", g32.c0.clone(), g64.c0.clone()),
            ("controls", g32.control.clone(), g64.control.clone()),
            ("tool friction and softness", tool(g32), tool(&g64)),
            ("material", body(g32), body(&g64)),
        ];
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        groups
            .into_iter()
            .map(|(name, a, b)| {
                let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
                assert!(norm(&b) > 0.0, "{name}: zero f64 gradient");
                (name, norm(&diff) / norm(&b))
            })
            .collect()
    };
    let g32 = run(Precision::F32, 1.0);
    let loss_rel = (g32.loss - g64.loss).abs() / g64.loss.abs();
    eprintln!("loss: f32 against f64 {loss_rel:.1e}; tolerance {tol:.1e}");
    for (name, rel) in errors(&g32) {
        eprintln!("{name}: f32 against f64 {rel:.2e}");
        assert!(rel < tol, "{name}: f32 adjoint off the f64 one by {rel:e}");
    }
    let planted = run(Precision::F32, 1.05);
    for (name, rel) in errors(&planted) {
        eprintln!("planted {name}: f32 against f64 {rel:.2e}");
        if matches!(name, "x0" | "v0" | "F0" | "C0" | "material") {
            assert!(rel > tol, "{name}: a planted 5 % error passed ({rel:e})");
        }
    }
}

/// Degenerate inputs give finite gradients: zero velocities (Coulomb with no
/// tangential motion), particles exactly on cell faces (stencil switches),
/// F = I (repeated singular values), resting contact on the floor.
#[test]
fn degenerate_inputs_give_finite_gradients() {
    let (ctx, _g) = gpu();
    let text = contact_scene(
        "FixedCorotated(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        12,
        0.13,
        "Separate",
    )
    .replace("velocity: (0.3, -2.0, 0.1)", "velocity: (0.0, 0.0, 0.0)")
    .replace(
        "Constant(linear: (0.2, 0.5, 0.0), angular_deg: (0.0, 0.0, 30.0))",
        "Static",
    );
    let loaded = scene(&text);
    require_f64(ctx);
    let p = Precision::F64;
    let mut r = Rollout::new(ctx, &loaded, Some(p), Some(12), &TapeOptions::default()).unwrap();
    let mut s = r.initial_state().clone();
    let dx = 0.0625;
    for x in s.x.iter_mut() {
        // Snap to the nearest cell face or cell centre: fx lands on 0.5 or 1.0.
        *x = (*x / (0.5 * dx)).round() * 0.5 * dx;
    }
    r.set_initial_state(ctx, &s).unwrap();
    r.forward(ctx).unwrap();
    let g = r.backward(ctx).unwrap();
    let all =
        g.x0.iter()
            .chain(&g.v0)
            .chain(&g.f0)
            .chain(&g.c0)
            .chain(&g.aux0)
            .chain(&g.control);
    let mut count = 0;
    for v in all {
        assert!(v.is_finite(), "non-finite gradient");
        count += 1;
    }
    for b in &g.bodies {
        assert!(
            b.youngs_modulus.is_finite() && b.poisson_ratio.is_finite() && b.density.is_finite()
        );
    }
    assert!(count > 0 && g.loss.is_finite());
    assert!(g.v0.iter().any(|v| *v != 0.0));
    let _ = ParamGroup::Control;
}

/// A box paddle moving through water: the per-substep tool-control
/// gradient matches central differences. This is the `gathering` scene with
/// elastic cubes instead of rigid ones and the paddle raised clear of the
/// floor's wall layer, over 20 substeps.
///
/// The paddle is 1.2 grid cells thick and its mid-plane starts on a plane
/// of grid nodes. Two fixes made this check pass:
/// - A unit normal flipped sign at nodes crossing the mid-plane: a jump the
///   adjoint could not see. Before the fix: adjoint -4.3e-3 against +2.55
///   by central differences; on the full 300-substep rigid scene, -6.9e-5
///   against -3.45e-2.
/// - `tool_normal` now shrinks to zero there, and such nodes follow the
///   tool (`tool_op`, weight s²). The s² weight keeps the update
///   differentiable on the plane itself, where weighting by s left a 1.1 %
///   error.
#[test]
fn box_paddle_in_water_control_gradients() {
    check_groups(
        r#"Scene(
    name: "gathering",
    domain: (cells: (20, 16, 20), dx: 0.025, boundary_cells: 3, boundary: Separate, wall_friction: 0.2),
    time: (dt: 1e-3, substeps: 10, frames: 30),
    bodies: [
        (
            name: "water",
            shape: Box(min: (0.08, 0.08, 0.08), max: (0.42, 0.16, 0.42)),
            particles_per_cell: 8,
            material: Fluid(density: 1000.0, bulk_modulus: 2.0e4, viscosity: 1.0e-2),
        ),
        (
            name: "cube a",
            shape: Box(min: (0.12, 0.13, 0.14), max: (0.18, 0.19, 0.20)),
            particles_per_cell: 8,
            material: NeoHookean(density: 500.0, youngs_modulus: 1.0e5, poisson_ratio: 0.3),
        ),
        (
            name: "cube b",
            shape: Box(min: (0.29, 0.13, 0.27), max: (0.35, 0.19, 0.33)),
            particles_per_cell: 8,
            material: NeoHookean(density: 500.0, youngs_modulus: 1.0e5, poisson_ratio: 0.3),
        ),
    ],
    tools: [
        (
            name: "paddle",
            shape: Box(half_extents: (0.015, 0.06, 0.06)),
            pose: (position: (0.1, 0.15, 0.17)),
            motion: Constant(linear: (0.4, 0.0, 0.2)),
            friction: 0.3,
            softness: 0.02,
        ),
    ],
    loss: [
        (kind: CenterOfMass(target: (0.25, 0.16, 0.25)), body: 1),
        (kind: CenterOfMass(target: (0.25, 0.16, 0.25)), body: 2),
    ],
    output: (ply: false, npy: false, png: false),
)"#,
        20,
        |g| g == ParamGroup::Control,
    );
}

/// The gradient checks fail, never skip, on an adapter without SHADER_F64:
/// `require_f64`, which each of them calls first, panics there.
#[test]
#[should_panic(expected = "has no SHADER_F64")]
fn gradient_checks_fail_without_f64() {
    let mut no_f64 = ductile::gpu::GpuContext::new(&Default::default()).unwrap();
    no_f64.has_f64 = false;
    require_f64(&no_f64);
}
