//! Ductile's optimisation layer: task files ([`task`]), the map between a
//! task's controls and a rollout ([`Params`]), the optimisers (Adam and
//! gradient descent in [`gradient`], CMA-ES in [`cmaes`], and the hybrid of
//! both), and the driver [`run_task`] that `ductile optimize` and library
//! users call. A run's [`Progress`] is serialisable, so a run can resume.

pub mod cmaes;
pub mod gradient;
mod kinds;
pub mod params;
pub mod task;
pub mod warm;

use cmaes::CmaEs;
use ductile_gpu::{GpuContext, Precision};
use ductile_scene::{LoadedScene, SceneError};
use ductile_sim::loss::write_npy_f64;
use ductile_sim::{Rollout, SimError, Simulation, SimulationOptions, TapeOptions};
use gradient::GradientState;
pub use params::{set_material_param, CoarseMap, Params};
use serde::{Deserialize, Serialize};
pub use task::{
    load_task, parse_task, ControlSpec, GradientSettings, LoadedTask, MaterialParam, Optimizer,
    SearchSettings, Task,
};
pub use warm::WarmStart;

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

/// Which stage produced an iteration.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum StageKind {
    /// The initial guess, evaluated before a search.
    Initial,
    /// A CMA-ES generation (its best sample).
    Search,
    /// A gradient iteration (Adam or gradient descent).
    Gradient,
}

/// One optimisation iteration's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Iteration {
    /// Index in the history (0 = the initial guess).
    pub index: usize,
    /// Stage.
    pub stage: StageKind,
    /// Loss at θ (over the loss window when `window` is set).
    pub loss: f64,
    /// Norm of dL/du over the free entries (scaled coordinates), before
    /// clipping; gradient iterations only.
    pub grad_norm: Option<f64>,
    /// The same per control group (as [`Params::groups`]).
    pub group_grad_norms: Vec<f64>,
    /// θ (for a search generation: its best sample).
    pub theta: Vec<f64>,
    /// End of the loss window [substeps] when it is shorter than the rollout.
    pub window: Option<usize>,
    /// Rollouts so far (forward passes, with or without backward).
    pub rollouts: usize,
    /// Samples of this generation that blew up (scored +∞).
    pub failed_samples: usize,
}

/// Where the driver is, in a form that can be saved and resumed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Stage {
    /// CMA-ES on the coarse map (`knots` per segmented control; `usize::MAX`
    /// for the full parameterisation).
    Search {
        /// The search distribution.
        es: CmaEs,
        /// Knots per segmented control.
        knots: usize,
        /// Best sample so far (loss, coarse coordinates).
        best: Option<(f64, Vec<f64>)>,
    },
    /// Adam or gradient descent.
    Gradient {
        /// Current scaled coordinates.
        u: Vec<f64>,
        /// Optimiser state.
        state: GradientState,
        /// Iterations recorded in this stage.
        done: usize,
        /// Expanding loss window, if any.
        window: Option<WindowState>,
    },
    /// Finished.
    Done,
}

/// State of an expanding loss window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowState {
    /// Current end [substeps].
    pub end: usize,
    /// Lowest loss since the window last grew.
    pub reference: f64,
    /// Iterations since it last improved by the tolerance.
    pub stalled: usize,
}

/// A run's history and the optimiser's state: everything `--resume` needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    /// The task file's text (a resumed run must use the same task).
    pub task_source: String,
    /// Every iteration so far.
    pub history: Vec<Iteration>,
    /// Index of the lowest loss over the whole rollout.
    pub best: Option<usize>,
    /// The stage to continue with.
    pub stage: Stage,
}

/// Result of a task.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Control names.
    pub names: Vec<String>,
    /// Control groups (name, entries).
    pub groups: Vec<(String, std::ops::Range<usize>)>,
    /// Every iteration.
    pub history: Vec<Iteration>,
    /// Index into `history` of the lowest loss.
    pub best: usize,
    /// Whether the run was stopped early by the caller.
    pub stopped: bool,
    /// The error that ended the run early, if any (the history before it is kept).
    pub error: Option<String>,
    /// The kernel precision the rollouts ran in.
    pub precision: Precision,
}

/// Options of [`run_task`].
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Override the task's iteration count (see [`Optimizer::with_iterations`]).
    pub iterations: Option<usize>,
    /// Override the rollout's substeps (the task's `steps`, else the scene's
    /// frames × substeps), e.g. for quick checks.
    pub steps: Option<usize>,
    /// Kernel precision (default: the task's `precision`, else the scene's).
    pub precision: Option<Precision>,
    /// Tape options of the backward pass.
    pub tape: TapeOptions,
    /// Continue from this saved progress instead of starting afresh.
    pub resume: Option<Progress>,
    /// Initial values for the controls it names, replacing the task's
    /// initial guesses (a warm start, e.g. from an earlier run's
    /// `best_controls.ron`). Not with `resume`.
    pub warm_start: Option<WarmStart>,
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

/// Builds the rollout of a task (recording the reference first if asked)
/// and returns it with the control map and the initial θ.
pub fn prepare(
    ctx: &GpuContext,
    task: &LoadedTask,
    opts: &RunOptions,
) -> Result<(Rollout, Params, Vec<f64>), OptError> {
    let loaded = task.load_scene()?;
    let steps = opts
        .steps
        .or(task.task.steps)
        .unwrap_or(loaded.scene.time.frames as usize * loaded.scene.time.substeps as usize)
        .max(1);
    let precision = opts.precision.or(task
        .task
        .precision
        .map(ductile_sim::simulation::kernel_precision));
    if opts.precision.is_none() && precision == Some(Precision::F64) && !ctx.has_f64 {
        return Err(OptError::Scene(SceneError::invalid(
            &task.source,
            &task.path.display().to_string(),
            "precision",
            "F64",
            format!(
                "F32 on this adapter ({} has no SHADER_F64): remove the field, or run on an adapter with 64-bit floats (lavapipe has them)",
                ctx.info.name
            ),
        )));
    }
    if let Some(rec) = &task.task.record {
        record_reference(ctx, &loaded, rec, steps, precision)?;
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
    let r = Rollout::new(ctx, &loaded, precision, Some(steps), &opts.tape)?;
    let (mut params, mut theta0) = Params::new(task, &r)?;
    if let Some(w) = &opts.warm_start {
        if opts.resume.is_some() {
            return Err(OptError::Other(
                "a warm start and a resumed run both set the controls: give one".into(),
            ));
        }
        w.apply(&mut params, &mut theta0)?;
    }
    Ok((r, params, theta0))
}

/// The stage a fresh run starts with.
fn first_stage(optimizer: &Optimizer, params: &Params, u0: &[f64]) -> Stage {
    match optimizer {
        Optimizer::Adam(_) | Optimizer::GradientDescent(_) => Stage::Gradient {
            u: u0.to_vec(),
            state: GradientState::new(u0.len()),
            done: 0,
            window: None,
        },
        Optimizer::CmaEs(s) => search_stage(s, params.coarse_map(usize::MAX, u0), usize::MAX),
        Optimizer::Hybrid {
            coarse_keys,
            search,
            ..
        } => search_stage(search, params.coarse_map(*coarse_keys, u0), *coarse_keys),
    }
}

fn search_stage(s: &SearchSettings, map: CoarseMap, knots: usize) -> Stage {
    Stage::Search {
        es: CmaEs::new(map.c0, s.sigma, s.population, s.seed),
        knots,
        best: None,
    }
}

/// Runs the task's optimiser. `on_iteration` sees every iteration and the
/// progress after it (save that to resume later) and returns false to stop
/// (the best result so far is kept).
pub fn run_task(
    ctx: &GpuContext,
    task: &LoadedTask,
    opts: &RunOptions,
    mut on_iteration: impl FnMut(&Iteration, &Progress) -> bool,
) -> Result<Outcome, OptError> {
    let (mut r, params, theta0) = prepare(ctx, task, opts)?;
    let optimizer = match opts.iterations {
        Some(n) => task.task.optimizer.with_iterations(n),
        None => task.task.optimizer.clone(),
    };
    let u0 = params.to_unit(&theta0);
    let mut p = match &opts.resume {
        Some(saved) => {
            if saved.task_source != task.source {
                return Err(OptError::Other(format!(
                    "the saved progress belongs to a different version of {}; \
                     start afresh without --resume",
                    task.path.display()
                )));
            }
            saved.clone()
        }
        None => Progress {
            task_source: task.source.clone(),
            history: vec![],
            best: None,
            stage: first_stage(&optimizer, &params, &u0),
        },
    };
    let steps = r.steps();
    let mut rollouts = p.history.last().map(|h| h.rollouts).unwrap_or(0);
    let mut stopped = false;
    let mut error = None;
    // Records an iteration, updates "best", calls back; false: stop.
    let mut record = |p: &mut Progress, mut it: Iteration| -> bool {
        it.index = p.history.len();
        if it.window.is_none()
            && it.loss < p.best.map(|b| p.history[b].loss).unwrap_or(f64::INFINITY)
        {
            p.best = Some(it.index);
        }
        p.history.push(it);
        on_iteration(p.history.last().expect("just pushed"), p)
    };
    loop {
        match &mut p.stage {
            Stage::Done => break,
            Stage::Search { es, knots, best } => {
                let settings = match &optimizer {
                    Optimizer::CmaEs(s) => s,
                    Optimizer::Hybrid { search, .. } => search,
                    _ => return Err(OptError::Other("search stage without a search".into())),
                };
                let map = params.coarse_map(*knots, &u0);
                if p.history.is_empty() {
                    // The initial guess, for comparison.
                    r.set_loss_window(ctx, None);
                    let theta = params.from_unit(&u0);
                    params.apply(ctx, &mut r, &theta)?;
                    let loss = r.forward(ctx)?;
                    rollouts += 1;
                    let it = Iteration {
                        index: 0,
                        stage: StageKind::Initial,
                        loss,
                        grad_norm: None,
                        group_grad_norms: vec![],
                        theta,
                        window: None,
                        rollouts,
                        failed_samples: 0,
                    };
                    if !record(&mut p, it) {
                        stopped = true;
                        break;
                    }
                    continue;
                }
                if es.generation >= settings.generations {
                    p.stage = match &optimizer {
                        Optimizer::Hybrid { .. } => {
                            let c = best.as_ref().map(|b| b.1.clone()).unwrap_or(map.c0.clone());
                            let u = map.apply(&c);
                            Stage::Gradient {
                                state: GradientState::new(u.len()),
                                u,
                                done: 0,
                                window: None,
                            }
                        }
                        _ => Stage::Done,
                    };
                    continue;
                }
                let samples = es.ask();
                let mut losses = Vec::with_capacity(samples.len());
                let mut failed = 0;
                for c in &samples {
                    let theta = params.from_unit(&map.apply(c));
                    params.apply(ctx, &mut r, &theta)?;
                    rollouts += 1;
                    match r.forward(ctx) {
                        Ok(l) if l.is_finite() => losses.push(l),
                        Ok(_) | Err(SimError::Unstable(_)) => {
                            failed += 1;
                            losses.push(f64::INFINITY);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                es.tell(&samples, &losses);
                let (i_best, &l_best) = losses
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .expect("population >= 2");
                if l_best < best.as_ref().map(|b| b.0).unwrap_or(f64::INFINITY) {
                    *best = Some((l_best, samples[i_best].clone()));
                }
                let it = Iteration {
                    index: 0,
                    stage: StageKind::Search,
                    loss: l_best,
                    grad_norm: None,
                    group_grad_norms: vec![],
                    theta: params.from_unit(&map.apply(&samples[i_best])),
                    window: None,
                    rollouts,
                    failed_samples: failed,
                };
                if !record(&mut p, it) {
                    stopped = true;
                    break;
                }
            }
            Stage::Gradient {
                u,
                state,
                done,
                window,
            } => {
                let (settings, adam) = match &optimizer {
                    Optimizer::Adam(g) => (g, true),
                    Optimizer::GradientDescent(g) => (g, false),
                    Optimizer::Hybrid { refine, .. } => match refine.as_ref() {
                        Optimizer::Adam(g) => (g, true),
                        Optimizer::GradientDescent(g) => (g, false),
                        _ => {
                            return Err(OptError::Other("refine must be a gradient method".into()))
                        }
                    },
                    Optimizer::CmaEs(_) => {
                        return Err(OptError::Other("gradient stage under CMA-ES".into()))
                    }
                };
                if *done == 0 && window.is_none() {
                    if let Some(w) = &task.task.window {
                        if w.start < steps {
                            *window = Some(WindowState {
                                end: w.start,
                                reference: f64::INFINITY,
                                stalled: 0,
                            });
                        }
                    }
                }
                let win_end = window.as_ref().map(|w| w.end);
                r.set_loss_window(ctx, win_end);
                let theta = params.from_unit(u);
                params.apply(ctx, &mut r, &theta)?;
                rollouts += 1;
                let g = match r.forward(ctx).and_then(|_| r.backward(ctx)) {
                    Ok(g) => g,
                    Err(e) if !p.history.is_empty() => {
                        error = Some(format!(
                            "iteration {} (controls {theta:?}): {e}",
                            p.history.len()
                        ));
                        break;
                    }
                    Err(e) => return Err(e.into()),
                };
                if !g.loss.is_finite() {
                    error = Some(format!(
                        "the loss became {} at iteration {}",
                        g.loss,
                        p.history.len()
                    ));
                    break;
                }
                let dtheta = params.gradient(&r, &g, &theta);
                let scale = params.scale(&theta);
                let mut gu: Vec<f64> = (0..u.len())
                    .map(|i| {
                        if params.free[i] {
                            dtheta[i] * scale[i]
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let norm = gradient::norm(&gu);
                let group_grad_norms = params
                    .groups
                    .iter()
                    .map(|(_, range)| gradient::norm(&gu[range.clone()]))
                    .collect();
                let last = *done >= settings.iterations;
                let it = Iteration {
                    index: 0,
                    stage: StageKind::Gradient,
                    loss: g.loss,
                    grad_norm: Some(norm),
                    group_grad_norms,
                    theta,
                    window: win_end,
                    rollouts,
                    failed_samples: 0,
                };
                // The expanding window: grow on a plateau.
                if let (Some(w), Some(spec)) = (window.as_mut(), &task.task.window) {
                    if g.loss < w.reference * (1.0 - spec.tolerance) {
                        w.reference = g.loss;
                        w.stalled = 0;
                    } else {
                        w.stalled += 1;
                    }
                    if w.stalled >= spec.patience {
                        w.end += spec.grow;
                        w.reference = f64::INFINITY;
                        w.stalled = 0;
                    }
                }
                if window.as_ref().is_some_and(|w| w.end >= steps) {
                    *window = None;
                }
                if last {
                    p.stage = if win_end.is_some() {
                        // Finish with the whole loss so that "best" is comparable.
                        Stage::Gradient {
                            u: u.clone(),
                            state: state.clone(),
                            done: *done + 1,
                            window: None,
                        }
                    } else {
                        Stage::Done
                    };
                } else {
                    gradient::clip(&mut gu, settings.clip_value, settings.clip_norm);
                    let lr = settings.learning_rate
                        * settings.schedule.factor(*done, settings.iterations);
                    state.step(u, &gu, lr, adam);
                    *done += 1;
                }
                if !record(&mut p, it) {
                    stopped = true;
                    break;
                }
            }
        }
    }
    if p.history.is_empty() {
        return Err(OptError::Other(
            error.unwrap_or_else(|| "stopped before the first iteration".into()),
        ));
    }
    let best = p.best.unwrap_or(p.history.len() - 1);
    Ok(Outcome {
        names: params.names.clone(),
        groups: params.groups.clone(),
        history: p.history,
        best,
        stopped,
        error,
        precision: r.sim.config().precision,
    })
}
