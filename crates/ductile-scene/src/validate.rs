//! Range checks for a parsed scene.
//!
//! This module owns the rules for what values a scene may hold beyond what the
//! types already say: every range documented in `schema.rs`, finiteness of
//! every float (RON accepts `NaN` and `inf`), unique non-empty names, strictly
//! increasing keyframe times, perfect-cube particle counts, and bodies lying
//! inside the domain. Each broken rule becomes a [`Violation`]
//! `(field path, value, allowed)`; [`validate_scene`] turns the first one into
//! a located [`SceneError::Invalid`].
//!
//! Checks that need mesh files (mesh bodies inside the domain, SDF grid sizes)
//! are done by the loader in `lib.rs`, which has the files at hand.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::error::SceneError;
use crate::schema::*;
use crate::Vec3;

/// Largest number of particles one body may have.
pub const MAX_PARTICLES_PER_BODY: u64 = 1 << 26;

/// Most bodies in one scene: the GPU stores each particle's body in 8 bits
/// of a tag word whose other 24 bits hold its emitter release substep.
pub const MAX_BODIES: usize = 256;

/// Latest substep at which an emitter may release a particle (24 bits).
pub const MAX_RELEASE_STEP: u64 = (1 << 24) - 1;

/// One broken rule: which field, what it holds, and what would be allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `bodies[0].material.youngs_modulus` or `domain.cells[1]`.
    pub path: String,
    /// The value as written back, e.g. `-5`, `NaN`, `"jelly"`.
    pub value: String,
    /// What is allowed, phrased to follow "must be", e.g. `> 0 (Pa)`.
    pub allowed: String,
}

impl Violation {
    /// Turns the violation into a located error for the scene text `src`.
    pub fn into_error(self, src: &str, file: &str) -> SceneError {
        SceneError::invalid(src, file, self.path, self.value, self.allowed)
    }
}

/// Checks `scene` and returns the first problem as a located error.
///
/// `src` is the scene's text (for line and column), `file` the label used in
/// messages (usually the path).
pub fn validate_scene(scene: &Scene, src: &str, file: &str) -> Result<(), SceneError> {
    match violations(scene).into_iter().next() {
        Some(v) => Err(v.into_error(src, file)),
        None => Ok(()),
    }
}

/// Every rule the scene breaks, in document order (domain, time, bodies, ...).
pub fn violations(scene: &Scene) -> Vec<Violation> {
    let mut c = Checker::default();
    c.scene(scene);
    c.out
}

/// Formats a float for messages: plain for ordinary magnitudes, scientific
/// for very large or small ones, `NaN` / `inf` / `-inf` as RON writes them.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Formats a 3-vector as a RON tuple.
pub fn fmt_vec3(v: Vec3) -> String {
    format!("({}, {}, {})", fmt_f64(v[0]), fmt_f64(v[1]), fmt_f64(v[2]))
}

/// The cube root of `ppc` if it is a perfect cube (1, 8, 27, 64, ...).
pub fn cube_root(ppc: u32) -> Option<u32> {
    (1..=ppc.min(1024)).find(|n| n.checked_pow(3) == Some(ppc))
}

/// The domain box `[lo, hi]` in metres.
pub fn domain_bounds(d: &Domain) -> (Vec3, Vec3) {
    let lo = d.origin;
    let hi = [
        lo[0] + f64::from(d.cells[0]) * d.dx,
        lo[1] + f64::from(d.cells[1]) * d.dx,
        lo[2] + f64::from(d.cells[2]) * d.dx,
    ];
    (lo, hi)
}

const AXES: [&str; 3] = ["x", "y", "z"];

/// Interval bounds for range checks.
#[derive(Clone, Copy)]
enum B {
    Open(f64),
    Closed(f64),
    None,
}

#[derive(Default)]
struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn push(
        &mut self,
        path: impl Into<String>,
        value: impl Into<String>,
        allowed: impl Into<String>,
    ) {
        self.out.push(Violation {
            path: path.into(),
            value: value.into(),
            allowed: allowed.into(),
        });
    }

    /// Checks that `v` is finite and within `(lo, hi)` with the given bounds;
    /// `unit` is appended as ` (unit)` when non-empty. Returns whether it passed.
    fn range(&mut self, path: &str, v: f64, lo: B, hi: B, unit: &str) -> bool {
        let mut allowed = match (lo, hi) {
            (B::Open(a), B::None) => format!("> {}", fmt_f64(a)),
            (B::Closed(a), B::None) => format!(">= {}", fmt_f64(a)),
            (B::None, B::Open(b)) => format!("< {}", fmt_f64(b)),
            (B::None, B::Closed(b)) => format!("<= {}", fmt_f64(b)),
            (B::None, B::None) => String::new(),
            (lo, hi) => {
                let (l, a) = match lo {
                    B::Open(a) => ('(', a),
                    B::Closed(a) => ('[', a),
                    B::None => ('(', f64::NEG_INFINITY),
                };
                let (r, b) = match hi {
                    B::Open(b) => (')', b),
                    B::Closed(b) => (']', b),
                    B::None => (')', f64::INFINITY),
                };
                format!("in {l}{}, {}{r}", fmt_f64(a), fmt_f64(b))
            }
        };
        if !unit.is_empty() {
            if !allowed.is_empty() {
                allowed.push(' ');
            }
            let _ = write!(allowed, "({unit})");
        }
        if !v.is_finite() {
            let allowed = if allowed.is_empty() {
                "a finite number".to_string()
            } else {
                format!("a finite number {allowed}")
            };
            self.push(path, fmt_f64(v), allowed);
            return false;
        }
        let ok_lo = match lo {
            B::Open(a) => v > a,
            B::Closed(a) => v >= a,
            B::None => true,
        };
        let ok_hi = match hi {
            B::Open(b) => v < b,
            B::Closed(b) => v <= b,
            B::None => true,
        };
        if !(ok_lo && ok_hi) {
            self.push(path, fmt_f64(v), allowed);
        }
        ok_lo && ok_hi
    }

    fn finite(&mut self, path: &str, v: f64, unit: &str) -> bool {
        self.range(path, v, B::None, B::None, unit)
    }

    fn positive(&mut self, path: &str, v: f64, unit: &str) -> bool {
        self.range(path, v, B::Open(0.0), B::None, unit)
    }

    fn non_negative(&mut self, path: &str, v: f64, unit: &str) -> bool {
        self.range(path, v, B::Closed(0.0), B::None, unit)
    }

    fn vec3_finite(&mut self, path: &str, v: Vec3, unit: &str) -> bool {
        let mut ok = true;
        for (i, x) in v.iter().enumerate() {
            ok &= self.finite(&format!("{path}[{i}]"), *x, unit);
        }
        ok
    }

    fn u32_range(&mut self, path: &str, v: u32, lo: u32, hi: u32, unit: &str) -> bool {
        if (lo..=hi).contains(&v) {
            return true;
        }
        let mut allowed = format!("in {lo}..={hi}");
        if !unit.is_empty() {
            let _ = write!(allowed, " ({unit})");
        }
        self.push(path, v.to_string(), allowed);
        false
    }

    fn name(&mut self, path: &str, name: &str, kind: &str, seen: &mut HashMap<String, String>) {
        if name.trim().is_empty() {
            self.push(
                path,
                format!("{name:?}"),
                format!("a non-empty {kind} name"),
            );
        } else if let Some(first) = seen.get(name) {
            self.push(
                path,
                format!("{name:?}"),
                format!("unique among {kind} names (already used by {first})"),
            );
        } else {
            seen.insert(name.to_string(), path.trim_end_matches(".name").to_string());
        }
    }

    fn scene(&mut self, s: &Scene) {
        if s.name.is_empty()
            || s.name == "."
            || s.name == ".."
            || s.name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            self.push(
                "name",
                format!("{:?}", s.name),
                "a non-empty name without `/`, `\\` or control characters (it is used in output file names)",
            );
        }
        let domain_ok = self.domain(&s.domain);
        self.time(&s.time);
        self.vec3_finite("gravity", s.gravity, "m/s²");

        let mut names = HashMap::new();
        for (i, b) in s.bodies.iter().enumerate() {
            self.body(&format!("bodies[{i}]"), b, &s.domain, domain_ok, &mut names);
        }
        for (i, f) in s.fem.iter().enumerate() {
            self.fem_body(&format!("fem[{i}]"), f, &s.domain, domain_ok, &mut names);
            if let Some(t) = f.mount.filter(|&t| t >= s.tool_count()) {
                self.push(
                    format!("fem[{i}].mount"),
                    format!("Some({t})"),
                    format!("a tool index (0..{}) or name", s.tool_count()),
                );
            }
        }
        // The GPU tags each particle with its body in 8 bits.
        if s.bodies.len() > MAX_BODIES {
            self.push(
                "bodies",
                format!("{} bodies", s.bodies.len()),
                format!("at most {MAX_BODIES} bodies"),
            );
        }
        let mut names = HashMap::new();
        for (i, t) in s.tools.iter().enumerate() {
            // Fingers are checked through their gripper.
            if t.finger.is_none() {
                self.tool(&format!("tools[{i}]"), t, &mut names);
            }
        }
        for (i, g) in s.grippers.iter().enumerate() {
            self.gripper(&format!("grippers[{i}]"), g, &mut names);
        }
        self.output(&s.output);
        let steps = u64::from(s.time.frames) * u64::from(s.time.substeps);
        for (i, l) in s.loss.iter().enumerate() {
            self.loss_term(
                &format!("loss[{i}]"),
                l,
                s.bodies.len(),
                &s.fem.iter().map(|f| f.sensor.is_some()).collect::<Vec<_>>(),
                s.tool_count(),
                steps,
            );
        }
    }

    fn loss_target(&mut self, p: &str, t: &BodyShape) {
        match t {
            BodyShape::Box { min, max } => {
                let a = self.vec3_finite(&format!("{p}.min"), *min, "m");
                let b = self.vec3_finite(&format!("{p}.max"), *max, "m");
                if a && b && (0..3).any(|k| min[k] >= max[k]) {
                    self.push(
                        format!("{p}.max"),
                        fmt_vec3(*max),
                        format!("greater than min {} on every axis", fmt_vec3(*min)),
                    );
                }
            }
            BodyShape::Sphere { center, radius } => {
                self.vec3_finite(&format!("{p}.center"), *center, "m");
                self.positive(&format!("{p}.radius"), *radius, "m");
            }
            BodyShape::Cylinder {
                center,
                radius,
                half_height,
            } => {
                self.vec3_finite(&format!("{p}.center"), *center, "m");
                self.positive(&format!("{p}.radius"), *radius, "m");
                self.positive(&format!("{p}.half_height"), *half_height, "m");
            }
            BodyShape::Mesh { scale, .. } => {
                self.positive(&format!("{p}.scale"), *scale, "");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn loss_term(
        &mut self,
        p: &str,
        l: &LossTerm,
        bodies: usize,
        fem_sensors: &[bool],
        tools: usize,
        steps: u64,
    ) {
        let fem = fem_sensors.len();
        if l.body >= bodies + fem {
            self.push(
                format!("{p}.body"),
                l.body.to_string(),
                format!(
                    "a body index: 0..{bodies} for bodies, {bodies}..{} for fem (or a name)",
                    bodies + fem
                ),
            );
        }
        // Terms on an FEM body measure its nodes: the kinds that need a
        // particle sampling or the MPM grid, or a second body, are MPM's.
        let on_fem = l.body >= bodies && l.body < bodies + fem;
        let mpm_only = match l.kind {
            LossKind::ShapeChamfer { .. } => Some("ShapeChamfer"),
            LossKind::ShapeDensity { .. } => Some("ShapeDensity"),
            LossKind::BodyDistance { .. } => Some("BodyDistance"),
            _ => None,
        };
        if let (true, Some(kind)) = (on_fem, mpm_only) {
            self.push(
                format!("{p}.kind"),
                format!("{kind} on FEM body {}", l.body),
                "CenterOfMass, CenterOfMassVelocity, MassOutside, ParticlePositions, ToolDistance or ContactForce on an FEM body (the others measure MPM bodies)",
            );
        }
        let with_sensor = on_fem && fem_sensors[l.body - bodies];
        if matches!(l.kind, LossKind::ContactForce { .. }) && !with_sensor {
            self.push(
                format!("{p}.body"),
                l.body.to_string(),
                "an FEM body with a sensor (ContactForce measures what a tactile sensor reads)",
            );
        }
        self.non_negative(&format!("{p}.weight"), l.weight, "");
        match &l.kind {
            LossKind::CenterOfMass { target } => {
                self.vec3_finite(&format!("{p}.kind.target"), *target, "m");
            }
            LossKind::CenterOfMassVelocity { target } => {
                self.vec3_finite(&format!("{p}.kind.target"), *target, "m/s");
            }
            LossKind::MassOutside { min, max, softness } => {
                let a = self.vec3_finite(&format!("{p}.kind.min"), *min, "m");
                let b = self.vec3_finite(&format!("{p}.kind.max"), *max, "m");
                if a && b && (0..3).any(|k| min[k] >= max[k]) {
                    self.push(
                        format!("{p}.kind.max"),
                        fmt_vec3(*max),
                        format!("greater than min {} on every axis", fmt_vec3(*min)),
                    );
                }
                self.positive(&format!("{p}.kind.softness"), *softness, "m");
            }
            LossKind::ShapeChamfer { target } | LossKind::ShapeDensity { target, .. } => {
                self.loss_target(&format!("{p}.kind.target"), target);
            }
            LossKind::ParticlePositions { every, .. } => {
                if *every == 0 {
                    self.push(format!("{p}.kind.every"), "0", ">= 1 substep");
                }
            }
            LossKind::BodyDistance { other, offset } => {
                if *other >= bodies || *other == l.body {
                    self.push(
                        format!("{p}.kind.other"),
                        other.to_string(),
                        format!(
                            "an index into bodies (0..{bodies}) other than the term's body {}",
                            l.body
                        ),
                    );
                }
                self.vec3_finite(&format!("{p}.kind.offset"), *offset, "m");
            }
            LossKind::ContactForce { target, axes } => {
                self.vec3_finite(&format!("{p}.kind.target"), *target, "N");
                if !(axes.0 || axes.1 || axes.2) {
                    self.push(
                        format!("{p}.kind.axes"),
                        "(false, false, false)",
                        "at least one axis true (the term would measure nothing)",
                    );
                }
            }
            LossKind::ToolDistance { tool } => {
                if *tool >= tools {
                    self.push(
                        format!("{p}.kind.tool"),
                        tool.to_string(),
                        format!("an index into tools (0..{tools})"),
                    );
                }
            }
        }
        if let LossWhen::Running { from, to } = l.when {
            if from > to || to > steps {
                self.push(
                    format!("{p}.when"),
                    format!("Running(from: {from}, to: {to})"),
                    format!("from <= to <= {steps} (frames × substeps)"),
                );
            }
        }
    }

    /// Returns whether the domain is usable for containment checks.
    fn domain(&mut self, d: &Domain) -> bool {
        let mut ok = self.vec3_finite("domain.origin", d.origin, "m");
        for (i, &n) in d.cells.iter().enumerate() {
            ok &= self.u32_range(&format!("domain.cells[{i}]"), n, 4, 1024, "");
        }
        ok &= self.positive("domain.dx", d.dx, "m");
        if self.u32_range("domain.boundary_cells", d.boundary_cells, 1, 8, "cells") {
            let smallest = d.cells.iter().copied().min().unwrap_or(0);
            if smallest >= 4 && 2 * d.boundary_cells >= smallest {
                self.push(
                    "domain.boundary_cells",
                    d.boundary_cells.to_string(),
                    format!(
                        "less than half the smallest domain.cells entry ({smallest}), \
                         so that cells remain between the walls"
                    ),
                );
            }
        }
        self.non_negative("domain.wall_friction", d.wall_friction, "");
        ok
    }

    fn time(&mut self, t: &Time) {
        self.range("time.dt", t.dt, B::Open(0.0), B::Closed(0.01), "s");
        self.u32_range("time.substeps", t.substeps, 1, 100_000, "");
        self.u32_range("time.frames", t.frames, 0, 1_000_000, "");
    }

    fn fem_body(
        &mut self,
        p: &str,
        f: &FemBody,
        domain: &Domain,
        domain_ok: bool,
        names: &mut HashMap<String, String>,
    ) {
        self.name(&format!("{p}.name"), &f.name, "body", names);
        self.positive(&format!("{p}.density"), f.density, "kg/m³");
        self.positive(&format!("{p}.youngs_modulus"), f.youngs_modulus, "Pa");
        self.range(
            &format!("{p}.poisson_ratio"),
            f.poisson_ratio,
            B::Open(-1.0),
            B::Open(0.5),
            "",
        );
        self.non_negative(&format!("{p}.damping"), f.damping, "1/s");
        self.vec3_finite(&format!("{p}.velocity"), f.velocity, "m/s");
        if let Some(t) = f.mount {
            if f.pin_below.is_none() && f.pin_inside.is_none() && !f.pin_base {
                self.push(
                    format!("{p}.mount"),
                    format!("Some({t})"),
                    "a mount together with pin_below, pin_inside or pin_base (the mounted nodes are the pinned ones)",
                );
            }
        }
        if let Some(c) = &f.contact {
            self.non_negative(&format!("{p}.contact.stiffness"), c.stiffness, "N/m");
            self.non_negative(&format!("{p}.contact.damping"), c.damping, "N·s/m");
            self.non_negative(&format!("{p}.contact.friction"), c.friction, "");
            self.positive(&format!("{p}.contact.stick_speed"), c.stick_speed, "m/s");
        }
        if let Some(m) = &f.matter {
            let q = format!("{p}.matter");
            if let Some(k) = m.stiffness {
                self.non_negative(&format!("{q}.stiffness"), k, "N/m");
            }
            self.non_negative(&format!("{q}.damping"), m.damping, "N·s/m");
            self.non_negative(&format!("{q}.friction"), m.friction, "");
            self.positive(&format!("{q}.stick_speed"), m.stick_speed, "m/s");
            if let Some(r) = m.radius {
                if domain_ok {
                    self.range(
                        &format!("{q}.radius"),
                        r,
                        B::Open(0.0),
                        B::Closed(domain.dx),
                        "m",
                    );
                } else {
                    self.positive(&format!("{q}.radius"), r, "m");
                }
            }
        }
        if let Some(sn) = &f.sensor {
            let q = format!("{p}.sensor");
            if f.pin_below.is_none() && f.pin_inside.is_none() && !f.pin_base {
                self.push(
                    q.clone(),
                    "Some(..)",
                    "a sensor together with pin_below, pin_inside or pin_base (its frame is the pinned base)",
                );
            }
            let c = &sn.camera;
            self.vec3_finite(&format!("{q}.camera.position"), c.position, "m");
            self.vec3_finite(&format!("{q}.camera.look_at"), c.look_at, "m");
            self.vec3_finite(&format!("{q}.camera.up"), c.up, "");
            for (k, v) in c.size.iter().enumerate() {
                self.u32_range(&format!("{q}.camera.size[{k}]"), *v, 1, 8192, "px");
            }
            for (k, v) in c.focal.iter().enumerate() {
                self.positive(&format!("{q}.camera.focal[{k}]"), *v, "px");
            }
            if let Some(pp) = c.principal {
                for (k, v) in pp.iter().enumerate() {
                    self.range(
                        &format!("{q}.camera.principal[{k}]"),
                        *v,
                        B::None,
                        B::None,
                        "px",
                    );
                }
            }
            self.u32_range(&format!("{q}.markers.rows"), sn.markers.rows, 1, 1024, "");
            self.u32_range(&format!("{q}.markers.cols"), sn.markers.cols, 1, 1024, "");
            let count = u64::from(sn.markers.rows) * u64::from(sn.markers.cols);
            if count > 4096 {
                self.push(
                    format!("{q}.markers"),
                    format!("{} × {}", sn.markers.rows, sn.markers.cols),
                    "at most 4096 markers (rows × cols): each is placed by casting a ray through the whole mesh",
                );
            }
            self.range(
                &format!("{q}.markers.margin"),
                sn.markers.margin,
                B::Closed(0.0),
                B::Open(0.5),
                "",
            );
        }
        if let Some([lo, hi]) = f.pin_inside {
            let a = self.vec3_finite(&format!("{p}.pin_inside[0]"), lo, "m");
            let b = self.vec3_finite(&format!("{p}.pin_inside[1]"), hi, "m");
            if a && b && (0..3).any(|k| lo[k] > hi[k]) {
                self.push(
                    format!("{p}.pin_inside[1]"),
                    fmt_vec3(hi),
                    format!("at least the min corner {} on every axis", fmt_vec3(lo)),
                );
            }
        }
        match &f.mesh {
            FemMesh::TetGen { path, scale, .. } | FemMesh::Gmsh { path, scale, .. } => {
                if path.is_empty() {
                    self.push(
                        format!("{p}.mesh.path"),
                        "\"\"",
                        "a mesh file relative to the scene",
                    );
                }
                self.positive(&format!("{p}.mesh.scale"), *scale, "");
                if let Some(y) = f.pin_below {
                    if !y.is_finite() {
                        self.push(format!("{p}.pin_below"), fmt_f64(y), "a finite height [m]");
                    }
                }
            }
            FemMesh::Pad {
                center,
                size,
                thickness,
                cells,
                layers,
                crown,
            } => {
                let q = format!("{p}.mesh");
                self.vec3_finite(&format!("{q}.center"), *center, "m");
                for (k, v) in size.iter().enumerate() {
                    self.positive(&format!("{q}.size[{k}]"), *v, "m");
                }
                self.positive(&format!("{q}.thickness"), *thickness, "m");
                self.non_negative(&format!("{q}.crown"), *crown, "m");
                for (k, &c) in cells.iter().enumerate() {
                    self.u32_range(&format!("{q}.cells[{k}]"), c, 1, 256, "");
                }
                self.u32_range(&format!("{q}.layers"), *layers, 1, 64, "");
            }
            FemMesh::Dome {
                center,
                radius,
                thickness,
                angle_deg,
                cells,
                layers,
            } => {
                let q = format!("{p}.mesh");
                self.vec3_finite(&format!("{q}.center"), *center, "m");
                if self.positive(&format!("{q}.radius"), *radius, "m") {
                    self.range(
                        &format!("{q}.thickness"),
                        *thickness,
                        B::Open(0.0),
                        B::Open(*radius),
                        "m",
                    );
                }
                self.range(
                    &format!("{q}.angle_deg"),
                    *angle_deg,
                    B::Open(0.0),
                    B::Closed(60.0),
                    "degrees",
                );
                self.u32_range(&format!("{q}.cells"), *cells, 2, 256, "");
                self.u32_range(&format!("{q}.layers"), *layers, 1, 64, "");
            }
            FemMesh::Box { min, max, cells } => {
                let q = format!("{p}.mesh");
                let a = self.vec3_finite(&format!("{q}.min"), *min, "m");
                let b = self.vec3_finite(&format!("{q}.max"), *max, "m");
                if a && b && (0..3).any(|k| min[k] >= max[k]) {
                    self.push(
                        format!("{q}.max"),
                        fmt_vec3(*max),
                        format!("greater than min {} on every axis", fmt_vec3(*min)),
                    );
                }
                for (k, &c) in cells.iter().enumerate() {
                    self.u32_range(&format!("{q}.cells[{k}]"), c, 1, 256, "");
                }
                let n: u64 = cells.iter().map(|&c| u64::from(c)).product();
                if n > 2_000_000 {
                    self.push(
                        format!("{q}.cells"),
                        format!("{cells:?}"),
                        "at most 2,000,000 hexahedra (12 million tetrahedra)",
                    );
                }
                if domain_ok && a && b {
                    let (lo, hi) = domain_bounds(domain);
                    if (0..3).any(|k| min[k] < lo[k] || max[k] > hi[k]) {
                        self.push(
                            format!("{q}.min"),
                            format!("{} .. {}", fmt_vec3(*min), fmt_vec3(*max)),
                            format!(
                                "a box inside the domain {} .. {}",
                                fmt_vec3(lo),
                                fmt_vec3(hi)
                            ),
                        );
                    }
                    if let Some(y) = f.pin_below {
                        if !(y.is_finite() && y >= min[1]) {
                            self.push(
                                format!("{p}.pin_below"),
                                fmt_f64(y),
                                format!("a height at or above the mesh's lowest y {} m (or leave it out to pin nothing)", fmt_f64(min[1])),
                            );
                        }
                    }
                }
            }
        }
    }

    fn body(
        &mut self,
        p: &str,
        b: &Body,
        domain: &Domain,
        domain_ok: bool,
        names: &mut HashMap<String, String>,
    ) {
        self.name(&format!("{p}.name"), &b.name, "body", names);
        let ppc_ok = self.u32_range(
            &format!("{p}.particles_per_cell"),
            b.particles_per_cell,
            1,
            64,
            "",
        );
        let n = if ppc_ok {
            cube_root(b.particles_per_cell)
        } else {
            None
        };
        if ppc_ok && n.is_none() {
            self.push(
                format!("{p}.particles_per_cell"),
                b.particles_per_cell.to_string(),
                "1, 8, 27 or 64 (a perfect cube: particles sit on a lattice of n×n×n sub-cells per cell)",
            );
        }
        // An emitter's shape is the stream still to come and may lie outside
        // the domain; its nozzle exit is checked when the stream is laid out.
        let inside = domain_ok && b.emitter.is_none();
        let shape_ok = self.body_shape(&format!("{p}.shape"), &b.shape, domain, inside);
        if let (Some(_), true, true) = (n, shape_ok, domain_ok) {
            if let Some(volume) = shape_volume(&b.shape) {
                let count = volume * f64::from(b.particles_per_cell) / domain.dx.powi(3);
                check_particle_count(self, &format!("{p}.shape"), count);
            }
        }
        self.material(&format!("{p}.material"), &b.material);
        let v_ok = self.vec3_finite(&format!("{p}.velocity"), b.velocity, "m/s");
        if let Some(e) = &b.emitter {
            self.non_negative(&format!("{p}.emitter.start"), e.start, "s");
            let mp = format!("{p}.emitter.motion");
            self.motion(&mp, &e.motion);
            match &e.motion {
                Motion::Keyframes(keys) => {
                    for (i, k) in keys.iter().enumerate() {
                        if k.rotation_deg != [0.0; 3] {
                            self.push(
                                format!("{mp}[{i}].rotation_deg"),
                                fmt_vec3(k.rotation_deg),
                                "(0, 0, 0): a nozzle translates, it does not turn",
                            );
                        }
                    }
                }
                Motion::Constant { angular_deg, .. } if *angular_deg != [0.0; 3] => {
                    self.push(
                        format!("{mp}.angular_deg"),
                        fmt_vec3(*angular_deg),
                        "(0, 0, 0): a nozzle translates, it does not turn",
                    );
                }
                _ => {}
            }
            if matches!(b.material, Material::Rigid { .. }) {
                self.push(
                    format!("{p}.emitter"),
                    "Some(..)".to_string(),
                    "none for a Rigid body (emit a fluid or a deformable solid)",
                );
            }
            if v_ok && b.velocity.iter().all(|x| *x == 0.0) {
                self.push(
                    format!("{p}.velocity"),
                    fmt_vec3(b.velocity),
                    "a non-zero stream velocity [m/s] for a body with an emitter",
                );
            }
        }
    }

    /// Checks a body shape; returns whether it is well-formed (finite, positive sizes).
    fn body_shape(&mut self, p: &str, s: &BodyShape, domain: &Domain, domain_ok: bool) -> bool {
        let (lo, hi) = domain_bounds(domain);
        let tol = 1e-9 * (1.0 + (0..3).map(|i| (hi[i] - lo[i]).abs()).fold(0.0, f64::max));
        let dom = format!("[{}, {}]", fmt_vec3(lo), fmt_vec3(hi));
        match s {
            BodyShape::Box { min, max } => {
                let mut ok = self.vec3_finite(&format!("{p}.min"), *min, "m");
                ok &= self.vec3_finite(&format!("{p}.max"), *max, "m");
                if !ok {
                    return false;
                }
                for i in 0..3 {
                    if max[i] <= min[i] {
                        self.push(
                            format!("{p}.max[{i}]"),
                            fmt_f64(max[i]),
                            format!("> min[{i}] = {} (m)", fmt_f64(min[i])),
                        );
                        ok = false;
                    }
                }
                if ok && domain_ok {
                    for i in 0..3 {
                        let axis = AXES[i];
                        let range = format!(
                            "inside the domain {dom}: {axis} in [{}, {}] (m)",
                            fmt_f64(lo[i]),
                            fmt_f64(hi[i])
                        );
                        if min[i] < lo[i] - tol {
                            self.push(format!("{p}.min[{i}]"), fmt_f64(min[i]), range);
                        } else if max[i] > hi[i] + tol {
                            self.push(format!("{p}.max[{i}]"), fmt_f64(max[i]), range);
                        }
                    }
                }
                ok
            }
            BodyShape::Sphere { center, radius } => {
                let mut ok = self.vec3_finite(&format!("{p}.center"), *center, "m");
                ok &= self.positive(&format!("{p}.radius"), *radius, "m");
                if ok && domain_ok {
                    self.round_inside(
                        p,
                        *center,
                        [*radius, *radius, *radius],
                        lo,
                        hi,
                        tol,
                        "sphere",
                    );
                }
                ok
            }
            BodyShape::Cylinder {
                center,
                radius,
                half_height,
            } => {
                let mut ok = self.vec3_finite(&format!("{p}.center"), *center, "m");
                ok &= self.positive(&format!("{p}.radius"), *radius, "m");
                ok &= self.positive(&format!("{p}.half_height"), *half_height, "m");
                if ok && domain_ok {
                    self.round_inside(
                        p,
                        *center,
                        [*radius, *half_height, *radius],
                        lo,
                        hi,
                        tol,
                        "cylinder",
                    );
                }
                ok
            }
            BodyShape::Mesh {
                path,
                scale,
                translation,
            } => {
                let mut ok = true;
                if path.trim().is_empty() {
                    self.push(
                        format!("{p}.path"),
                        format!("{path:?}"),
                        "a path to an OBJ file",
                    );
                    ok = false;
                }
                ok &= self.positive(&format!("{p}.scale"), *scale, "");
                ok &= self.vec3_finite(&format!("{p}.translation"), *translation, "m");
                ok
            }
        }
    }

    /// Checks that a shape with half extents `half` around `center` lies in `[lo, hi]`.
    #[allow(clippy::too_many_arguments)]
    fn round_inside(
        &mut self,
        p: &str,
        center: Vec3,
        half: Vec3,
        lo: Vec3,
        hi: Vec3,
        tol: f64,
        what: &str,
    ) {
        for i in 0..3 {
            let axis = AXES[i];
            if 2.0 * half[i] > hi[i] - lo[i] + tol {
                let (field, size) = if what == "cylinder" && i == 1 {
                    ("half_height", half[1])
                } else {
                    ("radius", half[i])
                };
                self.push(
                    format!("{p}.{field}"),
                    fmt_f64(size),
                    format!(
                        "<= {} so the {what} fits inside the domain along {axis} (m)",
                        fmt_f64((hi[i] - lo[i]) / 2.0)
                    ),
                );
                return;
            }
        }
        for i in 0..3 {
            let axis = AXES[i];
            if center[i] - half[i] < lo[i] - tol || center[i] + half[i] > hi[i] + tol {
                self.push(
                    format!("{p}.center[{i}]"),
                    fmt_f64(center[i]),
                    format!(
                        "in [{}, {}] so the {what} lies inside the domain along {axis} (m)",
                        fmt_f64(lo[i] + half[i]),
                        fmt_f64(hi[i] - half[i])
                    ),
                );
            }
        }
    }

    fn material(&mut self, p: &str, m: &Material) {
        let f = |name: &str| format!("{p}.{name}");
        match m {
            Material::Rigid { density } => {
                self.positive(&f("density"), *density, "kg/m³");
            }
            Material::Fluid {
                density,
                bulk_modulus,
                gamma,
                viscosity,
            } => {
                self.positive(&f("density"), *density, "kg/m³");
                self.positive(&f("bulk_modulus"), *bulk_modulus, "Pa");
                self.positive(&f("gamma"), *gamma, "");
                self.non_negative(&f("viscosity"), *viscosity, "Pa·s");
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
                self.elastic(p, *density, *youngs_modulus, *poisson_ratio);
            }
            Material::VonMises {
                density,
                youngs_modulus,
                poisson_ratio,
                yield_stress,
            } => {
                self.elastic(p, *density, *youngs_modulus, *poisson_ratio);
                self.positive(&f("yield_stress"), *yield_stress, "Pa");
            }
            Material::DruckerPrager {
                density,
                youngs_modulus,
                poisson_ratio,
                friction_angle_deg,
                cohesion,
            } => {
                self.elastic(p, *density, *youngs_modulus, *poisson_ratio);
                self.range(
                    &f("friction_angle_deg"),
                    *friction_angle_deg,
                    B::Open(0.0),
                    B::Open(90.0),
                    "degrees",
                );
                self.non_negative(&f("cohesion"), *cohesion, "Pa");
            }
            Material::Snow {
                density,
                youngs_modulus,
                poisson_ratio,
                critical_compression,
                critical_stretch,
                hardening,
            } => {
                self.elastic(p, *density, *youngs_modulus, *poisson_ratio);
                self.range(
                    &f("critical_compression"),
                    *critical_compression,
                    B::Open(0.0),
                    B::Open(1.0),
                    "",
                );
                self.positive(&f("critical_stretch"), *critical_stretch, "");
                self.non_negative(&f("hardening"), *hardening, "");
            }
            Material::HerschelBulkley {
                density,
                bulk_modulus,
                shear_modulus,
                yield_stress,
                consistency,
                flow_index,
            } => {
                self.positive(&f("density"), *density, "kg/m³");
                self.positive(&f("bulk_modulus"), *bulk_modulus, "Pa");
                self.positive(&f("shear_modulus"), *shear_modulus, "Pa");
                self.non_negative(&f("yield_stress"), *yield_stress, "Pa");
                self.positive(&f("consistency"), *consistency, "Pa·sⁿ");
                self.range(
                    &f("flow_index"),
                    *flow_index,
                    B::Open(0.0),
                    B::Closed(2.0),
                    "",
                );
            }
        }
    }

    fn elastic(&mut self, p: &str, density: f64, e: f64, nu: f64) {
        self.positive(&format!("{p}.density"), density, "kg/m³");
        self.positive(&format!("{p}.youngs_modulus"), e, "Pa");
        self.range(
            &format!("{p}.poisson_ratio"),
            nu,
            B::Closed(0.0),
            B::Open(0.5),
            "",
        );
    }

    fn tool(&mut self, p: &str, t: &Tool, names: &mut HashMap<String, String>) {
        self.name(&format!("{p}.name"), &t.name, "tool", names);
        self.tool_shape(&format!("{p}.shape"), &t.shape);
        self.vec3_finite(&format!("{p}.pose.position"), t.pose.position, "m");
        self.vec3_finite(
            &format!("{p}.pose.rotation_deg"),
            t.pose.rotation_deg,
            "degrees",
        );
        self.motion(&format!("{p}.motion"), &t.motion);
        self.non_negative(&format!("{p}.friction"), t.friction, "");
        self.non_negative(&format!("{p}.softness"), t.softness, "m");
    }

    fn tool_shape(&mut self, s: &str, shape: &ToolShape) {
        match shape {
            ToolShape::Box { half_extents } => {
                for (i, h) in half_extents.iter().enumerate() {
                    self.positive(&format!("{s}.half_extents[{i}]"), *h, "m");
                }
            }
            ToolShape::Sphere { radius } => {
                self.positive(&format!("{s}.radius"), *radius, "m");
            }
            ToolShape::Capsule {
                radius,
                half_height,
            } => {
                self.positive(&format!("{s}.radius"), *radius, "m");
                self.non_negative(&format!("{s}.half_height"), *half_height, "m");
            }
            ToolShape::Cylinder {
                radius,
                half_height,
            } => {
                self.positive(&format!("{s}.radius"), *radius, "m");
                self.positive(&format!("{s}.half_height"), *half_height, "m");
            }
            ToolShape::Plane => {}
            ToolShape::Mesh {
                path,
                scale,
                sdf_dx,
            } => {
                if path.trim().is_empty() {
                    self.push(
                        format!("{s}.path"),
                        format!("{path:?}"),
                        "a path to an OBJ file",
                    );
                }
                self.positive(&format!("{s}.scale"), *scale, "");
                self.positive(&format!("{s}.sdf_dx"), *sdf_dx, "m");
            }
        }
    }

    fn gripper(&mut self, p: &str, g: &Gripper, names: &mut HashMap<String, String>) {
        self.name(&format!("{p}.name"), &g.name, "tool", names);
        for side in ["left", "right"] {
            self.name(
                &format!("{p}.name"),
                &format!("{}.{side}", g.name),
                "tool",
                names,
            );
        }
        match &g.finger {
            ToolShape::Plane | ToolShape::Mesh { .. } => {
                let kind = if matches!(g.finger, ToolShape::Plane) {
                    "Plane"
                } else {
                    "Mesh(..)"
                };
                self.push(
                    format!("{p}.finger"),
                    kind,
                    "a Box, Sphere, Capsule or Cylinder finger",
                );
            }
            shape => self.tool_shape(&format!("{p}.finger"), shape),
        }
        self.vec3_finite(&format!("{p}.pose.position"), g.pose.position, "m");
        self.vec3_finite(
            &format!("{p}.pose.rotation_deg"),
            g.pose.rotation_deg,
            "degrees",
        );
        self.motion(&format!("{p}.motion"), &g.motion);
        if g.width.is_empty() {
            self.push(
                format!("{p}.width"),
                "[]",
                "a non-empty list of (time, width) keys",
            );
        }
        self.key_times(&format!("{p}.width"), g.width.iter().map(|k| k.time), "key");
        for (i, k) in g.width.iter().enumerate() {
            self.non_negative(&format!("{p}.width[{i}].width"), k.width, "m");
        }
        self.non_negative(&format!("{p}.friction"), g.friction, "");
        self.non_negative(&format!("{p}.softness"), g.softness, "m");
    }

    /// Times [s] of the keys of list `p` (`p[i].time`): each >= 0 and
    /// greater than the one before (`what`: how the error names a key).
    fn key_times(&mut self, p: &str, times: impl Iterator<Item = f64>, what: &str) {
        let mut prev: Option<f64> = None;
        for (i, t) in times.enumerate() {
            let tp = format!("{p}[{i}].time");
            let t_ok = self.non_negative(&tp, t, "s");
            if let (true, Some(prev)) = (t_ok, prev) {
                if t <= prev {
                    self.push(
                        tp,
                        fmt_f64(t),
                        format!(
                            "> {} s, the previous {what}'s time (times must strictly increase)",
                            fmt_f64(prev)
                        ),
                    );
                }
            }
            if t_ok {
                prev = Some(t);
            }
        }
    }

    fn motion(&mut self, p: &str, m: &Motion) {
        match m {
            Motion::Static => {}
            Motion::Keyframes(keys) => {
                if keys.is_empty() {
                    self.push(p, "Keyframes([])", "a non-empty list of keyframes");
                }
                self.key_times(p, keys.iter().map(|k| k.time), "keyframe");
                for (i, k) in keys.iter().enumerate() {
                    let kp = format!("{p}[{i}]");
                    self.vec3_finite(&format!("{kp}.position"), k.position, "m");
                    self.vec3_finite(&format!("{kp}.rotation_deg"), k.rotation_deg, "degrees");
                }
            }
            Motion::Constant {
                linear,
                angular_deg,
            } => {
                self.vec3_finite(&format!("{p}.linear"), *linear, "m/s");
                self.vec3_finite(&format!("{p}.angular_deg"), *angular_deg, "degrees/s");
            }
            Motion::PerStep(vs) => {
                if vs.is_empty() {
                    self.push(p, "PerStep([])", "a non-empty list of velocities");
                }
                for (i, v) in vs.iter().enumerate() {
                    self.vec3_finite(&format!("{p}[{i}]"), *v, "m/s");
                }
            }
        }
    }

    fn output(&mut self, o: &Output) {
        if o.every == 0 {
            self.push("output.every", "0", ">= 1");
        }
        let c = &o.camera;
        let eye_ok = c
            .eye
            .is_none_or(|e| self.vec3_finite("output.camera.eye", e, "m"));
        let target_ok = c
            .target
            .is_none_or(|t| self.vec3_finite("output.camera.target", t, "m"));
        if self.vec3_finite("output.camera.up", c.up, "") {
            if norm(c.up) == 0.0 {
                self.push("output.camera.up", fmt_vec3(c.up), "a non-zero vector");
            } else if let (Some(e), Some(t), true, true) = (c.eye, c.target, eye_ok, target_ok) {
                let dir = [t[0] - e[0], t[1] - e[1], t[2] - e[2]];
                if norm(dir) == 0.0 {
                    self.push(
                        "output.camera.target",
                        fmt_vec3(t),
                        "different from output.camera.eye",
                    );
                } else {
                    let cr = cross(dir, c.up);
                    if norm(cr) <= 1e-9 * norm(dir) * norm(c.up) {
                        self.push(
                            "output.camera.up",
                            fmt_vec3(c.up),
                            "not parallel to the viewing direction (target − eye)",
                        );
                    }
                }
            }
        }
        self.range(
            "output.camera.fov_deg",
            c.fov_deg,
            B::Open(1.0),
            B::Open(170.0),
            "degrees",
        );
        self.u32_range("output.camera.width", c.width, 16, 8192, "pixels");
        self.u32_range("output.camera.height", c.height, 16, 8192, "pixels");
    }
}

/// Reports a body whose particle estimate is above [`MAX_PARTICLES_PER_BODY`].
fn check_particle_count(c: &mut Checker, path: &str, count: f64) {
    if count > MAX_PARTICLES_PER_BODY as f64 {
        c.push(
            path,
            format!("about {} particles", fmt_f64(count.round())),
            format!(
                "at most {MAX_PARTICLES_PER_BODY} particles per body \
                 (use a smaller shape, a coarser domain.dx or fewer particles_per_cell)"
            ),
        );
    }
}

/// Too-many-particles check for a body whose volume is known only after its
/// mesh was loaded. Returns the violation, if any.
pub fn particle_count_violation(path: &str, volume: f64, dx: f64, ppc: u32) -> Option<Violation> {
    let mut c = Checker::default();
    check_particle_count(&mut c, path, volume * f64::from(ppc) / dx.powi(3));
    c.out.into_iter().next()
}

/// The volume of a body shape [m³], or `None` for meshes (known only once loaded).
pub fn shape_volume(s: &BodyShape) -> Option<f64> {
    match s {
        BodyShape::Box { min, max } => {
            Some((max[0] - min[0]) * (max[1] - min[1]) * (max[2] - min[2]))
        }
        BodyShape::Sphere { radius, .. } => Some(4.0 / 3.0 * std::f64::consts::PI * radius.powi(3)),
        BodyShape::Cylinder {
            radius,
            half_height,
            ..
        } => Some(std::f64::consts::PI * radius * radius * 2.0 * half_height),
        BodyShape::Mesh { .. } => None,
    }
}

fn norm(v: Vec3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats() {
        assert_eq!(fmt_f64(-5.0), "-5");
        assert_eq!(fmt_f64(0.3), "0.3");
        assert_eq!(fmt_f64(1e-9), "1e-9");
        assert_eq!(fmt_f64(2.5e20), "2.5e20");
        assert_eq!(fmt_f64(f64::NAN), "NaN");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_vec3([0.0, -9.81, 0.0]), "(0, -9.81, 0)");
    }

    #[test]
    fn cube_roots() {
        assert_eq!(cube_root(1), Some(1));
        assert_eq!(cube_root(8), Some(2));
        assert_eq!(cube_root(27), Some(3));
        assert_eq!(cube_root(64), Some(4));
        assert_eq!(cube_root(9), None);
        assert_eq!(cube_root(0), None);
    }
}
