//! Pictures of an optimisation's rollouts: `ductile optimize` replays the
//! task's rollout with the initial and the best controls and writes each as
//! PNG frames (`render_LABEL/frame_NNNN.png`), as particle frames that
//! `ductile view` replays (`render_LABEL/npy/frame_NNNNN_x.npy`, `_v.npy`,
//! `body.npy` and `render_LABEL/summary.json`, the layout of a `ductile run`
//! directory) and, when an `ffmpeg` executable is on PATH, as a video
//! (`LABEL.mp4`). This module owns the
//! frame schedule, the frame files and the call to ffmpeg; the pictures
//! themselves come from [`ductile_render::scene::render_frame`].

use crate::output::{write_npy_tool_poses, write_npy_u32, write_npy_vec3};
use anyhow::{Context, Result};
use ductile_gpu::GpuContext;
use ductile_opt::{prepare, LoadedTask, RunOptions};
use ductile_render::scene::render_frame;
use ductile_render::Renderer;
use ductile_sim::tape::{Schedule, TapeOptions};
use std::path::Path;
use std::process::{Command, Stdio};

/// Substeps at which `frames` evenly spaced frames of a `steps`-substep
/// rollout are taken, after the initial state (substep 0): at most
/// `frames + 1` ascending substeps, the last being `steps`.
pub fn frame_steps(steps: usize, frames: usize) -> Vec<usize> {
    let frames = frames.max(1);
    let mut at: Vec<usize> = (0..=frames)
        .map(|i| (i * steps + frames / 2) / frames)
        .collect();
    at.dedup();
    at
}

/// Renders the task's rollout once per `(label, θ)` in `runs` into `out`:
/// `frames` evenly spaced frames plus the initial state as
/// `render_LABEL/frame_NNNN.png`, and `LABEL.mp4` when ffmpeg is on PATH
/// (its absence or failure is noted on stderr, never an error). Frames and
/// videos of an earlier run are removed first. The rollout is built once
/// (without re-recording the task's reference) and replayed for each θ.
/// Returns the number of frames of each render.
pub fn render_rollouts(
    ctx: &GpuContext,
    task: &LoadedTask,
    opts: &RunOptions,
    runs: &[(&str, &[f64])],
    out: &Path,
    frames: usize,
) -> Result<usize> {
    let loaded = task.load_scene()?;
    // The optimisation already recorded the reference, if any.
    let mut task = task.clone();
    task.task.record = None;
    // Replaying needs no tape: the smallest schedule keeps one snapshot.
    let opts = RunOptions {
        tape: TapeOptions {
            schedule: Schedule::Binomial,
            snapshots: Some(1),
            ..Default::default()
        },
        ..opts.clone()
    };
    let (mut rollout, params, _) = prepare(ctx, &task, &opts).with_context(|| {
        format!(
            "building the rollout of {} to render",
            task.scene_path().display()
        )
    })?;
    let cam = &loaded.scene.output.camera;
    let mut renderer = Renderer::new(&ctx.device, cam.width, cam.height);
    let at = frame_steps(rollout.steps(), frames);
    let fps = (at.len() as f64 / 4.0).ceil().clamp(1.0, 30.0) as u32;
    let mut ffmpeg = true;
    for (label, theta) in runs {
        let dir = out.join(format!("render_{label}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        remove_frames(&dir)?;
        let mp4 = out.join(format!("{label}.mp4"));
        if mp4.exists() {
            std::fs::remove_file(&mp4).with_context(|| format!("removing {}", mp4.display()))?;
        }
        params
            .apply(ctx, &mut rollout, theta)
            .with_context(|| format!("applying the {label} controls {theta:?}"))?;
        let npy = dir.join("npy");
        std::fs::create_dir_all(&npy).with_context(|| format!("creating {}", npy.display()))?;
        remove_frames(&npy)?;
        let mut frame = 0;
        rollout
            .replay(ctx, &at, |sim, _step| -> Result<()> {
                let img = render_frame(ctx, &mut renderer, &loaded, sim)?;
                let path = dir.join(format!("frame_{frame:04}.png"));
                img.save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                let p = sim.particles(ctx)?;
                let stem = format!("frame_{frame:05}");
                write_npy_vec3(&npy.join(format!("{stem}_x.npy")), &p.x)?;
                write_npy_vec3(&npy.join(format!("{stem}_v.npy")), &p.v)?;
                let poses = sim.tool_poses();
                if !poses.is_empty() {
                    write_npy_tool_poses(&npy.join(format!("{stem}_tools.npy")), &poses)?;
                }
                if frame == 0 {
                    write_npy_u32(&npy.join("body.npy"), &p.body)?;
                }
                frame += 1;
                Ok(())
            })
            .with_context(|| format!("rendering the {label} rollout into {}", dir.display()))?;
        // Enough of a run summary for `ductile view` to replay the frames.
        let summary = serde_json::json!({
            "scene_file": loaded.file_label(),
            "rollout": label,
            "substeps": rollout.steps(),
            "frames_completed": at.len().saturating_sub(1).max(1),
        });
        let path = dir.join("summary.json");
        std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
        if ffmpeg {
            ffmpeg = encode_mp4(&dir, &mp4, fps);
        }
    }
    Ok(at.len())
}

/// Removes `frame_*.png` and `frame_*.npy` left in `dir` by an earlier run.
fn remove_frames(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("frame_") && (name.ends_with(".png") || name.ends_with(".npy")) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Encodes `dir/frame_%04d.png` into `mp4` with ffmpeg. Returns false when
/// ffmpeg is not on PATH (noted on stderr) so that later videos are not tried;
/// a failing ffmpeg is reported as a warning with the tail of its stderr.
fn encode_mp4(dir: &Path, mp4: &Path, fps: u32) -> bool {
    let result = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-loglevel", "error", "-framerate"])
        .arg(fps.to_string())
        .arg("-i")
        .arg(dir.join("frame_%04d.png"))
        // H.264 in yuv420p needs even sizes.
        .args([
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(mp4)
        .stdin(Stdio::null())
        .output();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "note: no ffmpeg on PATH; skipping the MP4 videos (the PNG frames are written)"
            );
            false
        }
        Err(e) => {
            eprintln!("warning: could not run ffmpeg for {}: {e}", mp4.display());
            true
        }
        Ok(o) if !o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            let lines: Vec<&str> = err.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n");
            eprintln!(
                "warning: ffmpeg failed ({}) writing {}:\n{tail}",
                o.status,
                mp4.display()
            );
            true
        }
        Ok(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::frame_steps;

    #[test]
    fn frames_are_evenly_spaced_and_end_at_the_last_substep() {
        assert_eq!(frame_steps(12, 2), vec![0, 6, 12]);
        assert_eq!(frame_steps(80, 12).len(), 13);
        assert_eq!(*frame_steps(80, 12).last().unwrap(), 80);
        assert_eq!(frame_steps(3, 12), vec![0, 1, 2, 3]);
        assert_eq!(frame_steps(5, 0), vec![0, 5]);
    }
}
