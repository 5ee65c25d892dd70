//! The library API in a short script: build a scene from RON text, change
//! it in code, roll it out with checkpoints, take the gradient of its loss
//! with respect to the ball's initial velocity, and step Adam by hand until
//! the ball lands on the target. Run with
//! `cargo run --release --example throw_api`.

use ductile::gpu::GpuContext;
use ductile::opt::gradient::{norm, GradientState};
use ductile::sim::{Rollout, TapeOptions};
use std::path::Path;

const SCENE: &str = r#"
Scene(
    name: "api_throw",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate),
    time: (dt: 4e-3, substeps: 10, frames: 8),
    bodies: [(
        name: "ball",
        shape: Sphere(center: (0.25, 0.35, 0.5), radius: 0.1),
        particles_per_cell: 8,
        material: NeoHookean(density: 1000.0, youngs_modulus: 1.0e4, poisson_ratio: 0.3),
    )],
    loss: [(kind: CenterOfMass(target: (0.7, 0.3, 0.5)), body: 0)],
)
"#;

fn main() -> anyhow::Result<()> {
    let ctx = GpuContext::from_env()?;
    println!("adapter: {}", ctx.describe());
    let mut loaded = ductile::scene::load_scene_from_str(SCENE, "api_throw", Path::new("."))?;
    // Scenes are plain data: edit them in code before building.
    loaded.scene.gravity = [0.0, -9.81, 0.0];
    let steps = 60;
    let mut rollout = Rollout::new(&ctx, &loaded, None, Some(steps), &TapeOptions::default())?;
    println!("{}", rollout.plan.describe());

    let ball = rollout.sim.info().bodies[0].1.clone();
    let mut v = [1.0, 1.0, 0.0]; // initial velocity [m/s], the control
    let mut adam = GradientState::new(3);
    for it in 0..30 {
        let mut state = rollout.initial_state().clone();
        for p in ball.clone() {
            state.v[3 * p as usize..3 * p as usize + 3].copy_from_slice(&v);
        }
        rollout.set_initial_state(&ctx, &state)?;
        rollout.forward(&ctx)?;
        let g = rollout.backward(&ctx)?;
        // dL/dv: the sum of dL/dv0 over the ball's particles.
        let mut dv = [0.0; 3];
        for p in ball.clone() {
            for (a, d) in dv.iter_mut().enumerate() {
                *d += g.v0[3 * p as usize + a];
            }
        }
        if it % 5 == 0 {
            println!(
                "iteration {it:2}: loss {:.3e}, |dL/dv| {:.3e}, v {v:.3?}",
                g.loss,
                norm(&dv)
            );
        }
        // Adam on v scaled to [0, 1] over [-4, 4] m/s.
        let mut u: Vec<f64> = v.iter().map(|x| (x + 4.0) / 8.0).collect();
        let gu: Vec<f64> = dv.iter().map(|d| d * 8.0).collect();
        adam.step(&mut u, &gu, 0.05, true);
        for a in 0..3 {
            v[a] = 8.0 * u[a] - 4.0;
        }
    }
    Ok(())
}
