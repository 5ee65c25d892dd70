//! Each transfer kernel's adjoint alone, on a random particle state (f64):
//! P2G (`p2g_adj`), the grid update with tool contact, friction and domain
//! walls (`grid_update_adj` and the tool reductions), and G2P (`g2p_adj` with
//! its grid side `g2p_grid_adj`), through `ductile::sim::stages`. The
//! material functions inside G2P are checked on their own in
//! `kernel_adjoints`; whole substeps and rollouts in `gradients`.
//!
//! Method: a random seed w on the stage's outputs and, per input group, a
//! random direction d over every particle (or reached node); the central
//! difference of ⟨w, stage(x ± εd)⟩ must match ⟨adjoint, d⟩ for the best ε
//! of 1e-3..1e-6 (times each group's scale). The state: a cube of 256
//! particles, jittered off the lattice, with random velocities, C, F =
//! I + 0.15·R, J and τ, moving into the floor's wall layer while the
//! sphere tool comes down into it faster (so both contacts are active).
//!
//! Tolerance: relative error 1e-6 (measured: at most 1e-8). A wrong term in
//! a transfer adjoint changes the directional derivative by order one.

use crate::common::{gpu, scene};
use ductile::gpu::Precision;
use ductile::sim::gradcheck::Rng;
use ductile::sim::stages::STATE_STRIDE;
use ductile::sim::{Rollout, TapeOptions};

const TOL: f64 = 1e-6;
const STEPS: [f64; 4] = [1e-3, 1e-4, 1e-5, 1e-6];
const DX: f64 = 0.0625;
const NODES: usize = 17;

fn stage_rollout(material: &str) -> Option<Rollout> {
    let (ctx, _g) = gpu();
    crate::common::require_f64(ctx);
    let text = format!(
        r#"Scene(
    name: "stages",
    domain: (cells: (16, 16, 16), dx: {DX}, boundary_cells: 2, boundary: Separate, wall_friction: 0.3),
    time: (dt: 1e-3, substeps: 1, frames: 1),
    bodies: [
        (
            name: "cube",
            shape: Box(min: (0.40, 0.13, 0.40), max: (0.60, 0.33, 0.60)),
            particles_per_cell: 8,
            material: {material},
            velocity: (0.3, -0.3, 0.1),
        ),
    ],
    tools: [
        (
            name: "ball",
            shape: Sphere(radius: 0.15),
            pose: (position: (0.45, 0.45, 0.5)),
            motion: Constant(linear: (0.2, -2.0, 0.0), angular_deg: (0.0, 0.0, 30.0)),
            friction: 0.4,
            softness: 0.03,
        ),
    ],
    loss: [(kind: CenterOfMass(target: (0.55, 0.5, 0.52)), body: 0)],
)"#
    );
    let loaded = scene(&text);
    Some(
        Rollout::new(
            ctx,
            &loaded,
            Some(Precision::F64),
            Some(1),
            &TapeOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// A random state in the stage layout (x, v, C, F, aux, τ per particle).
fn random_state(r: &Rollout, rng: &mut Rng, fluid: bool) -> Vec<f64> {
    let init = r.initial_state();
    let n = init.aux.len();
    let mut s = vec![0.0; STATE_STRIDE * n];
    for p in 0..n {
        let o = STATE_STRIDE * p;
        for a in 0..3 {
            s[o + a] = init.x[3 * p + a] + 0.2 * DX * (2.0 * rng.uniform() - 1.0);
            s[o + 3 + a] = init.v[3 * p + a] + 0.5 * rng.normal();
        }
        for j in 0..9 {
            let eye = if j % 4 == 0 { 1.0 } else { 0.0 };
            s[o + 6 + j] = 2.0 * rng.normal();
            s[o + 15 + j] = eye + 0.15 * (2.0 * rng.uniform() - 1.0);
            s[o + 25 + j] = 200.0 * rng.normal();
        }
        s[o + 24] = if fluid {
            1.0 + 0.05 * (2.0 * rng.uniform() - 1.0)
        } else {
            init.aux[p]
        };
    }
    s
}

/// A random direction over `slots` of every particle, times `scale`.
fn state_direction(n: usize, slots: std::ops::Range<usize>, scale: f64, rng: &mut Rng) -> Vec<f64> {
    let mut d = vec![0.0; STATE_STRIDE * n];
    for p in 0..n {
        for k in slots.clone() {
            d[STATE_STRIDE * p + k] = scale * rng.normal();
        }
    }
    d
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(x: &[f64], e: f64, d: &[f64]) -> Vec<f64> {
    x.iter().zip(d).map(|(v, dv)| v + e * dv).collect()
}

/// Checks the directional derivative `ad` against central differences of
/// `loss(ε)` = ⟨w, stage(x + εd)⟩, and requires it to be non-zero.
fn check(what: &str, ad: f64, loss: impl FnMut(f64) -> f64) {
    let best = best_error(what, ad, loss);
    assert!(
        best < TOL,
        "{what}: adjoint {ad:e}, best relative error {best:e}"
    );
}

/// The smallest relative error of `ad` against the central differences of
/// `loss` over [`STEPS`] (a zero derivative fails).
fn best_error(what: &str, ad: f64, mut loss: impl FnMut(f64) -> f64) -> f64 {
    let value = loss(0.0);
    let floor = 1e-9 * value.abs().max(1.0);
    let mut best = f64::INFINITY;
    let mut fds = Vec::new();
    for e in STEPS {
        let fd = (loss(e) - loss(-e)) / (2.0 * e);
        best = best.min((ad - fd).abs() / ad.abs().max(fd.abs()).max(floor));
        fds.push(fd);
    }
    eprintln!("{what}: adjoint {ad:+.9e}, differences {fds:.9?}, best relative error {best:.1e}");
    assert!(
        ad.abs() > 1e3 * floor,
        "{what}: the derivative is zero, the check would be vacuous"
    );
    best
}

/// Nodes the particles reach (mass > 0), as a mask over 4 Reals per node.
fn reached(raw: &[f64], with_w: bool) -> Vec<f64> {
    let mut m = vec![0.0; raw.len()];
    for i in 0..raw.len() / 4 {
        if raw[4 * i + 3] > 0.0 {
            for k in 0..if with_w { 4 } else { 3 } {
                m[4 * i + k] = 1.0;
            }
        }
    }
    m
}

fn masked_random(mask: &[f64], rng: &mut Rng) -> Vec<f64> {
    mask.iter().map(|m| m * rng.normal()).collect()
}

/// The P2G groups of the state: x, v, C, τ (F and aux enter P2G only through τ).
const P2G_GROUPS: [(&str, std::ops::Range<usize>, f64); 4] = [
    ("x", 0..3, 0.01),
    ("v", 3..6, 1.0),
    ("C", 6..15, 1.0),
    ("tau", 25..34, 100.0),
];

/// `p2g_adj` alone: ⟨w, (P_i, m_i)⟩ against central differences.
#[test]
fn p2g_adjoint_alone() {
    let Some(mut r) =
        stage_rollout("NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)")
    else {
        return;
    };
    let (ctx, _g) = gpu();
    let mut rng = Rng::new(0x57A6_0001);
    let s = random_state(&r, &mut rng, false);
    let n = s.len() / STATE_STRIDE;
    let (raw, _) = r.stage_p2g(ctx, &s).unwrap();
    let w = masked_random(&reached(&raw, true), &mut rng);
    let adj = r.stage_p2g_adjoint(ctx, &s, &w).unwrap();
    // A grid of the wrong size is refused, not written.
    assert!(r.stage_p2g_adjoint(ctx, &s, &w[4..]).is_err());
    assert!(r.stage_p2g(ctx, &s[1..]).is_err());
    for (name, slots, scale) in P2G_GROUPS {
        let d = state_direction(n, slots, scale, &mut rng);
        check(&format!("P2G {name}"), dot(&adj.state, &d), |e| {
            dot(&w, &r.stage_p2g(ctx, &axpy(&s, e, &d)).unwrap().0)
        });
    }
}

/// `grid_update_adj` and the tool reductions, through P2G ∘ grid update (P2G
/// is checked alone above): state, substep 0's tool controls, and the tool's
/// friction and softness, with the tool and the floor wall in contact.
#[test]
fn grid_update_adjoint_with_tool_and_walls() {
    let Some(mut r) =
        stage_rollout("NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)")
    else {
        return;
    };
    let (ctx, _g) = gpu();
    let mut rng = Rng::new(0x57A6_0002);
    let s = random_state(&r, &mut rng, false);
    let n = s.len() / STATE_STRIDE;
    let (raw, _) = r.stage_p2g(ctx, &s).unwrap();
    let mask = reached(&raw, false);
    // Nodes in the floor's wall layer (y index < 2 boundary cells) carry mass.
    let in_wall = (0..raw.len() / 4)
        .filter(|&i| raw[4 * i + 3] > 0.0 && (i / NODES) % NODES < 2)
        .count();
    assert!(
        in_wall > 0,
        "the stencils must reach the floor's wall layer"
    );
    let w = masked_random(&mask, &mut rng);
    let ga = r.stage_grid_update_adjoint(ctx, &s, &w).unwrap();
    assert!(ga.tool_params[0] != 0.0, "the tool must be in contact");
    let pa = r.stage_p2g_adjoint(ctx, &s, &ga.grid).unwrap();
    for (name, slots, scale) in P2G_GROUPS {
        let d = state_direction(n, slots, scale, &mut rng);
        check(
            &format!("P2G + grid update {name}"),
            dot(&pa.state, &d),
            |e| dot(&w, &r.stage_p2g(ctx, &axpy(&s, e, &d)).unwrap().1),
        );
    }
    // Substep 0's controls of tool 0: position, quaternion, linear and angular velocity.
    let base = r.control_values().to_vec();
    let mut d = vec![0.0; base.len()];
    for (k, scale) in [(0..3, 0.01), (4..8, 0.1), (8..11, 1.0), (12..15, 1.0)] {
        for i in k {
            d[i] = scale * rng.normal();
        }
    }
    check(
        "grid update tool controls",
        dot(&ga.control, &d[..16]),
        |e| {
            r.set_control_values(ctx, &axpy(&base, e, &d)).unwrap();
            let v = dot(&w, &r.stage_p2g(ctx, &s).unwrap().1);
            r.set_control_values(ctx, &base).unwrap();
            v
        },
    );
    let [mu, soft] = r.tool_params()[0];
    for (name, d) in [("friction", [0.1, 0.0]), ("softness", [0.0, 0.005])] {
        check(
            &format!("grid update tool {name}"),
            dot(&ga.tool_params, &d),
            |e| {
                r.set_tool_params(ctx, 0, mu + e * d[0], soft + e * d[1])
                    .unwrap();
                let v = dot(&w, &r.stage_p2g(ctx, &s).unwrap().1);
                r.set_tool_params(ctx, 0, mu, soft).unwrap();
                v
            },
        );
    }
}

/// `g2p_adj` and `g2p_grid_adj` alone: ⟨w, state_{t+1}⟩ with respect to
/// x_t, F_t, aux_t and the grid velocities, for an elastic, a yielding and
/// a fluid material.
#[test]
fn g2p_adjoint_alone() {
    for (k, material) in [
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        "VonMises(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3, yield_stress: 150.0)",
        "Fluid(density: 1000.0, bulk_modulus: 2.0e3, gamma: 7.0, viscosity: 0.5)",
    ]
    .iter()
    .enumerate()
    {
        let Some(mut r) = stage_rollout(material) else {
            return;
        };
        let (ctx, _g) = gpu();
        let mut rng = Rng::new(0x57A6_0003 + k as u64);
        let fluid = material.starts_with("Fluid");
        let s = random_state(&r, &mut rng, fluid);
        let n = s.len() / STATE_STRIDE;
        let (raw, gv) = r.stage_p2g(ctx, &s).unwrap();
        let mask = reached(&raw, false);
        let w: Vec<f64> = (0..s.len()).map(|_| rng.normal()).collect();
        let adj = r.stage_g2p_adjoint(ctx, &s, &gv, &w).unwrap();
        let model = material.split('(').next().unwrap();
        let mut groups = vec![("x", 0..3, 0.01)];
        if fluid {
            groups.push(("J", 24..25, 0.01));
        } else {
            groups.push(("F", 15..24, 0.1));
        }
        for (name, slots, scale) in groups {
            let d = state_direction(n, slots, scale, &mut rng);
            check(&format!("G2P {model} {name}"), dot(&adj.state, &d), |e| {
                dot(&w, &r.stage_g2p(ctx, &axpy(&s, e, &d), &gv).unwrap())
            });
        }
        let d = masked_random(&mask, &mut rng);
        check(
            &format!("G2P {model} grid velocity"),
            dot(&adj.grid, &d),
            |e| dot(&w, &r.stage_g2p(ctx, &s, &axpy(&gv, e, &d)).unwrap()),
        );
    }
}

/// The stage check is tied to the adjoint: with a 5 % error planted in the
/// stress adjoint that `g2p_adj` calls (`Simulation::plant_adjoint_error`),
/// the G2P check of F fails its 1e-6 tolerance (measured: 4.8e-2), and
/// the exact adjoint passes again once the switch is reset.
#[test]
fn a_planted_stress_adjoint_error_fails_the_g2p_check() {
    let Some(mut r) =
        stage_rollout("NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)")
    else {
        return;
    };
    let (ctx, _g) = gpu();
    let mut rng = Rng::new(0x57A6_0BAD);
    let s = random_state(&r, &mut rng, false);
    let n = s.len() / STATE_STRIDE;
    let (_, gv) = r.stage_p2g(ctx, &s).unwrap();
    let w: Vec<f64> = (0..s.len()).map(|_| rng.normal()).collect();
    let d = state_direction(n, 15..24, 0.1, &mut rng);
    r.sim.plant_adjoint_error(ctx, 1.05);
    let bad = r.stage_g2p_adjoint(ctx, &s, &gv, &w).unwrap();
    let mut loss = |e: f64| dot(&w, &r.stage_g2p(ctx, &axpy(&s, e, &d), &gv).unwrap());
    let best = best_error("planted G2P F", dot(&bad.state, &d), &mut loss);
    assert!(best > TOL, "a planted 5 % error passed: {best:e}");
    r.sim.plant_adjoint_error(ctx, 1.0);
    let good = r.stage_g2p_adjoint(ctx, &s, &gv, &w).unwrap();
    check("G2P F, exact again", dot(&good.state, &d), |e| {
        dot(&w, &r.stage_g2p(ctx, &axpy(&s, e, &d), &gv).unwrap())
    });
}
