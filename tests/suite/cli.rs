//! The `ductile` command as a user meets it: every shipped scene runs and
//! writes its outputs; bad scenes, unstable runs and requests beyond the
//! adapter's limits end with the documented errors and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ductile() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ductile"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `ductile run` on `scene` with extra args; returns (exit code, stderr).
fn run(scene: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = ductile()
        .arg("run")
        .arg(scene)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("ductile runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every scene in `scenes/` runs for one frame and writes PLY, NPY, PNG and
/// a summary; a scene with MPM matter moves particles, one with a tactile
/// sensor writes every sensor output.
#[test]
fn every_shipped_scene_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut scenes: Vec<PathBuf> = std::fs::read_dir(root().join("scenes"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    scenes.sort();
    assert!(
        scenes.len() >= 5,
        "expected the five shipped scenes, found {scenes:?}"
    );
    for scene in scenes {
        let name = scene.file_stem().unwrap().to_string_lossy().to_string();
        let out = dir.path().join(&name);
        let (code, err) = run(&scene, &out, &["--frames", "1"]);
        assert_eq!(code, 0, "{name} failed:\n{err}");
        for f in [
            "ply/frame_00000.ply",
            "ply/frame_00001.ply",
            "npy/frame_00001_x.npy",
            "npy/body.npy",
            "png/frame_00001.png",
            "summary.json",
        ] {
            assert!(out.join(f).exists(), "{name}: missing {f}");
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["status"], "ok", "{name}");
        // Every FEM body with a sensor writes every sensor output.
        let loaded = ductile::scene::load_scene(&scene).unwrap();
        for f in loaded.scene.fem.iter().filter(|f| f.sensor.is_some()) {
            let pad = &f.name;
            for f in [
                format!("ply/{pad}/frame_00001.ply"),
                format!("npy/{pad}/frame_00001_markers.npy"),
                format!("npy/{pad}/frame_00001_pressure.npy"),
                format!("npy/{pad}/frame_00001_shear.npy"),
                format!("npy/{pad}/frame_00001_depth.npy"),
                format!("png/{pad}/frame_00001_tactile.png"),
                format!("png/{pad}/frame_00001_depth.png"),
                format!("sensor_{pad}.csv"),
            ] {
                assert!(out.join(&f).exists(), "{name}: missing {f}");
            }
            let csv = std::fs::read_to_string(out.join(format!("sensor_{pad}.csv"))).unwrap();
            assert_eq!(
                csv.lines().count(),
                3,
                "{name}, {pad}: header and frames 0, 1:\n{csv}"
            );
        }
        if summary["particles"].as_u64().unwrap() > 0 {
            assert!(summary["particle_steps_per_s"].as_f64().unwrap() > 0.0);
            // (The summary's mass is a per-body constant: comparing start and
            // end could not fail. The grid's mass is checked in mpm_invariants.)
            assert!(
                summary["start"]["mass_kg"].as_f64().unwrap() > 0.0,
                "{name}"
            );
        }
        // The solvers list names MPM with every particle.
        assert_eq!(summary["solvers"][0]["name"], "mpm", "{name}");
        assert_eq!(
            summary["solvers"][0]["points"], summary["particles"],
            "{name}"
        );
        let img = image::open(out.join("png/frame_00001.png"))
            .unwrap()
            .to_rgba8();
        let distinct: std::collections::HashSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
        assert!(distinct.len() > 20, "{name}: picture looks blank");
    }
}

fn write_scene(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "Scene(
    name: \"t\",
    domain: (cells: (16, 16, 16), dx: 0.02),
    time: (dt: 1e-4, substeps: 10, frames: 2),
    bodies: [
        (
            name: \"jelly\",
            shape: Box(min: (0.1, 0.1, 0.1), max: (0.2, 0.2, 0.2)),
            material: NeoHookean(density: 1000.0, youngs_modulus: 1e5, poisson_ratio: 0.3),
        ),
    ],
    output: (png: false),
)
";

/// Bad scenes exit non-zero with `file:line:col: field = value: must be …`.
#[test]
fn bad_scenes_report_file_line_field_value_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // (replace this, with this, expected fragments)
        (
            "youngs_modulus: 1e5",
            "youngs_modulus: -5.0",
            vec![":9:", "bodies[0].material.youngs_modulus", "-5", "> 0"],
        ),
        (
            "youngs_modulus: 1e5",
            "youngs_modulus: NaN",
            vec![":9:", "bodies[0].material.youngs_modulus", "NaN"],
        ),
        ("dt: 1e-4", "dt: 1.0", vec![":4:", "time.dt", "1", "0.01"]),
        (
            "dx: 0.02",
            "dx: 0.02, spacing: 3",
            vec![":3:", "spacing", "allowed fields"],
        ),
        (
            "max: (0.2, 0.2, 0.2)",
            "max: (0.2, 0.9, 0.2)",
            vec!["bodies[0].shape", "domain"],
        ),
    ];
    for (from, to, expect) in cases {
        let text = GOOD.replace(from, to);
        assert_ne!(text, GOOD);
        let p = write_scene(dir.path(), "bad.ron", &text);
        let (code, err) = run(&p, &dir.path().join("out"), &[]);
        assert_ne!(code, 0, "{to}: accepted");
        assert!(err.contains("bad.ron:"), "{to}: no file in {err}");
        for e in expect {
            assert!(err.contains(e), "{to}: `{e}` missing from:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    // `validate` reports the same without running.
    let p = write_scene(
        dir.path(),
        "bad.ron",
        &GOOD.replace("poisson_ratio: 0.3", "poisson_ratio: 0.5"),
    );
    let o = ductile().arg("validate").arg(&p).output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bodies[0].material.poisson_ratio = 0.5"),
        "{err}"
    );
}

/// A run that blows up stops with the step, body and particle named, exits 2,
/// and keeps the frames it had already written and the summary.
#[test]
fn unstable_run_names_step_and_body_and_keeps_frames() {
    let dir = tempfile::tempdir().unwrap();
    // A stiff solid with a time step far above its stability limit.
    let text = GOOD
        .replace("youngs_modulus: 1e5", "youngs_modulus: 1e11")
        .replace("substeps: 10, frames: 2", "substeps: 10, frames: 50")
        .replace(
            "shape: Box",
            "velocity: (0.0, -1.0, 0.0),\n            shape: Box",
        );
    let p = write_scene(dir.path(), "boom.ron", &text);
    let out = dir.path().join("out");
    let (code, err) = run(&p, &out, &["--frames", "50"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unstable at substep"), "{err}");
    assert!(err.contains("body `jelly`"), "{err}");
    assert!(out.join("ply/frame_00000.ply").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["status"].as_str().unwrap().contains("unstable"),
        "{summary}"
    );
}

/// Requests beyond the adapter's buffer limits are refused before allocating,
/// with the size asked for and the limit: a grid too large (8.6 GB), and
/// bodies with too many particles (77 million: 4.9 GB of payload, past any
/// adapter's 4 GiB binding limit), counted before any is sampled. (Sampling
/// first, a 16.8-million-particle scene took 12.6 s and 4.3 GB of host
/// memory on llvmpipe before it was refused; counting takes 0.1 s.)
#[test]
fn over_limit_request_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let grid = GOOD.replace("cells: (16, 16, 16)", "cells: (1024, 1024, 512)");
    let slab = |z0: f64| {
        format!(
            "(name: \"s{z0}\", shape: Box(min: (0.1, 0.1, {z0}), max: (0.6, 0.6, {})), particles_per_cell: 64,
              material: NeoHookean(density: 1000.0, youngs_modulus: 1e5, poisson_ratio: 0.3))",
            z0 + 0.2
        )
    };
    let particles = format!(
        "Scene(domain: (cells: (200, 200, 200), dx: 0.005), time: (dt: 1e-5, substeps: 1, frames: 1),
           bodies: [{}, {}, {}], output: (png: false))",
        slab(0.05),
        slab(0.3),
        slab(0.55)
    );
    for (name, text, what) in [
        ("grid", grid, "grid"),
        ("particles", particles, "particle payload"),
    ] {
        let p = write_scene(dir.path(), &format!("{name}.ron"), &text);
        let (code, err) = run(&p, &dir.path().join(name), &[]);
        assert_ne!(code, 0);
        assert!(
            err.contains("asked for") && err.contains("allows at most"),
            "{err}"
        );
        assert!(err.contains(what), "{err}");
    }
}

/// Runs `ductile` with `args`; returns (exit code, stdout, stderr).
fn cmd(args: &[&str]) -> (i32, String, String) {
    let o = ductile().args(args).output().expect("ductile runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `ductile gradcheck` prints a row per group and passes on the shipped scene.
#[test]
fn gradcheck_command_reports_each_group() {
    let scene = root().join("scenes/gradcheck_contact.ron");
    let (code, out, err) = cmd(&[
        "gradcheck",
        scene.to_str().unwrap(),
        "--groups",
        "v0,control,material",
        "--eps",
        "1e-4,1e-5",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    for row in [
        "initial velocities",
        "tool controls",
        "material of body 0",
        "all groups pass",
        "tape: 30 substeps",
    ] {
        assert!(out.contains(row), "missing `{row}` in:\n{out}");
    }
}

/// `ductile gradcheck` on the shipped tactile scene checks the FEM groups
/// the tactile issue names, each with its contact active: the pad's E and
/// ν, its tool contact (k, c, μ), its contact with MPM matter (k, c, μ),
/// beside the tools' controls (the holder's reach the pad through its
/// mount) and the ball's material; every group passes at 1e-4 (measured
/// 1.8e-9 to 9e-9 for these, nonzero gradients).
#[test]
fn gradcheck_checks_the_tactile_groups() {
    let scene = root().join("scenes/gradcheck_tactile.ron");
    let (code, out, err) = cmd(&[
        "gradcheck",
        scene.to_str().unwrap(),
        "--jitter",
        "--groups",
        "control,material,fem-material,fem-contact,fem-matter",
        "--eps",
        "1e-4,1e-5,1e-6",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    for row in [
        "tool controls",
        "material of body 0",
        "fem[0] E and ν",
        "fem[0] tool contact k, c, μ",
        "fem[0] matter contact k, c, μ",
        "all groups pass",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("missing `{row}` in:\n{out}"));
        if row != "all groups pass" {
            // A nonzero adjoint: the contact is active.
            let adjoint: f64 = line[row.len()..]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            assert!(adjoint.abs() > 1e-12, "{row}: zero gradient in:\n{out}");
        }
    }
}

/// `ductile calibrate` fits the tactile shading to a recorded image: on
/// the image `ductile run` wrote of the same scene and frame, it prints a
/// `shading` with a polynomial and an RMS residual below 0.01 (the
/// lights' clamping and 8-bit quantisation; measured 4e-3); an image of
/// the wrong size is refused naming both sizes.
#[test]
fn calibrate_fits_the_shading_to_a_recorded_image() {
    let dir = tempfile::tempdir().unwrap();
    let scene = root().join("scenes/tactile_press.ron");
    let out = dir.path().join("run");
    let (code, err) = run(&scene, &out, &["--frames", "2"]);
    assert_eq!(code, 0, "{err}");
    let png = out.join("png/pad/frame_00002_tactile.png");
    let (code, stdout, err) = cmd(&[
        "calibrate",
        scene.to_str().unwrap(),
        "--reference",
        png.to_str().unwrap(),
        "--frame",
        "2",
    ]);
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(stdout.contains("polynomial: Some(("), "{stdout}");
    let rms: f64 = stdout
        .split("RMS residual ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no residual in {stdout}"));
    assert!(rms < 0.01, "residual {rms}");
    let depth = out.join("png/pad/frame_00002_depth.png");
    image::open(out.join("png/frame_00002.png"))
        .unwrap()
        .save(depth.with_file_name("other.png"))
        .unwrap();
    let (code, _, err) = cmd(&[
        "calibrate",
        scene.to_str().unwrap(),
        "--reference",
        depth.with_file_name("other.png").to_str().unwrap(),
        "--frame",
        "2",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("320 × 240"), "{err}");
}

/// The shipped ice-cream scene is mirror-symmetric, and its cone sits on a
/// grid node: contact kinks lie exactly at the checked point, so its
/// tool-control check fails as shipped (central differences average the
/// two one-sided slopes; the adjoint takes one) and passes with `--jitter`,
/// which nudges the particles and the tool's path by 1e-3·dx.
#[test]
fn gradcheck_jitter_moves_a_symmetric_scene_off_its_kinks() {
    let scene = root().join("scenes/ice_cream.ron");
    let check = |extra: &[&str]| {
        let mut args = vec![
            "gradcheck",
            scene.to_str().unwrap(),
            "--steps",
            "200",
            "--groups",
            "control",
            "--eps",
            "1e-4,1e-5,1e-6",
        ];
        args.extend_from_slice(extra);
        cmd(&args)
    };
    let (code, out, err) = check(&[]);
    assert_eq!(code, 3, "as shipped the check fails:\n{out}\n{err}");
    let (code, out, err) = check(&["--jitter"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("jittered") && out.contains("all groups pass"),
        "{out}"
    );
}

/// Differentiating with too small a memory budget is refused with the
/// minimum named.
#[test]
fn gradcheck_refuses_what_it_cannot_do() {
    let scene = root().join("scenes/gradcheck_contact.ron");
    let (code, _, err) = cmd(&[
        "gradcheck",
        scene.to_str().unwrap(),
        "--memory-budget",
        "10KiB",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot hold") && err.contains("needs"),
        "{err}"
    );
}

/// `ductile bench` reports throughput with per-pass GPU times, and
/// `ductile bench --render` the frame rate of packing and drawing every
/// particle after 0 and 1 substeps per frame; a malformed list is refused
/// with the flag and the value named.
#[test]
fn bench_commands_report_what_they_measured() {
    let dir = tempfile::tempdir().unwrap();
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let step_json = dir.path().join("step.json");
    let (code, out, err) = cmd(&[
        "bench",
        "--sizes",
        "32k",
        "--materials",
        "fluid",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--json",
        step_json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let doc = read(&step_json);
    let r = &doc["results"][0];
    assert_eq!(r["particles"], 32768, "{doc}");
    assert!(r["particle_steps_per_s"].as_f64().unwrap() > 0.0, "{doc}");
    if r["timestamps"].as_bool().unwrap() {
        for pass in ["p2g_scatter", "grid_update", "g2p"] {
            let ms = r["gpu_ms_per_substep_by_pass"][pass].as_f64();
            assert!(ms.is_some_and(|t| t > 0.0), "no time for {pass}: {doc}");
        }
    }

    let render_json = dir.path().join("render.json");
    let (code, out, err) = cmd(&[
        "bench",
        "--render",
        "--sizes",
        "32k",
        "--materials",
        "fluid",
        "--frames",
        "2",
        "--frame-substeps",
        "0,1",
        "--width",
        "64",
        "--height",
        "48",
        "--json",
        render_json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let doc = read(&render_json);
    let frames = doc["results"][0]["frames"].as_array().unwrap();
    let substeps: Vec<u64> = frames
        .iter()
        .map(|f| f["substeps_per_frame"].as_u64().unwrap())
        .collect();
    assert_eq!(substeps, [0, 1], "{doc}");
    for f in frames {
        assert_eq!(f["particles_drawn"], 32768, "{doc}");
        assert_eq!(f["frames"], 2, "{doc}");
        assert!(f["frames_per_s"].as_f64().unwrap() > 0.0, "{doc}");
    }

    for (bad, named) in [("1,x", "`x`"), ("301", "`301`"), (",", "`,`")] {
        let (code, _, err) = cmd(&["bench", "--render", "--frame-substeps", bad]);
        assert_ne!(code, 0, "--frame-substeps {bad} was accepted");
        assert!(
            err.contains("--frame-substeps") && err.contains(named),
            "{err}"
        );
    }
    let (code, _, err) = cmd(&["bench", "--render", "--frames", "0"]);
    assert_ne!(code, 0);
    assert!(err.contains("--frames"), "{err}");
}

/// Whether the PNG at `path` shows something (not every pixel alike).
fn png_has_content(path: &Path) -> bool {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgba8();
    let first = *img.get_pixel(0, 0);
    img.pixels().any(|p| *p != first)
}

/// `ductile optimize` on a short throw task writes the loss curve, the best
/// controls, a summary and renders of the initial and best rollouts, and
/// lowers the loss; `--no-render` writes no renders.
#[test]
fn optimize_command_writes_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("throw_short.ron");
    std::fs::write(
        &task,
        format!(
            "Task(scene: \"{}\", steps: 12,
                  controls: [InitialVelocity(body: 0, init: (1.0, 1.0, 0.0), min: (-3.0, -3.0, -3.0), max: (3.0, 3.0, 3.0))],
                  optimizer: GradientDescent(learning_rate: 0.1, iterations: 2))",
            root().join("scenes/throw.ron").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = cmd(&[
        "optimize",
        task.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--render-frames",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    for f in [
        "loss.csv",
        "loss.png",
        "best_controls.ron",
        "best_controls.npy",
        "summary.json",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    // The initial state and 2 frames of each rollout.
    for dir in ["render_initial", "render_best"] {
        for i in 0..3 {
            let png = out.join(dir).join(format!("frame_{i:04}.png"));
            assert!(png_has_content(&png), "{} is blank", png.display());
        }
        assert!(!out.join(dir).join("frame_0003.png").exists());
        // Particle frames that `ductile view` replays.
        for i in 0..3 {
            assert!(out
                .join(dir)
                .join(format!("npy/frame_{i:05}_x.npy"))
                .exists());
        }
        assert!(out.join(dir).join("npy/body.npy").exists());
        assert!(out.join(dir).join("summary.json").exists());
    }
    // `ductile view OUT` opens the optimisation as its two rollouts.
    let shots = dir.path().join("shots");
    let view = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_ductile"))
        .arg("view")
        .arg(&out)
        .arg("--screenshot")
        .arg(&shots)
        .current_dir(root())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("xvfb-run starts");
    assert!(
        view.status.success(),
        "ductile view {}: {}",
        out.display(),
        String::from_utf8_lossy(&view.stderr)
    );
    for name in ["render_initial", "render_best"] {
        let png = shots.join(format!("{name}.png"));
        assert!(png_has_content(&png), "{} is blank", png.display());
    }
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    let losses: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(losses.len(), 3);
    assert!(losses[2] < losses[0], "{losses:?}");

    let bare = dir.path().join("bare");
    let (code, _, err) = cmd(&[
        "optimize",
        task.to_str().unwrap(),
        "--out",
        bare.to_str().unwrap(),
        "-q",
        "--iterations",
        "0",
        "--no-render",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(bare.join("summary.json").exists());
    for f in ["render_initial", "render_best", "initial.mp4", "best.mp4"] {
        assert!(!bare.join(f).exists(), "--no-render wrote {f}");
    }
}

/// Every shipped task file parses; a bad one is reported with its location.
#[test]
fn task_files_validate_and_bad_ones_are_located() {
    for entry in std::fs::read_dir(root().join("scenes/tasks")).unwrap() {
        let p = entry.unwrap().path();
        ductile::opt::load_task(&p).unwrap_or_else(|e| panic!("{e}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        "Task(scene: \"x.ron\",\n  controls: [Material(body: 0, param: YoungsModulus, min: 5.0, max: 1.0)],\n  optimizer: Adam(learning_rate: 0.1, iterations: 3))",
    )
    .unwrap();
    let (code, _, err) = cmd(&["optimize", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.ron:2:") && err.contains("controls[0].max"),
        "{err}"
    );
}

/// The shipped tasks, in the groups that the tests below run in parallel.
const TASK_GROUPS: [&[&str]; 3] = [
    &[
        "bounce",
        "grasp",
        "push",
        "push_hybrid",
        "sand_spread",
        "squeeze",
        "sysid",
        "throw",
    ],
    &[
        "dam_viscosity",
        "gathering",
        "mixing",
        "pouring",
        "scooping",
        "tactile_plasticine",
        "tactile_repose",
    ],
    &[
        "fill_cup",
        "ice_cream",
        "latte_art",
        "transporting",
        "tactile_follow",
    ],
];

/// Every task file in `scenes/tasks` belongs to exactly one test group.
#[test]
fn every_shipped_task_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("scenes/tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    found.sort();
    let mut listed: Vec<String> = TASK_GROUPS.concat().iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

/// Each task of a group, run for two iterations (CMA-ES generations and
/// gradient iterations alike) on a short rollout, lowers its loss and
/// writes its outputs.
fn tasks_improve_in_two_iterations(group: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    for name in group {
        let task = root().join("scenes/tasks").join(format!("{name}.ron"));
        let out = dir.path().join(name);
        // Long enough for the controls to act on the measured body: 40
        // substeps for the solver tasks (the grasp's pads close on the
        // block within them), 10 or 20 for the fluid ones
        // (10–20 ms), and 100 for the cream, which needs 0.05 s to fall
        // onto the cone; 200 for the sand column to start spreading and
        // 120 for the dam break's loss window (from substep 100), 300 for
        // the tactile force target's (from 200).
        let steps = match *name {
            "ice_cream" => "100",
            "bounce" | "grasp" | "push" | "push_hybrid" | "squeeze" | "sysid" | "throw" => "40",
            "sand_spread" => "200",
            "dam_viscosity" => "120",
            // (its force target starts at substep 200)
            "tactile_follow" => "300",
            // (the pads' squeeze shapes the cube within 2 ms; the pad
            // reaches the block after 5 ms and tilts it)
            "tactile_plasticine" => "100",
            "tactile_repose" => "800",
            "mixing" | "fill_cup" => "20",
            _ => "10",
        };
        let (code, _, err) = cmd(&[
            "optimize",
            task.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--iterations",
            "2",
            "--steps",
            steps,
            "--no-render",
        ]);
        assert_eq!(code, 0, "{name}: {err}");
        for f in [
            "loss.csv",
            "loss.png",
            "best_controls.ron",
            "best_controls.npy",
            "summary.json",
            "progress.json",
        ] {
            assert!(out.join(f).exists(), "{name}: missing {f}");
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        let (l0, lb) = (
            summary["initial_loss"].as_f64().unwrap(),
            summary["best_loss"].as_f64().unwrap(),
        );
        eprintln!("{name}: {l0:.4e} -> {lb:.4e}");
        assert!(lb < l0, "{name}: the loss did not go down ({l0} -> {lb})");
        // The summary says where and how the rollouts ran (sand_spread's
        // task asks for f64).
        assert!(
            !summary["adapter"]["name"].as_str().unwrap().is_empty(),
            "{name}"
        );
        let precision = if *name == "sand_spread" { "F64" } else { "F32" };
        assert_eq!(summary["precision"], precision, "{name}");
    }
}

#[test]
fn solver_tasks_improve_in_two_iterations() {
    tasks_improve_in_two_iterations(TASK_GROUPS[0]);
}

/// The fluid tasks, the plasticine grasp and the block repose.
#[test]
fn fluid_tasks_improve_in_two_iterations() {
    tasks_improve_in_two_iterations(TASK_GROUPS[1]);
}

/// The emitter tasks, the cup task and the tactile force target.
#[test]
fn emitter_and_cup_tasks_improve_in_two_iterations() {
    tasks_improve_in_two_iterations(TASK_GROUPS[2]);
}

/// A scene with an FEM body runs from the command line: the pad's nodes are
/// written as NPY and its surface as a PLY mesh per frame, beside the MPM
/// particles, and the summary lists both solvers.
#[test]
fn run_writes_every_solver() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("pad.ron");
    let text = std::fs::read_to_string(root().join("tests/suite/fem_scene.ron")).unwrap();
    std::fs::write(&scene, text).unwrap();
    let out = dir.path().join("out");
    let (code, err) = run(&scene, &out, &[]);
    assert_eq!(code, 0, "{err}");
    for f in [
        "npy/pad/frame_00002_x.npy",
        "ply/pad/frame_00002.ply",
        "npy/frame_00002_x.npy",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["solvers"][1]["name"], "pad");
    assert_eq!(summary["solvers"][1]["points"], 27);
    let ply = std::fs::read(out.join("ply/pad/frame_00002.ply")).unwrap();
    let header = String::from_utf8_lossy(&ply[..200.min(ply.len())]).to_string();
    // A 2 × 2 × 2-cell box: 4 boundary squares per face, 2 triangles each.
    assert!(
        header.contains("element vertex 27") && header.contains("element face 48"),
        "{header}"
    );
    // The viewer's replay reads the pad's surface back, frame by frame.
    let rec = ductile_viewer::replay::load_run(&out).unwrap();
    assert_eq!(rec.surfaces.len(), rec.frames.len());
    let last = rec.surfaces.last().unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].solver, "pad");
    assert_eq!((last[0].vertices.len(), last[0].triangles.len()), (27, 144));
    // It moved: the pad started with a sideways velocity.
    assert_ne!(rec.surfaces[0][0].vertices, last[0].vertices);
}

/// Time-step advice: a stiff jelly at dt = 5e-3 s (far above its Courant
/// step dx/c ≈ 2e-4 s) gets a warning from `ductile validate` naming the
/// body, its estimate and what sets it, and a run of it blows up with that
/// advice as the hint instead of a suggestion to add walls; no shipped
/// scene gets a warning.
#[test]
fn a_step_too_long_is_named_with_its_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("jelly.ron");
    std::fs::write(
        &scene,
        r#"Scene(
    name: "jelly",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2),
    time: (dt: 5e-3, substeps: 10, frames: 2),
    bodies: [(
        name: "jelly",
        shape: Box(min: (0.3, 0.3, 0.3), max: (0.6, 0.6, 0.6)),
        material: NeoHookean(density: 1000.0, youngs_modulus: 1e8, poisson_ratio: 0.3),
    )],
)"#,
    )
    .unwrap();
    let o = ductile().arg("validate").arg(&scene).output().unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: bodies[0] `jelly`: the stable step is about")
            && err.contains("wave speed"),
        "{err}"
    );
    let (code, err) = run(&scene, &dir.path().join("out"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("dt = 5e-3 s is too long") && !err.contains("add walls"),
        "{err}"
    );
    // The shipped scenes sit below their estimates.
    for e in std::fs::read_dir(root().join("scenes")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ron") {
            let l = ductile::scene::load_scene(&p).unwrap();
            let advice = ductile::sim::material::time_step_advice(&l.scene);
            assert!(advice.is_empty(), "{}: {advice:?}", p.display());
        }
    }
}
