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

/// A solver's initial positions (`field` 0) or velocities (`field` 1), for
/// solvers that store x then v, 3 f64 per point (the springs, FEM).
pub fn initial_field(
    ctx: &GpuContext,
    r: &ductile::sim::Rollout,
    solver: usize,
    field: usize,
) -> Vec<f64> {
    use ductile::gpu::{bytes_to_reals, Precision};
    let all = bytes_to_reals(&r.initial_bytes(ctx, solver).unwrap(), Precision::F64);
    let half = all.len() / 2;
    all[field * half..(field + 1) * half].to_vec()
}

/// Replaces what [`initial_field`] reads.
pub fn set_initial_field(
    ctx: &GpuContext,
    r: &mut ductile::sim::Rollout,
    solver: usize,
    field: usize,
    vals: &[f64],
) {
    use ductile::gpu::{bytes_to_reals, reals_to_bytes, Precision};
    let mut all = bytes_to_reals(&r.initial_bytes(ctx, solver).unwrap(), Precision::F64);
    let half = all.len() / 2;
    all[field * half..(field + 1) * half].copy_from_slice(vals);
    r.set_initial_bytes(ctx, solver, &reals_to_bytes(&all, Precision::F64))
        .unwrap();
}

/// A solver parameter group for [`check_solver_group`]: current values,
/// their step scale, and how to write values (marking the rollout stale).
pub type ParamAccess<'a> = (
    Vec<f64>,
    Vec<f64>,
    &'a mut dyn FnMut(&GpuContext, &mut ductile::sim::Rollout, &[f64]),
);

/// Checks solver `solver`'s gradient group `name` against central
/// differences along a random direction: "x0" and "v0" through its
/// initial state ([`initial_field`]), any other group through `params`.
#[allow(clippy::too_many_arguments)]
pub fn check_solver_group(
    ctx: &GpuContext,
    r: &mut ductile::sim::Rollout,
    solver: usize,
    g: &ductile::sim::Gradients,
    name: &'static str,
    eps: &[f64],
    seed: u64,
    params: Option<ParamAccess<'_>>,
) -> ductile::sim::gradcheck::GroupCheck {
    use ductile::sim::gradcheck::{check_values, GroupValues, ParamGroup};
    let grad = g.solvers[solver]
        .group(name)
        .unwrap_or_else(|| panic!("no gradient group {name}"))
        .to_vec();
    let state = matches!(name, "x0" | "v0");
    let field = usize::from(name == "v0");
    let (vals, scale, mut write) = match params {
        Some(p) if !state => (p.0, p.1, Some(p.2)),
        _ => {
            let v = initial_field(ctx, r, solver, field);
            let s = vec![1.0; v.len()];
            (v, s, None)
        }
    };
    let mut set = |ctx: &GpuContext, r: &mut ductile::sim::Rollout, v: &[f64]| {
        match write.as_mut() {
            Some(w) => w(ctx, r, v),
            None => set_initial_field(ctx, r, solver, field, v),
        }
        Ok(())
    };
    let c = check_values(
        ctx,
        r,
        g.loss,
        GroupValues {
            group: ParamGroup::Named(name),
            values: &vals,
            scale: &scale,
            gradient: &grad,
        },
        &mut set,
        eps,
        seed,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let best = c.best();
    eprintln!(
        "{} {name:<34} adjoint {:+.9e}  fd {:+.9e}  rel {:.1e} (eps {:e})",
        g.solvers[solver].solver, c.adjoint, best.fd, best.rel_error, best.eps
    );
    c
}

/// A random rotation matrix (column-major 3×3) from a random unit quaternion.
pub fn random_rotation(rng: &mut ductile::sim::gradcheck::Rng) -> [[f64; 3]; 3] {
    let q = rng.direction(4);
    let (x, y, z, w) = (q[0], q[1], q[2], q[3]);
    // Columns of R(q).
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + w * z),
            2.0 * (x * z - w * y),
        ],
        [
            2.0 * (x * y - w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + w * x),
        ],
        [
            2.0 * (x * z + w * y),
            2.0 * (y * z - w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}
