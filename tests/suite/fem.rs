//! The FEM solver (`ductile_sim::fem`): linear tetrahedra with the stable
//! neo-Hookean model, as a solver of the world beside MPM. Physics against a
//! closed form, and gradients against central differences in f64 through
//! the checkpointed tape, with a planted adjoint error that must fail.

use crate::common::{check_solver_group, gpu, initial_field, require_f64, scene};
use ductile::gpu::{bytes_to_reals, read_buffer, reals_to_bytes, GpuContext, Precision};
use ductile::scene::{LoadedScene, LossKind, LossTerm, LossWhen};
use ductile::sim::fem::solver::FemSolver;
use ductile::sim::fem::{box_mesh, FemDesc};
use ductile::sim::gradcheck::{GroupCheck, ParamGroup};
use ductile::sim::{Rollout, Simulation, SimulationOptions, TapeOptions};

/// A world with a small MPM sphere far from the FEM body (MPM is always
/// solver 0), gravity −9.81 m/s² along y.
fn world_scene(dt: f64, steps: usize) -> LoadedScene {
    scene(&format!(
        r#"Scene(
    name: "fem test",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate),
    time: (dt: {dt:e}, substeps: {steps}, frames: 1),
    bodies: [(
        name: "far",
        shape: Sphere(center: (0.85, 0.85, 0.85), radius: 0.04),
        particles_per_cell: 1,
        material: NeoHookean(density: 1000.0, youngs_modulus: 1.0e4, poisson_ratio: 0.3),
    )],
)"#
    ))
}

fn f64_sim(ctx: &GpuContext, loaded: &LoadedScene, steps: usize) -> Simulation {
    require_f64(ctx);
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

/// A box body whose nodes at the bottom face (y = lo) are pinned.
fn pad(lo: [f64; 3], hi: [f64; 3], cells: [u32; 3], e: f64, nu: f64, damping: f64) -> FemDesc {
    let (nodes, tets) = box_mesh(lo, hi, cells);
    let pinned = nodes.iter().map(|p| p[1] <= lo[1] + 1e-12).collect();
    FemDesc {
        name: "pad".into(),
        nodes,
        tets,
        density: 1000.0,
        youngs_modulus: e,
        poisson_ratio: nu,
        damping,
        pinned,
        velocity: [0.0; 3],
        contact: ductile::sim::fem::FemContact::default_for(e, 0.01),
        mount: None,
        sensor: None,
        model: ductile::sim::fem::FemModel::StableNeoHookean,
    }
}

/// Reference: a column under its own weight, clamped at its base, with
/// ν = 0 (uniaxial stress σ(y) = ρ g (L − y), no lateral strain), settles
/// with its top lowered by δ = ρ g L² / (2E) (linear elasticity). Column
/// 2 × 2 × 10 cm, E = 1e5 Pa, ρ = 1000 kg/m³: δ = 0.4905 mm (0.5 % strain).
/// Explicit f64 steps (dt = 2e-4 s, damping 80 1/s) for 0.6 s. Measured
/// error of the mean top displacement: 7.2e-4 at 2 cm elements (1 × 5 × 1
/// cells, 6 tetrahedra each), 1.7e-4 at 1 cm (2 × 10 × 2): it converges
/// under refinement (about fourfold per halving). Bounds: 2e-3 and 5e-4,
/// and the finer mesh must be the closer. The corotated linear model
/// (`CorotatedLinear`), the same column: measured 6.8e-4 and 1.3e-4, same
/// bounds.
#[test]
fn column_settles_under_its_own_weight_as_linear_elasticity_predicts() {
    for model in [
        ductile::sim::fem::FemModel::StableNeoHookean,
        ductile::sim::fem::FemModel::CorotatedLinear,
    ] {
        column_settles(model);
    }
}

fn column_settles(model: ductile::sim::fem::FemModel) {
    let (ctx, _g) = gpu();
    let steps = 3000;
    let (rho, g, l, e) = (1000.0, 9.81, 0.1, 1e5);
    let delta = rho * g * l * l / (2.0 * e);
    let mut errors = Vec::new();
    for (cells, tol) in [([1, 5, 1], 2e-3), ([2, 10, 2], 5e-4)] {
        let loaded = world_scene(2e-4, steps);
        let mut sim = f64_sim(ctx, &loaded, steps);
        let lo = [0.4, 0.2, 0.4];
        let hi = [0.42, 0.3, 0.42];
        let mut desc = pad(lo, hi, cells, e, 0.0, 80.0);
        desc.model = model;
        let top: Vec<usize> = (0..desc.nodes.len())
            .filter(|&i| desc.nodes[i][1] >= hi[1] - 1e-12)
            .collect();
        let fem = FemSolver::new(ctx, &sim, &desc).unwrap_or_else(|err| panic!("{err}"));
        let fi = sim.world.add_solver(Box::new(fem));
        let mut left = steps as u32;
        while left > 0 {
            let k = left.min(500);
            sim.step(ctx, k);
            left -= k;
        }
        sim.check(ctx).unwrap();
        let f = sim.world.solver::<FemSolver>(fi).unwrap();
        let n = f.node_count() as u64;
        let x = bytes_to_reals(
            &read_buffer(ctx, &f.x[sim.parity()], 24 * n).unwrap(),
            Precision::F64,
        );
        let sag: f64 = top.iter().map(|&i| hi[1] - x[3 * i + 1]).sum::<f64>() / top.len() as f64;
        let err = (sag - delta).abs() / delta;
        eprintln!(
            "{model:?} column {cells:?}: top lowered {sag:.6e} m, closed form {delta:.6e} m, error {err:.2e}"
        );
        assert!(
            err < tol,
            "{cells:?}: sag {sag:e} vs {delta:e} (error {err:e})"
        );
        errors.push(err);
    }
    assert!(errors[1] < errors[0], "no convergence: {errors:?}");
}

/// Loss on the pad's nodes: its final centre of mass and the soft fraction
/// of its mass outside a box (which depends on its shape).
fn pad_loss() -> Vec<LossTerm> {
    vec![
        LossTerm {
            kind: LossKind::CenterOfMass {
                target: [0.45, 0.3, 0.45],
            },
            body: 0,
            weight: 1.0,
            when: LossWhen::Final,
        },
        LossTerm {
            kind: LossKind::MassOutside {
                min: [0.38, 0.2, 0.38],
                max: [0.46, 0.235, 0.46],
                softness: 0.01,
            },
            body: 0,
            weight: 1.0,
            when: LossWhen::Final,
        },
    ]
}

/// Checks one of the FEM solver's gradient groups against central
/// differences: "x0", "v0", "youngs_modulus_poisson_ratio" or
/// "contact_stiffness_damping_friction" (the parameters relative).
pub(crate) fn check_fem_group(
    ctx: &GpuContext,
    r: &mut Rollout,
    fi: usize,
    g: &ductile::sim::Gradients,
    name: &'static str,
    eps: &[f64],
) -> GroupCheck {
    let contact = name == "contact_stiffness_damping_friction";
    let f = r.sim.world.solver::<FemSolver>(fi).unwrap();
    let vals = if contact {
        f.contact().to_vec()
    } else {
        let (e, nu) = f.material();
        vec![e, nu]
    };
    let scale = vals.clone();
    let mut write = move |ctx: &GpuContext, r: &mut Rollout, v: &[f64]| {
        let f = r.sim.world.solver_mut::<FemSolver>(fi).unwrap();
        if contact {
            f.set_contact(ctx, v[0], v[1], v[2]);
        } else {
            f.set_material(ctx, v[0], v[1]).unwrap();
        }
        r.invalidate();
    };
    check_solver_group(ctx, r, fi, g, name, eps, 7, Some((vals, scale, &mut write)))
}

/// Gradients of a loss on a pad swinging under gravity after a sideways
/// kick, through 40 substeps and the checkpointed tape (f64): the initial
/// positions, velocities, and (E, ν) agree with central differences
/// (reference) to better than 1e-5; a planted 5 % error in the element
/// adjoint fails the initial-velocity check by more than 1e-3.
#[test]
fn fem_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    let steps = 40;
    let loaded = world_scene(5e-4, steps);
    let mut sim = f64_sim(ctx, &loaded, steps);
    let desc = pad(
        [0.4, 0.2, 0.4],
        [0.44, 0.23, 0.44],
        [2, 2, 2],
        2e4,
        0.3,
        2.0,
    );
    let fem = FemSolver::new(ctx, &sim, &desc).unwrap_or_else(|e| panic!("{e}"));
    let fi = sim.world.add_solver(Box::new(fem));
    let mut r = Rollout::from_simulation(ctx, &loaded, sim, steps, &TapeOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    r.add_loss(ctx, &loaded, fi, &pad_loss())
        .unwrap_or_else(|e| panic!("{e}"));
    // A sideways kick to the free nodes, so the elastic forces work.
    let mut v = initial_field(ctx, &r, fi, 1);
    for (i, p) in desc.nodes.iter().enumerate() {
        if !desc.pinned[i] {
            v[3 * i] = 0.3 * (p[1] - 0.2) / 0.03;
            v[3 * i + 2] = -0.1 * (p[1] - 0.2) / 0.03;
        }
    }
    let mut all = bytes_to_reals(&r.initial_bytes(ctx, fi).unwrap(), Precision::F64);
    let half = all.len() / 2;
    all[half..].copy_from_slice(&v);
    r.set_initial_bytes(ctx, fi, &reals_to_bytes(&all, Precision::F64))
        .unwrap();
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    for (name, eps) in [
        ("x0", &[1e-5, 1e-6][..]),
        ("v0", &[1e-4, 1e-5][..]),
        ("youngs_modulus_poisson_ratio", &[1e-4, 1e-5][..]),
    ] {
        let c = check_fem_group(ctx, &mut r, fi, &g, name, eps);
        assert!(c.adjoint.abs() > 1e-12, "{name}: zero gradient");
        assert!(c.best().rel_error < 1e-5, "{name}: {c:?}");
    }
    r.sim
        .world
        .solver_mut::<FemSolver>(fi)
        .unwrap()
        .plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let c = check_fem_group(ctx, &mut r, fi, &bad, "v0", &[1e-4, 1e-5]);
    assert!(c.best().rel_error > 1e-3, "a planted error passed: {c:?}");
}

/// The corotated linear model's gradients through the tape, as
/// `fem_gradients_match_central_differences` for the stable neo-Hookean
/// one, with the pad kicked far enough to turn its elements (the rotation's
/// derivative matters): x0, v0 and (E, ν) against central differences to
/// better than 1e-5; a planted 5 % error fails the (E, ν) check by more
/// than 1e-3.
#[test]
fn corotated_fem_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    let steps = 40;
    let loaded = world_scene(5e-4, steps);
    let mut sim = f64_sim(ctx, &loaded, steps);
    let mut desc = pad(
        [0.4, 0.2, 0.4],
        [0.44, 0.23, 0.44],
        [2, 2, 2],
        2e4,
        0.3,
        2.0,
    );
    desc.model = ductile::sim::fem::FemModel::CorotatedLinear;
    let fem = FemSolver::new(ctx, &sim, &desc).unwrap_or_else(|e| panic!("{e}"));
    let fi = sim.world.add_solver(Box::new(fem));
    let mut r = Rollout::from_simulation(ctx, &loaded, sim, steps, &TapeOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    r.add_loss(ctx, &loaded, fi, &pad_loss())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut v = initial_field(ctx, &r, fi, 1);
    for (i, p) in desc.nodes.iter().enumerate() {
        if !desc.pinned[i] {
            v[3 * i] = 1.2 * (p[1] - 0.2) / 0.03;
            v[3 * i + 2] = -0.6 * (p[1] - 0.2) / 0.03;
        }
    }
    let mut all = bytes_to_reals(&r.initial_bytes(ctx, fi).unwrap(), Precision::F64);
    let half = all.len() / 2;
    all[half..].copy_from_slice(&v);
    r.set_initial_bytes(ctx, fi, &reals_to_bytes(&all, Precision::F64))
        .unwrap();
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    for (name, eps) in [
        ("x0", &[1e-5, 1e-6][..]),
        ("v0", &[1e-4, 1e-5][..]),
        ("youngs_modulus_poisson_ratio", &[1e-4, 1e-5][..]),
    ] {
        let c = check_fem_group(ctx, &mut r, fi, &g, name, eps);
        assert!(c.adjoint.abs() > 1e-12, "{name}: zero gradient");
        assert!(c.best().rel_error < 1e-5, "{name}: {c:?}");
    }
    r.sim
        .world
        .solver_mut::<FemSolver>(fi)
        .unwrap()
        .plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let c = check_fem_group(
        ctx,
        &mut r,
        fi,
        &bad,
        "youngs_modulus_poisson_ratio",
        &[1e-4, 1e-5],
    );
    assert!(c.best().rel_error > 1e-3, "a planted error passed: {c:?}");
}

/// A pad written in a scene's `fem` section, beside an MPM body.
const SCENE_WITH_PAD: &str = include_str!("fem_scene.ron");

/// The scene's `fem` section builds an FEM solver after MPM; bodies are
/// numbered MPM first (`ball` 0, `pad` 1) and named anywhere; each loss term
/// goes to the solver whose body it names, and both solvers get gradients.
/// The pad's pinned base stays put and its free nodes start at the given
/// velocity.
#[test]
fn scene_fem_section_builds_a_solver_with_its_loss() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let loaded = scene(SCENE_WITH_PAD);
    assert_eq!(loaded.scene.loss[0].body, 1);
    assert_eq!(loaded.scene.loss[1].body, 0);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let fi = r.sim.fem_solver(0).expect("the pad's solver");
    assert_eq!(r.sim.body_solver(1), Some((fi, 0)));
    assert_eq!(r.sim.world.solvers[fi].name(), "pad");
    let v0 = initial_field(ctx, &r, fi, 1);
    let desc = ductile::sim::fem::desc_from_scene(&loaded.scene.fem[0], None);
    for (i, pinned) in desc.pinned.iter().enumerate() {
        let want = if *pinned { [0.0; 3] } else { [0.3, 0.0, -0.1] };
        assert_eq!(&v0[3 * i..3 * i + 3], &want);
    }
    assert!(desc.pinned.iter().filter(|&&p| p).count() == 9);
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    // The MPM term first, then the FEM set.
    assert_eq!(g.terms.len(), 2);
    let gv = g.solvers[fi].group("v0").unwrap();
    assert!(gv.iter().any(|&x| x != 0.0));
    assert!(g.v0.iter().any(|&x| x != 0.0));
    // Pinned nodes feel nothing of their velocity.
    for (i, pinned) in desc.pinned.iter().enumerate() {
        if *pinned {
            assert_eq!(&gv[3 * i..3 * i + 3], &[0.0; 3]);
        }
    }
}

/// The pad is drawn from its GPU buffers in every picture, and the speed
/// colour mode colours it by its nodes' speed (the scalar colormap) where
/// the body mode draws it in its solver's colour: the two pictures differ.
#[test]
fn the_pad_takes_the_speed_colour_mode() {
    use ductile::render::scene::render_frame;
    use ductile::render::Renderer;
    let (ctx, _g) = gpu();
    let mut loaded = scene(SCENE_WITH_PAD);
    let mut sim = f64_sim(ctx, &loaded, 4);
    sim.step(ctx, 4);
    sim.check(ctx).unwrap();
    let mut r = Renderer::new(&ctx.device, 1, 1);
    loaded.scene.output.color_by = ductile::scene::ColorBy::Body;
    let body = render_frame(ctx, &mut r, &loaded, &sim).unwrap();
    loaded.scene.output.color_by = ductile::scene::ColorBy::Speed;
    let speed = render_frame(ctx, &mut r, &loaded, &sim).unwrap();
    let differing = body
        .pixels()
        .zip(speed.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert!(differing > 20, "{differing} pixels differ");
}

/// FEM meshes read from files: a pad written as TetGen `.node`/`.ele` and
/// as Gmsh `.msh` loads into the same solver as the generated box (same
/// nodes, elements and first substep); a missing file is a located error at
/// `fem[0].mesh.path`; a mesh with one inverted element is refused naming it.
#[test]
fn tetgen_and_gmsh_pads_load_like_the_generated_one() {
    let (ctx, _g) = gpu();
    let dir = tempfile::tempdir().unwrap();
    let (nodes, tets) = box_mesh([0.3, 0.2, 0.4], [0.34, 0.23, 0.44], [2, 2, 2]);
    let mut node = format!("{} 3 0 0\n", nodes.len());
    for (i, p) in nodes.iter().enumerate() {
        node += &format!("{} {:.17e} {:.17e} {:.17e}\n", i + 1, p[0], p[1], p[2]);
    }
    let mut ele = format!("{} 4 0\n", tets.len());
    for (i, t) in tets.iter().enumerate() {
        ele += &format!(
            "{} {} {} {} {}\n",
            i + 1,
            t[0] + 1,
            t[1] + 1,
            t[2] + 1,
            t[3] + 1
        );
    }
    std::fs::write(dir.path().join("pad.node"), &node).unwrap();
    std::fs::write(dir.path().join("pad.ele"), &ele).unwrap();
    let mut msh = format!(
        "$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n{}\n",
        nodes.len()
    );
    for (i, p) in nodes.iter().enumerate() {
        msh += &format!("{} {:.17e} {:.17e} {:.17e}\n", i + 1, p[0], p[1], p[2]);
    }
    msh += &format!("$EndNodes\n$Elements\n{}\n", tets.len());
    for (i, t) in tets.iter().enumerate() {
        msh += &format!(
            "{} 4 2 0 1 {} {} {} {}\n",
            i + 1,
            t[0] + 1,
            t[1] + 1,
            t[2] + 1,
            t[3] + 1
        );
    }
    msh += "$EndElements\n";
    std::fs::write(dir.path().join("pad.msh"), &msh).unwrap();
    let generated = SCENE_WITH_PAD.to_string();
    let box_mesh_text = "Box(min: (0.3, 0.2, 0.4), max: (0.34, 0.23, 0.44), cells: (2, 2, 2))";
    assert!(generated.contains(box_mesh_text));
    let first_step = |text: &str| -> Vec<f64> {
        let path = dir.path().join("scene.ron");
        std::fs::write(&path, text).unwrap();
        let loaded = ductile::scene::load_scene(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut sim = f64_sim(ctx, &loaded, 2);
        let fi = sim.fem_solver(0).unwrap();
        sim.step(ctx, 1);
        let f = sim.world.solver::<FemSolver>(fi).unwrap();
        assert_eq!((f.node_count(), f.element_count()), (27, 48));
        bytes_to_reals(
            &read_buffer(ctx, &f.x[sim.parity()], 24 * 27).unwrap(),
            Precision::F64,
        )
    };
    let reference = first_step(&generated);
    for mesh in [r#"TetGen(path: "pad")"#, r#"Gmsh(path: "pad.msh")"#] {
        let x = first_step(&generated.replace(box_mesh_text, mesh));
        for (a, b) in x.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-12, "{mesh}: {a} vs {b}");
        }
    }
    let path = dir.path().join("missing.ron");
    std::fs::write(
        &path,
        generated.replace(box_mesh_text, r#"TetGen(path: "nowhere")"#),
    )
    .unwrap();
    let e = ductile::scene::load_scene(&path).unwrap_err().to_string();
    assert!(
        e.contains("fem[0].mesh.path") && e.contains("nowhere.node"),
        "{e}"
    );
    // One element turned inside out.
    let flipped = ele.replacen(
        &format!(
            "3 {} {} {} {}",
            tets[2][0] + 1,
            tets[2][1] + 1,
            tets[2][2] + 1,
            tets[2][3] + 1
        ),
        &format!(
            "3 {} {} {} {}",
            tets[2][1] + 1,
            tets[2][0] + 1,
            tets[2][2] + 1,
            tets[2][3] + 1
        ),
        1,
    );
    std::fs::write(dir.path().join("pad.ele"), flipped).unwrap();
    let path = dir.path().join("inverted.ron");
    std::fs::write(
        &path,
        generated.replace(box_mesh_text, r#"TetGen(path: "pad")"#),
    )
    .unwrap();
    let loaded = ductile::scene::load_scene(&path).unwrap();
    let e = match Simulation::new(ctx, &loaded, &SimulationOptions::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("an inverted element was accepted"),
    };
    assert!(
        e.contains("fem[0].mesh") && e.contains("element 2") && e.contains("inverted"),
        "{e}"
    );
}

/// A sphere tool pressed into a pad and dragged sideways, with the pad's
/// penalty contact active (spring, damper, smooth Coulomb friction).
const PRESS_SCENE: &str = r#"Scene(
    name: "press",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate),
    time: (dt: 5e-4, substeps: 30, frames: 1),
    bodies: [(
        name: "far",
        shape: Sphere(center: (0.8, 0.8, 0.8), radius: 0.04),
        particles_per_cell: 1,
        material: NeoHookean(density: 1000.0, youngs_modulus: 1.0e4, poisson_ratio: 0.3),
    )],
    fem: [(
        name: "pad",
        mesh: Box(min: (0.3, 0.2, 0.4), max: (0.34, 0.23, 0.44), cells: (2, 2, 2)),
        density: 1000.0,
        youngs_modulus: 2.0e4,
        poisson_ratio: 0.3,
        damping: 2.0,
        pin_below: Some(0.2),
        contact: Some((stiffness: 300.0, damping: 0.05, friction: 0.4, stick_speed: 2e-3)),
    )],
    tools: [(
        name: "probe",
        shape: Sphere(radius: 0.02),
        pose: (position: (0.318, 0.2485, 0.421)),
        motion: Constant(linear: (0.05, -0.2, 0.01), angular_deg: (0.0, 0.0, 20.0)),
    )],
    loss: [
        (kind: CenterOfMass(target: (0.33, 0.21, 0.43)), body: "pad"),
        (kind: MassOutside(min: (0.29, 0.19, 0.39), max: (0.335, 0.228, 0.45), softness: 0.005), body: "pad"),
    ],
)"#;

/// Gradients through the pad's contact with a moving sphere tool (f64,
/// 30 substeps, the checkpointed tape): the pad's initial positions and
/// velocities, (E, ν), the contact's stiffness, damping and friction, and
/// the tool's per-substep controls agree with central differences
/// (reference) to better than 1e-5 (measured 1.6e-8 to 5.9e-8; the initial
/// positions at the smallest step, the stiff penalty making the loss
/// sharply curved in them; the initial velocities 8.3e-6, their gradient
/// small, 4e-6, as friction holds the touched nodes, so central
/// differences are noise-bound there); contact is active (the tool changes the loss);
/// a planted 5 % error in the element and contact adjoints fails the tool
/// controls' check by more than 1e-3.
#[test]
fn fem_tool_contact_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let loaded = scene(PRESS_SCENE);
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
    {
        let f = r.sim.world.solver_mut::<FemSolver>(fi).unwrap();
        let [_, c, mu] = f.contact();
        f.set_contact(ctx, 0.0, c, mu);
    }
    r.invalidate();
    let l_free = r.forward(ctx).unwrap();
    assert!(
        (l_contact - l_free).abs() > 1e-3 * l_free.abs(),
        "the tool must touch the pad: {l_contact:e} with contact, {l_free:e} without"
    );
    r.sim
        .world
        .solver_mut::<FemSolver>(fi)
        .unwrap()
        .set_contact(ctx, 300.0, 0.05, 0.4);
    r.invalidate();
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    for (name, eps) in [
        ("x0", &[1e-7, 1e-8][..]),
        ("v0", &[1e-4, 1e-5, 1e-6][..]),
        ("youngs_modulus_poisson_ratio", &[1e-6, 1e-7][..]),
        ("contact_stiffness_damping_friction", &[1e-6, 1e-7][..]),
    ] {
        let c = check_fem_group(ctx, &mut r, fi, &g, name, eps);
        assert!(c.adjoint.abs() > 1e-12, "{name}: zero gradient");
        assert!(c.best().rel_error < 1e-5, "{name}: {c:?}");
    }
    let c = ductile::sim::gradcheck::check_group(
        ctx,
        &mut r,
        &g,
        ParamGroup::Control,
        &[1e-7, 1e-8],
        5,
    )
    .unwrap();
    let best = c.best();
    eprintln!(
        "tool controls                  adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
        c.adjoint, best.fd, best.rel_error
    );
    assert!(
        c.adjoint.abs() > 1e-12 && best.rel_error < 1e-5,
        "tool controls: {c:?}"
    );
    r.sim
        .world
        .solver_mut::<FemSolver>(fi)
        .unwrap()
        .plant_adjoint_error(ctx, 1.05);
    let bad = r.backward(ctx).unwrap();
    let c = ductile::sim::gradcheck::check_group(
        ctx,
        &mut r,
        &bad,
        ParamGroup::Control,
        &[1e-7, 1e-8],
        5,
    )
    .unwrap();
    assert!(
        c.best().rel_error > 1e-3,
        "a planted contact error passed: {c:?}"
    );
}

/// A pad mounted on a moving, turning tool (its base follows the tool's
/// pose, a control like any tool's path), swinging its free top.
const MOUNT_SCENE: &str = r#"Scene(
    name: "mounted",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate),
    time: (dt: 5e-4, substeps: 30, frames: 1),
    bodies: [(
        name: "far",
        shape: Sphere(center: (0.8, 0.8, 0.8), radius: 0.04),
        particles_per_cell: 1,
        material: NeoHookean(density: 1000.0, youngs_modulus: 1.0e4, poisson_ratio: 0.3),
    )],
    fem: [(
        name: "pad",
        mesh: Box(min: (0.3, 0.2, 0.4), max: (0.34, 0.23, 0.44), cells: (2, 2, 2)),
        density: 1000.0,
        youngs_modulus: 2.0e4,
        poisson_ratio: 0.3,
        damping: 2.0,
        pin_below: Some(0.2),
        mount: Some("holder"),
    )],
    tools: [(
        name: "holder",
        shape: Sphere(radius: 0.01),
        pose: (position: (0.32, 0.15, 0.42), rotation_deg: (0.0, 10.0, 0.0)),
        motion: Constant(linear: (0.1, 0.3, -0.05), angular_deg: (20.0, 0.0, 60.0)),
    )],
    loss: [
        (kind: CenterOfMass(target: (0.33, 0.24, 0.43)), body: "pad"),
        (kind: MassOutside(min: (0.29, 0.19, 0.39), max: (0.34, 0.235, 0.45), softness: 0.005), body: "pad"),
    ],
)"#;

/// Mounted on a tool, the pad's pinned nodes follow its pose: after 30
/// substeps they sit at p + R r (their rest offsets r in the tool frame) to
/// 1e-6 m (the first-order step's rotation error, dt² |ω|² |r|); and the
/// tool's controls get the mount's gradient: the pad's loss against central
/// differences (reference) to better than 1e-5.
#[test]
fn a_mounted_pad_follows_its_tool_with_gradients() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let loaded = scene(MOUNT_SCENE);
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let fi = r.sim.fem_solver(0).unwrap();
    r.forward(ctx).unwrap();
    let desc = ductile::sim::fem::desc_from_scene(&loaded.scene.fem[0], None);
    let f = r.sim.world.solver::<FemSolver>(fi).unwrap();
    let x = bytes_to_reals(
        &read_buffer(ctx, &f.x[r.sim.parity()], 24 * 27).unwrap(),
        Precision::F64,
    );
    let poses = &r.sim.control().poses;
    let (p0, pn) = (poses[0][0], poses[r.steps() - 1][0]);
    // The pose after the last substep, advanced from the last control.
    let q_end = glam::DQuat::from_scaled_axis(pn.angular * 5e-4) * pn.rotation;
    let p_end = pn.position + pn.linear * 5e-4;
    let mut moved = 0;
    for (i, rest) in desc.nodes.iter().enumerate() {
        if desc.pinned[i] {
            let off = p0.rotation.conjugate() * (glam::DVec3::from_array(*rest) - p0.position);
            let want = p_end + q_end * off;
            let got = glam::DVec3::new(x[3 * i], x[3 * i + 1], x[3 * i + 2]);
            assert!((got - want).length() < 1e-6, "node {i}: {got} vs {want}");
            moved += 1;
        }
    }
    assert_eq!(moved, 9);
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let c = ductile::sim::gradcheck::check_group(
        ctx,
        &mut r,
        &g,
        ParamGroup::Control,
        &[1e-6, 1e-7],
        9,
    )
    .unwrap();
    let best = c.best();
    eprintln!(
        "mounted tool controls adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
        c.adjoint, best.fd, best.rel_error
    );
    assert!(
        c.adjoint.abs() > 1e-12 && best.rel_error < 1e-5,
        "tool controls: {c:?}"
    );
}

/// A block of gel 24 × 24 mm, 8 mm thick, bonded to a rigid base, with
/// `n` × n/3 × n elements (E = 100 kPa, ν = 0.3), pressed 0.5 mm by a
/// frictionless rigid sphere of radius 20 mm over 10 ms, then held 5 ms.
fn hertz_scene(n: u32) -> String {
    format!(
        r#"Scene(
    name: "hertz",
    domain: (cells: (8, 8, 8), dx: 0.01, boundary_cells: 2, boundary: Separate),
    gravity: (0.0, 0.0, 0.0),
    time: (dt: 2e-5, substeps: 25, frames: 30),
    fem: [(
        name: "block",
        mesh: Box(min: (0.028, 0.02, 0.028), max: (0.052, 0.028, 0.052), cells: ({n}, {m}, {n})),
        density: 1000.0,
        youngs_modulus: 1.0e5,
        poisson_ratio: 0.3,
        damping: 2000.0,
        pin_below: Some(0.02),
        contact: Some((stiffness: {k}, damping: 0.0, friction: 0.0)),
    )],
    tools: [(
        name: "sphere",
        shape: Sphere(radius: 0.02),
        pose: (position: (0.04, 0.048, 0.04)),
        motion: Keyframes([
            (time: 0.0, position: (0.04, 0.048, 0.04)),
            (time: 0.01, position: (0.04, 0.0475, 0.04)),
            (time: 0.015, position: (0.04, 0.0475, 0.04)),
        ]),
    )],
)"#,
        m = n / 3,
        k = 2.0e5 * 24e-3 / f64::from(n),
    )
}

/// Force–indentation of a rigid sphere (R = 20 mm) on a gel layer of
/// thickness h = 8 mm bonded to a rigid base (E = 100 kPa, ν = 0.3):
/// reference Hertz, F = 4/3 E/(1 − ν²) √R δ^{3/2}, with the bonded-layer
/// correction of Dimitriadis et al. (Biophys. J. 82, 2002, eq. 12; χ =
/// √(Rδ)/h ≈ 0.38, where it raises the force by about 45 %). The
/// indentation δ is the measured deflection of the surface node under the
/// sphere's centre (0.39–0.46 mm), the force the block's total contact
/// force, at the end of a 10 ms press (0.5 mm of tool travel) and a 5 ms
/// hold. Measured, against the reference: +32.9 % at 2 mm elements,
/// +22.8 % at 1.33 mm, +17.7 % at 1 mm, +11.8 % at 0.67 mm: first order in
/// the element size (linear tetrahedra are too stiff by O(h)), 17.5 ± 1 %
/// per mm, and the extrapolation to h → 0 from the two finest meshes is
/// −0.1 %. Asserted: monotone convergence, the error per element size
/// within 15 % of its mean (first order), and the extrapolated error within
/// 3 %. Contact radius: the last surface node with a contact force and the
/// first without (3.59–3.77 mm at 0.67 mm) lie between the half-space
/// Hertz radius √(Rδ) (3.03 mm; a bonded layer widens the contact) and the
/// undeformed-surface intersection √(2Rδ) (4.29 mm); no closed form for the
/// bonded layer's radius is checked.
#[test]
fn a_sphere_pressed_into_the_gel_follows_hertz_with_the_layer_correction() {
    let (ctx, _g) = gpu();
    let (e, nu, r_s, h) = (1.0e5, 0.3, 0.02, 0.008);
    let hertz = |delta: f64| -> f64 {
        let chi = (r_s * delta).sqrt() / h;
        let a0 = -(1.2876 - 1.4678 * nu + 1.3442 * nu * nu) / (1.0 - nu);
        let b0 = (0.6387 - 1.0277 * nu + 1.5164 * nu * nu) / (1.0 - nu);
        let pi = std::f64::consts::PI;
        let corr = 1.0 - 2.0 * a0 / pi * chi + 4.0 * a0 * a0 / (pi * pi) * chi * chi
            - 8.0 / pi.powi(3) * (a0.powi(3) + 4.0 * pi * pi * b0 / 15.0) * chi.powi(3)
            + 16.0 * a0 / pi.powi(4) * (a0.powi(3) + 3.0 * pi * pi * b0 / 5.0) * chi.powi(4);
        4.0 / 3.0 * e / (1.0 - nu * nu) * r_s.sqrt() * delta.powf(1.5) * corr
    };
    let mut errors = Vec::new();
    for n in [12u32, 18, 24, 36] {
        let loaded = scene(&hertz_scene(n));
        let mut sim = Simulation::new(ctx, &loaded, &Default::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let fi = sim.fem_solver(0).unwrap();
        let p = sim.config().precision;
        let read = |b: &wgpu::Buffer, len: usize| {
            bytes_to_reals(&read_buffer(ctx, b, len as u64 * p.bytes()).unwrap(), p)
        };
        let nodes = sim.world.solver::<FemSolver>(fi).unwrap().node_count() as usize;
        let rest = read(
            &sim.world.solver::<FemSolver>(fi).unwrap().x[sim.parity()],
            3 * nodes,
        );
        sim.step(ctx, 750);
        sim.check(ctx).unwrap_or_else(|err| panic!("{err}"));
        let f = sim.world.solver::<FemSolver>(fi).unwrap();
        let x = read(&f.x[sim.parity()], 3 * nodes);
        let fc = read(f.contact_force(), 3 * nodes);
        // The top surface's node under the sphere's centre.
        let centre = (0..nodes)
            .min_by(|&a, &b| {
                let d =
                    |i: usize| (rest[3 * i] - 0.04).hypot(rest[3 * i + 2] - 0.04) - rest[3 * i + 1];
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        let delta = rest[3 * centre + 1] - x[3 * centre + 1];
        let force: f64 = -(0..nodes).map(|i| fc[3 * i + 1]).sum::<f64>();
        let want = hertz(delta);
        let err = force / want - 1.0;
        // Contact radius: the nodes with a contact force against those without.
        let radius = |i: usize| (rest[3 * i] - 0.04).hypot(rest[3 * i + 2] - 0.04);
        let top = rest[3 * centre + 1];
        let surface: Vec<usize> = (0..nodes)
            .filter(|&i| (rest[3 * i + 1] - top).abs() < 1e-9)
            .collect();
        let r_in = surface
            .iter()
            .filter(|&&i| fc[3 * i + 1] < 0.0)
            .map(|&i| radius(i))
            .fold(0.0, f64::max);
        let r_out = surface
            .iter()
            .filter(|&&i| fc[3 * i + 1] >= 0.0)
            .map(|&i| radius(i))
            .fold(f64::INFINITY, f64::min);
        let a = (r_s * delta).sqrt();
        eprintln!(
            "{n} elements across: δ = {:.4} mm, F = {force:.5} N, reference {want:.5} N ({:+.2} %), contact radius {:.2}–{:.2} mm against √(Rδ) = {:.2} mm",
            delta * 1e3,
            err * 100.0,
            r_in * 1e3,
            r_out * 1e3,
            a * 1e3
        );
        assert!(delta > 3e-4 && delta < 5e-4, "{n}: δ = {delta}");
        if n == 36 {
            assert!(
                a <= r_in && r_out <= (2.0 * r_s * delta).sqrt(),
                "contact radius {r_in}–{r_out} against √(Rδ) = {a}, √(2Rδ) = {}",
                (2.0 * r_s * delta).sqrt()
            );
        }
        errors.push(err);
    }
    let sizes = [2.0, 24.0 / 18.0, 1.0, 24.0 / 36.0];
    for w in errors.windows(2) {
        assert!(w[1].abs() < w[0].abs(), "not converging: {errors:?}");
    }
    let per_mm: Vec<f64> = errors.iter().zip(sizes).map(|(e, h)| e / h).collect();
    let mean = per_mm.iter().sum::<f64>() / 4.0;
    assert!(
        per_mm.iter().all(|p| (p / mean - 1.0).abs() < 0.15),
        "not first order in the element size: {per_mm:?} per mm"
    );
    let limit = (errors[3] * sizes[2] - errors[2] * sizes[3]) / (sizes[2] - sizes[3]);
    eprintln!(
        "error per mm of element size {per_mm:.4?}; extrapolated to h → 0: {:+.2} %",
        limit * 100.0
    );
    assert!(limit.abs() < 0.03, "extrapolated error {limit}: {errors:?}");
}

/// Time-step advice for the tools' contact counts its damper: on
/// `scenes/tactile_follow.ron` (2 mm elements, lightest node 6.7e-7 kg,
/// k = 1500 N/m) a damper of 0.05 N·s/m needs dt < 2 / (c/m + √(k/m +
/// (2c_w/h)²)) ≈ 1.50e-5 s, so the scene's 2e-5 s gets a warning naming
/// `fem[0].contact`; as shipped (0.02 N·s/m) it gets none. That scene with
/// 0.05 runs without blowing up, but its lightest nodes chatter in and out
/// of contact, and its gradients grow to 1e49 over 2500 substeps (against
/// central differences of order 1) where the shipped one checks to 1e-9.
#[test]
fn tool_contact_step_advice_counts_the_damper() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/tactile_follow.ron"
    ))
    .unwrap();
    assert!(ductile::sim::material::time_step_advice(&scene(&text).scene).is_empty());
    let damped = text.replace(
        "damping: 0.02, friction: 0.3",
        "damping: 0.05, friction: 0.3",
    );
    assert_ne!(damped, text);
    let advice = ductile::sim::material::time_step_advice(&scene(&damped).scene);
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert_eq!(advice[0].path, "fem[0].contact");
    assert_eq!(advice[0].body, "pad");
    assert!(
        (advice[0].limit / 1.501e-5 - 1.0).abs() < 0.01,
        "{advice:?}"
    );
}
