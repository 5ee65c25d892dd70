//! Shared helpers of the integration tests: one GPU context for the test
//! binary (its tests share it from several threads; wgpu devices are
//! thread-safe) and scene construction from RON text.

use ductile::gpu::GpuContext;
use ductile::scene::LoadedScene;
use ductile::sim::{Simulation, SimulationOptions};
use std::sync::OnceLock;

/// The context shared by this test binary's tests. The second value is kept
/// for call sites' `let (ctx, _g) = gpu();` and holds nothing.
pub fn gpu() -> (&'static GpuContext, ()) {
    static CTX: OnceLock<GpuContext> = OnceLock::new();
    let ctx =
        CTX.get_or_init(|| GpuContext::from_env().expect("a Vulkan adapter (lavapipe in CI)"));
    (ctx, ())
}

/// Fails (never skips) a check that needs f64 kernels on an adapter
/// without `SHADER_F64`: gradient checks against finite differences are
/// only meaningful in f64 (lavapipe, which CI installs, has it).
pub fn require_f64(ctx: &GpuContext) {
    assert!(
        ctx.has_f64,
        "{} has no SHADER_F64: this check runs in f64 (Mesa's lavapipe has it: \
         bash scripts/ensure-vulkan.sh target/debug/ductile)",
        ctx.info.name
    );
}

/// Parses scene text (assets resolved from the repository root).
pub fn scene(text: &str) -> LoadedScene {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ductile::scene::load_scene_from_str(text, "test scene", &root.join("scenes"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Builds a simulation.
pub fn sim(ctx: &GpuContext, loaded: &LoadedScene, opts: SimulationOptions) -> Simulation {
    Simulation::new(ctx, loaded, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `steps` substeps and checks health.
pub fn advance(ctx: &GpuContext, s: &mut Simulation, steps: u32) {
    let mut left = steps;
    while left > 0 {
        let k = left.min(200);
        s.step(ctx, k);
        left -= k;
    }
    s.check(ctx).unwrap_or_else(|e| panic!("{e}"));
}

/// Axis-aligned bounds (min, max) of 3-vectors stored flat.
pub fn bounds(x: &[f64]) -> ([f64; 3], [f64; 3]) {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in x.chunks_exact(3) {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

/// Options for the deterministic f64 path.
pub fn f64_opts() -> SimulationOptions {
    SimulationOptions {
        precision: Some(ductile::gpu::Precision::F64),
        ..Default::default()
    }
}
