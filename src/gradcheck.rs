//! `ductile gradcheck`: the adjoint of a scene's loss against central finite
//! differences, per parameter group, with a sweep of step sizes.

use crate::memory::parse_bytes;
use anyhow::{bail, Context, Result};
use ductile_gpu::{GpuContext, Precision};
use ductile_scene::{LossKind, LossTerm, LossWhen};
use ductile_sim::gradcheck::{check_group, groups, GroupCheck, ParamGroup, Rng};
use ductile_sim::tape::Schedule;
use ductile_sim::{Rollout, TapeOptions};
use std::path::PathBuf;

/// Arguments of `ductile gradcheck`.
#[derive(clap::Args, Debug)]
pub struct GradcheckArgs {
    /// Scene file (RON). Its `loss` is differentiated; without one, the
    /// default is Σ_b |COM_b(T)|² + |v̄_b(T)|².
    pub scene: PathBuf,
    /// Substeps of the rollout (default: the scene's frames × substeps).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Step sizes to sweep, comma-separated (metres, m/s and control units;
    /// relative for material and contact parameters).
    #[arg(long, value_delimiter = ',', default_value = "1e-3,1e-4,1e-5,1e-6")]
    pub eps: Vec<f64>,
    /// Seed of the random directions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Groups to check, comma-separated: x0, v0, deformation, control, tool,
    /// material (all MPM bodies), fem-material (E, ν), fem-contact (tool
    /// contact k, c, μ), fem-matter (contact with MPM matter). Default: all
    /// that apply.
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Run in f32 even where the adapter has SHADER_F64.
    #[arg(long)]
    pub f32: bool,
    /// Relative error above which the command fails (exit code 3).
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Memory budget of the backward pass, e.g. `512MiB`, `4GiB`.
    #[arg(long)]
    pub memory_budget: Option<String>,
    /// Checkpoint interval K (overrides the budget).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Checkpoint schedule: `uniform` (every K substeps) or `binomial` (Revolve).
    #[arg(long, default_value = "uniform")]
    pub schedule: String,
    /// Snapshot slots of the binomial schedule.
    #[arg(long)]
    pub snapshots: Option<usize>,
    /// Nudge the scene off exact symmetries before checking: each
    /// particle's position by up to 1e-3·dx and its velocity by up to
    /// 1e-3 m/s per axis, and each tool's path by up to 1e-3·dx and its
    /// linear velocity by up to 1e-3 m/s per axis (random, from `--seed`).
    /// A mirror-symmetric scene puts contact kinks exactly at the checked point (a node whose
    /// velocity relative to a tool or wall has exactly no normal part);
    /// there central differences average the slopes on both sides while
    /// the adjoint takes one, and the check fails with differences that
    /// agree across step sizes.
    #[arg(long)]
    pub jitter: bool,
}

/// Builds tape options from command-line values.
pub fn tape_options(
    memory_budget: Option<&str>,
    checkpoint_every: Option<usize>,
    schedule: &str,
    snapshots: Option<usize>,
) -> Result<TapeOptions> {
    let schedule = match schedule {
        "uniform" => Schedule::Uniform,
        "binomial" | "revolve" => Schedule::Binomial,
        s => bail!("--schedule: `{s}` is not a schedule; allowed: uniform, binomial"),
    };
    Ok(TapeOptions {
        memory_budget_bytes: memory_budget
            .map(parse_bytes)
            .transpose()
            .context("--memory-budget")?,
        checkpoint_every,
        schedule,
        snapshots,
        ..Default::default()
    })
}

fn wanted(r: &Rollout, names: &[String]) -> Result<Vec<ParamGroup>> {
    let all = groups(r);
    if names.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for n in names {
        let matched: Vec<ParamGroup> = all
            .iter()
            .copied()
            .filter(|g| {
                matches!(
                    (n.as_str(), g),
                    ("x0", ParamGroup::InitialPosition)
                        | ("v0", ParamGroup::InitialVelocity)
                        | ("deformation", ParamGroup::InitialDeformation)
                        | ("control", ParamGroup::Control)
                        | ("tool", ParamGroup::ToolContact)
                        | ("material", ParamGroup::Material(_))
                        | ("fem-material", ParamGroup::FemMaterial(_))
                        | ("fem-contact", ParamGroup::FemContact(_))
                        | ("fem-matter", ParamGroup::FemMatter(_))
                )
            })
            .collect();
        if matched.is_empty() {
            bail!(
                "--groups: `{n}` is not a group of this scene; allowed: x0, v0, deformation (scenes with MPM matter), control, tool (scenes with tools), material, fem-material, fem-contact (FEM bodies touching tools), fem-matter (FEM bodies touching MPM matter)"
            );
        }
        out.extend(matched);
    }
    Ok(out)
}

/// Runs the check and prints a table; returns whether every group passed.
pub fn run_gradcheck(ctx: &GpuContext, args: &GradcheckArgs) -> Result<bool> {
    let mut loaded = ductile_scene::load_scene(&args.scene)?;
    if loaded.scene.loss.is_empty() {
        eprintln!("the scene has no `loss`: using Σ_b |COM_b(T)|² + |mean velocity_b(T)|²");
        for b in 0..loaded.scene.bodies.len() + loaded.scene.fem.len() {
            for kind in [
                LossKind::CenterOfMass { target: [0.0; 3] },
                LossKind::CenterOfMassVelocity { target: [0.0; 3] },
            ] {
                loaded.scene.loss.push(LossTerm {
                    kind,
                    body: b,
                    weight: 1.0,
                    when: LossWhen::Final,
                });
            }
        }
    }
    if args.eps.iter().any(|e| !(e.is_finite() && *e > 0.0)) {
        bail!(
            "--eps: every step size must be a positive number, got {:?}",
            args.eps
        );
    }
    let precision = if ctx.has_f64 && !args.f32 {
        Precision::F64
    } else {
        if !args.f32 {
            eprintln!(
                "{} has no SHADER_F64: checking in f32, where finite differences are far less accurate",
                ctx.info.name
            );
        }
        Precision::F32
    };
    let tape = tape_options(
        args.memory_budget.as_deref(),
        args.checkpoint_every,
        &args.schedule,
        args.snapshots,
    )?;
    let mut r = Rollout::new(ctx, &loaded, Some(precision), args.steps, &tape)?;
    let which = wanted(&r, &args.groups)?;
    println!("adapter: {}", ctx.describe());
    if args.jitter {
        let dx = loaded.scene.domain.dx;
        let mut state = r.initial_state().clone();
        // Its own stream, apart from the directions' (seeds `seed + i`).
        let mut rng = Rng::new(args.seed ^ 0x4A49_5454_4552);
        let mut uniform = move || 2.0 * rng.uniform() - 1.0;
        for x in &mut state.x {
            *x += 1e-3 * dx * uniform();
        }
        for v in &mut state.v {
            *v += 1e-3 * uniform();
        }
        r.set_initial_state(ctx, &state)?;
        // Each tool's path moved by one small offset: a tool centred on a
        // grid node puts the nodes on its axis exactly on kinks of its shape
        // (or its SDF grid's cell faces). Its linear velocity moved by
        // another: a still tool in a wall layer meets velocities that the
        // wall has just made exactly tangent, and with an exactly still
        // tool their normal part relative to it is exactly zero.
        let tools = r.tool_params().len();
        let mut control = r.control_values().to_vec();
        for t in 0..tools {
            let d = [uniform(), uniform(), uniform()].map(|u| 1e-3 * dx * u);
            let w = [uniform(), uniform(), uniform()].map(|u| 1e-3 * u);
            for rec in control.chunks_exact_mut(16).skip(t).step_by(tools) {
                for k in 0..3 {
                    rec[k] += d[k];
                    rec[8 + k] += w[k];
                }
            }
        }
        if tools > 0 {
            r.set_control_values(ctx, &control)?;
        }
        println!(
            "initial state and tool paths jittered: positions by up to {:.1e} m, velocities by up to 1e-3 m/s (particles and tools)",
            1e-3 * dx
        );
    }
    println!(
        "{}: {} particles, {} substeps, {:?}",
        args.scene.display(),
        r.sim.particle_count(),
        r.steps(),
        precision
    );
    println!("tape: {}", r.plan.describe());
    let t0 = std::time::Instant::now();
    let loss = r.forward(ctx)?;
    let t_fwd = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let grads = r.backward(ctx)?;
    let t_bwd = t1.elapsed().as_secs_f64();
    println!(
        "loss {loss:.9e} (terms {:?}); forward {t_fwd:.3} s, backward {t_bwd:.3} s",
        grads.terms
    );
    println!(
        "{:<28} {:>14} {:>14} {:>9} {:>8}   sweep (eps: rel. error)",
        "group", "adjoint", "best FD", "rel.err", "eps"
    );
    let mut ok = true;
    for (i, g) in which.into_iter().enumerate() {
        let c: GroupCheck = check_group(ctx, &mut r, &grads, g, &args.eps, args.seed + i as u64)?;
        let b = c.best();
        let pass = b.rel_error <= args.tol;
        ok &= pass;
        let sweep: Vec<String> = c
            .samples
            .iter()
            .map(|s| format!("{:.0e}: {:.1e}", s.eps, s.rel_error))
            .collect();
        println!(
            "{:<28} {:>+14.6e} {:>+14.6e} {:>9.1e} {:>8.0e}   {}{}",
            g.name(),
            c.adjoint,
            b.fd,
            b.rel_error,
            b.eps,
            sweep.join(", "),
            if pass { "" } else { "   FAIL" }
        );
    }
    println!(
        "{} (tolerance {:.0e} on the best step size)",
        if ok {
            "all groups pass"
        } else {
            "SOME GROUPS FAIL"
        },
        args.tol
    );
    Ok(ok)
}
