//! Scalar losses evaluated on the GPU (`shaders/loss/loss.wgsl`) and their
//! adjoint seeds. A [`LossSet`] packs the scene's `loss` terms (16 Reals
//! each), the target shapes' points and grid masses, and a per-step weight
//! table, so that the forward pass adds each term's value at the steps it is
//! active without any readback, and the backward pass adds ∂L/∂x, ∂L/∂v (and
//! ∂L/∂tool position) of the active terms to the adjoint state.
//!
//! A loss set binds to a solver's [`PointSet`] (positions, velocities,
//! tags, bodies and the adjoint layout every solver shares), not to MPM's
//! state, so every loss kind runs on any solver's points. Grid-density terms
//! also need the points binned by cell (MPM's gather P2G keeps a binning).

use crate::control::Control;
use crate::mpm::bin::Binning;
use crate::mpm::model::ModelInfo;
use crate::world::PointSet;
use crate::SimError;
use ductile_gpu::{
    read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse, GpuContext,
    Kernel, ShaderConfig,
};
use ductile_scene::{Body, LoadedScene, LossKind, LossTerm, LossWhen, Norm};

/// Reals per packed loss term (`LOSS_TERM` in `shaders/loss/loss.wgsl`).
pub const LOSS_TERM_REALS: usize = 16;

/// Weight factor of every term at every step `0..=steps` (row-major `[step][term]`):
/// 1 at the last step for `Final`, 1/n inside an n-state `Running` window
/// (from state 1 for `ContactForce`), 0 elsewhere.
pub fn step_factors(terms: &[LossTerm], steps: usize) -> Vec<f64> {
    let nt = terms.len();
    let mut f = vec![0.0; (steps + 1) * nt];
    for (i, t) in terms.iter().enumerate() {
        match t.when {
            LossWhen::Final => f[steps * nt + i] = 1.0,
            LossWhen::Running { from, to } => {
                // A contact force is that of the substep ending at a state:
                // the initial state has none.
                let first = usize::from(matches!(t.kind, LossKind::ContactForce { .. }));
                let (a, b) = ((from as usize).max(first), (to as usize).min(steps));
                let n = (b + 1 - a.min(b + 1)).max(1) as f64;
                for s in a..=b {
                    f[s * nt + i] = 1.0 / n;
                }
            }
        }
    }
    f
}

/// The factors `full` (`[step][term]`, `nt` terms) restricted to substeps
/// `0..=end` (None: unchanged): running and recorded terms keep their
/// factors inside the window, rescaled to the same total weight; final
/// terms are evaluated at `end`.
pub fn window_factors(full: &[f64], nt: usize, end: Option<usize>) -> Vec<f64> {
    let steps = full.len() / nt - 1;
    let mut f = full.to_vec();
    if let Some(end) = end.filter(|&e| e < steps) {
        for i in 0..nt {
            let col = |s: usize| s * nt + i;
            let total: f64 = (0..=steps).map(|s| f[col(s)]).sum();
            let final_only = (0..steps).all(|s| f[col(s)] == 0.0);
            for s in end + 1..=steps {
                f[col(s)] = 0.0;
            }
            if final_only {
                f[col(end)] = total;
                continue;
            }
            let inside: f64 = (0..=end).map(|s| f[col(s)]).sum();
            if inside > 0.0 {
                for s in 0..=end {
                    f[col(s)] *= total / inside;
                }
            }
        }
    }
    f
}

/// Grid mass [kg] per node of points of mass `m` [kg] (quadratic B-splines),
/// nodes x fastest, as `mpm/p2g.wgsl` deposits it.
pub fn grid_mass(
    points: &[[f64; 3]],
    m: f64,
    origin: [f64; 3],
    dx: f64,
    cells: [u32; 3],
) -> Vec<f64> {
    let nn = cells.map(|c| c as usize + 1);
    let mut out = vec![0.0; nn[0] * nn[1] * nn[2]];
    let n1 = |r: f64| {
        let a = r.abs();
        if a < 0.5 {
            0.75 - a * a
        } else if a < 1.5 {
            0.5 * (1.5 - a) * (1.5 - a)
        } else {
            0.0
        }
    };
    for p in points {
        let xg: Vec<f64> = (0..3).map(|k| (p[k] - origin[k]) / dx).collect();
        let base: Vec<i64> = xg.iter().map(|g| (g - 0.5).floor() as i64).collect();
        for k in 0..3i64 {
            for j in 0..3i64 {
                for i in 0..3i64 {
                    let node = [base[0] + i, base[1] + j, base[2] + k];
                    if (0..3).any(|a| node[a] < 0 || node[a] >= nn[a] as i64) {
                        continue;
                    }
                    let w = (0..3).map(|a| n1(xg[a] - node[a] as f64)).product::<f64>();
                    let idx =
                        node[0] as usize + nn[0] * (node[1] as usize + nn[1] * node[2] as usize);
                    out[idx] += m * w;
                }
            }
        }
    }
    out
}

/// Reads an NPY array of f64 or f32 as f64, with its shape.
pub fn read_npy_f64(path: &std::path::Path) -> Result<(Vec<u64>, Vec<f64>), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| e.to_string())?;
    let shape = npy.shape().to_vec();
    let data: Vec<f64> = match npy.dtype() {
        npyz::DType::Plain(t) if t.size_field() == 4 => npy
            .into_vec::<f32>()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => npy.into_vec::<f64>().map_err(|e| e.to_string())?,
    };
    Ok((shape, data))
}

/// Writes an f64 NPY array of shape `shape`.
pub fn write_npy_f64(path: &std::path::Path, shape: &[u64], data: &[f64]) -> Result<(), String> {
    use npyz::WriterBuilder;
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| e.to_string())?;
    w.extend(data.iter().copied()).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(())
}

/// Loss terms a [`crate::Rollout`] evaluates on the GPU in the forward pass
/// and seeds in the backward pass, with no readback in between: the
/// point-set terms of [`LossSet`] (every scene loss kind, on any solver's
/// points), or a solver's own terms on its output buffers (a sensor's
/// forces or image), added with [`crate::Rollout::add_loss_terms`].
pub trait LossTerms {
    /// Number of terms (their values come back in this order).
    fn len(&self) -> usize;
    /// True when there are no terms.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when some term is evaluated on the state after `step` substeps.
    fn active_at(&self, step: usize) -> bool;
    /// True when the evaluated MPM state must be binned by cell first.
    fn needs_bins(&self) -> bool {
        false
    }
    /// Restricts the terms to substeps `0..=end` (None: the whole rollout).
    fn set_window(&mut self, ctx: &GpuContext, end: Option<usize>);
    /// Records the zeroing of the accumulated values.
    fn clear(&self, enc: &mut wgpu::CommandEncoder);
    /// Records the addition of the terms active at the clock's step,
    /// evaluated on state `parity`.
    fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize);
    /// Records the addition of the active terms' ∂/∂state (state `parity`)
    /// into the adjoint buffers `adj` of the solvers they measure.
    fn encode_seed(&self, enc: &mut wgpu::CommandEncoder, parity: usize, adj: usize);
    /// Each term's accumulated weighted value (blocking readback).
    fn values(
        &self,
        ctx: &GpuContext,
        precision: ductile_gpu::Precision,
    ) -> Result<Vec<f64>, SimError>;
}

impl LossTerms for LossSet {
    fn len(&self) -> usize {
        self.terms.len()
    }
    fn active_at(&self, step: usize) -> bool {
        LossSet::active_at(self, step)
    }
    fn needs_bins(&self) -> bool {
        LossSet::needs_bins(self)
    }
    fn set_window(&mut self, ctx: &GpuContext, end: Option<usize>) {
        LossSet::set_window(self, ctx, end)
    }
    fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        LossSet::clear(self, enc)
    }
    fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        LossSet::encode_eval(self, enc, parity)
    }
    fn encode_seed(&self, enc: &mut wgpu::CommandEncoder, parity: usize, adj: usize) {
        LossSet::encode_seed(self, enc, parity, adj)
    }
    fn values(
        &self,
        ctx: &GpuContext,
        precision: ductile_gpu::Precision,
    ) -> Result<Vec<f64>, SimError> {
        LossSet::values(self, ctx, precision)
    }
}

/// Loss terms on one solver's points (see [`LossTerms`]).
pub struct LossSet {
    /// The terms, as given in the scene.
    pub terms: Vec<LossTerm>,
    /// Current weight factors, `[step][term]` (see [`step_factors`]).
    factors: Vec<f64>,
    /// The factors over the whole rollout.
    full_factors: Vec<f64>,
    factors_buf: wgpu::Buffer,
    precision: ductile_gpu::Precision,
    value: wgpu::Buffer,
    eval: Kernel,
    stats_k: Kernel,
    seed: Kernel,
    chamfer_p: Kernel,
    chamfer_t: Kernel,
    density: Kernel,
    bg_eval: [wgpu::BindGroup; 2],
    bg_stats: [wgpu::BindGroup; 2],
    /// `[state parity][adjoint index]`.
    bg_seed: [[wgpu::BindGroup; 2]; 2],
    bg_chamfer_p: [wgpu::BindGroup; 2],
    bg_chamfer_t: [wgpu::BindGroup; 2],
    bg_density: [wgpu::BindGroup; 2],
    particles: u32,
    nodes: u32,
    target_points: u32,
    has_chamfer: bool,
    has_density: bool,
}

/// Buffers the loss kernels read besides their own.
pub struct LossBindings<'a> {
    /// The points the terms measure (their `body` indexes `points.bodies`).
    pub points: &'a PointSet<'a>,
    /// Both adjoint states of the points (layout of [`PointSet`]).
    pub adj: [&'a wgpu::Buffer; 2],
    /// Substep clock.
    pub clock: &'a wgpu::Buffer,
    /// The points binned by grid cell (grid-density terms need it).
    pub bins: Option<&'a Binning>,
    /// Tool controls.
    pub control: &'a Control,
    /// ∂L/∂control.
    pub control_grad: &'a wgpu::Buffer,
}

impl LossSet {
    /// Packs `terms` (the scene's `loss`, or a solver's share of it) for a
    /// rollout of `steps` substeps. `grid` describes the domain's grid (for
    /// grid-density targets); target shapes are sampled at the scene's dx
    /// like the scene body of the same index.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        terms: &[LossTerm],
        grid: &ModelInfo,
        steps: usize,
        b: &LossBindings,
        config: ShaderConfig,
    ) -> Result<Self, SimError> {
        let scene = &loaded.scene;
        let info = grid;
        let bodies = &b.points.bodies;
        let nodes = info.num_nodes();
        let mut packed = Vec::with_capacity(LOSS_TERM_REALS * terms.len().max(1));
        let mut points: Vec<f64> = Vec::new();
        let mut chamfer_slots = 0usize;
        let mut target_masses: Vec<f64> = Vec::new();
        let (mut has_chamfer, mut has_density) = (false, false);
        let mut recorded: Vec<(usize, usize, usize)> = Vec::new();
        for (ti, t) in terms.iter().enumerate() {
            let range = bodies
                .get(t.body)
                .map(|b| b.range.clone())
                .ok_or_else(|| SimError::Other(format!("loss body {} does not exist", t.body)))?;
            let count = range.end - range.start;
            let mut r = [0.0f64; LOSS_TERM_REALS];
            r[1] = t.body as f64;
            r[2] = range.start as f64;
            r[3] = count as f64;
            r[4] = t.weight;
            let sample = |target: &ductile_scene::BodyShape| -> Result<Vec<[f64; 3]>, SimError> {
                let body = scene.bodies.get(t.body).ok_or_else(|| {
                    SimError::Other(format!(
                        "loss[{ti}].kind.target: body {} has no scene body to sample a target like",
                        t.body
                    ))
                })?;
                let probe = Body {
                    shape: target.clone(),
                    ..body.clone()
                };
                let pts = ductile_scene::sample_body(&probe, scene.domain.dx, &loaded.base_dir)?;
                if pts.is_empty() {
                    return Err(SimError::Other(format!(
                        "loss[{ti}].kind.target holds no particle at the body's spacing"
                    )));
                }
                Ok(pts)
            };
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
                LossKind::ShapeChamfer { target } => {
                    let pts = sample(target)?;
                    r[0] = 3.0;
                    r[8] = (points.len() / 3) as f64;
                    r[9] = pts.len() as f64;
                    r[10] = chamfer_slots as f64;
                    chamfer_slots += count as usize;
                    points.extend(pts.iter().flatten());
                    has_chamfer = true;
                }
                LossKind::ShapeDensity { target, norm } => {
                    if b.bins.is_none() {
                        return Err(SimError::Other(format!(
                            "loss[{ti}]: shape_density needs points binned by grid cell, which this solver does not keep"
                        )));
                    }
                    let pts = sample(target)?;
                    let m = bodies[t.body].point_mass;
                    r[0] = 4.0;
                    r[8] = target_masses.len() as f64;
                    r[10] = match norm {
                        Norm::L1 => 0.0,
                        Norm::L2 => 1.0,
                    };
                    r[11] = m;
                    r[12] = m * count as f64;
                    target_masses.extend(grid_mass(&pts, m, info.origin, info.dx, info.cells));
                    has_density = true;
                }
                LossKind::ToolDistance { tool } => {
                    r[0] = 5.0;
                    r[8] = *tool as f64;
                }
                LossKind::BodyDistance { other, offset } => {
                    let range = bodies.get(*other).map(|b| b.range.clone()).ok_or_else(|| {
                        SimError::Other(format!(
                            "loss[{ti}].kind.other: body {other} does not exist"
                        ))
                    })?;
                    r[0] = 7.0;
                    r[5..8].copy_from_slice(offset);
                    r[8] = range.start as f64;
                    r[9] = (range.end - range.start) as f64;
                }
                LossKind::ContactForce { .. } => {
                    return Err(SimError::Other(format!(
                        "loss[{ti}]: ContactForce is a sensor's term (FEM bodies with a sensor only)"
                    )));
                }
                LossKind::ParticlePositions { path, every } => {
                    let file = loaded.base_dir.join(path);
                    let (shape, data) = read_npy_f64(&file).map_err(|e| {
                        SimError::Other(format!("loss[{ti}].kind.path = {}: {e}", file.display()))
                    })?;
                    if shape.len() != 3 || shape[1] != count as u64 || shape[2] != 3 {
                        return Err(SimError::Other(format!(
                            "loss[{ti}].kind.path = {}: shape {shape:?}, expected [records, {count}, 3]",
                            file.display()
                        )));
                    }
                    r[0] = 6.0;
                    r[8] = (points.len() / 3) as f64;
                    r[9] = shape[0] as f64;
                    r[10] = *every as f64;
                    points.extend_from_slice(&data);
                    recorded.push((ti, shape[0] as usize, *every as usize));
                }
            }
            packed.extend_from_slice(&r);
        }
        let mut factors = step_factors(terms, steps);
        // Recorded positions: averaged over the records inside the rollout.
        let nterms = terms.len();
        for (ti, records, every) in recorded {
            let inside: Vec<usize> = (1..=records)
                .map(|r| r * every)
                .filter(|&s| s <= steps)
                .collect();
            for s in 0..=steps {
                factors[s * nterms + ti] = 0.0;
            }
            for &s in &inside {
                factors[s * nterms + ti] = 1.0 / inside.len() as f64;
            }
        }
        let p = config.precision;
        let rb = p.bytes();
        let buf = |label: &str, data: &[f64]| -> Result<wgpu::Buffer, SimError> {
            Ok(if data.is_empty() {
                storage_buffer_zeroed(ctx, label, 16, BufferUse::Storage)?
            } else {
                storage_buffer(ctx, label, &reals_to_bytes(data, p), BufferUse::Storage)?
            })
        };
        // With no terms, a 16-byte buffer holds less than one record: arrayLength gives 0 terms.
        let terms_buf = buf("loss terms", &packed)?;
        let factors_buf = buf("loss step factors", &factors)?;
        let target_points = buf("loss target points", &points)?;
        let target_mass = buf("loss target grid mass", &target_masses)?;
        let z = |label: &str, reals: usize| {
            storage_buffer_zeroed(ctx, label, (reals.max(2) as u64) * rb, BufferUse::Storage)
        };
        let nt = terms.len().max(1);
        let stats = z("loss stats", 8 * nt)?;
        let value = z("loss values", nt)?;
        let chamfer_p_buf = z("chamfer nearest targets", 2 * chamfer_slots)?;
        let chamfer_t_buf = z("chamfer nearest particles", 2 * points.len() / 3)?;
        let density_bar = z("density loss adjoint", target_masses.len())?;
        let density_val = z("density loss values", target_masses.len())?;

        let k = |entry: &str| Kernel::new(ctx, "loss/loss", entry, config);
        let eval = k("loss_eval")?;
        let stats_k = k("loss_stats")?;
        let seed = k("loss_seed")?;
        let chamfer_p = k("chamfer_particles")?;
        let chamfer_t = k("chamfer_targets")?;
        let density = k("density_nodes")?;
        // Without a binning, grid-density terms are refused above; the
        // binding slots still need buffers.
        let no_bins = storage_buffer_zeroed(ctx, "loss (no binning)", 16, BufferUse::Storage)?;
        let (cell_start, sorted) = match b.bins {
            Some(bins) => (&bins.cell_start, &bins.sorted),
            None => (&no_bins, &no_bins),
        };
        let pts = b.points;
        let all = |s: usize, a: usize| -> Vec<(u32, wgpu::Buffer)> {
            // Cloned handles (cheap reference counts) so that one list serves every entry.
            vec![
                (0, pts.params.clone()),
                (1, terms_buf.clone()),
                (2, factors_buf.clone()),
                (3, b.clock.clone()),
                (4, pts.x[s].clone()),
                (5, pts.v[s].clone()),
                (6, stats.clone()),
                (7, value.clone()),
                (8, b.adj[a].clone()),
                (9, target_points.clone()),
                (10, chamfer_p_buf.clone()),
                (11, chamfer_t_buf.clone()),
                (12, cell_start.clone()),
                (13, sorted.clone()),
                (14, target_mass.clone()),
                (15, density_bar.clone()),
                (16, density_val.clone()),
                (17, b.control.buffer.clone()),
                (18, b.control_grad.clone()),
                (19, pts.tags.clone()),
            ]
        };
        let bind = |kernel: &Kernel, s: usize, a: usize| {
            let list = all(s, a);
            let refs: Vec<(u32, &wgpu::Buffer)> = list.iter().map(|(i, b)| (*i, b)).collect();
            kernel.bind_used(ctx, &refs)
        };
        let st = [0usize, 1];
        let bg_eval = st.map(|s| bind(&eval, s, 0));
        let bg_stats = st.map(|s| bind(&stats_k, s, 0));
        let bg_seed = st.map(|s| [bind(&seed, s, 0), bind(&seed, s, 1)]);
        let bg_chamfer_p = st.map(|s| bind(&chamfer_p, s, 0));
        let bg_chamfer_t = st.map(|s| bind(&chamfer_t, s, 0));
        let bg_density = st.map(|s| bind(&density, s, 0));
        Ok(LossSet {
            terms: terms.to_vec(),
            full_factors: factors.clone(),
            factors,
            factors_buf,
            precision: p,
            value: value.clone(),
            bg_eval,
            bg_stats,
            bg_seed,
            bg_chamfer_p,
            bg_chamfer_t,
            bg_density,
            eval,
            stats_k,
            seed,
            chamfer_p,
            chamfer_t,
            density,
            particles: pts.count,
            nodes,
            target_points: (points.len() / 3) as u32,
            has_chamfer,
            has_density,
        })
    }

    /// Restricts the loss to substeps `0..=end` (None: the whole rollout).
    /// Running and recorded terms keep their factors inside the window,
    /// rescaled to the same total weight; final terms are evaluated at `end`.
    pub fn set_window(&mut self, ctx: &GpuContext, end: Option<usize>) {
        let nt = self.terms.len();
        if nt == 0 {
            return;
        }
        let f = window_factors(&self.full_factors, nt, end);
        ctx.queue
            .write_buffer(&self.factors_buf, 0, &reals_to_bytes(&f, self.precision));
        self.factors = f;
    }

    /// True when some term is evaluated on the state after `step` substeps.
    pub fn active_at(&self, step: usize) -> bool {
        let nt = self.terms.len();
        nt > 0
            && self.factors[step * nt..(step + 1) * nt]
                .iter()
                .any(|&f| f != 0.0)
    }

    /// True when grid-density terms need the evaluated state binned first.
    pub fn needs_bins(&self) -> bool {
        self.has_density
    }

    /// Zeroes the accumulated values.
    pub fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.value, 0, None);
    }

    fn prepare(&self, pass: &mut wgpu::ComputePass<'_>, parity: usize) {
        if self.has_chamfer {
            self.chamfer_p
                .dispatch_1d(pass, &[&self.bg_chamfer_p[parity]], self.particles);
            self.chamfer_t
                .dispatch_1d(pass, &[&self.bg_chamfer_t[parity]], self.target_points);
        }
        if self.has_density {
            self.density
                .dispatch_1d(pass, &[&self.bg_density[parity]], self.nodes);
        }
    }

    /// Adds the active terms' values on state `parity` (the clock must hold
    /// the step; grid-density terms need the state binned).
    pub fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("loss"),
            timestamp_writes: None,
        });
        self.prepare(&mut pass, parity);
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
        self.prepare(&mut pass, parity);
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

/// The scene's loss terms on MPM bodies, and its sensors' force targets
/// (`ContactForce`), evaluated on a running [`Simulation`]'s current
/// state, for plots of the loss over time (`ductile view`): every term at
/// weight factor 1 whatever its `when` (a `ParticlePositions` term compares
/// with the latest record at or before the step; a force target reads the
/// force of the last substep). Small readbacks per call; nothing is added
/// to the simulation's own command stream. Other terms on FEM bodies are
/// not plotted.
pub struct LossMonitor {
    /// The MPM terms (none: `None`).
    mpm: Option<MpmMonitor>,
    /// Per force target: its FEM solver (world index), target [N], axis
    /// mask (0 or 1) and weight.
    forces: Vec<(usize, [f64; 3], [f64; 3], f64)>,
}

struct MpmMonitor {
    set: LossSet,
    /// The step the terms are evaluated at (written before each evaluation).
    clock: wgpu::Buffer,
    /// Binning of the evaluated state, for grid-density terms.
    bins: Binning,
    steps: usize,
    _adj: wgpu::Buffer,
    _control_grad: wgpu::Buffer,
}

impl LossMonitor {
    /// Packs `loaded`'s loss for `sim` (built from the same scene).
    /// `Ok(None)` when the scene has no loss terms it plots.
    pub fn new(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        sim: &crate::Simulation,
    ) -> Result<Option<Self>, SimError> {
        let (terms, others) = crate::tape::split_loss_terms(sim, &loaded.scene.loss)?;
        let mut forces = Vec::new();
        for (solver, list) in &others {
            for t in list {
                if let LossKind::ContactForce { target, axes } = t.kind {
                    let mask = [axes.0, axes.1, axes.2].map(|a| f64::from(u8::from(a)));
                    forces.push((*solver, target, mask, t.weight));
                }
            }
        }
        let mpm = if terms.is_empty() {
            None
        } else {
            Some(MpmMonitor::new(ctx, loaded, sim, &terms)?)
        };
        if mpm.is_none() && forces.is_empty() {
            return Ok(None);
        }
        Ok(Some(LossMonitor { mpm, forces }))
    }

    /// Each term's weighted value (`weight` × measure) on `sim`'s current
    /// state: the MPM terms in the order of the scene's `loss`, then the
    /// force targets (blocking readbacks).
    pub fn values(&self, ctx: &GpuContext, sim: &crate::Simulation) -> Result<Vec<f64>, SimError> {
        let mut out = match &self.mpm {
            Some(m) => m.values(ctx, sim)?,
            None => Vec::new(),
        };
        for &(solver, target, mask, weight) in &self.forces {
            let body = sim
                .world
                .solver::<crate::fem::solver::FemSolver>(solver)
                .ok_or_else(|| SimError::Other(format!("solver {solver} is not an FEM body")))?;
            let read = body
                .read_sensor(ctx, sim.parity())?
                .ok_or_else(|| SimError::Other(format!("FEM solver {solver} has no sensor")))?;
            let r: f64 = (0..3)
                .map(|k| (mask[k] * (read.force[k] - target[k])).powi(2))
                .sum();
            out.push(weight * r);
        }
        Ok(out)
    }
}

impl MpmMonitor {
    fn new(
        ctx: &GpuContext,
        loaded: &LoadedScene,
        sim: &crate::Simulation,
        terms: &[LossTerm],
    ) -> Result<Self, SimError> {
        let nt = terms.len();
        let steps = sim.control().steps;
        let clock = storage_buffer_zeroed(ctx, "loss monitor clock", 16, BufferUse::Storage)?;
        let adj =
            storage_buffer_zeroed(ctx, "loss monitor (unused adjoint)", 16, BufferUse::Storage)?;
        let control_grad = storage_buffer_zeroed(
            ctx,
            "loss monitor (unused control adjoint)",
            16,
            BufferUse::Storage,
        )?;
        let states = [sim.mpm_state(0), sim.mpm_state(1)];
        // Its own binning: the simulation's (gather P2G) holds the state
        // before the last substep, not the one evaluated.
        let bins = Binning::new(ctx, sim.model(), states, sim.config())?;
        let points = crate::world::Solver::points(sim.mpm(), crate::Simulation::MPM);
        let mut set = LossSet::new(
            ctx,
            loaded,
            terms,
            sim.info(),
            steps,
            &LossBindings {
                points: &points,
                adj: [&adj, &adj],
                clock: &clock,
                bins: Some(&bins),
                control: sim.control(),
                control_grad: &control_grad,
            },
            sim.config(),
        )?;
        // Every term at every step, at factor 1.
        let ones = vec![1.0; (steps + 1) * nt];
        ctx.queue
            .write_buffer(&set.factors_buf, 0, &reals_to_bytes(&ones, set.precision));
        set.factors = ones;
        Ok(MpmMonitor {
            set,
            clock,
            bins,
            steps,
            _adj: adj,
            _control_grad: control_grad,
        })
    }

    fn values(&self, ctx: &GpuContext, sim: &crate::Simulation) -> Result<Vec<f64>, SimError> {
        let step = (sim.step_count() as usize).min(self.steps) as u32;
        ctx.queue
            .write_buffer(&self.clock, 0, bytemuck::cast_slice(&[step, 0, 0, 0]));
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("loss monitor"),
            });
        if self.set.needs_bins() {
            self.bins.encode(
                &mut enc,
                sim.parity(),
                &mut ductile_gpu::GpuTimer::disabled(),
            );
        }
        self.set.clear(&mut enc);
        self.set.encode_eval(&mut enc, sim.parity());
        ctx.queue.submit([enc.finish()]);
        self.set.values(ctx, sim.config().precision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_mass_conserves_mass() {
        let pts = [[0.31, 0.52, 0.47], [0.5, 0.5, 0.5], [0.123, 0.877, 0.4]];
        let g = grid_mass(&pts, 2.0, [0.0; 3], 0.0625, [16, 16, 16]);
        let total: f64 = g.iter().sum();
        assert!((total - 6.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn running_factors_average_the_window() {
        let t = LossTerm {
            kind: LossKind::CenterOfMass { target: [0.0; 3] },
            body: 0,
            weight: 1.0,
            when: LossWhen::Running { from: 2, to: 5 },
        };
        let f = step_factors(&[t], 6);
        assert_eq!(f, vec![0.0, 0.0, 0.25, 0.25, 0.25, 0.25, 0.0]);
    }

    /// A contact force is that of the substep ending at a state: a window
    /// from state 0 averages states 1..=to; a shorter loss window keeps the
    /// term's total weight inside it.
    #[test]
    fn contact_force_windows_start_after_the_first_substep() {
        let t = LossTerm {
            kind: LossKind::ContactForce {
                target: [0.0; 3],
                axes: (true, true, true),
            },
            body: 0,
            weight: 1.0,
            when: LossWhen::Running { from: 0, to: 4 },
        };
        let f = step_factors(&[t], 4);
        assert_eq!(f, vec![0.0, 0.25, 0.25, 0.25, 0.25]);
        let w = window_factors(&f, 1, Some(2));
        assert_eq!(w, vec![0.0, 0.5, 0.5, 0.0, 0.0]);
    }
}
