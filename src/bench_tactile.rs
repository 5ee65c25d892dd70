//! `ductile bench --tactile SCENES`: a tactile scene's substeps per second
//! forward, its sizes (FEM nodes of every body, MPM particles, nodes that
//! touched a tool, particle–triangle contact pairs at the last substep), and
//! the backward/forward time of a marker-track loss through the
//! checkpointed tape, on the adapter in use.

use crate::bench::BenchArgs;
use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_sim::fem::sensor_loss::MarkerTrack;
use ductile_sim::fem::solver::FemSolver;
use ductile_sim::{Rollout, Simulation, SimulationOptions};
use serde_json::json;
use std::time::Instant;

/// One scene: `steps` substeps forward (after a warm-up), then a rollout of
/// as many substeps with a marker loss at its end, forward and backward.
fn bench_tactile_scene(
    ctx: &GpuContext,
    path: &str,
    args: &BenchArgs,
) -> Result<serde_json::Value> {
    let loaded = ductile_scene::load_scene(std::path::Path::new(path))?;
    let steps = args.steps as usize;
    let mut sim = Simulation::new(
        ctx,
        &loaded,
        &SimulationOptions {
            control_steps: Some(steps + args.warmup as usize + 1),
            ..Default::default()
        },
    )?;
    let fi = sim
        .fem_solver(0)
        .with_context(|| format!("{path}: no FEM body"))?;
    sim.step(ctx, args.warmup + 1);
    sim.check(ctx)?;
    let t0 = Instant::now();
    sim.step(ctx, args.steps);
    sim.check(ctx)?;
    let fwd_wall = t0.elapsed().as_secs_f64();
    let (nodes, touched, pairs) = contact_counts(ctx, &sim)?;
    let particles = sim.particle_count();

    // Gradients: the markers at the end against their rest pixels + 1 px.
    let mut r = Rollout::new(ctx, &loaded, None, Some(steps), &Default::default())?;
    let (elements, markers, rest) = {
        let body = r
            .sim
            .world
            .solver::<FemSolver>(fi)
            .context("the FEM body's solver")?;
        let sensor = body
            .sensor()
            .with_context(|| format!("{path}: the FEM body has no sensor"))?;
        (
            body.element_count(),
            sensor.marker_count(),
            sensor.read_markers(ctx, r.sim.parity())?,
        )
    };
    let target: Vec<[f64; 2]> = rest.iter().map(|m| [m[0] + 1.0, m[1]]).collect();
    let track = MarkerTrack::new(ctx, &r.sim, fi, steps, &[(steps, target)], 1.0)?;
    r.add_loss_terms(Box::new(track));
    // A first backward pass builds and compiles the adjoint kernels (on
    // software drivers, at first use); the second is the one timed.
    r.backward(ctx)?;
    r.invalidate();
    let t1 = Instant::now();
    r.forward(ctx)?;
    let fwd = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    r.backward(ctx)?;
    let bwd = t2.elapsed().as_secs_f64();
    Ok(json!({
        "scene": path,
        "fem_nodes": nodes,
        "fem_elements": elements,
        "mpm_particles": particles,
        "markers": markers,
        "nodes_touched_by_tools": touched,
        "matter_pairs_last_substep": pairs,
        "steps": steps,
        "substeps_per_s": args.steps as f64 / fwd_wall,
        "rollout_forward_s": fwd,
        "rollout_backward_s": bwd,
        "backward_over_forward": bwd / fwd,
    }))
}

/// Over every FEM body: its nodes, the nodes that have touched a tool
/// (deepest penetration > 0), and the particle–triangle pairs of its matter
/// contact in range now (closer than the contact radius R to the
/// triangle's plane, and in front of it or less than R/4 beside it, as
/// `shaders/fem/matter_law.wgsl` has it; counted on the host, after the
/// timed run).
fn contact_counts(ctx: &GpuContext, sim: &Simulation) -> Result<(u64, usize, usize)> {
    let p = sim.config().precision;
    let read = |b: &wgpu::Buffer, n: u64| -> Result<Vec<f64>> {
        Ok(ductile_gpu::bytes_to_reals(
            &ductile_gpu::read_buffer(ctx, b, n * p.bytes())?,
            p,
        ))
    };
    let particles = if sim.particle_count() > 0 {
        sim.particles(ctx)?.x
    } else {
        Vec::new()
    };
    let (mut nodes, mut touched, mut pairs) = (0u64, 0usize, 0usize);
    let mut k = 0;
    while let Some(fi) = sim.fem_solver(k) {
        let f = sim
            .world
            .solver::<FemSolver>(fi)
            .context("the FEM body's solver")?;
        let n = u64::from(f.node_count());
        nodes += n;
        touched += read(f.depth_buffer(), n)?
            .iter()
            .filter(|&&d| d > 0.0)
            .count();
        let radius = sim.world.couplings.iter().find_map(|c| {
            c.as_any()
                .downcast_ref::<ductile_sim::fem::matter::FemMatterCoupling>()
                .filter(|m| m.fem_solver() == fi)
                .map(|m| m.radius())
        });
        if let Some(r) = radius {
            let x = read(&f.x[sim.parity()], 3 * n)?;
            let at = |j: u32| -> [f64; 3] { std::array::from_fn(|a| x[3 * j as usize + a]) };
            for t in f.surface_faces() {
                pairs += particles
                    .chunks_exact(3)
                    .filter(|xp| in_contact(at(t[0]), at(t[1]), at(t[2]), xp, r))
                    .count();
            }
        }
        k += 1;
    }
    Ok((nodes, touched, pairs))
}

/// Whether a particle at `xp` is in range of triangle (a, b, c) for the
/// contact radius `r` [m] (the pair law's geometric test).
fn in_contact(a: [f64; 3], b: [f64; 3], c: [f64; 3], xp: &[f64], r: f64) -> bool {
    let sub = |p: [f64; 3], q: [f64; 3]| -> [f64; 3] { std::array::from_fn(|k| p[k] - q[k]) };
    let cross = |p: [f64; 3], q: [f64; 3]| -> [f64; 3] {
        [
            p[1] * q[2] - p[2] * q[1],
            p[2] * q[0] - p[0] * q[2],
            p[0] * q[1] - p[1] * q[0],
        ]
    };
    let dot = |p: [f64; 3], q: [f64; 3]| -> f64 { (0..3).map(|k| p[k] * q[k]).sum() };
    let (u, v, w) = (sub(b, a), sub(c, a), sub([xp[0], xp[1], xp[2]], a));
    let nn = cross(u, v);
    let dd = dot(nn, nn);
    if dd <= 0.0 {
        return false;
    }
    let s = dot(w, nn) / dd.sqrt();
    let bb = dot(cross(w, v), nn) / dd;
    let bc = dot(cross(u, w), nn) / dd;
    let beta = [1.0 - bb - bc, bb, bc];
    let lens = [
        dot(sub(v, u), sub(v, u)).sqrt(),
        dot(v, v).sqrt(),
        dot(u, u).sqrt(),
    ];
    s.abs() < r && (0..3).all(|i| beta[i] * dd.sqrt() / lens[i] > -0.25 * r)
}

/// Resident memory of this process now [bytes] (Linux; None elsewhere).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `cycles` times: build the scene's simulation, run `steps` substeps,
/// check it, drop it; the resident memory after cycles 1, 10, 100, … and
/// the last, and the mean time per cycle.
fn cycle_scene(ctx: &GpuContext, path: &str, cycles: u32, steps: u32) -> Result<serde_json::Value> {
    let loaded = ductile_scene::load_scene(std::path::Path::new(path))?;
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for c in 1..=cycles {
        {
            let mut sim = Simulation::new(
                ctx,
                &loaded,
                &SimulationOptions {
                    control_steps: Some(steps as usize + 1),
                    ..Default::default()
                },
            )?;
            sim.step(ctx, steps);
            sim.check(ctx)
                .with_context(|| format!("{path}: cycle {c}"))?;
        }
        ctx.device.poll(wgpu::PollType::wait_indefinitely()).ok();
        if c == 1 || c == cycles || (c as f64).log10().fract() == 0.0 || c % 100 == 0 {
            let rss = rss_bytes().unwrap_or(0);
            println!(
                "{path}: cycle {c:>5}  RSS {:>8.1} MiB",
                rss as f64 / 1048576.0
            );
            samples.push(json!({"cycle": c, "rss_bytes": rss}));
        }
    }
    Ok(json!({
        "scene": path,
        "cycles": cycles,
        "substeps_per_cycle": steps,
        "seconds_per_cycle": t0.elapsed().as_secs_f64() / f64::from(cycles),
        "rss": samples,
    }))
}

/// Runs `--tactile` and prints a table.
pub fn run_tactile_bench(ctx: &GpuContext, scenes: &str, args: &BenchArgs) -> Result<()> {
    println!("adapter: {}", ctx.describe());
    if let Some(cycles) = args.cycles {
        let mut results = Vec::new();
        for path in scenes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            results.push(cycle_scene(ctx, path, cycles, args.steps)?);
        }
        if let Some(p) = &args.json {
            let doc = json!({"adapter": ctx.describe(), "results": results});
            std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
        }
        return Ok(());
    }
    println!(
        "{:<32} {:>7} {:>9} {:>8} {:>7} {:>12} {:>9}",
        "scene", "nodes", "particles", "touched", "pairs", "substeps/s", "bwd/fwd"
    );
    let mut results = Vec::new();
    for path in scenes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let r = bench_tactile_scene(ctx, path, args)?;
        println!(
            "{:<32} {:>7} {:>9} {:>8} {:>7} {:>12.1} {:>9.2}",
            path,
            r["fem_nodes"],
            r["mpm_particles"],
            r["nodes_touched_by_tools"],
            r["matter_pairs_last_substep"],
            r["substeps_per_s"].as_f64().unwrap_or(0.0),
            r["backward_over_forward"].as_f64().unwrap_or(0.0),
        );
        results.push(r);
    }
    if let Some(p) = &args.json {
        let doc = json!({"adapter": ctx.describe(), "results": results});
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
