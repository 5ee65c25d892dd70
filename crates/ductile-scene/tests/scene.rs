//! End-to-end tests of scene parsing, validation errors, mesh loading and
//! sampling, through the public API.

use std::path::{Path, PathBuf};

use ductile_scene::*;

const MINIMAL: &str = r#"// The smallest useful scene.
Scene(
    domain: (cells: (32, 32, 32), dx: 0.03125),
    time: (dt: 1e-4, substeps: 20, frames: 10),
    bodies: [
        (
            name: "jelly",
            shape: Box(min: (0.25, 0.25, 0.25), max: (0.5, 0.5, 0.5)),
            material: VonMises(
                density: 1000,
                youngs_modulus: 2e5,
                poisson_ratio: 0.3,
                yield_stress: 1e3,
            ),
        ),
    ],
    tools: [
        (
            name: "pusher",
            shape: Sphere(radius: 0.05),
            motion: Keyframes([
                (time: 0.0, position: (0.1, 0.6, 0.5)),
                (time: 0.5, position: (0.9, 0.6, 0.5)),
            ]),
        ),
    ],
)
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// 1-based (line, col) of the first occurrence of `needle` in `src`.
fn pos_of(src: &str, needle: &str) -> (usize, usize) {
    let byte = src
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in source"));
    let before = &src[..byte];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn err(src: &str) -> SceneError {
    parse_scene_str(src, "test.ron").expect_err("scene should be rejected")
}

/// Asserts an `Invalid` error at `path`, located at `needle`, and returns its message.
fn assert_invalid(src: &str, path: &str, needle: &str) -> String {
    let e = err(src);
    let msg = e.to_string();
    match &e {
        SceneError::Invalid {
            path: p, line, col, ..
        } => {
            assert_eq!(p, path, "{msg}");
            assert_eq!((*line, *col), pos_of(src, needle), "{msg}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    msg
}

#[test]
fn minimal_scene_parses_with_defaults() {
    let s = parse_scene_str(MINIMAL, "test.ron").unwrap();
    assert_eq!(s.name, "scene");
    assert_eq!(s.gravity, [0.0, -9.81, 0.0]);
    assert_eq!(s.domain.boundary_cells, 3);
    assert_eq!(s.domain.boundary, Boundary::Separate);
    assert_eq!(s.bodies[0].particles_per_cell, 8);
    assert_eq!(s.bodies[0].sampling, Sampling::Lattice);
    assert_eq!(s.tools[0].friction, 0.5);
    assert_eq!(s.tools[0].softness, 0.0);
    assert_eq!(s.output, Output::default());
    assert_eq!(s.precision, Precision::F32);
    assert!(validate::violations(&s).is_empty());
}

#[test]
fn unknown_field_names_field_and_position() {
    let src = MINIMAL.replace("dx: 0.03125)", "dx: 0.03125, spacing: 2)");
    let e = err(&src);
    let msg = e.to_string();
    let (line, col) = pos_of(&src, "spacing");
    assert!(matches!(e, SceneError::Syntax { .. }), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "test.ron:{line}:{col}: domain: unknown field `spacing`"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("`dx`") && msg.contains("`boundary_cells`"),
        "{msg}"
    );

    // Unknown fields inside enum variants are rejected too.
    let src = MINIMAL.replace("yield_stress: 1e3,", "yield_stress: 1e3, hardness: 3,");
    let msg = err(&src).to_string();
    let (line, col) = pos_of(&src, "hardness");
    assert!(
        msg.starts_with(&format!(
            "test.ron:{line}:{col}: bodies[0].material: unknown field `hardness`"
        )),
        "{msg}"
    );
    assert!(msg.contains("`yield_stress`"), "{msg}");
}

#[test]
fn other_syntax_errors_are_readable() {
    let src = MINIMAL.replace("                yield_stress: 1e3,\n", "");
    let msg = err(&src).to_string();
    assert!(
        msg.contains("bodies[0].material: missing required field `yield_stress`"),
        "{msg}"
    );

    let src = MINIMAL.replace("VonMises(", "VonMisses(");
    let msg = err(&src).to_string();
    let (line, col) = pos_of(&src, "VonMisses");
    assert!(
        msg.starts_with(&format!("test.ron:{line}:{col}: ")),
        "{msg}"
    );
    assert!(
        msg.contains("unknown variant `VonMisses`") && msg.contains("`DruckerPrager`"),
        "{msg}"
    );

    let src = MINIMAL.replace("(32, 32, 32)", "[32, 32, 32]");
    let msg = err(&src).to_string();
    assert!(msg.contains("domain.cells: expected `(`"), "{msg}");

    let src = MINIMAL.replace("frames: 10", "frames: -1");
    let msg = err(&src).to_string();
    assert!(msg.contains("time.frames: integer out of range"), "{msg}");

    let src = MINIMAL.replace("dx: 0.03125", "dx: \"small\"");
    let msg = err(&src).to_string();
    assert!(msg.contains("domain.dx: expected a number"), "{msg}");
}

#[test]
fn negative_youngs_modulus_is_located() {
    let src = MINIMAL.replace("youngs_modulus: 2e5", "youngs_modulus: -5");
    let (line, col) = pos_of(&src, "-5,");
    let msg = assert_invalid(&src, "bodies[0].material.youngs_modulus", "-5,");
    assert_eq!(
        msg,
        format!("test.ron:{line}:{col}: bodies[0].material.youngs_modulus = -5: must be > 0 (Pa)")
    );
}

#[test]
fn nan_and_inf_are_rejected_with_path() {
    let src = MINIMAL.replace("yield_stress: 1e3", "yield_stress: NaN");
    let msg = assert_invalid(&src, "bodies[0].material.yield_stress", "NaN");
    assert!(
        msg.ends_with("= NaN: must be a finite number > 0 (Pa)"),
        "{msg}"
    );

    let src = MINIMAL.replace("frames: 10),", "frames: 10),\n    gravity: (0, -inf, 0),");
    let msg = assert_invalid(&src, "gravity[1]", "-inf");
    assert!(
        msg.contains("gravity[1] = -inf: must be a finite number (m/s²)"),
        "{msg}"
    );

    let src = MINIMAL.replace("(0.9, 0.6, 0.5)", "(0.9, inf, 0.5)");
    assert_invalid(&src, "tools[0].motion[1].position[1]", "inf, 0.5");
}

#[test]
fn keyframe_times_must_increase() {
    let src = MINIMAL.replace("time: 0.5,", "time: 0.0,");
    let msg = assert_invalid(&src, "tools[0].motion[1].time", "0.0, position: (0.9");
    assert!(msg.contains("must be > 0"), "{msg}");

    let src = MINIMAL.replace(
        "Keyframes([\n                (time: 0.0, position: (0.1, 0.6, 0.5)),\n                (time: 0.5, position: (0.9, 0.6, 0.5)),\n            ])",
        "Keyframes([])",
    );
    assert_invalid(&src, "tools[0].motion", "Keyframes([])");
}

#[test]
fn body_outside_domain_is_rejected() {
    // The domain is [0, 1]³.
    let src = MINIMAL.replace("max: (0.5, 0.5, 0.5)", "max: (0.5, 1.25, 0.5)");
    let msg = assert_invalid(&src, "bodies[0].shape.max[1]", "1.25");
    assert!(msg.contains("inside the domain"), "{msg}");

    let src = MINIMAL.replace(
        "Box(min: (0.25, 0.25, 0.25), max: (0.5, 0.5, 0.5))",
        "Sphere(center: (0.05, 0.5, 0.5), radius: 0.1)",
    );
    let msg = assert_invalid(&src, "bodies[0].shape.center[0]", "0.05");
    assert!(msg.contains("must be in [0.1, 0.9]"), "{msg}");

    // Touching the domain boundary is fine.
    let src = MINIMAL.replace("max: (0.5, 0.5, 0.5)", "max: (1, 1, 1)");
    parse_scene_str(&src, "test.ron").unwrap();
}

#[test]
fn more_rules() {
    let src = MINIMAL.replace(
        "name: \"jelly\",",
        "name: \"jelly\", particles_per_cell: 10,",
    );
    let msg = assert_invalid(&src, "bodies[0].particles_per_cell", "10,");
    assert!(msg.contains("perfect cube"), "{msg}");

    let src = MINIMAL.replace("name: \"pusher\"", "name: \"\"");
    assert_invalid(&src, "tools[0].name", "\"\"");

    let src = MINIMAL.replace("poisson_ratio: 0.3", "poisson_ratio: 0.5");
    let msg = assert_invalid(
        &src,
        "bodies[0].material.poisson_ratio",
        "0.5,\n                yield_stress",
    );
    assert!(msg.ends_with("must be in [0, 0.5)"), "{msg}");

    let src = MINIMAL.replace("dt: 1e-4", "dt: 0.02");
    let msg = assert_invalid(&src, "time.dt", "0.02");
    assert!(msg.ends_with("must be in (0, 0.01] (s)"), "{msg}");

    let src = MINIMAL.replace("(32, 32, 32)", "(32, 2000, 32)");
    assert_invalid(&src, "domain.cells[1]", "2000");

    // A defaulted field is located at its enclosing struct.
    let src = MINIMAL
        .replace("(32, 32, 32)", "(4, 4, 4)")
        .replace("dx: 0.03125", "dx: 0.25");
    let msg = assert_invalid(&src, "domain.boundary_cells", "(cells");
    assert!(msg.contains("domain.boundary_cells = 3"), "{msg}");

    let src = MINIMAL.replace(
        "    ],\n)",
        "        (name: \"pusher\", shape: Plane, motion: PerStep([])),\n    ],\n)",
    );
    let all = validate::violations(&ron::from_str::<Scene>(&src).unwrap());
    let paths: Vec<_> = all.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["tools[1].name", "tools[1].motion"]);

    let src = MINIMAL.replace(
        "frames: 10),",
        "frames: 10),\n    output: (every: 0, camera: (fov_deg: 180)),",
    );
    let s = ron::from_str::<Scene>(&src).unwrap();
    let paths: Vec<_> = validate::violations(&s)
        .into_iter()
        .map(|v| v.path)
        .collect();
    assert_eq!(paths, ["output.every", "output.camera.fov_deg"]);
}

#[test]
fn load_scene_reads_files_and_meshes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let loaded = load_scene(&dir.join("mesh_body.ron")).unwrap();
    assert_eq!(loaded.scene.name, "mesh-body");
    assert_eq!(loaded.base_dir, dir);
    let mesh = loaded.body_meshes[0].as_ref().unwrap();
    let (lo, hi) = mesh.aabb();
    assert!((lo[0] - 0.2).abs() < 1e-9 && (hi[0] - 0.3).abs() < 1e-9);
    // A 0.1 m cube, dx = 1/32 m, 8 per cell: h = 1/64 m, 6.4 sub-cells per side.
    let ps = loaded.sample_body(0).unwrap();
    let mut direct = sample_body(&loaded.scene.bodies[0], loaded.scene.domain.dx, &dir).unwrap();
    assert_ne!(
        ps, direct,
        "the loaded scene orders particles by stencil cell"
    );
    ductile_scene::sampling::order_by_stencil_cell(
        &mut direct,
        loaded.scene.domain.origin,
        loaded.scene.domain.dx,
    );
    assert_eq!(ps, direct);
    // Sub-cell centres (i + 0.5)/64 in [0.2, 0.3) for i = 13..=18: 6 per axis.
    assert_eq!(ps.len(), 6 * 6 * 6);

    let e = load_scene(&dir.join("missing_mesh.ron")).unwrap_err();
    let msg = e.to_string();
    let src = std::fs::read_to_string(dir.join("missing_mesh.ron")).unwrap();
    let (line, col) = pos_of(&src, "Mesh(path");
    // The mesh path field itself is located.
    let (pl, pc) = pos_of(&src, "\"no_such_mesh.obj\"");
    assert!(matches!(e, SceneError::Mesh { .. }), "{msg}");
    assert!(
        msg.contains("bodies[0].shape.path") && msg.contains("no_such_mesh.obj"),
        "{msg}"
    );
    assert!(
        msg.starts_with(&format!(
            "{}:{pl}:{pc}:",
            dir.join("missing_mesh.ron").display()
        )),
        "{msg}"
    );
    assert!(line == pl && col < pc);

    let e = load_scene(&dir.join("nope.ron")).unwrap_err();
    assert!(matches!(e, SceneError::Io { .. }));
    assert!(e.to_string().contains("nope.ron"), "{e}");
}

#[test]
fn mesh_body_outside_domain_is_rejected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let src = std::fs::read_to_string(dir.join("mesh_body.ron"))
        .unwrap()
        .replace(
            "translation: (0.2, 0.2, 0.2)",
            "translation: (0.45, 0.2, 0.2)",
        );
    let e = load_scene_from_str(&src, "m.ron", &dir).unwrap_err();
    let msg = e.to_string();
    let (line, col) = pos_of(&src, "Mesh(");
    assert!(
        msg.starts_with(&format!(
            "m.ron:{line}:{col}: bodies[0].shape = mesh spanning"
        )),
        "{msg}"
    );
}

#[test]
fn emitter_rules() {
    // An emitter's shape may lie outside the domain (the stream still to come).
    let src = MINIMAL
        .replace("max: (0.5, 0.5, 0.5)", "max: (0.5, 1.25, 0.5)")
        .replace(
            "            ),\n        ),\n    ],\n    tools",
            "            ),\n            velocity: (0.0, -1.0, 0.0),\n            emitter: Some((start: 0.1)),\n        ),\n    ],\n    tools",
        );
    assert!(src.contains("emitter"), "{src}");
    parse_scene_str(&src, "test.ron").unwrap();
    // It needs a stream velocity and a start >= 0.
    let still = src.replace("velocity: (0.0, -1.0, 0.0)", "velocity: (0.0, 0.0, 0.0)");
    let msg = assert_invalid(&still, "bodies[0].velocity", "(0.0, 0.0, 0.0)");
    assert!(msg.contains("non-zero stream velocity"), "{msg}");
    let early = src.replace("start: 0.1", "start: -0.1");
    assert_invalid(&early, "bodies[0].emitter.start", "-0.1");
    // A rigid body cannot be one.
    let rigid = src.replace(
        "VonMises(\n                density: 1000,\n                youngs_modulus: 2e5,\n                poisson_ratio: 0.3,\n                yield_stress: 1e3,\n            )",
        "Rigid(density: 500)",
    );
    assert!(rigid.contains("Rigid"), "{rigid}");
    let e = err(&rigid).to_string();
    assert!(
        e.contains("bodies[0].emitter") && e.contains("Rigid"),
        "{e}"
    );
}

#[test]
fn assets_are_closed_outward_meshes() {
    let assets = repo_root().join("assets");
    let cup = TriMesh::load_obj(&assets.join("cup.obj")).unwrap();
    assert!(cup.is_watertight());
    let (lo, hi) = cup.aabb();
    assert!((lo[1]).abs() < 1e-6 && (hi[1] - 0.25).abs() < 1e-6);
    assert!((hi[0] - 0.15).abs() < 1e-6 && (lo[0] + 0.15).abs() < 1e-6);
    // Wall ring plus bottom disc of a 48-gon.
    let area = |r: f64| 0.5 * 48.0 * r * r * (2.0 * std::f64::consts::PI / 48.0).sin();
    let expected = (area(0.15) - area(0.13)) * 0.23 + area(0.15) * 0.02;
    assert!(
        (cup.signed_volume() / expected - 1.0).abs() < 1e-4,
        "{}",
        cup.signed_volume()
    );
    assert!(cup.contains([0.14, 0.1, 0.0]));
    assert!(cup.contains([0.0, 0.01, 0.0]));
    assert!(!cup.contains([0.0, 0.1, 0.0]));
    assert!(!cup.contains([0.2, 0.1, 0.0]));

    // The task meshes (scripts/make_assets.py): a glass and a solid cone.
    let glass = TriMesh::load_obj(&assets.join("glass.obj")).unwrap();
    assert!(glass.is_watertight() && glass.signed_volume() > 0.0);
    assert!(glass.contains([0.07, 0.05, 0.0]) && glass.contains([0.0, 0.01, 0.0]));
    assert!(!glass.contains([0.0, 0.05, 0.0]));
    let cone = TriMesh::load_obj(&assets.join("cone.obj")).unwrap();
    assert!(cone.is_watertight());
    let expected = std::f64::consts::PI * 0.04f64.powi(2) * 0.1 / 3.0;
    assert!(
        (cone.signed_volume() / expected - 1.0).abs() < 0.01,
        "{}",
        cone.signed_volume()
    );
    assert!(cone.contains([0.0, 0.09, 0.0]) && !cone.contains([0.03, 0.02, 0.0]));

    let blob = TriMesh::load_obj(&assets.join("blob.obj")).unwrap();
    assert!(blob.is_watertight());
    let v = blob.signed_volume();
    let sphere = 4.0 / 3.0 * std::f64::consts::PI * 0.1f64.powi(3);
    assert!(v > 0.95 * sphere && v < sphere, "{v}");
    assert!(blob.contains([0.0; 3]) && !blob.contains([0.11, 0.0, 0.0]));
}

#[test]
fn cup_sdf_signs() {
    let cup = TriMesh::load_obj(&repo_root().join("assets/cup.obj")).unwrap();
    let g = signed_distance_grid(&cup, 0.01, 6);
    // Inside the wall: negative, about half the wall thickness deep.
    let wall = g.sample([0.14, 0.12, 0.0]).unwrap();
    assert!(wall < 0.0 && wall > -0.015, "{wall}");
    // In the cavity: positive, distance to the floor (0.08) or the wall (0.13).
    let cavity = g.sample([0.0, 0.1, 0.0]).unwrap();
    assert!((cavity - 0.08).abs() < 0.005, "{cavity}");
    // Outside the cup.
    let outside = g.sample([0.2, 0.1, 0.0]).unwrap();
    assert!((outside - 0.05).abs() < 0.005, "{outside}");
    // Every node agrees with the inside test away from the surface.
    for z in 0..g.dims[2] {
        for y in 0..g.dims[1] {
            for x in 0..g.dims[0] {
                let v = g.value(x, y, z).unwrap();
                if v.abs() > 2e-3 {
                    let p = g.node_position(x, y, z);
                    assert_eq!(v < 0.0, cup.contains(p), "{p:?}: {v}");
                }
            }
        }
    }
}

#[test]
fn blob_fill_and_tool_sdf() {
    let src = r#"Scene(
    domain: (origin: (-0.5, -0.5, -0.5), cells: (32, 32, 32), dx: 0.03125),
    time: (dt: 1e-4, substeps: 10, frames: 1),
    bodies: [
        (name: "blob", shape: Mesh(path: "blob.obj", translation: (0, 0.1, 0)),
         material: Snow(density: 400, youngs_modulus: 1.4e5, poisson_ratio: 0.2)),
    ],
    tools: [
        (name: "cup", shape: Mesh(path: "cup.obj", sdf_dx: 0.01), friction: 0.3),
    ],
)"#;
    let assets = repo_root().join("assets");
    let loaded = load_scene_from_str(src, "blob.ron", &assets).unwrap();
    let ps = loaded.sample_body(0).unwrap();
    let vol = ps.len() as f64 * body_volume_per_particle(0.03125, 8);
    let exact = loaded.body_meshes[0].as_ref().unwrap().signed_volume();
    assert!((vol / exact - 1.0).abs() < 0.1, "{vol} vs {exact}");
    assert!(ps
        .iter()
        .all(|p| (p[0].powi(2) + (p[1] - 0.1).powi(2) + p[2].powi(2)).sqrt() < 0.1));

    let sdf = loaded.tool_sdf(0, 3).unwrap().unwrap();
    assert_eq!(
        sdf.values.len(),
        sdf.dims.iter().map(|&n| n as usize).product::<usize>()
    );
    assert!(sdf.sample([0.0, 0.1, 0.0]).unwrap() > 0.0);
    assert!(loaded.tool_sdf(1, 3).unwrap().is_none());

    let bad = src.replace("sdf_dx: 0.01", "sdf_dx: 1e-5");
    let e = load_scene_from_str(&bad, "blob.ron", &assets).unwrap_err();
    assert!(
        e.to_string()
            .contains("tools[0].shape.sdf_dx = 1e-5: must be >= "),
        "{e}"
    );
}

/// Every ```ron block in docs/scene-format.md marked as a full scene parses.
#[test]
fn documented_examples_are_valid() {
    let doc_path = repo_root().join("docs/scene-format.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let mut blocks = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```ron\n") {
        let body = &rest[start + 7..];
        let end = body.find("```").unwrap();
        let block = &body[..end];
        rest = &body[end + 3..];
        if block.trim_start().starts_with("Scene(") {
            load_scene_from_str(block, "docs/scene-format.md", &repo_root().join("docs"))
                .unwrap_or_else(|e| panic!("{e}\n{block}"));
            blocks += 1;
        }
    }
    assert!(blocks >= 1, "no full scene example in the docs");
}

/// Damaged scene text gives an error (or a scene), never a panic.
#[test]
fn mutations_never_panic() {
    let doc = std::fs::read_to_string(repo_root().join("docs/scene-format.md")).unwrap();
    let start = doc.find("```ron\n// A cup").unwrap() + 7;
    let src = &doc[start..start + doc[start..].find("```").unwrap()];
    let chars: Vec<char> = src.chars().collect();
    let mut errors = 0;
    for i in 0..chars.len() {
        let other = [')', '"', '9', '-', '['][i % 5];
        for replacement in [None, Some(other)] {
            let mut m: String = chars[..i].iter().collect();
            m.extend(replacement);
            m.extend(&chars[i + 1..]);
            if let Err(e) = parse_scene_str(&m, "m.ron") {
                errors += 1;
                let msg = e.to_string();
                assert!(msg.starts_with("m.ron:") && !msg.contains('\n'), "{msg}");
            }
        }
    }
    assert!(errors > chars.len());
}

/// A gripper expands into two finger tools after the written tools, and its
/// mistakes are reported at the gripper's own fields.
#[test]
fn grippers_expand_and_report_their_errors() {
    let with = |g: &str| MINIMAL.replace("    ],\n)", &format!("    ],\n    grippers: [{g}],\n)"));
    let ok = with(
        "(name: \"g\", finger: Box(half_extents: (0.01, 0.02, 0.03)), pose: (position: (0.5, 0.5, 0.5)),
          width: [(time: 0.0, width: 0.2), (time: 0.1, width: 0.1)], friction: 1.5)",
    );
    let s = parse_scene_str(&ok, "test.ron").unwrap();
    let names: Vec<_> = s.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["pusher", "g.left", "g.right"]);
    assert_eq!(s.tool_count(), 3);
    assert!(s.tools[1]
        .finger
        .as_ref()
        .is_some_and(|f| f.side == -1.0 && f.index == 0));
    assert_eq!(s.tools[2].friction, 1.5);
    // A loss may name a finger by its tool index.
    let loss = ok.replace(
        "    grippers:",
        "    loss: [(kind: ToolDistance(tool: 2), body: 0)],\n    grippers:",
    );
    parse_scene_str(&loss, "test.ron").unwrap();
    let loss = ok.replace(
        "    grippers:",
        "    loss: [(kind: ToolDistance(tool: 3), body: 0)],\n    grippers:",
    );
    assert!(err(&loss).to_string().contains("tool"));

    let src = ok.replace(
        "finger: Box(half_extents: (0.01, 0.02, 0.03))",
        "finger: Plane",
    );
    assert_invalid(&src, "grippers[0].finger", "Plane");
    let src = ok.replace("(0.01, 0.02, 0.03)", "(0.01, -0.02, 0.03)");
    assert_invalid(&src, "grippers[0].finger.half_extents[1]", "-0.02");
    let src = ok.replace("(time: 0.1, width: 0.1)", "(time: 0.0, width: 0.1)");
    assert_invalid(&src, "grippers[0].width[1].time", "0.0, width: 0.1");
    let src = ok.replace("width: 0.1)", "width: -0.1)");
    assert_invalid(&src, "grippers[0].width[1].width", "-0.1");
    let src = ok.replace(
        "width: [(time: 0.0, width: 0.2), (time: 0.1, width: 0.1)]",
        "width: []",
    );
    assert_invalid(&src, "grippers[0].width", "[]");
    let src = ok.replace("name: \"g\"", "name: \"pusher\"");
    assert_invalid(&src, "grippers[0].name", "\"pusher\", finger");
    let src = ok.replace("name: \"pusher\"", "name: \"g.left\"");
    assert_invalid(&src, "grippers[0].name", "\"g\"");
}

/// A nozzle's displacement under each motion, at a few times.
#[test]
fn motion_displacements() {
    let dt = 0.1;
    let close = |a: [f64; 3], b: [f64; 3]| (0..3).all(|k| (a[k] - b[k]).abs() < 1e-12);
    assert!(close(Motion::Static.displacement_at(1.0, dt), [0.0; 3]));
    let c = Motion::Constant {
        linear: [1.0, 0.0, -2.0],
        angular_deg: [0.0; 3],
    };
    assert!(close(c.displacement_at(0.5, dt), [0.5, 0.0, -1.0]));
    let p = Motion::PerStep(vec![[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]);
    // Substeps 0, 1, 2 move by v0 dt, v1 dt, v1 dt (the last is held).
    assert!(close(p.displacement_at(0.0, dt), [0.0; 3]));
    assert!(close(p.displacement_at(0.1, dt), [0.1, 0.0, 0.0]));
    assert!(close(p.displacement_at(0.3, dt), [0.1, 0.4, 0.0]));
    let k = Motion::Keyframes(vec![
        Keyframe {
            time: 0.1,
            position: [0.0, 0.0, 0.0],
            rotation_deg: [0.0; 3],
        },
        Keyframe {
            time: 0.3,
            position: [0.2, 0.0, 0.4],
            rotation_deg: [0.0; 3],
        },
    ]);
    assert!(close(k.displacement_at(0.0, dt), [0.0; 3]));
    assert!(close(k.displacement_at(0.2, dt), [0.1, 0.0, 0.2]));
    assert!(close(k.displacement_at(1.0, dt), [0.2, 0.0, 0.4]));
}

/// A body-distance loss must name another existing body.
#[test]
fn body_distance_needs_another_body() {
    let with = |k: &str| {
        MINIMAL.replace(
            "    ],\n)",
            &format!("    ],\n    loss: [(kind: {k}, body: 0)],\n)"),
        )
    };
    let src = with("BodyDistance(other: 0)");
    assert_invalid(&src, "loss[0].kind.other", "0), body");
    let src = with("BodyDistance(other: 3, offset: (0.0, 0.1, 0.0))");
    let msg = assert_invalid(&src, "loss[0].kind.other", "3, offset");
    assert!(msg.contains("other than the term's body 0"), "{msg}");
}

/// Loss terms may name their body and tool (`body: "jelly"`, `tool:
/// "pusher"`) instead of giving indices; names resolve to the same indices,
/// and an unknown name is a located error that lists the names there are.
#[test]
fn loss_terms_refer_to_bodies_and_tools_by_name() {
    let with_loss = |loss: &str| {
        MINIMAL.replacen(
            "    tools: [",
            &format!("    loss: [{loss}],\n    tools: ["),
            1,
        )
    };
    let by_name = parse_scene_str(
        &with_loss(r#"(kind: ToolDistance(tool: "pusher"), body: "jelly")"#),
        "names.ron",
    )
    .unwrap();
    let by_index = parse_scene_str(
        &with_loss("(kind: ToolDistance(tool: 0), body: 0)"),
        "index.ron",
    )
    .unwrap();
    assert_eq!(by_name.loss, by_index.loss);
    let src = with_loss(r#"(kind: CenterOfMass(target: (0.5, 0.5, 0.5)), body: "jely")"#);
    let e = parse_scene_str(&src, "typo.ron").unwrap_err();
    let msg = e.to_string();
    let (line, _) = pos_of(&src, "\"jely\"");
    assert!(msg.contains(&format!("typo.ron:{line}:")), "{msg}");
    assert!(msg.contains("loss[0].body"), "{msg}");
    assert!(
        msg.contains(r#""jely" names no body: the scene's bodies are "jelly""#),
        "{msg}"
    );
}

/// FEM bodies (the `fem` section) are checked like the rest, with located
/// errors: the Poisson ratio's range, a mesh outside the domain, a pin
/// height below the mesh, and a loss kind that only MPM bodies have; their
/// names share one namespace with `bodies` and resolve after them.
#[test]
fn fem_bodies_are_validated_and_named() {
    let with_fem = |fem: &str, loss: &str| {
        MINIMAL.replacen(
            "    tools: [",
            &format!("    fem: [{fem}],\n    loss: [{loss}],\n    tools: ["),
            1,
        )
    };
    let pad = |nu: &str, max: &str, pin: &str| {
        format!(
            "(name: \"pad\", mesh: Box(min: (0.1, 0.1, 0.1), max: {max}, cells: (2, 1, 2)), density: 1000.0, youngs_modulus: 1e5, poisson_ratio: {nu}, pin_below: Some({pin}))"
        )
    };
    let ok = with_fem(
        &pad("0.3", "(0.2, 0.15, 0.2)", "0.1"),
        r#"(kind: CenterOfMass(target: (0.1, 0.1, 0.1)), body: "pad")"#,
    );
    let s = parse_scene_str(&ok, "fem.ron").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.loss[0].body, 1);
    assert_invalid(
        &with_fem(&pad("0.5", "(0.2, 0.15, 0.2)", "0.1"), ""),
        "fem[0].poisson_ratio",
        "0.5, pin_below",
    );
    assert_invalid(
        &with_fem(&pad("0.3", "(0.2, 1.5, 0.2)", "0.1"), ""),
        "fem[0].mesh.min",
        "(0.1, 0.1, 0.1), max",
    );
    assert_invalid(
        &with_fem(&pad("0.3", "(0.2, 0.15, 0.2)", "0.05"), ""),
        "fem[0].pin_below",
        "Some(0.05)",
    );
    let msg = assert_invalid(
        &with_fem(
            &pad("0.3", "(0.2, 0.15, 0.2)", "0.1"),
            r#"(kind: ShapeDensity(target: Sphere(center: (0.2, 0.2, 0.2), radius: 0.05)), body: "pad")"#,
        ),
        "loss[0].kind",
        "ShapeDensity",
    );
    assert!(msg.contains("ShapeDensity on FEM body 1"), "{msg}");
    // A force target needs a body with a sensor to read it.
    let msg = assert_invalid(
        &with_fem(
            &pad("0.3", "(0.2, 0.15, 0.2)", "0.1"),
            r#"(kind: ContactForce(target: (0.0, 0.0, 1.0)), body: "pad")"#,
        ),
        "loss[0].body",
        "\"pad\")",
    );
    assert!(msg.contains("an FEM body with a sensor"), "{msg}");
    // …and at least one axis to measure.
    let plain = pad("0.3", "(0.2, 0.15, 0.2)", "0.1");
    let with_sensor = format!(
        "{}, sensor: Some((camera: (position: (0.15, 0.05, 0.15), look_at: (0.15, 0.1, 0.15), up: (0.0, 0.0, 1.0), size: (32, 32), focal: (30.0, 30.0)), markers: (rows: 2, cols: 2))))",
        &plain[..plain.len() - 1]
    );
    assert_invalid(
        &with_fem(
            &with_sensor,
            r#"(kind: ContactForce(target: (0.0, 0.0, 1.0), axes: (false, false, false)), body: "pad")"#,
        ),
        "loss[0].kind.axes",
        "(false, false, false)",
    );
    // One namespace: a pad named like the MPM body is refused.
    let dup = with_fem(
        &pad("0.3", "(0.2, 0.15, 0.2)", "0.1").replace("\"pad\"", "\"jelly\""),
        "",
    );
    assert_invalid(&dup, "fem[0].name", "\"jelly\", mesh");
}
