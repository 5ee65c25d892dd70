//! The multi-solver runtime proved general by a second solver that is not
//! MPM and lives only here: damped mass-spring points ([`springs`]) and a
//! penalty coupling that pushes MPM grid nodes through MPM's external-force
//! hook ([`coupling`]). Both go through the same world, tape (uniform and
//! binomial schedules, GPU checkpoints and host spill), loss kernels and
//! gradient-check machinery as MPM. Every check runs in f64 and fails, not
//! skips, on an adapter without `SHADER_F64`.

mod coupling;
mod springs;

use crate::common::{check_solver_group, gpu, scene};
use coupling::SpringMpmCoupling;
use ductile::gpu::{bytes_to_reals, GpuContext, Precision};
use ductile::scene::{LoadedScene, LossKind, LossTerm, LossWhen};
use ductile::sim::gradcheck::{check_group, GroupCheck, ParamGroup};
use ductile::sim::tape::Schedule;
use ductile::sim::{Gradients, Rollout, Simulation, SimulationOptions, TapeOptions};
use springs::{SpringDesc, SpringSolver};

/// Relative error the spring solver's adjoint must meet against the best
/// central difference (its groups agree to 1e-8 or better here).
const TOL: f64 = 1e-5;
/// The same for MPM's groups in a coupled rollout: the bound of
/// `tests/suite/gradients.rs` (their errors here are 1e-9 to 1e-5).
const MPM_TOL: f64 = 1e-4;
/// A planted 5 % error in one adjoint term must push the error past this.
const PLANTED_MIN: f64 = 1e-3;

/// A resting elastic cube in a 1 m box; MPM is solver 0 of every world here.
fn mpm_scene(steps: usize) -> LoadedScene {
    scene(&format!(
        r#"Scene(
    name: "world test",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate),
    time: (dt: 1e-3, substeps: {steps}, frames: 1),
    bodies: [(
        name: "cube",
        shape: Box(min: (0.40, 0.30, 0.40), max: (0.60, 0.50, 0.60)),
        particles_per_cell: 8,
        material: NeoHookean(density: 1000.0, youngs_modulus: 2.0e4, poisson_ratio: 0.3),
        velocity: (0.1, 0.0, -0.05),
    )],
    loss: [(kind: CenterOfMass(target: (0.52, 0.45, 0.5)), body: 0)],
)"#
    ))
}

fn f64_world(ctx: &GpuContext, loaded: &LoadedScene, steps: usize) -> Simulation {
    assert!(
        ctx.has_f64,
        "{} has no SHADER_F64: the runtime's gradient checks need f64 (lavapipe has it)",
        ctx.info.name
    );
    Simulation::new(
        ctx,
        loaded,
        &SimulationOptions {
            precision: Some(Precision::F64),
            control_steps: Some(steps),
            deterministic: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A tetrahedron of four 20 g points above the cube's top face (y = 0.5 m),
/// its lowest corner 3 cm above it, falling at 1 m/s, joined by six springs.
fn tetrahedron(stiffness: f64, damping: f64, with_springs: bool) -> SpringDesc {
    let x = vec![
        [0.50, 0.53, 0.50],
        [0.56, 0.55, 0.49],
        [0.47, 0.55, 0.55],
        [0.49, 0.60, 0.47],
    ];
    let v = vec![
        [0.05, -1.0, 0.0],
        [0.0, -1.1, 0.02],
        [-0.03, -0.9, 0.0],
        [0.0, -1.0, -0.04],
    ];
    let springs = if with_springs {
        vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    } else {
        Vec::new()
    };
    SpringDesc {
        x,
        v,
        mass: vec![0.02; 4],
        springs,
        stiffness,
        damping,
        faces: vec![[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]],
    }
}

/// COM position and a running COM velocity on the spring points; with
/// `shape`, also the soft mass fraction outside a box (which, unlike the
/// COM terms, depends on the springs' internal forces).
fn spring_loss(shape: bool) -> Vec<LossTerm> {
    let mut terms = vec![
        LossTerm {
            kind: LossKind::CenterOfMass {
                target: [0.55, 0.6, 0.5],
            },
            body: 0,
            weight: 1.0,
            when: LossWhen::Final,
        },
        LossTerm {
            kind: LossKind::CenterOfMassVelocity {
                target: [0.0, 0.0, 0.0],
            },
            body: 0,
            weight: 0.1,
            when: LossWhen::Running { from: 5, to: 20 },
        },
    ];
    if shape {
        terms.push(LossTerm {
            kind: LossKind::MassOutside {
                min: [0.45, 0.45, 0.45],
                max: [0.55, 0.7, 0.53],
                softness: 0.02,
            },
            body: 0,
            weight: 1.0,
            when: LossWhen::Final,
        });
    }
    terms
}

/// A rollout of `steps` substeps of the cube plus the spring points (and,
/// with `kappa`, the coupling), with the scene's loss on the cube and
/// [`spring_loss`] on the points. Returns the rollout and the springs' index.
fn rollout(
    ctx: &GpuContext,
    steps: usize,
    desc: &SpringDesc,
    kappa: Option<f64>,
    tape: &TapeOptions,
) -> (Rollout, LoadedScene, usize) {
    let loaded = mpm_scene(steps);
    let mut sim = f64_world(ctx, &loaded, steps);
    let springs = SpringSolver::new(ctx, &sim, desc).unwrap_or_else(|e| panic!("{e}"));
    let si = sim.world.add_solver(Box::new(springs));
    if let Some(kappa) = kappa {
        let c = SpringMpmCoupling::new(ctx, &mut sim, si, kappa, 0.05)
            .unwrap_or_else(|e| panic!("{e}"));
        sim.world.add_coupling(Box::new(c));
    }
    let mut r =
        Rollout::from_simulation(ctx, &loaded, sim, steps, tape).unwrap_or_else(|e| panic!("{e}"));
    r.add_loss(ctx, &loaded, si, &spring_loss(desc.stiffness > 0.0))
        .unwrap_or_else(|e| panic!("{e}"));
    (r, loaded, si)
}

fn springs_mut(r: &mut Rollout, si: usize) -> &mut SpringSolver {
    r.sim
        .world
        .solver_mut::<SpringSolver>(si)
        .expect("spring solver")
}

/// Checks one of the spring solver's groups ("x0", "v0" or
/// "stiffness_damping") against central differences.
fn check_spring_group(
    ctx: &GpuContext,
    r: &mut Rollout,
    si: usize,
    g: &Gradients,
    name: &'static str,
    eps: &[f64],
    seed: u64,
) -> GroupCheck {
    let kc = springs_mut(r, si).stiffness_damping().to_vec();
    let scale = kc.iter().map(|v| v.abs()).collect();
    let mut write = |ctx: &GpuContext, r: &mut Rollout, v: &[f64]| {
        springs_mut(r, si).set_stiffness_damping(ctx, v[0], v[1]);
        r.invalidate();
    };
    check_solver_group(
        ctx,
        r,
        si,
        g,
        name,
        eps,
        seed,
        Some((kc, scale, &mut write)),
    )
}

fn assert_passes(c: &GroupCheck, tol: f64) {
    assert!(c.adjoint.abs() > 1e-12, "{}: zero gradient", c.group.name());
    assert!(c.best().rel_error < tol, "{}: {c:?}", c.group.name());
}

/// Reference: free flight under symplectic Euler has the closed form
/// x_T = x_0 + T·dt·v_0 + dt²·g·T(T + 1)/2 for every point (no springs, no
/// coupling), so for L = |COM_T − c|² (the first term of [`spring_loss`]),
/// ∂L/∂x_0,i = 2(COM_T − c)/N and ∂L/∂v_0,i = 2(COM_T − c)·T·dt/N, plus the
/// running COM-velocity term's (1/n)Σ_t 0.1·2(v̄_t)/N with v̄_t = v̄_0 + t·dt·g.
/// The adjoint, the loss and this closed form agree to 1e-12 relative.
#[test]
fn spring_points_in_free_flight_match_the_closed_form() {
    let (ctx, _g) = gpu();
    let steps = 20;
    let desc = tetrahedron(0.0, 0.0, false);
    let (mut r, _, si) = rollout(ctx, steps, &desc, None, &TapeOptions::default());
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let n = desc.x.len() as f64;
    let (dt, gy, t) = (1e-3, -9.81, steps as f64);
    let mean = |f: &dyn Fn(usize) -> f64| (0..desc.x.len()).map(f).sum::<f64>() / n;
    let com0: Vec<f64> = (0..3).map(|k| mean(&|i| desc.x[i][k])).collect();
    let vel0: Vec<f64> = (0..3).map(|k| mean(&|i| desc.v[i][k])).collect();
    let target = [0.55, 0.6, 0.5];
    let grav = [0.0, gy, 0.0];
    let com_t: Vec<f64> = (0..3)
        .map(|k| com0[k] + t * dt * vel0[k] + dt * dt * grav[k] * t * (t + 1.0) / 2.0)
        .collect();
    // Running window 5..=20: 16 states, mean of |v̄_t|², v̄_t = v̄_0 + t·dt·g.
    let window: Vec<f64> = (5..=20).map(|s| s as f64).collect();
    let vel_t = |s: f64, k: usize| vel0[k] + s * dt * grav[k];
    let loss_com: f64 = (0..3).map(|k| (com_t[k] - target[k]).powi(2)).sum();
    let loss_vel: f64 = 0.1
        * window
            .iter()
            .map(|&s| (0..3).map(|k| vel_t(s, k).powi(2)).sum::<f64>())
            .sum::<f64>()
        / window.len() as f64;
    // The cube's own term is in the sum too: compare the springs' two terms.
    let springs_terms: f64 = g.terms[1..].iter().sum();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
    assert!(
        rel(springs_terms, loss_com + loss_vel) < 1e-12,
        "loss {springs_terms:e} against the closed form {:e}",
        loss_com + loss_vel
    );
    let gx = g.solvers[si].group("x0").unwrap();
    let gv = g.solvers[si].group("v0").unwrap();
    for i in 0..desc.x.len() {
        for k in 0..3 {
            let dx = 2.0 * (com_t[k] - target[k]) / n;
            // v_0 moves COM_T by T·dt, and each window state's v̄ by 1.
            let dv = dx * t * dt
                + 0.1 * window.iter().map(|&s| 2.0 * vel_t(s, k) / n).sum::<f64>()
                    / window.len() as f64;
            assert!(
                rel(gx[3 * i + k], dx) < 1e-12,
                "x0[{i}][{k}]: {} vs {dx}",
                gx[3 * i + k]
            );
            assert!(
                rel(gv[3 * i + k], dv) < 1e-12,
                "v0[{i}][{k}]: {} vs {dv}",
                gv[3 * i + k]
            );
        }
    }
}

/// The spring solver through every tape schedule: the default uniform
/// schedule, one with its checkpoints spilled to host memory, and the
/// binomial one with 3 snapshots give the same gradients (1e-13 relative),
/// and those match central differences (reference) to better than 1e-5 for
/// the initial positions, velocities, stiffness and damping, with springs
/// stretched and damped. A planted 5 % error in the springs' adjoint fails
/// the check by more than 1e-3.
#[test]
fn spring_solver_gradients_through_every_schedule() {
    let (ctx, _g) = gpu();
    let steps = 20;
    let desc = tetrahedron(40.0, 0.05, true);
    let spill = TapeOptions {
        gpu_checkpoint_bytes: Some(1),
        checkpoint_every: Some(4),
        ..Default::default()
    };
    let binomial = TapeOptions {
        schedule: Schedule::Binomial,
        snapshots: Some(3),
        ..Default::default()
    };
    let mut reference: Option<Gradients> = None;
    for tape in [TapeOptions::default(), spill, binomial] {
        let (mut r, _, si) = rollout(ctx, steps, &desc, None, &tape);
        assert!(r.plan.host_checkpoints > 0 || tape.gpu_checkpoint_bytes.is_none());
        let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
        let Some(g0) = &reference else {
            for (i, name) in ["x0", "v0", "stiffness_damping"].into_iter().enumerate() {
                let eps: &[f64] = if name == "stiffness_damping" {
                    &[1e-4, 1e-5]
                } else {
                    &[1e-5, 1e-6]
                };
                let c = check_spring_group(ctx, &mut r, si, &g, name, eps, 3 + i as u64);
                assert_passes(&c, TOL);
            }
            // Planted: the spring-force pullback 5 % off.
            springs_mut(&mut r, si).plant_adjoint_error(ctx, 1.05);
            let bad = r.backward(ctx).unwrap();
            let c = check_spring_group(ctx, &mut r, si, &bad, "x0", &[1e-5, 1e-6], 3);
            assert!(
                c.best().rel_error > PLANTED_MIN,
                "a planted error passed: {c:?}"
            );
            springs_mut(&mut r, si).plant_adjoint_error(ctx, 1.0);
            reference = Some(g);
            continue;
        };
        for name in ["x0", "v0", "stiffness_damping"] {
            let (a, b) = (
                g.solvers[si].group(name).unwrap(),
                g0.solvers[si].group(name).unwrap(),
            );
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-13 * y.abs().max(1e-12),
                    "{name}: {x} vs {y} ({:?})",
                    tape.schedule
                );
            }
        }
        assert!((g.loss - g0.loss).abs() <= 1e-14 * g0.loss.abs());
    }
}

/// Two-way coupling with contact active: the spring points fall onto the
/// cube and the penalty pushes MPM grid nodes through the external-force
/// hook. Checked: contact changes the loss; then every group of both
/// solvers matches central differences (reference) in f64: MPM's initial
/// x, v, F/C/aux and material to better than 1e-4 (the bound of
/// `gradients.rs`), the springs' x, v, stiffness and damping to better than
/// 1e-5; a planted 5 % error in the coupling's adjoint
/// fails the spring positions' check by more than 1e-3.
#[test]
fn coupled_springs_and_mpm_gradients_with_contact() {
    let (ctx, _g) = gpu();
    let steps = 20;
    let desc = tetrahedron(40.0, 0.05, true);
    let (mut free, _, _) = rollout(ctx, steps, &desc, None, &TapeOptions::default());
    let l_free = free.forward(ctx).unwrap();
    let (mut r, _, si) = rollout(ctx, steps, &desc, Some(2000.0), &TapeOptions::default());
    let l = r.forward(ctx).unwrap();
    assert!(
        (l - l_free).abs() > 1e-4 * l_free.abs(),
        "contact must change the loss: {l:e} coupled, {l_free:e} free"
    );
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    for (i, group) in [
        ParamGroup::InitialPosition,
        ParamGroup::InitialVelocity,
        ParamGroup::InitialDeformation,
        ParamGroup::Material(0),
    ]
    .into_iter()
    .enumerate()
    {
        let eps = if matches!(group, ParamGroup::InitialPosition) {
            1e-5
        } else {
            1e-4
        };
        let c = check_group(ctx, &mut r, &g, group, &[eps, eps / 10.0], 20 + i as u64).unwrap();
        let best = c.best();
        eprintln!(
            "mpm {:<22} adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
            group.name(),
            c.adjoint,
            best.fd,
            best.rel_error
        );
        assert_passes(&c, MPM_TOL);
    }
    for (i, name) in ["x0", "v0", "stiffness_damping"].into_iter().enumerate() {
        let eps: &[f64] = if name == "stiffness_damping" {
            &[1e-4, 1e-5]
        } else {
            &[1e-5, 1e-6]
        };
        assert_passes(
            &check_spring_group(ctx, &mut r, si, &g, name, eps, 30 + i as u64),
            TOL,
        );
    }
    // Planted: the coupling's pair-force pullback 5 % off.
    r.sim.world.couplings[0]
        .as_any_mut()
        .downcast_mut::<SpringMpmCoupling>()
        .expect("the coupling")
        .plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let c = check_spring_group(ctx, &mut r, si, &bad, "x0", &[1e-5, 1e-6], 30);
    assert!(
        c.best().rel_error > PLANTED_MIN,
        "a planted coupling error passed: {c:?}"
    );
}

/// Every solver is drawn and written, not only MPM: the spring solver's
/// surface (a tetrahedron of 4 triangles, packed from its state on the GPU)
/// appears in the scene's picture, which MPM alone draws without it, and
/// `write_solver_frames` writes its points (its state, to f32 round-off) as
/// NPY and its surface as a 4-face PLY mesh, naming it in what it returns.
#[test]
fn other_solvers_are_drawn_and_written() {
    use ductile::render::scene::render_frame;
    use ductile::render::Renderer;
    let (ctx, _g) = gpu();
    let loaded = mpm_scene(4);
    let mut sim = f64_world(ctx, &loaded, 4);
    let mut renderer = Renderer::new(&ctx.device, 1, 1);
    let alone = render_frame(ctx, &mut renderer, &loaded, &sim).unwrap();
    let springs = SpringSolver::new(ctx, &sim, &tetrahedron(40.0, 0.05, true)).unwrap();
    let si = sim.world.add_solver(Box::new(springs));
    sim.step(ctx, 2);
    sim.check(ctx).unwrap();
    let with = render_frame(ctx, &mut renderer, &loaded, &sim).unwrap();
    let differing = alone
        .pixels()
        .zip(with.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing > 20, "the surface changed {differing} pixels");

    let dir = tempfile::tempdir().unwrap();
    let written = ductile::output::write_solver_frames(ctx, &sim, dir.path(), 2).unwrap();
    assert_eq!(written, vec![("springs".to_string(), 4, 4)]);
    let (shape, x) =
        ductile::sim::loss::read_npy_f64(&dir.path().join("npy/springs/frame_00002_x.npy"))
            .unwrap();
    assert_eq!(shape, vec![4, 3]);
    let state = {
        let sp = sim.world.solver::<SpringSolver>(si).unwrap();
        let bytes = ductile::gpu::read_buffer(ctx, &sp.x[sim.parity()], 12 * 8).unwrap();
        bytes_to_reals(&bytes, Precision::F64)
    };
    for (a, b) in x.iter().zip(&state) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // The tetrahedron moved (it fell for two substeps).
    assert!((state[1] - 0.53).abs() > 1e-6);
    let ply = std::fs::read(dir.path().join("ply/springs/frame_00002.ply")).unwrap();
    let header_end = ply.windows(11).position(|w| w == b"end_header\n").unwrap() + 11;
    let header = String::from_utf8_lossy(&ply[..header_end]);
    assert!(
        header.contains("element vertex 4") && header.contains("element face 4"),
        "{header}"
    );
    assert_eq!(ply.len(), header_end + 4 * 12 + 4 * 13);
}
