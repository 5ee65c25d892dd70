//! `ductile calibrate`: fits a tactile sensor's polynomial shading to a
//! recorded image (Taxim's calibration, with a quadratic polynomial of the
//! surface normal per channel), and prints it as the scene's `shading`.

use anyhow::{bail, Context, Result};
use ductile_gpu::GpuContext;
use ductile_sim::fem::sensor_image::calibrate;
use ductile_sim::fem::solver::FemSolver;
use ductile_sim::{Simulation, SimulationOptions};
use std::path::PathBuf;

/// Arguments of `ductile calibrate`.
#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Scene file (RON) with an FEM body that has a `sensor`.
    pub scene: PathBuf,
    /// The recorded tactile image (PNG, the camera's size), linear RGB.
    #[arg(long)]
    pub reference: PathBuf,
    /// The frame the image shows (default: the scene's last).
    #[arg(long)]
    pub frame: Option<u32>,
}

/// Runs the scene to the frame, fits the shading, prints it; returns the
/// fit's RMS residual (in [0, 1] colour units).
pub fn run_calibrate(ctx: &GpuContext, args: &CalibrateArgs) -> Result<f64> {
    let loaded = ductile_scene::load_scene(&args.scene)?;
    let frames = loaded.scene.time.frames;
    let frame = args.frame.unwrap_or(frames);
    if frame > frames {
        bail!("--frame {frame}: the scene has {frames} frames");
    }
    let img = image::open(&args.reference)
        .with_context(|| format!("reading {}", args.reference.display()))?
        .to_rgb8();
    let mut sim = Simulation::new(ctx, &loaded, &SimulationOptions::default())?;
    let fi = (0..)
        .map_while(|k| sim.fem_solver(k))
        .find(|&i| {
            sim.world
                .solver::<FemSolver>(i)
                .is_some_and(|f| f.sensor().is_some())
        })
        .with_context(|| format!("{}: no FEM body has a sensor", args.scene.display()))?;
    for _ in 0..frame {
        sim.step(ctx, loaded.scene.time.substeps);
    }
    sim.check(ctx)?;
    let f = sim
        .world
        .solver::<FemSolver>(fi)
        .context("the sensor's body")?;
    let sensor = f.sensor().context("the sensor")?;
    let cam = &sensor.desc.camera;
    if (img.width(), img.height()) != (cam.width, cam.height) {
        bail!(
            "{}: {} × {} pixels; the camera's image is {} × {}",
            args.reference.display(),
            img.width(),
            img.height(),
            cam.width,
            cam.height
        );
    }
    let reference: Vec<[f32; 3]> = img
        .pixels()
        .map(|p| p.0.map(|v| f32::from(v) / 255.0))
        .collect();
    let r = f
        .read_sensor(ctx, sim.parity())?
        .context("the sensor's readout")?;
    let (coef, rms) = calibrate(cam, &r.depth, &reference)?;
    let row = |c: &[f64; 10]| {
        c.iter()
            .map(|v| format!("{v:.6e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "// {} at frame {frame}, against {}: RMS residual {rms:.4e}",
        args.scene.display(),
        args.reference.display()
    );
    println!(
        "shading: Some((ambient: (0.0, 0.0, 0.0), polynomial: Some((\n    ({}),\n    ({}),\n    ({}),\n))))",
        row(&coef[0]),
        row(&coef[1]),
        row(&coef[2])
    );
    Ok(rms)
}
