//! Gradient checks (f64 where the adapter has SHADER_F64): adjoints against
//! central finite differences along random directions, on small scenes in
//! which contact and friction are active during the window.

mod common;

use common::{gpu, scene};
use ductile::gpu::Precision;
use ductile::sim::gradcheck::{check_group, ParamGroup};
use ductile::sim::{Rollout, TapeOptions};

/// A small cube falling onto a rising sphere tool, with a loss on its final
/// centre of mass, its running mean velocity and the mass outside a box.
fn contact_scene(material: &str, steps: u32) -> String {
    format!(
        r#"Scene(
    name: "gradcheck",
    domain: (cells: (16, 16, 16), dx: 0.0625, boundary_cells: 2, boundary: Separate, wall_friction: 0.3),
    time: (dt: 1e-3, substeps: {steps}, frames: 1),
    bodies: [
        (
            name: "cube",
            shape: Box(min: (0.40, 0.40, 0.40), max: (0.60, 0.60, 0.60)),
            particles_per_cell: 8,
            material: {material},
            velocity: (0.3, -2.0, 0.1),
        ),
    ],
    tools: [
        (
            name: "ball",
            shape: Sphere(radius: 0.15),
            pose: (position: (0.47, 0.2, 0.5)),
            motion: Constant(linear: (0.2, 0.5, 0.0)),
            friction: 0.4,
            softness: 0.02,
        ),
    ],
    loss: [
        (kind: CenterOfMass(target: (0.55, 0.5, 0.52)), body: 0),
        (kind: CenterOfMassVelocity(target: (0.0, 0.0, 0.0)), body: 0, weight: 0.1, when: Running(from: 10, to: {steps})),
        (kind: MassOutside(min: (0.3, 0.42, 0.3), max: (0.7, 0.8, 0.7), softness: 0.03), body: 0),
    ],
)"#
    )
}

#[test]
fn neo_hookean_rollout_gradients_match_finite_differences() {
    let (ctx, _g) = gpu();
    let loaded = scene(&contact_scene(
        "NeoHookean(density: 1000.0, youngs_modulus: 5.0e3, poisson_ratio: 0.3)",
        30,
    ));
    let mut r = Rollout::new(
        ctx,
        &loaded,
        Some(Precision::F64),
        None,
        &TapeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let loss = r.forward(ctx).unwrap();
    let g = r.backward(ctx).unwrap();
    eprintln!("loss {loss} terms {:?} plan {}", g.terms, r.plan.describe());
    for (i, group) in [
        ParamGroup::InitialVelocity,
        ParamGroup::InitialPosition,
        ParamGroup::Control,
        ParamGroup::Material(0),
        ParamGroup::ToolContact,
    ]
    .into_iter()
    .enumerate()
    {
        let c = check_group(
            ctx,
            &mut r,
            &g,
            group,
            &[1e-3, 1e-4, 1e-5, 1e-6],
            7 + i as u64,
        )
        .unwrap();
        eprintln!("{:?}: adjoint {:e}", group, c.adjoint);
        for s in &c.samples {
            eprintln!("   eps {:e} fd {:e} rel {:e}", s.eps, s.fd, s.rel_error);
        }
    }
}
