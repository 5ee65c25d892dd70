//! The `ductile` command line: `run`, `optimize`, `view`, `gradcheck`, `validate`, `info` and `bench`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use ductile::run::{run_file, RunOptions};
use ductile_gpu::{AdapterPreference, ContextOptions, GpuContext};
use ductile_sim::SimulationOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "ductile",
    version,
    about = "GPU-accelerated differentiable physics (MLS-MPM on wgpu)"
)]
struct Cli {
    /// Adapter: `auto` (discrete GPU, else integrated, else software), `gpu`, `cpu`,
    /// or part of an adapter's name. Overrides the DUCTILE_ADAPTER environment variable.
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Particle colouring of `ductile view --color`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ViewColorArg {
    /// Each body its own colour.
    Body,
    /// Speed.
    Speed,
    /// Von Mises equivalent of the Kirchhoff stress.
    Stress,
    /// |∂L/∂x₀| of the scene's loss.
    Gradient,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scene headless, writing frames, pictures and a summary.
    Run {
        /// Scene file (RON).
        scene: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Override the number of frames.
        #[arg(long)]
        frames: Option<u32>,
        /// Run in 64-bit floats (needs SHADER_F64).
        #[arg(long)]
        f64: bool,
        /// Use the compare-and-swap float accumulation instead of native float atomics.
        #[arg(long)]
        cas_atomics: bool,
        /// Bitwise-reproducible P2G (binned gather instead of atomic scatter); always on in f64.
        #[arg(long)]
        deterministic: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Optimise a task's controls (initial state, materials, tool motion) by gradients.
    Optimize(ductile::optimize::OptimizeArgs),
    /// Compare the adjoint gradients of the scene's loss with finite differences.
    Gradcheck(ductile::gradcheck::GradcheckArgs),
    /// Fit a tactile sensor's shading to a recorded image and print it.
    Calibrate(ductile::calibrate::CalibrateArgs),
    /// Check scene and task files and report the first error in each (a task's scene is checked too).
    Validate {
        /// Scene or task files.
        scenes: Vec<PathBuf>,
    },
    /// Open the desktop viewer on a scene (simulated live, reloaded when the
    /// file changes) or on a run directory written by `ductile run` (replayed).
    View {
        /// Scene files (RON), run directories (`ductile run`), or optimisation
        /// directories (`ductile optimize`: its initial and best rollouts);
        /// the first is shown, the others are picked in the side panel.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Take a screenshot after `--frames` scene frames to this PNG (to
        /// DIR/<name>.png for each path when several are given), write the
        /// view's camera and the bodies' centroids beside it (.json), and close.
        #[arg(long)]
        screenshot: Option<PathBuf>,
        /// Scene frames to run before `--screenshot`.
        #[arg(long, default_value_t = 3)]
        frames: u32,
        /// Colour particles by body, speed, von Mises stress, or the magnitude of the scene
        /// loss's gradient with respect to each particle's initial position
        /// (one forward and backward pass when the scene opens); default: the
        /// scene's `output.color_by`.
        #[arg(long, value_enum)]
        color: Option<ViewColorArg>,
        /// Run the speed's substeps on every displayed frame, however slow
        /// (default: fewer substeps per frame while the simulation cannot
        /// keep up, so that the window stays near 15 frames per second).
        #[arg(long)]
        fixed_speed: bool,
        /// Level of detail: draw at most this many particles per frame (one
        /// in each run of k, ∛k times larger; 0: all). Default: 50000 on a
        /// software adapter, all on a GPU.
        #[arg(long)]
        draw_limit: Option<u32>,
    },
    /// Print the adapters found and the one chosen.
    Info,
    /// Measure particle-steps per second on the standard problems.
    Bench(ductile::bench::BenchArgs),
}

fn context(adapter: &Option<String>, require_f64: bool) -> Result<GpuContext> {
    let pref = match adapter {
        Some(a) => match a.to_ascii_lowercase().as_str() {
            "auto" => AdapterPreference::Auto,
            "gpu" => AdapterPreference::Gpu,
            "cpu" | "software" => AdapterPreference::Cpu,
            _ => AdapterPreference::Name(a.clone()),
        },
        None => AdapterPreference::from_env(),
    };
    Ok(GpuContext::new(&ContextOptions {
        adapter: pref,
        require_f64,
        disable_float_atomics: false,
    })?)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run {
            scene,
            out,
            frames,
            f64,
            cas_atomics,
            deterministic,
            quiet,
        } => {
            // Parse first, so that a bad scene is reported before any GPU work.
            ductile_scene::load_scene(&scene)?;
            let ctx = context(&cli.adapter, f64)?;
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let _ = ctrlc::set_handler(move || s.store(true, std::sync::atomic::Ordering::Relaxed));
            let opts = RunOptions {
                out: out.clone(),
                frames,
                quiet,
                sim: SimulationOptions {
                    precision: f64.then_some(ductile_gpu::Precision::F64),
                    force_cas_atomics: cas_atomics,
                    control_steps: None,
                    deterministic,
                },
            };
            let report = run_file(&ctx, &scene, &opts, stop)?;
            let s = &report.summary;
            eprintln!(
                "{} substeps, {} particles, {:.2} s wall, {:.3e} particle-steps/s; output in {}",
                s["substeps"],
                s["particles"],
                s["wall_time_s"].as_f64().unwrap_or(0.0),
                s["particle_steps_per_s"].as_f64().unwrap_or(0.0),
                out.display()
            );
            if let Some(e) = report.error {
                eprintln!("error: {e:#}");
                eprintln!(
                    "frames written before the failure are kept in {}",
                    out.display()
                );
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Optimize(args) => {
            // Parse first, so that a bad task is reported before any GPU work.
            ductile_opt::load_task(&args.task)?;
            // A task's own `precision: F64` is checked against the adapter
            // when the task is prepared, so that the error names its field.
            let ctx = context(&cli.adapter, args.f64)?;
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let _ = ctrlc::set_handler(move || s.store(true, std::sync::atomic::Ordering::Relaxed));
            ductile::optimize::run_optimize(&ctx, &args, stop)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gradcheck(args) => {
            ductile_scene::load_scene(&args.scene)?;
            let ctx = context(&cli.adapter, false)?;
            let ok = ductile::gradcheck::run_gradcheck(&ctx, &args)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Calibrate(args) => {
            ductile_scene::load_scene(&args.scene)?;
            let ctx = context(&cli.adapter, false)?;
            ductile::calibrate::run_calibrate(&ctx, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { scenes } => {
            let mut bad = 0;
            for s in &scenes {
                let is_task = std::fs::read_to_string(s).is_ok_and(|t| {
                    t.lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty() && !l.starts_with("//"))
                        .is_some_and(|l| l.starts_with("Task"))
                });
                let checked = if is_task {
                    ductile_opt::load_task(s).and_then(|t| t.load_scene())
                } else {
                    ductile_scene::load_scene(s)
                };
                match checked {
                    Ok(loaded) => {
                        for a in ductile_sim::material::time_step_advice(&loaded.scene) {
                            eprintln!("{}: warning: {a}", s.display());
                        }
                        println!("{}: ok", s.display())
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::View {
            paths,
            screenshot,
            frames,
            color,
            fixed_speed,
            draw_limit,
        } => {
            let ctx = context(&cli.adapter, false)?;
            // An optimisation directory opens as its initial and best rollouts.
            let sources = paths
                .into_iter()
                .flat_map(|p| {
                    let renders: Vec<PathBuf> = ["render_initial", "render_best"]
                        .iter()
                        .map(|r| p.join(r))
                        .filter(|r| r.join("npy").is_dir())
                        .collect();
                    if p.is_dir() && !p.join("npy").is_dir() && !renders.is_empty() {
                        renders
                            .into_iter()
                            .map(ductile_viewer::Source::Run)
                            .collect::<Vec<_>>()
                    } else if p.is_dir() {
                        vec![ductile_viewer::Source::Run(p)]
                    } else {
                        vec![ductile_viewer::Source::Scene(p)]
                    }
                })
                .collect();
            let sources: Vec<ductile_viewer::Source> = sources;
            let shot = screenshot.map(|out| {
                let paths = if sources.len() == 1 {
                    vec![out]
                } else {
                    sources
                            .iter()
                            .map(|src| {
                                let (ductile_viewer::Source::Scene(p)
                                | ductile_viewer::Source::Run(p)) = src;
                                let stem = p.file_stem().unwrap_or(p.as_os_str());
                                out.join(stem).with_extension("png")
                            })
                            .collect()
                };
                ductile_viewer::AutoShot { paths, frames }
            });
            let color = color.map(|c| match c {
                ViewColorArg::Body => ductile_viewer::ViewColor::Body,
                ViewColorArg::Speed => ductile_viewer::ViewColor::Speed,
                ViewColorArg::Stress => ductile_viewer::ViewColor::Stress,
                ViewColorArg::Gradient => ductile_viewer::ViewColor::LossGradient,
            });
            ductile_viewer::run(ctx, sources, shot, color, !fixed_speed, draw_limit)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Info => {
            let ctx = context(&cli.adapter, false)?;
            println!("adapter: {}", ctx.describe());
            println!(
                "limits: max storage buffer binding {} bytes, max buffer {} bytes, max workgroups per dimension {}",
                ctx.limits.max_storage_buffer_binding_size,
                ctx.limits.max_buffer_size,
                ctx.limits.max_compute_workgroups_per_dimension
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let ctx = context(&cli.adapter, false)?;
            ductile::bench::run_bench(&ctx, &args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
