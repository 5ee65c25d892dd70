//! G2P (`shaders/mpm/g2p.wgsl`) and the rigid-body projection that follows it
//! (`shaders/mpm/rigid.wgsl`): reads state_t and the grid, writes
//! state_{t+1}; also the initial stress
//! (`shaders/mpm/stress_init.wgsl`).

use super::model::MpmModel;
use super::state::MpmState;
use ductile_gpu::{GpuContext, GpuTimer, Kernel, ShaderConfig};

/// G2P kernels.
pub struct G2p {
    g2p: Kernel,
    stress: Kernel,
    bg_g2p: [wgpu::BindGroup; 2],
    bg_stress: [wgpu::BindGroup; 2],
    /// Rigid projection: kernel and `bg[k]` (state k → state 1 − k), when a body is rigid.
    rigid: Option<(Kernel, [wgpu::BindGroup; 2])>,
    rigid_bodies: u32,
    particles: u32,
}

impl G2p {
    /// Builds the kernels. `bg_g2p[k]` reads state k and writes state 1 − k.
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        states: [&MpmState; 2],
        grid: &wgpu::Buffer,
        clock: &wgpu::Buffer,
        status: &wgpu::Buffer,
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        let g2p = Kernel::new(ctx, "mpm/g2p", "g2p", config)?;
        let stress = Kernel::new(ctx, "mpm/stress_init", "stress_init", config)?;
        let bind = |a: &MpmState, b: &MpmState| {
            g2p.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.materials,
                    &model.body_of,
                    grid,
                    clock,
                    &a.x,
                    &a.f,
                    &a.aux,
                    &b.x,
                    &b.v,
                    &b.c,
                    &b.f,
                    &b.aux,
                    &b.tau,
                    status,
                    &a.v,
                    &a.c,
                ],
            )
        };
        let bg_g2p = [bind(states[0], states[1]), bind(states[1], states[0])];
        let rigid = if model.info.rigid_bodies.is_empty() {
            None
        } else {
            let k = Kernel::new(ctx, "mpm/rigid", "rigid_project", config)?;
            let bind = |a: &MpmState, b: &MpmState| {
                k.bind(
                    ctx,
                    0,
                    &[
                        &model.params,
                        &model.rigid_table,
                        &a.x,
                        &b.x,
                        &b.v,
                        &b.c,
                        &b.f,
                        &b.tau,
                    ],
                )
            };
            let bg = [bind(states[0], states[1]), bind(states[1], states[0])];
            Some((k, bg))
        };
        let bg_stress = states.map(|s| {
            stress.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.materials,
                    &model.body_of,
                    &s.c,
                    &s.f,
                    &s.aux,
                    &s.tau,
                ],
            )
        });
        Ok(G2p {
            g2p,
            stress,
            bg_g2p,
            bg_stress,
            rigid,
            rigid_bodies: model.info.rigid_bodies.len() as u32,
            particles: model.info.particles,
        })
    }

    /// Records G2P from state `parity` into state `1 − parity` and projects
    /// rigid bodies (the world advances the clock after every solver).
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, parity: usize, timer: &mut GpuTimer) {
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("g2p"),
                timestamp_writes: timer.pass("g2p"),
            });
            self.g2p
                .dispatch_1d(&mut pass, &[&self.bg_g2p[parity]], self.particles);
        }
        if let Some((k, bg)) = &self.rigid {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("rigid"),
                timestamp_writes: timer.pass("rigid"),
            });
            k.dispatch(&mut pass, &[&bg[parity]], [self.rigid_bodies, 1, 1]);
        }
    }

    /// Records the computation of τ for state `parity` from its F, C and aux.
    pub fn encode_stress_init(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("stress_init"),
            timestamp_writes: None,
        });
        self.stress
            .dispatch_1d(&mut pass, &[&self.bg_stress[parity]], self.particles);
    }
}
