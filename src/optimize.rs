//! `ductile optimize TASK.ron --out DIR`: runs a task's optimiser and writes
//! the loss curve (CSV and PNG), the best controls (RON and NPY) and a JSON
//! summary, then renders the initial and best rollouts (see
//! [`crate::optimize_render`]). Ctrl-C stops after the current iteration and
//! keeps the best so far.

use crate::optimize_render::render_rollouts;
use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_opt::{load_task, run_task, Outcome, Progress, RunOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `ductile optimize`.
#[derive(clap::Args, Debug)]
pub struct OptimizeArgs {
    /// Task file (RON), e.g. scenes/tasks/throw.ron.
    pub task: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/optimize")]
    pub out: PathBuf,
    /// Override the task's iteration count.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Override the rollout's substeps (default: the task's `steps`, else the
    /// scene's frames × substeps), e.g. for a quick check of a task.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Run in f64 (needs SHADER_F64).
    #[arg(long)]
    pub f64: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Continue the run saved in `--out` (its progress.json) instead of starting afresh.
    #[arg(long, conflicts_with = "init")]
    pub resume: bool,
    /// Start from the control values in this file instead of the task's
    /// initial guesses, for the controls it names (the others keep the
    /// task's): an earlier run's `best_controls.ron`, or a file in the same
    /// form (`{ "tool0.v[0].x": 0.5, ... }`) written by hand, e.g. a
    /// hand-made trajectory, one value per segment or key.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Do not render the initial and best rollouts.
    #[arg(long)]
    pub no_render: bool,
    /// Frames of each render, evenly spaced over the rollout, after the initial state.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub render_frames: u32,
}

/// A loss curve as a PNG (log-scaled loss against iteration).
pub fn plot_loss(path: &Path, losses: &[f64]) -> Result<()> {
    let (w, h) = (640u32, 400u32);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let (x0, y0, x1, y1) = (50i64, 20i64, w as i64 - 20, h as i64 - 40);
    let black = image::Rgb([0, 0, 0]);
    for x in x0..=x1 {
        img.put_pixel(x as u32, y1 as u32, black);
    }
    for y in y0..=y1 {
        img.put_pixel(x0 as u32, y as u32, black);
    }
    let logs: Vec<f64> = losses.iter().map(|l| l.max(1e-300).log10()).collect();
    let lo = logs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-9);
    let n = logs.len().max(2) - 1;
    let pt = |i: usize| {
        let x = x0 + ((x1 - x0) as f64 * i as f64 / n as f64) as i64;
        let y = y1 - ((y1 - y0) as f64 * (logs[i] - lo) / span) as i64;
        (x, y)
    };
    for i in 1..logs.len() {
        let (ax, ay) = pt(i - 1);
        let (bx, by) = pt(i);
        let steps = (bx - ax).abs().max((by - ay).abs()).max(1);
        for s in 0..=steps {
            let x = ax + (bx - ax) * s / steps;
            let y = ay + (by - ay) * s / steps;
            for dy in -1..=1 {
                let yy = (y + dy).clamp(0, h as i64 - 1);
                img.put_pixel(x as u32, yy as u32, image::Rgb([200, 40, 40]));
            }
        }
    }
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_outputs(
    ctx: &GpuContext,
    out: &Path,
    outcome: &Outcome,
    wall: f64,
    task: &Path,
    optimizer: &ductile_opt::Optimizer,
) -> Result<()> {
    let (names, history) = (&outcome.names, &outcome.history);
    let mut csv = std::fs::File::create(out.join("loss.csv"))?;
    writeln!(
        csv,
        "iteration,stage,loss,grad_norm,window_end,rollouts,{}",
        names.join(",")
    )?;
    for it in history {
        let vals: Vec<String> = it.theta.iter().map(|v| format!("{v:.9e}")).collect();
        let opt = |v: Option<String>| v.unwrap_or_default();
        writeln!(
            csv,
            "{},{:?},{:.9e},{},{},{},{}",
            it.index,
            it.stage,
            it.loss,
            opt(it.grad_norm.map(|g| format!("{g:.6e}"))),
            opt(it.window.map(|w| w.to_string())),
            it.rollouts,
            vals.join(",")
        )?;
    }
    let losses: Vec<f64> = history.iter().map(|i| i.loss).collect();
    plot_loss(&out.join("loss.png"), &losses)?;
    let b = &history[outcome.best];
    let mut ron_text =
        String::from("// Best controls found by `ductile optimize` (name: value).\n{\n");
    for (n, v) in names.iter().zip(&b.theta) {
        ron_text.push_str(&format!("    \"{n}\": {v:e},\n"));
    }
    ron_text.push_str("}\n");
    std::fs::write(out.join("best_controls.ron"), ron_text)?;
    ductile_sim::loss::write_npy_f64(
        &out.join("best_controls.npy"),
        &[b.theta.len() as u64],
        &b.theta,
    )
    .map_err(anyhow::Error::msg)?;
    // Gradient norms per control group: at the best iteration when it has
    // a gradient, else at the last iteration that has one.
    let with_grad = if b.grad_norm.is_some() {
        Some(b)
    } else {
        history.iter().rev().find(|h| h.grad_norm.is_some())
    };
    let group_norms: serde_json::Map<_, _> = with_grad
        .map(|h| {
            outcome
                .groups
                .iter()
                .zip(&h.group_grad_norms)
                .map(|((n, _), g)| (n.clone(), json!(g)))
                .collect()
        })
        .unwrap_or_default();
    let summary = json!({
        "task": task.display().to_string(),
        "adapter": {
            "name": ctx.info.name,
            "type": format!("{:?}", ctx.info.device_type),
            "driver": ctx.info.driver,
            "driver_info": ctx.info.driver_info,
        },
        "precision": format!("{:?}", outcome.precision),
        "optimizer": format!("{optimizer:?}"),
        "iterations": history.len().saturating_sub(1),
        "rollouts": history.last().map(|h| h.rollouts).unwrap_or(0),
        "stopped_early": outcome.stopped,
        "error": outcome.error,
        "wall_time_s": wall,
        "initial_loss": history[0].loss,
        "best_loss": b.loss,
        "best_iteration": b.index,
        "improvement_factor": history[0].loss / b.loss,
        "best_controls": names.iter().zip(&b.theta).map(|(n, v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "gradient_norm_at_best": b.grad_norm,
        "gradient_norm_per_group": group_norms,
        "gradient_norm_per_group_iteration": with_grad.map(|h| h.index),
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// Saves the run's progress (for `--resume`): written to a temporary file
/// and renamed, so an interrupted write never leaves a broken file.
fn save_progress(out: &Path, p: &Progress) -> Result<()> {
    let path = out.join(PROGRESS_FILE);
    let tmp = out.join(format!("{PROGRESS_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(p)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The progress file in the run directory.
pub const PROGRESS_FILE: &str = "progress.json";

/// Runs `ductile optimize`.
pub fn run_optimize(ctx: &GpuContext, args: &OptimizeArgs, stop: Arc<AtomicBool>) -> Result<()> {
    let task = load_task(&args.task)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let optimizer = match args.iterations {
        Some(n) => task.task.optimizer.with_iterations(n),
        None => task.task.optimizer.clone(),
    };
    let resume = if args.resume {
        let path = args.out.join(PROGRESS_FILE);
        let text = std::fs::read(&path).with_context(|| {
            format!(
                "--resume: no saved progress at {} (run without --resume first)",
                path.display()
            )
        })?;
        let p: Progress = serde_json::from_slice(&text)
            .with_context(|| format!("--resume: {} is not a progress file", path.display()))?;
        Some(p)
    } else {
        None
    };
    let warm_start = match &args.init {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--init: reading {}", path.display()))?;
            Some(ductile_opt::WarmStart::parse(
                &text,
                &path.display().to_string(),
            )?)
        }
        None => None,
    };
    let iterations = optimizer.iterations();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(iterations as u64 + 1)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} iterations, {per_sec}, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let opts = RunOptions {
        iterations: args.iterations,
        steps: args.steps.map(|s| s as usize),
        precision: args.f64.then_some(ductile_gpu::Precision::F64),
        resume,
        warm_start,
        ..Default::default()
    };
    if let Some(p) = &opts.resume {
        bar.set_position(p.history.len() as u64);
    }
    let mut best = f64::INFINITY;
    let mut save_error = None;
    let outcome = run_task(ctx, &task, &opts, |it, progress| {
        best = best.min(it.loss);
        bar.set_message(format!("loss {:.4e} (best {:.4e})", it.loss, best));
        bar.inc(1);
        if let Err(e) = save_progress(&args.out, progress) {
            save_error = Some(e);
            return false;
        }
        !stop.load(Ordering::Relaxed)
    })?;
    if let Some(e) = save_error {
        return Err(e);
    }
    bar.finish();
    let wall = t0.elapsed().as_secs_f64();
    write_outputs(ctx, &args.out, &outcome, wall, &args.task, &optimizer)?;
    let b = &outcome.history[outcome.best];
    eprintln!(
        "loss {:.4e} -> {:.4e} (iteration {}) in {:.1} s; results in {}",
        outcome.history[0].loss,
        b.loss,
        b.index,
        wall,
        args.out.display()
    );
    for (n, v) in outcome.names.iter().zip(&b.theta) {
        eprintln!("  {n} = {v:.6e}");
    }
    let rendered = if args.no_render || outcome.history.is_empty() {
        Ok(())
    } else {
        let t = Instant::now();
        let runs = [
            ("initial", outcome.history[0].theta.as_slice()),
            ("best", b.theta.as_slice()),
        ];
        let frames = args.render_frames as usize;
        render_rollouts(ctx, &task, &opts, &runs, &args.out, frames).map(|n| {
            eprintln!(
                "rendered the initial and best rollouts ({n} frames each) in {:.1} s",
                t.elapsed().as_secs_f64()
            )
        })
    };
    if let Some(e) = outcome.error {
        if let Err(r) = rendered {
            eprintln!("error: {r:#}");
        }
        anyhow::bail!(
            "the optimisation stopped early ({e}); the iterations before it are in {}",
            args.out.display()
        );
    }
    rendered
}
