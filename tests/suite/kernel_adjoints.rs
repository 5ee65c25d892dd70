//! Every differentiable device function of the substep, checked alone on
//! random inputs: the constitutive stress of each material, each plastic
//! return mapping (with its SVD, polar decomposition and Hencky logarithm),
//! tool contact with friction and soft falloff for every tool shape, and the
//! Coulomb projection that the domain walls use. The harness shader
//! `shaders/check/vjp_pairs.wgsl` runs each function and its adjoint, one
//! random sample per invocation, in f64.
//!
//! Method: for each parameter group, a random direction d in that group's
//! inputs and a random output adjoint w per sample; the central difference
//! of ⟨w, f(x ± εd)⟩ must match ⟨adjoint(x, w), d⟩ for the best ε of a sweep
//! from 1e-3 to 1e-7 (times each slot's scale). The sweep lets a sample
//! close to a kink of the forward function (the return mapping's yield
//! surface, contact switching on or off, a box edge, a mesh SDF cell face)
//! be compared at a step that does not straddle it, and a derivative that is
//! small against the function's value be compared at a step where round-off
//! does not swamp it. Derivatives below 1e-6·|⟨w, f⟩| in both the adjoint
//! and the widest difference count as zero. Every group must have non-zero
//! derivatives in at least 1/16 of its samples, so no check passes
//! vacuously; the sample mix covers elastic and yielding states, repeated
//! singular values (two equal, and F = I), and nodes inside a tool, in its
//! soft band and outside it.
//!
//! Tolerance: relative error at most 1e-6 in every sample (measured: at
//! most 6e-8 over all groups). A wrong sign, factor or missing term gives
//! errors of order 1 in the samples it touches (a 10 % error planted in the
//! Coulomb friction adjoint fails with 9e-2; a 5 % error in the stress
//! adjoint, planted by the switch the simulator carries, fails every group
//! in `a_planted_stress_adjoint_error_fails_the_kernel_check`). This
//! harness found two missing adjoints when it was written: the fluid's Tait
//! exponent γ and snow's θ_c, θ_s and ξ had none.

use crate::common::{gpu, random_rotation};
use ductile::gpu::wgpu;
use ductile::gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed,
    AtomicsMode, BufferUse, GpuContext, Kernel, Precision, ShaderConfig,
};
use ductile::sim::gradcheck::Rng;

/// Reals per sample record (`RECORD` in the shader).
const RECORD: usize = 40;
/// Samples per material or shape.
const SAMPLES: usize = 96;
/// Relative tolerance per sample.
const TOL: f64 = 1e-6;
/// Steps of the central differences (times each slot's scale), swept.
const STEPS: [f64; 5] = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7];

// Material record slots (`M_*` in the shader).
const M_KIND: usize = 0;
const M_F: usize = 1;
const M_C: usize = 10;
const M_AUX: usize = 19;
const M_MU: usize = 20;
const M_LAMBDA: usize = 21;
const M_A: usize = 22;
const M_B: usize = 23;
const M_CC: usize = 24;
const M_DT: usize = 27;

// Tool record slots (`T_*` in the shader).
const T_KIND: usize = 0;
const T_DIMS: usize = 1;
const T_MU: usize = 4;
const T_SOFT: usize = 5;
const T_POS: usize = 6;
const T_Q: usize = 9;
const T_LIN: usize = 13;
const T_ANG: usize = 16;
const T_XW: usize = 19;
const T_V: usize = 22;
const T_H: usize = 25;
const T_SDF_DIMS: usize = 26;
const T_SDF_DX: usize = 29;
const T_SDF_ORIGIN: usize = 30;

/// A group of input slots perturbed together.
struct Group {
    name: &'static str,
    slots: Vec<usize>,
}

fn group(name: &'static str, slots: impl IntoIterator<Item = usize>) -> Group {
    Group {
        name,
        slots: slots.into_iter().collect(),
    }
}

/// A forward entry point, its adjoint, and the forward function's output count.
struct Pair<'a> {
    what: &'a str,
    fwd: &'a str,
    vjp: &'a str,
    outputs: usize,
}

/// The outcome of one group's check.
#[derive(Debug)]
struct GroupResult {
    worst: f64,
    worst_sample: usize,
    nonzero: usize,
}

struct Harness {
    ctx: &'static GpuContext,
    config: ShaderConfig,
    mesh_sdf: wgpu::Buffer,
    params: wgpu::Buffer,
}

/// Sphere of radius `MESH_R` sampled on a 16³ grid over [−0.16, 0.16]³, for
/// the mesh tool (trilinear interpolation of f32 values, as the simulator's
/// mesh SDFs).
const MESH_N: usize = 16;
const MESH_R: f64 = 0.1;
const MESH_LO: f64 = -0.16;
fn mesh_dx() -> f64 {
    -2.0 * MESH_LO / (MESH_N - 1) as f64
}

impl Harness {
    fn new() -> Option<Self> {
        let (ctx, _g) = gpu();
        crate::common::require_f64(ctx);
        let config = ShaderConfig {
            precision: Precision::F64,
            atomics: AtomicsMode::CompareSwap,
        };
        let dx = mesh_dx();
        let mut sdf = Vec::with_capacity(MESH_N * MESH_N * MESH_N);
        for k in 0..MESH_N {
            for j in 0..MESH_N {
                for i in 0..MESH_N {
                    let p = [i, j, k].map(|c| MESH_LO + c as f64 * dx);
                    // A slightly squashed sphere, so the field is not radial.
                    let r = (p[0] * p[0] + 1.3 * p[1] * p[1] + p[2] * p[2]).sqrt();
                    sdf.push((r - MESH_R) as f32);
                }
            }
        }
        let mesh_sdf = storage_buffer(
            ctx,
            "check sdf",
            bytemuck::cast_slice(&sdf),
            BufferUse::Storage,
        )
        .unwrap();
        let params = storage_buffer_zeroed(ctx, "check params", 1024, BufferUse::Storage).unwrap();
        Some(Harness {
            ctx,
            config,
            mesh_sdf,
            params,
        })
    }

    /// Runs entry `entry` of `check/vjp_pairs` on `inputs` (and `seeds`),
    /// returning its outputs (RECORD Reals per sample).
    fn run(&self, kernel: &Kernel, inputs: &[f64], seeds: &[f64]) -> Vec<f64> {
        let ctx = self.ctx;
        let p = self.config.precision;
        let buf = |label: &str, v: &[f64]| {
            storage_buffer(ctx, label, &reals_to_bytes(v, p), BufferUse::Storage).unwrap()
        };
        let inp = buf("check inputs", inputs);
        let seed = buf("check seeds", seeds);
        let bytes = (inputs.len() as u64) * p.bytes();
        let out = storage_buffer_zeroed(ctx, "check outputs", bytes, BufferUse::Storage).unwrap();
        let dummy = storage_buffer_zeroed(ctx, "check unused", 256, BufferUse::Storage).unwrap();
        let bg = kernel.bind_used(
            ctx,
            &[
                (0, &inp),
                (1, &seed),
                (2, &out),
                (3, &self.params),
                (4, &dummy),
                (5, &dummy),
                (6, &dummy),
                (7, &self.mesh_sdf),
            ],
        );
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            kernel.dispatch_1d(&mut pass, &[&bg], (inputs.len() / RECORD) as u32);
        }
        ctx.queue.submit([enc.finish()]);
        bytes_to_reals(&read_buffer(ctx, &out, bytes).unwrap(), p)
    }

    /// Checks entry pair (`fwd`, `vjp`) on `samples` (RECORD Reals each) for
    /// every group, and fails on any group that does not pass.
    fn check(&self, pair: Pair, samples: &[f64], scale: &[f64], groups: &[Group], rng: &mut Rng) {
        let failures = self.failures(pair, samples, scale, groups, rng);
        assert!(
            failures.is_empty(),
            "adjoint checks failed:\n{}",
            failures.join("\n")
        );
    }

    /// Plants a relative error `delta` in the stress adjoint (the `Params`
    /// Real that `Simulation::plant_adjoint_error` sets; 0 is exact).
    fn plant_adjoint_error(&self, delta: f64) {
        let p = self.config.precision;
        use ductile::sim::mpm::model::{PARAMS_ADJOINT_ERROR, PARAMS_INTS_BYTES};
        let offset = PARAMS_INTS_BYTES + PARAMS_ADJOINT_ERROR * p.bytes();
        self.ctx
            .queue
            .write_buffer(&self.params, offset, &reals_to_bytes(&[delta], p));
    }

    /// The groups of entry pair (`fwd`, `vjp`) on `samples` (RECORD Reals
    /// each) that fail the check, described. `scale[k]` is slot k's
    /// perturbation scale; `outputs` is the number of output Reals of the
    /// forward function.
    fn failures(
        &self,
        pair: Pair,
        samples: &[f64],
        scale: &[f64],
        groups: &[Group],
        rng: &mut Rng,
    ) -> Vec<String> {
        let Pair {
            what,
            fwd,
            vjp,
            outputs,
        } = pair;
        let n = samples.len() / RECORD;
        let kf = Kernel::new(self.ctx, "check/vjp_pairs", fwd, self.config).unwrap();
        let kv = Kernel::new(self.ctx, "check/vjp_pairs", vjp, self.config).unwrap();
        let mut seeds = vec![0.0; samples.len()];
        for s in 0..n {
            for k in 0..outputs {
                seeds[s * RECORD + k] = rng.normal();
            }
        }
        let adj = self.run(&kv, samples, &seeds);
        assert!(
            adj.iter().all(|a| a.is_finite()),
            "{what}: non-finite adjoint"
        );
        let mut failures = Vec::new();
        for g in groups {
            let mut dir = vec![0.0; samples.len()];
            for s in 0..n {
                for &k in &g.slots {
                    dir[s * RECORD + k] = rng.normal() * scale[k];
                }
            }
            // Forward at x ± ε·d for every step of the sweep, in one dispatch.
            let mut x = Vec::with_capacity(2 * STEPS.len() * samples.len());
            for e in STEPS {
                for sign in [1.0, -1.0] {
                    x.extend(samples.iter().zip(&dir).map(|(v, d)| v + sign * e * d));
                }
            }
            let f = self.run(&kf, &x, &vec![0.0; x.len()]);
            let block = samples.len();
            let dot_w = |part: usize, s: usize| -> f64 {
                (0..outputs)
                    .map(|k| seeds[s * RECORD + k] * f[part * block + s * RECORD + k])
                    .sum()
            };
            let mut r = GroupResult {
                worst: 0.0,
                worst_sample: 0,
                nonzero: 0,
            };
            for s in 0..n {
                let ad: f64 = g
                    .slots
                    .iter()
                    .map(|&k| adj[s * RECORD + k] * dir[s * RECORD + k])
                    .sum();
                // Round-off of a difference of ⟨w, f⟩ is about 1e-16·|⟨w, f⟩|/ε:
                // derivatives below `floor` are zero to the differences' precision.
                let value = 0.5 * (dot_w(0, s) + dot_w(1, s));
                let floor = 1e-9 * value.abs().max(1.0);
                let mut best = f64::INFINITY;
                for (i, e) in STEPS.iter().enumerate() {
                    let fd = (dot_w(2 * i, s) - dot_w(2 * i + 1, s)) / (2.0 * e);
                    best = best.min((ad - fd).abs() / ad.abs().max(fd.abs()).max(floor));
                }
                let fd0 = (dot_w(0, s) - dot_w(1, s)) / (2.0 * STEPS[0]);
                let largest = ad.abs().max(fd0.abs());
                if std::env::var_os("DUCTILE_CHECK_DEBUG").is_some()
                    && best > TOL
                    && largest >= 1e3 * floor
                {
                    let fds: Vec<String> = (0..STEPS.len())
                        .map(|i| {
                            format!(
                                "{:.6e}",
                                (dot_w(2 * i, s) - dot_w(2 * i + 1, s)) / (2.0 * STEPS[i])
                            )
                        })
                        .collect();
                    eprintln!(
                        "  {} s{s}: ad {ad:.9e} fd {fds:?} x {:?}",
                        g.name,
                        &samples[s * RECORD..s * RECORD + 26]
                    );
                }
                if largest < 1e3 * floor {
                    continue;
                }
                r.nonzero += 1;
                if best > r.worst {
                    r.worst = best;
                    r.worst_sample = s;
                }
            }
            eprintln!(
                "{what} {}: worst relative error {:.2e} (sample {}), {} of {n} samples with a derivative",
                g.name, r.worst, r.worst_sample, r.nonzero
            );
            if r.worst > TOL || r.nonzero * 16 < n {
                failures.push(format!("{what} {}: {r:?}", g.name));
            }
        }
        failures
    }
}

/// F = U diag(σ) Vᵀ with random rotations: distinct singular values in
/// [0.75, 1.3] for most samples, two equal for every fourth sample and
/// F = I for every sixteenth (the SVD adjoint's degenerate cases).
fn random_f(rng: &mut Rng, s: usize) -> [f64; 9] {
    let mut sig = [0.0; 3];
    for v in &mut sig {
        *v = 0.75 + 0.55 * rng.uniform();
    }
    if s % 4 == 1 {
        sig[2] = sig[1];
    }
    let (u, v) = (random_rotation(rng), random_rotation(rng));
    let mut f = [0.0; 9];
    if s % 16 == 3 {
        f[0] = 1.0;
        f[4] = 1.0;
        f[8] = 1.0;
        return f;
    }
    // F[col c][row r] = Σ_k U[k][r] σ_k V[k][c]  (U[k] is column k).
    for c in 0..3 {
        for r in 0..3 {
            f[3 * c + r] = (0..3).map(|k| u[k][r] * sig[k] * v[k][c]).sum();
        }
    }
    f
}

/// The material records: one kind, SAMPLES random states and parameters.
fn material_samples(kind: u32, rng: &mut Rng) -> Vec<f64> {
    let mut out = vec![0.0; SAMPLES * RECORD];
    for s in 0..SAMPLES {
        let r = &mut out[s * RECORD..(s + 1) * RECORD];
        r[M_KIND] = kind as f64;
        r[M_F..M_F + 9].copy_from_slice(&random_f(rng, s));
        for k in 0..9 {
            r[M_C + k] = 2.0 * rng.normal();
        }
        let mu = 1e3 + 9e3 * rng.uniform();
        r[M_MU] = mu;
        r[M_LAMBDA] = 1e3 + 9e3 * rng.uniform();
        r[M_AUX] = 1.0;
        r[M_DT] = 1e-4 + 9e-4 * rng.uniform();
        match kind {
            0 => {
                r[M_MU] = 0.01 + rng.uniform();
                r[M_AUX] = 0.9 + 0.2 * rng.uniform();
                r[M_A] = 1.0 + 6.0 * rng.uniform();
            }
            3 => {
                // σ_Y such that about half the samples yield.
                r[M_A] = 2.0 * mu * (0.02 + 0.3 * rng.uniform());
            }
            4 => {
                r[M_A] = 0.1 + 0.4 * rng.uniform();
                r[M_B] = 0.05 * rng.uniform();
                r[M_AUX] = 0.1 * (rng.uniform() - 0.5);
            }
            5 => {
                r[M_A] = 0.02 + 0.15 * rng.uniform();
                r[M_B] = 0.02 + 0.15 * rng.uniform();
                r[M_CC] = 5.0 + 10.0 * rng.uniform();
                r[M_AUX] = 0.9 + 0.2 * rng.uniform();
            }
            6 => {
                r[M_LAMBDA] = r[M_LAMBDA].max(2.0 * mu / 3.0 + 100.0);
                r[M_A] = 2.0 * mu * 0.2 * rng.uniform();
                r[M_B] = 1.0 + 100.0 * rng.uniform();
                r[M_CC] = 0.5 + rng.uniform();
            }
            _ => {}
        }
    }
    out
}

/// Perturbation scale per material slot: states absolutely, parameters relative.
fn material_scale(samples: &[f64]) -> Vec<f64> {
    let mut scale = vec![1.0; RECORD];
    for k in [M_MU, M_LAMBDA, M_A, M_B, M_CC] {
        scale[k] = samples[k].abs().max(1e-3);
    }
    scale[M_AUX] = 0.1;
    scale
}

fn f_group() -> Group {
    group("F", M_F..M_F + 9)
}

/// Kirchhoff stress τ(F, C, aux) and its parameters, for every material.
#[test]
fn stress_adjoint_of_every_material() {
    let Some(h) = Harness::new() else { return };
    let mut rng = Rng::new(0x5EED_0001);
    let cases: [(u32, &str, Vec<Group>); 7] = [
        (
            0,
            "fluid",
            vec![
                group("C", M_C..M_C + 9),
                group("J", [M_AUX]),
                group("viscosity", [M_MU]),
                group("bulk modulus", [M_LAMBDA]),
                group("gamma", [M_A]),
            ],
        ),
        (
            1,
            "fixed-corotated",
            vec![f_group(), group("mu", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
        (
            2,
            "neo-Hookean",
            vec![f_group(), group("mu", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
        (
            3,
            "von Mises",
            vec![f_group(), group("mu", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
        (
            4,
            "Drucker-Prager",
            vec![f_group(), group("mu", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
        (
            5,
            "snow",
            vec![
                f_group(),
                group("Jp", [M_AUX]),
                group("mu", [M_MU]),
                group("lambda", [M_LAMBDA]),
                group("hardening", [M_CC]),
            ],
        ),
        (
            6,
            "Herschel-Bulkley",
            vec![f_group(), group("G", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
    ];
    for (kind, name, groups) in cases {
        let x = material_samples(kind, &mut rng);
        let scale = material_scale(&x);
        h.check(
            Pair {
                what: &format!("stress {name}"),
                fwd: "stress_fwd",
                vjp: "stress_vjp",
                outputs: 9,
            },
            &x,
            &scale,
            &groups,
            &mut rng,
        );
    }
}

/// The check is tied to the adjoint: a 5 % error planted in the stress
/// adjoint (∂L/∂τ scaled by 1.05 inside `kirchhoff_stress_vjp`, the switch
/// `Simulation::plant_adjoint_error` sets) fails every group of the
/// neo-Hookean and fluid stress checks at their 1e-6 tolerance (measured:
/// 4.8e-2 in each group), whose exact adjoints pass below.
#[test]
fn a_planted_stress_adjoint_error_fails_the_kernel_check() {
    let Some(h) = Harness::new() else { return };
    h.plant_adjoint_error(0.05);
    let mut rng = Rng::new(0x5EED_0BAD);
    for (kind, name, groups) in [
        (
            2,
            "neo-Hookean",
            vec![f_group(), group("mu", [M_MU]), group("lambda", [M_LAMBDA])],
        ),
        (
            0,
            "fluid",
            vec![group("C", M_C..M_C + 9), group("J", [M_AUX])],
        ),
    ] {
        let x = material_samples(kind, &mut rng);
        let scale = material_scale(&x);
        let pair = Pair {
            what: &format!("planted stress {name}"),
            fwd: "stress_fwd",
            vjp: "stress_vjp",
            outputs: 9,
        };
        let failures = h.failures(pair, &x, &scale, &groups, &mut rng);
        assert_eq!(
            failures.len(),
            groups.len(),
            "{name}: a planted 5 % error passed in some group: {failures:?}"
        );
    }
}

/// Plastic return mappings (F, aux) → (F, aux), elastic and yielding samples mixed.
#[test]
fn plastic_projection_adjoint_of_every_plastic_material() {
    let Some(h) = Harness::new() else { return };
    let mut rng = Rng::new(0x5EED_0002);
    let cases: [(u32, &str, Vec<Group>); 4] = [
        (
            3,
            "von Mises",
            vec![f_group(), group("mu", [M_MU]), group("yield stress", [M_A])],
        ),
        (
            4,
            "Drucker-Prager",
            vec![
                f_group(),
                group("volume correction", [M_AUX]),
                group("mu", [M_MU]),
                group("lambda", [M_LAMBDA]),
                group("alpha", [M_A]),
                group("cohesion shift", [M_B]),
            ],
        ),
        (
            5,
            "snow",
            vec![
                f_group(),
                group("Jp", [M_AUX]),
                group("critical compression", [M_A]),
                group("critical stretch", [M_B]),
            ],
        ),
        (
            6,
            "Herschel-Bulkley",
            vec![
                f_group(),
                group("G", [M_MU]),
                group("yield stress", [M_A]),
                group("consistency", [M_B]),
                group("flow index", [M_CC]),
            ],
        ),
    ];
    for (kind, name, groups) in cases {
        let x = material_samples(kind, &mut rng);
        let scale = material_scale(&x);
        h.check(
            Pair {
                what: &format!("plastic {name}"),
                fwd: "plastic_fwd",
                vjp: "plastic_vjp",
                outputs: 10,
            },
            &x,
            &scale,
            &groups,
            &mut rng,
        );
    }
}

/// Rotates v by the unit quaternion q = (x, y, z, w).
fn quat_rotate(q: &[f64], v: [f64; 3]) -> [f64; 3] {
    let u = [q[0], q[1], q[2]];
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let t = cross(u, v).map(|c| 2.0 * c);
    let ut = cross(u, t);
    [0, 1, 2].map(|k| v[k] + q[3] * t[k] + ut[k])
}

/// Tool contact records for one shape: random pose, velocities, friction
/// and softness, and a node placed around the surface (inside, in the soft
/// band and outside).
fn tool_samples(kind: u32, rng: &mut Rng) -> Vec<f64> {
    let mut out = vec![0.0; SAMPLES * RECORD];
    for s in 0..SAMPLES {
        let r = &mut out[s * RECORD..(s + 1) * RECORD];
        r[T_KIND] = kind as f64;
        let dims = [
            0.05 + 0.1 * rng.uniform(),
            0.05 + 0.1 * rng.uniform(),
            0.05 + 0.1 * rng.uniform(),
        ];
        r[T_DIMS..T_DIMS + 3].copy_from_slice(&dims);
        r[T_MU] = rng.uniform();
        let soft = 0.01 + 0.04 * rng.uniform();
        r[T_SOFT] = soft;
        for k in 0..3 {
            r[T_POS + k] = 0.5 + 0.1 * rng.normal();
            r[T_LIN + k] = rng.normal();
            r[T_ANG + k] = 3.0 * rng.normal();
            r[T_V + k] = rng.normal();
        }
        let q = rng.direction(4);
        r[T_Q..T_Q + 4].copy_from_slice(&q);
        r[T_H] = 0.005;
        // A local point near the surface: extent of the shape plus the band.
        let ext = match kind {
            0 => dims,
            1 => [dims[0]; 3],
            2 | 3 => [dims[0], dims[1] + dims[0], dims[0]],
            4 => [0.2, 0.0, 0.2],
            _ => [MESH_R, MESH_R / 1.3f64.sqrt(), MESH_R],
        };
        let pl = [0, 1, 2].map(|k| (ext[k] + 1.5 * soft) * (2.0 * rng.uniform() - 1.0));
        let pl = if kind == 4 {
            [pl[0], soft * (2.0 * rng.uniform() - 0.6), pl[2]]
        } else {
            pl
        };
        let d = quat_rotate(&q, pl);
        for k in 0..3 {
            r[T_XW + k] = r[T_POS + k] + d[k];
        }
        if kind == 5 {
            r[T_H] = 0.5 * mesh_dx();
            r[T_SDF_DIMS..T_SDF_DIMS + 3].copy_from_slice(&[MESH_N as f64; 3]);
            r[T_SDF_DX] = mesh_dx();
            r[T_SDF_ORIGIN..T_SDF_ORIGIN + 3].copy_from_slice(&[MESH_LO; 3]);
        }
    }
    // For a box, sphere, capsule or cylinder, 16 more samples (copies of the
    // first 16 with a new contact point) lie deep inside, within h/4 of a
    // medial surface (a thin box's mid-plane, the sphere's centre, the
    // axis), where the normal shrinks to zero. Their own generator leaves the
    // samples above as they were.
    if kind <= 3 {
        let mut near_rng = Rng::new(0x4D45_4449 + u64::from(kind));
        for s in 0..16 {
            let mut r = out[s * RECORD..(s + 1) * RECORD].to_vec();
            let h = r[T_H];
            let mut near = || 0.5 * h * (near_rng.uniform() - 0.5);
            let (dy, dz) = (r[T_DIMS + 1], r[T_DIMS + 2]);
            let pl = match kind {
                0 => {
                    r[T_DIMS] = 2.0 * h;
                    [near(), dy * near() / h, dz * near() / h]
                }
                1 => [near(), near(), near()],
                _ => [near(), dy * near() / h, near()],
            };
            let q = [r[T_Q], r[T_Q + 1], r[T_Q + 2], r[T_Q + 3]];
            let d = quat_rotate(&q, pl);
            for k in 0..3 {
                r[T_XW + k] = r[T_POS + k] + d[k];
            }
            out.extend(r);
        }
    }
    out
}

/// Tool contact v_out(v; pose, velocities, friction, softness) for every
/// analytic shape and a mesh SDF, near the surface and (analytic solids)
/// deep inside on a medial surface, where the normal shrinks to zero.
#[test]
fn tool_contact_adjoint_of_every_shape() {
    let Some(h) = Harness::new() else { return };
    let mut scale = vec![1.0; RECORD];
    scale[T_POS..T_POS + 3].fill(0.05);
    scale[T_Q..T_Q + 4].fill(0.3);
    scale[T_MU] = 0.3;
    scale[T_SOFT] = 0.01;
    let groups = [
        group("node velocity", T_V..T_V + 3),
        group("position", T_POS..T_POS + 3),
        group("quaternion", T_Q..T_Q + 4),
        group("linear velocity", T_LIN..T_LIN + 3),
        group("angular velocity", T_ANG..T_ANG + 3),
        group("friction", [T_MU]),
        group("softness", [T_SOFT]),
    ];
    for (kind, name) in [
        (0, "box"),
        (1, "sphere"),
        (2, "capsule"),
        (3, "cylinder"),
        (4, "plane"),
        (5, "mesh"),
    ] {
        // One generator per shape, so that each shape's samples do not
        // depend on how many the shapes before it drew.
        let mut rng = Rng::new(0x5EED_0003 + u64::from(kind));
        let x = tool_samples(kind, &mut rng);
        h.check(
            Pair {
                what: &format!("tool {name}"),
                fwd: "tool_fwd",
                vjp: "tool_vjp",
                outputs: 3,
            },
            &x,
            &scale,
            &groups,
            &mut rng,
        );
    }
}

/// The Coulomb projection (walls and tools): sticking, sliding and separating samples.
#[test]
fn coulomb_projection_adjoint() {
    let Some(h) = Harness::new() else { return };
    let mut rng = Rng::new(0x5EED_0004);
    let mut x = vec![0.0; SAMPLES * RECORD];
    for s in 0..SAMPLES {
        let r = &mut x[s * RECORD..(s + 1) * RECORD];
        for v in &mut r[0..3] {
            *v = rng.normal();
        }
        r[3..6].copy_from_slice(&rng.direction(3));
        r[6] = 1.5 * rng.uniform();
    }
    let mut scale = vec![1.0; RECORD];
    scale[3..6].fill(0.3);
    scale[6] = 0.3;
    let groups = [
        group("relative velocity", 0..3),
        group("normal", 3..6),
        group("friction", [6]),
    ];
    h.check(
        Pair {
            what: "coulomb",
            fwd: "coulomb_fwd",
            vjp: "coulomb_vjp_check",
            outputs: 3,
        },
        &x,
        &scale,
        &groups,
        &mut rng,
    );
}
