//! MPM as a solver of the world ([`crate::world::Solver`]): its model, its
//! two states, its stages (P2G, G2P, diagnostics), its adjoint, and the
//! external force per grid node that couplings add into.
//!
//! - Stored state: x, v, C, F, aux (25 Reals per particle; τ is recomputed
//!   from F, C and aux on restore).
//! - Replay cache: the P2G result (binning and grids) the adjoint reads.
//! - Gradient readout: ∂L/∂state_0 and the material chain rule from the
//!   kernels' (μ, λ, a, b, c, mass, volume) to each body's scene parameters.

use super::adjoint::{MpmAdjoint, ADJ_STRIDE, PGRAD_STRIDE};
use super::diagnostics::Diagnostics as DiagKernels;
use super::g2p::G2p;
use super::p2g::P2g;
use super::state::entries_from_gpu;
use super::{MpmModel, MpmState};
use crate::error::SimError;
use crate::world::{PointBody, PointSet, Solver, SolverGradients, WorldBuffers};
use ductile_gpu::{read_buffer, storage_buffer_zeroed, BufferUse, GpuContext, GpuTimer, Precision};
use ductile_scene::Material;
use std::any::Any;

/// Reals per particle in a stored state: x 3, v 3, C 9, F 9, aux 1 (τ is recomputed).
pub const STORED_REALS: u64 = 25;

/// Adjoints of one body's parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyGradients {
    /// ∂L/∂μ (Lamé μ; fluids: viscosity [Pa·s]).
    pub mu: f64,
    /// ∂L/∂λ (Lamé λ; fluids: bulk modulus K).
    pub lambda: f64,
    /// ∂L/∂(model parameter a): von Mises and Herschel–Bulkley yield stress [Pa]; Drucker–Prager α;
    /// fluids' Tait exponent γ; snow's critical compression θ_c.
    pub a: f64,
    /// ∂L/∂(model parameter b): Herschel–Bulkley consistency k [Pa·sⁿ];
    /// Drucker–Prager volumetric shift ε_c of the cohesion; snow's critical stretch θ_s.
    pub b: f64,
    /// ∂L/∂(model parameter c): Herschel–Bulkley flow index n; snow's hardening ξ.
    pub c: f64,
    /// ∂L/∂(cohesion) [1/Pa] (Drucker–Prager).
    pub cohesion: f64,
    /// ∂L/∂K [1/Pa] (Herschel–Bulkley bulk modulus).
    pub bulk_modulus: f64,
    /// ∂L/∂G [1/Pa] (Herschel–Bulkley shear modulus).
    pub shear_modulus: f64,
    /// ∂L/∂(friction angle) [1/degree] (Drucker–Prager).
    pub friction_angle_deg: f64,
    /// ∂L/∂(particle mass) [1/kg].
    pub particle_mass: f64,
    /// ∂L/∂(particle volume) [1/m³].
    pub particle_volume: f64,
    /// ∂L/∂E (elastic and elastoplastic models).
    pub youngs_modulus: f64,
    /// ∂L/∂ν.
    pub poisson_ratio: f64,
    /// ∂L/∂ρ, through the particle mass.
    pub density: f64,
}

/// MPM's gradients in its own types.
#[derive(Clone, Debug, Default)]
pub struct MpmGradients {
    /// ∂L/∂x_0 [1/m], 3 per particle.
    pub x0: Vec<f64>,
    /// ∂L/∂v_0 [s/m], 3 per particle.
    pub v0: Vec<f64>,
    /// ∂L/∂C_0 [s], 9 per particle (column-major).
    pub c0: Vec<f64>,
    /// ∂L/∂F_0, 9 per particle (column-major).
    pub f0: Vec<f64>,
    /// ∂L/∂aux_0, 1 per particle.
    pub aux0: Vec<f64>,
    /// Per body.
    pub bodies: Vec<BodyGradients>,
}

/// The MLS-MPM solver.
pub struct MpmSolver {
    /// Static buffers.
    pub model: MpmModel,
    /// Ping-pong states; the world's parity selects the current one.
    pub states: [MpmState; 2],
    /// P2G and the grid update.
    pub p2g: P2g,
    /// G2P and the rigid projection.
    pub g2p: G2p,
    /// Sums, render packing.
    pub diag: DiagKernels,
    /// The couplings' force on each grid node [N], 4 Reals per node (the last
    /// unused), added in the grid update once a coupling has enabled it
    /// ([`Solver::enable_coupling_inputs`]); until then a placeholder of one
    /// node that no kernel reads.
    pub ext_force: wgpu::Buffer,
    /// Whether couplings push grid nodes (`ext_force` allocated and read).
    pub coupled: bool,
    /// The adjoint, once gradients are enabled.
    pub adjoint: Option<MpmAdjoint>,
    /// Body index of each particle.
    pub body_index: Vec<u32>,
    /// Each body's material, as last set.
    pub materials: Vec<Material>,
    /// Each body's particle volume [m³].
    pub particle_volumes: Vec<f64>,
    precision: Precision,
}

impl MpmSolver {
    /// The external-force placeholder a solver starts with (one node's worth,
    /// never read until a coupling enables the real buffer).
    pub fn external_force_placeholder(
        ctx: &GpuContext,
        model: &MpmModel,
    ) -> Result<wgpu::Buffer, SimError> {
        let bytes = 4 * model.info.precision.bytes();
        Ok(storage_buffer_zeroed(
            ctx,
            "grid external force (none)",
            bytes,
            BufferUse::Storage,
        )?)
    }

    /// Assembles the solver from its built parts.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        model: MpmModel,
        states: [MpmState; 2],
        p2g: P2g,
        g2p: G2p,
        diag: DiagKernels,
        ext_force: wgpu::Buffer,
        body_index: Vec<u32>,
        materials: Vec<Material>,
        particle_volumes: Vec<f64>,
    ) -> Self {
        let precision = model.info.precision;
        MpmSolver {
            model,
            states,
            p2g,
            g2p,
            diag,
            ext_force,
            coupled: false,
            adjoint: None,
            body_index,
            materials,
            particle_volumes,
            precision,
        }
    }

    /// A copy of the scene uniform (`Params`: domain grid, dt, tools, control
    /// steps) whose particle count is `count`: what another solver's
    /// [`PointSet::params`] binds so that the loss kernels run on its points.
    pub fn point_params(&self, ctx: &GpuContext, count: u32) -> wgpu::Buffer {
        let mut bytes = self.model.params_host.clone();
        let at = super::model::PARAMS_PARTICLES_BYTE;
        bytes[at..at + 4].copy_from_slice(&count.to_le_bytes());
        ductile_gpu::uniform_buffer(ctx, "point-set params", &bytes)
    }

    /// Number of particles.
    pub fn particle_count(&self) -> u32 {
        self.model.info.particles
    }

    /// The adjoint, or an error when gradients are not enabled.
    pub fn adjoint(&self) -> Result<&MpmAdjoint, SimError> {
        self.adjoint
            .as_ref()
            .ok_or_else(|| SimError::Other("MPM gradients are not enabled".into()))
    }

    /// Reads ∂L/∂state_0 (adjoint buffer `cur`) and each body's parameter
    /// gradients, with the chain rule from the kernels' parameters to the scene's.
    pub fn read_typed_gradients(
        &self,
        ctx: &GpuContext,
        cur: usize,
    ) -> Result<MpmGradients, SimError> {
        let adjoint = self.adjoint()?;
        let p = self.precision;
        let n = self.particle_count() as usize;
        let get = |b: &wgpu::Buffer, len: usize| -> Result<Vec<f64>, SimError> {
            Ok(ductile_gpu::bytes_to_reals(
                &read_buffer(ctx, b, len as u64 * p.bytes())?,
                p,
            ))
        };
        let adj = entries_from_gpu(
            &get(&adjoint.adj[cur], ADJ_STRIDE as usize * n)?,
            ADJ_STRIDE as usize,
        );
        let mut g = MpmGradients {
            x0: Vec::with_capacity(3 * n),
            v0: Vec::with_capacity(3 * n),
            c0: Vec::with_capacity(9 * n),
            f0: Vec::with_capacity(9 * n),
            aux0: Vec::with_capacity(n),
            bodies: Vec::new(),
        };
        for i in 0..n {
            let o = ADJ_STRIDE as usize * i;
            g.x0.extend_from_slice(&adj[o..o + 3]);
            g.v0.extend_from_slice(&adj[o + 3..o + 6]);
            g.c0.extend_from_slice(&adj[o + 6..o + 15]);
            g.f0.extend_from_slice(&adj[o + 15..o + 24]);
            g.aux0.push(adj[o + 24]);
        }
        let pg = get(&adjoint.pgrad, PGRAD_STRIDE as usize * n)?;
        for (b, (_, range)) in self.model.info.bodies.iter().enumerate() {
            let mut bg = BodyGradients::default();
            for i in range.clone() {
                let o = PGRAD_STRIDE as usize * i as usize;
                bg.mu += pg[o];
                bg.lambda += pg[o + 1];
                bg.a += pg[o + 2];
                bg.particle_mass += pg[o + 3];
                bg.particle_volume += pg[o + 4];
                bg.b += pg[o + 5];
                bg.c += pg[o + 6];
            }
            material_chain_rule(&self.materials[b], self.particle_volumes[b], &mut bg);
            g.bodies.push(bg);
        }
        Ok(g)
    }

    fn stored_fields(s: &MpmState) -> [(&wgpu::Buffer, u64); 5] {
        [(&s.x, 3), (&s.v, 3), (&s.c, 9), (&s.f, 9), (&s.aux, 1)]
    }
}

/// Fills the scene-parameter gradients of `g` (E, ν, density, cohesion,
/// friction angle, K and G) from its kernel-parameter gradients (μ, λ, a,
/// b, particle mass), for a body of material `m` with particle volume `volume` [m³].
pub fn material_chain_rule(m: &Material, volume: f64, g: &mut BodyGradients) {
    g.density = g.particle_mass * volume;
    if let Material::DruckerPrager {
        youngs_modulus,
        poisson_ratio,
        cohesion,
        ..
    } = *m
    {
        // ε_c = cohesion / K with K = λ + 2μ/3: the shift also depends on μ and λ.
        let (mu, la) = crate::material::lame(youngs_modulus, poisson_ratio);
        let k = la + 2.0 * mu / 3.0;
        g.cohesion = g.b / k;
        g.lambda -= g.b * cohesion / (k * k);
        g.mu -= g.b * cohesion * 2.0 / (3.0 * k * k);
    }
    if let Material::HerschelBulkley { .. } = m {
        // μ = G, λ = K − 2G/3.
        g.bulk_modulus = g.lambda;
        g.shear_modulus = g.mu - 2.0 * g.lambda / 3.0;
    }
    if let Some((e, nu)) = elastic_constants(m) {
        let d = (1.0 + nu) * (1.0 - 2.0 * nu);
        let dmu_de = 1.0 / (2.0 * (1.0 + nu));
        let dla_de = nu / d;
        let dmu_dnu = -e / (2.0 * (1.0 + nu) * (1.0 + nu));
        let dla_dnu = e * (1.0 + 2.0 * nu * nu) / (d * d);
        g.youngs_modulus = g.mu * dmu_de + g.lambda * dla_de;
        g.poisson_ratio = g.mu * dmu_dnu + g.lambda * dla_dnu;
    }
    if let Material::DruckerPrager {
        friction_angle_deg, ..
    } = *m
    {
        // α = √(2/3)·2 sin φ / (3 − sin φ): dα/dφ = √(2/3)·6 cos φ / (3 − sin φ)².
        let phi = friction_angle_deg.to_radians();
        let da = (2.0f64 / 3.0).sqrt() * 6.0 * phi.cos() / (3.0 - phi.sin()).powi(2);
        g.friction_angle_deg = g.a * da * std::f64::consts::PI / 180.0;
    }
}

/// (E, ν) of the models parameterised by them.
pub fn elastic_constants(m: &Material) -> Option<(f64, f64)> {
    match *m {
        Material::FixedCorotated {
            youngs_modulus,
            poisson_ratio,
            ..
        }
        | Material::NeoHookean {
            youngs_modulus,
            poisson_ratio,
            ..
        }
        | Material::VonMises {
            youngs_modulus,
            poisson_ratio,
            ..
        }
        | Material::Snow {
            youngs_modulus,
            poisson_ratio,
            ..
        }
        | Material::DruckerPrager {
            youngs_modulus,
            poisson_ratio,
            ..
        } => Some((youngs_modulus, poisson_ratio)),
        _ => None,
    }
}

impl Solver for MpmSolver {
    fn name(&self) -> &str {
        "mpm"
    }

    fn encode_substep(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        timer: &mut GpuTimer,
    ) {
        self.p2g.encode(enc, parity, timer);
        self.g2p.encode(enc, parity, timer);
    }

    fn encode_clear_coupling_inputs(&self, enc: &mut wgpu::CommandEncoder) {
        if self.coupled {
            enc.clear_buffer(&self.ext_force, 0, None);
        }
    }

    fn enable_coupling_inputs(&mut self, ctx: &GpuContext) -> Result<(), SimError> {
        if self.coupled {
            return Ok(());
        }
        if self.adjoint.is_some() {
            return Err(SimError::Other(
                "couplings must join MPM before its gradients are enabled".into(),
            ));
        }
        let bytes = 4 * self.model.info.num_nodes() as u64 * self.precision.bytes();
        ctx.check_buffer("grid external force (4 Reals per node)", bytes)?;
        self.ext_force =
            storage_buffer_zeroed(ctx, "grid external force", bytes, BufferUse::Storage)?;
        self.p2g.rebind_external_force(ctx, &self.ext_force);
        let at = super::model::PARAMS_EXTERNAL_FORCE_BYTE;
        self.model.params_host[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
        ctx.queue
            .write_buffer(&self.model.params, at as u64, &1u32.to_le_bytes());
        self.coupled = true;
        Ok(())
    }

    fn stored_bytes(&self) -> u64 {
        STORED_REALS * self.particle_count() as u64 * self.precision.bytes()
    }

    fn encode_save(
        &self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        dst: &wgpu::Buffer,
        offset: u64,
    ) {
        let r = self.precision.bytes() * self.particle_count() as u64;
        let mut off = offset;
        for (b, k) in Self::stored_fields(&self.states[parity]) {
            enc.copy_buffer_to_buffer(b, 0, dst, off, k * r);
            off += k * r;
        }
    }

    fn encode_restore(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
        parity: usize,
    ) {
        let r = self.precision.bytes() * self.particle_count() as u64;
        let mut off = offset;
        for (b, k) in Self::stored_fields(&self.states[parity]) {
            enc.copy_buffer_to_buffer(src, off, b, 0, k * r);
            off += k * r;
        }
        self.g2p.encode_stress_init(enc, parity);
    }

    fn cache_bytes(&self) -> u64 {
        self.p2g.adjoint_inputs().iter().map(|b| b.size()).sum()
    }

    fn encode_save_cache(&self, enc: &mut wgpu::CommandEncoder, dst: &wgpu::Buffer, offset: u64) {
        let mut off = offset;
        for b in self.p2g.adjoint_inputs() {
            enc.copy_buffer_to_buffer(b, 0, dst, off, b.size());
            off += b.size();
        }
    }

    fn encode_restore_cache(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
    ) {
        let mut off = offset;
        for b in self.p2g.adjoint_inputs() {
            enc.copy_buffer_to_buffer(src, off, b, 0, b.size());
            off += b.size();
        }
    }

    fn encode_recompute_cache(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        timer: &mut GpuTimer,
    ) {
        self.p2g.encode(enc, parity, timer);
    }

    fn adjoint_bytes(&self) -> u64 {
        // Adjoint states, payload, parameter adjoints, and two grids (P2G's
        // and the update's adjoints), three with couplings (the external
        // force's); the tool partials are small and allocated on top.
        let info = &self.model.info;
        let r = self.precision.bytes();
        let grids = if self.coupled { 12 } else { 8 };
        (2 * ADJ_STRIDE + 16 + PGRAD_STRIDE) * info.particles as u64 * r
            + grids * info.num_nodes() as u64 * r
    }

    fn enable_adjoint(&mut self, ctx: &GpuContext, world: &WorldBuffers) -> Result<u64, SimError> {
        if self.adjoint.is_some() {
            return Ok(0);
        }
        let shared = world
            .adjoint
            .ok_or_else(|| SimError::Other("the world's shared adjoint comes first".into()))?;
        let adjoint = MpmAdjoint::new(
            ctx,
            &self.model,
            &self.states[0],
            &self.p2g,
            world.control,
            world.clock,
            &self.ext_force,
            self.coupled,
            shared,
            world.config,
        )?;
        let bytes = adjoint.bytes;
        self.adjoint = Some(adjoint);
        Ok(bytes)
    }

    fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(a) = &self.adjoint {
            a.clear(enc);
        }
    }

    fn encode_adjoint_substep(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        if let Some(a) = &self.adjoint {
            a.encode_step(enc, cur);
        }
    }

    fn encode_adjoint_initial(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        if let Some(a) = &self.adjoint {
            a.encode_stress_init(enc, cur);
        }
    }

    fn read_gradients(&self, ctx: &GpuContext, cur: usize) -> Result<SolverGradients, SimError> {
        let g = self.read_typed_gradients(ctx, cur)?;
        let mut groups = vec![
            ("x0".to_string(), g.x0),
            ("v0".to_string(), g.v0),
            ("C0".to_string(), g.c0),
            ("F0".to_string(), g.f0),
            ("aux0".to_string(), g.aux0),
        ];
        for (b, (name, _)) in self.model.info.bodies.iter().enumerate() {
            let bg = &g.bodies[b];
            groups.push((
                format!("{name}.material"),
                vec![
                    bg.density,
                    bg.youngs_modulus,
                    bg.poisson_ratio,
                    bg.mu,
                    bg.lambda,
                    bg.a,
                    bg.b,
                    bg.c,
                ],
            ));
        }
        Ok(SolverGradients {
            solver: "mpm".into(),
            groups,
        })
    }

    fn points(&self, solver: usize) -> PointSet<'_> {
        let info = &self.model.info;
        PointSet {
            solver,
            count: info.particles,
            x: [&self.states[0].x, &self.states[1].x],
            v: [&self.states[0].v, &self.states[1].v],
            adj: self.adjoint.as_ref().map(|a| [&a.adj[0], &a.adj[1]]),
            tags: &self.model.body_of,
            params: &self.model.params,
            bodies: info
                .bodies
                .iter()
                .zip(&info.particle_mass)
                .map(|((name, range), &m)| PointBody {
                    name: name.clone(),
                    range: range.clone(),
                    point_mass: m,
                })
                .collect(),
            bins: self.p2g.gather_buffers().map(|g| g.0),
        }
    }

    fn describe_item(&self, index: u32) -> String {
        format!(
            "particle {index} of body `{}`",
            self.model.info.body_of_particle(index)
        )
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
