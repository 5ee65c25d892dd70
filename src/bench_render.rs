//! `ductile bench --render`: the GPU work of one displayed frame of `ductile
//! view`, without a window. Each frame packs the particles for drawing,
//! draws them (sphere impostors, tools and the domain outline) into a
//! viewer-sized texture through the shared renderer, and optionally runs
//! simulation substeps first; the host then waits for the GPU, as a
//! presenting window would. Frames per second = frames / wall-clock seconds.
//!
//! What it leaves out: the window system's present and egui's panels (a few
//! hundred small triangles), which the viewer adds on top.

use crate::bench::{load_bench_scene, BenchArgs};
use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_render::scene::{particle_view, scene_camera, scene_meshes};
use ductile_render::{view_texture, ParticleView, Renderer};
use ductile_scene::ColorBy;
use ductile_sim::{Simulation, SimulationOptions};
use ductile_viewer::state::{default_draw_limit, draw_stride};
use serde_json::json;
use std::time::Instant;

/// Most substeps per drawn frame `--frame-substeps` accepts.
const MAX_FRAME_SUBSTEPS: u32 = 300;

/// Parses `--frame-substeps` ("0,1,10"): substeps simulated before each drawn frame.
fn frame_substeps(args: &BenchArgs) -> Result<Vec<u32>> {
    let list = args
        .frame_substeps
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u32>() {
            Ok(k) if k <= MAX_FRAME_SUBSTEPS => Ok(k),
            _ => anyhow::bail!(
                "--frame-substeps: `{s}` is not allowed (allowed: whole numbers of substeps from 0 to {MAX_FRAME_SUBSTEPS}, comma-separated)"
            ),
        })
        .collect::<Result<Vec<u32>>>()?;
    if list.is_empty() {
        anyhow::bail!(
            "--frame-substeps: `{}` names no substep count (e.g. `0,1,10`)",
            args.frame_substeps
        );
    }
    Ok(list)
}

/// Timed frames at `substeps` per frame: `--frames`, fewer where the
/// untimed first frame and the timed ones would run past 600 substeps (the
/// benchmark blocks stay stable for about 800; the 128k fluid leaves its
/// domain at substep 892).
fn timed_frames(args: &BenchArgs, substeps: u32) -> u32 {
    match 600u32.checked_div(substeps) {
        Some(cap) => args.frames.min(cap.saturating_sub(1)).max(1),
        None => args.frames,
    }
}

/// One render case: for each entry of `--frame-substeps`, `--frames` frames
/// drawing every particle, and the same with the viewer's default draw
/// limit for this adapter when that limit thins the particles out.
pub fn bench_render_case(
    ctx: &GpuContext,
    material: &str,
    size: &str,
    args: &BenchArgs,
) -> Result<serde_json::Value> {
    let per_frame = frame_substeps(args)?;
    let loaded = load_bench_scene(material, size)?;
    // A fresh simulation for each measurement, started from rest.
    let new_sim = |substeps: u32| -> Result<Simulation> {
        Ok(Simulation::new(
            ctx,
            &loaded,
            &SimulationOptions {
                control_steps: Some(
                    (substeps as usize * (timed_frames(args, substeps) as usize + 1)).max(1),
                ),
                ..Default::default()
            },
        )?)
    };
    let n = new_sim(0)?.particle_count();
    let (w, h) = (args.width, args.height);
    let mut renderer = Renderer::new(&ctx.device, w, h);
    let target = view_texture(&ctx.device, w, h, "bench view");
    let target = target.create_view(&Default::default());
    let mut cam = scene_camera(&loaded);
    cam.width = w;
    cam.height = h;
    let viewer_limit = default_draw_limit(ctx.adapter.get_info().device_type);
    let mut limits = vec![0u32];
    if viewer_limit != 0 && viewer_limit < n {
        limits.push(viewer_limit);
    }
    let mut frame = |sim: &mut Simulation, substeps: u32, limit: u32| -> Result<()> {
        if substeps > 0 {
            sim.step(ctx, substeps);
        }
        let meshes = scene_meshes(&loaded, sim);
        let view = particle_view(ctx, &loaded, sim, ColorBy::Body);
        let view = ParticleView {
            stride: draw_stride(view.count, limit),
            ..view
        };
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        renderer.encode(
            &ctx.device,
            &ctx.queue,
            &mut enc,
            &target,
            &[view],
            &meshes,
            &cam,
        )?;
        ctx.queue.submit([enc.finish()]);
        ctx.wait()?;
        Ok(())
    };
    let mut rows = Vec::new();
    for &limit in &limits {
        for &substeps in &per_frame {
            let frames = timed_frames(args, substeps);
            let mut sim = new_sim(substeps)?;
            // One untimed frame compiles the pipelines and sizes the buffers.
            frame(&mut sim, substeps, limit)?;
            let t0 = Instant::now();
            for _ in 0..frames {
                frame(&mut sim, substeps, limit)?;
            }
            let wall = t0.elapsed().as_secs_f64();
            sim.check(ctx)?;
            sim.collect_timings(ctx)?;
            let stride = draw_stride(n, limit);
            rows.push(json!({
                "substeps_per_frame": substeps,
                "draw_limit": limit,
                "stride": stride,
                "particles_drawn": n.div_ceil(stride),
                "frames": frames,
                "wall_s": wall,
                "frames_per_s": frames as f64 / wall,
                "ms_per_frame": wall * 1e3 / frames as f64,
            }));
        }
    }
    Ok(json!({
        "material": material,
        "size": size,
        "particles": n,
        "width": w,
        "height": h,
        "frames": rows,
    }))
}

/// Runs the render cases and prints one line per (draw limit, substeps per frame).
pub fn run_render_bench(ctx: &GpuContext, args: &BenchArgs) -> Result<()> {
    frame_substeps(args)?;
    println!("adapter: {}", ctx.describe());
    println!(
        "{:<8} {:>6} {:>9} {:>9} {:>8} {:>9} {:>10} {:>10}",
        "material", "size", "particles", "view", "drawn", "substeps", "frames/s", "ms/frame"
    );
    let mut results = Vec::new();
    for (material, size) in crate::bench::cases(args) {
        let r = bench_render_case(ctx, &material, &size, args)?;
        for f in r["frames"].as_array().into_iter().flatten() {
            println!(
                "{:<8} {:>6} {:>9} {:>9} {:>8} {:>9} {:>10.1} {:>10.2}",
                material,
                size,
                r["particles"].as_u64().unwrap_or(0),
                format!("{}x{}", r["width"], r["height"]),
                f["particles_drawn"].as_u64().unwrap_or(0),
                f["substeps_per_frame"].as_u64().unwrap_or(0),
                f["frames_per_s"].as_f64().unwrap_or(0.0),
                f["ms_per_frame"].as_f64().unwrap_or(0.0),
            );
        }
        results.push(r);
    }
    if let Some(p) = &args.json {
        let doc = json!({ "adapter": ctx.describe(), "render": true, "results": results });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
