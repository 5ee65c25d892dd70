//! One substep's stages run alone, forward and adjoint, on a state the caller
//! chooses, so that each adjoint kernel can be checked against central
//! differences of its own forward kernel (`tests/suite/stage_adjoints.rs`).
//!
//! | stage | forward | adjoint |
//! |---|---|---|
//! | P2G | state_t → gathered grid (P_i, m_i) | `p2g_adj` |
//! | grid update | (P_i, m_i) → grid velocity v_i | `grid_update_adj` + tool reductions |
//! | G2P | state_t and v_i → state_{t+1} | `g2p_adj` + `g2p_grid_adj` |
//!
//! The grid update runs fused with the gather P2G in the forward pass, so its
//! adjoint is checked through P2G ∘ update, with P2G checked on its own.
//! Not for the hot path: every call uploads, submits and reads back.

use crate::mpm::adjoint::{ADJ_STRIDE, PGRAD_STRIDE};
use crate::mpm::state::{entries_from_gpu, entries_to_gpu, field_from_gpu, field_to_gpu};
use crate::mpm::MpmState;
use crate::tape::Rollout;
use crate::SimError;
use ductile_gpu::{bytes_to_reals, read_buffer, reals_to_bytes, GpuContext, GpuTimer};

/// Reals per particle of a stage state and of its adjoint: x 3, v 3, C 9,
/// F 9, aux 1, τ 9 (matrices column-major; the adjoint-state layout).
pub const STATE_STRIDE: usize = ADJ_STRIDE as usize;

/// The adjoint of a stage's inputs.
#[derive(Clone, Debug, Default)]
pub struct StageAdjoint {
    /// ∂L/∂state_t, [`STATE_STRIDE`] Reals per particle.
    pub state: Vec<f64>,
    /// ∂L/∂(grid input), 4 Reals per node: (P_i, m_i) for the grid update,
    /// (v_i, unused) for G2P; empty for P2G.
    pub grid: Vec<f64>,
    /// Per-particle parameter adjoints (8 Reals each: μ, λ, a, particle mass,
    /// particle volume, b, c, unused).
    pub params: Vec<f64>,
    /// ∂L/∂control of substep 0 (16 Reals per tool, the Control layout); grid update only.
    pub control: Vec<f64>,
    /// ∂L/∂(friction, softness) per tool; grid update only.
    pub tool_params: Vec<f64>,
}

/// A state's buffers in the stage layout's order, with their Reals per particle.
fn fields(s: &MpmState) -> [(&wgpu::Buffer, usize); 6] {
    [
        (&s.x, 3),
        (&s.v, 3),
        (&s.c, 9),
        (&s.f, 9),
        (&s.aux, 1),
        (&s.tau, 9),
    ]
}

impl Rollout {
    fn stage_read(
        &self,
        ctx: &GpuContext,
        b: &wgpu::Buffer,
        reals: usize,
    ) -> Result<Vec<f64>, SimError> {
        let p = self.sim.config().precision;
        Ok(bytes_to_reals(
            &read_buffer(ctx, b, reals as u64 * p.bytes())?,
            p,
        ))
    }

    /// Writes `values` into `b`, refusing a length other than `want` Reals
    /// (named `what` in the error).
    fn stage_write(
        &self,
        ctx: &GpuContext,
        b: &wgpu::Buffer,
        values: &[f64],
        what: &str,
        want: usize,
    ) -> Result<(), SimError> {
        if values.len() != want {
            return Err(SimError::Other(format!(
                "{what} has {} Reals, the scene needs {want}",
                values.len()
            )));
        }
        ctx.queue
            .write_buffer(b, 0, &reals_to_bytes(values, self.sim.config().precision));
        Ok(())
    }

    /// Writes `state` ([`STATE_STRIDE`] Reals per particle, τ as given) into
    /// the state the adjoint kernels read, and sets the clock to substep 0.
    fn stage_upload(&self, ctx: &GpuContext, state: &[f64]) -> Result<(), SimError> {
        let n = self.sim.particle_count() as usize;
        if state.len() != STATE_STRIDE * n {
            return Err(SimError::Other(format!(
                "a stage state has {} Reals for {n} particles, got {}",
                STATE_STRIDE * n,
                state.len()
            )));
        }
        let s = self.sim.mpm_state(0);
        let mut off = 0;
        for (b, k) in fields(s) {
            let field: Vec<f64> = (0..n)
                .flat_map(|p| {
                    state[STATE_STRIDE * p + off..STATE_STRIDE * p + off + k]
                        .iter()
                        .copied()
                })
                .collect();
            self.stage_write(ctx, b, &field_to_gpu(&field, k), "a state field", k * n)?;
            off += k;
        }
        ctx.queue
            .write_buffer(self.sim.clock(), 0, bytemuck::bytes_of(&0u32));
        Ok(())
    }

    fn stage_submit(
        &mut self,
        ctx: &GpuContext,
        f: impl FnOnce(&mut Self, &mut wgpu::CommandEncoder),
    ) -> Result<(), SimError> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        f(self, &mut enc);
        ctx.queue.submit([enc.finish()]);
        ctx.wait()?;
        Ok(())
    }

    fn stage_nodes(&self) -> usize {
        self.sim.info().num_nodes() as usize
    }

    /// P2G and the grid update on `state`: returns the gathered grid
    /// (P_i [kg·m/s], m_i [kg]) and the updated grid (v_i [m/s], unused),
    /// 4 Reals per node. Nodes outside the reached blocks are not written.
    pub fn stage_p2g(
        &mut self,
        ctx: &GpuContext,
        state: &[f64],
    ) -> Result<(Vec<f64>, Vec<f64>), SimError> {
        self.stage_upload(ctx, state)?;
        self.stage_submit(ctx, |r, enc| {
            r.sim.mpm().p2g.encode(enc, 0, &mut GpuTimer::disabled());
        })?;
        let nodes = self.stage_nodes();
        let (_, raw) = self
            .sim
            .mpm()
            .p2g
            .gather_buffers()
            .ok_or_else(|| SimError::Other("stages need the gather P2G".into()))?;
        Ok((
            self.stage_read(ctx, raw, 4 * nodes)?,
            self.stage_read(ctx, &self.sim.mpm().p2g.grid, 4 * nodes)?,
        ))
    }

    /// G2P alone from `state` through the updated grid `grid_v` (4 Reals per
    /// node): returns state_{t+1}, [`STATE_STRIDE`] Reals per particle.
    pub fn stage_g2p(
        &mut self,
        ctx: &GpuContext,
        state: &[f64],
        grid_v: &[f64],
    ) -> Result<Vec<f64>, SimError> {
        self.stage_upload(ctx, state)?;
        self.stage_write(
            ctx,
            &self.sim.mpm().p2g.grid,
            grid_v,
            "grid_v",
            4 * self.stage_nodes(),
        )?;
        self.stage_submit(ctx, |r, enc| {
            r.sim.mpm().g2p.encode(enc, 0, &mut GpuTimer::disabled())
        })?;
        let n = self.sim.particle_count() as usize;
        let s = self.sim.mpm_state(1);
        let mut out = vec![0.0; STATE_STRIDE * n];
        let mut off = 0;
        for (b, k) in fields(s) {
            let field = field_from_gpu(&self.stage_read(ctx, b, k * n)?, k);
            for p in 0..n {
                out[STATE_STRIDE * p + off..STATE_STRIDE * p + off + k]
                    .copy_from_slice(&field[k * p..k * (p + 1)]);
            }
            off += k;
        }
        Ok(out)
    }

    fn stage_clear(&self, enc: &mut wgpu::CommandEncoder) {
        self.sim.world.encode_clear_adjoint(enc);
        enc.clear_buffer(&self.adjoint().grid_vbar, 0, None);
    }

    fn stage_state_adjoint(
        &self,
        ctx: &GpuContext,
        which: usize,
    ) -> Result<(Vec<f64>, Vec<f64>), SimError> {
        let n = self.sim.particle_count() as usize;
        Ok((
            entries_from_gpu(
                &self.stage_read(ctx, &self.adjoint().adj[which], STATE_STRIDE * n)?,
                STATE_STRIDE,
            ),
            self.stage_read(ctx, &self.adjoint().pgrad, PGRAD_STRIDE as usize * n)?,
        ))
    }

    /// `p2g_adj` alone: ∂⟨w, (P_i, m_i)⟩/∂state for the gathered-grid
    /// adjoint `grid_bar` (4 Reals per node).
    pub fn stage_p2g_adjoint(
        &mut self,
        ctx: &GpuContext,
        state: &[f64],
        grid_bar: &[f64],
    ) -> Result<StageAdjoint, SimError> {
        self.stage_p2g(ctx, state)?;
        self.stage_submit(ctx, |r, enc| r.stage_clear(enc))?;
        self.stage_write(
            ctx,
            &self.adjoint().grid_bar,
            grid_bar,
            "grid_bar",
            4 * self.stage_nodes(),
        )?;
        self.stage_submit(ctx, |r, enc| r.adjoint().encode_p2g(enc, 1))?;
        let (state, params) = self.stage_state_adjoint(ctx, 1)?;
        Ok(StageAdjoint {
            state,
            params,
            ..Default::default()
        })
    }

    /// `grid_update_adj` and the tool reductions alone, at the grid P2G
    /// gathers from `state`: the adjoint of (P_i, m_i), of substep 0's
    /// controls and of each tool's friction and softness, for the
    /// updated-grid adjoint `grid_vbar` (4 Reals per node, the last unused).
    pub fn stage_grid_update_adjoint(
        &mut self,
        ctx: &GpuContext,
        state: &[f64],
        grid_vbar: &[f64],
    ) -> Result<StageAdjoint, SimError> {
        self.stage_p2g(ctx, state)?;
        self.stage_submit(ctx, |r, enc| r.stage_clear(enc))?;
        self.stage_write(
            ctx,
            &self.adjoint().grid_vbar,
            grid_vbar,
            "grid_vbar",
            4 * self.stage_nodes(),
        )?;
        self.stage_submit(ctx, |r, enc| r.adjoint().encode_grid_update(enc))?;
        let nodes = self.stage_nodes();
        let nt = self.tool_params().len();
        Ok(StageAdjoint {
            grid: self.stage_read(ctx, &self.adjoint().grid_bar, 4 * nodes)?,
            control: self.stage_read(
                ctx,
                &self.sim.world.shared_adjoint()?.control_grad,
                16 * nt,
            )?,
            tool_params: self.stage_read(
                ctx,
                &self.sim.world.shared_adjoint()?.tool_param_grad,
                2 * nt,
            )?,
            ..Default::default()
        })
    }

    /// `g2p_adj` and `g2p_grid_adj` alone: ∂⟨w, state_{t+1}⟩ with respect to
    /// state_t and the updated grid `grid_v`, for the adjoint `next_bar` of
    /// state_{t+1} ([`STATE_STRIDE`] Reals per particle).
    pub fn stage_g2p_adjoint(
        &mut self,
        ctx: &GpuContext,
        state: &[f64],
        grid_v: &[f64],
        next_bar: &[f64],
    ) -> Result<StageAdjoint, SimError> {
        // The binning of state_t (particle order and reached blocks) comes from its P2G.
        self.stage_p2g(ctx, state)?;
        self.stage_submit(ctx, |r, enc| r.stage_clear(enc))?;
        self.stage_write(
            ctx,
            &self.sim.mpm().p2g.grid,
            grid_v,
            "grid_v",
            4 * self.stage_nodes(),
        )?;
        self.stage_write(
            ctx,
            &self.adjoint().adj[0],
            &entries_to_gpu(next_bar, STATE_STRIDE),
            "next_bar",
            STATE_STRIDE * self.sim.particle_count() as usize,
        )?;
        self.stage_submit(ctx, |r, enc| {
            r.adjoint().encode_g2p_particles(enc, 0);
            r.adjoint().encode_g2p_grid(enc);
        })?;
        let (state, params) = self.stage_state_adjoint(ctx, 1)?;
        let nodes = self.stage_nodes();
        Ok(StageAdjoint {
            state,
            params,
            grid: self.stage_read(ctx, &self.adjoint().grid_vbar, 4 * nodes)?,
            ..Default::default()
        })
    }
}
