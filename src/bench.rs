//! `ductile bench`: particle-steps per second on the standard MLS-MPM
//! problems of `../shared/peers` (the same block, grid, materials, dt and
//! timing protocol as the Taichi and Warp scripts), with per-pass GPU times
//! and peak memory.

use anyhow::Result;
use clap::Args;
use ductile_gpu::{GpuContext, GpuTimer};
use ductile_sim::{Simulation, SimulationOptions};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `ductile bench`.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Materials: elastic, fluid (comma-separated).
    #[arg(long, default_value = "elastic,fluid")]
    pub materials: String,
    /// Sizes: 32k (64³ grid), 128k (64³ grid), 1m (128³ grid) (comma-separated).
    #[arg(long, default_value = "32k,128k,1m")]
    pub sizes: String,
    /// Timed substeps.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Warm-up substeps (after one compile substep).
    #[arg(long, default_value_t = 10)]
    pub warmup: u32,
    /// Use the deterministic binned-gather P2G instead of the atomic scatter.
    #[arg(long)]
    pub deterministic: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Benchmark gradients instead: a forward rollout of `--steps` substeps
    /// with checkpoints, then the backward pass (f32, gather P2G), reporting
    /// backward/forward time and the tape's memory for T and 10·T substeps.
    #[arg(long)]
    pub gradient: bool,
    /// Leave out the per-pass GPU timestamp queries (wall-clock throughput only).
    #[arg(long)]
    pub no_timestamps: bool,
    /// Benchmark the viewer's drawing instead: frames per second of packing
    /// and drawing the particles into a `--width` x `--height` view, after
    /// each of `--frame-substeps` substeps per frame.
    #[arg(long, conflicts_with = "gradient")]
    pub render: bool,
    /// Drawn frames per measurement (`--render`).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub frames: u32,
    /// Substeps simulated before each drawn frame, comma-separated, 0 to 300 (`--render`; 0: drawing alone).
    #[arg(long, default_value = "0,1,10")]
    pub frame_substeps: String,
    /// View width in pixels (`--render`).
    #[arg(long, default_value_t = 1280, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub width: u32,
    /// View height in pixels (`--render`).
    #[arg(long, default_value_t = 720, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub height: u32,
    /// Benchmark tactile scenes instead (comma-separated scene files, each
    /// with an FEM body with a sensor; `--steps` substeps): substeps per
    /// second forward, and the backward/forward ratio of a marker-track loss.
    #[arg(long, conflicts_with_all = ["gradient", "render"])]
    pub tactile: Option<String>,
    /// With `--tactile`: instead, build, run (`--steps` substeps) and drop
    /// each scene this many times in one process, reporting the resident
    /// memory as it goes (flat when nothing leaks).
    #[arg(long, requires = "tactile", value_parser = clap::value_parser!(u32).range(1..))]
    pub cycles: Option<u32>,
}

/// RON text of a benchmark problem: a lattice block (8 particles per cell)
/// one cell above the floor, falling at 2 m/s, in [0, 1]³ with 3 wall cells.
pub fn bench_scene(material: &str, size: &str) -> Result<String> {
    // dt = 1e-4 s as in the peers' scripts; at 128³ the sound speed of these
    // materials (≈ 100 m/s) needs dt = 4e-5 s for a Courant number below 1.
    let (grid, dt, lo, hi) = match size {
        "32k" => (64u32, 1e-4, [0.375, 0.0625, 0.375], [0.625, 0.3125, 0.625]),
        "128k" => (64, 1e-4, [0.25, 0.0625, 0.25], [0.75, 0.3125, 0.75]),
        "1m" => (
            128,
            4e-5,
            [0.25, 4.0 / 128.0, 0.25],
            [0.75, 4.0 / 128.0 + 0.25, 0.75],
        ),
        _ => anyhow::bail!("unknown size `{size}`: allowed are 32k, 128k, 1m"),
    };
    let mat = match material {
        "elastic" => "FixedCorotated(density: 1.0, youngs_modulus: 1e4, poisson_ratio: 0.2)",
        "fluid" => "Fluid(density: 1.0, bulk_modulus: 1e4, gamma: 1.0, viscosity: 0.0)",
        _ => anyhow::bail!("unknown material `{material}`: allowed are elastic, fluid"),
    };
    Ok(format!(
        "Scene(name: \"bench_{material}_{size}\", domain: (cells: ({grid}, {grid}, {grid}), dx: {dx:e}, boundary_cells: 3, boundary: Separate),
  time: (dt: {dt:e}, substeps: 1, frames: 1), gravity: (0.0, -9.8, 0.0),
  bodies: [(name: \"block\", shape: Box(min: ({:?}, {:?}, {:?}), max: ({:?}, {:?}, {:?})), particles_per_cell: 8,
            material: {mat}, velocity: (0.0, -2.0, 0.0))],
  output: (ply: false, npy: false, png: false))",
        lo[0],
        lo[1],
        lo[2],
        hi[0],
        hi[1],
        hi[2],
        dx = 1.0 / grid as f64
    ))
}

/// The benchmark problem `material` at `size`, parsed and validated.
pub(crate) fn load_bench_scene(material: &str, size: &str) -> Result<ductile_scene::LoadedScene> {
    load_scene(&bench_scene(material, size)?, material, size)
}

fn load_scene(text: &str, material: &str, size: &str) -> Result<ductile_scene::LoadedScene> {
    Ok(ductile_scene::load_scene_from_str(
        text,
        &format!("bench {material} {size}"),
        std::path::Path::new("."),
    )?)
}

fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One benchmark case.
pub fn bench_case(
    ctx: &GpuContext,
    material: &str,
    size: &str,
    args: &BenchArgs,
) -> Result<serde_json::Value> {
    let loaded = load_bench_scene(material, size)?;
    let before = ductile_gpu::buffers::allocated_bytes();
    let control_steps = 1 + args.warmup + args.steps;
    let mut sim = Simulation::new(
        ctx,
        &loaded,
        &SimulationOptions {
            control_steps: Some(control_steps as usize),
            deterministic: args.deterministic,
            ..Default::default()
        },
    )?;
    let gpu_bytes = ductile_gpu::buffers::allocated_bytes() - before;
    let n = sim.particle_count();
    // Room for every timed pass of the run (up to the timer's 2048), so that
    // timings are read back once, after the clock stops.
    sim.world.timer = if args.no_timestamps {
        GpuTimer::disabled()
    } else {
        GpuTimer::new(ctx, 2048)
    };
    // Compile + warm-up.
    sim.step(ctx, 1);
    ctx.wait()?;
    sim.step(ctx, args.warmup);
    ctx.wait()?;
    sim.check(ctx)?;
    sim.collect_timings(ctx)?;
    sim.world.timer.totals.clear();
    // Timed: one submission per 10 substeps, as a frame loop would, and no
    // host wait until the last.
    let t0 = Instant::now();
    let mut left = args.steps;
    while left > 0 {
        let k = left.min(10);
        sim.step(ctx, k);
        left -= k;
    }
    ctx.wait()?;
    let wall = t0.elapsed().as_secs_f64();
    sim.collect_timings(ctx)?;
    sim.check(ctx)?;
    let rate = n as f64 * args.steps as f64 / wall;
    let passes: serde_json::Map<String, serde_json::Value> = sim
        .timer()
        .totals
        .iter()
        .map(|(k, (ns, c))| (k.to_string(), json!(ns / *c as f64 / 1e6)))
        .collect();
    let gpu_ms: f64 = passes.values().filter_map(|v| v.as_f64()).sum();
    Ok(json!({
        "material": material,
        "size": size,
        "particles": n,
        "grid": sim.info().cells,
        "steps": args.steps,
        "wall_s": wall,
        "particle_steps_per_s": rate,
        "ms_per_substep": wall * 1e3 / args.steps as f64,
        "gpu_ms_per_substep_by_pass": passes,
        "gpu_ms_per_substep_timed": gpu_ms,
        "timestamps": sim.timer().enabled(),
        "gpu_buffer_bytes": gpu_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
    }))
}

/// One gradient benchmark case: forward with checkpoints and backward over
/// `args.steps` substeps, loss = |COM(T) − target|².
pub fn bench_gradient_case(
    ctx: &GpuContext,
    material: &str,
    size: &str,
    args: &BenchArgs,
) -> Result<serde_json::Value> {
    let loaded = load_scene(
        &bench_scene(material, size)?.replace(
            "output: (ply: false",
            "loss: [(kind: CenterOfMass(target: (0.5, 0.2, 0.5)), body: 0)],\n  output: (ply: false",
        ),
        material,
        size,
    )?;
    let before = ductile_gpu::buffers::allocated_bytes();
    let steps = args.steps as usize;
    let mut r = ductile_sim::Rollout::new(ctx, &loaded, None, Some(steps), &Default::default())?;
    let gpu_bytes = ductile_gpu::buffers::allocated_bytes() - before;
    let n = r.sim.particle_count();
    // (lavapipe compiles pipelines when they are created, so the first rollout is representative.)
    let t0 = Instant::now();
    r.forward(ctx)?;
    let fwd = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let g = r.backward(ctx)?;
    let bwd = t1.elapsed().as_secs_f64();
    let stages = r.profile_backward_step(ctx, 3)?;
    let stages: serde_json::Map<String, serde_json::Value> = stages
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v * 1e3)))
        .collect();
    let plan_1k = ductile_sim::MemoryPlan::new(
        1000,
        r.plan.state_bytes,
        r.plan.grid_bytes,
        r.plan.fixed_bytes,
        &Default::default(),
    )?;
    let plan_10k = ductile_sim::MemoryPlan::new(
        10_000,
        r.plan.state_bytes,
        r.plan.grid_bytes,
        r.plan.fixed_bytes,
        &Default::default(),
    )?;
    let plan_10x = ductile_sim::MemoryPlan::new(
        10 * steps,
        r.plan.state_bytes,
        r.plan.grid_bytes,
        r.plan.fixed_bytes,
        &Default::default(),
    )?;
    let sim_bytes = gpu_bytes.saturating_sub(r.plan.gpu_bytes);
    Ok(json!({
        "material": material,
        "size": size,
        "particles": n,
        "steps": steps,
        "loss": g.loss,
        "forward_s": fwd,
        "backward_s": bwd,
        "backward_over_forward": bwd / fwd,
        "forward_particle_steps_per_s": n as f64 * steps as f64 / fwd,
        "checkpoint_every": r.plan.checkpoint_every,
        "gpu_bytes_total": gpu_bytes,
        "tape_gpu_bytes": r.plan.gpu_bytes,
        "tape_gpu_bytes_10x_steps": plan_10x.gpu_bytes,
        "gpu_bytes_total_10x_steps": plan_10x.gpu_bytes + sim_bytes,
        "gpu_bytes_total_1000_steps": plan_1k.gpu_bytes + sim_bytes,
        "gpu_bytes_total_10000_steps": plan_10k.gpu_bytes + sim_bytes,
        "peak_rss_bytes": peak_rss_bytes(),
        "backward_stage_ms": stages,
    }))
}

/// Runs the requested cases and prints a table.
pub fn run_bench(ctx: &GpuContext, args: &BenchArgs) -> Result<()> {
    if args.gradient {
        return run_gradient_bench(ctx, args);
    }
    if args.render {
        return crate::bench_render::run_render_bench(ctx, args);
    }
    if let Some(scenes) = &args.tactile {
        return crate::bench_tactile::run_tactile_bench(ctx, scenes, args);
    }
    println!("adapter: {}", ctx.describe());
    println!(
        "{:<8} {:>6} {:>9} {:>14} {:>10} {:>10} {:>10}  passes (GPU ms/substep)",
        "material", "size", "particles", "p-steps/s", "ms/step", "GPU MiB", "RSS MiB"
    );
    let mut results = Vec::new();
    for (material, size) in cases(args) {
        {
            let (material, size) = (material.as_str(), size.as_str());
            let r = bench_case(ctx, material, size, args)?;
            let passes = r["gpu_ms_per_substep_by_pass"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k} {:.3}", v.as_f64().unwrap_or(0.0)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            println!(
                "{:<8} {:>6} {:>9} {:>14.3e} {:>10.3} {:>10.1} {:>10.1}  {}",
                material,
                size,
                r["particles"],
                r["particle_steps_per_s"].as_f64().unwrap_or(0.0),
                r["ms_per_substep"].as_f64().unwrap_or(0.0),
                r["gpu_buffer_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
                r["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / 1048576.0,
                passes
            );
            results.push(r);
        }
    }
    if let Some(p) = &args.json {
        let doc = json!({
            "adapter": ctx.describe(),
            "results": results,
        });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

/// The (material, size) pairs asked for, sizes outermost.
pub(crate) fn cases(args: &BenchArgs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for size in args
        .sizes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        for m in args
            .materials
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            out.push((m.to_string(), size.to_string()));
        }
    }
    out
}

fn run_gradient_bench(ctx: &GpuContext, args: &BenchArgs) -> Result<()> {
    println!("adapter: {}", ctx.describe());
    println!(
        "{:<8} {:>6} {:>9} {:>6} {:>9} {:>9} {:>8} {:>4} {:>11} {:>14} {:>9}",
        "material",
        "size",
        "particles",
        "T",
        "fwd s",
        "bwd s",
        "bwd/fwd",
        "K",
        "GPU MiB",
        "GPU MiB (10T)",
        "RSS MiB"
    );
    let mut results = Vec::new();
    for (material, size) in cases(args) {
        let r = bench_gradient_case(ctx, &material, &size, args)?;
        let mib = |k: &str| r[k].as_u64().unwrap_or(0) as f64 / 1048576.0;
        println!(
            "{:<8} {:>6} {:>9} {:>6} {:>9.2} {:>9.2} {:>8.2} {:>4} {:>11.1} {:>14.1} {:>9.1}",
            material,
            size,
            r["particles"],
            r["steps"],
            r["forward_s"].as_f64().unwrap_or(0.0),
            r["backward_s"].as_f64().unwrap_or(0.0),
            r["backward_over_forward"].as_f64().unwrap_or(0.0),
            r["checkpoint_every"],
            mib("gpu_bytes_total"),
            mib("gpu_bytes_total_10x_steps"),
            mib("peak_rss_bytes"),
        );
        println!(
            "    one backward substep, ms per stage: {}",
            r["backward_stage_ms"]
        );
        results.push(r);
    }
    if let Some(p) = &args.json {
        let doc = json!({ "adapter": ctx.describe(), "gradient": true, "results": results });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
