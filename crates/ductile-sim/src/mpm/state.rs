//! The MPM State: per-particle buffers that every substep reads (state_t) and
//! writes (state_{t+1}): position x [m], velocity v [m/s], APIC velocity
//! gradient C [1/s], deformation gradient F, the scalar `aux` (J for fluids,
//! J_p for snow) and the Kirchhoff stress τ [Pa] derived from them.
//!
//! # Layout
//! Vectors are stored particle by particle (3 Reals each). Matrices are
//! column-major (entry k = 3·column + row) and stored on the GPU as nine
//! arrays of N Reals, entry k of particle p at k·N + p (`mat_index` in
//! `shaders/mpm/params.wgsl`): neighbouring invocations then read and write
//! neighbouring words, where 9 Reals per particle put their stores 36 bytes
//! apart (BENCHMARKS.md, session 10). Host copies ([`StateHost`]) keep 9
//! Reals per particle; [`matrices_to_gpu`] and [`matrices_from_gpu`]
//! convert at the boundary.

use ductile_gpu::{
    read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext,
    GpuError, Precision,
};

/// Reorders a field of `k` Reals per particle, given particle by particle,
/// entry by entry: entry e of particle p moves to e·N + p. Trailing Reals
/// that make no whole particle are kept at the end, so that a length check
/// downstream still sees the length it was given.
pub fn entries_to_gpu(per_particle: &[f64], k: usize) -> Vec<f64> {
    let n = per_particle.len() / k.max(1);
    let mut out = per_particle.to_vec();
    for (p, m) in per_particle.chunks_exact(k).enumerate() {
        for (e, &v) in m.iter().enumerate() {
            out[e * n + p] = v;
        }
    }
    out
}

/// Inverse of [`entries_to_gpu`]: `k` Reals per particle, particle by particle.
pub fn entries_from_gpu(gpu: &[f64], k: usize) -> Vec<f64> {
    let n = gpu.len() / k.max(1);
    let mut out = gpu.to_vec();
    for (p, m) in out.chunks_exact_mut(k).enumerate() {
        for (e, v) in m.iter_mut().enumerate() {
            *v = gpu[e * n + p];
        }
    }
    out
}

/// Per-particle 3×3 matrices (9 Reals each) in the GPU's matrix layout.
pub fn matrices_to_gpu(per_particle: &[f64]) -> Vec<f64> {
    entries_to_gpu(per_particle, 9)
}

/// Inverse of [`matrices_to_gpu`].
pub fn matrices_from_gpu(gpu: &[f64]) -> Vec<f64> {
    entries_from_gpu(gpu, 9)
}

/// A field given particle by particle (`per_particle` Reals each) in its GPU
/// layout: matrices reordered, vectors and scalars unchanged.
pub fn field_to_gpu(data: &[f64], per_particle: usize) -> Vec<f64> {
    if per_particle == 9 {
        matrices_to_gpu(data)
    } else {
        data.to_vec()
    }
}

/// Inverse of [`field_to_gpu`].
pub fn field_from_gpu(data: &[f64], per_particle: usize) -> Vec<f64> {
    if per_particle == 9 {
        matrices_from_gpu(data)
    } else {
        data.to_vec()
    }
}

/// GPU buffers of one particle state.
pub struct MpmState {
    /// Positions, 3 Reals per particle [m].
    pub x: wgpu::Buffer,
    /// Velocities, 3 Reals per particle [m/s].
    pub v: wgpu::Buffer,
    /// APIC affine velocity matrix C, 9 Reals per particle [1/s] (matrix layout).
    pub c: wgpu::Buffer,
    /// Deformation gradient F (elastic part), 9 Reals per particle (matrix layout).
    pub f: wgpu::Buffer,
    /// Per-particle scalar: J (fluids) or J_p (snow), 1 Real per particle.
    pub aux: wgpu::Buffer,
    /// Kirchhoff stress τ, 9 Reals per particle [Pa] (matrix layout).
    pub tau: wgpu::Buffer,
}

/// Host copy of a state's x, v (and optionally the rest), in f64.
#[derive(Clone, Debug, Default)]
pub struct StateHost {
    /// Positions [m], 3 per particle.
    pub x: Vec<f64>,
    /// Velocities [m/s], 3 per particle.
    pub v: Vec<f64>,
    /// Deformation gradients, 9 per particle (column-major).
    pub f: Vec<f64>,
    /// APIC C, 9 per particle.
    pub c: Vec<f64>,
    /// Per-particle scalar.
    pub aux: Vec<f64>,
}

impl MpmState {
    /// Allocates a state for `n` particles, refusing sizes beyond the adapter's limits.
    pub fn zeroed(
        ctx: &GpuContext,
        n: u32,
        precision: Precision,
        label: &str,
    ) -> Result<Self, GpuError> {
        let r = precision.bytes();
        let n = n as u64;
        let buf = |what: &str, k: u64| {
            storage_buffer_zeroed(
                ctx,
                &format!("{label}.{what}"),
                k * n * r,
                BufferUse::Storage,
            )
        };
        Ok(MpmState {
            x: buf("x", 3)?,
            v: buf("v", 3)?,
            c: buf("C", 9)?,
            f: buf("F", 9)?,
            aux: buf("aux", 1)?,
            tau: buf("tau", 9)?,
        })
    }

    /// Creates a state holding `host` (τ is left zero; compute it with `stress_init`).
    pub fn upload(
        ctx: &GpuContext,
        host: &StateHost,
        precision: Precision,
        label: &str,
    ) -> Result<Self, GpuError> {
        let b = |what: &str, data: &[f64]| {
            storage_buffer(
                ctx,
                &format!("{label}.{what}"),
                &reals_to_bytes(data, precision),
                BufferUse::Storage,
            )
        };
        let n = host.aux.len() as u64;
        Ok(MpmState {
            x: b("x", &host.x)?,
            v: b("v", &host.v)?,
            c: b("C", &matrices_to_gpu(&host.c))?,
            f: b("F", &matrices_to_gpu(&host.f))?,
            aux: b("aux", &host.aux)?,
            tau: storage_buffer_zeroed(
                ctx,
                &format!("{label}.tau"),
                9 * n * precision.bytes(),
                BufferUse::Storage,
            )?,
        })
    }

    /// Reads x, v, F, C and aux back to the host (blocking; for output only).
    pub fn download(
        &self,
        ctx: &GpuContext,
        n: u32,
        precision: Precision,
    ) -> Result<StateHost, GpuError> {
        let r = precision.bytes();
        let n = n as u64;
        let get = |b: &wgpu::Buffer, k: u64| -> Result<Vec<f64>, GpuError> {
            Ok(ductile_gpu::bytes_to_reals(
                &read_buffer(ctx, b, k * n * r)?,
                precision,
            ))
        };
        Ok(StateHost {
            x: get(&self.x, 3)?,
            v: get(&self.v, 3)?,
            f: matrices_from_gpu(&get(&self.f, 9)?),
            c: matrices_from_gpu(&get(&self.c, 9)?),
            aux: get(&self.aux, 1)?,
        })
    }

    /// Reads positions and velocities only.
    pub fn download_xv(
        &self,
        ctx: &GpuContext,
        n: u32,
        precision: Precision,
    ) -> Result<(Vec<f64>, Vec<f64>), GpuError> {
        let r = precision.bytes();
        let n = n as u64;
        let x = ductile_gpu::bytes_to_reals(&read_buffer(ctx, &self.x, 3 * n * r)?, precision);
        let v = ductile_gpu::bytes_to_reals(&read_buffer(ctx, &self.v, 3 * n * r)?, precision);
        Ok((x, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entry k of particle p lands at k·N + p, and the conversion round-trips.
    #[test]
    fn matrix_layout_is_entry_by_entry() {
        let n = 3;
        let per_particle: Vec<f64> = (0..9 * n).map(|i| i as f64).collect();
        let gpu = matrices_to_gpu(&per_particle);
        for p in 0..n {
            for k in 0..9 {
                assert_eq!(gpu[k * n + p], per_particle[9 * p + k]);
            }
        }
        assert_eq!(matrices_from_gpu(&gpu), per_particle);
        assert_eq!(field_to_gpu(&per_particle[..6], 3), &per_particle[..6]);
        assert_eq!(field_from_gpu(&gpu, 9), per_particle);
        // Any entry count, e.g. the adjoint state's 34; a partial particle stays last.
        let mut odd: Vec<f64> = (0..34 * n + 2).map(|i| i as f64).collect();
        let gpu = entries_to_gpu(&odd, 34);
        assert_eq!(gpu[33 * n + 1], odd[34 + 33]);
        assert_eq!(&gpu[34 * n..], &odd[34 * n..]);
        assert_eq!(entries_from_gpu(&gpu, 34), odd);
        odd.truncate(0);
        assert!(entries_to_gpu(&odd, 34).is_empty());
    }
}
