//! The task file (RON, in `scenes/tasks/`): a scene, the controls to
//! optimise with their bounds, masks and initial guesses, an optional
//! reference recording, an optional expanding loss window, and the
//! optimiser. Parsed with `deny_unknown_fields` and validated with located
//! errors, as scenes are.

use ductile_scene::{SceneError, Vec3};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An optimisation task.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Scene file, relative to the task file, or the scene itself written
    /// inline (`scene: Scene(...)`; see [`LoadedTask::inline_scene`]). Its
    /// `loss` is minimised.
    pub scene: String,
    /// Substeps of each rollout (default: the scene's frames × substeps).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Run the scene as written first and record a body's particle positions
    /// (the ground truth of a system-identification task).
    #[serde(default)]
    pub record: Option<Record>,
    /// What the optimiser changes.
    pub controls: Vec<ControlSpec>,
    /// How.
    pub optimizer: Optimizer,
    /// A loss window that starts short and expands when the loss plateaus
    /// (FluidLab's temporally expanding optimisation; gradient phases only).
    #[serde(default)]
    pub window: Option<ExpandingWindow>,
    /// Kernel precision of the rollouts (default: the scene's; `ductile
    /// optimize --f64` overrides it). Long granular or contact-rich
    /// rollouts can need `F64` for a gradient whose sign is right.
    #[serde(default)]
    pub precision: Option<ductile_scene::Precision>,
}

/// A recording of particle positions made before optimising.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Body whose particles are recorded.
    #[serde(deserialize_with = "ductile_scene::refs::body")]
    pub body: usize,
    /// NPY file written, relative to the scene file (the scene's
    /// `ParticlePositions` loss reads it): shape [records, particles, 3].
    pub path: String,
    /// Substeps between records (>= 1).
    pub every: u64,
}

/// The loss is first evaluated over substeps `0..=start` only (running
/// terms clipped to the window, final terms evaluated at its end); each time
/// the loss fails to improve by `tolerance` (relative) for `patience`
/// iterations, the window grows by `grow` substeps, until it covers the
/// rollout. Only iterations over the whole rollout compete for "best".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpandingWindow {
    /// First window end [substeps] (>= 1).
    pub start: usize,
    /// Growth per plateau [substeps] (>= 1).
    pub grow: usize,
    /// Iterations without relative improvement > `tolerance` that make a plateau (default 3).
    #[serde(default = "three")]
    pub patience: usize,
    /// Relative improvement counted as progress (default 0.01).
    #[serde(default = "one_percent")]
    pub tolerance: f64,
}

fn three() -> usize {
    3
}
fn one_percent() -> f64 {
    0.01
}

/// Material parameters that can be optimised.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MaterialParam {
    /// Young's modulus E [Pa].
    YoungsModulus,
    /// Poisson ratio ν.
    PoissonRatio,
    /// Yield stress [Pa]: von Mises σ_Y, Herschel–Bulkley τ_y.
    YieldStress,
    /// Herschel–Bulkley consistency k [Pa·sⁿ].
    Consistency,
    /// Herschel–Bulkley flow index n.
    FlowIndex,
    /// Drucker–Prager cohesion [Pa].
    Cohesion,
    /// Drucker–Prager friction angle [degrees].
    FrictionAngle,
    /// Fluid viscosity [Pa·s].
    Viscosity,
    /// Density [kg/m³].
    Density,
}

/// How key-framed poses are interpolated in time.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Interpolation {
    /// Piecewise linear (velocity piecewise constant).
    #[default]
    Linear,
    /// Uniform Catmull–Rom spline through the keys (velocity continuous).
    CatmullRom,
}

/// One optimised quantity, with bounds and an initial guess. The optimiser
/// works in coordinates scaled to [0, 1] between the bounds (logarithmic for
/// material parameters), and projects back into them after every step.
/// `mask` (per axis, default all true) leaves the axes marked false at their
/// initial guess; `freeze` leaves the first segments or keys at theirs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum ControlSpec {
    /// The initial velocity [m/s] of every particle of a body.
    InitialVelocity {
        /// The body: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::body")]
        body: usize,
        /// Initial guess (default: the scene's value).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m/s].
        min: Vec3,
        /// Upper bound per axis [m/s].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
    },
    /// A rigid translation [m] of a body's initial particle positions from
    /// where the scene places them (initial guess zero unless given).
    InitialOffset {
        /// The body: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::body")]
        body: usize,
        /// Initial guess [m] (default zero).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m].
        min: Vec3,
        /// Upper bound per axis [m].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
    },
    /// A material parameter of a body.
    Material {
        /// The body: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::body")]
        body: usize,
        /// Which parameter.
        param: MaterialParam,
        /// Initial guess (default: the scene's value).
        #[serde(default)]
        init: Option<f64>,
        /// Lower bound (> 0).
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// A tool's linear velocity [m/s], piecewise constant over `segments`
    /// equal runs of substeps (`segments` = the rollout's substeps gives one
    /// velocity per substep); its position follows by integration from the
    /// scene's initial pose (orientation and angular velocity as in the scene).
    ToolVelocity {
        /// The tool: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::tool")]
        tool: usize,
        /// Number of constant-velocity segments over the rollout (>= 1).
        segments: usize,
        /// Initial guess for every segment [m/s] (default zero).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m/s].
        min: Vec3,
        /// Upper bound per axis [m/s].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading segments kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A tool's angular velocity [rad/s] about world axes through the tool's
    /// origin, piecewise constant over `segments` equal runs of substeps;
    /// its orientation follows by integration from the scene's pose,
    /// q(n + 1) = exp(dt · ω(n)) q(n) (position and linear velocity as in
    /// the scene, or from a `ToolVelocity` control of the same tool).
    ToolAngularVelocity {
        /// The tool: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::tool")]
        tool: usize,
        /// Number of constant-velocity segments over the rollout (>= 1).
        segments: usize,
        /// Initial guess for every segment [rad/s] (default zero).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [rad/s].
        min: Vec3,
        /// Upper bound per axis [rad/s].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading segments kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A tool's position [m] at `keys` key frames evenly spaced over the
    /// rollout (the first at substep 0, the last at the end), interpolated
    /// in time; the tool's velocity each substep is the interpolated
    /// position's change over that substep divided by dt (orientation and
    /// angular velocity as in the scene).
    ToolKeyframes {
        /// The tool: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::tool")]
        tool: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one pose per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [m] (default: the tool's scene position).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m].
        min: Vec3,
        /// Upper bound per axis [m].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A tool's orientation at `keys` key frames evenly spaced over the
    /// rollout, each a rotation vector θ [rad] (axis × angle, world axes)
    /// applied to the scene's initial orientation q₀, interpolated in time:
    /// q(n) = exp(θ(n)) q₀. The angular velocity each substep is
    /// (θ(n + 1) − θ(n)) / dt, exact for turns about a fixed axis (tilting,
    /// stirring) and first-order otherwise. Position and linear velocity as
    /// in the scene, or from a `ToolVelocity` or `ToolKeyframes` control.
    ToolRotationKeyframes {
        /// The tool: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::tool")]
        tool: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [rad] (default zero: the scene's orientation).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [rad].
        min: Vec3,
        /// Upper bound per axis [rad].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// An emitter's nozzle path: a displacement [m] at `keys` key frames
    /// evenly spaced over the rollout, interpolated in time and added to
    /// the scene's nozzle motion. Each particle leaves from the nozzle's
    /// position at its release substep.
    EmitterKeyframes {
        /// Body index (a body with an `emitter`).
        #[serde(deserialize_with = "ductile_scene::refs::body")]
        body: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [m] (default zero).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m].
        min: Vec3,
        /// Upper bound per axis [m].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A gripper frame's position [m] (the point midway between its
    /// fingers) at `keys` key frames evenly spaced over the rollout,
    /// interpolated in time; the fingers keep their place about the frame
    /// (the scene's width and orientation, or a `GripperWidth` control's
    /// width) and each finger's velocity is its interpolated motion.
    GripperKeyframes {
        /// The gripper in the scene's `grippers`: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::gripper")]
        gripper: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [m] (default: the frame's scene position at t = 0).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m].
        min: Vec3,
        /// Upper bound per axis [m].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A gripper frame's orientation at `keys` key frames evenly spaced over
    /// the rollout, each a rotation vector θ [rad] (axis × angle, world axes
    /// through the frame's centre) applied to the frame's scene orientation
    /// q₀ at t = 0: q(n) = exp(θ(n)) q₀, interpolated in time. Both fingers
    /// take this orientation and turn about the frame's centre (their
    /// closing axis is q·x̂); their angular velocity is (θ(n + 1) − θ(n)) / dt
    /// as for [`ControlSpec::ToolRotationKeyframes`].
    GripperRotationKeyframes {
        /// The gripper in the scene's `grippers`: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::gripper")]
        gripper: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [rad] (default zero: the scene's orientation at t = 0).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [rad].
        min: Vec3,
        /// Upper bound per axis [rad].
        max: Vec3,
        /// Axes optimised (default all).
        #[serde(default)]
        mask: Option<[bool; 3]>,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
    /// A gripper's opening: the distance between its finger origins [m] at
    /// `keys` key frames evenly spaced over the rollout, interpolated in
    /// time. The fingers stay symmetric about the gripper frame, which moves
    /// as the scene says; each finger's velocity is its interpolated motion
    /// over the substep.
    GripperWidth {
        /// The gripper in the scene's `grippers`: its index or its name.
        #[serde(deserialize_with = "ductile_scene::refs::gripper")]
        gripper: usize,
        /// Number of key frames (>= 1; `steps + 1` gives one per substep).
        keys: usize,
        /// Interpolation between keys (default `Linear`).
        #[serde(default)]
        interpolation: Interpolation,
        /// Initial guess for every key [m] (default: the scene's width at t = 0).
        #[serde(default)]
        init: Option<f64>,
        /// Lower bound [m] (>= 0).
        min: f64,
        /// Upper bound [m].
        max: f64,
        /// Leading keys kept at the initial guess (default 0).
        #[serde(default)]
        freeze: usize,
    },
}

/// A learning-rate schedule: the rate at iteration k (from 0) of K.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// The same rate throughout.
    #[default]
    Constant,
    /// rate · decay^k, with 0 < decay <= 1.
    Exponential {
        /// Factor per iteration.
        decay: f64,
    },
    /// Cosine from rate down to rate · final_fraction at the last iteration.
    Cosine {
        /// Fraction of the rate left at the end, in [0, 1].
        final_fraction: f64,
    },
    /// rate · factor^⌊k / every⌋.
    Step {
        /// Iterations between drops (>= 1).
        every: usize,
        /// Factor per drop, in (0, 1].
        factor: f64,
    },
}

impl Schedule {
    /// The multiplier of the base rate at iteration `k` of `total`.
    pub fn factor(&self, k: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Exponential { decay } => decay.powi(k as i32),
            Schedule::Cosine { final_fraction } => {
                let x = k as f64 / (total.max(2) - 1) as f64;
                final_fraction
                    + (1.0 - final_fraction)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * x.min(1.0)).cos())
            }
            Schedule::Step { every, factor } => factor.powi((k / every.max(&1)) as i32),
        }
    }
}

/// Settings of a gradient optimiser (Adam or gradient descent).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GradientSettings {
    /// Step size in scaled coordinates (Adam: fraction of each control's
    /// range per step; gradient descent: per unit gradient).
    pub learning_rate: f64,
    /// Iterations (one forward and one backward rollout each).
    pub iterations: usize,
    /// Learning-rate schedule (default constant).
    #[serde(default)]
    pub schedule: Schedule,
    /// Clip every scaled gradient component to [-c, c] (default: none).
    #[serde(default)]
    pub clip_value: Option<f64>,
    /// Then scale the scaled gradient down to this norm if longer (default: none).
    #[serde(default)]
    pub clip_norm: Option<f64>,
}

/// Settings of the CMA-ES sampling search (Hansen's (μ/μ_w, λ)-CMA-ES on
/// the scaled coordinates; samples outside [0, 1] are projected onto it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Generations (each evaluates `population` forward rollouts, no backward).
    pub generations: usize,
    /// Samples per generation (default 4 + ⌊3 ln n⌋ for n free coordinates).
    #[serde(default)]
    pub population: Option<usize>,
    /// Initial step size in scaled coordinates (default 0.2).
    #[serde(default = "default_sigma")]
    pub sigma: f64,
    /// Random seed (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn default_sigma() -> f64 {
    0.2
}

/// The optimiser.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Optimizer {
    /// Adam (Kingma & Ba) on the scaled coordinates.
    Adam(GradientSettings),
    /// Plain gradient descent on the scaled coordinates.
    GradientDescent(GradientSettings),
    /// CMA-ES, for non-smooth landscapes (no gradients).
    CmaEs(SearchSettings),
    /// CMA-ES on a coarse key-frame parameterisation (`coarse_keys` knots
    /// per segmented control, linearly interpolated onto its segments or
    /// keys), then `refine` (Adam or gradient descent) from the best sample
    /// on the full parameterisation (ThinShellLab's recipe).
    Hybrid {
        /// Knots per segmented control in the search (>= 1).
        coarse_keys: usize,
        /// The sampling stage.
        search: SearchSettings,
        /// The gradient stage: `Adam(..)` or `GradientDescent(..)`.
        refine: Box<Optimizer>,
    },
}

impl Optimizer {
    /// Iterations recorded in the history: generations plus gradient iterations.
    pub fn iterations(&self) -> usize {
        match self {
            Optimizer::Adam(g) | Optimizer::GradientDescent(g) => g.iterations,
            Optimizer::CmaEs(s) => s.generations,
            Optimizer::Hybrid { search, refine, .. } => search.generations + refine.iterations(),
        }
    }
}

impl Optimizer {
    /// The same optimiser with `n` iterations in all (for CMA-ES, `n`
    /// generations; for the hybrid, ⌈n/2⌉ generations and ⌊n/2⌋ gradient iterations).
    pub fn with_iterations(&self, n: usize) -> Optimizer {
        let mut o = self.clone();
        match &mut o {
            Optimizer::Adam(g) | Optimizer::GradientDescent(g) => g.iterations = n,
            Optimizer::CmaEs(s) => s.generations = n,
            Optimizer::Hybrid { search, refine, .. } => {
                search.generations = n.div_ceil(2);
                **refine = refine.with_iterations(n / 2);
            }
        }
        o
    }
}

/// A task with its file's location.
#[derive(Clone, Debug)]
pub struct LoadedTask {
    /// The task.
    pub task: Task,
    /// Task file path.
    pub path: PathBuf,
    /// Text of the task file (for located errors).
    pub source: String,
    /// For a scene written inline: the task file's text with everything but
    /// the scene blanked out (newlines kept), so that the scene parses on
    /// its own and its errors point into the task file.
    pub inline_scene: Option<String>,
}

impl LoadedTask {
    /// The scene file's path (the task file itself for an inline scene).
    pub fn scene_path(&self) -> PathBuf {
        if self.inline_scene.is_some() {
            return self.path.clone();
        }
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.task.scene)
    }

    /// Loads the task's scene, from its file or inline (assets relative to
    /// the task file's directory).
    pub fn load_scene(&self) -> Result<ductile_scene::LoadedScene, SceneError> {
        match &self.inline_scene {
            // A scene file that cannot be read is the task's `scene` field's fault.
            None => ductile_scene::load_scene(&self.scene_path()).map_err(|e| match e {
                SceneError::Io { source, .. } => self.invalid(
                    "scene".into(),
                    format!("{:?}", self.task.scene),
                    format!(
                        "a readable scene file, relative to the task file's folder ({}: {source})",
                        self.scene_path().display()
                    ),
                ),
                other => other,
            }),
            Some(src) => ductile_scene::load_scene_from_str(
                src,
                &self.path.display().to_string(),
                self.path.parent().unwrap_or(Path::new(".")),
            ),
        }
    }

    /// A located error about the task file.
    pub fn invalid(&self, path: String, value: String, allowed: String) -> SceneError {
        SceneError::invalid(
            &self.source,
            &self.path.display().to_string(),
            path,
            value,
            allowed,
        )
    }
}

/// Parses a task from RON text (`label` names it in errors) and checks it.
pub fn parse_task(source: &str, path: &Path) -> Result<LoadedTask, SceneError> {
    let label = path.display().to_string();
    let (task_text, inline_scene) = match inline_scene_span(source) {
        Some((a, b)) => split_inline_scene(source, a, b),
        None => (source.to_string(), None),
    };
    // `Some(..)` may be left out around optional values, and `Adam(..)`
    // holds its settings directly.
    // Body, tool and gripper references may be names: read the scene's first.
    let names = match &inline_scene {
        Some(scene) => ductile_scene::refs::probe_names(scene),
        None => probe_scene_path(&task_text).and_then(|p| {
            let file = path.parent().unwrap_or(Path::new(".")).join(p);
            ductile_scene::refs::probe_names(&std::fs::read_to_string(file).ok()?)
        }),
    };
    let task: Task = ductile_scene::refs::with_names(names, || {
        ron::Options::default()
            .with_default_extension(
                ron::extensions::Extensions::IMPLICIT_SOME
                    | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
            )
            .from_str(&task_text)
    })
    .map_err(|e| SceneError::from_ron(source, &label, &e))?;
    let t = LoadedTask {
        task,
        path: path.to_path_buf(),
        source: source.to_string(),
        inline_scene,
    };
    check(&t)?;
    Ok(t)
}

/// The `scene` path of task text, read leniently (None when it does not parse).
fn probe_scene_path(task_text: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename = "Task")]
    struct Peek {
        scene: String,
    }
    ron::Options::default()
        .with_default_extension(
            ron::extensions::Extensions::IMPLICIT_SOME
                | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
        )
        .from_str::<Peek>(task_text)
        .ok()
        .map(|p| p.scene)
}

/// Byte range of an inline scene, the value of the task's top-level
/// `scene:` field when it is `Scene(...)` or `(...)` rather than a string.
/// Skips comments and strings; `None` when `scene` is a path (or missing).
fn inline_scene_span(src: &str) -> Option<(usize, usize)> {
    let b = src.as_bytes();
    let (mut i, mut depth) = (0usize, 0i32);
    // Skips a comment or string starting at i; returns where it ends.
    let skip = |i: usize| -> Option<usize> {
        if b[i..].starts_with(b"//") {
            return Some(src[i..].find('\n').map_or(b.len(), |n| i + n));
        }
        if b[i..].starts_with(b"/*") {
            return Some(src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2));
        }
        if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            return Some((j + 1).min(b.len()));
        }
        None
    };
    while i < b.len() {
        if let Some(j) = skip(i) {
            i = j;
            continue;
        }
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if depth == 1 && word_start && b[i..].starts_with(b"scene") {
            let mut j = i + 5;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b':' {
                j += 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let start = j;
                if b[j..].starts_with(b"Scene") {
                    j += 5;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                }
                if j >= b.len() || b[j] != b'(' {
                    return None; // a path string (or something RON will reject)
                }
                // Find the matching parenthesis.
                let mut d = 0i32;
                while j < b.len() {
                    if let Some(k) = skip(j) {
                        j = k;
                        continue;
                    }
                    match b[j] {
                        b'(' | b'[' | b'{' => d += 1,
                        b')' | b']' | b'}' => {
                            d -= 1;
                            if d == 0 {
                                return Some((start, j + 1));
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                return None;
            }
        }
        i += 1;
    }
    None
}

/// Splits `src` at the inline scene `a..b`: the task text with the scene
/// replaced by a string literal of the same lines and columns, and the scene
/// text with everything else blanked (newlines kept).
fn split_inline_scene(src: &str, a: usize, b: usize) -> (String, Option<String>) {
    let blank = |s: &str| -> String {
        s.chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect()
    };
    let inner = blank(&src[a..b]);
    // Same number of chars: a quote, the blanked middle, a quote.
    let mut lit: Vec<char> = inner.chars().collect();
    lit[0] = '"';
    let last = lit.len() - 1;
    lit[last] = '"';
    let task = format!(
        "{}{}{}",
        &src[..a],
        lit.iter().collect::<String>(),
        &src[b..]
    );
    let scene = format!("{}{}{}", blank(&src[..a]), &src[a..b], blank(&src[b..]));
    (task, Some(scene))
}

/// Reads and checks a task file (bounds, counts, rates).
pub fn load_task(path: &Path) -> Result<LoadedTask, SceneError> {
    let source = std::fs::read_to_string(path).map_err(|source| SceneError::Io {
        file: path.display().to_string(),
        source,
    })?;
    parse_task(&source, path)
}

fn check_box(
    p: &str,
    min: &Vec3,
    max: &Vec3,
    init: &Option<Vec3>,
    t: &LoadedTask,
) -> Result<(), SceneError> {
    if (0..3).any(|k| !(min[k].is_finite() && max[k].is_finite() && min[k] < max[k])) {
        return Err(t.invalid(
            format!("{p}.max"),
            format!("{max:?}"),
            "finite and greater than min on every axis".into(),
        ));
    }
    if let Some(v) = init {
        if (0..3).any(|k| !(v[k] >= min[k] && v[k] <= max[k])) {
            return Err(t.invalid(
                format!("{p}.init"),
                format!("{v:?}"),
                "inside [min, max] on every axis".into(),
            ));
        }
    }
    Ok(())
}

fn check_gradient(p: &str, g: &GradientSettings, t: &LoadedTask) -> Result<(), SceneError> {
    let bad = |f: &str, v: String, a: &str| Err(t.invalid(format!("{p}.{f}"), v, a.into()));
    if !(g.learning_rate.is_finite() && g.learning_rate > 0.0) {
        return bad("learning_rate", format!("{}", g.learning_rate), "> 0");
    }
    match &g.schedule {
        Schedule::Constant => {}
        Schedule::Exponential { decay } => {
            if !(decay.is_finite() && *decay > 0.0 && *decay <= 1.0) {
                return bad("schedule.decay", format!("{decay}"), "in (0, 1]");
            }
        }
        Schedule::Cosine { final_fraction } => {
            if !(0.0..=1.0).contains(final_fraction) {
                return bad(
                    "schedule.final_fraction",
                    format!("{final_fraction}"),
                    "in [0, 1]",
                );
            }
        }
        Schedule::Step { every, factor } => {
            if *every == 0 {
                return bad("schedule.every", "0".into(), ">= 1");
            }
            if !(factor.is_finite() && *factor > 0.0 && *factor <= 1.0) {
                return bad("schedule.factor", format!("{factor}"), "in (0, 1]");
            }
        }
    }
    for (f, c) in [("clip_value", g.clip_value), ("clip_norm", g.clip_norm)] {
        if let Some(c) = c {
            if !(c.is_finite() && c > 0.0) {
                return bad(f, format!("{c}"), "> 0");
            }
        }
    }
    Ok(())
}

fn check_search(p: &str, s: &SearchSettings, t: &LoadedTask) -> Result<(), SceneError> {
    let bad = |f: &str, v: String, a: &str| Err(t.invalid(format!("{p}.{f}"), v, a.into()));
    if let Some(n) = s.population {
        if n < 2 {
            return bad("population", n.to_string(), ">= 2");
        }
    }
    if !(s.sigma.is_finite() && s.sigma > 0.0 && s.sigma <= 1.0) {
        return bad(
            "sigma",
            format!("{}", s.sigma),
            "in (0, 1] (scaled coordinates)",
        );
    }
    Ok(())
}

fn check(t: &LoadedTask) -> Result<(), SceneError> {
    let bad = |p: String, v: String, a: &str| Err(t.invalid(p, v, a.to_string()));
    if t.task.controls.is_empty() {
        return bad("controls".into(), "[]".into(), "at least one control");
    }
    // What each control sets; two controls may not set the same thing.
    let mut claimed: Vec<(String, usize)> = Vec::new();
    for (i, c) in t.task.controls.iter().enumerate() {
        let p = format!("controls[{i}]");
        let what = match c {
            ControlSpec::InitialVelocity { body, .. } => format!("body {body}'s initial velocity"),
            ControlSpec::InitialOffset { body, .. } => format!("body {body}'s initial offset"),
            ControlSpec::Material { body, param, .. } => format!("body {body}'s {param:?}"),
            ControlSpec::ToolVelocity { tool, .. } | ControlSpec::ToolKeyframes { tool, .. } => {
                format!("tool {tool}'s position")
            }
            ControlSpec::ToolAngularVelocity { tool, .. }
            | ControlSpec::ToolRotationKeyframes { tool, .. } => {
                format!("tool {tool}'s orientation")
            }
            ControlSpec::GripperWidth { gripper, .. } => format!("gripper {gripper}'s width"),
            ControlSpec::GripperKeyframes { gripper, .. } => {
                format!("gripper {gripper}'s position")
            }
            ControlSpec::GripperRotationKeyframes { gripper, .. } => {
                format!("gripper {gripper}'s orientation")
            }
            ControlSpec::EmitterKeyframes { body, .. } => format!("body {body}'s nozzle path"),
        };
        if let Some((_, j)) = claimed.iter().find(|(w, _)| *w == what) {
            return bad(
                p,
                format!("a second control of {what}"),
                &format!("one control per quantity (controls[{j}] already sets {what})"),
            );
        }
        claimed.push((what, i));
        match c {
            ControlSpec::InitialVelocity { min, max, init, .. }
            | ControlSpec::InitialOffset { min, max, init, .. } => {
                check_box(&p, min, max, init, t)?
            }
            ControlSpec::ToolVelocity {
                min,
                max,
                init,
                segments,
                freeze,
                ..
            }
            | ControlSpec::ToolAngularVelocity {
                min,
                max,
                init,
                segments,
                freeze,
                ..
            } => {
                check_box(&p, min, max, init, t)?;
                if *segments == 0 {
                    return bad(format!("{p}.segments"), "0".into(), ">= 1");
                }
                if freeze >= segments {
                    return bad(
                        format!("{p}.freeze"),
                        freeze.to_string(),
                        "fewer than `segments`",
                    );
                }
            }
            ControlSpec::ToolKeyframes {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            }
            | ControlSpec::ToolRotationKeyframes {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            }
            | ControlSpec::EmitterKeyframes {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            }
            | ControlSpec::GripperKeyframes {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            }
            | ControlSpec::GripperRotationKeyframes {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            } => {
                check_box(&p, min, max, init, t)?;
                if *keys == 0 {
                    return bad(format!("{p}.keys"), "0".into(), ">= 1");
                }
                if freeze >= keys {
                    return bad(
                        format!("{p}.freeze"),
                        freeze.to_string(),
                        "fewer than `keys`",
                    );
                }
            }
            ControlSpec::GripperWidth {
                min,
                max,
                init,
                keys,
                freeze,
                ..
            } => {
                if !(min.is_finite() && *min >= 0.0 && max.is_finite() && max > min) {
                    return bad(
                        format!("{p}.max"),
                        format!("{max}"),
                        "finite, with 0 <= min < max (m)",
                    );
                }
                if let Some(v) = init {
                    if !(v >= min && v <= max) {
                        return bad(format!("{p}.init"), format!("{v}"), "inside [min, max]");
                    }
                }
                if *keys == 0 {
                    return bad(format!("{p}.keys"), "0".into(), ">= 1");
                }
                if freeze >= keys {
                    return bad(
                        format!("{p}.freeze"),
                        freeze.to_string(),
                        "fewer than `keys`",
                    );
                }
            }
            ControlSpec::Material { min, max, init, .. } => {
                if !(min.is_finite() && *min > 0.0 && max.is_finite() && max > min) {
                    return bad(
                        format!("{p}.max"),
                        format!("{max}"),
                        "finite, with 0 < min < max",
                    );
                }
                if let Some(v) = init {
                    if !(v >= min && v <= max) {
                        return bad(format!("{p}.init"), format!("{v}"), "inside [min, max]");
                    }
                }
            }
        }
        let mask = match c {
            ControlSpec::InitialVelocity { mask, .. }
            | ControlSpec::InitialOffset { mask, .. }
            | ControlSpec::ToolVelocity { mask, .. }
            | ControlSpec::ToolAngularVelocity { mask, .. }
            | ControlSpec::ToolKeyframes { mask, .. }
            | ControlSpec::ToolRotationKeyframes { mask, .. }
            | ControlSpec::EmitterKeyframes { mask, .. }
            | ControlSpec::GripperKeyframes { mask, .. }
            | ControlSpec::GripperRotationKeyframes { mask, .. } => *mask,
            ControlSpec::Material { .. } | ControlSpec::GripperWidth { .. } => None,
        };
        if mask == Some([false; 3]) {
            return bad(
                format!("{p}.mask"),
                "(false, false, false)".into(),
                "at least one axis true (or remove the control)",
            );
        }
    }
    match &t.task.optimizer {
        Optimizer::Adam(g) | Optimizer::GradientDescent(g) => check_gradient("optimizer", g, t)?,
        Optimizer::CmaEs(s) => check_search("optimizer", s, t)?,
        Optimizer::Hybrid {
            coarse_keys,
            search,
            refine,
        } => {
            if *coarse_keys == 0 {
                return bad("optimizer.coarse_keys".into(), "0".into(), ">= 1");
            }
            check_search("optimizer.search", search, t)?;
            match refine.as_ref() {
                Optimizer::Adam(g) | Optimizer::GradientDescent(g) => {
                    check_gradient("optimizer.refine", g, t)?
                }
                other => {
                    return bad(
                        "optimizer.refine".into(),
                        format!("{other:?}"),
                        "Adam(..) or GradientDescent(..)",
                    )
                }
            }
        }
    }
    if t.task.optimizer.iterations() == 0 {
        return bad(
            "optimizer.iterations".into(),
            "0".into(),
            ">= 1 iteration or generation",
        );
    }
    if let Some(w) = &t.task.window {
        if w.start == 0 || w.grow == 0 || w.patience == 0 {
            return bad(
                "window".into(),
                format!("{w:?}"),
                "start, grow and patience >= 1",
            );
        }
        if !(w.tolerance.is_finite() && w.tolerance >= 0.0) {
            return bad(
                "window.tolerance".into(),
                format!("{}", w.tolerance),
                ">= 0",
            );
        }
    }
    if let Some(r) = &t.task.record {
        if r.every == 0 {
            return bad("record.every".into(), "0".into(), ">= 1 substep");
        }
    }
    Ok(())
}
