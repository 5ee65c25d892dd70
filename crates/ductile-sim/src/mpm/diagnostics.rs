//! Whole-system sums (`shaders/mpm/diagnostics.wgsl`) and render packing
//! (`shaders/mpm/pack_render.wgsl`); both run only when output is written.

use super::model::MpmModel;
use super::state::MpmState;
use ductile_gpu::{
    bytes_to_reals, groups_1d, read_buffer, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, Kernel, ShaderConfig,
};

/// Sums over all particles.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    /// Total mass [kg].
    pub mass: f64,
    /// Total momentum [kg·m/s].
    pub momentum: [f64; 3],
    /// Kinetic energy [J].
    pub kinetic: f64,
    /// Gravitational potential energy −Σ m g·x [J].
    pub gravitational: f64,
    /// Stored elastic (or compression) energy [J].
    pub elastic: f64,
}

impl Sums {
    /// Kinetic + gravitational + elastic [J].
    pub fn total_energy(&self) -> f64 {
        self.kinetic + self.gravitational + self.elastic
    }
}

/// What the packed colour value of a particle is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PackColor {
    /// The body index.
    Body,
    /// |v| / scale, clamped to [0, 1]; scale [m/s].
    Speed(f64),
    /// The uploaded per-particle value / scale, clamped to [0, 1]
    /// (see [`Diagnostics::set_particle_values`]).
    Value(f64),
    /// The von Mises equivalent √(3/2)·|dev τ| of the Kirchhoff stress τ /
    /// scale, clamped to [0, 1]; scale [Pa].
    Stress(f64),
}

/// Diagnostics and packing kernels.
pub struct Diagnostics {
    sums: Kernel,
    pack: Kernel,
    partials: wgpu::Buffer,
    pack_opts: wgpu::Buffer,
    /// One f32 per particle for [`PackColor::Value`].
    particle_value: wgpu::Buffer,
    /// (x, y, z, colour value) f32 per particle, for the renderer.
    pub packed: wgpu::Buffer,
    bg_sums: [wgpu::BindGroup; 2],
    bg_pack: [wgpu::BindGroup; 2],
    particles: u32,
    config: ShaderConfig,
}

impl Diagnostics {
    /// Builds the kernels and buffers.
    pub fn new(
        ctx: &GpuContext,
        model: &MpmModel,
        states: [&MpmState; 2],
        config: ShaderConfig,
    ) -> Result<Self, crate::SimError> {
        let n = model.info.particles;
        let g = groups_1d(n);
        let groups = g[0] as u64 * g[1] as u64;
        let partials = storage_buffer_zeroed(
            ctx,
            "diagnostic partial sums",
            8 * groups * config.precision.bytes(),
            BufferUse::Storage,
        )?;
        let pack_opts = storage_buffer(
            ctx,
            "pack options",
            bytemuck::cast_slice(&[0.0f32; 4]),
            BufferUse::Storage,
        )?;
        let packed = storage_buffer_zeroed(
            ctx,
            "render particles",
            16 * n as u64,
            BufferUse::StorageVertex,
        )?;
        let particle_value = storage_buffer_zeroed(
            ctx,
            "particle colour values",
            4 * n as u64,
            BufferUse::Storage,
        )?;
        let sums = Kernel::new(ctx, "mpm/diagnostics", "diagnostics", config)?;
        let pack = Kernel::new(ctx, "mpm/pack_render", "pack_render", config)?;
        let bg_sums = states.map(|s| {
            sums.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.materials,
                    &model.body_of,
                    &s.x,
                    &s.v,
                    &s.f,
                    &s.aux,
                    &partials,
                ],
            )
        });
        let bg_pack = states.map(|s| {
            pack.bind(
                ctx,
                0,
                &[
                    &model.params,
                    &model.body_of,
                    &s.x,
                    &s.v,
                    &pack_opts,
                    &packed,
                    &particle_value,
                    &s.tau,
                ],
            )
        });
        Ok(Diagnostics {
            sums,
            pack,
            partials,
            pack_opts,
            particle_value,
            packed,
            bg_sums,
            bg_pack,
            particles: n,
            config,
        })
    }

    /// Computes the sums of state `parity` (blocking readback).
    pub fn sums(&self, ctx: &GpuContext, parity: usize) -> Result<Sums, crate::SimError> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.sums.dispatch(
                &mut pass,
                &[&self.bg_sums[parity]],
                groups_1d(self.particles),
            );
        }
        ctx.queue.submit([enc.finish()]);
        let g = groups_1d(self.particles);
        let groups = g[0] as u64 * g[1] as u64;
        let r = self.config.precision.bytes();
        let vals = bytes_to_reals(
            &read_buffer(ctx, &self.partials, 8 * groups * r)?,
            self.config.precision,
        );
        let mut acc = [0.0f64; 8];
        for chunk in vals.chunks_exact(8) {
            for (a, v) in acc.iter_mut().zip(chunk) {
                *a += v;
            }
        }
        Ok(Sums {
            mass: acc[0],
            momentum: [acc[1], acc[2], acc[3]],
            kinetic: acc[4],
            gravitational: acc[5],
            elastic: acc[6],
        })
    }

    /// Replaces the per-particle values that [`PackColor::Value`] colours by
    /// (one per particle, in particle order).
    pub fn set_particle_values(&self, ctx: &GpuContext, values: &[f32]) {
        ctx.queue
            .write_buffer(&self.particle_value, 0, bytemuck::cast_slice(values));
    }

    /// Packs state `parity` for rendering into [`Diagnostics::packed`].
    pub fn pack(&self, ctx: &GpuContext, parity: usize, color: PackColor) {
        let opts = match color {
            PackColor::Body => [0.0f32; 4],
            PackColor::Speed(s) => [1.0f32, s as f32, 0.0, 0.0],
            PackColor::Value(s) => [2.0f32, s as f32, 0.0, 0.0],
            PackColor::Stress(s) => [3.0f32, s as f32, 0.0, 0.0],
        };
        ctx.queue
            .write_buffer(&self.pack_opts, 0, bytemuck::cast_slice(&opts));
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            self.pack
                .dispatch_1d(&mut pass, &[&self.bg_pack[parity]], self.particles);
        }
        ctx.queue.submit([enc.finish()]);
    }
}
