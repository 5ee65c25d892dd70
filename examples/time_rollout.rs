use ductile::gpu::GpuContext;
use ductile::sim::{Rollout, TapeOptions};
use std::time::Instant;
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let ctx = GpuContext::from_env()?;
    let path = std::path::Path::new(&args[1]);
    let steps: usize = args[2].parse()?;
    let loaded = ductile::scene::load_scene(path)?;
    let t = Instant::now();
    let mut r = Rollout::new(&ctx, &loaded, None, Some(steps), &TapeOptions::default())?;
    println!("{} setup {:.2}s", r.plan.describe(), t.elapsed().as_secs_f64());
    for _ in 0..2 {
        let t = Instant::now();
        r.forward(&ctx)?;
        let f = t.elapsed().as_secs_f64();
        let t = Instant::now();
        r.backward(&ctx)?;
        println!("fwd {f:.2}s bwd {:.2}s", t.elapsed().as_secs_f64());
    }
    for (n, s) in r.profile_backward_step(&ctx, 5)? {
        println!("{n}: {:.2} ms", s * 1e3);
    }
    Ok(())
}
