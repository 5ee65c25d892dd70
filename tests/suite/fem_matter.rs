//! Two-way penalty contact between an FEM body and MPM matter
//! (`ductile_sim::fem::matter`, `shaders/fem/matter*.wgsl`): momentum
//! exchanged exactly, gradients through the contact against central
//! differences in f64 with a planted adjoint error that must fail.

use crate::common::{check_solver_group, gpu, require_f64, scene};
use ductile::gpu::{bytes_to_reals, read_buffer, GpuContext, Precision};
use ductile::scene::LoadedScene;
use ductile::sim::fem::matter::FemMatterCoupling;
use ductile::sim::fem::solver::FemSolver;
use ductile::sim::fem::{desc_from_scene, prepare};
use ductile::sim::gradcheck::{check_group, check_values, GroupCheck, GroupValues, ParamGroup};
use ductile::sim::{Rollout, Simulation, SimulationOptions, TapeOptions};

/// A free FEM block (3 cm, 1 cm elements) thrown at a resting MPM jelly
/// block, without gravity, far from the walls: only the contact acts
/// between them. `extra` goes into the FEM body (its matter contact, say).
fn collision_scene(steps: usize, extra: &str) -> LoadedScene {
    scene(&format!(
        r#"Scene(
    name: "fem meets matter",
    domain: (cells: (16, 16, 16), dx: 0.01, boundary_cells: 2, boundary: Separate),
    gravity: (0.0, 0.0, 0.0),
    time: (dt: 2e-4, substeps: {steps}, frames: 1),
    bodies: [(
        name: "jelly",
        shape: Box(min: (0.065, 0.055, 0.055), max: (0.105, 0.095, 0.095)),
        particles_per_cell: 8,
        material: NeoHookean(density: 1000.0, youngs_modulus: 1.0e4, poisson_ratio: 0.3),
    )],
    fem: [(
        name: "block",
        mesh: Box(min: (0.03, 0.06, 0.06), max: (0.06, 0.09, 0.09), cells: (3, 3, 3)),
        density: 1000.0,
        youngs_modulus: 5.0e4,
        poisson_ratio: 0.3,
        velocity: (1.0, 0.05, 0.3),
        {extra}
    )],
    loss: [
        (kind: CenterOfMass(target: (0.09, 0.08, 0.08)), body: "jelly"),
        (kind: CenterOfMass(target: (0.04, 0.07, 0.08)), body: "block"),
        (kind: MassOutside(min: (0.02, 0.05, 0.05), max: (0.062, 0.1, 0.1), softness: 0.003), body: "block"),
    ],
)"#
    ))
}

/// Total momentum [kg·m/s] of the MPM particles and the FEM nodes now.
fn momentum(ctx: &GpuContext, sim: &Simulation, loaded: &LoadedScene) -> ([f64; 3], [f64; 3]) {
    let st = sim.state(ctx).unwrap();
    let info = sim.info();
    let mut pm = [0.0; 3];
    for (b, (_, range)) in info.bodies.iter().enumerate() {
        for p in range.clone() {
            for (k, m) in pm.iter_mut().enumerate() {
                *m += info.particle_mass[b] * st.v[3 * p as usize + k];
            }
        }
    }
    let fi = sim.fem_solver(0).unwrap();
    let f = sim.world.solver::<FemSolver>(fi).unwrap();
    let n = f.node_count() as usize;
    let p = sim.config().precision;
    let v = bytes_to_reals(
        &read_buffer(ctx, &f.v[sim.parity()], (3 * n) as u64 * p.bytes()).unwrap(),
        p,
    );
    let mass = prepare(&desc_from_scene(&loaded.scene.fem[0], None))
        .unwrap()
        .mass;
    let mut fm = [0.0; 3];
    for j in 0..n {
        for (k, m) in fm.iter_mut().enumerate() {
            *m += mass[j] * v[3 * j + k];
        }
    }
    (pm, fm)
}

/// The contact's forces are equal and opposite, and reach MPM's grid
/// through B-spline weights that sum to one, so with no gravity and no
/// walls in reach the total momentum of jelly and block is conserved while
/// the block (1 m/s, 27 g) hits the jelly (64 g): reference, exact
/// conservation; measured relative drift at round-off (f64, 60 substeps),
/// bound 1e-10, while the block hands over more than 10 % of its momentum.
#[test]
fn fem_and_matter_exchange_momentum_exactly() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let steps = 60;
    let loaded = collision_scene(steps, "matter: Some((radius: Some(0.003))),");
    let mut sim = Simulation::new(
        ctx,
        &loaded,
        &SimulationOptions {
            precision: Some(Precision::F64),
            deterministic: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.world.couplings.len(),
        1,
        "the matter contact is on by default"
    );
    let (p0, f0) = momentum(ctx, &sim, &loaded);
    sim.step(ctx, steps as u32);
    let (p1, f1) = momentum(ctx, &sim, &loaded);
    let total0: Vec<f64> = (0..3).map(|k| p0[k] + f0[k]).collect();
    let total1: Vec<f64> = (0..3).map(|k| p1[k] + f1[k]).collect();
    let norm = total0.iter().map(|x| x * x).sum::<f64>().sqrt();
    let drift = (0..3)
        .map(|k| (total1[k] - total0[k]).powi(2))
        .sum::<f64>()
        .sqrt()
        / norm;
    eprintln!(
        "block momentum x {:.6e} -> {:.6e}, jelly {:.6e} -> {:.6e}, total drift {drift:.2e}",
        f0[0], f1[0], p0[0], p1[0]
    );
    assert!(
        f1[0] < 0.9 * f0[0],
        "the block must hit the jelly: x momentum {:e} -> {:e}",
        f0[0],
        f1[0]
    );
    assert!(drift < 1e-10, "momentum drifted by {drift:e}");
}

/// Checks the coupling's (k, c, μ) gradient group against central
/// differences (parameters perturbed relative to their values).
pub(crate) fn check_matter_group(
    ctx: &GpuContext,
    r: &mut Rollout,
    g: &ductile::sim::Gradients,
    eps: &[f64],
) -> GroupCheck {
    let grad = g.couplings[0]
        .group("matter (k, c, mu)")
        .expect("the matter contact reports its parameters")
        .to_vec();
    let vals = coupling(r).params().to_vec();
    let scale = vals.clone();
    let mut set = |ctx: &GpuContext, r: &mut Rollout, v: &[f64]| {
        coupling(r).set_params(ctx, v[0], v[1], v[2]);
        r.invalidate();
        Ok(())
    };
    let c = check_values(
        ctx,
        r,
        g.loss,
        GroupValues {
            group: ParamGroup::Named("matter (k, c, mu)"),
            values: &vals,
            scale: &scale,
            gradient: &grad,
        },
        &mut set,
        eps,
        11,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let best = c.best();
    eprintln!(
        "matter (k, c, mu)              adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
        c.adjoint, best.fd, best.rel_error
    );
    c
}

fn coupling(r: &mut Rollout) -> &mut FemMatterCoupling {
    r.sim.world.couplings[0]
        .as_any_mut()
        .downcast_mut::<FemMatterCoupling>()
        .unwrap()
}

/// Gradients through the two-way contact (f64, 40 substeps, the
/// checkpointed tape), with spring, damper and friction active (the block
/// arrives obliquely): the jelly's initial positions and velocities, the
/// block's, and the pair law's (k, c, μ) agree with central differences
/// (reference) to better than 1e-5; contact changes the loss; a planted
/// 5 % error in the pair adjoint fails the checks by more than 1e-3.
#[test]
fn fem_matter_contact_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let steps = 40;
    let loaded = collision_scene(
        steps,
        "matter: Some((stiffness: Some(400.0), damping: 0.02, friction: 0.4, stick_speed: 0.05, radius: Some(0.003))),",
    );
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let fi = r.sim.fem_solver(0).unwrap();
    let l_contact = r.forward(ctx).unwrap();
    coupling(&mut r).set_params(ctx, 0.0, 0.0, 0.4);
    r.invalidate();
    let l_free = r.forward(ctx).unwrap();
    assert!(
        (l_contact - l_free).abs() > 1e-3 * l_free.abs(),
        "the block must touch the jelly: {l_contact:e} with contact, {l_free:e} without"
    );
    coupling(&mut r).set_params(ctx, 400.0, 0.02, 0.4);
    r.invalidate();
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    for (group, eps) in [
        (ParamGroup::InitialPosition, &[1e-6, 1e-7][..]),
        (ParamGroup::InitialVelocity, &[1e-5, 1e-6][..]),
    ] {
        let c = check_group(ctx, &mut r, &g, group, eps, 5).unwrap();
        let best = c.best();
        eprintln!(
            "jelly {:<24} adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
            group.name(),
            c.adjoint,
            best.fd,
            best.rel_error
        );
        assert!(
            c.adjoint.abs() > 1e-12 && best.rel_error < 1e-5,
            "{}: {c:?}",
            group.name()
        );
    }
    for (name, eps) in [("x0", &[1e-6, 1e-7][..]), ("v0", &[1e-5, 1e-6][..])] {
        let c = check_solver_group(ctx, &mut r, fi, &g, name, eps, 7, None);
        assert!(c.adjoint.abs() > 1e-12, "{name}: zero gradient");
        assert!(c.best().rel_error < 1e-5, "{name}: {c:?}");
    }
    let c = check_matter_group(ctx, &mut r, &g, &[1e-5, 1e-6]);
    assert!(
        c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
        "matter (k, c, mu): {c:?}"
    );
    coupling(&mut r).plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let c = check_group(
        ctx,
        &mut r,
        &bad,
        ParamGroup::InitialVelocity,
        &[1e-5, 1e-6],
        5,
    )
    .unwrap();
    assert!(
        c.best().rel_error > 1e-3,
        "a planted matter-contact error passed: {c:?}"
    );
}

/// Issue scene 3, the two-pad gripper (`scenes/tactile_grasp.ron`): two gel
/// pads mounted on a parallel gripper's fingers squeeze a soft 8 g cube
/// standing on the floor, then lift at 0.3 m/s from t = 0.02 s; the
/// fingers' own contact is frictionless, so only the pads' friction with
/// the matter can carry it. Run for 2000 substeps (the lift's first 6 mm),
/// in f32.
///
/// Coulomb's law puts the threshold at μ* = m g / (2 F_n), F_n the squeeze
/// on each pad (read from the pads' contact forces when the lift starts:
/// 0.81 N, μ* = 0.048; the squeeze relaxes to about 0.56 N by the end, so
/// μ* stays within 0.048–0.07). Checked on both sides: at μ = 0.03 the
/// cube stays on the floor (measured −0.43 mm: it sags), at μ = 0.12 it rises,
/// slipping while it accelerates (2.02 mm, and 0.20 m/s at the end), and at μ = 1 it follows the
/// gripper (5.34 mm, 0.29 m/s over the last frame against 0.3: the sticking
/// friction creeps). `ductile run` on the scene shows the friction at its
/// Coulomb value while slipping: at μ = 0.09 each pad's shear over its
/// normal force is 0.079–0.088 (0.88–0.98 μ, below μ as the slip slows
/// toward the smooth transition), and at μ = 0 the shear stays below
/// 0.007 N (1 % of the normal force).
///
/// Two earlier contact laws failed this: a force between node and
/// particle along their line interlocked the pad with the particles'
/// bumpy surface (the cube rose 2.1 mm at μ = 0), and along the node's
/// normal with a size set by their distance it shook a sliding pad (the
/// cube stayed down at 1.7 μ*). The particle-against-triangle law passes
/// (`shaders/fem/matter_law.wgsl`).
#[test]
fn tactile_gripper_lifts_a_cube_by_pad_friction() {
    let (ctx, _g) = gpu();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/tactile_grasp.ron"
    ))
    .unwrap();
    let com_y = |s: &Simulation| -> f64 {
        let x = s.particles(ctx).unwrap().x;
        let n = (x.len() / 3) as f64;
        x.chunks_exact(3).map(|p| p[1]).sum::<f64>() / n
    };
    // (rise [m], speed over the last frame [m/s], squeeze [N] at t = 0.02 s)
    let run = |mu: &str| -> (f64, f64, f64) {
        let t = text.replace(
            "matter: Some((friction: 1.0))",
            &format!("matter: Some((friction: {mu}))"),
        );
        assert!(t.contains(&format!("friction: {mu}))")));
        let loaded = scene(&t);
        assert_eq!(loaded.scene.fem.len(), 2, "two pads");
        let mut s = Simulation::new(ctx, &loaded, &SimulationOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let y0 = com_y(&s);
        s.step(ctx, 1000);
        let fi = s.fem_solver(0).unwrap();
        let pad = s.world.solver::<FemSolver>(fi).unwrap();
        let n = pad.node_count() as usize;
        let p = s.config().precision;
        let fc = bytes_to_reals(
            &read_buffer(ctx, pad.contact_force(), (3 * n) as u64 * p.bytes()).unwrap(),
            p,
        );
        let squeeze = -fc.chunks_exact(3).map(|f| f[0]).sum::<f64>();
        s.step(ctx, 900);
        let y19 = com_y(&s);
        s.step(ctx, 100);
        s.check(ctx).unwrap_or_else(|e| panic!("{e}"));
        let y20 = com_y(&s);
        (y20 - y0, (y20 - y19) / (100.0 * 2e-5), squeeze)
    };
    let weight = 0.008 * 9.81;
    let (lo, hi, one) = (run("0.03"), run("0.12"), run("1.0"));
    for (mu, (rise, speed, fn_)) in [("0.03", lo), ("0.12", hi), ("1", one)] {
        eprintln!(
            "tactile grasp, μ = {mu}: squeeze {fn_:.3} N (μ* = {:.3}), rises {:.2} mm, {speed:.3} m/s at the end",
            weight / (2.0 * fn_),
            rise * 1e3
        );
    }
    let mu_star = weight / (2.0 * one.2);
    assert!(
        0.035 < mu_star && mu_star < 0.08,
        "the threshold μ* = {mu_star} is not well inside (0.03, 0.12)"
    );
    assert!(lo.0 < 0.0005, "μ = 0.03 < μ*: the cube rose {} m", lo.0);
    assert!(hi.0 > 0.001, "μ = 0.12 > μ*: the cube rose only {} m", hi.0);
    assert!(
        one.0 > 0.004 && (one.1 - 0.3).abs() < 0.05,
        "μ = 1: the cube rose {} m (gripper 0.006 m), at {} m/s (gripper 0.3 m/s)",
        one.0,
        one.1
    );
}

/// The matter contact's defaults and time-step advice, on the grasp scene
/// (1.33 mm pad elements, E = 150 kPa): the pair stiffness defaults to E·h
/// for the shortest edge h (200 N/m) even where the scene sets the tools'
/// contact stiffness; a pair damper of 0.05 N·s/m on the lightest node
/// (4.4e-7 kg) needs dt < 2 / (c/m + √(k/m + …)) ≈ 1.25e-5 s, so the
/// scene's 2e-5 s gets a warning naming `fem[0].matter` (that scene blows
/// up at substep 2103); the shipped scene gets none.
#[test]
fn matter_contact_defaults_and_step_advice() {
    let (ctx, _g) = gpu();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/tactile_grasp.ron"
    ))
    .unwrap();
    let shipped = scene(&text);
    assert!(ductile::sim::material::time_step_advice(&shipped.scene).is_empty());
    let damped = text.replace(
        "matter: Some((friction: 1.0))",
        "matter: Some((damping: 0.05, friction: 1.0))",
    );
    let advice = ductile::sim::material::time_step_advice(&scene(&damped).scene);
    assert_eq!(advice.len(), 2, "{advice:?}");
    assert_eq!(advice[0].path, "fem[0].matter");
    assert_eq!(advice[0].body, "left_pad");
    assert!(
        (advice[0].limit / 1.246e-5 - 1.0).abs() < 0.01,
        "{advice:?}"
    );
    // The tools' stiffness set in the scene leaves the matter's default alone.
    let with_tools = text.replace(
        "            mount: Some(\"gripper.left\"),",
        "            mount: Some(\"gripper.left\"),\n            contact: Some((stiffness: 5000.0)),",
    );
    assert_ne!(with_tools, text);
    let loaded = scene(&with_tools);
    let mut s = Simulation::new(ctx, &loaded, &SimulationOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let k = s.world.couplings[0]
        .as_any_mut()
        .downcast_mut::<FemMatterCoupling>()
        .unwrap()
        .params()[0];
    let h = 0.004 / 3.0;
    assert!(
        (k / (1.5e5 * h) - 1.0).abs() < 1e-9,
        "pair stiffness {k} N/m"
    );
}

/// The matter contact's penetration diagnostic (`summary.json`'s
/// `matter_closest_approach_m` and `matter_deepest_penetration_m`): the
/// block thrown at 1 m/s into the jelly (R = 3 mm). With the default pair
/// stiffness (E·h = 500 N/m) no particle's centre reaches the gel's surface
/// (measured closest approach 2.4 mm, inside R: the contact acted); with a
/// pair stiffness 100 times softer the particles pass behind it (measured
/// −3.0 mm), which the diagnostic reports as a penetration.
#[test]
fn matter_penetration_is_measured() {
    let (ctx, _g) = gpu();
    let mut approach = Vec::new();
    for k in ["None", "Some(5.0)"] {
        let loaded = collision_scene(
            60,
            &format!("matter: Some((stiffness: {k}, radius: Some(0.003))),"),
        );
        let mut sim = Simulation::new(ctx, &loaded, &SimulationOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        sim.step(ctx, 60);
        let c = sim.world.couplings[0]
            .as_any()
            .downcast_ref::<FemMatterCoupling>()
            .unwrap();
        let s = c.closest_approach(ctx).unwrap();
        eprintln!("pair stiffness {k}: closest approach {:.3} mm", s * 1e3);
        approach.push(s);
    }
    assert!(
        approach[0] > 0.0 && approach[0] < 0.003,
        "default stiffness: touched, not penetrated: {approach:?}"
    );
    assert!(
        approach[1] < 0.0,
        "a soft contact lets particles through: {approach:?}"
    );
}
