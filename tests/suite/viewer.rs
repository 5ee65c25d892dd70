//! `ductile view` in a real window: under Xvfb, with the software driver,
//! the viewer opens every shipped scene, steps it, and screenshots the whole
//! window. Each picture must show something in the 3-D view, and each body
//! where its particles are: the body's centroid, projected with the camera
//! the viewer reports, lands on a pixel that is not background.

use ductile::render::Camera;
use glam::{Vec3, Vec4};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vec3(v: &serde_json::Value) -> Vec3 {
    Vec3::new(
        v[0].as_f64().unwrap() as f32,
        v[1].as_f64().unwrap() as f32,
        v[2].as_f64().unwrap() as f32,
    )
}

/// Runs `ductile view ARGS` under Xvfb from the repository root and
/// requires it to succeed.
fn view(args: &[std::ffi::OsString]) {
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_ductile"))
        .arg("view")
        .args(args)
        .current_dir(root())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("xvfb-run starts");
    assert!(
        out.status.success(),
        "ductile view failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn viewer_draws_every_shipped_scene_where_its_bodies_are() {
    // scripts/test.sh installs Xvfb when it is missing.
    let xvfb = Command::new("xvfb-run").arg("--help").output();
    assert!(
        xvfb.is_ok(),
        "xvfb-run not found: install the Debian packages xvfb and xauth (scripts/test.sh does)"
    );
    let mut scenes: Vec<PathBuf> = std::fs::read_dir(root().join("scenes"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    scenes.sort();
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<std::ffi::OsString> = scenes.iter().map(|p| p.into()).collect();
    args.extend([
        "--screenshot".into(),
        dir.path().into(),
        "--frames".into(),
        "1".into(),
    ]);
    view(&args);
    for scene in &scenes {
        let name = scene.file_stem().unwrap().to_string_lossy().to_string();
        let png = dir.path().join(format!("{name}.png"));
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(png.with_extension("json"))
                .unwrap_or_else(|e| panic!("{name}: no screenshot info: {e}")),
        )
        .unwrap();
        let img = image::open(&png)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .to_rgba8();
        let r: Vec<f32> = info["view_rect_px"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let (x0, y0, x1, y1) = (r[0], r[1], r[2], r[3]);
        assert!(x1 - x0 > 100.0 && y1 - y0 > 100.0, "{name}: view {r:?}");
        assert!(x1 <= img.width() as f32 + 1.0 && y1 <= img.height() as f32 + 1.0);
        let px = |x: f32, y: f32| {
            let p = img.get_pixel(
                (x as u32).min(img.width() - 1),
                (y as u32).min(img.height() - 1),
            );
            Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32)
        };
        // Not blank: the view holds many distinct colours.
        let mut colours = std::collections::HashSet::new();
        for y in (y0 as u32..y1 as u32).step_by(3) {
            for x in (x0 as u32..x1 as u32).step_by(3) {
                colours.insert(img.get_pixel(x, y).0);
            }
        }
        assert!(
            colours.len() > 200,
            "{name}: view nearly blank ({} colours)",
            colours.len()
        );
        // Background: the renderer's vertical gradient, read off the view's right edge.
        let top = px(x1 - 3.0, y0 + 2.0);
        let bottom = px(x1 - 3.0, y1 - 3.0);
        let background = |y: f32| top + (bottom - top) * ((y - y0) / (y1 - y0));
        let c = &info["camera"];
        let cam = Camera {
            eye: vec3(&c["eye"]),
            target: vec3(&c["target"]),
            up: vec3(&c["up"]),
            fov_y_deg: c["fov_y_deg"].as_f64().unwrap() as f32,
            width: c["width"].as_u64().unwrap() as u32,
            height: c["height"].as_u64().unwrap() as u32,
        };
        let bodies = info["bodies"].as_array().unwrap();
        assert!(!bodies.is_empty(), "{name}: no bodies reported");
        // A scene with a tactile sensor shows its panel: the live tactile
        // image (many colours) with the marker arrows, and the force.
        let text = std::fs::read_to_string(scene).unwrap();
        if text.contains("sensor:") {
            let t = &info["tactile"];
            assert!(
                t["markers"].as_u64().unwrap_or(0) > 0,
                "{name}: tactile panel {t}"
            );
            assert_eq!(
                t["force_n"].as_array().map(Vec::len),
                Some(3),
                "{name}: {t}"
            );
            let r: Vec<f32> = t["image_rect_px"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no tactile image: {t}"))
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert!(
                r[2] - r[0] > 50.0 && r[3] - r[1] > 30.0,
                "{name}: tactile image {r:?}"
            );
            let mut colours = std::collections::HashSet::new();
            for y in (r[1] as u32..r[3] as u32).step_by(2) {
                for x in (r[0] as u32..r[2] as u32).step_by(2) {
                    if x < img.width() && y < img.height() {
                        colours.insert(img.get_pixel(x, y).0);
                    }
                }
            }
            assert!(
                colours.len() > 20,
                "{name}: tactile image nearly blank ({} colours)",
                colours.len()
            );
        } else {
            assert!(
                info["tactile"].is_null(),
                "{name}: a tactile panel without a sensor"
            );
        }
        // Scenes with a loss plot it over time: at least the first frame's value.
        // A recorded-positions term needs its reference NPY, which a task
        // writes (sysid): without it the plot is replaced by the reason.
        let loss = ductile::scene::load_scene(scene).unwrap().scene.loss;
        let needs_file = loss
            .iter()
            .any(|t| matches!(t.kind, ductile::scene::LossKind::ParticlePositions { .. }));
        let losses = info["loss_samples"].as_array().unwrap();
        match info["loss_error"].as_str() {
            Some(e) => assert!(
                needs_file && e.contains(".npy"),
                "{name}: loss plot failed: {e}"
            ),
            None => assert_eq!(
                !losses.is_empty(),
                !loss.is_empty(),
                "{name}: loss samples {losses:?}"
            ),
        }
        for l in losses {
            let v = l[1].as_f64().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{name}: loss sample {l:?}");
        }
        for b in bodies {
            let p = cam.view_proj() * vec3(&b["centroid_m"]).extend(1.0);
            let ndc: Vec4 = p / p.w;
            let sx = x0 + (ndc.x * 0.5 + 0.5) * (x1 - x0);
            let sy = y0 + (0.5 - ndc.y * 0.5) * (y1 - y0);
            assert!(
                sx > x0 && sx < x1 && sy > y0 && sy < y1,
                "{name}: body {} projects outside the view ({sx}, {sy})",
                b["name"]
            );
            // Some pixel within 3 px of the projected centroid is not background.
            let mut best = 0.0f32;
            for dy in -3..=3 {
                for dx in -3..=3 {
                    let (x, y) = (sx + dx as f32, sy + dy as f32);
                    let d = (px(x, y) - background(y)).abs();
                    best = best.max(d.x + d.y + d.z);
                }
            }
            assert!(
                best > 60.0,
                "{name}: nothing drawn at body {}'s centroid ({sx:.0}, {sy:.0}); colour distance to background {best}",
                b["name"]
            );
        }
    }
}

/// `ductile view --color gradient` colours the throw scene's ball by
/// |∂L/∂x₀|: the colour scale the viewer reports is the 99th percentile of
/// the per-particle gradient magnitudes that a rollout computed here gives
/// (same device and kernels), and the ball is drawn in more than one colour.
#[test]
fn viewer_colours_particles_by_the_loss_gradient() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("throw.png");
    let mut args: Vec<std::ffi::OsString> = [
        "scenes/throw.ron",
        "--color",
        "gradient",
        "--frames",
        "1",
        "--screenshot",
    ]
    .iter()
    .map(|a| a.into())
    .collect();
    args.push(png.clone().into());
    view(&args);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(png.with_extension("json")).unwrap())
            .unwrap();
    assert!(
        info["gradient_error"].is_null(),
        "{}",
        info["gradient_error"]
    );
    let shown = info["gradient_color_scale"]
        .as_f64()
        .expect("a gradient scale");

    let (ctx, _g) = crate::common::gpu();
    let loaded = ductile::scene::load_scene(&root().join("scenes/throw.ron")).unwrap();
    let mut r = ductile::sim::Rollout::new(ctx, &loaded, None, None, &Default::default()).unwrap();
    let g = r.backward(ctx).unwrap();
    let mut norms: Vec<f64> =
        g.x0.chunks_exact(3)
            .map(|c| (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt())
            .filter(|v| *v > 0.0)
            .collect();
    norms.sort_by(f64::total_cmp);
    let expect = norms[((norms.len() - 1) as f64 * 0.99).round() as usize];
    assert!(
        (shown - expect).abs() <= 1e-4 * expect,
        "viewer scale {shown}, rollout {expect}"
    );

    // The ball's pixels span several hues of the colour ramp (a body colour,
    // shaded, keeps one hue).
    let img = image::open(&png).unwrap().to_rgba8();
    let r = &info["view_rect_px"];
    let (x0, y0, x1, y1) = (
        r[0].as_f64().unwrap() as u32,
        r[1].as_f64().unwrap() as u32,
        r[2].as_f64().unwrap() as u32,
        r[3].as_f64().unwrap() as u32,
    );
    let mut hues = std::collections::BTreeSet::new();
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let [r, g, b, _] = img.get_pixel(x, y).0.map(|c| c as f64 / 255.0);
            let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
            // Saturated pixels only: the background and the frame are grey-blue.
            if mx - mn < 0.3 {
                continue;
            }
            let d = mx - mn;
            let h = if mx == r {
                ((g - b) / d).rem_euclid(6.0)
            } else if mx == g {
                (b - r) / d + 2.0
            } else {
                (r - g) / d + 4.0
            };
            hues.insert((h * 2.0) as u32); // 30° bins
        }
    }
    assert!(hues.len() >= 3, "the ball shows only hue bins {hues:?}");
}
