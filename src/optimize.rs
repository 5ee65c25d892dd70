//! `ductile optimize TASK.ron --out DIR`: runs a task's optimiser and writes
//! the loss curve (CSV and PNG), the best controls (RON and NPY) and a JSON
//! summary. Ctrl-C stops after the current iteration and keeps the best so far.

use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_opt::{load_task, run_task, Iteration, RunOptions};
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
    /// Run in f64 (needs SHADER_F64).
    #[arg(long)]
    pub f64: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
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
    out: &Path,
    names: &[String],
    history: &[Iteration],
    best: usize,
    wall: f64,
    stopped: bool,
    task: &Path,
) -> Result<()> {
    let mut csv = std::fs::File::create(out.join("loss.csv"))?;
    writeln!(csv, "iteration,loss,grad_norm,{}", names.join(","))?;
    for it in history {
        let vals: Vec<String> = it.theta.iter().map(|v| format!("{v:.9e}")).collect();
        writeln!(
            csv,
            "{},{:.9e},{:.6e},{}",
            it.index,
            it.loss,
            it.grad_norm,
            vals.join(",")
        )?;
    }
    let losses: Vec<f64> = history.iter().map(|i| i.loss).collect();
    plot_loss(&out.join("loss.png"), &losses)?;
    let b = &history[best];
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
    let summary = json!({
        "task": task.display().to_string(),
        "iterations": history.len().saturating_sub(1),
        "stopped_early": stopped,
        "wall_time_s": wall,
        "initial_loss": history[0].loss,
        "best_loss": b.loss,
        "best_iteration": b.index,
        "best_controls": names.iter().zip(&b.theta).map(|(n, v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "gradient_norm_at_best": b.grad_norm,
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(())
}

/// Runs `ductile optimize`.
pub fn run_optimize(ctx: &GpuContext, args: &OptimizeArgs, stop: Arc<AtomicBool>) -> Result<()> {
    let task = load_task(&args.task)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let iterations = args.iterations.unwrap_or(task.task.optimizer.iterations());
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
        precision: args.f64.then_some(ductile_gpu::Precision::F64),
        ..Default::default()
    };
    let mut best = f64::INFINITY;
    let outcome = run_task(ctx, &task, &opts, |it| {
        best = best.min(it.loss);
        bar.set_message(format!("loss {:.4e} (best {:.4e})", it.loss, best));
        bar.inc(1);
        !stop.load(Ordering::Relaxed)
    })?;
    bar.finish();
    let wall = t0.elapsed().as_secs_f64();
    write_outputs(
        &args.out,
        &outcome.names,
        &outcome.history,
        outcome.best,
        wall,
        outcome.stopped,
        &args.task,
    )?;
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
    if let Some(e) = outcome.error {
        anyhow::bail!(
            "the optimisation stopped early ({e}); the iterations before it are in {}",
            args.out.display()
        );
    }
    Ok(())
}
