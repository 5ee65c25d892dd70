//! Ductile's optimisation layer: task files ([`task`]), the mapping between
//! a task's controls and a rollout ([`Params`]), Adam and gradient descent
//! on bounded, scaled coordinates, and the task runner ([`run_task`]) that
//! `ductile optimize` and library users call.

pub mod task;

use ductile_gpu::{GpuContext, Precision};
use ductile_scene::{LoadedScene, Material, SceneError};
use ductile_sim::loss::write_npy_f64;
use ductile_sim::{Gradients, Rollout, SimError, Simulation, SimulationOptions, TapeOptions};
pub use task::{load_task, ControlSpec, LoadedTask, MaterialParam, Optimizer, Task};

/// Errors of the optimisation layer.
#[derive(Debug, thiserror::Error)]
pub enum OptError {
    /// The task or scene file is wrong.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// The simulation failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// Something else, described.
    #[error("{0}")]
    Other(String),
}

/// Sets `param` of material `m` to `value`, or says why it has none.
pub fn set_material_param(
    m: &Material,
    param: MaterialParam,
    value: f64,
) -> Result<Material, String> {
    let mut m = m.clone();
    let slot: Option<&mut f64> = match (&mut m, param) {
        (Material::Fluid { density, .. }, MaterialParam::Density)
        | (Material::FixedCorotated { density, .. }, MaterialParam::Density)
        | (Material::NeoHookean { density, .. }, MaterialParam::Density)
        | (Material::VonMises { density, .. }, MaterialParam::Density)
        | (Material::Snow { density, .. }, MaterialParam::Density) => Some(density),
        (Material::Fluid { viscosity, .. }, MaterialParam::Viscosity) => Some(viscosity),
        (Material::FixedCorotated { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::NeoHookean { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::VonMises { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::Snow { youngs_modulus, .. }, MaterialParam::YoungsModulus) => {
            Some(youngs_modulus)
        }
        (Material::FixedCorotated { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::NeoHookean { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::VonMises { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::Snow { poisson_ratio, .. }, MaterialParam::PoissonRatio) => {
            Some(poisson_ratio)
        }
        (Material::VonMises { yield_stress, .. }, MaterialParam::YieldStress) => Some(yield_stress),
        (Material::DruckerPrager { density, .. }, MaterialParam::Density) => Some(density),
        (Material::DruckerPrager { youngs_modulus, .. }, MaterialParam::YoungsModulus) => {
            Some(youngs_modulus)
        }
        (Material::DruckerPrager { poisson_ratio, .. }, MaterialParam::PoissonRatio) => {
            Some(poisson_ratio)
        }
        (
            Material::DruckerPrager {
                friction_angle_deg, ..
            },
            MaterialParam::FrictionAngle,
        ) => Some(friction_angle_deg),
        _ => None,
    };
    match slot {
        Some(s) => {
            *s = value;
            Ok(m)
        }
        None => Err(format!(
            "{} has no {param:?} with a gradient",
            ductile_sim::material::model_name(&m)
        )),
    }
}

/// The current value of `param` in `m`, if the model has it.
fn material_param(m: &Material, param: MaterialParam) -> Option<f64> {
    match (m, param) {
        (_, MaterialParam::Density) => Some(ductile_sim::material::density(m)),
        (Material::Fluid { viscosity, .. }, MaterialParam::Viscosity) => Some(*viscosity),
        (Material::VonMises { yield_stress, .. }, MaterialParam::YieldStress) => {
            Some(*yield_stress)
        }
        (_, MaterialParam::YoungsModulus) => ductile_sim::tape::elastic_constants(m).map(|e| e.0),
        (_, MaterialParam::PoissonRatio) => ductile_sim::tape::elastic_constants(m).map(|e| e.1),
        _ => None,
    }
}

/// The task's controls as one vector θ, with bounds, and the maps between
/// θ, the scaled coordinates u ∈ [0, 1] and the rollout.
pub struct Params {
    specs: Vec<ControlSpec>,
    /// Lower bounds of θ.
    pub lo: Vec<f64>,
    /// Upper bounds of θ.
    pub hi: Vec<f64>,
    /// Logarithmic scaling per entry.
    pub log: Vec<bool>,
    /// A name per entry, for logs.
    pub names: Vec<String>,
    base_state: ductile_sim::StateHost,
    base_control: Vec<f64>,
    base_materials: Vec<Material>,
}

impl Params {
    /// Lays out the controls of `task` for rollout `r` (whose current values are the base).
    pub fn new(task: &LoadedTask, r: &Rollout) -> Result<(Self, Vec<f64>), OptError> {
        let (mut lo, mut hi, mut log, mut names, mut init) =
            (vec![], vec![], vec![], vec![], vec![]);
        let bodies = r.sim.info().bodies.len();
        let tools = r.tool_params().len();
        for (i, c) in task.task.controls.iter().enumerate() {
            let bad = |path: &str, v: String, allowed: String| {
                OptError::Scene(task.invalid(format!("controls[{i}].{path}"), v, allowed))
            };
            match c {
                ControlSpec::InitialVelocity {
                    body,
                    init: v0,
                    min,
                    max,
                } => {
                    if *body >= bodies {
                        return Err(bad(
                            "body",
                            body.to_string(),
                            format!("a body index (0..{bodies})"),
                        ));
                    }
                    let range = r.sim.info().bodies[*body].1.clone();
                    let p = range.start as usize;
                    let scene_v = [
                        r.initial_state().v[3 * p],
                        r.initial_state().v[3 * p + 1],
                        r.initial_state().v[3 * p + 2],
                    ];
                    let v = v0.unwrap_or(scene_v);
                    if (0..3).any(|k| !(v[k] >= min[k] && v[k] <= max[k])) {
                        return Err(bad(
                            "min",
                            format!("{min:?} .. {max:?}"),
                            format!("bounds that hold the scene's initial velocity {v:?} (or give `init`)"),
                        ));
                    }
                    for k in 0..3 {
                        lo.push(min[k]);
                        hi.push(max[k]);
                        log.push(false);
                        names.push(format!("body{body}.v0.{}", ["x", "y", "z"][k]));
                        init.push(v[k]);
                    }
                }
                ControlSpec::Material {
                    body,
                    param,
                    init: v0,
                    min,
                    max,
                } => {
                    if *body >= bodies {
                        return Err(bad(
                            "body",
                            body.to_string(),
                            format!("a body index (0..{bodies})"),
                        ));
                    }
                    let m = &r.materials()[*body];
                    let scene_value = material_param(m, *param).ok_or_else(|| {
                        bad(
                            "param",
                            format!("{param:?}"),
                            format!("a parameter of {}", ductile_sim::material::model_name(m)),
                        )
                    })?;
                    lo.push(*min);
                    hi.push(*max);
                    log.push(true);
                    names.push(format!("body{body}.{param:?}"));
                    let v = v0.unwrap_or(scene_value);
                    if !(v >= *min && v <= *max) {
                        return Err(bad(
                            "min",
                            format!("{min} .. {max}"),
                            format!("bounds that hold the scene's value {v} (or give `init`)"),
                        ));
                    }
                    init.push(v);
                }
                ControlSpec::ToolVelocity {
                    tool,
                    segments,
                    init: v0,
                    min,
                    max,
                } => {
                    if *tool >= tools {
                        return Err(bad(
                            "tool",
                            tool.to_string(),
                            format!("a tool index (0..{tools})"),
                        ));
                    }
                    if *segments > r.steps() {
                        return Err(bad(
                            "segments",
                            segments.to_string(),
                            format!("at most the rollout's {} substeps", r.steps()),
                        ));
                    }
                    let v = v0.unwrap_or([0.0; 3]);
                    if (0..3).any(|k| !(v[k] >= min[k] && v[k] <= max[k])) {
                        return Err(bad(
                            "init",
                            format!("{v:?}"),
                            format!("inside [min, max] = [{min:?}, {max:?}] (the default is zero)"),
                        ));
                    }
                    for s in 0..*segments {
                        for k in 0..3 {
                            lo.push(min[k]);
                            hi.push(max[k]);
                            log.push(false);
                            names.push(format!("tool{tool}.v[{s}].{}", ["x", "y", "z"][k]));
                            init.push(v[k]);
                        }
                    }
                }
            }
        }
        Ok((
            Params {
                specs: task.task.controls.clone(),
                lo,
                hi,
                log,
                names,
                base_state: r.initial_state().clone(),
                base_control: r.control_values().to_vec(),
                base_materials: r.materials().to_vec(),
            },
            init,
        ))
    }

    /// Scaled coordinates of θ.
    pub fn to_unit(&self, theta: &[f64]) -> Vec<f64> {
        (0..theta.len())
            .map(|i| {
                if self.log[i] {
                    (theta[i].ln() - self.lo[i].ln()) / (self.hi[i].ln() - self.lo[i].ln())
                } else {
                    (theta[i] - self.lo[i]) / (self.hi[i] - self.lo[i])
                }
            })
            .collect()
    }

    /// θ of scaled coordinates u.
    pub fn from_unit(&self, u: &[f64]) -> Vec<f64> {
        (0..u.len())
            .map(|i| {
                if self.log[i] {
                    (self.lo[i].ln() + u[i] * (self.hi[i].ln() - self.lo[i].ln())).exp()
                } else {
                    self.lo[i] + u[i] * (self.hi[i] - self.lo[i])
                }
            })
            .collect()
    }

    /// dθ/du per entry.
    fn scale(&self, theta: &[f64]) -> Vec<f64> {
        (0..theta.len())
            .map(|i| {
                if self.log[i] {
                    theta[i] * (self.hi[i].ln() - self.lo[i].ln())
                } else {
                    self.hi[i] - self.lo[i]
                }
            })
            .collect()
    }

    /// Writes θ into the rollout.
    pub fn apply(&self, ctx: &GpuContext, r: &mut Rollout, theta: &[f64]) -> Result<(), OptError> {
        let mut state = self.base_state.clone();
        let mut control = self.base_control.clone();
        let mut materials = self.base_materials.clone();
        let nt = r.tool_params().len();
        let dt = r.sim.info().dt;
        let steps = r.steps();
        let mut k = 0;
        for c in &self.specs {
            match c {
                ControlSpec::InitialVelocity { body, .. } => {
                    let range = r.sim.info().bodies[*body].1.clone();
                    for p in range {
                        for a in 0..3 {
                            state.v[3 * p as usize + a] = theta[k + a];
                        }
                    }
                    k += 3;
                }
                ControlSpec::Material { body, param, .. } => {
                    materials[*body] = set_material_param(&materials[*body], *param, theta[k])
                        .map_err(OptError::Other)?;
                    k += 1;
                }
                ControlSpec::ToolVelocity { tool, segments, .. } => {
                    let seg_len = steps.div_ceil(*segments);
                    let o0 = 16 * *tool;
                    let mut pos = [control[o0], control[o0 + 1], control[o0 + 2]];
                    let n_ctrl = control.len() / (16 * nt.max(1));
                    for n in 0..n_ctrl {
                        let s = (n / seg_len).min(segments - 1);
                        let o = 16 * (n * nt + tool);
                        for a in 0..3 {
                            let v = theta[k + 3 * s + a];
                            control[o + a] = pos[a];
                            control[o + 8 + a] = v;
                            pos[a] += dt * v;
                        }
                    }
                    k += 3 * segments;
                }
            }
        }
        r.set_initial_state(ctx, &state)?;
        r.set_control_values(ctx, &control)?;
        for (b, m) in materials.iter().enumerate() {
            if *m != r.materials()[b] {
                r.set_material(ctx, b, m)?;
            }
        }
        Ok(())
    }

    /// dL/dθ from a backward pass.
    pub fn gradient(&self, r: &Rollout, g: &Gradients) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.lo.len());
        let nt = r.tool_params().len();
        let dt = r.sim.info().dt;
        let steps = r.steps();
        for c in &self.specs {
            match c {
                ControlSpec::InitialVelocity { body, .. } => {
                    let mut s = [0.0; 3];
                    for p in r.sim.info().bodies[*body].1.clone() {
                        for (a, sa) in s.iter_mut().enumerate() {
                            *sa += g.v0[3 * p as usize + a];
                        }
                    }
                    out.extend_from_slice(&s);
                }
                ControlSpec::Material { body, param, .. } => {
                    let b = &g.bodies[*body];
                    out.push(match param {
                        MaterialParam::YoungsModulus => b.youngs_modulus,
                        MaterialParam::PoissonRatio => b.poisson_ratio,
                        MaterialParam::YieldStress => b.a,
                        MaterialParam::FrictionAngle => b.friction_angle_deg,
                        MaterialParam::Viscosity => b.mu,
                        MaterialParam::Density => b.density,
                    });
                }
                ControlSpec::ToolVelocity { tool, segments, .. } => {
                    let seg_len = steps.div_ceil(*segments);
                    let n_ctrl = g.control.len() / (16 * nt.max(1));
                    let mut seg = vec![0.0; 3 * segments];
                    // dL/dv_n = dL/dlin_n + dt Σ_{m > n} dL/dpos_m.
                    let mut later_pos = [0.0; 3];
                    for n in (0..n_ctrl).rev() {
                        let o = 16 * (n * nt + tool);
                        let s = (n / seg_len).min(segments - 1);
                        for a in 0..3 {
                            seg[3 * s + a] += g.control[o + 8 + a] + dt * later_pos[a];
                            later_pos[a] += g.control[o + a];
                        }
                    }
                    out.extend(seg);
                }
            }
        }
        out
    }
}

/// One optimisation iteration's record.
#[derive(Clone, Debug)]
pub struct Iteration {
    /// Index (0 = the initial guess).
    pub index: usize,
    /// Loss at θ.
    pub loss: f64,
    /// Norm of dL/du (scaled coordinates).
    pub grad_norm: f64,
    /// θ.
    pub theta: Vec<f64>,
}

/// Result of a task.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Control names.
    pub names: Vec<String>,
    /// Every iteration.
    pub history: Vec<Iteration>,
    /// Index into `history` of the lowest loss.
    pub best: usize,
    /// Whether the run was stopped early by the caller.
    pub stopped: bool,
    /// The error that ended the run early, if any (the history before it is kept).
    pub error: Option<String>,
}

/// Options of [`run_task`].
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Override the task's iteration count.
    pub iterations: Option<usize>,
    /// Kernel precision (default: the scene's).
    pub precision: Option<Precision>,
    /// Tape options of the backward pass.
    pub tape: TapeOptions,
}

/// Runs the scene as written and records body `rec.body`'s particle
/// positions every `rec.every` substeps into `rec.path` (relative to the scene).
pub fn record_reference(
    ctx: &GpuContext,
    loaded: &LoadedScene,
    rec: &task::Record,
    steps: usize,
    precision: Option<Precision>,
) -> Result<std::path::PathBuf, OptError> {
    let mut sim = Simulation::new(
        ctx,
        loaded,
        &SimulationOptions {
            precision,
            control_steps: Some(steps),
            deterministic: true,
            ..Default::default()
        },
    )?;
    let range = sim
        .info()
        .bodies
        .get(rec.body)
        .map(|b| b.1.clone())
        .ok_or_else(|| OptError::Other(format!("record.body {} does not exist", rec.body)))?;
    let every = rec.every as usize;
    let mut data = Vec::new();
    let mut records = 0u64;
    let mut done = 0;
    while done + every <= steps {
        sim.step(ctx, every as u32);
        done += every;
        sim.check(ctx)?;
        let p = sim.particles(ctx)?;
        data.extend_from_slice(&p.x[3 * range.start as usize..3 * range.end as usize]);
        records += 1;
    }
    let path = loaded.base_dir.join(&rec.path);
    let n = (range.end - range.start) as u64;
    write_npy_f64(&path, &[records, n, 3], &data)
        .map_err(|e| OptError::Other(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Builds the rollout of a task (recording the reference first if asked).
pub fn prepare(
    ctx: &GpuContext,
    task: &LoadedTask,
    opts: &RunOptions,
) -> Result<(Rollout, Params, Vec<f64>), OptError> {
    let scene_path = task.scene_path();
    let loaded = ductile_scene::load_scene(&scene_path)?;
    let steps = task
        .task
        .steps
        .unwrap_or(loaded.scene.time.frames as usize * loaded.scene.time.substeps as usize)
        .max(1);
    if let Some(rec) = &task.task.record {
        record_reference(ctx, &loaded, rec, steps, opts.precision)?;
    }
    if loaded.scene.loss.is_empty() {
        return Err(OptError::Scene(SceneError::invalid(
            &loaded.source,
            &loaded.file_label(),
            "loss",
            "[]",
            "at least one loss term (the task minimises the scene's loss)",
        )));
    }
    let r = Rollout::new(ctx, &loaded, opts.precision, Some(steps), &opts.tape)?;
    let (params, theta0) = Params::new(task, &r)?;
    Ok((r, params, theta0))
}

/// Runs the task's optimiser. `on_iteration` sees every iteration and
/// returns false to stop (the best result so far is kept).
pub fn run_task(
    ctx: &GpuContext,
    task: &LoadedTask,
    opts: &RunOptions,
    mut on_iteration: impl FnMut(&Iteration) -> bool,
) -> Result<Outcome, OptError> {
    let (mut r, params, theta0) = prepare(ctx, task, opts)?;
    let iterations = opts.iterations.unwrap_or(task.task.optimizer.iterations());
    let mut u = params.to_unit(&theta0);
    let n = u.len();
    let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
    let mut history = Vec::new();
    let mut best = 0;
    let mut stopped = false;
    let mut error = None;
    for it in 0..=iterations {
        let theta = params.from_unit(&u);
        params.apply(ctx, &mut r, &theta)?;
        let g = match r.forward(ctx).and_then(|_| r.backward(ctx)) {
            Ok(g) => g,
            Err(e) if !history.is_empty() => {
                error = Some(format!("iteration {it} (controls {theta:?}): {e}"));
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let dtheta = params.gradient(&r, &g);
        let scale = params.scale(&theta);
        let mut gu: Vec<f64> = (0..n).map(|i| dtheta[i] * scale[i]).collect();
        let norm = gu.iter().map(|x| x * x).sum::<f64>().sqrt();
        let rec = Iteration {
            index: it,
            loss: g.loss,
            grad_norm: norm,
            theta,
        };
        if !rec.loss.is_finite() {
            return Err(OptError::Other(format!(
                "the loss became {} at iteration {it}",
                rec.loss
            )));
        }
        if rec.loss
            < history
                .get(best)
                .map(|b: &Iteration| b.loss)
                .unwrap_or(f64::INFINITY)
        {
            best = history.len();
        }
        let go_on = on_iteration(&rec);
        history.push(rec);
        if !go_on {
            stopped = true;
            break;
        }
        if it == iterations {
            break;
        }
        let (lr, decay, clip, adam) = match &task.task.optimizer {
            Optimizer::Adam {
                learning_rate,
                decay,
                clip_norm,
                ..
            } => (*learning_rate, *decay, *clip_norm, true),
            Optimizer::GradientDescent {
                learning_rate,
                decay,
                clip_norm,
                ..
            } => (*learning_rate, *decay, *clip_norm, false),
        };
        if let Some(c) = clip {
            if norm > c {
                gu.iter_mut().for_each(|x| *x *= c / norm);
            }
        }
        let lr = lr * decay.powi(it as i32);
        for i in 0..n {
            let step = if adam {
                let (b1, b2, eps) = (0.9, 0.999, 1e-12);
                m1[i] = b1 * m1[i] + (1.0 - b1) * gu[i];
                m2[i] = b2 * m2[i] + (1.0 - b2) * gu[i] * gu[i];
                let mh = m1[i] / (1.0 - b1.powi(it as i32 + 1));
                let vh = m2[i] / (1.0 - b2.powi(it as i32 + 1));
                lr * mh / (vh.sqrt() + eps)
            } else {
                lr * gu[i]
            };
            // Projection onto the bounds.
            u[i] = (u[i] - step).clamp(0.0, 1.0);
        }
    }
    Ok(Outcome {
        names: params.names.clone(),
        history,
        best,
        stopped,
        error,
    })
}
