//! The tactile sensor on an FEM pad (`ductile_sim::fem::sensor`,
//! `shaders/fem/camera.wgsl`, `sensor.wgsl`, `sensor_adj.wgsl`): markers
//! through pinhole and fisheye cameras, carried by the sensor frame, and
//! the gradients of the marker-track and contact-force losses through the
//! tape.

use crate::common::{check_solver_group, gpu, require_f64, scene};
use ductile::gpu::{GpuContext, Precision};
use ductile::sim::fem::sensor_loss::{ForceTarget, MarkerTrack};
use ductile::sim::fem::solver::FemSolver;
use ductile::sim::gradcheck::{check_group, ParamGroup};
use ductile::sim::{Rollout, TapeOptions};

/// A pad (4 × 3 × 4 cm, 1 cm elements) on a fixed base at y = 0.2 m, seen
/// from below through its base by `model`; a sphere tool presses into its
/// top and slides. `mount` mounts the base on the tool `holder` instead.
fn sensor_scene(model: &str, mount: bool) -> String {
    let (mount_line, tools) = if mount {
        (
            r#"mount: Some("holder"),"#,
            r#"(
        name: "holder",
        shape: Sphere(radius: 0.01),
        pose: (position: (0.32, 0.15, 0.42), rotation_deg: (0.0, 10.0, 0.0)),
        motion: Constant(linear: (0.1, 0.3, -0.05), angular_deg: (20.0, 0.0, 60.0)),
    )"#,
        )
    } else {
        (
            "",
            r#"(
        name: "probe",
        shape: Sphere(radius: 0.02),
        pose: (position: (0.318, 0.2485, 0.421)),
        motion: Constant(linear: (0.05, -0.2, 0.01), angular_deg: (0.0, 0.0, 20.0)),
    )"#,
        )
    };
    format!(
        r#"Scene(
    name: "sensor",
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
        mesh: Box(min: (0.3, 0.2, 0.4), max: (0.34, 0.23, 0.44), cells: (4, 3, 4)),
        density: 1000.0,
        youngs_modulus: 2.0e4,
        poisson_ratio: 0.3,
        damping: 2.0,
        pin_below: Some(0.2),
        {mount_line}
        contact: Some((stiffness: 300.0, damping: 0.05, friction: 0.4, stick_speed: 2e-3)),
        sensor: Some((
            camera: (model: {model}, position: (0.32, 0.17, 0.42), look_at: (0.32, 0.23, 0.42),
                     size: (64, 48), focal: (60.0, 60.0)),
            markers: (rows: 3, cols: 4, margin: 0.2),
        )),
    )],
    tools: [{tools}],
)"#
    )
}

/// The marker pixels of the pad's sensor now.
fn markers(ctx: &GpuContext, r: &Rollout, fi: usize) -> Vec<[f64; 2]> {
    r.sim
        .world
        .solver::<FemSolver>(fi)
        .unwrap()
        .sensor()
        .unwrap()
        .read_markers(ctx, r.sim.parity())
        .unwrap()
}

fn rollout(ctx: &GpuContext, src: &str) -> (Rollout, usize) {
    let loaded = scene(src);
    let r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let fi = r.sim.fem_solver(0).unwrap();
    (r, fi)
}

/// Targets drifting as in a slip: at substeps 10, 20 and 30, the rest
/// pixels shifted by k · (1, −0.5) px for k = 1, 2, 3.
fn shifted_targets(rest: &[[f64; 2]]) -> Vec<(usize, Vec<[f64; 2]>)> {
    [1usize, 2, 3]
        .into_iter()
        .map(|k| {
            let s = k as f64;
            (
                10 * k,
                rest.iter().map(|p| [p[0] + s, p[1] - 0.5 * s]).collect(),
            )
        })
        .collect()
}

/// The markers of a pad pressed by a sliding sphere, seen through a
/// pinhole and an equidistant fisheye camera: the marker-track loss's
/// gradients (f64, 30 substeps, the checkpointed tape) for the pad's
/// initial positions and velocities, (E, ν), the contact's (k, c, μ) and
/// the tool's controls agree with central differences (reference) to
/// better than 1e-5; the markers move under the press; a planted 5 % error
/// in the loss's seed fails the (E, ν) check by more than 1e-3.
#[test]
fn marker_loss_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    for model in ["Pinhole", "Fisheye"] {
        let (mut r, fi) = rollout(ctx, &sensor_scene(model, false));
        let rest = markers(ctx, &r, fi);
        assert_eq!(rest.len(), 12, "{model}: a 3 × 4 grid, all on the pad");
        let track = MarkerTrack::new(ctx, &r.sim, fi, r.steps(), &shifted_targets(&rest), 1.0)
            .unwrap_or_else(|e| panic!("{e}"));
        r.add_loss_terms(Box::new(track));
        r.forward(ctx).unwrap();
        let pressed = markers(ctx, &r, fi);
        let moved = rest
            .iter()
            .zip(&pressed)
            .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
            .fold(0.0, f64::max);
        eprintln!("{model}: the press moves a marker by up to {moved:.3} px");
        assert!(moved > 0.05, "{model}: the markers must move: {moved} px");
        let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
        for (name, eps) in [
            ("x0", &[1e-7, 1e-8][..]),
            ("v0", &[1e-6, 1e-7][..]),
            ("youngs_modulus_poisson_ratio", &[1e-5, 1e-6][..]),
            ("contact_stiffness_damping_friction", &[1e-6, 1e-7][..]),
        ] {
            let c = crate::fem::check_fem_group(ctx, &mut r, fi, &g, name, eps);
            assert!(c.adjoint.abs() > 1e-12, "{model} {name}: zero gradient");
            assert!(c.best().rel_error < 1e-5, "{model} {name}: {c:?}");
        }
        let c = check_group(ctx, &mut r, &g, ParamGroup::Control, &[1e-7, 1e-8], 5).unwrap();
        eprintln!(
            "{model} tool controls adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
            c.adjoint,
            c.best().fd,
            c.best().rel_error
        );
        assert!(
            c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
            "{model} tool controls: {c:?}"
        );
        if model == "Pinhole" {
            // The same rollout with a planted error in the loss's seed.
            let (mut bad_r, _) = rollout(ctx, &sensor_scene(model, false));
            let track = MarkerTrack::new(
                ctx,
                &bad_r.sim,
                fi,
                bad_r.steps(),
                &shifted_targets(&rest),
                1.0,
            )
            .unwrap();
            track.plant_adjoint_error(ctx, 1.05);
            bad_r.add_loss_terms(Box::new(track));
            let bad = bad_r.backward(ctx).unwrap();
            let c = crate::fem::check_fem_group(
                ctx,
                &mut bad_r,
                fi,
                &bad,
                "youngs_modulus_poisson_ratio",
                &[1e-6, 1e-7],
            );
            assert!(
                c.best().rel_error > 1e-3,
                "a planted marker-loss error passed: {c:?}"
            );
        }
    }
}

/// A pad mounted on a moving, turning holder carries its camera along.
/// Reference: a rigid motion of the whole pad moves nothing in the sensor
/// frame of three base nodes; the pad set to a rigid transform of its rest
/// shape (turned 25° about a tilted axis, moved 3 cm) shows every marker at
/// its rest pixel to 1e-9 px. Through a rollout the holder's controls,
/// which move the base and so the frame, get the marker loss's gradient:
/// against central differences to better than 1e-5.
#[test]
fn a_mounted_sensor_sees_its_markers_in_its_own_frame() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let src = sensor_scene("Pinhole", true);
    let (mut r, fi) = rollout(ctx, &src);
    let rest = markers(ctx, &r, fi);
    let nodes = ductile::sim::fem::desc_from_scene(&scene(&src).scene.fem[0], None).nodes;
    let q = glam::DQuat::from_axis_angle(
        glam::DVec3::new(0.3, 1.0, -0.2).normalize(),
        25f64.to_radians(),
    );
    let moved: Vec<f64> = nodes
        .iter()
        .flat_map(|p| {
            (q * glam::DVec3::from_array(*p) + glam::DVec3::new(0.01, -0.02, 0.02)).to_array()
        })
        .collect();
    {
        let f = r.sim.world.solver::<FemSolver>(fi).unwrap();
        ctx.queue.write_buffer(
            &f.x[r.sim.parity()],
            0,
            &ductile::gpu::reals_to_bytes(&moved, Precision::F64),
        );
    }
    let seen = markers(ctx, &r, fi);
    let shift = rest
        .iter()
        .zip(&seen)
        .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
        .fold(0.0, f64::max);
    eprintln!("rigidly moved pad: markers shift by {shift:.2e} px");
    assert!(
        shift < 1e-9,
        "a rigid motion moved the markers by {shift} px"
    );
    r.invalidate();
    let track = MarkerTrack::new(ctx, &r.sim, fi, r.steps(), &shifted_targets(&rest), 1.0)
        .unwrap_or_else(|e| panic!("{e}"));
    r.add_loss_terms(Box::new(track));
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let c = check_group(ctx, &mut r, &g, ParamGroup::Control, &[1e-6, 1e-7], 9).unwrap();
    eprintln!(
        "mounted tool controls adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
        c.adjoint,
        c.best().fd,
        c.best().rel_error
    );
    assert!(
        c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
        "mounted tool controls: {c:?}"
    );
    let c = check_solver_group(ctx, &mut r, fi, &g, "v0", &[1e-6, 1e-7], 3, None);
    assert!(c.best().rel_error < 1e-5, "v0: {c:?}");
}

/// A pad (10 × 10 mm of gel 3 mm thick on a fixed base, 1 mm elements,
/// μ = 0.5) pressed 0.2 mm by a flat plate covering it, which is then
/// dragged 1.5 mm along it at 20 mm/s.
const DRAG_SCENE: &str = r#"Scene(
    name: "drag",
    domain: (cells: (8, 8, 8), dx: 0.01, boundary_cells: 2, boundary: Separate),
    time: (dt: 1e-5, substeps: 200, frames: 41),
    fem: [(
        name: "pad",
        mesh: Box(min: (0.035, 0.02, 0.035), max: (0.045, 0.023, 0.045), cells: (10, 3, 10)),
        density: 1000.0,
        youngs_modulus: 1.5e5,
        poisson_ratio: 0.45,
        damping: 2000.0,
        pin_below: Some(0.02),
        contact: Some((stiffness: 1500.0, damping: 0.0, friction: 0.5, stick_speed: 1e-3)),
    )],
    tools: [(
        name: "plate",
        shape: Plane,
        pose: (position: (0.04, 0.0231, 0.04), rotation_deg: (180.0, 0.0, 0.0)),
        motion: Keyframes([
            (time: 0.0, position: (0.04, 0.0231, 0.04), rotation_deg: (180.0, 0.0, 0.0)),
            (time: 0.006, position: (0.04, 0.0228, 0.04), rotation_deg: (180.0, 0.0, 0.0)),
            (time: 0.008, position: (0.04, 0.0228, 0.04), rotation_deg: (180.0, 0.0, 0.0)),
            (time: 0.083, position: (0.0415, 0.0228, 0.04), rotation_deg: (180.0, 0.0, 0.0)),
        ]),
    )],
)"#;

/// Reference: Coulomb friction, the pad sticks to the plate until the
/// tangential force reaches μ times the normal force, then slips at that
/// force. The pad's total contact force (every node's, read from the
/// solver) per 2 ms frame: while the plate drags, the ratio F_t/F_n first
/// rises steadily below μ (stick: the gel shears), then holds a plateau
/// (slip). Measured plateau 0.4922 for μ = 0.5 (1.6 % low: the smooth
/// stick–slip transition of `fem/contact.wgsl` at this slip speed; 3.5 %
/// at 10 mm/s); bound [0.94 μ, μ]; the stick phase rises below 0.9 μ for
/// its first 12 frames.
#[test]
fn a_dragged_pad_slips_when_friction_reaches_mu_times_the_normal_force() {
    let (ctx, _g) = gpu();
    let loaded = scene(DRAG_SCENE);
    let mut sim = ductile::sim::Simulation::new(ctx, &loaded, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let fi = sim.fem_solver(0).unwrap();
    let mut ratio = Vec::new();
    for _ in 0..41 {
        sim.step(ctx, 200);
        let f = sim.world.solver::<FemSolver>(fi).unwrap();
        let n = f.node_count() as usize;
        let p = sim.config().precision;
        let fc = ductile::gpu::bytes_to_reals(
            &ductile::gpu::read_buffer(ctx, f.contact_force(), (3 * n) as u64 * p.bytes()).unwrap(),
            p,
        );
        let mut t = [0.0; 3];
        for i in 0..n {
            for k in 0..3 {
                t[k] += fc[3 * i + k];
            }
        }
        ratio.push(t[0].hypot(t[2]) / t[1].abs());
    }
    sim.check(ctx).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("F_t / F_n per frame: {ratio:.4?}");
    let mu = 0.5;
    // Stick: from the start of the drag (frame 4), rising and below μ.
    for w in ratio[4..16].windows(2) {
        assert!(w[1] > w[0] && w[1] < 0.9 * mu, "stick phase: {ratio:.4?}");
    }
    // Slip: the last 10 frames on a plateau at μ.
    for &r in &ratio[31..] {
        assert!(
            (0.94 * mu..=mu).contains(&r),
            "slip plateau {r} against μ = {mu}: {ratio:.4?}"
        );
    }
}

/// The sensor's host readouts on `scenes/tactile_press.ron`. Reference: at
/// rest the gel's far surface is the plane y = 24 mm, so the depth map on
/// the optical axis is 24 − 5 = 19 mm from the camera (measured to 1e-6
/// m), every pixel of the flat gel sees the same normal, so the tactile
/// image inside the gel is one colour, and there is no contact force.
/// Pressed 1 mm by the sphere (at 20 ms), the centre of the contact sits
/// nearer the camera by about the indentation (measured 0.92 mm, bound
/// 0.6–1.05 mm, of the sphere's 1 mm: the penalty's penetration, 0.08 mm,
/// comes off), the image
/// there differs from the flat colour, the net normal force along the
/// camera axis pushes away from the gel (camera z < 0), and the pressure
/// field is positive where the sphere presses.
#[test]
fn the_sensor_reads_depth_force_and_image() {
    use ductile::sim::fem::sensor_image::tactile_image;
    let (ctx, _g) = gpu();
    let loaded = ductile::scene::load_scene(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/tactile_press.ron"),
    )
    .unwrap();
    let mut sim = ductile::sim::Simulation::new(ctx, &loaded, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let fi = sim.fem_solver(0).unwrap();
    let read = |sim: &ductile::sim::Simulation| {
        let f = sim.world.solver::<FemSolver>(fi).unwrap();
        let r = f.read_sensor(ctx, sim.parity()).unwrap().unwrap();
        let desc = f.sensor().unwrap().desc.clone();
        (r, desc)
    };
    let (r0, desc) = read(&sim);
    let [w, h] = r0.size;
    let centre = |r: &ductile::sim::fem::sensor_image::SensorReadout, x: u32, y: u32| {
        f64::from(r.depth[(y * w + x) as usize])
    };
    let d0 = centre(&r0, w / 2, h / 2);
    eprintln!("rest depth on the axis {d0:.6} m");
    assert!((d0 - 0.019).abs() < 1e-6, "rest depth {d0}");
    let img0 = tactile_image(&desc.camera, &r0.depth, &desc.shading);
    let flat = img0[(h / 2 * w + w / 2) as usize];
    for y in (h / 4..3 * h / 4).step_by(7) {
        for x in (w / 4..3 * w / 4).step_by(7) {
            let c = img0[(y * w + x) as usize];
            assert!(
                (0..3).all(|k| (c[k] - flat[k]).abs() < 1e-3),
                "flat gel not uniform at ({x}, {y}): {c:?} vs {flat:?}"
            );
        }
    }
    assert!(r0.force.iter().all(|&f| f == 0.0), "{:?}", r0.force);
    // Pressed: 20 ms = 2000 substeps.
    sim.step(ctx, 2000);
    sim.check(ctx).unwrap();
    let (r1, _) = read(&sim);
    // The sphere's centre (x = 37 mm) seen from the camera (x = 40 mm).
    let cam = &desc.camera;
    let u = (cam.principal[0] + cam.focal[0] * (0.037 - 0.04) / 0.019).round() as u32;
    let v = h / 2;
    let dent = centre(&r0, u, v) - centre(&r1, u, v);
    eprintln!(
        "indentation seen at pixel ({u}, {v}): {dent:.6} m; force {:?}",
        r1.force
    );
    assert!((0.0006..0.00105).contains(&dent), "dent {dent}");
    let img1 = tactile_image(&desc.camera, &r1.depth, &desc.shading);
    let c = img1[(v * w + u) as usize];
    let moved = (0..3)
        .map(|k| (c[k] - flat[k]).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 0.02, "the image does not see the dent: {c:?}");
    assert!(r1.force[2] < -0.1, "normal force {:?}", r1.force);
    let peak = r1.pressure.iter().copied().fold(0.0, f64::max);
    let least = r1.pressure.iter().copied().fold(0.0, f64::min);
    eprintln!("pressure from {least:.3e} to {peak:.3e} Pa");
    assert!(
        peak > 1e3 && least > -0.1 * peak,
        "pressure {least} .. {peak}"
    );
}

/// System identification. Reference: the recorded markers of the press
/// and slide of `sensor_scene` (E = 2e4 Pa, μ = 0.4), at substeps 10, 20
/// and 30. Starting 2× off (E = 4e4 Pa, μ = 0.8), descent on the marker-track
/// loss in (ln E, ln μ) with a backtracking line search, its gradient from
/// the adjoint (f64), recovers both within 2 % (measured −0.001 % on E and
/// −0.002 % on μ after 15 iterations, 50 rollouts).
#[test]
fn markers_identify_youngs_modulus_and_friction() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let src = sensor_scene("Pinhole", false);
    // The recording.
    let (mut truth, fi) = rollout(ctx, &src);
    let mut rows = Vec::new();
    {
        let sim = &mut truth.sim;
        for k in 1..=3 {
            sim.step(ctx, 10);
            let m = sim
                .world
                .solver::<FemSolver>(fi)
                .unwrap()
                .sensor()
                .unwrap()
                .read_markers(ctx, sim.parity())
                .unwrap();
            rows.push((10 * k, m));
        }
    }
    let (mut r, _) = rollout(ctx, &src);
    let track = MarkerTrack::new(ctx, &r.sim, fi, r.steps(), &rows, 1.0).unwrap();
    r.add_loss_terms(Box::new(track));
    let set = |ctx: &GpuContext, r: &mut Rollout, th: [f64; 2]| {
        let f = r.sim.world.solver_mut::<FemSolver>(fi).unwrap();
        let nu = f.material().1;
        f.set_material(ctx, th[0].exp(), nu).unwrap();
        let [k, c, _] = f.contact();
        f.set_contact(ctx, k, c, th[1].exp());
        r.invalidate();
    };
    let mut th = [(4e4f64).ln(), (0.8f64).ln()];
    set(ctx, &mut r, th);
    let mut step = 0.2;
    let mut evals = 0;
    for it in 0..40 {
        let g = r.backward(ctx).unwrap();
        evals += 1;
        let f = r.sim.world.solver::<FemSolver>(fi).unwrap();
        let (e, mu) = (f.material().0, f.contact()[2]);
        let ge = g.solvers[fi].group("youngs_modulus_poisson_ratio").unwrap()[0] * e;
        let gm = g.solvers[fi]
            .group("contact_stiffness_damping_friction")
            .unwrap()[2]
            * mu;
        let norm = ge.hypot(gm);
        eprintln!(
            "it {it}: E {e:.2} μ {mu:.4} loss {:.3e} |g| {norm:.2e}",
            g.loss
        );
        if g.loss < 1e-10 || norm < 1e-12 {
            break;
        }
        // Backtracking along −g (in log space) from the last accepted step.
        let mut accepted = false;
        for _ in 0..20 {
            let trial = [th[0] - step * ge / norm, th[1] - step * gm / norm];
            set(ctx, &mut r, trial);
            let l = r.forward(ctx).unwrap();
            evals += 1;
            if l < g.loss - 1e-4 * step * norm {
                th = trial;
                accepted = true;
                step *= 1.5;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            set(ctx, &mut r, th);
            break;
        }
    }
    let (e, mu) = (th[0].exp(), th[1].exp());
    let (de, dm) = (e / 2e4 - 1.0, mu / 0.4 - 1.0);
    eprintln!(
        "identified E = {e:.2} Pa ({:+.3} %), μ = {mu:.4} ({:+.3} %) in {evals} evaluations",
        100.0 * de,
        100.0 * dm
    );
    assert!(de.abs() < 0.02 && dm.abs() < 0.02, "E {e}, μ {mu}");
}

/// Calibrating the tactile image's shading to a recorded image. Reference:
/// an image shaded by a quadratic polynomial of the normal (the calibrated
/// model's own form, with chosen coefficients, never clamped) is
/// reproduced exactly: the fit's RMS residual is f32 round-off (measured
/// 1.2e-8; bound 1e-6) and the image it shades matches the recording to
/// 1e-5 per pixel. (The GelSight lights clamp max(0, n·ℓ) on the pad's
/// side faces, which the polynomial only approximates: the CLI's fit of
/// `scenes/tactile_press.ron`'s own image leaves 4e-3.)
#[test]
fn the_tactile_shading_calibrates_to_a_recorded_image() {
    use ductile::sim::fem::sensor_image::{calibrate, tactile_image, Shading};
    let (ctx, _g) = gpu();
    let loaded = ductile::scene::load_scene(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/tactile_press.ron"),
    )
    .unwrap();
    let mut sim = ductile::sim::Simulation::new(ctx, &loaded, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let fi = sim.fem_solver(0).unwrap();
    sim.step(ctx, 2000);
    let f = sim.world.solver::<FemSolver>(fi).unwrap();
    let r = f.read_sensor(ctx, sim.parity()).unwrap().unwrap();
    let cam = f.sensor().unwrap().desc.camera.clone();
    let recorded = Shading {
        ambient: [0.0; 3],
        lights: Vec::new(),
        polynomial: Some([
            [0.5, 0.1, -0.05, 0.02, 0.08, -0.03, 0.01, 0.06, -0.04, 0.02],
            [
                0.4, -0.08, 0.09, -0.03, 0.02, 0.07, -0.02, -0.05, 0.03, 0.04,
            ],
            [0.45, 0.03, 0.05, 0.1, -0.06, 0.02, 0.03, 0.02, 0.07, -0.08],
        ]),
    };
    let reference = tactile_image(&cam, &r.depth, &recorded);
    let (coef, rms) = calibrate(&cam, &r.depth, &reference).unwrap();
    eprintln!("calibration RMS residual {rms:.2e}");
    assert!(rms < 1e-6, "RMS {rms}");
    let fitted = Shading {
        ambient: [0.0; 3],
        lights: Vec::new(),
        polynomial: Some(coef),
    };
    let again = tactile_image(&cam, &r.depth, &fitted);
    let worst = reference
        .iter()
        .zip(&again)
        .flat_map(|(a, b)| (0..3).map(move |k| (a[k] - b[k]).abs()))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "worst pixel error {worst}");
    // The dent is in the image: the recording is not one flat colour.
    let distinct: std::collections::HashSet<[u32; 3]> = reference
        .iter()
        .map(|c| c.map(|v| (v * 1000.0) as u32))
        .collect();
    assert!(distinct.len() > 20, "{} colours", distinct.len());
}

/// `scenes/gradcheck_tactile.ron` (a pad mounted on a descending, turning
/// holder presses an MPM ball while a sphere probe pushes its side; the
/// pad's sensor turns with it) with `loss` as its only loss term.
fn tactile_with_loss(loss: &str) -> ductile::scene::LoadedScene {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("scenes/gradcheck_tactile.ron")).unwrap();
    let start = src.find("    loss: [").expect("the scene has a loss");
    let end = start + src[start..].find("    ],\n").unwrap() + "    ],\n".len();
    scene(&format!(
        "{}    loss: [{loss}],\n{}",
        &src[..start],
        &src[end..]
    ))
}

/// The sensor's force target (`ContactForce`, `fem/sensor.wgsl`
/// `force_loss_eval` and its seed in `fem/sensor_adj.wgsl`), on a pad
/// touched by a tool and by MPM matter at once, its camera turning with
/// its holder (f64, 40 substeps, the checkpointed tape):
/// - the value it adds is |S (F − target)|² for the force the host readout
///   writes (`read_sensor`, camera axes), to 1e-12 relative;
/// - its gradients agree with central differences (reference) to better
///   than 1e-5 for the tools' controls (the holder's through the mount and
///   the sensor frame), the ball's initial positions and velocities (the
///   matter's force), the pad's E and ν, its tool contact's and its matter
///   contact's (k, c, μ) — each nonzero;
/// - a planted 5 % error in the seed fails the (E, ν) check by more than
///   1e-3.
#[test]
fn contact_force_loss_gradients_match_central_differences() {
    let (ctx, _g) = gpu();
    require_f64(ctx);
    let target = [0.05, 0.02, 0.3];
    let term = |axes: &str, when: &str| {
        format!(
            r#"(kind: ContactForce(target: ({}, {}, {}), axes: {axes}), body: "pad", weight: 2.0{when})"#,
            target[0], target[1], target[2]
        )
    };
    let new = |loaded: &ductile::scene::LoadedScene| {
        let r = Rollout::new(
            ctx,
            loaded,
            Some(Precision::F64),
            None,
            &TapeOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let fi = r.sim.fem_solver(0).unwrap();
        (r, fi)
    };

    // The value at the last substep against the host readout.
    let (mut r, fi) = new(&tactile_with_loss(&term("(true, false, true)", "")));
    let l = r.forward(ctx).unwrap();
    let read = r
        .sim
        .world
        .solver::<FemSolver>(fi)
        .unwrap()
        .read_sensor(ctx, r.sim.parity())
        .unwrap()
        .unwrap();
    let want = 2.0 * ((read.force[0] - target[0]).powi(2) + (read.force[2] - target[2]).powi(2));
    eprintln!(
        "force {:?} N: loss {l:.12e}, from the readout {want:.12e}",
        read.force
    );
    assert!(
        read.force.iter().map(|f| f.abs()).sum::<f64>() > 0.05,
        "the pad must be touched: {:?}",
        read.force
    );
    assert!((l - want).abs() <= 1e-12 * want, "{l} against {want}");

    // Gradients of a running force target.
    let (mut r, fi) = new(&tactile_with_loss(&term(
        "(true, true, true)",
        ", when: Running(from: 0, to: 40)",
    )));
    let g = r.backward(ctx).unwrap_or_else(|e| panic!("{e}"));
    let c = check_group(ctx, &mut r, &g, ParamGroup::Control, &[1e-6, 1e-7], 5).unwrap();
    eprintln!(
        "tool controls adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
        c.adjoint,
        c.best().fd,
        c.best().rel_error
    );
    assert!(
        c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
        "tool controls: {c:?}"
    );
    for (group, eps) in [
        (ParamGroup::InitialPosition, &[1e-6, 1e-7][..]),
        (ParamGroup::InitialVelocity, &[1e-5, 1e-6][..]),
    ] {
        let c = check_group(ctx, &mut r, &g, group, eps, 5).unwrap();
        eprintln!(
            "ball {:<24} adjoint {:+.9e}  fd {:+.9e}  rel {:.1e}",
            group.name(),
            c.adjoint,
            c.best().fd,
            c.best().rel_error
        );
        assert!(
            c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
            "{}: {c:?}",
            group.name()
        );
    }
    for (name, eps) in [
        ("youngs_modulus_poisson_ratio", &[1e-5, 1e-6][..]),
        ("contact_stiffness_damping_friction", &[1e-5, 1e-6][..]),
    ] {
        let c = crate::fem::check_fem_group(ctx, &mut r, fi, &g, name, eps);
        assert!(c.adjoint.abs() > 1e-12, "{name}: zero gradient");
        assert!(c.best().rel_error < 1e-5, "{name}: {c:?}");
    }
    let c = crate::fem_matter::check_matter_group(ctx, &mut r, &g, &[1e-4, 1e-5]);
    assert!(
        c.adjoint.abs() > 1e-12 && c.best().rel_error < 1e-5,
        "matter (k, c, mu): {c:?}"
    );

    // A planted error in the seed.
    let (mut bad_r, fi) = new(&tactile_with_loss(""));
    let factors: Vec<f64> = (0..=bad_r.steps())
        .map(|s| if s == 0 { 0.0 } else { 1.0 / 40.0 })
        .collect();
    let term = ForceTarget::new(ctx, &bad_r.sim, fi, factors, target, [true; 3], 2.0)
        .unwrap_or_else(|e| panic!("{e}"));
    term.plant_adjoint_error(ctx, 1.05);
    bad_r.add_loss_terms(Box::new(term));
    let bad = bad_r.backward(ctx).unwrap();
    let c = crate::fem::check_fem_group(
        ctx,
        &mut bad_r,
        fi,
        &bad,
        "youngs_modulus_poisson_ratio",
        &[1e-5, 1e-6],
    );
    assert!(
        c.best().rel_error > 1e-3,
        "a planted force-loss error passed: {c:?}"
    );
}
