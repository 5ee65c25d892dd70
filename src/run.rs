//! `ductile run SCENE.ron --out DIR`: a headless run writing per-frame PLY,
//! NPY and PNG files and a `summary.json`. A run that fails part-way keeps
//! every frame already written and still writes its summary, with the error.

use crate::output::{
    write_npy_tool_poses, write_npy_u32, write_npy_vec3, write_ply, write_solver_frames,
};
use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_render::scene::render_frame;
use ductile_render::Renderer;
use ductile_scene::LoadedScene;
use ductile_sim::{Simulation, SimulationOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Options of a headless run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Override the scene's frame count.
    pub frames: Option<u32>,
    /// Hide the progress bar.
    pub quiet: bool,
    /// Simulation options.
    pub sim: SimulationOptions,
}

/// What a run did, as written to `summary.json`.
pub struct RunReport {
    /// The JSON summary.
    pub summary: serde_json::Value,
    /// The error that stopped the run early, if any.
    pub error: Option<anyhow::Error>,
}

fn sums_json(d: &ductile_sim::Diagnostics) -> serde_json::Value {
    let s = &d.sums;
    json!({
        "mass_kg": s.mass,
        "momentum_kg_m_per_s": s.momentum,
        "kinetic_energy_j": s.kinetic,
        "gravitational_energy_j": s.gravitational,
        "elastic_energy_j": s.elastic,
        "total_energy_j": s.total_energy(),
        "tool_forces_n": d.tool_forces,
    })
}

/// Runs a loaded scene on `ctx`, writing into `opts.out`.
pub fn run_scene(
    ctx: &GpuContext,
    loaded: &LoadedScene,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<RunReport> {
    let scene = &loaded.scene;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = &opts.out;
    let o = &scene.output;
    for (flag, dir) in [(o.ply, "ply"), (o.npy, "npy"), (o.png, "png")] {
        if flag {
            let p = out.join(dir);
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        }
    }
    let t_build = Instant::now();
    let mut sim = Simulation::new(ctx, loaded, &opts.sim)?;
    let build_s = t_build.elapsed().as_secs_f64();
    let mut renderer = if o.png {
        Some(Renderer::new(&ctx.device, o.camera.width, o.camera.height))
    } else {
        None
    };
    let frames = opts.frames.unwrap_or(scene.time.frames);
    let substeps = scene.time.substeps;
    let n = sim.particle_count();
    // A step above a body's stable step is worth saying even when quiet.
    for a in ductile_sim::material::time_step_advice(scene) {
        eprintln!("{}: warning: {a}", loaded.file_label());
    }
    if !opts.quiet {
        eprintln!("adapter: {}", ctx.describe());
        eprintln!(
            "scene: {} — {} particles in {} bodies, grid {:?} (dx = {} m), {} tools, {} frames × {} substeps (dt = {} s), {:?}",
            scene.name,
            n,
            scene.bodies.len(),
            scene.domain.cells,
            scene.domain.dx,
            scene.tools.len(),
            frames,
            substeps,
            scene.time.dt,
            sim.config().precision
        );
    }
    let start_diag = sim.diagnostics(ctx)?;
    let mut frames_written = Vec::new();
    let write_frame =
        |sim: &Simulation, frame: u32, renderer: &mut Option<Renderer>| -> Result<()> {
            let stem = format!("frame_{frame:05}");
            if o.ply || o.npy {
                let p = sim.particles(ctx)?;
                if o.ply {
                    write_ply(
                        &out.join("ply").join(format!("{stem}.ply")),
                        &p.x,
                        &p.v,
                        &p.body,
                    )?;
                }
                if o.npy {
                    write_npy_vec3(&out.join("npy").join(format!("{stem}_x.npy")), &p.x)?;
                    write_npy_vec3(&out.join("npy").join(format!("{stem}_v.npy")), &p.v)?;
                    let poses = sim.tool_poses();
                    if !poses.is_empty() {
                        write_npy_tool_poses(
                            &out.join("npy").join(format!("{stem}_tools.npy")),
                            &poses,
                        )?;
                    }
                    if frame == 0 {
                        write_npy_u32(&out.join("npy").join("body.npy"), &p.body)?;
                    }
                }
            }
            if o.ply || o.npy {
                write_solver_frames(ctx, sim, out, frame)?;
            }
            if let Some(r) = renderer.as_mut() {
                let img = render_frame(ctx, r, loaded, sim)?;
                let path = out.join("png").join(format!("{stem}.png"));
                img.save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        };
    write_frame(&sim, 0, &mut renderer)?;
    frames_written.push(0u32);

    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(frames as u64 * substeps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} substeps  {per_sec}  eta {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let mut error: Option<anyhow::Error> = None;
    let mut frame_energy = Vec::new();
    let mut done_frames = 0;
    for frame in 1..=frames {
        if stop.load(Ordering::Relaxed) {
            error = Some(anyhow::anyhow!(
                "interrupted by the user after frame {}",
                frame - 1
            ));
            break;
        }
        sim.step(ctx, substeps);
        let output_now = frame % o.every == 0 || frame == frames;
        if output_now {
            if let Err(e) = sim.check(ctx) {
                error = Some(e.into());
                break;
            }
            if let Err(e) = write_frame(&sim, frame, &mut renderer) {
                error = Some(e);
                break;
            }
            frames_written.push(frame);
            let d = sim.diagnostics(ctx)?;
            frame_energy.push(json!({"frame": frame, "time_s": sim.step_count() as f64 * scene.time.dt, "diagnostics": sums_json(&d)}));
        }
        sim.collect_timings(ctx)?;
        done_frames = frame;
        bar.inc(substeps as u64);
    }
    ctx.wait()?;
    if error.is_none() {
        if let Err(e) = sim.check(ctx) {
            error = Some(e.into());
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let end_diag = sim.diagnostics(ctx)?;
    let steps = sim.step_count();
    let pass_times: serde_json::Map<String, serde_json::Value> = sim
        .timer()
        .totals
        .iter()
        .map(|(k, (ns, count))| {
            (
                k.to_string(),
                json!({"mean_ms": ns / *count as f64 / 1e6, "samples": count}),
            )
        })
        .collect();
    let summary = json!({
        "scene": scene.name,
        "scene_file": loaded.file_label(),
        "adapter": {
            "name": ctx.info.name,
            "type": format!("{:?}", ctx.info.device_type),
            "driver": ctx.info.driver,
            "driver_info": ctx.info.driver_info,
            "f64": ctx.has_f64,
            "float_atomics": ctx.float_atomics,
            "timestamps": ctx.timestamps,
        },
        "precision": format!("{:?}", sim.config().precision),
        "atomics": format!("{:?}", sim.config().atomics),
        "particles": n,
        "grid_cells": scene.domain.cells,
        "dx_m": scene.domain.dx,
        "dt_s": scene.time.dt,
        "frames_completed": done_frames,
        "frames_written": frames_written,
        "substeps": steps,
        "simulated_time_s": steps as f64 * scene.time.dt,
        "build_time_s": build_s,
        "wall_time_s": wall,
        "particle_steps_per_s": if wall > 0.0 { n as f64 * steps as f64 / wall } else { 0.0 },
        "gpu_pass_time_ms": pass_times,
        "solvers": sim.world.solvers.iter().enumerate().map(|(i, s)| {
            let p = s.points(i);
            let mut j = json!({"name": s.name(), "points": p.count, "bodies": p.bodies.iter().map(|b| b.name.clone()).collect::<Vec<_>>()});
            // FEM bodies: the deepest penetration into a tool over the run.
            if let Some(f) = s.as_any().downcast_ref::<ductile_sim::fem::solver::FemSolver>() {
                if let Ok((depth, h)) = f.deepest_penetration(ctx) {
                    j["deepest_penetration_m"] = json!(depth);
                    j["deepest_penetration_per_element"] = json!(depth / h);
                    // Its contact with MPM matter: how far a particle's
                    // centre went behind the gel's surface.
                    for c in &sim.world.couplings {
                        let Some(m) = c.as_any().downcast_ref::<ductile_sim::fem::matter::FemMatterCoupling>() else { continue };
                        if m.fem_solver() != i {
                            continue;
                        }
                        if let Ok(s) = m.closest_approach(ctx) {
                            j["matter_closest_approach_m"] = json!(s);
                            j["matter_contact_radius_m"] = json!(m.radius());
                            j["matter_deepest_penetration_m"] = json!((-s).max(0.0));
                            j["matter_deepest_penetration_per_element"] = json!((-s).max(0.0) / h);
                        }
                    }
                }
            }
            j
        }).collect::<Vec<_>>(),
        "start": sums_json(&start_diag),
        "end": sums_json(&end_diag),
        "frames": frame_energy,
        "status": match &error { None => "ok".to_string(), Some(e) => format!("{e:#}") },
    });
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(RunReport { summary, error })
}

/// Loads the scene at `path` and runs it (see [`run_scene`]).
pub fn run_file(
    ctx: &GpuContext,
    path: &Path,
    opts: &RunOptions,
    stop: Arc<AtomicBool>,
) -> Result<RunReport> {
    let loaded = ductile_scene::load_scene(path)?;
    run_scene(ctx, &loaded, opts, stop)
}
