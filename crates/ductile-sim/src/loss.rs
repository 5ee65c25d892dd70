//! Scalar losses evaluated on the GPU (`shaders/loss/loss.wgsl`) and their
//! adjoint seeds. A [`LossSet`] packs the scene's `loss` terms (16 Reals
//! each) and a per-step weight table, so that the forward pass adds each
//! term's value at the steps it is active without any readback, and the
//! backward pass adds ∂L/∂x and ∂L/∂v of the active terms to the adjoint state.

use crate::mpm::model::MpmModel;
use crate::mpm::state::MpmState;
use crate::SimError;
use ductile_gpu::{
    read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext,
    Kernel, ShaderConfig,
};
use ductile_scene::{LossKind, LossTerm, LossWhen};

/// Weight factor of every term at every step `0..=steps` (row-major `[step][term]`):
/// 1 at the last step for `Final`, 1/n inside an n-state `Running` window, 0 elsewhere.
pub fn step_factors(terms: &[LossTerm], steps: usize) -> Vec<f64> {
    let nt = terms.len();
    let mut f = vec![0.0; (steps + 1) * nt];
    for (i, t) in terms.iter().enumerate() {
        match t.when {
            LossWhen::Final => f[steps * nt + i] = 1.0,
            LossWhen::Running { from, to } => {
                let (a, b) = (from as usize, (to as usize).min(steps));
                let n = (b + 1 - a.min(b + 1)).max(1) as f64;
                for s in a..=b {
                    f[s * nt + i] = 1.0 / n;
                }
            }
        }
    }
    f
}

/// The scene's loss on the GPU.
pub struct LossSet {
    /// The terms, as given in the scene.
    pub terms: Vec<LossTerm>,
    factors: Vec<f64>,
    eval: Kernel,
    stats_k: Kernel,
    seed: Kernel,
    value: wgpu::Buffer,
    bg_eval: [wgpu::BindGroup; 2],
    bg_stats: [wgpu::BindGroup; 2],
    /// `[state parity][adjoint index]`.
    bg_seed: [[wgpu::BindGroup; 2]; 2],
    particles: u32,
}

impl LossSet {
    /// Packs `terms` for a rollout of `steps` substeps, binding both state
    /// parities and both adjoint states.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        terms: &[LossTerm],
        steps: usize,
        states: [&MpmState; 2],
        adj: [&wgpu::Buffer; 2],
        clock: &wgpu::Buffer,
        config: ShaderConfig,
    ) -> Result<Self, SimError> {
        let info = &model.info;
        let mut packed = Vec::with_capacity(16 * terms.len().max(1));
        for t in terms {
            let range = info
                .bodies
                .get(t.body)
                .map(|b| b.1.clone())
                .ok_or_else(|| SimError::Other(format!("loss body {} does not exist", t.body)))?;
            let mut r = [0.0f64; 16];
            r[1] = t.body as f64;
            r[2] = range.start as f64;
            r[3] = (range.end - range.start) as f64;
            r[4] = t.weight;
            match &t.kind {
                LossKind::CenterOfMass { target } => {
                    r[0] = 0.0;
                    r[5..8].copy_from_slice(target);
                }
                LossKind::CenterOfMassVelocity { target } => {
                    r[0] = 1.0;
                    r[5..8].copy_from_slice(target);
                }
                LossKind::MassOutside { min, max, softness } => {
                    r[0] = 2.0;
                    r[8..11].copy_from_slice(min);
                    r[11..14].copy_from_slice(max);
                    r[14] = *softness;
                }
            }
            packed.extend_from_slice(&r);
        }
        let factors = step_factors(terms, steps);
        let p = config.precision;
        let terms_buf = if terms.is_empty() {
            // arrayLength must then give zero terms: a 16-byte buffer holds less than one record.
            storage_buffer_zeroed(ctx, "loss terms", 16, BufferUse::Storage)?
        } else {
            storage_buffer(
                ctx,
                "loss terms",
                &reals_to_bytes(&packed, p),
                BufferUse::Storage,
            )?
        };
        let active = storage_buffer(
            ctx,
            "loss step factors",
            &reals_to_bytes(&factors, p),
            BufferUse::Storage,
        )?;
        let nt = terms.len().max(1) as u64;
        let stats =
            storage_buffer_zeroed(ctx, "loss stats", 8 * nt * p.bytes(), BufferUse::Storage)?;
        let value = storage_buffer_zeroed(ctx, "loss values", nt * p.bytes(), BufferUse::Storage)?;
        let eval = Kernel::new(ctx, "loss/loss", "loss_eval", config)?;
        let stats_k = Kernel::new(ctx, "loss/loss", "loss_stats", config)?;
        let seed = Kernel::new(ctx, "loss/loss", "loss_seed", config)?;
        fn common<'a>(
            model: &'a MpmModel,
            terms_buf: &'a wgpu::Buffer,
            active: &'a wgpu::Buffer,
            clock: &'a wgpu::Buffer,
            stats: &'a wgpu::Buffer,
            s: &'a MpmState,
        ) -> Vec<(u32, &'a wgpu::Buffer)> {
            vec![
                (0u32, &model.params),
                (1, terms_buf),
                (2, active),
                (3, clock),
                (4, &s.x),
                (5, &s.v),
                (6, stats),
            ]
        }
        let bg_eval = states.map(|s| {
            let mut b = common(model, &terms_buf, &active, clock, &stats, s);
            b.push((7, &value));
            eval.bind_at(ctx, 0, &b)
        });
        let bg_stats = states.map(|s| {
            stats_k.bind_at(
                ctx,
                0,
                &common(model, &terms_buf, &active, clock, &stats, s),
            )
        });
        let bg_seed = states.map(|s| {
            adj.map(|a| {
                seed.bind_at(
                    ctx,
                    0,
                    &[
                        (0, &model.params),
                        (1, &terms_buf),
                        (2, &active),
                        (3, clock),
                        (4, &s.x),
                        (6, &stats),
                        (8, a),
                    ],
                )
            })
        });
        Ok(LossSet {
            terms: terms.to_vec(),
            factors,
            eval,
            stats_k,
            seed,
            value,
            bg_eval,
            bg_stats,
            bg_seed,
            particles: info.particles,
        })
    }

    /// True when some term is evaluated on the state after `step` substeps.
    pub fn active_at(&self, step: usize) -> bool {
        let nt = self.terms.len();
        nt > 0
            && self.factors[step * nt..(step + 1) * nt]
                .iter()
                .any(|&f| f != 0.0)
    }

    /// Zeroes the accumulated values.
    pub fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.value, 0, None);
    }

    /// Adds the active terms' values on state `parity` (the clock must hold the step).
    pub fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("loss"),
            timestamp_writes: None,
        });
        self.eval.dispatch(
            &mut pass,
            &[&self.bg_eval[parity]],
            [self.terms.len() as u32, 1, 1],
        );
    }

    /// Adds the active terms' adjoint seeds on state `parity` into adjoint state `adj`.
    pub fn encode_seed(&self, enc: &mut wgpu::CommandEncoder, parity: usize, adj: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("loss seed"),
            timestamp_writes: None,
        });
        self.stats_k.dispatch(
            &mut pass,
            &[&self.bg_stats[parity]],
            [self.terms.len() as u32, 1, 1],
        );
        self.seed
            .dispatch_1d(&mut pass, &[&self.bg_seed[parity][adj]], self.particles);
    }

    /// Each term's accumulated (weighted) value (blocking readback).
    pub fn values(
        &self,
        ctx: &GpuContext,
        precision: ductile_gpu::Precision,
    ) -> Result<Vec<f64>, SimError> {
        let n = self.terms.len() as u64;
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(ductile_gpu::bytes_to_reals(
            &read_buffer(ctx, &self.value, n * precision.bytes())?,
            precision,
        ))
    }
}
