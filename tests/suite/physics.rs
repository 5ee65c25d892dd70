//! Each material family against a closed-form result or published
//! measurement, and against what its model says it should do. The reference
//! and the measured error are stated on each test; the tests print their
//! measurements (run with `--nocapture`).

use crate::common::*;
use ductile::sim::SimulationOptions;

fn f32_opts() -> SimulationOptions {
    SimulationOptions::default()
}

/// Indices of particles whose initial y lies above `y` [m].
fn above(x: &[f64], y: f64) -> Vec<usize> {
    x.chunks_exact(3)
        .enumerate()
        .filter(|(_, p)| p[1] > y)
        .map(|(i, _)| i)
        .collect()
}

/// Width along x between the 2nd and 98th percentiles of particle positions [m]
/// (ignores a few particles squeezed out along the floor).
fn width_x(x: &[f64]) -> f64 {
    let mut v: Vec<f64> = x.chunks_exact(3).map(|p| p[0]).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() - 1;
    v[(0.98 * n as f64) as usize] - v[(0.02 * n as f64) as usize]
}

fn mean_y(x: &[f64], idx: &[usize]) -> f64 {
    idx.iter().map(|&i| x[3 * i + 1]).sum::<f64>() / idx.len() as f64
}

/// Fluids — closed form: a water column filling a closed tank (its sides
/// reach into the slip-wall layers, so it cannot spread) comes to rest with
/// hydrostatic pressure p = ρ g (h − y). The pressure of each particle is
/// read from its J through the equation of state, p = K (1/J − 1) (γ = 1),
/// and the slope dp/dy of a least-squares fit must be −ρ g within 5 %
/// (weak compressibility alone makes ρ 2 % higher at the bottom).
/// The column must also be at rest: kinetic energy below 1e-4 of M g h.
///
/// Time step: the weakly compressible fluid integrates J ← J(1 + dt tr C),
/// which drifts from the particles' real packing (they crowd into the floor's
/// wall layer without J seeing it), at a rate that falls with dt. Measured at
/// t = 0.6 s (viscosity 2 Pa·s): dt = 2e-4 s gives a slope 19.7 % too steep
/// and KE 3.3e-4 M g h; 1e-4 s, 6.7 % and 4.1e-5; 5e-5 s, 3.2 % and 1.9e-5
/// (first order in dt). The drift also grows with time (1e-4 s at t = 1 s:
/// 25.9 %). The test runs at dt = 5e-5 s; a fix that removes the drift
/// (resetting J from the grid density) is noted on issue 3.
#[test]
fn fluid_hydrostatic_column() {
    let (ctx, _g) = gpu();
    let loaded = scene(
        "Scene(domain: (cells: (10, 24, 10), dx: 0.02, boundary_cells: 3, boundary: Slip),
          time: (dt: 5e-5, substeps: 100, frames: 1),
          bodies: [(name: \"water\", shape: Box(min: (0.05, 0.06, 0.05), max: (0.15, 0.26, 0.15)),
                    material: Fluid(density: 1000.0, bulk_modulus: 1e5, gamma: 1.0, viscosity: 2.0))],
          output: (ply: false, npy: false, png: false))",
    );
    let mut s = sim(ctx, &loaded, f32_opts());
    advance(ctx, &mut s, 12000);
    let d = s.diagnostics(ctx).unwrap().sums;
    let st = s.state(ctx).unwrap();
    let n = st.aux.len();
    // Bulk only: leave out two cells (four particle layers) at the floor and below the surface.
    let ymin =
        st.x.chunks_exact(3)
            .map(|p| p[1])
            .fold(f64::INFINITY, f64::min);
    let ymax =
        st.x.chunks_exact(3)
            .map(|p| p[1])
            .fold(f64::NEG_INFINITY, f64::max);
    let (ys, ps): (Vec<f64>, Vec<f64>) = (0..n)
        .filter(|&i| st.x[3 * i + 1] > ymin + 0.04 && st.x[3 * i + 1] < ymax - 0.04)
        .map(|i| (st.x[3 * i + 1], 1e5 * (1.0 / st.aux[i] - 1.0)))
        .unzip();
    let n = ys.len();
    let my = ys.iter().sum::<f64>() / n as f64;
    let mp = ps.iter().sum::<f64>() / n as f64;
    let slope = ys
        .iter()
        .zip(&ps)
        .map(|(y, p)| (y - my) * (p - mp))
        .sum::<f64>()
        / ys.iter().map(|y| (y - my) * (y - my)).sum::<f64>();
    let expect = -1000.0 * 9.81;
    let h = 0.2;
    let ke_ratio = d.kinetic / (d.mass * 9.81 * h);
    eprintln!(
        "hydrostatic: dp/dy = {slope:.1} Pa/m (expected {expect}), KE/(Mgh) = {ke_ratio:.2e}"
    );
    assert!(
        (slope - expect).abs() / expect.abs() < 0.05,
        "dp/dy = {slope}"
    );
    assert!(
        ke_ratio < 1e-4,
        "column not at rest: KE/(Mgh) = {ke_ratio:e}"
    );
}

/// Elastic solids — closed form: a laterally confined elastic column (it
/// fills the space between slip walls) suddenly loaded by its own weight oscillates about the static
/// settlement δ = ρ g H² / (2 M), M = E(1 − ν)/((1 + ν)(1 − 2ν)) the P-wave
/// modulus (linear elasticity), for the span between the bottom and top
/// particle layers: H is that span. Its mean shortening over about two
/// periods (T = 4H/√(M/ρ)) must match δ within 10 % (strain is 7 %, where
/// neo-Hookean and linear elasticity differ by a few percent).
#[test]
fn elastic_column_settlement() {
    let (ctx, _g) = gpu();
    let (rho, e, nu, h) = (1000.0, 1e4, 0.3, 0.2);
    let loaded = scene(&format!(
        "Scene(domain: (cells: (10, 24, 10), dx: 0.02, boundary_cells: 3, boundary: Slip),
          time: (dt: 4e-4, substeps: 20, frames: 1),
          bodies: [(name: \"column\", shape: Box(min: (0.05, 0.06, 0.05), max: (0.15, {top}, 0.15)),
                    material: NeoHookean(density: {rho}, youngs_modulus: {e}, poisson_ratio: {nu}))],
          output: (ply: false, npy: false, png: false))",
        top = 0.06 + h
    ));
    let mut s = sim(ctx, &loaded, f32_opts());
    let x0 = s.particles(ctx).unwrap().x;
    let top = above(&x0, 0.06 + h - 0.02);
    let bottom: Vec<usize> = (0..x0.len() / 3)
        .filter(|&i| x0[3 * i + 1] < 0.08)
        .collect();
    // Compression of the column between its top and bottom layers (the bottom
    // layer itself may sink into the wall layer by part of a cell).
    let span = |x: &[f64]| mean_y(x, &top) - mean_y(x, &bottom);
    let y0 = span(&x0);
    let m = e * (1.0 - nu) / ((1.0 + nu) * (1.0 - 2.0 * nu));
    // Weight above height y is ρ g (H − y); integrating the strain over the
    // span [y_b, y_t] between the layer centres gives the shortening.
    let (yb, yt) = (mean_y(&x0, &bottom) - 0.06, mean_y(&x0, &top) - 0.06);
    let delta = rho * 9.81 * ((h * yt - yt * yt / 2.0) - (h * yb - yb * yb / 2.0)) / m;
    let period = 4.0 * h / (m / rho).sqrt();
    let samples = (2.0 * period / (20.0 * 4e-4)).round() as usize;
    let mut sum = 0.0;
    for _ in 0..samples {
        advance(ctx, &mut s, 20);
        sum += y0 - span(&s.particles(ctx).unwrap().x);
    }
    let mean = sum / samples as f64;
    eprintln!("elastic column: mean settlement {mean:.5} m, closed form {delta:.5} m ({samples} samples over {:.3} s)", 2.0 * period);
    assert!(
        (mean - delta).abs() / delta < 0.10,
        "settlement {mean} vs {delta}"
    );
}

/// Elastic solids return: a neo-Hookean cube dropped on the floor is
/// flattened on impact and recovers its height afterwards (within 3 %).
#[test]
fn elastic_cube_returns() {
    let (ctx, _g) = gpu();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/elastic_cube.ron"
    ))
    .unwrap()
    // dt 5e-4 s (Courant number 0.11 for this stiffness) keeps the test short.
    .replace("dt: 2e-4, substeps: 50", "dt: 5e-4, substeps: 20");
    assert!(text.contains("dt: 5e-4"));
    let loaded = scene(&text);
    let mut s = sim(ctx, &loaded, f32_opts());
    let (lo, hi) = bounds(&s.particles(ctx).unwrap().x);
    let h0 = hi[1] - lo[1];
    let mut hmin = h0;
    let mut late = Vec::new();
    for i in 0..40 {
        advance(ctx, &mut s, 20);
        let (lo, hi) = bounds(&s.particles(ctx).unwrap().x);
        hmin = hmin.min(hi[1] - lo[1]);
        if i >= 30 {
            late.push(hi[1] - lo[1]);
        }
    }
    // Mean over the last 0.1 s, which averages the cube's own vibration.
    let h1 = late.iter().sum::<f64>() / late.len() as f64;
    eprintln!("elastic cube: height {h0:.4} → min {hmin:.4} on impact → {h1:.4} after");
    assert!(
        hmin < 0.97 * h0,
        "the cube never hit the floor hard (min height {hmin})"
    );
    assert!(
        (h1 - h0).abs() < 0.03 * h0,
        "height did not return: {h1} vs {h0}"
    );
}

/// Plastic keeps its deformation: the shipped squeeze scene compresses a
/// plasticine block from 0.25 m to a 0.16 m gap between two tools, holds it,
/// and withdraws the tools (widths between the 2nd and 98th percentiles of
/// x). Once the load is gone, a von Mises solid recovers only its elastic
/// strain, of order σ_Y/E = 4 %: its width must grow by 0–8 % from the held
/// width (measured 2.9 %). The same block made elastic (no yield) springs
/// back to within 5 % of its initial width (measured 2.9 %).
#[test]
fn plasticine_keeps_shape_elastic_does_not() {
    let (ctx, _g) = gpu();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenes/plasticine_squeeze.ron"
    ))
    .unwrap();
    // dt 4e-4 s (Courant number 0.45) instead of the scene's 2e-4 keeps the test short.
    let text = text.replace("dt: 2e-4, substeps: 50", "dt: 4e-4, substeps: 25");
    assert!(text.contains("dt: 4e-4"));
    let elastic = text.replace(
        "VonMises(density: 1000.0, youngs_modulus: 2.0e5, poisson_ratio: 0.3, yield_stress: 8.0e3)",
        "NeoHookean(density: 1000.0, youngs_modulus: 2.0e5, poisson_ratio: 0.3)",
    );
    assert_ne!(text, elastic);
    let mut widths = Vec::new();
    for t in [&text, &elastic] {
        let loaded = scene(t);
        let mut s = sim(ctx, &loaded, f32_opts());
        let w0 = width_x(&s.particles(ctx).unwrap().x);
        advance(ctx, &mut s, 750); // 0.3 s: squeeze and hold
        let held = width_x(&s.particles(ctx).unwrap().x);
        advance(ctx, &mut s, 250); // 0.4 s: withdrawn
        widths.push((w0, held, width_x(&s.particles(ctx).unwrap().x)));
    }
    eprintln!(
        "squeeze (initial, held, final width): plasticine {:?}, elastic {:?}",
        widths[0], widths[1]
    );
    let springback = widths[0].2 / widths[0].1 - 1.0;
    assert!(
        (0.0..0.08).contains(&springback),
        "plasticine sprang back by {springback} (σ_Y/E = 0.04)"
    );
    assert!(
        (widths[1].2 - widths[1].0).abs() < 0.05 * widths[1].0,
        "elastic block kept {}",
        widths[1].2
    );
}

/// Elastoplastic — closed form: in uniaxial compression between frictionless
/// platens, a von Mises solid flows at axial stress σ_Y, so the force on each
/// platen is σ_Y·A with A = A₀·L₀/L (plastic flow preserves volume); the
/// compression is quasi-static (ρv² is below 1 % of σ_Y).
///
/// Checked per frame of the plastic phase, not on the mean: every frame's
/// force is within 0.80–1.10 of σ_Y·A (measured 0.86–1.00, mean 0.91 at
/// dx = 2 cm, 8 cells across the block: the grid spreads the platen's
/// contact over a cell), and with σ_Y raised by 30 % every frame's force
/// rises by 1.30 ± 0.08 (the force follows the yield stress, not the
/// elastic stiffness, which is unchanged).
#[test]
fn von_mises_uniaxial_flow_stress() {
    let sy = 1.5e3;
    let low = von_mises_force_ratios(sy);
    let high = von_mises_force_ratios(1.3 * sy);
    eprintln!("von Mises flow stress: force / (σ_Y A) per frame {low:.3?}; σ_Y × 1.3: {high:.3?}");
    assert!(low.len() >= 6, "too few plastic frames: {low:?}");
    for (k, (a, b)) in low.iter().zip(&high).enumerate() {
        assert!((0.80..=1.10).contains(a), "frame {k}: force / σ_Y A = {a}");
        assert!((0.80..=1.10).contains(b), "frame {k} (σ_Y × 1.3): {b}");
        // Both ratios are over their own σ_Y: their quotient is the force's
        // rise over the 1.3 that σ_Y rose by.
        let rise = 1.3 * b / a;
        assert!(
            (rise - 1.3).abs() < 0.08,
            "frame {k}: the force rose {rise}× for σ_Y × 1.3"
        );
    }
}

/// Compresses a von Mises block of yield stress `sy` [Pa] between two
/// frictionless platens at 0.1 m/s each; returns each plastic frame's
/// platen force over σ_Y·A₀L₀/L.
fn von_mises_force_ratios(sy: f64) -> Vec<f64> {
    let (ctx, _g) = gpu();
    let (l0, v) = (0.16, 0.1);
    let c = 0.24; // block centre
    let gap0 = l0 + 0.004; // tool faces start 2 mm from the block
    let hx = 0.03; // tool half thickness
    let loaded = scene(&format!(
        "Scene(domain: (cells: (24, 24, 24), dx: 0.02, boundary_cells: 3), time: (dt: 2e-4, substeps: 50, frames: 12),
          gravity: (0.0, 0.0, 0.0),
          bodies: [(name: \"block\", shape: Box(min: ({lo}, {lo}, {lo}), max: ({hi}, {hi}, {hi})),
                    material: VonMises(density: 1000.0, youngs_modulus: 1e5, poisson_ratio: 0.3, yield_stress: {sy}))],
          tools: [
            (name: \"left\", shape: Box(half_extents: ({hx}, 0.15, 0.15)), pose: (position: ({xl}, {c}, {c})),
             motion: Constant(linear: ({v}, 0.0, 0.0)), friction: 0.0),
            (name: \"right\", shape: Box(half_extents: ({hx}, 0.15, 0.15)), pose: (position: ({xr}, {c}, {c})),
             motion: Constant(linear: (-{v}, 0.0, 0.0)), friction: 0.0)],
          output: (ply: false, npy: false, png: false))",
        lo = c - l0 / 2.0,
        hi = c + l0 / 2.0,
        xl = c - gap0 / 2.0 - hx,
        xr = c + gap0 / 2.0 + hx,
    ));
    let mut s = sim(ctx, &loaded, f32_opts());
    let a0 = l0 * l0;
    let dt = 2e-4;
    let mut ratios = Vec::new();
    for frame in 0..12 {
        advance(ctx, &mut s, 50);
        let f = s.diagnostics(ctx).unwrap().tool_forces;
        let t = (frame + 1) as f64 * 50.0 * dt;
        let gap = gap0 - 2.0 * v * t;
        if t > 0.06 {
            // Past contact (2 mm) and elastic loading (1.5 % strain).
            let force = 0.5 * (-f[0][0] + f[1][0]);
            let expect = sy * a0 * l0 / gap;
            ratios.push(force / expect);
        }
    }
    ratios
}

/// Collapses a Drucker–Prager column of radius and height 0.1 m (aspect ratio
/// a = 1) with friction angle `phi_deg` on a rough floor for 0.4 s; returns
/// (runout (r∞ − r₀)/r₀, height h∞/r₀, kinetic energy [J]).
fn sand_collapse(phi_deg: f64) -> (f64, f64, f64) {
    let (ctx, _g) = gpu();
    let (r0, h0) = (0.1, 0.1);
    let loaded = scene(&format!(
        "Scene(domain: (cells: (32, 12, 32), dx: 0.0208333333, boundary_cells: 3, wall_friction: 0.6),
          time: (dt: 4e-4, substeps: 50, frames: 20),
          bodies: [(name: \"sand\", shape: Cylinder(center: (0.3333333, {cy}, 0.3333333), radius: {r0}, half_height: {hh}),
                    material: DruckerPrager(density: 2200.0, youngs_modulus: 3.5e5, poisson_ratio: 0.3, friction_angle_deg: {phi_deg}))],
          output: (ply: false, npy: false, png: false))",
        cy = 0.0625 + h0 / 2.0,
        hh = h0 / 2.0
    ));
    let mut s = sim(ctx, &loaded, f32_opts());
    let floor = bounds(&s.particles(ctx).unwrap().x).0[1];
    advance(ctx, &mut s, 1000);
    let ke = s.diagnostics(ctx).unwrap().sums.kinetic;
    let x = s.particles(ctx).unwrap().x;
    // Runout: radius holding 99 % of the grains; height: highest grain over the initial bottom layer.
    let c = 0.3333333;
    let mut rs: Vec<f64> = x
        .chunks_exact(3)
        .map(|p| ((p[0] - c).powi(2) + (p[2] - c).powi(2)).sqrt())
        .collect();
    rs.sort_by(f64::total_cmp);
    let r_inf = rs[(0.99 * (rs.len() - 1) as f64) as usize];
    let h_inf = bounds(&x).1[1] - floor;
    ((r_inf - r0) / r0, h_inf / r0, ke)
}

/// Granular behaviour: a sand column collapses, comes to rest as a pile, and
/// friction decides the pile: at 30° it stands at least 1.5× as high as at
/// 10° and spreads less. (Against measurements, see the ignored test below.)
#[test]
fn sand_friction_angle_shapes_the_pile() {
    let (run30, h30, ke30) = sand_collapse(30.0);
    let (run10, h10, _) = sand_collapse(10.0);
    eprintln!("sand: 30° runout {run30:.3} height {h30:.3} KE {ke30:.2e} J; 10° runout {run10:.3} height {h10:.3}");
    assert!(h30 < 0.8, "the 30° column did not collapse (h∞/r₀ = {h30})");
    assert!(ke30 < 1e-3, "the pile is still moving: KE {ke30}");
    assert!(h30 > 1.5 * h10, "friction barely matters: {h30} vs {h10}");
    assert!(
        run30 < run10,
        "the 30° pile spread further ({run30}) than the 10° one ({run10})"
    );
}

/// Granular — published measurement: axisymmetric collapses of dry granular
/// columns (Lube, Huppert, Sparks & Hallworth 2004, J. Fluid Mech. 508) give,
/// for aspect ratio a = h₀/r₀ between 0.74 and 1.7, a deposit of runout
/// (r∞ − r₀)/r₀ = 1.24 a and height h∞/r₀ = 0.88 a^(1/6). A 30° Drucker–Prager
/// column with a = 1 should match both within 40 %.
///
/// KNOWN FAILURE, left visible: measured runout 0.70 (−43 %) and height 0.42
/// (−53 %); the model piles sand lower and spreads it less than the
/// experiments. See the note on issue 3.
#[test]
#[ignore = "known discrepancy with Lube et al. (2004); run with --ignored"]
fn sand_column_collapse_matches_lube_2004() {
    let (runout, height, ke) = sand_collapse(30.0);
    let a: f64 = 1.0;
    let (runout_ref, height_ref) = (1.24 * a, 0.88 * a.powf(1.0 / 6.0));
    eprintln!("sand (a = 1): runout {runout:.3} (Lube {runout_ref:.3}), height {height:.3} (Lube {height_ref:.3}), KE {ke:.2e} J");
    assert!(
        (runout - runout_ref).abs() <= 0.4 * runout_ref,
        "runout {runout} vs {runout_ref}"
    );
    assert!(
        (height - height_ref).abs() <= 0.4 * height_ref,
        "height {height} vs {height_ref}"
    );
}

/// Viscoplastic fluid — the slump test, closed form (Pashias, Boger,
/// Summers & Glenister 1996, J. Rheol. 40, the static analysis of a
/// cylinder of height H): material yields where the axial stress ρ g (H − z)
/// exceeds the uniaxial yield stress, here √3·τ_y (Ductile's yield is
/// ‖dev τ‖ ≤ √2·τ_y), so with x = √3·τ_y/(ρ g H) the column stands for
/// x ≥ 1 and otherwise slumps by s/H = 1 − x(1 − ln x).
///
/// Checked on both sides of the threshold τ_y = ρ g H/√3 ≈ 1.15·(ρ g H/2),
/// at 4.8 cells across the column's radius, after 0.3 s:
/// - at 1.5·(ρ g H/2) (30 % above) it stands: height above 94 % (measured
///   96.4 %; the rest is elastic settlement and the particles' spread);
/// - at 0.8·(ρ g H/2) (30 % below) it slumps below 90 % (measured 82.4 %);
/// - at every yield stress, below and far below (0.2·(ρ g H/2)), the final
///   height is at most the static prediction 1 − s/H plus 2 % (measured
///   82.4 % against 94.7 %, 24.5 % against 47.7 %): a released column's
///   inertia only adds slump to the static one.
#[test]
fn herschel_bulkley_yield_stress_decides_slump() {
    let (ctx, _g) = gpu();
    let (rho, h, g) = (1000.0, 0.15, 9.81);
    let scale = rho * g * h / 2.0;
    let mut heights = Vec::new();
    for ty in [1.5 * scale, 0.8 * scale, 0.2 * scale] {
        let loaded = scene(&format!(
            "Scene(domain: (cells: (24, 16, 24), dx: 0.02, boundary_cells: 3, wall_friction: 0.5),
              time: (dt: 4e-4, substeps: 50, frames: 1),
              bodies: [(name: \"paste\", shape: Cylinder(center: (0.24, {cy}, 0.24), radius: 0.06, half_height: {hh}),
                        material: HerschelBulkley(density: {rho}, bulk_modulus: 1e5, shear_modulus: 1e5, yield_stress: {ty}, consistency: 1.0, flow_index: 1.0))],
              output: (ply: false, npy: false, png: false))",
            cy = 0.06 + h / 2.0,
            hh = h / 2.0
        ));
        let mut s = sim(ctx, &loaded, f32_opts());
        let (lo0, hi0) = bounds(&s.particles(ctx).unwrap().x);
        advance(ctx, &mut s, 750);
        let (lo, hi) = bounds(&s.particles(ctx).unwrap().x);
        let height = (hi[1] - lo[1]) / (hi0[1] - lo0[1]);
        // Pashias et al.: static slump s/H = 1 − x(1 − ln x) for x < 1.
        let x: f64 = 3f64.sqrt() * ty / (rho * g * h);
        let static_height = if x >= 1.0 { 1.0 } else { x * (1.0 - x.ln()) };
        eprintln!(
            "Herschel–Bulkley τ_y = {:.2}·ρgH/2: height {height:.3}, static prediction {static_height:.3}",
            ty / scale
        );
        assert!(
            height <= static_height + 0.02,
            "τ_y = {ty} Pa: height {height} above the static {static_height}"
        );
        heights.push(height);
    }
    assert!(
        heights[0] > 0.94,
        "the column above the threshold slumped to {}",
        heights[0]
    );
    assert!(
        heights[1] < 0.9,
        "the column below the threshold stood at {}",
        heights[1]
    );
}

/// Snow compacts: a snow block dropped on the floor hardens by plastic
/// compression (mean J_p falls below 0.99), unlike an elastic block, and keeps it.
#[test]
fn snow_compacts_on_impact() {
    let (ctx, _g) = gpu();
    let loaded = scene(
        "Scene(domain: (cells: (24, 24, 24), dx: 0.02, boundary_cells: 3, wall_friction: 0.5),
          time: (dt: 2e-4, substeps: 50, frames: 1),
          bodies: [(name: \"snow\", shape: Box(min: (0.18, 0.2, 0.18), max: (0.3, 0.3, 0.3)), velocity: (0.0, -3.0, 0.0),
                    material: Snow(density: 400.0, youngs_modulus: 1.4e5, poisson_ratio: 0.2))],
          output: (ply: false, npy: false, png: false))",
    );
    let mut s = sim(ctx, &loaded, f32_opts());
    advance(ctx, &mut s, 1000);
    let st = s.state(ctx).unwrap();
    let jp = st.aux.iter().sum::<f64>() / st.aux.len() as f64;
    eprintln!("snow: mean J_p after impact {jp:.4}");
    assert!(jp < 0.99, "snow did not compact: mean J_p = {jp}");
}

/// Contact with friction — Coulomb's law decides a grasp. The shipped
/// `grasp.ron` gripper squeezes a 6 cm elastic block (E = 50 kPa) standing
/// on a post by 2.5 mm per side. The pads reach past the block's top and
/// bottom, so only friction can carry it: the grasp holds when 2μN exceeds
/// m g ≈ 2.1 N, N the squeeze force on each pad. The estimate
/// N ≈ E·ε·A ≈ 12 N puts the threshold at μ ≈ 0.09; the simulated squeeze
/// is softer, and the measured threshold lies between μ = 0.12 (the block
/// drops: it ends 9 cm from the gripper) and μ = 0.2 (held: 0.9 cm),
/// with 0.04 and 0.07 dropping and 0.4 holding too.
///
/// Checked close on both sides: at μ = 0.12 the block stays behind (more
/// than 3 cm from the gripper), at μ = 0.2 it rises with the gripper
/// (8 cm ± 1.5 cm, within 1.5 cm of its centre), as at the scene's μ = 2
/// (8 cm ± 1 cm). A friction force wrong by a factor of 2 either way
/// moves the threshold out of that bracket.
#[test]
fn gripper_lifts_a_block_only_with_friction() {
    let (ctx, _g) = gpu();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenes/grasp.ron")).unwrap();
    let run = |text: &str| {
        let loaded = scene(text);
        assert_eq!(
            loaded.scene.tools.len(),
            3,
            "the post, and two fingers for the gripper"
        );
        let mut s = sim(ctx, &loaded, f32_opts());
        let x0 = s.particles(ctx).unwrap().x;
        advance(ctx, &mut s, 1750);
        let x1 = s.particles(ctx).unwrap().x;
        let n = (x1.len() / 3) as f64;
        let com = |x: &[f64]| -> [f64; 3] {
            let mut c = [0.0; 3];
            for p in x.chunks_exact(3) {
                for k in 0..3 {
                    c[k] += p[k] / n;
                }
            }
            c
        };
        let (c0, c1) = (com(&x0), com(&x1));
        // The gripper frame ends at (0.2, 0.19, 0.2) m; the block starts centred 8 cm below it.
        let off = ((c1[0] - 0.2).powi(2) + (c1[1] - 0.19).powi(2) + (c1[2] - 0.2).powi(2)).sqrt();
        (c1[1] - c0[1], off)
    };
    let with_mu = |mu: &str| {
        let t = text.replace("friction: 2.0,", &format!("friction: {mu},"));
        assert_ne!(t, text);
        run(&t)
    };
    let (rise, off) = run(&text);
    let (rise_hi, off_hi) = with_mu("0.2");
    let (rise_lo, off_lo) = with_mu("0.12");
    eprintln!(
        "grasp: μ = 2: block rises {rise:.4} m, ends {off:.4} m from the gripper; μ = 0.2: {rise_hi:.4} m, {off_hi:.4} m; μ = 0.12: {rise_lo:.4} m, {off_lo:.4} m"
    );
    assert!(
        (rise - 0.08).abs() < 0.01,
        "held block rose {rise} m, the gripper 0.08 m"
    );
    assert!(
        off < 0.015,
        "held block ended {off} m from the gripper's centre"
    );
    assert!(
        (rise_hi - 0.08).abs() < 0.015 && off_hi < 0.015,
        "μ = 0.2 did not hold the block: rose {rise_hi} m, ended {off_hi} m from the gripper"
    );
    assert!(
        off_lo > 0.03,
        "μ = 0.12 held the block ({off_lo} m from the gripper's centre)"
    );
}
