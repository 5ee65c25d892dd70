//! The registry of parameter kinds: each kind of task control knows its
//! layout in the control vector θ (entries, bounds, scaling, which are
//! free), how to write its values into a rollout, and how to pull dL/dθ back
//! out of the rollout's gradients. [`kind`] is the one place a
//! [`ControlSpec`] is matched; [`crate::params::Params`] only assembles the
//! kinds' layouts and calls them in order. A gripper's position, width and
//! orientation controls compose, so those kinds also shape the gripper's
//! path ([`ParamKind::shape_gripper`]) that `Params` writes once per gripper.
//!
//! Adding a kind (another solver's parameter, say an FEM pad's Young's
//! modulus): a `ControlSpec` variant, a struct here implementing
//! [`ParamKind`], and its arm in [`kind`].

use crate::params::{
    key_weights, keyed_vec3, nozzle_weights, quat_exp, quat_exp_vjp, quat_mul_vjp,
    set_material_param, GripperPath,
};
use crate::task::{ControlSpec, Interpolation, LoadedTask, MaterialParam};
use crate::OptError;
use ductile_scene::{Material, Vec3};
use ductile_sim::control::{control_offset, CONTROL_ANGULAR, CONTROL_LINEAR, CONTROL_QUATERNION};
use ductile_sim::{Gradients, Rollout, StateHost};
use glam::{DQuat, DVec3};

/// The rollout's shape as every kind sees it.
pub(crate) struct Geometry<'a> {
    /// The rollout (its scene's bodies, release steps, current controls).
    pub r: &'a Rollout,
    /// Tools (at least 1: the Control's stride).
    pub nt: usize,
    /// Substep [s].
    pub dt: f64,
    /// Substeps of the rollout.
    pub steps: usize,
    /// Substeps the Control holds.
    pub n_ctrl: usize,
    /// The Control before any control was applied.
    pub base_control: &'a [f64],
}

/// A control's entries in θ: for each segment (or key) in order, one entry
/// per axis.
pub(crate) struct Layout {
    /// Name for logs (`tool0.v`).
    pub name: String,
    /// Segments or keys (the coarse map interpolates across them); `None`
    /// for a control with one value per axis.
    pub segments: Option<usize>,
    /// Initial value per axis.
    pub init: Vec<f64>,
    /// Lower bound per axis.
    pub min: Vec<f64>,
    /// Upper bound per axis.
    pub max: Vec<f64>,
    /// Axes the optimiser may change.
    pub mask: Vec<bool>,
    /// Leading segments held at their initial values.
    pub freeze: usize,
    /// Scaled logarithmically (material parameters).
    pub log: bool,
}

/// What [`ParamKind::apply`] writes into.
pub(crate) struct Written<'a> {
    /// The initial state.
    pub state: &'a mut StateHost,
    /// The Control values.
    pub control: &'a mut [f64],
    /// Each body's material.
    pub materials: &'a mut [Material],
}

/// ∂L/∂(centre, width, rotation vector) of a gripper's frame at each substep.
pub(crate) type GripperBars = (Vec<DVec3>, Vec<f64>, Vec<DVec3>);

/// The checks a layout makes, with located errors in the task file.
pub(crate) struct Check<'a> {
    pub task: &'a LoadedTask,
    /// Index of the control in the task's `controls`.
    pub index: usize,
    pub r: &'a Rollout,
}

impl Check<'_> {
    pub fn bad(&self, path: &str, v: String, allowed: String) -> OptError {
        OptError::Scene(
            self.task
                .invalid(format!("controls[{}].{path}", self.index), v, allowed),
        )
    }

    fn body(&self, body: usize) -> Result<(), OptError> {
        let bodies = self.r.sim.info().bodies.len();
        if body >= bodies {
            return Err(self.bad(
                "body",
                body.to_string(),
                format!("a body index (0..{bodies})"),
            ));
        }
        Ok(())
    }

    fn tool(&self, tool: usize) -> Result<(), OptError> {
        let tools = self.r.tool_params().len();
        if tool >= tools {
            Err(self.bad(
                "tool",
                tool.to_string(),
                format!("a tool index (0..{tools})"),
            ))
        } else if let Some(g) = self.r.sim.control().gripper_of[tool] {
            Err(self.bad(
                "tool",
                tool.to_string(),
                format!(
                    "a tool that is not a gripper's finger (tool {tool} moves with gripper {g}; control the gripper with GripperKeyframes, GripperRotationKeyframes or GripperWidth)"
                ),
            ))
        } else {
            Ok(())
        }
    }

    fn fingers(&self, g: usize) -> Result<[usize; 2], OptError> {
        crate::params::finger_tools(self.r, g).ok_or_else(|| {
            self.bad(
                "gripper",
                g.to_string(),
                format!(
                    "a gripper index (0..{})",
                    crate::params::gripper_count(self.r)
                ),
            )
        })
    }

    fn keys(&self, keys: usize) -> Result<(), OptError> {
        if keys > self.r.steps() + 1 {
            return Err(self.bad(
                "keys",
                keys.to_string(),
                format!(
                    "at most the rollout's substeps + 1 = {}",
                    self.r.steps() + 1
                ),
            ));
        }
        Ok(())
    }

    fn in_box(
        &self,
        v: [f64; 3],
        min: &[f64; 3],
        max: &[f64; 3],
        what: &str,
    ) -> Result<(), OptError> {
        if (0..3).any(|k| !(v[k] >= min[k] && v[k] <= max[k])) {
            return Err(self.bad(
                "min",
                format!("{min:?} .. {max:?}"),
                format!("bounds that hold {what} {v:?} (or give `init`)"),
            ));
        }
        Ok(())
    }

    fn in_range(&self, v: f64, min: f64, max: f64, what: &str) -> Result<(), OptError> {
        if !(v >= min && v <= max) {
            return Err(self.bad(
                "min",
                format!("{min} .. {max}"),
                format!("bounds that hold {what} {v} (or give `init`)"),
            ));
        }
        Ok(())
    }
}

/// One kind of task control.
pub(crate) trait ParamKind {
    /// Its entries in θ, checked against the rollout.
    fn layout(&self, c: &Check) -> Result<Layout, OptError>;
    /// Writes its values `th` (its slice of θ) into `out`. Gripper kinds
    /// write nothing here: [`ParamKind::shape_gripper`] does their part.
    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError>;
    /// Adds dL/d`th` into `out` from the rollout's gradients `g`; `grip(gi)`
    /// gives gripper `gi`'s frame gradients.
    fn pull_back(
        &self,
        th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        grip: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    );
    /// The gripper whose frame this control moves, if any.
    fn gripper(&self) -> Option<usize> {
        None
    }
    /// Sets its part of gripper `gi`'s path (centre, width or rotation) from `th`.
    fn shape_gripper(&self, _gi: usize, _th: &[f64], _geo: &Geometry, _path: &mut GripperPath) {}
}

/// A 3-vector control's bounds, mask and frozen leading segments.
struct Bounds3 {
    init: Option<Vec3>,
    min: Vec3,
    max: Vec3,
    mask: Option<[bool; 3]>,
    freeze: usize,
}

impl Bounds3 {
    fn layout(
        &self,
        c: &Check,
        name: String,
        segments: Option<usize>,
        scene: Vec3,
        what: &str,
    ) -> Result<Layout, OptError> {
        let v = self.init.unwrap_or(scene);
        c.in_box(v, &self.min, &self.max, what)?;
        Ok(Layout {
            name,
            segments,
            init: v.to_vec(),
            min: self.min.to_vec(),
            max: self.max.to_vec(),
            mask: self.mask.unwrap_or([true; 3]).to_vec(),
            freeze: self.freeze,
            log: false,
        })
    }
}

/// The kind of control `spec` is (the registry).
pub(crate) fn kind(spec: &ControlSpec) -> Box<dyn ParamKind> {
    let b3 =
        |init: &Option<Vec3>, min: &Vec3, max: &Vec3, mask: &Option<[bool; 3]>, freeze: usize| {
            Bounds3 {
                init: *init,
                min: *min,
                max: *max,
                mask: *mask,
                freeze,
            }
        };
    match spec {
        ControlSpec::InitialVelocity {
            body,
            init,
            min,
            max,
            mask,
        } => Box::new(InitialVelocity {
            body: *body,
            b: b3(init, min, max, mask, 0),
        }),
        ControlSpec::InitialOffset {
            body,
            init,
            min,
            max,
            mask,
        } => Box::new(InitialOffset {
            body: *body,
            b: b3(init, min, max, mask, 0),
        }),
        ControlSpec::Material {
            body,
            param,
            init,
            min,
            max,
        } => Box::new(MaterialKind {
            body: *body,
            param: *param,
            init: *init,
            min: *min,
            max: *max,
        }),
        ControlSpec::ToolVelocity {
            tool,
            segments,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(ToolVelocity {
            tool: *tool,
            segments: *segments,
            angular: false,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::ToolAngularVelocity {
            tool,
            segments,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(ToolVelocity {
            tool: *tool,
            segments: *segments,
            angular: true,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::ToolKeyframes {
            tool,
            keys,
            interpolation,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(ToolKeyframes {
            tool: *tool,
            keys: *keys,
            interp: *interpolation,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::ToolRotationKeyframes {
            tool,
            keys,
            interpolation,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(ToolRotationKeyframes {
            tool: *tool,
            keys: *keys,
            interp: *interpolation,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::EmitterKeyframes {
            body,
            keys,
            interpolation,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(EmitterKeyframes {
            body: *body,
            keys: *keys,
            interp: *interpolation,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::GripperKeyframes {
            gripper,
            keys,
            interpolation,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(GripperKeyframes {
            gripper: *gripper,
            keys: *keys,
            interp: *interpolation,
            rotation: false,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::GripperRotationKeyframes {
            gripper,
            keys,
            interpolation,
            init,
            min,
            max,
            mask,
            freeze,
        } => Box::new(GripperKeyframes {
            gripper: *gripper,
            keys: *keys,
            interp: *interpolation,
            rotation: true,
            b: b3(init, min, max, mask, *freeze),
        }),
        ControlSpec::GripperWidth {
            gripper,
            keys,
            interpolation,
            init,
            min,
            max,
            freeze,
        } => Box::new(GripperWidth {
            gripper: *gripper,
            keys: *keys,
            interp: *interpolation,
            init: *init,
            min: *min,
            max: *max,
            freeze: *freeze,
        }),
    }
}

/// The same initial velocity [m/s] for every particle of a body.
struct InitialVelocity {
    body: usize,
    b: Bounds3,
}

impl ParamKind for InitialVelocity {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.body(self.body)?;
        let q = c.r.sim.info().bodies[self.body].1.start as usize;
        let s = &c.r.initial_state().v;
        let scene = [s[3 * q], s[3 * q + 1], s[3 * q + 2]];
        self.b.layout(
            c,
            format!("body{}.v0", self.body),
            None,
            scene,
            "the scene's initial velocity",
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        for q in geo.r.sim.info().bodies[self.body].1.clone() {
            out.state.v[3 * q as usize..3 * q as usize + 3].copy_from_slice(th);
        }
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        for q in geo.r.sim.info().bodies[self.body].1.clone() {
            for (a, o) in out.iter_mut().enumerate() {
                *o += g.v0[3 * q as usize + a];
            }
        }
    }
}

/// A displacement [m] of every particle of a body from where the scene places it.
struct InitialOffset {
    body: usize,
    b: Bounds3,
}

impl ParamKind for InitialOffset {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.body(self.body)?;
        self.b.layout(
            c,
            format!("body{}.offset", self.body),
            None,
            [0.0; 3],
            "the initial offset (default zero)",
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        for q in geo.r.sim.info().bodies[self.body].1.clone() {
            for (a, d) in th.iter().enumerate() {
                out.state.x[3 * q as usize + a] += d;
            }
        }
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        for q in geo.r.sim.info().bodies[self.body].1.clone() {
            for (a, o) in out.iter_mut().enumerate() {
                *o += g.x0[3 * q as usize + a];
            }
        }
    }
}

/// One material parameter of a body (scaled logarithmically).
struct MaterialKind {
    body: usize,
    param: MaterialParam,
    init: Option<f64>,
    min: f64,
    max: f64,
}

impl ParamKind for MaterialKind {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.body(self.body)?;
        let m = &c.r.materials()[self.body];
        let scene = crate::params::material_param(m, self.param).ok_or_else(|| {
            c.bad(
                "param",
                format!("{:?}", self.param),
                format!("a parameter of {}", ductile_sim::material::model_name(m)),
            )
        })?;
        let v = self.init.unwrap_or(scene);
        c.in_range(v, self.min, self.max, "the scene's value")?;
        Ok(Layout {
            name: format!("body{}.{:?}", self.body, self.param),
            segments: None,
            init: vec![v],
            min: vec![self.min],
            max: vec![self.max],
            mask: vec![true],
            freeze: 0,
            log: true,
        })
    }

    fn apply(&self, th: &[f64], _geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        out.materials[self.body] = set_material_param(&out.materials[self.body], self.param, th[0])
            .map_err(OptError::Other)?;
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        _geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        let b = &g.bodies[self.body];
        out[0] = match self.param {
            MaterialParam::YoungsModulus => b.youngs_modulus,
            MaterialParam::PoissonRatio => b.poisson_ratio,
            MaterialParam::YieldStress => b.a,
            MaterialParam::FrictionAngle => b.friction_angle_deg,
            MaterialParam::Viscosity => b.mu,
            MaterialParam::Density => b.density,
            MaterialParam::Consistency => b.b,
            MaterialParam::FlowIndex => b.c,
            MaterialParam::Cohesion => b.cohesion,
        };
    }
}

/// A tool's linear (or angular) velocity held over each of `segments`
/// equal segments of the rollout, its pose integrated from the scene's.
struct ToolVelocity {
    tool: usize,
    segments: usize,
    angular: bool,
    b: Bounds3,
}

impl ParamKind for ToolVelocity {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.tool(self.tool)?;
        if self.segments > c.r.steps() {
            return Err(c.bad(
                "segments",
                self.segments.to_string(),
                format!("at most the rollout's {} substeps", c.r.steps()),
            ));
        }
        let (what, name) = if self.angular {
            ("angular velocity", format!("tool{}.w", self.tool))
        } else {
            ("velocity", format!("tool{}.v", self.tool))
        };
        self.b.layout(
            c,
            name,
            Some(self.segments),
            [0.0; 3],
            &format!("the initial {what} (default zero)"),
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        let (tool, segments, nt, dt) = (self.tool, self.segments, geo.nt, geo.dt);
        let seg_len = geo.steps.div_ceil(segments);
        let control = &mut *out.control;
        let o0 = control_offset(0, tool, nt);
        if !self.angular {
            let mut pos = [control[o0], control[o0 + 1], control[o0 + 2]];
            for n in 0..geo.n_ctrl {
                let s = (n / seg_len).min(segments - 1);
                let o = control_offset(n, tool, nt);
                for a in 0..3 {
                    let v = th[3 * s + a];
                    control[o + a] = pos[a];
                    control[o + CONTROL_LINEAR + a] = v;
                    pos[a] += dt * v;
                }
            }
        } else {
            let mut q =
                DQuat::from_slice(&control[o0 + CONTROL_QUATERNION..o0 + CONTROL_QUATERNION + 4]);
            for n in 0..geo.n_ctrl {
                let s = (n / seg_len).min(segments - 1);
                let o = control_offset(n, tool, nt);
                let w = DVec3::from_slice(&th[3 * s..3 * s + 3]);
                control[o + CONTROL_QUATERNION..o + CONTROL_QUATERNION + 4]
                    .copy_from_slice(&q.to_array());
                control[o + CONTROL_ANGULAR..o + CONTROL_ANGULAR + 3]
                    .copy_from_slice(&w.to_array());
                q = quat_exp(dt * w) * q;
            }
        }
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        let (tool, segments, nt, dt) = (self.tool, self.segments, geo.nt, geo.dt);
        let seg_len = geo.steps.div_ceil(segments);
        if !self.angular {
            // dL/dv_n = dL/dlin_n + dt Σ_{m > n} dL/dpos_m.
            let mut later_pos = [0.0; 3];
            for n in (0..geo.n_ctrl).rev() {
                let o = control_offset(n, tool, nt);
                let s = (n / seg_len).min(segments - 1);
                for a in 0..3 {
                    out[3 * s + a] += g.control[o + CONTROL_LINEAR + a] + dt * later_pos[a];
                    later_pos[a] += g.control[o + a];
                }
            }
            return;
        }
        let c = geo.r.control_values();
        // Reverse sweep of q(n + 1) = e(n) q(n), e(n) = exp(dt ω(n)):
        // q̄(n) = ∂L/∂q(n) + L(e(n))ᵀ q̄(n + 1),
        // ω̄(n) = ∂L/∂ω(n) + dt · J_exp(dt ω(n))ᵀ R(q(n))ᵀ q̄(n + 1).
        let mut qbar_next = DQuat::from_xyzw(0.0, 0.0, 0.0, 0.0);
        for n in (0..geo.n_ctrl).rev() {
            let o = control_offset(n, tool, nt);
            let s = (n / seg_len).min(segments - 1);
            let q = DQuat::from_slice(&c[o + CONTROL_QUATERNION..o + CONTROL_QUATERNION + 4]);
            let w = DVec3::from_slice(&c[o + CONTROL_ANGULAR..o + CONTROL_ANGULAR + 3]);
            let (e_bar, q_bar) = quat_mul_vjp(quat_exp(dt * w), q, qbar_next);
            let w_bar = dt * quat_exp_vjp(dt * w, e_bar);
            for a in 0..3 {
                out[3 * s + a] += g.control[o + CONTROL_ANGULAR + a] + w_bar[a];
            }
            qbar_next =
                DQuat::from_slice(&g.control[o + CONTROL_QUATERNION..o + CONTROL_QUATERNION + 4])
                    + q_bar;
        }
    }
}

/// A tool's position [m] at `keys` keys, interpolated between them; its
/// velocity carries it to the next substep's position.
struct ToolKeyframes {
    tool: usize,
    keys: usize,
    interp: Interpolation,
    b: Bounds3,
}

impl ParamKind for ToolKeyframes {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.tool(self.tool)?;
        c.keys(self.keys)?;
        let o = control_offset(0, self.tool, c.r.tool_params().len());
        let v = c.r.control_values();
        let scene = [v[o], v[o + 1], v[o + 2]];
        self.b.layout(
            c,
            format!("tool{}.key", self.tool),
            Some(self.keys),
            scene,
            "the tool's scene position",
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        let w = key_weights(self.keys, self.interp, geo.n_ctrl);
        let at =
            |n: usize, a: usize| -> f64 { w[n].iter().map(|&(j, wj)| wj * th[3 * j + a]).sum() };
        for n in 0..geo.n_ctrl {
            let o = control_offset(n, self.tool, geo.nt);
            for a in 0..3 {
                out.control[o + a] = at(n, a);
                out.control[o + CONTROL_LINEAR + a] = (at(n + 1, a) - at(n, a)) / geo.dt;
            }
        }
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        let w = key_weights(self.keys, self.interp, geo.n_ctrl);
        for n in 0..geo.n_ctrl {
            let o = control_offset(n, self.tool, geo.nt);
            for a in 0..3 {
                let (gp, gv) = (g.control[o + a], g.control[o + CONTROL_LINEAR + a] / geo.dt);
                for &(j, wj) in &w[n] {
                    out[3 * j + a] += wj * (gp - gv);
                }
                for &(j, wj) in &w[n + 1] {
                    out[3 * j + a] += wj * gv;
                }
            }
        }
    }
}

/// A tool's rotation vector θ [rad] at `keys` keys: orientation
/// exp(θ(n)) q₀ and angular velocity (θ(n + 1) − θ(n)) / dt.
struct ToolRotationKeyframes {
    tool: usize,
    keys: usize,
    interp: Interpolation,
    b: Bounds3,
}

impl ParamKind for ToolRotationKeyframes {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.tool(self.tool)?;
        c.keys(self.keys)?;
        self.b.layout(
            c,
            format!("tool{}.rot", self.tool),
            Some(self.keys),
            [0.0; 3],
            "the initial rotation (default zero)",
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        let w = key_weights(self.keys, self.interp, geo.n_ctrl);
        let o0 = control_offset(0, self.tool, geo.nt) + CONTROL_QUATERNION;
        let q0 = DQuat::from_slice(&out.control[o0..o0 + 4]);
        let rot = |n: usize| keyed_vec3(&w[n], th);
        for n in 0..geo.n_ctrl {
            let o = control_offset(n, self.tool, geo.nt);
            let (r0, r1) = (rot(n), rot(n + 1));
            out.control[o + CONTROL_QUATERNION..o + CONTROL_QUATERNION + 4]
                .copy_from_slice(&(quat_exp(r0) * q0).to_array());
            out.control[o + CONTROL_ANGULAR..o + CONTROL_ANGULAR + 3]
                .copy_from_slice(&((r1 - r0) / geo.dt).to_array());
        }
        Ok(())
    }

    fn pull_back(
        &self,
        th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        // q(n) = exp(θ(n)) q₀ and ω(n) = (θ(n + 1) − θ(n)) / dt, θ(n) = Σ_j w_nj θ_j.
        let w = key_weights(self.keys, self.interp, geo.n_ctrl);
        let q = control_offset(0, self.tool, geo.nt) + CONTROL_QUATERNION;
        let q0 = DQuat::from_slice(&geo.base_control[q..q + 4]);
        for n in 0..geo.n_ctrl {
            let o = control_offset(n, self.tool, geo.nt);
            let r_n = keyed_vec3(&w[n], th);
            let q_bar =
                DQuat::from_slice(&g.control[o + CONTROL_QUATERNION..o + CONTROL_QUATERNION + 4]);
            let (e_bar, _) = quat_mul_vjp(quat_exp(r_n), q0, q_bar);
            let rbar_n = quat_exp_vjp(r_n, e_bar);
            let wbar = DVec3::from_slice(&g.control[o + CONTROL_ANGULAR..o + CONTROL_ANGULAR + 3])
                / geo.dt;
            for &(j, wj) in &w[n] {
                for a in 0..3 {
                    out[3 * j + a] += wj * (rbar_n[a] - wbar[a]);
                }
            }
            for &(j, wj) in &w[n + 1] {
                for a in 0..3 {
                    out[3 * j + a] += wj * wbar[a];
                }
            }
        }
    }
}

/// An emitter's nozzle displacement [m] at `keys` keys: each particle
/// starts displaced by d(n) at its release substep n and leaves with the
/// nozzle's velocity (d(n + 1) − d(n)) / dt added.
struct EmitterKeyframes {
    body: usize,
    keys: usize,
    interp: Interpolation,
    b: Bounds3,
}

impl ParamKind for EmitterKeyframes {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        c.body(self.body)?;
        if !c.r.sim.info().emitter_bodies.contains(&(self.body as u32)) {
            return Err(c.bad(
                "body",
                self.body.to_string(),
                "a body with an `emitter`".to_string(),
            ));
        }
        c.keys(self.keys)?;
        self.b.layout(
            c,
            format!("body{}.nozzle", self.body),
            Some(self.keys),
            [0.0; 3],
            "the initial displacement (default zero)",
        )
    }

    fn apply(&self, th: &[f64], geo: &Geometry, out: &mut Written) -> Result<(), OptError> {
        // x_q += d(n), v_q += (d(n + 1) − d(n)) / dt for a particle released
        // at substep n < steps, with d(n) = Σ_j k_nj D_j.
        let kw = key_weights(self.keys, self.interp, geo.steps);
        let info = geo.r.sim.info();
        for q in info.bodies[self.body].1.clone() {
            let q = q as usize;
            let n = (info.release_steps[q] as usize).min(geo.steps);
            for (j, wx, wv) in nozzle_weights(&kw, n, geo.dt) {
                for a in 0..3 {
                    out.state.x[3 * q + a] += wx * th[3 * j + a];
                    out.state.v[3 * q + a] += wv * th[3 * j + a];
                }
            }
        }
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        g: &Gradients,
        geo: &Geometry,
        _: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        let kw = key_weights(self.keys, self.interp, geo.steps);
        let info = geo.r.sim.info();
        for q in info.bodies[self.body].1.clone() {
            let q = q as usize;
            let n = (info.release_steps[q] as usize).min(geo.steps);
            for (j, wx, wv) in nozzle_weights(&kw, n, geo.dt) {
                for a in 0..3 {
                    out[3 * j + a] += wx * g.x0[3 * q + a] + wv * g.v0[3 * q + a];
                }
            }
        }
    }
}

/// A gripper's centre [m] (or, `rotation`, its rotation vector [rad]) at
/// `keys` keys; composed with its width into the fingers' controls.
struct GripperKeyframes {
    gripper: usize,
    keys: usize,
    interp: Interpolation,
    rotation: bool,
    b: Bounds3,
}

impl ParamKind for GripperKeyframes {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        let [left, right] = c.fingers(self.gripper)?;
        c.keys(self.keys)?;
        if self.rotation {
            return self.b.layout(
                c,
                format!("gripper{}.rot", self.gripper),
                Some(self.keys),
                [0.0; 3],
                "the initial rotation (default zero)",
            );
        }
        let v = c.r.control_values();
        let nt = c.r.tool_params().len();
        let (l, r) = (control_offset(0, left, nt), control_offset(0, right, nt));
        let mid: [f64; 3] = std::array::from_fn(|k| 0.5 * (v[l + k] + v[r + k]));
        self.b.layout(
            c,
            format!("gripper{}.key", self.gripper),
            Some(self.keys),
            mid,
            "the gripper's scene position",
        )
    }

    fn apply(&self, _th: &[f64], _geo: &Geometry, _out: &mut Written) -> Result<(), OptError> {
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        _g: &Gradients,
        geo: &Geometry,
        grip: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        // c(n) or θ(n) = Σ_j k_nj K_j.
        let (c_bar, _, rot_bar) = grip(self.gripper);
        let bar = if self.rotation { rot_bar } else { c_bar };
        let kw = key_weights(self.keys, self.interp, geo.n_ctrl);
        for (row, b) in kw.iter().zip(&bar) {
            for &(j, wj) in row {
                for a in 0..3 {
                    out[3 * j + a] += wj * b[a];
                }
            }
        }
    }

    fn gripper(&self) -> Option<usize> {
        Some(self.gripper)
    }

    fn shape_gripper(&self, gi: usize, th: &[f64], geo: &Geometry, path: &mut GripperPath) {
        if gi != self.gripper {
            return;
        }
        let kw = key_weights(self.keys, self.interp, geo.n_ctrl);
        if !self.rotation {
            path.center = kw.iter().map(|row| keyed_vec3(row, th)).collect();
            return;
        }
        let o = control_offset(0, path.fingers[0], geo.nt) + CONTROL_QUATERNION;
        let q0 = DQuat::from_slice(&geo.base_control[o..o + 4]);
        let rot: Vec<DVec3> = kw.iter().map(|row| keyed_vec3(row, th)).collect();
        path.axis = rot.iter().map(|&v| (quat_exp(v) * q0) * DVec3::X).collect();
        path.rotation = Some((q0, rot));
    }
}

/// A gripper's opening [m] at `keys` keys.
struct GripperWidth {
    gripper: usize,
    keys: usize,
    interp: Interpolation,
    init: Option<f64>,
    min: f64,
    max: f64,
    freeze: usize,
}

impl ParamKind for GripperWidth {
    fn layout(&self, c: &Check) -> Result<Layout, OptError> {
        let [left, right] = c.fingers(self.gripper)?;
        c.keys(self.keys)?;
        let v = c.r.control_values();
        let nt = c.r.tool_params().len();
        let (l, rt) = (control_offset(0, left, nt), control_offset(0, right, nt));
        let scene_w = (0..3)
            .map(|k| (v[rt + k] - v[l + k]).powi(2))
            .sum::<f64>()
            .sqrt();
        let w = self.init.unwrap_or(scene_w);
        if !(w >= self.min && w <= self.max) {
            return Err(c.bad(
                "min",
                format!("{} .. {}", self.min, self.max),
                format!("bounds that hold the scene's width {w} m at t = 0 (or give `init`)"),
            ));
        }
        Ok(Layout {
            name: format!("gripper{}.width", self.gripper),
            segments: Some(self.keys),
            init: vec![w],
            min: vec![self.min],
            max: vec![self.max],
            mask: vec![true],
            freeze: self.freeze,
            log: false,
        })
    }

    fn apply(&self, _th: &[f64], _geo: &Geometry, _out: &mut Written) -> Result<(), OptError> {
        Ok(())
    }

    fn pull_back(
        &self,
        _th: &[f64],
        _g: &Gradients,
        geo: &Geometry,
        grip: &dyn Fn(usize) -> GripperBars,
        out: &mut [f64],
    ) {
        // w(n) = Σ_j k_nj W_j.
        let (_, w_bar, _) = grip(self.gripper);
        let kw = key_weights(self.keys, self.interp, geo.n_ctrl);
        for (row, b) in kw.iter().zip(&w_bar) {
            for &(j, wj) in row {
                out[j] += wj * b;
            }
        }
    }

    fn gripper(&self) -> Option<usize> {
        Some(self.gripper)
    }

    fn shape_gripper(&self, gi: usize, th: &[f64], geo: &Geometry, path: &mut GripperPath) {
        if gi != self.gripper {
            return;
        }
        let kw = key_weights(self.keys, self.interp, geo.n_ctrl);
        path.width = kw
            .iter()
            .map(|row| row.iter().map(|&(j, wj)| wj * th[j]).sum())
            .collect();
    }
}
