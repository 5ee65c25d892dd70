//! The task file (RON, in `scenes/tasks/`): a scene, the controls to
//! optimise with their bounds and initial guesses, an optional reference
//! recording, and the optimiser. Parsed with `deny_unknown_fields` and
//! validated with located errors, as scenes are.

use ductile_scene::{SceneError, Vec3};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An optimisation task.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Scene file, relative to the task file. Its `loss` is minimised.
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
}

/// A recording of particle positions made before optimising.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Body whose particles are recorded.
    pub body: usize,
    /// NPY file written, relative to the scene file (the scene's
    /// `ParticlePositions` loss reads it): shape [records, particles, 3].
    pub path: String,
    /// Substeps between records (>= 1).
    pub every: u64,
}

/// Material parameters that can be optimised.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MaterialParam {
    /// Young's modulus E [Pa].
    YoungsModulus,
    /// Poisson ratio ν.
    PoissonRatio,
    /// von Mises yield stress σ_Y [Pa].
    YieldStress,
    /// Drucker–Prager friction angle [degrees].
    FrictionAngle,
    /// Fluid viscosity [Pa·s].
    Viscosity,
    /// Density [kg/m³].
    Density,
}

/// One optimised quantity, with bounds and an initial guess. The optimiser
/// works in coordinates scaled to [0, 1] between the bounds (logarithmic for
/// material parameters), and projects back into them after every step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum ControlSpec {
    /// The initial velocity [m/s] of every particle of a body.
    InitialVelocity {
        /// Body index.
        body: usize,
        /// Initial guess (default: the scene's value).
        #[serde(default)]
        init: Option<Vec3>,
        /// Lower bound per axis [m/s].
        min: Vec3,
        /// Upper bound per axis [m/s].
        max: Vec3,
    },
    /// A material parameter of a body.
    Material {
        /// Body index.
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
    /// equal runs of substeps; its position follows by integration from the
    /// scene's initial pose (orientation and angular velocity as in the scene).
    ToolVelocity {
        /// Tool index.
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
    },
}

/// The optimiser and its schedule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum Optimizer {
    /// Adam (Kingma & Ba) on the scaled coordinates.
    Adam {
        /// Step size in scaled coordinates (fraction of each control's range).
        learning_rate: f64,
        /// Iterations (one forward and one backward rollout each).
        iterations: usize,
        /// Learning-rate decay per iteration (default 1: constant).
        #[serde(default = "one")]
        decay: f64,
        /// Clip the scaled gradient to this norm (default: no clipping).
        #[serde(default)]
        clip_norm: Option<f64>,
    },
    /// Plain gradient descent on the scaled coordinates.
    GradientDescent {
        /// Step size in scaled coordinates per unit gradient.
        learning_rate: f64,
        /// Iterations.
        iterations: usize,
        /// Learning-rate decay per iteration (default 1).
        #[serde(default = "one")]
        decay: f64,
        /// Clip the scaled gradient to this norm (default: no clipping).
        #[serde(default)]
        clip_norm: Option<f64>,
    },
}

fn one() -> f64 {
    1.0
}

impl Optimizer {
    /// Iterations requested.
    pub fn iterations(&self) -> usize {
        match self {
            Optimizer::Adam { iterations, .. } | Optimizer::GradientDescent { iterations, .. } => {
                *iterations
            }
        }
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
}

impl LoadedTask {
    /// The scene file's path.
    pub fn scene_path(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.task.scene)
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

/// Reads and checks a task file (bounds, counts, rates).
pub fn load_task(path: &Path) -> Result<LoadedTask, SceneError> {
    let label = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| SceneError::Io {
        file: label.clone(),
        source,
    })?;
    // `Some(..)` may be left out around optional values.
    let task: Task = ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(&source)
        .map_err(|e| SceneError::from_ron(&source, &label, &e))?;
    let t = LoadedTask {
        task,
        path: path.to_path_buf(),
        source,
    };
    check(&t)?;
    Ok(t)
}

fn check(t: &LoadedTask) -> Result<(), SceneError> {
    let bad = |p: String, v: String, a: &str| Err(t.invalid(p, v, a.to_string()));
    if t.task.controls.is_empty() {
        return bad("controls".into(), "[]".into(), "at least one control");
    }
    for (i, c) in t.task.controls.iter().enumerate() {
        let p = format!("controls[{i}]");
        match c {
            ControlSpec::InitialVelocity { min, max, init, .. }
            | ControlSpec::ToolVelocity { min, max, init, .. } => {
                if (0..3).any(|k| !(min[k].is_finite() && max[k].is_finite() && min[k] < max[k])) {
                    return bad(
                        format!("{p}.max"),
                        format!("{max:?}"),
                        "finite and greater than min on every axis",
                    );
                }
                if let Some(v) = init {
                    if (0..3).any(|k| !(v[k] >= min[k] && v[k] <= max[k])) {
                        return bad(
                            format!("{p}.init"),
                            format!("{v:?}"),
                            "inside [min, max] on every axis",
                        );
                    }
                }
                if let ControlSpec::ToolVelocity { segments, .. } = c {
                    if *segments == 0 {
                        return bad(format!("{p}.segments"), "0".into(), ">= 1");
                    }
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
    }
    let (lr, iters, decay, clip) = match &t.task.optimizer {
        Optimizer::Adam {
            learning_rate,
            iterations,
            decay,
            clip_norm,
        }
        | Optimizer::GradientDescent {
            learning_rate,
            iterations,
            decay,
            clip_norm,
        } => (*learning_rate, *iterations, *decay, *clip_norm),
    };
    if !(lr.is_finite() && lr > 0.0) {
        return bad("optimizer.learning_rate".into(), format!("{lr}"), "> 0");
    }
    if iters == 0 {
        return bad("optimizer.iterations".into(), "0".into(), ">= 1");
    }
    if !(decay.is_finite() && decay > 0.0 && decay <= 1.0) {
        return bad("optimizer.decay".into(), format!("{decay}"), "in (0, 1]");
    }
    if let Some(c) = clip {
        if !(c.is_finite() && c > 0.0) {
            return bad("optimizer.clip_norm".into(), format!("{c}"), "> 0");
        }
    }
    if let Some(r) = &t.task.record {
        if r.every == 0 {
            return bad("record.every".into(), "0".into(), ">= 1 substep");
        }
    }
    Ok(())
}
