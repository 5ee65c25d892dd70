//! The optimisation driver through the library API: the control maps'
//! gradients (key frames, velocity segments) against central differences,
//! masks and frozen controls, CMA-ES and the hybrid, the expanding loss
//! window, and resuming a run bit for bit.

use crate::common::gpu;
use ductile::gpu::Precision;
use ductile::opt::{
    parse_task, prepare, run_task, LoadedTask, Progress, RunOptions, StageKind, WarmStart,
};
use std::path::Path;

/// A task from text, as if it were a file in `scenes/tasks/`.
fn task(text: &str) -> LoadedTask {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/tasks/test_task.ron");
    parse_task(text, &path).unwrap_or_else(|e| panic!("{e}"))
}

fn f64_opts() -> RunOptions {
    RunOptions {
        precision: Some(Precision::F64),
        ..Default::default()
    }
}

/// dL/dθ·d from the adjoint against the best central difference over a
/// step sweep (1e-3 down to 1e-7), at θ, for a task whose controls move the pusher into the block.
fn check_control_gradient(t: &LoadedTask, theta: &[f64]) -> (f64, f64) {
    check_control_gradient_in(t, theta, 0..theta.len())
}

/// The task's rollout (f64) at `theta` after one forward and backward
/// pass, its control map, and dL/dθ.
fn gradient_at(
    ctx: &ductile::gpu::GpuContext,
    t: &LoadedTask,
    theta: &[f64],
) -> (ductile::sim::Rollout, ductile::opt::Params, Vec<f64>) {
    let (mut r, params, _) = prepare(ctx, t, &f64_opts()).unwrap_or_else(|e| panic!("{e}"));
    params.apply(ctx, &mut r, theta).unwrap();
    r.forward(ctx).unwrap();
    let g = r.backward(ctx).unwrap();
    let grad = params.gradient(&r, &g, theta);
    (r, params, grad)
}

/// The Euclidean norm of dL/dθ over the entries `along`, from one forward
/// and backward pass at `theta` (f64): a direction-independent measure of
/// whether the loss depends on those controls.
fn gradient_norm_in(t: &LoadedTask, theta: &[f64], along: std::ops::Range<usize>) -> f64 {
    let (ctx, _g) = gpu();
    let (_, _, grad) = gradient_at(ctx, t, theta);
    grad[along].iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// As `check_control_gradient`, along a random direction confined to the
/// entries `along` of θ.
fn check_control_gradient_in(
    t: &LoadedTask,
    theta: &[f64],
    along: std::ops::Range<usize>,
) -> (f64, f64) {
    let (ctx, _g) = gpu();
    let (mut r, params, grad) = gradient_at(ctx, t, theta);
    let mut rng = ductile::sim::gradcheck::Rng::new(5);
    let mut d = rng.direction(theta.len());
    for (i, di) in d.iter_mut().enumerate() {
        if !along.contains(&i) {
            *di = 0.0;
        }
    }
    let adj: f64 = grad.iter().zip(&d).map(|(a, b)| a * b).sum();
    let mut loss_at = |s: f64| {
        let th: Vec<f64> = theta.iter().zip(&d).map(|(t, di)| t + s * di).collect();
        params.apply(ctx, &mut r, &th).unwrap();
        r.forward(ctx).unwrap()
    };
    // Contact kinks (stick/slip, touch/no touch) make large steps inaccurate:
    // sweep down to 1e-7 (f64 rollouts) and keep the best.
    let best = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
        .iter()
        .map(|&h| {
            let fd = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            (fd - adj).abs() / adj.abs().max(1e-300)
        })
        .fold(f64::INFINITY, f64::min);
    (adj, best)
}

/// Key-framed tool positions (Catmull–Rom) and per-segment tool velocities
/// map their gradients correctly: the pusher is driven into the block, so
/// the loss depends on the tool through contact.
#[test]
fn tool_control_maps_match_central_differences() {
    let keys = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolKeyframes(tool: 0, keys: 3, interpolation: CatmullRom,
                                       min: (0.0, 0.0, 0.0), max: (1.0, 1.0, 1.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let theta = [0.24, 0.21, 0.5, 0.30, 0.205, 0.49, 0.36, 0.2, 0.5];
    let (adj, err) = check_control_gradient(&keys, &theta);
    eprintln!("key frames: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(
        adj.abs() > 1e-6,
        "no contact: the loss does not depend on the tool"
    );
    assert!(err < 1e-4, "key-frame gradient off by {err:.2e}");

    let vel = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolVelocity(tool: 0, segments: 3, min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let theta = [1.5, 0.0, 0.0, 2.0, -0.1, 0.05, 1.0, 0.1, 0.0];
    let (adj, err) = check_control_gradient(&vel, &theta);
    eprintln!("velocity segments: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(
        adj.abs() > 1e-6,
        "no contact: the loss does not depend on the tool"
    );
    assert!(err < 1e-4, "velocity-segment gradient off by {err:.2e}");

    // The pusher turning (angular velocity in 3 segments) while it moves
    // into the block: the gradient reaches ω through the contact's tool
    // velocity ω × r and through the orientation integrated from it.
    let spin = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolVelocity(tool: 0, segments: 1, init: (1.5, 0.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0)),
                         ToolAngularVelocity(tool: 0, segments: 3, min: (-9.0, -9.0, -9.0), max: (9.0, 9.0, 9.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let theta = [
        1.5, 0.0, 0.0, 1.0, -2.0, 3.0, -4.0, 2.0, 5.0, 0.5, 6.0, -3.0,
    ];
    let (adj, err) = check_control_gradient_in(&spin, &theta, 3..12);
    eprintln!(
        "angular velocity segments: directional derivative {adj:.6e}, relative error {err:.2e}"
    );
    // Without contact the gradient is exactly zero. The directional
    // derivative along this random direction is small (-3.7e-7), so the
    // contact is checked on the norm of the angular-velocity gradient.
    let norm = gradient_norm_in(&spin, &theta, 3..12);
    eprintln!("angular velocity segments: gradient norm {norm:.3e}");
    assert!(
        adj.abs() > 0.0 && norm > 1e-6,
        "no contact: the loss does not depend on the tool's turning (|dL/dω| = {norm:e})"
    );
    assert!(err < 1e-4, "angular-velocity gradient off by {err:.2e}");

    // The pusher's orientation key-framed (Catmull–Rom, about all three
    // axes) while it moves into the block: the gradient reaches the keys
    // through the orientation q(n) = exp(θ(n)) q₀ and through ω × r.
    let turn = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolVelocity(tool: 0, segments: 1, init: (1.5, 0.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0)),
                         ToolRotationKeyframes(tool: 0, keys: 3, interpolation: CatmullRom, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let theta = [
        1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.05, -0.1, 0.2, -0.15, 0.1, 0.35,
    ];
    let (adj, err) = check_control_gradient_in(&turn, &theta, 3..12);
    eprintln!("rotation key frames: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(
        adj.abs() > 1e-6,
        "no contact: the loss does not depend on the tool"
    );
    assert!(err < 1e-4, "rotation key-frame gradient off by {err:.2e}");

    // A body's initial offset and velocity, with the pusher moving into it.
    let body = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [InitialOffset(body: 0, min: (-0.05, -0.05, -0.05), max: (0.05, 0.05, 0.05)),
                         InitialVelocity(body: 0, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0)),
                         ToolVelocity(tool: 0, segments: 1, init: (1.5, 0.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let theta = [-0.02, 0.01, 0.005, -0.3, -0.2, 0.1, 1.5, 0.0, 0.0];
    let (adj, err) = check_control_gradient(&body, &theta);
    eprintln!(
        "body offset and velocity: directional derivative {adj:.6e}, relative error {err:.2e}"
    );
    assert!(err < 1e-4, "initial-offset gradient off by {err:.2e}");
}

/// Rotation key frames turn the tool to exp(θ_k) q₀ at key k, and for a
/// turn about one axis the angular velocity each substep carries the
/// orientation exactly to the next one: q(n + 1) = exp(dt ω(n)) q(n).
/// Two controls of the same tool's orientation are refused.
#[test]
fn rotation_keyframes_reach_each_key() {
    let (ctx, _g) = gpu();
    let t = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolRotationKeyframes(tool: 0, keys: 4, min: (-2.0, -2.0, -2.0), max: (2.0, 2.0, 2.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
    );
    let (mut r, params, theta0) = prepare(ctx, &t, &f64_opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(theta0, vec![0.0; 12]);
    let q0 = glam::DQuat::from_slice(&r.control_values()[4..8]);
    let theta = [0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.9, 0.0, 0.0, 0.6, 0.0];
    params.apply(ctx, &mut r, &theta).unwrap();
    let c = r.control_values().to_vec();
    let nt = r.tool_params().len();
    let dt = r.sim.info().dt;
    let quat = |n: usize| glam::DQuat::from_slice(&c[16 * n * nt + 4..16 * n * nt + 8]);
    let omega = |n: usize| glam::DVec3::from_slice(&c[16 * n * nt + 12..16 * n * nt + 15]);
    let dist = |a: glam::DQuat, b: glam::DQuat| (a - b).length().min((a + b).length());
    for k in 0..3 {
        let want =
            ductile::opt::params::quat_exp(glam::DVec3::from_slice(&theta[3 * k..3 * k + 3])) * q0;
        assert!(
            dist(quat(10 * k), want) < 1e-12,
            "key {k}: {:?} vs {want:?}",
            quat(10 * k)
        );
    }
    let mut q = quat(0);
    for n in 0..30 {
        q = ductile::opt::params::quat_exp(dt * omega(n)) * q;
        let want = if n + 1 < 30 {
            quat(n + 1)
        } else {
            ductile::opt::params::quat_exp(glam::DVec3::new(0.0, 0.6, 0.0)) * q0
        };
        assert!(
            dist(q, want) < 1e-12,
            "substep {n}: integrated {q:?} vs {want:?}"
        );
    }
    let e = parse_task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolAngularVelocity(tool: 0, segments: 2, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0)),
                         ToolRotationKeyframes(tool: 0, keys: 2, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 1))",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/tasks/two.ron"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("controls[1]")
            && e.contains("tool 0's orientation")
            && e.contains("controls[0]"),
        "{e}"
    );
}

/// A gripper's opening (Catmull–Rom width keys) maps its gradient onto
/// both fingers: the pads squeeze an elastic block while the gripper rises
/// and turns about y (so the closing axis changes each substep), and the block's lift (the loss) depends on the width through the normal
/// force and friction. The gripper's position keys alone, composed with
/// its width keys, and composed with both its width and rotation keys, map
/// theirs too. Also: a tool control on a finger is refused.
#[test]
fn gripper_width_gradient_matches_central_differences() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("squeeze.ron"),
        "Scene(domain: (cells: (16, 16, 16), dx: 0.025), time: (dt: 2e-4, substeps: 10, frames: 4),
          bodies: [(name: \"block\", shape: Box(min: (0.15, 0.1, 0.15), max: (0.25, 0.2, 0.25)),
                    material: NeoHookean(density: 1000.0, youngs_modulus: 2.0e4, poisson_ratio: 0.3))],
          grippers: [(name: \"g\", finger: Box(half_extents: (0.0125, 0.075, 0.06)),
                      pose: (position: (0.2, 0.15, 0.2)), motion: Constant(linear: (0.0, 0.5, 0.0), angular_deg: (0.0, 300.0, 0.0)),
                      width: [(time: 0.0, width: 0.12)], friction: 1.0)],
          loss: [(kind: CenterOfMass(target: (0.2, 0.3, 0.2)), body: 0)],
          output: (ply: false, npy: false, png: false))",
    )
    .unwrap();
    let text = "Task(scene: \"squeeze.ron\", steps: 40,
          controls: [GripperWidth(gripper: 0, keys: 3, interpolation: CatmullRom, min: 0.05, max: 0.2)],
          optimizer: Adam(learning_rate: 0.1, iterations: 1))";
    let t =
        parse_task(text, &dir.path().join("squeeze_task.ron")).unwrap_or_else(|e| panic!("{e}"));
    let (adj, err) = check_control_gradient(&t, &[0.118, 0.112, 0.105]);
    eprintln!("gripper width keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(adj.abs() > 1e-8, "the loss does not depend on the width");
    assert!(err < 1e-4, "gripper-width gradient off by {err:.2e}");

    // The gripper's position key-framed alone, then composed with its width.
    let pos = "Task(scene: \"squeeze.ron\", steps: 40,
          controls: [GripperKeyframes(gripper: 0, keys: 3, interpolation: CatmullRom, min: (0.1, 0.05, 0.1), max: (0.3, 0.3, 0.3))],
          optimizer: Adam(learning_rate: 0.1, iterations: 1))";
    let t = parse_task(pos, &dir.path().join("pos_task.ron")).unwrap_or_else(|e| panic!("{e}"));
    // Off the grid: at y = 0.15 m the pads' faces sit exactly on grid nodes,
    // where hard contact switches on (the loss jumps there).
    let (adj, err) = check_control_gradient(
        &t,
        &[0.2, 0.152, 0.2, 0.205, 0.171, 0.2, 0.21, 0.193, 0.195],
    );
    eprintln!("gripper position keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(err < 1e-4, "gripper position gradient off by {err:.2e}");
    let both = text.replace(
        "controls: [GripperWidth(",
        "controls: [GripperKeyframes(gripper: 0, keys: 3, interpolation: CatmullRom, min: (0.1, 0.05, 0.1), max: (0.3, 0.3, 0.3)),
                     GripperWidth(",
    );
    assert_ne!(both, text);
    let t = parse_task(&both, &dir.path().join("both_task.ron")).unwrap_or_else(|e| panic!("{e}"));
    let theta = [
        0.2, 0.152, 0.2, 0.205, 0.171, 0.2, 0.21, 0.193, 0.195, 0.118, 0.112, 0.105,
    ];
    let (adj, err) = check_control_gradient(&t, &theta);
    eprintln!("gripper position and width keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(adj.abs() > 1e-8, "the loss does not depend on the gripper");
    assert!(
        err < 1e-4,
        "gripper position/width gradient off by {err:.2e}"
    );

    // The gripper turned by rotation keys (replacing the scene's spin about
    // y), composed with its position and width keys: the fingers pivot about
    // the frame's centre, so the turn moves them as well as tilting them.
    let turned = both.replace(
        "GripperWidth(",
        "GripperRotationKeyframes(gripper: 0, keys: 3, interpolation: CatmullRom, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0)),
                     GripperWidth(",
    );
    assert_ne!(turned, both);
    let t =
        parse_task(&turned, &dir.path().join("turned_task.ron")).unwrap_or_else(|e| panic!("{e}"));
    let mut theta = theta[..9].to_vec();
    theta.extend([0.0, 0.0, 0.0, 0.06, 0.12, -0.04, 0.1, 0.25, 0.05]);
    theta.extend([0.118, 0.112, 0.105]);
    let (adj, err) = check_control_gradient_in(&t, &theta, 9..18);
    eprintln!("gripper rotation keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(adj.abs() > 1e-8, "the loss does not depend on the turn");
    assert!(err < 1e-4, "gripper rotation gradient off by {err:.2e}");
    let (adj, err) = check_control_gradient(&t, &theta);
    eprintln!("gripper position, rotation and width keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(err < 1e-4, "composed gripper gradient off by {err:.2e}");

    let finger = text.replace(
        "GripperWidth(gripper: 0, keys: 3, interpolation: CatmullRom, min: 0.05, max: 0.2)",
        "ToolVelocity(tool: 1, segments: 1, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0))",
    );
    let t = parse_task(&finger, &dir.path().join("finger_task.ron")).unwrap();
    let (ctx, _g) = gpu();
    let e = prepare(ctx, &t, &f64_opts())
        .err()
        .expect("a finger's tool control is refused")
        .to_string();
    assert!(
        e.contains("controls[0].tool") && e.contains("GripperWidth"),
        "{e}"
    );
}

/// A nozzle path (Catmull–Rom displacement keys) maps its gradient onto
/// the particles it releases: a jet under gravity whose released layers
/// fall onto a floor (the loss is the stream's centre of mass), with the
/// key weights of each particle's release substep. A body without an
/// emitter is refused.
#[test]
fn emitter_path_gradient_matches_central_differences() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jet.ron"),
        "Scene(domain: (cells: (16, 16, 16), dx: 0.025, boundary_cells: 3), time: (dt: 1e-3, substeps: 20, frames: 3),
          bodies: [(name: \"jet\", shape: Cylinder(center: (0.2, 0.2, 0.2), radius: 0.02, half_height: 0.05),
                    material: Fluid(density: 1000.0, bulk_modulus: 1e4, viscosity: 0.1),
                    velocity: (0.0, -1.0, 0.0), emitter: Some((start: 0.005))),
                   (name: \"cube\", shape: Box(min: (0.27, 0.1, 0.15), max: (0.32, 0.15, 0.2)),
                    material: NeoHookean(density: 1000.0, youngs_modulus: 1e4, poisson_ratio: 0.3))],
          loss: [(kind: CenterOfMass(target: (0.3, 0.1, 0.2)), body: 0), (kind: CenterOfMass(target: (0.3, 0.1, 0.2)), body: 1)],
          output: (ply: false, npy: false, png: false))",
    )
    .unwrap();
    let text = "Task(scene: \"jet.ron\", steps: 60,
          controls: [EmitterKeyframes(body: 0, keys: 3, interpolation: CatmullRom, min: (-0.1, -0.1, -0.1), max: (0.1, 0.1, 0.1))],
          optimizer: Adam(learning_rate: 0.1, iterations: 1))";
    let t = parse_task(text, &dir.path().join("jet_task.ron")).unwrap_or_else(|e| panic!("{e}"));
    let theta = [0.0, 0.0, 0.0, 0.03, 0.0, -0.01, 0.06, 0.01, 0.0];
    let (adj, err) = check_control_gradient(&t, &theta);
    eprintln!("nozzle path keys: directional derivative {adj:.6e}, relative error {err:.2e}");
    assert!(
        adj.abs() > 1e-8,
        "the loss does not depend on the nozzle path"
    );
    assert!(err < 1e-4, "nozzle-path gradient off by {err:.2e}");

    let t = parse_task(
        &text.replace("body: 0, keys", "body: 1, keys"),
        &dir.path().join("cube_task.ron"),
    )
    .unwrap();
    let (ctx, _g) = gpu();
    let e = prepare(ctx, &t, &f64_opts())
        .err()
        .expect("a body without an emitter is refused")
        .to_string();
    assert!(
        e.contains("controls[0].body") && e.contains("emitter"),
        "{e}"
    );
}

/// A task whose scene file cannot be read names the task file, the line
/// and the field (`scene`), the value and what is allowed.
#[test]
fn a_missing_scene_file_is_located_in_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Task(
    scene: \"no_such_scene.ron\",
    controls: [InitialVelocity(body: 0, min: (-2.0, -2.0, -2.0), max: (2.0, 2.0, 2.0))],
    optimizer: GradientDescent(learning_rate: 0.5, iterations: 2),
)";
    let t = parse_task(text, &dir.path().join("lost.ron")).unwrap_or_else(|e| panic!("{e}"));
    let e = t.load_scene().expect_err("no scene file").to_string();
    assert!(e.contains("lost.ron:2:"), "{e}");
    assert!(
        e.contains("scene") && e.contains("no_such_scene.ron"),
        "{e}"
    );
    assert!(e.contains("a readable scene file"), "{e}");
}

/// Task controls may name their body (and the scene's loss its body), for
/// an inline scene and for a scene file beside the task; the names give
/// the same controls as indices, and an unknown name is a located error.
#[test]
fn task_controls_refer_to_bodies_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let scene = "Scene(
    name: \"named\",
    domain: (cells: (16, 16, 16), dx: 0.0625),
    time: (dt: 1e-3, substeps: 10, frames: 1),
    bodies: [(name: \"ball\", shape: Sphere(center: (0.5, 0.5, 0.5), radius: 0.1),
              material: NeoHookean(density: 1000.0, youngs_modulus: 1e4, poisson_ratio: 0.3))],
    loss: [(kind: CenterOfMass(target: (0.6, 0.5, 0.5)), body: \"ball\")],
)";
    std::fs::write(dir.path().join("named.ron"), scene).unwrap();
    let task = |scene_field: &str, body: &str| {
        format!(
            "Task(
    scene: {scene_field},
    controls: [InitialVelocity(body: {body}, min: (-2.0, -2.0, -2.0), max: (2.0, 2.0, 2.0))],
    optimizer: GradientDescent(learning_rate: 0.5, iterations: 2),
)"
        )
    };
    let path = dir.path().join("task.ron");
    for scene_field in ["\"named.ron\"", scene] {
        let by_name =
            parse_task(&task(scene_field, "\"ball\""), &path).unwrap_or_else(|e| panic!("{e}"));
        let by_index = parse_task(&task(scene_field, "0"), &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_name.task.controls, by_index.task.controls);
        assert_eq!(by_name.load_scene().unwrap().scene.loss[0].body, 0);
        let text = task(scene_field, "\"bal\"");
        let e = parse_task(&text, &path)
            .expect_err("unknown body")
            .to_string();
        let line = text.lines().position(|l| l.contains("\"bal\"")).unwrap() + 1;
        assert!(e.contains(&format!("task.ron:{line}:")), "{e}");
        assert!(
            e.contains("\"bal\" names no body: the scene's bodies are \"ball\""),
            "{e}"
        );
    }
}

/// A task may hold its scene inline: it loads and optimises like one read
/// from a file, a comment or string holding `scene:` does not confuse it,
/// and a mistake inside the inline scene is reported at its line and column
/// in the task file.
#[test]
fn inline_scenes_load_and_report_errors_in_the_task_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = "// scene: \"not this\"
Task(
    steps: 10,
    scene: Scene(
        name: \"inline\",
        domain: (cells: (16, 16, 16), dx: 0.0625),
        time: (dt: 1e-3, substeps: 10, frames: 1),
        bodies: [(name: \"ball\", shape: Sphere(center: (0.5, 0.5, 0.5), radius: 0.1),
                  material: NeoHookean(density: 1000.0, youngs_modulus: 1e4, poisson_ratio: 0.3))],
        loss: [(kind: CenterOfMass(target: (0.6, 0.5, 0.5)), body: 0)],
    ),
    controls: [InitialVelocity(body: 0, min: (-2.0, -2.0, -2.0), max: (2.0, 2.0, 2.0))],
    optimizer: GradientDescent(learning_rate: 0.5, iterations: 2),
)";
    let path = dir.path().join("inline.ron");
    let t = parse_task(text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.inline_scene.is_some());
    let loaded = t.load_scene().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.scene.name, "inline");
    let (ctx, _g) = gpu();
    let (_, _, theta0) = prepare(ctx, &t, &f64_opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(theta0, vec![0.0; 3]);

    let bad = text.replace("youngs_modulus: 1e4", "youngs_modulus: -1e4");
    let t = parse_task(&bad, &path).unwrap();
    let e = t
        .load_scene()
        .expect_err("a negative modulus is refused")
        .to_string();
    // Line 9 of the task file, at the value.
    let col = bad.lines().nth(8).unwrap().find("-1e4").unwrap() + 1;
    assert!(
        e.contains(&format!("inline.ron:9:{col}")) && e.contains("youngs_modulus"),
        "{e}"
    );
    // An error in the task's own fields after the scene keeps its place too.
    let bad = text.replace("iterations: 2", "iterations: 2, bogus: 1");
    let e = parse_task(&bad, &path)
        .expect_err("unknown field")
        .to_string();
    assert!(e.contains("inline.ron:13:") && e.contains("bogus"), "{e}");
}

/// Masked axes and frozen segments stay at their initial guess, every value
/// stays inside its bounds, and clipping by value bounds the step: gradient
/// descent with rate 100 and components clipped to 1e-4 moves each free
/// scaled coordinate by at most 0.01, and by exactly 0.01 where the gradient
/// exceeds the clip (unclipped, the rate would throw it to a bound).
#[test]
fn masks_freezing_and_bounds_hold() {
    let (ctx, _g) = gpu();
    let t = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 30,
              controls: [ToolVelocity(tool: 0, segments: 3, init: (1.0, 0.1, 0.0),
                                      min: (0.0, -0.2, -0.2), max: (1.2, 0.2, 0.2),
                                      mask: (true, false, true), freeze: 1)],
              optimizer: GradientDescent(learning_rate: 100.0, iterations: 2, clip_value: 1e-4))",
    );
    let out = run_task(ctx, &t, &RunOptions::default(), |_, _| true).unwrap();
    assert_eq!(out.history.len(), 3);
    let th0 = &out.history[0].theta;
    for it in &out.history {
        let th = &it.theta;
        for s in 0..3 {
            assert_eq!(th[3 * s + 1], 0.1, "masked y moved: {th:?}");
        }
        assert_eq!(&th[0..3], &th0[0..3], "frozen segment moved: {th:?}");
        for (i, v) in th.iter().enumerate() {
            let (lo, hi) = ([0.0, -0.2, -0.2][i % 3], [1.2, 0.2, 0.2][i % 3]);
            assert!(*v >= lo && *v <= hi, "entry {i} = {v} outside [{lo}, {hi}]");
        }
    }
    let range = [1.2, 0.4, 0.4];
    let mut at_clip = 0;
    for i in [3, 5, 6, 8] {
        let du = (out.history[1].theta[i] - th0[i]).abs() / range[i % 3];
        assert!(
            du <= 0.01 * (1.0 + 1e-9),
            "entry {i} moved {du} > lr·clip = 0.01"
        );
        at_clip += ((du - 0.01).abs() < 1e-9) as usize;
    }
    assert!(
        at_clip > 0,
        "no free entry moved by lr·clip: clipping not exercised"
    );
}

/// CMA-ES lowers the throw loss without gradients; the hybrid (coarse
/// search, then Adam) lowers the push loss, its gradient stage starting
/// from the best sample.
#[test]
fn cma_es_and_hybrid_lower_the_loss() {
    let (ctx, _g) = gpu();
    let cma = task(
        "Task(scene: \"../throw.ron\", steps: 24,
              controls: [InitialVelocity(body: 0, init: (0.0, 0.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
              optimizer: CmaEs(generations: 3, population: 5, sigma: 0.3, seed: 1))",
    );
    let out = run_task(ctx, &cma, &RunOptions::default(), |_, _| true).unwrap();
    assert_eq!(out.history[0].stage, StageKind::Initial);
    assert_eq!(out.history.len(), 4);
    assert_eq!(out.history.last().unwrap().rollouts, 1 + 3 * 5);
    let (l0, lb) = (out.history[0].loss, out.history[out.best].loss);
    eprintln!("CMA-ES: {l0:.4e} -> {lb:.4e}");
    assert!(lb < 0.5 * l0, "CMA-ES: {l0} -> {lb}");

    let hybrid = task(
        "Task(scene: \"../push_plasticine.ron\", steps: 24,
              controls: [ToolVelocity(tool: 0, segments: 4, init: (0.3, 0.0, 0.0), min: (-1.5, -0.3, -0.3), max: (1.5, 0.3, 0.3))],
              optimizer: Hybrid(coarse_keys: 2, search: (generations: 2, population: 4, sigma: 0.2, seed: 3),
                                refine: Adam(learning_rate: 0.05, iterations: 2)))",
    );
    let out = run_task(ctx, &hybrid, &RunOptions::default(), |_, _| true).unwrap();
    let stages: Vec<StageKind> = out.history.iter().map(|h| h.stage).collect();
    use StageKind::*;
    assert_eq!(
        stages,
        [Initial, Search, Search, Gradient, Gradient, Gradient]
    );
    // A 2-knot coarse map: the 4 segments of each axis lie on a line.
    for h in &out.history[1..3] {
        for a in 0..3 {
            let v: Vec<f64> = (0..4).map(|s| h.theta[3 * s + a]).collect();
            let lin = (v[1] - v[0]) - (v[3] - v[2]);
            assert!(
                lin.abs() < 1e-9,
                "search sample not on the coarse map: {v:?}"
            );
        }
    }
    let best_search = out.history[1..3]
        .iter()
        .map(|h| h.loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        out.history[3].loss, best_search,
        "refinement starts from the best sample"
    );
    let (l0, lb) = (out.history[0].loss, out.history[out.best].loss);
    eprintln!("hybrid: {l0:.4e} -> {lb:.4e}");
    assert!(lb < l0 && out.history[5].loss < out.history[3].loss);
}

/// The expanding window starts at `start` substeps, grows by `grow` on every
/// plateau, and a final term is evaluated at the window's end: the first
/// loss equals the loss of the same task cut at that substep.
#[test]
fn expanding_window_grows_and_evaluates_final_terms_at_its_end() {
    let (ctx, _g) = gpu();
    let text = |steps: usize, window: &str| {
        format!(
            "Task(scene: \"../push_plasticine.ron\", steps: {steps}, {window}
                  controls: [ToolVelocity(tool: 0, segments: 2, init: (1.0, 0.0, 0.0), min: (-1.5, -0.3, -0.3), max: (1.5, 0.3, 0.3))],
                  optimizer: Adam(learning_rate: 0.05, iterations: 3))"
        )
    };
    let t = task(&text(
        24,
        "window: (start: 8, grow: 8, patience: 1, tolerance: 1.0),",
    ));
    let out = run_task(ctx, &t, &RunOptions::default(), |_, _| true).unwrap();
    let windows: Vec<Option<usize>> = out.history.iter().map(|h| h.window).collect();
    assert_eq!(windows, [Some(8), Some(16), None, None]);
    assert!(out.history[out.best].window.is_none());
    let cut = task(&text(8, ""));
    let short = run_task(
        ctx,
        &cut,
        &RunOptions {
            iterations: Some(0),
            ..Default::default()
        },
        |_, _| true,
    )
    .unwrap();
    let (a, b) = (out.history[0].loss, short.history[0].loss);
    assert!(
        (a - b).abs() <= 1e-6 * b.abs(),
        "window loss {a} vs 8-substep loss {b}"
    );
}

/// Stopping after two iterations and resuming from the saved progress gives
/// the same history, bit for bit, as an uninterrupted run (Adam and CMA-ES).
#[test]
fn resumed_runs_match_uninterrupted_runs() {
    let (ctx, _g) = gpu();
    for optimizer in [
        "Adam(learning_rate: 0.1, iterations: 3, schedule: Cosine(final_fraction: 0.1))",
        "CmaEs(generations: 2, population: 3, seed: 9)",
    ] {
        let t = task(&format!(
            "Task(scene: \"../throw.ron\", steps: 16,
                  controls: [InitialVelocity(body: 0, init: (1.0, 1.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
                  optimizer: {optimizer})"
        ));
        let whole = run_task(ctx, &t, &RunOptions::default(), |_, _| true).unwrap();
        let mut saved: Option<Progress> = None;
        let first = run_task(ctx, &t, &RunOptions::default(), |it, p| {
            saved = Some(p.clone());
            it.index < 1
        })
        .unwrap();
        assert!(first.stopped);
        // Through JSON, as `--resume` reads it.
        let json = serde_json::to_string(&saved.unwrap()).unwrap();
        let resume: Progress = serde_json::from_str(&json).unwrap();
        let rest = run_task(
            ctx,
            &t,
            &RunOptions {
                resume: Some(resume),
                ..Default::default()
            },
            |_, _| true,
        )
        .unwrap();
        let key = |o: &ductile::opt::Outcome| {
            o.history
                .iter()
                .map(|h| {
                    (
                        h.loss.to_bits(),
                        h.theta.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&rest), key(&whole), "{optimizer}");
        assert_eq!(rest.best, whole.best);
    }
}

/// A warm start replaces the initial guesses of the controls it names: a run
/// started from an earlier run's best controls, in the form
/// `best_controls.ron` has, begins at that run's best θ and loss. A name the
/// task has no control of, and a value outside a control's bounds, are
/// refused with the file, line, name, value and what is allowed.
#[test]
fn warm_start_begins_where_an_earlier_run_ended() {
    let (ctx, _g) = gpu();
    let t = task(
        "Task(scene: \"../throw.ron\", steps: 16,
              controls: [InitialVelocity(body: 0, init: (1.0, 1.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
              optimizer: Adam(learning_rate: 0.1, iterations: 3))",
    );
    let first = run_task(ctx, &t, &RunOptions::default(), |_, _| true).unwrap();
    let best = &first.history[first.best];
    assert!(
        first.best > 0,
        "the first run improved on its initial guess"
    );
    let (_, params, _) = prepare(ctx, &t, &RunOptions::default()).unwrap();
    let entries: String = params
        .names
        .iter()
        .zip(&best.theta)
        .map(|(n, v)| format!("    \"{n}\": {v:e},\n"))
        .collect();
    let warm =
        WarmStart::parse(&format!("// best\n{{\n{entries}}}\n"), "best_controls.ron").unwrap();
    let second = run_task(
        ctx,
        &t,
        &RunOptions {
            iterations: Some(0),
            warm_start: Some(warm),
            ..Default::default()
        },
        |_, _| true,
    )
    .unwrap();
    assert_eq!(second.history[0].theta, best.theta);
    let (a, b) = (second.history[0].loss, best.loss);
    assert!(
        (a - b).abs() <= 1e-6 * b.abs(),
        "warm-started loss {a} vs best {b}"
    );

    let refused = |text: &str| {
        let w = WarmStart::parse(text, "w.ron").unwrap();
        let opts = RunOptions {
            warm_start: Some(w),
            ..Default::default()
        };
        match prepare(ctx, &t, &opts) {
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = refused("{\n    \"body0.v0.x\": 0.5,\n    \"body0.v0.q\": 1.0,\n}");
    assert!(
        e.starts_with("w.ron:3:") && e.contains("body0.v0.q") && e.contains("body0.v0.x"),
        "{e}"
    );
    let e = refused("{\n    \"body0.v0.y\": 7.5,\n}");
    assert!(
        e.starts_with("w.ron:2:") && e.contains("7.5") && e.contains("[-3, 3]"),
        "{e}"
    );
}

/// A task's `precision` sets its rollouts' precision when the caller does
/// not (the scene's otherwise), and the caller's choice overrides it.
#[test]
fn task_precision_sets_the_rollouts_precision() {
    let (ctx, _g) = gpu();
    let text = |precision: &str| {
        task(&format!(
            "Task(scene: \"../push_plasticine.ron\", steps: 4,
                  controls: [ToolVelocity(tool: 0, segments: 1, min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0))],
                  optimizer: Adam(learning_rate: 0.1, iterations: 1){precision})"
        ))
    };
    let precision_of = |t: &LoadedTask, opts: &RunOptions| {
        let (r, _, _) = prepare(ctx, t, opts).unwrap_or_else(|e| panic!("{e}"));
        r.sim.config().precision
    };
    let default = RunOptions::default();
    let f32_opts = RunOptions {
        precision: Some(Precision::F32),
        ..Default::default()
    };
    assert_eq!(precision_of(&text(""), &default), Precision::F32);
    assert_eq!(
        precision_of(&text(", precision: F64"), &default),
        Precision::F64
    );
    assert_eq!(
        precision_of(&text(", precision: F64"), &f32_opts),
        Precision::F32
    );
    // On an adapter without SHADER_F64 the task's field is named, located.
    let mut no_f64 = ductile::gpu::GpuContext::new(&Default::default()).unwrap();
    no_f64.has_f64 = false;
    let err = match prepare(&no_f64, &text(",\n precision: F64"), &default) {
        Ok(_) => panic!("an F64 task prepared on an adapter without SHADER_F64"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(":4:")
            && err.contains("precision")
            && err.contains("F64")
            && err.contains("SHADER_F64"),
        "{err}"
    );
}
