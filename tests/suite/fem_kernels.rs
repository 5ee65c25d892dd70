//! Each tactile and FEM–MPM device function's adjoint alone, on random
//! inputs, against central differences in f64 (`fem_kernels.wgsl` and
//! `fem_piola.wgsl`, kept in the test suite): the cameras' projection, the sensor frame's map back to
//! rest, a force turned into the moving camera's axes, the node–particle contact law and its surface normals, and the
//! elements' stress derivative (both models). A planted 5 % error fails
//! each check.

use crate::common::{gpu, random_rotation, require_f64};
use ductile::gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed,
    AtomicsMode, BufferUse, GpuContext, Kernel, Precision, ShaderConfig,
};
use ductile::sim::gradcheck::Rng;

const SRC: &str = include_str!("fem_kernels.wgsl");
const RECORD: usize = 32;

struct Harness {
    ctx: &'static GpuContext,
    config: ShaderConfig,
}

impl Harness {
    fn new() -> Self {
        let (ctx, _g) = gpu();
        require_f64(ctx);
        Harness {
            ctx,
            config: ShaderConfig {
                precision: Precision::F64,
                atomics: AtomicsMode::CompareSwap,
            },
        }
    }

    fn kernel(&self, entry: &str) -> Kernel {
        Kernel::from_source(self.ctx, "test/fem_kernels", SRC, entry, self.config)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `entry` on the samples (RECORD Reals each) with the contact law's
    /// parameters `mreals` (k, c, μ, ε, R, planted).
    fn run(&self, entry: &str, inputs: &[f64], seeds: &[f64], mreals: &[f64]) -> Vec<f64> {
        let ctx = self.ctx;
        let p = self.config.precision;
        let buf = |label: &str, v: &[f64]| {
            storage_buffer(ctx, label, &reals_to_bytes(v, p), BufferUse::Storage).unwrap()
        };
        let (inp, seed, mr) = (
            buf("inputs", inputs),
            buf("seeds", seeds),
            buf("mreals", mreals),
        );
        let bytes = inputs.len() as u64 * p.bytes();
        let out = storage_buffer_zeroed(ctx, "outputs", bytes, BufferUse::Storage).unwrap();
        let k = self.kernel(entry);
        let bg = k.bind_used(ctx, &[(2, &mr), (40, &inp), (41, &seed), (42, &out)]);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            k.dispatch(
                &mut pass,
                &[&bg],
                [(inputs.len() / RECORD).div_ceil(64) as u32, 1, 1],
            );
        }
        ctx.queue.submit([enc.finish()]);
        bytes_to_reals(&read_buffer(ctx, &out, bytes).unwrap(), p)
    }

    /// The worst relative error, over samples and over the input groups
    /// `groups` (name, slots, step), between the adjoint's directional
    /// derivative (seeded randomly on the `outputs` first slots) and central
    /// differences of the forward function along a random direction.
    #[allow(clippy::too_many_arguments)]
    fn worst(
        &self,
        fwd: &str,
        vjp: &str,
        samples: &[f64],
        outputs: usize,
        groups: &[(&str, std::ops::Range<usize>, f64)],
        mreals: &[f64],
        rng: &mut Rng,
    ) -> Vec<(String, f64)> {
        let n = samples.len() / RECORD;
        let mut seeds = vec![0.0; samples.len()];
        for i in 0..n {
            for k in 0..outputs {
                seeds[RECORD * i + k] = rng.normal();
            }
        }
        let adj = self.run(vjp, samples, &seeds, mreals);
        let mut out = Vec::new();
        for (name, slots, eps) in groups {
            let mut dir = vec![0.0; samples.len()];
            for i in 0..n {
                for k in slots.clone() {
                    dir[RECORD * i + k] = rng.normal();
                }
            }
            let shifted = |s: f64| -> Vec<f64> {
                samples
                    .iter()
                    .zip(&dir)
                    .map(|(x, d)| x + s * eps * d)
                    .collect()
            };
            let fp = self.run(fwd, &shifted(1.0), &seeds, mreals);
            let fm = self.run(fwd, &shifted(-1.0), &seeds, mreals);
            let pairs: Vec<(f64, f64)> = (0..n)
                .map(|i| {
                    let b = RECORD * i;
                    let fd: f64 = (0..outputs)
                        .map(|k| seeds[b + k] * (fp[b + k] - fm[b + k]) / (2.0 * eps))
                        .sum();
                    let ad: f64 = slots.clone().map(|k| adj[b + k] * dir[b + k]).sum();
                    (fd, ad)
                })
                .collect();
            // Relative to each sample's size, floored at a thousandth of the
            // samples' mean (a sample whose derivative nearly cancels is
            // measured against the typical one, not against its own round-off).
            let mean = pairs.iter().map(|(_, a)| a.abs()).sum::<f64>() / n as f64;
            let worst = pairs
                .iter()
                .map(|(fd, ad)| (fd - ad).abs() / fd.abs().max(ad.abs()).max(1e-3 * mean))
                .fold(0.0, f64::max);
            eprintln!("{fwd:<12} {name:<6} worst relative error {worst:.1e}");
            out.push((name.to_string(), worst));
        }
        out
    }
}

/// Both cameras' projection (pinhole and equidistant fisheye, on and off
/// the axis) and the sensor frame's map back to rest, on 256 random
/// samples each: every sample's adjoint against central differences
/// (step 1e-8 m on inputs of about 1 cm) to better than 1e-6, relative to
/// the sample's size or a thousandth of the samples' mean, whichever is
/// larger (measured at most 2.6e-8).
#[test]
fn tactile_camera_and_frame_adjoints_alone() {
    let h = Harness::new();
    let mut rng = Rng::new(17);
    let n = 256;
    let mut cams = vec![0.0; n * RECORD];
    for i in 0..n {
        let r = &mut cams[RECORD * i..RECORD * (i + 1)];
        r[0] = (i % 2) as f64;
        // Points in front of the camera, some near the axis.
        let near = i % 8 == 0;
        let s = if near { 1e-6 } else { 0.01 };
        r[1] = s * rng.normal();
        r[2] = s * rng.normal();
        r[3] = 0.015 + 0.01 * rng.uniform();
        r[4] = 200.0 + 100.0 * rng.uniform();
        r[5] = 200.0 + 100.0 * rng.uniform();
        r[6] = 160.0;
        r[7] = 120.0;
    }
    for (name, worst) in h.worst(
        "camera_fwd",
        "camera_vjp",
        &cams,
        2,
        &[("X", 1..4, 1e-8)],
        &[0.0; 8],
        &mut rng,
    ) {
        assert!(worst < 1e-6, "camera {name}: {worst:e}");
    }
    let mut rest = vec![0.0; n * RECORD];
    for i in 0..n {
        let r = &mut rest[RECORD * i..RECORD * (i + 1)];
        for v in r.iter_mut().take(24) {
            *v = 0.01 * rng.normal();
        }
        // Base nodes spanning a well-conditioned frame.
        for k in 0..3 {
            r[6 + k] = r[3 + k] + if k == 0 { 0.01 } else { 0.002 * rng.normal() };
            r[9 + k] = r[3 + k] + if k == 2 { 0.01 } else { 0.002 * rng.normal() };
        }
    }
    for (name, worst) in h.worst(
        "rest_fwd",
        "rest_vjp",
        &rest,
        3,
        &[
            ("p", 0..3, 1e-8),
            ("a", 3..6, 1e-8),
            ("b", 6..9, 1e-8),
            ("c", 9..12, 1e-8),
        ],
        &[0.0; 8],
        &mut rng,
    ) {
        assert!(worst < 1e-6, "frame {name}: {worst:e}");
    }
}

/// A force turned into the moving camera's axes (`vector_to_camera`, what
/// the sensor's force output and `ContactForce` loss apply): R M₀⁻ᵀ Mᵀ f
/// with M the frame of three base nodes, on 256 random samples (forces of
/// about 1 N, base nodes spanning about 1 cm, random M₀ and camera
/// rotation R). Reference: central differences (steps 1e-3 N, exact for
/// the map's linear dependence on f, and 1e-8 m);
/// every sample's adjoint for f and for each base node to better than 1e-6
/// (measured at most 3e-8); with the seed scaled by 1.05 (a planted
/// error) every group fails by more than 1e-2.
#[test]
fn sensor_force_axes_adjoint_alone() {
    let h = Harness::new();
    let mut rng = Rng::new(23);
    let n = 256;
    let mut s = vec![0.0; n * RECORD];
    for i in 0..n {
        let r = &mut s[RECORD * i..RECORD * (i + 1)];
        for k in 0..3 {
            r[k] = rng.normal();
            r[3 + k] = 0.01 * rng.normal();
        }
        for k in 0..3 {
            r[6 + k] = r[3 + k] + if k == 0 { 0.01 } else { 0.002 * rng.normal() };
            r[9 + k] = r[3 + k] + if k == 2 { 0.01 } else { 0.002 * rng.normal() };
        }
        // M₀: a well-conditioned rest frame (columns), and R's rotation vector.
        for (k, v) in r[15..24].iter_mut().enumerate() {
            *v = if k % 4 == 0 { 0.01 } else { 0.0 } + 0.002 * rng.normal();
        }
        for v in &mut r[24..27] {
            *v = rng.normal();
        }
    }
    let groups = [
        ("f", 0..3, 1e-3),
        ("a", 3..6, 1e-8),
        ("b", 6..9, 1e-8),
        ("c", 9..12, 1e-8),
    ];
    let mut params = [0.0; 8];
    params[5] = 1.0;
    for (name, worst) in h.worst("axes_fwd", "axes_vjp", &s, 3, &groups, &params, &mut rng) {
        assert!(worst < 1e-6, "force axes {name}: {worst:e}");
    }
    params[5] = 1.05;
    for (name, worst) in h.worst("axes_fwd", "axes_vjp", &s, 3, &groups, &params, &mut rng) {
        assert!(
            worst > 1e-2,
            "a planted error passed the {name} check: {worst:e}"
        );
    }
}

/// Particle–triangle samples in contact: a triangle of about 2 mm with a
/// random orientation, the particle in front of it or just beside it
/// (barycentric coordinates of its projection from −0.15, in the edges'
/// taper) at a gap s in (−R, R),
/// velocities sliding fast or nearly sticking, and σ from 0.01 to 1 s/kg
/// (c_s = μ f_n σ across the stick–slip transition).
fn tri_samples(rng: &mut Rng, n: usize, radius: f64) -> Vec<f64> {
    let mut s = vec![0.0; n * RECORD];
    for i in 0..n {
        let r = &mut s[RECORD * i..RECORD * (i + 1)];
        let corner = |rng: &mut Rng| -> [f64; 3] { std::array::from_fn(|_| 0.002 * rng.normal()) };
        let (a, b, c) = (corner(rng), corner(rng), corner(rng));
        let u: [f64; 3] = std::array::from_fn(|k| b[k] - a[k]);
        let v: [f64; 3] = std::array::from_fn(|k| c[k] - a[k]);
        let nn = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        let nl = (nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2]).sqrt();
        let (mut bb, mut bc) = (-0.15 + 1.1 * rng.uniform(), -0.15 + 1.1 * rng.uniform());
        if bb + bc > 1.1 {
            (bb, bc) = (1.1 - bc, 1.1 - bb);
        }
        let gap = radius * (1.8 * rng.uniform() - 0.9);
        let speed = if i % 4 == 0 { 1e-4 } else { 0.05 };
        for k in 0..3 {
            r[k] = a[k] + bb * u[k] + bc * v[k] + gap * nn[k] / nl;
            r[3 + k] = a[k];
            r[6 + k] = b[k];
            r[9 + k] = c[k];
            for o in [12, 15, 18, 21] {
                r[o + k] = speed * rng.normal();
            }
        }
        r[24] = 10f64.powf(-2.0 + 2.0 * rng.uniform());
    }
    s
}

/// The particle–triangle contact law of the FEM–MPM coupling (a spring and
/// damper along the triangle's normal, tapered across its edges, smooth
/// Coulomb friction with the mass- and step-set stick–slip transition, the
/// nodes' share by the barycentric coordinates) on 256 random pairs in
/// contact: the adjoint
/// for the particle's and the three nodes' positions and velocities
/// against central differences of all four forces to better than 1e-6 per
/// sample (measured 3.7e-8, 1.9e-8, 8.8e-7 and 2.8e-7 for x_p, the nodes'
/// x, v_p and the nodes' v), and for (k, c, μ) in total over the samples
/// (measured 9.6e-10); a planted 5 % error in the adjoint (`mreals[5]` =
/// 1.05) makes every group fail by more than 1e-2.
#[test]
fn fem_matter_contact_law_adjoint_alone() {
    let h = Harness::new();
    let mut rng = Rng::new(29);
    let radius = 0.002;
    let n = 256;
    let samples = tri_samples(&mut rng, n, radius);
    let params = [200.0, 0.05, 0.4, 1e-4, radius, 1.0, 0.0, 0.0];
    let groups = [
        ("x_p", 0..3, 1e-9),
        ("x_abc", 3..12, 1e-9),
        ("v_p", 12..15, 1e-8),
        ("v_abc", 15..24, 1e-8),
    ];
    for (name, worst) in h.worst(
        "tri_fwd",
        "tri_vjp_entry",
        &samples,
        12,
        &groups,
        &params,
        &mut rng,
    ) {
        assert!(worst < 1e-6, "pair {name}: {worst:e}");
    }
    // (k, c, μ): shared by every pair, so checked on the sum over samples.
    let mut seeds = vec![0.0; samples.len()];
    for i in 0..n {
        for k in 0..12 {
            seeds[RECORD * i + k] = rng.normal();
        }
    }
    let adj = h.run("tri_vjp_entry", &samples, &seeds, &params);
    let dir = [rng.normal(), rng.normal(), rng.normal()];
    let ad: f64 = (0..n)
        .map(|i| {
            (0..3)
                .map(|k| adj[RECORD * i + 25 + k] * dir[k] * params[k])
                .sum::<f64>()
        })
        .sum();
    let eps = 1e-7;
    let shifted = |s: f64| {
        let mut p = params;
        for k in 0..3 {
            p[k] *= 1.0 + s * eps * dir[k];
        }
        p
    };
    let fp = h.run("tri_fwd", &samples, &seeds, &shifted(1.0));
    let fm = h.run("tri_fwd", &samples, &seeds, &shifted(-1.0));
    let fd: f64 = (0..n)
        .map(|i| {
            (0..12)
                .map(|k| seeds[RECORD * i + k] * (fp[RECORD * i + k] - fm[RECORD * i + k]))
                .sum::<f64>()
        })
        .sum::<f64>()
        / (2.0 * eps);
    let rel = (fd - ad).abs() / fd.abs().max(ad.abs());
    eprintln!("pair (k, c, μ) relative error {rel:.1e}");
    assert!(rel < 1e-6, "pair (k, c, μ): adjoint {ad:e}, fd {fd:e}");
    // A planted error fails.
    let mut planted = params;
    planted[5] = 1.05;
    for (name, worst) in h.worst(
        "tri_fwd",
        "tri_vjp_entry",
        &samples,
        12,
        &groups,
        &planted,
        &mut rng,
    ) {
        assert!(
            worst > 1e-2,
            "a planted error passed the {name} check: {worst:e}"
        );
    }
}

/// The elements' stress derivative alone, for both models (stable
/// neo-Hookean and corotated linear, μ = 1e5 Pa, λ = 4e5 Pa): on 256
/// random F = R (I + 0.3 G) (R a random rotation, G standard normal) and
/// random directions, dP[δ] (`piola_diff`) against central differences of
/// P(F) (`piola`) along δ (step 1e-7), per sample, to better than 1e-6
/// (measured: neo-Hookean 7.9e-9, corotated 1.4e-8); its symmetry
/// ⟨A, dP[B]⟩ = ⟨B, dP[A]⟩, on which the element adjoint relies, to
/// better than 1e-9 (measured 1.4e-14 and 1.7e-14); and a planted 5 %
/// error (`reals[7]` = 1.05) fails the first check.
#[test]
fn fem_stress_derivative_alone() {
    const PIOLA: &str = include_str!("fem_piola.wgsl");
    let h = Harness::new();
    let (ctx, p) = (h.ctx, h.config.precision);
    let mut rng = Rng::new(37);
    let n = 256;
    let mat =
        |rng: &mut Rng, scale: f64| -> [f64; 9] { std::array::from_fn(|_| scale * rng.normal()) };
    // Column-major product.
    let mul = |a: &[f64; 9], b: &[f64; 9]| -> [f64; 9] {
        std::array::from_fn(|k| {
            let (c, r) = (k / 3, k % 3);
            (0..3).map(|i| a[3 * i + r] * b[3 * c + i]).sum()
        })
    };
    let mut f = Vec::with_capacity(n);
    for _ in 0..n {
        let rot: [f64; 9] = random_rotation(&mut rng).concat().try_into().unwrap();
        let mut s = mat(&mut rng, 0.3);
        for d in 0..3 {
            s[4 * d] += 1.0;
        }
        f.push(mul(&rot, &s));
    }
    let (da, db): (Vec<[f64; 9]>, Vec<[f64; 9]>) = (0..n)
        .map(|_| (mat(&mut rng, 1.0), mat(&mut rng, 1.0)))
        .unzip();
    let run = |entry: &str, model: u32, fs: &[[f64; 9]], ds: &[[f64; 9]], planted: f64| {
        let mut inputs = vec![0.0; n * RECORD];
        for i in 0..n {
            inputs[RECORD * i..RECORD * i + 9].copy_from_slice(&fs[i]);
            inputs[RECORD * i + 9..RECORD * i + 18].copy_from_slice(&ds[i]);
        }
        let buf = |label: &str, v: &[f64]| {
            storage_buffer(ctx, label, &reals_to_bytes(v, p), BufferUse::Storage).unwrap()
        };
        let ints = storage_buffer(
            ctx,
            "ints",
            bytemuck::cast_slice(&[0u32, 0, 0, 0, 0, 0, model, 0]),
            BufferUse::Storage,
        )
        .unwrap();
        let reals = buf("reals", &[0.0, 0.0, 0.0, 0.0, 1e5, 4e5, 0.0, planted]);
        let inp = buf("inputs", &inputs);
        let bytes = (n * RECORD) as u64 * p.bytes();
        let out = storage_buffer_zeroed(ctx, "outputs", bytes, BufferUse::Storage).unwrap();
        let k = Kernel::from_source(ctx, "test/fem_piola", PIOLA, entry, h.config)
            .unwrap_or_else(|e| panic!("{e}"));
        let bg = k.bind_used(ctx, &[(0, &ints), (1, &reals), (40, &inp), (42, &out)]);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            k.dispatch(&mut pass, &[&bg], [(n as u32).div_ceil(64), 1, 1]);
        }
        ctx.queue.submit([enc.finish()]);
        let o = bytes_to_reals(&read_buffer(ctx, &out, bytes).unwrap(), p);
        (0..n)
            .map(|i| std::array::from_fn::<f64, 9, _>(|k| o[RECORD * i + k]))
            .collect::<Vec<_>>()
    };
    let dot = |a: &[f64; 9], b: &[f64; 9]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let eps = 1e-7;
    // The worst relative error of dP[δ] against central differences.
    let fd_error = |model: u32, planted: f64| -> f64 {
        let jvp = run("piola_jvp", model, &f, &da, planted);
        let shifted = |s: f64| -> Vec<[f64; 9]> {
            f.iter()
                .zip(&da)
                .map(|(fi, di)| std::array::from_fn(|k| fi[k] + s * eps * di[k]))
                .collect()
        };
        let (pp, pm) = (
            run("piola_fwd", model, &shifted(1.0), &da, 1.0),
            run("piola_fwd", model, &shifted(-1.0), &da, 1.0),
        );
        (0..n)
            .map(|i| {
                let fd: [f64; 9] = std::array::from_fn(|k| (pp[i][k] - pm[i][k]) / (2.0 * eps));
                let diff: [f64; 9] = std::array::from_fn(|k| fd[k] - jvp[i][k]);
                dot(&diff, &diff).sqrt() / dot(&fd, &fd).sqrt().max(dot(&jvp[i], &jvp[i]).sqrt())
            })
            .fold(0.0, f64::max)
    };
    for (model, name) in [(0u32, "stable neo-Hookean"), (1, "corotated linear")] {
        let err = fd_error(model, 1.0);
        let (ja, jb) = (
            run("piola_jvp", model, &f, &da, 1.0),
            run("piola_jvp", model, &f, &db, 1.0),
        );
        let sym = (0..n)
            .map(|i| {
                let (x, y) = (dot(&db[i], &ja[i]), dot(&da[i], &jb[i]));
                (x - y).abs() / x.abs().max(y.abs())
            })
            .fold(0.0, f64::max);
        let wrong = fd_error(model, 1.05);
        eprintln!(
            "{name}: dP against central differences {err:.1e}, symmetry {sym:.1e}, planted {wrong:.1e}"
        );
        assert!(err < 1e-6, "{name}: dP[δ] off by {err:e}");
        assert!(sym < 1e-9, "{name}: dP is not symmetric: {sym:e}");
        assert!(wrong > 1e-2, "{name}: a planted error passed: {wrong:e}");
    }
}
